//! The `[archive]` section of the settings and its `KYSO_ARCHIVE_*` environment overrides.
//!
//! The defaults archive to local disk under the data directory, so kyso runs with no file at
//! all. Credentials are wrapped in [`Secret`], whose `Debug` never prints them, because settings
//! end up in logs and error reports.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::retention::{LockMode, Retention};

/// Where archived documents go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Backend {
    /// A directory on local disk (the embedded default).
    Local,
    /// An S3-compatible object store (Garage, MinIO, AWS S3, …).
    S3,
}

/// What to do about S3 Object Lock retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ObjectLockPolicy {
    /// Apply retention when the bucket supports Object Lock; otherwise archive without it and
    /// record (and report) that retention was not applied.
    Auto,
    /// Refuse to archive without retention: uploads fail, with the reason, until the bucket
    /// supports Object Lock. The documents stay safe in the outbox meanwhile.
    Required,
    /// Never ask for retention.
    Off,
}

/// A secret string (S3 secret key). `Debug` and `Display` print a placeholder.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

/// The `[archive]` settings.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveSettings {
    /// `local` (default) or `s3`.
    pub backend: Backend,
    /// Root of the local store; default `<data_dir>/archive`.
    pub dir: Option<PathBuf>,
    /// S3 endpoint URL (`https://s3.example.gov.vn`); none means AWS's regional endpoint.
    pub endpoint: Option<String>,
    /// S3 region (Garage: the `s3_region` of its configuration).
    pub region: String,
    /// S3 bucket.
    pub bucket: String,
    /// Path-style addressing (`endpoint/bucket/key`), which Garage and MinIO need by default.
    pub path_style: bool,
    /// S3 access key id.
    pub access_key_id: String,
    /// S3 secret access key (never logged).
    pub secret_access_key: Secret,
    /// First component of every object key, so one bucket can hold other things too.
    pub prefix: String,
    /// Commune code used in object keys when a document does not name its own; empty (the
    /// default) means the issuing authority's code (`authority.code`).
    pub commune: String,
    /// Objects larger than this many bytes are uploaded in parts.
    pub multipart_threshold: u64,
    /// Size of each part of a multipart upload (S3 needs at least 5 MiB but for the last part).
    pub part_size: u64,
    /// Largest document accepted into the outbox, in bytes (bounded memory).
    pub max_document_size: u64,
    /// What to do about S3 Object Lock.
    pub object_lock: ObjectLockPolicy,
    /// Object Lock mode for timed retention.
    pub lock_mode: LockMode,
    /// Retention per document kind (`"2y"`, `"20y"`, `"30d"`, `"permanent"`, `"none"`); the key
    /// `default` applies to kinds not listed. Kinds a file does not name keep their defaults.
    #[serde(deserialize_with = "merge_retention")]
    pub retention: BTreeMap<String, Retention>,
    /// First retry delay after a failed upload, in milliseconds; it doubles per attempt.
    pub retry_base_ms: u64,
    /// Longest delay between two attempts for one document, in milliseconds.
    pub retry_max_ms: u64,
    /// Uploads in flight at once (at least 1).
    #[serde(deserialize_with = "at_least_one")]
    pub concurrency: usize,
    /// Time limit of one S3 operation, in milliseconds. It also bounds one upload attempt of the
    /// worker, extended by the time its bytes need at a slow link's pace (see
    /// [`ArchiveSettings::attempt_deadline`]).
    pub timeout_ms: u64,
    /// Time limit for opening a connection to the S3 endpoint, in milliseconds. A host that
    /// drops packets (a firewall, a server half up) would otherwise hold an upload slot for the
    /// kernel's own connect timeout, about two minutes.
    pub connect_timeout_ms: u64,
    /// Time limit from sending a request to the first byte of the answer, in milliseconds
    /// (sending the request body counts: keep it above what one part takes on the uplink). A
    /// server that accepts connections but does not answer (starting up, overloaded) costs
    /// this much per attempt instead of the whole operation time limit.
    pub read_timeout_ms: u64,
    /// How often an idle worker looks for new documents, in milliseconds.
    pub poll_ms: u64,
    /// The audit key (PKCS#8 PEM) that signs the audit checkpoints the worker writes to the
    /// store with each batch; none means no checkpoints are written. Keep it readable by the
    /// worker's account only: whoever holds it can sign checkpoints.
    pub audit_key: Option<PathBuf>,
    /// The audit key's certificate (PEM): checkpoints signed by any other key are refused.
    /// `kyso audit verify` needs only this.
    pub audit_certificate: Option<PathBuf>,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        ArchiveSettings {
            backend: Backend::Local,
            dir: None,
            endpoint: None,
            region: "us-east-1".to_owned(),
            bucket: String::new(),
            path_style: true,
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            prefix: "kyso".to_owned(),
            commune: String::new(),
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            max_document_size: 512 * 1024 * 1024,
            object_lock: ObjectLockPolicy::Auto,
            lock_mode: LockMode::Compliance,
            retention: Retention::domain_defaults(),
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            concurrency: 4,
            timeout_ms: 60_000,
            connect_timeout_ms: 3_000,
            read_timeout_ms: 20_000,
            poll_ms: 1_000,
            audit_key: None,
            audit_certificate: None,
        }
    }
}

