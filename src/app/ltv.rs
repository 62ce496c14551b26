//! Long-term signatures as use cases: [`make_long_term`] adds a `/DSS` (B-LT) and a document
//! timestamp (B-LTA) to a signed PDF, with the app's clock, trust anchors, TSAs and fetcher.
//! Signing calls it after each signature when `[ltv] level` asks; `kyso ltv extend` calls it on
//! files already signed (a new DSS and document timestamp before the last one's certificate
//! expires).
//!
//! When a source does not answer, nothing is added: the caller keeps the file as it is (a
//! valid B-B or B-T signature) and records what it owes ([`LtvOutcome::Owed`]).

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{App, AppError};
use crate::archive::outbox::{Item, Queue};
use crate::archive::{ArchiveError, ObjectKey, Outbox, SubmitRequest, Submitted};
use crate::audit;
use crate::config::LtvLevel;
use crate::ltv::schedule::{Candidate, Renewal, Schedule, ScheduledHead};
use crate::ltv::{self, LtvError, StatusSource};
use crate::pdf::Limits;
use crate::registry::{Db, Registry};
use crate::signing::timestamp::TimestampClient;
use crate::validation::chain::TrustAnchors;

/// What became of the long-term material asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LtvOutcome {
    /// `[ltv] level = "off"`.
    NotAsked,
    /// Added: the level reached, the revocation source of each certificate, and the document
    /// timestamp's time and TSA (B-LTA).
    Added {
        /// `b-lt` or `b-lta`.
        level: &'static str,
        /// Where each certificate's status came from.
        sources: Vec<StatusSource>,
        /// The document timestamp: genTime (RFC 3339) and TSA name.
        timestamp: Option<(String, String)>,
    },
    /// Nothing added; owed, with the reasons.
    Owed {
        /// `b-lt` or `b-lta`: what is owed.
        level: &'static str,
        /// Why each source failed.
        reasons: Vec<String>,
    },
}

impl LtvOutcome {
    /// The audit entry's `ltv` detail (`null` when not asked).
    pub fn audit_detail(&self) -> Value {
        match self {
            LtvOutcome::NotAsked => Value::Null,
            LtvOutcome::Added {
                level,
                sources,
                timestamp,
            } => json!({
                "state": "added",
                "level": level,
                "sources": sources,
                "document_timestamp": timestamp.as_ref().map(|(t, tsa)| json!({"time": t, "tsa": tsa})),
            }),
            LtvOutcome::Owed { level, reasons } => {
                json!({"state": "owed", "level": level, "reasons": reasons})
            }
        }
    }

    /// What to tell the person who signed (Vietnamese, then English); empty when not asked.
    pub fn summary(&self) -> String {
        match self {
            LtvOutcome::NotAsked => String::new(),
            LtvOutcome::Added {
                level, timestamp, ..
            } => match timestamp {
                Some((t, tsa)) => format!(
                    "chữ ký dài hạn / long-term signature {}: DSS + dấu thời gian tài liệu / document timestamp {t} ({tsa})",
                    level.to_ascii_uppercase()
                ),
                None => format!(
                    "chữ ký dài hạn / long-term signature {}: DSS",
                    level.to_ascii_uppercase()
                ),
            },
            LtvOutcome::Owed { level, reasons } => format!(
                "CHƯA có dữ liệu kiểm tra dài hạn, còn nợ {} / long-term material owed ({})",
                level.to_ascii_uppercase(),
                reasons.join("; ")
            ),
        }
    }
}

fn level_name(level: LtvLevel) -> &'static str {
    match level {
        LtvLevel::Off => "off",
        LtvLevel::Lt => "b-lt",
        LtvLevel::Lta => "b-lta",
    }
}

/// The configured trust anchors (`trust`), for finding roots when building paths.
fn anchors(app: &App) -> Result<TrustAnchors, AppError> {
    let mut anchors = TrustAnchors::new();
    for path in &app.settings().trust {
        let data = std::fs::read(path).map_err(|e| AppError::io(path, e))?;
        anchors.add_pem_or_der(&data).map_err(|e| {
            AppError::Denied(super::error::Denial::input(
                format!("{}: {e}", path.display()),
                format!("{}: {e}", path.display()),
            ))
        })?;
    }
    Ok(anchors)
}

