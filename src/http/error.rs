//! One error type for the API: RFC 9457 `application/problem+json` with a stable `type`, the
//! HTTP status, and the message in Vietnamese and English. Internal failures are logged with
//! their cause and answered with a generic 500, never with the cause's text.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::AppError;

/// A problem response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// Stable identifier of the problem kind (`urn:kyso:problem:…`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short title, English.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened, Vietnamese then English.
    pub detail: String,
    /// The same in Vietnamese alone.
    pub detail_vi: String,
    /// The same in English alone.
    pub detail_en: String,
    /// For invalid form data: every field's problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One field's problem.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field's path in the data (`requesters[1].personal_id`).
    pub path: String,
    /// The problem, in Vietnamese.
    pub vi: String,
    /// The problem, in English.
    pub en: String,
}

impl ApiError {
    /// A problem of `kind` with `status`.
    pub fn new(
        status: StatusCode,
        kind: &str,
        vi: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        let (vi, en) = (vi.into(), en.into());
        ApiError {
            kind: format!("urn:kyso:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: format!("{vi} / {en}"),
            detail_vi: vi,
            detail_en: en,
            errors: Vec::new(),
        }
    }

    /// 404, the same for unknown and malformed ids.
    pub fn not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "không tìm thấy",
            "not found",
        )
    }

    /// 503: the server is shutting down or overloaded.
    pub fn unavailable() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "máy chủ đang bận hoặc đang dừng",
            "the server is busy or stopping",
        )
    }

    /// 500 with nothing of the cause.
    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "lỗi nội bộ; đã ghi nhật ký",
            "internal error; it was logged",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Splits a bilingual message "vi / en" into its halves.
fn halves(text: &str) -> (String, String) {
    match text.split_once(" / ") {
        Some((vi, en)) => (vi.to_owned(), en.to_owned()),
        None => (text.to_owned(), text.to_owned()),
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        use crate::app::error::Denial;
        use crate::authority::store::StoreError;
        use crate::signing::deferred::PendingError;
        let (vi, en) = halves(&e.to_string());
        let problem = |status: StatusCode, kind: &str| ApiError::new(status, kind, &vi, &en);
        match &e {
            AppError::NotFound(_)
            | AppError::Issue(crate::issuing::IssueError::NotFound(_))
            | AppError::Store(StoreError::UnknownOfficial(_) | StoreError::UnknownDelegation(_))
            | AppError::Pending(PendingError::Unknown(_)) => ApiError::not_found(),
            AppError::Invalid(errors)
            | AppError::Issue(crate::issuing::IssueError::Invalid(errors)) => {
                let mut p = problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-data");
                p.errors = errors
                    .iter()
                    .map(|f| FieldProblem {
                        path: f.path.clone(),
                        vi: f.vi.clone(),
                        en: f.en.clone(),
                    })
                    .collect();
                p
            }
            AppError::Authority(_) => problem(StatusCode::FORBIDDEN, "not-authorised"),
            AppError::Denied(Denial::BadCredentials) => {
                problem(StatusCode::UNAUTHORIZED, "bad-credentials")
            }
            AppError::Denied(Denial::Throttled) => {
                problem(StatusCode::TOO_MANY_REQUESTS, "throttled")
            }
            AppError::Denied(Denial::Forbidden { .. }) => {
                problem(StatusCode::FORBIDDEN, "not-authorised")
            }
            AppError::Denied(Denial::Conflict { .. } | Denial::AlreadyCompleted(_))
            | AppError::Pending(PendingError::Completed(_))
            | AppError::Store(
                StoreError::DuplicateOfficial(_)
                | StoreError::AlreadyRevoked(_)
                | StoreError::CertificateTaken(_)
                | StoreError::CitizenIdTaken(_),
            )
            | AppError::Issue(crate::issuing::IssueError::NotCancellable { .. }) => {
                problem(StatusCode::CONFLICT, "conflict")
            }
            AppError::Pending(PendingError::Expired(..)) => problem(StatusCode::GONE, "expired"),
            AppError::Denied(_)
            | AppError::Signing(_)
            | AppError::Grant(_)
            | AppError::Pki(_)
            | AppError::Issue(
                crate::issuing::IssueError::UnknownKind(_)
                | crate::issuing::IssueError::MissingDecision,
            ) => problem(StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            _ => {
                tracing::error!("internal error: {e}");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}
