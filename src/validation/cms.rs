//! The CMS SignedData inside a signature's `/Contents`: parsed with the RustCrypto `cms` crate,
//! checked the way PAdES requires (detached id-data content, exactly one signer, signed attributes
//! with content-type and message-digest, signing-certificate(-v2) binding the signer certificate),
//! and its signature verified with `ring`.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use x509_cert::Certificate;

use super::crypto::{self, CryptoError, Digest};
use super::structure::Cursor;

const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
const ID_CT_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ATTR_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const ATTR_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const ATTR_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
const ATTR_SIGNING_CERT: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
const ATTR_SIGNING_CERT_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ATTR_SIGNER_ATTRIBUTES_V2: Oid = Oid::new_unwrap("0.4.0.19122.1.1");
const EXT_SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");

/// Why a CMS object is not an acceptable PAdES signature container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The structure is malformed or not what PAdES requires.
    #[error("CMS signature container: {0}")]
    Format(String),
    /// The signer's certificate is not among the certificates in the container.
    #[error("the signer's certificate is not in the signature")]
    NoSignerCertificate,
    /// The signing-certificate attribute does not match the signer's certificate.
    #[error("signing-certificate attribute does not match the signer's certificate")]
    SigningCertificateMismatch,
}

fn format(msg: impl Into<String>) -> CmsError {
    CmsError::Format(msg.into())
}

/// The binding of the signer certificate by digest (ESS signing-certificate or -v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EssCertId {
    /// The digest algorithm (SHA-1 for the old attribute).
    pub sha1: bool,
    /// For v2, the digest used.
    pub digest: Option<Digest>,
    /// The certificate's digest.
    pub hash: Vec<u8>,
}

/// What a SignedData must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A PDF signature: detached id-data.
    Detached,
    /// An RFC 3161 time-stamp token: encapsulated TSTInfo.
    TimeStampToken,
}

/// The parts of an RFC 3161 TSTInfo a document timestamp needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    /// Digest algorithm of the message imprint.
    pub imprint_digest: Digest,
    /// The imprint: digest of the time-stamped bytes.
    pub imprint: Vec<u8>,
    /// genTime, Unix seconds.
    pub gen_time: i64,
}

/// A parsed SignedData with one signer.
#[derive(Debug, Clone)]
pub struct SignedCms {
    /// Every certificate carried (DER), the signer's among them.
    pub certificates: Vec<Vec<u8>>,
    /// Index of the signer's certificate in `certificates`.
    pub signer: usize,
    /// CRLs carried in the container (DER).
    pub crls: Vec<Vec<u8>>,
    /// The digest algorithm applied to the signed bytes.
    pub digest: Digest,
    /// The message-digest attribute.
    pub message_digest: Vec<u8>,
    /// The signing-time attribute (Unix seconds), if any.
    pub signing_time: Option<i64>,
    /// The signing-certificate(-v2) attribute, if any.
    pub ess_cert: Option<EssCertId>,
    /// The CAdES signer-attributes-v2 attribute value (DER), if any: the claimed role and a
    /// delegation grant ([`super::capacity`]).
    pub signer_attributes_v2: Option<Vec<u8>>,
    /// The encapsulated content (a time-stamp token's TSTInfo), if any.
    pub econtent: Option<Vec<u8>>,
    signed_attrs: Vec<u8>,
    sig_alg: Oid,
    sig_params: Option<Vec<u8>>,
    signature: Vec<u8>,
}

