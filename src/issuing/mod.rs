//! Issuing certifications: validate, number, render, record.
//!
//! [`Issuer::issue`] validates the data against the kind's schema (nothing is numbered when it
//! fails), then in one unit of work (holding the write lock from its start) takes the next number
//! of the register and records the document as `pending`; only then does it render. A rendering failure marks the document `void`
//! with the reason, and a crash between numbering and rendering leaves a `pending` row that
//! [`Issuer::void_interrupted`] later voids with its own reason. So the register never has a gap
//! that nothing explains, and never shows a number twice (a UNIQUE constraint backs that up).
//!
//! In WAL mode only the second commit (`issued`) waits for the disk. The `pending` commit goes to the
//! write-ahead log without an fsync ([`Registers::unit_of_work_relaxed`]): a process crash keeps it (the log is in the OS cache), and
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
//! A form that issues carries a key ([`FormKey`], [`Issuer::issue_once`]); the unit of work that
//! numbers the document records the key with it, so a repeat of the form finds the document
//! instead of issuing twice, even when the first submission's process stopped right after
//! numbering: the key and the number are committed together or not at all.
//!
//! The records live behind [`Register`] and [`Registers`], which the registry implements; this
//! module holds no SQL.
//!
//! Registers follow Decree 23/2015 Art. 13: one per commune, year and type code; numbers restart at
//! 1 each year (in Vietnam time); a new volume in the same year continues the count. A cancelled
//! certification stays in its register, marked with the cancellation decision.

use std::fmt;
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use time::{OffsetDateTime, UtcOffset};

use crate::config::Authority;
use crate::store::{StoreError, StoreErrorKind};
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
    /// The store of the registers failed.
    #[error("registry: {0}")]
    Store(#[from] StoreError),
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

/// A volume of a register as the store keeps it: the store's id for it and its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    /// The store's id of the volume (what its documents refer to).
    pub id: i64,
    /// The volume's number in its register year.
    pub volume: u32,
}

/// A document being numbered, as the register first records it (`pending`).
#[derive(Debug, Clone, Copy)]
pub struct NewDocument<'a> {
    /// The stable public id.
    pub id: &'a str,
    /// The kind.
    pub kind: &'a str,
    /// The template version it will be rendered from.
    pub template_version: &'a str,
    /// The register.
    pub register: &'a RegisterKey,
    /// The volume it is numbered in.
    pub volume: Volume,
    /// Its number.
    pub number: u32,
    /// The validated data, JSON.
    pub data: &'a str,
    /// When it was numbered (RFC 3339, UTC, fixed width).
    pub created_at: &'a str,
    /// Day of issue in Vietnam, `YYYY-MM-DD`.
    pub issued_on: &'a str,
}

/// A version of a document with the registered name and title of whoever signed it, when the
/// signer is an official in the authority register (the public page names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedVersion {
    /// The version.
    pub version: Version,
    /// The official's registered full name.
    pub signer_name: Option<String>,
    /// The official's registered title.
    pub signer_title: Option<String>,
}

/// The key a form that issues carries (random, made when the form is shown), with the user
/// who submits it: the first submission issues, and any later one with the same key (a double
/// click, a reload, a retry after a crash or a restart, or on another node) gets that document
/// instead of a second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormKey {
    user_id: i64,
    key: String,
}

impl FormKey {
    /// The key `key` of a form submitted by user `user_id`, if it has the shape forms give
    /// (16 to 64 letters, digits, `-` or `_`); `None` otherwise (the submission then issues
    /// every time, as one without a key).
    pub fn new(user_id: i64, key: &str) -> Option<FormKey> {
        let ok = (16..=64).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| FormKey {
            user_id,
            key: key.to_owned(),
        })
    }

    /// Who submitted the form.
    pub fn user_id(&self) -> i64 {
        self.user_id
    }

    /// The form's key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The document a form key was last used for, as the register holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedDocument {
    /// The document's id.
    pub id: String,
    /// Its status now.
    pub status: Status,
    /// When it was numbered (RFC 3339, UTC, fixed width).
    pub created_at: String,
}

/// What an issue with a form key did.
#[derive(Debug, Clone)]
pub enum Issuance {
    /// Issued now.
    New(Issued),
    /// The key's first submission issued this document; nothing was numbered now.
    Earlier(DocumentRecord),
    /// The key's first submission has numbered a document and is still rendering it (here or
    /// on another node); nothing was numbered now. Ask again in a moment.
    InProgress,
}

