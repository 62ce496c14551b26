//! The JSON API under `/api/v1`: sign-in, documents, signing, the register of officials and
//! delegations, users and tokens, the audit log and the archive. Each handler translates the
//! request into one use case of [`crate::app`] and its result into JSON; the caller is the
//! [`Principal`] the access layer resolved, and signers always act as their linked official.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Extension, Path, Query, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::auth::{self, SESSION_COOKIE};
use super::{ApiError, State};
use crate::app::admin::{self, NewDelegation, NewOfficial};
use crate::app::sign::{self as signing, DocumentSign, Signed};
use crate::app::users::{self, ApiToken, Credential, NewUser, Principal, Role, User};
use crate::app::{self, AppError};
use crate::authority::{Delegation, Mark, Official, Position};
use crate::issuing::{DocumentRecord, Search, Status, Version};

type ApiResult<T> = Result<T, ApiError>;

/// A JSON body, or a 400/415/422 problem saying what is wrong with it.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    b.map(|Json(v)| v).map_err(|e| {
        let status = e.status();
        ApiError::new(
            if status == StatusCode::PAYLOAD_TOO_LARGE
                || status == StatusCode::UNSUPPORTED_MEDIA_TYPE
            {
                status
            } else {
                StatusCode::BAD_REQUEST
            },
            "bad-body",
            format!("nội dung JSON không hợp lệ: {}", e.body_text()),
            format!("invalid JSON body: {}", e.body_text()),
        )
    })
}

/// A numeric id from the path; anything else is answered like an unknown id.
fn numeric_id(id: &str) -> ApiResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(ApiError::not_found)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Sign-in

/// A sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Sign-in name.
    pub username: String,
    /// Name shown on pages.
    pub display_name: String,
    /// `clerk`, `official`, `seal` or `admin`.
    pub role: String,
    /// The official record a signer acts as.
    pub official_id: Option<String>,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.as_str().to_owned(),
            official_id: u.official_id,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// The signed-in caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user.
    pub user: UserView,
    /// The role in force.
    pub role: String,
    /// For a session: the CSRF token to send in `X-CSRF-Token` with every state-changing call.
    pub csrf: Option<String>,
}

fn me(p: Principal) -> Me {
    Me {
        role: p.role.as_str().to_owned(),
        csrf: match p.credential {
            Credential::Session { csrf } => Some(csrf),
            Credential::Token { .. } => None,
        },
        user: p.user.into(),
    }
}

/// Signs in: a new session cookie (`kyso_session`, HttpOnly, SameSite=Strict) and its CSRF token.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = SignIn,
    responses((status = 200, body = Me), (status = 401, body = ApiError), (status = 429, body = ApiError)))]
pub async fn sign_in(
    AxumState(state): AxumState<State>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    b: Result<Json<SignIn>, JsonRejection>,
) -> ApiResult<Response> {
    let b = body(b)?;
    let address = peer.ip().to_string();
    let started = state
        .blocking(move |app, _| users::sign_in(app, &b.username, &b.password, &address))
        .await?;
    let cookie = auth::session_cookie(&started.token, auth::secure_cookies(&state));
    let body = Me {
        role: started.user.role.as_str().to_owned(),
        csrf: Some(started.csrf),
        user: started.user.into(),
    };
    let mut res = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// Signs out: ends the session.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204), (status = 401, body = ApiError)))]
pub async fn sign_out(
    AxumState(state): AxumState<State>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = auth::cookie(&headers, SESSION_COOKIE) {
        let token = token.to_owned();
        state
            .blocking(move |app, _| users::sign_out(app, &token))
            .await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::cleared_cookie(auth::secure_cookies(&state))) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ApiError)))]
pub async fn get_me(Extension(p): Extension<Principal>) -> Json<Me> {
    Json(me(p))
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current: String,
    /// The new password (at least 12 characters).
    pub new: String,
}

