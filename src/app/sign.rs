//! Signing: with a key kyso holds ([`sign`]) or in two steps for a key it never sees
//! ([`prepare`] → digest → [`complete`]).
//!
//! What is signed, and in which capacity, comes from the register, not from the caller:
//! * a PDF kyso issued is recognised by content — the SHA-256 of the revision it was issued as
//!   — and its kind and the people its matter concerns come from that register entry; the file
//!   must be exactly a version kyso recorded (issued, or after a signature kyso made), so
//!   nothing added since can ride along under an official's signature;
//! * a certification kind is signed only on a registered document; a PDF outside the register
//!   is signed only under a configured external kind (declared and audited as such), or as a
//!   plain signature without `official` (no authority checked, said so in the audit entry);
//! * on a registered document each field is signed by the role it is for: the official's field
//!   by an official whose authority the register confirms, the seal's by the agency seal, the
//!   desk clerk's without an authority check;
//! * the signer certificate is checked against the configured CRLs: revoked or expired
//!   certificates are refused, an unknown status is recorded (or refused with
//!   `require_revocation`).
//!
//! Every refusal is audited. A signature is recorded before it is returned: the signed copy
//! is staged durably, then the outbox row, the document version and the audit entry commit in
//! one transaction. A crash before that commit leaves nothing signed behind (the caller got no
//! bytes); after it, the signed file is in the outbox whatever happens to the caller's copy.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::error::Denial;
use super::{App, AppError, sha256_hex};
use crate::archive::{Outbox, Slug, SubmitRequest};
use crate::audit;
use crate::authority::{self, Capacity};
use crate::issuing::{DocumentRecord, Register, Status, Version};
use crate::pki::Certificate;
use crate::registry::Db;
use crate::registry::users as accounts;
use crate::signing::{
    self, AppearanceBuilder, KeySigner, SignOptions, SignatureAlgorithm, Signer, deferred,
    deferred::PendingError,
};
use crate::validation::chain::{RevocationStatus, revocation_status};

pub use crate::issuing::{OFFICIAL_FIELD, SEAL_FIELD};
/// The one-stop desk clerk's field (Circular 01/2020).
pub const CLERK_FIELD: &str = "ChuKyNguoiTiepNhan";

/// What to sign, as the caller asks it. Everything here is a request: the register decides.
#[derive(Debug, Clone, Default)]
pub struct SignRequest {
    /// The signature field (the role's field by default on a registered document).
    pub field: Option<String>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// The registered official who signs; `None` for a plain signature (no authority checked).
    pub official: Option<String>,
    /// The document kind the caller expects; must agree with the register entry, and is
    /// required (an external kind) for a PDF outside the register signed with `official`.
    pub kind: Option<String>,
    /// The requester's ID: 12 digits, or another paper as `TYPE:NUMBER`. For a registered
    /// document it must be one the entry names; for others it is declared here.
    pub requester: Option<String>,
    /// Sign under this delegation, when several are in force.
    pub delegation: Option<i64>,
    /// Who asks (the signed-in user, or the CLI's `cli`), for the audit entry.
    pub actor: Option<String>,
    /// A label for the archive and the audit entry (the output file name).
    pub label: Option<String>,
    /// The form this signature answers, claimed by [`super::users::claim_form`]: its result
    /// (the document's id, or the signed file's SHA-256) is recorded in the unit of work that
    /// records the signature, so that a repeat of the form after a crash finds it done instead
    /// of signing again or being refused for a field already signed.
    pub form: Option<crate::issuing::FormKey>,
}

/// A signature made and recorded.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The signed PDF.
    pub bytes: Vec<u8>,
    /// Its SHA-256 (lower-case hex).
    pub sha256: String,
    /// The register entry signed, if the PDF is one kyso issued.
    pub document: Option<String>,
    /// The kind it was signed as (empty for a plain signature).
    pub kind: String,
    /// The capacity written into the signature ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"), if authority
    /// was checked.
    pub capacity: Option<String>,
    /// The signer certificate's revocation status at signing: `good`, `stale` or `unknown`.
    pub revocation: &'static str,
    /// Whether the signature carries an RFC 3161 timestamp (B-T), or one is owed because no
    /// configured TSA answered, or none was asked for.
    pub timestamp: signing::TimestampOutcome,
    /// Whether long-term material (B-LT DSS, B-LTA document timestamp) was added, or is owed.
    pub ltv: super::ltv::LtvOutcome,
    /// The outbox row.
    pub archive_id: i64,
    /// The archive key.
    pub archive_key: String,
}

/// A prepared signature, waiting for the external key's value.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The handle to complete it with.
    pub handle: String,
    /// The 32-byte digest the key signs (SHA-256 of the DER signed attributes): exactly what
    /// `openssl pkeyutl -sign -pkeyopt digest:sha256` takes.
    pub digest: [u8; 32],
    /// The algorithm the key must use.
    pub algorithm: SignatureAlgorithm,
    /// When it expires.
    pub expires_at: OffsetDateTime,
}

/// What the register decided about a request, before anything is signed.
struct Decision {
    document: Option<DocumentRecord>,
    kind: String,
    field: Option<String>,
    actor: String,
    capacity: Option<String>,
    revocation: &'static str,
    options: SignOptions,
    summary: Value,
}