/// How long kyso keeps a form key: a submission repeated later issues again. The pages' other
/// forms (signing, granting) keep theirs as long, in the same table.
pub const FORM_KEYS_KEPT: time::Duration = time::Duration::days(1);

/// A document numbered for a form key and still pending this long was abandoned (its process
/// stopped between numbering and the issued commit; rendering takes milliseconds): a repeat of
/// the form voids it, with the reason, and issues.
pub const FORM_KEY_ABANDONED: time::Duration = time::Duration::minutes(2);

/// Why a document left pending by a stopped process is void.
const INTERRUPTED: &str =
    "issuing was interrupted after numbering (process stopped before the PDF was finished)";

/// The field of the official who signs (Decree 30/2020: the signature between title and name).
pub const OFFICIAL_FIELD: &str = "ChuKyLanhDao";
/// The agency seal's field.
pub const SEAL_FIELD: &str = "DauCoQuan";

/// The order in which a certification's signatures are made: the official's, then the agency
/// seal over it. The signing queues follow it.
pub const SIGNING_ORDER: [&str; 2] = [OFFICIAL_FIELD, SEAL_FIELD];

/// The field a document waits for once the fields in `signed` are signed: the first of
/// [`SIGNING_ORDER`] not among them, or `None` when all are.
pub fn awaited_after(signed: &[&str]) -> Option<&'static str> {
    SIGNING_ORDER.into_iter().find(|f| !signed.contains(f))
}

/// What issuing asks of the store that keeps the registers: record operations on registers,
/// documents, their versions and form keys. Numbering rules, statuses and files stay in this
/// module; the SQLite registry implements this for its `Db` (in `registry::documents`).
pub trait Register {
    /// The ids of issued documents that wait for a signature in `field` next (see
    /// [`awaited_after`]), oldest first (the citizen who waited longest). The signing queues
    /// start from this; its cost follows the length of the queue, not of the register.
    fn awaiting_signature(&self, field: &str) -> Result<Vec<String>, StoreError>;

    /// Records which field document `id` waits for next (`None`: none, or not signable).
    fn set_awaited(&self, id: &str, field: Option<&str>) -> Result<(), StoreError>;

    /// The open volume of `reg`, if one is open.
    fn open_volume(&self, reg: &RegisterKey) -> Result<Option<Volume>, StoreError>;

    /// The highest volume of `reg` so far and the highest number taken in any of them (0 and 0
    /// for a register year without volumes).
    fn year_so_far(&self, reg: &RegisterKey) -> Result<(u32, u32), StoreError>;

    /// Opens volume `volume` of `reg`, whose first number will be `first_number`.
    fn add_volume(
        &self,
        reg: &RegisterKey,
        volume: u32,
        first_number: u32,
        opened_at: &str,
    ) -> Result<Volume, StoreError>;

    /// Takes the next number of `volume` (one more than the last taken) and returns it.
    fn take_number(&self, volume: Volume) -> Result<u32, StoreError>;

    /// Closes the open volume of `reg` at `closed_at`; returns its number, if one was open.
    fn close_volume(&self, reg: &RegisterKey, closed_at: &str) -> Result<Option<u32>, StoreError>;