/// Changes the caller's own password; every session of theirs ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "session", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ApiError), (status = 422, body = ApiError)))]
pub async fn change_password(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    b: Result<Json<PasswordChange>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let b = body(b)?;
    state
        .blocking(move |app, _| {
            users::change_password(app, &p.actor(), &p.user.username, Some(&b.current), &b.new)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Documents

/// A request to issue a document.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The certification kind (see the template catalog), e.g. `signature`.
    pub kind: String,
    /// The form's data, as the kind's schema describes it.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A register entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    /// The public id (the QR code's URL ends with it).
    pub id: String,
    /// The kind.
    pub kind: String,
    /// The template version.
    pub template_version: String,
    /// The register's year.
    pub year: i32,
    /// The register's type code.
    pub type_code: String,
    /// The volume.
    pub volume: u32,
    /// The number in the register.
    pub number: u32,
    /// `pending`, `issued`, `void` or `cancelled`.
    pub status: String,
    /// The day of issue (`YYYY-MM-DD`).
    pub issued_on: String,
    /// SHA-256 of the issued PDF.
    pub pdf_sha256: Option<String>,
    /// Why a void document was never issued.
    pub void_reason: Option<String>,
    /// The cancellation decision.
    pub cancel_decision: Option<String>,
    /// The public verification URL.
    pub verify_url: String,
    /// The data it was issued from.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

fn document_view(state: &State, d: DocumentRecord) -> DocumentView {
    DocumentView {
        verify_url: format!(
            "{}/v/{}",
            state.app.settings().base_url.trim_end_matches('/'),
            d.id
        ),
        data: serde_json::from_str(&d.data).unwrap_or(serde_json::Value::Null),
        id: d.id,
        kind: d.kind,
        template_version: d.template_version,
        year: d.register.year,
        type_code: d.register.type_code,
        volume: d.volume,
        number: d.number,
        status: d.status.to_string(),
        issued_on: d.issued_on,
        pdf_sha256: d.pdf_sha256,
        void_reason: d.void_reason,
        cancel_decision: d.cancel_decision,
    }
}

/// A newly issued document.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedView {
    /// The public id.
    pub id: String,
    /// The kind.
    pub kind: String,
    /// The number as printed on the document.
    pub number_text: String,
    /// The number in the register.
    pub number: u32,
    /// The public verification URL (the QR code's target).
    pub verify_url: String,
    /// SHA-256 of the issued PDF.
    pub sha256: String,
    /// Where to download it.
    pub pdf: String,
}

/// Issues a document: numbers it in its register, renders it and records it; the PDF is then
/// at `pdf`, and the document waits in the signers' queue.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", request_body = IssueRequest,
    responses((status = 201, body = IssuedView), (status = 422, body = ApiError), (status = 403, body = ApiError)))]
pub async fn issue(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    b: Result<Json<IssueRequest>, JsonRejection>,
) -> ApiResult<Response> {
    let b = body(b)?;
    let actor = p.actor();
    let (issued, number_text) = state
        .blocking(move |app, _| {
            let issued = app::issue::issue(app, &actor, &b.kind, &b.data)?;
            let catalog = app.catalog()?;
            let text = issued.number_text(&catalog);
            Ok((issued, text))
        })
        .await?;
    state.metrics.issued();
    let view = IssuedView {
        pdf: format!("/api/v1/documents/{}/pdf", issued.id),
        sha256: app::sha256_hex(&issued.pdf),
        id: issued.id,
        kind: issued.kind,
        number_text,
        number: issued.number,
        verify_url: issued.verify_url,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// What to search for.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The kind.
    pub kind: Option<String>,
    /// The number in the register.
    pub number: Option<u32>,
    /// The register's year.
    pub year: Option<i32>,
    /// Issued on or after (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Issued on or before (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// `pending`, `issued`, `void` or `cancelled`.
    pub status: Option<String>,
    /// Part of a name in the document.
    pub name: Option<String>,
    /// A citizen ID in the document.
    pub citizen_id: Option<String>,
    /// At most this many (1–500, default 50).
    pub limit: Option<u32>,
}

fn bad_query(vi: &str, en: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad-query", vi, en)
}

fn date_param(v: Option<String>, name: &str) -> ApiResult<Option<String>> {
    match v {
        None => Ok(None),
        Some(d) => {
            time::Date::parse(
                &d,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| {
                bad_query(
                    &format!("{name} phải có dạng YYYY-MM-DD"),
                    &format!("{name} must be YYYY-MM-DD"),
                )
            })?;
            Ok(Some(d))
        }
    }
}

/// Searches the register by number, name, citizen ID, kind and date of issue; newest first.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", params(SearchQuery),
    responses((status = 200, body = Vec<DocumentView>), (status = 400, body = ApiError)))]
pub async fn search(
    AxumState(state): AxumState<State>,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<DocumentView>>> {
    let Query(q) = q.map_err(|e| bad_query("tham số tìm kiếm không hợp lệ", &e.body_text()))?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            bad_query(
                "status: pending, issued, void hoặc cancelled",
                "status: pending, issued, void or cancelled",
            )
        })?),
    };
    let search = Search {
        kind: q.kind,
        number: q.number,
        year: q.year,
        from: date_param(q.from, "from")?,
        to: date_param(q.to, "to")?,
        status,
        name: q.name.filter(|s| !s.trim().is_empty()),
        citizen_id: q.citizen_id.filter(|s| !s.trim().is_empty()),
        limit: q.limit.unwrap_or(50),
    };
    let found = state
        .blocking(move |app, _| app::issue::search(app, &search))
        .await?;
    Ok(Json(
        found
            .into_iter()
            .map(|d| document_view(&state, d))
            .collect(),
    ))
}