/// Adds the material `level` asks for to `pdf` (signed): the grown file and what was added,
/// or `pdf` unchanged and what is owed. Errors only for a file that cannot be read or
/// extended, or a configuration that cannot be used.
pub fn make_long_term(
    app: &App,
    pdf: &[u8],
    level: LtvLevel,
) -> Result<(Vec<u8>, LtvOutcome), AppError> {
    if level == LtvLevel::Off {
        return Ok((pdf.to_vec(), LtvOutcome::NotAsked));
    }
    let name = level_name(level);
    let owed = |reasons: Vec<String>| {
        Ok((
            pdf.to_vec(),
            LtvOutcome::Owed {
                level: name,
                reasons,
            },
        ))
    };
    let limits = Limits::default();
    let client = TimestampClient::from_settings(app.settings())?;
    if level == LtvLevel::Lta && client.is_none() {
        return Err(LtvError::NoTsa.into());
    }
    let now = app.now().unix_timestamp();
    let doc = crate::pdf::load(pdf, &limits).map_err(LtvError::from)?;
    let existing = ltv::read_dss(&doc, &limits);
    drop(doc);
    let gathered = ltv::gather(pdf, &limits, &anchors(app)?, &existing, &app.fetcher(), now)?;
    if !gathered.missing.is_empty() {
        return owed(gathered.missing);
    }
    let mut bytes = ltv::add_dss(pdf, &gathered.material, &limits)?;
    let mut timestamp = None;
    if let (LtvLevel::Lta, Some(client)) = (level, &client) {
        match ltv::add_document_timestamp(&bytes, &limits, client, app.now()) {
            Ok((stamped, token)) => {
                bytes = stamped;
                timestamp = Some((token.report.time.unwrap_or_default(), token.report.tsa));
            }
            Err(LtvError::Timestamp(reasons)) => return owed(reasons),
            Err(e) => return Err(e.into()),
        }
    }
    Ok((
        bytes,
        LtvOutcome::Added {
            level: name,
            sources: gathered.sources,
            timestamp,
        },
    ))
}

/// Records that the file `sha256` (just signed, in the outbox) owes its long-term material,
/// inside the caller's transaction. Does nothing unless `outcome` is [`LtvOutcome::Owed`].
pub fn record_owed(
    db: &impl Schedule,
    sha256: &str,
    outcome: &LtvOutcome,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let LtvOutcome::Owed { level, reasons } = outcome else {
        return Ok(());
    };
    db.insert_owed(sha256, level, &reasons.join("; "), now)?;
    Ok(())
}

/// How many delivered documents still owe their long-term material.
pub fn owed_count(app: &App) -> Result<u64, AppError> {
    Ok(app.registry()?.db().owed_count()?)
}

/// Submits `bytes`, a long-term version of the archived document `item`, to the outbox as a new
/// archive version of the same document (same kind, commune and date), with `source` saying
/// what it is; inside the caller's unit of work `db`, with its other records.
fn submit_long_term(
    outbox: &Outbox,
    db: &impl Queue,
    item: &Item,
    bytes: &[u8],
    source: &str,
) -> Result<Submitted, ArchiveError> {
    let commune = item.key.as_str().split('/').nth(1);
    outbox.submit(
        db,
        SubmitRequest {
            bytes,
            kind: &item.kind,
            commune,
            date: item.date,
            source: Some(source),
        },
    )
}

/// What [`settle_owed`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Documents whose long-term version was made and submitted to the archive.
    pub added: u64,
    /// Documents still owing (sources still silent), with the reasons.
    pub still_owed: Vec<(String, String)>,
}

/// Most owed documents handled in one call.
const SETTLE_BATCH: usize = 500;