impl SignedCms {
    /// Parses `der` (the padding already stripped), which must carry `content`.
    pub fn parse(der: &[u8], content: Content) -> Result<SignedCms, CmsError> {
        let ci =
            ContentInfo::from_der(der).map_err(|e| format(format!("not DER ContentInfo: {e}")))?;
        if ci.content_type != ID_SIGNED_DATA {
            return Err(format("content is not SignedData"));
        }
        let sd: SignedData = ci
            .content
            .decode_as()
            .map_err(|e| format(format!("malformed SignedData: {e}")))?;
        let expected_type = match content {
            Content::Detached => ID_DATA,
            Content::TimeStampToken => ID_CT_TST_INFO,
        };
        let econtent = match (&sd.encap_content_info.econtent, content) {
            (None, Content::Detached) if sd.encap_content_info.econtent_type == ID_DATA => None,
            (Some(any), Content::TimeStampToken)
                if sd.encap_content_info.econtent_type == ID_CT_TST_INFO =>
            {
                Some(
                    any.decode_as::<der::asn1::OctetString>()
                        .map_err(|_| format("time-stamp token content is not an OCTET STRING"))?
                        .into_bytes(),
                )
            }
            (_, Content::Detached) => return Err(format("content must be detached id-data")),
            (_, Content::TimeStampToken) => {
                return Err(format("a time-stamp token must encapsulate TSTInfo"));
            }
        };
        let infos: Vec<_> = sd.signer_infos.0.iter().collect();
        let [info] = infos.as_slice() else {
            return Err(format(format!(
                "expected one SignerInfo, found {}",
                infos.len()
            )));
        };
        let digest = Digest::from_oid(&info.digest_alg.oid).ok_or_else(|| {
            format(format!(
                "digest algorithm {} not accepted",
                info.digest_alg.oid
            ))
        })?;
        let attrs = info
            .signed_attrs
            .as_ref()
            .ok_or_else(|| format("signed attributes are missing"))?;

        let mut content_type = None;
        let mut message_digest = None;
        let mut signing_time = None;
        let mut ess_cert = None;
        let mut signer_attributes_v2 = None;
        let mut seen = Vec::new();
        for attr in attrs.iter() {
            if seen.contains(&attr.oid) {
                return Err(format(format!("attribute {} appears twice", attr.oid)));
            }
            seen.push(attr.oid);
            let values: Vec<_> = attr.values.iter().collect();
            let one = || -> Result<_, CmsError> {
                match values.as_slice() {
                    [v] => Ok(*v),
                    _ => Err(format(format!(
                        "attribute {} must have one value",
                        attr.oid
                    ))),
                }
            };
            match attr.oid {
                ATTR_CONTENT_TYPE => {
                    content_type = Some(
                        one()?
                            .decode_as::<Oid>()
                            .map_err(|_| format("bad content-type"))?,
                    )
                }
                ATTR_MESSAGE_DIGEST => {
                    let v = one()?
                        .decode_as::<der::asn1::OctetString>()
                        .map_err(|_| format("bad message-digest"))?;
                    message_digest = Some(v.into_bytes());
                }
                ATTR_SIGNING_TIME => {
                    let t = x509_cert::time::Time::from_der(
                        &one()?.to_der().map_err(|_| format("bad signing-time"))?,
                    )
                    .map_err(|_| format("bad signing-time"))?;
                    signing_time = i64::try_from(t.to_unix_duration().as_secs()).ok();
                }
                ATTR_SIGNING_CERT | ATTR_SIGNING_CERT_V2 => {
                    let raw = one()?
                        .to_der()
                        .map_err(|_| format("bad signing-certificate"))?;
                    ess_cert = Some(
                        parse_ess(&raw, attr.oid == ATTR_SIGNING_CERT_V2)
                            .ok_or_else(|| format("malformed signing-certificate attribute"))?,
                    );
                }
                ATTR_SIGNER_ATTRIBUTES_V2 => {
                    signer_attributes_v2 = Some(
                        one()?
                            .to_der()
                            .map_err(|_| format("bad signer-attributes-v2"))?,
                    );
                }
                _ => {}
            }
        }
        if content_type != Some(expected_type) {
            return Err(format(format!(
                "content-type attribute must be {expected_type}"
            )));
        }
        let message_digest =
            message_digest.ok_or_else(|| format("message-digest attribute is missing"))?;

        let mut certificates = Vec::new();
        let mut parsed = Vec::new();
        for choice in sd.certificates.iter().flat_map(|set| set.0.iter()) {
            if let CertificateChoices::Certificate(cert) = choice {
                certificates.push(
                    cert.to_der()
                        .map_err(|_| format("unencodable certificate"))?,
                );
                parsed.push(cert);
            }
        }
        let signer = parsed
            .iter()
            .position(|cert| matches_sid(cert, &info.sid))
            .ok_or(CmsError::NoSignerCertificate)?;
        let crls = sd
            .crls
            .iter()
            .flat_map(|set| set.0.iter())
            .filter_map(|c| match c {
                cms::revocation::RevocationInfoChoice::Crl(crl) => crl.to_der().ok(),
                _ => None,
            })
            .collect();

        Ok(SignedCms {
            certificates,
            signer,
            crls,
            digest,
            message_digest,
            signing_time,
            ess_cert,
            signer_attributes_v2,
            econtent,
            signed_attrs: raw_signed_attrs(der)?,
            sig_alg: info.signature_algorithm.oid,
            sig_params: info
                .signature_algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.to_der().ok()),
            signature: info.signature.as_bytes().to_vec(),
        })
    }

    /// The signer's certificate (DER).
    pub fn signer_certificate(&self) -> &[u8] {
        &self.certificates[self.signer]
    }

    /// The digest the signed message-digest attribute must equal: of the signed PDF bytes for a
    /// signature, of the encapsulated TSTInfo for a time-stamp token.
    pub fn content_digest(&self, signed_parts: &[&[u8]]) -> Vec<u8> {
        match &self.econtent {
            Some(e) => self.digest.digest(&[e]),
            None => self.digest.digest(signed_parts),
        }
    }

    /// The TSTInfo of a time-stamp token.
    pub fn tst_info(&self) -> Result<TstInfo, CmsError> {
        let e = self
            .econtent
            .as_deref()
            .ok_or_else(|| format("not a time-stamp token"))?;
        parse_tst_info(e).ok_or_else(|| format("malformed TSTInfo"))
    }

    /// Verifies the signature over the signed attributes with the signer certificate's key.
    pub fn verify_signature(&self) -> Result<(), CryptoError> {
        use x509_parser::prelude::FromDer;
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(self.signer_certificate())
                .map_err(|_| CryptoError::BadKey)?;
        crypto::verify(
            &self.sig_alg,
            self.sig_params.as_deref(),
            Some(self.digest),
            cert.public_key().raw,
            &self.signed_attrs,
            &self.signature,
        )
    }

    /// Checks the signing-certificate(-v2) binding; `required` for ETSI.CAdES.detached.
    pub fn check_ess_binding(&self, required: bool) -> Result<(), CmsError> {
        let Some(ess) = &self.ess_cert else {
            return if required {
                Err(format("signing-certificate-v2 attribute is missing"))
            } else {
                Ok(())
            };
        };
        let cert = self.signer_certificate();
        let actual = match (ess.sha1, ess.digest) {
            (true, _) => ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert)
                .as_ref()
                .to_vec(),
            (false, Some(d)) => d.digest(&[cert]),
            (false, None) => return Err(CmsError::SigningCertificateMismatch),
        };
        if actual == ess.hash {
            Ok(())
        } else {
            Err(CmsError::SigningCertificateMismatch)
        }
    }
}

