//! Who may call what. Every route declares its [`Access`] in one table ([`super::routes`]); the
//! [`authorize`] layer in front of each route resolves the caller (an API token in
//! `Authorization: Bearer`, or the session cookie), checks the role, and for a session checks
//! the CSRF token of every state-changing request before the handler runs. Handlers receive the
//! [`Principal`] as a request extension and never look at credentials themselves.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, State};
use crate::app::users::{self, Credential, Principal, Role};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "kyso_session";
/// The header that carries the CSRF token of a session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that carries it in HTML forms.
pub const CSRF_FIELD: &str = "csrf";
/// The largest URL-encoded form read to find its CSRF field.
const MAX_FORM_BYTES: usize = 1 << 20;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in user (session or token) with one of these roles.
    Roles(&'static [Role]),
    /// The monitoring scrape: a request from loopback, or an admin.
    Metrics,
}

/// Every role.
pub const ANY_ROLE: &[Role] = &Role::ALL;
/// Who may look documents up.
pub const READERS: &[Role] = &[Role::Clerk, Role::Official, Role::Seal, Role::Admin];
/// The desk.
pub const CLERK: &[Role] = &[Role::Clerk];
/// Who signs: officials and the agency seal.
pub const SIGNERS: &[Role] = &[Role::Official, Role::Seal];
/// Officials (people who sign).
pub const OFFICIAL: &[Role] = &[Role::Official];
/// The agency seal's keeper.
pub const SEAL: &[Role] = &[Role::Seal];
/// The administrator.
pub const ADMIN: &[Role] = &[Role::Admin];
/// Who may see delegations and revoke them: the admin and officials (their own).
pub const ADMIN_OR_OFFICIAL: &[Role] = &[Role::Admin, Role::Official];

impl Access {
    /// The roles allowed, for the OpenAPI document (`x-kyso-access`).
    pub fn describe(self) -> serde_json::Value {
        match self {
            Access::Public => serde_json::json!("public"),
            Access::Metrics => serde_json::json!("loopback-or-admin"),
            Access::Roles(r) => serde_json::json!(r.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
        }
    }
}

/// Whether a refused call of `path` concerns signing (and so goes into the audit log).
fn concerns_signing(path: &str) -> bool {
    path.starts_with("/api/v1/signatures/")
        || (path.starts_with("/api/v1/documents/")
            && (path.ends_with("/sign") || path.ends_with("/prepare")))
        || path == "/api/v1/delegations"
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "cần đăng nhập",
        "sign-in required",
    )
}

/// The problem of a signed-in user whose role may not call the route.
pub fn wrong_role() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "wrong-role",
        "vai trò của bạn không được làm việc này",
        "your role may not do this",
    )
}

fn bad_csrf() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "thiếu hoặc sai mã chống giả mạo (CSRF); hãy tải lại trang",
        "missing or wrong CSRF token; reload the page",
    )
}

/// Resolves the caller of `headers`: `Ok(None)` when no credential was sent, an error when one
/// was sent and is not valid (a wrong token is never treated as anonymous).
pub async fn principal(state: &State, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    if let Some(secret) = bearer(headers) {
        let secret = secret.to_owned();
        return match state
            .blocking(move |app, _| users::token_principal(app, &secret))
            .await?
        {
            Some(p) => Ok(Some(p)),
            None => Err(unauthenticated()),
        };
    }
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        let token = token.to_owned();
        return state
            .blocking(move |app, _| users::session(app, &token))
            .await;
    }
    Ok(None)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CSRF token a request carries: the header, or the `csrf` field of a URL-encoded form
/// (the body is read, bounded, and handed on unchanged).
async fn carried_csrf(req: Request) -> Result<(Option<String>, Request), ApiError> {
    if let Some(v) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        let v = v.to_owned();
        return Ok((Some(v), req));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((None, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "biểu mẫu quá lớn",
                "the form is too large",
            )
        })?;
    let found = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    Ok((found, Request::from_parts(parts, Body::from(bytes))))
}

/// The layer in front of a route of access `access`.
pub async fn authorize(
    AxumState((state, access)): AxumState<(State, Access)>,
    req: Request,
    next: Next,
) -> Response {
    // Pages answer people: no session → sign in and come back; a refusal → a page.
    let page = !req.uri().path().starts_with("/api/") && access != Access::Metrics;
    let uri = req.uri().clone();
    match check(&state, access, req).await {
        Ok(req) => next.run(req).await,
        Err(e) if page && e.status == 401 => super::pages::sign_in_redirect(&uri),
        Err(e) if page => {
            let lang = super::pages::Lang::from_query(
                uri.query()
                    .and_then(|q| {
                        url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "lang")
                    })
                    .map(|(_, v)| v.into_owned())
                    .as_deref(),
            );
            super::pages::problem_page(lang, &e, Some("/"))
        }
        Err(e) => e.into_response(),
    }
}

async fn check(state: &State, access: Access, mut req: Request) -> Result<Request, ApiError> {
    let found = principal(state, req.headers()).await;
    match access {
        Access::Public => {
            if let Ok(Some(p)) = found {
                req.extensions_mut().insert(p);
            }
            Ok(req)
        }
        Access::Metrics => {
            let loopback = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_some_and(|c| c.0.ip().is_loopback());
            match found {
                _ if loopback => Ok(req),
                Ok(Some(p)) if p.role == Role::Admin => Ok(req),
                Ok(Some(_)) => Err(wrong_role()),
                Ok(None) => Err(unauthenticated()),
                Err(e) => Err(e),
            }
        }
        Access::Roles(roles) => {
            let p = found?.ok_or_else(unauthenticated)?;
            if !roles.contains(&p.role) {
                if concerns_signing(req.uri().path()) {
                    let (actor, subject) = (p.actor(), req.uri().path().to_owned());
                    state
                        .blocking(move |app, _| {
                            users::audit_refusal(
                                app,
                                &actor,
                                &subject,
                                "wrong role / vai trò không được ký",
                            )
                        })
                        .await?;
                }
                return Err(wrong_role());
            }
            if let Credential::Session { csrf } = &p.credential
                && !is_safe(req.method())
            {
                let (carried, r) = carried_csrf(req).await?;
                req = r;
                if !carried.is_some_and(|c| constant_time_eq(c.as_bytes(), csrf.as_bytes())) {
                    return Err(bad_csrf());
                }
            }
            req.extensions_mut().insert(p);
            Ok(req)
        }
    }
}

/// The `Set-Cookie` value that starts session `token`; `Secure` unless the public base URL is
/// plain `http://` (development on a LAN).
pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends the session.
pub fn cleared_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether cookies carry `Secure`: always, unless the public base URL is plain `http://`
/// (development on a LAN).
pub(super) fn secure_cookies(state: &State) -> bool {
    !state.app.settings().base_url.starts_with("http://")
}
