//! Authority: who may sign which kind of document, in their own right or under a delegation
//! (Decree 30/2020 Art. 13: TM., KT., TL., TUQ., Q.), decided before anything is signed.
//!
//! The decision ([`decide`]) is pure: it takes the official, the certificate about to sign, the
//! document kind, the time, the requester's ID number and the candidate delegations, and returns
//! an [`Authorisation`] (the proof signing asks for) or a [`Refusal`] a clerk understands.
//! [`grant`] turns a delegation into an RFC 5755 attribute certificate signed by the delegator,
//! carried inside each signature made under it so that anyone can check it offline;
//! [`store`] reads and keeps officials, certificates, title powers and delegations through the
//! [`Records`] a store implements (the registry).

pub mod grant;
pub mod store;

pub use store::Records;

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
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.", self.code())
    }
}

/// Where an official stands in the commune, as Decree 30/2020 Art. 13 needs it to say who may
/// grant what: only the head grants KT., TM., TL., TUQ. and Q.; KT. goes to the head's own
/// deputies; TL. goes to a unit head, who may pass it once to their own deputy (same unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// The head of the committee (Chủ tịch).
    Head,
    /// A deputy of the head (Phó Chủ tịch).
    DeputyHead,
    /// The head of a unit (e.g. Chánh Văn phòng).
    UnitHead,
    /// A deputy of a unit head (e.g. Phó Chánh Văn phòng).
    UnitDeputy,
    /// Anyone else (a civil servant at the desk).
    Staff,
    /// The agency seal (an organisation certificate, not a person).
    Seal,
}

impl Position {
    /// Parses the stored code (`head`, `deputy-head`, `unit-head`, `unit-deputy`, `staff`, `seal`).
    pub fn parse(s: &str) -> Option<Position> {
        Some(match s.trim() {
            "head" => Position::Head,
            "deputy-head" => Position::DeputyHead,
            "unit-head" => Position::UnitHead,
            "unit-deputy" => Position::UnitDeputy,
            "staff" => Position::Staff,
            "seal" => Position::Seal,
            _ => return None,
        })
    }

    /// The stored code.
    pub fn code(self) -> &'static str {
        match self {
            Position::Head => "head",
            Position::DeputyHead => "deputy-head",
            Position::UnitHead => "unit-head",
            Position::UnitDeputy => "unit-deputy",
            Position::Staff => "staff",
            Position::Seal => "seal",
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
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
    /// Where the official stands (who may grant them what).
    pub position: Position,
    /// The unit they belong to (`""` for the committee's leadership).
    pub unit: String,
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
    /// The grant this one derives from (a TL. holder's KT. to their own deputy), if any.
    pub source: Option<Box<Delegation>>,
}

impl Delegation {
    /// The capacity line of the signing block: "KT. CHỦ TỊCH" over "PHÓ CHỦ TỊCH"; under a derived
    /// grant the source's mark comes first: "TL. CHỦ TỊCH / KT. CHÁNH VĂN PHÒNG" over
    /// "PHÓ CHÁNH VĂN PHÒNG".
    pub fn capacity_lines(&self) -> (String, String) {
        let own = format!("{} {}", self.mark, self.delegator.title.to_uppercase());
        let first = match &self.source {
            Some(src) => format!(
                "{} {} / {own}",
                src.mark,
                src.delegator.title.to_uppercase()
            ),
            None => own,
        };
        (first, self.delegate.title.to_uppercase())
    }