/// A document with the versions of it that left kyso.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentDetail {
    /// The register entry.
    pub document: DocumentView,
    /// Issued and signed versions, oldest first.
    pub versions: Vec<VersionView>,
}

/// One version of a document.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// SHA-256 of the file.
    pub sha256: String,
    /// `issued` or `signed`.
    pub stage: String,
    /// Size in bytes.
    pub size: i64,
    /// The signature field signed.
    pub field: Option<String>,
    /// Who signed (official id).
    pub signer: Option<String>,
    /// The capacity line.
    pub capacity: Option<String>,
    /// When.
    pub created_at: String,
}

impl From<Version> for VersionView {
    fn from(v: Version) -> Self {
        VersionView {
            sha256: v.sha256,
            stage: v.stage,
            size: v.size,
            field: v.field,
            signer: v.signer,
            capacity: v.capacity,
            created_at: v.created_at,
        }
    }
}

/// One document: its register entry and versions.
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "The document's public id")),
    responses((status = 200, body = DocumentDetail), (status = 404, body = ApiError)))]
pub async fn get_document(
    AxumState(state): AxumState<State>,
    Path(id): Path<String>,
) -> ApiResult<Json<DocumentDetail>> {
    let (d, versions) = state
        .blocking(move |app, _| app::issue::document_with_versions(app, &id))
        .await?;
    Ok(Json(DocumentDetail {
        document: document_view(&state, d),
        versions: versions.into_iter().map(Into::into).collect(),
    }))
}

fn pdf_response(bytes: Vec<u8>, name: &str, sha256: &str) -> Response {
    let mut res = (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(sha256) {
        res.headers_mut().insert("x-kyso-sha256", v);
    }
    res
}

/// The latest version of a document: the issued PDF until it is signed, then the last signed one.
#[utoipa::path(get, path = "/api/v1/documents/{id}/pdf", tag = "documents",
    params(("id" = String, Path, description = "The document's public id")),
    responses((status = 200, description = "The PDF", content_type = "application/pdf"), (status = 404, body = ApiError)))]
pub async fn document_pdf(
    AxumState(state): AxumState<State>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (d, v, bytes) = state
        .blocking(move |app, _| app::issue::current_version(app, &id))
        .await?;
    Ok(pdf_response(bytes, &d.id, &v.sha256))
}

/// Reprints a document: the issued PDF, byte for byte as it was issued.
#[utoipa::path(post, path = "/api/v1/documents/{id}/reprint", tag = "documents",
    params(("id" = String, Path, description = "The document's public id")),
    responses((status = 200, description = "The issued PDF", content_type = "application/pdf"), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn reprint(
    AxumState(state): AxumState<State>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (d, bytes) = state
        .blocking(move |app, _| app::issue::reprint(app, &id))
        .await?;
    let sha = d.pdf_sha256.clone().unwrap_or_default();
    Ok(pdf_response(bytes, &d.id, &sha))
}

/// A cancellation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The decision that cancels it (number and date).
    pub decision: String,
    /// Why.
    pub reason: String,
}

/// Cancels an issued document by a decision; the public page shows it cancelled.
#[utoipa::path(post, path = "/api/v1/documents/{id}/cancel", tag = "documents", request_body = CancelRequest,
    params(("id" = String, Path, description = "The document's public id")),
    responses((status = 200, body = DocumentView), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn cancel(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    b: Result<Json<CancelRequest>, JsonRejection>,
) -> ApiResult<Json<DocumentView>> {
    let b = body(b)?;
    let actor = p.actor();
    let d = state
        .blocking(move |app, _| {
            app::issue::cancel(app, &actor, &id, &b.decision, &b.reason)?;
            app::issue::document(app, &id)
        })
        .await?;
    Ok(Json(document_view(&state, d)))
}

// ---------------------------------------------------------------------------------------------
// Signing

fn count_refusal(state: &State, e: &ApiError) {
    if matches!(e.status, 403 | 409 | 410 | 422) {
        state.metrics.refused();
    }
}

fn signer_official(p: &Principal) -> ApiResult<String> {
    p.user.official_id.clone().ok_or_else(auth::wrong_role)
}

/// Options of a signature made by the service.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// The signature field, when the official may sign several.
    pub field: Option<String>,
    /// The reason written into the signature.
    pub reason: Option<String>,
    /// The location written into the signature.
    pub location: Option<String>,
    /// RSA keys: sign with PKCS#1 v1.5 instead of RSASSA-PSS (older tokens).
    #[serde(default)]
    pub pkcs1: bool,
    /// For prepare: the SHA-256 fingerprint (hex) of the registered certificate to sign with.
    pub certificate: Option<String>,
    /// Sign under this delegation (its id), when the official has several capacities for the
    /// document; by default their own right, or their only delegation in force.
    pub delegation: Option<i64>,
}

