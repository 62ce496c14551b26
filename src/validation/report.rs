//! The validation report: ETSI EN 319 102-1 indications per signature and a verdict for the
//! document, with the facts behind them kept apart (intact, trusted, coverage, modifications).
//!
//! The JSON form of these types is the `kyso verify --json` contract documented in README.md;
//! field names and string values are part of it.

use serde::Serialize;

pub use super::findings::{Finding, Indication, Signer, SubIndication};

/// Whether the signed bytes still match the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Integrity {
    /// Digest and signature value check out.
    Intact,
    /// The signed bytes or the signature value do not match.
    Broken,
    /// The signature could not be read far enough to tell.
    Unreadable,
}

/// How much of the file the signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Coverage {
    /// The whole file (except the signature value itself).
    #[serde(rename = "whole-file")]
    WholeFile,
    /// One revision; later revisions follow.
    #[serde(rename = "revision")]
    Revision,
}

/// What changed after the signed revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Modifications {
    /// Nothing: the signature covers the whole file.
    None,
    /// Only changes allowed after a signature (signatures, DSS, timestamps, permitted form filling).
    Allowed,
    /// Something else changed.
    Disallowed,
}

/// How far the changes after a signature go, ordered as pyHanko orders its modification levels
/// (none < LTA updates < form filling < annotations < other), so that later checks (long-term
/// signatures) can compare levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ModificationLevel {
    /// Nothing changed.
    #[default]
    None,
    /// Only validation data (`/DSS`) and document timestamps were added.
    LtaUpdates,
    /// Form fields were filled or signed (new signatures included).
    FormFilling,
    /// Annotations were added or changed (kyso allows none after a signature).
    Annotations,
    /// Anything else: a disallowed change.
    Other,
}

/// The judgment of one signature.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    /// Fully qualified field name.
    pub field: String,
    /// The signer, when the certificate could be read.
    pub signer: Option<Signer>,
    /// `/M` (or the signing-time attribute), RFC 3339, UTC.
    pub claimed_signing_time: Option<String>,
    /// Intact, broken or unreadable.
    pub integrity: Integrity,
    /// Whole file or one revision; absent when the byte range could not be read.
    pub coverage: Option<Coverage>,
    /// What changed after the signed revision.
    pub modifications_after: Modifications,
    /// The same, graded: `none`, `lta-updates`, `form-filling`, `annotations`, `other`.
    pub modification_level: ModificationLevel,
    /// Object numbers changed in a disallowed way after signing (`"12 0"`), or a description when
    /// the change is not one object.
    pub changed_objects: Vec<String>,
    /// Certificate subjects from the trust anchor down to the signer (empty if no chain).
    pub chain: Vec<String>,
    /// Whether the chain ends at a configured trust anchor.
    pub trusted: bool,
    /// ETSI indication.
    pub indication: Indication,
    /// ETSI sub-indication, absent when TOTAL-PASSED.
    pub sub_indication: Option<SubIndication>,
    /// What was found, in the order checked.
    pub messages: Vec<String>,
    /// The capacity claimed (own right or a delegation) and what of it verified; absent when the
    /// signature claims none.
    pub capacity: Option<super::capacity::CapacityReport>,
    /// Signature timestamps (PAdES B-T): each token's time, TSA and verdict.
    pub timestamps: Vec<super::timestamp::TimestampReport>,
    /// How each certificate of the signer's path was checked for revocation (signer first),
    /// and the source used: an OCSP response or CRL from the file's DSS, the signature, the
    /// caller, or none.
    pub revocation: Vec<super::chain::RevocationCheck>,
    /// The time the signature is proven to have existed at (the earliest valid signature
    /// timestamp, or a later document timestamp covering it), RFC 3339; absent without one.
    pub proof_of_existence: Option<String>,
    /// A document timestamp's genTime, Unix seconds (what it proves for earlier revisions).
    #[serde(skip)]
    pub timestamp_time: Option<i64>,
    /// Subfilter, for the human report.
    #[serde(skip)]
    pub subfilter: String,
}

/// The verdict on a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Verdict {
    /// Every signature TOTAL-PASSED and no disallowed change follows any.
    #[serde(rename = "TOTAL-PASSED")]
    Passed,
    /// A signature TOTAL-FAILED or a disallowed modification exists.
    #[serde(rename = "TOTAL-FAILED")]
    Failed,
    /// Otherwise not all signatures could be confirmed.
    #[serde(rename = "INDETERMINATE")]
    Indeterminate,
    /// The file has no signature.
    #[serde(rename = "NO-SIGNATURE")]
    NoSignature,
}

/// The report on a document.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    /// The document verdict.
    pub indication: Verdict,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Signatures in revision order.
    pub signatures: Vec<SignatureReport>,
}

impl ValidationReport {
    /// Builds the report and its verdict from the signatures.
    pub fn new(sha256: String, signatures: Vec<SignatureReport>) -> Self {
        let indication = if signatures.is_empty() {
            Verdict::NoSignature
        } else if signatures.iter().any(|s| {
            s.indication == Indication::TotalFailed
                || s.modifications_after == Modifications::Disallowed
        }) {
            Verdict::Failed
        } else if signatures
            .iter()
            .all(|s| s.indication == Indication::TotalPassed)
        {
            Verdict::Passed
        } else {
            Verdict::Indeterminate
        };
        ValidationReport {
            indication,
            sha256,
            signatures,
        }
    }
}
