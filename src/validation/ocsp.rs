//! OCSP (RFC 6960): the request kyso sends for one certificate, and the checks an answer must
//! pass before kyso relies on it or embeds it in a document's `/DSS`:
//! * a successful `id-pkix-ocsp-basic` response;
//! * a `SingleResponse` whose CertID names this certificate (issuer name and key hashes, serial);
//! * signed by an authorised responder: the issuing CA itself, or a certificate the CA issued
//!   with extended key usage `id-kp-OCSPSigning`, valid when the response was produced
//!   (RFC 6960 §4.2.2.2); the signature verified over the received `tbsResponseData` bytes;
//! * the nonce kyso sent, when it sent one (RFC 8954);
//! * fresh at the time asked about: `thisUpdate` not after it, `nextUpdate` not before it
//!   (with [`SKEW`] of tolerance), or, without `nextUpdate`, no older than
//!   [`MAX_AGE_WITHOUT_NEXT_UPDATE`].
//!
//! Each refusal says why ([`OcspError`]). Nothing here reads the clock or the network: the
//! caller passes the time (the app layer's clock) and the bytes (`crate::ltv::fetch` asks the
//! responder).
//!
//! Times are read leniently (fractions of a second, which DER's GeneralizedTime refuses but
//! responders such as certomancer write, are dropped), so the response is decoded with the
//! times left as raw values; the OCSP types themselves come from `x509-ocsp`.

use const_oid::ObjectIdentifier as Oid;
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode, Reader, SliceReader, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_ocsp::{CertId, OcspRequest, OcspResponse, OcspResponseStatus, Request, ResponderId};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::crypto;

/// id-pkix-ocsp-basic.
pub const ID_PKIX_OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce.
pub const ID_PKIX_OCSP_NONCE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const ID_SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: Oid = crypto::SHA256;

/// Largest OCSP response read: one answer with its responder's certificate is a few kilobytes.
pub const MAX_RESPONSE: usize = 64 * 1024;
/// Clock difference tolerated between kyso and a responder, seconds.
pub const SKEW: i64 = 300;
/// How old a response without `nextUpdate` may be and still count as current, seconds.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: i64 = 24 * 3600;

/// The status a response gives a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    /// Not revoked.
    Good,
    /// Revoked at this time (Unix seconds).
    Revoked(i64),
    /// The responder does not know the certificate.
    Unknown,
}

/// What an accepted response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspAnswer {
    /// The certificate's status.
    pub state: CertState,
    /// producedAt, Unix seconds.
    pub produced_at: i64,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds, if given.
    pub next_update: Option<i64>,
    /// The responder's common name (or subject).
    pub responder: String,
    /// The delegated responder's certificate (DER), when the CA did not sign itself: a
    /// verifier needs it, so it goes into the `/DSS` too.
    pub responder_certificate: Option<Vec<u8>>,
}

/// Why an OCSP response is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// The certificate or its issuer cannot be read.
    #[error("chứng thư không đọc được / unreadable certificate: {0}")]
    BadCertificate(String),
    /// The bytes are not an OCSP response kyso can read.
    #[error("phản hồi OCSP không đọc được / unreadable OCSP response: {0}")]
    Unreadable(String),
    /// The responder answered with an error status.
    #[error("máy chủ OCSP từ chối / the OCSP responder refused: {0}")]
    NotSuccessful(String),
    /// No answer in the response concerns this certificate.
    #[error(
        "phản hồi OCSP cho chứng thư khác / the OCSP response is for another certificate (asked for serial {serial})"
    )]
    OtherCertificate {
        /// The serial asked about, hex.
        serial: String,
    },
    /// The response is out of date at the time asked about.
    #[error(
        "phản hồi OCSP đã cũ / stale OCSP response: thisUpdate {this_update}, nextUpdate {next_update}, needed at {at}"
    )]
    Stale {
        /// thisUpdate, RFC 3339.
        this_update: String,
        /// nextUpdate, RFC 3339, or "none".
        next_update: String,
        /// The time asked about, RFC 3339.
        at: String,
    },
    /// The response claims a time after the time asked about.
    #[error(
        "phản hồi OCSP từ tương lai / OCSP response from the future: thisUpdate {this_update}, needed at {at}"
    )]
    NotYetValid {
        /// thisUpdate, RFC 3339.
        this_update: String,
        /// The time asked about, RFC 3339.
        at: String,
    },
    /// The response is signed by a certificate that may not answer for this CA.
    #[error(
        "máy chủ OCSP không được ủy quyền / unauthorised OCSP responder: {0} is neither the issuing CA nor a responder it certified with id-kp-OCSPSigning"
    )]
    UnauthorisedResponder(String),
    /// The response's signature does not verify with the responder's key.
    #[error("chữ ký phản hồi OCSP không hợp lệ / the OCSP response's signature does not verify")]
    BadSignature,
    /// The nonce is missing or not the one sent.
    #[error("nonce OCSP không khớp / the OCSP response does not carry the nonce sent")]
    NonceMismatch,
}