impl SignBody {
    fn options(&self) -> DocumentSign {
        DocumentSign {
            field: self.field.clone(),
            reason: self.reason.clone(),
            location: self.location.clone(),
            pkcs1: self.pkcs1,
            delegation: self.delegation,
            form: None,
        }
    }
}

/// A signature made and recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedView {
    /// The document.
    pub document: Option<String>,
    /// SHA-256 of the signed file (now the document's latest version).
    pub sha256: String,
    /// The kind.
    pub kind: String,
    /// The capacity line written into the signature.
    pub capacity: Option<String>,
    /// The signer certificate's revocation status at signing: `good`, `stale` or `unknown`.
    pub revocation: String,
    /// The archive key the signed file goes to.
    pub archive_key: String,
    /// Where to download the signed file.
    pub pdf: Option<String>,
}

fn signed_view(s: Signed) -> SignedView {
    SignedView {
        pdf: s
            .document
            .as_ref()
            .map(|d| format!("/api/v1/documents/{d}/pdf")),
        document: s.document,
        sha256: s.sha256,
        kind: s.kind,
        capacity: s.capacity,
        revocation: s.revocation.to_owned(),
        archive_key: s.archive_key,
    }
}

/// Signs the document's latest version as the caller's official, with their registered key,
/// if the register allows it (own right or a delegation in force); refusals are audited.
#[utoipa::path(post, path = "/api/v1/documents/{id}/sign", tag = "signing", request_body = SignBody,
    params(("id" = String, Path, description = "The document's public id")),
    responses((status = 200, body = SignedView), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn sign(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    b: Result<Json<SignBody>, JsonRejection>,
) -> ApiResult<Json<SignedView>> {
    let b = body(b)?;
    let official = signer_official(&p)?;
    let actor = official.clone();
    let signed = state
        .blocking(move |app, _| signing::sign_document(app, &official, &actor, &id, &b.options()))
        .await
        .inspect_err(|e| count_refusal(&state, e))?;
    state.metrics.signed();
    Ok(Json(signed_view(signed)))
}

/// A prepared signature: what the device must sign.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreparedView {
    /// The handle to complete it with.
    pub handle: String,
    /// The digest to sign, hex.
    pub digest_hex: String,
    /// The same, base64.
    pub digest_base64: String,
    /// The digest algorithm: `sha256`.
    pub digest_algorithm: String,
    /// The signature scheme the raw value must follow: `rsa-pss-sha256` (salt length 32,
    /// MGF1-SHA256), `rsa-pkcs1-sha256` or `ecdsa-p256-sha256` (DER).
    pub algorithm: String,
    /// When the handle expires (RFC 3339).
    pub expires_at: String,
}

/// Prepares a signature of the document's latest version for a key kyso never holds: returns
/// the digest to sign, e.g. with `openssl pkeyutl -sign -pkeyopt digest:sha256`.
#[utoipa::path(post, path = "/api/v1/documents/{id}/prepare", tag = "signing", request_body = SignBody,
    params(("id" = String, Path, description = "The document's public id")),
    responses((status = 200, body = PreparedView), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn prepare(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    b: Result<Json<SignBody>, JsonRejection>,
) -> ApiResult<Json<PreparedView>> {
    let b = body(b)?;
    let official = signer_official(&p)?;
    let actor = official.clone();
    let prepared = state
        .blocking(move |app, _| {
            signing::prepare_document(
                app,
                &official,
                &actor,
                &id,
                b.certificate.as_deref(),
                &b.options(),
            )
        })
        .await
        .inspect_err(|e| count_refusal(&state, e))?;
    Ok(Json(PreparedView {
        handle: prepared.handle,
        digest_hex: crate::pki::hex_upper(&prepared.digest).to_ascii_lowercase(),
        digest_base64: <base64ct::Base64 as base64ct::Encoding>::encode_string(&prepared.digest),
        digest_algorithm: "sha256".into(),
        algorithm: prepared.algorithm.name().into(),
        expires_at: rfc3339(prepared.expires_at),
    }))
}

/// A raw signature value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// The raw signature over the prepared digest, base64 (RSA: the modulus-sized value;
    /// ECDSA: DER), as `openssl pkeyutl -sign -pkeyopt digest:sha256` writes it.
    pub signature: String,
}

/// Completes a prepared signature; only the official it was prepared for may, and only once
/// (a replay is a 409).
#[utoipa::path(post, path = "/api/v1/signatures/{handle}/complete", tag = "signing", request_body = CompleteBody,
    params(("handle" = String, Path, description = "The handle prepare returned")),
    responses((status = 200, body = SignedView), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 410, body = ApiError), (status = 422, body = ApiError)))]
