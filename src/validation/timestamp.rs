//! Signature timestamps (PAdES B-T): RFC 3161 time-stamp tokens over a signature value, carried
//! as the CAdES `signature-time-stamp` unsigned attribute of the signer (ETSI EN 319 122-1
//! §5.3). A valid one is a proof of existence of the signature at the token's genTime: the
//! signature is then judged at that time (ETSI EN 319 102-1 past signature validation), so a
//! signer certificate that expired later no longer makes it OUT_OF_BOUNDS_NO_POE.
//!
//! [`check_token`] is also what kyso's time-stamp client runs on a fresh answer before
//! embedding it, so a token kyso would refuse at validation is never written into a file.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::chain::{self, Purpose, TrustAnchors};
use super::cms::{Content, SignedCms};
use super::findings::{Finding, SubIndication};

/// id-aa-signatureTimeStampToken (RFC 3161 appendix A, ETSI EN 319 122-1).
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// What was found about one time-stamp token.
#[derive(Debug, Clone, Serialize)]
pub struct TimestampReport {
    /// The TSA's genTime, RFC 3339 UTC; absent when the token could not be read.
    pub time: Option<String>,
    /// The TSA: its certificate's common name (or subject).
    pub tsa: String,
    /// Whether the token verified: imprint, signature, signing-certificate binding, EKU
    /// timeStamping and a trusted chain valid at genTime.
    pub valid: bool,
    /// Why it is not valid, or remarks.
    pub messages: Vec<String>,
    /// How each certificate of the TSA's path was checked for revocation, and the source.
    pub revocation: Vec<super::chain::RevocationCheck>,
    /// genTime, Unix seconds.
    #[serde(skip)]
    pub gen_time: Option<i64>,
}

/// Checks `token` (DER ContentInfo of a time-stamp token) as a timestamp over `imprinted`
/// (the bytes whose digest the token must carry), trusting `anchors`, at validation time `now`.
/// With no anchors, the chain is not required to reach one (a signing client without
/// configured anchors), but everything else is.
pub fn check_token(
    token: &[u8],
    imprinted: &[u8],
    anchors: &TrustAnchors,
    crls: &[Vec<u8>],
    now: i64,
) -> TimestampReport {
    let mut report = TimestampReport {
        time: None,
        tsa: String::new(),
        valid: false,
        messages: Vec::new(),
        revocation: Vec::new(),
        gen_time: None,
    };
    let cms = match SignedCms::parse(token, Content::TimeStampToken) {
        Ok(c) => c,
        Err(e) => {
            report.messages.push(format!("time-stamp token: {e}"));
            return report;
        }
    };
    if let Some(s) = chain::describe_signer(cms.signer_certificate()) {
        report.tsa = if s.common_name.is_empty() {
            s.subject
        } else {
            s.common_name
        };
    }
    let tst = match cms.tst_info() {
        Ok(t) => t,
        Err(e) => {
            report.messages.push(format!("time-stamp token: {e}"));
            return report;
        }
    };
    report.gen_time = Some(tst.gen_time);
    report.time = Some(super::fmt_time(tst.gen_time));
    let mut findings: Vec<Finding> = Vec::new();
    if tst.imprint_digest.digest(&[imprinted]) != tst.imprint {
        findings.push(Finding::failed(
            SubIndication::HashFailure,
            "the time-stamp token's message imprint is not the digest of the signature value",
        ));
    }
    if cms.content_digest(&[]) != cms.message_digest {
        findings.push(Finding::failed(
            SubIndication::HashFailure,
            "the time-stamp token's TSTInfo does not match its signed message digest",
        ));
    }
    if cms.verify_signature().is_err() {
        findings.push(Finding::failed(
            SubIndication::SigCryptoFailure,
            "the time-stamp token's signature does not verify with the TSA's key",
        ));
    }
    if let Err(e) = cms.check_ess_binding(true) {
        findings.push(Finding::indeterminate(
            SubIndication::NoSigningCertificateFound,
            format!("time-stamp token: {e}"),
        ));
    }
    if !has_time_stamping_eku(cms.signer_certificate()) {
        findings.push(Finding::indeterminate(
            SubIndication::SigConstraintsFailure,
            format!(
                "{}: not a time-stamping authority (no extended key usage timeStamping)",
                report.tsa
            ),
        ));
    }
    if !anchors.is_empty() {
        let outcome = chain::check_path(
            cms.signer_certificate(),
            &cms.certificates,
            anchors,
            crls,
            tst.gen_time,
            now,
            Purpose::TimeStamping,
        );
        findings.extend(outcome.findings);
        report.messages.extend(outcome.notes);
        report.revocation = outcome.revocation;
    }
    report.valid = findings.is_empty();
    let mut messages: Vec<String> = findings.into_iter().map(|f| f.message).collect();
    messages.append(&mut report.messages);
    report.messages = messages;
    report
}

/// Whether the certificate (DER) carries extended key usage timeStamping (RFC 3161 §2.3
/// requires it, as the only purpose and critical; kyso requires its presence).
fn has_time_stamping_eku(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(|(_, c)| {
        c.extended_key_usage()
            .ok()
            .flatten()
            .is_some_and(|e| e.value.time_stamping)
    })
}

/// The signature timestamps of the first signer of `signature_cms` (DER ContentInfo of a
/// CAdES signature), each checked over that signer's signature value. An unreadable
/// container yields none: the signature's own checks report it.
pub fn signature_timestamps(
    signature_cms: &[u8],
    anchors: &TrustAnchors,
    crls: &[Vec<u8>],
    now: i64,
) -> Vec<TimestampReport> {
    let Some((signature, tokens)) = timestamp_tokens(signature_cms) else {
        return Vec::new();
    };
    tokens
        .iter()
        .map(|t| check_token(t, &signature, anchors, crls, now))
        .collect()
}

/// The signer's signature value and the DER of each signature-time-stamp token it carries.
pub(crate) fn timestamp_tokens(signature_cms: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let ci = ContentInfo::from_der(signature_cms).ok()?;
    let sd: SignedData = ci.content.decode_as().ok()?;
    let info = sd.signer_infos.0.iter().next()?;
    let tokens = info
        .unsigned_attrs
        .iter()
        .flat_map(|attrs| attrs.iter())
        .filter(|a| a.oid == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .flat_map(|a| a.values.iter())
        .filter_map(|v| v.to_der().ok())
        .collect();
    Some((info.signature.as_bytes().to_vec(), tokens))
}

/// The earliest genTime among valid timestamps: the signature's proof of existence.
pub fn proof_of_existence(timestamps: &[TimestampReport]) -> Option<i64> {
    timestamps
        .iter()
        .filter(|t| t.valid)
        .filter_map(|t| t.gen_time)
        .min()
}
