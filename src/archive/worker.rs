//! The worker that forwards staged documents to the store.
//!
//! One worker per data directory (an exclusive lock on `<data_dir>/archive-worker.lock`), so
//! no lease bookkeeping is needed: whatever was in flight when a previous worker died is simply
//! attempted again. Each attempt is counted before it starts; a document that has been attempted
//! before is first looked for in the store (read back and checked), so a crash between the
//! upload and the registry update costs one read instead of a second upload.
//!
//! Failures are recorded with their reason and retried after an exponentially growing delay
//! (with jitter, capped). When a document that had failed goes through, the store is evidently
//! back, and every other failed document is made due at once: the backlog drains without
//! waiting for each one's backoff to expire.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::task::JoinSet;

use super::checkpoint::AuditSigner;
use super::outbox::{Item, Outbox, Outcome, Queues, unix_ms};
use super::{
    ArchiveError, ArchiveSettings, ArchiveStore, LockOutcome, LockSupport, ObjectLockPolicy,
    StoreError,
};
use crate::config::Settings;
use crate::retention::{Retention, lock_for};

/// What one pass over the outbox did.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    /// Documents archived in this pass.
    pub archived: usize,
    /// Of which were already in the store (a retry after a crash).
    pub already_present: usize,
    /// Attempts that failed.
    pub failed: usize,
    /// Failure reasons with counts.
    pub reasons: Vec<(String, usize)>,
}

/// The outcome of one attempt.
struct Done {
    already_present: bool,
    retention: String,
}

/// Where the worker reads the time: the application's clock ([`crate::app::App::now`]), given
/// by whoever starts the worker. The worker is the archive's one loop that runs by itself, so
/// it asks the clock when a pass starts and when attempts finish; everything it calls takes
/// the time from it.
pub type Now = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// Forwards the outbox to a store, recording into `R` (the registry).
pub struct Worker<S: ArchiveStore + 'static, R: Queues> {
    store: Arc<S>,
    now: Now,
    outbox: Outbox,
    records: R,
    settings: ArchiveSettings,
    /// When the last failure warning was logged, and its reason.
    last_warning: Option<(Instant, String)>,
    /// The audit key, when configured: each pass that archives something also writes a signed
    /// checkpoint of the audit head to the store (see [`super::checkpoint`]).
    audit_signer: Option<AuditSigner>,
    /// The audit entry the last checkpoint written by this worker anchors.
    checkpointed: Option<i64>,
    _lock: File,
}

/// Age after which a temporary file (`.tmp-…`) in the staging directory or the local store is
/// taken for the leftover of a crashed write and removed at worker start. No write of one
/// document takes this long; a younger file may be a write in progress in another process.
const STALE_TEMPORARY_AFTER: Duration = Duration::from_secs(600);

/// How often a failure that goes on is logged again.
const REPEAT_WARNING_AFTER: Duration = Duration::from_secs(30);

