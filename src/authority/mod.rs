//! Authority: who may sign which kind of document, in their own right or under a delegation
//! (Decree 30/2020 Art. 13: TM., KT., TL., TUQ., Q.), decided before anything is signed.
//!
//! The decision ([`decide`]) is pure: it takes the official, the certificate about to sign, the
//! document kind, the time, the requester's ID number and the candidate delegations, and returns
//! an [`Authorisation`] (the proof signing asks for) or a [`Refusal`] a clerk understands.
//! [`grant`] turns a delegation into an RFC 5755 attribute certificate signed by the delegator,
//! carried inside each signature made under it so that anyone can check it offline;
//! [`store`] keeps officials, certificates, title powers and delegations in the registry.

pub mod grant;
pub mod store;

use std::fmt;

use time::OffsetDateTime;

use crate::pki::Certificate;

/// The marks of Decree 30/2020 Art. 13 for signing on someone else's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// Thay mặt: the head on behalf of a collective body.
    Tm,
    /// Ký thay: a deputy in place of the head.
    Kt,
    /// Thừa lệnh: by order of the head.
    Tl,
    /// Thừa ủy quyền: special authorisation, limited in time and scope, never passed on.
    Tuq,
    /// Quyền: an acting head.
    Q,
}

impl Mark {
    /// Parses `TM`, `KT.`, `tuq`, …
    pub fn parse(s: &str) -> Option<Mark> {
        match s.trim().trim_end_matches('.').to_ascii_uppercase().as_str() {
            "TM" => Some(Mark::Tm),
            "KT" => Some(Mark::Kt),
            "TL" => Some(Mark::Tl),
            "TUQ" => Some(Mark::Tuq),
            "Q" => Some(Mark::Q),
            _ => None,
        }
    }

    /// The code stored in the registry (`TM`, `KT`, …).
    pub fn code(self) -> &'static str {
        match self {
            Mark::Tm => "TM",
            Mark::Kt => "KT",
            Mark::Tl => "TL",
            Mark::Tuq => "TUQ",
            Mark::Q => "Q",
        }
    }

    /// Whether a delegate may delegate this power onward. TUQ. never may (Decree 30/2020
    /// Art. 13.4).
    pub fn may_be_delegated_onward(self) -> bool {
        self != Mark::Tuq
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.", self.code())
    }
}

/// A registered official (or the agency itself, for the seal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Official {
    /// Short handle, e.g. `chu-tich`.
    pub id: String,
    /// Full name.
    pub full_name: String,
    /// Title, e.g. "Phó Chủ tịch".
    pub title: String,
    /// Agency, e.g. "UBND xã Tân Lạc".
    pub agency: String,
    /// Personal ID number; `None` for the agency seal.
    pub citizen_id: Option<String>,
    /// Whether this entry is the agency seal.
    pub is_seal: bool,
}

/// A delegation as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// Registry id.
    pub id: i64,
    /// The mark.
    pub mark: Mark,
    /// Who delegates.
    pub delegator: Official,
    /// To whom.
    pub delegate: Official,
    /// Document kinds covered.
    pub scope: Vec<String>,
    /// Start of validity.
    pub valid_from: OffsetDateTime,
    /// End of validity.
    pub valid_until: OffsetDateTime,
    /// Decision number (the written basis), e.g. "15/QĐ-UBND".
    pub basis_number: String,
    /// Decision date, `YYYY-MM-DD`.
    pub basis_date: String,
    /// The grant as a DER attribute certificate signed by the delegator.
    pub grant_der: Vec<u8>,
    /// When and why it was revoked.
    pub revoked: Option<(OffsetDateTime, String)>,
}

impl Delegation {
    /// The capacity line of the signing block: "KT. CHỦ TỊCH" over "PHÓ CHỦ TỊCH".
    pub fn capacity_lines(&self) -> (String, String) {
        (
            format!("{} {}", self.mark, self.delegator.title.to_uppercase()),
            self.delegate.title.to_uppercase(),
        )
    }
}

/// How an official may sign: the proof signing asks for. Only [`decide`] makes one.
#[derive(Debug, Clone)]
pub struct Authorisation {
    capacity: Capacity,
    official: Official,
    kind: String,
}

/// The capacity in which an official signs.
#[derive(Debug, Clone)]
pub enum Capacity {
    /// In their own right (their title signs this kind).
    OwnRight,
    /// Under this delegation.
    Delegated(Box<Delegation>),
}

