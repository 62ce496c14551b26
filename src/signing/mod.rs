//! PAdES signing: CMS SignedData over a PDF byte range, produced by a [`Signer`] wherever its
//! key lives.
//!
//! Signing runs in stages, after pyHanko's signing session, so that a key that is not on the
//! server (a USB token, a remote signing service) can sign between them:
//!
//! 1. [`prepare`] appends an incremental update holding the signature field, its widget and a
//!    signature dictionary whose `/Contents` is a zero-filled placeholder sized from the actual
//!    chain, giving a [`PreparedPdf`];
//! 2. [`PreparedPdf::document_digest`] hashes the two byte ranges around the placeholder, and
//!    [`cms::signed_attributes`] wraps that digest into the signed attributes whose DER
//!    ([`cms::to_be_signed`]) is what the key signs;
//! 3. [`cms::assemble`] builds the CMS from the signature value, and [`PreparedPdf::embed`]
//!    writes it into the placeholder. Nothing else in the file changes after stage 1.
//!
//! [`sign_pdf`] runs the three stages with an in-process [`Signer`] such as [`KeySigner`].
//! Every produced signature is verified against the signer certificate's public key before
//! the PDF is released, so a key that does not match its certificate can never yield a file.

pub mod cms;
pub mod deferred;
pub mod image;
mod key;
pub(crate) mod pades;
pub mod page_appearance;
pub mod timestamp;

pub use key::KeySigner;
pub use pades::{AppearanceBuilder, AppearanceContext, PreparedPdf, prepare};

use time::OffsetDateTime;

use crate::pdf::{Limits, PdfError};
use crate::pki::Certificate;

/// Why a document could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The input is not a PDF kyso can sign.
    #[error(transparent)]
    Pdf(#[from] PdfError),
    /// The private key cannot be used.
    #[error("the private key cannot be used: {0}")]
    Key(String),
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// The certificate does not allow signing documents.
    #[error(
        "certificate {subject} does not allow document signing (key usage digitalSignature or nonRepudiation is required)"
    )]
    KeyUsage {
        /// The certificate's subject.
        subject: String,
    },
    /// The certificate is not valid at the signing time.
    #[error(
        "certificate {subject} is not valid at the signing time {at} (valid from {not_before} to {not_after})"
    )]
    CertificateNotValid {
        /// The certificate's subject.
        subject: String,
        /// The signing time.
        at: OffsetDateTime,
        /// Start of validity.
        not_before: OffsetDateTime,
        /// End of validity.
        not_after: OffsetDateTime,
    },
    /// Development PKI material outside development mode.
    #[error(
        "certificate {subject} belongs to the development PKI (keys-dev); it is accepted only in development mode (--dev)"
    )]
    DevelopmentPki {
        /// The certificate's subject.
        subject: String,
    },
    /// The named field exists but is not a signature field.
    #[error("field {0:?} is not a signature field")]
    NotSignatureField(String),
    /// The named signature field already holds a signature.
    #[error("signature field {0:?} is already signed")]
    FieldAlreadySigned(String),
    /// The signature value does not verify with the certificate's public key.
    #[error(
        "the signature value does not verify with the signer certificate's public key (wrong key?)"
    )]
    SignatureMismatch,
    /// The signer (token, remote service) failed.
    #[error("the signer failed: {0}")]
    Signer(String),
    /// Building the CMS structure failed.
    #[error("cannot build the CMS signature: {0}")]
    Cms(String),
    /// The CMS does not fit the reserved `/Contents` space.
    #[error("the signature ({needed} bytes) does not fit the reserved space ({capacity} bytes)")]
    ContentsOverflow {
        /// Bytes needed.
        needed: usize,
        /// Bytes reserved.
        capacity: usize,
    },
}

pub use crate::pki::algorithm::SignatureAlgorithm;

/// Whatever holds a signing key: a key file ([`KeySigner`]), later a PKCS#11 token or a remote
/// signing service. It signs once per document and never reveals the key.
///
/// The trait is synchronous: a token or HTTP signer blocks inside `sign`, which callers run off
/// the async executor; a signer that cannot answer at once (an official's USB token in a
/// browser) uses the staged API instead ([`prepare`] → digest → [`PreparedPdf::embed`]).
pub trait Signer {
    /// The signer's certificate.
    fn certificate(&self) -> &Certificate;
    /// The rest of the chain (intermediates, optionally the root), embedded in the CMS.
    fn chain(&self) -> &[Certificate];
    /// The algorithm `sign` uses.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// Upper bound of a signature value's length, for sizing the placeholder.
    fn max_signature_len(&self) -> usize;
    /// Signs `to_be_signed` (the DER signed attributes; the signer hashes it).
    fn sign(&self, to_be_signed: &[u8]) -> Result<Vec<u8>, SigningError>;
}

