//! The signing queues' question to the certification registers (`documents` and
//! `document_versions`): which issued documents wait for a signature in a field.

use super::Db;
use crate::app::queue::Awaiting;
use crate::store::StoreError;

impl Awaiting for Db<'_> {
    fn awaiting_signature(
        &self,
        field: &str,
        after: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn().prepare_cached(
            "SELECT d.id FROM documents d WHERE d.status = 'issued'
                AND NOT EXISTS (SELECT 1 FROM document_versions v
                                 WHERE v.document_id = d.id AND v.stage = 'signed' AND v.field = ?1)
                AND (?2 IS NULL OR EXISTS (SELECT 1 FROM document_versions v
                                 WHERE v.document_id = d.id AND v.stage = 'signed' AND v.field = ?2))
              ORDER BY d.created_at, d.rowid",
        )?;
        let ids = st
            .query_map(rusqlite::params![field, after], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }
}
