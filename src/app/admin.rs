//! The admin's and the head's acts on the authority register: officials, their certificates,
//! what titles sign in their own right, and delegations (granted with the delegator's key,
//! revoked with a reason). Each act is checked, recorded and audited in one transaction.

use serde_json::json;
use time::OffsetDateTime;

use super::error::Denial;
use super::{App, AppError};
use crate::audit;
use crate::authority::{self, Delegation, GrantRequest, Mark, Official, Position, grant, store};
use crate::pki::Certificate;
use crate::signing::{SignOptions, Signer};

/// A new official as the admin enters them.
#[derive(Debug, Clone)]
pub struct NewOfficial {
    /// Short handle (`chu-tich`).
    pub id: String,
    /// Full name, as their certificate names them.
    pub full_name: String,
    /// Title ("Phó Chủ tịch").
    pub title: String,
    /// Agency.
    pub agency: String,
    /// 12-digit personal ID (none for the seal).
    pub citizen_id: Option<String>,
    /// Position in the commune.
    pub position: Position,
    /// Unit (`""` for the committee's leadership).
    pub unit: String,
}

fn text_needed(what_vi: &str, what_en: &str, v: &str) -> Result<(), AppError> {
    if v.trim().is_empty() || v.chars().any(char::is_control) {
        return Err(Denial::input(
            format!("{what_vi} không được để trống hay chứa ký tự điều khiển"),
            format!("{what_en} must not be empty or contain control characters"),
        )
        .into());
    }
    Ok(())
}

