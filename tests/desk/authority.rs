//! Signing under delegated authority: the admin registers the commune's officials and a KT.
//! delegation; the Vice-Chairman signs "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"; kyso refuses whatever the
//! delegation does not cover, with a reason a clerk understands; tokens sign in two steps; and
//! the audit log shows any edit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

/// A commune registry in a temporary data directory.
pub struct Commune {
    dir: tempfile::TempDir,
}

impl Commune {
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn kyso(&self, args: &[&str]) -> Output {
        self.kyso_env(args, &[])
    }

    pub fn kyso_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let data = self.data();
        let mut all = vec!["--dev", "--data-dir", data.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut cmd = kyso();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(&all).output().expect("kyso runs")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.kyso(args);
        assert!(
            o.status.success(),
            "kyso {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Registers the chairman (the head, who signs certifications in his own right), the
    /// vice-chairman (his deputy), a civil servant and the agency seal, with their keys-dev
    /// certificates.
    pub fn new() -> Commune {
        let c = Commune {
            dir: tempfile::tempdir().unwrap(),
        };
        for (id, name, title, cid, position) in [
            (
                "chu-tich",
                "Nguyễn Văn An",
                "Chủ tịch",
                "001080000001",
                "head",
            ),
            (
                "pho-chu-tich",
                "Trần Thị Bình",
                "Phó Chủ tịch",
                "001085000002",
                "deputy-head",
            ),
            (
                "cong-chuc",
                "Lê Văn Cường",
                "Công chức Tư pháp - Hộ tịch",
                "001090000003",
                "staff",
            ),
        ] {
            c.ok(&[
                "officials",
                "add",
                "--id",
                id,
                "--name",
                name,
                "--title",
                title,
                "--agency",
                "UBND xã Tân Lạc",
                "--citizen-id",
                cid,
                "--position",
                position,
            ]);
        }
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
        let k = keys_dev();
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
            "signature",
            "--kind",
            "certified-copy",
            "--kind",
            "contract",
            "--kind",
            "van-ban",
        ]);
        c
    }

