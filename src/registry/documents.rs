//! The certification registers' records in SQLite: `registers` (one row per volume),
//! `documents`, `document_versions` and the form keys of issuing forms (`form_keys`), for
//! [`crate::issuing`]. Numbering rules and statuses are decided there; this module only keeps
//! and reads the rows.

use super::Cached;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params};

use super::{Db, Registry};
use crate::issuing::{
    DocumentRecord, FormKey, KeyedDocument, NewDocument, RegisterKey, Registers, Search,
    SignedVersion, Status, Version, Volume,
};
use crate::store::StoreError;

const SELECT_DOC: &str =
    "SELECT d.id, d.kind, d.template_version, d.commune_code, d.year, d.type_code, r.volume,
        d.number, d.status, d.issued_on, d.pdf_sha256, d.void_reason, d.cancel_decision, d.data
   FROM documents d JOIN registers r ON r.id = d.register_id";

fn status(text: &str, column: usize) -> rusqlite::Result<Status> {
    Status::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("status {text:?}").into(),
        )
    })
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocumentRecord> {
    let st: String = r.get(8)?;
    Ok(DocumentRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        template_version: r.get(2)?,
        register: RegisterKey {
            commune_code: r.get(3)?,
            year: r.get(4)?,
            type_code: r.get(5)?,
        },
        volume: r.get(6)?,
        number: r.get(7)?,
        status: status(&st, 8)?,
        issued_on: r.get(9)?,
        pdf_sha256: r.get(10)?,
        void_reason: r.get(11)?,
        cancel_decision: r.get(12)?,
        data: r.get(13)?,
    })
}

const VERSION_COLUMNS: &str =
    "v.sha256, v.stage, v.size, v.field, v.signer, v.capacity, v.created_at";