/// Signs `pdf` with `signer` as `req` asks, if the register allows it; records it; returns it.
pub fn sign(
    app: &App,
    pdf: &[u8],
    signer: &dyn Signer,
    appearance: Option<&dyn AppearanceBuilder>,
    req: &SignRequest,
) -> Result<Signed, AppError> {
    let now = app.now();
    let mut registry = app.registry()?;
    let db = registry.db();
    let decision = audited(db, req, now, || {
        decide(app, db, pdf, signer.certificate(), signer.chain(), req, now)
    })?;
    let stamped = audited(db, req, now, || {
        let step = signing::SignatureStep {
            signer,
            options: &decision.options,
            appearance,
        };
        Ok(signing::sign_pdf_sequence_stamped(pdf, &[step])?)
    })?;
    let outcome = stamped
        .timestamps
        .first()
        .cloned()
        .unwrap_or(signing::TimestampOutcome::NotAsked);
    let (bytes, ltv) = long_term(app, stamped.bytes, &outcome)?;
    let mut extra = json!({});
    let detail = outcome.audit_detail();
    if !detail.is_null() {
        extra["timestamp"] = detail;
    }
    let detail = ltv.audit_detail();
    if !detail.is_null() {
        extra["ltv"] = detail;
    }
    stage_files(app, &bytes, &decision)?;
    let mut signed = registry.unit_of_work_grouped(|db| {
        let signed = record(app, db, bytes, &decision, req, now, extra)?;
        super::ltv::record_owed(&db, &signed.sha256, &ltv, now)?;
        Ok::<_, AppError>(signed)
    })?;
    signed.timestamp = outcome;
    signed.ltv = ltv;
    Ok(signed)
}

/// Prepares a signature for a key kyso never sees (a token, a remote service): decides as
/// [`sign`] does, stores the prepared PDF, and returns the digest to sign.
pub fn prepare(
    app: &App,
    pdf: &[u8],
    certificate: &Certificate,
    chain: &[Certificate],
    pss: bool,
    ttl: time::Duration,
    req: &SignRequest,
) -> Result<Prepared, AppError> {
    if !(time::Duration::minutes(1)..=time::Duration::days(7)).contains(&ttl) {
        return Err(Denial::input(
            "thời hạn phải từ 1 phút đến 7 ngày",
            "the time to live must be between 1 minute and 7 days",
        )
        .into());
    }
    let now = app.now();
    let registry = app.registry()?;
    let db = registry.db();
    let decision = audited(db, req, now, || {
        decide(app, db, pdf, certificate, chain, req, now)
    })?;
    let algorithm = algorithm_for(certificate, pss);
    let mut pending = audited(db, req, now, || {
        Ok(deferred::begin(
            pdf,
            certificate,
            chain,
            algorithm,
            &decision.options,
            ttl,
        )?)
    })?;
    pending.official_id = req.official.clone();
    pending.document_id = decision.document.as_ref().map(|d| d.id.clone());
    pending.context = json!({
        "kind": decision.kind,
        "field": decision.field,
        "actor": decision.actor,
        "capacity": decision.capacity,
        "revocation": decision.revocation,
        "summary": decision.summary,
        "label": req.label,
    })
    .to_string();
    deferred::purge_expired(&db, now)?;
    deferred::save(&db, &pending, now)?;
    audit::append(
        &db,
        &decision.actor,
        "sign.prepare",
        &pending.handle,
        &json!({"document": pending.document_id, "kind": decision.kind, "certificate": certificate.serial_hex(), "expires_at": rfc3339(pending.expires_at)}),
        now,
    )?;
    Ok(Prepared {
        digest: pending.digest(),
        handle: pending.handle,
        algorithm,
        expires_at: pending.expires_at,
    })
}

/// What the service asks when an official signs a registered document with their registered
/// key: everything else (who, which document version, which key, in which capacity) comes from
/// the register.
#[derive(Debug, Clone, Default)]
pub struct DocumentSign {
    /// The signature field, when the document has several the official may sign.
    pub field: Option<String>,
    /// Reason written into the signature.
    pub reason: Option<String>,
    /// Location written into the signature.
    pub location: Option<String>,
    /// Sign RSA with PKCS#1 v1.5 instead of RSASSA-PSS.
    pub pkcs1: bool,
    /// Sign under this delegation (one of the capacities [`super::queue`] offers); `None`
    /// signs in the official's own right, or under their only delegation in force.
    pub delegation: Option<i64>,
    /// The claimed form this signature answers (see [`SignRequest::form`]).
    pub form: Option<crate::issuing::FormKey>,
}

/// The certificate of `official_id` to sign with at `now`: the newest registered one that is
/// within its validity and whose key is where `usable` accepts it.
fn registered_key(
    db: Db<'_>,
    official_id: &str,
    now: OffsetDateTime,
    usable: impl Fn(&str) -> bool,
) -> Result<(Certificate, String), AppError> {
    let keys = crate::authority::store::keys_of(&db, official_id)?;
    keys.into_iter()
        .find(|(c, loc)| {
            let (from, until) = c.validity();
            from <= now && now <= until && usable(loc)
        })
        .ok_or_else(|| {
            Denial::input(
                format!(
                    "cán bộ {official_id} không có chứng thư số còn hạn với khóa dùng được ở đây"
                ),
                format!(
                    "official {official_id} has no certificate in force with a key usable here"
                ),
            )
            .into()
        })
}

