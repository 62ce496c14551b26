//! The archive outbox's records in SQLite: the `archive_outbox` table of migration 0003, behind
//! [`crate::archive::outbox::Queue`].

use rusqlite::{OptionalExtension, params};
use time::{Date, OffsetDateTime};

use super::{Cached, Db};
use crate::archive::outbox::{Item, NewEntry, Queue, Queues, State, Status, Waiting};
use crate::archive::{ObjectKey, Sha256};
use crate::store::StoreError;

impl Queues for super::Registry {
    type Db<'a> = Db<'a>;

    fn db(&self) -> Db<'_> {
        super::Registry::db(self)
    }

    /// Grouped: on a pooled connection (the service's worker) the fsync happens after the
    /// write lock is released and is shared with the requests' commits; elsewhere it is a
    /// plain durable commit. Durable either way when it returns.
    fn unit_of_work<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(Db<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        super::Registry::unit_of_work_grouped(self, f)
    }
}

const ITEM_COLUMNS: &str =
    "id, object_key, size, kind, doc_date, state, attempts, last_error, retention, source";

type RawItem = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawItem> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

/// A row read back as an [`Item`]: a date or key that does not parse is a damaged row.
fn to_item(raw: RawItem) -> Result<Item, StoreError> {
    let (id, key, size, kind, date, state, attempts, last_error, retention, source) = raw;
    let date = Date::parse(
        &date,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| StoreError::corrupt(format!("outbox row {id}: bad date {date:?}: {e}")))?;
    Ok(Item {
        id,
        key: ObjectKey::parse(&key)
            .map_err(|e| StoreError::corrupt(format!("outbox row {id}: {e}")))?,
        size: u64::try_from(size).unwrap_or(0),
        kind,
        date,
        state: State::parse(&state),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error,
        retention,
        source,
    })
}

fn items(db: Db<'_>, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Item>, StoreError> {
    let mut st = db.conn().prepare_cached(sql)?;
    let rows = st
        .query_map(params, item_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(to_item).collect()
}

/// Times are kept as RFC 3339 text in UTC.
pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Queue for Db<'_> {
    fn outbox_entry(&self, sha: &Sha256) -> Result<Option<Item>, StoreError> {
        let raw = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM archive_outbox WHERE sha256 = ?1"
            ))?
            .query_row([sha.hex()], item_from_row)
            .optional()?;
        raw.map(to_item).transpose()
    }

    fn insert_outbox_entry(&self, e: &NewEntry<'_>) -> Result<bool, StoreError> {
        let date = e.date;
        let inserted = self.conn().exec(
            "INSERT INTO archive_outbox(sha256, size, kind, commune, doc_date, object_key, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(sha256) DO NOTHING",
            params![
                e.key.sha256().hex(),
                i64::try_from(e.size).unwrap_or(i64::MAX),
                e.kind,
                e.commune,
                format!(
                    "{:04}-{:02}-{:02}",
                    date.year(),
                    u8::from(date.month()),
                    date.day()
                ),
                e.key.as_str(),
                e.source,
            ],
        )?;
        Ok(inserted == 1)
    }

    fn waiting_entries(
        &self,
        after: i64,
        due_by_ms: Option<i64>,
        max: usize,
    ) -> Result<Vec<Item>, StoreError> {
        items(
            *self,
            &format!(
                "SELECT {ITEM_COLUMNS} FROM archive_outbox
                 WHERE state != 'archived' AND id > ?1 AND next_attempt_ms <= ?2
                 ORDER BY id LIMIT ?3"
            ),
            params![after, due_by_ms.unwrap_or(i64::MAX), limit(max)],
        )
    }

    fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn().one(
            "SELECT MIN(next_attempt_ms) FROM archive_outbox WHERE state != 'archived'",
            [],
            |r| r.get(0),
        )?)
    }

    fn start_attempt(&self, id: i64, at: OffsetDateTime) -> Result<u32, StoreError> {
        let attempts: i64 = self
            .conn()
            .prepare_cached(
                "UPDATE archive_outbox SET attempts = attempts + 1, last_attempt_at = ?2
                 WHERE id = ?1 RETURNING attempts",
            )?
            .query_row(params![id, rfc3339(at)], |r| r.get(0))?;
        Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
    }

    fn mark_archived(
        &self,
        id: i64,
        at: OffsetDateTime,
        store: &str,
        retention: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE archive_outbox SET state = 'archived', archived_at = ?2, store = ?3, retention = ?4,
                     last_error = NULL WHERE id = ?1",
            )?
            .execute(params![id, rfc3339(at), store, retention])?;
        Ok(())
    }

    fn mark_failed(&self, id: i64, reason: &str, retry_at_ms: i64) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE archive_outbox SET state = 'failed', last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
            )?
            .execute(params![id, reason, retry_at_ms])?;
        Ok(())
    }

    fn make_failed_due(&self, now_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn().exec(
            "UPDATE archive_outbox SET next_attempt_ms = ?1 WHERE state = 'failed' AND next_attempt_ms > ?1",
            [now_ms],
        )?)
    }

    fn archived_entries(&self, sample: Option<usize>) -> Result<Vec<Item>, StoreError> {
        let order = if sample.is_some() { "random()" } else { "id" };
        items(
            *self,
            &format!(
                "SELECT {ITEM_COLUMNS} FROM archive_outbox WHERE state = 'archived' ORDER BY {order} LIMIT ?1"
            ),
            [sample.map_or(i64::MAX, limit)],
        )
    }

    fn outbox_entries(&self) -> Result<Vec<Item>, StoreError> {
        items(
            *self,
            &format!("SELECT {ITEM_COLUMNS} FROM archive_outbox ORDER BY id"),
            [],
        )
    }

    fn outbox_status(&self) -> Result<Status, StoreError> {
        let c = self.conn();
        let mut s = Status::default();
        {
            let mut st = c.prepare_cached(
                "SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM archive_outbox GROUP BY state",
            )?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let (state, n, bytes): (String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                let n = u64::try_from(n).unwrap_or(0);
                match State::parse(&state) {
                    State::Pending => s.pending = n,
                    State::Failed => s.failed = n,
                    State::Archived => s.archived = n,
                }
                if state != "archived" {
                    s.waiting_bytes += u64::try_from(bytes).unwrap_or(0);
                }
            }
        }
        s.oldest_waiting = c
            .one(
                "SELECT id, object_key, created_at, attempts, source FROM archive_outbox
                 WHERE state != 'archived' ORDER BY id LIMIT 1",
                [],
                |r| {
                    Ok(Waiting {
                        id: r.get(0)?,
                        key: r.get(1)?,
                        since: r.get(2)?,
                        attempts: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(u32::MAX),
                        source: r.get(4)?,
                    })
                },
            )
            .optional()?;
        let mut st = c.prepare_cached(
            "SELECT last_error, COUNT(*) FROM archive_outbox WHERE state = 'failed'
             GROUP BY last_error ORDER BY COUNT(*) DESC, last_error LIMIT 10",
        )?;
        s.failures = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get::<_, i64>(1)?,
                ))
            })?
            .map(|r| r.map(|(e, n)| (e, u64::try_from(n).unwrap_or(0))))
            .collect::<Result<_, _>>()?;
        s.archived_without_retention = c.one(
            "SELECT COUNT(*) FROM archive_outbox WHERE state = 'archived' AND retention LIKE 'not applied%'",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64;
        Ok(s)
    }
}
