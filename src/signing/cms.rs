//! CMS SignedData for PAdES baseline B-B (ETSI EN 319 142-1 §6.3): a detached signature over the
//! PDF byte range with the signed attributes content-type, message-digest and ESS
//! signing-certificate-v2, no signing-time (the PDF's `/M` carries the claimed time), and the
//! signer's chain in `certificates`.
//!
//! Built with the RustCrypto `cms` / `der` / `x509-cert` types; the bytes to sign are the DER of
//! the signed attributes as a SET OF, exactly as RFC 5652 §5.4 prescribes.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use super::{SignatureAlgorithm, SigningError};
use crate::pki::Certificate;

/// id-aa-signingCertificateV2 (RFC 5035).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// id-sha256.
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub use crate::pki::algorithm::{ECDSA_WITH_SHA256, RSASSA_PSS, SHA256_WITH_RSA};

/// ESSCertIDv2 (RFC 5035); `hashAlgorithm` is omitted because SHA-256 is its DEFAULT.
#[derive(Clone, Debug, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

/// IssuerSerial (RFC 5035).
#[derive(Clone, Debug, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// SigningCertificateV2 (RFC 5035), without policies.
#[derive(Clone, Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn der_err(what: &'static str) -> impl Fn(der::Error) -> SigningError {
    move |e| SigningError::Cms(format!("{what}: {e}"))
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, SigningError> {
    let mut values = SetOfVec::new();
    values.insert(value).map_err(der_err("attribute value"))?;
    Ok(Attribute { oid, values })
}

fn x509(cert: &Certificate) -> Result<x509_cert::Certificate, SigningError> {
    x509_cert::Certificate::from_der(cert.der()).map_err(der_err("certificate"))
}

/// The signed attributes for a document digest (SHA-256 of the byte range) and signer, plus
/// `extra` attributes (e.g. CAdES signer-attributes-v2 carrying a delegation).
pub fn signed_attributes(
    document_digest: &[u8; 32],
    signer: &Certificate,
    extra: &[Attribute],
) -> Result<SignedAttributes, SigningError> {
    let cert = x509(signer)?;
    let cert_hash = ring::digest::digest(&ring::digest::SHA256, signer.der());
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(cert_hash.as_ref()).map_err(der_err("cert hash"))?,
            issuer_serial: IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    cert.tbs_certificate.issuer.clone(),
                )],
                serial_number: cert.tbs_certificate.serial_number.clone(),
            },
        }],
    };
    let mut attrs = SetOfVec::new();
    attrs
        .insert(attribute(
            ID_CONTENT_TYPE,
            Any::encode_from(&ID_DATA).map_err(der_err("content-type"))?,
        )?)
        .map_err(der_err("content-type"))?;
    let digest = OctetString::new(document_digest.as_slice()).map_err(der_err("message-digest"))?;
    attrs
        .insert(attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&digest).map_err(der_err("message-digest"))?,
        )?)
        .map_err(der_err("message-digest"))?;
    attrs
        .insert(attribute(
            ID_AA_SIGNING_CERTIFICATE_V2,
            Any::encode_from(&ess).map_err(der_err("signing-certificate-v2"))?,
        )?)
        .map_err(der_err("signing-certificate-v2"))?;
    for a in extra {
        attrs
            .insert(a.clone())
            .map_err(der_err("extra signed attribute"))?;
    }
    Ok(attrs)
}

/// The bytes the signer signs: DER of the signed attributes as `SET OF` (RFC 5652 §5.4).
pub fn to_be_signed(attrs: &SignedAttributes) -> Result<Vec<u8>, SigningError> {
    attrs.to_der().map_err(der_err("signed attributes"))
}

/// The CMS signatureAlgorithm identifier for `alg`.
pub fn signature_algorithm_identifier(
    alg: SignatureAlgorithm,
) -> Result<AlgorithmIdentifierOwned, SigningError> {
    alg.identifier().map_err(der_err("PSS parameters"))
}

/// Assembles the DER ContentInfo(SignedData) from the signed attributes, the raw signature
/// value and the chain (signer first).
pub fn assemble(
    attrs: SignedAttributes,
    signature: &[u8],
    algorithm: SignatureAlgorithm,
    signer: &Certificate,
    chain: &[Certificate],
) -> Result<Vec<u8>, SigningError> {
    assemble_with_timestamp(attrs, signature, algorithm, signer, chain, None)
}

/// The CAdES signature-time-stamp unsigned attribute (ETSI EN 319 122-1 §5.3) holding `token`,
/// the DER ContentInfo of an RFC 3161 token over the signature value: what makes B-B into B-T.
pub fn signature_time_stamp(token: &[u8]) -> Result<Attribute, SigningError> {
    attribute(
        crate::validation::timestamp::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
        Any::from_der(token).map_err(der_err("time-stamp token"))?,
    )
}

/// [`assemble`], with the signature timestamp `token` (DER ContentInfo) as unsigned attribute.
/// Adding it leaves the signed attributes and the signature value as they are.
pub fn assemble_with_timestamp(
    attrs: SignedAttributes,
    signature: &[u8],
    algorithm: SignatureAlgorithm,
    signer: &Certificate,
    chain: &[Certificate],
    token: Option<&[u8]>,
) -> Result<Vec<u8>, SigningError> {
    let unsigned_attrs = match token {
        Some(t) => {
            let mut set = SetOfVec::new();
            set.insert(signature_time_stamp(t)?)
                .map_err(der_err("unsigned attributes"))?;
            Some(set)
        }
        None => None,
    };
    let signer_x509 = x509(signer)?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    };
    let mut certs = SetOfVec::new();
    for c in std::iter::once(signer).chain(chain.iter().filter(|c| *c != signer)) {
        certs
            .insert(CertificateChoices::Certificate(x509(c)?))
            .map_err(der_err("certificate set"))?;
    }
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer_x509.tbs_certificate.issuer.clone(),
            serial_number: signer_x509.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm: signature_algorithm_identifier(algorithm)?,
        signature: OctetString::new(signature).map_err(der_err("signature"))?,
        unsigned_attrs,
    };
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms
        .insert(sha256)
        .map_err(der_err("digest algorithms"))?;
    let mut infos = SetOfVec::new();
    infos.insert(signer_info).map_err(der_err("signer infos"))?;
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(certs)),
        crls: None,
        signer_infos: SignerInfos(infos),
    };
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).map_err(der_err("signed data"))?,
    };
    content_info.to_der().map_err(der_err("content info"))
}
