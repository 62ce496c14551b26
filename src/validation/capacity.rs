//! The capacity a signature claims, checked offline: the claimed role and document kind from
//! CAdES signer-attributes-v2, and for a delegation the grant (an attribute certificate signed by
//! the delegator) — whose signature must verify with a delegator certificate that chains to a
//! trust anchor, whose holder must be the signer, whose window must contain the claimed signing
//! time and whose scope must contain the claimed kind. A claimed delegation that fails any of these
//! keeps the signature from TOTAL-PASSED (INDETERMINATE, SIG_CONSTRAINTS_FAILURE).
//!
//! Revocation of a delegation is recorded in the commune's registry, not in the PDF; a verifier
//! holding only the PDF learns the grant's window, and kyso's registry-backed verification
//! (the service) adds the revocation state.

use serde::Serialize;
use x509_parser::prelude::FromDer;

use super::chain::{self, TrustAnchors};
use super::findings::{Finding, SubIndication};
use crate::authority::grant;
use crate::pki::Certificate;

/// What the report says about the capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapacityReport {
    /// `own-right` or `delegation`.
    pub basis: String,
    /// The role claimed in the signature, e.g. "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH".
    pub claimed_role: Option<String>,
    /// The document kind claimed in the signature.
    pub document_kind: Option<String>,
    /// The delegation, when one is claimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation: Option<DelegationReport>,
}

/// A claimed delegation and what could be verified of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DelegationReport {
    /// `KT.`, `TUQ.`, ….
    pub mark: String,
    /// On behalf of whom: name and title.
    pub on_behalf_of: String,
    /// The delegate as the grant names them.
    pub delegate: String,
    /// The written basis: decision number and date.
    pub basis: String,
    /// Validity window, RFC 3339.
    pub valid_from: String,
    /// End of the window.
    pub valid_until: String,
    /// Kinds covered.
    pub scope: Vec<String>,
    /// The grant's signature verifies with the delegator's certificate.
    pub grant_signature_valid: bool,
    /// The delegator's certificate chains to a trust anchor (and is valid, not revoked).
    pub grant_trusted: bool,
    /// Delegator chain, anchor first.
    pub grant_chain: Vec<String>,
    /// The grant names the signer as holder.
    pub holder_is_signer: bool,
    /// The claimed signing time lies inside the window.
    pub signing_time_in_window: bool,
    /// The claimed document kind lies inside the scope.
    pub kind_in_scope: bool,
    /// All of the above, for every grant of the chain.
    pub verified: bool,
    /// The chain of grants the signature carries, source first, the signer's own last: one
    /// link for a direct grant, two for a TL. passed on to the holder's deputy.
    pub chain: Vec<ChainLink>,
}

/// One grant of a chain, as verified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    /// `TL.`, `KT.`, ….
    pub mark: String,
    /// The delegator: name and title.
    pub on_behalf_of: String,
    /// The delegate: name and title.
    pub delegate: String,
    /// The written basis.
    pub basis: String,
    /// This grant verified (signature, trust, holder, window, scope).
    pub verified: bool,
}

/// Checks the signer-attributes-v2 value `sa_der` of a signature by `signer_der`, with the CMS
/// certificates `pool`. Returns the report and the findings that keep the signature from passing.
pub fn check(
    sa_der: &[u8],
    signer_der: &[u8],
    pool: &[Vec<u8>],
    anchors: &TrustAnchors,
    crls: &[Vec<u8>],
    signing_time: Option<i64>,
    now: i64,
) -> (CapacityReport, Vec<Finding>) {
    let constraint = |m: String| Finding::indeterminate(SubIndication::SigConstraintsFailure, m);
    let attrs = match grant::read_signer_attributes(sa_der) {
        Ok(a) => a,
        Err(e) => {
            return (
                CapacityReport {
                    basis: "unreadable".into(),
                    ..Default::default()
                },
                vec![constraint(format!(
                    "the claimed capacity (signer-attributes-v2) cannot be read: {e}"
                ))],
            );
        }
    };
    let mut report = CapacityReport {
        basis: if attrs.grants.is_empty() {
            "own-right".into()
        } else {
            "delegation".into()
        },
        claimed_role: attrs.claimed_roles.first().cloned(),
        document_kind: attrs.claimed_kinds.first().cloned(),
        delegation: None,
    };
    let mut findings = Vec::new();
    let signer_subject = x509_parser::certificate::X509Certificate::from_der(signer_der)
        .map(|(_, c)| c.subject().as_raw().to_vec())
        .unwrap_or_default();
    let kind = report.document_kind.clone();
    let check = |g: &[u8], holder: &[u8]| {
        check_grant(
            g,
            holder,
            pool,
            anchors,
            crls,
            signing_time,
            now,
            kind.as_deref(),
        )
    };
    match attrs.grants.as_slice() {
        [] => {}
        [g] => {
            let (mut d, f) = check(g, &signer_subject);
            findings.extend(f);
            if let Ok(info) = grant::read(g)
                && info.source.is_some()
            {
                d.verified = false;
                findings.push(constraint(
                    "the delegation derives from another grant that the signature does not carry".into(),
                ));
            }
            d.chain = vec![link(&d)];
            report.delegation = Some(d);
        }
        [source, derived] => {
            // A TL. grant passed on once: the source's holder issued the derived grant, which
            // names the source, stays inside its window and scope, and is a KT.
            let derived_info = grant::read(derived);
            let source_info = grant::read(source);
            let source_holder = derived_info
                .as_ref()
                .map(|i| i.issuer_der.clone())
                .unwrap_or_default();
            let (src_report, f1) = check(source, &source_holder);
            let (mut d, f2) = check(derived, &signer_subject);
            findings.extend(f1);
            findings.extend(f2);
            let mut chain_ok = src_report.verified && d.verified;
            match (&source_info, &derived_info) {
                (Ok(si), Ok(di)) => {
                    let mut problems = Vec::new();
                    if di.source.as_deref() != Some(grant::sha256_hex(source).as_str()) {
                        problems.push("the derived grant does not name the grant carried before it");
                    }
                    if si.mark != "TL" || di.mark != "KT" {
                        problems.push("only a TL. grant passes on, as a KT. to the holder's deputy");
                    }
                    if si.source.is_some() {
                        problems.push("a grant passes on only once");
                    }
                    if di.window.0 < si.window.0 || di.window.1 > si.window.1 {
                        problems.push("the derived grant's window exceeds its source's");
                    }
                    if di.scope.iter().any(|k| !si.scope.contains(k)) {
                        problems.push("the derived grant's scope exceeds its source's");
                    }
                    for p in problems {
                        chain_ok = false;
                        findings.push(constraint(format!("chain of grants: {p}")));
                    }
                }
                _ => chain_ok = false,
            }
            d.chain = vec![link(&src_report), link(&d)];
            d.verified = chain_ok;
            report.delegation = Some(d);
        }
        _ => findings.push(constraint(
            "the signature claims more than two grants; a chain has at most a TL. and the KT. passed on from it".into(),
        )),
    }
    (report, findings)
}