pub async fn complete(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(handle): Path<String>,
    b: Result<Json<CompleteBody>, JsonRejection>,
) -> ApiResult<Json<SignedView>> {
    let b = body(b)?;
    let raw: Vec<u8> = <base64ct::Base64 as base64ct::Encoding>::decode_vec(b.signature.trim())
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                "chữ ký không phải base64",
                "the signature is not base64",
            )
        })?;
    let official = signer_official(&p)?;
    let signed = state
        .blocking(move |app, _| signing::complete_for(app, &official, &handle, &raw))
        .await
        .inspect_err(|e| count_refusal(&state, e))?;
    state.metrics.signed();
    Ok(Json(signed_view(signed)))
}

// ---------------------------------------------------------------------------------------------
// Officials, certificates, delegations

/// An official as the register holds them.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfficialView {
    /// Short handle, e.g. `chu-tich`.
    pub id: String,
    /// Full name.
    pub full_name: String,
    /// Title, e.g. "Phó Chủ tịch".
    pub title: String,
    /// Agency.
    pub agency: String,
    /// Citizen ID (absent for the agency seal).
    pub citizen_id: Option<String>,
    /// `head`, `deputy-head`, `unit-head`, `unit-deputy`, `staff` or `seal`.
    pub position: String,
    /// The unit.
    pub unit: String,
}

impl From<Official> for OfficialView {
    fn from(o: Official) -> Self {
        OfficialView {
            id: o.id,
            full_name: o.full_name,
            title: o.title,
            agency: o.agency,
            citizen_id: o.citizen_id,
            position: o.position.to_string(),
            unit: o.unit,
        }
    }
}

/// Every official.
#[utoipa::path(get, path = "/api/v1/officials", tag = "register",
    responses((status = 200, body = Vec<OfficialView>)))]
pub async fn officials(AxumState(state): AxumState<State>) -> ApiResult<Json<Vec<OfficialView>>> {
    let v = state.blocking(|app, _| admin::officials(app)).await?;
    Ok(Json(v.into_iter().map(Into::into).collect()))
}

/// A new official.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOfficialBody {
    /// Short handle: lower-case letters, digits and hyphens.
    pub id: String,
    /// Full name.
    pub full_name: String,
    /// Title.
    pub title: String,
    /// Citizen ID (12 digits); absent for the agency seal.
    pub citizen_id: Option<String>,
    /// `head`, `deputy-head`, `unit-head`, `unit-deputy`, `staff` or `seal`.
    pub position: String,
    /// The unit (empty for the committee's leadership).
    #[serde(default)]
    pub unit: String,
}

/// Registers an official of this commune.
#[utoipa::path(post, path = "/api/v1/officials", tag = "register", request_body = NewOfficialBody,
    responses((status = 201, body = OfficialView), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn add_official(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    b: Result<Json<NewOfficialBody>, JsonRejection>,
) -> ApiResult<Response> {
    let b = body(b)?;
    let position = Position::parse(&b.position).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "position: head, deputy-head, unit-head, unit-deputy, staff hoặc seal",
            "position: head, deputy-head, unit-head, unit-deputy, staff or seal",
        )
    })?;
    let actor = p.actor();
    let o = state
        .blocking(move |app, _| {
            let agency = app.settings().authority.full_name.clone();
            admin::add_official(
                app,
                &actor,
                NewOfficial {
                    id: b.id,
                    full_name: b.full_name,
                    title: b.title,
                    agency,
                    citizen_id: b.citizen_id,
                    position,
                    unit: b.unit,
                },
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(OfficialView::from(o))).into_response())
}

/// A registered certificate.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    /// Subject.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    /// Not before (RFC 3339).
    pub not_before: String,
    /// Not after (RFC 3339).
    pub not_after: String,
    /// Where the key is: `file:PATH`, `pkcs11:URI` or `external`.
    pub key_location: String,
}

fn certificate_view(c: &crate::pki::Certificate, key_location: String) -> CertificateView {
    let (from, until) = c.validity();
    CertificateView {
        subject: c.subject(),
        issuer: c.issuer(),
        serial: c.serial_hex(),
        fingerprint: crate::pki::hex_upper(&c.fingerprint_sha256()).to_ascii_lowercase(),
        not_before: rfc3339(from),
        not_after: rfc3339(until),
        key_location,
    }
}

/// An official with their certificates.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfficialDetail {
    /// The official.
    pub official: OfficialView,
    /// Their certificates, newest first.
    pub certificates: Vec<CertificateView>,
}

/// One official with their certificates.
#[utoipa::path(get, path = "/api/v1/officials/{id}", tag = "register",
    params(("id" = String, Path, description = "The official's handle")),
    responses((status = 200, body = OfficialDetail), (status = 404, body = ApiError)))]
pub async fn official(
    AxumState(state): AxumState<State>,
    Path(id): Path<String>,
) -> ApiResult<Json<OfficialDetail>> {
    let (o, keys) = state
        .blocking(move |app, _| admin::official(app, &id))
        .await?;
    Ok(Json(OfficialDetail {
        official: o.into(),
        certificates: keys
            .into_iter()
            .map(|(c, loc)| certificate_view(&c, loc))
            .collect(),
    }))
}

