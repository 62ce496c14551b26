//! The pages of the people who work with kyso, one module per role: [`account`] (sign-in,
//! sign-out, password), [`clerk`] (forms generated from each kind's schema, preview, issue,
//! search, reprint, cancel), [`queue`] (the official's and the seal keeper's signing queues),
//! [`official`] (signing with a device, delegations) and [`admin`]. Handlers translate forms
//! into the use cases of [`crate::app`] and fill a template struct with the result or the
//! refusal; access is the route table's. Server-rendered, no scripts but `kyso.js` on the
//! device page, the one stylesheet; Vietnamese first, `?lang=en` for English.
//!
//! A form that issues or signs carries a random key; the first submission with a key does the
//! work and later ones (a double click, a reload) are answered with its result. The registry
//! keeps each key's result (migration `0008_form_keys`), so that a repeat after a restart or on
//! another node is caught too: issuing records the key in the unit of work that numbers the
//! document ([`app::issue::issue_once`]), signing claims it first ([`app::users::claim_form`]);
//! in this process a lock per key ([`Remembered`], kept for [`REMEMBER_FOR`]) makes a double
//! click wait for the first.

mod account;
mod admin;
mod clerk;
mod official;
mod queue;
mod schema_form;

pub use account::{
    change_password, password_page, root, sign_in, sign_in_page, sign_out, sign_out_page,
};
pub use admin::{
    add_certificate, add_token, add_user, admin_home, audit_page, delegations_page, officials_page,
    revoke_delegation, revoke_token, user_state, users_page,
};
pub use clerk::{
    cancel, clerk_document, clerk_home, clerk_search, issue, issue_page, preview_pdf, reprint_page,
    version_pdf,
};
pub use official::{complete, grant, official_delegations_page, official_revoke, prepare};
pub use queue::{queue_page, sign};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{Bar, Chrome, Lang, problem_page};
use super::{ApiError, State};
use crate::app;
use crate::app::users::{Credential, Principal, Role};
use crate::issuing::{DocumentRecord, Status};

/// How long a form's key is remembered.
pub const REMEMBER_FOR: Duration = Duration::from_secs(3600);

type Slot = Arc<tokio::sync::Mutex<Option<String>>>;

/// Form keys already used, with what their first submission produced (a document id).
#[derive(Default)]
pub struct Remembered {
    slots: Mutex<HashMap<(i64, String), (Instant, Slot)>>,
}

impl Remembered {
    /// The slot of `key` for `user`: locked by the submission doing the work, holding its result
    /// once done. `None` for a missing or malformed key (the work is then done every time).
    fn slot(&self, user: i64, key: &str) -> Option<Slot> {
        if !(16..=64).contains(&key.len())
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let mut map = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, (at, _)| now.duration_since(*at) < REMEMBER_FOR);
        Some(
            map.entry((user, key.to_owned()))
                .or_insert_with(|| (now, Slot::default()))
                .1
                .clone(),
        )
    }
}

/// A form key held by the submission doing its work: the in-process lock (a double click
/// waits for the first) and the registry's claim (a repeat after a restart, or on another
/// node, finds what the first produced).
struct Held {
    guard: Option<tokio::sync::OwnedMutexGuard<Option<String>>>,
    claim: Option<(i64, String)>,
}

/// What a submission with a form key does.
enum Submission {
    /// The work, holding the key.
    Do(Held),
    /// Nothing: the key's first submission produced this (a document id).
    Done(String),
    /// Nothing yet: another submission with the key is still at work elsewhere.
    Busy,
}

/// How long a repeated submission waits for the first one, on another node, to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(20);