fn link(d: &DelegationReport) -> ChainLink {
    ChainLink {
        mark: d.mark.clone(),
        on_behalf_of: d.on_behalf_of.clone(),
        delegate: d.delegate.clone(),
        basis: d.basis.clone(),
        verified: d.verified,
    }
}

#[allow(clippy::too_many_arguments)]
fn check_grant(
    der: &[u8],
    holder_subject: &[u8],
    pool: &[Vec<u8>],
    anchors: &TrustAnchors,
    crls: &[Vec<u8>],
    signing_time: Option<i64>,
    now: i64,
    kind: Option<&str>,
) -> (DelegationReport, Vec<Finding>) {
    let constraint = |m: String| Finding::indeterminate(SubIndication::SigConstraintsFailure, m);
    let mut findings = Vec::new();
    let info = match grant::read(der) {
        Ok(i) => i,
        Err(e) => {
            return (
                DelegationReport::default(),
                vec![constraint(format!(
                    "the claimed delegation cannot be read: {e}"
                ))],
            );
        }
    };
    let mut r = DelegationReport {
        mark: format!("{}.", info.mark),
        on_behalf_of: format!("{}, {}", info.delegator_name, info.delegator_title),
        delegate: format!("{}, {}", info.delegate_name, info.delegate_title),
        basis: format!("{} ngày/dated {}", info.basis_number, info.basis_date),
        valid_from: info.valid_from.clone(),
        valid_until: info.valid_until.clone(),
        scope: info.scope.clone(),
        ..Default::default()
    };
    let candidates: Vec<Certificate> = pool
        .iter()
        .filter_map(|d| Certificate::from_der(d.clone()).ok())
        .collect();
    match grant::verify(der, &candidates) {
        Ok((_, delegator)) => {
            r.grant_signature_valid = true;
            let outcome = chain::check_path(
                delegator.der(),
                pool,
                anchors,
                crls,
                signing_time.unwrap_or(now),
                now,
                chain::Purpose::Signing,
            );
            r.grant_trusted = outcome.trusted && outcome.findings.is_empty();
            r.grant_chain = outcome.chain;
            if !r.grant_trusted {
                let why: Vec<String> = outcome.findings.iter().map(|f| f.message.clone()).collect();
                findings.push(constraint(format!(
                    "the delegation grant is signed by a certificate that does not chain to a trusted root{}",
                    if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) }
                )));
            }
        }
        Err(e) => findings.push(constraint(format!(
            "the delegation grant does not verify: {e}"
        ))),
    }
    r.holder_is_signer = !holder_subject.is_empty() && holder_subject == info.holder_der;
    if !r.holder_is_signer {
        findings.push(constraint(
            "the delegation was granted to someone other than the one who used it".into(),
        ));
    }
    r.signing_time_in_window = match signing_time {
        Some(t) => t >= info.window.0.unix_timestamp() && t <= info.window.1.unix_timestamp(),
        None => false,
    };
    if !r.signing_time_in_window {
        findings.push(constraint(format!(
            "the claimed signing time is outside the delegation's window ({} – {})",
            info.valid_from, info.valid_until
        )));
    }
    r.kind_in_scope = kind.is_some_and(|k| info.scope.iter().any(|s| s == k));
    if !r.kind_in_scope {
        findings.push(constraint(match kind {
            Some(k) => format!("document kind {k} is outside the delegation's scope ({})", info.scope.join(", ")),
            None => "the signature does not state the document kind, so the delegation's scope cannot be checked".into(),
        }));
    }
    r.verified = r.grant_signature_valid
        && r.grant_trusted
        && r.holder_is_signer
        && r.signing_time_in_window
        && r.kind_in_scope;
    (r, findings)
}
