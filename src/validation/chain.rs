//! Certificate path: from the signer's certificate, through the certificates the signature carries,
//! to one of the configured trust anchors; then each link's signature, CA flag, key usage, path
//! length, critical extensions, validity at the claimed signing time and at validation time, and
//! revocation from the CRLs available (given on the command line or carried in the signature).

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::crypto;
use super::crypto::{hex, signed_by};
use super::findings::{Finding, Signer, SubIndication};

/// Longest chain followed; real chains have two or three links.
const MAX_CHAIN: usize = 8;

/// Trust anchors: certificates accepted as roots. They only ever come from configuration.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    certs: Vec<Vec<u8>>,
}

/// Why trust anchors or CRLs could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// The PEM text holds no certificate.
    #[error("no certificate in PEM input")]
    Empty,
    /// PEM or DER could not be read.
    #[error("unreadable certificate or CRL: {0}")]
    Unreadable(String),
}

impl TrustAnchors {
    /// No anchors: nothing is trusted.
    pub fn new() -> Self {
        TrustAnchors::default()
    }

    /// Adds every certificate in PEM `text` (or one DER certificate).
    pub fn add_pem_or_der(&mut self, data: &[u8]) -> Result<(), AnchorError> {
        for der in certs_from_pem_or_der(data, "CERTIFICATE")? {
            X509Certificate::from_der(&der).map_err(|e| AnchorError::Unreadable(e.to_string()))?;
            self.certs.push(der);
        }
        Ok(())
    }

    /// Adds one DER certificate.
    pub fn add_der(&mut self, der: Vec<u8>) -> Result<(), AnchorError> {
        X509Certificate::from_der(&der).map_err(|e| AnchorError::Unreadable(e.to_string()))?;
        self.certs.push(der);
        Ok(())
    }

    /// Whether there is no anchor.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The anchors (DER).
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.certs.iter().map(Vec::as_slice)
    }

    /// Removes anchors for which `keep` is false (used to drop the development root outside
    /// development mode).
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        self.certs.retain(|c| keep(c));
    }
}

/// Reads PEM blocks labelled `label` from `data`, or takes `data` as one DER value.
pub fn certs_from_pem_or_der(data: &[u8], label: &str) -> Result<Vec<Vec<u8>>, AnchorError> {
    if data.first() == Some(&0x30) {
        return Ok(vec![data.to_vec()]);
    }
    let blocks = pem::parse_many(data).map_err(|e| AnchorError::Unreadable(e.to_string()))?;
    let out: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == label)
        .map(|b| b.into_contents())
        .collect();
    if out.is_empty() {
        Err(AnchorError::Empty)
    } else {
        Ok(out)
    }
}

/// What the path check found.
#[derive(Debug, Clone, Default)]
pub struct ChainOutcome {
    /// Subjects from the anchor down to the signer (empty if no path to an anchor).
    pub chain: Vec<String>,
    /// Whether the path ends at a trust anchor.
    pub trusted: bool,
    /// Failed checks, in the order found.
    pub findings: Vec<Finding>,
    /// Remarks that do not change the indication.
    pub notes: Vec<String>,
    /// How each certificate's revocation status was established, signer first.
    pub revocation: Vec<RevocationCheck>,
}

/// The revocation status of one certificate of a path and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevocationCheck {
    /// The certificate's subject.
    pub certificate: String,
    /// `good`, `revoked` (with the time), or `not-checked`.
    pub status: String,
    /// The source: `OCSP (responder, thisUpdate …)`, `CRL (issuer, thisUpdate …)`, or `none`.
    pub source: String,
}

/// The signer's identity as shown in reports.
pub fn describe_signer(der: &[u8]) -> Option<Signer> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    Some(Signer {
        subject: cert.subject().to_string(),
        common_name,
        serial: hex(cert.raw_serial()),
        issuer: cert.issuer().to_string(),
    })
}

/// What the end-entity certificate is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Signing documents: key usage digitalSignature or nonRepudiation.
    Signing,
    /// Issuing time-stamp tokens: extended key usage timeStamping as well.
    TimeStamping,
}

/// Checks the path of `signer` (DER) to an anchor.
///
/// `signing_time` is the claimed signing time, `validation_time` the time of validation (now, or
/// `--at`); both Unix seconds. `crls` is the revocation data at hand: DER CRLs and DER OCSP
/// responses, in any order.
pub fn check_path<'a>(
    signer: &'a [u8],
    pool: &'a [Vec<u8>],
    anchors: &'a TrustAnchors,
    crls: &[Vec<u8>],
    signing_time: i64,
    validation_time: i64,
    purpose: Purpose,
) -> ChainOutcome {
    check_path_at(
        signer,
        pool,
        anchors,
        crls,
        signing_time,
        validation_time,
        validation_time,
        purpose,
    )
}