fn matches_sid(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            cert.tbs_certificate.issuer == isn.issuer
                && cert.tbs_certificate.serial_number == isn.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == EXT_SUBJECT_KEY_ID)
            .and_then(|e| der::asn1::OctetString::from_der(e.extn_value.as_bytes()).ok())
            .is_some_and(|v| v.as_bytes() == ski.0.as_bytes()),
    }
}

/// TSTInfo ::= SEQUENCE { version, policy, messageImprint SEQUENCE { hashAlgorithm, hashedMessage },
/// serialNumber, genTime GeneralizedTime, ... }.
fn parse_tst_info(der: &[u8]) -> Option<TstInfo> {
    let (_, seq) = Cursor::new(der).expect(0x30).ok()?;
    let mut cur = Cursor::new(seq);
    cur.expect(0x02).ok()?;
    cur.expect(0x06).ok()?;
    let (_, imprint) = cur.expect(0x30).ok()?;
    let mut imp = Cursor::new(imprint);
    let (alg, _) = imp.expect(0x30).ok()?;
    let imprint_digest = Digest::from_oid(&crypto::alg_oid(alg)?)?;
    let (_, hashed) = imp.expect(0x04).ok()?;
    cur.expect(0x02).ok()?;
    let (_, gen_time) = cur.expect(0x18).ok()?;
    Some(TstInfo {
        imprint_digest,
        imprint: hashed.to_vec(),
        gen_time: generalized_time(gen_time)?,
    })
}

