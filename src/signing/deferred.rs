//! Deferred (external) signing: the key is on an official's USB token or at a remote signing
//! service. [`begin`] prepares the PDF and the signed attributes and yields the digest to sign
//! (SHA-256 of the DER signed attributes); [`PendingSignature::complete`] takes the raw
//! signature value back, checks it against the signer certificate, and finishes the PDF.
//!
//! A pending signature is stored in the registry ([`save`], [`load`]) under a random handle and
//! expires: one never completed cannot be completed later.

use ::cms::signed_data::SignedAttributes;
use der::{Decode, Encode};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    PreparedPdf, SignOptions, SignatureAlgorithm, SigningError, check_certificate, cms, cms_chain,
    prepare, verify_signature_value,
};
use crate::pki::{Certificate, hex_upper};

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
        )?;
        Ok(super::SignedPdf {
            bytes: self.prepared.embed(&cms)?,
            timestamps: vec![outcome],
        })
    }
}

fn algorithm_code(a: SignatureAlgorithm) -> &'static str {
    match a {
        SignatureAlgorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
        SignatureAlgorithm::RsaPssSha256 => "rsa-pss-sha256",
        SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
    }
}

fn algorithm_from_code(s: &str) -> Option<SignatureAlgorithm> {
    match s {
        "rsa-pkcs1-sha256" => Some(SignatureAlgorithm::RsaPkcs1Sha256),
        "rsa-pss-sha256" => Some(SignatureAlgorithm::RsaPssSha256),
        "ecdsa-p256-sha256" => Some(SignatureAlgorithm::EcdsaP256Sha256),
        _ => None,
    }
}

/// Why a pending signature could not be stored or found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PendingError {
    /// SQLite failed.
    #[error("registry error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    conn: &Connection,
    p: &PendingSignature,
    now: OffsetDateTime,
) -> Result<(), PendingError> {
    let certs: Vec<String> = std::iter::once(&p.signer)
        .chain(&p.chain)
        .map(|c| hex_upper(c.der()))
        .collect();
    let (start, end) = p.prepared.contents_range();
    conn.execute(
        "INSERT INTO pending_signatures(handle, prepared, contents_start, contents_end, field, signed_attrs, certificates, algorithm, official_id, created_at, expires_at, document_id, decision)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
        params![
            p.handle,
            p.prepared.bytes(),
            start as i64,
            end as i64,
            p.prepared.field(),
            p.signed_attrs,
            serde_json::to_string(&certs).unwrap_or_default(),
            algorithm_code(p.algorithm),
            p.official_id,
            now.format(&Rfc3339).unwrap_or_default(),
            p.expires_at.format(&Rfc3339).unwrap_or_default(),
            p.document_id,
            p.context,
        ],
    )?;
    Ok(())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Loads the pending signature `handle`, refusing completed and expired ones (expired ones are
/// deleted: their prepared state is of no further use).
pub fn load(
    conn: &Connection,
    handle: &str,
    now: OffsetDateTime,
) -> Result<PendingSignature, PendingError> {
    type Row = (
        Vec<u8>,
        i64,
        i64,
        String,
        Vec<u8>,
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        String,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT prepared, contents_start, contents_end, field, signed_attrs, certificates, algorithm, official_id, expires_at, completed_at, document_id, decision
             FROM pending_signatures WHERE handle = ?1",
            [handle],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?)),
        )
        .optional()?;
    let (
        bytes,
        start,
        end,
        field,
        signed_attrs,
        certs,
        alg,
        official_id,
        expires,
        completed,
        document_id,
        context,
    ) = row.ok_or_else(|| PendingError::Unknown(handle.to_owned()))?;
    if completed.is_some() {
        return Err(PendingError::Completed(handle.to_owned()));
    }
    let expires_at = OffsetDateTime::parse(&expires, &Rfc3339)
        .map_err(|e| PendingError::Corrupt(e.to_string()))?;
    if now > expires_at {
        conn.execute("DELETE FROM pending_signatures WHERE handle = ?1", [handle])?;
        return Err(PendingError::Expired(handle.to_owned(), expires));
    }
    let certs: Vec<String> =
        serde_json::from_str(&certs).map_err(|e| PendingError::Corrupt(e.to_string()))?;
    let mut certs = certs
        .iter()
        .map(|h| {
            unhex(h)
                .ok_or_else(|| PendingError::Corrupt("certificate hex".into()))
                .and_then(|d| {
                    Certificate::from_der(d).map_err(|e| PendingError::Corrupt(e.to_string()))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(PendingError::Corrupt("no signer certificate".into()));
    }
    let signer = certs.remove(0);
    let prepared = PreparedPdf::from_parts(bytes, start as usize, end as usize, field)
        .map_err(|e| PendingError::Corrupt(e.to_string()))?;
    Ok(PendingSignature {
        handle: handle.to_owned(),
        prepared,
        signed_attrs,
        signer,
        chain: certs,
        algorithm: algorithm_from_code(&alg)
            .ok_or_else(|| PendingError::Corrupt(format!("algorithm {alg}")))?,
        expires_at,
        official_id,
        document_id,
        context,
    })
}

/// Marks `handle` completed at `now` and drops its stored PDF, as one atomic state change:
/// only a handle not yet completed moves, so of several concurrent completions exactly one
/// wins. Returns whether this call was the one.
pub fn mark_completed(
    conn: &Connection,
    handle: &str,
    now: OffsetDateTime,
) -> Result<bool, PendingError> {
    let n = conn.execute(
        "UPDATE pending_signatures SET completed_at = ?2, prepared = x''
         WHERE handle = ?1 AND completed_at IS NULL",
        params![handle, now.format(&Rfc3339).unwrap_or_default()],
    )?;
    Ok(n == 1)
}

/// Deletes pending signatures that expired before `now`; returns how many.
pub fn purge_expired(conn: &Connection, now: OffsetDateTime) -> Result<usize, PendingError> {
    let mut st = conn
        .prepare("SELECT handle, expires_at FROM pending_signatures WHERE completed_at IS NULL")?;
    let rows: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut n = 0;
    for (h, e) in rows {
        if OffsetDateTime::parse(&e, &Rfc3339)
            .map(|t| t < now)
            .unwrap_or(true)
        {
            n += conn.execute("DELETE FROM pending_signatures WHERE handle = ?1", [h])?;
        }
    }
    Ok(n)
}