/// What to require of a response besides its signature and its certificate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    /// The nonce sent, which the response must echo.
    pub nonce: Option<&'a [u8]>,
    /// The time the status must be current at (Unix seconds); `None` checks no freshness
    /// (a response embedded in a document, judged by the validation against its proofs of
    /// existence).
    pub current_at: Option<i64>,
}

/// The CertID (SHA-1, as RFC 5019 responders expect) of `cert`, issued by `issuer`.
pub fn cert_id(cert: &[u8], issuer: &[u8]) -> Result<CertId, OcspError> {
    let (c, i) = parse_pair(cert, issuer)?;
    let bad = |e: der::Error| OcspError::BadCertificate(e.to_string());
    let sha1 = |b: &[u8]| ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b);
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ID_SHA1,
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: OctetString::new(sha1(i.subject().as_raw()).as_ref()).map_err(bad)?,
        issuer_key_hash: OctetString::new(sha1(&i.public_key().subject_public_key.data).as_ref())
            .map_err(bad)?,
        serial_number: x509_cert::serial_number::SerialNumber::new(c.raw_serial()).map_err(bad)?,
    })
}

/// A DER OCSPRequest for `cert` (issued by `issuer`) carrying `nonce`.
pub fn request(cert: &[u8], issuer: &[u8], nonce: &[u8]) -> Result<Vec<u8>, OcspError> {
    let bad = |e: der::Error| OcspError::BadCertificate(e.to_string());
    let nonce_value = OctetString::new(nonce)
        .and_then(|n| n.to_der())
        .map_err(bad)?;
    let request = OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer)?,
                single_request_extensions: None,
            }],
            request_extensions: Some(vec![Extension {
                extn_id: ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(nonce_value).map_err(bad)?,
            }]),
        },
        optional_signature: None,
    };
    request.to_der().map_err(bad)
}

/// BasicOCSPResponse with the signed part kept as received.
#[derive(Clone, Debug, der::Sequence)]
struct BasicResponse {
    tbs_response_data: der::Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    certs: Option<Vec<der::Any>>,
}

/// ResponseData with its times undecoded (see the module documentation).
#[derive(Clone, Debug, der::Sequence)]
struct ResponseData {
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    version: Option<u8>,
    responder_id: ResponderId,
    produced_at: der::Any,
    responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    response_extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Debug, der::Sequence)]
struct SingleResponse {
    cert_id: CertId,
    cert_status: der::Any,
    this_update: der::Any,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    next_update: Option<der::Any>,
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    single_extensions: Option<Vec<Extension>>,
}

fn parse_pair<'a>(
    cert: &'a [u8],
    issuer: &'a [u8],
) -> Result<(X509Certificate<'a>, X509Certificate<'a>), OcspError> {
    let c = X509Certificate::from_der(cert)
        .map_err(|e| OcspError::BadCertificate(e.to_string()))?
        .1;
    let i = X509Certificate::from_der(issuer)
        .map_err(|e| OcspError::BadCertificate(e.to_string()))?
        .1;
    Ok((c, i))
}

fn time_of(any: &der::Any) -> Result<i64, OcspError> {
    if any.tag() != der::Tag::GeneralizedTime {
        return Err(OcspError::Unreadable(
            "a time is not a GeneralizedTime".into(),
        ));
    }
    super::cms::generalized_time(any.value())
        .ok_or_else(|| OcspError::Unreadable("unreadable GeneralizedTime".into()))
}

