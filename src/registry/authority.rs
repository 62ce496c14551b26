//! The authority register in SQLite: `officials`, `official_certificates`, `title_powers` and
//! `delegations` (migrations `0004_authority` and later). Times are stored as RFC 3339 text,
//! a delegation's scope as a JSON array, certificates by their upper-case hex SHA-256.

use super::Cached;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Db;
use crate::authority::store::{DelegationRecord, Delegations, Records, fmt_time};
use crate::authority::{Delegation, Mark, Official, Position};
use crate::pki::{Certificate, hex_upper};
use crate::store::StoreError;

const OFFICIAL_COLUMNS: &str = "id, full_name, title, agency, citizen_id, is_seal, position, unit";

fn official_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Official> {
    let position: String = r.get(6)?;
    Ok(Official {
        id: r.get(0)?,
        full_name: r.get(1)?,
        title: r.get(2)?,
        agency: r.get(3)?,
        citizen_id: r.get(4)?,
        is_seal: r.get(5)?,
        position: Position::parse(&position).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                rusqlite::types::Type::Text,
                format!("position {position:?}").into(),
            )
        })?,
        unit: r.get(7)?,
    })
}

const DELEGATION_COLUMNS: &str = "id, mark, delegator_id, delegate_id, scope, valid_from, valid_until, basis_number, basis_date, grant_der, revoked_at, revoked_reason, source_id, granted_at";

fn parse_time(s: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| StoreError::corrupt(format!("time {s:?}: {e}")))
}

fn delegation_row(r: &rusqlite::Row<'_>) -> Result<DelegationRecord, StoreError> {
    let mark: String = r.get(1)?;
    let scope: String = r.get(4)?;
    let revoked_at: Option<String> = r.get(10)?;
    let revoked_reason: Option<String> = r.get(11)?;
    Ok(DelegationRecord {
        id: r.get(0)?,
        mark: Mark::parse(&mark).ok_or_else(|| StoreError::corrupt(format!("mark {mark:?}")))?,
        delegator_id: r.get(2)?,
        delegate_id: r.get(3)?,
        scope: serde_json::from_str(&scope)
            .map_err(|e| StoreError::corrupt(format!("delegation scope: {e}")))?,
        valid_from: parse_time(&r.get::<_, String>(5)?)?,
        valid_until: parse_time(&r.get::<_, String>(6)?)?,
        basis_number: r.get(7)?,
        basis_date: r.get(8)?,
        grant_der: r.get(9)?,
        revoked: match revoked_at {
            Some(t) => Some((parse_time(&t)?, revoked_reason.unwrap_or_default())),
            None => None,
        },
        source_id: r.get(12)?,
        granted_at: parse_time(&r.get::<_, String>(13)?)?,
    })
}

fn fingerprint(cert: &Certificate) -> String {
    hex_upper(&cert.fingerprint_sha256())
}

impl Db<'_> {
    fn query_delegations(
        self,
        sql_where: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<DelegationRecord>, StoreError> {
        let sql = format!("SELECT {DELEGATION_COLUMNS} FROM delegations {sql_where} ORDER BY id");
        let mut st = self.conn().prepare_cached(&sql)?;
        let mut rows = st.query(p)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(delegation_row(r)?);
        }
        Ok(out)
    }
}