/// A certificate to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCertificateBody {
    /// The certificate, PEM.
    pub pem: String,
    /// Where its key is: `file:PATH` (on the server), `pkcs11:URI` or `external` (a token the
    /// official holds: deferred signing).
    pub key_location: String,
}

/// Registers a certificate to an official (refused: someone else's, a CA, wrong key usage, a
/// name that is not the official's).
#[utoipa::path(post, path = "/api/v1/officials/{id}/certificates", tag = "register", request_body = NewCertificateBody,
    params(("id" = String, Path, description = "The official's handle")),
    responses((status = 201, body = CertificateView), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn add_certificate(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    b: Result<Json<NewCertificateBody>, JsonRejection>,
) -> ApiResult<Response> {
    let b = body(b)?;
    let actor = p.actor();
    let view = state
        .blocking(move |app, _| {
            let mut certs = crate::pki::parse_certificates(b.pem.as_bytes())?;
            if certs.len() != 1 {
                return Err(crate::app::error::Denial::input(
                    "cần đúng một chứng thư số PEM",
                    "exactly one PEM certificate is expected",
                )
                .into());
            }
            let cert = certs.remove(0);
            admin::add_certificate(app, &actor, &id, &cert, &b.key_location)?;
            Ok(certificate_view(&cert, b.key_location))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A delegation.
#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationView {
    /// Id.
    pub id: i64,
    /// `TM`, `KT`, `TL`, `TUQ` or `Q`.
    pub mark: String,
    /// Who delegates.
    pub delegator: String,
    /// To whom.
    pub delegate: String,
    /// Kinds covered.
    pub kinds: Vec<String>,
    /// From (RFC 3339).
    pub valid_from: String,
    /// Until (RFC 3339).
    pub valid_until: String,
    /// The decision number.
    pub basis_number: String,
    /// The decision date.
    pub basis_date: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// Why.
    pub revoked_reason: Option<String>,
    /// The grant it derives from.
    pub source: Option<i64>,
    /// Whether it is in force now.
    pub in_force: bool,
    /// The capacity line it gives.
    pub capacity: String,
}

fn delegation_view(d: Delegation, now: OffsetDateTime) -> DelegationView {
    let (a, b) = d.capacity_lines();
    let in_force = d.valid_from <= now
        && now <= d.valid_until
        && d.revoked.as_ref().is_none_or(|(at, _)| *at > now);
    DelegationView {
        id: d.id,
        mark: d.mark.code().to_owned(),
        delegator: d.delegator.id,
        delegate: d.delegate.id,
        kinds: d.scope,
        valid_from: rfc3339(d.valid_from),
        valid_until: rfc3339(d.valid_until),
        basis_number: d.basis_number,
        basis_date: d.basis_date,
        revoked_at: d.revoked.as_ref().map(|(at, _)| rfc3339(*at)),
        revoked_reason: d.revoked.map(|(_, r)| r),
        source: d.source.map(|s| s.id),
        in_force,
        capacity: format!("{a} / {b}"),
    }
}

/// Delegations: all for the admin, an official's own (given or received) for an official.
#[utoipa::path(get, path = "/api/v1/delegations", tag = "register",
    responses((status = 200, body = Vec<DelegationView>)))]
pub async fn delegations(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<DelegationView>>> {
    let own = (p.role != Role::Admin).then(|| p.user.official_id.clone().unwrap_or_default());
    let (v, now) = state
        .blocking(move |app, _| Ok((admin::delegations(app, own.as_deref())?, app.now())))
        .await?;
    Ok(Json(
        v.into_iter().map(|d| delegation_view(d, now)).collect(),
    ))
}

/// A grant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// `TM`, `KT`, `TL`, `TUQ` or `Q`.
    pub mark: String,
    /// The official who receives it.
    pub delegate: String,
    /// Kinds covered.
    pub kinds: Vec<String>,
    /// From (RFC 3339).
    pub valid_from: String,
    /// Until (RFC 3339).
    pub valid_until: String,
    /// The decision number.
    pub basis_number: String,
    /// The decision date (`YYYY-MM-DD`).
    pub basis_date: String,
    /// The grant this one derives from (a TL. holder passing it to their deputy).
    pub source: Option<i64>,
}

fn time_field(s: &str, name: &str) -> ApiResult<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            format!("{name} phải là thời điểm RFC 3339"),
            format!("{name} must be an RFC 3339 time"),
        )
    })
}