/// [`check_path`] for past signature validation (ETSI EN 319 102-1 §5.6): the certificates must
/// be valid, and not revoked, at `poe` (the proof of existence of the signed object: a
/// timestamp's time, or `now` without one), while revocation data issued up to `now` (the
/// validation time) counts. A certificate revoked after `poe` does not fail the signature.
#[allow(clippy::too_many_arguments)]
pub fn check_path_at<'a>(
    signer: &'a [u8],
    pool: &'a [Vec<u8>],
    anchors: &'a TrustAnchors,
    crls: &[Vec<u8>],
    signing_time: i64,
    poe: i64,
    now: i64,
    purpose: Purpose,
) -> ChainOutcome {
    let validation_time = poe;
    let mut out = ChainOutcome::default();
    let Ok((_, signer_cert)) = X509Certificate::from_der(signer) else {
        out.findings.push(Finding::indeterminate(
            SubIndication::NoSigningCertificateFound,
            "signer certificate is unreadable",
        ));
        return out;
    };

    // Build: signer first, each next certificate the verified issuer of the previous.
    let mut path: Vec<(X509Certificate<'a>, &'a [u8])> = vec![(signer_cert, signer)];
    let mut trusted = false;
    loop {
        let (last, last_der) = path
            .last()
            .map(|(c, d)| (c, *d))
            .expect("path is never empty");
        if anchors.iter().any(|a| a == last_der) {
            trusted = true;
            break;
        }
        if path.len() >= MAX_CHAIN {
            break;
        }
        fn parse(cand: &[u8]) -> Option<X509Certificate<'_>> {
            X509Certificate::from_der(cand).ok().map(|(_, c)| c)
        }
        let issued_by = |cand: &'a [u8]| -> Option<X509Certificate<'a>> {
            let c = parse(cand)?;
            (c.subject().as_raw() == last.issuer().as_raw() && signed_by(last, &c)).then_some(c)
        };
        if let Some((c, d)) = anchors.iter().find_map(|a| issued_by(a).map(|c| (c, a))) {
            path.push((c, d));
            trusted = true;
            break;
        }
        let next = pool
            .iter()
            .filter(|d| !path.iter().any(|(_, p)| p == &d.as_slice()))
            .find_map(|d| issued_by(d).map(|c| (c, d.as_slice())));
        match next {
            Some(n) => path.push(n),
            None => break,
        }
    }
    out.trusted = trusted;
    if !trusted {
        out.findings.push(Finding::indeterminate(
            SubIndication::NoCertificateChainFound,
            format!(
                "no chain from the signer to a configured trust anchor (issuer {})",
                path.last()
                    .map(|(c, _)| c.issuer().to_string())
                    .unwrap_or_default()
            ),
        ));
        return out;
    }
    out.chain = path
        .iter()
        .rev()
        .map(|(c, _)| c.subject().to_string())
        .collect();

    // Constraints, validity and revocation, signer first.
    for (i, (cert, _)) in path.iter().enumerate() {
        let name = cert.subject().to_string();
        let is_signer = i == 0;
        let is_anchor = i == path.len() - 1;
        for ext in cert.extensions() {
            if ext.critical
                && matches!(
                    ext.parsed_extension(),
                    ParsedExtension::UnsupportedExtension { .. }
                        | ParsedExtension::ParseError { .. }
                )
            {
                out.findings.push(Finding::indeterminate(
                    SubIndication::ChainConstraintsFailure,
                    format!("{name}: unknown critical extension {}", ext.oid),
                ));
            }
        }
        let ku = cert.key_usage().ok().flatten().map(|k| *k.value);
        if is_signer {
            if let Some(ku) = ku
                && !ku.digital_signature()
                && !ku.non_repudiation()
            {
                out.findings.push(Finding::indeterminate(
                    SubIndication::SigConstraintsFailure,
                    format!("{name}: key usage allows neither digitalSignature nor nonRepudiation"),
                ));
            }
            let time_stamping = cert
                .extended_key_usage()
                .ok()
                .flatten()
                .is_some_and(|e| e.value.time_stamping);
            if purpose == Purpose::TimeStamping && !time_stamping {
                out.findings.push(Finding::indeterminate(
                    SubIndication::SigConstraintsFailure,
                    format!(
                        "{name}: not a time-stamping authority (no extended key usage timeStamping)"
                    ),
                ));
            }
        } else {
            let bc = cert
                .basic_constraints()
                .ok()
                .flatten()
                .map(|b| (b.value.ca, b.value.path_len_constraint));
            if !bc.is_some_and(|b| b.0) {
                out.findings.push(Finding::indeterminate(
                    SubIndication::ChainConstraintsFailure,
                    format!("{name}: not a CA certificate"),
                ));
            }
            if let Some(ku) = ku
                && !ku.key_cert_sign()
            {
                out.findings.push(Finding::indeterminate(
                    SubIndication::ChainConstraintsFailure,
                    format!("{name}: key usage lacks keyCertSign"),
                ));
            }
            // CA certificates below this one, excluding the signer.
            let below = i - 1;
            if let Some(limit) = bc.and_then(|b| b.1)
                && below as u32 > limit
            {
                out.findings.push(Finding::indeterminate(
                    SubIndication::ChainConstraintsFailure,
                    format!("{name}: path length constraint {limit} exceeded"),
                ));
            }
        }
        let v = cert.validity();
        let (nb, na) = (v.not_before.timestamp(), v.not_after.timestamp());
        if signing_time < nb {
            let finding = if is_signer {
                Finding::failed(
                    SubIndication::NotYetValid,
                    format!("{name}: not yet valid at the claimed signing time"),
                )
            } else {
                Finding::indeterminate(
                    SubIndication::OutOfBoundsNoPoe,
                    format!("{name}: not yet valid at the claimed signing time"),
                )
            };
            out.findings.push(finding);
        } else if signing_time > na {
            out.findings.push(Finding::indeterminate(
                SubIndication::OutOfBoundsNoPoe,
                format!("{name}: expired before the claimed signing time"),
            ));
        } else if validation_time > na {
            out.findings.push(Finding::indeterminate(
                SubIndication::OutOfBoundsNoPoe,
                format!("{name}: expired at validation time and no timestamp proves the signature existed before"),
            ));
        }
        if is_anchor {
            continue;
        }
        let (issuer, issuer_der) = (&path[i + 1].0, path[i + 1].1);
        let (status, source) = revocation(
            cert,
            path[i].1,
            issuer,
            issuer_der,
            crls,
            validation_time,
            now,
        );
        let status_word = match status {
            Revocation::Unknown => "not-checked".to_owned(),
            Revocation::Good { .. } => "good".to_owned(),
            Revocation::Revoked(at) => format!("revoked {}", super::fmt_time(at)),
        };
        out.revocation.push(RevocationCheck {
            certificate: name.clone(),
            status: status_word,
            source,
        });
        match status {
            Revocation::Unknown => out.notes.push(format!(
                "{name}: revocation not checked (no CRL or OCSP response from its issuer)"
            )),
            Revocation::Good { stale } => {
                if stale {
                    out.notes.push(format!(
                        "{name}: not revoked, but the CRL is past its next update"
                    ));
                }
            }
            Revocation::Revoked(at) if at > validation_time && validation_time < now => {
                out.notes.push(format!(
                    "{name}: revoked on {}, after the proof of existence {}",
                    super::fmt_time(at),
                    super::fmt_time(validation_time)
                ));
            }
            Revocation::Revoked(at) => {
                let when = super::fmt_time(at);
                let finding = if !is_signer {
                    Finding::indeterminate(
                        SubIndication::RevokedCaNoPoe,
                        format!("{name}: CA certificate revoked on {when}"),
                    )
                } else if at <= signing_time {
                    Finding::failed(
                        SubIndication::Revoked,
                        format!("{name}: revoked on {when}, before the claimed signing time"),
                    )
                } else {
                    Finding::indeterminate(
                        SubIndication::RevokedNoPoe,
                        format!("{name}: revoked on {when}; nothing proves the signature is older"),
                    )
                };
                out.findings.push(finding);
            }
        }
    }
    out
}

