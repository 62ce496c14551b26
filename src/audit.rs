//! The audit log: every signing, refusal, delegation grant and revocation, appended to the
//! registry with each entry's hash covering the previous entry's hash (a hash chain).
//!
//! Editing an entry breaks its own hash; deleting or reordering entries breaks the next entry's
//! link; cutting entries off the end is caught by the head (last sequence number and hash)
//! kept in `registry_info`, updated in the same transaction as each append. Someone who can
//! rewrite the whole database can rewrite the chain too: anchoring the head elsewhere (a
//! timestamp, the archive) is what closes that, and the head is exposed for it.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// SQLite failed.
    #[error("audit log database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    /// Sequence number, from 1, without gaps.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who acted (an official id, `admin`, `kyso`).
    pub actor: String,
    /// What: `sign`, `refuse`, `delegation.grant`, `delegation.revoke`, ….
    pub action: String,
    /// On what (a document, a delegation id).
    pub subject: String,
    /// Details as JSON text.
    pub details: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

fn entry_hash(
    prev: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> String {
    // Each field length-prefixed, so no two different entries hash the same bytes.
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let seq_text = seq.to_string();
    for field in [prev, &seq_text, at, actor, action, subject, details] {
        ctx.update(&(field.len() as u64).to_be_bytes());
        ctx.update(field.as_bytes());
    }
    crate::pki::hex_upper(ctx.finish().as_ref()).to_ascii_lowercase()
}

/// Appends an entry; call inside the transaction that does the audited change, so both land
/// or neither does.
pub fn append(
    conn: &Connection,
    actor: &str,
    action: &str,
    subject: &str,
    details: &serde_json::Value,
) -> Result<AuditEntry, AuditError> {
    if conn.is_autocommit() {
        // Several processes may append at once (kyso sign runs beside the worker and other
        // signings): read the head and write the next entry under one write lock.
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = append_locked(conn, actor, action, subject, details);
        match &result {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        return result;
    }
    append_locked(conn, actor, action, subject, details)
}

fn append_locked(
    conn: &Connection,
    actor: &str,
    action: &str,
    subject: &str,
    details: &serde_json::Value,
) -> Result<AuditEntry, AuditError> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_owned()),
    };
    let at = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let details = details.to_string();
    let hash = entry_hash(&prev_hash, seq, &at, actor, action, subject, &details);
    conn.execute(
        "INSERT INTO audit_log(seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        params![seq, at, actor, action, subject, details, prev_hash, hash],
    )?;
    conn.execute(
        "INSERT INTO registry_info(key, value) VALUES ('audit_head', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [format!("{seq}:{hash}")],
    )?;
    Ok(AuditEntry {
        seq,
        at,
        actor: actor.into(),
        action: action.into(),
        subject: subject.into(),
        details,
        prev_hash,
        hash,
    })
}

/// One problem found by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditProblem {
    /// The entry concerned (for a cut-off tail, the head's sequence number).
    pub seq: i64,
    /// What is wrong.
    pub what: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditReport {
    /// Entries read.
    pub entries: i64,
    /// Problems, in log order; empty when the chain is intact.
    pub problems: Vec<AuditProblem>,
}

/// Re-computes every hash and link, and compares the last entry with the recorded head.
pub fn verify(conn: &Connection) -> Result<AuditReport, AuditError> {
    let mut st = conn.prepare("SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq")?;
    let mut rows = st.query([])?;
    let mut problems = Vec::new();
    let mut expected_prev = GENESIS.to_owned();
    let mut expected_seq = 1i64;
    let mut count = 0i64;
    let mut last: Option<(i64, String)> = None;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let (at, actor, action, subject, details, prev_hash, hash): (
            String,
            String,
            String,
            String,
            String,
            String,
            String,
        ) = (
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        );
        count += 1;
        if seq != expected_seq {
            problems.push(AuditProblem {
                seq,
                what: format!("entries {expected_seq}..{} are missing", seq - 1),
            });
        }
        if prev_hash != expected_prev {
            problems.push(AuditProblem { seq, what: "does not link to the entry before it (an entry was deleted, inserted or altered)".into() });
        }
        if entry_hash(&prev_hash, seq, &at, &actor, &action, &subject, &details) != hash {
            problems.push(AuditProblem {
                seq,
                what: format!(
                    "was edited: its content no longer matches its hash ({action} on {subject})"
                ),
            });
        }
        expected_prev = hash.clone();
        expected_seq = seq + 1;
        last = Some((seq, hash));
    }
    let head: Option<String> = conn
        .query_row(
            "SELECT value FROM registry_info WHERE key = 'audit_head'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let actual = last.as_ref().map(|(s, h)| format!("{s}:{h}"));
    if head != actual {
        let seq = head
            .as_deref()
            .and_then(|h| h.split(':').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        problems.push(AuditProblem {
            seq,
            what: format!(
                "the log's head was {} but the last entry is {}",
                head.unwrap_or_else(|| "absent".into()),
                actual.unwrap_or_else(|| "absent".into())
            ),
        });
    }
    Ok(AuditReport {
        entries: count,
        problems,
    })
}

/// All entries, oldest first (bounded by `limit`).
pub fn list(conn: &Connection, limit: i64) -> Result<Vec<AuditEntry>, AuditError> {
    let mut st = conn.prepare(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT ?1",
    )?;
    let mut out: Vec<AuditEntry> = st
        .query_map([limit], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                details: r.get(5)?,
                prev_hash: r.get(6)?,
                hash: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn edits_deletions_and_truncation_are_detected() {
        let reg = Registry::open_in_memory().unwrap();
        let c = reg.connection();
        for i in 0..5 {
            append(
                c,
                "admin",
                "delegation.grant",
                &format!("delegation:{i}"),
                &serde_json::json!({"i": i}),
            )
            .unwrap();
        }
        assert!(verify(c).unwrap().problems.is_empty());
        c.execute(
            "UPDATE audit_log SET details = '{\"i\":9}' WHERE seq = 3",
            [],
        )
        .unwrap();
        let r = verify(c).unwrap();
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].seq, 3);
        c.execute(
            "UPDATE audit_log SET details = '{\"i\":2}' WHERE seq = 3",
            [],
        )
        .unwrap();
        assert!(verify(c).unwrap().problems.is_empty());
        c.execute("DELETE FROM audit_log WHERE seq = 2", [])
            .unwrap();
        assert!(verify(c).unwrap().problems.iter().any(|p| p.seq == 3));
    }

    #[test]
    fn cutting_the_tail_is_detected() {
        let reg = Registry::open_in_memory().unwrap();
        let c = reg.connection();
        for _ in 0..3 {
            append(c, "kyso", "sign", "doc", &serde_json::json!({})).unwrap();
        }
        c.execute("DELETE FROM audit_log WHERE seq = 3", [])
            .unwrap();
        assert!(!verify(c).unwrap().problems.is_empty());
    }
}
