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
use crate::common::served::*;

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

/// One WebDriver call: its `value`, or the whole answer when it is an error (status, error,
/// message and all, so that a failure says what the driver said).
fn try_http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect(addr).map_err(|e| format!("chromedriver: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("chromedriver: {e}"))?;
    // chromedriver may keep the connection open: read the head, then Content-Length bytes (or
    // chunks, or to the end).
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let split = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("{method} {path}: no response from chromedriver: {e}"))?;
        if n == 0 {
            return Err(format!(
                "{method} {path}: chromedriver closed the connection"
            ));
        }
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
                let k = s
                    .read(&mut buf)
                    .map_err(|e| format!("{method} {path}: short response: {e}"))?;
                if k == 0 {
                    return Err(format!("{method} {path}: short response from chromedriver"));
                }
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
    let text = String::from_utf8_lossy(&payload);
    let v: Value = serde_json::from_slice(&payload).map_err(|e| {
        format!(
            "{method} {path}: {e}: {}: {text}",
            head.lines().next().unwrap_or("")
        )
    })?;
    if v["value"].get("error").is_some() {
        return Err(format!(
            "{method} {path} {body}: {} {text}",
            head.lines().next().unwrap_or("")
        ));
    }
    Ok(v["value"].clone())
}

fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
    try_http(addr, method, path, body).unwrap_or_else(|e| panic!("WebDriver: {e}"))
}

