//! What kyso does with careless or hostile input at its edges: a reader that closes the output
//! early, data the certificate cannot show as typed, and configuration values that mean nothing.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::*;

/// A data directory of its own, so that numbers and officials do not mix with other tests.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new() -> Desk {
        Desk {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = kyso();
        c.arg("--dev").arg("--data-dir").arg(self.path("data"));
        c.args(args);
        c
    }

    fn ok<S: AsRef<OsStr> + std::fmt::Debug>(&self, args: &[S]) -> String {
        let o = self.cmd(args).output().expect("kyso runs");
        assert!(
            o.status.success(),
            "kyso {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

fn sample(kind: &str) -> PathBuf {
    repo().join("templates").join(kind).join("sample.json")
}

/// Runs `cmd` with standard output on a pipe whose reading end is already closed, so that its
/// first write meets EPIPE (deterministically: nobody can ever read that pipe).
fn with_stdout_closed(cmd: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("kyso runs")
}

/// The same with standard error on a closed pipe (standard output captured).
fn with_stderr_closed(cmd: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(Stdio::piped())
        .stderr(writer)
        .output()
        .expect("kyso runs")
}

/// A quiet end: the command's own exit code and nothing on standard error (no panic message, no
/// backtrace, no "Broken pipe").
fn assert_quiet(o: &Output, code: i32, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{what}: stderr: {err}");
    assert!(
        err.is_empty(),
        "{what}: expected nothing on stderr, got: {err}"
    );
}

#[test]
fn a_closed_stdout_ends_every_kind_of_command_quietly_with_its_own_exit_code() {
    let desk = Desk::new();
    desk.ok(&[
        "officials",
        "add",
        "--id",
        "chu-tich",
        "--name",
        "Nguyễn Văn An",
        "--title",
        "Chủ tịch",
        "--agency",
        "UBND xã Tân Lạc",
        "--citizen-id",
        "001080000001",
    ]);

    // Listing commands: the whole output is for the reader who left.
    for args in [
        &["officials", "list"][..],
        &["kinds"],
        &["delegations", "list"],
        &["audit", "list"],
        &["audit", "verify"],
        &["archive", "status"],
    ] {
        let o = with_stdout_closed(&mut desk.cmd(args));
        assert_quiet(&o, 0, &format!("kyso {args:?}"));
    }
    // clap's own output (help) too.
    let o = with_stdout_closed(kyso().arg("--help"));
    assert_quiet(&o, 0, "kyso --help");

    // verify keeps its verdict as exit code (3: no signature) when nobody reads the report.
    let unsigned = fixture("pyhanko/unsigned.pdf");
    let unsigned = unsigned.to_str().unwrap();
    let told = desk.cmd(&["verify", unsigned]).output().unwrap();
    assert_eq!(told.status.code(), Some(3));
    for extra in [&[][..], &["--json"]] {
        let mut args = vec!["verify"];
        args.extend_from_slice(extra);
        args.push(unsigned);
        let o = with_stdout_closed(&mut desk.cmd(&args));
        assert_quiet(&o, 3, "kyso verify");
    }

    // A command with work to do finishes it: the certification is issued and written, and the
    // register holds it, although its report went nowhere.
    let pdf = desk.path("sig.pdf");
    let o = with_stdout_closed(&mut desk.cmd(&[
        "issue",
        "--kind",
        "signature",
        "--data",
        sample("signature").to_str().unwrap(),
        "-o",
        pdf.to_str().unwrap(),
    ]));
    assert_quiet(&o, 0, "kyso issue");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let audit = desk.ok(&["audit", "verify"]);
    assert!(audit.contains("intact"), "{audit}");

    // sign (a plain PAdES signature on a PDF outside the registers): the signed file exists and
    // passes verification.
    let signed = desk.path("signed.pdf");
    // `sign_args` starts with --dev, which Desk::cmd already passes.
    let args = sign_args("clerk-rsa", Path::new(unsigned), &signed, &[]);
    let o = with_stdout_closed(&mut desk.cmd(&args[1..]));
    assert_quiet(&o, 0, "kyso sign");
    let root = keys_dev().join("root-ca.pem");
    let o = desk
        .cmd(&[
            "verify",
            "--trust",
            root.to_str().unwrap(),
            signed.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn a_closed_stderr_does_not_turn_a_refusal_into_a_panic() {
    let desk = Desk::new();
    let bad = desk.path("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let o = with_stderr_closed(&mut desk.cmd(&[
        "issue",
        "--kind",
        "signature",
        "--data",
        bad.to_str().unwrap(),
        "-o",
        desk.path("x.pdf").to_str().unwrap(),
    ]));
    assert_eq!(o.status.code(), Some(1), "a refusal stays exit 1, not 101");
    let o = with_stderr_closed(&mut desk.cmd(&["verify", "/nonexistent.pdf"]));
    assert_eq!(o.status.code(), Some(4), "unreadable input stays exit 4");
}

#[test]
fn a_closed_stderr_does_not_turn_a_log_line_into_a_panic() {
    // The archive worker logs each batch at info level; with its stderr closed, the logger's own
    // report of the failed write used to panic the worker (exit 101) at its first batch.
    let desk = Desk::new();
    let signed = desk.path("signed.pdf");
    let unsigned = fixture("pyhanko/unsigned.pdf");
    let args = sign_args("clerk-rsa", &unsigned, &signed, &[]);
    desk.ok(&args[1..]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut worker = desk
        .cmd(&["archive", "run"])
        .env("KYSO_LOG", "info")
        .stdout(Stdio::null())
        .stderr(writer)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = desk.ok(&["archive", "status"]);
        if status.contains("archived: 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not archived: {status}"
        );
        assert!(
            worker.try_wait().unwrap().is_none(),
            "the worker ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Give the worker time to log the batch, then ask it to stop.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker died after logging: {:?}",
        worker.try_wait()
    );
    let killed = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(worker.wait().unwrap().code(), Some(0));
}

#[test]
fn a_full_disk_behind_stdout_is_an_error_not_silence() {
    let desk = Desk::new();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = desk
        .cmd(&["kinds"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot write to standard output") && err.lines().count() == 1,
        "{err}"
    );
}

/// Every text field the data fills: (path as errors name it, JSON pointer, value).
fn text_fields(
    fields: &[kyso::templates::Field],
    data: &serde_json::Value,
    path: &str,
    pointer: &str,
    out: &mut Vec<(String, String, String)>,
) {
    use kyso::templates::FieldType;
    for f in fields {
        let Some(v) = data.get(&f.name) else { continue };
        let p = if path.is_empty() {
            f.name.clone()
        } else {
            format!("{path}.{}", f.name)
        };
        let ptr = format!("{pointer}/{}", f.name);
        match &f.ty {
            FieldType::Text { .. } => {
                out.push((p, ptr, v.as_str().unwrap().to_owned()));
            }
            FieldType::Object(sub) => text_fields(sub, v, &p, &ptr, out),
            FieldType::List { item, .. } => {
                for (i, it) in v.as_array().unwrap().iter().enumerate() {
                    text_fields(item, it, &format!("{p}[{i}]"), &format!("{ptr}/{i}"), out);
                }
            }
            _ => {}
        }
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_kind_refuses_text_its_pdf_would_not_show_and_composes_decomposed_vietnamese() {
    use unicode_normalization::UnicodeNormalization as _;
    let catalog = kyso::templates::Catalog::load().unwrap();
    let desk = Desk::new();
    let mut kinds = 0;
    for t in catalog.kinds() {
        kinds += 1;
        let kind = t.schema.kind.as_str();
        let sample: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sample(kind)).unwrap()).unwrap();
        let mut texts = Vec::new();
        text_fields(&t.schema.fields, &sample, "", "", &mut texts);
        // A field with Vietnamese diacritics, so that its NFD form differs from what it prints.
        let (path, pointer, value) = texts
            .into_iter()
            .find(|(_, _, v)| v.nfd().ne(v.chars()))
            .unwrap_or_else(|| panic!("{kind}: no text field with diacritics in sample.json"));
        let issue = |text: String, out: &Path| {
            let mut data = sample.clone();
            *data.pointer_mut(&pointer).unwrap() = serde_json::Value::String(text);
            let file = desk.path(&format!("{kind}.json"));
            std::fs::write(&file, data.to_string()).unwrap();
            desk.cmd(&[
                "issue",
                "--kind",
                kind,
                "--data",
                file.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap()
        };

        let refused = desk.path(&format!("{kind}-refused.pdf"));
        for (text, shown, vi, en) in [
            (
                format!("{value} 阮"),
                "\"阮\" U+962E",
                "phông chữ",
                "cannot print",
            ),
            (
                format!("{value} 😀"),
                "\"😀\" U+1F600",
                "phông chữ",
                "cannot print",
            ),
            (
                // U+202E first: the whole field would print right to left.
                format!("\u{202E}{value}"),
                "U+202E",
                "đổi chiều chữ",
                "text-direction",
            ),
        ] {
            let o = issue(text, &refused);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{kind} {shown}: {err}");
            let line = err
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{path}:")))
                .unwrap_or_else(|| panic!("{kind}: no error beside {path}: {err}"));
            for part in [shown, vi, en] {
                assert!(line.contains(part), "{kind}: {part:?} not in {line}");
            }
            assert!(!refused.exists(), "{kind}: a refused document was written");
        }

        // Decomposed input (as macOS and some Vietnamese keyboards send it) prints composed.
        let pdf = desk.path(&format!("{kind}.pdf"));
        let nfd: String = value.nfd().collect();
        let o = issue(nfd.clone(), &pdf);
        assert!(
            o.status.success(),
            "{kind}: NFD {path} refused: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = std::process::Command::new("pdftotext")
            .args([pdf.to_str().unwrap(), "-"])
            .output()
            .expect("pdftotext runs (./test.sh installs poppler-utils)");
        let text = squash(&String::from_utf8_lossy(&text.stdout));
        assert!(
            text.contains(&squash(&value)),
            "{kind}: {value:?} not in the PDF's text"
        );
        assert!(!text.contains(&squash(&nfd)), "{kind}: NFD text in the PDF");
        // And the register keeps that composed spelling (what validation returns is what the
        // register row stores).
        let mut data = sample.clone();
        *data.pointer_mut(&pointer).unwrap() = serde_json::Value::String(nfd);
        let today = typst::foundations::Datetime::from_ymd(2026, 11, 25).unwrap();
        let valid = t.schema.validate(&data, today).unwrap();
        assert_eq!(valid.json.pointer(&pointer).unwrap(), &value, "{kind}");
    }
    assert_eq!(kinds, 8, "every kind is tried");
}

/// A refusal of the configuration: exit 1, one line on stderr naming `needle`, nothing done.
fn refused_setting(o: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "expected a refusal: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
    err
}

#[test]
fn a_base_url_that_is_not_http_or_https_with_a_host_never_reaches_a_qr_code() {
    let desk = Desk::new();
    let data = sample("certified-copy");
    let pdf = desk.path("c.pdf");
    let issue = |base_url: &str| {
        desk.cmd(&[
            "issue",
            "--kind",
            "certified-copy",
            "--data",
            data.to_str().unwrap(),
            "-o",
            pdf.to_str().unwrap(),
        ])
        .env("KYSO_BASE_URL", base_url)
        .output()
        .unwrap()
    };
    for bad in [
        "javascript:alert(document.cookie)",
        "data:text/html,<h1>x</h1>",
        "ftp://kyso.example.gov.vn",
        "https://",
        "",
        "https://kyso.example.gov.vn/?id=",
    ] {
        refused_setting(&issue(bad), "KYSO_BASE_URL");
        assert!(!pdf.exists(), "{bad}: a document was issued");
    }
    // A password in it is refused without being printed.
    let err = refused_setting(
        &issue("https://admin:hunter2@kyso.example.gov.vn"),
        "KYSO_BASE_URL",
    );
    assert!(!err.contains("hunter2"), "{err}");

    let o = issue("https://Kyso.Example.gov.vn/xac-thuc/");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("https://kyso.example.gov.vn/xac-thuc/v/"),
        "{out}"
    );
}

#[test]
fn an_empty_data_dir_is_refused_not_taken_as_the_current_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let run = |env: Option<&str>, flag: Option<&str>| {
        let mut c = kyso();
        c.current_dir(cwd.path()).arg("--dev");
        if let Some(v) = env {
            c.env("KYSO_DATA_DIR", v);
        }
        if let Some(v) = flag {
            c.args(["--data-dir", v]);
        }
        c.args(["officials", "list"]).output().unwrap()
    };
    refused_setting(&run(Some(""), None), "KYSO_DATA_DIR");
    refused_setting(&run(Some("  "), None), "KYSO_DATA_DIR");
    refused_setting(&run(None, Some("  ")), "--data-dir");
    // clap itself refuses an empty flag value, as a usage error.
    assert_eq!(run(None, Some("")).status.code(), Some(64));
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "nothing was created in the current directory"
    );
    // The same command with a real directory works.
    let o = run(Some(cwd.path().join("data").to_str().unwrap()), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn empty_or_hidden_authority_names_in_the_configuration_are_refused() {
    let desk = Desk::new();
    for (toml, key) in [
        ("[authority]\nfull_name = \"\"\n", "authority.full_name"),
        ("[authority]\ncode = \"  \"\n", "authority.code"),
        ("[authority]\ncode = \"xa-a \"\n", "authority.code"),
        (
            "[authority]\nplace = \"T\u{202E}ân Lạc\"\n",
            "authority.place",
        ),
        ("trust = [\"\"]\n", "trust"),
    ] {
        let file = desk.path("kyso.toml");
        std::fs::write(&file, toml).unwrap();
        let o = desk
            .cmd(&["--config", file.to_str().unwrap(), "kinds"])
            .output()
            .unwrap();
        refused_setting(&o, key);
    }
    refused_setting(
        &desk
            .cmd(&["kinds"])
            .env("KYSO_TRUST", "/a.pem::/b.pem")
            .output()
            .unwrap(),
        "KYSO_TRUST",
    );
}