    /// The chain of grants, source first, ending with this one.
    pub fn chain(&self) -> Vec<&Delegation> {
        let mut v = match &self.source {
            Some(src) => src.chain(),
            None => Vec::new(),
        };
        v.push(self);
        v
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
    /// The grant breaks Decree 30/2020 Art. 13's rules on who may grant what to whom.
    #[error("{vi} / {en} (Decree 30/2020 Art. 13)")]
    GrantNotAllowed {
        /// Why, in Vietnamese.
        vi: String,
        /// Why, in English.
        en: String,
    },
    /// The grant a derived delegation rests on is no longer in force.
    #[error(
        "ủy quyền số {id} dựa trên ủy quyền số {source_id}, nay không còn hiệu lực: {why} / delegation {id} derives from delegation {source_id}, which is no longer in force: {why}"
    )]
    SourceNotInForce {
        /// The derived delegation.
        id: i64,
        /// Its source.
        source_id: i64,
        /// Why the source fails.
        why: Box<Refusal>,
    },
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
/// A derived grant is usable only while every grant it rests on is in force for `kind` too
/// (DOMAIN.md §6: it ends when its source ends or is revoked).
pub fn check_delegation(
    d: &Delegation,
    official: &Official,
    kind: &str,
    at: OffsetDateTime,
) -> Result<(), Refusal> {
    check_one(d, official, kind, at)?;
    if let Some(src) = &d.source {
        check_delegation(src, &d.delegator, kind, at).map_err(|why| Refusal::SourceNotInForce {
            id: d.id,
            source_id: src.id,
            why: Box::new(why),
        })?;
    }
    Ok(())
}

fn check_one(
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
    /// The personal ID numbers of everyone the document's matter concerns (requesters,
    /// parties), from the register entry (or declared for a document outside the registers).
    pub requester_ids: &'a [String],
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
    if let Some(own) = official.citizen_id.as_deref()
        && req
            .requester_ids
            .iter()
            .any(|r| normalise_id(r) == normalise_id(own))
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

/// A grant about to be made: who grants what to whom, over which kinds and window, and the grant
/// it derives from, if any.
pub struct GrantRequest<'a> {
    /// The mark.
    pub mark: Mark,
    /// Who grants.
    pub delegator: &'a Official,
    /// To whom.
    pub delegate: &'a Official,
    /// Kinds covered.
    pub scope: &'a [String],
    /// Start of validity.
    pub valid_from: OffsetDateTime,
    /// End of validity.
    pub valid_until: OffsetDateTime,
    /// The source grant, for a derived grant.
    pub source: Option<&'a Delegation>,
    /// When the grant is made.
    pub at: OffsetDateTime,
}

fn not_allowed(vi: impl Into<String>, en: impl Into<String>) -> Refusal {
    Refusal::GrantNotAllowed {
        vi: vi.into(),
        en: en.into(),
    }
}

/// Checks a grant against Decree 30/2020 Art. 13 as DOMAIN.md §6 states it:
/// * KT., TM., TL., TUQ. and Q. are granted by the head, over kinds the head signs in their own
///   right (`own_right`); KT. and TM. only to the head's own deputies, TL. only to a unit head;
/// * only TL. passes on, once: its holder (a unit head) may grant KT. to their own deputy (same
///   unit), within the source's scope and window, while the source is in force;
/// * nothing else passes on, and a derived grant is never passed on again.
pub fn check_grant(
    req: &GrantRequest<'_>,
    own_right: &dyn Fn(&str) -> bool,
) -> Result<(), Refusal> {
    let (from, to) = (req.delegator, req.delegate);
    if from.id == to.id {
        return Err(not_allowed(
            "không thể tự ủy quyền cho chính mình",
            "an official cannot delegate to themselves",
        ));
    }
    if from.is_seal || to.is_seal {
        return Err(not_allowed(
            "con dấu cơ quan không giao hay nhận ủy quyền",
            "the agency seal neither grants nor receives delegations",
        ));
    }
    if req.scope.is_empty() {
        return Err(not_allowed(
            "ủy quyền phải nêu ít nhất một loại giấy tờ",
            "a grant must name at least one document kind",
        ));
    }
    if req.valid_until <= req.valid_from {
        return Err(not_allowed(
            "thời hạn kết thúc phải sau thời điểm bắt đầu",
            "the grant must end after it starts",
        ));
    }
    match req.source {
        None => {
            if from.position != Position::Head {
                return Err(not_allowed(
                    format!(
                        "chỉ người đứng đầu mới được giao {}; {} không phải người đứng đầu",
                        req.mark, from.id
                    ),
                    format!(
                        "only the head grants {}; {} is not the head",
                        req.mark, from.id
                    ),
                ));
            }
            let fits = match req.mark {
                Mark::Kt | Mark::Tm => to.position == Position::DeputyHead && to.unit == from.unit,
                Mark::Tl => to.position == Position::UnitHead,
                Mark::Tuq | Mark::Q => to.position != Position::Seal,
            };
            if !fits {
                let (vi, en) = match req.mark {
                    Mark::Kt | Mark::Tm => (
                        "chỉ giao cho cấp phó của người đứng đầu",
                        "goes only to the head's own deputies",
                    ),
                    _ => (
                        "chỉ giao cho người đứng đầu đơn vị",
                        "goes only to a unit head",
                    ),
                };
                return Err(not_allowed(
                    format!("{} {vi}; {} không phải", req.mark, to.id),
                    format!("{} {en}; {} is not one", req.mark, to.id),
                ));
            }
            for kind in req.scope {
                if !own_right(kind) {
                    return Err(Refusal::NothingToDelegate {
                        official: from.id.clone(),
                        kind: kind.clone(),
                    });
                }
            }
        }
        Some(src) => {
            if src.mark == Mark::Tuq {
                return Err(not_allowed(
                    "quyền ký thừa ủy quyền (TUQ.) không được ủy quyền lại",
                    "a TUQ. power is never passed on",
                ));
            }
            if src.mark != Mark::Tl || src.source.is_some() {
                return Err(not_allowed(
                    format!(
                        "chỉ quyền thừa lệnh (TL.) được giao lại, một lần; ủy quyền số {} là {}",
                        src.id, src.mark
                    ),
                    format!(
                        "only a TL. grant passes on, once; delegation {} is {}",
                        src.id, src.mark
                    ),
                ));
            }
            if src.delegate.id != from.id {
                return Err(not_allowed(
                    format!("ủy quyền số {} không được giao cho {}", src.id, from.id),
                    format!("delegation {} was not granted to {}", src.id, from.id),
                ));
            }
            if req.mark != Mark::Kt || to.position != Position::UnitDeputy || to.unit != from.unit {
                return Err(not_allowed(
                    "người được thừa lệnh chỉ giao lại cho cấp phó của mình, để ký thay (KT.)",
                    "a TL. holder passes it on only to their own deputy, who signs KT. under it",
                ));
            }
            if req.valid_from < src.valid_from || req.valid_until > src.valid_until {
                return Err(not_allowed(
                    format!("thời hạn vượt quá thời hạn của ủy quyền số {}", src.id),
                    format!("the window exceeds that of delegation {}", src.id),
                ));
            }
            if let Some(k) = req.scope.iter().find(|k| !src.scope.contains(k)) {
                return Err(not_allowed(
                    format!(
                        "loại giấy tờ {k} nằm ngoài phạm vi của ủy quyền số {}",
                        src.id
                    ),
                    format!("kind {k} is outside the scope of delegation {}", src.id),
                ));
            }
            // The source must be in force when the grant is made, for every kind passed on.
            for kind in req.scope {
                check_delegation(src, from, kind, req.at.max(req.valid_from))?;
            }
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
    db: &impl Records,
    official_id: &str,
    certificate: &Certificate,
    kind: &str,
    at: OffsetDateTime,
    requester_ids: &[String],
    chosen: Option<i64>,
) -> Result<Authorisation, AuthorityError> {
    let official = store::official(db, official_id)?;
    let registered = store::certificates_of(db, official_id)?;
    let own_right = store::signs_in_own_right(db, &official, kind)?;
    let delegations = match chosen {
        Some(id) => vec![store::delegation(db, id)?],
        None => store::delegations_to(db, official_id)?,
    };
    Ok(decide(&Request {
        official: &official,
        certificate,
        registered: &registered,
        kind,
        at,
        requester_ids,
        own_right,
        delegations: &delegations,
        chosen,
    })?)
}

/// The claims a signature under `auth` carries: the claimed role, and for a delegation the
/// grant plus the delegator certificate that verifies it.
pub fn signature_claims(
    db: &impl Records,
    auth: &Authorisation,
) -> Result<SignatureClaims, AuthorityError> {
    match auth.capacity() {
        Capacity::OwnRight => Ok(SignatureClaims {
            attribute: grant::signer_attributes(&auth.claimed_role(), Some(auth.kind()), &[])
                .map_err(|source| AuthorityError::Grant { id: 0, source })?,
            certificates: Vec::new(),
        }),
        Capacity::Delegated(d) => {
            // Every grant of the chain travels in the signature, source first, with the
            // certificate that verifies it, so that a verifier checks the whole chain offline.
            let mut grants = Vec::new();
            let mut certificates = Vec::new();
            for link in d.chain() {
                let delegator_certs = store::certificates_of(db, &link.delegator.id)?;
                let (_, delegator_cert) = grant::verify(&link.grant_der, &delegator_certs)
                    .map_err(|source| AuthorityError::Grant {
                        id: link.id,
                        source,
                    })?;
                certificates.push(delegator_cert.clone());
                grants.push(link.grant_der.as_slice());
            }
            Ok(SignatureClaims {
                attribute: grant::signer_attributes(
                    &auth.claimed_role(),
                    Some(auth.kind()),
                    &grants,
                )
                .map_err(|source| AuthorityError::Grant { id: d.id, source })?,
                certificates,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn official(id: &str, title: &str, cid: &str) -> Official {
        let (position, unit) = match title {
            "Chủ tịch" => (Position::Head, ""),
            "Phó Chủ tịch" => (Position::DeputyHead, ""),
            "Chánh Văn phòng" => (Position::UnitHead, "VP"),
            "Phó Chánh Văn phòng" => (Position::UnitDeputy, "VP"),
            _ => (Position::Staff, "VP"),
        };
        Official {
            id: id.into(),
            full_name: id.into(),
            title: title.into(),
            agency: "UBND xã Tân Lạc".into(),
            citizen_id: Some(cid.into()),
            is_seal: false,
            position,
            unit: unit.into(),
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
            source: None,
        }
    }

    #[test]
    fn marks_parse_and_tuq_is_never_passed_on() {
        assert_eq!(Mark::parse("KT."), Some(Mark::Kt));
        assert_eq!(Mark::parse("tuq"), Some(Mark::Tuq));
        assert_eq!(Mark::parse("XX"), None);
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

    fn request<'a>(
        mark: Mark,
        from: &'a Official,
        to: &'a Official,
        scope: &'a [String],
        source: Option<&'a Delegation>,
    ) -> GrantRequest<'a> {
        GrantRequest {
            mark,
            delegator: from,
            delegate: to,
            scope,
            valid_from: time::macros::datetime!(2026-02-01 00:00 UTC),
            valid_until: time::macros::datetime!(2026-11-30 00:00 UTC),
            source,
            at: time::macros::datetime!(2026-02-01 00:00 UTC),
        }
    }

    #[test]
    fn only_the_head_grants_and_only_to_the_right_position() {
        let chair = official("chu-tich", "Chủ tịch", "001");
        let vice = official("pho-chu-tich", "Phó Chủ tịch", "002");
        let office = official("chanh-vp", "Chánh Văn phòng", "003");
        let clerk = official("cong-chuc", "Công chức", "004");
        let scope = vec!["ban-sao".to_string()];
        let own = |k: &str| k == "ban-sao";
        assert!(check_grant(&request(Mark::Kt, &chair, &vice, &scope, None), &own).is_ok());
        assert!(check_grant(&request(Mark::Tl, &chair, &office, &scope, None), &own).is_ok());
        assert!(check_grant(&request(Mark::Tuq, &chair, &clerk, &scope, None), &own).is_ok());
        // KT. only to the head's deputies; TL. only to a unit head; only the head grants.
        for (mark, from, to) in [
            (Mark::Kt, &chair, &clerk),
            (Mark::Kt, &chair, &office),
            (Mark::Tm, &chair, &clerk),
            (Mark::Tl, &chair, &vice),
            (Mark::Kt, &vice, &clerk),
            (Mark::Tuq, &vice, &clerk),
        ] {
            assert!(
                matches!(
                    check_grant(&request(mark, from, to, &scope, None), &own),
                    Err(Refusal::GrantNotAllowed { .. })
                ),
                "{mark} {} -> {}",
                from.id,
                to.id
            );
        }
        // The head grants only what the head signs in their own right.
        assert!(matches!(
            check_grant(&request(Mark::Kt, &chair, &vice, &scope, None), &|_| false),
            Err(Refusal::NothingToDelegate { .. })
        ));
    }

    #[test]
    fn only_tl_passes_on_once_to_the_holders_own_deputy_within_its_bounds() {
        let chair = official("chu-tich", "Chủ tịch", "001");
        let vice = official("pho-chu-tich", "Phó Chủ tịch", "002");
        let office = official("chanh-vp", "Chánh Văn phòng", "003");
        let deputy = official("pho-vp", "Phó Chánh Văn phòng", "004");
        let mut other_unit = official("pho-tp", "Phó Chánh Văn phòng", "005");
        other_unit.unit = "TP".into();
        let scope = vec!["ban-sao".to_string()];
        let own = |_: &str| false;
        let tl = delegation(1, Mark::Tl, &chair, &office, &["ban-sao"]);
        assert!(
            check_grant(
                &request(Mark::Kt, &office, &deputy, &scope, Some(&tl)),
                &own
            )
            .is_ok()
        );
        // Another unit's deputy, another mark, someone who does not hold the TL.
        for (mark, from, to) in [
            (Mark::Kt, &office, &other_unit),
            (Mark::Tl, &office, &deputy),
            (Mark::Kt, &vice, &deputy),
        ] {
            assert!(check_grant(&request(mark, from, to, &scope, Some(&tl)), &own).is_err());
        }
        // KT. and TUQ. never pass on; a derived grant never passes on again.
        let kt = delegation(2, Mark::Kt, &chair, &vice, &["ban-sao"]);
        let tuq = delegation(3, Mark::Tuq, &chair, &office, &["ban-sao"]);
        assert!(check_grant(&request(Mark::Kt, &vice, &deputy, &scope, Some(&kt)), &own).is_err());
        assert!(
            check_grant(
                &request(Mark::Kt, &office, &deputy, &scope, Some(&tuq)),
                &own
            )
            .is_err()
        );
        let mut derived = delegation(4, Mark::Kt, &office, &deputy, &["ban-sao"]);
        derived.source = Some(Box::new(tl.clone()));
        assert!(
            check_grant(
                &request(Mark::Kt, &deputy, &office, &scope, Some(&derived)),
                &own
            )
            .is_err()
        );
        // Scope and window never exceed the source's.
        let wider = vec!["ban-sao".to_string(), "hop-dong".to_string()];
        assert!(
            check_grant(
                &request(Mark::Kt, &office, &deputy, &wider, Some(&tl)),
                &own
            )
            .is_err()
        );
        let mut long = request(Mark::Kt, &office, &deputy, &scope, Some(&tl));
        long.valid_until = time::macros::datetime!(2027-06-01 00:00 UTC);
        assert!(check_grant(&long, &own).is_err());
        // A revoked source passes nothing on.
        let mut revoked = tl.clone();
        revoked.revoked = Some((time::macros::datetime!(2026-01-15 00:00 UTC), "x".into()));
        assert!(
            check_grant(
                &request(Mark::Kt, &office, &deputy, &scope, Some(&revoked)),
                &own
            )
            .is_err()
        );
    }

    #[test]
    fn a_derived_grant_ends_with_its_source_and_shows_both_marks() {
        let chair = official("chu-tich", "Chủ tịch", "001");
        let office = official("chanh-vp", "Chánh Văn phòng", "003");
        let deputy = official("pho-vp", "Phó Chánh Văn phòng", "004");
        let mut tl = delegation(1, Mark::Tl, &chair, &office, &["ban-sao"]);
        let mut derived = delegation(2, Mark::Kt, &office, &deputy, &["ban-sao"]);
        derived.source = Some(Box::new(tl.clone()));
        let at = time::macros::datetime!(2026-06-01 00:00 UTC);
        assert!(check_delegation(&derived, &deputy, "ban-sao", at).is_ok());
        assert_eq!(
            derived.capacity_lines(),
            (
                "TL. CHỦ TỊCH / KT. CHÁNH VĂN PHÒNG".to_string(),
                "PHÓ CHÁNH VĂN PHÒNG".to_string()
            )
        );
        tl.revoked = Some((time::macros::datetime!(2026-05-01 00:00 UTC), "x".into()));
        derived.source = Some(Box::new(tl));
        assert!(matches!(
            check_delegation(&derived, &deputy, "ban-sao", at),
            Err(Refusal::SourceNotInForce { .. })
        ));
    }

    #[test]
    fn ids_compare_by_digits() {
        assert_eq!(normalise_id("001 099.012345"), "001099012345");
    }
}