impl Records for Db<'_> {
    fn official(&self, id: &str) -> Result<Option<Official>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {OFFICIAL_COLUMNS} FROM officials WHERE id = ?1"),
                [id],
                official_row,
            )
            .optional()?)
    }

    fn officials(&self) -> Result<Vec<Official>, StoreError> {
        let mut st = self.conn().prepare_cached(&format!(
            "SELECT {OFFICIAL_COLUMNS} FROM officials ORDER BY id"
        ))?;
        let v = st.query_map([], official_row)?.collect::<Result<_, _>>()?;
        Ok(v)
    }

    fn official_with_citizen_id(&self, citizen_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id FROM officials WHERE citizen_id = ?1",
                [citizen_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn insert_official(&self, o: &Official, at: OffsetDateTime) -> Result<(), StoreError> {
        self.conn().exec(
            "INSERT INTO officials(id, full_name, title, agency, citizen_id, is_seal, created_at, position, unit) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            params![o.id, o.full_name, o.title, o.agency, o.citizen_id, o.is_seal, fmt_time(at), o.position.code(), o.unit],
        )?;
        Ok(())
    }

    fn certificate_holder(&self, cert: &Certificate) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT official_id FROM official_certificates WHERE fingerprint = ?1",
                [fingerprint(cert)],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn insert_certificate(
        &self,
        official_id: &str,
        cert: &Certificate,
        key_location: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (nb, na) = cert.validity();
        self.conn().exec(
            "INSERT INTO official_certificates(fingerprint, official_id, der, key_location, not_before, not_after, added_at)
             VALUES (?1,?2,?3,?4,?5,?6,?7)",
            params![fingerprint(cert), official_id, cert.der(), key_location, fmt_time(nb), fmt_time(na), fmt_time(at)],
        )?;
        Ok(())
    }

    fn set_key_location(&self, cert: &Certificate, key_location: &str) -> Result<(), StoreError> {
        self.conn().exec(
            "UPDATE official_certificates SET key_location = ?2 WHERE fingerprint = ?1",
            params![fingerprint(cert), key_location],
        )?;
        Ok(())
    }

    fn set_certificate_holder(
        &self,
        cert: &Certificate,
        official_id: &str,
    ) -> Result<(), StoreError> {
        self.conn().exec(
            "UPDATE official_certificates SET official_id = ?2 WHERE fingerprint = ?1",
            params![fingerprint(cert), official_id],
        )?;
        Ok(())
    }

    fn certificates_of(&self, official_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut st = self.conn().prepare_cached(
            "SELECT der FROM official_certificates WHERE official_id = ?1 ORDER BY added_at",
        )?;
        let ders = st
            .query_map([official_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ders)
    }

    fn keys_of(&self, official_id: &str) -> Result<Vec<(Vec<u8>, String)>, StoreError> {
        let mut st = self.conn().prepare_cached(
            "SELECT der, key_location FROM official_certificates WHERE official_id = ?1
              ORDER BY added_at DESC",
        )?;
        let rows = st
            .query_map([official_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn allow_title(&self, title: &str, kind: &str) -> Result<(), StoreError> {
        self.conn().exec(
            "INSERT OR IGNORE INTO title_powers(title, kind) VALUES (?1, ?2)",
            params![title, kind],
        )?;
        Ok(())
    }

    fn title_signs(&self, title: &str, kind: &str) -> Result<bool, StoreError> {
        let n: i64 = self.conn().one(
            "SELECT COUNT(*) FROM title_powers WHERE title = ?1 AND kind = ?2",
            params![title, kind],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    fn insert_delegation(&self, d: &Delegation, at: OffsetDateTime) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.exec(
            "INSERT INTO delegations(mark, delegator_id, delegate_id, scope, valid_from, valid_until, basis_number, basis_date, grant_der, granted_at, source_id)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
            params![
                d.mark.code(),
                d.delegator.id,
                d.delegate.id,
                serde_json::to_string(&d.scope).unwrap_or_else(|_| "[]".into()),
                fmt_time(d.valid_from),
                fmt_time(d.valid_until),
                d.basis_number,
                d.basis_date,
                d.grant_der,
                fmt_time(at),
                d.source.as_ref().map(|s| s.id),
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn delegation(&self, id: i64) -> Result<Option<DelegationRecord>, StoreError> {
        Ok(self.query_delegations("WHERE id = ?1", &[&id])?.pop())
    }

    fn delegations(&self, which: Delegations<'_>) -> Result<Vec<DelegationRecord>, StoreError> {
        match which {
            Delegations::All => self.query_delegations("", &[]),
            Delegations::To(id) => self.query_delegations("WHERE delegate_id = ?1", &[&id]),
            Delegations::Involving(id) => {
                self.query_delegations("WHERE delegate_id = ?1 OR delegator_id = ?1", &[&id])
            }
        }
    }

    fn revoke_delegation(
        &self,
        id: i64,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let n = self.conn().exec(
            "UPDATE delegations SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, fmt_time(at), reason],
        )?;
        Ok(n > 0)
    }
}