impl<S: ArchiveStore + 'static, R: Queues> Worker<S, R> {
    /// A worker for the deployment `settings` describe, recording into `records` (the
    /// deployment's registry, kept open while the worker runs), reading the time from `now`.
    /// Fails with [`ArchiveError::WorkerBusy`] when another worker holds the data directory.
    pub fn new(
        settings: &Settings,
        store: S,
        records: R,
        now: Now,
    ) -> Result<Worker<S, R>, ArchiveError> {
        let lock_path = settings.data_dir.join("archive-worker.lock");
        super::local::create_dir_durable(&settings.data_dir).map_err(|source| {
            ArchiveError::Io {
                action: "cannot create the data directory",
                path: settings.data_dir.clone(),
                source,
            }
        })?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| ArchiveError::Io {
                action: "cannot open",
                path: lock_path.clone(),
                source,
            })?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => ArchiveError::WorkerBusy(lock_path.clone()),
            std::fs::TryLockError::Error(source) => ArchiveError::Io {
                action: "cannot lock",
                path: lock_path.clone(),
                source,
            },
        })?;
        let audit_signer = AuditSigner::from_settings(settings)?;
        let outbox = Outbox::new(settings);
        let started = now();
        let adopted = outbox.recover_staging(&records.db(), STALE_TEMPORARY_AFTER, started)?;
        if adopted > 0 {
            tracing::warn!(
                "archive: adopted {adopted} staged document(s) whose submission had been interrupted"
            );
        }
        let removed = store.remove_stale_temporaries(STALE_TEMPORARY_AFTER, started.into());
        if removed > 0 {
            tracing::info!(
                "archive: removed {removed} temporary file(s) that interrupted writes left in {}",
                store.describe()
            );
        }
        Ok(Worker {
            store: Arc::new(store),
            now,
            outbox,
            records,
            settings: settings.archive.clone(),
            last_warning: None,
            audit_signer,
            checkpointed: None,
            _lock: lock,
        })
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The records this worker keeps (the registry).
    pub fn records(&self) -> &R {
        &self.records
    }

    /// One pass over the outbox in id order: every waiting document that is due (or every one,
    /// when `ignore_schedule`) gets one attempt, `concurrency` at a time.
    pub async fn pass(&mut self, ignore_schedule: bool) -> Result<PassReport, ArchiveError> {
        let mut report = PassReport::default();
        let mut reasons: HashMap<String, usize> = HashMap::new();
        let concurrency = self.settings.concurrency.max(1);
        let mut after = 0i64;
        let mut queue: std::collections::VecDeque<Item> = Default::default();
        let mut exhausted = false;
        let mut running: JoinSet<(Item, Result<Done, StoreError>)> = JoinSet::new();
        loop {
            // Fill the free slots, counting their attempts in one transaction.
            let free = concurrency.saturating_sub(running.len());
            if free > 0 && !(queue.is_empty() && exhausted) {
                if queue.len() < free && !exhausted {
                    let due = (!ignore_schedule).then(|| unix_ms((self.now)()));
                    let batch = self.outbox.waiting(&self.records.db(), after, due, 256)?;
                    exhausted = batch.len() < 256;
                    if let Some(last) = batch.last() {
                        after = last.id;
                    }
                    queue.extend(batch);
                }
                let n = free.min(queue.len());
                let mut starting: Vec<Item> = queue.drain(..n).collect();
                let outbox = &self.outbox;
                let now = (self.now)();
                self.records
                    .unit_of_work(|db| outbox.start_attempts(&db, &mut starting, now))?;
                for item in starting {
                    let staged = self.outbox.read_staged(&item);
                    let (store, settings) = (Arc::clone(&self.store), self.settings.clone());
                    running.spawn(async move {
                        // The whole attempt is bounded, whatever the client's own limits do: a
                        // store that hangs must free this slot and leave a reason behind, or a
                        // few stuck attempts would hold every slot and the backlog would wait.
                        let deadline = settings.attempt_deadline(item.size);
                        let result = match tokio::time::timeout(
                            deadline,
                            attempt(&*store, &settings, &item, staged),
                        )
                        .await
                        {
                            Ok(result) => result,
                            Err(_) => Err(StoreError::Unreachable {
                                endpoint: store.describe(),
                                message: format!(
                                    "lượt tải lên không xong trong {ms} ms nên đã bị bỏ / \
                                     the attempt did not finish within {ms} ms and was abandoned",
                                    ms = deadline.as_millis()
                                ),
                            }),
                        };
                        (item, result)
                    });
                }
            }
            // Wait for one attempt, then take every other one already finished, and record
            // them together: one commit for many documents.
            let Some(first) = running.join_next().await else {
                break;
            };
            let mut finished = vec![first];
            while let Some(more) = running.try_join_next() {
                finished.push(more);
            }
            let mut results = Vec::with_capacity(finished.len());
            for joined in finished {
                results.push(
                    joined.map_err(|e| ArchiveError::Config(format!("upload task failed: {e}")))?,
                );
            }
            let store_name = self.store.describe();
            let finished_at = (self.now)();
            let now = unix_ms(finished_at);
            let texts: Vec<(String, i64)> = results
                .iter()
                .map(|(item, r)| match r {
                    Ok(done) => (done.retention.clone(), 0),
                    Err(err) => (
                        err.to_string(),
                        now.saturating_add(backoff(&self.settings, item.attempts)),
                    ),
                })
                .collect();
            let outcomes: Vec<Outcome<'_>> = results
                .iter()
                .zip(&texts)
                .map(|((item, r), (text, retry_at_ms))| match r {
                    Ok(_) => Outcome::Archived {
                        item,
                        store: &store_name,
                        retention: text,
                    },
                    Err(_) => Outcome::Failed {
                        item,
                        reason: text,
                        retry_at_ms: *retry_at_ms,
                    },
                })
                .collect();
            let outbox = &self.outbox;
            self.records
                .unit_of_work(|db| outbox.record(&db, &outcomes, finished_at))?;
            self.outbox.release_staged(&outcomes);
            let mut came_back = false;
            let mut went_through = false;
            for ((item, r), (text, _)) in results.iter().zip(&texts) {
                match r {
                    Ok(done) => {
                        report.archived += 1;
                        report.already_present += usize::from(done.already_present);
                        came_back |= item.attempts > 1;
                        went_through = true;
                    }
                    Err(_) => {
                        report.failed += 1;
                        *reasons.entry(text.clone()).or_default() += 1;
                    }
                }
            }
            if went_through && self.last_warning.take().is_some() {
                tracing::warn!("archive: the store answers again; uploading the backlog");
            }
            if came_back {
                // A document that had failed or been interrupted went through: the store is
                // back, so nobody else should sit out a long backoff.
                self.outbox
                    .retry_failed_now(&self.records.db(), unix_ms((self.now)()))?;
            }
        }
        let mut reasons: Vec<_> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        report.reasons = reasons;
        if report.failed > 0 {
            let (first, n) = &report.reasons[0];
            // During an outage passes come every few milliseconds; one line per pass would
            // flood the log (and a log nobody reads, a full pipe, blocks the worker). Say it
            // when the reason changes, then again every `REPEAT_WARNING_AFTER`.
            let now = Instant::now();
            let repeat = match &self.last_warning {
                Some((at, reason)) => {
                    reason != first || now.duration_since(*at) >= REPEAT_WARNING_AFTER
                }
                None => true,
            };
            if repeat {
                tracing::warn!(
                    "archive: {} upload(s) failed ({} archived); most common reason ({n}x): {first}; will retry",
                    report.failed,
                    report.archived
                );
                self.last_warning = Some((now, first.clone()));
            } else {
                tracing::debug!(
                    "archive: {} upload(s) failed ({} archived); most common reason ({n}x): {first}",
                    report.failed,
                    report.archived
                );
            }
        }
        if report.archived > 0 {
            self.write_checkpoint().await;
        }
        Ok(report)
    }

    /// Writes a signed checkpoint of the audit head with the batch just archived, when an audit
    /// key is configured and the head moved since the last one. A failure is logged, not
    /// fatal: the documents are archived either way, and the next batch tries again.
    async fn write_checkpoint(&mut self) {
        let Some(signer) = &self.audit_signer else {
            return;
        };
        let now = (self.now)();
        let checkpoint = match signer.sign_head(&self.records.db(), now) {
            Ok(Some(c)) if Some(c.head.seq) != self.checkpointed => c,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(
                    "archive: không ký được mốc kiểm / cannot sign the audit checkpoint: {e}"
                );
                return;
            }
        };
        let deadline = self.settings.attempt_deadline(0);
        match tokio::time::timeout(
            deadline,
            super::checkpoint::write(&*self.store, &self.settings, &checkpoint, now),
        )
        .await
        {
            Ok(Ok(key)) => {
                tracing::info!(
                    "archive: audit checkpoint of entry {} written as {key}",
                    checkpoint.head.seq
                );
                self.checkpointed = Some(checkpoint.head.seq);
            }
            Ok(Err(e)) => tracing::warn!(
                "archive: không ghi được mốc kiểm / cannot write the audit checkpoint: {e}"
            ),
            Err(_) => tracing::warn!(
                "archive: không ghi được mốc kiểm / cannot write the audit checkpoint: no answer within {} ms",
                deadline.as_millis()
            ),
        }
    }

    /// Passes until nothing is waiting or `max_passes` passes ran, ignoring backoff schedules
    /// (a one-shot drain). Returns the last pass's report and how many documents still wait.
    pub async fn drain(&mut self, max_passes: usize) -> Result<(PassReport, u64), ArchiveError> {
        let mut total = PassReport::default();
        for _ in 0..max_passes.max(1) {
            let r = self.pass(true).await?;
            total.archived += r.archived;
            total.already_present += r.already_present;
            total.failed += r.failed;
            total.reasons = r.reasons;
            let s = self.outbox.status(&self.records.db())?;
            if s.pending + s.failed == 0 || r.archived == 0 {
                return Ok((total, s.pending + s.failed));
            }
        }
        let s = self.outbox.status(&self.records.db())?;
        Ok((total, s.pending + s.failed))
    }

    /// Runs until `shutdown` completes: a pass whenever something is due, otherwise sleeping
    /// until the next retry is due or `poll_ms` passes (new documents from other processes).
    /// A pass that fails on the registry itself (its disk full, say) is logged and retried with
    /// backoff: the worker outlives the trouble instead of exiting.
    pub async fn run(
        &mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ArchiveError> {
        tokio::pin!(shutdown);
        let mut registry_failures = 0u32;
        loop {
            let result = tokio::select! {
                r = self.pass(false) => r,
                () = &mut shutdown => return Ok(()),
            };
            let wait = match result {
                Ok(report) => {
                    registry_failures = 0;
                    if report.archived > 0 {
                        tracing::info!("archive: {} document(s) archived", report.archived);
                    }
                    self.idle_wait()
                }
                Err(err) => {
                    registry_failures = registry_failures.saturating_add(1);
                    let delay = backoff(&self.settings, registry_failures);
                    tracing::error!(
                        "archive: the outbox cannot be processed: {err}; retrying in {delay} ms"
                    );
                    delay
                }
            };
            if wait > 0 {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))) => {}
                    () = &mut shutdown => return Ok(()),
                }
            }
        }
    }

    /// How long to sleep before the next pass, in milliseconds.
    fn idle_wait(&self) -> i64 {
        let now = unix_ms((self.now)());
        let poll = i64::try_from(self.settings.poll_ms.max(10)).unwrap_or(1000);
        match self.outbox.next_due_ms(&self.records.db()) {
            Ok(Some(due)) if due <= now => 0,
            Ok(Some(due)) => (due - now).min(poll),
            Ok(None) | Err(_) => poll,
        }
    }
}

