//! Issuing certifications: validate, number, render, record.
//!
//! [`Issuer::issue`] validates the data against the kind's schema (nothing is numbered when it
//! fails), then in one immediate transaction takes the next number of the register and records the
//! document as `pending`; only then does it render. A rendering failure marks the document `void`
//! with the reason, and a crash between numbering and rendering leaves a `pending` row that
//! [`Issuer::void_interrupted`] later voids with its own reason. So the register never has a gap
//! that nothing explains, and never shows a number twice (a UNIQUE constraint backs that up).
//!
//! In WAL mode only the second commit (`issued`) waits for the disk. The `pending` commit goes to the
//! write-ahead log without an fsync: a process crash keeps it (the log is in the OS cache), and
//! the fsync of the `issued` commit, which comes after it in the same log, makes both durable
//! together. A power cut before that fsync may lose the pending row and the number with it, but
//! then the document was never handed out, so the number is simply taken again: no gap, no
//! repeat. This halves the disk waits per document.
//!
//! The issued PDF is durable before the register says `issued`: it is written (and synced) to
//! the issued-files store under the data directory, then one transaction marks the document
//! issued with its SHA-256, records the issued version and appends the audit entry. A crash
//! before that commit leaves a `pending` row (voided later, with its reason); after it, the
//! file is there for `reprint`, byte for byte, whatever happened to the caller's output file.
//!
//! Registers follow Decree 23/2015 Art. 13: one per commune, year and type code; numbers restart at
//! 1 each year (in Vietnam time); a new volume in the same year continues the count. A cancelled
//! certification stays in its register, marked with the cancellation decision.

use std::fmt;
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::{OffsetDateTime, UtcOffset};

use crate::config::Authority;
use crate::registry::Registry;
use crate::templates::{
    AuthorityLines, Catalog, DocumentMeta, FieldError, FieldPlacement, Template, TemplateError,
    Validated, qr,
};

/// Vietnam's time zone (UTC+7, no daylight saving): the day of issue and the register year.
pub const VIETNAM: UtcOffset = match UtcOffset::from_hms(7, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("UTC+7 is a valid offset"),
};

/// Why issuing or a register operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// No template for this kind.
    #[error("unknown kind {0:?} (kyso kinds lists them)")]
    UnknownKind(String),
    /// The data does not satisfy the schema; nothing was numbered.
    #[error("{} invalid field(s); nothing was numbered", .0.len())]
    Invalid(Vec<FieldError>),
    /// The document was numbered but could not be rendered; it is void in the register.
    #[error(
        "document {id} (number {number}) could not be rendered and is void in the register: {source}"
    )]
    Render {
        /// The void document's id.
        id: String,
        /// Its number.
        number: u32,
        /// Why.
        source: TemplateError,
    },
    /// A preview could not be rendered (nothing was numbered).
    #[error("the preview could not be rendered: {0}")]
    Preview(TemplateError),
    /// No such document.
    #[error("no document with id {0:?}")]
    NotFound(String),
    /// Only an issued document can be cancelled.
    #[error("document {id} is {status}, only an issued document can be cancelled")]
    NotCancellable {
        /// The document.
        id: String,
        /// Its status.
        status: Status,
    },
    /// A cancellation needs the decision that ordered it.
    #[error("a cancellation needs the cancellation decision (number and date)")]
    MissingDecision,
    /// The registry database failed.
    #[error("registry: {0}")]
    Registry(#[from] rusqlite::Error),
    /// The clock gives a date typst cannot represent.
    #[error("the system clock gives an unusable date")]
    Clock,
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
    /// The issued file could not be written or read back.
    #[error("issued file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The issued file on disk is not what the register recorded.
    #[error(
        "tệp đã cấp của {id} không khớp sổ đăng ký / the issued file of {id} does not match the register (SHA-256 {found}, registered {registered})"
    )]
    FileMismatch {
        /// The document.
        id: String,
        /// The digest found.
        found: String,
        /// The digest registered.
        registered: String,
    },
    /// The audit log could not be written.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

/// Where issued PDFs are kept, one file per document (`<root>/<first two hex>/<id>.pdf`),
/// written durably before the register says `issued`.
#[derive(Debug, Clone)]
pub struct IssuedFiles {
    root: std::path::PathBuf,
}