impl fmt::Debug for ArchiveSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written out so that a new credential field cannot leak by being added to a derive.
        f.debug_struct("ArchiveSettings")
            .field("backend", &self.backend)
            .field("dir", &self.dir)
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(redact_url_userinfo),
            )
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("prefix", &self.prefix)
            .field("commune", &self.commune)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("max_document_size", &self.max_document_size)
            .field("object_lock", &self.object_lock)
            .field("lock_mode", &self.lock_mode)
            .field("retention", &self.retention)
            .field("retry_base_ms", &self.retry_base_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("concurrency", &self.concurrency)
            .field("timeout_ms", &self.timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("read_timeout_ms", &self.read_timeout_ms)
            .field("poll_ms", &self.poll_ms)
            .field("audit_key", &self.audit_key)
            .field("audit_certificate", &self.audit_certificate)
            .finish()
    }
}

impl ArchiveSettings {
    /// The local store's root for a given data directory.
    pub fn local_dir(&self, data_dir: &std::path::Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data_dir.join("archive"))
    }

    /// The time limit of one S3 operation.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    /// The time limit for opening a connection (never above the operation's).
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.max(1)).min(self.timeout())
    }

    /// The time limit to the first byte of an answer (never above the operation's).
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms.max(1)).min(self.timeout())
    }

    /// How long one upload attempt of a document of `size` bytes may take in all (lock probe,
    /// look-up, read-back, upload) before the worker gives up on it, records it as failed and
    /// frees its slot: the operation time limit, plus the time the bytes need at
    /// [`SLOW_LINK_BYTES_PER_SEC`], so that a large document on a slow but working link is not
    /// cut off while a stalled store costs no more than the limit.
    pub fn attempt_deadline(&self, size: u64) -> Duration {
        self.timeout()
            .saturating_add(Duration::from_secs(size / SLOW_LINK_BYTES_PER_SEC))
    }

    /// The endpoint as it may be shown or stored: without any `user:password@` part.
    pub fn endpoint_for_display(&self) -> Option<String> {
        self.endpoint.as_deref().map(redact_url_userinfo)
    }

    /// Applies `KYSO_ARCHIVE_*` overrides read through `get`.
    pub fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("KYSO_ARCHIVE_BACKEND") {
            self.backend = match v.trim().to_ascii_lowercase().as_str() {
                "local" => Backend::Local,
                "s3" => Backend::S3,
                other => {
                    return Err(env_err(
                        "KYSO_ARCHIVE_BACKEND",
                        format!("expected local or s3, got {other:?}"),
                    ));
                }
            };
        }
        if let Some(v) = get("KYSO_ARCHIVE_DIR") {
            self.dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("KYSO_ARCHIVE_ENDPOINT") {
            self.endpoint = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("KYSO_ARCHIVE_REGION") {
            self.region = v;
        }
        if let Some(v) = get("KYSO_ARCHIVE_BUCKET") {
            self.bucket = v;
        }
        if let Some(v) = get("KYSO_ARCHIVE_PATH_STYLE") {
            self.path_style = crate::config::parse_bool("KYSO_ARCHIVE_PATH_STYLE", &v)?;
        }
        if let Some(v) = get("KYSO_ARCHIVE_ACCESS_KEY_ID") {
            self.access_key_id = v;
        }
        if let Some(v) = get("KYSO_ARCHIVE_SECRET_ACCESS_KEY") {
            self.secret_access_key = Secret(v);
        }
        if let Some(v) = get("KYSO_ARCHIVE_PREFIX") {
            self.prefix = v;
        }
        if let Some(v) = get("KYSO_ARCHIVE_COMMUNE") {
            self.commune = v;
        }
        number(
            get,
            "KYSO_ARCHIVE_MULTIPART_THRESHOLD",
            &mut self.multipart_threshold,
        )?;
        number(get, "KYSO_ARCHIVE_PART_SIZE", &mut self.part_size)?;
        number(
            get,
            "KYSO_ARCHIVE_MAX_DOCUMENT_SIZE",
            &mut self.max_document_size,
        )?;
        if let Some(v) = get("KYSO_ARCHIVE_OBJECT_LOCK") {
            self.object_lock = match v.trim().to_ascii_lowercase().as_str() {
                "auto" => ObjectLockPolicy::Auto,
                "required" => ObjectLockPolicy::Required,
                "off" => ObjectLockPolicy::Off,
                other => {
                    return Err(env_err(
                        "KYSO_ARCHIVE_OBJECT_LOCK",
                        format!("expected auto, required or off, got {other:?}"),
                    ));
                }
            };
        }
        if let Some(v) = get("KYSO_ARCHIVE_LOCK_MODE") {
            self.lock_mode = v
                .parse()
                .map_err(|m| env_err("KYSO_ARCHIVE_LOCK_MODE", m))?;
        }
        if let Some(v) = get("KYSO_ARCHIVE_RETENTION") {
            // `kind=period,kind=period`: entries override the file's, one by one.
            for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let (kind, period) = entry.split_once('=').ok_or_else(|| {
                    env_err(
                        "KYSO_ARCHIVE_RETENTION",
                        format!("expected kind=period, got {entry:?}"),
                    )
                })?;
                let period = period
                    .parse()
                    .map_err(|m| env_err("KYSO_ARCHIVE_RETENTION", m))?;
                self.retention.insert(kind.trim().to_owned(), period);
            }
        }
        number(get, "KYSO_ARCHIVE_RETRY_BASE_MS", &mut self.retry_base_ms)?;
        number(get, "KYSO_ARCHIVE_RETRY_MAX_MS", &mut self.retry_max_ms)?;
        number(get, "KYSO_ARCHIVE_CONCURRENCY", &mut self.concurrency)?;
        if self.concurrency == 0 {
            return Err(env_err(
                "KYSO_ARCHIVE_CONCURRENCY",
                CONCURRENCY_ZERO.to_owned(),
            ));
        }
        number(get, "KYSO_ARCHIVE_TIMEOUT_MS", &mut self.timeout_ms)?;
        number(
            get,
            "KYSO_ARCHIVE_CONNECT_TIMEOUT_MS",
            &mut self.connect_timeout_ms,
        )?;
        number(
            get,
            "KYSO_ARCHIVE_READ_TIMEOUT_MS",
            &mut self.read_timeout_ms,
        )?;
        number(get, "KYSO_ARCHIVE_POLL_MS", &mut self.poll_ms)?;
        if let Some(v) = get("KYSO_ARCHIVE_AUDIT_KEY") {
            self.audit_key = (!v.is_empty()).then(|| PathBuf::from(v));
        }
        if let Some(v) = get("KYSO_ARCHIVE_AUDIT_CERTIFICATE") {
            self.audit_certificate = (!v.is_empty()).then(|| PathBuf::from(v));
        }
        Ok(())
    }
}

