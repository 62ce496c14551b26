//! The outbox: durable local staging plus the outbox's records in the registry ([`Queue`]).
//!
//! Order of a submission, which is what makes "signed" mean "will be archived":
//! 1. the bytes are written durably to `<data_dir>/outbox/<aa>/<sha256>.pdf`;
//! 2. the row is committed (in the caller's unit of work, with its other records);
//! 3. only then does the caller learn the document is recorded.
//!
//! A crash between 1 and 2 leaves a staged file without a row; the worker adopts such files (as
//! kind `default`, the longest retention) instead of deleting them, so even a document whose
//! submission was interrupted is not lost. The staged copy is removed only after the row says
//! `archived`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use time::{Date, OffsetDateTime, UtcOffset};

use super::local::{TEMP_PREFIX, remove_durable, write_durable};
use super::{ArchiveError, Bytes, ObjectKey, Sha256, Slug};
use crate::config::Settings;
use crate::store::StoreError;

/// The outbox's records (a port): one row per document, named by its digest, with its state
/// and attempts. The registry implements it (`registry::outbox`); the staging files, the
/// order of a submission and the retry decisions stay here.
pub trait Queue {
    /// The row of the document with digest `sha`.
    fn outbox_entry(&self, sha: &Sha256) -> Result<Option<Item>, StoreError>;
    /// Adds a row in state pending; `false` when the digest has a row already (nothing
    /// changed).
    fn insert_outbox_entry(&self, entry: &NewEntry<'_>) -> Result<bool, StoreError>;
    /// Up to `max` rows not yet archived with id above `after`, in id order; only those due by
    /// `due_by_ms` unless it is `None`.
    fn waiting_entries(
        &self,
        after: i64,
        due_by_ms: Option<i64>,
        max: usize,
    ) -> Result<Vec<Item>, StoreError>;
    /// When the next row not yet archived becomes due (ms since the epoch), if any waits.
    fn next_due_ms(&self) -> Result<Option<i64>, StoreError>;
    /// Counts an attempt on row `id` starting `at`; returns the attempts so far.
    fn start_attempt(&self, id: i64, at: OffsetDateTime) -> Result<u32, StoreError>;
    /// Row `id` is in the store `store` since `at`, with `retention` applied (or why not).
    fn mark_archived(
        &self,
        id: i64,
        at: OffsetDateTime,
        store: &str,
        retention: &str,
    ) -> Result<(), StoreError>;
    /// Row `id`'s attempt failed for `reason`; the next is due at `retry_at_ms`.
    fn mark_failed(&self, id: i64, reason: &str, retry_at_ms: i64) -> Result<(), StoreError>;
    /// Makes every failed row due by `now_ms`; returns how many moved.
    fn make_failed_due(&self, now_ms: i64) -> Result<usize, StoreError>;
    /// Archived rows in id order, or a random sample of `sample` of them.
    fn archived_entries(&self, sample: Option<usize>) -> Result<Vec<Item>, StoreError>;
    /// Every row, in id order.
    fn outbox_entries(&self) -> Result<Vec<Item>, StoreError>;
    /// The counts and details `kyso archive status` shows.
    fn outbox_status(&self) -> Result<Status, StoreError>;
}

/// Where the outbox's records are kept, and how the worker commits to them. The registry
/// implements it (`registry::outbox`), so that the worker, which keeps its connection for as
/// long as it runs, never names the registry.
pub trait Queues {
    /// The records as one unit of work (or reads outside one) sees them, with the audit log
    /// whose head the worker checkpoints.
    type Db<'a>: Queue + crate::audit::Log + Copy
    where
        Self: 'a;

    /// The records for reads, and for single changes that commit on their own.
    fn db(&self) -> Self::Db<'_>;