impl IssuedFiles {
    /// The store under `root` (the data directory's `documents/`).
    pub fn new(root: std::path::PathBuf) -> IssuedFiles {
        IssuedFiles { root }
    }

    /// Where document `id`'s issued PDF lives. Ids are kyso's own lower-case hex; anything else
    /// maps to a name that cannot leave the root.
    pub fn path_of(&self, id: &str) -> std::path::PathBuf {
        let safe: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let prefix: String = safe.chars().take(2).collect();
        self.root.join(prefix).join(format!("{safe}.pdf"))
    }

    fn stage(&self, id: &str, pdf: &[u8]) -> Result<(), IssueError> {
        let path = self.path_of(id);
        crate::archive::local::write_durable(&path, pdf)
            .map_err(|source| IssueError::File { path, source })
    }

    /// Where version `sha256` (a signed version) of document `id` lives.
    pub fn version_path(&self, id: &str, sha256: &str) -> std::path::PathBuf {
        let base = self.path_of(id);
        let sha: String = sha256.chars().filter(char::is_ascii_hexdigit).collect();
        base.with_extension(format!("{sha}.pdf"))
    }

    /// Writes a signed version of document `id` durably (before the commit that records it),
    /// so that the service can hand the latest version to the next signer and to downloads
    /// while the archive copy may still be waiting for its link.
    pub fn stage_version(&self, id: &str, sha256: &str, pdf: &[u8]) -> Result<(), IssueError> {
        let path = self.version_path(id, sha256);
        crate::archive::local::write_durable(&path, pdf)
            .map_err(|source| IssueError::File { path, source })
    }

    /// Signed version `sha256` of document `id`, checked against its name.
    pub fn read_version(&self, id: &str, sha256: &str) -> Result<Vec<u8>, IssueError> {
        let path = self.version_path(id, sha256);
        let bytes = std::fs::read(&path).map_err(|source| IssueError::File {
            path: path.clone(),
            source,
        })?;
        let found = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
        if found != sha256 {
            return Err(IssueError::FileMismatch {
                id: id.to_owned(),
                found,
                registered: sha256.to_owned(),
            });
        }
        Ok(bytes)
    }

    /// The issued PDF of `record`, checked against the SHA-256 the register holds.
    pub fn read(&self, record: &DocumentRecord) -> Result<Vec<u8>, IssueError> {
        let path = self.path_of(&record.id);
        let bytes = std::fs::read(&path).map_err(|source| IssueError::File {
            path: path.clone(),
            source,
        })?;
        let found = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
        let registered = record.pdf_sha256.clone().unwrap_or_default();
        if found != registered {
            return Err(IssueError::FileMismatch {
                id: record.id.clone(),
                found,
                registered,
            });
        }
        Ok(bytes)
    }
}

/// A document's place in its register's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Numbered; rendering has not finished.
    Pending,
    /// Issued.
    Issued,
    /// Numbered but never issued; the register says why.
    Void,
    /// Issued, then cancelled by a decision.
    Cancelled,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Issued => "issued",
            Status::Void => "void",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "pending" => Status::Pending,
            "issued" => Status::Issued,
            "void" => Status::Void,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which register a document is numbered in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegisterKey {
    /// The commune's code.
    pub commune_code: String,
    /// The register year.
    pub year: i32,
    /// The type code (SCT/BS, SCT/CK,ĐC, …).
    pub type_code: String,
}

/// A freshly issued document.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The stable public id.
    pub id: String,
    /// The kind.
    pub kind: String,
    /// The template version it was rendered from.
    pub template_version: String,
    /// The register.
    pub register: RegisterKey,
    /// The volume.
    pub volume: u32,
    /// The number in the register year.
    pub number: u32,
    /// The verification URL in its QR code.
    pub verify_url: String,
    /// The PDF with its empty signature fields.
    pub pdf: Vec<u8>,
    /// Where the signature fields are.
    pub fields: Vec<FieldPlacement>,
}

