//! Routes anyone may call: the QR code's page, uploads to verify, health and readiness.
//! Nothing here changes the register, and nothing fetches a URL named in an uploaded file.

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Multipart, Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{self, Lang};
use super::{ApiError, State};
use crate::app::verify::{self, Comparison, UploadReport};

/// `?lang=en`.
#[derive(Debug, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

impl LangQuery {
    fn lang(&self) -> Lang {
        Lang::from_query(self.lang.as_deref())
    }
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the registry answers. The archive's backlog is reported but never makes the
/// node unready: signing goes on while the archive link is down.
pub async fn readyz(AxumState(state): AxumState<State>) -> Response {
    let r = state
        .blocking(|app, _| {
            let registry = app.registry()?;
            registry.db().ping()?;
            let s = crate::archive::Outbox::new(app.settings()).status(&registry.db())?;
            Ok(serde_json::json!({
                "status": "ready",
                "registry": "ok",
                "archive": {"pending": s.pending, "failed": s.failed, "archived": s.archived},
            }))
        })
        .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "not ready", "registry": "unavailable"})),
        )
            .into_response(),
    }
}

/// Unknown routes: a problem for the API, the 404 page for people.
pub async fn not_found(uri: Uri, Query(q): Query<LangQuery>) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found().into_response()
    } else {
        pages::not_found(q.lang())
    }
}

/// `GET /v/{id}` (HTML) and `GET /v/{id}.json`.
pub async fn document_page(
    AxumState(state): AxumState<State>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Response {
    let (id, json) = match id.strip_suffix(".json") {
        Some(base) => (base.to_owned(), true),
        None => (id, false),
    };
    let found = state
        .blocking(move |app, _| verify::public_document(app, &id))
        .await;
    match (found, json) {
        (Ok(d), true) => Json(d).into_response(),
        (Ok(d), false) => pages::document(q.lang(), &d, None),
        (Err(e), true) => e.into_response(),
        (Err(e), false) if e.status() == StatusCode::NOT_FOUND => pages::not_found(q.lang()),
        (Err(e), false) => pages::upload_problem(q.lang(), &e),
    }
}

/// The `file` field of a multipart form, as bytes within the body limit.
async fn uploaded_file(form: Result<Multipart, MultipartRejection>) -> Result<Bytes, ApiError> {
    let mut form = form.map_err(|e| {
        ApiError::new(
            e.status(),
            "bad-form",
            "cần biểu mẫu multipart có trường file",
            "a multipart form with a `file` field is expected",
        )
    })?;
    loop {
        let field = form.next_field().await.map_err(multipart_error)?;
        let Some(field) = field else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-form",
                "biểu mẫu thiếu trường file",
                "the form has no `file` field",
            ));
        };
        if field.name() == Some("file") {
            return field.bytes().await.map_err(multipart_error);
        }
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::new(status, "bad-form", "biểu mẫu hỏng", "the form is malformed")
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "tệp lớn hơn giới hạn cho phép",
        "the file is larger than the configured limit",
    )
}

/// Verifies `bytes` (a PDF) and compares it with the register.
async fn check(state: &State, bytes: Bytes) -> Result<UploadReport, ApiError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-a-pdf",
            "tệp không phải PDF",
            "the file is not a PDF",
        ));
    }
    state
        .blocking(move |app, policy| verify::verify_upload(app, &bytes, policy))
        .await
}

/// `POST /v/{id}`: the visitor's copy compared with this document's registered versions.
pub async fn document_upload(
    AxumState(state): AxumState<State>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let lang = q.lang();
    let page_id = id.clone();
    let doc = match state
        .blocking(move |app, _| verify::public_document(app, &page_id))
        .await
    {
        Ok(d) => d,
        Err(_) => return pages::not_found(lang),
    };
    let result = match uploaded_file(form).await {
        Ok(bytes) => check(&state, bytes).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(mut u) => {
            // A file of another document is not a version of this one.
            if u.document.as_deref() != Some(id.as_str()) {
                u.comparison = Comparison::NotRegistered;
            }
            pages::document(lang, &doc, Some(&u))
        }
        Err(e) => pages::upload_problem(lang, &e),
    }
}

/// `GET /verify`: the upload form.
pub async fn verify_form(Query(q): Query<LangQuery>) -> Response {
    pages::verify(q.lang(), None)
}

/// `POST /verify` (multipart field `file`): any PDF, as a page. It changes nothing, so it takes
/// no CSRF token.
pub async fn verify_upload_form(
    AxumState(state): AxumState<State>,
    Query(q): Query<LangQuery>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let lang = q.lang();
    let result = match uploaded_file(form).await {
        Ok(bytes) => check(&state, bytes).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(u) => pages::verify(lang, Some(&u)),
        Err(e) => pages::upload_problem(lang, &e),
    }
}

/// Verifies any PDF (body `application/pdf`): its signatures with ETSI EN 319 102-1
/// indications, and how it compares with the register. Nothing named in the file is fetched.
#[utoipa::path(post, path = "/api/v1/verify", tag = "verify",
    request_body(content = String, content_type = "application/pdf", description = "The PDF"),
    responses((status = 200, description = "The report, as `kyso verify --json` gives it", body = Object),
        (status = 413, body = ApiError), (status = 415, body = ApiError), (status = 422, body = ApiError)))]
pub async fn verify_upload_api(
    AxumState(state): AxumState<State>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UploadReport>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(content_type.starts_with("application/pdf")
        || content_type.starts_with("application/octet-stream"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "nội dung phải là application/pdf (hoặc application/octet-stream)",
            "the body must be application/pdf (or application/octet-stream)",
        ));
    }
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(
                e.status(),
                "bad-body",
                "không đọc được nội dung",
                "cannot read the body",
            )
        }
    })?;
    Ok(Json(check(&state, bytes).await?))
}
