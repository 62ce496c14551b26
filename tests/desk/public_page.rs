//! The citizen with a phone: the QR code on a certification leads to `kyso serve`'s public page,
//! which says who issued it, its status and who signed it, with the requester masked; the PDF
//! they hold can be uploaded and is compared with the registered versions. The server is the
//! real `kyso serve` binary on a free loopback port with its own data directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::authority::Commune;
use crate::common::*;

/// A running `kyso serve`, stopped with SIGTERM when dropped.
struct Served {
    child: Child,
    addr: String,
}

impl Served {
    fn start(c: &Commune, env: &[(&str, &str)]) -> Served {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyso"));
        cmd.args(["--dev", "--data-dir"])
            .arg(c.data())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
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
        Served { child, addr }
    }

    /// Sends one request; returns status, headers (lower-case names) and body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
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
        (status, headers, body)
    }

    fn get(&self, path: &str) -> (u16, Vec<(String, String)>, String) {
        let (s, h, b) = self.request("GET", path, &[], b"");
        (s, h, String::from_utf8_lossy(&b).into_owned())
    }

    fn upload(&self, path: &str, pdf: &[u8]) -> (u16, String) {
        let boundary = "kysoBoundary7MA4YWxk";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(pdf);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let (s, _, b) = self.request("POST", path, &[("Content-Type", &ct)], &body);
        (s, String::from_utf8_lossy(&b).into_owned())
    }

    fn stop(mut self) -> std::process::ExitStatus {
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

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `pdf` with one more revision that turns its first page by 90 degrees.
fn tampered(pdf: &[u8]) -> Vec<u8> {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let page = *doc.get_pages().values().next().unwrap();
    let mut dict = doc.get_dictionary(page).unwrap().clone();
    dict.set("Rotate", 90);
    let mut up = kyso::pdf::incremental::IncrementalUpdate::new(pdf, &doc).unwrap();
    up.put(page, lopdf::Object::Dictionary(dict));
    up.write().unwrap().bytes
}

fn signed_and_sealed(c: &Commune) -> (String, Vec<u8>, Vec<u8>) {
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    let (issued, id) = c.issue("signature");
    let signed = c.path("signed.pdf");
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        None,
        &issued,
        &signed,
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sealed = c.path("sealed.pdf");
    let o = c.sign_as("seal-ec", "con-dau", None, &signed, &sealed, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        id,
        std::fs::read(&signed).unwrap(),
        std::fs::read(Path::new(&sealed)).unwrap(),
    )
}

#[test]
fn the_qr_code_page_shows_the_signed_document_and_tells_the_original_from_other_files() {
    let c = Commune::new();
    let (id, pre_seal, sealed) = signed_and_sealed(&c);
    let root = keys_dev().join("root-ca.pem");
    let s = Served::start(&c, &[("KYSO_TRUST", root.to_str().unwrap())]);

    let (status, headers, page) = s.get(&format!("/v/{id}"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Có hiệu lực"), "{page}");
    assert!(page.contains("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"), "{page}");
    assert!(page.contains("Ủy ban nhân dân xã Tân Lạc"), "{page}");
    // The requester is masked: initials and the last three digits only.
    assert!(page.contains("*********731"), "{page}");
    assert!(!page.contains("025190007731") && !page.contains("Phạm Thị Hương"));
    assert!(page.len() < 100_000);
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));

    let (status, headers, json) = s.get(&format!("/v/{id}.json"));
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").unwrap().contains("json"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["status"], "issued");
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
    assert_eq!(v["original_sha256"], kyso::app::sha256_hex(&sealed));

    // The visitor's copies, compared with the register.
    let (status, page) = s.upload(&format!("/v/{id}?lang=en"), &sealed);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("identical to the original"), "{page}");
    assert!(page.contains("The signatures are valid"), "{page}");
    let (_, page) = s.upload(&format!("/v/{id}?lang=en"), &pre_seal);
    assert!(page.contains("earlier revision"), "{page}");
    let (_, page) = s.upload(&format!("/v/{id}?lang=en"), &tampered(&sealed));
    assert!(page.contains("DIFFERS from the original"), "{page}");
    assert!(page.contains("1 revision(s)"), "{page}");

    // Any PDF, through the API: the same report as `kyso verify --json`, plus the comparison.
    let (status, _, body) = s.request(
        "POST",
        "/api/v1/verify",
        &[("Content-Type", "application/pdf")],
        &sealed,
    );
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["comparison"]["verdict"], "original");
    assert_eq!(v["document"], id.as_str());
    assert_eq!(v["report"]["indication"], "TOTAL-PASSED");
    let (status, page) = s.upload("/verify?lang=en", &tampered(&sealed));
    assert_eq!(status, 200);
    assert!(page.contains("DIFFERS"), "{page}");

    // A cancellation shows on the page at once.
    c.ok(&[
        "cancel",
        &id,
        "--decision",
        "Quyết định số 12/QĐ-UBND ngày 20/11/2026",
    ]);
    let (_, _, page) = s.get(&format!("/v/{id}"));
    assert!(
        page.contains("Đã bị hủy") && page.contains("12/QĐ-UBND"),
        "{page}"
    );

    // Unknown and malformed ids get the same 404 page.
    let (s1, _, unknown) = s.get("/v/0123456789abcdef0123456789abcdef");
    let (s2, _, malformed) = s.get("/v/..%2F..%2Fregistry.sqlite3");
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(unknown, malformed);

    assert_eq!(s.get("/healthz").0, 200);
    let (status, _, ready) = s.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    assert!(ready.contains("\"registry\":\"ok\""), "{ready}");
    assert!(s.stop().success(), "SIGTERM ends the server cleanly");
}