enum Revocation {
    Unknown,
    Good { stale: bool },
    Revoked(i64),
}

/// The status of `cert` from the revocation data `items` (CRLs and OCSP responses issued by or
/// for `issuer`, not after `now`), and a description of the source used. A "not revoked" counts
/// only from data still current at `poe` or later (its nextUpdate not before `poe`): a CRL or
/// response that had expired before the time the signature is judged at says nothing about it.
#[allow(clippy::too_many_arguments)]
fn revocation(
    cert: &X509Certificate<'_>,
    cert_der: &[u8],
    issuer: &X509Certificate<'_>,
    issuer_der: &[u8],
    items: &[Vec<u8>],
    poe: i64,
    now: i64,
) -> (Revocation, String) {
    // Only in past validation (a proof of existence before now): at the validation time itself,
    // a CRL past its nextUpdate still counts, reported as stale.
    let current_at_poe = |this: i64, next: Option<i64>| {
        poe >= now
            || next.unwrap_or(this + super::ocsp::MAX_AGE_WITHOUT_NEXT_UPDATE) + super::ocsp::SKEW
                >= poe
    };
    let mut result = Revocation::Unknown;
    let mut source = "none".to_owned();
    let issuer_name = issuer
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    for der in items {
        let Ok((_, crl)) = CertificateRevocationList::from_der(der) else {
            // Not a CRL: an OCSP response about this certificate, perhaps.
            let Ok(answer) = super::ocsp::check_response(
                der,
                cert_der,
                issuer_der,
                &super::ocsp::Expect::default(),
            ) else {
                continue;
            };
            if answer.produced_at > now + super::ocsp::SKEW {
                continue;
            }
            let described = format!(
                "OCSP ({}, thisUpdate {})",
                answer.responder,
                super::fmt_time(answer.this_update)
            );
            match answer.state {
                super::ocsp::CertState::Revoked(at) => return (Revocation::Revoked(at), described),
                super::ocsp::CertState::Good
                    if current_at_poe(answer.this_update, answer.next_update) =>
                {
                    result = Revocation::Good { stale: false };
                    source = described;
                }
                super::ocsp::CertState::Good => {}
                super::ocsp::CertState::Unknown => {}
            }
            continue;
        };
        if crl.issuer().as_raw() != issuer.subject().as_raw() || !crl_signed_by(&crl, issuer) {
            continue;
        }
        if crl.last_update().timestamp() > now {
            continue;
        }
        let described = format!(
            "CRL ({issuer_name}, thisUpdate {})",
            super::fmt_time(crl.last_update().timestamp())
        );
        if let Some(entry) = crl
            .iter_revoked_certificates()
            .find(|r| r.raw_serial() == cert.raw_serial())
        {
            return (
                Revocation::Revoked(entry.revocation_date.timestamp()),
                described,
            );
        }
        if !current_at_poe(
            crl.last_update().timestamp(),
            crl.next_update().map(|n| n.timestamp()),
        ) {
            continue;
        }
        let stale = crl.next_update().is_some_and(|n| n.timestamp() < now);
        result = match result {
            Revocation::Good { stale: s } => {
                if s && !stale {
                    source = described;
                }
                Revocation::Good { stale: s && stale }
            }
            _ => {
                source = described;
                Revocation::Good { stale }
            }
        };
    }
    (result, source)
}

