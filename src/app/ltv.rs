//! Long-term signatures as use cases: [`make_long_term`] adds a `/DSS` (B-LT) and a document
//! timestamp (B-LTA) to a signed PDF, with the app's clock, trust anchors, TSAs and fetcher.
//! Signing calls it after each signature when `[ltv] level` asks; `kyso ltv extend` calls it on
//! files already signed (a new DSS and document timestamp before the last one's certificate
//! expires).
//!
//! When a source does not answer, nothing is added: the caller keeps the file as it is (a
//! valid B-B or B-T signature) and records what it owes ([`LtvOutcome::Owed`]).

use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{App, AppError};
use crate::archive::outbox::Item;
use crate::archive::{ObjectKey, Outbox, SubmitRequest};
use crate::audit;
use crate::config::LtvLevel;
use crate::ltv::{self, LtvError, StatusSource};
use crate::pdf::Limits;
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
        match ltv::add_document_timestamp(&bytes, &limits, client) {
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
    conn: &Connection,
    sha256: &str,
    outcome: &LtvOutcome,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let LtvOutcome::Owed { level, reasons } = outcome else {
        return Ok(());
    };
    conn.execute(
        "INSERT INTO ltv_owed(sha256, level, reasons, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(sha256) DO NOTHING",
        params![sha256, level, reasons.join("; "), rfc3339(now)],
    )?;
    Ok(())
}

/// How many delivered documents still owe their long-term material.
pub fn owed_count(app: &App) -> Result<u64, AppError> {
    let registry = app.registry()?;
    let n: i64 = registry.connection().query_row(
        "SELECT COUNT(*) FROM ltv_owed WHERE settled_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
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
    let rows: Vec<(String, String, String)> = {
        let mut stmt = registry.connection().prepare(
            "SELECT o.sha256, o.level, a.object_key FROM ltv_owed o
             JOIN archive_outbox a ON a.sha256 = o.sha256
             WHERE o.settled_at IS NULL ORDER BY o.created_at LIMIT ?1",
        )?;
        stmt.query_map([SETTLE_BATCH as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?
    };
    let outbox = Outbox::new(app.settings());
    let mut out = Settled::default();
    for (sha, level, key) in rows {
        let now = app.now();
        let level = LtvLevel::parse(&level).unwrap_or(LtvLevel::Lta);
        let item = ObjectKey::parse(&key)
            .ok()
            .and_then(|k| outbox.find(&registry, &k.sha256()).ok().flatten());
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
        let tx = registry
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        match result {
            Ok((new, outcome, item)) => {
                let commune = key.split('/').nth(1).map(str::to_owned);
                let source = format!(
                    "{} (dài hạn / long-term)",
                    item.source.as_deref().unwrap_or(&sha)
                );
                let submitted = outbox.submit_with(
                    &tx,
                    SubmitRequest {
                        bytes: &new,
                        kind: &item.kind,
                        commune: commune.as_deref(),
                        date: Some(item.date),
                        source: Some(&source),
                    },
                )?;
                let new_sha = submitted.key.sha256().hex();
                tx.execute(
                    "UPDATE ltv_owed SET settled_sha256 = ?2, settled_at = ?3, attempts = attempts + 1,
                     last_attempt_at = ?3, last_error = NULL WHERE sha256 = ?1",
                    params![sha, new_sha, rfc3339(now)],
                )?;
                let mut details = json!({"delivered": sha, "long_term": new_sha, "archive": submitted.key.as_str()});
                details["ltv"] = outcome.audit_detail();
                audit::append(&tx, "ltv", "ltv.add", &sha, &details)?;
                out.added += 1;
            }
            Err(reason) => {
                tx.execute(
                    "UPDATE ltv_owed SET attempts = attempts + 1, last_attempt_at = ?2, last_error = ?3
                     WHERE sha256 = ?1",
                    params![sha, rfc3339(now), reason],
                )?;
                out.still_owed.push((sha, reason));
            }
        }
        tx.commit()?;
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
/// timestamp's TSA certificate expires within `margin` of the app's clock. Returns the reason
/// when it does.
pub fn renewal_due(
    app: &App,
    pdf: &[u8],
    margin: time::Duration,
) -> Result<Option<String>, AppError> {
    let now = app.now();
    match ltv::last_timestamp(pdf, &Limits::default())? {
        None => Ok(Some("no timestamp".to_owned())),
        Some(t) => {
            let expires = OffsetDateTime::from_unix_timestamp(t.tsa_expires)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            Ok((expires - margin <= now).then(|| {
                format!(
                    "the newest timestamp's TSA certificate ({}) expires {}",
                    t.tsa,
                    rfc3339(expires)
                )
            }))
        }
    }
}