impl Issued {
    /// The number as the document prints it: "15, quyển số 01/2026-SCT/BS" for certifications,
    /// "15/TLKS-BS" for civil-status papers.
    pub fn number_text(&self, catalog: &Catalog) -> String {
        let document_style = catalog
            .get(&self.kind)
            .is_some_and(|t| t.schema.numbering == crate::templates::Numbering::Document);
        if document_style {
            format!("{:02}/{}", self.number, self.register.type_code)
        } else {
            format!(
                "{:02}, quyển số {:02}/{}-{}",
                self.number, self.volume, self.register.year, self.register.type_code
            )
        }
    }
}

/// What to look for in the register; every given criterion must hold.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// The kind.
    pub kind: Option<String>,
    /// The number in its register.
    pub number: Option<u32>,
    /// The register year.
    pub year: Option<i32>,
    /// Issued on or after (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Issued on or before (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// The status.
    pub status: Option<Status>,
    /// Text occurring in the entry's data (a name).
    pub name: Option<String>,
    /// A citizen ID occurring in the entry's data.
    pub citizen_id: Option<String>,
    /// At most this many (1–500).
    pub limit: u32,
}

/// One version of a registered document that left kyso: as issued, or after a signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    /// SHA-256 of the file.
    pub sha256: String,
    /// `issued` or `signed`.
    pub stage: String,
    /// Size in bytes.
    pub size: i64,
    /// The signature field signed.
    pub field: Option<String>,
    /// Who signed.
    pub signer: Option<String>,
    /// The capacity line of the signature.
    pub capacity: Option<String>,
    /// When.
    pub created_at: String,
}

/// A document as the register holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    /// The stable public id.
    pub id: String,
    /// The kind.
    pub kind: String,
    /// Template version.
    pub template_version: String,
    /// The register.
    pub register: RegisterKey,
    /// The volume.
    pub volume: u32,
    /// The number.
    pub number: u32,
    /// Status.
    pub status: Status,
    /// Day of issue in Vietnam, `YYYY-MM-DD`.
    pub issued_on: String,
    /// SHA-256 of the issued (unsigned) PDF, hex.
    pub pdf_sha256: Option<String>,
    /// Why a void document was never issued.
    pub void_reason: Option<String>,
    /// The cancellation decision (number and date).
    pub cancel_decision: Option<String>,
    /// The validated data, JSON.
    pub data: String,
}

/// Issues documents into the registry. One `Issuer` per thread (it owns a database connection);
/// the [`Catalog`] is shared.
pub struct Issuer {
    catalog: Arc<Catalog>,
    registry: Registry,
    files: IssuedFiles,
    authority: Authority,
    base_url: String,
    rng: SystemRandom,
}

impl Issuer {
    /// An issuer for `authority`, writing to `registry` and keeping issued PDFs in `files`,
    /// with QR codes under `base_url`.
    pub fn new(
        catalog: Arc<Catalog>,
        registry: Registry,
        files: IssuedFiles,
        authority: Authority,
        base_url: &str,
    ) -> Issuer {
        Issuer {
            catalog,
            registry,
            files,
            authority,
            base_url: base_url.to_owned(),
            rng: SystemRandom::new(),
        }
    }

