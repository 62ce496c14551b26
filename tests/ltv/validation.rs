//! Past signature validation (ETSI EN 319 102-1) of long-term files, offline: kyso judges each
//! signature at the time its timestamps prove it existed, with the DSS's revocation data, and
//! reports each timestamp, its TSA and the revocation source used. "Years later" is `--at`, and
//! revocation data from then comes from certomancer's fake-time header.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::pki::{http_get, pki, sign, verify};

fn signed(label: &str, tsa: bool, level: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{label}-{level}-{tsa}.pdf"));
    let urls = if tsa { pki().tsa() } else { String::new() };
    let o = sign(label, &urls, level, &dir.join("data"), &out);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn first(report: &Value) -> &Value {
    &report["signatures"][0]
}

#[test]
fn an_expired_signer_certificate_passes_with_its_b_lta_proof_of_existence() {
    let dir = tempfile::tempdir().unwrap();
    let lta = signed("signer-expiring", true, "b-lta", dir.path());
    let bb = signed("signer-expiring", false, "off", dir.path());
    // Tran Thi Han's certificate expires on 2029-01-01.
    let at = "2031-06-01T00:00:00Z";
    let r = verify(&lta, Some(at), &[]);
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r:#}");
    let s = first(&r);
    assert!(s["proof_of_existence"].as_str().is_some(), "{s:#}");
    // The revocation source of each certificate is reported: OCSP for the signer, the root's
    // CRL for the intermediate, from the file's DSS.
    assert!(
        s["revocation"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("OCSP (KYSO Test Intermediate OCSP"),
        "{s:#}"
    );
    assert_eq!(s["revocation"][0]["status"], "good");
    assert!(
        s["revocation"][1]["source"]
            .as_str()
            .unwrap()
            .starts_with("CRL (KYSO Test Root CA"),
        "{s:#}"
    );
    // Each timestamp: its time, TSA, and the TSA's revocation source.
    let ts = &s["timestamps"][0];
    assert_eq!(ts["tsa"], "KYSO Test TSA");
    assert_eq!(ts["valid"], true);
    assert!(
        ts["revocation"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("CRL")
    );
    let doc_ts = &r["signatures"][1];
    assert_eq!(doc_ts["indication"], "TOTAL-PASSED", "{doc_ts:#}");
    assert!(
        doc_ts["field"]
            .as_str()
            .unwrap()
            .starts_with("DocTimeStamp")
    );
    // Without any timestamp, the same expiry is INDETERMINATE.
    let r = verify(&bb, Some(at), &[]);
    assert_eq!(r["indication"], "INDETERMINATE", "{r:#}");
    assert_eq!(first(&r)["sub_indication"], "OUT_OF_BOUNDS_NO_POE");
}

#[test]
fn a_signature_revoked_after_its_proof_of_existence_passes() {
    let dir = tempfile::tempdir().unwrap();
    let lta = signed("signer-revoked-later", true, "b-lta", dir.path());
    let bb = signed("signer-revoked-later", false, "off", dir.path());
    // The intermediate's CRL as published in 2036: Pham Thi Sau revoked since 2035-01-01.
    let crl = dir.path().join("interm-2036.crl");
    std::fs::write(
        &crl,
        http_get(
            &format!("{}/kyso/crls/interm/latest.crl", pki().url),
            Some("2036-01-01T00:00:00+00:00"),
        ),
    )
    .unwrap();
    let at = "2036-02-01T00:00:00Z";
    let r = verify(&lta, Some(at), &[&crl]);
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r:#}");
    let s = first(&r);
    assert_eq!(
        s["revocation"][0]["status"], "revoked 2035-01-01T00:00:00Z",
        "{s:#}"
    );
    assert!(
        s["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().contains("after the proof of existence")),
        "{s:#}"
    );
    // No timestamp: nothing proves the signature older than the revocation.
    let r = verify(&bb, Some(at), &[&crl]);
    assert_eq!(r["indication"], "INDETERMINATE", "{r:#}");
    assert_eq!(first(&r)["sub_indication"], "REVOKED_NO_POE");
}

#[test]
fn a_signature_by_a_certificate_revoked_before_signing_fails() {
    let dir = tempfile::tempdir().unwrap();
    // With long-term signatures on, kyso asks the OCSP responder before signing and refuses.
    let out = dir.path().join("refused.pdf");
    let o = sign(
        "signer-revoked-early",
        &pki().tsa(),
        "b-lt",
        &dir.path().join("data"),
        &out,
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("2025-06-01"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());
    // Signed without (B-T), then given the DSS by `kyso ltv extend`.
    let bt = signed("signer-revoked-early", true, "off", dir.path());
    let o = crate::common::kyso()
        .env("KYSO_DATA_DIR", dir.path().join("data"))
        .env("KYSO_TSA_URLS", pki().tsa())
        .env("KYSO_TRUST", pki().cert("root"))
        .args(["ltv", "extend", "--dss-only"])
        .arg(&bt)
        .arg("-o")
        .arg(dir.path().join("lt"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lt = dir.path().join("lt").join(bt.file_name().unwrap());
    // Offline, from the OCSP response in the DSS.
    let r = verify(&lt, None, &[]);
    assert_eq!(r["indication"], "TOTAL-FAILED", "{r:#}");
    let s = first(&r);
    assert_eq!(s["sub_indication"], "REVOKED", "{s:#}");
    assert!(
        s["revocation"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("OCSP"),
        "{s:#}"
    );
}

#[test]
fn an_expired_tsa_certificate_with_no_later_proof_of_existence_is_indeterminate() {
    let dir = tempfile::tempdir().unwrap();
    let lta = signed("signer", true, "b-lta", dir.path());
    let bt = signed("signer", true, "off", dir.path());
    // The TSA's certificate is valid until 2060, the signer's until 2040.
    let r = verify(&bt, Some("2041-01-01T00:00:00Z"), &[]);
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r:#}");
    for file in [&bt, &lta] {
        let r = verify(file, Some("2061-01-01T00:00:00Z"), &[]);
        assert_eq!(r["indication"], "INDETERMINATE", "{r:#}");
        let s = first(&r);
        assert_eq!(s["timestamps"][0]["valid"], false, "{s:#}");
        assert_eq!(s["sub_indication"], "OUT_OF_BOUNDS_NO_POE", "{s:#}");
    }
    let r = verify(&lta, Some("2061-01-01T00:00:00Z"), &[]);
    assert_eq!(r["signatures"][1]["indication"], "INDETERMINATE", "{r:#}");
}

#[test]
fn kyso_validates_pyhankos_b_lta_output_offline_years_later() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki();
    let out = dir.path().join("pyhanko-lta.pdf");
    let o = std::process::Command::new(crate::common::tools().join("venv/bin/pyhanko"))
        .args(["sign", "addsig", "--field", "Sig1", "--timestamp-url"])
        .arg(p.tsa())
        .args(["--use-pades-lta", "--with-validation-info", "--trust"])
        .arg(p.cert("root"))
        .args(["--trust-replace", "pemder", "--key"])
        .arg(p.key("signer-expiring"))
        .arg("--cert")
        .arg(p.cert("signer-expiring"))
        .arg("--chain")
        .arg(p.cert("interm"))
        .arg("--no-pass")
        .arg(crate::common::fixture("pyhanko/unsigned.pdf"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for at in [None, Some("2031-06-01T00:00:00Z")] {
        let r = verify(&out, at, &[]);
        assert_eq!(r["indication"], "TOTAL-PASSED", "{at:?}: {r:#}");
        let s = first(&r);
        assert_eq!(s["revocation"][0]["status"], "good", "{s:#}");
        // pyHanko's document timestamp, judged too.
        let doc_ts = &r["signatures"][1];
        assert!(
            doc_ts["field"].as_str().unwrap().starts_with("Timestamp"),
            "{r:#}"
        );
        assert_eq!(doc_ts["indication"], "TOTAL-PASSED", "{r:#}");
    }
}

#[test]
fn validation_is_offline_unless_fetch_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    // B-T: no DSS, so offline nothing tells the certificate was revoked in 2025.
    let bt = signed("signer-revoked-early", true, "off", dir.path());
    let r = verify(&bt, None, &[]);
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r:#}");
    assert_eq!(first(&r)["revocation"][0]["status"], "not-checked", "{r:#}");
    let out = crate::common::kyso()
        .args(["verify", "--json", "--fetch", "--trust"])
        .arg(pki().cert("root"))
        .arg(&bt)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["indication"], "TOTAL-FAILED", "{r:#}");
    let s = first(&r);
    assert_eq!(s["sub_indication"], "REVOKED", "{s:#}");
    assert!(
        s["revocation"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("OCSP (KYSO Test Intermediate OCSP"),
        "{s:#}"
    );
}

#[test]
fn revocation_data_that_expired_before_the_proof_of_existence_says_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bt = signed("signer", true, "off", dir.path());
    // The intermediate's CRL as published at the start of 2026 (next update a week later):
    // it does not list the signer, but it was out of date long before the signature existed.
    let crl = dir.path().join("interm-old.crl");
    std::fs::write(
        &crl,
        http_get(
            &format!("{}/kyso/crls/interm/latest.crl", pki().url),
            Some("2026-01-01T00:00:00+00:00"),
        ),
    )
    .unwrap();
    let r = verify(&bt, Some("2027-06-01T00:00:00Z"), &[&crl]);
    assert_eq!(first(&r)["revocation"][0]["status"], "not-checked", "{r:#}");
    // The current one counts.
    let fresh = dir.path().join("interm.crl");
    std::fs::write(
        &fresh,
        http_get(&format!("{}/kyso/crls/interm/latest.crl", pki().url), None),
    )
    .unwrap();
    let r = verify(&bt, Some("2027-06-01T00:00:00Z"), &[&crl, &fresh]);
    assert_eq!(first(&r)["revocation"][0]["status"], "good", "{r:#}");
    assert!(
        first(&r)["revocation"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("CRL (KYSO Test Intermediate CA"),
        "{r:#}"
    );
}
