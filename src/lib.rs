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
pub mod text;
pub mod validation;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// The domain modules decide with the time their caller gives them and read no clock of
    /// their own: the use cases (`src/app`) take the time from the [`app::App`]'s clock, so a
    /// test or a replay can fix it, and one act of a user sees one time. The archive worker's
    /// loop is no exception: whoever starts it hands it that clock ([`archive::worker::Now`]).
    /// Test modules (from a file's `#[cfg(test)]` on) and comments may read the clock.
    #[test]
    fn no_clock_in_the_domain_modules() {
        fn walk(path: &Path, out: &mut Vec<PathBuf>) {
            if path.is_dir() {
                for entry in std::fs::read_dir(path).unwrap() {
                    walk(&entry.unwrap().path(), out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.to_path_buf());
            }
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let domain = [
            "signing",
            "validation",
            "templates",
            "pdf",
            "audit.rs",
            "authority",
            "issuing",
            "archive",
            "ltv",
            "retention.rs",
        ];
        let mut files = Vec::new();
        for d in domain {
            walk(&src.join(d), &mut files);
        }
        assert!(files.len() > domain.len(), "{files:?}");
        let clocks = [
            "now_utc()",
            "now_local()",
            "SystemTime::now()",
            "UtcDateTime::now()",
        ];
        let mut found = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim() == "#[cfg(test)]" {
                    break;
                }
                if line.trim_start().starts_with("//") {
                    continue;
                }
                if clocks.iter().any(|c| line.contains(c)) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "clock read in a domain module (take the time from the caller):\n{}",
            found.join("\n")
        );
    }
}
