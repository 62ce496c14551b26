//! Long-term signatures as use cases: [`make_long_term`] adds a `/DSS` (B-LT) and a document
//! timestamp (B-LTA) to a signed PDF, with the app's clock, trust anchors, TSAs and fetcher.
//! Signing calls it after each signature when `[ltv] level` asks; `kyso ltv extend` calls it on
//! files already signed (a new DSS and document timestamp before the last one's certificate
//! expires).
//!
//! When a source does not answer, nothing is added: the caller keeps the file as it is (a
//! valid B-B or B-T signature) and records what it owes ([`LtvOutcome::Owed`]).

use serde_json::{Value, json};

use super::{App, AppError};
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