impl Authorisation {
    /// The capacity.
    pub fn capacity(&self) -> &Capacity {
        &self.capacity
    }

    /// Who signs.
    pub fn official(&self) -> &Official {
        &self.official
    }

    /// The document kind decided on.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The claimed role written into the signature, e.g. "KT. CHỦ TỊCH / PHÓ CHỦ TỊCH" or
    /// "CHỦ TỊCH".
    pub fn claimed_role(&self) -> String {
        match &self.capacity {
            Capacity::OwnRight => self.official.title.to_uppercase(),
            Capacity::Delegated(d) => {
                let (a, b) = d.capacity_lines();
                format!("{a} / {b}")
            }
        }
    }
}

/// Why an official may not sign. Each message is for a clerk: Vietnamese first, then English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The certificate is not one registered for this official.
    #[error(
        "chứng thư số không thuộc về {official} / the certificate is not registered to {official}"
    )]
    CertificateNotRegistered {
        /// The official.
        official: String,
    },
    /// The certificate is outside its validity at the signing time.
    #[error(
        "chứng thư số của {official} đã hết hạn hoặc chưa có hiệu lực / {official}'s certificate is expired or not yet valid (valid {not_before} – {not_after})"
    )]
    CertificateNotValid {
        /// The official.
        official: String,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// The certifier is the requester (Decree 23/2015 Art. 9.3).
    #[error(
        "người chứng thực không được chứng thực việc của chính mình / the certifier may not certify a matter of their own (same ID number as the requester; Decree 23/2015 Art. 9.3)"
    )]
    CertifierIsRequester,
    /// No own power and no delegation at all for this kind.
    #[error(
        "{official} không có thẩm quyền ký loại giấy tờ {kind} / {official} has no authority to sign {kind}, in their own right or by delegation"
    )]
    NoAuthority {
        /// The official.
        official: String,
        /// The document kind.
        kind: String,
    },
    /// The delegation is not yet in force.
    #[error(
        "ủy quyền số {id} chưa có hiệu lực (từ {from}) / delegation {id} is not yet in force (from {from})"
    )]
    NotYetValid {
        /// Delegation id.
        id: i64,
        /// Start of validity.
        from: String,
    },
    /// The delegation has expired.
    #[error("ủy quyền số {id} đã hết hạn ({until}) / delegation {id} expired at {until}")]
    Expired {
        /// Delegation id.
        id: i64,
        /// End of validity.
        until: String,
    },
    /// The delegation was revoked.
    #[error(
        "ủy quyền số {id} đã bị thu hồi lúc {at}: {reason} / delegation {id} was revoked at {at}: {reason}"
    )]
    Revoked {
        /// Delegation id.
        id: i64,
        /// When.
        at: String,
        /// Why.
        reason: String,
    },
    /// The delegation does not cover this kind.
    #[error(
        "ủy quyền số {id} không bao gồm loại giấy tờ {kind} / delegation {id} does not cover {kind} (scope: {scope})"
    )]
    WrongKind {
        /// Delegation id.
        id: i64,
        /// The kind asked for.
        kind: String,
        /// The delegation's scope.
        scope: String,
    },
    /// The delegation names someone else.
    #[error(
        "ủy quyền số {id} được giao cho {grantee}, không phải {official} / delegation {id} was granted to {grantee}, not {official}"
    )]
    WrongDelegate {
        /// Delegation id.
        id: i64,
        /// Its grantee.
        grantee: String,
        /// Who tried to use it.
        official: String,
    },
    /// Several delegations are in force; the signer must name one.
    #[error(
        "có nhiều ủy quyền cùng hiệu lực ({ids}); hãy chọn một / several delegations are in force ({ids}); name one with --delegation"
    )]
    Ambiguous {
        /// Their ids.
        ids: String,
    },
    /// A TUQ. power may not be delegated onward.
    #[error(
        "quyền ký thừa ủy quyền (TUQ.) không được ủy quyền lại / a TUQ. power may not be delegated onward (Decree 30/2020 Art. 13)"
    )]
    TuqOnward,
    /// The delegator holds no power to delegate for these kinds.
    #[error(
        "{official} không có thẩm quyền đối với {kind} nên không thể ủy quyền / {official} holds no power over {kind} to delegate"
    )]
    NothingToDelegate {
        /// The would-be delegator.
        official: String,
        /// The kind.
        kind: String,
    },
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Where a delegation stands at `at` for `kind` and `official`, as a refusal if not usable.
pub fn check_delegation(
    d: &Delegation,
    official: &Official,
    kind: &str,
    at: OffsetDateTime,
) -> Result<(), Refusal> {
    if d.delegate.id != official.id {
        return Err(Refusal::WrongDelegate {
            id: d.id,
            grantee: d.delegate.id.clone(),
            official: official.id.clone(),
        });
    }
    if let Some((when, reason)) = &d.revoked
        && *when <= at
    {
        return Err(Refusal::Revoked {
            id: d.id,
            at: rfc3339(*when),
            reason: reason.clone(),
        });
    }
    if at < d.valid_from {
        return Err(Refusal::NotYetValid {
            id: d.id,
            from: rfc3339(d.valid_from),
        });
    }
    if at > d.valid_until {
        return Err(Refusal::Expired {
            id: d.id,
            until: rfc3339(d.valid_until),
        });
    }
    if !d.scope.iter().any(|k| k == kind) {
        return Err(Refusal::WrongKind {
            id: d.id,
            kind: kind.to_owned(),
            scope: d.scope.join(", "),
        });
    }
    Ok(())
}