/// The delay before attempt `attempts + 1`: base × 2^(attempts−1), capped, with jitter in
/// [½, 1] so that many documents that failed together do not retry together.
pub fn backoff(settings: &ArchiveSettings, attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(40);
    let raw = settings
        .retry_base_ms
        .saturating_mul(1u64 << exp)
        .min(settings.retry_max_ms.max(1));
    let mut byte = [0u8; 1];
    let jitter =
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte).is_ok() {
            f64::from(byte[0]) / 255.0
        } else {
            1.0
        };
    let delay = (raw as f64) * (0.5 + 0.5 * jitter);
    delay as i64
}

/// One attempt at archiving `item`.
async fn attempt<S: ArchiveStore>(
    store: &S,
    settings: &ArchiveSettings,
    item: &Item,
    staged: Result<super::Bytes, StoreError>,
) -> Result<Done, StoreError> {
    // The retention this document needs, and whether the store can give it.
    let wanted = match settings.object_lock {
        ObjectLockPolicy::Off => None,
        _ => lock_for(
            Retention::for_kind(&settings.retention, &item.kind),
            settings.lock_mode,
            item.date,
        ),
    };
    let (lock, retention) = match wanted {
        None => (None, "none requested".to_owned()),
        Some(lock) => match store.lock_support().await? {
            LockSupport::Supported => (Some(lock), lock.to_string()),
            LockSupport::Unavailable(why) => match settings.object_lock {
                ObjectLockPolicy::Required => return Err(StoreError::LockUnavailable(why)),
                _ => (None, format!("not applied ({lock} wanted): {why}")),
            },
        },
    };

    // Attempted before: it may already be there (the previous worker died after uploading).
    if item.attempts > 1
        && store.head(&item.key).await? == Some(item.size)
        && store.get(&item.key).await.is_ok()
    {
        return Ok(Done {
            already_present: true,
            retention,
        });
    }

    let bytes = match staged {
        Ok(b) => b,
        Err(why) => {
            // Without a good staged copy only the store can still hold the document.
            return match store.get(&item.key).await {
                Ok(_) => Ok(Done {
                    already_present: true,
                    retention,
                }),
                Err(_) => Err(why),
            };
        }
    };
    let receipt = store.put(&item.key, &bytes, lock).await?;
    let retention = match receipt.lock {
        LockOutcome::Applied(l) => l.to_string(),
        LockOutcome::NotRequested => retention,
    };
    Ok(Done {
        already_present: receipt.already_present,
        retention,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Bytes, Lock, ObjectKey, PutReceipt, SubmitRequest};
    use crate::registry::Registry;

    /// A store whose every operation waits forever: a server that accepted and went silent.
    struct Stuck;

    impl ArchiveStore for Stuck {
        fn describe(&self) -> String {
            "stuck".into()
        }
        async fn put(
            &self,
            _: &ObjectKey,
            _: &Bytes,
            _: Option<Lock>,
        ) -> Result<PutReceipt, StoreError> {
            std::future::pending().await
        }
        async fn get(&self, _: &ObjectKey) -> Result<Bytes, StoreError> {
            std::future::pending().await
        }
        async fn head(&self, _: &ObjectKey) -> Result<Option<u64>, StoreError> {
            std::future::pending().await
        }
        async fn list(&self, _: &str) -> Result<Vec<(String, u64)>, StoreError> {
            std::future::pending().await
        }
        async fn lock_support(&self) -> Result<LockSupport, StoreError> {
            std::future::pending().await
        }
    }

    #[test]
    fn a_hanging_attempt_is_abandoned_at_its_deadline_and_recorded_as_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        settings.archive.timeout_ms = 200;
        settings.archive.concurrency = 2;
        let reg = Registry::open(&settings.registry_path()).unwrap();
        for n in 0..5u8 {
            crate::archive::Outbox::new(&settings)
                .submit(
                    &reg.db(),
                    SubmitRequest {
                        bytes: &[b'%', b'P', b'D', b'F', n],
                        kind: "contract",
                        commune: Some("xa-a"),
                        date: crate::archive::outbox::date_in_vietnam(OffsetDateTime::now_utc()),
                        source: None,
                    },
                )
                .unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut worker =
            Worker::new(&settings, Stuck, reg, Arc::new(OffsetDateTime::now_utc)).unwrap();
        let started = std::time::Instant::now();
        let report = rt.block_on(worker.pass(true)).unwrap();
        // Five documents, two slots, 200 ms each: three rounds, not forever.
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!((report.archived, report.failed), (0, 5));
        assert!(
            report.reasons[0].0.contains("did not finish within 200 ms"),
            "{:?}",
            report.reasons
        );
        let status = worker.outbox.status(&worker.records.db()).unwrap();
        assert_eq!(status.failed, 5);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let s = ArchiveSettings {
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            ..ArchiveSettings::default()
        };
        for attempts in 1..=4u32 {
            let full = 1000i64 << (attempts - 1);
            for _ in 0..20 {
                let d = backoff(&s, attempts);
                assert!((full / 2..=full).contains(&d), "attempt {attempts}: {d}");
            }
        }
        for _ in 0..20 {
            assert!((30_000..=60_000).contains(&backoff(&s, 200)));
        }
    }
}