/// A signer on `official_id`'s registered key file in force at the application's time, with the
/// configured chain: how the service signs documents and delegation grants for an official.
pub(crate) fn registered_key_signer(
    app: &App,
    official_id: &str,
    pss: bool,
) -> Result<KeySigner, AppError> {
    let (cert, location) = {
        let registry = app.registry()?;
        registered_key(registry.db(), official_id, app.now(), |l| {
            l.starts_with("file:")
        })?
    };
    let path = std::path::PathBuf::from(location.trim_start_matches("file:"));
    let key = crate::pki::load_private_key(&path)?;
    Ok(KeySigner::new(&key, cert, configured_chain(app)?, pss)?)
}

fn configured_chain(app: &App) -> Result<Vec<Certificate>, AppError> {
    let mut chain = Vec::new();
    for p in &app.settings().chain {
        chain.extend(crate::pki::load_certificates(p)?);
    }
    Ok(chain)
}

/// Signs the latest version of registered document `document_id` as `official_id` (the one the
/// signed-in user is linked to, never one the request names), with that official's registered
/// key file, after the same decision as [`sign`].
pub fn sign_document(
    app: &App,
    official_id: &str,
    actor: &str,
    document_id: &str,
    opts: &DocumentSign,
) -> Result<Signed, AppError> {
    let (record, _version, bytes) = super::issue::current_version(app, document_id)?;
    let signer = registered_key_signer(app, official_id, !opts.pkcs1)?;
    sign(
        app,
        &bytes,
        &signer,
        None,
        &SignRequest {
            field: opts.field.clone(),
            reason: opts.reason.clone(),
            location: opts.location.clone(),
            official: Some(official_id.to_owned()),
            actor: Some(actor.to_owned()),
            label: Some(format!("service:{}", record.id)),
            delegation: opts.delegation,
            form: opts.form.clone(),
            ..SignRequest::default()
        },
    )
}

/// Prepares a signature of the latest version of registered document `document_id` as
/// `official_id` with a key kyso never holds (a token): the certificate is the official's
/// newest registered one in force, or the one whose SHA-256 fingerprint is `certificate`.
pub fn prepare_document(
    app: &App,
    official_id: &str,
    actor: &str,
    document_id: &str,
    certificate: Option<&str>,
    opts: &DocumentSign,
) -> Result<Prepared, AppError> {
    let (record, _version, bytes) = super::issue::current_version(app, document_id)?;
    let cert = {
        let registry = app.registry()?;
        match certificate {
            Some(fp) => {
                let fp = fp.to_ascii_lowercase();
                crate::authority::store::keys_of(&registry.db(), official_id)?
                    .into_iter()
                    .map(|(c, _)| c)
                    .find(|c| {
                        crate::pki::hex_upper(&c.fingerprint_sha256()).eq_ignore_ascii_case(&fp)
                    })
                    .ok_or_else(|| {
                        AppError::from(Denial::input(
                            format!("chứng thư số {fp} không đăng ký cho cán bộ {official_id}"),
                            format!("certificate {fp} is not registered to official {official_id}"),
                        ))
                    })?
            }
            None => registered_key(registry.db(), official_id, app.now(), |_| true)?.0,
        }
    };
    prepare(
        app,
        &bytes,
        &cert,
        &configured_chain(app)?,
        !opts.pkcs1,
        time::Duration::minutes(15),
        &SignRequest {
            field: opts.field.clone(),
            reason: opts.reason.clone(),
            location: opts.location.clone(),
            official: Some(official_id.to_owned()),
            actor: Some(actor.to_owned()),
            label: Some(format!("service:{}", record.id)),
            delegation: opts.delegation,
            ..SignRequest::default()
        },
    )
}

/// Completes prepared signature `handle` for `official_id`: only the official it was prepared
/// for may complete it (a refusal otherwise, audited).
pub fn complete_for(
    app: &App,
    official_id: &str,
    handle: &str,
    signature: &[u8],
) -> Result<Signed, AppError> {
    let registry = app.registry()?;
    match deferred::Pending::pending_owner(&registry.db(), handle).map_err(PendingError::from)? {
        None => Err(PendingError::Unknown(handle.to_owned()).into()),
        Some(Some(o)) if o == official_id => complete(app, handle, signature),
        Some(_) => {
            let e: AppError = Denial::Forbidden {
                vi: "chữ ký này được chuẩn bị cho người khác".into(),
                en: "this signature was prepared for someone else".into(),
            }
            .into();
            let _ = audit::append(
                &registry.db(),
                official_id,
                "refuse",
                handle,
                &json!({"reason": e.to_string(), "stage": "complete"}),
                app.now(),
            );
            Err(e)
        }
    }
}

