//! Long-term material's records in SQLite: `ltv_owed` (migration 0007), `ltv_schedule` and
//! `ltv_renewals` (migration 0009), behind [`crate::ltv::schedule::Schedule`].

use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::outbox::rfc3339;
use super::{Cached, Db};
use crate::ltv::schedule::{Candidate, Owed, Renewal, Schedule, ScheduledHead};
use crate::store::StoreError;

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A stored time; one that does not read counts as none (the schedule then looks again).
fn time(s: Option<String>) -> Option<OffsetDateTime> {
    s.and_then(|s| OffsetDateTime::parse(&s, &Rfc3339).ok())
}

impl Schedule for Db<'_> {
    fn insert_owed(
        &self,
        sha256: &str,
        level: &str,
        reasons: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO ltv_owed(sha256, level, reasons, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(sha256) DO NOTHING",
            )?
            .execute(params![sha256, level, reasons, rfc3339(at)])?;
        Ok(())
    }

    fn owed_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn().one(
            "SELECT COUNT(*) FROM ltv_owed WHERE settled_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(count(n))
    }

    fn owed(&self, max: usize) -> Result<Vec<Owed>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT o.sha256, o.level, a.object_key FROM ltv_owed o
             JOIN archive_outbox a ON a.sha256 = o.sha256
             WHERE o.settled_at IS NULL ORDER BY o.created_at LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([i64::try_from(max).unwrap_or(i64::MAX)], |r| {
                Ok(Owed {
                    sha256: r.get(0)?,
                    level: r.get(1)?,
                    object_key: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn settle_owed(
        &self,
        sha256: &str,
        long_term: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.conn().exec(
            "UPDATE ltv_owed SET settled_sha256 = ?2, settled_at = ?3, attempts = attempts + 1,
             last_attempt_at = ?3, last_error = NULL WHERE sha256 = ?1",
            params![sha256, long_term, rfc3339(at)],
        )?;
        Ok(())
    }

    fn owed_attempt_failed(
        &self,
        sha256: &str,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.conn().exec(
            "UPDATE ltv_owed SET attempts = attempts + 1, last_attempt_at = ?2, last_error = ?3
             WHERE sha256 = ?1",
            params![sha256, rfc3339(at), reason],
        )?;
        Ok(())
    }

    fn settled_version(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .one(
                "SELECT settled_sha256 FROM ltv_owed WHERE sha256 = ?1",
                [sha256],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    fn renewal_candidates(&self) -> Result<Vec<Candidate>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT d.id, d.kind, v.sha256, s.delivered_sha256, s.head_sha256, s.deadline,
                    s.retry_after
             FROM documents d
             JOIN document_versions v ON v.sha256 = (
                 SELECT sha256 FROM document_versions WHERE document_id = d.id
                 ORDER BY created_at DESC, rowid DESC LIMIT 1)
             LEFT JOIN ltv_schedule s ON s.document_id = d.id
             WHERE d.status IN ('issued', 'cancelled') AND v.stage = 'signed'
             ORDER BY d.created_at, d.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let delivered: String = r.get(2)?;
                let scheduled_for: Option<String> = r.get(3)?;
                // A schedule made for an older delivered version (signed again since) starts
                // over.
                let current = scheduled_for.as_deref() == Some(delivered.as_str());
                Ok(Candidate {
                    document: r.get(0)?,
                    kind: r.get(1)?,
                    delivered,
                    head: if current { r.get(4)? } else { None },
                    deadline: if current { time(r.get(5)?) } else { None },
                    retry_after: if current { time(r.get(6)?) } else { None },
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn set_schedule_head(&self, s: &ScheduledHead<'_>) -> Result<(), StoreError> {
        self.conn().exec(
            "INSERT INTO ltv_schedule(document_id, delivered_sha256, head_sha256, deadline,
                 deadline_reason, retry_after, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(document_id) DO UPDATE SET delivered_sha256 = ?2, head_sha256 = ?3,
                 deadline = ?4, deadline_reason = ?5, retry_after = ?6, attempts = 0,
                 last_error = NULL, updated_at = ?7",
            params![
                s.document,
                s.delivered,
                s.head,
                s.deadline.map(|(at, _)| rfc3339(at)),
                s.deadline.map(|(_, why)| why),
                s.retry_after.map(rfc3339),
                rfc3339(s.at)
            ],
        )?;
        Ok(())
    }

    fn schedule_retry(
        &self,
        document: &str,
        delivered: &str,
        head: &str,
        retry_after: OffsetDateTime,
        why: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.conn().exec(
            "INSERT INTO ltv_schedule(document_id, delivered_sha256, head_sha256, retry_after, attempts,
                 last_error, updated_at)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)
             ON CONFLICT(document_id) DO UPDATE SET retry_after = ?4, attempts = attempts + 1,
                 last_error = ?5, updated_at = ?6",
            params![
                document,
                delivered,
                head,
                rfc3339(retry_after),
                why,
                rfc3339(at)
            ],
        )?;
        Ok(())
    }

    fn insert_renewal(&self, r: &Renewal<'_>) -> Result<(), StoreError> {
        self.conn().exec(
            "INSERT INTO ltv_renewals(sha256, document_id, delivered_sha256, previous_sha256, reason,
                 deadline, deadline_reason, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(sha256) DO NOTHING",
            params![
                r.sha256,
                r.document,
                r.delivered,
                r.previous,
                r.reason,
                rfc3339(r.deadline.0),
                r.deadline.1,
                rfc3339(r.at)
            ],
        )?;
        Ok(())
    }

    fn renewal_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .one("SELECT COUNT(*) FROM ltv_renewals", [], |r| r.get(0))?;
        Ok(count(n))
    }
}