fn version(r: &rusqlite::Row<'_>) -> rusqlite::Result<Version> {
    Ok(Version {
        sha256: r.get(0)?,
        stage: r.get(1)?,
        size: r.get(2)?,
        field: r.get(3)?,
        signer: r.get(4)?,
        capacity: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// A number read back from the store, as the register's `u32`.
fn number(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::corrupt(format!("register number {n} out of range")))
}

impl crate::issuing::Register for Db<'_> {
    fn awaiting_signature(&self, field: &str) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn().prepare_cached(
            "SELECT d.id FROM documents d WHERE d.awaiting_field = ?1 AND d.status = 'issued'
              ORDER BY d.created_at, d.rowid",
        )?;
        let ids = st
            .query_map([field], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn set_awaited(&self, id: &str, field: Option<&str>) -> Result<(), StoreError> {
        self.conn().exec(
            "UPDATE documents SET awaiting_field = ?2 WHERE id = ?1 AND status = 'issued'",
            params![id, field],
        )?;
        Ok(())
    }

    fn open_volume(&self, reg: &RegisterKey) -> Result<Option<Volume>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, volume FROM registers
                 WHERE commune_code = ?1 AND year = ?2 AND type_code = ?3 AND closed_at IS NULL",
            )?
            .query_row(params![reg.commune_code, reg.year, reg.type_code], |r| {
                Ok(Volume {
                    id: r.get(0)?,
                    volume: r.get(1)?,
                })
            })
            .optional()?)
    }

    fn year_so_far(&self, reg: &RegisterKey) -> Result<(u32, u32), StoreError> {
        let (volumes, last): (u32, i64) = self.conn().one(
            "SELECT COALESCE(MAX(volume), 0), COALESCE(MAX(last_number), 0) FROM registers
             WHERE commune_code = ?1 AND year = ?2 AND type_code = ?3",
            params![reg.commune_code, reg.year, reg.type_code],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((volumes, number(last)?))
    }

    fn add_volume(
        &self,
        reg: &RegisterKey,
        volume: u32,
        first_number: u32,
        opened_at: &str,
    ) -> Result<Volume, StoreError> {
        let conn = self.conn();
        conn.exec(
            "INSERT INTO registers (commune_code, year, type_code, volume, first_number, last_number, opened_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                reg.commune_code,
                reg.year,
                reg.type_code,
                volume,
                first_number,
                i64::from(first_number) - 1,
                opened_at
            ],
        )?;
        Ok(Volume {
            id: conn.last_insert_rowid(),
            volume,
        })
    }

    fn take_number(&self, volume: Volume) -> Result<u32, StoreError> {
        let n: i64 = self
            .conn()
            .prepare_cached(
                "UPDATE registers SET last_number = last_number + 1 WHERE id = ?1 RETURNING last_number",
            )?
            .query_row([volume.id], |r| r.get(0))?;
        number(n)
    }

    fn close_volume(&self, reg: &RegisterKey, closed_at: &str) -> Result<Option<u32>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "UPDATE registers SET closed_at = ?4
                 WHERE commune_code = ?1 AND year = ?2 AND type_code = ?3 AND closed_at IS NULL
                 RETURNING volume",
                params![reg.commune_code, reg.year, reg.type_code, closed_at],
                |r| r.get::<_, u32>(0),
            )
            .optional()?)
    }

    fn insert_pending(&self, d: &NewDocument<'_>) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO documents (id, kind, template_version, register_id, commune_code, year, type_code,
                                        number, data, status, created_at, issued_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11)",
            )?
            .execute(params![
                d.id,
                d.kind,
                d.template_version,
                d.volume.id,
                d.register.commune_code,
                d.register.year,
                d.register.type_code,
                d.number,
                d.data,
                d.created_at,
                d.issued_on
            ])?;
        Ok(())
    }

    fn mark_issued(&self, id: &str, sha256: &str) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE documents SET status = 'issued', pdf_sha256 = ?2 WHERE id = ?1",
            )?
            .execute(params![id, sha256])?;
        Ok(())
    }

    fn mark_void(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        self.conn().exec(
            "UPDATE documents SET status = 'void', void_reason = ?2 WHERE id = ?1",
            params![id, reason],
        )?;
        Ok(())
    }

    fn any_pending_before(&self, created_before: &str) -> Result<bool, StoreError> {
        Ok(self.conn().one(
            "SELECT EXISTS(SELECT 1 FROM documents WHERE status = 'pending' AND created_at < ?1)",
            [created_before],
            |r| r.get(0),
        )?)
    }

    fn void_pending(&self, created_before: &str, reason: &str) -> Result<Vec<String>, StoreError> {
        let ids = self
            .conn()
            .prepare_cached(
                "UPDATE documents SET status = 'void', void_reason = ?2
                 WHERE status = 'pending' AND created_at < ?1 RETURNING id",
            )?
            .query_map(params![created_before, reason], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn mark_cancelled(
        &self,
        id: &str,
        decision: &str,
        reason: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.conn().exec(
            "UPDATE documents SET status = 'cancelled', cancel_decision = ?2, cancel_reason = ?3, cancelled_at = ?4,
                    awaiting_field = NULL
             WHERE id = ?1",
            params![id, decision, reason, at],
        )?;
        Ok(())
    }

    fn document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!("{SELECT_DOC} WHERE d.id = ?1"))?
            .query_row([id], record)
            .optional()?)
    }

    fn document_by_issued_sha256(
        &self,
        sha256: &str,
    ) -> Result<Option<DocumentRecord>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(&format!("{SELECT_DOC} WHERE d.pdf_sha256 = ?1"))?
            .query_row([sha256], record)
            .optional()?)
    }

    fn search(&self, q: &Search) -> Result<Vec<DocumentRecord>, StoreError> {
        let mut sql = format!("{SELECT_DOC} WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        fn push(sql: &mut String, args: &mut Vec<Value>, clause: &str, v: Value) {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        }
        if let Some(k) = &q.kind {
            push(
                &mut sql,
                &mut args,
                " AND d.kind = ?",
                Value::Text(k.clone()),
            );
        }
        if let Some(n) = q.number {
            push(
                &mut sql,
                &mut args,
                " AND d.number = ?",
                Value::Integer(i64::from(n)),
            );
        }
        if let Some(y) = q.year {
            push(
                &mut sql,
                &mut args,
                " AND d.year = ?",
                Value::Integer(i64::from(y)),
            );
        }
        if let Some(f) = &q.from {
            push(
                &mut sql,
                &mut args,
                " AND d.issued_on >= ?",
                Value::Text(f.clone()),
            );
        }
        if let Some(t) = &q.to {
            push(
                &mut sql,
                &mut args,
                " AND d.issued_on <= ?",
                Value::Text(t.clone()),
            );
        }
        if let Some(st) = q.status {
            push(
                &mut sql,
                &mut args,
                " AND d.status = ?",
                Value::Text(st.as_str().to_owned()),
            );
        }
        // Names and ID numbers are values inside the entry's data; each term must occur there.
        for term in [&q.name, &q.citizen_id].into_iter().flatten() {
            let escaped = term
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            push(
                &mut sql,
                &mut args,
                " AND d.data LIKE ? ESCAPE '\\'",
                Value::Text(format!("%{escaped}%")),
            );
        }
        sql.push_str(" ORDER BY d.created_at DESC, d.number DESC");
        push(
            &mut sql,
            &mut args,
            " LIMIT ?",
            Value::Integer(i64::from(q.limit.clamp(1, 500))),
        );
        let mut st = self.conn().prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn register_entries(&self, reg: &RegisterKey) -> Result<Vec<DocumentRecord>, StoreError> {
        let mut st = self.conn().prepare_cached(&format!(
            "{SELECT_DOC} WHERE d.commune_code = ?1 AND d.year = ?2 AND d.type_code = ?3 ORDER BY d.number"
        ))?;
        let rows = st.query_map(params![reg.commune_code, reg.year, reg.type_code], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn add_version(&self, document_id: &str, v: &Version) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO document_versions(sha256, document_id, stage, size, field, signer, capacity, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                v.sha256,
                document_id,
                v.stage,
                v.size,
                v.field,
                v.signer,
                v.capacity,
                v.created_at
            ])?;
        Ok(())
    }

    fn add_version_if_new(&self, document_id: &str, v: &Version) -> Result<bool, StoreError> {
        let added = self
            .conn()
            .prepare_cached(
                "INSERT INTO document_versions(sha256, document_id, stage, size, field, signer, capacity, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(sha256) DO NOTHING",
            )?
            .execute(params![
                v.sha256,
                document_id,
                v.stage,
                v.size,
                v.field,
                v.signer,
                v.capacity,
                v.created_at
            ])?;
        Ok(added == 1)
    }

    fn versions(&self, id: &str) -> Result<Vec<Version>, StoreError> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {VERSION_COLUMNS} FROM document_versions v WHERE v.document_id = ?1 ORDER BY v.rowid"
        ))?;
        let rows = st.query_map([id], version)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn versions_with_signers(&self, id: &str) -> Result<Vec<SignedVersion>, StoreError> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {VERSION_COLUMNS}, o.full_name, o.title
               FROM document_versions v LEFT JOIN officials o ON o.id = v.signer
              WHERE v.document_id = ?1 ORDER BY v.created_at, v.rowid"
        ))?;
        let rows = st.query_map([id], |r| {
            Ok(SignedVersion {
                version: version(r)?,
                signer_name: r.get(7)?,
                signer_title: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn version_by_sha256(&self, sha256: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT document_id, stage FROM document_versions WHERE sha256 = ?1")?
            .query_row([sha256], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn form_key(&self, key: &FormKey) -> Result<Option<KeyedDocument>, StoreError> {
        // A key claimed by a signing form (no result yet) has no document: it never is an
        // issuing form's key, since every form is given a key of its own.
        let found: Option<(String, String, String)> = self
            .conn()
            .prepare_cached(
                "SELECT d.id, d.status, d.created_at
                   FROM form_keys f JOIN documents d ON d.id = f.result
                  WHERE f.user_id = ?1 AND f.form_key = ?2",
            )?
            .query_row(params![key.user_id(), key.key()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        found
            .map(|(id, st, created_at)| {
                Ok(KeyedDocument {
                    id,
                    status: status(&st, 1)?,
                    created_at,
                })
            })
            .transpose()
            .map_err(|e: rusqlite::Error| e.into())
    }

    fn record_form_key(
        &self,
        key: &FormKey,
        document_id: &str,
        at: &str,
        forget_before: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.prepare_cached("DELETE FROM form_keys WHERE claimed_at < ?1")?
            .execute([forget_before])?;
        conn.prepare_cached(
            "INSERT INTO form_keys (user_id, form_key, result, claimed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id, form_key) DO UPDATE SET result = excluded.result,
                                                           claimed_at = excluded.claimed_at",
        )?
        .execute(params![key.user_id(), key.key(), document_id, at])?;
        Ok(())
    }
}

impl Registers for Registry {
    type Db<'a> = Db<'a>;

    fn db(&self) -> Db<'_> {
        Registry::db(self)
    }

    fn unit_of_work<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(Db<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        Registry::unit_of_work(self, f)
    }

    fn unit_of_work_grouped<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(Db<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        Registry::unit_of_work_grouped(self, f)
    }

    fn unit_of_work_relaxed<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(Db<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        Registry::unit_of_work_relaxed(self, f)
    }
}
