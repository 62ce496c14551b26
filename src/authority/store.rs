//! The authority register: officials, their certificates, title powers and delegations, kept
//! in a store that implements [`Records`] (the registry, `registry::authority`).
//!
//! The store keeps records; what they mean stays here: a citizen ID or a certificate belongs to
//! one official, a certificate moves only by an explicit act, a revocation happens once, and a
//! delegation is read back with the officials it names and the chain of grants it rests on.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Delegation, Mark, Official};
use crate::pki::Certificate;

/// Why the authority registry could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// No such official.
    #[error("no official with id {0:?} is registered")]
    UnknownOfficial(String),
    /// No such delegation.
    #[error("no delegation with id {0}")]
    UnknownDelegation(i64),
    /// An official with this id exists already.
    #[error("an official with id {0:?} is already registered")]
    DuplicateOfficial(String),
    /// Stored data is inconsistent.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The delegation was revoked already.
    #[error("ủy quyền số {0} đã bị thu hồi trước đó / delegation {0} is already revoked")]
    AlreadyRevoked(i64),
    /// The certificate is registered to another official.
    #[error(
        "chứng thư số này đã đăng ký cho {0}; chuyển bằng lệnh move-cert / this certificate is registered to {0}; move it explicitly with `kyso officials move-cert`"
    )]
    CertificateTaken(String),
    /// The citizen ID belongs to another official.
    #[error("số định danh này đã thuộc về {0} / this citizen ID already belongs to {0}")]
    CitizenIdTaken(String),
}

/// A delegation as stored: the officials and the grant it derives from by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationRecord {
    /// Its id.
    pub id: i64,
    /// The mark.
    pub mark: Mark,
    /// Who delegates.
    pub delegator_id: String,
    /// To whom.
    pub delegate_id: String,
    /// Document kinds covered.
    pub scope: Vec<String>,
    /// Start of validity.
    pub valid_from: OffsetDateTime,
    /// End of validity.
    pub valid_until: OffsetDateTime,
    /// Decision number.
    pub basis_number: String,
    /// Decision date, `YYYY-MM-DD`.
    pub basis_date: String,
    /// The grant (DER attribute certificate).
    pub grant_der: Vec<u8>,
    /// When and why it was revoked.
    pub revoked: Option<(OffsetDateTime, String)>,
    /// The grant it derives from.
    pub source_id: Option<i64>,
    /// When it was recorded.
    pub granted_at: OffsetDateTime,
}