    /// Runs `f` as one unit of work, committed durably before this returns, or not at all when
    /// `f` fails.
    fn unit_of_work<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(Self::Db<'_>) -> Result<T, E>,
    ) -> Result<T, E>;
}

/// A row to add to the outbox: everything but the state, which starts pending.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// The object key (carrying the digest).
    pub key: &'a ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// Document kind.
    pub kind: &'a str,
    /// Commune code.
    pub commune: &'a str,
    /// Date in the key.
    pub date: Date,
    /// Where it came from.
    pub source: Option<&'a str>,
}

/// What to submit.
#[derive(Debug, Clone, Copy)]
pub struct SubmitRequest<'a> {
    /// The signed document.
    pub bytes: &'a [u8],
    /// Its kind (chooses the retention): `signature`, `contract`, `register`, `civil-status`, …
    pub kind: &'a str,
    /// Commune code for the key; the configured `archive.commune` when `None`.
    pub commune: Option<&'a str>,
    /// Date for the key: the caller's today in Vietnam ([`date_in_vietnam`]) for a document
    /// signed now.
    pub date: Date,
    /// Where it came from (a file name), shown in status.
    pub source: Option<&'a str>,
}

/// An archive state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Waiting for (or in) its first upload.
    Pending,
    /// The last attempt failed; it will be retried.
    Failed,
    /// In the store.
    Archived,
}

impl State {
    /// The state a stored name means (anything unknown counts as pending: it is retried).
    pub fn parse(s: &str) -> State {
        match s {
            "archived" => State::Archived,
            "failed" => State::Failed,
            _ => State::Pending,
        }
    }
    /// The name stored in the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Failed => "failed",
            State::Archived => "archived",
        }
    }
}

/// A recorded submission.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The outbox row.
    pub id: i64,
    /// The object key (carrying the digest).
    pub key: ObjectKey,
    /// Its state now.
    pub state: State,
    /// False when the same bytes had been submitted before (nothing new was recorded).
    pub new: bool,
}

/// One outbox row, as the worker and the audit see it.
#[derive(Debug, Clone)]
pub struct Item {
    /// Row id.
    pub id: i64,
    /// The key.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// Document kind.
    pub kind: String,
    /// Date in the key.
    pub date: Date,
    /// State.
    pub state: State,
    /// Attempts started so far (including one in flight).
    pub attempts: u32,
    /// Last failure.
    pub last_error: Option<String>,
    /// Retention the store applied (archived rows).
    pub retention: Option<String>,
    /// Source name.
    pub source: Option<String>,
}

/// The outcome of one attempt, for [`Outbox::record`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// In the store.
    Archived {
        /// The document.
        item: &'a Item,
        /// Store description.
        store: &'a str,
        /// Retention applied (or why not).
        retention: &'a str,
    },
    /// Not archived; retried at `retry_at_ms`.
    Failed {
        /// The document.
        item: &'a Item,
        /// Why.
        reason: &'a str,
        /// Next attempt (ms since the epoch).
        retry_at_ms: i64,
    },
}

/// Counts and the oldest waiting document, for `kyso archive status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    /// Not yet tried, or in flight.
    pub pending: u64,
    /// Last attempt failed; will be retried.
    pub failed: u64,
    /// In the store.
    pub archived: u64,
    /// Bytes waiting in the staging directory (pending + failed).
    pub waiting_bytes: u64,
    /// The oldest document not yet archived.
    pub oldest_waiting: Option<Waiting>,
    /// Current failure reasons with how many documents each holds back, most common first.
    pub failures: Vec<(String, u64)>,
    /// Archived documents whose store did not apply the retention their kind needs.
    pub archived_without_retention: u64,
}

/// A waiting document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Waiting {
    /// Row id.
    pub id: i64,
    /// Key.
    pub key: String,
    /// When it entered the outbox (UTC).
    pub since: String,
    /// Attempts made.
    pub attempts: u32,
    /// Its source.
    pub source: Option<String>,
}