/// Registers an official (or the agency seal, with position `seal`).
pub fn add_official(app: &App, actor: &str, o: NewOfficial) -> Result<Official, AppError> {
    text_needed("mã cán bộ", "the id", &o.id)?;
    if !o
        .id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Denial::input(
            "mã cán bộ chỉ gồm chữ, số, '-' và '_' không dấu",
            "the id may hold only ASCII letters, digits, '-' and '_'",
        )
        .into());
    }
    text_needed("họ tên", "the full name", &o.full_name)?;
    text_needed("chức danh", "the title", &o.title)?;
    text_needed("cơ quan", "the agency", &o.agency)?;
    let is_seal = o.position == Position::Seal;
    let citizen_id = match (&o.citizen_id, is_seal) {
        (Some(_), true) => {
            return Err(Denial::input(
                "con dấu cơ quan không có số định danh cá nhân",
                "the agency seal has no personal ID",
            )
            .into());
        }
        (None, false) => {
            return Err(Denial::input(
                "cần số định danh cá nhân 12 chữ số (--citizen-id)",
                "a 12-digit personal ID is needed (--citizen-id)",
            )
            .into());
        }
        (Some(c), false) => {
            let digits = authority::normalise_id(c);
            if digits.len() != 12
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || ch == ' ' || ch == '.')
            {
                return Err(Denial::input(
                    format!("số định danh cá nhân {c:?} phải có 12 chữ số"),
                    format!("citizen ID {c:?} must have 12 digits"),
                )
                .into());
            }
            Some(digits)
        }
        (None, true) => None,
    };
    let official = Official {
        id: o.id.trim().to_owned(),
        full_name: o.full_name.trim().to_owned(),
        title: o.title.trim().to_owned(),
        agency: o.agency.trim().to_owned(),
        citizen_id,
        is_seal,
        position: o.position,
        unit: o.unit.trim().to_owned(),
    };
    app.registry()?.unit_of_work(|db| {
        store::add_official(&db, &official, app.now())?;
        audit::append(
            &db,
            actor,
            "official.add",
            &official.id,
            &json!({"name": official.full_name, "title": official.title, "agency": official.agency,
                    "position": official.position.code(), "unit": official.unit, "seal": is_seal}),
            app.now(),
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(official)
}

/// Names compared the way people type them: case, spacing and Unicode composition aside.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// Registers `cert` to official `id`, with where its key lives. Refused: a certificate already
/// registered to someone else (moving one is [`move_certificate`]), a CA certificate, one that
/// may not sign documents, one whose subject name is not the official's, one from the
/// development PKI outside development mode.
pub fn add_certificate(
    app: &App,
    actor: &str,
    id: &str,
    cert: &Certificate,
    key_location: &str,
) -> Result<(), AppError> {
    if !(key_location == "external"
        || key_location
            .strip_prefix("file:")
            .is_some_and(|p| !p.is_empty())
        || key_location
            .strip_prefix("pkcs11:")
            .is_some_and(|p| !p.is_empty()))
    {
        return Err(Denial::input(
            "--key-location phải là external, file:ĐƯỜNG_DẪN hoặc pkcs11:URI",
            "--key-location must be external, file:PATH or pkcs11:URI",
        )
        .into());
    }
    let mut reg = app.registry()?;
    let official = store::official(&reg.db(), id)?;
    if let Some(holder) = store::certificate_holder(&reg.db(), cert)?
        && holder != id
    {
        return Err(store::StoreError::CertificateTaken(holder).into());
    }
    let refuse = |vi: String, en: String| -> AppError { Denial::Certificate { vi, en }.into() };
    if crate::pki::is_development_certificate(cert.der()) && !app.settings().development {
        return Err(refuse(
            "chứng thư số thuộc hệ thống thử nghiệm (keys-dev); chỉ dùng ở chế độ phát triển".into(),
            "the certificate belongs to the development PKI; register it only in development mode (--dev)".into(),
        ));
    }
    if cert.is_ca() {
        return Err(refuse(
            "đây là chứng thư số của tổ chức cấp (CA), không dùng để ký văn bản".into(),
            "this is a CA certificate; it does not sign documents".into(),
        ));
    }
    if !cert.allows_document_signing() {
        return Err(refuse(
            "chứng thư số không cho phép ký số (thiếu digitalSignature/nonRepudiation)".into(),
            "the certificate's key usage allows neither digitalSignature nor nonRepudiation".into(),
        ));
    }
    let cn = cert.common_name().unwrap_or_default();
    if !same_name(&cn, &official.full_name) {
        return Err(refuse(
            format!(
                "tên trên chứng thư số ({cn}) không phải tên của {id} ({})",
                official.full_name
            ),
            format!(
                "the certificate names {cn:?}, not {id}'s registered name {:?}",
                official.full_name
            ),
        ));
    }
    reg.unit_of_work(|db| {
        store::add_certificate(&db, id, cert, key_location, app.now())?;
        audit::append(
            &db,
            actor,
            "certificate.add",
            id,
            &json!({"subject": cert.subject(), "serial": cert.serial_hex(), "key_location": key_location}), app.now(),
        )?;
        Ok(())
    })
}

/// Moves a registered certificate to another official: an explicit, audited act (a
/// certificate re-issued to the wrong record, say). The name check still applies.
pub fn move_certificate(
    app: &App,
    actor: &str,
    cert: &Certificate,
    to: &str,
    reason: &str,
) -> Result<String, AppError> {
    text_needed("lý do", "the reason", reason)?;
    let mut reg = app.registry()?;
    let official = store::official(&reg.db(), to)?;
    let cn = cert.common_name().unwrap_or_default();
    if !same_name(&cn, &official.full_name) {
        return Err(Denial::Certificate {
            vi: format!("tên trên chứng thư số ({cn}) không phải tên của {to}"),
            en: format!("the certificate names {cn:?}, not {to}"),
        }
        .into());
    }
    reg.unit_of_work(|db| {
        let from = store::move_certificate(&db, cert, to)?;
        audit::append(
            &db,
            actor,
            "certificate.move",
            to,
            &json!({"serial": cert.serial_hex(), "from": from, "reason": reason}),
            app.now(),
        )?;
        Ok(from)
    })
}

/// Lets `title` sign `kinds` in its own right. Every kind must be known.
pub fn allow_title(app: &App, actor: &str, title: &str, kinds: &[String]) -> Result<(), AppError> {
    text_needed("chức danh", "the title", title)?;
    if kinds.is_empty() {
        return Err(Denial::input("cần ít nhất một loại giấy tờ", "name at least one kind").into());
    }
    for k in kinds {
        if !app.is_known_kind(k)? {
            return Err(Denial::UnknownKind(k.clone()).into());
        }
    }
    app.registry()?.unit_of_work(|db| {
        for k in kinds {
            store::allow_title(&db, title.trim(), k)?;
        }
        audit::append(
            &db,
            actor,
            "title.allow",
            title,
            &json!({"kinds": kinds}),
            app.now(),
        )?;
        Ok(())
    })
}

/// A delegation as the head (or a TL. holder) asks for it.
#[derive(Debug, Clone)]
pub struct NewDelegation {
    /// The mark.
    pub mark: Mark,
    /// Who grants.
    pub delegator: String,
    /// To whom.
    pub delegate: String,
    /// Kinds covered.
    pub kinds: Vec<String>,
    /// Start of validity.
    pub valid_from: OffsetDateTime,
    /// End of validity (inclusive).
    pub valid_until: OffsetDateTime,
    /// Decision number.
    pub basis_number: String,
    /// Decision date, `YYYY-MM-DD`.
    pub basis_date: String,
    /// The grant this derives from (a TL. holder passing it on), if any.
    pub source: Option<i64>,
}

/// Grants a delegation, signed by the delegator's key (`signer`, whose certificate must be
/// registered to the delegator). Refusals follow [`authority::check_grant`] and are audited.
pub fn grant_delegation(
    app: &App,
    d: NewDelegation,
    signer: &dyn Signer,
) -> Result<Delegation, AppError> {
    let now = app.now();
    text_needed("số quyết định", "the decision number", &d.basis_number)?;
    time::Date::parse(
        &d.basis_date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        Denial::input(
            format!(
                "ngày quyết định {:?} phải theo dạng YYYY-MM-DD",
                d.basis_date
            ),
            format!("--basis-date {:?} is not YYYY-MM-DD", d.basis_date),
        )
    })?;
    for k in &d.kinds {
        if !app.is_known_kind(k)? {
            return Err(Denial::UnknownKind(k.clone()).into());
        }
    }
    let mut reg = app.registry()?;
    let db = &reg.db();
    let delegator = store::official(db, &d.delegator)?;
    let delegate = store::official(db, &d.delegate)?;
    let delegator_cert = signer.certificate().clone();
    if !store::certificates_of(db, &delegator.id)?.contains(&delegator_cert) {
        return Err(Denial::Certificate {
            vi: format!("chứng thư số ký quyết định không phải của {}", delegator.id),
            en: format!(
                "the signing certificate is not registered to {}",
                delegator.id
            ),
        }
        .into());
    }
    let opts = SignOptions {
        development_mode: app.settings().development,
        ..SignOptions::at(now)
    };
    crate::signing::check_certificate(&delegator_cert, signer.chain(), &opts)?;
    let source = match d.source {
        Some(id) => Some(store::delegation(db, id)?),
        None => None,
    };
    let own = |k: &str| store::signs_in_own_right(db, &delegator, k).unwrap_or(false);
    let request = GrantRequest {
        mark: d.mark,
        delegator: &delegator,
        delegate: &delegate,
        scope: &d.kinds,
        valid_from: d.valid_from,
        valid_until: d.valid_until,
        source: source.as_ref(),
        at: now,
    };
    if let Err(refusal) = authority::check_grant(&request, &own) {
        audit::append(
            db,
            &delegator.id,
            "delegation.refuse",
            &delegate.id,
            &json!({"mark": d.mark.code(), "kinds": d.kinds, "source": d.source, "reason": refusal.to_string()}),
            now,
        )?;
        return Err(refusal.into());
    }
    let delegate_cert = store::certificates_of(db, &delegate.id)?
        .pop()
        .ok_or_else(|| {
            Denial::input(
                format!("{} chưa có chứng thư số; đăng ký trước (kyso officials add-cert)", delegate.id),
                format!("{} has no registered certificate; register one first (kyso officials add-cert)", delegate.id),
            )
        })?;
    let mut delegation = Delegation {
        id: 0,
        mark: d.mark,
        delegator,
        delegate,
        scope: d.kinds.clone(),
        valid_from: d.valid_from,
        valid_until: d.valid_until,
        basis_number: d.basis_number.trim().to_owned(),
        basis_date: d.basis_date.clone(),
        grant_der: Vec::new(),
        revoked: None,
        source: source.map(Box::new),
    };
    let unsigned = grant::prepare(
        &delegation,
        &delegate_cert,
        signer.certificate(),
        signer.algorithm(),
    )?;
    let signature = signer.sign(unsigned.to_be_signed())?;
    delegation.grant_der = unsigned.finish(signer.certificate(), &signature)?;
    delegation.id = reg.unit_of_work(|db| {
        let id = store::insert_delegation(&db, &delegation, now)?;
        audit::append(
            &db,
            &delegation.delegator.id,
            "delegation.grant",
            &format!("delegation:{id}"),
            &json!({
                "mark": delegation.mark.code(), "delegate": delegation.delegate.id, "kinds": d.kinds,
                "valid_from": store::fmt_time(d.valid_from), "valid_until": store::fmt_time(d.valid_until),
                "basis": delegation.basis_number, "basis_date": delegation.basis_date,
                "source": d.source,
            }), now,
        )?;
        Ok::<_, AppError>(id)
    })?;
    Ok(delegation)
}

/// Revokes delegation `id` from `at` (default: now). A revocation cannot be dated before the
/// grant was recorded, and a revoked delegation stays revoked. Grants derived from it end with
/// it (they are checked through their source at signing time).
pub fn revoke_delegation(
    app: &App,
    actor: &str,
    id: i64,
    at: Option<OffsetDateTime>,
    reason: &str,
) -> Result<(), AppError> {
    text_needed("lý do", "the reason", reason)?;
    let now = app.now();
    let at = at.unwrap_or(now);
    let mut reg = app.registry()?;
    let granted = store::granted_at(&reg.db(), id)?;
    if at < granted {
        return Err(Denial::input(
            format!(
                "không thể thu hồi từ {} — trước khi ủy quyền số {id} được cấp ({})",
                store::fmt_time(at),
                store::fmt_time(granted)
            ),
            format!(
                "a revocation cannot take effect at {}, before delegation {id} was granted ({})",
                store::fmt_time(at),
                store::fmt_time(granted)
            ),
        )
        .into());
    }
    reg.unit_of_work(|db| {
        store::revoke(&db, id, at, reason.trim())?;
        audit::append(
            &db,
            actor,
            "delegation.revoke",
            &format!("delegation:{id}"),
            &json!({"at": store::fmt_time(at), "reason": reason.trim()}),
            now,
        )?;
        Ok(())
    })
}

/// Revokes delegation `id` from now for `actor`: the admin (`granted_by` is `None`) may revoke
/// any; an official (`granted_by` names them) only one they granted, a refusal otherwise.
pub fn revoke_delegation_by(
    app: &App,
    actor: &str,
    granted_by: Option<&str>,
    id: i64,
    reason: &str,
) -> Result<(), AppError> {
    if let Some(own) = granted_by {
        let mine = delegations(app, Some(own))?
            .into_iter()
            .any(|d| d.id == id && d.delegator.id == own);
        if !mine {
            return Err(Denial::Forbidden {
                vi: "chỉ người đã ủy quyền hoặc quản trị viên được thu hồi".into(),
                en: "only the official who granted it or the admin may revoke it".into(),
            }
            .into());
        }
    }
    revoke_delegation(app, actor, id, None, reason)
}

/// Every registered official.
pub fn officials(app: &App) -> Result<Vec<Official>, AppError> {
    Ok(store::officials(&app.registry()?.db())?)
}

/// One official with their registered certificates and where each key is.
pub fn official(
    app: &App,
    id: &str,
) -> Result<(Official, Vec<(crate::pki::Certificate, String)>), AppError> {
    let registry = app.registry()?;
    let db = &registry.db();
    let o = store::official(db, id)?;
    let keys = store::keys_of(db, id)?;
    Ok((o, keys))
}

/// Delegations, all or those where `official` is delegator or delegate.
pub fn delegations(app: &App, official: Option<&str>) -> Result<Vec<Delegation>, AppError> {
    Ok(store::delegations(&app.registry()?.db(), official)?)
}

/// Grants a delegation from `delegator` (the signed-in head), signed with the delegator's
/// registered key file.
pub fn grant_with_registered_key(
    app: &App,
    d: NewDelegation,
    pss: bool,
) -> Result<Delegation, AppError> {
    let signer = super::sign::registered_key_signer(app, &d.delegator, pss)?;
    grant_delegation(app, d, &signer)
}

/// The newest `limit` audit entries, oldest of them first.
pub fn audit_entries(app: &App, limit: i64) -> Result<Vec<audit::AuditEntry>, AppError> {
    Ok(audit::list(&app.registry()?.db(), limit.clamp(1, 1000))?)
}

/// Audit entries, newest first (at most `limit`, up to 1000): by `actor`, by action prefix
/// (`delegation.` for every delegation act), by a part of the subject.
pub fn audit_search(
    app: &App,
    actor: Option<&str>,
    action: Option<&str>,
    subject: Option<&str>,
    limit: i64,
) -> Result<Vec<audit::AuditEntry>, AppError> {
    Ok(audit::search(
        &app.registry()?.db(),
        actor,
        action,
        subject,
        limit.clamp(1, 1000),
    )?)
}

/// A registered certificate as the admin sees it.
#[derive(Debug, Clone)]
pub struct RegisteredCertificate {
    /// The certificate.
    pub certificate: Certificate,
    /// Where its key is (`external`, `file:…`, `pkcs11:…`).
    pub key_location: String,
    /// What the configured CRLs say of it now (no network: the page stays fast).
    pub revocation: crate::validation::chain::RevocationStatus,
    /// The title the certificate names, when it differs from the official's title in the
    /// register (titles change; certificates keep the old one until re-issued).
    pub title_differs: Option<String>,
}

/// Every official with their registered certificates, newest first, each with its revocation
/// status from the configured CRLs and a flag when its title no longer matches the register.
pub fn officials_with_certificates(
    app: &App,
) -> Result<Vec<(Official, Vec<RegisteredCertificate>)>, AppError> {
    let registry = app.registry()?;
    let db = &registry.db();
    let crls = super::sign::load_crls(&app.settings().crls)?;
    let mut chain = Vec::new();
    for p in &app.settings().chain {
        chain.extend(crate::pki::load_certificates(p)?);
    }
    let now = app.now().unix_timestamp();
    let mut out = Vec::new();
    for o in store::officials(db)? {
        let certs = store::keys_of(db, &o.id)?
            .into_iter()
            .map(|(c, key_location)| {
                let issuer = chain.iter().find(|i| i.subject_der() == c.issuer_der());
                let revocation = match issuer {
                    Some(i) => {
                        crate::validation::chain::revocation_status(c.der(), i.der(), &crls, now)
                    }
                    None => crate::validation::chain::RevocationStatus::Unknown,
                };
                let title_differs = c.title().filter(|t| !o.is_seal && !same_name(t, &o.title));
                RegisteredCertificate {
                    certificate: c,
                    key_location,
                    revocation,
                    title_differs,
                }
            })
            .collect();
        out.push((o, certs));
    }
    Ok(out)
}

/// Re-checks the audit chain.
pub fn audit_verify(app: &App) -> Result<audit::AuditReport, AppError> {
    Ok(audit::verify(&app.registry()?.db())?)
}

/// The archive outbox's status.
pub fn archive_status(app: &App) -> Result<crate::archive::outbox::Status, AppError> {
    let registry = app.registry()?;
    Ok(crate::archive::Outbox::new(app.settings()).status(&registry.db())?)
}
