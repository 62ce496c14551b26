//! Long-term material as records: what a delivered signature still owes (its DSS and document
//! timestamp, when no source answered at signing), and the archive's renewal schedule (until
//! when each registered document's newest archived version is proven, and the renewals made).
//!
//! [`Schedule`] is the port; the registry implements it (tables `ltv_owed`, `ltv_schedule` and
//! `ltv_renewals`). What is due, and what to do about it, is decided by the use cases in
//! `app::ltv`.

use time::OffsetDateTime;

use crate::store::StoreError;

/// A delivered file that still owes its long-term material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    /// The delivered file's SHA-256 (lower-case hex), as in the archive outbox.
    pub sha256: String,
    /// What is owed: `b-lt` or `b-lta`.
    pub level: String,
    /// The delivered file's archive key.
    pub object_key: String,
}

/// A registered document's newest signed version, and what the renewal schedule knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The register entry.
    pub document: String,
    /// Its kind (chooses the retention).
    pub kind: String,
    /// Its newest signed version, as delivered (SHA-256).
    pub delivered: String,
    /// The newest archived version extending it, when the schedule was made for this delivered
    /// version (a schedule made for an older one starts over).
    pub head: Option<String>,
    /// Until when the head's newest timestamp proves it (`None`: no timestamp, or no schedule).
    pub deadline: Option<OffsetDateTime>,
    /// Not looked at again before this time.
    pub retry_after: Option<OffsetDateTime>,
}

/// Where a document's renewal schedule stands after a look at its head or a renewal.
#[derive(Debug, Clone, Copy)]
pub struct ScheduledHead<'a> {
    /// The register entry.
    pub document: &'a str,
    /// Its delivered version.
    pub delivered: &'a str,
    /// The newest archived version extending it.
    pub head: &'a str,
    /// Until when the head is proven, and why then; `None` when it has no timestamp.
    pub deadline: Option<(OffsetDateTime, &'a str)>,
    /// Not looked at again before this time (a renewal that could not move the deadline).
    pub retry_after: Option<OffsetDateTime>,
    /// Now.
    pub at: OffsetDateTime,
}

/// A renewal made: a new archive version extending `previous`.
#[derive(Debug, Clone, Copy)]
pub struct Renewal<'a> {
    /// The new version's SHA-256.
    pub sha256: &'a str,
    /// The register entry.
    pub document: &'a str,
    /// Its delivered version.
    pub delivered: &'a str,
    /// The version it extends.
    pub previous: &'a str,
    /// Why it was due.
    pub reason: &'a str,
    /// Until when the new version is proven, and why then.
    pub deadline: (OffsetDateTime, &'a str),
    /// When it was made.
    pub at: OffsetDateTime,
}

/// The long-term records (a port).
pub trait Schedule {
    /// Records that the delivered file `sha256` owes `level` for `reasons` (nothing when it is
    /// recorded already).
    fn insert_owed(
        &self,
        sha256: &str,
        level: &str,
        reasons: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// How many delivered files still owe.
    fn owed_count(&self) -> Result<u64, StoreError>;
    /// Up to `max` debts not settled, oldest first.
    fn owed(&self, max: usize) -> Result<Vec<Owed>, StoreError>;
    /// The debt of `sha256` is settled by the long-term version `long_term` at `at`.
    fn settle_owed(
        &self,
        sha256: &str,
        long_term: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// An attempt to settle the debt of `sha256` failed at `at` for `reason`.
    fn owed_attempt_failed(
        &self,
        sha256: &str,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// The long-term version made for the delivered file `sha256`, if its debt was settled.
    fn settled_version(&self, sha256: &str) -> Result<Option<String>, StoreError>;
    /// Every issued or cancelled registered document whose newest version is a signed one, in
    /// the order they were registered, with its schedule.
    fn renewal_candidates(&self) -> Result<Vec<Candidate>, StoreError>;
    /// Sets a document's schedule to `s` (attempts and the last error start over).
    fn set_schedule_head(&self, s: &ScheduledHead<'_>) -> Result<(), StoreError>;
    /// A renewal of `document` (head `head`) failed at `at` for `why`: counted, and not tried
    /// again before `retry_after`.
    fn schedule_retry(
        &self,
        document: &str,
        delivered: &str,
        head: &str,
        retry_after: OffsetDateTime,
        why: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Records a renewal (nothing when its version is recorded already).
    fn insert_renewal(&self, r: &Renewal<'_>) -> Result<(), StoreError>;
    /// How many renewals were made.
    fn renewal_count(&self) -> Result<u64, StoreError>;
}
