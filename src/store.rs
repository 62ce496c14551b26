//! What the domain modules ask of the place where records are kept, and how that place fails.
//!
//! Each domain module that keeps records declares its own store trait next to its types (a
//! port): the audit log, the authority register, the certification registers, the archive
//! outbox, pending deferred signatures, users and sessions. [`crate::registry`] implements them
//! all for SQLite on a [`crate::registry::Db`], the one place that holds SQL. A PostgreSQL
//! registry implements the same traits behind the same `Db` and units of work, so the use cases
//! in [`crate::app`], which only call the traits and `Registry::unit_of_work`, do not change.
//!
//! This module depends on nothing else in the crate, so that domain modules can name
//! [`StoreError`] without importing the registry that implements their traits (which imports
//! them).

use std::fmt;

/// What kind of failure a store reported, for the few callers that act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A uniqueness or other constraint refused the change (a duplicate key, a foreign key).
    Constraint,
    /// The store stayed locked by other writers past its timeout.
    Busy,
    /// A stored value could not be read back as the type the code expects (a damaged or
    /// hand-edited registry).
    Corrupt,
    /// Anything else: I/O, a full disk, a bug in a query.
    Other,
}

/// A failure of the record store, with the backend's message.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

impl StoreError {
    /// A store error of `kind` with the backend's `message`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
        }
    }

    /// A stored value that cannot be read back as expected (what it is, and why).
    pub fn corrupt(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Corrupt, message)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Whether a constraint refused the change (callers turn a duplicate into their own error).
    pub fn is_constraint(&self) -> bool {
        self.kind == StoreErrorKind::Constraint
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "registry database error: {}", self.message)
    }
}

impl std::error::Error for StoreError {}
