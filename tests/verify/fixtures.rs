//! A verifier receives files signed elsewhere and by kyso: `kyso verify` judges the shared fixture
//! sets (pyHanko-signed files, the public Shadow-attack vectors) and kyso's own signatures the way
//! their `expect.tsv` files and the output contract in README.md say.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::Value;

/// Runs `kyso verify --json` with `args`; returns (exit code, report).
fn verify_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["verify", "--json"];
    all.extend_from_slice(args);
    let out = kyso().args(&all).output().expect("kyso runs");
    let code = out.status.code().expect("exit code");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}) for {args:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, json)
}

fn rows(tsv: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(tsv)
        .expect("expect.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split('\t');
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect()
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn every_pyhanko_fixture_is_judged_as_expected() {
    let dir = fixture("pyhanko");
    let root = path_str(&dir.join("trust-root.pem"));
    let crl = path_str(&dir.join("intermediate.crl"));
    let table = rows(&dir.join("expect.tsv"));
    assert!(table.len() >= 6, "expect.tsv has its rows");
    for (file, expect) in table {
        let pdf = path_str(&dir.join(&file));
        let (code, report) = verify_json(&["--trust", &root, "--crl", &crl, &pdf]);
        let sigs = report["signatures"].as_array().expect("signatures");
        assert!(!sigs.is_empty(), "{file}: a signature is found");
        match expect.as_str() {
            "pass" => {
                assert_eq!(code, 0, "{file}: {report:#}");
                assert_eq!(report["indication"], "TOTAL-PASSED");
                for s in sigs {
                    assert_eq!(s["indication"], "TOTAL-PASSED", "{file}");
                    assert_eq!(s["integrity"], "intact");
                    assert_eq!(s["trusted"], true);
                    assert_ne!(s["modifications_after"], "disallowed");
                    assert_eq!(
                        s["chain"].as_array().unwrap().len(),
                        3,
                        "root, intermediate, signer"
                    );
                }
            }
            "fail" => {
                assert_ne!(code, 0, "{file}: {report:#}");
                let first = &sigs[0];
                // The fitting sub-indication for each kind of failure the fixtures contain.
                match file.as_str() {
                    "tampered-byte.pdf" => {
                        assert_eq!(code, 1);
                        assert_eq!(first["integrity"], "broken");
                        assert_eq!(first["sub_indication"], "HASH_FAILURE");
                    }
                    "isa-page-replaced.pdf" => {
                        assert_eq!(code, 1);
                        assert_eq!(first["integrity"], "intact");
                        assert_eq!(first["modifications_after"], "disallowed");
                        assert_eq!(first["sub_indication"], "FORMAT_FAILURE");
                        let changed: Vec<&str> = first["changed_objects"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().unwrap())
                            .collect();
                        assert!(
                            changed.contains(&"3 0"),
                            "the page object is named: {changed:?}"
                        );
                    }
                    "untrusted-root.pdf" => {
                        assert_eq!(code, 2);
                        assert_eq!(first["indication"], "INDETERMINATE");
                        assert_eq!(first["sub_indication"], "NO_CERTIFICATE_CHAIN_FOUND");
                        assert_eq!(first["trusted"], false);
                        assert_eq!(first["integrity"], "intact");
                    }
                    other => {
                        panic!("new failing fixture {other}: add its expected sub-indication here")
                    }
                }
            }
            other => panic!("unknown expectation {other}"),
        }
    }
}

#[test]
fn without_a_trust_anchor_nothing_is_trusted() {
    let pdf = path_str(&fixture("pyhanko/valid-bb.pdf"));
    let (code, report) = verify_json(&[&pdf]);
    assert_eq!(code, 2);
    assert_eq!(
        report["signatures"][0]["sub_indication"],
        "NO_CERTIFICATE_CHAIN_FOUND"
    );
}

/// The Shadow-attack vectors (pdf-insecurity.org). Their signer certificate is self-signed and
/// expired, so they are judged on integrity and modifications only.
///
/// pyHanko agrees on every manipulated file except possibly where its reader repairs a broken
/// cross-reference offset (replace variant 2 points `startxref` two bytes into `xref`): kyso does
/// not repair, treats the appended bytes as forming no revision and reports them as a disallowed
/// modification — a verifier must not accept content it can only reach by guessing.
#[test]
fn every_shadow_attack_vector_is_judged_as_expected() {
    let dir = fixture("shadow-attacks");
    let table = rows(&dir.join("expect.tsv"));
    assert_eq!(table.len(), 15);
    for (file, expect) in table {
        let pdf = path_str(&dir.join(&file));
        let (code, report) = verify_json(&[&pdf]);
        let sigs = report["signatures"].as_array().expect("signatures");
        assert_eq!(sigs.len(), 1, "{file}");
        let s = &sigs[0];
        match expect.as_str() {
            "intact" => {
                assert_eq!(s["integrity"], "intact", "{file}: {report:#}");
                assert_eq!(s["modifications_after"], "none", "{file}: {report:#}");
                // Untrusted self-signed demo certificate: INDETERMINATE, never FAILED.
                assert_eq!(code, 2, "{file}");
            }
            "modified" => {
                assert_eq!(code, 1, "{file}: {report:#}");
                assert_ne!(s["indication"], "TOTAL-PASSED");
                let disallowed = s["modifications_after"] == "disallowed";
                assert!(
                    disallowed || s["sub_indication"] == "FORMAT_FAILURE",
                    "{file}: {report:#}"
                );
                if disallowed {
                    assert!(
                        !s["changed_objects"].as_array().unwrap().is_empty(),
                        "{file}: names what changed"
                    );
                }
            }
            other => panic!("unknown expectation {other}"),
        }
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn unsigned() -> PathBuf {
    fixture("pyhanko/unsigned.pdf")
}

fn dev_root() -> String {
    path_str(&keys_dev().join("root-ca.pem"))
}

fn dev_crl() -> String {
    path_str(&keys_dev().join("intermediate-ca.crl.pem"))
}

#[test]
fn the_officials_signature_then_the_agency_seal_both_verify_total_passed() {
    let dir = tmp();
    let one = dir.path().join("one.pdf");
    let two = dir.path().join("two.pdf");
    dev_sign("chairman-rsa", &unsigned(), &one, &[]);
    dev_sign("seal-ec", &one, &two, &[]);

    let (code, report) = verify_json(&[
        "--dev",
        "--trust",
        &dev_root(),
        "--crl",
        &dev_crl(),
        &path_str(&one),
    ]);
    assert_eq!(code, 0, "{report:#}");
    let s = &report["signatures"][0];
    assert_eq!(s["indication"], "TOTAL-PASSED");
    assert_eq!(s["coverage"], "whole-file");
    assert_eq!(s["modifications_after"], "none");
    assert_eq!(s["signer"]["common_name"], "Nguyễn Văn An");

    let (code, report) = verify_json(&[
        "--dev",
        "--trust",
        &dev_root(),
        "--crl",
        &dev_crl(),
        &path_str(&two),
    ]);
    assert_eq!(code, 0, "{report:#}");
    let sigs = report["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0]["coverage"], "revision");
    assert_eq!(
        sigs[0]["modifications_after"], "allowed",
        "adding the seal is an allowed change"
    );
    assert_eq!(sigs[1]["coverage"], "whole-file");
    assert_eq!(sigs[1]["signer"]["common_name"], "UBND xã Tân Lạc");
    for s in sigs {
        assert_eq!(s["indication"], "TOTAL-PASSED");
        assert!(s["sub_indication"].is_null());
        assert_eq!(s["chain"].as_array().unwrap().len(), 3);
        assert!(s["claimed_signing_time"].as_str().unwrap().ends_with('Z'));
    }
    let sha = report["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);

    // pyHanko agrees.
    assert_externally_valid(&two, &[]);
}

#[test]
fn the_development_root_is_ignored_outside_development_mode() {
    let dir = tmp();
    let one = dir.path().join("one.pdf");
    dev_sign("clerk-ec", &unsigned(), &one, &[]);
    let (code, report) = verify_json(&["--trust", &dev_root(), &path_str(&one)]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["signatures"][0]["trusted"], false);
    // Nor can it come in through configuration or the environment.
    let out = kyso()
        .env("KYSO_TRUST", dev_root())
        .args(["verify", "--json", &path_str(&one)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_revoked_official_signature_fails_with_revoked() {
    let dir = tmp();
    let pdf = dir.path().join("revoked.pdf");
    dev_sign("revoked-rsa", &unsigned(), &pdf, &[]);
    let (code, report) = verify_json(&[
        "--dev",
        "--trust",
        &dev_root(),
        "--crl",
        &dev_crl(),
        &path_str(&pdf),
    ]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["signatures"][0]["indication"], "TOTAL-FAILED");
    assert_eq!(report["signatures"][0]["sub_indication"], "REVOKED");
    // Without the CRL the revocation is unknown, and the report says so.
    let (code, report) = verify_json(&["--dev", "--trust", &dev_root(), &path_str(&pdf)]);
    assert_eq!(code, 0);
    let messages = report["signatures"][0]["messages"].to_string();
    assert!(messages.contains("revocation not checked"), "{messages}");
}

#[test]
fn the_text_report_is_vietnamese_first_then_english() {
    let dir = tmp();
    let one = dir.path().join("one.pdf");
    dev_sign("chairman-ec", &unsigned(), &one, &[]);
    let out = kyso()
        .args(["--dev", "verify", "--trust", &dev_root(), &path_str(&one)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let vi = text.find("Kết luận: HỢP LỆ").expect("Vietnamese verdict");
    let en = text.find("Verdict:  VALID").expect("English verdict");
    assert!(vi < en, "{text}");
    assert!(text.contains("Người ký / Signer: Nguyễn Văn An"), "{text}");
}

#[test]
fn unreadable_inputs_and_unsigned_files_have_their_own_exit_codes() {
    let dir = tmp();
    let (code, report) = verify_json(&[&path_str(&unsigned())]);
    assert_eq!(code, 3);
    assert_eq!(report["indication"], "NO-SIGNATURE");

    let not_pdf = dir.path().join("x.pdf");
    std::fs::write(&not_pdf, b"hello, this is not a PDF").unwrap();
    for file in [not_pdf.clone(), dir.path().join("missing.pdf")] {
        let out = kyso().args(["verify", &path_str(&file)]).output().unwrap();
        assert_eq!(out.status.code(), Some(4));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty());
    }
    let bad_root = dir.path().join("root.pem");
    std::fs::write(&bad_root, b"not a certificate").unwrap();
    let out = kyso()
        .args([
            "verify",
            "--trust",
            &path_str(&bad_root),
            &path_str(&unsigned()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let out = kyso()
        .args(["verify", "--at", "yesterday", &path_str(&unsigned())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
}
