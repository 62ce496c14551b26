//! The HTTP edge (`kyso serve`): axum routes that translate requests into the use cases of
//! [`crate::app`] and their results into pages, JSON and RFC 9457 problem responses. No workflow
//! lives here.
//!
//! Built the way a test drives it: [`Server::bind`] takes the address (port 0 for tests) and
//! [`Server::run`] serves until the shutdown future completes, then finishes the requests in
//! flight. Use cases touch SQLite and spend CPU on PDFs, so they run on the blocking pool,
//! bounded by a semaphore so that a burst of uploads queues instead of exhausting memory.
//!
//! What this slice serves: the public verification page at the QR code's URL (`/v/{id}`, HTML
//! and `.json`), uploads to verify (`POST /v/{id}`, `POST /verify`, `POST /api/v1/verify`),
//! `/healthz` and `/readyz`. Every response carries the security headers (CSP without inline
//! scripts or styles, no framing, no sniffing, no referrer) and a request id.

// Handlers return `Result<_, ApiError>`: the problem document is built once per failed request
// and turned into a response at once, so its size on the stack costs nothing worth a box.
#![allow(clippy::result_large_err)]

mod api;
pub mod auth;
mod desk;
mod error;
mod metrics;
mod openapi;
mod pages;
mod public;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

pub use auth::Access;
pub use error::ApiError;
pub use openapi::openapi;

use crate::app::App;
use crate::validation::Policy;
use auth::{ADMIN, ADMIN_OR_OFFICIAL, ANY_ROLE, CLERK, OFFICIAL, READERS, SEAL, SIGNERS};

/// What every handler shares.
#[derive(Clone)]
pub struct State {
    app: Arc<App>,
    /// The validation policy of the configuration (trust anchors, CRLs), read once at start.
    policy: Arc<Policy>,
    /// Bounds the blocking work (verification, register reads) running at once.
    work: Arc<Semaphore>,
    /// The counters of `/metrics`.
    metrics: Arc<metrics::Metrics>,
    /// Keys of forms already submitted (a double submit issues or signs once).
    forms: Arc<desk::Remembered>,
}

impl State {
    /// State for `app`, reading the configured trust anchors and CRLs now.
    pub fn new(app: Arc<App>) -> Result<State, crate::app::AppError> {
        let policy = crate::app::verify::policy(&app)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(State {
            app,
            policy: Arc::new(policy),
            work: Arc::new(Semaphore::new(cores * 2)),
            metrics: Arc::new(metrics::Metrics::default()),
            forms: Arc::new(desk::Remembered::default()),
        })
    }

    /// Runs `f` on the blocking pool once a work slot is free.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&App, &Policy) -> Result<T, crate::app::AppError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .work
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable())?;
        let app = self.app.clone();
        let policy = self.policy.clone();
        tokio::task::spawn_blocking(move || f(&app, &policy))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(ApiError::from)
    }
}

/// One route: its method, path (axum syntax), who may call it, and its handler.
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path pattern, e.g. `/api/v1/documents/{id}`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    handler: MethodRouter<State>,
}

fn route(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<State>,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
    }
}

