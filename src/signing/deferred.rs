//! Deferred (external) signing: the key is on an official's USB token or at a remote signing
//! service. [`begin`] prepares the PDF and the signed attributes and yields the digest to sign
//! (SHA-256 of the DER signed attributes); [`PendingSignature::complete`] takes the raw
//! signature value back, checks it against the signer certificate, and finishes the PDF.
//!
//! A pending signature is stored in the registry ([`save`], [`load`]) under a random handle and
//! expires: one never completed cannot be completed later. The records sit behind [`Pending`],
//! which the registry implements; what a pending signature is, and when it may be completed,
//! is decided here.

use ::cms::signed_data::SignedAttributes;
use der::{Decode, Encode};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    PreparedPdf, SignOptions, SignatureAlgorithm, SigningError, check_certificate, cms, cms_chain,
    prepare, verify_signature_value,
};
use crate::pki::{Certificate, hex_upper};
use crate::store::StoreError;

/// A prepared signature waiting for its value.
#[derive(Debug, Clone)]
pub struct PendingSignature {
    /// Random handle naming it.
    pub handle: String,
    /// The PDF with the placeholder.
    pub prepared: PreparedPdf,
    /// DER of the signed attributes (SET OF): what the external key signs.
    pub signed_attrs: Vec<u8>,
    /// Signer certificate.
    pub signer: Certificate,
    /// Certificates for the CMS besides the signer's.
    pub chain: Vec<Certificate>,
    /// The algorithm the external key signs with.
    pub algorithm: SignatureAlgorithm,
    /// After this, it cannot be completed.
    pub expires_at: OffsetDateTime,
    /// The official who signs, when authority was checked.
    pub official_id: Option<String>,
    /// The register entry being signed, when the PDF is one kyso issued.
    pub document_id: Option<String>,
    /// What the use case decided when preparing (JSON text), kept so that completing records
    /// the same kind, capacity and field.
    pub context: String,
}

/// Upper bound of a signature value for `cert`'s key and `algorithm`.
pub fn max_signature_len(cert: &Certificate, algorithm: SignatureAlgorithm) -> usize {
    match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => 72,
        // The RSAPublicKey DER is a little longer than the modulus: a safe upper bound.
        _ => cert.public_key_bits().len(),
    }
}

/// Prepares `input` for an external signature by `signer` with `algorithm`.
pub fn begin(
    input: &[u8],
    signer: &Certificate,
    chain: &[Certificate],
    algorithm: SignatureAlgorithm,
    opts: &SignOptions,
    ttl: time::Duration,
) -> Result<PendingSignature, SigningError> {
    check_certificate(signer, chain, opts)?;
    let prepared = prepare(
        input,
        signer,
        chain,
        algorithm,
        // Room for a signature timestamp, added at completion, when TSAs are configured.
        max_signature_len(signer, algorithm) + opts.timestamper.as_ref().map_or(0, |t| t.reserve()),
        opts,
        None,
    )?;
    let attrs = cms::signed_attributes(
        &prepared.document_digest(),
        signer,
        &opts.extra_signed_attributes,
    )?;
    let signed_attrs = cms::to_be_signed(&attrs)?;
    let mut handle = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut handle)
        .map_err(|_| SigningError::Signer("no randomness for the handle".into()))?;
    Ok(PendingSignature {
        handle: hex_upper(&handle).to_ascii_lowercase(),
        prepared,
        signed_attrs,
        signer: signer.clone(),
        chain: cms_chain(chain, opts),
        algorithm,
        expires_at: opts.signing_time + ttl,
        official_id: None,
        document_id: None,
        context: "{}".to_owned(),
    })
}

