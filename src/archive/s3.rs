//! The S3-compatible store (Garage, MinIO, Ceph, AWS S3) through aws-sdk-s3.
//!
//! Every PUT (and every part of a multipart upload) carries the SHA-256 of its bytes, which the
//! server checks before it accepts them; every GET asks for the stored checksum and, whatever
//! the server says, kyso hashes the bytes and compares them with the digest in the key. The SDK's
//! own retries are off: the outbox worker retries with backoff and records why an attempt failed,
//! which an operator can read; retries hidden inside one attempt would only make that slower.

use std::sync::Mutex;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockEnabled,
    ObjectLockLegalHoldStatus, ObjectLockMode,
};

use super::{
    ArchiveError, ArchiveSettings, ArchiveStore, Bytes, Lock, LockOutcome, LockSupport, ObjectKey,
    PutReceipt, Sha256, StoreError,
};
use crate::config::archive::redact_userinfo_in;
use crate::retention::LockMode;

/// S3 needs parts of at least 5 MiB, the last one excepted.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// And at most 10,000 parts.
const MAX_PARTS: u64 = 10_000;

/// A bucket on an S3-compatible service.
pub struct S3Store {
    client: Client,
    bucket: String,
    endpoint: String,
    multipart_threshold: u64,
    part_size: u64,
    max_object_size: u64,
    /// Operation, connect and first-byte limits in milliseconds, for messages.
    timeouts: (u64, u128, u128),
    lock_support: Mutex<Option<LockSupport>>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl S3Store {
    /// A client for the bucket the settings name. Nothing is sent until the first operation.
    pub fn new(s: &ArchiveSettings) -> Result<S3Store, ArchiveError> {
        if s.bucket.is_empty() {
            return Err(ArchiveError::Config(
                "archive.backend is s3 but archive.bucket is empty".into(),
            ));
        }
        if s.access_key_id.is_empty() || s.secret_access_key.expose().is_empty() {
            return Err(ArchiveError::Config(
                "archive.backend is s3 but archive.access_key_id or archive.secret_access_key is empty".into(),
            ));
        }
        if s.part_size < MIN_PART_SIZE {
            return Err(ArchiveError::Config(format!(
                "archive.part_size is {} bytes; S3 needs at least {MIN_PART_SIZE}",
                s.part_size
            )));
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let credentials = Credentials::new(
            s.access_key_id.clone(),
            s.secret_access_key.expose().to_owned(),
            None,
            None,
            "kyso-settings",
        );
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(s.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(s.path_style)
            .retry_config(RetryConfig::disabled())
            // Without a connect and a read (first byte) limit, a store that accepts
            // connections but does not answer (a server starting up, a half-open firewall)
            // holds each upload slot for the whole operation limit: a stall must cost seconds.
            // The worker bounds each attempt as a whole besides (`attempt_deadline`).
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(s.connect_timeout())
                    .read_timeout(s.read_timeout())
                    .operation_attempt_timeout(s.timeout())
                    .operation_timeout(s.timeout())
                    .build(),
            )
            // kyso sends its own SHA-256 on every upload; the SDK must not add a second checksum.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenSupported);
        if let Some(endpoint) = &s.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(S3Store {
            client: Client::from_conf(config.build()),
            bucket: s.bucket.clone(),
            // Shown in status and stored with failure reasons: never with a password in it.
            endpoint: s
                .endpoint_for_display()
                .unwrap_or_else(|| format!("AWS S3 ({})", s.region)),
            multipart_threshold: s.multipart_threshold,
            part_size: s.part_size,
            max_object_size: s.max_document_size,
            timeouts: (
                s.timeout_ms,
                s.connect_timeout().as_millis(),
                s.read_timeout().as_millis(),
            ),
            lock_support: Mutex::new(None),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Turns an SDK error into one an operator can act on.
    fn error<E>(
        &self,
        key: &str,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_owned);
        let message = redact_userinfo_in(err.message().unwrap_or_default());
        match &err {
            SdkError::TimeoutError(_) => {
                return StoreError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    message: format!(
                        "no complete answer within the operation time limit of {} ms (archive.timeout_ms)",
                        self.timeouts.0
                    ),
                };
            }
            SdkError::DispatchFailure(failure) => {
                let text = innermost(&err);
                let message = if failure.is_timeout() {
                    format!(
                        "timed out ({text}); limits: connect {} ms, first byte {} ms (archive.connect_timeout_ms, archive.read_timeout_ms)",
                        self.timeouts.1, self.timeouts.2
                    )
                } else {
                    text
                };
                return StoreError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    message,
                };
            }
            _ => {}
        }
        match (code.as_deref(), status) {
            (Some("NoSuchBucket"), _) => StoreError::NoSuchBucket {
                bucket: self.bucket.clone(),
            },
            (Some("NoSuchKey" | "NotFound"), _) | (None, Some(404)) => StoreError::NotFound {
                key: key.to_owned(),
            },
            (
                Some(
                    c @ ("InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "AccessDenied"
                    | "InvalidToken"
                    | "ExpiredToken"
                    | "Forbidden"),
                ),
                _,
            ) => StoreError::Denied {
                code: c.to_owned(),
                message,
            },
            (None, Some(403)) => StoreError::Denied {
                code: "403 Forbidden".into(),
                message,
            },
            (Some(c @ ("BadDigest" | "InvalidDigest" | "XAmzContentSHA256Mismatch")), _) => {
                StoreError::Integrity {
                    key: key.to_owned(),
                    detail: format!("the server rejected the checksum ({c}): {message}"),
                }
            }
            (Some(c), _) => StoreError::Service {
                code: c.to_owned(),
                message,
            },
            (None, Some(s)) => StoreError::Service {
                code: format!("HTTP {s}"),
                message: innermost(&err),
            },
            (None, None) => StoreError::Service {
                code: "client".into(),
                message: innermost(&err),
            },
        }
    }

    fn check_echo(
        key: &ObjectKey,
        what: &str,
        echoed: Option<&str>,
        sent: &str,
    ) -> Result<(), StoreError> {
        match echoed {
            Some(e) if e != sent => Err(StoreError::Integrity {
                key: key.to_string(),
                detail: format!("{what}: the server acknowledged checksum {e}, kyso sent {sent}"),
            }),
            _ => Ok(()),
        }
    }

    async fn put_single(
        &self,
        key: &ObjectKey,
        bytes: &Bytes,
        lock: Option<Lock>,
    ) -> Result<(), StoreError> {
        let sum = key.sha256().base64();
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type(key))
            .content_length(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&sum)
            .body(ByteStream::from(bytes.clone()));
        req = match lock {
            None => req,
            Some(Lock::LegalHold) => {
                req.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            }
            Some(Lock::Until { mode, until }) => req
                .object_lock_mode(lock_mode(mode))
                .object_lock_retain_until_date(DateTime::from_secs(until.unix_timestamp())),
        };
        let out = req.send().await.map_err(|e| self.error(key.as_str(), e))?;
        Self::check_echo(key, "PUT", out.checksum_sha256(), &sum)
    }

    async fn put_multipart(
        &self,
        key: &ObjectKey,
        bytes: &Bytes,
        lock: Option<Lock>,
    ) -> Result<(), StoreError> {
        // Grow the part size when the object would need more than S3's 10,000 parts.
        let len = bytes.len() as u64;
        let part_size = self
            .part_size
            .max(len.div_ceil(MAX_PARTS))
            .max(MIN_PART_SIZE);
        let mut req = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type(key))
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        req = match lock {
            None => req,
            Some(Lock::LegalHold) => {
                req.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            }
            Some(Lock::Until { mode, until }) => req
                .object_lock_mode(lock_mode(mode))
                .object_lock_retain_until_date(DateTime::from_secs(until.unix_timestamp())),
        };
        let created = req.send().await.map_err(|e| self.error(key.as_str(), e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| StoreError::Service {
                code: "multipart".into(),
                message: "no upload id returned".into(),
            })?
            .to_owned();
        let result = self.upload_parts(key, bytes, part_size, &upload_id).await;
        if result.is_err() {
            // Best effort: a failed abort leaves parts the bucket's lifecycle rules can expire.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &ObjectKey,
        bytes: &Bytes,
        part_size: u64,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        let mut parts = Vec::new();
        let step = usize::try_from(part_size).unwrap_or(usize::MAX);
        for (i, start) in (0..bytes.len()).step_by(step).enumerate() {
            let end = bytes.len().min(start.saturating_add(step));
            let chunk = bytes.slice(start..end);
            let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
            let sum = Sha256::of(&chunk).base64();
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(upload_id)
                .part_number(number)
                .content_length(i64::try_from(chunk.len()).unwrap_or(i64::MAX))
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&sum)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|e| self.error(key.as_str(), e))?;
            Self::check_echo(key, &format!("part {number}"), out.checksum_sha256(), &sum)?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .checksum_sha256(sum)
                    .build(),
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.error(key.as_str(), e))?;
        Ok(())
    }

