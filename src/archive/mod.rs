//! The archive: signed documents kept for decades, never lost on the way.
//!
//! Two ideas carry the design:
//!
//! * **Content addressing** ([`key`]): an object's key contains the SHA-256 of its bytes, so a
//!   retried or repeated upload can only write the same bytes again, and every read checks the
//!   bytes against the key they were read from.
//! * **Store and forward** ([`outbox`], [`worker`]): a signed document is first written durably
//!   to a local staging directory and recorded in the registry's outbox, in that order, before
//!   anyone is told it is signed. A worker then uploads it to the [`ArchiveStore`] with retries
//!   and exponential backoff, and records the outcome (pending, archived with key and checksum,
//!   or failed with the reason, still retried). Signing never waits for the network; when the
//!   store comes back, the backlog drains by itself.
//!
//! Stores: [`local::LocalStore`] (the embedded default: a directory, written with temp file,
//! fsync, rename, fsync of the directory) and [`s3::S3Store`] (any S3-compatible service,
//! SHA-256 checksums on every PUT and GET, multipart above a threshold, Object Lock retention
//! per document kind from [`retention`] where the bucket supports it).

pub mod checkpoint;
pub mod key;
pub mod local;
pub mod outbox;
pub mod s3;
pub mod worker;

use std::future::Future;
use std::path::PathBuf;

pub use crate::retention::{Lock, LockMode, Retention};
pub use bytes::Bytes;
pub use key::{ObjectKey, Sha256, Slug};
pub use outbox::{Outbox, SubmitRequest, Submitted};
// The archive's settings are part of the configuration (`[archive]`), which the archive reads;
// the configuration never reads the archive.
pub use crate::config::archive::{ArchiveSettings, Backend, ObjectLockPolicy, Secret};

use crate::config::Settings;

/// Why an archive operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A key, digest or key component is malformed.
    #[error("{0}")]
    InvalidKey(String),
    /// The store refused or failed an operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outbox's records could not be read or written.
    #[error("archive outbox: {0}")]
    Records(#[from] crate::store::StoreError),
    /// A local file (staging copy, lock file) could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot stage the document in").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause (for a full disk: "No space left on device").
        source: std::io::Error,
    },
    /// A document is larger than `max_document_size`.
    #[error(
        "document of {size} bytes exceeds the archive limit of {max} bytes (archive.max_document_size)"
    )]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The archive settings cannot work.
    #[error("archive configuration: {0}")]
    Config(String),
    /// Another worker already drains this outbox.
    #[error("another archive worker is running on {0} (its lock file is held)")]
    WorkerBusy(PathBuf),
    /// What was given to archive is not a PDF.
    #[error("không phải tệp PDF / not a PDF: {0}")]
    NotPdf(String),
    /// The document kind is not one kyso knows.
    #[error(
        "loại giấy tờ {kind:?} không có trong danh mục / unknown document kind {kind:?}; known kinds: {known}"
    )]
    UnknownKind {
        /// The kind given.
        kind: String,
        /// The kinds accepted, comma-separated.
        known: String,
    },
}

/// Why a store operation failed. The messages are what an operator reads in
/// `kyso archive status`, so each names the cause in plain words.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No object under that key.
    #[error("object {key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The bytes read or acknowledged are not the bytes the key names.
    #[error("integrity check failed for {key}: {detail}")]
    Integrity {
        /// The key.
        key: String,
        /// What differed.
        detail: String,
    },
    /// A local file operation failed (a full disk shows here as "No space left on device").
    #[error("local store: cannot {action} {path}: {message}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The S3 endpoint could not be reached (connection refused, DNS, timeout).
    #[error("cannot reach S3 endpoint {endpoint}: {message}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// What the connection attempt said.
        message: String,
    },
    /// A read stopped before the whole object arrived (Garage does this when it finds one of
    /// its blocks damaged; a dropped connection looks the same).
    #[error(
        "the read of {key} was cut short ({message}): a damaged object on the server or a broken connection"
    )]
    Truncated {
        /// The key.
        key: String,
        /// What the client saw.
        message: String,
    },
    /// The credentials were refused.
    #[error(
        "S3 refused the credentials ({code}): {message}; check archive.access_key_id and archive.secret_access_key"
    )]
    Denied {
        /// The S3 error code (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The bucket does not exist.
    #[error("S3 bucket {bucket:?} does not exist; create it or fix archive.bucket")]
    NoSuchBucket {
        /// The bucket.
        bucket: String,
    },
    /// Retention was required but the bucket cannot apply Object Lock.
    #[error(
        "S3 Object Lock retention is required (archive.object_lock = \"required\") but unavailable: {0}"
    )]
    LockUnavailable(String),
    /// Any other S3 error.
    #[error("S3 error {code}: {message}")]
    Service {
        /// The S3 error code, or the HTTP status.
        code: String,
        /// The server's message.
        message: String,
    },
}

/// Whether a store can enforce retention.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockSupport {
    /// Object Lock is enabled on the bucket.
    Supported,
    /// The store cannot apply it; the text says why (shown to operators).
    Unavailable(String),
}

/// What a successful put did about retention.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockOutcome {
    /// No retention was asked for.
    NotRequested,
    /// The lock was applied.
    Applied(Lock),
}

/// A successful put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReceipt {
    /// The object was already there with these bytes (a retry after a crash); nothing was written.
    pub already_present: bool,
    /// Retention applied.
    pub lock: LockOutcome,
}

/// Where archived objects live. Implementations must make `put` durable before returning and
/// idempotent for a given key, and `get` must return only bytes that match the key's digest.
pub trait ArchiveStore: Send + Sync {
    /// A description for messages: `local:/var/lib/kyso/archive`, `s3://bucket at endpoint`.
    fn describe(&self) -> String;

