//! Certificates and keys: loading PEM files, reading what kyso needs from a certificate, the
//! development PKI ([`dev`]) and the development-mode guard ([`is_development_certificate`]).
//!
//! Certificates are kept as DER bytes ([`Certificate`]) and parsed on demand with x509-parser,
//! which is forgiving about the encodings real CAs produce; CMS structures are built with the
//! RustCrypto `der` stack elsewhere.

pub mod algorithm;
pub mod dev;

use std::path::{Path, PathBuf};

use ::time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Upper bound on one certificate's DER size. Real certificates are a few KiB; the bound keeps a
/// hostile file from making kyso allocate without limit.
pub const MAX_CERTIFICATE_LEN: usize = 64 * 1024;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not PEM, or holds no block of the expected kind.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A certificate's DER does not parse.
    #[error("not a valid X.509 certificate: {0}")]
    BadCertificate(String),
    /// A certificate is larger than [`MAX_CERTIFICATE_LEN`].
    #[error("certificate of {0} bytes exceeds the limit of {MAX_CERTIFICATE_LEN}")]
    CertificateTooLarge(usize),
}

/// An X.509 certificate, kept as its DER encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .finish()
    }
}

impl Certificate {
    /// Accepts DER bytes that parse as a certificate, with nothing after them.
    pub fn from_der(der: Vec<u8>) -> Result<Certificate, PkiError> {
        if der.len() > MAX_CERTIFICATE_LEN {
            return Err(PkiError::CertificateTooLarge(der.len()));
        }
        match X509Certificate::from_der(&der) {
            Ok(([], _)) => Ok(Certificate { der }),
            Ok(_) => Err(PkiError::BadCertificate(
                "trailing bytes after the certificate".into(),
            )),
            Err(e) => Err(PkiError::BadCertificate(e.to_string())),
        }
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn parsed(&self) -> X509Certificate<'_> {
        // Checked in `from_der`, so parsing again cannot fail.
        X509Certificate::from_der(&self.der)
            .map(|(_, c)| c)
            .expect("certificate DER was validated at construction")
    }

    /// SHA-256 of the DER encoding: the certificate's fingerprint.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The subject as an RFC 4514 string (UTF-8 names kept as they are).
    pub fn subject(&self) -> String {
        name_to_string(self.parsed().subject())
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        name_to_string(self.parsed().issuer())
    }

    /// The subject's common name, if it has one.
    pub fn common_name(&self) -> Option<String> {
        let c = self.parsed();
        let cn = c.subject().iter_common_name().next()?;
        attribute_text(cn)
    }

    /// The subject's title attribute (2.5.4.12), e.g. "Phó Chủ tịch".
    pub fn title(&self) -> Option<String> {
        let c = self.parsed();
        let title = c
            .subject()
            .iter_by_oid(&x509_parser::oid_registry::OID_X509_TITLE)
            .next()?;
        attribute_text(title)
    }

    /// The serial number in upper-case hexadecimal.
    pub fn serial_hex(&self) -> String {
        hex_upper(self.parsed().raw_serial())
    }

    /// The raw (big-endian, two's complement) serial number bytes.
    pub fn raw_serial(&self) -> Vec<u8> {
        self.parsed().raw_serial().to_vec()
    }

    /// The DER of the issuer Name.
    pub fn issuer_der(&self) -> Vec<u8> {
        self.parsed().issuer().as_raw().to_vec()
    }

    /// The DER of the subject Name.
    pub fn subject_der(&self) -> Vec<u8> {
        self.parsed().subject().as_raw().to_vec()
    }

