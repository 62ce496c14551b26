//! Signing under delegated authority: the admin registers the commune's officials and a KT.
//! delegation; the Vice-Chairman signs "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"; kyso refuses whatever the
//! delegation does not cover, with a reason a clerk understands; tokens sign in two steps; and
//! the audit log shows any edit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

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
        assert!(o.status.success(), "kyso {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Registers the chairman (who signs certifications in his own right), the vice-chairman
    /// and the agency seal, with their keys-dev certificates.
    fn new() -> Commune {
        let c = Commune { dir: tempfile::tempdir().unwrap() };
        let k = keys_dev();
        c.ok(&["officials", "add", "--id", "chu-tich", "--name", "Nguyễn Văn An", "--title", "Chủ tịch", "--agency", "UBND xã Tân Lạc", "--citizen-id", "001080000001"]);
        c.ok(&["officials", "add", "--id", "pho-chu-tich", "--name", "Trần Thị Bình", "--title", "Phó Chủ tịch", "--agency", "UBND xã Tân Lạc", "--citizen-id", "001085000002"]);
        c.ok(&["officials", "add", "--id", "cong-chuc", "--name", "Lê Văn Cường", "--title", "Công chức Tư pháp - Hộ tịch", "--agency", "UBND xã Tân Lạc", "--citizen-id", "001090000003"]);
        c.ok(&["officials", "add", "--id", "con-dau", "--name", "UBND xã Tân Lạc", "--title", "Cơ quan", "--agency", "UBND xã Tân Lạc", "--seal"]);
        for (id, cert) in [("chu-tich", "chairman-rsa"), ("pho-chu-tich", "vice-chairman-ec"), ("cong-chuc", "clerk-rsa"), ("con-dau", "seal-ec")] {
            c.ok(&["officials", "add-cert", id, "--cert", k.join(format!("{cert}.pem")).to_str().unwrap()]);
        }
        c.ok(&["officials", "allow", "--title", "Chủ tịch", "--kind", "chung-thuc-chu-ky", "--kind", "chung-thuc-ban-sao", "--kind", "hop-dong"]);
        c
    }

    fn grant(&self, mark: &str, from: &str, to: &str, kinds: &[&str], valid_from: &str, valid_until: &str) -> Output {
        let k = keys_dev();
        let (key, cert) = match from {
            "chu-tich" => ("chairman-rsa.key.pem", "chairman-rsa.pem"),
            "pho-chu-tich" => ("vice-chairman-ec.key.pem", "vice-chairman-ec.pem"),
            other => panic!("no key for {other}"),
        };
        let key = k.join(key);
        let cert = k.join(cert);
        let mut args = vec!["delegations", "grant", "--mark", mark, "--from", from, "--to", to, "--valid-from", valid_from, "--valid-until", valid_until, "--basis-number", "15/QĐ-UBND", "--basis-date", "2025-12-30", "--key", key.to_str().unwrap(), "--cert", cert.to_str().unwrap()];
        for kind in kinds {
            args.push("--kind");
            args.push(kind);
        }
        self.kyso(&args)
    }

    fn sign_as(&self, stem: &str, official: &str, kind: &str, input: &Path, out: &Path, extra: &[&str]) -> Output {
        let k = keys_dev();
        let key = k.join(format!("{stem}.key.pem"));
        let cert = k.join(format!("{stem}.pem"));
        let chain = k.join("intermediate-ca.pem");
        let mut args = vec![
            "sign", "--key", key.to_str().unwrap(), "--cert", cert.to_str().unwrap(), "--chain", chain.to_str().unwrap(),
            "--official", official, "--kind", kind,
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
fn signer_attributes_of(pdf: &Path) -> (kyso::authority::grant::SignerAttributes, Vec<kyso::pki::Certificate>) {
    use der::{Decode, Encode};
    let doc = lopdf::Document::load(pdf).unwrap();
    let sig = doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| d.get(b"Type").ok() == Some(&lopdf::Object::Name(b"Sig".to_vec())))
        .last()
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
            cms::cert::CertificateChoices::Certificate(c) => kyso::pki::Certificate::from_der(c.to_der().unwrap()).ok(),
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
    (kyso::authority::grant::read_signer_attributes(&value).unwrap(), certs)
}

fn der_len(b: &[u8]) -> usize {
    match b[1] {
        n if n < 0x80 => 2 + n as usize,
        0x81 => 3 + b[2] as usize,
        0x82 => 4 + (((b[2] as usize) << 8) | b[3] as usize),
        _ => 5 + (((b[2] as usize) << 16) | ((b[3] as usize) << 8) | b[4] as usize),
    }
}

#[test]
fn the_vice_chairman_signs_under_a_kt_delegation_and_the_grant_travels_in_the_signature() {
    let c = Commune::new();
    let o = c.grant("KT", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2026-01-01", "2030-12-31");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"));

    let signed = c.path("kt.pdf");
    let o = c.sign_as("vice-chairman-ec", "pho-chu-tich", "chung-thuc-chu-ky", &unsigned(), &signed, &["--requester-id", "079090001234"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_externally_valid(&signed, &[]);

    // The seal follows; both signatures stay valid.
    let sealed = c.path("sealed.pdf");
    let o = c.sign_as("seal-ec", "con-dau", "chung-thuc-chu-ky", &signed, &sealed, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_externally_valid(&sealed, &[]);

    // Offline: the claimed role and the grant, whose signature verifies with the chairman's
    // certificate carried in the same CMS.
    let (attrs, certs) = signer_attributes_of(&signed);
    assert_eq!(attrs.claimed_roles, vec!["KT. CHỦ TỊCH / PHÓ CHỦ TỊCH".to_string()]);
    assert_eq!(attrs.grants.len(), 1);
    let (info, delegator) = kyso::authority::grant::verify(&attrs.grants[0], &certs).expect("grant verifies");
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
    let o = c.sign_as("chairman-rsa", "chu-tich", "chung-thuc-ban-sao", &unsigned(), &own, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (attrs, _) = signer_attributes_of(&own);
    assert_eq!(attrs.claimed_roles, vec!["CHỦ TỊCH".to_string()]);
    assert!(attrs.grants.is_empty());
    assert_externally_valid(&own, &[]);

    let audit = c.ok(&["audit", "list"]);
    assert!(audit.contains("\tsign\t") && audit.contains("delegation.grant"), "{audit}");
}

#[test]
fn an_expired_delegation_is_refused() {
    let c = Commune::new();
    assert!(c.grant("KT", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2025-01-01", "2025-12-31").status.success());
    let o = c.sign_as("vice-chairman-ec", "pho-chu-tich", "chung-thuc-chu-ky", &unsigned(), &c.path("x.pdf"), &[]);
    refused(&o, "đã hết hạn");
    refused(&o, "expired");
    assert!(!c.path("x.pdf").exists());
}

#[test]
fn a_delegation_not_yet_in_force_is_refused() {
    let c = Commune::new();
    assert!(c.grant("KT", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2099-01-01", "2099-12-31").status.success());
    let o = c.sign_as("vice-chairman-ec", "pho-chu-tich", "chung-thuc-chu-ky", &unsigned(), &c.path("x.pdf"), &[]);
    refused(&o, "not yet in force");
}

#[test]
fn a_revoked_delegation_is_refused() {
    let c = Commune::new();
    assert!(c.grant("KT", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2026-01-01", "2030-12-31").status.success());
    c.ok(&["delegations", "revoke", "1", "--reason", "điều chuyển công tác"]);
    let o = c.sign_as("vice-chairman-ec", "pho-chu-tich", "chung-thuc-chu-ky", &unsigned(), &c.path("x.pdf"), &[]);
    refused(&o, "revoked");
    refused(&o, "điều chuyển công tác");
}

#[test]
fn a_kind_outside_the_scope_is_refused() {
    let c = Commune::new();
    assert!(c.grant("KT", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2026-01-01", "2030-12-31").status.success());
    let o = c.sign_as("vice-chairman-ec", "pho-chu-tich", "hop-dong", &unsigned(), &c.path("x.pdf"), &[]);
    refused(&o, "does not cover hop-dong");
}

#[test]
fn someone_who_is_not_the_grantee_is_refused() {
    let c = Commune::new();
    assert!(c.grant("KT", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2026-01-01", "2030-12-31").status.success());
    // The clerk names the vice-chairman's delegation.
    let o = c.sign_as("clerk-rsa", "cong-chuc", "chung-thuc-chu-ky", &unsigned(), &c.path("x.pdf"), &["--delegation", "1"]);
    refused(&o, "was granted to pho-chu-tich, not cong-chuc");
    // Without naming it, the clerk simply has no authority.
    let o = c.sign_as("clerk-rsa", "cong-chuc", "chung-thuc-chu-ky", &unsigned(), &c.path("x.pdf"), &[]);
    refused(&o, "has no authority");
    // And one cannot sign as an official with someone else's certificate.
    let o = c.sign_as("clerk-rsa", "pho-chu-tich", "chung-thuc-chu-ky", &unsigned(), &c.path("x.pdf"), &[]);
    refused(&o, "not registered to pho-chu-tich");
}

#[test]
fn a_tuq_power_cannot_be_delegated_onward() {
    let c = Commune::new();
    assert!(c.grant("TUQ", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2026-01-01", "2030-12-31").status.success());
    let o = c.grant("KT", "pho-chu-tich", "cong-chuc", &["chung-thuc-chu-ky"], "2026-01-01", "2030-12-31");
    refused(&o, "TUQ");
    refused(&o, "may not be delegated onward");
    let list = c.ok(&["delegations", "list"]);
    assert_eq!(list.lines().count(), 1, "nothing was granted: {list}");
}

#[test]
fn a_certifier_cannot_certify_their_own_matter() {
    let c = Commune::new();
    let o = c.sign_as("chairman-rsa", "chu-tich", "chung-thuc-chu-ky", &unsigned(), &c.path("x.pdf"), &["--requester-id", "001 080 000 001"]);
    refused(&o, "Decree 23/2015 Art. 9.3");
    let audit = c.ok(&["audit", "list"]);
    assert!(audit.contains("\trefuse\t"), "refusals are audited: {audit}");
}

#[test]
fn deferred_signing_with_openssl_as_the_token() {
    let c = Commune::new();
    let k = keys_dev();
    for (stem, official, kind, extra) in [
        ("chairman-rsa", "chu-tich", "chung-thuc-ban-sao", vec!["-pkeyopt", "digest:sha256"]),
        ("vice-chairman-ec", "pho-chu-tich", "chung-thuc-chu-ky", vec![]),
    ] {
        if official == "pho-chu-tich" {
            assert!(c.grant("KT", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2026-01-01", "2030-12-31").status.success());
        }
        let digest = c.path(&format!("{stem}.digest"));
        let cert = k.join(format!("{stem}.pem"));
        let chain = k.join("intermediate-ca.pem");
        let out = c.ok(&[
            "sign", "prepare", "--cert", cert.to_str().unwrap(), "--chain", chain.to_str().unwrap(),
            "--official", official, "--kind", kind, "--digest-out", digest.to_str().unwrap(), unsigned().to_str().unwrap(),
        ]);
        let handle = out.lines().find_map(|l| l.strip_prefix("handle: ")).expect("a handle").to_string();
        let hex = out.lines().find_map(|l| l.strip_prefix("digest: ")).expect("a digest").to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(std::fs::read(&digest).unwrap().len(), 32);

        // Another key's signature is refused.
        let wrong = c.path("wrong.sig");
        let other = if stem.ends_with("rsa") { "clerk-rsa" } else { "seal-ec" };
        openssl_sign(&k.join(format!("{other}.key.pem")), &digest, &wrong, &extra);
        let signed = c.path(&format!("{stem}-deferred.pdf"));
        let o = c.kyso(&["sign", "complete", &handle, "--signature", wrong.to_str().unwrap(), "-o", signed.to_str().unwrap()]);
        refused(&o, "does not verify");
        assert!(!signed.exists());

        // The right key's signature completes the PDF.
        let sig = c.path("right.sig");
        openssl_sign(&k.join(format!("{stem}.key.pem")), &digest, &sig, &extra);
        c.ok(&["sign", "complete", &handle, "--signature", sig.to_str().unwrap(), "-o", signed.to_str().unwrap()]);
        assert_externally_valid(&signed, &[]);

        // A handle completes once.
        let o = c.kyso(&["sign", "complete", &handle, "--signature", sig.to_str().unwrap(), "-o", c.path("again.pdf").to_str().unwrap()]);
        refused(&o, "already completed");
    }
    // An unknown handle.
    let o = c.kyso(&["sign", "complete", "00112233", "--signature", c.path("right.sig").to_str().unwrap(), "-o", c.path("z.pdf").to_str().unwrap()]);
    refused(&o, "no prepared signature");
}

#[test]
fn a_prepared_signature_that_is_never_completed_expires() {
    let reg = kyso::registry::Registry::open_in_memory().unwrap();
    let k = keys_dev();
    let cert = kyso::pki::load_certificates(&k.join("chairman-ec.pem")).unwrap().remove(0);
    let chain = kyso::pki::load_certificates(&k.join("intermediate-ca.pem")).unwrap();
    let input = std::fs::read(unsigned()).unwrap();
    let opts = kyso::signing::SignOptions { development_mode: true, ..Default::default() };
    let p = kyso::signing::deferred::begin(&input, &cert, &chain, kyso::signing::SignatureAlgorithm::EcdsaP256Sha256, &opts, time::Duration::minutes(5)).unwrap();
    kyso::signing::deferred::save(reg.connection(), &p).unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(6);
    let e = kyso::signing::deferred::load(reg.connection(), &p.handle, later).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    // And it is gone for good.
    let e = kyso::signing::deferred::load(reg.connection(), &p.handle, time::OffsetDateTime::now_utc()).unwrap_err();
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
    assert!(c.grant("KT", "chu-tich", "pho-chu-tich", &["chung-thuc-chu-ky"], "2026-01-01", "2030-12-31").status.success());
    let out = c.ok(&["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
    let db = rusqlite::Connection::open(c.data().join("registry.sqlite3")).unwrap();
    let seq: i64 = db.query_row("SELECT seq FROM audit_log WHERE action = 'delegation.grant'", [], |r| r.get(0)).unwrap();
    db.execute("UPDATE audit_log SET details = replace(details, '2030', '2099') WHERE seq = ?1", [seq]).unwrap();
    drop(db);
    let o = c.kyso(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(&format!("entry {seq}: was edited")), "{stdout}");
}