/// Completes prepared signature `handle` with the raw signature value (RSA: the modulus-sized
/// value; ECDSA: DER). Exactly one completion of a handle succeeds, however many race.
pub fn complete(app: &App, handle: &str, signature: &[u8]) -> Result<Signed, AppError> {
    let now = app.now();
    let mut registry = app.registry()?;
    let refuse = |db: Db<'_>, actor: &str, e: AppError| -> AppError {
        let _ = audit::append(
            &db,
            actor,
            "refuse",
            handle,
            &json!({"reason": e.to_string(), "stage": "complete"}),
            now,
        );
        e
    };
    if signature.len() > 1024 {
        let e = Denial::input(
            format!("{} byte không phải giá trị chữ ký thô", signature.len()),
            format!("{} bytes is not a raw signature value", signature.len()),
        )
        .into();
        return Err(refuse(registry.db(), "external", e));
    }
    let pending = match deferred::load(&registry.db(), handle, now) {
        Ok(p) => p,
        Err(PendingError::Completed(h)) => {
            return Err(refuse(
                registry.db(),
                "external",
                Denial::AlreadyCompleted(h).into(),
            ));
        }
        Err(e) => return Err(refuse(registry.db(), "external", e.into())),
    };
    let context: Value = serde_json::from_str(&pending.context).unwrap_or_else(|_| json!({}));
    let actor = context["actor"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| pending.official_id.clone())
        .unwrap_or_else(|| "external".into());
    let document = match &pending.document_id {
        Some(id) => Some(super::issue::document(app, id)?),
        None => None,
    };
    let serial = pending.signer.serial_hex();
    let timestamper = crate::signing::timestamp::TimestampClient::from_settings(app.settings())?;
    let stamped = match pending
        .clone()
        .complete_stamped(signature, now, timestamper.as_ref())
    {
        Ok(b) => b,
        Err(e) => return Err(refuse(registry.db(), &actor, e.into())),
    };
    let outcome = stamped
        .timestamps
        .first()
        .cloned()
        .unwrap_or(signing::TimestampOutcome::NotAsked);
    let decision = Decision {
        document,
        kind: context["kind"].as_str().unwrap_or_default().to_owned(),
        field: context["field"].as_str().map(str::to_owned),
        actor: actor.clone(),
        capacity: context["capacity"].as_str().map(str::to_owned),
        revocation: match context["revocation"].as_str() {
            Some("good") => "good",
            Some("stale") => "stale",
            _ => "unknown",
        },
        options: SignOptions::at(now),
        summary: context["summary"].clone(),
    };
    let req = SignRequest {
        label: context["label"].as_str().map(str::to_owned),
        ..SignRequest::default()
    };
    let (bytes, ltv) = long_term(app, stamped.bytes, &outcome)?;
    let mut extra = json!({"deferred": true, "handle": handle, "certificate": serial});
    let detail = outcome.audit_detail();
    if !detail.is_null() {
        extra["timestamp"] = detail;
    }
    let detail = ltv.audit_detail();
    if !detail.is_null() {
        extra["ltv"] = detail;
    }
    stage_files(app, &bytes, &decision)?;
    let recorded = registry.unit_of_work_grouped(|db| {
        // The state change first, inside the unit of work: a concurrent completion that lost
        // the race finds the handle completed and records nothing.
        if !deferred::mark_completed(&db, handle, now)? {
            return Ok(None);
        }
        let signed = record(app, db, bytes, &decision, &req, now, extra)?;
        super::ltv::record_owed(&db, &signed.sha256, &ltv, now)?;
        Ok::<_, AppError>(Some(signed))
    })?;
    let Some(mut signed) = recorded else {
        return Err(refuse(
            registry.db(),
            &actor,
            Denial::AlreadyCompleted(handle.to_owned()).into(),
        ));
    };
    signed.timestamp = outcome;
    signed.ltv = ltv;
    Ok(signed)
}

/// Adds what `[ltv] level` asks to a freshly signed file. A signature whose timestamp is owed
/// owes its long-term material too (B-LT builds on B-T).
fn long_term(
    app: &App,
    bytes: Vec<u8>,
    timestamp: &signing::TimestampOutcome,
) -> Result<(Vec<u8>, super::ltv::LtvOutcome), AppError> {
    use crate::config::LtvLevel;
    let level = app.settings().ltv.level;
    if level == LtvLevel::Off {
        return Ok((bytes, super::ltv::LtvOutcome::NotAsked));
    }
    if let signing::TimestampOutcome::Owed { .. } = timestamp {
        return Ok((
            bytes,
            super::ltv::LtvOutcome::Owed {
                level: if level == LtvLevel::Lta {
                    "b-lta"
                } else {
                    "b-lt"
                },
                reasons: vec!["the signature timestamp is owed".into()],
            },
        ));
    }
    super::ltv::make_long_term(app, &bytes, level)
}

/// Runs `f`; a refusal it returns is appended to the audit log (in its own transaction: the
/// refusal is recorded even though nothing else is), at `now`.
fn audited<T>(
    db: Db<'_>,
    req: &SignRequest,
    now: OffsetDateTime,
    f: impl FnOnce() -> Result<T, AppError>,
) -> Result<T, AppError> {
    let result = f();
    if let Err(e) = &result
        && is_refusal(e)
    {
        let actor = req
            .official
            .clone()
            .or_else(|| req.actor.clone())
            .unwrap_or_else(|| "external".into());
        audit::append(
            &db,
            &actor,
            "refuse",
            req.kind.as_deref().unwrap_or(""),
            &json!({"reason": e.to_string(), "official": req.official, "kind": req.kind, "field": req.field}),
            now,
        )?;
    }
    result
}

fn is_refusal(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Authority(_) | AppError::Denied(_) | AppError::Signing(_) | AppError::Store(_)
    )
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The RSA or ECDSA scheme for `cert`'s key.
pub fn algorithm_for(cert: &Certificate, pss: bool) -> SignatureAlgorithm {
    // An EC point starts with 0x04 (uncompressed); an RSAPublicKey is a DER SEQUENCE (0x30).
    match cert.public_key_bits().first() {
        Some(0x04) => SignatureAlgorithm::EcdsaP256Sha256,
        _ if pss => SignatureAlgorithm::RsaPssSha256,
        _ => SignatureAlgorithm::RsaPkcs1Sha256,
    }
}