/// The slowest uplink a commune office is assumed to have, in bytes per second (about 0.5
/// Mbit/s): the allowance per byte in [`ArchiveSettings::attempt_deadline`].
pub const SLOW_LINK_BYTES_PER_SEC: u64 = 64 * 1024;

const CONCURRENCY_ZERO: &str = "số lượt tải lên đồng thời phải ít nhất là 1 (0 thì không tài liệu nào được lưu trữ) / \
     must be at least 1: with 0 uploads at once nothing would ever be archived";

fn at_least_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom(format!(
            "archive.concurrency: {CONCURRENCY_ZERO}"
        )));
    }
    Ok(n)
}

/// `url` without the `user:password@` of its authority, if it has one: an endpoint URL is shown
/// in status and error messages and stored with failure reasons, where a password must never
/// appear. Text that is not a URL is returned as it is.
pub fn redact_url_userinfo(url: &str) -> String {
    redact_userinfo_in(url)
}

/// Every `scheme://user:password@` in `text` (an error message quoting a URL) with the user
/// information replaced by `***`.
pub fn redact_userinfo_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace; userinfo is what comes
        // before its last '@'.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn merge_retention<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Retention>, D::Error> {
    let mut merged = Retention::domain_defaults();
    merged.extend(BTreeMap::<String, Retention>::deserialize(d)?);
    Ok(merged)
}