    /// Stores `bytes` under `key` (whose digest they must have), applying `lock` if given.
    fn put(
        &self,
        key: &ObjectKey,
        bytes: &Bytes,
        lock: Option<Lock>,
    ) -> impl Future<Output = Result<PutReceipt, StoreError>> + Send;

    /// Reads the object under `key` and proves it matches the key's digest.
    fn get(&self, key: &ObjectKey) -> impl Future<Output = Result<Bytes, StoreError>> + Send;

    /// The size of the object under `key`, or `None` when there is none.
    fn head(&self, key: &ObjectKey)
    -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Every key (with its size) under `prefix`.
    fn list(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<(String, u64)>, StoreError>> + Send;

    /// Whether this store can enforce retention.
    fn lock_support(&self) -> impl Future<Output = Result<LockSupport, StoreError>> + Send;

    /// Removes temporary files older than `grace` (as of `now`) that interrupted writes left
    /// in the store (run at worker start); returns how many. Stores whose writes are atomic on
    /// the server (S3) have none.
    fn remove_stale_temporaries(
        &self,
        grace: std::time::Duration,
        now: std::time::SystemTime,
    ) -> usize {
        let _ = (grace, now);
        0
    }
}

/// The store chosen by the settings.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// Local disk.
    Local(local::LocalStore),
    /// S3-compatible.
    S3(s3::S3Store),
}

impl AnyStore {
    /// Opens the store the settings name. S3 clients connect lazily: opening never touches the
    /// network, so a store that is down does not stop kyso from starting.
    pub fn open(settings: &Settings) -> Result<AnyStore, ArchiveError> {
        match settings.archive.backend {
            Backend::Local => Ok(AnyStore::Local(local::LocalStore::new(
                settings.archive.local_dir(&settings.data_dir),
            ))),
            Backend::S3 => Ok(AnyStore::S3(s3::S3Store::new(&settings.archive)?)),
        }
    }
}

impl ArchiveStore for AnyStore {
    fn describe(&self) -> String {
        match self {
            AnyStore::Local(s) => s.describe(),
            AnyStore::S3(s) => s.describe(),
        }
    }
    async fn put(
        &self,
        key: &ObjectKey,
        bytes: &Bytes,
        lock: Option<Lock>,
    ) -> Result<PutReceipt, StoreError> {
        match self {
            AnyStore::Local(s) => s.put(key, bytes, lock).await,
            AnyStore::S3(s) => s.put(key, bytes, lock).await,
        }
    }
    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        match self {
            AnyStore::Local(s) => s.get(key).await,
            AnyStore::S3(s) => s.get(key).await,
        }
    }
    async fn head(&self, key: &ObjectKey) -> Result<Option<u64>, StoreError> {
        match self {
            AnyStore::Local(s) => s.head(key).await,
            AnyStore::S3(s) => s.head(key).await,
        }
    }
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        match self {
            AnyStore::Local(s) => s.list(prefix).await,
            AnyStore::S3(s) => s.list(prefix).await,
        }
    }
    async fn lock_support(&self) -> Result<LockSupport, StoreError> {
        match self {
            AnyStore::Local(s) => s.lock_support().await,
            AnyStore::S3(s) => s.lock_support().await,
        }
    }
    fn remove_stale_temporaries(
        &self,
        grace: std::time::Duration,
        now: std::time::SystemTime,
    ) -> usize {
        match self {
            AnyStore::Local(s) => s.remove_stale_temporaries(grace, now),
            AnyStore::S3(s) => s.remove_stale_temporaries(grace, now),
        }
    }
}

/// The kind the archive gives a document whose kind is not known (a staged file adopted after a
/// crash): it takes the longest retention.
pub const DEFAULT_KIND: &str = "default";

/// Checks what an operator hands to `kyso archive put`: the bytes must be a PDF (a `%PDF-x.y`
/// header in the first KiB, as readers look for it, and an end-of-file marker) and the kind one
/// of the template catalog's kinds or [`DEFAULT_KIND`]. The kind chooses the retention, so a
/// misspelt kind would silently archive a document under the wrong one.
pub fn check_document(
    bytes: &[u8],
    kind: &str,
    catalog: &crate::templates::Catalog,
) -> Result<(), ArchiveError> {
    if kind != DEFAULT_KIND && catalog.get(kind).is_none() {
        let mut known: Vec<&str> = catalog.kinds().map(|t| t.schema.kind.as_str()).collect();
        known.push(DEFAULT_KIND);
        return Err(ArchiveError::UnknownKind {
            kind: kind.to_owned(),
            known: known.join(", "),
        });
    }
    check_pdf(bytes)
}

/// The PDF test of [`check_document`].
pub fn check_pdf(bytes: &[u8]) -> Result<(), ArchiveError> {
    let head = &bytes[..bytes.len().min(1024)];
    let header = memchr::memmem::find(head, b"%PDF-").and_then(|at| head.get(at + 5..at + 8));
    match header {
        Some([major, b'.', minor]) if major.is_ascii_digit() && minor.is_ascii_digit() => {}
        _ => {
            return Err(ArchiveError::NotPdf(
                "không có phần đầu %PDF-x.y trong 1024 byte đầu / no %PDF-x.y header in the first 1024 bytes".into(),
            ));
        }
    }
    if memchr::memmem::rfind(bytes, b"%%EOF").is_none() {
        return Err(ArchiveError::NotPdf(
            "không có dấu kết thúc %%EOF (tệp bị cắt cụt?) / no %%EOF marker (a truncated file?)"
                .into(),
        ));
    }
    Ok(())
}