fn crl_signed_by(crl: &CertificateRevocationList<'_>, issuer: &X509Certificate<'_>) -> bool {
    crypto::signed_with(
        &crl.signature_algorithm,
        crl.tbs_cert_list.as_ref(),
        &crl.signature_value.data,
        issuer,
    )
}

/// The revocation status of a certificate as the CRLs at hand tell it at one moment; what
/// signing checks before it signs (validation reports the same states in its own findings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationStatus {
    /// A current CRL of the issuer does not list it.
    Good,
    /// Only CRLs past their next update do not list it: not known to be good now.
    Stale,
    /// No CRL of the issuer (or none valid at that moment) is at hand.
    Unknown,
    /// A CRL of the issuer lists it as revoked at this time (Unix seconds).
    Revoked(i64),
    /// The certificate or its issuer could not be read, or the issuer did not sign it.
    Unreadable,
}

/// The revocation status of `cert_der`, issued by `issuer_der`, at `at` (Unix seconds), from
/// the CRLs `crls` (DER). Only CRLs whose issuer name is the issuer's and whose signature the
/// issuer's key verifies count.
pub fn revocation_status(
    cert_der: &[u8],
    issuer_der: &[u8],
    crls: &[Vec<u8>],
    at: i64,
) -> RevocationStatus {
    let (Ok((_, cert)), Ok((_, issuer))) = (
        X509Certificate::from_der(cert_der),
        X509Certificate::from_der(issuer_der),
    ) else {
        return RevocationStatus::Unreadable;
    };
    if cert.issuer().as_raw() != issuer.subject().as_raw()
        || cert.verify_signature(Some(issuer.public_key())).is_err()
    {
        return RevocationStatus::Unreadable;
    }
    match revocation(&cert, cert_der, &issuer, issuer_der, crls, at, at).0 {
        Revocation::Unknown => RevocationStatus::Unknown,
        Revocation::Good { stale: true } => RevocationStatus::Stale,
        Revocation::Good { stale: false } => RevocationStatus::Good,
        Revocation::Revoked(t) => RevocationStatus::Revoked(t),
    }
}

/// A CRL's thisUpdate and nextUpdate (Unix seconds), when the certificate `issuer_der` issued
/// and signed it; `None` otherwise (unreadable, another issuer, a signature that fails).
pub fn crl_times(crl_der: &[u8], issuer_der: &[u8]) -> Option<(i64, Option<i64>)> {
    let (_, crl) = CertificateRevocationList::from_der(crl_der).ok()?;
    let (_, issuer) = X509Certificate::from_der(issuer_der).ok()?;
    (crl.issuer().as_raw() == issuer.subject().as_raw() && crl_signed_by(&crl, &issuer)).then(
        || {
            (
                crl.last_update().timestamp(),
                crl.next_update().map(|t| t.timestamp()),
            )
        },
    )
}