impl PendingSignature {
    /// The digest the external key signs: SHA-256 of the DER signed attributes.
    pub fn digest(&self) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.signed_attrs);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// Embeds `signature` (raw RSA or DER ECDSA value) and returns the signed PDF. A value that
    /// does not verify with the signer certificate (another key, a corrupted transfer) is refused.
    pub fn complete(self, signature: &[u8], now: OffsetDateTime) -> Result<Vec<u8>, SigningError> {
        self.complete_stamped(signature, now, None).map(|s| s.bytes)
    }

    /// [`complete`](Self::complete), asking `timestamper`'s TSAs for a signature timestamp over
    /// the value (PAdES B-T). It fits when the signature was prepared with TSAs configured
    /// (room reserved); otherwise, or when no TSA answers, the result is B-B and says the
    /// timestamp is owed.
    pub fn complete_stamped(
        self,
        signature: &[u8],
        now: OffsetDateTime,
        timestamper: Option<&super::timestamp::TimestampClient>,
    ) -> Result<super::SignedPdf, SigningError> {
        if now > self.expires_at {
            return Err(SigningError::Signer(format!(
                "the prepared signature {} expired at {}; prepare it again",
                self.handle,
                self.expires_at.format(&Rfc3339).unwrap_or_default()
            )));
        }
        verify_signature_value(&self.signer, self.algorithm, &self.signed_attrs, signature)?;
        let attrs = SignedAttributes::from_der(&self.signed_attrs)
            .map_err(|e| SigningError::Cms(e.to_string()))?;
        // The attributes must re-encode to exactly what was signed.
        if attrs
            .to_der()
            .map_err(|e| SigningError::Cms(e.to_string()))?
            != self.signed_attrs
        {
            return Err(SigningError::Cms(
                "signed attributes do not round-trip".into(),
            ));
        }
        let (cms, outcome) = super::assemble_stamped(
            attrs,
            signature,
            self.algorithm,
            &self.signer,
            &self.chain,
            self.prepared.capacity(),
            timestamper,
            now,
        )?;
        Ok(super::SignedPdf {
            bytes: self.prepared.embed(&cms)?,
            timestamps: vec![outcome],
        })
    }
}

/// The name an algorithm is stored under.
pub fn algorithm_code(a: SignatureAlgorithm) -> &'static str {
    match a {
        SignatureAlgorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
        SignatureAlgorithm::RsaPssSha256 => "rsa-pss-sha256",
        SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
    }
}

/// The algorithm a stored name means.
pub fn algorithm_from_code(s: &str) -> Option<SignatureAlgorithm> {
    match s {
        "rsa-pkcs1-sha256" => Some(SignatureAlgorithm::RsaPkcs1Sha256),
        "rsa-pss-sha256" => Some(SignatureAlgorithm::RsaPssSha256),
        "ecdsa-p256-sha256" => Some(SignatureAlgorithm::EcdsaP256Sha256),
        _ => None,
    }
}

