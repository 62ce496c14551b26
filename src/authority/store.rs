//! Officials, their certificates, title powers and delegations in the registry database.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Delegation, Mark, Official, Position};
use crate::pki::{Certificate, hex_upper};

/// Why the authority registry could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("registry error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No such official.
    #[error("no official with id {0:?} is registered")]
    UnknownOfficial(String),
    /// No such delegation.
    #[error("no delegation with id {0}")]
    UnknownDelegation(i64),
    /// An official with this id exists already.
    #[error("an official with id {0:?} is already registered")]
    DuplicateOfficial(String),
    /// Stored data is inconsistent.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The delegation was revoked already.
    #[error("ủy quyền số {0} đã bị thu hồi trước đó / delegation {0} is already revoked")]
    AlreadyRevoked(i64),
    /// The certificate is registered to another official.
    #[error(
        "chứng thư số này đã đăng ký cho {0}; chuyển bằng lệnh move-cert / this certificate is registered to {0}; move it explicitly with `kyso officials move-cert`"
    )]
    CertificateTaken(String),
    /// The citizen ID belongs to another official.
    #[error("số định danh này đã thuộc về {0} / this citizen ID already belongs to {0}")]
    CitizenIdTaken(String),
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// RFC 3339 text of `t`.
pub fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn parse_time(s: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| StoreError::Corrupt(format!("time {s:?}: {e}")))
}

/// Registers an official.
pub fn add_official(conn: &Connection, o: &Official) -> Result<(), StoreError> {
    if let Some(cid) = &o.citizen_id {
        let holder: Option<String> = conn
            .query_row(
                "SELECT id FROM officials WHERE citizen_id = ?1",
                [cid],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(h) = holder {
            return Err(StoreError::CitizenIdTaken(h));
        }
    }
    let r = conn.execute(
        "INSERT INTO officials(id, full_name, title, agency, citizen_id, is_seal, created_at, position, unit) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
        params![o.id, o.full_name, o.title, o.agency, o.citizen_id, o.is_seal, now(), o.position.code(), o.unit],
    );
    match r {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::DuplicateOfficial(o.id.clone()))
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

const OFFICIAL_COLUMNS: &str = "id, full_name, title, agency, citizen_id, is_seal, position, unit";

fn official_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Official> {
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

/// An official by id.
pub fn official(conn: &Connection, id: &str) -> Result<Official, StoreError> {
    conn.query_row(
        &format!("SELECT {OFFICIAL_COLUMNS} FROM officials WHERE id = ?1"),
        [id],
        official_from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::UnknownOfficial(id.to_owned()))
}

/// All officials, by id.
pub fn officials(conn: &Connection) -> Result<Vec<Official>, StoreError> {
    let mut st = conn.prepare(&format!(
        "SELECT {OFFICIAL_COLUMNS} FROM officials ORDER BY id"
    ))?;
    let v = st
        .query_map([], official_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

/// Registers `cert` for `official_id`, with where its key lives (`file:PATH`, `pkcs11:URI`,
/// `external`).
pub fn add_certificate(
    conn: &Connection,
    official_id: &str,
    cert: &Certificate,
    key_location: &str,
) -> Result<(), StoreError> {
    official(conn, official_id)?;
    let fingerprint = hex_upper(&cert.fingerprint_sha256());
    if let Some(holder) = certificate_holder(conn, cert)? {
        if holder != official_id {
            return Err(StoreError::CertificateTaken(holder));
        }
        // Registered to the same official already: only where its key lives may change.
        conn.execute(
            "UPDATE official_certificates SET key_location = ?2 WHERE fingerprint = ?1",
            params![fingerprint, key_location],
        )?;
        return Ok(());
    }
    let (nb, na) = cert.validity();
    conn.execute(
        "INSERT INTO official_certificates(fingerprint, official_id, der, key_location, not_before, not_after, added_at)
         VALUES (?1,?2,?3,?4,?5,?6,?7)",
        params![fingerprint, official_id, cert.der(), key_location, fmt_time(nb), fmt_time(na), now()],
    )?;
    Ok(())
}

/// Who `cert` is registered to, if anyone.
pub fn certificate_holder(
    conn: &Connection,
    cert: &Certificate,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT official_id FROM official_certificates WHERE fingerprint = ?1",
            [hex_upper(&cert.fingerprint_sha256())],
            |r| r.get(0),
        )
        .optional()?)
}

/// Moves `cert` to `official_id` (an explicit, audited admin act); returns its previous holder.
pub fn move_certificate(
    conn: &Connection,
    cert: &Certificate,
    official_id: &str,
) -> Result<String, StoreError> {
    official(conn, official_id)?;
    let holder = certificate_holder(conn, cert)?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "certificate {} is not registered to anyone",
            cert.serial_hex()
        ))
    })?;
    conn.execute(
        "UPDATE official_certificates SET official_id = ?2 WHERE fingerprint = ?1",
        params![hex_upper(&cert.fingerprint_sha256()), official_id],
    )?;
    Ok(holder)
}

