//! Signing under delegated authority: the admin registers the commune's officials and a KT.
//! delegation; the Vice-Chairman signs "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"; kyso refuses whatever the
//! delegation does not cover, with a reason a clerk understands; tokens sign in two steps; and
//! the audit log shows any edit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

/// A commune registry in a temporary data directory.
struct Commune {
    dir: tempfile::TempDir,
}

impl Commune {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn kyso(&self, args: &[&str]) -> Output {
        let data = self.data();
        let mut all = vec!["--dev", "--data-dir", data.to_str().unwrap()];
        all.extend_from_slice(args);
        kyso().args(&all).output().expect("kyso runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.kyso(args);
        assert!(
            o.status.success(),
            "kyso {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Registers the chairman (who signs certifications in his own right), the vice-chairman
    /// and the agency seal, with their keys-dev certificates.
    fn new() -> Commune {
        let c = Commune {
            dir: tempfile::tempdir().unwrap(),
        };
        let k = keys_dev();
        c.ok(&[
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
        c.ok(&[
            "officials",
            "add",
            "--id",
            "pho-chu-tich",
            "--name",
            "Trần Thị Bình",
            "--title",
            "Phó Chủ tịch",
            "--agency",
            "UBND xã Tân Lạc",
            "--citizen-id",
            "001085000002",
        ]);
        c.ok(&[
            "officials",
            "add",
            "--id",
            "cong-chuc",
            "--name",
            "Lê Văn Cường",
            "--title",
            "Công chức Tư pháp - Hộ tịch",
            "--agency",
            "UBND xã Tân Lạc",
            "--citizen-id",
            "001090000003",
        ]);
        c.ok(&[
            "officials",
            "add",
            "--id",
            "con-dau",
            "--name",
            "UBND xã Tân Lạc",
            "--title",
            "Cơ quan",
            "--agency",
            "UBND xã Tân Lạc",
            "--seal",
        ]);
        for (id, cert) in [
            ("chu-tich", "chairman-rsa"),
            ("pho-chu-tich", "vice-chairman-ec"),
            ("cong-chuc", "clerk-rsa"),
            ("con-dau", "seal-ec"),
        ] {
            c.ok(&[
                "officials",
                "add-cert",
                id,
                "--cert",
                k.join(format!("{cert}.pem")).to_str().unwrap(),
            ]);
        }
        c.ok(&[
            "officials",
            "allow",
            "--title",
            "Chủ tịch",
            "--kind",
            "chung-thuc-chu-ky",
            "--kind",
            "chung-thuc-ban-sao",
            "--kind",
            "hop-dong",
        ]);
        c
    }

    fn grant(
        &self,
        mark: &str,
        from: &str,
        to: &str,
        kinds: &[&str],
        valid_from: &str,
        valid_until: &str,
    ) -> Output {
        let k = keys_dev();
        let (key, cert) = match from {
            "chu-tich" => ("chairman-rsa.key.pem", "chairman-rsa.pem"),
            "pho-chu-tich" => ("vice-chairman-ec.key.pem", "vice-chairman-ec.pem"),
            other => panic!("no key for {other}"),
        };
        let key = k.join(key);
        let cert = k.join(cert);
        let mut args = vec![
            "delegations",
            "grant",
            "--mark",
            mark,
            "--from",
            from,
            "--to",
            to,
            "--valid-from",
            valid_from,
            "--valid-until",
            valid_until,
            "--basis-number",
            "15/QĐ-UBND",
            "--basis-date",
            "2025-12-30",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
        ];
        for kind in kinds {
            args.push("--kind");
            args.push(kind);
        }
        self.kyso(&args)
    }

    fn sign_as(
        &self,
        stem: &str,
        official: &str,
        kind: &str,
        input: &Path,
        out: &Path,
        extra: &[&str],
    ) -> Output {
        let k = keys_dev();
        let key = k.join(format!("{stem}.key.pem"));
        let cert = k.join(format!("{stem}.pem"));
        let chain = k.join("intermediate-ca.pem");
        let mut args = vec![
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            "--chain",
            chain.to_str().unwrap(),
            "--official",
            official,
            "--kind",
            kind,
        ];
        args.extend_from_slice(extra);
        args.push(input.to_str().unwrap());
        args.push("-o");
        args.push(out.to_str().unwrap());
        self.kyso(&args)
    }
}

fn unsigned() -> PathBuf {
    fixture("pyhanko/unsigned.pdf")
}

fn refused(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "expected a refusal, got: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "expected {needle:?} in {err}");
}

/// The signer-attributes-v2 of the (last) signature in `pdf`, and the CMS certificates.
fn signer_attributes_of(
    pdf: &Path,
) -> (
    kyso::authority::grant::SignerAttributes,
    Vec<kyso::pki::Certificate>,
) {
    use der::{Decode, Encode};
    let doc = lopdf::Document::load(pdf).unwrap();
    let sig = doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .rfind(|d| d.get(b"Type").ok() == Some(&lopdf::Object::Name(b"Sig".to_vec())))
        .expect("a signature");
    let contents = sig.get(b"Contents").unwrap().as_str().unwrap();
    let ci = cms::content_info::ContentInfo::from_der(&contents[..der_len(contents)]).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    let certs = sd
        .certificates
        .unwrap()
        .0
        .iter()
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => {
                kyso::pki::Certificate::from_der(c.to_der().unwrap()).ok()
            }
            _ => None,
        })
        .collect();
    let si = sd.signer_infos.0.iter().next().unwrap();
    let attr = si
        .signed_attrs
        .as_ref()
        .unwrap()
        .iter()
        .find(|a| a.oid == kyso::authority::grant::ID_AA_ETS_SIGNER_ATTR_V2)
        .expect("signer-attributes-v2");
    let value = attr.values.iter().next().unwrap().to_der().unwrap();
    (
        kyso::authority::grant::read_signer_attributes(&value).unwrap(),
        certs,
    )
}

#[test]
fn the_vice_chairman_signs_under_a_kt_delegation_and_the_grant_travels_in_the_signature() {
    let c = Commune::new();
    let o = c.grant(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["chung-thuc-chu-ky"],
        "2026-01-01",
        "2030-12-31",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"));

    let signed = c.path("kt.pdf");
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        "chung-thuc-chu-ky",
        &unsigned(),
        &signed,
        &["--requester-id", "079090001234"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_externally_valid(&signed, &[]);

    // The seal follows; both signatures stay valid.
    let sealed = c.path("sealed.pdf");
    let o = c.sign_as(
        "seal-ec",
        "con-dau",
        "chung-thuc-chu-ky",
        &signed,
        &sealed,
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_externally_valid(&sealed, &[]);

    // Offline: the claimed role and the grant, whose signature verifies with the chairman's
    // certificate carried in the same CMS.
    let (attrs, certs) = signer_attributes_of(&signed);
    assert_eq!(
        attrs.claimed_roles,
        vec!["KT. CHỦ TỊCH / PHÓ CHỦ TỊCH".to_string()]
    );
    assert_eq!(attrs.grants.len(), 1);
    let (info, delegator) =
        kyso::authority::grant::verify(&attrs.grants[0], &certs).expect("grant verifies");
    assert_eq!(delegator.common_name().as_deref(), Some("Nguyễn Văn An"));
    assert_eq!(info.mark, "KT");
    assert_eq!(info.scope, vec!["chung-thuc-chu-ky".to_string()]);
    assert_eq!(info.basis_number, "15/QĐ-UBND");
    assert_eq!(info.delegate_title, "Phó Chủ tịch");
    // Tampering with one byte of the grant breaks it.
    let mut bad = attrs.grants[0].clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    assert!(kyso::authority::grant::verify(&bad, &certs).is_err());

    // The chairman signs in his own right: a claimed role, no grant.
    let own = c.path("own.pdf");
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        "chung-thuc-ban-sao",
        &unsigned(),
        &own,
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (attrs, _) = signer_attributes_of(&own);
    assert_eq!(attrs.claimed_roles, vec!["CHỦ TỊCH".to_string()]);
    assert!(attrs.grants.is_empty());
    assert_externally_valid(&own, &[]);

    let audit = c.ok(&["audit", "list"]);
    assert!(
        audit.contains("\tsign\t") && audit.contains("delegation.grant"),
        "{audit}"
    );
}

#[test]
fn an_expired_delegation_is_refused() {
    let c = Commune::new();
    assert!(
        c.grant(
            "KT",
            "chu-tich",
            "pho-chu-tich",
            &["chung-thuc-chu-ky"],
            "2025-01-01",
            "2025-12-31"
        )
        .status
        .success()
    );
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        "chung-thuc-chu-ky",
        &unsigned(),
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "đã hết hạn");
    refused(&o, "expired");
    assert!(!c.path("x.pdf").exists());
}

#[test]
fn a_delegation_not_yet_in_force_is_refused() {
    let c = Commune::new();
    assert!(
        c.grant(
            "KT",
            "chu-tich",
            "pho-chu-tich",
            &["chung-thuc-chu-ky"],
            "2099-01-01",
            "2099-12-31"
        )
        .status
        .success()
    );
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        "chung-thuc-chu-ky",
        &unsigned(),
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "not yet in force");
}

#[test]
fn a_revoked_delegation_is_refused() {
    let c = Commune::new();
    assert!(
        c.grant(
            "KT",
            "chu-tich",
            "pho-chu-tich",
            &["chung-thuc-chu-ky"],
            "2026-01-01",
            "2030-12-31"
        )
        .status
        .success()
    );
    c.ok(&[
        "delegations",
        "revoke",
        "1",
        "--reason",
        "điều chuyển công tác",
    ]);
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        "chung-thuc-chu-ky",
        &unsigned(),
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "revoked");
    refused(&o, "điều chuyển công tác");
}

#[test]
fn a_kind_outside_the_scope_is_refused() {
    let c = Commune::new();
    assert!(
        c.grant(
            "KT",
            "chu-tich",
            "pho-chu-tich",
            &["chung-thuc-chu-ky"],
            "2026-01-01",
            "2030-12-31"
        )
        .status
        .success()
    );
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        "hop-dong",
        &unsigned(),
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "does not cover hop-dong");
}

#[test]
fn someone_who_is_not_the_grantee_is_refused() {
    let c = Commune::new();
    assert!(
        c.grant(
            "KT",
            "chu-tich",
            "pho-chu-tich",
            &["chung-thuc-chu-ky"],
            "2026-01-01",
            "2030-12-31"
        )
        .status
        .success()
    );
    // The clerk names the vice-chairman's delegation.
    let o = c.sign_as(
        "clerk-rsa",
        "cong-chuc",
        "chung-thuc-chu-ky",
        &unsigned(),
        &c.path("x.pdf"),
        &["--delegation", "1"],
    );
    refused(&o, "was granted to pho-chu-tich, not cong-chuc");
    // Without naming it, the clerk simply has no authority.
    let o = c.sign_as(
        "clerk-rsa",
        "cong-chuc",
        "chung-thuc-chu-ky",
        &unsigned(),
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "has no authority");
    // And one cannot sign as an official with someone else's certificate.
    let o = c.sign_as(
        "clerk-rsa",
        "pho-chu-tich",
        "chung-thuc-chu-ky",
        &unsigned(),
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "not registered to pho-chu-tich");
}

#[test]
fn a_tuq_power_cannot_be_delegated_onward() {
    let c = Commune::new();
    assert!(
        c.grant(
            "TUQ",
            "chu-tich",
            "pho-chu-tich",
            &["chung-thuc-chu-ky"],
            "2026-01-01",
            "2030-12-31"
        )
        .status
        .success()
    );
    let o = c.grant(
        "KT",
        "pho-chu-tich",
        "cong-chuc",
        &["chung-thuc-chu-ky"],
        "2026-01-01",
        "2030-12-31",
    );
    refused(&o, "TUQ");
    refused(&o, "may not be delegated onward");
    let list = c.ok(&["delegations", "list"]);
    assert_eq!(list.lines().count(), 1, "nothing was granted: {list}");
}

#[test]
fn a_certifier_cannot_certify_their_own_matter() {
    let c = Commune::new();
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        "chung-thuc-chu-ky",
        &unsigned(),
        &c.path("x.pdf"),
        &["--requester-id", "001 080 000 001"],
    );
    refused(&o, "Decree 23/2015 Art. 9.3");
    let audit = c.ok(&["audit", "list"]);
    assert!(
        audit.contains("\trefuse\t"),
        "refusals are audited: {audit}"
    );
}

#[test]
fn deferred_signing_with_openssl_as_the_token() {
    let c = Commune::new();
    let k = keys_dev();
    for (stem, official, kind, extra) in [
        (
            "chairman-rsa",
            "chu-tich",
            "chung-thuc-ban-sao",
            // RSASSA-PSS by default: SHA-256, MGF1-SHA-256, a 32-byte salt.
            vec![
                "-pkeyopt",
                "digest:sha256",
                "-pkeyopt",
                "rsa_padding_mode:pss",
                "-pkeyopt",
                "rsa_pss_saltlen:32",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
            ],
        ),
        (
            "vice-chairman-ec",
            "pho-chu-tich",
            "chung-thuc-chu-ky",
            vec![],
        ),
    ] {
        if official == "pho-chu-tich" {
            assert!(
                c.grant(
                    "KT",
                    "chu-tich",
                    "pho-chu-tich",
                    &["chung-thuc-chu-ky"],
                    "2026-01-01",
                    "2030-12-31"
                )
                .status
                .success()
            );
        }
        let digest = c.path(&format!("{stem}.digest"));
        let cert = k.join(format!("{stem}.pem"));
        let chain = k.join("intermediate-ca.pem");
        let out = c.ok(&[
            "sign",
            "prepare",
            "--cert",
            cert.to_str().unwrap(),
            "--chain",
            chain.to_str().unwrap(),
            "--official",
            official,
            "--kind",
            kind,
            "--digest-out",
            digest.to_str().unwrap(),
            unsigned().to_str().unwrap(),
        ]);
        let handle = out
            .lines()
            .find_map(|l| l.strip_prefix("handle: "))
            .expect("a handle")
            .to_string();
        let hex = out
            .lines()
            .find_map(|l| l.strip_prefix("digest: "))
            .expect("a digest")
            .to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(std::fs::read(&digest).unwrap().len(), 32);

        // Another key's signature is refused.
        let wrong = c.path("wrong.sig");
        let other = if stem.ends_with("rsa") {
            "clerk-rsa"
        } else {
            "seal-ec"
        };
        openssl_sign(&k.join(format!("{other}.key.pem")), &digest, &wrong, &extra);
        let signed = c.path(&format!("{stem}-deferred.pdf"));
        let o = c.kyso(&[
            "sign",
            "complete",
            &handle,
            "--signature",
            wrong.to_str().unwrap(),
            "-o",
            signed.to_str().unwrap(),
        ]);
        refused(&o, "does not verify");
        assert!(!signed.exists());

        // The right key's signature completes the PDF.
        let sig = c.path("right.sig");
        openssl_sign(&k.join(format!("{stem}.key.pem")), &digest, &sig, &extra);
        c.ok(&[
            "sign",
            "complete",
            &handle,
            "--signature",
            sig.to_str().unwrap(),
            "-o",
            signed.to_str().unwrap(),
        ]);
        assert_externally_valid(&signed, &[]);

        // A handle completes once.
        let o = c.kyso(&[
            "sign",
            "complete",
            &handle,
            "--signature",
            sig.to_str().unwrap(),
            "-o",
            c.path("again.pdf").to_str().unwrap(),
        ]);
        refused(&o, "already completed");
    }
    // An unknown handle.
    let o = c.kyso(&[
        "sign",
        "complete",
        "00112233",
        "--signature",
        c.path("right.sig").to_str().unwrap(),
        "-o",
        c.path("z.pdf").to_str().unwrap(),
    ]);
    refused(&o, "no prepared signature");
}

#[test]
fn a_prepared_signature_that_is_never_completed_expires() {
    let reg = kyso::registry::Registry::open_in_memory().unwrap();
    let k = keys_dev();
    let cert = kyso::pki::load_certificates(&k.join("chairman-ec.pem"))
        .unwrap()
        .remove(0);
    let chain = kyso::pki::load_certificates(&k.join("intermediate-ca.pem")).unwrap();
    let input = std::fs::read(unsigned()).unwrap();
    let opts = kyso::signing::SignOptions {
        development_mode: true,
        ..Default::default()
    };
    let p = kyso::signing::deferred::begin(
        &input,
        &cert,
        &chain,
        kyso::signing::SignatureAlgorithm::EcdsaP256Sha256,
        &opts,
        time::Duration::minutes(5),
    )
    .unwrap();
    kyso::signing::deferred::save(reg.connection(), &p).unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(6);
    let e = kyso::signing::deferred::load(reg.connection(), &p.handle, later).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    // And it is gone for good.
    let e =
        kyso::signing::deferred::load(reg.connection(), &p.handle, time::OffsetDateTime::now_utc())
            .unwrap_err();
    assert!(e.to_string().contains("no prepared signature"), "{e}");
}

fn openssl_sign(key: &Path, digest: &Path, out: &Path, extra: &[&str]) {
    let st = Command::new("openssl")
        .args(["pkeyutl", "-sign", "-inkey"])
        .arg(key)
        .arg("-in")
        .arg(digest)
        .arg("-out")
        .arg(out)
        .args(extra)
        .status()
        .expect("openssl runs");
    assert!(st.success());
}

#[test]
fn editing_one_audit_entry_makes_audit_verify_fail_and_name_it() {
    let c = Commune::new();
    assert!(
        c.grant(
            "KT",
            "chu-tich",
            "pho-chu-tich",
            &["chung-thuc-chu-ky"],
            "2026-01-01",
            "2030-12-31"
        )
        .status
        .success()
    );
    let out = c.ok(&["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
    let db = rusqlite::Connection::open(c.data().join("registry.sqlite3")).unwrap();
    let seq: i64 = db
        .query_row(
            "SELECT seq FROM audit_log WHERE action = 'delegation.grant'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute(
        "UPDATE audit_log SET details = replace(details, '2030', '2099') WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    drop(db);
    let o = c.kyso(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("entry {seq}: was edited")),
        "{stdout}"
    );
}

fn verify_json(pdf: &Path) -> (i32, serde_json::Value) {
    let root = keys_dev().join("root-ca.pem");
    let o = kyso()
        .args([
            "--dev",
            "verify",
            "--json",
            "--trust",
            root.to_str().unwrap(),
            pdf.to_str().unwrap(),
        ])
        .output()
        .expect("kyso verify runs");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("JSON: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().unwrap_or(-1), v)
}

#[test]
fn kyso_verify_reports_the_capacity_and_the_verified_delegation() {
    let c = Commune::new();
    assert!(
        c.grant(
            "KT",
            "chu-tich",
            "pho-chu-tich",
            &["chung-thuc-chu-ky"],
            "2026-01-01",
            "2030-12-31"
        )
        .status
        .success()
    );
    let signed = c.path("kt.pdf");
    assert!(
        c.sign_as(
            "vice-chairman-ec",
            "pho-chu-tich",
            "chung-thuc-chu-ky",
            &unsigned(),
            &signed,
            &[]
        )
        .status
        .success()
    );
    let (code, v) = verify_json(&signed);
    assert_eq!(code, 0, "{v:#}");
    let sig = &v["signatures"][0];
    assert_eq!(sig["indication"], "TOTAL-PASSED");
    let cap = &sig["capacity"];
    assert_eq!(cap["basis"], "delegation");
    assert_eq!(cap["claimed_role"], "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH");
    assert_eq!(cap["document_kind"], "chung-thuc-chu-ky");
    let d = &cap["delegation"];
    assert_eq!(d["mark"], "KT.");
    assert_eq!(d["on_behalf_of"], "Nguyễn Văn An, Chủ tịch");
    assert!(d["basis"].as_str().unwrap().contains("15/QĐ-UBND"));
    assert_eq!(d["scope"][0], "chung-thuc-chu-ky");
    for key in [
        "grant_signature_valid",
        "grant_trusted",
        "holder_is_signer",
        "signing_time_in_window",
        "kind_in_scope",
        "verified",
    ] {
        assert_eq!(d[key], true, "{key}: {d:#}");
    }

    // In one's own right: no delegation to verify.
    let own = c.path("own.pdf");
    assert!(
        c.sign_as(
            "chairman-rsa",
            "chu-tich",
            "chung-thuc-chu-ky",
            &unsigned(),
            &own,
            &[]
        )
        .status
        .success()
    );
    let (code, v) = verify_json(&own);
    assert_eq!(code, 0);
    assert_eq!(v["signatures"][0]["capacity"]["basis"], "own-right");
    assert_eq!(v["signatures"][0]["capacity"]["claimed_role"], "CHỦ TỊCH");
}

/// Signs `unsigned.pdf` as the vice-chairman with a hand-made capacity claim.
fn sign_with_claim(out: &Path, grant: &[u8], extra_certs: Vec<kyso::pki::Certificate>) {
    let signer = dev_key_signer("vice-chairman-ec");
    let opts = kyso::signing::SignOptions {
        development_mode: true,
        extra_signed_attributes: vec![
            kyso::authority::grant::signer_attributes(
                "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH",
                Some("chung-thuc-chu-ky"),
                Some(grant),
            )
            .unwrap(),
        ],
        extra_certificates: extra_certs,
        ..Default::default()
    };
    let pdf = kyso::signing::sign_pdf(&std::fs::read(unsigned()).unwrap(), &signer, &opts).unwrap();
    std::fs::write(out, pdf).unwrap();
}

fn kt_delegation() -> kyso::authority::Delegation {
    let official = |id: &str, name: &str, title: &str| kyso::authority::Official {
        id: id.into(),
        full_name: name.into(),
        title: title.into(),
        agency: "UBND xã Tân Lạc".into(),
        citizen_id: None,
        is_seal: false,
    };
    kyso::authority::Delegation {
        id: 1,
        mark: kyso::authority::Mark::Kt,
        delegator: official("chu-tich", "Nguyễn Văn An", "Chủ tịch"),
        delegate: official("pho-chu-tich", "Trần Thị Bình", "Phó Chủ tịch"),
        scope: vec!["chung-thuc-chu-ky".into()],
        valid_from: time::macros::datetime!(2026-01-01 00:00 UTC),
        valid_until: time::macros::datetime!(2030-12-31 00:00 UTC),
        basis_number: "15/QĐ-UBND".into(),
        basis_date: "2025-12-30".into(),
        grant_der: Vec::new(),
        revoked: None,
    }
}

#[test]
fn a_forged_delegation_is_reported_unverified_and_never_passes() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys_dev();
    let vice = kyso::pki::load_certificates(&k.join("vice-chairman-ec.pem"))
        .unwrap()
        .remove(0);
    let chairman = kyso::pki::load_certificates(&k.join("chairman-rsa.pem"))
        .unwrap()
        .remove(0);

    // 1. Signed by an untrusted key under the chairman's name (a self-made certificate copying
    //    his subject).
    let params = kyso::pki::dev::leaf_params(
        "Nguyễn Văn An",
        "Chủ tịch",
        false,
        time::macros::datetime!(2025-07-01 00:00 UTC),
        time::macros::datetime!(2035-12-31 00:00 UTC),
    );
    let forger_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let forged_cert = params.self_signed(&forger_key).unwrap();
    let forged = kyso::pki::Certificate::from_der(forged_cert.der().to_vec()).unwrap();
    assert_eq!(forged.subject_der(), chairman.subject_der());
    let forger = kyso::signing::KeySigner::new(
        &kyso::pki::PrivateKeyDer::Pkcs8(forger_key.serialize_der()),
        forged.clone(),
        Vec::new(),
        false,
    )
    .unwrap();
    let grant = kyso::authority::grant::issue(&kt_delegation(), &vice, &forger).unwrap();
    let untrusted = dir.path().join("untrusted-grant.pdf");
    sign_with_claim(&untrusted, &grant, vec![forged]);
    assert_externally_valid(&untrusted, &[]); // the PDF signature itself is fine…
    let (code, v) = verify_json(&untrusted);
    let sig = &v["signatures"][0];
    assert_ne!(sig["indication"], "TOTAL-PASSED", "{v:#}"); // …but kyso does not pass the claim
    assert_eq!(sig["sub_indication"], "SIG_CONSTRAINTS_FAILURE");
    assert_eq!(code, 2);
    let d = &sig["capacity"]["delegation"];
    assert_eq!(d["grant_signature_valid"], true);
    assert_eq!(d["grant_trusted"], false);
    assert_eq!(d["verified"], false);

    // 2. Not signed by the delegator at all: the real chairman's certificate is attached, the
    //    grant's signature bytes are someone else's.
    let chair_key = kyso::pki::load_private_key(&k.join("chairman-rsa.key.pem")).unwrap();
    let real =
        kyso::signing::KeySigner::new(&chair_key, chairman.clone(), Vec::new(), false).unwrap();
    let mut tampered = kyso::authority::grant::issue(&kt_delegation(), &vice, &real).unwrap();
    let n = tampered.len();
    tampered[n - 10] ^= 0x55; // inside the signature value
    let not_signed = dir.path().join("bad-grant.pdf");
    sign_with_claim(&not_signed, &tampered, vec![chairman.clone()]);
    let (code, v) = verify_json(&not_signed);
    let sig = &v["signatures"][0];
    assert_ne!(sig["indication"], "TOTAL-PASSED", "{v:#}");
    assert_eq!(code, 2);
    assert_eq!(
        sig["capacity"]["delegation"]["grant_signature_valid"],
        false
    );
    assert_eq!(sig["capacity"]["delegation"]["verified"], false);

    // 3. A genuine grant used for a kind outside its scope.
    let genuine = kyso::authority::grant::issue(&kt_delegation(), &vice, &real).unwrap();
    let k2 = keys_dev();
    let key = kyso::pki::load_private_key(&k2.join("vice-chairman-ec.key.pem")).unwrap();
    let signer = kyso::signing::KeySigner::new(
        &key,
        vice.clone(),
        kyso::pki::load_certificates(&k2.join("intermediate-ca.pem")).unwrap(),
        false,
    )
    .unwrap();
    let opts = kyso::signing::SignOptions {
        development_mode: true,
        extra_signed_attributes: vec![
            kyso::authority::grant::signer_attributes(
                "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH",
                Some("hop-dong"),
                Some(&genuine),
            )
            .unwrap(),
        ],
        extra_certificates: vec![chairman],
        ..Default::default()
    };
    let out = dir.path().join("out-of-scope.pdf");
    std::fs::write(
        &out,
        kyso::signing::sign_pdf(&std::fs::read(unsigned()).unwrap(), &signer, &opts).unwrap(),
    )
    .unwrap();
    let (code, v) = verify_json(&out);
    assert_eq!(code, 2, "{v:#}");
    let d = &v["signatures"][0]["capacity"]["delegation"];
    assert_eq!(d["grant_signature_valid"], true);
    assert_eq!(d["grant_trusted"], true);
    assert_eq!(d["kind_in_scope"], false);
    assert_eq!(d["verified"], false);
}