    /// Issues a `kind` from its sample data, changed by `edit`; returns the file and its id.
    pub fn issue_with(
        &self,
        kind: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> (PathBuf, String) {
        let mut data: serde_json::Value = serde_json::from_slice(
            &std::fs::read(repo().join(format!("templates/{kind}/sample.json"))).unwrap(),
        )
        .unwrap();
        edit(&mut data);
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        let json = self.path(&format!("data-{n}.json"));
        std::fs::write(&json, data.to_string()).unwrap();
        let pdf = self.path(&format!("{kind}-{n}.pdf"));
        let out = self.ok(&[
            "issue",
            "--kind",
            kind,
            "--data",
            json.to_str().unwrap(),
            "-o",
            pdf.to_str().unwrap(),
        ]);
        let id = out
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .expect("an id")
            .to_owned();
        (pdf, id)
    }

    pub fn issue(&self, kind: &str) -> (PathBuf, String) {
        self.issue_with(kind, |_| {})
    }

    pub fn grant(
        &self,
        mark: &str,
        from: &str,
        to: &str,
        kinds: &[&str],
        valid_from: &str,
        valid_until: &str,
    ) -> Output {
        self.grant_with(mark, from, to, kinds, valid_from, valid_until, &[])
    }

    /// Grants a delegation that must succeed.
    pub fn granted(
        &self,
        mark: &str,
        from: &str,
        to: &str,
        kinds: &[&str],
        valid_from: &str,
        valid_until: &str,
    ) {
        let o = self.grant(mark, from, to, kinds, valid_from, valid_until);
        assert!(
            o.status.success(),
            "grant {mark} {from} -> {to}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub fn grant_with(
        &self,
        mark: &str,
        from: &str,
        to: &str,
        kinds: &[&str],
        valid_from: &str,
        valid_until: &str,
        extra: &[&str],
    ) -> Output {
        let k = keys_dev();
        let (key, cert) = match from {
            "chu-tich" => (k.join("chairman-rsa.key.pem"), k.join("chairman-rsa.pem")),
            "pho-chu-tich" => (
                k.join("vice-chairman-ec.key.pem"),
                k.join("vice-chairman-ec.pem"),
            ),
            "cong-chuc" => (k.join("clerk-rsa.key.pem"), k.join("clerk-rsa.pem")),
            other => (
                self.path(&format!("{other}.key.pem")),
                self.path(&format!("{other}.pem")),
            ),
        };
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
        args.extend_from_slice(extra);
        self.kyso(&args)
    }

    /// Signs `input` with keys-dev identity `stem` (or one this commune minted) as `official`.
    pub fn sign_as(
        &self,
        stem: &str,
        official: &str,
        kind: Option<&str>,
        input: &Path,
        out: &Path,
        extra: &[&str],
    ) -> Output {
        self.sign_env(stem, official, kind, input, out, extra, &[])
    }

    #[allow(clippy::too_many_arguments)]
    pub fn sign_env(
        &self,
        stem: &str,
        official: &str,
        kind: Option<&str>,
        input: &Path,
        out: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let k = keys_dev();
        let (key, cert) = if k.join(format!("{stem}.pem")).exists() {
            (
                k.join(format!("{stem}.key.pem")),
                k.join(format!("{stem}.pem")),
            )
        } else {
            (
                self.path(&format!("{stem}.key.pem")),
                self.path(&format!("{stem}.pem")),
            )
        };
        let chain = k.join("intermediate-ca.pem");
        let mut args = vec![
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            "--chain",
            chain.to_str().unwrap(),
        ];
        if !official.is_empty() {
            args.extend(["--official", official]);
        }
        if let Some(kind) = kind {
            args.extend(["--kind", kind]);
        }
        args.extend_from_slice(extra);
        args.push(input.to_str().unwrap());
        args.push("-o");
        args.push(out.to_str().unwrap());
        self.kyso_env(&args, env)
    }

    /// Mints a certificate for `name` from the keys-dev intermediate CA, saved as
    /// `<stem>.pem` and `<stem>.key.pem` in this commune's folder.
    pub fn mint(&self, stem: &str, name: &str, title: &str) {
        let k = keys_dev();
        let ca_key = rcgen::KeyPair::from_pem(
            &std::fs::read_to_string(k.join("intermediate-ca.key.pem")).unwrap(),
        )
        .unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_pem(
            &std::fs::read_to_string(k.join("intermediate-ca.pem")).unwrap(),
            ca_key,
        )
        .unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = kyso::pki::dev::leaf_params(
            name,
            title,
            false,
            time::macros::datetime!(2025-07-01 00:00 UTC),
            time::macros::datetime!(2035-12-31 00:00 UTC),
        );
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(self.path(&format!("{stem}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{stem}.key.pem")), key.serialize_pem()).unwrap();
    }

    /// The audit log as `kyso audit list` prints it.
    pub fn audit(&self) -> String {
        self.ok(&["audit", "list"])
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
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"));

    // The register knows the document: no kind or requester needs to be told.
    let (issued, id) = c.issue("signature");
    let signed = c.path("kt.pdf");
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        None,
        &issued,
        &signed,
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_externally_valid(&signed, &[]);

    // The seal follows, in its own field; both signatures stay valid.
    let sealed = c.path("sealed.pdf");
    let o = c.sign_as(
        "seal-ec",
        "con-dau",
        Some("signature"),
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
    assert_eq!(attrs.claimed_kinds, vec!["signature".to_string()]);
    assert_eq!(attrs.grants.len(), 1);
    let (info, delegator) =
        kyso::authority::grant::verify(&attrs.grants[0], &certs).expect("grant verifies");
    assert_eq!(delegator.common_name().as_deref(), Some("Nguyễn Văn An"));
    assert_eq!(info.mark, "KT");
    assert_eq!(info.scope, vec!["signature".to_string()]);
    assert_eq!(info.basis_number, "15/QĐ-UBND");
    assert_eq!(info.delegate_title, "Phó Chủ tịch");
    // Tampering with one byte of the grant breaks it.
    let mut bad = attrs.grants[0].clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    assert!(kyso::authority::grant::verify(&bad, &certs).is_err());

    // The chairman signs another document in his own right: a claimed role, no grant.
    let (copy, _) = c.issue("certified-copy");
    let own = c.path("own.pdf");
    let o = c.sign_as("chairman-rsa", "chu-tich", None, &copy, &own, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (attrs, _) = signer_attributes_of(&own);
    assert_eq!(attrs.claimed_roles, vec!["CHỦ TỊCH".to_string()]);
    assert!(attrs.grants.is_empty());
    assert_externally_valid(&own, &[]);

    let audit = c.audit();
    assert!(
        audit.contains(&format!("\tsign\t{id}\t"))
            && audit.contains("\tissue\t")
            && audit.contains("delegation.grant"),
        "{audit}"
    );
}

#[test]
fn an_expired_delegation_is_refused() {
    let c = Commune::new();
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2025-01-01",
        "2025-12-31",
    );
    let (issued, _) = c.issue("signature");
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        None,
        &issued,
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
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2099-01-01",
        "2099-12-31",
    );
    let (issued, _) = c.issue("signature");
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        None,
        &issued,
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "not yet in force");
}

#[test]
fn a_revoked_delegation_is_refused_and_cannot_be_revoked_twice_or_backdated() {
    let c = Commune::new();
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    // A revocation dated before the grant was made is refused.
    refused(
        &c.kyso(&[
            "delegations",
            "revoke",
            "1",
            "--reason",
            "x",
            "--at",
            "2026-01-01",
        ]),
        "before delegation 1 was granted",
    );
    c.ok(&[
        "delegations",
        "revoke",
        "1",
        "--reason",
        "điều chuyển công tác",
    ]);
    refused(
        &c.kyso(&["delegations", "revoke", "1", "--reason", "again"]),
        "already revoked",
    );
    let (issued, _) = c.issue("signature");
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        None,
        &issued,
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "revoked");
    refused(&o, "điều chuyển công tác");
}

#[test]
fn the_register_decides_the_kind_not_the_caller() {
    let c = Commune::new();
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    let (contract, id) = c.issue("contract");
    // Naming a kind the delegation covers does not make a contract a signature certification.
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        Some("signature"),
        &contract,
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, &format!("document {id} is a contract, not a signature"));
    // Without a kind, the register's kind is checked against the delegation.
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        None,
        &contract,
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "does not cover contract");
    // A PDF kyso did not issue cannot be signed as a certification.
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        Some("signature"),
        &unsigned(),
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "not in the register");
    // Nor under a kind nobody declared.
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        Some("thu-tuc-la"),
        &unsigned(),
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "unknown document kind");
    // A kind outside the registers, declared, is signed and audited as such.
    let letter = c.path("letter.pdf");
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        Some("van-ban"),
        &unsigned(),
        &letter,
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        c.audit().contains("\"outside_register\":true"),
        "{}",
        c.audit()
    );
    assert!(!c.path("x.pdf").exists());
    // Every refusal is in the audit log.
    assert!(
        c.audit().matches("\trefuse\t").count() >= 4,
        "{}",
        c.audit()
    );
}