/// The outbox of one deployment.
#[derive(Debug, Clone)]
pub struct Outbox {
    staging: PathBuf,
    prefix: String,
    commune: String,
    max_size: u64,
}

/// `t` in milliseconds since the Unix epoch (the outbox's schedule unit).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The date of `t` in Vietnam (UTC+7), the calendar the registers follow.
pub fn date_in_vietnam(t: OffsetDateTime) -> Date {
    let offset = UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC);
    t.to_offset(offset).date()
}

impl Outbox {
    /// The outbox of the deployment `settings` describe.
    pub fn new(settings: &Settings) -> Outbox {
        Outbox {
            staging: settings.data_dir.join("outbox"),
            prefix: settings.archive.prefix.clone(),
            commune: if settings.archive.commune.is_empty() {
                settings.authority.code.clone()
            } else {
                settings.archive.commune.clone()
            },
            max_size: settings.archive.max_document_size,
        }
    }

    /// The staging directory.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// Where the staged copy of a document lives.
    pub fn staged_path(&self, sha: &Sha256) -> PathBuf {
        let hex = sha.hex();
        self.staging.join(&hex[..2]).join(format!("{hex}.pdf"))
    }

    /// Writes the staged copy of `bytes` durably, before the transaction that will submit it
    /// with [`Outbox::submit`]: the fsyncs then happen while other requests may write to
    /// the registry, instead of inside the write lock. A copy left behind by a transaction
    /// that then failed is named by its content and reused by the next submission of the same
    /// bytes.
    pub fn stage(&self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.stage_linked(bytes, None)
    }