/// How long a page may take to show what a step waits for (the machine may be loaded).
const PATIENCE: Duration = Duration::from_secs(90);

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
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver (at {}): {e}", self.here()))
    }

    fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        try_http(
            &self.driver.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    /// The current URL, or why it cannot be read (for messages).
    fn here(&self) -> String {
        self.try_cmd("GET", "/url", None)
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|e| e)
    }

    fn script(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_owned()
    }

    /// The page's HTML, after checking its weight (under 100 KB, printed), that it fits the
    /// phone's width and that nothing it loaded came from another origin.
    fn source(&self) -> String {
        let s = self
            .cmd("GET", "/source", None)
            .as_str()
            .unwrap()
            .to_owned();
        let url = self.url();
        eprintln!("page weight: {:>6} bytes  {url}", s.len());
        assert!(s.len() < 100_000, "{url} is {} bytes", s.len());
        let foreign = self.script(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => !n.startsWith(location.origin + '/'))",
        );
        assert_eq!(foreign, json!([]), "{url} loaded from another origin");
        // Nothing wider than the phone: no sideways scrolling.
        let width = self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return document.documentElement.scrollWidth", "args": []})),
        );
        if width.as_u64().unwrap() > 360 {
            let wide = self.script(
                "return Array.from(document.querySelectorAll('body *'))\
                 .filter(e => e.getBoundingClientRect().right > 360 || e.scrollWidth > e.clientWidth + 1)\
                 .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + ' ' + e.scrollWidth + '/' + e.clientWidth)",
            );
            panic!("{url} is {width} px wide: {wide}");
        }
        s
    }

    fn find(&self, css: &str) -> String {
        self.find_by("css selector", css)
    }

    /// The element `value` finds, waiting for it to appear (a page may still be loading).
    fn find_by(&self, using: &str, value: &str) -> String {
        let until = Instant::now() + PATIENCE;
        loop {
            match self.try_cmd(
                "POST",
                "/element",
                Some(json!({"using": using, "value": value})),
            ) {
                Ok(v) => return v[ELEMENT].as_str().unwrap().to_owned(),
                Err(e) if Instant::now() > until => {
                    panic!("no {value} on {} after {PATIENCE:?}: {e}", self.here())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The text of the element `css` finds.
    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{e}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
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

    /// Clicks what does not leave the page (a checkbox, an option, a button a script handles).
    fn tap(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.click_element(&e);
    }

    /// Clicks `e` (a submit button or a link) and waits for the next page to be loaded. While
    /// the browser navigates, the driver may answer with errors (no such window, stale
    /// element, script timeout): they mean "not yet".
    fn click_element(&self, e: &str) {
        let before = self.find("html");
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
        let until = Instant::now() + PATIENCE;
        let mut last = String::new();
        loop {
            let html = self.try_cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": "html"})),
            );
            let state = self.try_cmd(
                "POST",
                "/execute/sync",
                Some(json!({"script": "return document.readyState", "args": []})),
            );
            match (html, state) {
                (Ok(h), Ok(st))
                    if h[ELEMENT].as_str() != Some(before.as_str()) && st == "complete" =>
                {
                    return;
                }
                (Err(e), _) | (_, Err(e)) => last = e,
                _ => {}
            }
            if Instant::now() > until {
                let shown = self
                    .try_cmd(
                        "POST",
                        "/execute/sync",
                        Some(json!({"script": "return document.body.innerText", "args": []})),
                    )
                    .unwrap_or_else(Value::String);
                panic!(
                    "no new page {PATIENCE:?} after a click on {}: {last}\nthe page shows: {shown}",
                    self.here()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
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
    clerk.click("#preview");
    let page = clerk.source();
    assert!(page.contains("id=\"errors\""), "{page}");
    clerk.find("#f-requester-personal_id[aria-invalid] + span.err");
    assert_eq!(clerk.value("#f-requester-personal_id"), "02519000773");
    assert_eq!(clerk.value("#f-requester-full_name"), "Phạm Thị Hương");
    clerk.screenshot("clerk-form-error");
    clerk.type_into("#f-requester-personal_id", "025190007731");
    // The preview: marked, no number, nothing in the register yet.
    clerk.click("#preview");
    assert!(clerk.text("#preview").contains("BẢN XEM TRƯỚC"));
    assert!(clerk.source().contains("<dd>025190007731</dd>"));
    clerk.screenshot("clerk-preview");
    let admin_api = s.dev("admin");
    let listed = s.get(&admin_api, "/api/v1/documents").json();
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
    clerk.click("#issue");
    let url = clerk.url();
    let id = url
        .rsplit_once("/clerk/documents/")
        .map(|(_, id)| id.to_owned())
        .unwrap_or_else(|| panic!("{url}: {}", clerk.source()));
    assert!(clerk.source().contains("quyển số"));
    clerk.screenshot("clerk-issued");
    clerk.click("#reprint");
    assert!(clerk.source().contains("id=\"versions\""));

    // The Chairman grants the Vice-Chairman a TM. from his page, signed with his key: a
    // mistake first, shown beside its field.
    let chair = driver.browser(&profiles.path().join("chair"));
    chair.sign_in(&base, "/official", "chu-tich", "dev-chairman-password");
    chair.click("#delegations");
    chair.choose("mark", "TM. — thay mặt tập thể");
    chair.choose("delegate", "Trần Thị Bình — Phó Chủ tịch");
    chair.type_into("#g-basis_number", "07/QĐ-UBND");
    chair.click("#grant-button");
    chair.find("#g-valid_from[aria-invalid] + span.err");
    assert_eq!(chair.value("#g-basis_number"), "07/QĐ-UBND");
    chair.tap("input[name=kind][value=signature]");
    // Date inputs take keys in the browser locale's order: set their values instead.
    for (field, day) in [
        ("g-valid_from", vietnam_day(0)),
        ("g-valid_until", vietnam_day(30)),
        ("g-basis_date", vietnam_day(0)),
    ] {
        chair.script(&format!(
            "document.getElementById('{field}').value = '{day}'"
        ));
    }
    chair.click("#grant-button");
    assert!(
        chair.url().contains("/official/delegations?done=1"),
        "{}",
        chair.url()
    );
    assert!(chair.text("#granted").contains("TM. CHỦ TỊCH"));
    chair.source();
    chair.screenshot("official-delegations");

    // The Vice-Chairman chooses the KT. capacity among those allowed and signs with her
    // device: the page shows the digest, the device (openssl, with her key) signs it, she
    // pastes the signature back.
    let vice = driver.browser(&profiles.path().join("vice"));
    vice.sign_in(&base, "/official", "pho-chu-tich", "dev-vice-password");
    assert!(vice.source().contains("KT. CHỦ TỊCH"));
    vice.screenshot("official");
    let kt = vice.find_by(
        "xpath",
        &format!(
            "//input[@name='document' and @value='{id}']/..//label[contains(., 'KT. CHỦ TỊCH')]/input[@name='capacity']"
        ),
    );
    vice.cmd("POST", &format!("/element/{kt}/click"), Some(json!({})));
    let device = vice.find_by(
        "xpath",
        &format!(
            "//input[@name='document' and @value='{id}']/following-sibling::button[@formaction]"
        ),
    );
    vice.click_element(&device);
    assert!(vice.text("#capacity").starts_with("KT. CHỦ TỊCH"));
    vice.source();
    // kyso.js runs (the CSP allows kyso's own script): the copy button shows, and a value that
    // is not base64 is stopped in the page.
    assert_eq!(
        vice.script("return document.getElementById('copy').hidden"),
        json!(false)
    );
    vice.type_into("#signature", "not a signature");
    vice.tap("#complete-button");
    assert!(!vice.text("#signature-error").is_empty());
    vice.screenshot("official-device");
    let digest = vice.text("#digest-b64");
    vice.type_into(
        "#signature",
        &device_sign("vice-chairman-ec.key.pem", &digest),
    );
    vice.click("#complete-button");
    assert!(
        vice.url().ends_with(&format!("/official?signed={id}")),
        "{}",
        vice.url()
    );
    assert!(!vice.source().contains(&format!("value=\"{id}\"")));

    // The Chairman revokes the TM. from his page.
    chair.go(&format!("{base}/official/delegations"));
    let tm = "//ul[@id='granted']/li[contains(., 'TM. CHỦ TỊCH')]";
    let reason = chair.find_by("xpath", &format!("{tm}//input[@name='reason']"));
    chair.cmd(
        "POST",
        &format!("/element/{reason}/value"),
        Some(json!({ "text": "Đã đủ người ký" })),
    );
    let revoke = chair.find_by("xpath", &format!("{tm}//button"));
    chair.click_element(&revoke);
    assert!(chair.text("#granted").contains("Đã thu hồi"));

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
    // Each of the admin's pages, from the links on them.
    for (link, shows) in [
        ("/admin/users", "#tokens"),
        ("/admin/officials", "#add-cert"),
        ("/admin/delegations", "#in-force"),
        ("/admin/audit", "#entries"),
    ] {
        admin.click(&format!("#admin-nav a[href='{link}']"));
        admin.find(shows);
        admin.source();
    }
    admin.click("#verify");
    assert!(admin.text("#verified").contains("nguyên vẹn"));
    admin.screenshot("admin-audit");
    admin.click("#admin-nav a[href='/admin/officials']");
    admin.screenshot("admin-officials");

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
