//! Signature algorithms accepted by Circular 15/2025/TT-BKHCN, mapped onto `ring`: RSA PKCS#1 v1.5
//! and RSASSA-PSS (2048–8192 bits), ECDSA on P-256 and P-384; digests SHA-256/384/512.
//!
//! One function verifies any signature kyso meets (CMS signer, certificate, CRL) so the set of
//! accepted algorithms is decided in one place.

use const_oid::ObjectIdentifier as Oid;
use ring::signature as sig;
use x509_parser::certificate::X509Certificate;

use super::structure::Cursor;

pub(crate) const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(crate) const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(crate) const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
const RSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Digest {
    /// The digest named by an OID, if accepted.
    pub fn from_oid(oid: &Oid) -> Option<Digest> {
        match *oid {
            SHA256 => Some(Digest::Sha256),
            SHA384 => Some(Digest::Sha384),
            SHA512 => Some(Digest::Sha512),
            _ => None,
        }
    }

    /// The ring algorithm.
    pub fn ring(self) -> &'static ring::digest::Algorithm {
        match self {
            Digest::Sha256 => &ring::digest::SHA256,
            Digest::Sha384 => &ring::digest::SHA384,
            Digest::Sha512 => &ring::digest::SHA512,
        }
    }

    /// Digest of the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        let mut ctx = ring::digest::Context::new(self.ring());
        for p in parts {
            ctx.update(p);
        }
        ctx.finish().as_ref().to_vec()
    }
}

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The algorithm (or key/digest combination) is not accepted.
    #[error("unsupported signature algorithm: {0}")]
    Unsupported(String),
    /// The public key cannot be read.
    #[error("unreadable public key")]
    BadKey,
    /// The signature value does not verify.
    #[error("signature value does not verify")]
    Invalid,
}