/// The certificates registered to `official_id`.
pub fn certificates_of(
    conn: &Connection,
    official_id: &str,
) -> Result<Vec<Certificate>, StoreError> {
    let mut st = conn.prepare(
        "SELECT der FROM official_certificates WHERE official_id = ?1 ORDER BY added_at",
    )?;
    let ders: Vec<Vec<u8>> = st
        .query_map([official_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ders.into_iter()
        .map(|d| Certificate::from_der(d).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// The certificates registered to `official_id` with where each one's key is
/// (`file:PATH`, `pkcs11:URI` or `external`), newest first.
pub fn keys_of(
    conn: &Connection,
    official_id: &str,
) -> Result<Vec<(Certificate, String)>, StoreError> {
    let mut st = conn.prepare(
        "SELECT der, key_location FROM official_certificates WHERE official_id = ?1
          ORDER BY added_at DESC",
    )?;
    let rows: Vec<(Vec<u8>, String)> = st
        .query_map([official_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(d, loc)| {
            Certificate::from_der(d)
                .map(|c| (c, loc))
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

/// Lets `title` sign `kind` in its own right.
pub fn allow_title(conn: &Connection, title: &str, kind: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO title_powers(title, kind) VALUES (?1, ?2)",
        params![title, kind],
    )?;
    Ok(())
}

/// Whether `official` signs `kind` in their own right: their title has the power, or they are
/// the agency seal (which seals every kind its agency issues).
pub fn signs_in_own_right(
    conn: &Connection,
    official: &Official,
    kind: &str,
) -> Result<bool, StoreError> {
    if official.is_seal {
        return Ok(true);
    }
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM title_powers WHERE title = ?1 AND kind = ?2",
        params![official.title, kind],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Stores a delegation (its grant already issued); returns its id.
pub fn insert_delegation(conn: &Connection, d: &Delegation) -> Result<i64, StoreError> {
    conn.execute(
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
            now(),
            d.source.as_ref().map(|s| s.id),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

const DELEGATION_COLUMNS: &str = "id, mark, delegator_id, delegate_id, scope, valid_from, valid_until, basis_number, basis_date, grant_der, revoked_at, revoked_reason, source_id, granted_at";

/// How deep a chain of grants may be read: only TL. passes on, once, so real chains have two
/// links; the bound keeps a corrupted cycle from recursing forever.
const MAX_CHAIN: usize = 4;

fn delegation_from_row(
    conn: &Connection,
    r: &rusqlite::Row<'_>,
    depth: usize,
) -> Result<Delegation, StoreError> {
    let mark: String = r.get(1)?;
    let source_id: Option<i64> = r.get(12)?;
    let source = match source_id {
        None => None,
        Some(_) if depth >= MAX_CHAIN => {
            return Err(StoreError::Corrupt("chain of grants too deep".into()));
        }
        Some(id) => Some(Box::new(delegation_at_depth(conn, id, depth + 1)?)),
    };
    let scope: String = r.get(4)?;
    let revoked_at: Option<String> = r.get(10)?;
    let revoked_reason: Option<String> = r.get(11)?;
    Ok(Delegation {
        id: r.get(0)?,
        mark: Mark::parse(&mark).ok_or_else(|| StoreError::Corrupt(format!("mark {mark:?}")))?,
        delegator: official(conn, &r.get::<_, String>(2)?)?,
        delegate: official(conn, &r.get::<_, String>(3)?)?,
        scope: serde_json::from_str(&scope).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        valid_from: parse_time(&r.get::<_, String>(5)?)?,
        valid_until: parse_time(&r.get::<_, String>(6)?)?,
        basis_number: r.get(7)?,
        basis_date: r.get(8)?,
        grant_der: r.get(9)?,
        revoked: match revoked_at {
            Some(t) => Some((parse_time(&t)?, revoked_reason.unwrap_or_default())),
            None => None,
        },
        source,
    })
}

fn query_delegations(
    conn: &Connection,
    sql_where: &str,
    p: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Delegation>, StoreError> {
    query_delegations_at(conn, sql_where, p, 0)
}

fn query_delegations_at(
    conn: &Connection,
    sql_where: &str,
    p: &[&dyn rusqlite::ToSql],
    depth: usize,
) -> Result<Vec<Delegation>, StoreError> {
    let sql = format!("SELECT {DELEGATION_COLUMNS} FROM delegations {sql_where} ORDER BY id");
    let mut st = conn.prepare(&sql)?;
    let mut rows = st.query(p)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(delegation_from_row(conn, r, depth)?);
    }
    Ok(out)
}

/// A delegation by id.
pub fn delegation(conn: &Connection, id: i64) -> Result<Delegation, StoreError> {
    delegation_at_depth(conn, id, 0)
}

fn delegation_at_depth(conn: &Connection, id: i64, depth: usize) -> Result<Delegation, StoreError> {
    query_delegations_at(conn, "WHERE id = ?1", &[&id], depth)?
        .pop()
        .ok_or(StoreError::UnknownDelegation(id))
}

/// When delegation `id` was recorded.
pub fn granted_at(conn: &Connection, id: i64) -> Result<OffsetDateTime, StoreError> {
    let t: String = conn
        .query_row(
            "SELECT granted_at FROM delegations WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::UnknownDelegation(id))?;
    parse_time(&t)
}

/// Delegations granted to `official_id`.
pub fn delegations_to(conn: &Connection, official_id: &str) -> Result<Vec<Delegation>, StoreError> {
    query_delegations(conn, "WHERE delegate_id = ?1", &[&official_id])
}

/// All delegations (for one official, as delegator or delegate, when given).
pub fn delegations(
    conn: &Connection,
    official_id: Option<&str>,
) -> Result<Vec<Delegation>, StoreError> {
    match official_id {
        Some(id) => query_delegations(conn, "WHERE delegate_id = ?1 OR delegator_id = ?1", &[&id]),
        None => query_delegations(conn, "", &[]),
    }
}

/// Revokes delegation `id` from `at` for `reason`. Signatures made before `at` stay valid.
pub fn revoke(
    conn: &Connection,
    id: i64,
    at: OffsetDateTime,
    reason: &str,
) -> Result<(), StoreError> {
    let n = conn.execute(
        "UPDATE delegations SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, fmt_time(at), reason],
    )?;
    if n == 0 {
        delegation(conn, id)?; // unknown → UnknownDelegation
        return Err(StoreError::AlreadyRevoked(id));
    }
    Ok(())
}