/// Every route with its access rule: the one place that says who may call what. The role
/// matrix test and the OpenAPI document (`x-kyso-access`) both read it.
pub fn routes() -> Vec<Route> {
    use Access::{Metrics, Public, Roles};
    use Method as M;
    vec![
        route(M::GET, "/healthz", Public, get(public::healthz)),
        route(M::GET, "/readyz", Public, get(public::readyz)),
        route(M::GET, "/metrics", Metrics, get(metrics_route)),
        route(M::GET, "/api/openapi.json", Public, get(openapi::serve)),
        route(M::GET, "/static/kyso.css", Public, get(pages::stylesheet)),
        route(M::GET, "/static/kyso.js", Public, get(pages::script)),
        route(M::GET, "/v/{id}", Public, get(public::document_page)),
        route(M::POST, "/v/{id}", Public, post(public::document_upload)),
        route(M::GET, "/verify", Public, get(public::verify_form)),
        // Pages for people: a missing session is sent to sign in, and back.
        route(M::GET, "/", Public, get(desk::root)),
        route(M::GET, "/sign-in", Public, get(desk::sign_in_page)),
        route(M::POST, "/sign-in", Public, post(desk::sign_in)),
        route(
            M::GET,
            "/sign-out",
            Roles(ANY_ROLE),
            get(desk::sign_out_page),
        ),
        route(M::POST, "/sign-out", Roles(ANY_ROLE), post(desk::sign_out)),
        route(
            M::GET,
            "/account/password",
            Roles(ANY_ROLE),
            get(desk::password_page),
        ),
        route(
            M::POST,
            "/account/password",
            Roles(ANY_ROLE),
            post(desk::change_password),
        ),
        route(M::GET, "/clerk", Roles(CLERK), get(desk::clerk_home)),
        route(
            M::GET,
            "/clerk/search",
            Roles(CLERK),
            get(desk::clerk_search),
        ),
        route(
            M::GET,
            "/clerk/issue/{kind}",
            Roles(CLERK),
            get(desk::issue_page),
        ),
        route(
            M::POST,
            "/clerk/issue/{kind}",
            Roles(CLERK),
            post(desk::issue),
        ),
        route(
            M::GET,
            "/clerk/documents/{id}",
            Roles(CLERK),
            get(desk::clerk_document),
        ),
        route(
            M::POST,
            "/clerk/preview/{kind}",
            Roles(CLERK),
            post(desk::preview_pdf),
        ),
        route(
            M::GET,
            "/clerk/documents/{id}/reprint",
            Roles(CLERK),
            get(desk::reprint_page),
        ),
        route(
            M::GET,
            "/clerk/documents/{id}/versions/{sha256}",
            Roles(CLERK),
            get(desk::version_pdf),
        ),
        route(M::GET, "/official", Roles(OFFICIAL), get(desk::queue_page)),
        route(M::POST, "/official", Roles(OFFICIAL), post(desk::sign)),
        route(
            M::POST,
            "/official/prepare",
            Roles(OFFICIAL),
            post(desk::prepare),
        ),
        route(
            M::POST,
            "/official/complete",
            Roles(OFFICIAL),
            post(desk::complete),
        ),
        route(
            M::GET,
            "/official/delegations",
            Roles(OFFICIAL),
            get(desk::official_delegations_page),
        ),
        route(
            M::POST,
            "/official/delegations",
            Roles(OFFICIAL),
            post(desk::grant),
        ),
        route(
            M::POST,
            "/official/delegations/revoke",
            Roles(OFFICIAL),
            post(desk::official_revoke),
        ),
        route(M::GET, "/seal", Roles(SEAL), get(desk::queue_page)),
        route(M::POST, "/seal", Roles(SEAL), post(desk::sign)),
        route(
            M::POST,
            "/clerk/documents/{id}",
            Roles(CLERK),
            post(desk::cancel),
        ),
        route(M::GET, "/admin", Roles(ADMIN), get(desk::admin_home)),
        route(M::GET, "/admin/users", Roles(ADMIN), get(desk::users_page)),
        route(M::POST, "/admin/users", Roles(ADMIN), post(desk::add_user)),
        route(
            M::POST,
            "/admin/users/state",
            Roles(ADMIN),
            post(desk::user_state),
        ),
        route(
            M::POST,
            "/admin/tokens",
            Roles(ADMIN),
            post(desk::add_token),
        ),
        route(
            M::POST,
            "/admin/tokens/revoke",
            Roles(ADMIN),
            post(desk::revoke_token),
        ),
        route(
            M::GET,
            "/admin/officials",
            Roles(ADMIN),
            get(desk::officials_page),
        ),
        route(
            M::POST,
            "/admin/officials/certificates",
            Roles(ADMIN),
            post(desk::add_certificate),
        ),
        route(M::GET, "/admin/audit", Roles(ADMIN), get(desk::audit_page)),
        route(
            M::GET,
            "/admin/delegations",
            Roles(ADMIN),
            get(desk::delegations_page),
        ),
        route(
            M::POST,
            "/admin/delegations",
            Roles(ADMIN),
            post(desk::revoke_delegation),
        ),
        route(M::POST, "/verify", Public, post(public::verify_upload_form)),
        route(
            M::POST,
            "/api/v1/verify",
            Public,
            post(public::verify_upload_api),
        ),
        route(M::POST, "/api/v1/session", Public, post(api::sign_in)),
        route(
            M::DELETE,
            "/api/v1/session",
            Roles(ANY_ROLE),
            delete(api::sign_out),
        ),
        route(M::GET, "/api/v1/me", Roles(ANY_ROLE), get(api::get_me)),
        route(
            M::POST,
            "/api/v1/me/password",
            Roles(ANY_ROLE),
            post(api::change_password),
        ),
        route(M::POST, "/api/v1/documents", Roles(CLERK), post(api::issue)),
        route(
            M::GET,
            "/api/v1/documents",
            Roles(READERS),
            get(api::search),
        ),
        route(
            M::GET,
            "/api/v1/documents/{id}",
            Roles(READERS),
            get(api::get_document),
        ),
        route(
            M::GET,
            "/api/v1/documents/{id}/pdf",
            Roles(READERS),
            get(api::document_pdf),
        ),
        route(
            M::POST,
            "/api/v1/documents/{id}/reprint",
            Roles(CLERK),
            post(api::reprint),
        ),
        route(
            M::POST,
            "/api/v1/documents/{id}/cancel",
            Roles(CLERK),
            post(api::cancel),
        ),
        route(
            M::POST,
            "/api/v1/documents/{id}/sign",
            Roles(SIGNERS),
            post(api::sign),
        ),
        route(
            M::POST,
            "/api/v1/documents/{id}/prepare",
            Roles(SIGNERS),
            post(api::prepare),
        ),
        route(
            M::POST,
            "/api/v1/signatures/{handle}/complete",
            Roles(SIGNERS),
            post(api::complete),
        ),
        route(
            M::GET,
            "/api/v1/officials",
            Roles(READERS),
            get(api::officials),
        ),
        route(
            M::POST,
            "/api/v1/officials",
            Roles(ADMIN),
            post(api::add_official),
        ),
        route(
            M::GET,
            "/api/v1/officials/{id}",
            Roles(READERS),
            get(api::official),
        ),
        route(
            M::POST,
            "/api/v1/officials/{id}/certificates",
            Roles(ADMIN),
            post(api::add_certificate),
        ),
        route(
            M::GET,
            "/api/v1/delegations",
            Roles(ADMIN_OR_OFFICIAL),
            get(api::delegations),
        ),
        route(
            M::POST,
            "/api/v1/delegations",
            Roles(OFFICIAL),
            post(api::grant),
        ),
        route(
            M::POST,
            "/api/v1/delegations/{id}/revoke",
            Roles(ADMIN_OR_OFFICIAL),
            post(api::revoke),
        ),
        route(M::GET, "/api/v1/users", Roles(ADMIN), get(api::list_users)),
        route(
            M::POST,
            "/api/v1/users",
            Roles(ADMIN),
            post(api::create_user),
        ),
        route(
            M::POST,
            "/api/v1/users/{username}/disable",
            Roles(ADMIN),
            post(api::disable_user),
        ),
        route(
            M::POST,
            "/api/v1/users/{username}/enable",
            Roles(ADMIN),
            post(api::enable_user),
        ),
        route(
            M::GET,
            "/api/v1/tokens",
            Roles(ADMIN),
            get(api::list_tokens),
        ),
        route(
            M::POST,
            "/api/v1/tokens",
            Roles(ADMIN),
            post(api::create_token),
        ),
        route(
            M::DELETE,
            "/api/v1/tokens/{id}",
            Roles(ADMIN),
            delete(api::revoke_token),
        ),
        route(M::GET, "/api/v1/audit", Roles(ADMIN), get(api::audit_list)),
        route(
            M::GET,
            "/api/v1/audit/verify",
            Roles(ADMIN),
            get(api::audit_verify),
        ),
        route(
            M::GET,
            "/api/v1/archive/status",
            Roles(ADMIN),
            get(api::archive_status),
        ),
    ]
}