fn state_of(status: &der::Any) -> Result<CertState, OcspError> {
    let unreadable = |m: &str| OcspError::Unreadable(format!("certStatus: {m}"));
    match u8::from(status.tag()) {
        0x80 => Ok(CertState::Good),
        0x82 => Ok(CertState::Unknown),
        0xa1 => {
            let mut r = SliceReader::new(status.value()).map_err(|e| unreadable(&e.to_string()))?;
            let t: der::Any = r.decode().map_err(|e| unreadable(&e.to_string()))?;
            Ok(CertState::Revoked(time_of(&t)?))
        }
        _ => Err(unreadable("unknown choice")),
    }
}

fn digest_for(oid: &Oid) -> Option<&'static ring::digest::Algorithm> {
    match *oid {
        ID_SHA1 => Some(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        ID_SHA256 => Some(&ring::digest::SHA256),
        _ => None,
    }
}

/// Whether `id` names `cert` issued by `issuer`.
fn names(id: &CertId, cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    let Some(alg) = digest_for(&id.hash_algorithm.oid) else {
        return false;
    };
    id.serial_number.as_bytes() == cert.raw_serial()
        && ring::digest::digest(alg, issuer.subject().as_raw()).as_ref()
            == id.issuer_name_hash.as_bytes()
        && ring::digest::digest(alg, &issuer.public_key().subject_public_key.data).as_ref()
            == id.issuer_key_hash.as_bytes()
}

fn common_name(c: &X509Certificate<'_>) -> String {
    c.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| c.subject().to_string())
}

/// Whether `id` designates `candidate`.
fn responder_is(id: &ResponderId, candidate: &X509Certificate<'_>) -> bool {
    match id {
        ResponderId::ByName(name) => name
            .to_der()
            .is_ok_and(|n| n == candidate.subject().as_raw()),
        ResponderId::ByKey(hash) => {
            ring::digest::digest(
                &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                &candidate.public_key().subject_public_key.data,
            )
            .as_ref()
                == hash.as_bytes()
        }
    }
}

