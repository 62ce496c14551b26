//! The audit log: every signing, refusal, delegation grant and revocation, appended to the
//! registry with each entry's hash covering the previous entry's hash (a hash chain).
//!
//! Editing an entry breaks its own hash; deleting or reordering entries breaks the next entry's
//! link; cutting entries off the end is caught by the head (last sequence number and hash)
//! kept in `registry_info`, updated in the same transaction as each append. Someone who can
//! rewrite the whole database can rewrite the chain too: anchoring the head elsewhere is what
//! closes that.
//!
//! The anchor is a [`Checkpoint`]: the head (sequence number and hash) and a time, signed with a
//! dedicated audit key and written outside the database, into the archive store, with every
//! batch the archive worker uploads (and by `kyso audit checkpoint`). [`verify_against`] then
//! holds the chain to the newest checkpoint: the entry with the checkpoint's sequence number
//! must exist and carry its hash, so a chain recomputed after deleting entries, or cut below the
//! checkpoint and given a new head, no longer matches. Entries appended after the newest
//! checkpoint are covered by the next one only; the shorter the time between batches, the
//! smaller that window.
//!
//! Why a dedicated key and not the agency seal's: the seal's key gives documents the agency's
//! legal signature and lives on a token used at the desk, whereas checkpoints are signed by an
//! unattended worker that would have to hold the key all the time. A break-in on the worker's
//! host then yields at most the power to sign checkpoints, never the seal; and a checkpoint can
//! never be mistaken for a sealed document. The verifier pins the audit certificate in its
//! configuration (never taken from the store or the database, which an attacker may control).

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// SQLite failed.
    #[error("audit log database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A checkpoint could not be signed.
    #[error("không ký được mốc kiểm của nhật ký / cannot sign the audit checkpoint: {0}")]
    Sign(#[from] crate::signing::SigningError),
    /// A stored checkpoint is not one kyso wrote.
    #[error("mốc kiểm không đọc được / unreadable audit checkpoint: {0}")]
    BadCheckpoint(String),
}

/// The last entry of the log: what a [`Checkpoint`] anchors.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// Its sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// The last entry's sequence number and hash, read from the entries themselves (not from the
/// head recorded beside them), or `None` for an empty log.
pub fn head(conn: &Connection) -> Result<Option<Head>, AuditError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
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

/// The format tag of a checkpoint, inside what is signed so that no other signed text made with
/// the same key can pass for a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "kyso-audit-checkpoint/1";

/// A signed statement "the audit log's head was `head` at `at`", kept outside the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// The head anchored.
    pub head: Head,
    /// When it was signed (RFC 3339, UTC).
    pub at: String,
    /// The signer's certificate (DER, standard base64), to name the key; trust comes from the
    /// verifier's own configuration, never from this field.
    pub certificate: String,
    /// `ecdsa-p256-sha256`, `rsa-pkcs1-sha256` or `rsa-pss-sha256`.
    pub algorithm: String,
    /// The signature over [`Checkpoint::signed_bytes`] (standard base64).
    pub signature: String,
}

fn algorithm_name(a: crate::signing::SignatureAlgorithm) -> &'static str {
    use crate::signing::SignatureAlgorithm as A;
    match a {
        A::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        A::RsaPssSha256 => "rsa-pss-sha256",
        _ => "rsa-pkcs1-sha256",
    }
}

fn algorithm_from_name(name: &str) -> Option<crate::signing::SignatureAlgorithm> {
    use crate::signing::SignatureAlgorithm as A;
    match name {
        "ecdsa-p256-sha256" => Some(A::EcdsaP256Sha256),
        "rsa-pss-sha256" => Some(A::RsaPssSha256),
        "rsa-pkcs1-sha256" => Some(A::RsaPkcs1Sha256),
        _ => None,
    }
}

fn b64(bytes: &[u8]) -> String {
    <base64ct::Base64 as base64ct::Encoding>::encode_string(bytes)
}

