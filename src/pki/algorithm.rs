//! The signature schemes kyso signs with, by themselves: their names, object identifiers and
//! `AlgorithmIdentifier`s, and the check of a signature value with a certificate's key.
//!
//! Signing (CMS signatures, delegation grants, audit checkpoints) and validation (grants found
//! inside a signature) both need them; kept here, beside the certificate type, neither has to
//! import the other for them.

use const_oid::ObjectIdentifier;
use der::{Any, Decode};
use spki::AlgorithmIdentifierOwned;

use super::Certificate;

/// sha256WithRSAEncryption.
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// id-RSASSA-PSS.
pub const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
/// ecdsa-with-SHA256.
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// RSASSA-PSS-params for SHA-256, MGF1-SHA-256, salt length 32 (what ring's `RSA_PSS_SHA256`
/// produces): a fixed DER value, spelled out because no crate in the der 0.7 stack names it
/// without pulling a second digest implementation.
const PSS_SHA256_PARAMS: &[u8] = &[
    0x30, 0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
    0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
    0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
];

/// Signature algorithms kyso produces (Circular 15/2025/TT-BKHCN: RSA ≥ 2048 with PKCS#1 v1.5 or
/// PSS, ECDSA ≥ 256; SHA-256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt.
    RsaPssSha256,
    /// ECDSA P-256 with SHA-256 (DER signature).
    EcdsaP256Sha256,
}

impl SignatureAlgorithm {
    /// The scheme's name in the API: `rsa-pkcs1-sha256`, `rsa-pss-sha256`, `ecdsa-p256-sha256`.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            SignatureAlgorithm::RsaPssSha256 => "rsa-pss-sha256",
            SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        }
    }

    /// The scheme an `AlgorithmIdentifier`'s object identifier names, if kyso knows it. (The
    /// PSS parameters are not compared: ring checks the signature with SHA-256 and MGF1-SHA-256
    /// and fails it otherwise.)
    pub fn from_oid(oid: ObjectIdentifier) -> Option<SignatureAlgorithm> {
        match oid {
            SHA256_WITH_RSA => Some(SignatureAlgorithm::RsaPkcs1Sha256),
            RSASSA_PSS => Some(SignatureAlgorithm::RsaPssSha256),
            ECDSA_WITH_SHA256 => Some(SignatureAlgorithm::EcdsaP256Sha256),
            _ => None,
        }
    }

    /// The `AlgorithmIdentifier` that names this scheme in CMS and in certificates.
    pub fn identifier(self) -> Result<AlgorithmIdentifierOwned, der::Error> {
        Ok(match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => AlgorithmIdentifierOwned {
                oid: SHA256_WITH_RSA,
                parameters: Some(Any::null()),
            },
            SignatureAlgorithm::RsaPssSha256 => AlgorithmIdentifierOwned {
                oid: RSASSA_PSS,
                parameters: Some(Any::from_der(PSS_SHA256_PARAMS)?),
            },
            SignatureAlgorithm::EcdsaP256Sha256 => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
        })
    }

    fn verification(self) -> &'static dyn ring::signature::VerificationAlgorithm {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            SignatureAlgorithm::RsaPssSha256 => &ring::signature::RSA_PSS_2048_8192_SHA256,
            SignatureAlgorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_ASN1,
        }
    }
}

/// A signature value that does not verify with the certificate's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature value does not verify with the certificate's public key")]
pub struct SignatureMismatch;

/// Verifies `signature` over `to_be_signed` with `cert`'s public key.
pub fn verify_signature_value(
    cert: &Certificate,
    algorithm: SignatureAlgorithm,
    to_be_signed: &[u8],
    signature: &[u8],
) -> Result<(), SignatureMismatch> {
    ring::signature::UnparsedPublicKey::new(algorithm.verification(), cert.public_key_bits())
        .verify(to_be_signed, signature)
        .map_err(|_| SignatureMismatch)
}