/// The routes, with their layers.
pub fn router(state: State) -> Router {
    let max = usize::try_from(state.app.settings().server.max_upload_bytes).unwrap_or(usize::MAX);
    let mut r = Router::new();
    for rt in routes() {
        let guarded = rt.handler.route_layer(middleware::from_fn_with_state(
            (state.clone(), rt.access),
            auth::authorize,
        ));
        r = r.route(rt.path, guarded);
    }
    r.fallback(public::not_found)
        .layer(DefaultBodyLimit::max(max))
        .layer(middleware::from_fn_with_state(state.clone(), headers))
        .with_state(state)
}

/// `GET /metrics`.
async fn metrics_route(axum::extract::State(state): axum::extract::State<State>) -> Response {
    use axum::response::IntoResponse as _;
    let outbox = state
        .blocking(|app, _| {
            let s = crate::app::admin::archive_status(app)?;
            let oldest = s.oldest_waiting.as_ref().and_then(|w| {
                time::OffsetDateTime::parse(
                    &w.since,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()
                .map(|t| (app.now() - t).as_seconds_f64().max(0.0))
            });
            Ok((s.pending, s.failed, oldest))
        })
        .await
        .ok();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(outbox),
    )
        .into_response()
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// Security headers on every response, a request id on every log line of the request, and the
/// request counted in the metrics by its route pattern.
async fn headers(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path());
    let mut res = next.run(req).instrument(span.clone()).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    span.in_scope(|| tracing::info!(status = res.status().as_u16(), "done"));
    state
        .metrics
        .request(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

/// A bound server, ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) for `app`.
    pub async fn bind(app: Arc<App>, addr: &str) -> Result<Server, ServeError> {
        let state = State::new(app).map_err(ServeError::Setup)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.to_owned(),
                source,
            })?;
        Ok(Server {
            listener,
            router: router(state),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener.local_addr().map_err(ServeError::Io)
    }

    /// Serves until `shutdown` completes, then lets the requests in flight finish.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Io)
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound.
    #[error("không mở được cổng {addr} / cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Setting up (trust anchors, CRLs) failed.
    #[error(transparent)]
    Setup(crate::app::AppError),
    /// The listener failed.
    #[error("server I/O error: {0}")]
    Io(std::io::Error),
}