/// Grants a delegation from the caller's official, signed with their registered key; the
/// rules of Decree 30/2020 Art. 13 decide who may grant what.
#[utoipa::path(post, path = "/api/v1/delegations", tag = "register", request_body = GrantBody,
    responses((status = 201, body = DelegationView), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub async fn grant(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    b: Result<Json<GrantBody>, JsonRejection>,
) -> ApiResult<Response> {
    let b = body(b)?;
    let delegator = signer_official(&p)?;
    let mark = Mark::parse(&b.mark).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "mark: TM, KT, TL, TUQ hoặc Q",
            "mark: TM, KT, TL, TUQ or Q",
        )
    })?;
    let d = NewDelegation {
        mark,
        delegator,
        delegate: b.delegate,
        kinds: b.kinds,
        valid_from: time_field(&b.valid_from, "valid_from")?,
        valid_until: time_field(&b.valid_until, "valid_until")?,
        basis_number: b.basis_number,
        basis_date: b.basis_date,
        source: b.source,
    };
    let (g, now) = state
        .blocking(move |app, _| Ok((admin::grant_with_registered_key(app, d, true)?, app.now())))
        .await?;
    Ok((StatusCode::CREATED, Json(delegation_view(g, now))).into_response())
}

/// A revocation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Why.
    pub reason: String,
}

/// Revokes a delegation (the admin, or the official who granted it).
#[utoipa::path(post, path = "/api/v1/delegations/{id}/revoke", tag = "register", request_body = RevokeBody,
    params(("id" = i64, Path, description = "The delegation's id")),
    responses((status = 200, body = DelegationView), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn revoke(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    b: Result<Json<RevokeBody>, JsonRejection>,
) -> ApiResult<Json<DelegationView>> {
    let id = numeric_id(&id)?;
    let b = body(b)?;
    let actor = p.actor();
    let own = (p.role != Role::Admin).then(|| p.user.official_id.clone().unwrap_or_default());
    let (d, now) = state
        .blocking(move |app, _| {
            admin::revoke_delegation_by(app, &actor, own.as_deref(), id, &b.reason)?;
            let d = admin::delegations(app, None)?
                .into_iter()
                .find(|d| d.id == id)
                .ok_or_else(|| AppError::NotFound(format!("delegation {id}")))?;
            Ok((d, app.now()))
        })
        .await?;
    Ok(Json(delegation_view(d, now)))
}

// ---------------------------------------------------------------------------------------------
// Users and tokens

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// Sign-in name: 3–64 of a-z, 0-9, `.`, `_`, `-`.
    pub username: String,
    /// Name shown on pages.
    pub display_name: String,
    /// `clerk`, `official`, `seal` or `admin`.
    pub role: String,
    /// For `official` and `seal`: the official they act as.
    pub official_id: Option<String>,
    /// The initial password (at least 12 characters).
    pub password: String,
}

/// Every user.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserView>)))]
pub async fn list_users(AxumState(state): AxumState<State>) -> ApiResult<Json<Vec<UserView>>> {
    let v = state.blocking(|app, _| users::list_users(app)).await?;
    Ok(Json(v.into_iter().map(Into::into).collect()))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserBody,
    responses((status = 201, body = UserView), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create_user(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    b: Result<Json<NewUserBody>, JsonRejection>,
) -> ApiResult<Response> {
    let b = body(b)?;
    let role = Role::parse(&b.role).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "role: clerk, official, seal hoặc admin",
            "role: clerk, official, seal or admin",
        )
    })?;
    let actor = p.actor();
    let u = state
        .blocking(move |app, _| {
            users::create_user(
                app,
                &actor,
                NewUser {
                    username: b.username,
                    display_name: b.display_name,
                    role,
                    official_id: b.official_id,
                    password: b.password,
                },
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(u))).into_response())
}

/// Disables a user: their sessions end and their tokens are revoked.
#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, body = UserView), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn disable_user(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(username): Path<String>,
) -> ApiResult<Json<UserView>> {
    if username == p.user.username {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "không tự khóa tài khoản của mình được",
            "you cannot disable your own account",
        ));
    }
    let actor = p.actor();
    let u = state
        .blocking(move |app, _| users::set_disabled(app, &actor, &username, true))
        .await?;
    Ok(Json(u.into()))
}

/// Enables a disabled user.
#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "users",
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, body = UserView), (status = 404, body = ApiError)))]
pub async fn enable_user(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(username): Path<String>,
) -> ApiResult<Json<UserView>> {
    let actor = p.actor();
    let u = state
        .blocking(move |app, _| users::set_disabled(app, &actor, &username, false))
        .await?;
    Ok(Json(u.into()))
}

/// An API token (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: i64,
    /// The user it acts for.
    pub user_id: i64,
    /// The role it acts with.
    pub role: String,
    /// What it is for.
    pub label: String,
    /// When made.
    pub created_at: String,
    /// When revoked.
    pub revoked_at: Option<String>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        TokenView {
            id: t.id,
            user_id: t.user_id,
            role: t.role.as_str().to_owned(),
            label: t.label,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A token request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// The user the token acts for (with that user's role).
    pub username: String,
    /// What it is for.
    pub label: String,
}