/// The pending signatures' records (a port, implemented by the registry): one per handle,
/// kept until completed (then emptied) or expired (then deleted).
pub trait Pending {
    /// Stores `p`, prepared at `prepared_at`.
    fn insert_pending(
        &self,
        p: &PendingSignature,
        prepared_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The record of `handle`, if there is one.
    fn pending(&self, handle: &str) -> Result<Option<StoredPending>, StoreError>;
    /// Who `handle` was prepared for: `None` when there is no such handle, `Some(None)` for a
    /// signature prepared without an official.
    fn pending_owner(&self, handle: &str) -> Result<Option<Option<String>>, StoreError>;
    /// Marks `handle` completed at `at` and drops its prepared PDF, only if it is not completed
    /// yet; returns whether it moved.
    fn complete_pending(&self, handle: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// The handles not yet completed, each with its expiry (`None` when the stored expiry
    /// cannot be read).
    fn open_pending(&self) -> Result<Vec<(String, Option<OffsetDateTime>)>, StoreError>;
    /// Deletes the record of `handle`; returns how many were deleted (0 or 1).
    fn delete_pending(&self, handle: &str) -> Result<usize, StoreError>;
}

/// A pending signature as stored, before [`load`] checks it.
#[derive(Debug, Clone)]
pub struct StoredPending {
    /// The PDF with the placeholder (empty once completed).
    pub prepared: Vec<u8>,
    /// Where `/Contents` is in it (start, end).
    pub contents: (usize, usize),
    /// The signature field.
    pub field: String,
    /// DER of the signed attributes.
    pub signed_attrs: Vec<u8>,
    /// DER certificates, the signer's first.
    pub certificates: Vec<Vec<u8>>,
    /// The algorithm's stored name.
    pub algorithm: String,
    /// The official who signs, when authority was checked.
    pub official_id: Option<String>,
    /// After this, it cannot be completed.
    pub expires_at: OffsetDateTime,
    /// Whether it was completed.
    pub completed: bool,
    /// The register entry being signed.
    pub document_id: Option<String>,
    /// The use case's decision (JSON text).
    pub context: String,
}

/// Why a pending signature could not be stored or found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PendingError {
    /// The registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No pending signature has this handle.
    #[error("no prepared signature with handle {0:?}")]
    Unknown(String),
    /// It was completed already.
    #[error("the prepared signature {0:?} was already completed")]
    Completed(String),
    /// It expired.
    #[error("the prepared signature {0:?} expired at {1}; prepare it again")]
    Expired(String, String),
    /// Stored data does not read back.
    #[error("stored prepared signature is corrupt: {0}")]
    Corrupt(String),
}

/// Stores `p` in the registry, prepared at `now`.
pub fn save(
    db: &impl Pending,
    p: &PendingSignature,
    now: OffsetDateTime,
) -> Result<(), PendingError> {
    Ok(db.insert_pending(p, now)?)
}

/// Loads the pending signature `handle`, refusing completed and expired ones (expired ones are
/// deleted: their prepared state is of no further use).
pub fn load(
    db: &impl Pending,
    handle: &str,
    now: OffsetDateTime,
) -> Result<PendingSignature, PendingError> {
    let stored = db
        .pending(handle)?
        .ok_or_else(|| PendingError::Unknown(handle.to_owned()))?;
    if stored.completed {
        return Err(PendingError::Completed(handle.to_owned()));
    }
    let expires_at = stored.expires_at;
    if now > expires_at {
        db.delete_pending(handle)?;
        return Err(PendingError::Expired(
            handle.to_owned(),
            expires_at.format(&Rfc3339).unwrap_or_default(),
        ));
    }
    let mut certs = stored
        .certificates
        .into_iter()
        .map(|d| Certificate::from_der(d).map_err(|e| PendingError::Corrupt(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(PendingError::Corrupt("no signer certificate".into()));
    }
    let signer = certs.remove(0);
    let (start, end) = stored.contents;
    let prepared = PreparedPdf::from_parts(stored.prepared, start, end, stored.field)
        .map_err(|e| PendingError::Corrupt(e.to_string()))?;
    Ok(PendingSignature {
        handle: handle.to_owned(),
        prepared,
        signed_attrs: stored.signed_attrs,
        signer,
        chain: certs,
        algorithm: algorithm_from_code(&stored.algorithm)
            .ok_or_else(|| PendingError::Corrupt(format!("algorithm {}", stored.algorithm)))?,
        expires_at,
        official_id: stored.official_id,
        document_id: stored.document_id,
        context: stored.context,
    })
}

/// Marks `handle` completed at `now` and drops its stored PDF, as one atomic state change:
/// only a handle not yet completed moves, so of several concurrent completions exactly one
/// wins. Returns whether this call was the one.
pub fn mark_completed(
    db: &impl Pending,
    handle: &str,
    now: OffsetDateTime,
) -> Result<bool, PendingError> {
    Ok(db.complete_pending(handle, now)?)
}

/// Deletes pending signatures that expired before `now` (or whose expiry cannot be read);
/// returns how many.
pub fn purge_expired(db: &impl Pending, now: OffsetDateTime) -> Result<usize, PendingError> {
    let mut n = 0;
    for (handle, expires_at) in db.open_pending()? {
        if expires_at.is_none_or(|t| t < now) {
            n += db.delete_pending(&handle)?;
        }
    }
    Ok(n)
}