#[test]
fn bad_uploads_get_problem_responses_never_a_server_error() {
    let c = Commune::new();
    let s = Served::start(&c, &[("KYSO_MAX_UPLOAD_BYTES", "100000")]);
    let problem = |status: u16, headers: &[(String, String)], body: &[u8], kind: &str| {
        assert!(
            header(headers, "content-type")
                .unwrap_or("")
                .starts_with("application/problem+json"),
            "{headers:?}"
        );
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["status"], status);
        assert_eq!(v["type"], format!("urn:kyso:problem:{kind}"));
        assert!(v["detail"].as_str().unwrap().contains(" / "));
    };
    let (st, h, b) = s.request(
        "POST",
        "/api/v1/verify",
        &[("Content-Type", "text/plain")],
        b"hello",
    );
    assert_eq!(st, 415);
    problem(st, &h, &b, "unsupported-media-type");
    let (st, h, b) = s.request(
        "POST",
        "/api/v1/verify",
        &[("Content-Type", "application/pdf")],
        b"not a pdf at all",
    );
    assert_eq!(st, 422);
    problem(st, &h, &b, "not-a-pdf");
    let (st, h, b) = s.request(
        "POST",
        "/api/v1/verify",
        &[("Content-Type", "application/pdf")],
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog",
    );
    assert_eq!(st, 422, "{}", String::from_utf8_lossy(&b));
    problem(st, &h, &b, "refused");
    let mut big = b"%PDF-1.7\n".to_vec();
    big.resize(300_000, b' ');
    let (st, h, b) = s.request(
        "POST",
        "/api/v1/verify",
        &[("Content-Type", "application/pdf")],
        &big,
    );
    assert_eq!(st, 413);
    problem(st, &h, &b, "too-large");
    let (st, page) = s.upload("/verify", &big);
    assert_eq!(st, 413, "{page}");
    let (st, h, b) = s.request("GET", "/api/v1/nothing", &[], b"");
    assert_eq!(st, 404);
    problem(st, &h, &b, "not-found");
}