    /// The DER of the SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.parsed().public_key().raw.to_vec()
    }

    /// The subjectPublicKey bits: an RSAPublicKey DER for RSA, the uncompressed point for EC.
    pub fn public_key_bits(&self) -> Vec<u8> {
        self.parsed().public_key().subject_public_key.data.to_vec()
    }

    /// The validity window (notBefore, notAfter).
    pub fn validity(&self) -> (OffsetDateTime, OffsetDateTime) {
        let c = self.parsed();
        let v = c.validity();
        (v.not_before.to_datetime(), v.not_after.to_datetime())
    }

    /// Whether the key usage extension allows signing documents: digitalSignature or
    /// nonRepudiation (contentCommitment). A certificate that states no key usage at all is
    /// not accepted for signing: officials' certificates always state it, and a certificate
    /// that does not is more likely a TLS or test certificate used by mistake.
    pub fn allows_document_signing(&self) -> bool {
        match self.parsed().key_usage() {
            Ok(Some(ku)) => ku.value.digital_signature() || ku.value.non_repudiation(),
            _ => false,
        }
    }

    /// Whether the certificate is a CA's (basicConstraints cA = TRUE): such a certificate
    /// issues certificates and never signs documents for a person.
    pub fn is_ca(&self) -> bool {
        matches!(self.parsed().basic_constraints(), Ok(Some(bc)) if bc.value.ca)
    }
}

fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    attr.as_str().ok().map(str::to_owned).or_else(|| {
        // BMPString names (UCS-2) appear in older Vietnamese certificates.
        let raw = attr.attr_value().data;
        if raw.len() % 2 == 0 {
            let units: Vec<u16> = raw
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        } else {
            None
        }
    })
}

/// Renders a Name as RFC 4514 text, most specific attribute first, keeping UTF-8 as is.
fn name_to_string(name: &X509Name<'_>) -> String {
    let mut parts = Vec::new();
    for rdn in name.iter() {
        for attr in rdn.iter() {
            let key = short_name(attr.attr_type());
            let value = attribute_text(attr)
                .unwrap_or_else(|| format!("#{}", hex_upper(attr.attr_value().data)));
            parts.push(format!("{key}={}", escape_rdn_value(&value)));
        }
    }
    parts.reverse();
    parts.join(",")
}

fn short_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    use x509_parser::oid_registry as r;
    let known = [
        (r::OID_X509_COMMON_NAME, "CN"),
        (r::OID_X509_COUNTRY_NAME, "C"),
        (r::OID_X509_LOCALITY_NAME, "L"),
        (r::OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (r::OID_X509_ORGANIZATION_NAME, "O"),
        (r::OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (r::OID_X509_TITLE, "title"),
        (r::OID_X509_SERIALNUMBER, "serialNumber"),
    ];
    known
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or_else(|| oid.to_id_string())
}

fn escape_rdn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, ch) in v.chars().enumerate() {
        let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (ch == '#' || ch == ' '));
        if special {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Upper-case hexadecimal of `bytes`.
pub fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn read_pem_blocks(path: &Path) -> Result<Vec<::pem::Pem>, PkiError> {
    let text = std::fs::read(path).map_err(|source| PkiError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    ::pem::parse_many(&text).map_err(|e| PkiError::Pem {
        path: path.to_path_buf(),
        message: format!("not PEM: {e}"),
    })
}

/// Every `CERTIFICATE` block of PEM text (an upload), bounded to 64 KiB.
pub fn parse_certificates(pem_text: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    if pem_text.len() > 64 * 1024 {
        return Err(PkiError::CertificateTooLarge(pem_text.len()));
    }
    let blocks =
        pem::parse_many(pem_text).map_err(|e| PkiError::BadCertificate(format!("not PEM: {e}")))?;
    let certs: Vec<Certificate> = blocks
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| Certificate::from_der(p.into_contents()))
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(PkiError::BadCertificate(
            "no CERTIFICATE block in the text".into(),
        ));
    }
    Ok(certs)
}

/// Reads every `CERTIFICATE` block of a PEM file (at least one).
pub fn load_certificates(path: &Path) -> Result<Vec<Certificate>, PkiError> {
    let certs: Vec<Certificate> = read_pem_blocks(path)?
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| Certificate::from_der(p.into_contents()))
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PkiError::Pem {
            path: path.to_path_buf(),
            message: "no CERTIFICATE block in the file".into(),
        });
    }
    Ok(certs)
}

/// A private key as read from a PEM file: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
/// The bytes are wiped on drop and never printed.
pub enum PrivateKeyDer {
    /// PKCS#8 PrivateKeyInfo.
    Pkcs8(Vec<u8>),
    /// PKCS#1 RSAPrivateKey.
    Pkcs1Rsa(Vec<u8>),
}