/// `YYYYMMDDHHMMSS[.f*]Z` as RFC 3161 allows it (fractions of a second, which DER's
/// GeneralizedTime type refuses, are common in time-stamp tokens and dropped here).
pub(crate) fn generalized_time(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.strip_suffix('Z')?;
    let whole = text.split('.').next()?;
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| whole[r].parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        i32::try_from(n(0..4)?).ok()?,
        time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?,
        u8::try_from(n(6..8)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        u8::try_from(n(12..14)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), policies OPTIONAL }.
/// Only the first ESSCertID concerns the signer.
fn parse_ess(raw: &[u8], v2: bool) -> Option<EssCertId> {
    let (_, outer) = Cursor::new(raw).expect(0x30).ok()?;
    let (_, certs) = Cursor::new(outer).expect(0x30).ok()?;
    let (_, first) = Cursor::new(certs).expect(0x30).ok()?;
    let mut cur = Cursor::new(first);
    let mut digest = Some(Digest::Sha256);
    if v2 && cur.peek() == Some(0x30) {
        let (alg, _) = cur.expect(0x30).ok()?;
        digest = Digest::from_oid(&crypto::alg_oid(alg)?);
        digest?;
    }
    let (_, hash) = cur.expect(0x04).ok()?;
    Some(EssCertId {
        sha1: !v2,
        digest: if v2 { digest } else { None },
        hash: hash.to_vec(),
    })
}

/// The signed attributes exactly as they were signed, retagged as a SET (RFC 5652, 5.4).
///
/// Decoding into typed values re-sorts the SET, and re-encoding would not reproduce a signer's
/// original order, so the bytes are taken from the input.
fn raw_signed_attrs(der: &[u8]) -> Result<Vec<u8>, CmsError> {
    let bad = |_| format("cannot locate signed attributes");
    let (_, ci) = Cursor::new(der).expect(0x30).map_err(bad)?;
    let mut ci = Cursor::new(ci);
    ci.expect(0x06).map_err(bad)?;
    let (_, explicit) = ci.expect(0xa0).map_err(bad)?;
    let (_, sd) = Cursor::new(explicit).expect(0x30).map_err(bad)?;
    let mut sd = Cursor::new(sd);
    sd.expect(0x02).map_err(bad)?; // version
    sd.expect(0x31).map_err(bad)?; // digestAlgorithms
    sd.expect(0x30).map_err(bad)?; // encapContentInfo
    if sd.peek() == Some(0xa0) {
        sd.der().map_err(bad)?; // certificates
    }
    if sd.peek() == Some(0xa1) {
        sd.der().map_err(bad)?; // crls
    }
    let (_, infos) = sd.expect(0x31).map_err(bad)?;
    let (_, info) = Cursor::new(infos).expect(0x30).map_err(bad)?;
    let mut info = Cursor::new(info);
    info.expect(0x02).map_err(bad)?; // version
    info.der().map_err(bad)?; // sid
    info.expect(0x30).map_err(bad)?; // digestAlgorithm
    let (whole, _) = info.expect(0xa0).map_err(bad)?;
    let mut attrs = whole.to_vec();
    attrs[0] = 0x31;
    Ok(attrs)
}
