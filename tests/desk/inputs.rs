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

    fn ok(&self, args: &[&str]) -> String {
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