    /// The template catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Issues a document of `kind` from `data` at `now`; `actor` (who issues) goes into the
    /// audit entry.
    pub fn issue(
        &mut self,
        kind: &str,
        data: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Issued, IssueError> {
        self.issue_as("kyso", kind, data, now)
    }

    /// [`Issuer::issue`] naming who issues, for the audit entry.
    pub fn issue_as(
        &mut self,
        actor: &str,
        kind: &str,
        data: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Issued, IssueError> {
        let (template, valid, local) = self.validated(kind, data, now)?;
        let id = self.new_id()?;
        let register = RegisterKey {
            commune_code: self.authority.code.clone(),
            year: local.year(),
            type_code: template.schema.type_code.clone(),
        };
        let issued_on = format!(
            "{:04}-{:02}-{:02}",
            local.year(),
            u8::from(local.month()),
            local.day()
        );
        let version = template.schema.version.clone();
        let (volume, number) = self.allocate(
            &register,
            &id,
            kind,
            &version,
            &valid.json.to_string(),
            &issued_on,
            now,
        )?;
        let verify_url = qr::verification_url(&self.base_url, &id);
        let meta = DocumentMeta {
            id: id.clone(),
            number,
            volume,
            year: register.year,
            type_code: register.type_code.clone(),
            issued_on: (local.year(), u8::from(local.month()), local.day()),
            authority: AuthorityLines {
                parent: self.authority.parent.clone(),
                name: self.authority.name.clone(),
                full_name: self.authority.full_name.clone(),
                place: self.authority.place.clone(),
                office: self.authority.office.clone(),
            },
            verify_url: verify_url.clone(),
        };
        match self.catalog.render(kind, &valid, &meta) {
            Ok(doc) => {
                let digest = hex(ring::digest::digest(&ring::digest::SHA256, &doc.pdf).as_ref());
                // The file first, durably; then one durable commit (its fsync shared with
                // concurrent commits) of status, version and audit entry: the document leaves
                // kyso only once the register says it was issued, and then its file exists.
                self.files.stage(&id, &doc.pdf)?;
                let stamp = rfc3339(now);
                self.registry.commit_grouped(|tx| {
                    tx.prepare_cached(
                        "UPDATE documents SET status = 'issued', pdf_sha256 = ?2 WHERE id = ?1",
                    )?
                    .execute(params![id, digest])?;
                    tx.prepare_cached(
                        "INSERT INTO document_versions(sha256, document_id, stage, size, created_at)
                         VALUES (?1, ?2, 'issued', ?3, ?4)",
                    )?
                    .execute(params![digest, id, doc.pdf.len() as i64, stamp])?;
                    crate::audit::append(
                        &crate::registry::Db::over(tx),
                        actor,
                        "issue",
                        &id,
                        &serde_json::json!({
                            "kind": kind, "template_version": version, "number": number,
                            "volume": volume, "type_code": register.type_code, "sha256": digest,
                        }),
                    )?;
                    Ok::<(), IssueError>(())
                })?;
                Ok(Issued {
                    id,
                    kind: kind.to_owned(),
                    template_version: version,
                    register,
                    volume,
                    number,
                    verify_url,
                    pdf: doc.pdf,
                    fields: doc.fields,
                })
            }
            Err(source) => {
                let reason = format!("rendering failed: {source}");
                self.registry.connection().execute(
                    "UPDATE documents SET status = 'void', void_reason = ?2 WHERE id = ?1",
                    params![id, reason],
                )?;
                Err(IssueError::Render { id, number, source })
            }
        }
    }

    /// The template of `kind` and `data` validated against it as of `now`'s date in Vietnam
    /// (that date, with the offset applied, is returned too): what issuing and its preview
    /// both check first.
    fn validated(
        &self,
        kind: &str,
        data: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(&Template, Validated, OffsetDateTime), IssueError> {
        let template = self
            .catalog
            .get(kind)
            .ok_or_else(|| IssueError::UnknownKind(kind.to_owned()))?;
        let local = now.to_offset(VIETNAM);
        let today = typst::foundations::Datetime::from_ymd(
            local.year(),
            u8::from(local.month()),
            local.day(),
        )
        .ok_or(IssueError::Clock)?;
        let valid = template
            .schema
            .validate(data, today)
            .map_err(IssueError::Invalid)?;
        Ok((template, valid, local))
    }

    /// Renders `data` as `kind` would be issued at `now`, as a preview
    /// ([`Catalog::render_preview`]): validated as issuing validates it, without a number, and
    /// nothing written to the register, the audit log or the issued files.
    pub fn preview(
        &self,
        kind: &str,
        data: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, IssueError> {
        let (template, valid, local) = self.validated(kind, data, now)?;
        // Not a document id (ids are random base32): the QR code of a preview leads nowhere.
        let id = "BAN-XEM-TRUOC".to_owned();
        let meta = DocumentMeta {
            verify_url: qr::verification_url(&self.base_url, &id),
            id,
            number: 0,
            volume: 0,
            year: local.year(),
            type_code: template.schema.type_code.clone(),
            issued_on: (local.year(), u8::from(local.month()), local.day()),
            authority: AuthorityLines {
                parent: self.authority.parent.clone(),
                name: self.authority.name.clone(),
                full_name: self.authority.full_name.clone(),
                place: self.authority.place.clone(),
                office: self.authority.office.clone(),
            },
        };
        self.catalog
            .render_preview(kind, &valid, &meta)
            .map_err(IssueError::Preview)
    }

    /// Takes the next number and records the document as pending, in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn allocate(
        &mut self,
        reg: &RegisterKey,
        id: &str,
        kind: &str,
        version: &str,
        data: &str,
        issued_on: &str,
        now: OffsetDateTime,
    ) -> Result<(u32, u32), IssueError> {
        let stamp = rfc3339(now);
        // The pending row needs no fsync of its own (see the module documentation). The guard
        // puts the connection back to FULL however this function returns.
        let wal = self.registry.is_wal();
        let mut conn = RelaxedCommits::new(self.registry.connection_mut(), wal)?;
        // IMMEDIATE takes the write lock at BEGIN, so two issuers never read the same last
        // number; others wait (busy timeout) rather than fail.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (register_id, volume) = open_volume(&tx, reg, &stamp)?;
        let number: i64 = tx
            .prepare_cached("UPDATE registers SET last_number = last_number + 1 WHERE id = ?1 RETURNING last_number")?
            .query_row([register_id], |r| r.get(0))?;
        tx.prepare_cached(
            "INSERT INTO documents (id, kind, template_version, register_id, commune_code, year, type_code,
                                    number, data, status, created_at, issued_on)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11)",
        )?
        .execute(params![id, kind, version, register_id, reg.commune_code, reg.year, reg.type_code, number, data, stamp, issued_on])?;
        tx.commit()?;
        conn.finish()?;
        let number = u32::try_from(number).map_err(|_| {
            IssueError::Registry(rusqlite::Error::IntegralValueOutOfRange(0, number))
        })?;
        Ok((volume, number))
    }

    /// Closes the current volume of a register: the next document opens a new volume that
    /// continues the year's count. Returns the closed volume, if one was open.
    pub fn close_volume(
        &mut self,
        reg: &RegisterKey,
        now: OffsetDateTime,
    ) -> Result<Option<u32>, IssueError> {
        let n = self.registry.connection().query_row(
            "UPDATE registers SET closed_at = ?4
             WHERE commune_code = ?1 AND year = ?2 AND type_code = ?3 AND closed_at IS NULL
             RETURNING volume",
            params![reg.commune_code, reg.year, reg.type_code, rfc3339(now)],
            |r| r.get::<_, u32>(0),
        );
        match n {
            Ok(v) => Ok(Some(v)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Cancels an issued document by a decision ("Quyết định số 12/QĐ-UBND ngày 20/11/2026").
    /// It stays in the register, marked cancelled; verification reports the decision.
    pub fn cancel(
        &mut self,
        id: &str,
        decision: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), IssueError> {
        self.cancel_as("admin", id, decision, reason, now)
    }

    /// [`Issuer::cancel`] naming who records it, for the audit entry (in the same transaction).
    pub fn cancel_as(
        &mut self,
        actor: &str,
        id: &str,
        decision: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), IssueError> {
        let decision = decision.trim();
        if decision.is_empty() {
            return Err(IssueError::MissingDecision);
        }
        let tx = self
            .registry
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: Option<String> = tx
            .query_row("SELECT status FROM documents WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let status = status.ok_or_else(|| IssueError::NotFound(id.to_owned()))?;
        let status = Status::parse(&status).unwrap_or(Status::Void);
        if status != Status::Issued {
            return Err(IssueError::NotCancellable {
                id: id.to_owned(),
                status,
            });
        }
        tx.execute(
            "UPDATE documents SET status = 'cancelled', cancel_decision = ?2, cancel_reason = ?3, cancelled_at = ?4
             WHERE id = ?1",
            params![id, decision, reason.trim(), rfc3339(now)],
        )?;
        crate::audit::append(
            &crate::registry::Db::over(&tx),
            actor,
            "cancel",
            id,
            &serde_json::json!({"decision": decision, "reason": reason.trim()}),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Marks documents still `pending` since before `before` as void: their issuing was
    /// interrupted (a crash or a kill between numbering and rendering). Returns how many.
    pub fn void_interrupted(&mut self, before: OffsetDateTime) -> Result<usize, IssueError> {
        let tx = self
            .registry
            .connection_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids: Vec<String> = tx
            .prepare(
                "UPDATE documents SET status = 'void',
                        void_reason = 'issuing was interrupted after numbering (process stopped before the PDF was finished)'
                 WHERE status = 'pending' AND created_at < ?1 RETURNING id",
            )?
            .query_map([rfc3339(before)], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in &ids {
            crate::audit::append(
                &crate::registry::Db::over(&tx),
                "kyso",
                "void",
                id,
                &serde_json::json!({"reason": "issuing was interrupted after numbering"}),
            )?;
        }
        tx.commit()?;
        Ok(ids.len())
    }

    /// The register entry whose issued version has SHA-256 `sha256` (lower-case hex).
    pub fn find_by_issued_sha256(
        &self,
        sha256: &str,
    ) -> Result<Option<DocumentRecord>, IssueError> {
        let mut st = self
            .registry
            .connection()
            .prepare_cached(&format!("{SELECT_DOC} WHERE d.pdf_sha256 = ?1"))?;
        Ok(st.query_row([sha256], record).optional()?)
    }

    /// The issued-files store.
    pub fn files(&self) -> &IssuedFiles {
        &self.files
    }

    /// One document's register entry.
    pub fn document(&self, id: &str) -> Result<Option<DocumentRecord>, IssueError> {
        let mut st = self
            .registry
            .connection()
            .prepare_cached(&format!("{SELECT_DOC} WHERE d.id = ?1"))?;
        Ok(st.query_row([id], record).optional()?)
    }

    /// Register entries matching `q`, newest first, at most `q.limit` (capped at 500).
    pub fn search(&self, q: &Search) -> Result<Vec<DocumentRecord>, IssueError> {
        let mut sql = format!("{SELECT_DOC} WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        use rusqlite::types::Value;
        fn push(sql: &mut String, args: &mut Vec<Value>, clause: &str, v: Value) {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        }
        if let Some(k) = &q.kind {
            push(
                &mut sql,
                &mut args,
                " AND d.kind = ?",
                Value::Text(k.clone()),
            );
        }
        if let Some(n) = q.number {
            push(
                &mut sql,
                &mut args,
                " AND d.number = ?",
                Value::Integer(i64::from(n)),
            );
        }
        if let Some(y) = q.year {
            push(
                &mut sql,
                &mut args,
                " AND d.year = ?",
                Value::Integer(i64::from(y)),
            );
        }
        if let Some(f) = &q.from {
            push(
                &mut sql,
                &mut args,
                " AND d.issued_on >= ?",
                Value::Text(f.clone()),
            );
        }
        if let Some(t) = &q.to {
            push(
                &mut sql,
                &mut args,
                " AND d.issued_on <= ?",
                Value::Text(t.clone()),
            );
        }
        if let Some(st) = q.status {
            push(
                &mut sql,
                &mut args,
                " AND d.status = ?",
                Value::Text(st.as_str().to_owned()),
            );
        }
        // Names and ID numbers are values inside the entry's data; each term must occur there.
        for term in [&q.name, &q.citizen_id].into_iter().flatten() {
            let escaped = term
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            push(
                &mut sql,
                &mut args,
                " AND d.data LIKE ? ESCAPE '\\'",
                Value::Text(format!("%{escaped}%")),
            );
        }
        sql.push_str(" ORDER BY d.created_at DESC, d.number DESC");
        push(
            &mut sql,
            &mut args,
            " LIMIT ?",
            Value::Integer(i64::from(q.limit.clamp(1, 500))),
        );
        let mut st = self.registry.connection().prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The versions of document `id` that left kyso, oldest first.
    pub fn versions(&self, id: &str) -> Result<Vec<Version>, IssueError> {
        let mut st = self.registry.connection().prepare_cached(
            "SELECT sha256, stage, size, field, signer, capacity, created_at
               FROM document_versions WHERE document_id = ?1 ORDER BY rowid",
        )?;
        let rows = st.query_map([id], |r| {
            Ok(Version {
                sha256: r.get(0)?,
                stage: r.get(1)?,
                size: r.get(2)?,
                field: r.get(3)?,
                signer: r.get(4)?,
                capacity: r.get(5)?,
                created_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every entry of a register year, in number order.
    pub fn register_entries(&self, reg: &RegisterKey) -> Result<Vec<DocumentRecord>, IssueError> {
        let mut st = self.registry.connection().prepare_cached(&format!(
            "{SELECT_DOC} WHERE d.commune_code = ?1 AND d.year = ?2 AND d.type_code = ?3 ORDER BY d.number"
        ))?;
        let rows = st.query_map(params![reg.commune_code, reg.year, reg.type_code], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A new document id: 128 random bits, lower-case hex. Unguessable, so the public
    /// verification page cannot be walked through by counting.
    fn new_id(&self) -> Result<String, IssueError> {
        let mut b = [0u8; 16];
        self.rng.fill(&mut b).map_err(|_| IssueError::Random)?;
        Ok(hex(&b))
    }
}

const SELECT_DOC: &str =
    "SELECT d.id, d.kind, d.template_version, d.commune_code, d.year, d.type_code, r.volume,
        d.number, d.status, d.issued_on, d.pdf_sha256, d.void_reason, d.cancel_decision, d.data
   FROM documents d JOIN registers r ON r.id = d.register_id";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocumentRecord> {
    let status: String = r.get(8)?;
    Ok(DocumentRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        template_version: r.get(2)?,
        register: RegisterKey {
            commune_code: r.get(3)?,
            year: r.get(4)?,
            type_code: r.get(5)?,
        },
        volume: r.get(6)?,
        number: r.get(7)?,
        status: Status::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                8,
                rusqlite::types::Type::Text,
                format!("status {status:?}").into(),
            )
        })?,
        issued_on: r.get(9)?,
        pdf_sha256: r.get(10)?,
        void_reason: r.get(11)?,
        cancel_decision: r.get(12)?,
        data: r.get(13)?,
    })
}

/// A connection whose commits skip the fsync (`synchronous = NORMAL`, still crash-safe in WAL mode)
/// until [`RelaxedCommits::finish`] restores `synchronous = FULL`, the registry's setting, and
/// reports whether it could. Outside WAL mode nothing is relaxed. Dropped on an error path, it
/// restores FULL as best it can.
struct RelaxedCommits<'c> {
    conn: &'c mut rusqlite::Connection,
    relaxed: bool,
}

impl<'c> RelaxedCommits<'c> {
    fn new(conn: &'c mut rusqlite::Connection, wal: bool) -> rusqlite::Result<RelaxedCommits<'c>> {
        if wal {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        Ok(RelaxedCommits { conn, relaxed: wal })
    }

    fn transaction_with_behavior(
        &mut self,
        b: TransactionBehavior,
    ) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        self.conn.transaction_with_behavior(b)
    }

    /// Restores FULL; an error here must stop issuing, or later commits would not be durable.
    fn finish(mut self) -> rusqlite::Result<()> {
        self.relaxed = false;
        self.conn.pragma_update(None, "synchronous", "FULL")
    }
}

impl Drop for RelaxedCommits<'_> {
    fn drop(&mut self) {
        if self.relaxed {
            let _ = self.conn.pragma_update(None, "synchronous", "FULL");
        }
    }
}

/// The open volume of a register, opening volume 1 (or the next after a closed one) if needed.
fn open_volume(
    tx: &rusqlite::Transaction<'_>,
    reg: &RegisterKey,
    stamp: &str,
) -> Result<(i64, u32), IssueError> {
    let open: Option<(i64, u32)> = tx
        .prepare_cached(
            "SELECT id, volume FROM registers
             WHERE commune_code = ?1 AND year = ?2 AND type_code = ?3 AND closed_at IS NULL",
        )?
        .query_row(params![reg.commune_code, reg.year, reg.type_code], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some(v) = open {
        return Ok(v);
    }
    // A new volume continues the year's count (Art. 13.2): it starts after the highest number of
    // the closed volumes.
    let (volume, last): (u32, i64) = tx.query_row(
        "SELECT COALESCE(MAX(volume), 0) + 1, COALESCE(MAX(last_number), 0) FROM registers
         WHERE commune_code = ?1 AND year = ?2 AND type_code = ?3",
        params![reg.commune_code, reg.year, reg.type_code],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    tx.execute(
        "INSERT INTO registers (commune_code, year, type_code, volume, first_number, last_number, opened_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![reg.commune_code, reg.year, reg.type_code, volume, last + 1, last, stamp],
    )?;
    Ok((tx.last_insert_rowid(), volume))
}

fn rfc3339(t: OffsetDateTime) -> String {
    // UTC with fixed width, so text comparison orders instants correctly.
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 15)]));
    }
    s
}