fn unb64(text: &str, what: &str) -> Result<Vec<u8>, AuditError> {
    <base64ct::Base64 as base64ct::Encoding>::decode_vec(text)
        .map_err(|e| AuditError::BadCheckpoint(format!("{what} is not base64: {e}")))
}

/// Largest checkpoint accepted when reading one back (a certificate and a signature fit in a
/// few KiB); bounds what a hostile store can make kyso parse.
pub const MAX_CHECKPOINT_LEN: usize = 256 * 1024;

impl Checkpoint {
    /// The bytes the signature covers: format, sequence number, hash and time, one per line.
    pub fn signed_bytes(format: &str, head: &Head, at: &str) -> Vec<u8> {
        format!("{format}\nseq={}\nhash={}\nat={at}\n", head.seq, head.hash).into_bytes()
    }

    /// Signs `head` as of `at` with `signer` (the audit key).
    pub fn sign(
        head: Head,
        at: OffsetDateTime,
        signer: &dyn crate::signing::Signer,
    ) -> Result<Checkpoint, AuditError> {
        let at = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| AuditError::BadCheckpoint(e.to_string()))?;
        let signature = signer.sign(&Self::signed_bytes(CHECKPOINT_FORMAT, &head, &at))?;
        Ok(Checkpoint {
            format: CHECKPOINT_FORMAT.to_owned(),
            head,
            at,
            certificate: b64(signer.certificate().der()),
            algorithm: algorithm_name(signer.algorithm()).to_owned(),
            signature: b64(&signature),
        })
    }

    /// The stored form (JSON).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Reads the stored form; nothing is trusted yet (see [`Checkpoint::check_signature`]).
    pub fn from_json(bytes: &[u8]) -> Result<Checkpoint, AuditError> {
        if bytes.len() > MAX_CHECKPOINT_LEN {
            return Err(AuditError::BadCheckpoint(format!(
                "{} bytes, above the limit of {MAX_CHECKPOINT_LEN}",
                bytes.len()
            )));
        }
        let c: Checkpoint =
            serde_json::from_slice(bytes).map_err(|e| AuditError::BadCheckpoint(e.to_string()))?;
        if c.format != CHECKPOINT_FORMAT {
            return Err(AuditError::BadCheckpoint(format!(
                "format {:?}, expected {CHECKPOINT_FORMAT:?}",
                c.format
            )));
        }
        Ok(c)
    }

    /// Checks that the audit key of `trusted` (the certificate the verifier's configuration
    /// names) signed this checkpoint.
    pub fn check_signature(&self, trusted: &crate::pki::Certificate) -> Result<(), AuditError> {
        let named = unb64(&self.certificate, "certificate")?;
        if named != trusted.der() {
            let other = crate::pki::Certificate::from_der(named)
                .map(|c| c.subject())
                .unwrap_or_else(|_| "an unreadable certificate".into());
            return Err(AuditError::BadCheckpoint(format!(
                "ký bằng khóa khác với khóa kiểm toán được cấu hình / signed by {other}, not by the configured audit key ({})",
                trusted.subject()
            )));
        }
        let algorithm = algorithm_from_name(&self.algorithm).ok_or_else(|| {
            AuditError::BadCheckpoint(format!("unknown algorithm {:?}", self.algorithm))
        })?;
        let signature = unb64(&self.signature, "signature")?;
        crate::signing::verify_signature_value(
            trusted,
            algorithm,
            &Self::signed_bytes(&self.format, &self.head, &self.at),
            &signature,
        )
        .map_err(|_| {
            AuditError::BadCheckpoint(
                "chữ ký của mốc kiểm không hợp lệ / the checkpoint's signature does not verify (it was altered or forged)".into(),
            )
        })
    }
}