impl std::fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PrivateKeyDer::Pkcs8(_) => "PrivateKeyDer::Pkcs8(<redacted>)",
            PrivateKeyDer::Pkcs1Rsa(_) => "PrivateKeyDer::Pkcs1Rsa(<redacted>)",
        })
    }
}

impl Drop for PrivateKeyDer {
    fn drop(&mut self) {
        let bytes = match self {
            PrivateKeyDer::Pkcs8(b) | PrivateKeyDer::Pkcs1Rsa(b) => b,
        };
        bytes.iter_mut().for_each(|b| *b = 0);
    }
}

/// Reads the private key of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer, PkiError> {
    for block in read_pem_blocks(path)? {
        match block.tag() {
            "PRIVATE KEY" => return Ok(PrivateKeyDer::Pkcs8(block.into_contents())),
            "RSA PRIVATE KEY" => return Ok(PrivateKeyDer::Pkcs1Rsa(block.into_contents())),
            "EC PRIVATE KEY" => {
                return Err(PkiError::Pem {
                    path: path.to_path_buf(),
                    message: "SEC1 EC key: convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)"
                        .into(),
                });
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(PkiError::Pem {
                    path: path.to_path_buf(),
                    message: "encrypted private keys are not supported; keep keys in an HSM or token instead".into(),
                });
            }
            _ => {}
        }
    }
    Err(PkiError::Pem {
        path: path.to_path_buf(),
        message: "no PRIVATE KEY block in the file".into(),
    })
}

/// The committed development root (`keys-dev/root-ca.pem`), refused outside development mode.
const DEV_ROOT_PEM: &str = include_str!("../../keys-dev/root-ca.pem");

/// The organisational unit every certificate of a `kyso dev-pki` PKI carries in its subject.
pub const DEV_PKI_MARKER: &str = "KYSO DEVELOPMENT PKI - NOT FOR PRODUCTION";

fn dev_root_fingerprint() -> Option<[u8; 32]> {
    let block = ::pem::parse(DEV_ROOT_PEM).ok()?;
    ring::digest::digest(&ring::digest::SHA256, block.contents())
        .as_ref()
        .try_into()
        .ok()
}

/// Whether `der` is development material that must be refused outside development mode: the
/// committed keys-dev root (by its SHA-256 fingerprint), a certificate it issued directly, or any
/// certificate made by `kyso dev-pki` (its subject or issuer carries [`DEV_PKI_MARKER`]).
///
/// Unparseable bytes are not development material; they fail elsewhere for what they are.
pub fn is_development_certificate(der: &[u8]) -> bool {
    let fp = ring::digest::digest(&ring::digest::SHA256, der);
    let dev_fp = dev_root_fingerprint();
    if dev_fp.as_ref().map(|f| &f[..]) == Some(fp.as_ref()) {
        return true;
    }
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    let marked = |name: &X509Name<'_>| {
        name.iter_organizational_unit()
            .any(|ou| ou.as_str().map(|s| s == DEV_PKI_MARKER).unwrap_or(false))
    };
    if marked(cert.subject()) || marked(cert.issuer()) {
        return true;
    }
    // Issued by the committed root, even without the marker.
    if let Ok(block) = ::pem::parse(DEV_ROOT_PEM)
        && let Ok((_, root)) = X509Certificate::from_der(block.contents())
    {
        return cert.issuer().as_raw() == root.subject().as_raw()
            && cert.verify_signature(Some(root.public_key())).is_ok();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_dev_root_is_development_material() {
        let block = ::pem::parse(DEV_ROOT_PEM).unwrap();
        assert!(is_development_certificate(block.contents()));
    }

    #[test]
    fn garbage_is_not_development_material() {
        assert!(!is_development_certificate(b"not a certificate"));
        assert!(!is_development_certificate(&[]));
    }

    #[test]
    fn certificate_rejects_trailing_bytes_and_junk() {
        let block = ::pem::parse(DEV_ROOT_PEM).unwrap();
        let mut der = block.contents().to_vec();
        assert!(Certificate::from_der(der.clone()).is_ok());
        der.push(0);
        assert!(Certificate::from_der(der).is_err());
        assert!(Certificate::from_der(vec![0x30, 0x82, 0xff]).is_err());
    }
}