async fn submit(state: &State, user: i64, key: &str) -> Result<Submission, ApiError> {
    let Some(slot) = state.forms.slot(user, key) else {
        // No usable key: the work is done every time.
        return Ok(Submission::Do(Held {
            guard: None,
            claim: None,
        }));
    };
    let guard = slot.lock_owned().await;
    if let Some(id) = (*guard).clone() {
        return Ok(Submission::Done(id));
    }
    let until = Instant::now() + WAIT_FOR_FIRST;
    loop {
        let k = key.to_owned();
        let claim = state
            .blocking(move |app, _| app::users::claim_form(app, user, &k))
            .await?;
        match claim {
            app::users::FormClaim::Mine => {
                return Ok(Submission::Do(Held {
                    guard: Some(guard),
                    claim: Some((user, key.to_owned())),
                }));
            }
            app::users::FormClaim::Done(id) => return Ok(Submission::Done(id)),
            app::users::FormClaim::Running if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            app::users::FormClaim::Running => return Ok(Submission::Busy),
        }
    }
}

impl Held {
    /// The form key this submission holds in the registry, for a use case that records its
    /// result in its own unit of work.
    fn form(&self) -> Option<crate::issuing::FormKey> {
        self.claim
            .as_ref()
            .and_then(|(user, key)| crate::issuing::FormKey::new(*user, key))
    }

    /// The work succeeded with `result`: remembered here and in the registry.
    async fn finish(mut self, state: &State, result: &str) {
        if let Some(g) = self.guard.as_mut() {
            **g = Some(result.to_owned());
        }
        if let Some((user, key)) = self.claim.take() {
            let r = result.to_owned();
            if let Err(e) = state
                .blocking(move |app, _| app::users::finish_form(app, user, &key, &r))
                .await
            {
                tracing::warn!(error = %e.detail_en, "form key not recorded");
            }
        }
    }

    /// The work failed: the key may be used again (the corrected form keeps it).
    async fn release(mut self, state: &State) {
        if let Some((user, key)) = self.claim.take()
            && let Err(e) = state
                .blocking(move |app, _| app::users::release_form(app, user, &key))
                .await
        {
            tracing::warn!(error = %e.detail_en, "form key not released");
        }
    }
}

/// The answer to a submission whose key another one is still using.
fn busy(lang: Lang, p: &Principal) -> Response {
    failed(
        lang,
        p,
        &ApiError::new(
            StatusCode::CONFLICT,
            "busy",
            "Biểu mẫu này đang được xử lý ở lần gửi trước; hãy tải lại trang sau giây lát.",
            "This form is still being processed from an earlier submission; reload in a moment.",
        ),
    )
}

fn form_key() -> String {
    let mut bytes = [0u8; 18];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&bytes)
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// The query string's parameters.
fn query(raw: &Option<String>) -> HashMap<String, String> {
    raw.as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn lang_of(q: &HashMap<String, String>) -> Lang {
    Lang::from_query(q.get("lang").map(String::as_str))
}

/// A URL-encoded form's fields (an unreadable body reads as no fields).
fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// A URL-encoded form's fields in order, repeated names kept (checkbox lists).
fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The home page of a role.
pub fn home(role: Role) -> &'static str {
    match role {
        Role::Clerk => "/clerk",
        Role::Official => "/official",
        Role::Seal => "/seal",
        Role::Admin => "/admin",
    }
}

/// The session's CSRF token (none for an API token, which pages never see).
fn csrf(p: &Principal) -> String {
    match &p.credential {
        Credential::Session { csrf } => csrf.clone(),
        Credential::Token { .. } => String::new(),
    }
}

/// The layout of a signed-in page: the bar with who is signed in, their home, password and
/// sign-out.
fn chrome(lang: Lang, p: &Principal, title: &str, here: &str) -> Chrome {
    Chrome {
        bar: Some(Bar {
            home: home(p.role),
            name: p.user.display_name.clone(),
            csrf: csrf(p),
        }),
        ..Chrome::desk(lang, title, here)
    }
}

fn failed(lang: Lang, p: &Principal, e: &ApiError) -> Response {
    problem_page(lang, e, Some(home(p.role)))
}

/// A refusal's words in the page's language.
fn words(lang: Lang, e: &ApiError) -> String {
    lang.t(&e.detail_vi, &e.detail_en).to_owned()
}

/// Problems by field path (`requester.full_name`, `valid_from`), in the page's language.
type Errors = HashMap<String, Vec<String>>;