fn decide(
    app: &App,
    db: Db<'_>,
    pdf: &[u8],
    cert: &Certificate,
    chain: &[Certificate],
    req: &SignRequest,
    now: OffsetDateTime,
) -> Result<Decision, AppError> {
    if req.official.is_none() {
        if req.delegation.is_some() {
            return Err(Denial::NeedsOfficial("--delegation").into());
        }
        if req.requester.is_some() {
            return Err(Denial::NeedsOfficial("--requester-id").into());
        }
    }
    let declared_requester = match &req.requester {
        Some(r) => Some(parse_requester(r)?),
        None => None,
    };
    let document = identify(db, pdf)?;
    let (kind, requester_ids) = match &document {
        Some(doc) => {
            if doc.status != Status::Issued {
                return Err(Denial::NotSignable {
                    id: doc.id.clone(),
                    status: doc.status.to_string(),
                }
                .into());
            }
            if let Some(k) = &req.kind
                && *k != doc.kind
            {
                return Err(Denial::KindMismatch {
                    id: doc.id.clone(),
                    registered: doc.kind.clone(),
                    asked: k.clone(),
                }
                .into());
            }
            let ids = concerned_ids(&doc.data);
            if let Some(r) = &declared_requester
                && !ids.iter().any(|i| i == r)
            {
                return Err(Denial::RequesterMismatch {
                    id: doc.id.clone(),
                    asked: r.clone(),
                }
                .into());
            }
            (doc.kind.clone(), ids)
        }
        None => {
            let kind = match &req.kind {
                Some(k) => {
                    if app.is_register_kind(k)? {
                        return Err(Denial::NotRegistered { kind: k.clone() }.into());
                    }
                    if !app.is_known_kind(k)? {
                        return Err(Denial::UnknownKind(k.clone()).into());
                    }
                    k.clone()
                }
                None if req.official.is_some() => return Err(Denial::KindNeeded.into()),
                None => String::new(),
            };
            (kind, declared_requester.into_iter().collect())
        }
    };

    let mut options = SignOptions {
        field: req.field.clone(),
        reason: req.reason.clone(),
        location: req.location.clone(),
        development_mode: app.settings().development,
        timestamper: crate::signing::timestamp::TimestampClient::from_settings(app.settings())?,
        ..SignOptions::at(now)
    };
    // The certificate's own checks (development PKI, key usage, validity) before anything else
    // is looked up, so an expired or unusable certificate is refused with its own reason.
    signing::check_certificate(cert, chain, &options)?;
    let revocation = check_revocation(app, cert, chain, now)?;

    let mut summary = json!({
        "kind": kind,
        "certificate": cert.serial_hex(),
        "subject": cert.subject(),
        "revocation": revocation,
    });
    let mut capacity = None;
    let actor;
    let official = match &req.official {
        Some(id) => Some(authority::store::official(&db, id)?),
        None => None,
    };
    // On a registered document each field has its signer.
    if let Some(doc) = &document {
        let (expected, role, role_en) = match &official {
            Some(o) if o.is_seal => (SEAL_FIELD, "con dấu cơ quan", "the agency seal"),
            Some(_) => (
                OFFICIAL_FIELD,
                "người có thẩm quyền ký",
                "the signing official",
            ),
            None => (
                CLERK_FIELD,
                "công chức tiếp nhận hồ sơ",
                "the desk clerk (the only field signed without an authority check)",
            ),
        };
        if official.is_none() {
            let has_clerk = serde_json::from_str::<Value>(&doc.data)
                .map(|d| d.get("desk_clerk").is_some_and(|c| !c.is_null()))
                .unwrap_or(false);
            if !has_clerk {
                return Err(Denial::NoDeskClerk(doc.id.clone()).into());
            }
        }
        match &options.field {
            None => options.field = Some(expected.to_owned()),
            Some(f) if f == expected => {}
            Some(f) => {
                return Err(Denial::WrongField {
                    id: doc.id.clone(),
                    field: f.clone(),
                    role,
                    role_en,
                }
                .into());
            }
        }
    }
    match &official {
        Some(o) => {
            let auth =
                authority::authorise(&db, &o.id, cert, &kind, now, &requester_ids, req.delegation)
                    .map_err(|e| match e {
                        authority::AuthorityError::Refused(r) => AppError::Authority(r),
                        authority::AuthorityError::Store(s) => AppError::Store(s),
                        other => {
                            AppError::Denied(Denial::input(other.to_string(), other.to_string()))
                        }
                    })?;
            let claims = authority::signature_claims(&db, &auth)
                .map_err(|e| AppError::Denied(Denial::input(e.to_string(), e.to_string())))?;
            options.extra_signed_attributes.push(claims.attribute);
            options.extra_certificates.extend(claims.certificates);
            capacity = Some(auth.claimed_role());
            summary["official"] = json!(o.id);
            summary["capacity"] = json!(auth.claimed_role());
            if let Capacity::Delegated(d) = auth.capacity() {
                summary["delegation"] = json!(d.id);
                summary["mark"] = json!(d.mark.code());
                summary["delegator"] = json!(d.delegator.id);
                summary["chain"] = json!(d.chain().iter().map(|l| l.id).collect::<Vec<_>>());
            }
            actor = o.id.clone();
        }
        None => {
            summary["authority"] = json!("not checked: a plain signature without --official");
            actor = req
                .actor
                .clone()
                .unwrap_or_else(|| cert.common_name().unwrap_or_else(|| cert.subject()));
        }
    }
    if document.is_none() && !kind.is_empty() {
        summary["outside_register"] = json!(true);
    }
    if let Some(doc) = &document {
        summary["document"] = json!(doc.id);
    }
    Ok(Decision {
        document,
        kind,
        field: options.field.clone(),
        actor,
        capacity,
        revocation,
        options,
        summary,
    })
}