/// Which delegations [`Records::delegations`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delegations<'a> {
    /// Every one.
    All,
    /// Those granted to this official.
    To(&'a str),
    /// Those where this official delegates or is delegated to.
    Involving(&'a str),
}

/// What the authority register asks of the store that keeps it. Record operations only; the
/// rules live in the functions of this module, which every store shares.
pub trait Records {
    /// The official with this id.
    fn official(&self, id: &str) -> Result<Option<Official>, crate::store::StoreError>;

    /// Every official, by id.
    fn officials(&self) -> Result<Vec<Official>, crate::store::StoreError>;

    /// The id of the official with this citizen ID, if any.
    fn official_with_citizen_id(
        &self,
        citizen_id: &str,
    ) -> Result<Option<String>, crate::store::StoreError>;

    /// Stores a new official, registered at `at`; a taken id is a constraint error.
    fn insert_official(
        &self,
        o: &Official,
        at: OffsetDateTime,
    ) -> Result<(), crate::store::StoreError>;

    /// The official `cert` is registered to, if any.
    fn certificate_holder(
        &self,
        cert: &Certificate,
    ) -> Result<Option<String>, crate::store::StoreError>;

    /// Registers `cert` (not registered yet) to `official_id` at `at`, with where its key lives.
    fn insert_certificate(
        &self,
        official_id: &str,
        cert: &Certificate,
        key_location: &str,
        at: OffsetDateTime,
    ) -> Result<(), crate::store::StoreError>;

    /// Records where the key of registered `cert` lives now.
    fn set_key_location(
        &self,
        cert: &Certificate,
        key_location: &str,
    ) -> Result<(), crate::store::StoreError>;

    /// Registers `cert` to `official_id` instead of its current holder.
    fn set_certificate_holder(
        &self,
        cert: &Certificate,
        official_id: &str,
    ) -> Result<(), crate::store::StoreError>;

    /// The certificates (DER) registered to `official_id`, oldest first.
    fn certificates_of(&self, official_id: &str) -> Result<Vec<Vec<u8>>, crate::store::StoreError>;

    /// The certificates (DER) registered to `official_id` with where each one's key lives,
    /// newest first.
    fn keys_of(
        &self,
        official_id: &str,
    ) -> Result<Vec<(Vec<u8>, String)>, crate::store::StoreError>;

    /// Records that `title` signs `kind` in its own right (again: no change).
    fn allow_title(&self, title: &str, kind: &str) -> Result<(), crate::store::StoreError>;

    /// Whether `title` signs `kind` in its own right.
    fn title_signs(&self, title: &str, kind: &str) -> Result<bool, crate::store::StoreError>;

    /// Stores delegation `d` (its grant made, its id and revocation ignored), recorded at `at`;
    /// returns its id.
    fn insert_delegation(
        &self,
        d: &Delegation,
        at: OffsetDateTime,
    ) -> Result<i64, crate::store::StoreError>;

    /// The delegation with this id.
    fn delegation(&self, id: i64) -> Result<Option<DelegationRecord>, crate::store::StoreError>;

    /// The delegations `which` names, by id.
    fn delegations(
        &self,
        which: Delegations<'_>,
    ) -> Result<Vec<DelegationRecord>, crate::store::StoreError>;

    /// Records that delegation `id` is revoked from `at` for `reason`, unless it is revoked
    /// already or unknown; whether it was.
    fn revoke_delegation(
        &self,
        id: i64,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<bool, crate::store::StoreError>;
}

/// RFC 3339 text of `t`.
pub fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Registers an official at `at` (the use case's clock: this module reads none).
pub fn add_official(db: &impl Records, o: &Official, at: OffsetDateTime) -> Result<(), StoreError> {
    if let Some(cid) = &o.citizen_id
        && let Some(holder) = db.official_with_citizen_id(cid)?
    {
        return Err(StoreError::CitizenIdTaken(holder));
    }
    match db.insert_official(o, at) {
        Err(e) if e.is_constraint() => Err(StoreError::DuplicateOfficial(o.id.clone())),
        other => Ok(other?),
    }
}

/// An official by id.
pub fn official(db: &impl Records, id: &str) -> Result<Official, StoreError> {
    db.official(id)?
        .ok_or_else(|| StoreError::UnknownOfficial(id.to_owned()))
}

/// All officials, by id.
pub fn officials(db: &impl Records) -> Result<Vec<Official>, StoreError> {
    Ok(db.officials()?)
}

/// Registers `cert` for `official_id` at `at`, with where its key lives (`file:PATH`,
/// `pkcs11:URI`, `external`).
pub fn add_certificate(
    db: &impl Records,
    official_id: &str,
    cert: &Certificate,
    key_location: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    official(db, official_id)?;
    if let Some(holder) = certificate_holder(db, cert)? {
        if holder != official_id {
            return Err(StoreError::CertificateTaken(holder));
        }
        // Registered to the same official already: only where its key lives may change.
        db.set_key_location(cert, key_location)?;
        return Ok(());
    }
    db.insert_certificate(official_id, cert, key_location, at)?;
    Ok(())
}

/// Who `cert` is registered to, if anyone.
pub fn certificate_holder(
    db: &impl Records,
    cert: &Certificate,
) -> Result<Option<String>, StoreError> {
    Ok(db.certificate_holder(cert)?)
}

/// Moves `cert` to `official_id` (an explicit, audited admin act); returns its previous holder.
pub fn move_certificate(
    db: &impl Records,
    cert: &Certificate,
    official_id: &str,
) -> Result<String, StoreError> {
    official(db, official_id)?;
    let holder = certificate_holder(db, cert)?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "certificate {} is not registered to anyone",
            cert.serial_hex()
        ))
    })?;
    db.set_certificate_holder(cert, official_id)?;
    Ok(holder)
}

