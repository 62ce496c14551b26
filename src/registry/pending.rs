//! Pending deferred signatures in SQLite: the `pending_signatures` table, behind
//! [`crate::signing::deferred::Pending`]. Certificates are kept as a JSON array of upper-case
//! hex DER, times as RFC 3339 text.

use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::outbox::rfc3339;
use super::{Cached, Db};
use crate::pki::hex_upper;
use crate::signing::deferred::{Pending, PendingSignature, StoredPending, algorithm_code};
use crate::store::StoreError;

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn index(v: i64, what: &str) -> Result<usize, StoreError> {
    usize::try_from(v).map_err(|_| StoreError::corrupt(format!("prepared signature {what} {v}")))
}

impl Pending for Db<'_> {
    fn insert_pending(
        &self,
        p: &PendingSignature,
        prepared_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let certs: Vec<String> = std::iter::once(&p.signer)
            .chain(&p.chain)
            .map(|c| hex_upper(c.der()))
            .collect();
        let (start, end) = p.prepared.contents_range();
        self.conn().exec(
            "INSERT INTO pending_signatures(handle, prepared, contents_start, contents_end, field, signed_attrs, certificates, algorithm, official_id, created_at, expires_at, document_id, decision)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
            params![
                p.handle,
                p.prepared.bytes(),
                start as i64,
                end as i64,
                p.prepared.field(),
                p.signed_attrs,
                serde_json::to_string(&certs).unwrap_or_default(),
                algorithm_code(p.algorithm),
                p.official_id,
                rfc3339(prepared_at),
                rfc3339(p.expires_at),
                p.document_id,
                p.context,
            ],
        )?;
        Ok(())
    }

    fn pending(&self, handle: &str) -> Result<Option<StoredPending>, StoreError> {
        type Row = (
            Vec<u8>,
            i64,
            i64,
            String,
            Vec<u8>,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            String,
        );
        let row: Option<Row> = self
            .conn()
            .one(
                "SELECT prepared, contents_start, contents_end, field, signed_attrs, certificates, algorithm, official_id, expires_at, completed_at, document_id, decision
                 FROM pending_signatures WHERE handle = ?1",
                [handle],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?)),
            )
            .optional()?;
        let Some((
            prepared,
            start,
            end,
            field,
            signed_attrs,
            certs,
            algorithm,
            official_id,
            expires,
            completed,
            document_id,
            context,
        )) = row
        else {
            return Ok(None);
        };
        let certs: Vec<String> = serde_json::from_str(&certs)
            .map_err(|e| StoreError::corrupt(format!("prepared signature {handle}: {e}")))?;
        let certificates = certs
            .iter()
            .map(|h| {
                unhex(h).ok_or_else(|| {
                    StoreError::corrupt(format!("prepared signature {handle}: certificate hex"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(StoredPending {
            prepared,
            contents: (index(start, "start")?, index(end, "end")?),
            field,
            signed_attrs,
            certificates,
            algorithm,
            official_id,
            expires_at: OffsetDateTime::parse(&expires, &Rfc3339).map_err(|e| {
                StoreError::corrupt(format!("prepared signature {handle}: expiry: {e}"))
            })?,
            completed: completed.is_some(),
            document_id,
            context,
        }))
    }

    fn pending_owner(&self, handle: &str) -> Result<Option<Option<String>>, StoreError> {
        Ok(self
            .conn()
            .one(
                "SELECT official_id FROM pending_signatures WHERE handle = ?1",
                [handle],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn complete_pending(&self, handle: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let n = self.conn().exec(
            "UPDATE pending_signatures SET completed_at = ?2, prepared = x''
             WHERE handle = ?1 AND completed_at IS NULL",
            params![handle, rfc3339(at)],
        )?;
        Ok(n == 1)
    }

    fn open_pending(&self) -> Result<Vec<(String, Option<OffsetDateTime>)>, StoreError> {
        let mut st = self.conn().prepare_cached(
            "SELECT handle, expires_at FROM pending_signatures WHERE completed_at IS NULL",
        )?;
        let rows: Vec<(String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .into_iter()
            .map(|(h, e)| (h, OffsetDateTime::parse(&e, &Rfc3339).ok()))
            .collect())
    }

    fn delete_pending(&self, handle: &str) -> Result<usize, StoreError> {
        Ok(self
            .conn()
            .exec("DELETE FROM pending_signatures WHERE handle = ?1", [handle])?)
    }
}