/// What to sign and how.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// Sign into this field: an existing empty signature field (fully qualified name), or a new
    /// invisible field of this name. `None` creates `Signature1`, `Signature2`, ….
    pub field: Option<String>,
    /// Reason (`/Reason`), e.g. "Chứng thực".
    pub reason: Option<String>,
    /// Location (`/Location`), e.g. "UBND xã Tân Lạc".
    pub location: Option<String>,
    /// Claimed signing time, written to `/M` in Vietnam time.
    pub signing_time: OffsetDateTime,
    /// Development mode: accept the development PKI.
    pub development_mode: bool,
    /// Limits for parsing the input.
    pub limits: Limits,
    /// Skip the check that the signer certificate is valid at `signing_time`. Only for
    /// building test material (an expired signer); kyso's CLI never sets it.
    pub dangerous_skip_validity_check: bool,
    /// More signed attributes, such as CAdES signer-attributes-v2 with the claimed role and a
    /// delegation grant ([`crate::authority::grant::signer_attributes`]).
    pub extra_signed_attributes: Vec<x509_cert::attr::Attribute>,
    /// More certificates for the CMS `certificates` set, such as the delegator's, so a verifier
    /// can check a grant offline.
    pub extra_certificates: Vec<Certificate>,
    /// Ask these TSAs for a signature timestamp (PAdES B-T); `None` signs B-B.
    pub timestamper: Option<timestamp::TimestampClient>,
}

impl SignOptions {
    /// Options signing at `signing_time` (the caller's clock: signing reads none of its own),
    /// into a new or default field, outside development mode.
    pub fn at(signing_time: OffsetDateTime) -> Self {
        SignOptions {
            field: None,
            reason: None,
            location: None,
            signing_time,
            development_mode: false,
            limits: Limits::default(),
            dangerous_skip_validity_check: false,
            extra_signed_attributes: Vec::new(),
            extra_certificates: Vec::new(),
            timestamper: None,
        }
    }
}

/// Checks that `cert` (with `chain`) may sign at `opts.signing_time`: key usage, validity and
/// the development-mode guard. Run before anything is signed.
pub fn check_certificate(
    cert: &Certificate,
    chain: &[Certificate],
    opts: &SignOptions,
) -> Result<(), SigningError> {
    if !opts.development_mode
        && let Some(dev) = std::iter::once(cert)
            .chain(chain)
            .find(|c| crate::pki::is_development_certificate(c.der()))
    {
        return Err(SigningError::DevelopmentPki {
            subject: dev.common_name().unwrap_or_else(|| dev.subject()),
        });
    }
    if !cert.allows_document_signing() {
        return Err(SigningError::KeyUsage {
            subject: cert.subject(),
        });
    }
    let (not_before, not_after) = cert.validity();
    if !opts.dangerous_skip_validity_check
        && (opts.signing_time < not_before || opts.signing_time > not_after)
    {
        return Err(SigningError::CertificateNotValid {
            subject: cert.subject(),
            at: opts.signing_time,
            not_before,
            not_after,
        });
    }
    Ok(())
}

/// Verifies `signature` over `to_be_signed` with `cert`'s public key.
pub fn verify_signature_value(
    cert: &Certificate,
    algorithm: SignatureAlgorithm,
    to_be_signed: &[u8],
    signature: &[u8],
) -> Result<(), SigningError> {
    crate::pki::algorithm::verify_signature_value(cert, algorithm, to_be_signed, signature)
        .map_err(|_| SigningError::SignatureMismatch)
}

/// Signs `input` with `signer`: the returned bytes start with `input` byte for byte and end
/// with one incremental update holding the signature.
pub fn sign_pdf(
    input: &[u8],
    signer: &dyn Signer,
    opts: &SignOptions,
) -> Result<Vec<u8>, SigningError> {
    sign_pdf_with_appearance(input, signer, opts, None)
}

