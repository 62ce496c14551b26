//! What every check of a signature speaks in: the ETSI EN 319 102-1 indications and
//! sub-indications, a finding (one of them with its reason) and who signed.
//!
//! The checks (certificate paths, revocation, timestamps, capacity) produce findings and
//! [`crate::validation::report`] assembles them into the report; keeping the words apart from
//! the report lets the checks use them without importing the report that imports them. Their
//! JSON form is part of the `kyso verify --json` contract (README.md).

use serde::Serialize;

/// The main status indication (ETSI EN 319 102-1, 5.1.3), ordered from best to worst verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub enum Indication {
    /// Every check passed.
    #[serde(rename = "TOTAL-PASSED")]
    TotalPassed,
    /// The checks could not conclude (e.g. no trusted chain, expired without proof of existence).
    #[serde(rename = "INDETERMINATE")]
    Indeterminate,
    /// The signature is definitely invalid (broken, forged, revoked before signing).
    #[serde(rename = "TOTAL-FAILED")]
    TotalFailed,
}

impl Indication {
    /// The ETSI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Indication::TotalPassed => "TOTAL-PASSED",
            Indication::Indeterminate => "INDETERMINATE",
            Indication::TotalFailed => "TOTAL-FAILED",
        }
    }
}

/// Sub-indications (ETSI EN 319 102-1, 5.1.3, tables 5 and 6) that kyso reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum SubIndication {
    /// The signature or the file is not in a form that can be processed (includes disallowed
    /// structures: bad /ByteRange, foreign bytes in the gap, unreadable CMS).
    FormatFailure,
    /// The digest of the signed bytes differs from the signed message-digest.
    HashFailure,
    /// The signature value does not verify with the signer's public key.
    SigCryptoFailure,
    /// The signer's certificate was revoked before the claimed signing time.
    Revoked,
    /// The signing time lies before the signer's certificate was issued.
    NotYetValid,
    /// The signer's certificate cannot be identified (signing-certificate attribute mismatch).
    NoSigningCertificateFound,
    /// No chain to a configured trust anchor.
    NoCertificateChainFound,
    /// A certificate in the chain breaks a constraint (CA flag, key usage, path length, critical
    /// extension).
    ChainConstraintsFailure,
    /// The signer's certificate may not be used for signatures (key usage).
    SigConstraintsFailure,
    /// The algorithm or key size is not accepted.
    CryptoConstraintsFailure,
    /// A certificate is outside its validity period and nothing proves the signature existed
    /// while it was valid.
    OutOfBoundsNoPoe,
    /// The signer was revoked after the claimed signing time, and nothing proves the signature
    /// existed before.
    RevokedNoPoe,
    /// A CA certificate in the chain is revoked.
    RevokedCaNoPoe,
}

impl SubIndication {
    /// The ETSI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SubIndication::FormatFailure => "FORMAT_FAILURE",
            SubIndication::HashFailure => "HASH_FAILURE",
            SubIndication::SigCryptoFailure => "SIG_CRYPTO_FAILURE",
            SubIndication::Revoked => "REVOKED",
            SubIndication::NotYetValid => "NOT_YET_VALID",
            SubIndication::NoSigningCertificateFound => "NO_SIGNING_CERTIFICATE_FOUND",
            SubIndication::NoCertificateChainFound => "NO_CERTIFICATE_CHAIN_FOUND",
            SubIndication::ChainConstraintsFailure => "CHAIN_CONSTRAINTS_FAILURE",
            SubIndication::SigConstraintsFailure => "SIG_CONSTRAINTS_FAILURE",
            SubIndication::CryptoConstraintsFailure => "CRYPTO_CONSTRAINTS_FAILURE",
            SubIndication::OutOfBoundsNoPoe => "OUT_OF_BOUNDS_NO_POE",
            SubIndication::RevokedNoPoe => "REVOKED_NO_POE",
            SubIndication::RevokedCaNoPoe => "REVOKED_CA_NO_POE",
        }
    }
}

/// A failed check: the indication it leads to and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// TOTAL-FAILED or INDETERMINATE.
    pub indication: Indication,
    /// Which.
    pub sub: SubIndication,
    /// For the reader.
    pub message: String,
}

impl Finding {
    /// A TOTAL-FAILED finding.
    pub fn failed(sub: SubIndication, message: impl Into<String>) -> Self {
        Finding {
            indication: Indication::TotalFailed,
            sub,
            message: message.into(),
        }
    }
    /// An INDETERMINATE finding.
    pub fn indeterminate(sub: SubIndication, message: impl Into<String>) -> Self {
        Finding {
            indication: Indication::Indeterminate,
            sub,
            message: message.into(),
        }
    }
}

/// Who signed, from the signer's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// Subject distinguished name.
    pub subject: String,
    /// Subject common name.
    pub common_name: String,
    /// Serial number, hex.
    pub serial: String,
    /// Issuer distinguished name.
    pub issuer: String,
}
