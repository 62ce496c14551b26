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

use time::OffsetDateTime;

use crate::store::StoreError;

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The store of the log failed.
    #[error("audit log: {0}")]
    Store(#[from] StoreError),
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

/// What the audit log asks of the store that keeps it: entries in sequence order and the head
/// recorded beside them. The store only keeps records; hashing, linking and checking the chain
/// stay in this module, so that every store (the SQLite registry in `registry::audit`, a
/// PostgreSQL one later) keeps the same chain.
pub trait Log {
    /// The newest entry's sequence number and hash, read from the entries themselves (not from
    /// the head recorded beside them), or `None` for an empty log.
    fn head(&self) -> Result<Option<Head>, StoreError>;

    /// The hash of entry `seq`, if there is one.
    fn hash_of(&self, seq: i64) -> Result<Option<String>, StoreError>;

    /// Stores the entry that `next` makes from the current head (`None` for an empty log), and
    /// records it as the head beside the entries, with the head read and the entry written
    /// under one write lock: inside a unit of work that is the unit's own; outside one the
    /// store takes it for this entry alone, because several processes append at once (`kyso
    /// sign` beside the worker and other signings) and two entries must never share a
    /// sequence number.
    fn append_entry(
        &self,
        next: &mut dyn FnMut(Option<Head>) -> AuditEntry,
    ) -> Result<AuditEntry, StoreError>;

    /// The head recorded by the last append, as `SEQ:HASH` text, exactly as stored (a damaged
    /// value is for [`verify`] to report, not for the store to refuse).
    fn recorded_head(&self) -> Result<Option<String>, StoreError>;

    /// Calls `visit` with every entry, oldest first.
    fn each_entry(&self, visit: &mut dyn FnMut(AuditEntry)) -> Result<(), StoreError>;

    /// The newest `limit` entries that `filter` selects, newest first.
    fn newest(&self, filter: &Filter<'_>, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Which entries [`Log::newest`] selects; `None` selects any.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Exactly this actor.
    pub actor: Option<&'a str>,
    /// Actions starting with this text (`delegation.` for every delegation act).
    pub action_prefix: Option<&'a str>,
    /// Subjects containing this text.
    pub subject_part: Option<&'a str>,
}

/// The last entry's sequence number and hash, read from the entries themselves (not from the
/// head recorded beside them), or `None` for an empty log.
pub fn head(db: &impl Log) -> Result<Option<Head>, AuditError> {
    Ok(db.head()?)
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

/// Holds the log in `db` to a checkpoint whose signature has been checked: the entry with the
/// checkpoint's sequence number must exist and carry its hash. Together with [`verify`] (every
/// link up to that entry), this shows that the log up to the checkpoint is the one that was
/// signed; a rewritten chain or a tail cut below it does not pass.
pub fn verify_against(
    db: &impl Log,
    checkpoint: &Checkpoint,
) -> Result<Vec<AuditProblem>, AuditError> {
    let want = &checkpoint.head;
    let found = db.hash_of(want.seq)?;
    let what = match found {
        Some(hash) if hash == want.hash => return Ok(Vec::new()),
        Some(hash) => format!(
            "khác với mốc kiểm ký lúc {at}: nhật ký đã bị viết lại / differs from the checkpoint signed at {at}: \
             the checkpoint records hash {}, the log now has {hash} (the log was rewritten)",
            want.hash,
            at = checkpoint.at
        ),
        None => {
            let last = db.head()?.map_or(0, |h| h.seq);
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

/// Appends an entry made at `at` (the use case's time: the audit log reads no clock of its
/// own); call inside the unit of work that does the audited change, so both land or neither
/// does. Outside one, the entry is written on its own (see [`Log::append_entry`]).
pub fn append(
    db: &impl Log,
    actor: &str,
    action: &str,
    subject: &str,
    details: &serde_json::Value,
    at: OffsetDateTime,
) -> Result<AuditEntry, AuditError> {
    let details = details.to_string();
    // In UTC, as every entry is, whatever offset the caller's time carries.
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let entry = db.append_entry(&mut |last| {
        let (seq, prev_hash) = match last {
            Some(h) => (h.seq + 1, h.hash),
            None => (1, GENESIS.to_owned()),
        };
        let hash = entry_hash(&prev_hash, seq, &at, actor, action, subject, &details);
        AuditEntry {
            seq,
            at: at.clone(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            details: details.clone(),
            prev_hash,
            hash,
        }
    })?;
    Ok(entry)
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
pub fn verify(db: &impl Log) -> Result<AuditReport, AuditError> {
    let mut problems = Vec::new();
    let mut expected_prev = GENESIS.to_owned();
    let mut expected_seq = 1i64;
    let mut count = 0i64;
    let mut last: Option<(i64, String)> = None;
    db.each_entry(&mut |e| {
        let seq = e.seq;
        count += 1;
        if seq != expected_seq {
            problems.push(AuditProblem {
                seq,
                what: format!("entries {expected_seq}..{} are missing", seq - 1),
            });
        }
        if e.prev_hash != expected_prev {
            problems.push(AuditProblem { seq, what: "does not link to the entry before it (an entry was deleted, inserted or altered)".into() });
        }
        if entry_hash(
            &e.prev_hash,
            seq,
            &e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.details,
        ) != e.hash
        {
            problems.push(AuditProblem {
                seq,
                what: format!(
                    "was edited: its content no longer matches its hash ({} on {})",
                    e.action, e.subject
                ),
            });
        }
        expected_prev = e.hash.clone();
        expected_seq = seq + 1;
        last = Some((seq, e.hash));
    })?;
    let head = db.recorded_head()?;
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

/// The newest `limit` entries, oldest of them first.
pub fn list(db: &impl Log, limit: i64) -> Result<Vec<AuditEntry>, AuditError> {
    let mut out = db.newest(&Filter::default(), limit)?;
    out.reverse();
    Ok(out)
}

/// The newest `limit` entries whose actor is `actor`, whose action starts with `action` and
/// whose subject contains `subject` (each `None` or empty for any), newest first.
pub fn search(
    db: &impl Log,
    actor: Option<&str>,
    action: Option<&str>,
    subject: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>, AuditError> {
    fn given(s: Option<&str>) -> Option<&str> {
        s.filter(|s| !s.is_empty())
    }
    let filter = Filter {
        actor: given(actor),
        action_prefix: given(action),
        subject_part: given(subject),
    };
    Ok(db.newest(&filter, limit)?)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// A log kept in memory: the chain's rules hold over any store, not only the registry's.
    #[derive(Default)]
    struct Memory {
        entries: RefCell<Vec<AuditEntry>>,
        head: RefCell<Option<String>>,
    }

    impl Log for Memory {
        fn head(&self) -> Result<Option<Head>, StoreError> {
            Ok(self.entries.borrow().last().map(|e| Head {
                seq: e.seq,
                hash: e.hash.clone(),
            }))
        }

        fn hash_of(&self, seq: i64) -> Result<Option<String>, StoreError> {
            Ok(self
                .entries
                .borrow()
                .iter()
                .find(|e| e.seq == seq)
                .map(|e| e.hash.clone()))
        }

        fn append_entry(
            &self,
            next: &mut dyn FnMut(Option<Head>) -> AuditEntry,
        ) -> Result<AuditEntry, StoreError> {
            let e = next(Log::head(self)?);
            *self.head.borrow_mut() = Some(format!("{}:{}", e.seq, e.hash));
            self.entries.borrow_mut().push(e.clone());
            Ok(e)
        }

        fn recorded_head(&self) -> Result<Option<String>, StoreError> {
            Ok(self.head.borrow().clone())
        }

        fn each_entry(&self, visit: &mut dyn FnMut(AuditEntry)) -> Result<(), StoreError> {
            self.entries.borrow().iter().cloned().for_each(visit);
            Ok(())
        }

        fn newest(&self, filter: &Filter<'_>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
            Ok(self
                .entries
                .borrow()
                .iter()
                .rev()
                .filter(|e| filter.actor.is_none_or(|a| e.actor == a))
                .filter(|e| filter.action_prefix.is_none_or(|a| e.action.starts_with(a)))
                .filter(|e| filter.subject_part.is_none_or(|s| e.subject.contains(s)))
                .take(usize::try_from(limit).unwrap_or(0))
                .cloned()
                .collect())
        }
    }

    #[test]
    fn entries_chain_and_any_change_or_cut_is_found() {
        let log = Memory::default();
        for i in 0..4 {
            let e = append(
                &log,
                "admin",
                "user.create",
                &format!("u{i}"),
                &serde_json::json!({}),
                OffsetDateTime::now_utc(),
            )
            .unwrap();
            assert_eq!(e.seq, i + 1);
        }
        let entries = log.entries.borrow().clone();
        assert_eq!(entries[0].prev_hash, GENESIS);
        assert!(entries.windows(2).all(|w| w[1].prev_hash == w[0].hash));
        assert!(verify(&log).unwrap().problems.is_empty());
        assert_eq!(
            search(&log, None, Some("user."), Some("u2"), 10).unwrap()[0].seq,
            3
        );
        assert_eq!(
            list(&log, 2)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            [3, 4]
        );

        log.entries.borrow_mut()[1].subject = "someone else".into();
        assert_eq!(verify(&log).unwrap().problems[0].seq, 2);
        log.entries.borrow_mut()[1].subject = "u1".into();
        log.entries.borrow_mut().pop();
        let problems = verify(&log).unwrap().problems;
        assert!(problems[0].what.contains("head was 4:"), "{problems:?}");
    }
}