/// Writes the files a signature's records point at, durably, before the transaction that
/// records it ([`record`]), so that no fsync runs while the registry's write lock is held: the
/// archive's staged copy and, for a registered document, the new version that the service
/// hands to the next signer and to downloads. Both are named by their content.
fn stage_files(app: &App, bytes: &[u8], decision: &Decision) -> Result<(), AppError> {
    let outbox = Outbox::new(app.settings());
    match &decision.document {
        Some(doc) => {
            let files = app.issued_files();
            let sha256 = sha256_hex(bytes);
            files.stage_version(&doc.id, &sha256, bytes)?;
            outbox.stage_linked(bytes, Some(&files.version_path(&doc.id, &sha256)))?;
        }
        None => outbox.stage(bytes)?,
    }
    Ok(())
}

/// Records a signature: outbox row (its staged copy written by [`stage_files`] or now), the
/// document's new version, the audit entry — inside the caller's unit of work `db`.
fn record(
    app: &App,
    db: Db<'_>,
    bytes: Vec<u8>,
    decision: &Decision,
    req: &SignRequest,
    now: OffsetDateTime,
    extra: Value,
) -> Result<Signed, AppError> {
    let sha256 = sha256_hex(&bytes);
    let archive_kind = if !decision.kind.is_empty() && Slug::parse(&decision.kind, "kind").is_ok() {
        decision.kind.as_str()
    } else {
        "default"
    };
    let submitted = Outbox::new(app.settings()).submit(
        &db,
        SubmitRequest {
            bytes: &bytes,
            kind: archive_kind,
            commune: None,
            date: crate::archive::outbox::date_in_vietnam(now),
            source: req.label.as_deref(),
        },
    )?;
    if let Some(doc) = &decision.document {
        db.add_version_if_new(
            &doc.id,
            &Version {
                sha256: sha256.clone(),
                stage: "signed".to_owned(),
                size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
                field: decision.field.clone(),
                signer: Some(decision.actor.clone()),
                capacity: decision.capacity.clone(),
                created_at: rfc3339(now),
            },
        )?;
    }
    let mut details = decision.summary.clone();
    if let (Value::Object(d), Value::Object(e)) = (&mut details, extra) {
        d.extend(e);
    }
    if let Some(doc) = &decision.document {
        let versions = db.versions(&doc.id)?;
        let signed: Vec<&str> = versions
            .iter()
            .filter(|v| v.stage == "signed")
            .filter_map(|v| v.field.as_deref())
            .collect();
        db.set_awaited(&doc.id, crate::issuing::awaited_after(&signed))?;
    }
    if let Some(form) = &req.form {
        let result = decision.document.as_ref().map_or(&sha256, |d| &d.id);
        accounts::finish_form_key(db, form.user_id(), form.key(), result)?;
    }
    details["sha256"] = json!(sha256);
    details["field"] = json!(decision.field);
    details["archive"] = json!(submitted.key.as_str());
    if let Some(l) = &req.label {
        details["output"] = json!(l);
    }
    let subject = decision
        .document
        .as_ref()
        .map(|d| d.id.clone())
        .unwrap_or_else(|| sha256.clone());
    // The entry's time is when it is recorded (the act's `now` was taken before the timestamp
    // and revocation fetches), so that the log's times follow its order.
    audit::append(&db, &decision.actor, "sign", &subject, &details, app.now())?;
    Ok(Signed {
        bytes,
        sha256,
        document: decision.document.as_ref().map(|d| d.id.clone()),
        kind: decision.kind.clone(),
        capacity: decision.capacity.clone(),
        revocation: decision.revocation,
        timestamp: signing::TimestampOutcome::NotAsked,
        ltv: super::ltv::LtvOutcome::NotAsked,
        archive_id: submitted.id,
        archive_key: submitted.key.as_str().to_owned(),
    })
}

/// Finds the register entry `pdf` was issued as: the SHA-256 of each prefix of the file that
/// ends a revision (after `%%EOF` and its end-of-line) is looked up among issued documents.
/// A registered document must then be exactly one of the versions kyso recorded for it.
fn identify(db: Db<'_>, pdf: &[u8]) -> Result<Option<DocumentRecord>, AppError> {
    let mut found = None;
    for digest in revision_digests(pdf).0 {
        if let Some(doc) = db.document_by_issued_sha256(&digest.sha256)? {
            found = Some(doc);
            break;
        }
    }
    let Some(doc) = found else {
        return Ok(None);
    };
    let whole = sha256_hex(pdf);
    let known = db
        .version_by_sha256(&whole)?
        .is_some_and(|(document, _)| document == doc.id);
    if !known {
        return Err(Denial::input(
            format!(
                "tệp này là giấy tờ {} nhưng đã bị thay đổi sau lần ghi nhận cuối của kyso; hãy ký trên bản do kyso cấp (kyso reprint)",
                doc.id
            ),
            format!(
                "this file is document {} but was changed after kyso last recorded it; sign the version kyso issued (kyso reprint)",
                doc.id
            ),
        )
        .into());
    }
    Ok(Some(doc))
}

