//! The audit log's records in SQLite: `audit_log` (one row per entry) and the head recorded in
//! `registry_info` (see [`crate::audit`] for the chain they hold).

use super::Cached;
use rusqlite::{OptionalExtension, params};

use super::Db;
use crate::audit::{AuditEntry, Filter, Head, Log};
use crate::store::StoreError;

const ENTRY_COLUMNS: &str = "seq, at, actor, action, subject, details, prev_hash, hash";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
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
}

/// `text` with LIKE's wildcards and escape character escaped (by `\`).
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl Db<'_> {
    fn append_locked(
        self,
        next: &mut dyn FnMut(Option<Head>) -> AuditEntry,
    ) -> Result<AuditEntry, StoreError> {
        let e = next(Log::head(&self)?);
        let conn = self.conn();
        conn.exec(
            &format!("INSERT INTO audit_log({ENTRY_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)"),
            params![
                e.seq,
                e.at,
                e.actor,
                e.action,
                e.subject,
                e.details,
                e.prev_hash,
                e.hash
            ],
        )?;
        conn.exec(
            "INSERT INTO registry_info(key, value) VALUES ('audit_head', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [format!("{}:{}", e.seq, e.hash)],
        )?;
        Ok(e)
    }
}

impl Log for Db<'_> {
    fn head(&self) -> Result<Option<Head>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                // MAX of the rowid is one step down the table's b-tree.
                "SELECT seq, hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)",
                [],
                |r| {
                    Ok(Head {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    fn hash_of(&self, seq: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn append_entry(
        &self,
        next: &mut dyn FnMut(Option<Head>) -> AuditEntry,
    ) -> Result<AuditEntry, StoreError> {
        let conn = self.conn();
        if !conn.is_autocommit() {
            return self.append_locked(next);
        }
        // Outside a unit of work: this entry alone under the write lock.
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = self.append_locked(next);
        match &result {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        result
    }

    fn recorded_head(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM registry_info WHERE key = 'audit_head'",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn each_entry(&self, visit: &mut dyn FnMut(AuditEntry)) -> Result<(), StoreError> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_log ORDER BY seq"
        ))?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            visit(entry(r)?);
        }
        Ok(())
    }

    fn newest(&self, filter: &Filter<'_>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_log
              WHERE (?1 IS NULL OR actor = ?1)
                AND (?2 IS NULL OR action LIKE ?2 || '%' ESCAPE '\\')
                AND (?3 IS NULL OR subject LIKE '%' || ?3 || '%' ESCAPE '\\')
              ORDER BY seq DESC LIMIT ?4"
        ))?;
        let out = st
            .query_map(
                params![
                    filter.actor,
                    filter.action_prefix.map(like_literal),
                    filter.subject_part.map(like_literal),
                    limit
                ],
                entry,
            )?
            .collect::<Result<_, _>>()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use crate::audit::{Checkpoint, append, head, verify, verify_against};
    use crate::registry::Registry;

    #[test]
    fn edits_deletions_and_truncation_are_detected() {
        let reg = Registry::open_in_memory().unwrap();
        let (db, c) = (&reg.db(), reg.connection());
        for i in 0..5 {
            append(
                db,
                "admin",
                "delegation.grant",
                &format!("delegation:{i}"),
                &serde_json::json!({"i": i}),
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        }
        assert!(verify(db).unwrap().problems.is_empty());
        c.execute(
            "UPDATE audit_log SET details = '{\"i\":9}' WHERE seq = 3",
            [],
        )
        .unwrap();
        let r = verify(db).unwrap();
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].seq, 3);
        c.execute(
            "UPDATE audit_log SET details = '{\"i\":2}' WHERE seq = 3",
            [],
        )
        .unwrap();
        assert!(verify(db).unwrap().problems.is_empty());
        c.execute("DELETE FROM audit_log WHERE seq = 2", [])
            .unwrap();
        assert!(verify(db).unwrap().problems.iter().any(|p| p.seq == 3));
    }

    fn audit_signer() -> crate::signing::KeySigner {
        let (key, cert) =
            crate::archive::checkpoint::generate_audit_key("audit test", OffsetDateTime::now_utc())
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (kp, cp) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        std::fs::write(&kp, key).unwrap();
        std::fs::write(&cp, cert).unwrap();
        let key = crate::pki::load_private_key(&kp).unwrap();
        let cert = crate::pki::load_certificates(&cp).unwrap().remove(0);
        crate::signing::KeySigner::new(&key, cert, Vec::new(), false).unwrap()
    }

    /// Three entries in `db`'s log.
    fn three_entries(db: &crate::registry::Db<'_>) {
        for _ in 0..3 {
            append(
                db,
                "kyso",
                "sign",
                "doc",
                &serde_json::json!({}),
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        }
    }

    #[test]
    fn a_checkpoint_round_trips_and_any_change_breaks_its_signature() {
        use crate::signing::Signer as _;
        let reg = Registry::open_in_memory().unwrap();
        let (db, c) = (&reg.db(), reg.connection());
        three_entries(db);
        let signer = audit_signer();
        let cp = Checkpoint::sign(
            head(db).unwrap().unwrap(),
            OffsetDateTime::now_utc(),
            &signer,
        )
        .unwrap();
        let back = Checkpoint::from_json(&cp.to_json()).unwrap();
        assert_eq!(back, cp);
        back.check_signature(signer.certificate()).unwrap();
        assert!(verify_against(db, &back).unwrap().is_empty());

        let mut moved = back.clone();
        moved.head.seq = 2;
        assert!(moved.check_signature(signer.certificate()).is_err());
        let other = audit_signer();
        assert!(back.check_signature(other.certificate()).is_err());
        assert!(Checkpoint::from_json(b"{}").is_err());

        c.execute("DELETE FROM audit_log WHERE seq = 3", [])
            .unwrap();
        let problems = verify_against(db, &back).unwrap();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].what.contains("now ends at entry 2"),
            "{problems:?}"
        );
    }

    #[test]
    fn cutting_the_tail_is_detected() {
        let reg = Registry::open_in_memory().unwrap();
        let (db, c) = (&reg.db(), reg.connection());
        three_entries(db);
        c.execute("DELETE FROM audit_log WHERE seq = 3", [])
            .unwrap();
        assert!(!verify(db).unwrap().problems.is_empty());
    }
}
