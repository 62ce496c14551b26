//! RFC 3161 time-stamp client for PAdES B-T: asks the configured TSAs, in order, for a token
//! over a signature value, and accepts an answer only when it is granted, carries the nonce
//! kyso sent and the SHA-256 imprint of that signature value, and verifies as a time-stamp
//! token ([`crate::validation::timestamp::check_token`]: signature, signing-certificate
//! binding, EKU timeStamping, and a chain to the configured anchors when any are given).
//!
//! The HTTP client is `ureq` (blocking, rustls): signing is synchronous ([`super::Signer`]),
//! and each TSA gets its own connect and read timeouts so a dead link costs seconds, not
//! minutes, before the next URL is tried or the signature is delivered as B-B.

use std::time::Duration;

use const_oid::db::rfc5912::ID_SHA_256;
use der::asn1::{Int, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

use crate::validation::chain::TrustAnchors;
use crate::validation::timestamp::{TimestampReport, check_token};

/// The largest TSA answer read: a token with a chain is a few kilobytes.
const MAX_RESPONSE: u64 = 64 * 1024;

/// Why one TSA gave no usable token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// No connection, a timeout, or an HTTP error status.
    #[error("{url}: không kết nối được / unreachable: {reason}")]
    Unreachable {
        /// The TSA URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The answer is not a DER TimeStampResp.
    #[error("{url}: câu trả lời không đọc được / unreadable answer: {reason}")]
    Malformed {
        /// The TSA URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The TSA refused (PKIStatus rejection, waiting, revocation…).
    #[error("{url}: TSA từ chối / refused (PKIStatus {status})")]
    Refused {
        /// The TSA URL.
        url: String,
        /// The PKIStatus value.
        status: u8,
    },
    /// The token's nonce is not the one sent: a replayed or misrouted answer.
    #[error("{url}: nonce không khớp / the token's nonce is not the one sent")]
    NonceMismatch {
        /// The TSA URL.
        url: String,
    },
    /// The token's message imprint is not the SHA-256 of the signature value.
    #[error("{url}: dấu băm không khớp / the token's message imprint is not the signature's")]
    ImprintMismatch {
        /// The TSA URL.
        url: String,
    },
    /// The token does not verify (signature, TSA certificate, chain).
    #[error("{url}: dấu thời gian không hợp lệ / invalid token: {reason}")]
    Invalid {
        /// The TSA URL.
        url: String,
        /// The findings.
        reason: String,
    },
}

/// The TSAs to ask and how to judge their answers.
#[derive(Debug, Clone)]
pub struct TimestampClient {
    urls: Vec<String>,
    anchors: TrustAnchors,
    reserve: usize,
    /// One HTTP agent for every request of this client and its clones: a TSA that keeps
    /// connections alive is asked again without a new TCP (and TLS) handshake.
    agent: ureq::Agent,
}

/// A token accepted from a TSA.
#[derive(Debug, Clone)]
pub struct Token {
    /// DER ContentInfo of the time-stamp token.
    pub der: Vec<u8>,
    /// What the token verified as (time, TSA).
    pub report: TimestampReport,
    /// The URL that answered.
    pub url: String,
}

/// Why the `[timestamp]` settings cannot give a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampConfigError {
    /// A trust anchor file cannot be read.
    #[error("không đọc được / cannot read {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A trust anchor file holds no usable certificate.
    #[error("{path}: không phải chứng thư gốc tin cậy / not a trust anchor certificate: {source}")]
    Anchor {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: crate::validation::chain::AnchorError,
    },
}

impl TimestampClient {
    /// The client the settings describe, or `None` when no TSA is configured (B-B signing).
    /// The TSA certificates must chain to `[timestamp] trust`, else to `trust`.
    pub fn from_settings(
        settings: &crate::config::Settings,
    ) -> Result<Option<TimestampClient>, TimestampConfigError> {
        let t = &settings.timestamp;
        if t.urls.is_empty() {
            return Ok(None);
        }
        let paths = if t.trust.is_empty() {
            &settings.trust
        } else {
            &t.trust
        };
        let mut anchors = TrustAnchors::new();
        for path in paths {
            let data = std::fs::read(path).map_err(|source| TimestampConfigError::Read {
                path: path.clone(),
                source,
            })?;
            anchors
                .add_pem_or_der(&data)
                .map_err(|source| TimestampConfigError::Anchor {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(Some(TimestampClient::new(
            t.urls.clone(),
            anchors,
            Duration::from_secs(t.connect_timeout_secs),
            Duration::from_secs(t.read_timeout_secs),
            t.reserve_bytes,
        )))
    }

    /// A client asking `urls` in order, trusting `anchors` for the TSA certificates (none: the
    /// chain is not checked, everything else is), with these timeouts per TSA, and reserving
    /// `reserve` bytes of `/Contents` for the token.
    pub fn new(
        urls: Vec<String>,
        anchors: TrustAnchors,
        connect_timeout: Duration,
        read_timeout: Duration,
        reserve: usize,
    ) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_recv_response(Some(read_timeout))
            .timeout_recv_body(Some(read_timeout))
            .http_status_as_error(true)
            .build()
            .into();
        TimestampClient {
            urls,
            anchors,
            reserve,
            agent,
        }
    }

    /// Bytes of `/Contents` kept for the token (its DER and the attribute around it).
    pub fn reserve(&self) -> usize {
        self.reserve
    }

    /// A token over `signature_value` from the first TSA that gives a valid one, or every
    /// TSA's reason. Each token is checked as of `now`, the caller's time of the signing.
    pub fn timestamp(
        &self,
        signature_value: &[u8],
        now: time::OffsetDateTime,
    ) -> Result<Token, Vec<TimestampError>> {
        let imprint = ring::digest::digest(&ring::digest::SHA256, signature_value);
        let mut errors = Vec::new();
        for url in &self.urls {
            match self.ask(url, signature_value, imprint.as_ref(), now) {
                Ok(t) => return Ok(t),
                Err(e) => {
                    tracing::warn!(%e, "time-stamp request failed");
                    errors.push(e);
                }
            }
        }
        Err(errors)
    }

    fn ask(
        &self,
        url: &str,
        signature_value: &[u8],
        imprint: &[u8],
        now: time::OffsetDateTime,
    ) -> Result<Token, TimestampError> {
        let unreachable = |reason: String| TimestampError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let malformed = |reason: String| TimestampError::Malformed {
            url: url.to_owned(),
            reason,
        };
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| unreachable("no randomness for the nonce".into()))?;
        // A positive INTEGER: clear the top bit so no sign byte is needed.
        nonce[0] &= 0x7f;
        nonce[0] |= 0x01;
        let nonce = Int::new(&nonce).map_err(|e| malformed(e.to_string()))?;
        let request = TimeStampReq {
            version: TspVersion::V1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: ID_SHA_256,
                    parameters: None,
                },
                hashed_message: OctetString::new(imprint).map_err(|e| malformed(e.to_string()))?,
            },
            req_policy: None,
            nonce: Some(nonce.clone()),
            // The TSA's certificate goes into the token, so a verifier needs nothing else.
            cert_req: true,
            extensions: None,
        }
        .to_der()
        .map_err(|e| malformed(e.to_string()))?;
        let mut response = self
            .agent
            .post(url)
            .header("Content-Type", "application/timestamp-query")
            .send(&request[..])
            .map_err(|e| unreachable(e.to_string()))?;
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| unreachable(e.to_string()))?;
        let answer = TimeStampResp::from_der(&body).map_err(|e| malformed(e.to_string()))?;
        let status = answer.status.status as u8;
        // granted (0) or grantedWithMods (1).
        if status > 1 {
            return Err(TimestampError::Refused {
                url: url.to_owned(),
                status,
            });
        }
        let token = answer
            .time_stamp_token
            .ok_or_else(|| malformed("granted, but no token".into()))?;
        let der = token.to_der().map_err(|e| malformed(e.to_string()))?;
        let tst = tst_info(&token).map_err(malformed)?;
        if tst.nonce.as_ref() != Some(&nonce) {
            return Err(TimestampError::NonceMismatch {
                url: url.to_owned(),
            });
        }
        if tst.message_imprint.hash_algorithm.oid != ID_SHA_256
            || tst.message_imprint.hashed_message.as_bytes() != imprint
        {
            return Err(TimestampError::ImprintMismatch {
                url: url.to_owned(),
            });
        }
        let report = check_token(
            &der,
            signature_value,
            &self.anchors,
            &[],
            now.unix_timestamp(),
        );
        if !report.valid {
            return Err(TimestampError::Invalid {
                url: url.to_owned(),
                reason: report.messages.join("; "),
            });
        }
        Ok(Token {
            der,
            report,
            url: url.to_owned(),
        })
    }
}

/// RFC 3161 TSTInfo as x509-tsp has it, but with genTime left undecoded: RFC 3161 lets a TSA
/// give fractions of a second (certomancer and many public TSAs do), which der's DER
/// GeneralizedTime refuses. The time itself is read by the validation's TSTInfo parser.
#[derive(Clone, Debug, der::Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: der::asn1::ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: der::Any,
    #[asn1(optional = "true")]
    accuracy: Option<x509_tsp::Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<x509_cert::ext::pkix::name::GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<x509_cert::ext::Extensions>,
}

/// The TSTInfo inside a token (ContentInfo → SignedData → eContent).
fn tst_info(token: &cms::content_info::ContentInfo) -> Result<TstInfo, String> {
    let sd: cms::signed_data::SignedData = token.content.decode_as().map_err(|e| e.to_string())?;
    let econtent = sd
        .encap_content_info
        .econtent
        .ok_or_else(|| "the token has no TSTInfo".to_string())?;
    let octets: OctetString = econtent.decode_as().map_err(|e| e.to_string())?;
    TstInfo::from_der(octets.as_bytes()).map_err(|e| e.to_string())
}