/// The SHA-256 of a prefix of a file that ends a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevisionDigest {
    /// Which `%%EOF` marker (from 0, in file order) the prefix ends at.
    pub marker: usize,
    /// SHA-256 of the prefix, lower-case hex.
    pub sha256: String,
}

/// SHA-256 of every prefix of `pdf` that ends a revision: after each `%%EOF`, with and without
/// the end-of-line that follows it. One pass over the file. Also returns how many markers
/// there are.
pub(crate) fn revision_digests(pdf: &[u8]) -> (Vec<RevisionDigest>, usize) {
    let mut ends = Vec::new();
    let mut markers = 0;
    for (marker, pos) in memchr::memmem::find_iter(pdf, b"%%EOF").enumerate() {
        markers = marker + 1;
        let end = pos + 5;
        ends.push((marker, end));
        match pdf.get(end..end + 2) {
            Some(b"\r\n") => ends.push((marker, end + 2)),
            _ => {
                if matches!(pdf.get(end), Some(b'\n' | b'\r')) {
                    ends.push((marker, end + 1));
                }
            }
        }
    }
    let mut out = Vec::with_capacity(ends.len());
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut at = 0;
    for (marker, end) in ends {
        if end > pdf.len() || end < at {
            continue;
        }
        ctx.update(&pdf[at..end]);
        at = end;
        out.push(RevisionDigest {
            marker,
            sha256: crate::pki::hex_upper(ctx.clone().finish().as_ref()).to_ascii_lowercase(),
        });
    }
    (out, markers)
}

/// Everyone a document's data names with a personal ID (requesters, parties, the person a
/// civil-status paper is about), as (full name, ID as written).
pub(crate) fn persons_concerned(data: &str) -> Vec<(String, String)> {
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(pid)) = m.get("personal_id") {
                    let name = m.get("full_name").and_then(Value::as_str).unwrap_or("");
                    out.push((name.to_owned(), pid.clone()));
                }
                m.values()
                    .filter(|v| v.is_object() || v.is_array())
                    .for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(data) {
        walk(&v, &mut out);
    }
    out
}

/// The personal ID numbers of everyone a document's matter concerns, digits only.
fn concerned_ids(data: &str) -> Vec<String> {
    persons_concerned(data)
        .into_iter()
        .map(|(_, id)| authority::normalise_id(&id))
        .collect()
}

/// A requester ID as the caller gives it: a 12-digit personal ID (spaces and dots allowed), or
/// another paper declared as `TYPE:NUMBER` (passport, a foreign ID).
fn parse_requester(s: &str) -> Result<String, AppError> {
    let digits = authority::normalise_id(s);
    let only_digits = s
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '.');
    if only_digits && digits.len() == 12 {
        return Ok(digits);
    }
    if let Some((kind, number)) = s.split_once(':') {
        let kind_ok = !kind.is_empty()
            && kind.len() <= 32
            && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let number_ok = !number.is_empty()
            && number.len() <= 32
            && number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if kind_ok && number_ok {
            return Ok(format!("{}:{}", kind.to_ascii_lowercase(), number));
        }
    }
    Err(Denial::BadRequesterId(s.to_owned()).into())
}

/// The signer certificate's revocation status from the configured CRLs: refuses a revoked
/// certificate, and an unknown status when the configuration requires one.
fn check_revocation(
    app: &App,
    cert: &Certificate,
    chain: &[Certificate],
    now: OffsetDateTime,
) -> Result<&'static str, AppError> {
    let crls = load_crls(&app.settings().crls)?;
    let issuer = chain.iter().find(|c| c.subject_der() == cert.issuer_der());
    let mut status = match issuer {
        Some(i) => revocation_status(cert.der(), i.der(), &crls, now.unix_timestamp()),
        None => RevocationStatus::Unknown,
    };
    // With long-term signatures on, kyso is allowed the network: the certificate's own OCSP
    // responder answers when the configured CRLs do not (the answer is cached and is the one
    // the DSS embeds).
    if app.settings().ltv.level != crate::config::LtvLevel::Off
        && !matches!(
            status,
            RevocationStatus::Good | RevocationStatus::Revoked(_)
        )
        && let Some(i) = issuer
        && crate::ltv::fetch::has_ocsp(cert.der())
    {
        match app
            .fetcher()
            .ocsp(cert.der(), i.der(), now.unix_timestamp())
        {
            Ok(f) => match f.answer.state {
                crate::validation::ocsp::CertState::Good => status = RevocationStatus::Good,
                crate::validation::ocsp::CertState::Revoked(t) => {
                    status = RevocationStatus::Revoked(t)
                }
                crate::validation::ocsp::CertState::Unknown => {}
            },
            Err(e) => tracing::warn!(%e, "OCSP check before signing failed"),
        }
    }
    let (word, why) = match status {
        RevocationStatus::Good => return Ok("good"),
        RevocationStatus::Revoked(t) => {
            return Err(Denial::CertificateRevoked {
                serial: cert.serial_hex(),
                at: OffsetDateTime::from_unix_timestamp(t)
                    .map(rfc3339)
                    .unwrap_or_else(|_| t.to_string()),
            }
            .into());
        }
        RevocationStatus::Stale => ("stale", "only CRLs past their next update"),
        RevocationStatus::Unknown if issuer.is_none() => {
            ("unknown", "the issuer certificate is not in the chain")
        }
        RevocationStatus::Unknown => ("unknown", "no CRL of the issuer is configured"),
        RevocationStatus::Unreadable => ("unknown", "the chain does not verify the certificate"),
    };
    if app.settings().require_revocation {
        return Err(Denial::RevocationUnknown {
            serial: cert.serial_hex(),
            why: why.to_owned(),
        }
        .into());
    }
    Ok(word)
}