/// [`sign_pdf`], drawing the widget's appearance with `appearance` when the field is visible.
pub fn sign_pdf_with_appearance(
    input: &[u8],
    signer: &dyn Signer,
    opts: &SignOptions,
    appearance: Option<&dyn AppearanceBuilder>,
) -> Result<Vec<u8>, SigningError> {
    sign_pdf_sequence(
        input,
        &[SignatureStep {
            signer,
            options: opts,
            appearance,
        }],
    )
}

/// One signature of a [`sign_pdf_sequence`].
#[derive(Clone, Copy)]
pub struct SignatureStep<'a> {
    /// Who signs.
    pub signer: &'a dyn Signer,
    /// Into which field, when, with which attributes.
    pub options: &'a SignOptions,
    /// Draws the widget's appearance when the field is visible.
    pub appearance: Option<&'a dyn AppearanceBuilder>,
}

/// Signs `input` several times in a row, each signature in its own incremental update over the
/// one before: the official's signature, then the agency seal, applied together when the
/// official signs. The result is what as many [`sign_pdf_with_appearance`] calls would give,
/// but the input is parsed once (within the first step's limits): each later step works on the
/// parse brought up to date with the objects the step before wrote, instead of reading back the
/// file kyso has just produced, and checks the grown file against its own limits. Nothing is
/// returned unless every step succeeds; a step that fails after an earlier one signed discards
/// that signature (with a token or a remote signer, it was made for nothing).
pub fn sign_pdf_sequence(
    input: &[u8],
    steps: &[SignatureStep<'_>],
) -> Result<Vec<u8>, SigningError> {
    sign_pdf_sequence_stamped(input, steps).map(|s| s.bytes)
}

/// Whether a signature got its signature timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampOutcome {
    /// No TSA is configured: a B-B signature, as asked.
    NotAsked,
    /// A B-T signature: the token's time (RFC 3339 UTC), its TSA and the URL that answered.
    Stamped {
        /// genTime.
        time: String,
        /// The TSA's name.
        tsa: String,
        /// The URL that answered.
        url: String,
    },
    /// No TSA gave a usable token: a valid B-B signature whose timestamp is owed (the outbox
    /// adds one later), with each TSA's reason.
    Owed {
        /// Why each TSA failed.
        reasons: Vec<String>,
    },
}

impl TimestampOutcome {
    /// The audit entry's `timestamp` detail: `null` for B-B as asked, else
    /// `{"state": "stamped", "time", "tsa", "url"}` or `{"state": "owed", "reasons": […]}`.
    pub fn audit_detail(&self) -> serde_json::Value {
        match self {
            TimestampOutcome::NotAsked => serde_json::Value::Null,
            TimestampOutcome::Stamped { time, tsa, url } => {
                serde_json::json!({"state": "stamped", "time": time, "tsa": tsa, "url": url})
            }
            TimestampOutcome::Owed { reasons } => {
                serde_json::json!({"state": "owed", "reasons": reasons})
            }
        }
    }

    /// What to tell the person who signed (Vietnamese, then English); empty for B-B as asked.
    pub fn summary(&self) -> String {
        match self {
            TimestampOutcome::NotAsked => String::new(),
            TimestampOutcome::Stamped { time, tsa, .. } => {
                format!("dấu thời gian / timestamp {time} ({tsa})")
            }
            TimestampOutcome::Owed { reasons } => format!(
                "KHÔNG có dấu thời gian, chữ ký B-B, còn nợ dấu thời gian / NO timestamp: a B-B signature, timestamp owed ({})",
                reasons.join("; ")
            ),
        }
    }
}

/// A signed PDF and, per signature, whether it was timestamped.
#[derive(Debug, Clone)]
pub struct SignedPdf {
    /// The signed file.
    pub bytes: Vec<u8>,
    /// One outcome per step, in order.
    pub timestamps: Vec<TimestampOutcome>,
}