/// Holds the log in `conn` to a checkpoint whose signature has been checked: the entry with the
/// checkpoint's sequence number must exist and carry its hash. Together with [`verify`] (every
/// link up to that entry), this shows that the log up to the checkpoint is the one that was
/// signed; a rewritten chain or a tail cut below it does not pass.
pub fn verify_against(
    conn: &Connection,
    checkpoint: &Checkpoint,
) -> Result<Vec<AuditProblem>, AuditError> {
    let want = &checkpoint.head;
    let found: Option<String> = conn
        .query_row(
            "SELECT hash FROM audit_log WHERE seq = ?1",
            [want.seq],
            |r| r.get(0),
        )
        .optional()?;
    let what = match found {
        Some(hash) if hash == want.hash => return Ok(Vec::new()),
        Some(hash) => format!(
            "khác với mốc kiểm ký lúc {at}: nhật ký đã bị viết lại / differs from the checkpoint signed at {at}: \
             the checkpoint records hash {}, the log now has {hash} (the log was rewritten)",
            want.hash,
            at = checkpoint.at
        ),
        None => {
            let last = head(conn)?.map_or(0, |h| h.seq);
            format!(
                "thiếu: mốc kiểm ký lúc {at} ghi nhận nhật ký đến mục {seq}, nay chỉ còn đến mục {last} / \
                 missing: the checkpoint signed at {at} records the log up to entry {seq}, it now ends at entry {last} (entries were cut off)",
                at = checkpoint.at,
                seq = want.seq
            )
        }
    };
    Ok(vec![AuditProblem {
        seq: want.seq,
        what,
    }])
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

/// The newest `limit` entries whose actor is `actor`, whose action starts with `action` and
/// whose subject contains `subject` (each `None` or empty for any), newest first.
pub fn search(
    conn: &Connection,
    actor: Option<&str>,
    action: Option<&str>,
    subject: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>, AuditError> {
    let like = |s: Option<&str>| {
        s.filter(|s| !s.is_empty()).map(|s| {
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        })
    };
    let mut st = conn.prepare(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log
          WHERE (?1 IS NULL OR actor = ?1)
            AND (?2 IS NULL OR action LIKE ?2 || '%' ESCAPE '\\')
            AND (?3 IS NULL OR subject LIKE '%' || ?3 || '%' ESCAPE '\\')
          ORDER BY seq DESC LIMIT ?4",
    )?;
    let out = st
        .query_map(
            rusqlite::params![
                actor.filter(|a| !a.is_empty()),
                like(action),
                like(subject),
                limit
            ],
            |r| {
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
            },
        )?
        .collect::<Result<_, _>>()?;
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

    fn audit_signer() -> crate::signing::KeySigner {
        let (key, cert) = crate::archive::checkpoint::generate_audit_key("audit test").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (kp, cp) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        std::fs::write(&kp, key).unwrap();
        std::fs::write(&cp, cert).unwrap();
        let key = crate::pki::load_private_key(&kp).unwrap();
        let cert = crate::pki::load_certificates(&cp).unwrap().remove(0);
        crate::signing::KeySigner::new(&key, cert, Vec::new(), false).unwrap()
    }

    #[test]
    fn a_checkpoint_round_trips_and_any_change_breaks_its_signature() {
        use crate::signing::Signer as _;
        let reg = Registry::open_in_memory().unwrap();
        let c = reg.connection();
        for _ in 0..3 {
            append(c, "kyso", "sign", "doc", &serde_json::json!({})).unwrap();
        }
        let signer = audit_signer();
        let cp = Checkpoint::sign(
            head(c).unwrap().unwrap(),
            OffsetDateTime::now_utc(),
            &signer,
        )
        .unwrap();
        let back = Checkpoint::from_json(&cp.to_json()).unwrap();
        assert_eq!(back, cp);
        back.check_signature(signer.certificate()).unwrap();
        assert!(verify_against(c, &back).unwrap().is_empty());

        let mut moved = back.clone();
        moved.head.seq = 2;
        assert!(moved.check_signature(signer.certificate()).is_err());
        let other = audit_signer();
        assert!(back.check_signature(other.certificate()).is_err());
        assert!(Checkpoint::from_json(b"{}").is_err());

        c.execute("DELETE FROM audit_log WHERE seq = 3", [])
            .unwrap();
        let problems = verify_against(c, &back).unwrap();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].what.contains("now ends at entry 2"),
            "{problems:?}"
        );
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