fn certificate(der: Vec<u8>) -> Result<Certificate, StoreError> {
    Certificate::from_der(der).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The certificates registered to `official_id`.
pub fn certificates_of(
    db: &impl Records,
    official_id: &str,
) -> Result<Vec<Certificate>, StoreError> {
    db.certificates_of(official_id)?
        .into_iter()
        .map(certificate)
        .collect()
}

/// The certificates registered to `official_id` with where each one's key is
/// (`file:PATH`, `pkcs11:URI` or `external`), newest first.
pub fn keys_of(
    db: &impl Records,
    official_id: &str,
) -> Result<Vec<(Certificate, String)>, StoreError> {
    db.keys_of(official_id)?
        .into_iter()
        .map(|(d, loc)| certificate(d).map(|c| (c, loc)))
        .collect()
}

/// Lets `title` sign `kind` in its own right.
pub fn allow_title(db: &impl Records, title: &str, kind: &str) -> Result<(), StoreError> {
    Ok(db.allow_title(title, kind)?)
}

/// Whether `official` signs `kind` in their own right: their title has the power, or they are
/// the agency seal (which seals every kind its agency issues).
pub fn signs_in_own_right(
    db: &impl Records,
    official: &Official,
    kind: &str,
) -> Result<bool, StoreError> {
    if official.is_seal {
        return Ok(true);
    }
    Ok(db.title_signs(&official.title, kind)?)
}

/// Stores a delegation (its grant already issued), granted at `at`; returns its id.
pub fn insert_delegation(
    db: &impl Records,
    d: &Delegation,
    at: OffsetDateTime,
) -> Result<i64, StoreError> {
    Ok(db.insert_delegation(d, at)?)
}

/// How deep a chain of grants may be read: only TL. passes on, once, so real chains have two
/// links; the bound keeps a corrupted cycle from recursing forever.
const MAX_CHAIN: usize = 4;

/// The delegation `r` describes, with its officials and the grants it rests on.
fn assemble(
    db: &impl Records,
    r: DelegationRecord,
    depth: usize,
) -> Result<Delegation, StoreError> {
    let source = match r.source_id {
        None => None,
        Some(_) if depth >= MAX_CHAIN => {
            return Err(StoreError::Corrupt("chain of grants too deep".into()));
        }
        Some(id) => Some(Box::new(delegation_at_depth(db, id, depth + 1)?)),
    };
    Ok(Delegation {
        id: r.id,
        mark: r.mark,
        delegator: official(db, &r.delegator_id)?,
        delegate: official(db, &r.delegate_id)?,
        scope: r.scope,
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        basis_number: r.basis_number,
        basis_date: r.basis_date,
        grant_der: r.grant_der,
        revoked: r.revoked,
        source,
    })
}

fn assemble_all(db: &impl Records, which: Delegations<'_>) -> Result<Vec<Delegation>, StoreError> {
    db.delegations(which)?
        .into_iter()
        .map(|r| assemble(db, r, 0))
        .collect()
}

/// A delegation by id.
pub fn delegation(db: &impl Records, id: i64) -> Result<Delegation, StoreError> {
    delegation_at_depth(db, id, 0)
}

fn delegation_at_depth(db: &impl Records, id: i64, depth: usize) -> Result<Delegation, StoreError> {
    let r = db
        .delegation(id)?
        .ok_or(StoreError::UnknownDelegation(id))?;
    assemble(db, r, depth)
}

/// When delegation `id` was recorded.
pub fn granted_at(db: &impl Records, id: i64) -> Result<OffsetDateTime, StoreError> {
    Ok(db
        .delegation(id)?
        .ok_or(StoreError::UnknownDelegation(id))?
        .granted_at)
}

/// Delegations granted to `official_id`.
pub fn delegations_to(db: &impl Records, official_id: &str) -> Result<Vec<Delegation>, StoreError> {
    assemble_all(db, Delegations::To(official_id))
}

/// All delegations (for one official, as delegator or delegate, when given).
pub fn delegations(
    db: &impl Records,
    official_id: Option<&str>,
) -> Result<Vec<Delegation>, StoreError> {
    match official_id {
        Some(id) => assemble_all(db, Delegations::Involving(id)),
        None => assemble_all(db, Delegations::All),
    }
}

/// Revokes delegation `id` from `at` for `reason`. Signatures made before `at` stay valid.
pub fn revoke(
    db: &impl Records,
    id: i64,
    at: OffsetDateTime,
    reason: &str,
) -> Result<(), StoreError> {
    if !db.revoke_delegation(id, at, reason)? {
        delegation(db, id)?; // unknown → UnknownDelegation
        return Err(StoreError::AlreadyRevoked(id));
    }
    Ok(())
}
