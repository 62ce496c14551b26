//! The pages in a real browser: headless Chromium driven through WebDriver (a small JSON client
//! over HTTP here; `chromedriver` and `chromium` come from Debian, installed by test.sh). The
//! clerk signs in, fills the signature-certification form with one mistake, sees it beside the
//! field, fixes it and issues; the Vice-Chairman signs it from her queue; the seal keeper seals
//! it; the public page shows two signatures and says an upload of the delivered file is the
//! original, which both external verifiers accept. Every page stays under 100 KB and fits a
//! 360 px wide phone viewport without sideways scrolling; a screenshot of each role's main page
//! goes to the test's target directory (and to docs/screenshots/ with
//! KYSO_UPDATE_SCREENSHOTS=1).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::*;
use crate::common::repo;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromedriver` on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    addr: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect(addr).expect("chromedriver answers");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    // chromedriver may keep the connection open: read the head, then Content-Length bytes (or
    // chunks, or to the end).
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let split = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut buf).expect("a response from chromedriver");
        assert!(n > 0, "chromedriver closed the connection");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(n) => {
            while payload.len() < n {
                let k = s.read(&mut buf).unwrap();
                assert!(k > 0, "short response from chromedriver");
                payload.extend_from_slice(&buf[..k]);
            }
        }
        None => {
            let _ = s.read_to_end(&mut payload);
            if head.contains("transfer-encoding: chunked") {
                payload = dechunk(&payload);
            }
        }
    }
    let v: Value = serde_json::from_slice(&payload).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: {e}: {}",
            String::from_utf8_lossy(&payload)
        )
    });
    if let Some(err) = v["value"].get("error") {
        panic!("{method} {path} {body}: {err} {}", v["value"]["message"]);
    }
    v["value"].clone()
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (test.sh installs Debian's chromium-driver)");
        let d = Driver {
            child,
            addr: format!("127.0.0.1:{port}"),
        };
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&d.addr).is_err() {
            assert!(Instant::now() < until, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    /// A browser with a fresh profile, 360 px wide.
    fn browser(&self, profile: &std::path::Path) -> Browser<'_> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let v = http(
            &self.addr,
            "POST",
            "/session",
            Some(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
            }}})),
        );
        let b = Browser {
            driver: self,
            session: v["sessionId"].as_str().unwrap().to_owned(),
        };
        // A phone's viewport: headless windows are never narrower than 500 px.
        b.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(
                json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                    "width": 360, "height": 780, "deviceScaleFactor": 1, "mobile": true
                }}),
            ),
        );
        b
    }
}

struct Browser<'d> {
    driver: &'d Driver,
    session: String,
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            http(
                &self.driver.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            )
        }));
    }
}

impl Browser<'_> {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        http(
            &self.driver.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_owned()
    }

    fn source(&self) -> String {
        let s = self
            .cmd("GET", "/source", None)
            .as_str()
            .unwrap()
            .to_owned();
        assert!(s.len() < 100_000, "{} is {} bytes", self.url(), s.len());
        // Nothing wider than the phone: no sideways scrolling.
        let width = self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return document.documentElement.scrollWidth", "args": []})),
        );
        assert!(
            width.as_u64().unwrap() <= 360,
            "{} is {width} px wide",
            self.url()
        );
        s
    }

    fn find(&self, css: &str) -> String {
        self.find_by("css selector", css)
    }

    fn find_by(&self, using: &str, value: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": using, "value": value})),
        );
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn choose(&self, name: &str, option: &str) {
        let e = self.find_by(
            "xpath",
            &format!("//select[@name='{name}']/option[text()='{option}']"),
        );
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.click_element(&e);
    }

    /// Clicks `e` (a submit button or a link) and waits for the next page to be loaded.
    fn click_element(&self, e: &str) {
        let before = self.find("html");
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let state = self.cmd(
                "POST",
                "/execute/sync",
                Some(json!({"script": "return document.readyState", "args": []})),
            );
            if self.find("html") != before && state == "complete" {
                return;
            }
            assert!(Instant::now() < until, "no new page after a click");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn value(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{e}/property/value"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn sign_in(&self, base: &str, home: &str, user: &str, password: &str) {
        self.go(&format!("{base}{home}"));
        assert!(
            self.url()
                .ends_with(&format!("/sign-in?next=%2F{}", &home[1..])),
            "{}",
            self.url()
        );
        self.type_into("input[name=username]", user);
        self.type_into("input[name=password]", password);
        self.click("form button");
        assert_eq!(self.url(), format!("{base}{home}"));
    }

    fn screenshot(&self, name: &str) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png =
            <base64ct::Base64 as base64ct::Encoding>::decode_vec(b64.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")];
        if std::env::var_os("KYSO_UPDATE_SCREENSHOTS").is_some() {
            dirs.push(repo().join("docs/screenshots"));
        }
        for d in dirs {
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{name}.png")), &png).unwrap();
        }
    }
}

#[test]
fn a_certification_goes_from_the_desk_through_two_signers_to_the_public_page_in_chromium() {
    let s = Served::start();
    let base = format!("http://{}", s.addr);
    let driver = Driver::start();
    let profiles = tempfile::tempdir().unwrap();

    // The clerk: one mistake first, shown beside its field with what was typed kept.
    let clerk = driver.browser(&profiles.path().join("clerk"));
    clerk.sign_in(&base, "/clerk", "van-thu", "dev-clerk-password");
    clerk.source();
    clerk.screenshot("clerk");
    clerk.click("a[href='/clerk/issue/signature']");
    clerk.type_into("#f-signer-full_name", "Trần Thị Bình");
    clerk.choose("signer.position", "pho-chu-tich");
    clerk.choose("requester.honorific", "Bà");
    clerk.type_into("#f-requester-full_name", "Phạm Thị Hương");
    clerk.choose("requester.id_paper", "Căn cước công dân");
    clerk.type_into("#f-requester-personal_id", "02519000773");
    clerk.type_into("#f-document_title", "Giấy ủy quyền nhận lương hưu");
    clerk.click("#issue");
    let page = clerk.source();
    assert!(page.contains("id=\"errors\""), "{page}");
    clerk.find("#f-requester-personal_id[aria-invalid] + span.err");
    assert_eq!(clerk.value("#f-requester-personal_id"), "02519000773");
    assert_eq!(clerk.value("#f-requester-full_name"), "Phạm Thị Hương");
    clerk.screenshot("clerk-form-error");
    clerk.type_into("#f-requester-personal_id", "025190007731");
    clerk.click("#issue");
    let url = clerk.url();
    let id = url
        .rsplit_once("/clerk/documents/")
        .map(|(_, id)| id.to_owned())
        .unwrap_or_else(|| panic!("{url}: {}", clerk.source()));
    assert!(clerk.source().contains("quyển số"));
    clerk.screenshot("clerk-issued");

    // The Vice-Chairman signs it KT. from her queue.
    let vice = driver.browser(&profiles.path().join("vice"));
    vice.sign_in(&base, "/official", "pho-chu-tich", "dev-vice-password");
    assert!(vice.source().contains("KT. CHỦ TỊCH"));
    vice.screenshot("official");
    let button = vice.find_by(
        "xpath",
        &format!("//input[@name='document' and @value='{id}']/following-sibling::button"),
    );
    vice.click_element(&button);
    assert!(
        vice.url().ends_with(&format!("/official?signed={id}")),
        "{}",
        vice.url()
    );
    assert!(!vice.source().contains(&format!("value=\"{id}\"")));

    // The seal keeper seals it.
    let seal = driver.browser(&profiles.path().join("seal"));
    seal.sign_in(&base, "/seal", "con-dau", "dev-seal-password");
    seal.screenshot("seal");
    let button = seal.find_by(
        "xpath",
        &format!("//input[@name='document' and @value='{id}']/following-sibling::button"),
    );
    seal.click_element(&button);
    assert!(
        seal.url().ends_with(&format!("/seal?signed={id}")),
        "{}",
        seal.url()
    );

    // The file as delivered passes both external verifiers.
    let pdf = s.get(&s.dev("admin"), &format!("/api/v1/documents/{id}/pdf"));
    assert_eq!(pdf.status, 200);
    let file = profiles.path().join("signed.pdf");
    std::fs::write(&file, &pdf.body).unwrap();
    crate::common::assert_externally_valid(&file, &[]);

    // The admin's page.
    let admin = driver.browser(&profiles.path().join("admin"));
    admin.sign_in(&base, "/admin", "admin", "dev-admin-password");
    admin.source();
    admin.screenshot("admin");

    // Anyone: the QR code's page shows both signatures.
    let citizen = driver.browser(&profiles.path().join("citizen"));
    citizen.go(&format!("{base}/v/{id}"));
    let page = citizen.source();
    assert_eq!(page.matches("<tr><td>").count(), 2, "{page}");
    assert!(page.contains("KT. CHỦ TỊCH"), "{page}");
    citizen.screenshot("public");
    // Uploading the file to the QR code's page: it is the original.
    let input = citizen.find("input[type=file]");
    citizen.cmd(
        "POST",
        &format!("/element/{input}/value"),
        Some(json!({ "text": file.display().to_string() })),
    );
    citizen.click("form button");
    let page = citizen.source();
    assert!(page.contains("Tệp này đúng là bản gốc đã cấp."), "{page}");
    assert!(page.contains("Các chữ ký hợp lệ."), "{page}");
}