/// Largest CRL file read (a commune's issuing CA publishes a few kilobytes to a few megabytes).
const MAX_CRL_FILE: u64 = 64 << 20;

/// Reads CRL files (DER, or PEM with `X509 CRL` blocks).
pub fn load_crls(paths: &[std::path::PathBuf]) -> Result<Vec<Vec<u8>>, AppError> {
    let mut out = Vec::new();
    for p in paths {
        let len = std::fs::metadata(p).map_err(|e| AppError::io(p, e))?.len();
        if len > MAX_CRL_FILE {
            return Err(Denial::input(
                format!("{} quá lớn", p.display()),
                format!("{} is larger than {MAX_CRL_FILE} bytes", p.display()),
            )
            .into());
        }
        let bytes = std::fs::read(p).map_err(|e| AppError::io(p, e))?;
        if bytes.starts_with(b"-----BEGIN") || bytes.iter().take(64).any(|b| *b == b'-') {
            let blocks = ::pem::parse_many(&bytes).map_err(|e| {
                AppError::Denied(Denial::input(
                    format!("{}: PEM không đọc được: {e}", p.display()),
                    format!("{}: unreadable PEM: {e}", p.display()),
                ))
            })?;
            out.extend(
                blocks
                    .into_iter()
                    .filter(|b| b.tag() == "X509 CRL")
                    .map(|b| b.into_contents()),
            );
        } else {
            out.push(bytes);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signature made from a form whose process stops right after the signature's commit
    /// (before the page could record anything): the same form submitted again finds it done.
    #[test]
    fn a_signing_form_repeated_after_a_crash_is_answered_with_the_signature_made() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::from_toml("development = true").unwrap();
        settings.data_dir = dir.path().to_path_buf();
        let app = App::new(settings);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        super::super::demo::ensure_commune(&app, &root.join("keys-dev")).unwrap();
        super::super::demo::ensure_users(&app).unwrap();
        let user = super::super::users::list_users(&app)
            .unwrap()
            .into_iter()
            .find(|u| u.username == "pho-chu-tich")
            .unwrap()
            .id;
        let data: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("templates/signature/sample.json")).unwrap(),
        )
        .unwrap();
        let doc = super::super::issue::issue(&app, "van-thu", "signature", &data).unwrap();
        let key = "form-key-0123456789abcdef";
        assert!(matches!(
            super::super::users::claim_form(&app, user, key).unwrap(),
            super::super::users::FormClaim::Mine
        ));
        let opts = DocumentSign {
            form: crate::issuing::FormKey::new(user, key),
            ..DocumentSign::default()
        };
        sign_document(&app, "pho-chu-tich", "pho-chu-tich", &doc.id, &opts).unwrap();
        // No finish_form: the process stopped here. The repeat is answered, not signed again.
        match super::super::users::claim_form(&app, user, key).unwrap() {
            super::super::users::FormClaim::Done(id) => assert_eq!(id, doc.id),
            other => panic!("the repeated form was not answered: {other:?}"),
        }
    }

    #[test]
    fn requester_ids_are_twelve_digits_or_a_declared_paper() {
        assert_eq!(parse_requester("001 080 000 001").unwrap(), "001080000001");
        assert_eq!(
            parse_requester("passport:B1234567").unwrap(),
            "passport:B1234567"
        );
        for bad in [
            "12345",
            "0010800000011",
            "abc",
            ":",
            "passport:",
            "x y:1",
            "001080000001x",
        ] {
            assert!(parse_requester(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revision_ends_are_found_with_and_without_their_end_of_line() {
        let pdf = b"%PDF-1.7\n1 0 obj\nnull\nendobj\n%%EOF\nmore\n%%EOF\r\n";
        let d: Vec<String> = revision_digests(pdf)
            .0
            .into_iter()
            .map(|d| d.sha256)
            .collect();
        let first = pdf.windows(5).position(|w| w == b"%%EOF").unwrap() + 5;
        assert!(d.contains(&sha256_hex(&pdf[..first])));
        assert!(d.contains(&sha256_hex(&pdf[..first + 1])));
        assert!(d.contains(&sha256_hex(pdf)));
        assert!(revision_digests(b"no marker").0.is_empty());
    }

    #[test]
    fn every_personal_id_in_the_data_concerns_the_matter() {
        let data = r#"{"requester":{"personal_id":"001 080 000 001"},"parties":[{"personal_id":"002090000002"},{"name":"x"}]}"#;
        let mut ids = concerned_ids(data);
        ids.sort();
        assert_eq!(ids, vec!["001080000001", "002090000002"]);
    }
}