/// [`sign_pdf_sequence`], asking each step's TSAs (when configured) for a signature timestamp
/// over the signature value before the CMS is embedded, and saying per step what came of it.
/// A timestamp that cannot be had never fails the signing: the step is delivered B-B and its
/// outcome says the timestamp is owed.
pub fn sign_pdf_sequence_stamped(
    input: &[u8],
    steps: &[SignatureStep<'_>],
) -> Result<SignedPdf, SigningError> {
    let mut outcomes = Vec::with_capacity(steps.len());
    let Some(first) = steps.first() else {
        return Ok(SignedPdf {
            bytes: input.to_vec(),
            timestamps: outcomes,
        });
    };
    // Every certificate is checked before any parsing or signing.
    for step in steps {
        check_certificate(step.signer.certificate(), step.signer.chain(), step.options)?;
    }
    let mut doc = crate::pdf::load(input, &first.options.limits)?;
    let mut signed: Option<Vec<u8>> = None;
    for (k, step) in steps.iter().enumerate() {
        let (signer, opts) = (step.signer, step.options);
        let cert = signer.certificate();
        let base = signed.as_deref().unwrap_or(input);
        if signed.is_some() {
            // What a fresh load of the grown file with this step's limits would refuse.
            crate::pdf::check_grown(base, &doc, &opts.limits)?;
        }
        let (prepared, update) = pades::prepare_loaded(
            base,
            &doc,
            cert,
            signer.chain(),
            signer.algorithm(),
            // The token's room is reserved as if the signature value were that much longer.
            signer.max_signature_len() + opts.timestamper.as_ref().map_or(0, |t| t.reserve()),
            opts,
            step.appearance,
        )?;
        let attrs = cms::signed_attributes(
            &prepared.document_digest(),
            cert,
            &opts.extra_signed_attributes,
        )?;
        let tbs = cms::to_be_signed(&attrs)?;
        let signature = signer.sign(&tbs)?;
        verify_signature_value(cert, signer.algorithm(), &tbs, &signature)?;
        let chain = cms_chain(signer.chain(), opts);
        let capacity = prepared.capacity();
        let (cms, outcome) = assemble_stamped(
            attrs,
            &signature,
            signer.algorithm(),
            cert,
            &chain,
            capacity,
            opts.timestamper.as_ref(),
            opts.signing_time,
        )?;
        outcomes.push(outcome);
        let bytes = prepared.embed(&cms)?;
        if k + 1 < steps.len() {
            update.apply(&mut doc, &cms, capacity);
        }
        signed = Some(bytes);
    }
    Ok(SignedPdf {
        bytes: signed.unwrap_or_else(|| input.to_vec()),
        timestamps: outcomes,
    })
}

/// The CMS for a signature value, with a signature timestamp from `timestamper` when one is
/// configured, answers, and fits the `capacity` of `/Contents`; otherwise without, saying why
/// the timestamp is owed. Never fails for want of a timestamp. The token is checked as of
/// `now`, the time of the signing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble_stamped(
    attrs: ::cms::signed_data::SignedAttributes,
    signature: &[u8],
    algorithm: SignatureAlgorithm,
    cert: &Certificate,
    chain: &[Certificate],
    capacity: usize,
    timestamper: Option<&timestamp::TimestampClient>,
    now: OffsetDateTime,
) -> Result<(Vec<u8>, TimestampOutcome), SigningError> {
    let Some(client) = timestamper else {
        let cms = cms::assemble(attrs, signature, algorithm, cert, chain)?;
        return Ok((cms, TimestampOutcome::NotAsked));
    };
    let reasons = match client.timestamp(signature, now) {
        Ok(token) => {
            let stamped = cms::assemble_with_timestamp(
                attrs.clone(),
                signature,
                algorithm,
                cert,
                chain,
                Some(&token.der),
            )?;
            if stamped.len() <= capacity {
                let outcome = TimestampOutcome::Stamped {
                    time: token.report.time.unwrap_or_default(),
                    tsa: token.report.tsa,
                    url: token.url,
                };
                return Ok((stamped, outcome));
            }
            vec![format!(
                "{}: the token ({} bytes) does not fit the reserved space; raise [timestamp] reserve_bytes",
                token.url,
                token.der.len()
            )]
        }
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    };
    let cms = cms::assemble(attrs, signature, algorithm, cert, chain)?;
    Ok((cms, TimestampOutcome::Owed { reasons }))
}

/// The certificates the CMS carries besides the signer's: its chain, then the extra ones.
pub fn cms_chain(chain: &[Certificate], opts: &SignOptions) -> Vec<Certificate> {
    let mut all = chain.to_vec();
    for c in &opts.extra_certificates {
        if !all.contains(c) {
            all.push(c.clone());
        }
    }
    all
}