    /// Records a newly numbered document as `pending`.
    fn insert_pending(&self, doc: &NewDocument<'_>) -> Result<(), StoreError>;

    /// Marks document `id` issued, with the SHA-256 of its issued PDF.
    fn mark_issued(&self, id: &str, sha256: &str) -> Result<(), StoreError>;

    /// Marks document `id` void, with the reason.
    fn mark_void(&self, id: &str, reason: &str) -> Result<(), StoreError>;

    /// Whether any document has been pending since before `created_before` (a read, so that
    /// the common case, none, takes no write lock).
    fn any_pending_before(&self, created_before: &str) -> Result<bool, StoreError>;

    /// Marks every document still pending since before `created_before` void with `reason`;
    /// returns their ids.
    fn void_pending(&self, created_before: &str, reason: &str) -> Result<Vec<String>, StoreError>;

    /// Marks document `id` cancelled by `decision`, for `reason`, at `at`.
    fn mark_cancelled(
        &self,
        id: &str,
        decision: &str,
        reason: &str,
        at: &str,
    ) -> Result<(), StoreError>;

    /// One document's register entry.
    fn document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError>;

    /// The entry whose issued version has SHA-256 `sha256` (lower-case hex).
    fn document_by_issued_sha256(&self, sha256: &str)
    -> Result<Option<DocumentRecord>, StoreError>;

    /// Entries matching `q`, newest first, at most `q.limit` (capped at 500).
    fn search(&self, q: &Search) -> Result<Vec<DocumentRecord>, StoreError>;

    /// Every entry of a register year, in number order.
    fn register_entries(&self, reg: &RegisterKey) -> Result<Vec<DocumentRecord>, StoreError>;

    /// Records a version of document `document_id` that left kyso.
    fn add_version(&self, document_id: &str, version: &Version) -> Result<(), StoreError>;

    /// [`Register::add_version`], doing nothing when a version with the same SHA-256 is
    /// recorded already (the same signed bytes made twice); returns whether it was added.
    fn add_version_if_new(&self, document_id: &str, version: &Version) -> Result<bool, StoreError>;

    /// The versions of document `id` that left kyso, in the order they were recorded.
    fn versions(&self, id: &str) -> Result<Vec<Version>, StoreError>;

    /// The versions of document `id` by time of recording, each with its signer's registered
    /// name and title when the signer is an official.
    fn versions_with_signers(&self, id: &str) -> Result<Vec<SignedVersion>, StoreError>;

    /// The document and stage of the recorded version whose SHA-256 is `sha256`.
    fn version_by_sha256(&self, sha256: &str) -> Result<Option<(String, String)>, StoreError>;

    /// The document form `key` was last used for, if any (and if it is still kept).
    fn form_key(&self, key: &FormKey) -> Result<Option<KeyedDocument>, StoreError>;

    /// Records that form `key` was used at `at` for document `document_id` (replacing what it
    /// was used for before), and forgets keys used before `forget_before`.
    fn record_form_key(
        &self,
        key: &FormKey,
        document_id: &str,
        at: &str,
        forget_before: &str,
    ) -> Result<(), StoreError>;
}

/// Where the registers are kept, with the three ways issuing commits a unit of work (see the
/// module documentation for why it needs each). The SQLite `Registry` implements it; a
/// PostgreSQL registry does the same with `synchronous_commit` in place of SQLite's pragma.
pub trait Registers {
    /// The registers as one unit of work (or reads outside one) sees them.
    type Db<'a>: Register + crate::audit::Log + Copy
    where
        Self: 'a;

    /// The registers for reads, and for single changes that commit on their own.
    fn db(&self) -> Self::Db<'_>;

    /// Runs `f` as one unit of work, committed durably before this returns, or not at all when
    /// `f` fails.
    fn unit_of_work<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(Self::Db<'_>) -> Result<T, E>,
    ) -> Result<T, E>;

    /// [`Registers::unit_of_work`] whose durable commit may share its wait for the disk with
    /// the commits of other requests made at the same moment.
    fn unit_of_work_grouped<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(Self::Db<'_>) -> Result<T, E>,
    ) -> Result<T, E>;

    /// A unit of work committed atomically but not waited for: it survives a crash of the
    /// process, and becomes durable with the next durable commit on the same registry; a power
    /// cut before that may lose it, and everything committed after it, whole.
    fn unit_of_work_relaxed<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(Self::Db<'_>) -> Result<T, E>,
    ) -> Result<T, E>;
}

/// Issues documents into the registers. One `Issuer` per thread (it holds a registry
/// connection); the [`Catalog`] is shared.
pub struct Issuer<R> {
    catalog: Arc<Catalog>,
    registry: R,
    files: IssuedFiles,
    authority: Authority,
    base_url: String,
    rng: SystemRandom,
}

/// What the numbering unit of work decided.
enum Numbered {
    New { volume: u32, number: u32 },
    Earlier(Box<DocumentRecord>),
    InProgress,
}

impl<R: Registers> Issuer<R> {
    /// An issuer for `authority`, writing to `registry` and keeping issued PDFs in `files`,
    /// with QR codes under `base_url`.
    pub fn new(
        catalog: Arc<Catalog>,
        registry: R,
        files: IssuedFiles,
        authority: Authority,
        base_url: &str,
    ) -> Issuer<R> {
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
        match self.issue_once(actor, kind, data, now, None)? {
            Issuance::New(doc) => Ok(doc),
            // Only a form key leads to an earlier document or one in progress.
            Issuance::Earlier(_) | Issuance::InProgress => Err(IssueError::Store(StoreError::new(
                StoreErrorKind::Other,
                "an issue without a form key was keyed",
            ))),
        }
    }