/// The per-field problems of a refusal, by field path, in the page's language.
fn errors_of(lang: Lang, e: &ApiError) -> Errors {
    let mut errors = Errors::new();
    for f in &e.errors {
        errors
            .entry(f.path.clone())
            .or_default()
            .push(lang.t(&f.vi, &f.en).to_owned());
    }
    errors
}

/// A field's problems (none if it has none).
fn errors_at<'e>(errors: &'e Errors, path: &str) -> &'e [String] {
    errors.get(path).map_or(&[], Vec::as_slice)
}

fn kind_title(lang: Lang, catalog: &crate::templates::Catalog, kind: &str) -> String {
    catalog
        .get(kind)
        .map(|t| lang.t(&t.schema.title_vi, &t.schema.title_en).to_owned())
        .unwrap_or_else(|| kind.to_owned())
}

fn number_text(catalog: &crate::templates::Catalog, d: &DocumentRecord) -> String {
    let document_style = catalog
        .get(&d.kind)
        .is_some_and(|t| t.schema.numbering == crate::templates::Numbering::Document);
    if document_style {
        format!("{:02}/{}", d.number, d.register.type_code)
    } else {
        format!(
            "{:02}, quyển số {:02}/{}-{}",
            d.number, d.volume, d.register.year, d.register.type_code
        )
    }
}

fn status_words(lang: Lang, s: Status) -> &'static str {
    match s {
        Status::Issued => lang.t("Đã cấp", "Issued"),
        Status::Cancelled => lang.t("Đã hủy", "Cancelled"),
        Status::Void => lang.t("Số bị hủy", "Void"),
        Status::Pending => lang.t("Đang cấp", "Pending"),
    }
}

/// A moment as people in Vietnam read it: `02/12/2026 20:57` (UTC+7).
fn local_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(crate::issuing::VIETNAM);
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// A choice in a `<select>`, or a checkbox or radio button.
struct Opt {
    value: String,
    label: String,
    selected: bool,
}

/// A success (`ok`) or refusal (`bad`) line at the top of a page (`macros.html`'s `note`).
struct Note {
    class: &'static str,
    text: String,
}

impl Note {
    fn ok(text: String) -> Note {
        Note { class: "ok", text }
    }

    fn bad(text: String) -> Note {
        Note { class: "bad", text }
    }

    fn is_bad(&self) -> bool {
        self.class == "bad"
    }
}

/// Whether a delegation is in force.
enum DelegationState {
    /// Revoked: from when, why.
    Revoked(String, String),
    /// In force now.
    InForce,
    /// Not revoked, but now is outside its validity.
    Outside,
}

/// A delegation as the official's and the admin's pages list it (`delegation.html`).
struct DelegationView {
    id: i64,
    /// The capacity lines it signs with.
    first: String,
    second: String,
    delegator: String,
    delegate: String,
    from: String,
    until: String,
    basis_number: String,
    basis_date: String,
    kinds: String,
    state: DelegationState,
    /// The grants it rests on, each "KT. A → B (decision)".
    chain: Vec<String>,
    /// Whether it can still be revoked.
    revocable: bool,
}

impl DelegationView {
    fn of(d: &crate::authority::Delegation, now: time::OffsetDateTime) -> DelegationView {
        let (first, second) = d.capacity_lines();
        DelegationView {
            id: d.id,
            first,
            second,
            delegator: d.delegator.full_name.clone(),
            delegate: d.delegate.full_name.clone(),
            from: local_time(d.valid_from),
            until: local_time(d.valid_until),
            basis_number: d.basis_number.clone(),
            basis_date: d.basis_date.clone(),
            kinds: d.scope.join(", "),
            state: match &d.revoked {
                Some((at, reason)) => DelegationState::Revoked(local_time(*at), reason.clone()),
                None if d.valid_from <= now && now <= d.valid_until => DelegationState::InForce,
                None => DelegationState::Outside,
            },
            chain: d
                .chain()
                .iter()
                .map(|l| {
                    format!(
                        "{} {} → {} ({})",
                        l.mark, l.delegator.full_name, l.delegate.full_name, l.basis_number
                    )
                })
                .collect(),
            revocable: d.revoked.is_none(),
        }
    }
}