fn env_err(name: &'static str, message: String) -> ConfigError {
    ConfigError::Env { name, message }
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    slot: &mut T,
) -> Result<(), ConfigError> {
    if let Some(v) = get(name) {
        *slot = v.trim().parse().map_err(|_| {
            env_err(
                name,
                format!("expected a non-negative whole number, got {v:?}"),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn debug_never_prints_the_secret() {
        let mut s = Settings::default();
        s.archive.secret_access_key = Secret::new("wJalrXUtnFEMI/K7MDENG");
        s.archive.access_key_id = "GK123".into();
        let printed = format!("{s:?}");
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
        assert!(printed.contains("GK123"));
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn file_and_env() {
        let mut s = Settings::from_toml(
            "[archive]\nbackend = \"s3\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:3900\"\n\
             secret_access_key = \"x\"\n[archive.retention]\ncontract = \"25y\"\n",
        )
        .unwrap();
        assert_eq!(s.archive.backend, Backend::S3);
        assert_eq!(s.archive.retention["contract"], Retention::Years(25));
        // Defaults for kinds the file did not name survive.
        assert_eq!(s.archive.retention["register"], Retention::Permanent);
        s.apply_env(|k| match k {
            "KYSO_ARCHIVE_BACKEND" => Some("local".into()),
            "KYSO_ARCHIVE_RETENTION" => Some("contract=20y, signature=30d".into()),
            "KYSO_ARCHIVE_RETRY_MAX_MS" => Some("500".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.archive.backend, Backend::Local);
        assert_eq!(s.archive.retention["contract"], Retention::Years(20));
        assert_eq!(s.archive.retention["signature"], Retention::Days(30));
        assert_eq!(s.archive.retry_max_ms, 500);
        assert!(
            s.apply_env(|k| (k == "KYSO_ARCHIVE_CONCURRENCY").then(|| "-1".into()))
                .is_err()
        );
        assert!(
            s.apply_env(|k| (k == "KYSO_ARCHIVE_BACKEND").then(|| "ftp".into()))
                .is_err()
        );
    }

    #[test]
    fn zero_concurrency_is_refused_from_the_file_and_the_environment() {
        let err = Settings::from_toml("[archive]\nconcurrency = 0\n").unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
        let mut s = Settings::default();
        let err = s
            .apply_env(|k| (k == "KYSO_ARCHIVE_CONCURRENCY").then(|| "0".into()))
            .unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
        s.apply_env(|k| (k == "KYSO_ARCHIVE_CONCURRENCY").then(|| "2".into()))
            .unwrap();
        assert_eq!(s.archive.concurrency, 2);
    }

    #[test]
    fn userinfo_is_redacted_from_urls_and_messages() {
        assert_eq!(
            redact_url_userinfo("http://admin:hunter2@127.0.0.1:3900/x?a=b@c"),
            "http://***@127.0.0.1:3900/x?a=b@c"
        );
        assert_eq!(
            redact_url_userinfo("https://s3.example.gov.vn"),
            "https://s3.example.gov.vn"
        );
        assert_eq!(
            redact_userinfo_in(
                "cannot reach http://u:p%40ss@h:1: refused; also https://k@h2/b and x@y"
            ),
            "cannot reach http://***@h:1: refused; also https://***@h2/b and x@y"
        );
        let s = ArchiveSettings {
            endpoint: Some("http://u:topsecret@h:1".into()),
            ..ArchiveSettings::default()
        };
        assert!(!format!("{s:?}").contains("topsecret"));
    }

    #[test]
    fn an_attempt_deadline_grows_with_the_size_from_the_operation_limit() {
        let s = ArchiveSettings {
            timeout_ms: 10_000,
            ..ArchiveSettings::default()
        };
        assert_eq!(s.attempt_deadline(1000), Duration::from_secs(10));
        assert_eq!(
            s.attempt_deadline(64 * 1024 * 100),
            Duration::from_secs(110)
        );
        assert!(s.connect_timeout() <= s.timeout() && s.read_timeout() <= s.timeout());
    }

    #[test]
    fn unknown_archive_keys_are_refused() {
        assert!(Settings::from_toml("[archive]\nbukcet = \"b\"").is_err());
    }
}
