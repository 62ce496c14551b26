//! A running `kyso serve` (the real binary, on a free loopback port, with its own data
//! directory) and a small HTTP/1.1 client that speaks to it as a browser or an integration
//! would: JSON bodies, a session cookie with its CSRF token, or an API token.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{kyso, repo};

/// How to start a server: by default in development mode (`--dev`: keys-dev trusted, the demo
/// commune and users seeded) on a new temporary data directory.
pub struct Serve {
    data: Option<PathBuf>,
    dev: bool,
    env: Vec<(OsString, OsString)>,
}

impl Default for Serve {
    fn default() -> Serve {
        Serve {
            data: None,
            dev: true,
            env: Vec::new(),
        }
    }
}

impl Serve {
    /// On the data directory `dir` (which outlives the server) instead of a temporary one.
    pub fn data(mut self, dir: &Path) -> Serve {
        self.data = Some(dir.to_path_buf());
        self
    }

    /// Without `--dev`: trust and keys come from the environment given with [`Serve::env`].
    pub fn without_dev(mut self) -> Serve {
        self.dev = false;
        self
    }

    /// One more environment variable for the server.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Serve {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Starts the server and waits until it says where it serves.
    pub fn start(self) -> Served {
        let (data, dir) = match self.data {
            Some(data) => (data, None),
            None => {
                let dir = tempfile::tempdir().unwrap();
                (dir.path().join("data"), Some(dir))
            }
        };
        let mut cmd = kyso();
        cmd.current_dir(repo())
            .env("KYSO_BASE_URL", "http://kyso.test");
        if self.dev {
            cmd.arg("--dev");
        }
        cmd.arg("--data-dir")
            .arg(&data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("kyso serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Served {
            child,
            addr,
            data,
            _dir: dir,
        }
    }
}

/// A running server, killed when dropped.
pub struct Served {
    pub child: Child,
    pub addr: String,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// A response.
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The problem type of a problem response, or of a page saying what went wrong (its
    /// `data-problem` attribute).
    pub fn problem(&self) -> String {
        if let Ok(v) = serde_json::from_slice::<Value>(&self.body) {
            return v["type"].as_str().map(str::to_owned).unwrap_or_default();
        }
        let text = self.text();
        text.split_once("data-problem=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(kind, _)| kind.to_owned())
            .unwrap_or_default()
    }
}

/// Who calls.
#[derive(Debug, Clone, Default)]
pub enum Caller {
    /// Nobody signed in.
    #[default]
    Anonymous,
    /// A session: the cookie and the CSRF token it was given.
    Session { cookie: String, csrf: String },
    /// An API token.
    Token(String),
    /// A browser: the session cookie only; forms carry the CSRF token in their `csrf` field.
    Browser(String),
}

impl Served {
    /// Starts a development server on a new data directory (seeded with the demo commune and
    /// users).
    pub fn start() -> Served {
        Serve::default().start()
    }

    /// Starts a development server on `data` with extra environment.
    pub fn start_on(data: &Path, env: &[(&str, &str)]) -> Served {
        let mut serve = Serve::default().data(data);
        for (k, v) in env {
            serve = serve.env(k, v);
        }
        serve.start()
    }

    /// Sends one request.
    pub fn call(
        &self,
        caller: &Caller,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Res {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        match caller {
            Caller::Anonymous => {}
            Caller::Session { cookie, csrf } => {
                head.push_str(&format!("Cookie: kyso_session={cookie}\r\n"));
                if !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("x-csrf-token"))
                {
                    head.push_str(&format!("X-CSRF-Token: {csrf}\r\n"));
                }
            }
            Caller::Token(t) => head.push_str(&format!("Authorization: Bearer {t}\r\n")),
            Caller::Browser(cookie) => head.push_str(&format!("Cookie: kyso_session={cookie}\r\n")),
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // A server may answer (413) before reading a large body; a write error then is fine.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Res {
            status,
            headers,
            body,
        }
    }

    /// A JSON request.
    pub fn json(&self, caller: &Caller, method: &str, path: &str, body: &Value) -> Res {
        self.call(
            caller,
            method,
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    /// A URL-encoded form, as a browser posts it.
    pub fn form(&self, caller: &Caller, path: &str, fields: &[(&str, &str)]) -> Res {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.call(
            caller,
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// Signs in through the sign-in page: the browser's session cookie.
    pub fn browser(&self, username: &str, password: &str) -> Caller {
        let r = self.form(
            &Caller::Anonymous,
            "/sign-in",
            &[("username", username), ("password", password)],
        );
        assert_eq!(r.status, 303, "sign-in of {username}: {}", r.text());
        let cookie = r.header("set-cookie").expect("a session cookie");
        Caller::Browser(
            cookie
                .strip_prefix("kyso_session=")
                .and_then(|c| c.split(';').next())
                .unwrap()
                .to_owned(),
        )
    }

    pub fn get(&self, caller: &Caller, path: &str) -> Res {
        self.call(caller, "GET", path, &[], b"")
    }

    /// Signs in; panics unless it works.
    pub fn sign_in(&self, username: &str, password: &str) -> Caller {
        let r = self.json(
            &Caller::Anonymous,
            "POST",
            "/api/v1/session",
            &serde_json::json!({"username": username, "password": password}),
        );
        assert_eq!(r.status, 200, "sign-in of {username}: {}", r.text());
        let cookie = r.header("set-cookie").expect("a session cookie").to_owned();
        let value = cookie
            .strip_prefix("kyso_session=")
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_owned();
        Caller::Session {
            cookie: value,
            csrf: r.json()["csrf"].as_str().unwrap().to_owned(),
        }
    }

    /// Signs in as one of the development users by role name used in the README.
    pub fn dev(&self, username: &str) -> Caller {
        let password = match username {
            "admin" => "dev-admin-password",
            "van-thu" => "dev-clerk-password",
            "chu-tich" => "dev-chairman-password",
            "pho-chu-tich" => "dev-vice-password",
            "con-dau" => "dev-seal-password",
            other => panic!("no development user {other}"),
        };
        self.sign_in(username, password)
    }

    /// An API token for `username`, made by the admin.
    pub fn token(&self, username: &str) -> Caller {
        let admin = self.dev("admin");
        let r = self.json(
            &admin,
            "POST",
            "/api/v1/tokens",
            &serde_json::json!({"username": username, "label": "tests"}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        Caller::Token(r.json()["secret"].as_str().unwrap().to_owned())
    }

    /// Multipart upload of a PDF to an HTML form route, as an anonymous visitor.
    pub fn upload(&self, path: &str, pdf: &[u8]) -> Res {
        let boundary = "kysoBoundary7MA4YWxk";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(pdf);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        self.call(
            &Caller::Anonymous,
            "POST",
            path,
            &[("Content-Type", &ct)],
            &body,
        )
    }

    /// Stops the server with SIGTERM and waits.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a chunked response, its chunks joined (what there is of it, if cut short).
pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < eol + 2 + n {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 2 + n + 2).min(b.len())..];
    }
}
