//! Nothing issued or signed goes unrecorded, and nothing kyso writes destroys a record: the
//! issued PDF is kept before the register says "issued" (and `kyso reprint` gives it back byte
//! for byte), a signature is audited and in the outbox before its file is written, outputs never
//! land in the data directory or over an existing file unasked, and a process killed at any
//! moment leaves every number explained.

use std::process::{Command, Stdio};

use crate::authority::Commune;
use crate::common::*;

fn db(c: &Commune) -> rusqlite::Connection {
    rusqlite::Connection::open(c.data().join("registry.sqlite3")).unwrap()
}

fn count(c: &Commune, sql: &str) -> i64 {
    db(c).query_row(sql, [], |r| r.get(0)).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    kyso::app::sha256_hex(bytes)
}

fn sample(kind: &str) -> String {
    repo()
        .join(format!("templates/{kind}/sample.json"))
        .display()
        .to_string()
}

#[test]
fn outputs_never_overwrite_the_register_or_an_existing_file_unasked() {
    let c = Commune::new();
    let (_, _) = c.issue("certified-copy");
    let before = count(&c, "SELECT COUNT(*) FROM documents");
    let registry = c.data().join("registry.sqlite3");
    let registry_bytes = std::fs::read(&registry).unwrap();
    let o = c.kyso(&[
        "issue",
        "--kind",
        "certified-copy",
        "--data",
        &sample("certified-copy"),
        "-o",
        registry.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("inside kyso's data directory"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Also through a path that only leads there.
    let sneaky = c.path("data/../data/registry.sqlite3");
    let o = c.kyso(&[
        "issue",
        "--kind",
        "certified-copy",
        "--data",
        &sample("certified-copy"),
        "-o",
        sneaky.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(std::fs::read(&registry).unwrap().len() >= registry_bytes.len());
    c.ok(&["officials", "list"]);
    // An existing file is replaced only with --force; nothing is numbered by a refused run.
    let existing = c.path("existing.pdf");
    std::fs::write(&existing, b"keep me").unwrap();
    let o = c.kyso(&[
        "issue",
        "--kind",
        "certified-copy",
        "--data",
        &sample("certified-copy"),
        "-o",
        existing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    // A directory that does not exist: refused before numbering, too.
    let o = c.kyso(&[
        "issue",
        "--kind",
        "certified-copy",
        "--data",
        &sample("certified-copy"),
        "-o",
        "/nonexistent/x.pdf",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(count(&c, "SELECT COUNT(*) FROM documents"), before);
    c.ok(&[
        "issue",
        "--kind",
        "certified-copy",
        "--data",
        &sample("certified-copy"),
        "-o",
        existing.to_str().unwrap(),
        "--force",
    ]);
    assert!(std::fs::read(&existing).unwrap().starts_with(b"%PDF-"));
    // Signing, too, refuses to write into the data directory.
    let (issued, _) = c.issue("certified-copy");
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        None,
        &issued,
        &c.data().join("signed.pdf"),
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!c.data().join("signed.pdf").exists());
}

#[test]
fn a_closed_stdout_leaves_an_issued_document_that_reprints_byte_for_byte() {
    let c = Commune::new();
    let out = c.path("lost.pdf");
    // The clerk's terminal goes away while kyso reports: `kyso issue … | true`.
    let st = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" "$@" | true"#)
        .arg(env!("CARGO_BIN_EXE_kyso"))
        .args(["--dev", "--data-dir"])
        .arg(c.data())
        .args([
            "issue",
            "--kind",
            "signature",
            "--data",
            &sample("signature"),
            "-o",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let (id, status, sha): (String, String, Option<String>) = db(&c)
        .query_row("SELECT id, status, pdf_sha256 FROM documents", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(status, "issued");
    let again = c.path("again.pdf");
    c.ok(&["reprint", &id, "-o", again.to_str().unwrap()]);
    let bytes = std::fs::read(&again).unwrap();
    assert_eq!(Some(sha256_hex(&bytes)), sha);
    if out.exists() {
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
    }
    // An unknown document is not found; the issue is audited.
    let o = c.kyso(&[
        "reprint",
        "0000",
        "-o",
        c.path("none.pdf").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(c.audit().contains(&format!("\tissue\t{id}\t")));
}

#[test]
fn a_signature_that_cannot_be_recorded_is_never_written() {
    let c = Commune::new();
    let (issued, id) = c.issue("certified-copy");
    // The outbox's staging folder cannot be created: signing must fail before any output.
    let staging = c.data().join("outbox");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::write(&staging, b"not a directory").unwrap();
    let out = c.path("signed.pdf");
    let o = c.sign_as("chairman-rsa", "chu-tich", None, &issued, &out, &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists(), "an unrecorded signature was written");
    let audit = c.audit();
    assert!(
        !audit
            .lines()
            .any(|l| l.contains("\tsign\t") && l.contains(&id)),
        "{audit}"
    );
    // Once the folder is back, the same signing goes through and is recorded first.
    std::fs::remove_file(&staging).unwrap();
    let o = c.sign_as("chairman-rsa", "chu-tich", None, &issued, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sha = sha256_hex(&std::fs::read(&out).unwrap());
    assert_eq!(
        count(
            &c,
            &format!("SELECT COUNT(*) FROM archive_outbox WHERE sha256 = '{sha}'")
        ),
        1
    );
    assert!(c.audit().contains(&sha));
}

/// What a killed `kyso issue` or `kyso sign` may leave: numbers still pending (voided once the
/// interruption is old enough), issued documents with their file, and signed outputs that are
/// all audited and in the outbox.
#[test]
fn issuing_and_signing_killed_at_random_moments_lose_nothing() {
    let c = Commune::new();
    let (first, _) = c.issue("certified-copy");
    let k = keys_dev();
    // At least 100 runs killed while they were still working, at random moments; the runs that
    // finished first count too (their records are checked the same way).
    let mut kills = 0;
    let mut r = 0;
    let mut outputs = Vec::new();
    while kills < 100 {
        assert!(r < 600, "only {kills} kills in {r} runs");
        let out = c.path(&format!("k-{r}.pdf"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyso"));
        cmd.args(["--dev", "--data-dir"]).arg(c.data());
        if r % 2 == 0 {
            cmd.args([
                "issue",
                "--kind",
                "certified-copy",
                "--data",
                &sample("certified-copy"),
                "-o",
            ])
            .arg(&out);
        } else {
            cmd.args(["sign", "--key"])
                .arg(k.join("chairman-rsa.key.pem"))
                .arg("--cert")
                .arg(k.join("chairman-rsa.pem"))
                .arg("--chain")
                .arg(k.join("intermediate-ca.pem"))
                .args(["--official", "chu-tich"])
                .arg(&first)
                .arg("-o")
                .arg(&out);
            outputs.push(out.clone());
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(random_u64() % 400));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        let _ = child.wait();
        r += 1;
    }

    // Time passes: interrupted numbering is voided with its reason.
    let settings = kyso::config::Settings {
        data_dir: c.data(),
        development: true,
        ..Default::default()
    };
    let app = kyso::app::App::with_clock(
        settings,
        std::sync::Arc::new(kyso::app::FixedClock(
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        )),
    );
    // Issuing once more (an hour later) voids what an interruption left pending.
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample("certified-copy")).unwrap()).unwrap();
    kyso::app::issue::issue(&app, "test", "certified-copy", &data).unwrap();

    let conn = db(&c);
    let mut st = conn
        .prepare("SELECT id, status, void_reason, number FROM documents ORDER BY number")
        .unwrap();
    let rows: Vec<(String, String, Option<String>, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (i, (id, status, reason, number)) in rows.iter().enumerate() {
        assert_eq!(*number, i as i64 + 1, "numbers run without gaps");
        match status.as_str() {
            "issued" => {
                let reprint = c.path(&format!("r-{id}.pdf"));
                c.ok(&["reprint", id, "-o", reprint.to_str().unwrap()]);
            }
            "void" => assert!(reason.as_deref().is_some_and(|r| !r.is_empty())),
            other => panic!("document {id} is left {other}"),
        }
    }
    // Every signed output that exists is audited and waiting in (or done with) the outbox.
    for out in outputs.iter().filter(|p| p.exists()) {
        let sha = sha256_hex(&std::fs::read(out).unwrap());
        let in_outbox: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM archive_outbox WHERE sha256 = ?1",
                [&sha],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(in_outbox, 1, "{} is not in the outbox", out.display());
        let audited: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'sign' AND details LIKE '%' || ?1 || '%'",
                [&sha],
                |r| r.get(0),
            )
            .unwrap();
        assert!(audited >= 1, "{} is not audited", out.display());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kyso"))
        .args(["--dev", "--data-dir"])
        .arg(c.data())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    u64::from_le_bytes(b)
}

#[test]
fn a_whole_day_end_date_includes_its_last_second() {
    let c = Commune::new();
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2026-12-31",
    );
    let list = c.ok(&["delegations", "list"]);
    // The grant runs to the last instant of 2026-12-31 in Vietnam.
    assert!(
        list.contains("2026-12-31T23:59:59.999999999+07:00"),
        "{list}"
    );
}