/// For each document owing long-term material, tries again: the delivered bytes come from
/// `bytes_of(outbox item)` (its staged copy, or the archive store); when the sources answer,
/// the long-term version is submitted to the outbox as a new archive version of the same
/// document (same kind, commune and date; the delivered file stays as it was), the debt is
/// marked settled and audited.
pub fn settle_owed(
    app: &App,
    mut bytes_of: impl FnMut(&Item) -> Option<Vec<u8>>,
) -> Result<Settled, AppError> {
    let mut registry = app.registry()?;
    let rows = registry.db().owed(SETTLE_BATCH)?;
    let outbox = Outbox::new(app.settings());
    let mut out = Settled::default();
    for owed in rows {
        let sha = owed.sha256;
        let now = app.now();
        let level = LtvLevel::parse(&owed.level).unwrap_or(LtvLevel::Lta);
        let item = ObjectKey::parse(&owed.object_key)
            .ok()
            .and_then(|k| outbox.find(&registry.db(), &k.sha256()).ok().flatten());
        let result: Result<(Vec<u8>, LtvOutcome, Item), String> = match item {
            None => Err("the outbox row is missing".to_owned()),
            Some(item) => match bytes_of(&item) {
                None => Err(
                    "the delivered copy is neither staged nor readable from the store".to_owned(),
                ),
                Some(bytes) => match make_long_term(app, &bytes, level) {
                    Ok((new, outcome @ LtvOutcome::Added { .. })) => Ok((new, outcome, item)),
                    Ok((_, LtvOutcome::Owed { reasons, .. })) => Err(reasons.join("; ")),
                    Ok((_, LtvOutcome::NotAsked)) => Err("nothing asked".to_owned()),
                    Err(e) => Err(e.to_string()),
                },
            },
        };
        registry.unit_of_work(|db| -> Result<(), AppError> {
        match result {
            Ok((new, outcome, item)) => {
                let source = format!(
                    "{} (dài hạn / long-term)",
                    item.source.as_deref().unwrap_or(&sha)
                );
                let submitted = submit_long_term(&outbox, &db, &item, &new, &source)?;
                let new_sha = submitted.key.sha256().hex();
                db.settle_owed(&sha, &new_sha, now)?;
                let mut details = json!({"delivered": sha, "long_term": new_sha, "archive": submitted.key.as_str()});
                details["ltv"] = outcome.audit_detail();
                audit::append(
                    &db,
                    "ltv",
                    "ltv.add",
                    &sha,
                    &details, now,
                )?;
                out.added += 1;
            }
            Err(reason) => {
                db.owed_attempt_failed(&sha, now, &reason)?;
                out.still_owed.push((sha, reason));
            }
        }
        Ok(())
        })?;
    }
    Ok(out)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Revocation data (DER OCSP responses and CRLs) for every certificate of the file's
/// signatures and timestamps, fetched now from the certificates' URLs, and what could not be
/// had: what `kyso verify --fetch` adds to a validation. The public service never fetches.
pub fn fetch_revocation(
    app: &App,
    pdf: &[u8],
    anchors: &TrustAnchors,
) -> Result<(Vec<Vec<u8>>, Vec<String>), AppError> {
    let limits = Limits::default();
    let gathered = match ltv::gather(
        pdf,
        &limits,
        anchors,
        &ltv::Material::default(),
        &app.fetcher(),
        app.now().unix_timestamp(),
    ) {
        Ok(g) => g,
        Err(LtvError::Unsigned) => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e.into()),
    };
    let mut items = gathered.material.ocsps;
    items.extend(gathered.material.crls);
    Ok((items, gathered.missing))
}

/// Whether `pdf` needs a new DSS and document timestamp now: it has no timestamp, or its newest
/// timestamp stops proving within `margin` of the app's clock (its TSA certificate expires, or
/// one of its algorithms reaches its end date in [`ltv::policy`]). Returns the reason when it
/// does.
pub fn renewal_due(
    app: &App,
    pdf: &[u8],
    margin: time::Duration,
) -> Result<Option<String>, AppError> {
    let now = app.now();
    match ltv::last_timestamp(pdf, &Limits::default())? {
        None => Ok(Some("no timestamp".to_owned())),
        Some(t) => {
            let at = unix(t.deadline.at);
            Ok((at - margin <= now).then(|| {
                format!(
                    "the newest timestamp ({}) stops proving {}: {}",
                    t.tsa,
                    rfc3339(at),
                    t.deadline.because
                )
            }))
        }
    }
}

fn unix(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(if t < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        time::macros::datetime!(9999-12-31 0:00 UTC)
    })
}

/// How long a document whose renewal could not move its deadline beyond the margin waits
/// before it is tried again: the TSA's own certificate (or algorithm) ends within the margin,
/// and asking it again tomorrow would give the same. A month leaves time for the TSA to renew
/// its certificate, and bounds the archive versions a stuck TSA costs to twelve a year.
const RETRY_INEFFECTIVE: time::Duration = time::Duration::days(30);
/// How long a document whose renewal failed (a source silent, bytes unreadable) waits.
const RETRY_FAILED: time::Duration = time::Duration::hours(1);
/// Most documents renewed in one pass; the next pass takes the rest.
const RENEW_BATCH: usize = 200;

