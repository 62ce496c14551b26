//! Audit checkpoints in the archive store: the signed audit head ([`crate::audit::Checkpoint`])
//! written beside the documents, outside the registry database, and read back by
//! `kyso audit verify`.
//!
//! A checkpoint is stored under `{prefix}-audit/{seq:016}-{sha256}.json` ([`ObjectKey::checkpoint`]):
//! content-addressed like every object (a read is checked against its key), and named by the
//! sequence number it anchors, zero-padded, so the newest is the last key of a listing. Where the
//! bucket has Object Lock, checkpoints get the retention of kind `default` (permanent), so that
//! not even the worker's own credentials can remove one.
//!
//! The audit key is configured as `archive.audit_key` (PKCS#8 PEM, ECDSA P-256 or RSA) with its
//! certificate `archive.audit_certificate`; a verifier needs only the certificate. One way to
//! make them: `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650
//! -subj "/CN=kyso audit" -keyout audit.key.pem -out audit.pem`, or [`generate_audit_key`].

use std::path::Path;

use time::OffsetDateTime;

use super::{
    AnyStore, ArchiveError, ArchiveSettings, ArchiveStore, Bytes, LockSupport, ObjectKey,
    ObjectLockPolicy, Sha256, Slug, StoreError,
};
use crate::audit::{self, AuditProblem, AuditReport, Checkpoint};
use crate::config::Settings;
use crate::pki::Certificate;
use crate::retention::{Retention, lock_for};
use crate::signing::KeySigner;

/// The audit key, loaded for signing checkpoints.
pub struct AuditSigner {
    signer: KeySigner,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field(
                "certificate",
                crate::signing::Signer::certificate(&self.signer),
            )
            .finish_non_exhaustive()
    }
}

fn config(message: String) -> ArchiveError {
    ArchiveError::Config(message)
}

/// The configured audit certificate: the only key whose checkpoints are believed.
pub fn trusted_certificate(settings: &Settings) -> Result<Option<Certificate>, ArchiveError> {
    let Some(path) = &settings.archive.audit_certificate else {
        return Ok(None);
    };
    let cert = load_certificate(path)?;
    if !settings.development && crate::pki::is_development_certificate(cert.der()) {
        return Err(config(format!(
            "{}: chứng thư thuộc PKI phát triển (keys-dev), chỉ dùng được ở chế độ phát triển / \
             a development (keys-dev) certificate, accepted only in development mode",
            path.display()
        )));
    }
    Ok(Some(cert))
}

fn load_certificate(path: &Path) -> Result<Certificate, ArchiveError> {
    crate::pki::load_certificates(path)
        .map_err(|e| config(format!("archive.audit_certificate: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            config(format!(
                "archive.audit_certificate: {} holds no certificate",
                path.display()
            ))
        })
}

impl AuditSigner {
    /// The signer `archive.audit_key` and `archive.audit_certificate` name, or `None` when no
    /// key is configured. A key without its certificate, or one that does not match it, is a
    /// configuration error.
    pub fn from_settings(settings: &Settings) -> Result<Option<AuditSigner>, ArchiveError> {
        let Some(key_path) = &settings.archive.audit_key else {
            return Ok(None);
        };
        let cert = trusted_certificate(settings)?.ok_or_else(|| {
            config(
                "archive.audit_key is set but archive.audit_certificate is not: \
                 verifiers need the certificate to check checkpoints"
                    .into(),
            )
        })?;
        let key = crate::pki::load_private_key(key_path)
            .map_err(|e| config(format!("archive.audit_key: {e}")))?;
        let signer = KeySigner::new(&key, cert, Vec::new(), false)
            .map_err(|e| config(format!("archive.audit_key: {e}")))?;
        Ok(Some(AuditSigner { signer }))
    }

    /// Signs the head of `log` as of `now`; `None` for an empty log.
    pub fn sign_head(
        &self,
        log: &impl audit::Log,
        now: OffsetDateTime,
    ) -> Result<Option<Checkpoint>, ArchiveError> {
        let Some(head) = audit::head(log).map_err(audit_err)? else {
            return Ok(None);
        };
        Checkpoint::sign(head, now, &self.signer)
            .map(Some)
            .map_err(audit_err)
    }
}

fn audit_err(e: audit::AuditError) -> ArchiveError {
    match e {
        audit::AuditError::Store(e) => ArchiveError::Records(e),
        other => config(other.to_string()),
    }
}

/// Writes `checkpoint` to `store`, with permanent retention (counted from `now`) where the
/// store can apply it. Returns its key.
pub async fn write<S: ArchiveStore>(
    store: &S,
    settings: &ArchiveSettings,
    checkpoint: &Checkpoint,
    now: OffsetDateTime,
) -> Result<ObjectKey, ArchiveError> {
    let prefix = Slug::parse(&settings.prefix, "archive prefix")?;
    let bytes = Bytes::from(checkpoint.to_json());
    let seq = u64::try_from(checkpoint.head.seq).unwrap_or(0);
    let key = ObjectKey::checkpoint(&prefix, seq, Sha256::of(&bytes));
    let lock = match settings.object_lock {
        ObjectLockPolicy::Off => None,
        _ => match store.lock_support().await? {
            LockSupport::Supported => lock_for(
                Retention::for_kind(&settings.retention, "default"),
                settings.lock_mode,
                super::outbox::date_in_vietnam(now),
            ),
            _ => None,
        },
    };
    store.put(&key, &bytes, lock).await?;
    Ok(key)
}

