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

mod error;
mod pages;
mod public;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

pub use error::ApiError;

use crate::app::App;
use crate::validation::Policy;

/// What every handler shares.
#[derive(Clone)]
pub struct State {
    app: Arc<App>,
    /// The validation policy of the configuration (trust anchors, CRLs), read once at start.
    policy: Arc<Policy>,
    /// Bounds the blocking work (verification, register reads) running at once.
    work: Arc<Semaphore>,
}

impl State {
    /// State for `app`, reading the configured trust anchors and CRLs now.
    pub fn new(app: Arc<App>) -> Result<State, crate::app::AppError> {
        let mut policy = crate::app::verify::policy(&app)?;
        policy.validation_time = None;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(State {
            app,
            policy: Arc::new(policy),
            work: Arc::new(Semaphore::new(cores * 2)),
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

/// The routes, with their layers.
pub fn router(state: State) -> Router {
    let max = usize::try_from(state.app.settings().server.max_upload_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/healthz", get(public::healthz))
        .route("/readyz", get(public::readyz))
        .route(
            "/v/{id}",
            get(public::document_page).post(public::document_upload),
        )
        .route(
            "/verify",
            get(public::verify_form).post(public::verify_upload_form),
        )
        .route("/api/v1/verify", post(public::verify_upload_api))
        .route("/static/kyso.css", get(pages::stylesheet))
        .fallback(public::not_found)
        .layer(DefaultBodyLimit::max(max))
        .layer(middleware::from_fn(headers))
        .with_state(state)
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// Security headers on every response, and a request id on every log line of the request.
async fn headers(req: Request, next: Next) -> Response {
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path());
    let mut res = next.run(req).instrument(span.clone()).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
        axum::serve(self.listener, self.router)
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