/// What one [`renew_due`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewals {
    /// Registered documents looked at.
    pub checked: u64,
    /// Renewed: (document, new archive version's SHA-256, why it was due).
    pub renewed: Vec<(String, String, String)>,
    /// Renewed, but the new timestamp stops proving within the margin too: (document, why).
    pub ineffective: Vec<(String, String)>,
    /// Due but not renewed this time: (document, why).
    pub failed: Vec<(String, String)>,
}

/// The archive's scheduled renewal, one pass: for every registered document whose retention
/// outlasts the proof its newest archived version carries, when that proof ends within `[ltv]
/// renew_margin_days` (or there is none), adds a new DSS and document timestamp over that
/// version and submits the result to the outbox as a new archive version of the same document
/// (same kind, commune and date). The registered versions stay as delivered: the public page
/// calls the new version the original with long-term material added. `bytes_of` reads an
/// archived version (its staged copy, or the store).
pub fn renew_due(
    app: &App,
    mut bytes_of: impl FnMut(&Item) -> Option<Vec<u8>>,
) -> Result<Renewals, AppError> {
    let settings = app.settings();
    let margin = time::Duration::days(i64::from(settings.ltv.renew_margin_days));
    let mut registry = app.registry()?;
    let outbox = Outbox::new(settings);
    let candidates = registry.db().renewal_candidates()?;
    let mut out = Renewals::default();
    let mut attempted = 0usize;
    for c in candidates {
        out.checked += 1;
        let now = app.now();
        if c.retry_after.is_some_and(|t| t > now) {
            continue;
        }
        // Kept until: a record destroyed before its proof ends needs no renewal.
        let kept_until = match kept_until(settings, &c.kind, &c.delivered, &registry, now) {
            Some(k) => k,
            None => continue,
        };
        if kept_until.is_some_and(|k| k <= now) {
            continue;
        }
        let head = match &c.head {
            Some(h) => h.clone(),
            None => {
                // First look at this delivered version: its owed long-term version if one
                // was made, else itself; read it once to learn its deadline.
                let settled = registry.db().settled_version(&c.delivered)?;
                let head = settled.unwrap_or_else(|| c.delivered.clone());
                let Some(bytes) = read_version(&outbox, &registry, &head, &mut bytes_of) else {
                    out.failed
                        .push((c.document.clone(), format!("version {head} is unreadable")));
                    schedule_failure(&registry, &c, &head, now, "unreadable")?;
                    continue;
                };
                let last = ltv::last_timestamp(&bytes, &Limits::default())?;
                registry.db().set_schedule_head(&ScheduledHead {
                    document: &c.document,
                    delivered: &c.delivered,
                    head: &head,
                    deadline: last
                        .as_ref()
                        .map(|t| (unix(t.deadline.at), t.deadline.because.as_str())),
                    retry_after: None,
                    at: now,
                })?;
                if let Some(t) = last {
                    let at = unix(t.deadline.at);
                    if at - margin > now || kept_until.is_some_and(|k| k <= at) {
                        continue;
                    }
                }
                head
            }
        };
        if c.head.is_some() {
            let deadline = c.deadline;
            let due = deadline.is_none_or(|at| at - margin <= now);
            let outlasts = deadline.is_none_or(|at| kept_until.is_none_or(|k| k > at));
            if !due || !outlasts {
                continue;
            }
        }
        if attempted >= RENEW_BATCH {
            break;
        }
        attempted += 1;
        match renew_one(
            app,
            &mut registry,
            &outbox,
            &c,
            &head,
            margin,
            &mut bytes_of,
        ) {
            Ok((sha, reason, effective)) => {
                if !effective {
                    out.ineffective.push((c.document.clone(), reason.clone()));
                }
                out.renewed.push((c.document.clone(), sha, reason));
            }
            Err(why) => {
                schedule_failure(&registry, &c, &head, now, &why)?;
                out.failed.push((c.document.clone(), why));
            }
        }
    }
    Ok(out)
}

/// When the record of `kind` delivered as `sha` may be destroyed: `Some(None)` for never,
/// `None` when it is not kept at all. A record the outbox does not know is dated `now`.
fn kept_until(
    settings: &crate::config::Settings,
    kind: &str,
    sha: &str,
    registry: &Registry,
    now: OffsetDateTime,
) -> Option<Option<OffsetDateTime>> {
    let date = sha
        .parse::<crate::archive::Sha256>()
        .ok()
        .and_then(|s| {
            Outbox::new(settings)
                .find(&registry.db(), &s)
                .ok()
                .flatten()
        })
        .map_or_else(|| crate::archive::outbox::date_in_vietnam(now), |i| i.date);
    let retention = crate::retention::Retention::for_kind(&settings.archive.retention, kind);
    match crate::retention::lock_for(retention, settings.archive.lock_mode, date)? {
        crate::archive::Lock::Until { until, .. } => Some(Some(until)),
        _ => Some(None),
    }
}

