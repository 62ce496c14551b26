//! Use cases: one function per act of a user (issue, reprint, cancel, sign, prepare and
//! complete a deferred signature, register officials and certificates, grant and revoke
//! delegations). Each takes typed inputs and the [`App`] (settings, clock, templates), decides
//! from the register — never from what the caller claims — records the register change, its
//! audit entry and its outbox row in one transaction, and returns a typed result. The CLI and
//! the HTTP service only translate arguments into these calls and results into output, so both
//! enforce the same rules.
//!
//! Output files are the caller's business, but a use case that produces a file (issue, sign)
//! has recorded it before it returns: a crash or a failed write afterwards leaves a recorded
//! document whose bytes can be fetched again ([`issue::reprint`], the archive outbox), never
//! an unrecorded one.

pub mod admin;
pub mod demo;
pub mod error;
pub mod issue;
pub mod ltv;
pub mod output;
pub mod queue;
pub mod sign;
pub mod users;
pub mod verify;

#[cfg(test)]
mod query_plans;

use std::sync::{Arc, OnceLock};

use time::OffsetDateTime;

use crate::config::Settings;
use crate::issuing::IssuedFiles;
use crate::registry::{Pool, Registry};
use crate::templates::Catalog;

pub use error::AppError;

/// Where use cases read the time: the system clock in production, a fixed one in tests.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that always says the same time (tests, replaying a decision).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// What every use case needs: the settings, a clock, and the template catalog (loaded on
/// first use: signing and administration need only its list of kinds, issuing its templates).
pub struct App {
    settings: Settings,
    clock: Arc<dyn Clock>,
    catalog: OnceLock<Arc<Catalog>>,
    /// The validation-material client, kept for the process so answers are reused for their
    /// validity.
    fetcher: OnceLock<Arc<crate::ltv::fetch::Fetcher>>,
    /// Open registry connections, reused across use cases.
    pool: Pool,
}

/// Registry connections an [`App`] keeps open while idle: enough for the service's blocking
/// workers, few enough that a CLI run holds one or two.
const IDLE_CONNECTIONS: usize = 16;

impl App {
    /// An application on `settings` with the system clock.
    pub fn new(settings: Settings) -> App {
        App::with_clock(settings, Arc::new(SystemClock))
    }

    /// An application on `settings` reading time from `clock`.
    pub fn with_clock(settings: Settings, clock: Arc<dyn Clock>) -> App {
        let pool = Pool::new(&settings.registry_path(), IDLE_CONNECTIONS);
        App {
            pool,
            settings,
            clock,
            catalog: OnceLock::new(),
            fetcher: OnceLock::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The client that fetches OCSP responses, CRLs and issuer certificates, with its cache.
    pub fn fetcher(&self) -> Arc<crate::ltv::fetch::Fetcher> {
        self.fetcher
            .get_or_init(|| {
                let l = &self.settings.ltv;
                Arc::new(crate::ltv::fetch::Fetcher::new(
                    std::time::Duration::from_secs(l.connect_timeout_secs.max(1)),
                    std::time::Duration::from_secs(l.read_timeout_secs.max(1)),
                ))
            })
            .clone()
    }

    /// The current time, from the application's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The template catalog.
    pub fn catalog(&self) -> Result<Arc<Catalog>, AppError> {
        if let Some(c) = self.catalog.get() {
            return Ok(c.clone());
        }
        let loaded = Arc::new(Catalog::load()?);
        Ok(self.catalog.get_or_init(|| loaded).clone())
    }

    /// A registry connection (from the application's pool; it returns there when dropped).
    pub fn registry(&self) -> Result<Registry, AppError> {
        Ok(self.pool.get()?)
    }

    /// The issued-files store under the data directory.
    pub fn issued_files(&self) -> IssuedFiles {
        IssuedFiles::new(self.settings.data_dir.join("documents"))
    }

    /// Whether `kind` is one kyso issues into a register (a certification or civil-status kind
    /// of the template catalog).
    pub fn is_register_kind(&self, kind: &str) -> Result<bool, AppError> {
        Ok(self.catalog()?.get(kind).is_some())
    }

    /// Whether `kind` is known at all: a register kind, or one of the configured kinds of
    /// documents kyso signs but does not issue (`external_kinds`).
    pub fn is_known_kind(&self, kind: &str) -> Result<bool, AppError> {
        Ok(self.is_register_kind(kind)? || self.settings.external_kinds.iter().any(|k| k == kind))
    }

    /// Every known kind, register kinds first.
    pub fn known_kinds(&self) -> Result<Vec<String>, AppError> {
        let mut v: Vec<String> = self
            .catalog()?
            .kinds()
            .map(|t| t.schema.kind.clone())
            .collect();
        v.extend(self.settings.external_kinds.iter().cloned());
        Ok(v)
    }
}

/// SHA-256 of `bytes`, lower-case hex: how the register and the archive name contents.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::pki::hex_upper(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
        .to_ascii_lowercase()
}