/// Verifies `signature` over `message`.
///
/// `alg` and `alg_params` are the signature AlgorithmIdentifier (its parameters as DER, if any);
/// `digest_hint` is the separate digest algorithm CMS carries (needed when `alg` is the bare
/// `rsaEncryption` or `id-ecPublicKey`); `spki` is the signer's SubjectPublicKeyInfo DER.
pub fn verify(
    alg: &Oid,
    alg_params: Option<&[u8]>,
    digest_hint: Option<Digest>,
    spki: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    use x509_parser::prelude::FromDer;
    let (_, key) =
        x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).map_err(|_| CryptoError::BadKey)?;
    let key_alg =
        Oid::from_bytes(key.algorithm.algorithm.as_bytes()).map_err(|_| CryptoError::BadKey)?;
    let key_bytes: &[u8] = &key.subject_public_key.data;
    let unsupported = || CryptoError::Unsupported(alg.to_string());
    let algorithm: &'static dyn sig::VerificationAlgorithm = match *alg {
        RSA | RSA_SHA256 | RSA_SHA384 | RSA_SHA512 => {
            if key_alg != RSA {
                return Err(CryptoError::BadKey);
            }
            let digest = match *alg {
                RSA_SHA256 => Digest::Sha256,
                RSA_SHA384 => Digest::Sha384,
                RSA_SHA512 => Digest::Sha512,
                _ => digest_hint.ok_or_else(unsupported)?,
            };
            match digest {
                Digest::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                Digest::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Digest::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            }
        }
        RSA_PSS => {
            if key_alg != RSA && key_alg != RSA_PSS {
                return Err(CryptoError::BadKey);
            }
            let digest = pss_digest(alg_params.ok_or_else(unsupported)?).ok_or_else(unsupported)?;
            match digest {
                Digest::Sha256 => &sig::RSA_PSS_2048_8192_SHA256,
                Digest::Sha384 => &sig::RSA_PSS_2048_8192_SHA384,
                Digest::Sha512 => &sig::RSA_PSS_2048_8192_SHA512,
            }
        }
        EC_PUBLIC_KEY | ECDSA_SHA256 | ECDSA_SHA384 | ECDSA_SHA512 => {
            if key_alg != EC_PUBLIC_KEY {
                return Err(CryptoError::BadKey);
            }
            let curve = key
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .and_then(|o| Oid::from_bytes(o.as_bytes()).ok())
                .ok_or(CryptoError::BadKey)?;
            let digest = match *alg {
                ECDSA_SHA256 => Digest::Sha256,
                ECDSA_SHA384 => Digest::Sha384,
                ECDSA_SHA512 => Digest::Sha512,
                _ => digest_hint.ok_or_else(unsupported)?,
            };
            match (curve, digest) {
                (P256, Digest::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
                (P256, Digest::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
                (P384, Digest::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
                (P384, Digest::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
                // ring has no ECDSA with SHA-512; such signatures are reported, not guessed at.
                (curve, digest) => {
                    return Err(CryptoError::Unsupported(format!(
                        "ECDSA on {curve} with {digest:?}"
                    )));
                }
            }
        }
        _ => return Err(unsupported()),
    };
    sig::UnparsedPublicKey::new(algorithm, key_bytes)
        .verify(message, signature)
        .map_err(|_| CryptoError::Invalid)
}

/// The digest of RSASSA-PSS parameters, accepted only in the form ring verifies: MGF1 with the
/// same digest and a salt as long as the digest.
fn pss_digest(params: &[u8]) -> Option<Digest> {
    let mut outer = Cursor::new(params);
    let (_, seq) = outer.expect(0x30).ok()?;
    let mut cur = Cursor::new(seq);
    // Defaults (SHA-1, salt 20) are not accepted: SHA-1 is not allowed.
    let mut hash = None;
    let mut mgf_hash = None;
    let mut salt = 20usize;
    while !cur.is_empty() {
        let (tag, _, value) = cur.der().ok()?;
        match tag {
            0xa0 => hash = Some(alg_oid(value)?),
            0xa1 => {
                let mut c = Cursor::new(value);
                let (_, mgf) = c.expect(0x30).ok()?;
                let mut m = Cursor::new(mgf);
                let (_, _mgf1) = m.expect(0x06).ok()?;
                let (whole, _) = m.expect(0x30).ok()?;
                mgf_hash = Some(alg_oid(whole)?);
            }
            0xa2 => {
                let mut c = Cursor::new(value);
                let (_, int) = c.expect(0x02).ok()?;
                if int.len() > 4 {
                    return None;
                }
                salt = int.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            }
            _ => {}
        }
    }
    let digest = Digest::from_oid(&hash?)?;
    let ok = mgf_hash.is_some_and(|m| Digest::from_oid(&m) == Some(digest))
        && salt == digest.ring().output_len();
    ok.then_some(digest)
}

/// The OID of an AlgorithmIdentifier SEQUENCE.
pub(crate) fn alg_oid(der: &[u8]) -> Option<Oid> {
    let mut c = Cursor::new(der);
    let (_, seq) = c.expect(0x30).ok()?;
    let mut inner = Cursor::new(seq);
    let (_, oid) = inner.expect(0x06).ok()?;
    Oid::from_bytes(oid).ok()
}

/// Lower-case hex of `bytes` (serial numbers, digests in reports).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `child`'s signature verifies with `issuer`'s key.
pub(crate) fn signed_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    signed_with(
        &child.signature_algorithm,
        child.tbs_certificate.as_ref(),
        &child.signature_value.data,
        issuer,
    )
}

/// Whether `signature` over `signed` (a certificate's or a CRL's to-be-signed part), made with
/// `algorithm`, verifies with `issuer`'s key.
pub(crate) fn signed_with(
    algorithm: &x509_parser::x509::AlgorithmIdentifier<'_>,
    signed: &[u8],
    signature: &[u8],
    issuer: &X509Certificate<'_>,
) -> bool {
    let Ok(alg) = Oid::from_bytes(algorithm.algorithm.as_bytes()) else {
        return false;
    };
    let params_der = raw_params(algorithm.parameters.as_ref());
    verify(
        &alg,
        params_der.as_deref(),
        None,
        issuer.public_key().raw,
        signed,
        signature,
    )
    .is_ok()
}

/// Re-encodes AlgorithmIdentifier parameters as DER (only RSASSA-PSS needs them).
fn raw_params(any: Option<&x509_parser::der_parser::asn1_rs::Any<'_>>) -> Option<Vec<u8>> {
    use x509_parser::der_parser::asn1_rs::ToDer;
    any.and_then(|a| a.to_der_vec().ok())
}