/// The newest checkpoint in `store` (highest sequence number) with its key, unchecked, or
/// `None` when there is none.
pub async fn newest<S: ArchiveStore>(
    store: &S,
    settings: &ArchiveSettings,
) -> Result<Option<(ObjectKey, Checkpoint)>, ArchiveError> {
    let prefix = Slug::parse(&settings.prefix, "archive prefix")?;
    let listed = store.list(&ObjectKey::checkpoint_prefix(&prefix)).await?;
    // Keys sort by sequence number; a listing may also hold things that are not checkpoints.
    let Some(key) = listed.iter().rev().find_map(|(k, _)| {
        ObjectKey::parse(k)
            .ok()
            .filter(|k| k.checkpoint_seq().is_some())
    }) else {
        return Ok(None);
    };
    let bytes = store.get(&key).await?;
    let checkpoint = Checkpoint::from_json(&bytes).map_err(|e| {
        ArchiveError::Store(StoreError::Integrity {
            key: key.to_string(),
            detail: e.to_string(),
        })
    })?;
    if u64::try_from(checkpoint.head.seq).ok() != key.checkpoint_seq() {
        return Err(ArchiveError::Store(StoreError::Integrity {
            key: key.to_string(),
            detail: format!(
                "the key names entry {:?}, the checkpoint entry {}",
                key.checkpoint_seq(),
                checkpoint.head.seq
            ),
        }));
    }
    Ok(Some((key, checkpoint)))
}

/// What the log was held against.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum Anchor {
    /// The newest checkpoint in the store, signed by the configured audit key.
    Checkpoint {
        /// Its key in the store.
        key: String,
        /// The entry it anchors.
        seq: i64,
        /// When it was signed.
        at: String,
    },
    /// No audit certificate is configured: the chain was checked only against itself.
    NotConfigured,
    /// The store holds no checkpoint yet (nothing archived since the audit key was set).
    NoCheckpoint {
        /// The store looked in.
        store: String,
    },
}

/// The chain's own check ([`audit::verify`]) and its check against the newest checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AnchoredReport {
    /// The chain and its problems, checkpoint problems included.
    pub report: AuditReport,
    /// What it was held against.
    pub anchor: Anchor,
}

/// Verifies the audit log `log`: every hash and link, then against the newest checkpoint in
/// `store` signed by the configured audit certificate. A checkpoint that is damaged, or signed
/// by another key, is itself reported as a problem (someone wrote to the store who should not).
/// Failing to reach the store is an error, not a pass.
pub async fn verify_log(
    log: &impl audit::Log,
    store: &AnyStore,
    settings: &Settings,
) -> Result<AnchoredReport, ArchiveError> {
    let mut report = audit::verify(log).map_err(audit_err)?;
    let Some(trusted) = trusted_certificate(settings)? else {
        return Ok(AnchoredReport {
            report,
            anchor: Anchor::NotConfigured,
        });
    };
    let found = match newest(store, &settings.archive).await {
        Ok(found) => found,
        Err(ArchiveError::Store(StoreError::Integrity { key, detail })) => {
            report.problems.push(AuditProblem {
                seq: 0,
                what: format!("mốc kiểm {key} hỏng / checkpoint {key} is damaged: {detail}"),
            });
            return Ok(AnchoredReport {
                report,
                anchor: Anchor::NoCheckpoint {
                    store: store.describe(),
                },
            });
        }
        Err(e) => return Err(e),
    };
    let Some((key, checkpoint)) = found else {
        return Ok(AnchoredReport {
            report,
            anchor: Anchor::NoCheckpoint {
                store: store.describe(),
            },
        });
    };
    if let Err(e) = checkpoint.check_signature(&trusted) {
        report.problems.push(AuditProblem {
            seq: checkpoint.head.seq,
            what: format!("mốc kiểm {key} / checkpoint {key}: {e}"),
        });
    } else {
        report
            .problems
            .extend(audit::verify_against(log, &checkpoint).map_err(audit_err)?);
    }
    Ok(AnchoredReport {
        report,
        anchor: Anchor::Checkpoint {
            key: key.to_string(),
            seq: checkpoint.head.seq,
            at: checkpoint.at,
        },
    })
}

/// Signs the current head and writes it to the store the settings name (`kyso audit
/// checkpoint`) as of `now`. Returns the key and the checkpoint, or `None` for an empty log.
pub async fn checkpoint_now(
    log: &impl audit::Log,
    store: &AnyStore,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<Option<(ObjectKey, Checkpoint)>, ArchiveError> {
    let signer = AuditSigner::from_settings(settings)?.ok_or_else(|| {
        config(
            "chưa cấu hình khóa kiểm toán / no audit key is configured \
             (archive.audit_key and archive.audit_certificate, or KYSO_ARCHIVE_AUDIT_KEY and \
             KYSO_ARCHIVE_AUDIT_CERTIFICATE)"
                .into(),
        )
    })?;
    let Some(checkpoint) = signer.sign_head(log, now)? else {
        return Ok(None);
    };
    let key = write(store, &settings.archive, &checkpoint, now).await?;
    Ok(Some((key, checkpoint)))
}

/// A new audit key: a self-signed ECDSA P-256 certificate for `common_name`, valid ten years
/// from `now`, as (PKCS#8 key PEM, certificate PEM). Trust in it comes from configuration
/// (verifiers pin the certificate), not from a CA.
pub fn generate_audit_key(
    common_name: &str,
    now: OffsetDateTime,
) -> Result<(String, String), ArchiveError> {
    let err = |e: rcgen::Error| config(format!("cannot generate the audit key: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.not_before = now;
    params.not_after = now + time::Duration::days(3653);
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((key.serialize_pem(), cert.pem()))
}