    /// Uploads `bytes` under `key` without checking the digest: only for tests that need to
    /// plant damaged objects, the way a failing disk would.
    #[doc(hidden)]
    pub async fn put_raw_for_tests(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(())
    }
}

/// Documents are PDFs; audit checkpoints are JSON.
fn content_type(key: &ObjectKey) -> &'static str {
    if key.checkpoint_seq().is_some() {
        "application/json"
    } else {
        "application/pdf"
    }
}

fn lock_mode(mode: LockMode) -> ObjectLockMode {
    match mode {
        LockMode::Compliance => ObjectLockMode::Compliance,
        LockMode::Governance => ObjectLockMode::Governance,
    }
}

/// The most specific cause in an SDK error's chain ("Connection refused (os error 111)").
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() {
            last = text;
        }
        cur = e.source();
    }
    // Errors may quote the request's URL; an endpoint with a password in it must not leak.
    redact_userinfo_in(&if last.is_empty() {
        DisplayErrorContext(err).to_string()
    } else {
        last
    })
}

impl ArchiveStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{} at {}", self.bucket, self.endpoint)
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: &Bytes,
        lock: Option<Lock>,
    ) -> Result<PutReceipt, StoreError> {
        key.check(bytes)?;
        if bytes.len() as u64 > self.multipart_threshold {
            self.put_multipart(key, bytes, lock).await?;
        } else {
            self.put_single(key, bytes, lock).await?;
        }
        Ok(PutReceipt {
            already_present: false,
            lock: lock.map_or(LockOutcome::NotRequested, LockOutcome::Applied),
        })
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| self.error(key.as_str(), e))?;
        let declared = out.content_length().unwrap_or(0);
        if u64::try_from(declared).unwrap_or(u64::MAX) > self.max_object_size {
            return Err(StoreError::Integrity {
                key: key.to_string(),
                detail: format!("object is {declared} bytes, above archive.max_document_size"),
            });
        }
        // A whole-object checksum from the server must match too (multipart objects carry a
        // checksum of their parts' checksums, "…-N", which the key's digest supersedes).
        let stored = out
            .checksum_sha256()
            .filter(|c| !c.contains('-'))
            .map(str::to_owned);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| {
                let text = innermost(&e);
                if text.to_ascii_lowercase().contains("checksum") {
                    StoreError::Integrity {
                        key: key.to_string(),
                        detail: text,
                    }
                } else {
                    StoreError::Truncated {
                        key: key.to_string(),
                        message: text,
                    }
                }
            })?
            .into_bytes();
        key.check(&bytes)?;
        if let Some(stored) = stored
            && stored != key.sha256().base64()
        {
            return Err(StoreError::Integrity {
                key: key.to_string(),
                detail: format!(
                    "the server's stored checksum {stored} differs from the key's digest"
                ),
            });
        }
        Ok(bytes)
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<u64>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.content_length()
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or(0),
            )),
            Err(e) => match self.error(key.as_str(), e) {
                StoreError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.error(prefix, e))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.push((
                        k.to_owned(),
                        o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    ));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    async fn lock_support(&self) -> Result<LockSupport, StoreError> {
        if let Some(known) = self.lock_support.lock().ok().and_then(|g| g.clone()) {
            return Ok(known);
        }
        let answer = match self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => {
                let enabled = out
                    .object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    .is_some_and(|e| *e == ObjectLockEnabled::Enabled);
                if enabled {
                    LockSupport::Supported
                } else {
                    LockSupport::Unavailable(format!(
                        "Object Lock is not enabled on bucket {:?}",
                        self.bucket
                    ))
                }
            }
            Err(e) => match self.error("", e) {
                StoreError::Service { code, .. }
                    if code == "ObjectLockConfigurationNotFoundError" =>
                {
                    LockSupport::Unavailable(format!(
                        "Object Lock is not enabled on bucket {:?} (it can only be enabled when a bucket is created)",
                        self.bucket
                    ))
                }
                StoreError::Service { code, message }
                    if code == "NotImplemented" || code.starts_with("HTTP 501") =>
                {
                    LockSupport::Unavailable(format!(
                        "the S3 server at {} does not implement Object Lock (NotImplemented{})",
                        self.endpoint,
                        if message.is_empty() {
                            String::new()
                        } else {
                            format!(": {message}")
                        }
                    ))
                }
                other => return Err(other),
            },
        };
        if let Ok(mut g) = self.lock_support.lock() {
            *g = Some(answer.clone());
        }
        Ok(answer)
    }
}