    /// [`Outbox::stage`], linking the staged copy to `same`, a durable file already holding
    /// exactly `bytes` (the signed version the issued-files store just wrote), so that the
    /// bytes are written and fsynced once: a hard link costs one directory fsync. Where a link
    /// cannot be made (another file system), the copy is written as usual.
    pub fn stage_linked(&self, bytes: &[u8], same: Option<&Path>) -> Result<(), ArchiveError> {
        let size = bytes.len() as u64;
        if size > self.max_size {
            return Err(ArchiveError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        let staged = self.staged_path(&Sha256::of(bytes));
        if staged.is_file() {
            return Ok(());
        }
        if let (Some(same), Some(dir)) = (same, staged.parent()) {
            let linked = crate::archive::local::create_dir_durable(dir)
                .and_then(|()| std::fs::hard_link(same, &staged))
                .and_then(|()| crate::archive::local::sync_dir(dir));
            match linked {
                Ok(()) => return Ok(()),
                // Someone staged the same bytes meanwhile: theirs is whole (renamed into place).
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
                Err(_) => {}
            }
        }
        write_durable(&staged, bytes).map_err(|source| ArchiveError::Io {
            action: "cannot stage the document in",
            path: staged,
            source,
        })
    }

    /// Records a document: durable staged copy first, then the row (see the module header).
    /// Called inside a unit of work, the row commits together with the caller's own records
    /// (the signing's audit entry): the staged copy is durable before the row, and the row
    /// lands with the rest or not at all.
    pub fn submit(
        &self,
        db: &impl Queue,
        req: SubmitRequest<'_>,
    ) -> Result<Submitted, ArchiveError> {
        let size = req.bytes.len() as u64;
        if size > self.max_size {
            return Err(ArchiveError::TooLarge {
                size,
                max: self.max_size,
            });
        }
        Slug::parse(req.kind, "document kind")?;
        let commune = Slug::parse(req.commune.unwrap_or(&self.commune), "commune code")?;
        let prefix = Slug::parse(&self.prefix, "archive prefix")?;
        let date = req.date;
        let sha = Sha256::of(req.bytes);
        let staged = self.staged_path(&sha);

        if let Some(existing) = db.outbox_entry(&sha)? {
            // Same bytes again. Re-stage them if the copy went missing and the row still needs it.
            if existing.state != State::Archived && !staged.is_file() {
                write_durable(&staged, req.bytes).map_err(|source| ArchiveError::Io {
                    action: "cannot stage the document in",
                    path: staged.clone(),
                    source,
                })?;
            }
            return Ok(Submitted {
                id: existing.id,
                key: existing.key,
                state: existing.state,
                new: false,
            });
        }

        // Staged ahead by `stage` (outside the caller's transaction) or now. Staged copies are
        // named by their SHA-256 and only ever renamed into place whole, so one that exists
        // holds exactly these bytes.
        if !staged.is_file() {
            write_durable(&staged, req.bytes).map_err(|source| ArchiveError::Io {
                action: "cannot stage the document in",
                path: staged.clone(),
                source,
            })?;
        }
        let key = ObjectKey::new(&prefix, &commune, date, sha);
        let new = db.insert_outbox_entry(&NewEntry {
            key: &key,
            size,
            kind: req.kind,
            commune: commune.as_str(),
            date,
            source: req.source,
        })?;
        let row = db.outbox_entry(&sha)?.ok_or_else(|| {
            ArchiveError::Config("outbox row vanished right after insertion".into())
        })?;
        Ok(Submitted {
            id: row.id,
            key: row.key,
            state: row.state,
            new,
        })
    }

    /// The row of the document with digest `sha`.
    pub fn find(&self, db: &impl Queue, sha: &Sha256) -> Result<Option<Item>, ArchiveError> {
        Ok(db.outbox_entry(sha)?)
    }

    /// Up to `limit` documents not yet archived with id above `after`, in id order; only those
    /// due by `due_by_ms` unless it is `None`.
    pub fn waiting(
        &self,
        db: &impl Queue,
        after: i64,
        due_by_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Item>, ArchiveError> {
        Ok(db.waiting_entries(after, due_by_ms, limit)?)
    }

    /// When the next waiting document becomes due (ms since epoch), if any waits.
    pub fn next_due_ms(&self, db: &impl Queue) -> Result<Option<i64>, ArchiveError> {
        Ok(db.next_due_ms()?)
    }

    /// Records that attempts start, so that a crash mid-upload is known at the next attempt;
    /// updates each item's attempt count. The caller commits them before uploading (one unit
    /// of work for the batch). `now` is when the attempts start.
    pub fn start_attempts(
        &self,
        db: &impl Queue,
        items: &mut [Item],
        now: OffsetDateTime,
    ) -> Result<(), ArchiveError> {
        for item in items.iter_mut() {
            item.attempts = db.start_attempt(item.id, now)?;
        }
        Ok(())
    }

    /// Records the outcomes of finished attempts (the caller commits them in one unit of work,
    /// then calls [`Outbox::release_staged`]); `now` is when they finished.
    pub fn record(
        &self,
        db: &impl Queue,
        outcomes: &[Outcome<'_>],
        now: OffsetDateTime,
    ) -> Result<(), ArchiveError> {
        for o in outcomes {
            match o {
                Outcome::Archived {
                    item,
                    store,
                    retention,
                } => db.mark_archived(item.id, now, store, retention)?,
                Outcome::Failed {
                    item,
                    reason,
                    retry_at_ms,
                } => db.mark_failed(item.id, reason, *retry_at_ms)?,
            }
        }
        Ok(())
    }

    /// Removes the staged copies of the documents `outcomes` archived, once their rows say so
    /// (committed by [`Outbox::record`]'s unit of work): nothing needs them any more.
    pub fn release_staged(&self, outcomes: &[Outcome<'_>]) {
        for o in outcomes {
            if let Outcome::Archived { item, .. } = o {
                // Not fsynced: a removal lost in a crash is redone by the next worker start.
                let staged = self.staged_path(&item.key.sha256());
                if let Err(e) = std::fs::remove_file(&staged)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(
                        "archive: cannot remove staged copy {}: {e}",
                        staged.display()
                    );
                }
            }
        }
    }

    /// Brings every failed document's next attempt forward to `now_ms` (the store came back).
    pub fn retry_failed_now(&self, db: &impl Queue, now_ms: i64) -> Result<usize, ArchiveError> {
        Ok(db.make_failed_due(now_ms)?)
    }

    /// Archived documents in id order, or a random sample of `sample` of them.
    pub fn archived(
        &self,
        db: &impl Queue,
        sample: Option<usize>,
    ) -> Result<Vec<Item>, ArchiveError> {
        Ok(db.archived_entries(sample)?)
    }

    /// Every row, in id order (tests and reports).
    pub fn all(&self, db: &impl Queue) -> Result<Vec<Item>, ArchiveError> {
        Ok(db.outbox_entries()?)
    }

    /// The counts and details `kyso archive status` shows.
    pub fn status(&self, db: &impl Queue) -> Result<Status, ArchiveError> {
        Ok(db.outbox_status()?)
    }

    /// Reads and checks a staged copy.
    pub fn read_staged(&self, item: &Item) -> Result<Bytes, super::StoreError> {
        let path = self.staged_path(&item.key.sha256());
        let bytes = std::fs::read(&path).map_err(|e| super::StoreError::Io {
            action: "read the staged copy",
            path: path.clone(),
            message: e.to_string(),
        })?;
        item.key
            .check(&bytes)
            .map_err(|_| super::StoreError::Integrity {
                key: item.key.to_string(),
                detail: format!(
                    "the staged copy {} is damaged (its hash no longer matches)",
                    path.display()
                ),
            })?;
        Ok(Bytes::from(bytes))
    }

    /// Tidies the staging directory after crashes: removes staged copies of archived documents
    /// and temporary files older than `grace`, and adopts staged documents that have no row
    /// (a submission interrupted before its commit) as kind `default`. Returns how many
    /// documents it adopted. Ages are the files' modification times seen from `now`; an
    /// adopted document without one is dated `now`.
    pub fn recover_staging(
        &self,
        db: &impl Queue,
        grace: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<usize, ArchiveError> {
        let mut adopted = 0;
        let Ok(fanout) = std::fs::read_dir(&self.staging) else {
            return Ok(0);
        };
        let today = date_in_vietnam(now);
        let now = SystemTime::from(now);
        let old = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= grace)
        };
        for sub in fanout.flatten() {
            let Ok(files) = std::fs::read_dir(sub.path()) else {
                continue;
            };
            for f in files.flatten() {
                let path = f.path();
                let name = f.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMP_PREFIX) {
                    if old(&path) {
                        let _ = std::fs::remove_file(&path);
                    }
                    continue;
                }
                let Some(sha) = name
                    .strip_suffix(".pdf")
                    .and_then(|h| h.parse::<Sha256>().ok())
                else {
                    continue;
                };
                match db.outbox_entry(&sha)? {
                    Some(item) if item.state == State::Archived => {
                        let _ = remove_durable(&path);
                    }
                    Some(_) => {}
                    None if old(&path) => {
                        let Ok(bytes) = std::fs::read(&path) else {
                            continue;
                        };
                        if Sha256::of(&bytes) != sha {
                            tracing::warn!(
                                "archive: staged file {} is damaged and has no outbox row; left in place",
                                path.display()
                            );
                            continue;
                        }
                        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                        let date = mtime
                            .map(|t| date_in_vietnam(OffsetDateTime::from(t)))
                            .unwrap_or(today);
                        self.submit(
                            db,
                            SubmitRequest {
                                bytes: &bytes,
                                kind: "default",
                                commune: None,
                                date,
                                source: Some("recovered from staging"),
                            },
                        )?;
                        adopted += 1;
                    }
                    None => {}
                }
            }
        }
        Ok(adopted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn setup() -> (tempfile::TempDir, Settings, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        let reg = Registry::open(&settings.registry_path()).unwrap();
        (dir, settings, reg)
    }

    #[test]
    fn a_copy_staged_ahead_by_a_link_is_recorded_without_being_written_again() {
        use std::os::unix::fs::MetadataExt as _;
        let (d, settings, reg) = setup();
        let ob = Outbox::new(&settings);
        let bytes = b"%PDF-1.7 signed version";
        let version = d.path().join("version.pdf");
        crate::archive::local::write_durable(&version, bytes).unwrap();
        ob.stage_linked(bytes, Some(&version)).unwrap();
        let staged = ob.staged_path(&Sha256::of(bytes));
        let (a, b) = (
            std::fs::metadata(&version).unwrap(),
            std::fs::metadata(&staged).unwrap(),
        );
        assert_eq!(
            (a.dev(), a.ino()),
            (b.dev(), b.ino()),
            "one file, two names"
        );
        let req = SubmitRequest {
            bytes,
            kind: "contract",
            commune: Some("xa-a"),
            date: date_in_vietnam(OffsetDateTime::now_utc()),
            source: None,
        };
        let first = ob.submit(&reg.db(), req).unwrap();
        assert!(first.new);
        assert_eq!(std::fs::metadata(&staged).unwrap().ino(), a.ino());
        // Removing the staged copy after upload leaves the version in place.
        crate::archive::local::remove_durable(&staged).unwrap();
        assert_eq!(std::fs::read(&version).unwrap(), bytes);
        // Without a file to link to, the copy is written.
        ob.stage_linked(b"%PDF other", None).unwrap();
        assert!(ob.staged_path(&Sha256::of(b"%PDF other")).is_file());
    }

    #[test]
    fn submit_stages_then_records_and_is_idempotent() {
        let (_d, settings, reg) = setup();
        let ob = Outbox::new(&settings);
        let req = SubmitRequest {
            bytes: b"%PDF-1.7 signed",
            kind: "contract",
            commune: Some("xa-a"),
            date: date_in_vietnam(OffsetDateTime::now_utc()),
            source: Some("a.pdf"),
        };
        let first = ob.submit(&reg.db(), req).unwrap();
        assert!(first.new);
        assert_eq!(first.state, State::Pending);
        assert!(ob.staged_path(&first.key.sha256()).is_file());
        let again = ob.submit(&reg.db(), req).unwrap();
        assert!(!again.new);
        assert_eq!(again.id, first.id);
        let st = ob.status(&reg.db()).unwrap();
        assert_eq!((st.pending, st.failed, st.archived), (1, 0, 0));
        assert_eq!(st.oldest_waiting.unwrap().source.as_deref(), Some("a.pdf"));
    }

    #[test]
    fn bad_metadata_is_refused_before_anything_is_written() {
        let (_d, settings, reg) = setup();
        let ob = Outbox::new(&settings);
        let err = ob
            .submit(
                &reg.db(),
                SubmitRequest {
                    bytes: b"x",
                    kind: "contract",
                    commune: Some("Xã Tả Phìn"),
                    date: date_in_vietnam(OffsetDateTime::now_utc()),
                    source: None,
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("commune code"), "{err}");
        assert!(!ob.staging_dir().exists());
    }

    #[test]
    fn orphaned_staged_files_are_adopted_not_deleted() {
        let (_d, settings, reg) = setup();
        let ob = Outbox::new(&settings);
        let sha = Sha256::of(b"interrupted");
        write_durable(&ob.staged_path(&sha), b"interrupted").unwrap();
        assert_eq!(
            ob.recover_staging(
                &reg.db(),
                std::time::Duration::ZERO,
                OffsetDateTime::now_utc()
            )
            .unwrap(),
            1
        );
        let item = ob.find(&reg.db(), &sha).unwrap().unwrap();
        assert_eq!(item.kind, "default");
        assert_eq!(item.state, State::Pending);
    }
}