/// A new token with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenView {
    /// The token.
    pub token: TokenView,
    /// The secret: send it as `Authorization: Bearer SECRET`. It is not stored and cannot be
    /// shown again.
    pub secret: String,
}

/// Every API token.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "users",
    responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(AxumState(state): AxumState<State>) -> ApiResult<Json<Vec<TokenView>>> {
    let v = state.blocking(|app, _| users::list_tokens(app)).await?;
    Ok(Json(v.into_iter().map(Into::into).collect()))
}

/// Makes an API token for a user.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "users", request_body = NewTokenBody,
    responses((status = 201, body = NewTokenView), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create_token(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    b: Result<Json<NewTokenBody>, JsonRejection>,
) -> ApiResult<Response> {
    let b = body(b)?;
    let actor = p.actor();
    let (t, secret) = state
        .blocking(move |app, _| users::create_token(app, &actor, &b.username, &b.label))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewTokenView {
            token: t.into(),
            secret,
        }),
    )
        .into_response())
}

/// Revokes an API token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "users",
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 204), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn revoke_token(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = numeric_id(&id)?;
    if p.credential == (Credential::Token { id }) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "một mã truy cập không tự thu hồi được; hãy đăng nhập hoặc dùng mã khác",
            "a token cannot revoke itself; sign in or use another token",
        ));
    }
    let actor = p.actor();
    state
        .blocking(move |app, _| users::revoke_token(app, &actor, id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Audit and archive

/// An audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    /// Sequence number.
    pub seq: i64,
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub subject: String,
    /// Details.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// This entry's hash (chained to the previous one).
    pub hash: String,
}

/// How many entries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The newest this many entries (1–1000, default 100).
    pub limit: Option<i64>,
    /// Only entries of this action (e.g. `sign`, `refuse`).
    pub action: Option<String>,
}

/// The newest audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 400, body = ApiError)))]
pub async fn audit_list(
    AxumState(state): AxumState<State>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<AuditEntryView>>> {
    let Query(q) = q.map_err(|e| bad_query("tham số không hợp lệ", &e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    let entries = state
        .blocking(move |app, _| admin::audit_entries(app, limit))
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .rev()
            .filter(|e| q.action.as_ref().is_none_or(|a| *a == e.action))
            .map(|e| AuditEntryView {
                details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                hash: e.hash,
            })
            .collect(),
    ))
}

/// The audit chain's check.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditCheck {
    /// Whether every hash and link holds.
    pub intact: bool,
    /// Entries read.
    pub entries: i64,
    /// What is wrong, by entry.
    pub problems: Vec<AuditProblemView>,
}

/// One problem of the audit chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditProblemView {
    /// The entry.
    pub seq: i64,
    /// What is wrong.
    pub what: String,
}

/// Re-computes every hash and link of the audit log.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = AuditCheck)))]
pub async fn audit_verify(AxumState(state): AxumState<State>) -> ApiResult<Json<AuditCheck>> {
    let r = state.blocking(|app, _| admin::audit_verify(app)).await?;
    Ok(Json(AuditCheck {
        intact: r.problems.is_empty(),
        entries: r.entries,
        problems: r
            .problems
            .into_iter()
            .map(|p| AuditProblemView {
                seq: p.seq,
                what: p.what,
            })
            .collect(),
    }))
}

/// The archive's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArchiveStatusView {
    /// Waiting for their first attempt, or in flight.
    pub pending: u64,
    /// Last attempt failed; will be retried.
    pub failed: u64,
    /// In the store.
    pub archived: u64,
    /// Bytes waiting.
    pub waiting_bytes: u64,
    /// Since when the oldest waiting document has waited.
    pub oldest_waiting_since: Option<String>,
    /// Current failure reasons and how many documents each holds back.
    pub failures: Vec<FailureView>,
}

/// A failure reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailureView {
    /// The reason.
    pub reason: String,
    /// Documents it holds back.
    pub documents: u64,
}

/// The archive outbox: backlog, oldest waiting, failures.
#[utoipa::path(get, path = "/api/v1/archive/status", tag = "archive",
    responses((status = 200, body = ArchiveStatusView)))]
pub async fn archive_status(
    AxumState(state): AxumState<State>,
) -> ApiResult<Json<ArchiveStatusView>> {
    let s = state.blocking(|app, _| admin::archive_status(app)).await?;
    Ok(Json(ArchiveStatusView {
        pending: s.pending,
        failed: s.failed,
        archived: s.archived,
        waiting_bytes: s.waiting_bytes,
        oldest_waiting_since: s.oldest_waiting.as_ref().map(|w| w.since.clone()),
        failures: s
            .failures
            .into_iter()
            .map(|(reason, documents)| FailureView { reason, documents })
            .collect(),
    }))
}
