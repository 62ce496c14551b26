//! kyso ("ký số": digital signing) issues, signs, verifies and archives the certifications that
//! commune Public Administration Service Centres in Vietnam produce.
//!
//! The crate is split the way the work is split (after pyHanko's signing / validation / PDF
//! utilities):
//!
//! * [`pdf`]: reading untrusted PDF bytes within [`pdf::Limits`] (one loader for signing and
//!   validation) and writing incremental updates;
//! * [`signing`]: PAdES signatures (CMS SignedData) made by a [`signing::Signer`], wherever its
//!   key lives;
//! * [`pki`]: certificates and keys on disk, the development PKI and the development-mode guard;
//! * [`config`]: settings from one TOML file plus environment overrides, defaults needing no file;
//! * [`validation`]: ETSI indications for signed PDFs, resisting the known PDF signature attacks;
//! * [`store`]: the error every record store reports; each domain module declares the store trait
//!   it needs (the audit log, the authority register, the certification registers...);
//! * [`registry`]: the registry database (SQLite) with its migrations, implementing those traits:
//!   the one place that holds SQL;
//! * [`authority`]: who may sign what, in their own right or under a delegation, and the
//!   delegation grants carried in signatures;
//! * [`audit`]: the hash-chained audit log;
//! * [`templates`]: certification templates (typst) with declared schemas, rendered to PDF with
//!   empty signature fields where Decree 30/2020 puts the signatures;
//! * [`issuing`]: numbering in the certification registers, issuing and cancelling documents;
//! * [`retention`]: how long each kind of record is kept, and the object locks that enforce it;
//! * [`archive`]: store-and-forward archiving of signed documents (local disk or S3);
//! * [`app`]: the use cases (issue, sign, cancel, administer authority) that the CLI and the
//!   HTTP service share: decide from the register, record, then return;
//! * [`http`]: `kyso serve`, the HTTP edge on those use cases.
//!
//! Library errors are typed (one `thiserror` enum per module); only the binary uses `anyhow`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod archive;
pub mod audit;
pub mod authority;
pub mod config;
pub mod http;
pub mod issuing;
pub mod ltv;
pub mod pdf;
pub mod pki;
pub mod registry;
pub mod retention;
pub mod signing;
pub mod store;
pub mod templates;
pub mod validation;