fn read_version(
    outbox: &Outbox,
    registry: &Registry,
    sha: &str,
    bytes_of: &mut impl FnMut(&Item) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let item = outbox
        .find(&registry.db(), &sha.parse().ok()?)
        .ok()
        .flatten()?;
    bytes_of(&item).filter(|b| crate::archive::Sha256::of(b).hex() == sha)
}

fn schedule_failure(
    registry: &Registry,
    c: &Candidate,
    head: &str,
    now: OffsetDateTime,
    why: &str,
) -> Result<(), AppError> {
    registry.db().schedule_retry(
        &c.document,
        &c.delivered,
        head,
        now + RETRY_FAILED,
        why,
        now,
    )?;
    Ok(())
}

/// Renews `head` (an archived version of `c`'s document): the new version's SHA-256, why it
/// was due, and whether its own deadline lies beyond the margin. Errors are reasons to retry.
fn renew_one(
    app: &App,
    registry: &mut Registry,
    outbox: &Outbox,
    c: &Candidate,
    head: &str,
    margin: time::Duration,
    bytes_of: &mut impl FnMut(&Item) -> Option<Vec<u8>>,
) -> Result<(String, String, bool), String> {
    let item = head
        .parse()
        .ok()
        .and_then(|s| outbox.find(&registry.db(), &s).ok().flatten())
        .ok_or_else(|| format!("version {head} is not in the archive outbox"))?;
    let bytes = read_version(outbox, registry, head, bytes_of)
        .ok_or_else(|| format!("version {head} is unreadable"))?;
    let why = renewal_due(app, &bytes, margin)
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| "due".to_owned());
    let (new, outcome) = match make_long_term(app, &bytes, LtvLevel::Lta) {
        Ok((new, outcome @ LtvOutcome::Added { .. })) => (new, outcome),
        Ok((_, LtvOutcome::Owed { reasons, .. })) => return Err(reasons.join("; ")),
        Ok((_, LtvOutcome::NotAsked)) => return Err("nothing asked".to_owned()),
        Err(e) => return Err(e.to_string()),
    };
    let last = ltv::last_timestamp(&new, &Limits::default())
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the renewed version has no timestamp".to_owned())?;
    let now = app.now();
    let deadline = unix(last.deadline.at);
    let effective = deadline - margin > now;
    let record = |db: Db<'_>| -> Result<String, AppError> {
        let source = format!("{} (gia hạn dài hạn / long-term renewal)", c.document);
        let submitted = submit_long_term(outbox, &db, &item, &new, &source)?;
        let sha = submitted.key.sha256().hex();
        db.insert_renewal(&Renewal {
            sha256: &sha,
            document: &c.document,
            delivered: &c.delivered,
            previous: head,
            reason: &why,
            deadline: (deadline, &last.deadline.because),
            at: now,
        })?;
        db.set_schedule_head(&ScheduledHead {
            document: &c.document,
            delivered: &c.delivered,
            head: &sha,
            deadline: Some((deadline, &last.deadline.because)),
            retry_after: (!effective).then(|| now + RETRY_INEFFECTIVE),
            at: now,
        })?;
        let mut details = json!({
            "delivered": c.delivered,
            "previous": head,
            "renewed": sha,
            "archive": submitted.key.as_str(),
            "due": why,
            "deadline": rfc3339(deadline),
            "deadline_reason": last.deadline.because,
        });
        details["ltv"] = outcome.audit_detail();
        audit::append(&db, "ltv", "ltv.renew", &c.document, &details, now)?;
        Ok(sha)
    };
    let sha = registry.unit_of_work(record).map_err(|e| e.to_string())?;
    let reason = if effective {
        why
    } else {
        format!(
            "{why}; the new timestamp ({}) stops proving {} too: {}",
            last.tsa,
            rfc3339(deadline),
            last.deadline.because
        )
    };
    Ok((sha, reason, effective))
}

/// How many renewals the archive holds (each a new archive version of a registered document).
pub fn renewal_count(app: &App) -> Result<u64, AppError> {
    Ok(app.registry()?.db().renewal_count()?)
}