/// Checks `response` (a DER OCSPResponse) as the status of `cert` issued by `issuer` (both DER).
pub fn check_response(
    response: &[u8],
    cert: &[u8],
    issuer: &[u8],
    expect: &Expect<'_>,
) -> Result<OcspAnswer, OcspError> {
    if response.len() > MAX_RESPONSE {
        return Err(OcspError::Unreadable(format!(
            "{} bytes, more than {MAX_RESPONSE}",
            response.len()
        )));
    }
    let (c, i) = parse_pair(cert, issuer)?;
    let unreadable = |e: der::Error| OcspError::Unreadable(e.to_string());
    let outer = OcspResponse::from_der(response).map_err(unreadable)?;
    if outer.response_status != OcspResponseStatus::Successful {
        return Err(OcspError::NotSuccessful(format!(
            "{:?}",
            outer.response_status
        )));
    }
    let bytes = outer
        .response_bytes
        .ok_or_else(|| OcspError::Unreadable("successful, but no response bytes".into()))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(OcspError::Unreadable(format!(
            "response type {} is not id-pkix-ocsp-basic",
            bytes.response_type
        )));
    }
    let basic = BasicResponse::from_der(bytes.response.as_bytes()).map_err(unreadable)?;
    let tbs = basic.tbs_response_data.to_der().map_err(unreadable)?;
    let data = ResponseData::from_der(&tbs).map_err(unreadable)?;
    let produced_at = time_of(&data.produced_at)?;

    // The responder and its authority.
    let carried: Vec<Vec<u8>> = basic
        .certs
        .iter()
        .flatten()
        .filter_map(|a| a.to_der().ok())
        .collect();
    let is_issuer = |cand: &X509Certificate<'_>| {
        cand.subject().as_raw() == i.subject().as_raw()
            && cand.public_key().raw == i.public_key().raw
    };
    let mut responder: Option<(X509Certificate<'_>, Option<&[u8]>)> =
        responder_is(&data.responder_id, &i).then(|| (i.clone(), None));
    if responder.is_none() {
        responder = carried.iter().find_map(|d| {
            let (_, cand) = X509Certificate::from_der(d).ok()?;
            responder_is(&data.responder_id, &cand).then_some((cand, Some(d.as_slice())))
        });
    }
    let Some((rc, rc_der)) = responder else {
        return Err(OcspError::UnauthorisedResponder(
            "a responder whose certificate the response does not carry".into(),
        ));
    };
    let name = common_name(&rc);
    let params = basic
        .signature_algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.to_der().ok());
    crypto::verify(
        &basic.signature_algorithm.oid,
        params.as_deref(),
        None,
        rc.public_key().raw,
        &tbs,
        basic.signature.raw_bytes(),
    )
    .map_err(|_| OcspError::BadSignature)?;
    let delegated = !is_issuer(&rc);
    if delegated {
        let ocsp_signing = rc
            .extended_key_usage()
            .ok()
            .flatten()
            .is_some_and(|e| e.value.ocsp_signing);
        let v = rc.validity();
        let valid_then = v.not_before.timestamp() <= produced_at + SKEW
            && produced_at <= v.not_after.timestamp();
        if rc.issuer().as_raw() != i.subject().as_raw()
            || !crypto::signed_by(&rc, &i)
            || !ocsp_signing
            || !valid_then
        {
            return Err(OcspError::UnauthorisedResponder(name));
        }
    }

    // The nonce.
    if let Some(sent) = expect.nonce {
        let echoed = data
            .response_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
            .map(|e| e.extn_value.as_bytes());
        let matches = echoed.is_some_and(|v| {
            OctetString::from_der(v).is_ok_and(|o| o.as_bytes() == sent) || v == sent
        });
        if !matches {
            return Err(OcspError::NonceMismatch);
        }
    }

    // The answer about this certificate.
    let single = data
        .responses
        .iter()
        .find(|s| names(&s.cert_id, &c, &i))
        .ok_or_else(|| OcspError::OtherCertificate {
            serial: crypto::hex(c.raw_serial()),
        })?;
    let this_update = time_of(&single.this_update)?;
    let next_update = single.next_update.as_ref().map(time_of).transpose()?;
    if let Some(at) = expect.current_at {
        let fmt = super::fmt_time;
        if this_update > at + SKEW {
            return Err(OcspError::NotYetValid {
                this_update: fmt(this_update),
                at: fmt(at),
            });
        }
        let stale = match next_update {
            Some(n) => at > n + SKEW,
            None => at - this_update > MAX_AGE_WITHOUT_NEXT_UPDATE,
        };
        if stale {
            return Err(OcspError::Stale {
                this_update: fmt(this_update),
                next_update: next_update.map_or_else(|| "none".into(), fmt),
                at: fmt(at),
            });
        }
    }
    Ok(OcspAnswer {
        state: state_of(&single.cert_status)?,
        produced_at,
        this_update,
        next_update,
        responder: name,
        responder_certificate: if delegated {
            rc_der.map(<[u8]>::to_vec)
        } else {
            None
        },
    })
}

/// The CertID `response` answers about first, without any check (to find which embedded
/// response may concern a certificate before checking it); `None` when unreadable.
pub fn peek_serial(response: &[u8]) -> Option<Vec<u8>> {
    let outer = OcspResponse::from_der(response).ok()?;
    let basic = BasicResponse::from_der(outer.response_bytes?.response.as_bytes()).ok()?;
    let data = ResponseData::from_der(&basic.tbs_response_data.to_der().ok()?).ok()?;
    data.responses
        .first()
        .map(|s| s.cert_id.serial_number.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_without_panicking() {
        let cert = rcgen::generate_simple_self_signed(vec!["kyso.test".to_string()])
            .unwrap()
            .cert
            .der()
            .to_vec();
        for bad in [&b""[..], b"\x30\x03\x0a\x01\x00", b"\x30\x80", &[0x30; 200]] {
            assert!(matches!(
                check_response(bad, &cert, &cert, &Expect::default()),
                Err(OcspError::Unreadable(_) | OcspError::NotSuccessful(_))
            ));
        }
    }
}