    /// [`Issuer::issue_as`] for a form carrying `key`: the unit of work that numbers the
    /// document also records the key with the document's id, so that a repeat of the form
    /// with the same key, whenever it comes and whichever node takes it, finds that document
    /// instead of issuing another ([`Issuance::Earlier`]). A key whose document is still
    /// pending answers [`Issuance::InProgress`] ([`FORM_KEY_ABANDONED`] after numbering, the
    /// pending document is voided as interrupted and the form issues again); a key whose
    /// document is void (rendering failed, or interrupted) issues again.
    pub fn issue_once(
        &mut self,
        actor: &str,
        kind: &str,
        data: &serde_json::Value,
        now: OffsetDateTime,
        key: Option<&FormKey>,
    ) -> Result<Issuance, IssueError> {
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
        let stamp = rfc3339(now);
        let json = valid.json.to_string();
        let doc = NewDocument {
            id: &id,
            kind,
            template_version: &version,
            register: &register,
            volume: Volume { id: 0, volume: 0 },
            number: 0,
            data: &json,
            created_at: &stamp,
            issued_on: &issued_on,
        };
        // The pending row needs no wait for the disk of its own (see the module documentation).
        // The write lock is taken at the start, so two issuers never take the same number, and
        // two submissions of one form key never both find it unused.
        let numbered = self
            .registry
            .unit_of_work_relaxed(|db| allocate(&db, doc, key, now))?;
        let (volume, number) = match numbered {
            Numbered::New { volume, number } => (volume, number),
            Numbered::Earlier(record) => return Ok(Issuance::Earlier(*record)),
            Numbered::InProgress => return Ok(Issuance::InProgress),
        };
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
                self.registry.unit_of_work_grouped(|db| {
                    db.mark_issued(&id, &digest)?;
                    db.set_awaited(&id, awaited_after(&[]))?;
                    db.add_version(
                        &id,
                        &Version {
                            sha256: digest.clone(),
                            stage: "issued".into(),
                            size: doc.pdf.len() as i64,
                            field: None,
                            signer: None,
                            capacity: None,
                            created_at: stamp.clone(),
                        },
                    )?;
                    crate::audit::append(
                        &db,
                        actor,
                        "issue",
                        &id,
                        &serde_json::json!({
                            "kind": kind, "template_version": version, "number": number,
                            "volume": volume, "type_code": register.type_code, "sha256": digest,
                        }),
                        now,
                    )?;
                    Ok::<(), IssueError>(())
                })?;
                Ok(Issuance::New(Issued {
                    id,
                    kind: kind.to_owned(),
                    template_version: version,
                    register,
                    volume,
                    number,
                    verify_url,
                    pdf: doc.pdf,
                    fields: doc.fields,
                }))
            }
            Err(source) => {
                let reason = format!("rendering failed: {source}");
                self.registry.db().mark_void(&id, &reason)?;
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

    /// Closes the current volume of a register: the next document opens a new volume that
    /// continues the year's count. Returns the closed volume, if one was open.
    pub fn close_volume(
        &mut self,
        reg: &RegisterKey,
        now: OffsetDateTime,
    ) -> Result<Option<u32>, IssueError> {
        Ok(self.registry.db().close_volume(reg, &rfc3339(now))?)
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

    /// [`Issuer::cancel`] naming who records it, for the audit entry (in the same unit of
    /// work).
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
        self.registry.unit_of_work(|db| {
            let record = db
                .document(id)?
                .ok_or_else(|| IssueError::NotFound(id.to_owned()))?;
            if record.status != Status::Issued {
                return Err(IssueError::NotCancellable {
                    id: id.to_owned(),
                    status: record.status,
                });
            }
            db.mark_cancelled(id, decision, reason.trim(), &rfc3339(now))?;
            crate::audit::append(
                &db,
                actor,
                "cancel",
                id,
                &serde_json::json!({"decision": decision, "reason": reason.trim()}),
                now,
            )?;
            Ok(())
        })
    }

    /// Marks documents still `pending` since before `before` as void: their issuing was
    /// interrupted (a crash or a kill between numbering and rendering), audited at `now`.
    /// Returns how many.
    pub fn void_interrupted(
        &mut self,
        before: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<usize, IssueError> {
        let before = rfc3339(before);
        // Every issue asks this; almost always the answer is none, and a read answers it
        // without queueing for the write lock behind other requests' commits.
        if !self.registry.db().any_pending_before(&before)? {
            return Ok(0);
        }
        self.registry.unit_of_work(|db| {
            let ids = db.void_pending(&before, INTERRUPTED)?;
            for id in &ids {
                audit_interrupted(&db, id, now)?;
            }
            Ok(ids.len())
        })
    }

    /// The register entry whose issued version has SHA-256 `sha256` (lower-case hex).
    pub fn find_by_issued_sha256(
        &self,
        sha256: &str,
    ) -> Result<Option<DocumentRecord>, IssueError> {
        Ok(self.registry.db().document_by_issued_sha256(sha256)?)
    }

    /// The issued-files store.
    pub fn files(&self) -> &IssuedFiles {
        &self.files
    }

    /// One document's register entry.
    pub fn document(&self, id: &str) -> Result<Option<DocumentRecord>, IssueError> {
        Ok(self.registry.db().document(id)?)
    }

    /// Register entries matching `q`, newest first, at most `q.limit` (capped at 500).
    pub fn search(&self, q: &Search) -> Result<Vec<DocumentRecord>, IssueError> {
        Ok(self.registry.db().search(q)?)
    }

    /// The versions of document `id` that left kyso, oldest first.
    pub fn versions(&self, id: &str) -> Result<Vec<Version>, IssueError> {
        Ok(self.registry.db().versions(id)?)
    }

    /// Every entry of a register year, in number order.
    pub fn register_entries(&self, reg: &RegisterKey) -> Result<Vec<DocumentRecord>, IssueError> {
        Ok(self.registry.db().register_entries(reg)?)
    }

    /// A new document id: 128 random bits, lower-case hex. Unguessable, so the public
    /// verification page cannot be walked through by counting.
    fn new_id(&self) -> Result<String, IssueError> {
        let mut b = [0u8; 16];
        self.rng.fill(&mut b).map_err(|_| IssueError::Random)?;
        Ok(hex(&b))
    }
}

/// The numbering unit of work: what form `key` was used for decides whether to number at all;
/// then the next number of the register's open volume, and the document recorded as pending
/// (and the key with it).
fn allocate(
    db: &(impl Register + crate::audit::Log),
    mut doc: NewDocument<'_>,
    key: Option<&FormKey>,
    now: OffsetDateTime,
) -> Result<Numbered, IssueError> {
    if let Some(earlier) = key.map(|k| db.form_key(k)).transpose()?.flatten() {
        match earlier.status {
            Status::Issued | Status::Cancelled => {
                let record = db.document(&earlier.id)?.ok_or_else(|| {
                    StoreError::corrupt(format!("form key names a missing document {}", earlier.id))
                })?;
                return Ok(Numbered::Earlier(Box::new(record)));
            }
            Status::Pending if earlier.created_at > rfc3339(now - FORM_KEY_ABANDONED) => {
                return Ok(Numbered::InProgress);
            }
            Status::Pending => {
                db.mark_void(&earlier.id, INTERRUPTED)?;
                audit_interrupted(db, &earlier.id, now)?;
            }
            // Rendering failed, or the issuing was interrupted: the form issues again.
            Status::Void => {}
        }
    }
    let volume = open_volume(db, doc.register, doc.created_at)?;
    doc.volume = volume;
    doc.number = db.take_number(volume)?;
    db.insert_pending(&doc)?;
    if let Some(key) = key {
        db.record_form_key(key, doc.id, doc.created_at, &rfc3339(now - FORM_KEYS_KEPT))?;
    }
    Ok(Numbered::New {
        volume: volume.volume,
        number: doc.number,
    })
}

fn audit_interrupted(
    db: &impl crate::audit::Log,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), IssueError> {
    crate::audit::append(
        db,
        "kyso",
        "void",
        id,
        &serde_json::json!({"reason": "issuing was interrupted after numbering"}),
        now,
    )?;
    Ok(())
}

/// The open volume of a register, opening volume 1 (or the next after a closed one) if needed.
fn open_volume(db: &impl Register, reg: &RegisterKey, stamp: &str) -> Result<Volume, IssueError> {
    if let Some(v) = db.open_volume(reg)? {
        return Ok(v);
    }
    // A new volume continues the year's count (Art. 13.2): it starts after the highest number of
    // the closed volumes.
    let (volumes, last) = db.year_so_far(reg)?;
    Ok(db.add_volume(reg, volumes + 1, last + 1, stamp)?)
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