#[test]
fn a_registered_document_changed_after_issue_is_not_signed() {
    let c = Commune::new();
    let (issued, id) = c.issue("certified-copy");
    // An incremental update appended to the issued file (anything: here a harmless comment
    // revision) makes it a file kyso never recorded; the issued revision inside it still names
    // the register entry, so the refusal says which document it is.
    let mut bytes = std::fs::read(&issued).unwrap();
    bytes.extend_from_slice(b"% added later\n%%EOF\n");
    let changed = c.path("changed.pdf");
    std::fs::write(&changed, &bytes).unwrap();
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        None,
        &changed,
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, &format!("is document {id} but was changed"));
}

#[test]
fn each_field_of_a_registered_document_has_its_signer() {
    let c = Commune::new();
    let (issued, _) = c.issue("certified-copy");
    // The chairman may not sign into the seal's field.
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        None,
        &issued,
        &c.path("x.pdf"),
        &["--field", "DauCoQuan"],
    );
    refused(&o, "field DauCoQuan");
    // Without --official, a registered certification takes a signature only in the desk
    // clerk's field, and only where the document has a desk clerk.
    let o = c.sign_as("clerk-rsa", "", None, &issued, &c.path("x.pdf"), &[]);
    refused(&o, "has no desk clerk's field");
    let (desk, id) = c.issue_with("signature", |d| {
        d["desk_clerk"] = serde_json::json!({"honorific": "Ông", "full_name": "Lê Văn Cường"});
    });
    let o = c.sign_as("clerk-rsa", "", None, &desk, &c.path("clerk.pdf"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let audit = c.audit();
    let line = audit
        .lines()
        .find(|l| l.contains("\tsign\t") && l.contains(&id))
        .expect("the clerk's signature is audited");
    assert!(
        line.contains("ChuKyNguoiTiepNhan") && line.contains("not checked"),
        "{line}"
    );
}

#[test]
fn a_requester_id_must_be_an_id() {
    let c = Commune::new();
    let (issued, _) = c.issue("certified-copy");
    for bad in ["12345", "0010800000011", "abc"] {
        let o = c.sign_as(
            "chairman-rsa",
            "chu-tich",
            None,
            &issued,
            &c.path("x.pdf"),
            &["--requester-id", bad],
        );
        refused(&o, "12-digit personal ID");
    }
    // Outside the registers a declared paper of another kind is accepted.
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        Some("van-ban"),
        &unsigned(),
        &c.path("p.pdf"),
        &["--requester-id", "passport:B1234567"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn someone_who_is_not_the_grantee_is_refused() {
    let c = Commune::new();
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    let (issued, _) = c.issue("signature");
    // The clerk names the vice-chairman's delegation.
    let o = c.sign_as(
        "clerk-rsa",
        "cong-chuc",
        None,
        &issued,
        &c.path("x.pdf"),
        &["--delegation", "1"],
    );
    refused(&o, "was granted to pho-chu-tich, not cong-chuc");
    // Without naming it, the clerk simply has no authority.
    let o = c.sign_as(
        "clerk-rsa",
        "cong-chuc",
        None,
        &issued,
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "has no authority");
    // And one cannot sign as an official with someone else's certificate.
    let o = c.sign_as(
        "clerk-rsa",
        "pho-chu-tich",
        None,
        &issued,
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "not registered to pho-chu-tich");
}

#[test]
fn only_the_head_grants_and_nothing_but_tl_passes_on() {
    let c = Commune::new();
    // The vice-chairman is not the head: he cannot grant KT.
    let o = c.grant(
        "KT",
        "pho-chu-tich",
        "cong-chuc",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    refused(&o, "only the head grants KT.");
    // KT. goes only to the head's own deputies.
    let o = c.grant(
        "KT",
        "chu-tich",
        "cong-chuc",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    refused(&o, "goes only to the head's own deputies");
    // A TUQ. holder passes nothing on; neither does a KT. holder.
    c.granted(
        "TUQ",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    let o = c.grant_with(
        "KT",
        "pho-chu-tich",
        "cong-chuc",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
        &["--source", "1"],
    );
    refused(&o, "TUQ. power is never passed on");
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    let o = c.grant_with(
        "KT",
        "pho-chu-tich",
        "cong-chuc",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
        &["--source", "2"],
    );
    refused(&o, "only a TL. grant passes on");
    let list = c.ok(&["delegations", "list"]);
    assert_eq!(list.lines().count(), 2, "nothing else was granted: {list}");
    assert!(c.audit().contains("delegation.refuse"));
}

/// The office: a unit head holding TL. from the chairman passes it to their own deputy, who
/// signs "TL. CHỦ TỊCH / KT. CHÁNH VĂN PHÒNG / PHÓ CHÁNH VĂN PHÒNG"; the derived grant ends
/// when its source is revoked, and the signature carries both grants.
#[test]
fn a_tl_grant_passes_once_to_the_holders_deputy_and_ends_with_its_source() {
    let c = Commune::new();
    c.mint("chanh-vp", "Đỗ Văn Giang", "Chánh Văn phòng");
    c.mint("pho-vp", "Hoàng Thị Hoa", "Phó Chánh Văn phòng");
    c.mint("pho-tp", "Vũ Văn Khoa", "Phó Trưởng phòng Tư pháp");
    for (id, name, title, cid, position, unit) in [
        (
            "chanh-vp",
            "Đỗ Văn Giang",
            "Chánh Văn phòng",
            "001070000007",
            "unit-head",
            "VP",
        ),
        (
            "pho-vp",
            "Hoàng Thị Hoa",
            "Phó Chánh Văn phòng",
            "001075000008",
            "unit-deputy",
            "VP",
        ),
        (
            "pho-tp",
            "Vũ Văn Khoa",
            "Phó Trưởng phòng Tư pháp",
            "001078000009",
            "unit-deputy",
            "TP",
        ),
    ] {
        c.ok(&[
            "officials",
            "add",
            "--id",
            id,
            "--name",
            name,
            "--title",
            title,
            "--agency",
            "UBND xã Tân Lạc",
            "--citizen-id",
            cid,
            "--position",
            position,
            "--unit",
            unit,
        ]);
        c.ok(&[
            "officials",
            "add-cert",
            id,
            "--cert",
            c.path(&format!("{id}.pem")).to_str().unwrap(),
        ]);
    }
    c.granted(
        "TL",
        "chu-tich",
        "chanh-vp",
        &["certified-copy"],
        "2026-01-01",
        "2030-12-31",
    );
    // Not to another unit's deputy, not wider, not longer.
    refused(
        &c.grant_with(
            "KT",
            "chanh-vp",
            "pho-tp",
            &["certified-copy"],
            "2026-01-01",
            "2030-12-31",
            &["--source", "1"],
        ),
        "only to their own deputy",
    );
    refused(
        &c.grant_with(
            "KT",
            "chanh-vp",
            "pho-vp",
            &["certified-copy", "signature"],
            "2026-01-01",
            "2030-12-31",
            &["--source", "1"],
        ),
        "outside the scope of delegation 1",
    );
    refused(
        &c.grant_with(
            "KT",
            "chanh-vp",
            "pho-vp",
            &["certified-copy"],
            "2026-01-01",
            "2031-12-31",
            &["--source", "1"],
        ),
        "exceeds that of delegation 1",
    );
    let o = c.grant_with(
        "KT",
        "chanh-vp",
        "pho-vp",
        &["certified-copy"],
        "2026-01-01",
        "2030-12-31",
        &["--source", "1"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("TL. CHỦ TỊCH / KT. CHÁNH VĂN PHÒNG / PHÓ CHÁNH VĂN PHÒNG"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Passed on once: the deputy passes nothing further.
    refused(
        &c.grant_with(
            "KT",
            "pho-vp",
            "pho-tp",
            &["certified-copy"],
            "2026-01-01",
            "2030-12-31",
            &["--source", "2"],
        ),
        "only a TL. grant passes on, once",
    );

    let (issued, _) = c.issue("certified-copy");
    let signed = c.path("tl-kt.pdf");
    let o = c.sign_as("pho-vp", "pho-vp", None, &issued, &signed, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (attrs, _) = signer_attributes_of(&signed);
    assert_eq!(
        attrs.claimed_roles,
        vec!["TL. CHỦ TỊCH / KT. CHÁNH VĂN PHÒNG / PHÓ CHÁNH VĂN PHÒNG".to_string()]
    );
    assert_eq!(attrs.grants.len(), 2, "both grants of the chain travel");
    let (code, v) = verify_json(&signed);
    assert_eq!(code, 0, "{v:#}");
    let d = &v["signatures"][0]["capacity"]["delegation"];
    assert_eq!(d["verified"], true, "{d:#}");
    assert_eq!(d["chain"].as_array().map(|a| a.len()), Some(2), "{d:#}");

    // Revoking the source ends the derived grant.
    c.ok(&[
        "delegations",
        "revoke",
        "1",
        "--reason",
        "tổ chức lại văn phòng",
    ]);
    let (again, _) = c.issue("certified-copy");
    let o = c.sign_as("pho-vp", "pho-vp", None, &again, &c.path("y.pdf"), &[]);
    refused(&o, "derives from delegation 1");
}

#[test]
fn a_certifier_cannot_certify_their_own_matter_even_unasked() {
    let c = Commune::new();
    // The chairman himself asks for a signature certification; nobody passes --requester-id.
    let (issued, _) = c.issue_with("signature", |d| {
        d["requester"]["personal_id"] = "001080000001".into();
    });
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        None,
        &issued,
        &c.path("x.pdf"),
        &[],
    );
    refused(&o, "Decree 23/2015 Art. 9.3");
    assert!(
        c.audit().contains("\trefuse\t"),
        "refusals are audited: {}",
        c.audit()
    );
}

#[test]
fn certificates_are_registered_only_to_their_holder() {
    let c = Commune::new();
    let k = keys_dev();
    let cert = |stem: &str| k.join(format!("{stem}.pem")).to_str().unwrap().to_owned();
    // The chairman's certificate is his: another official cannot take it silently…
    refused(
        &c.kyso(&[
            "officials",
            "add-cert",
            "pho-chu-tich",
            "--cert",
            &cert("chairman-rsa"),
        ]),
        "registered to chu-tich",
    );
    // …and the chairman still signs.
    let (issued, _) = c.issue("certified-copy");
    let o = c.sign_as(
        "chairman-rsa",
        "chu-tich",
        None,
        &issued,
        &c.path("ok.pdf"),
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Names must match, CA certificates never sign, a citizen ID belongs to one person.
    refused(
        &c.kyso(&[
            "officials",
            "add-cert",
            "cong-chuc",
            "--cert",
            &cert("vice-chairman-rsa"),
        ]),
        "not cong-chuc's registered name",
    );
    refused(
        &c.kyso(&[
            "officials",
            "add-cert",
            "cong-chuc",
            "--cert",
            &cert("intermediate-ca"),
        ]),
        "CA certificate",
    );
    refused(
        &c.kyso(&[
            "officials",
            "add",
            "--id",
            "x",
            "--name",
            "Nguyễn Văn An",
            "--title",
            "Chủ tịch",
            "--agency",
            "UBND xã Tân Lạc",
            "--citizen-id",
            "001080000001",
        ]),
        "already belongs to chu-tich",
    );
    refused(
        &c.kyso(&[
            "officials",
            "add",
            "--id",
            "y",
            "--name",
            " ",
            "--title",
            "T",
            "--agency",
            "A",
            "--citizen-id",
            "001099000099",
        ]),
        "must not be empty",
    );
    refused(
        &c.kyso(&[
            "officials",
            "allow",
            "--title",
            "Chủ tịch",
            "--kind",
            "no-such-kind",
        ]),
        "unknown document kind",
    );
    // Moving a certificate is explicit and audited (here: the clerk's certificate to a second
    // record of the same person).
    c.ok(&[
        "officials",
        "add",
        "--id",
        "cong-chuc-2",
        "--name",
        "Lê Văn Cường",
        "--title",
        "Công chức",
        "--agency",
        "UBND xã Tân Lạc",
        "--citizen-id",
        "001090000004",
    ]);
    c.ok(&[
        "officials",
        "move-cert",
        "cong-chuc-2",
        "--cert",
        &cert("clerk-rsa"),
        "--reason",
        "hồ sơ trùng",
    ]);
    assert!(c.audit().contains("certificate.move"));
}

#[test]
fn a_revoked_certificate_does_not_sign_and_an_unknown_status_is_recorded() {
    let c = Commune::new();
    c.ok(&[
        "officials",
        "add",
        "--id",
        "pho-2",
        "--name",
        "Phạm Văn Dũng",
        "--title",
        "Phó Chủ tịch",
        "--agency",
        "UBND xã Tân Lạc",
        "--citizen-id",
        "001082000005",
        "--position",
        "deputy-head",
    ]);
    let k = keys_dev();
    c.ok(&[
        "officials",
        "add-cert",
        "pho-2",
        "--cert",
        k.join("revoked-ec.pem").to_str().unwrap(),
    ]);
    c.ok(&[
        "officials",
        "allow",
        "--title",
        "Phó Chủ tịch",
        "--kind",
        "van-ban",
    ]);
    let crl = k.join("intermediate-ca.crl.pem");
    let with_crl = [("KYSO_CRLS", crl.to_str().unwrap())];
    // The configured CRL revokes it: refused, with or without --official.
    let o = c.sign_env(
        "revoked-ec",
        "pho-2",
        Some("van-ban"),
        &unsigned(),
        &c.path("x.pdf"),
        &[],
        &with_crl,
    );
    refused(&o, "was revoked");
    let o = c.sign_env(
        "revoked-ec",
        "",
        None,
        &unsigned(),
        &c.path("x.pdf"),
        &[],
        &with_crl,
    );
    refused(&o, "was revoked");
    assert!(!c.path("x.pdf").exists());
    // A good certificate under the same CRL signs with a known status.
    let (issued, id) = c.issue("certified-copy");
    let o = c.sign_env(
        "chairman-rsa",
        "chu-tich",
        None,
        &issued,
        &c.path("good.pdf"),
        &[],
        &with_crl,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let audit = c.audit();
    let line = audit
        .lines()
        .find(|l| l.contains("\tsign\t") && l.contains(&id))
        .unwrap();
    assert!(line.contains("\"revocation\":\"good\""), "{line}");
    // Without any CRL the status is unknown: signing goes on and says so…
    let o = c.sign_as(
        "revoked-ec",
        "pho-2",
        Some("van-ban"),
        &unsigned(),
        &c.path("u.pdf"),
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("revocation unknown"));
    assert!(c.audit().contains("\"revocation\":\"unknown\""));
    // …unless the configuration requires a known status.
    let o = c.sign_env(
        "chairman-rsa",
        "chu-tich",
        Some("van-ban"),
        &unsigned(),
        &c.path("r.pdf"),
        &[],
        &[("KYSO_REQUIRE_REVOCATION", "true")],
    );
    refused(&o, "revocation status");
}

#[test]
fn deferred_signing_with_openssl_as_the_token() {
    let c = Commune::new();
    let k = keys_dev();
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    for (stem, official, kind, extra) in [
        (
            "chairman-rsa",
            "chu-tich",
            "certified-copy",
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
        ("vice-chairman-ec", "pho-chu-tich", "signature", vec![]),
    ] {
        let (issued, _) = c.issue(kind);
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
            "--digest-out",
            digest.to_str().unwrap(),
            issued.to_str().unwrap(),
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
        let _ = std::fs::remove_file(&wrong);
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
        let _ = std::fs::remove_file(&sig);
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
fn concurrent_completions_of_one_handle_have_exactly_one_winner() {
    let c = Commune::new();
    let k = keys_dev();
    c.ok(&[
        "officials",
        "add-cert",
        "chu-tich",
        "--cert",
        k.join("chairman-ec.pem").to_str().unwrap(),
    ]);
    let digest = c.path("d.bin");
    let out = c.ok(&[
        "sign",
        "prepare",
        "--cert",
        k.join("chairman-ec.pem").to_str().unwrap(),
        "--chain",
        k.join("intermediate-ca.pem").to_str().unwrap(),
        "--digest-out",
        digest.to_str().unwrap(),
        "--kind",
        "van-ban",
        "--official",
        "chu-tich",
        fixture("pyhanko/unsigned.pdf").to_str().unwrap(),
    ]);
    let handle = out
        .lines()
        .find_map(|l| l.strip_prefix("handle: "))
        .unwrap()
        .to_owned();
    let sig = c.path("s.bin");
    openssl_sign(&k.join("chairman-ec.key.pem"), &digest, &sig, &[]);
    let data = c.data();
    let children: Vec<_> = (0..8)
        .map(|i| {
            kyso()
                .args([
                    "--dev",
                    "--data-dir",
                    data.to_str().unwrap(),
                    "sign",
                    "complete",
                    &handle,
                    "--signature",
                ])
                .arg(&sig)
                .arg("-o")
                .arg(c.path(&format!("out-{i}.pdf")))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|ch| ch.wait_with_output().unwrap())
        .collect();
    let winners = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        outputs
            .iter()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect::<Vec<_>>()
    );
    let written = (0..8)
        .filter(|i| c.path(&format!("out-{i}.pdf")).exists())
        .count();
    assert_eq!(written, 1);
    let audit = c.audit();
    let signs = audit
        .lines()
        .filter(|l| l.contains("\tsign\t") && l.contains(&handle))
        .count();
    assert_eq!(signs, 1, "{audit}");
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
        ..kyso::signing::SignOptions::at(time::OffsetDateTime::now_utc())
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
    let now = time::OffsetDateTime::now_utc();
    kyso::signing::deferred::save(&reg.db(), &p, now).unwrap();
    let later = now + time::Duration::minutes(6);
    let e = kyso::signing::deferred::load(&reg.db(), &p.handle, later).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    // And it is gone for good.
    let e = kyso::signing::deferred::load(&reg.db(), &p.handle, now).unwrap_err();
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
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
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
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    let (issued, _) = c.issue("signature");
    let signed = c.path("kt.pdf");
    assert!(
        c.sign_as(
            "vice-chairman-ec",
            "pho-chu-tich",
            None,
            &issued,
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
    assert_eq!(cap["document_kind"], "signature");
    let d = &cap["delegation"];
    assert_eq!(d["mark"], "KT.");
    assert_eq!(d["on_behalf_of"], "Nguyễn Văn An, Chủ tịch");
    assert!(d["basis"].as_str().unwrap().contains("15/QĐ-UBND"));
    assert_eq!(d["scope"][0], "signature");
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
    let (copy, _) = c.issue("certified-copy");
    let own = c.path("own.pdf");
    assert!(
        c.sign_as("chairman-rsa", "chu-tich", None, &copy, &own, &[])
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
                &[grant],
            )
            .unwrap(),
        ],
        extra_certificates: extra_certs,
        ..kyso::signing::SignOptions::at(time::OffsetDateTime::now_utc())
    };
    let pdf = kyso::signing::sign_pdf(&std::fs::read(unsigned()).unwrap(), &signer, &opts).unwrap();
    std::fs::write(out, pdf).unwrap();
}

/// The grant of `d` to `delegate`, signed by `signer` (the delegator's key, or a forger's).
fn issue_grant(
    d: &kyso::authority::Delegation,
    delegate: &kyso::pki::Certificate,
    signer: &kyso::signing::KeySigner,
) -> Result<Vec<u8>, kyso::authority::grant::GrantError> {
    use kyso::signing::Signer as _;
    let unsigned =
        kyso::authority::grant::prepare(d, delegate, signer.certificate(), signer.algorithm())?;
    let signature = signer
        .sign(unsigned.to_be_signed())
        .expect("the test key signs");
    unsigned.finish(signer.certificate(), &signature)
}

fn kt_delegation() -> kyso::authority::Delegation {
    let official = |id: &str, name: &str, title: &str| kyso::authority::Official {
        id: id.into(),
        full_name: name.into(),
        title: title.into(),
        agency: "UBND xã Tân Lạc".into(),
        citizen_id: None,
        is_seal: false,
        position: kyso::authority::Position::Staff,
        unit: String::new(),
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
        source: None,
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
    let grant = issue_grant(&kt_delegation(), &vice, &forger).unwrap();
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
    let mut tampered = issue_grant(&kt_delegation(), &vice, &real).unwrap();
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
    let genuine = issue_grant(&kt_delegation(), &vice, &real).unwrap();
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
                &[&genuine],
            )
            .unwrap(),
        ],
        extra_certificates: vec![chairman],
        ..kyso::signing::SignOptions::at(time::OffsetDateTime::now_utc())
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