/// What [`decide`] needs to know.
pub struct Request<'a> {
    /// Who is about to sign.
    pub official: &'a Official,
    /// The certificate about to sign.
    pub certificate: &'a Certificate,
    /// The certificates registered to the official.
    pub registered: &'a [Certificate],
    /// The document kind.
    pub kind: &'a str,
    /// The signing time.
    pub at: OffsetDateTime,
    /// The requester's personal ID number, when the document has a requester.
    pub requester_id: Option<&'a str>,
    /// Whether the official's title signs `kind` in its own right.
    pub own_right: bool,
    /// The delegations naming the official as delegate (or the one the signer named).
    pub delegations: &'a [Delegation],
    /// The delegation the signer named explicitly, if any.
    pub chosen: Option<i64>,
}

/// Decides whether the official may sign now, and in which capacity.
pub fn decide(req: &Request<'_>) -> Result<Authorisation, Refusal> {
    let official = req.official;
    if !req.registered.iter().any(|c| c == req.certificate) {
        return Err(Refusal::CertificateNotRegistered {
            official: official.id.clone(),
        });
    }
    let (nb, na) = req.certificate.validity();
    if req.at < nb || req.at > na {
        return Err(Refusal::CertificateNotValid {
            official: official.id.clone(),
            not_before: rfc3339(nb),
            not_after: rfc3339(na),
        });
    }
    if let (Some(req_id), Some(own)) = (req.requester_id, official.citizen_id.as_deref())
        && normalise_id(req_id) == normalise_id(own)
    {
        return Err(Refusal::CertifierIsRequester);
    }
    if let Some(chosen) = req.chosen {
        let d = req
            .delegations
            .iter()
            .find(|d| d.id == chosen)
            .ok_or_else(|| Refusal::NoAuthority {
                official: official.id.clone(),
                kind: req.kind.to_owned(),
            })?;
        check_delegation(d, official, req.kind, req.at)?;
        return Ok(Authorisation {
            capacity: Capacity::Delegated(Box::new(d.clone())),
            official: official.clone(),
            kind: req.kind.to_owned(),
        });
    }
    if req.own_right {
        return Ok(Authorisation {
            capacity: Capacity::OwnRight,
            official: official.clone(),
            kind: req.kind.to_owned(),
        });
    }
    let mine: Vec<&Delegation> = req
        .delegations
        .iter()
        .filter(|d| d.delegate.id == official.id)
        .collect();
    let usable: Vec<&Delegation> = mine
        .iter()
        .copied()
        .filter(|d| check_delegation(d, official, req.kind, req.at).is_ok())
        .collect();
    match usable.as_slice() {
        [one] => Ok(Authorisation {
            capacity: Capacity::Delegated(Box::new((*one).clone())),
            official: official.clone(),
            kind: req.kind.to_owned(),
        }),
        [] => {
            // Report why the closest candidate fails: one that covers the kind first.
            let covering = mine
                .iter()
                .find(|d| d.scope.iter().any(|k| k == req.kind))
                .or(mine.first());
            match covering {
                Some(d) => {
                    Err(check_delegation(d, official, req.kind, req.at).expect_err("not usable"))
                }
                None => Err(Refusal::NoAuthority {
                    official: official.id.clone(),
                    kind: req.kind.to_owned(),
                }),
            }
        }
        many => Err(Refusal::Ambiguous {
            ids: many
                .iter()
                .map(|d| d.id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Checks that `delegator` may grant `mark` over `scope` at `at`: for every kind they hold
/// the power in their own right, or under a delegation in force that may be passed on.
pub fn check_grant(
    delegator: &Official,
    scope: &[String],
    at: OffsetDateTime,
    own_right: &dyn Fn(&str) -> bool,
    delegator_holds: &[Delegation],
) -> Result<(), Refusal> {
    for kind in scope {
        if own_right(kind) {
            continue;
        }
        let via: Vec<&Delegation> = delegator_holds
            .iter()
            .filter(|d| check_delegation(d, delegator, kind, at).is_ok())
            .collect();
        if via.is_empty() {
            return Err(Refusal::NothingToDelegate {
                official: delegator.id.clone(),
                kind: kind.clone(),
            });
        }
        if via.iter().all(|d| !d.mark.may_be_delegated_onward()) {
            return Err(Refusal::TuqOnward);
        }
    }
    Ok(())
}

/// Keeps the digits of an ID number (spaces and dots are common when typed).
pub fn normalise_id(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Why signing under authority could not proceed: a refusal, or the registry failing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// The official may not sign.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The registry failed or names something unknown.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A stored grant does not verify with any registered certificate of its delegator.
    #[error("delegation {id}: {source}")]
    Grant {
        /// Delegation id.
        id: i64,
        /// The cause.
        source: grant::GrantError,
    },
}

/// What a signature made under an [`Authorisation`] carries: the signer-attributes-v2 signed
/// attribute, and the delegator's certificate so the grant can be checked offline.
pub struct SignatureClaims {
    /// The signed attribute.
    pub attribute: x509_cert::attr::Attribute,
    /// Certificates to add to the CMS.
    pub certificates: Vec<Certificate>,
}

/// Loads what [`decide`] needs from the registry and decides.
pub fn authorise(
    conn: &rusqlite::Connection,
    official_id: &str,
    certificate: &Certificate,
    kind: &str,
    at: OffsetDateTime,
    requester_id: Option<&str>,
    chosen: Option<i64>,
) -> Result<Authorisation, AuthorityError> {
    let official = store::official(conn, official_id)?;
    let registered = store::certificates_of(conn, official_id)?;
    let own_right = store::signs_in_own_right(conn, &official, kind)?;
    let delegations = match chosen {
        Some(id) => vec![store::delegation(conn, id)?],
        None => store::delegations_to(conn, official_id)?,
    };
    Ok(decide(&Request {
        official: &official,
        certificate,
        registered: &registered,
        kind,
        at,
        requester_id,
        own_right,
        delegations: &delegations,
        chosen,
    })?)
}

/// The claims a signature under `auth` carries: the claimed role, and for a delegation the
/// grant plus the delegator certificate that verifies it.
pub fn signature_claims(
    conn: &rusqlite::Connection,
    auth: &Authorisation,
) -> Result<SignatureClaims, AuthorityError> {
    match auth.capacity() {
        Capacity::OwnRight => Ok(SignatureClaims {
            attribute: grant::signer_attributes(&auth.claimed_role(), Some(auth.kind()), None)
                .map_err(|source| AuthorityError::Grant { id: 0, source })?,
            certificates: Vec::new(),
        }),
        Capacity::Delegated(d) => {
            let delegator_certs = store::certificates_of(conn, &d.delegator.id)?;
            let (_, delegator_cert) = grant::verify(&d.grant_der, &delegator_certs)
                .map_err(|source| AuthorityError::Grant { id: d.id, source })?;
            Ok(SignatureClaims {
                attribute: grant::signer_attributes(
                    &auth.claimed_role(),
                    Some(auth.kind()),
                    Some(&d.grant_der),
                )
                .map_err(|source| AuthorityError::Grant { id: d.id, source })?,
                certificates: vec![delegator_cert.clone()],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn official(id: &str, title: &str, cid: &str) -> Official {
        Official {
            id: id.into(),
            full_name: id.into(),
            title: title.into(),
            agency: "UBND xã Tân Lạc".into(),
            citizen_id: Some(cid.into()),
            is_seal: false,
        }
    }

    fn delegation(
        id: i64,
        mark: Mark,
        from: &Official,
        to: &Official,
        scope: &[&str],
    ) -> Delegation {
        Delegation {
            id,
            mark,
            delegator: from.clone(),
            delegate: to.clone(),
            scope: scope.iter().map(|s| s.to_string()).collect(),
            valid_from: time::macros::datetime!(2026-01-01 00:00 UTC),
            valid_until: time::macros::datetime!(2026-12-31 00:00 UTC),
            basis_number: "15/QĐ-UBND".into(),
            basis_date: "2025-12-30".into(),
            grant_der: Vec::new(),
            revoked: None,
        }
    }

    #[test]
    fn marks_parse_and_tuq_is_never_passed_on() {
        assert_eq!(Mark::parse("KT."), Some(Mark::Kt));
        assert_eq!(Mark::parse("tuq"), Some(Mark::Tuq));
        assert_eq!(Mark::parse("XX"), None);
        assert!(!Mark::Tuq.may_be_delegated_onward());
        assert!(Mark::Kt.may_be_delegated_onward());
    }

    #[test]
    fn delegation_checks_in_a_clerk_s_order() {
        let chair = official("chu-tich", "Chủ tịch", "001");
        let vice = official("pho-chu-tich", "Phó Chủ tịch", "002");
        let d = delegation(1, Mark::Kt, &chair, &vice, &["chung-thuc-chu-ky"]);
        let inside = time::macros::datetime!(2026-06-01 00:00 UTC);
        assert!(check_delegation(&d, &vice, "chung-thuc-chu-ky", inside).is_ok());
        assert!(matches!(
            check_delegation(&d, &chair, "chung-thuc-chu-ky", inside),
            Err(Refusal::WrongDelegate { .. })
        ));
        assert!(matches!(
            check_delegation(&d, &vice, "hop-dong", inside),
            Err(Refusal::WrongKind { .. })
        ));
        assert!(matches!(
            check_delegation(
                &d,
                &vice,
                "chung-thuc-chu-ky",
                time::macros::datetime!(2025-06-01 00:00 UTC)
            ),
            Err(Refusal::NotYetValid { .. })
        ));
        assert!(matches!(
            check_delegation(
                &d,
                &vice,
                "chung-thuc-chu-ky",
                time::macros::datetime!(2027-06-01 00:00 UTC)
            ),
            Err(Refusal::Expired { .. })
        ));
        let mut r = d.clone();
        r.revoked = Some((
            time::macros::datetime!(2026-03-01 00:00 UTC),
            "điều chuyển công tác".into(),
        ));
        assert!(matches!(
            check_delegation(&r, &vice, "chung-thuc-chu-ky", inside),
            Err(Refusal::Revoked { .. })
        ));
        // Before the revocation it was still in force (a signature made then stays valid).
        assert!(
            check_delegation(
                &r,
                &vice,
                "chung-thuc-chu-ky",
                time::macros::datetime!(2026-02-01 00:00 UTC)
            )
            .is_ok()
        );
        assert_eq!(
            d.capacity_lines(),
            ("KT. CHỦ TỊCH".to_string(), "PHÓ CHỦ TỊCH".to_string())
        );
    }

    #[test]
    fn a_tuq_holder_cannot_delegate_onward_but_a_kt_holder_can() {
        let chair = official("chu-tich", "Chủ tịch", "001");
        let vice = official("pho-chu-tich", "Phó Chủ tịch", "002");
        let at = time::macros::datetime!(2026-06-01 00:00 UTC);
        let tuq = delegation(1, Mark::Tuq, &chair, &vice, &["ban-sao"]);
        let scope = vec!["ban-sao".to_string()];
        assert_eq!(
            check_grant(&vice, &scope, at, &|_| false, &[tuq]),
            Err(Refusal::TuqOnward)
        );
        let kt = delegation(2, Mark::Kt, &chair, &vice, &["ban-sao"]);
        assert!(check_grant(&vice, &scope, at, &|_| false, &[kt]).is_ok());
        assert!(matches!(
            check_grant(&vice, &scope, at, &|_| false, &[]),
            Err(Refusal::NothingToDelegate { .. })
        ));
        assert!(check_grant(&chair, &scope, at, &|k| k == "ban-sao", &[]).is_ok());
    }

    #[test]
    fn ids_compare_by_digits() {
        assert_eq!(normalise_id("001 099.012345"), "001099012345");
    }
}
