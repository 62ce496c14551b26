//! What a use case returns when it does not do what was asked: a refusal (the rules say no,
//! with the reason in Vietnamese and English), invalid input, something not found, or a
//! failure of the machinery underneath. The edges map these to exit codes and HTTP statuses.

use crate::authority::Refusal;
use crate::templates::FieldError;

/// A use case's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The data does not satisfy the kind's schema; nothing was recorded.
    #[error("{} trường không hợp lệ / {} invalid field(s)", .0.len(), .0.len())]
    Invalid(Vec<FieldError>),
    /// The register says this official may not sign (recorded in the audit log).
    #[error(transparent)]
    Authority(#[from] Refusal),
    /// The workflow's rules refuse the request.
    #[error(transparent)]
    Denied(#[from] Denial),
    /// Nothing by that name or id.
    #[error("không tìm thấy {0} / {0} not found")]
    NotFound(String),
    /// Issuing or the register failed.
    #[error(transparent)]
    Issue(#[from] crate::issuing::IssueError),
    /// Signing failed.
    #[error(transparent)]
    Signing(#[from] crate::signing::SigningError),
    /// The timestamp configuration cannot be used.
    #[error(transparent)]
    Timestamp(#[from] crate::signing::timestamp::TimestampConfigError),
    /// Long-term validation material or a document timestamp could not be added.
    /// (Boxed: it carries PDF reading errors, and the edges' error types stay small.)
    #[error(transparent)]
    Ltv(Box<crate::ltv::LtvError>),
    /// A prepared signature could not be stored or read.
    #[error(transparent)]
    Pending(#[from] crate::signing::deferred::PendingError),
    /// The authority register failed.
    #[error(transparent)]
    Store(#[from] crate::authority::store::StoreError),
    /// A delegation grant could not be made or verified.
    #[error(transparent)]
    Grant(#[from] crate::authority::grant::GrantError),
    /// The registry could not be opened.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// The templates could not be loaded.
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
    /// The archive outbox failed.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// A certificate or key could not be read.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// The record store failed.
    #[error(transparent)]
    Records(#[from] crate::store::StoreError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<crate::ltv::LtvError> for AppError {
    fn from(e: crate::ltv::LtvError) -> Self {
        AppError::Ltv(Box::new(e))
    }
}

/// Why the workflow refuses a request. Each message is for a clerk or an official: Vietnamese
/// first, then English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// A certification kind needs its register entry; this PDF is not one kyso issued.
    #[error(
        "tệp PDF này không có trong sổ; loại {kind} chỉ ký trên giấy tờ đã cấp số / this PDF is not in the register; {kind} is signed only on a document kyso issued"
    )]
    NotRegistered {
        /// The kind asked for.
        kind: String,
    },
    /// The caller's kind disagrees with the register entry's.
    #[error(
        "giấy tờ {id} thuộc loại {registered}, không phải {asked} / document {id} is a {registered}, not a {asked}"
    )]
    KindMismatch {
        /// The document.
        id: String,
        /// Its registered kind.
        registered: String,
        /// The kind asked for.
        asked: String,
    },
    /// The document is not (or no longer) issued.
    #[error(
        "giấy tờ {id} đang ở trạng thái {status}, không thể ký / document {id} is {status} and cannot be signed"
    )]
    NotSignable {
        /// The document.
        id: String,
        /// Its status.
        status: String,
    },
    /// Neither a register kind nor a configured external kind.
    #[error(
        "loại giấy tờ không xác định: {0:?} / unknown document kind {0:?} (kyso kinds lists them)"
    )]
    UnknownKind(String),
    /// Signing with authority needs a kind, and the PDF is not registered.
    #[error("cần nêu loại giấy tờ (--kind) / the document kind is needed (--kind)")]
    KindNeeded,
    /// Options that only make sense with `--official`.
    #[error("{0} chỉ dùng cùng --official / {0} needs --official")]
    NeedsOfficial(&'static str),
    /// A requester ID that is neither 12 digits nor a declared other paper.
    #[error(
        "số giấy tờ của người yêu cầu {0:?} không hợp lệ: cần số định danh 12 chữ số, hoặc loại giấy tờ khác ghi rõ (ví dụ passport:B1234567) / requester ID {0:?} is invalid: a 12-digit personal ID, or another paper declared as TYPE:NUMBER (e.g. passport:B1234567)"
    )]
    BadRequesterId(String),
    /// The caller's requester disagrees with the register entry's.
    #[error(
        "người yêu cầu {asked} không có trong giấy tờ {id} / requester {asked} is not named in document {id}"
    )]
    RequesterMismatch {
        /// The document.
        id: String,
        /// The ID given.
        asked: String,
    },
    /// A registered document's field is signed by the role the field is for.
    #[error(
        "ô ký {field} của giấy tờ {id} dành cho {role} / field {field} of document {id} is for {role_en}"
    )]
    WrongField {
        /// The document.
        id: String,
        /// The field asked for.
        field: String,
        /// Who signs it (Vietnamese).
        role: &'static str,
        /// Who signs it (English).
        role_en: &'static str,
    },
    /// A plain signature on a registered document goes only into the desk clerk's field, and
    /// this document has no desk clerk.
    #[error(
        "giấy tờ {0} không có ô ký của công chức tiếp nhận hồ sơ; chữ ký không kiểm tra thẩm quyền chỉ được đặt ở ô đó / document {0} has no desk clerk's field, the only field of a registered document signed without --official"
    )]
    NoDeskClerk(String),
    /// The signer's certificate is revoked.
    #[error(
        "chứng thư số {serial} đã bị thu hồi lúc {at} / certificate {serial} was revoked at {at}"
    )]
    CertificateRevoked {
        /// Serial (hex).
        serial: String,
        /// When.
        at: String,
    },
    /// The signer's certificate status is unknown and the configuration requires it.
    #[error(
        "không xác định được tình trạng thu hồi của chứng thư số {serial} ({why}); cấu hình yêu cầu kiểm tra / the revocation status of certificate {serial} is unknown ({why}) and require_revocation is set"
    )]
    RevocationUnknown {
        /// Serial (hex).
        serial: String,
        /// Why.
        why: String,
    },
    /// A prepared signature was completed already (or is being completed by someone else).
    #[error(
        "chữ ký đã chuẩn bị {0} đã được hoàn tất / prepared signature {0} was already completed"
    )]
    AlreadyCompleted(String),
    /// A certificate that may not be registered to this official.
    #[error("{vi} / {en}")]
    Certificate {
        /// Why, in Vietnamese.
        vi: String,
        /// Why, in English.
        en: String,
    },
    /// The username or password is wrong, or the account is disabled (which of these is not
    /// said).
    #[error("sai tên đăng nhập hoặc mật khẩu / wrong username or password")]
    BadCredentials,
    /// Too many failed sign-ins for this account or address; try again later.
    #[error(
        "đăng nhập sai quá nhiều lần; hãy thử lại sau 15 phút / too many failed sign-ins; try again in 15 minutes"
    )]
    Throttled,
    /// The user's role or linked official does not allow this.
    #[error("{vi} / {en}")]
    Forbidden {
        /// Why, in Vietnamese.
        vi: String,
        /// Why, in English.
        en: String,
    },
    /// The request conflicts with what exists (a taken name, a completed signature).
    #[error("{vi} / {en}")]
    Conflict {
        /// Why, in Vietnamese.
        vi: String,
        /// Why, in English.
        en: String,
    },
    /// An argument the rules do not accept.
    #[error("{vi} / {en}")]
    Input {
        /// Why, in Vietnamese.
        vi: String,
        /// Why, in English.
        en: String,
    },
}

impl Denial {
    /// A refusal of an input, in both languages.
    pub fn input(vi: impl Into<String>, en: impl Into<String>) -> Denial {
        Denial::Input {
            vi: vi.into(),
            en: en.into(),
        }
    }
}

impl AppError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> AppError {
        AppError::Io {
            path: path.into(),
            source,
        }
    }
}
