//! HTML pages for the people who work with kyso: sign-in, sign-out and password; the clerk's
//! forms (generated from each kind's schema), issue result and search; the official's and the
//! seal keeper's signing queues. Server-rendered, no scripts, the one stylesheet; Vietnamese
//! first, `?lang=en` for English. Handlers translate forms into the use cases of
//! [`crate::app`] and their results or refusals into pages; access is the route table's.
//!
//! A form that issues or signs carries a random key; the first submission with a key does the
//! work and later ones (a double click, a reload) are answered with its result. The registry
//! keeps each key's result (migration `0008_form_keys`), so that a repeat after a restart or on
//! another node is caught too: issuing records the key in the unit of work that numbers the
//! document ([`app::issue::issue_once`]), signing claims it first ([`app::users::claim_form`]);
//! in this process a lock per key ([`Remembered`], kept for [`REMEMBER_FOR`]) makes a double
//! click wait for the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::{self, SESSION_COOKIE};
use super::pages::{Lang, esc, page, pick, problem_page, safe_next, see_other, with_lang};
use super::{ApiError, State};
use crate::app::users::{Credential, Principal, Role};
use crate::app::{self, AppError};
use crate::issuing::{DocumentRecord, Search, Status};
use crate::templates::{Field, FieldType, Numbering};

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

fn suffix(lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => "",
        Lang::En => "?lang=en",
    }
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

fn csrf(p: &Principal) -> &str {
    match &p.credential {
        Credential::Session { csrf } => csrf,
        Credential::Token { .. } => "",
    }
}

fn csrf_input(p: &Principal) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        auth::CSRF_FIELD,
        esc(csrf(p))
    )
}

/// A signed-in page: who is signed in, their home, password and sign-out, then `body`.
fn signed_in(lang: Lang, p: &Principal, title: &str, here: &str, body: &str) -> Response {
    let bar = format!(
        "<header class=\"bar\"><a href=\"{}\">{}</a> · {} · <a href=\"{}\">{}</a> \
<form class=\"inline\" method=\"post\" action=\"/sign-out{}\">{}<button>{}</button></form></header>",
        with_lang(home(p.role), lang),
        pick(lang, "Trang chính", "Home"),
        esc(&p.user.display_name),
        with_lang("/account/password", lang),
        pick(lang, "Đổi mật khẩu", "Change password"),
        suffix(lang),
        csrf_input(p),
        pick(lang, "Đăng xuất", "Sign out"),
    );
    page(lang, title, here, &format!("{bar}{body}")).into_response()
}

fn failed(lang: Lang, p: &Principal, e: &ApiError) -> Response {
    problem_page(lang, e, Some(home(p.role)))
}

// ---------------------------------------------------------------------------------------------
// Sign-in, sign-out, password

/// `GET /`: the signed-in user's home, or the sign-in page.
pub async fn root(p: Option<Extension<Principal>>, RawQuery(q): RawQuery) -> Response {
    let lang = lang_of(&query(&q));
    match p {
        Some(Extension(p)) => see_other(&with_lang(home(p.role), lang)),
        None => see_other(&with_lang("/sign-in", lang)),
    }
}

fn sign_in_form(lang: Lang, next: Option<&str>, username: &str, message: Option<&str>) -> String {
    let mut b = format!("<h1>{}</h1>", pick(lang, "Đăng nhập", "Sign in"));
    if let Some(m) = message {
        b.push_str(&format!("<p class=\"bad\" id=\"message\">{}</p>", esc(m)));
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"/sign-in{}\">\
<label>{}<input name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" value=\"{}\" required></label>\
<label>{}<input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>",
        suffix(lang),
        pick(lang, "Tên đăng nhập", "Username"),
        esc(username),
        pick(lang, "Mật khẩu", "Password"),
    ));
    if let Some(n) = next {
        b.push_str(&format!(
            "<input type=\"hidden\" name=\"next\" value=\"{}\">",
            esc(n)
        ));
    }
    b.push_str(&format!(
        "<button>{}</button></form><p><a href=\"/verify{}\">{}</a></p>",
        pick(lang, "Đăng nhập", "Sign in"),
        suffix(lang),
        pick(
            lang,
            "Kiểm tra một giấy tờ (không cần đăng nhập)",
            "Check a document (no sign-in)"
        )
    ));
    b
}

/// `GET /sign-in`.
pub async fn sign_in_page(p: Option<Extension<Principal>>, RawQuery(q): RawQuery) -> Response {
    let q = query(&q);
    let lang = lang_of(&q);
    let next = q.get("next").and_then(|n| safe_next(n));
    if let Some(Extension(p)) = p {
        return see_other(next.unwrap_or(&with_lang(home(p.role), lang)));
    }
    let message = q
        .contains_key("changed")
        .then(|| {
            pick(
                lang,
                "Đã đổi mật khẩu. Hãy đăng nhập lại.",
                "Password changed. Please sign in again.",
            )
        })
        .or_else(|| {
            next.map(|_| {
                pick(
                    lang,
                    "Hãy đăng nhập để tiếp tục.",
                    "Please sign in to continue.",
                )
            })
        });
    let here = match next {
        Some(n) => format!(
            "/sign-in?next={}",
            url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => "/sign-in".to_owned(),
    };
    page(
        lang,
        &pick(lang, "Đăng nhập", "Sign in"),
        &here,
        &sign_in_form(lang, next, "", message.as_deref()),
    )
    .into_response()
}

/// `POST /sign-in`: a session cookie and the page asked for (or the role's home), or the form
/// again with the refusal. Throttled by the use case.
pub async fn sign_in(
    AxumState(state): AxumState<State>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let username = f.get("username").cloned().unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    let next = f.get("next").and_then(|n| safe_next(n)).map(str::to_owned);
    let address = peer.ip().to_string();
    let name = username.trim().to_owned();
    let started = state
        .blocking(move |app, _| app::users::sign_in(app, &name, &password, &address))
        .await;
    match started {
        Ok(s) => {
            let to = next.unwrap_or_else(|| with_lang(home(s.user.role), lang));
            let mut res = see_other(&to);
            let cookie = auth::session_cookie(&s.token, auth::secure_cookies(&state));
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => {
            let message = match lang {
                Lang::Vi => e.detail_vi.clone(),
                Lang::En => e.detail_en.clone(),
            };
            // A page has no WWW-Authenticate challenge: a refused sign-in is a form to fix
            // (422), a throttled one says so (429).
            let status = match e.status() {
                StatusCode::TOO_MANY_REQUESTS => StatusCode::TOO_MANY_REQUESTS,
                StatusCode::UNAUTHORIZED => StatusCode::UNPROCESSABLE_ENTITY,
                other => other,
            };
            (
                status,
                page(
                    lang,
                    &pick(lang, "Đăng nhập", "Sign in"),
                    "/sign-in",
                    &sign_in_form(lang, next.as_deref(), &username, Some(&message)),
                ),
            )
                .into_response()
        }
    }
}

/// `GET /sign-out`: a button to sign out (signing out changes state: it is a POST).
pub async fn sign_out_page(Extension(p): Extension<Principal>, RawQuery(q): RawQuery) -> Response {
    let lang = lang_of(&query(&q));
    let body = format!(
        "<h1>{}</h1><form method=\"post\" action=\"/sign-out{}\">{}<button>{}</button></form>",
        pick(lang, "Đăng xuất?", "Sign out?"),
        suffix(lang),
        csrf_input(&p),
        pick(lang, "Đăng xuất", "Sign out")
    );
    signed_in(
        lang,
        &p,
        &pick(lang, "Đăng xuất", "Sign out"),
        "/sign-out",
        &body,
    )
}

/// `POST /sign-out`: ends the session, back to the sign-in page.
pub async fn sign_out(
    AxumState(state): AxumState<State>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = lang_of(&query(&q));
    if let Some(token) = auth::cookie(&headers, SESSION_COOKIE) {
        let token = token.to_owned();
        let _ = state
            .blocking(move |app, _| app::users::sign_out(app, &token))
            .await;
    }
    let mut res = see_other(&with_lang("/sign-in", lang));
    if let Ok(v) = HeaderValue::from_str(&auth::cleared_cookie(auth::secure_cookies(&state))) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

fn password_form(lang: Lang, p: &Principal, message: Option<&str>) -> String {
    let mut b = format!("<h1>{}</h1>", pick(lang, "Đổi mật khẩu", "Change password"));
    if let Some(m) = message {
        b.push_str(&format!("<p class=\"bad\" id=\"message\">{}</p>", esc(m)));
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"/account/password{}\">{}\
<label>{}<input type=\"password\" name=\"current\" autocomplete=\"current-password\" required></label>\
<label>{}<input type=\"password\" name=\"new\" autocomplete=\"new-password\" minlength=\"{min}\" required></label>\
<label>{}<input type=\"password\" name=\"confirm\" autocomplete=\"new-password\" minlength=\"{min}\" required></label>\
<button>{}</button></form>",
        suffix(lang),
        csrf_input(p),
        pick(lang, "Mật khẩu hiện tại", "Current password"),
        pick(lang, "Mật khẩu mới", "New password"),
        pick(lang, "Nhập lại mật khẩu mới", "New password again"),
        pick(lang, "Đổi mật khẩu", "Change password"),
        min = app::users::MIN_PASSWORD_CHARS,
    ));
    b
}

/// `GET /account/password`.
pub async fn password_page(Extension(p): Extension<Principal>, RawQuery(q): RawQuery) -> Response {
    let lang = lang_of(&query(&q));
    signed_in(
        lang,
        &p,
        &pick(lang, "Đổi mật khẩu", "Change password"),
        "/account/password",
        &password_form(lang, &p, None),
    )
}

/// `POST /account/password`: every session of the user ends; back to sign in.
pub async fn change_password(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let current = f.get("current").cloned().unwrap_or_default();
    let new = f.get("new").cloned().unwrap_or_default();
    let again = |status: StatusCode, m: String| {
        let mut r = signed_in(
            lang,
            &p,
            &pick(lang, "Đổi mật khẩu", "Change password"),
            "/account/password",
            &password_form(lang, &p, Some(&m)),
        );
        *r.status_mut() = status;
        r
    };
    if f.get("confirm") != Some(&new) {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            pick(
                lang,
                "Hai lần nhập mật khẩu mới không giống nhau.",
                "The two new passwords differ.",
            ),
        );
    }
    let (actor, username) = (p.actor(), p.user.username.clone());
    let done = state
        .blocking(move |app, _| {
            app::users::change_password(app, &actor, &username, Some(&current), &new)
        })
        .await;
    match done {
        Ok(()) => {
            let mut res = see_other(&with_lang("/sign-in?changed=1", lang));
            if let Ok(v) =
                HeaderValue::from_str(&auth::cleared_cookie(auth::secure_cookies(&state)))
            {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => {
            let m = match lang {
                Lang::Vi => e.detail_vi.clone(),
                Lang::En => e.detail_en.clone(),
            };
            again(e.status(), m)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clerk

fn kind_title(lang: Lang, catalog: &crate::templates::Catalog, kind: &str) -> String {
    catalog
        .get(kind)
        .map(|t| match lang {
            Lang::Vi => t.schema.title_vi.clone(),
            Lang::En => t.schema.title_en.clone(),
        })
        .unwrap_or_else(|| kind.to_owned())
}

fn number_text(catalog: &crate::templates::Catalog, d: &DocumentRecord) -> String {
    let document_style = catalog
        .get(&d.kind)
        .is_some_and(|t| t.schema.numbering == Numbering::Document);
    if document_style {
        format!("{:02}/{}", d.number, d.register.type_code)
    } else {
        format!(
            "{:02}, quyển số {:02}/{}-{}",
            d.number, d.volume, d.register.year, d.register.type_code
        )
    }
}

fn status_words(lang: Lang, s: Status) -> String {
    match s {
        Status::Issued => pick(lang, "Đã cấp", "Issued"),
        Status::Cancelled => pick(lang, "Đã hủy", "Cancelled"),
        Status::Void => pick(lang, "Số bị hủy", "Void"),
        Status::Pending => pick(lang, "Đang cấp", "Pending"),
    }
}

/// `GET /clerk`: the kinds to issue, and the search form.
pub async fn clerk_home(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = lang_of(&query(&q));
    let catalog = match state.blocking(|app, _| app.catalog()).await {
        Ok(c) => c,
        Err(e) => return failed(lang, &p, &e),
    };
    let mut b = format!(
        "<h1>{}</h1><ul class=\"kinds\">",
        pick(lang, "Cấp giấy tờ mới", "Issue a new document")
    );
    for t in catalog.kinds() {
        b.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>",
            esc(&with_lang(&format!("/clerk/issue/{}", t.schema.kind), lang)),
            esc(&kind_title(lang, &catalog, &t.schema.kind))
        ));
    }
    b.push_str("</ul>");
    b.push_str(&search_form(lang, &catalog, &HashMap::new()));
    signed_in(
        lang,
        &p,
        &pick(lang, "Bộ phận Một cửa", "One-stop desk"),
        "/clerk",
        &b,
    )
}

fn search_form(
    lang: Lang,
    catalog: &crate::templates::Catalog,
    q: &HashMap<String, String>,
) -> String {
    let v = |k: &str| esc(q.get(k).map(String::as_str).unwrap_or(""));
    let mut kinds = format!(
        "<option value=\"\">{}</option>",
        pick(lang, "Mọi loại", "Any kind")
    );
    for t in catalog.kinds() {
        let k = &t.schema.kind;
        kinds.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(k),
            if q.get("kind") == Some(k) {
                " selected"
            } else {
                ""
            },
            esc(&kind_title(lang, catalog, k))
        ));
    }
    format!(
        "<h2>{}</h2><form method=\"get\" action=\"/clerk/search\">{}\
<label>{}<input name=\"number\" inputmode=\"numeric\" value=\"{}\"></label>\
<label>{}<input name=\"name\" value=\"{}\"></label>\
<label>{}<input name=\"citizen_id\" inputmode=\"numeric\" value=\"{}\"></label>\
<label>{}<select name=\"kind\">{kinds}</select></label>\
<label>{}<input type=\"date\" name=\"from\" value=\"{}\"></label>\
<label>{}<input type=\"date\" name=\"to\" value=\"{}\"></label>\
<button>{}</button></form>",
        pick(lang, "Tìm giấy tờ đã cấp", "Find an issued document"),
        if lang == Lang::En {
            "<input type=\"hidden\" name=\"lang\" value=\"en\">"
        } else {
            ""
        },
        pick(lang, "Số", "Number"),
        v("number"),
        pick(lang, "Họ tên", "Name"),
        v("name"),
        pick(lang, "Số định danh cá nhân", "Citizen ID"),
        v("citizen_id"),
        pick(lang, "Loại giấy tờ", "Kind"),
        pick(lang, "Từ ngày", "From"),
        v("from"),
        pick(lang, "Đến ngày", "To"),
        v("to"),
        pick(lang, "Tìm", "Search"),
    )
}

/// `GET /clerk/search`: documents by number, name, citizen ID, kind and date.
pub async fn clerk_search(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(&raw);
    let lang = lang_of(&q);
    let given = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut problems = Vec::new();
    let number = match given("number").map(|n| n.parse::<u32>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            problems.push(pick(
                lang,
                "Số phải là số nguyên.",
                "The number must be whole.",
            ));
            None
        }
    };
    let date = |k: &str, problems: &mut Vec<String>| {
        let v = given(k)?;
        if time::Date::parse(
            &v,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok()
        {
            Some(v)
        } else {
            problems.push(pick(
                lang,
                "Ngày phải viết YYYY-MM-DD.",
                "Dates are written YYYY-MM-DD.",
            ));
            None
        }
    };
    let search = Search {
        kind: given("kind"),
        number,
        from: date("from", &mut problems),
        to: date("to", &mut problems),
        name: given("name"),
        citizen_id: given("citizen_id"),
        limit: 100,
        ..Search::default()
    };
    let found = state
        .blocking(move |app, _| Ok((app::issue::search(app, &search)?, app.catalog()?)))
        .await;
    let (found, catalog) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, &p, &e),
    };
    let mut b = search_form(lang, &catalog, &q);
    for m in &problems {
        b.push_str(&format!("<p class=\"bad\">{}</p>", esc(m)));
    }
    if found.is_empty() {
        b.push_str(&format!(
            "<p id=\"results\">{}</p>",
            pick(lang, "Không có giấy tờ nào.", "No documents.")
        ));
    } else {
        b.push_str(&format!(
            "<table id=\"results\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            pick(lang, "Số", "Number"),
            pick(lang, "Loại", "Kind"),
            pick(lang, "Người", "People"),
            pick(lang, "Ngày cấp", "Issued on"),
            pick(lang, "Tình trạng", "Status"),
        ));
        for d in &found {
            let people: Vec<String> = app::queue::persons_of(&d.data);
            b.push_str(&format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&with_lang(&format!("/clerk/documents/{}", d.id), lang)),
                esc(&number_text(&catalog, d)),
                esc(&kind_title(lang, &catalog, &d.kind)),
                esc(&people.join(", ")),
                esc(&d.issued_on),
                status_words(lang, d.status)
            ));
        }
        b.push_str("</table>");
    }
    signed_in(
        lang,
        &p,
        &pick(lang, "Tìm giấy tờ", "Search"),
        "/clerk/search",
        &b,
    )
}

/// `GET /clerk/documents/{id}`: a document's number, status, PDF and public page, and the
/// cancellation form.
pub async fn clerk_document(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    document_page(&state, &p, id, lang_of(&query(&q)), None).await
}

fn cancel_form(lang: Lang, p: &Principal, id: &str, message: Option<&ApiError>) -> String {
    let mut s = format!(
        "<h2>{}</h2>",
        pick(lang, "Hủy giấy tờ", "Cancel the document")
    );
    if let Some(e) = message {
        s.push_str(&format!(
            "<p class=\"bad\" id=\"message\">{}</p>",
            esc(match lang {
                Lang::Vi => &e.detail_vi,
                Lang::En => &e.detail_en,
            })
        ));
    }
    s.push_str(&format!(
        "<form method=\"post\" action=\"/clerk/documents/{}{}\">{}\
<label>{}<input name=\"decision\" required></label><label>{}<input name=\"reason\" required></label>\
<button>{}</button></form>",
        esc(id),
        suffix(lang),
        csrf_input(p),
        pick(lang, "Quyết định hủy (số, ngày)", "Cancellation decision (number, date)"),
        pick(lang, "Lý do", "Reason"),
        pick(lang, "Hủy giấy tờ", "Cancel the document"),
    ));
    s
}

/// `POST /clerk/documents/{id}`: cancels the document by the decision given.
pub async fn cancel(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let decision = f.get("decision").cloned().unwrap_or_default();
    let reason = f.get("reason").cloned().unwrap_or_default();
    let (actor, doc) = (p.actor(), id.clone());
    let done = state
        .blocking(move |app, _| {
            if !app::verify::is_document_id(&doc) {
                return Err(AppError::NotFound(format!("document {doc}")));
            }
            app::issue::cancel(app, &actor, &doc, decision.trim(), reason.trim())
        })
        .await;
    match done {
        Ok(()) => see_other(&with_lang(&format!("/clerk/documents/{id}"), lang)),
        Err(e) if e.status == 404 => failed(lang, &p, &e),
        Err(e) => {
            let mut r = document_page(&state, &p, id, lang, Some(e.clone())).await;
            *r.status_mut() = e.status();
            r
        }
    }
}

async fn document_page(
    state: &State,
    p: &Principal,
    id: String,
    lang: Lang,
    message: Option<ApiError>,
) -> Response {
    let p = p.clone();
    let found = state
        .blocking(move |app, _| {
            if !app::verify::is_document_id(&id) {
                return Err(AppError::NotFound(format!("document {id}")));
            }
            let (d, versions) = app::issue::document_with_versions(app, &id)?;
            Ok((d, versions, app.catalog()?))
        })
        .await;
    let (d, versions, catalog) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, &p, &e),
    };
    let signatures: Vec<String> = versions
        .iter()
        .filter(|v| v.stage == "signed")
        .map(|v| {
            format!(
                "<li>{} — {}</li>",
                esc(v.capacity.as_deref().or(v.signer.as_deref()).unwrap_or("")),
                esc(&v.created_at)
            )
        })
        .collect();
    let b = format!(
        "<h1>{}</h1><dl><dt>{}</dt><dd id=\"number\">{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>\
<p><a id=\"pdf\" href=\"/api/v1/documents/{id}/pdf\">{}</a> · <a href=\"/v/{id}{}\">{}</a> · <a id=\"reprint\" href=\"/clerk/documents/{id}/reprint{}\">{}</a></p>\
<h2>{}</h2>{}{}<p><a href=\"{}\">{}</a></p>",
        esc(&kind_title(lang, &catalog, &d.kind)),
        pick(lang, "Số", "Number"),
        esc(&number_text(&catalog, &d)),
        pick(lang, "Ngày cấp", "Issued on"),
        esc(&d.issued_on),
        pick(lang, "Tình trạng", "Status"),
        status_words(lang, d.status),
        pick(lang, "Người", "People"),
        esc(&app::queue::persons_of(&d.data).join(", ")),
        pick(lang, "Tải tệp PDF", "Download the PDF"),
        suffix(lang),
        pick(lang, "Trang kiểm tra công khai", "Public verification page"),
        suffix(lang),
        pick(lang, "In lại", "Reprint"),
        pick(lang, "Chữ ký", "Signatures"),
        if signatures.is_empty() {
            format!(
                "<p class=\"warn\">{}</p>",
                pick(
                    lang,
                    "Chưa ký: giấy tờ đang chờ người có thẩm quyền ký.",
                    "Not signed yet: waiting in the signing queue."
                )
            )
        } else {
            format!("<ul>{}</ul>", signatures.join(""))
        },
        if d.status == Status::Issued {
            cancel_form(lang, &p, &d.id, message.as_ref())
        } else {
            String::new()
        },
        esc(&with_lang("/clerk", lang)),
        pick(lang, "Cấp giấy tờ khác", "Issue another document"),
        id = esc(&d.id),
    );

    signed_in(
        lang,
        &p,
        &pick(lang, "Giấy tờ", "Document"),
        &format!("/clerk/documents/{}", d.id),
        &b,
    )
}

/// `GET /clerk/documents/{id}/reprint`: every version of the document that left kyso (as
/// issued, after each signature), newest first, each to download again byte for byte.
pub async fn reprint_page(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = lang_of(&query(&q));
    let found = state
        .blocking(move |app, _| {
            if !app::verify::is_document_id(&id) {
                return Err(AppError::NotFound(format!("document {id}")));
            }
            let (d, versions) = app::issue::document_with_versions(app, &id)?;
            Ok((d, versions, app.catalog()?))
        })
        .await;
    let (d, versions, catalog) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, &p, &e),
    };
    let mut b = format!(
        "<h1>{} — {}</h1><p>{}: {}</p>",
        pick(lang, "In lại", "Reprint"),
        esc(&number_text(&catalog, &d)),
        pick(lang, "Tình trạng", "Status"),
        status_words(lang, d.status),
    );
    if d.status != Status::Issued {
        b.push_str(&format!(
            "<p class=\"bad\">{}</p>",
            pick(
                lang,
                "Giấy tờ không còn hiệu lực: bản in lại chỉ để lưu hồ sơ.",
                "The document is no longer in force: a reprint is for the file only."
            )
        ));
    }
    b.push_str(&format!(
        "<p>{}</p><ul id=\"versions\" class=\"queue\">",
        pick(
            lang,
            "Bản đầu danh sách là bản mới nhất, có đủ các chữ ký đã ký. Mỗi bản được tải lại đúng từng byte như khi cấp hoặc ký.",
            "The first is the newest, with every signature made so far. Each is given back byte for byte as it was issued or signed."
        )
    ));
    for (i, v) in versions.iter().enumerate().rev() {
        let what = match (v.stage.as_str(), v.field.as_deref()) {
            ("issued", _) => pick(lang, "Bản đã cấp (chưa ký)", "As issued (not signed)"),
            (_, Some(app::sign::SEAL_FIELD)) => {
                pick(lang, "Sau khi đóng dấu cơ quan", "After the agency seal")
            }
            ("signed", _) => format!(
                "{} {}",
                pick(lang, "Sau chữ ký", "After the signature"),
                v.capacity.as_deref().or(v.signer.as_deref()).unwrap_or("")
            ),
            (other, _) => other.to_owned(),
        };
        b.push_str(&format!(
            "<li><b>{}</b>{} — {}<br><a href=\"/clerk/documents/{}/versions/{}\">{}</a> ({} KB)</li>",
            esc(&what),
            if i + 1 == versions.len() {
                pick(lang, " (mới nhất)", " (newest)")
            } else {
                String::new()
            },
            esc(&v.created_at),
            esc(&d.id),
            esc(&v.sha256),
            pick(lang, "Tải tệp PDF", "Download the PDF"),
            (v.size + 1023) / 1024,
        ));
    }
    b.push_str(&format!(
        "</ul><p><a href=\"{}\">{}</a></p>",
        esc(&with_lang(&format!("/clerk/documents/{}", d.id), lang)),
        pick(lang, "Về trang giấy tờ", "Back to the document")
    ));
    signed_in(
        lang,
        &p,
        &pick(lang, "In lại", "Reprint"),
        &format!("/clerk/documents/{}/reprint", d.id),
        &b,
    )
}

/// `GET /clerk/documents/{id}/versions/{sha256}`: one version's PDF, to print again.
pub async fn version_pdf(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path((id, sha)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = lang_of(&query(&q));
    let found = state
        .blocking(move |app, _| {
            if !app::verify::is_document_id(&id) {
                return Err(AppError::NotFound(format!("document {id}")));
            }
            app::issue::version(app, &id, &sha)
        })
        .await;
    match found {
        Ok((d, v, bytes)) => {
            let disposition = format!("attachment; filename=\"{}-{}.pdf\"", d.id, v.stage);
            let mut r = (
                [
                    (header::CONTENT_TYPE, "application/pdf"),
                    (header::CACHE_CONTROL, "private, no-store"),
                ],
                bytes,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => failed(lang, &p, &e),
    }
}

/// What the clerk typed, by field path (`requester.full_name`, `signers[1].full_name`), with
/// the row count of each list.
struct Typed {
    values: HashMap<String, String>,
}

impl Typed {
    fn get(&self, path: &str) -> &str {
        self.values.get(path).map_or("", String::as_str)
    }

    fn rows(&self, path: &str, min: usize, max: usize) -> usize {
        let declared = self
            .values
            .get(&format!("rows.{path}"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let extra = usize::from(self.values.get("add").is_some_and(|a| a == path));
        (declared + extra).max(min).max(1).min(max.max(1))
    }
}

/// The JSON data of the form, shaped by the schema: empty inputs are left out (so a required
/// one is reported missing), integers are numbers when they parse, an optional object with
/// nothing typed is left out, empty list rows are dropped.
fn data_of(
    fields: &[Field],
    prefix: &str,
    typed: &Typed,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for f in fields {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        match &f.ty {
            FieldType::Object(sub) => {
                let m = data_of(sub, &path, typed);
                if !m.is_empty() || f.required {
                    out.insert(f.name.clone(), Value::Object(m));
                }
            }
            FieldType::List {
                item,
                min_items,
                max_items,
            } => {
                let n = typed.rows(&path, *min_items, *max_items);
                let items: Vec<Value> = (0..n)
                    .map(|i| data_of(item, &format!("{path}[{i}]"), typed))
                    .filter(|m| !m.is_empty())
                    .map(Value::Object)
                    .collect();
                if !items.is_empty() || f.required {
                    out.insert(f.name.clone(), Value::Array(items));
                }
            }
            FieldType::Integer { .. } => {
                let v = typed.get(&path).trim();
                if !v.is_empty() {
                    out.insert(
                        f.name.clone(),
                        v.parse::<i64>()
                            .map_or_else(|_| Value::String(v.to_owned()), Value::from),
                    );
                }
            }
            _ => {
                let v = typed.get(&path);
                if !v.trim().is_empty() {
                    out.insert(f.name.clone(), Value::String(v.to_owned()));
                }
            }
        }
    }
    out
}

type Errors = HashMap<String, Vec<String>>;

fn error_list(errors: &Errors, path: &str) -> String {
    errors.get(path).map_or_else(String::new, |es| {
        es.iter()
            .map(|e| format!("<span class=\"err\">{}</span>", esc(e)))
            .collect()
    })
}

fn label(lang: Lang, f: &Field) -> String {
    let text = match lang {
        Lang::Vi => &f.vi,
        Lang::En => &f.en,
    };
    format!(
        "{}{}",
        esc(text),
        if f.required {
            " <abbr class=\"req\" title=\"bắt buộc / required\">*</abbr>"
        } else {
            ""
        }
    )
}

fn inputs(lang: Lang, fields: &[Field], prefix: &str, typed: &Typed, errors: &Errors) -> String {
    let mut s = String::new();
    for f in fields {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        let id = format!("f-{}", path.replace(['.', '[', ']'], "-"));
        let invalid = if errors.contains_key(&path) {
            " aria-invalid=\"true\""
        } else {
            ""
        };
        let value = esc(typed.get(&path));
        let req = if f.required { " required" } else { "" };
        match &f.ty {
            FieldType::Object(sub) => {
                s.push_str(&format!(
                    "<fieldset id=\"{id}\"><legend>{}</legend>{}{}</fieldset>",
                    label(lang, f),
                    error_list(errors, &path),
                    inputs(lang, sub, &path, typed, errors)
                ));
            }
            FieldType::List {
                item,
                min_items,
                max_items,
            } => {
                let n = typed.rows(&path, *min_items, *max_items);
                s.push_str(&format!(
                    "<fieldset id=\"{id}\"><legend>{}</legend>{}<input type=\"hidden\" name=\"rows.{}\" value=\"{n}\">",
                    label(lang, f),
                    error_list(errors, &path),
                    esc(&path)
                ));
                for i in 0..n {
                    let row = format!("{path}[{i}]");
                    s.push_str(&format!(
                        "<fieldset><legend>{}</legend>{}{}</fieldset>",
                        i + 1,
                        error_list(errors, &row),
                        inputs(lang, item, &row, typed, errors)
                    ));
                }
                if n < *max_items {
                    s.push_str(&format!(
                        "<button name=\"add\" value=\"{}\" formnovalidate>{}</button>",
                        esc(&path),
                        pick(lang, "+ Thêm một dòng", "+ Add a row")
                    ));
                }
                s.push_str("</fieldset>");
            }
            FieldType::Choice(choices) => {
                let mut opts = format!(
                    "<option value=\"\">{}</option>",
                    pick(lang, "— chọn —", "— choose —")
                );
                for c in choices {
                    opts.push_str(&format!(
                        "<option{}>{}</option>",
                        if typed.get(&path) == c {
                            " selected"
                        } else {
                            ""
                        },
                        esc(c)
                    ));
                }
                s.push_str(&format!(
                    "<label for=\"{id}\">{}</label><select id=\"{id}\" name=\"{}\"{req}{invalid}>{opts}</select>{}",
                    label(lang, f),
                    esc(&path),
                    error_list(errors, &path)
                ));
            }
            other => {
                let attrs = match other {
                    FieldType::Text { max_length } => format!(" maxlength=\"{max_length}\""),
                    FieldType::Date { .. } => " type=\"date\"".to_owned(),
                    FieldType::CitizenId => {
                        " inputmode=\"numeric\" maxlength=\"12\" autocomplete=\"off\"".to_owned()
                    }
                    FieldType::Integer { min, max } => {
                        format!(" type=\"number\" min=\"{min}\" max=\"{max}\"")
                    }
                    _ => String::new(),
                };
                s.push_str(&format!(
                    "<label for=\"{id}\">{}</label><input id=\"{id}\" name=\"{}\" value=\"{value}\"{attrs}{req}{invalid}>{}",
                    label(lang, f),
                    esc(&path),
                    error_list(errors, &path)
                ));
            }
        }
    }
    s
}

fn issue_form(
    lang: Lang,
    p: &Principal,
    schema: &crate::templates::Schema,
    typed: &Typed,
    key: &str,
    errors: &Errors,
) -> String {
    let title = match lang {
        Lang::Vi => &schema.title_vi,
        Lang::En => &schema.title_en,
    };
    let mut b = format!("<h1>{}</h1>", esc(title));
    if !errors.is_empty() {
        let count: usize = errors.values().map(Vec::len).sum();
        b.push_str(&format!(
            "<p class=\"bad\" id=\"errors\">{}</p>",
            match lang {
                Lang::Vi => format!("Có {count} chỗ cần sửa, ghi bên cạnh từng ô."),
                Lang::En => format!("{count} problem(s) to fix, shown beside each field."),
            }
        ));
        // Problems whose path names no input on the form (e.g. a rule across fields).
        let mut shown = std::collections::HashSet::new();
        collect_paths(&schema.fields, "", typed, &mut shown);
        for (path, es) in errors {
            if !shown.contains(path) {
                for e in es {
                    b.push_str(&format!("<p class=\"err\">{}</p>", esc(e)));
                }
            }
        }
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"/clerk/issue/{}{}\" novalidate>{}\
<input type=\"hidden\" name=\"key\" value=\"{}\">\
<button class=\"default\" name=\"go\" value=\"preview\" tabindex=\"-1\" aria-hidden=\"true\">{}</button>{}\
<button id=\"preview\" name=\"go\" value=\"preview\">{}</button>\
<p class=\"note\">{}</p><button id=\"issue\" name=\"go\" value=\"issue\">{}</button></form>",
        esc(&schema.kind),
        suffix(lang),
        csrf_input(p),
        esc(key),
        pick(lang, "Xem trước", "Preview"),
        inputs(lang, &schema.fields, "", typed, errors),
        pick(lang, "Xem trước (chưa cấp số)", "Preview (no number yet)"),
        pick(
            lang,
            "Bấm “Cấp số”: giấy tờ được vào sổ, lấy số và chuyển cho người có thẩm quyền ký.",
            "“Issue” enters the document in the register, numbers it and sends it to the signing queue."
        ),
        pick(lang, "Cấp số", "Issue"),
    ));
    b
}

fn collect_paths(
    fields: &[Field],
    prefix: &str,
    typed: &Typed,
    out: &mut std::collections::HashSet<String>,
) {
    for f in fields {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        match &f.ty {
            FieldType::Object(sub) => collect_paths(sub, &path, typed, out),
            FieldType::List {
                item,
                min_items,
                max_items,
            } => {
                for i in 0..typed.rows(&path, *min_items, *max_items) {
                    let row = format!("{path}[{i}]");
                    collect_paths(item, &row, typed, out);
                    out.insert(row);
                }
            }
            _ => {}
        }
        out.insert(path);
    }
}

async fn schema_of(state: &State, kind: String) -> Result<crate::templates::Schema, ApiError> {
    state
        .blocking(move |app, _| {
            app.catalog()?
                .get(&kind)
                .map(|t| t.schema.clone())
                .ok_or_else(|| AppError::NotFound(format!("kind {kind}")))
        })
        .await
}

/// `GET /clerk/issue/{kind}`: the kind's form, empty.
pub async fn issue_page(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(kind): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = lang_of(&query(&q));
    let schema = match schema_of(&state, kind).await {
        Ok(s) => s,
        Err(e) => return failed(lang, &p, &e),
    };
    let typed = Typed {
        values: HashMap::new(),
    };
    let body = issue_form(lang, &p, &schema, &typed, &form_key(), &Errors::new());
    signed_in(
        lang,
        &p,
        &schema.title_vi,
        &format!("/clerk/issue/{}", schema.kind),
        &body,
    )
}

/// `POST /clerk/issue/{kind}`: issues, or shows the form again with every problem beside its
/// field and what was typed; `add` adds a row to a list instead.
pub async fn issue(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(kind): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let schema = match schema_of(&state, kind).await {
        Ok(s) => s,
        Err(e) => return failed(lang, &p, &e),
    };
    let typed = Typed {
        values: form(&body),
    };
    let key = typed.get("key").to_owned();
    let again = |errors: &Errors, status: StatusCode| {
        let key = if key.is_empty() {
            form_key()
        } else {
            key.clone()
        };
        let mut r = signed_in(
            lang,
            &p,
            &schema.title_vi,
            &format!("/clerk/issue/{}", schema.kind),
            &issue_form(lang, &p, &schema, &typed, &key, errors),
        );
        *r.status_mut() = status;
        r
    };
    let go = typed.get("go").to_owned();
    if typed.values.contains_key("add") || go == "edit" {
        return again(&Errors::new(), StatusCode::OK);
    }
    if go == "preview" {
        let data = serde_json::Value::Object(data_of(&schema.fields, "", &typed));
        let k = schema.kind.clone();
        let shown = state
            .blocking(move |app, _| app::issue::preview(app, &k, &data))
            .await;
        return match shown {
            Ok(_) => {
                let key = if key.is_empty() {
                    form_key()
                } else {
                    key.clone()
                };
                signed_in(
                    lang,
                    &p,
                    &pick(lang, "Bản xem trước", "Preview"),
                    &format!("/clerk/issue/{}", schema.kind),
                    &preview_page(lang, &p, &schema, &typed, &key),
                )
            }
            Err(e) if !e.errors.is_empty() => {
                again(&errors_of(lang, &e), StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(e) => failed(lang, &p, &e),
        };
    }
    // The issuing unit of work records the form's key with the document it numbers, so a
    // repeat of the form (after a crash or a restart too, or on another node) finds that
    // document; in this process a double click also waits for the first submission.
    let slot = state.forms.slot(p.user.id, &key);
    let mut guard = match slot {
        Some(s) => Some(s.lock_owned().await),
        None => None,
    };
    if let Some(id) = guard.as_ref().and_then(|g| (**g).clone()) {
        return see_other(&with_lang(&format!("/clerk/documents/{id}"), lang));
    }
    let form_key = crate::issuing::FormKey::new(p.user.id, &key);
    let data = serde_json::Value::Object(data_of(&schema.fields, "", &typed));
    let until = Instant::now() + WAIT_FOR_FIRST;
    let issued = loop {
        let (actor, k, data, fk) = (
            p.actor(),
            schema.kind.clone(),
            data.clone(),
            form_key.clone(),
        );
        let r = state
            .blocking(move |app, _| app::issue::issue_once(app, &actor, &k, &data, fk.as_ref()))
            .await;
        match r {
            Ok(crate::issuing::Issuance::InProgress) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(crate::issuing::Issuance::InProgress) => return busy(lang, &p),
            other => break other,
        }
    };
    let id = match issued {
        Ok(crate::issuing::Issuance::New(doc)) => {
            state.metrics.issued();
            doc.id
        }
        Ok(crate::issuing::Issuance::Earlier(record)) => record.id,
        Ok(crate::issuing::Issuance::InProgress) => return busy(lang, &p),
        Err(e) if e.errors.is_empty() => return failed(lang, &p, &e),
        Err(e) => return again(&errors_of(lang, &e), StatusCode::UNPROCESSABLE_ENTITY),
    };
    if let Some(g) = guard.as_mut() {
        **g = Some(id.clone());
    }
    see_other(&with_lang(&format!("/clerk/documents/{id}"), lang))
}

/// The per-field problems of a refusal, by field path, in the page's language.
fn errors_of(lang: Lang, e: &ApiError) -> Errors {
    let mut errors = Errors::new();
    for f in &e.errors {
        errors.entry(f.path.clone()).or_default().push(match lang {
            Lang::Vi => f.vi.clone(),
            Lang::En => f.en.clone(),
        });
    }
    errors
}

/// What was typed, as hidden inputs (the preview page posts it on unchanged).
fn hidden_inputs(typed: &Typed) -> String {
    let mut keys: Vec<&String> = typed
        .values
        .keys()
        .filter(|k| !matches!(k.as_str(), "csrf" | "key" | "go" | "add"))
        .collect();
    keys.sort();
    keys.iter()
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(typed.get(k))
            )
        })
        .collect()
}

/// What was typed, label by label, as the preview page lists it (one flat list: a group's
/// label goes before its fields' labels, so that the list fits a phone).
fn summary(lang: Lang, fields: &[Field], prefix: &str, group: &str, typed: &Typed) -> String {
    let mut s = String::new();
    for f in fields {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        let own = match lang {
            Lang::Vi => &f.vi,
            Lang::En => &f.en,
        };
        let name = if group.is_empty() {
            own.clone()
        } else {
            format!("{group} — {own}")
        };
        match &f.ty {
            FieldType::Object(sub) => s.push_str(&summary(lang, sub, &path, &name, typed)),
            FieldType::List {
                item,
                min_items,
                max_items,
            } => {
                for i in 0..typed.rows(&path, *min_items, *max_items) {
                    s.push_str(&summary(
                        lang,
                        item,
                        &format!("{path}[{i}]"),
                        &format!("{name} {}", i + 1),
                        typed,
                    ));
                }
            }
            _ => {
                let v = typed.get(&path).trim();
                if !v.is_empty() {
                    s.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(&name), esc(v)));
                }
            }
        }
    }
    s
}

/// The preview of a valid form: clearly not a document (nothing is numbered or recorded), what
/// was typed, the watermarked PDF on request, and the choice to correct or to issue.
fn preview_page(
    lang: Lang,
    p: &Principal,
    schema: &crate::templates::Schema,
    typed: &Typed,
    key: &str,
) -> String {
    let title = match lang {
        Lang::Vi => &schema.title_vi,
        Lang::En => &schema.title_en,
    };
    format!(
        "<h1>{}</h1><p class=\"preview\" id=\"preview\">{}</p><dl id=\"summary\" class=\"stack\">{}</dl>\
<form method=\"post\" action=\"/clerk/issue/{kind}{sfx}\">{}<input type=\"hidden\" name=\"key\" value=\"{}\">{}\
<button id=\"preview-pdf\" formaction=\"/clerk/preview/{kind}{sfx}\" formtarget=\"_blank\">{}</button>\
<button id=\"edit\" name=\"go\" value=\"edit\">{}</button>\
<p class=\"note\">{}</p><button id=\"issue\" name=\"go\" value=\"issue\">{}</button></form>",
        esc(title),
        pick(
            lang,
            "BẢN XEM TRƯỚC — chưa vào sổ, chưa có số, không có giá trị.",
            "PREVIEW — not in the register, no number, of no legal effect."
        ),
        summary(lang, &schema.fields, "", "", typed),
        csrf_input(p),
        esc(key),
        hidden_inputs(typed),
        pick(lang, "Mở bản xem trước (PDF)", "Open the preview (PDF)"),
        pick(lang, "Sửa lại", "Correct it"),
        pick(
            lang,
            "Bấm “Cấp số”: giấy tờ được vào sổ, lấy số và chuyển cho người có thẩm quyền ký.",
            "“Issue” enters the document in the register, numbers it and sends it to the signing queue."
        ),
        pick(lang, "Cấp số", "Issue"),
        kind = esc(&schema.kind),
        sfx = suffix(lang),
    )
}

/// `POST /clerk/preview/{kind}`: the form's document as a PDF marked "BẢN XEM TRƯỚC", without
/// a number, recorded nowhere; or the form again with its problems.
pub async fn preview_pdf(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    Path(kind): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let schema = match schema_of(&state, kind).await {
        Ok(s) => s,
        Err(e) => return failed(lang, &p, &e),
    };
    let typed = Typed {
        values: form(&body),
    };
    let data = serde_json::Value::Object(data_of(&schema.fields, "", &typed));
    let k = schema.kind.clone();
    match state
        .blocking(move |app, _| app::issue::preview(app, &k, &data))
        .await
    {
        Ok(pdf) => (
            [
                (header::CONTENT_TYPE, "application/pdf"),
                (header::CACHE_CONTROL, "no-store"),
                (
                    header::CONTENT_DISPOSITION,
                    "inline; filename=\"ban-xem-truoc.pdf\"",
                ),
            ],
            pdf,
        )
            .into_response(),
        Err(e) if !e.errors.is_empty() => {
            let key = match typed.get("key") {
                "" => form_key(),
                k => k.to_owned(),
            };
            let mut r = signed_in(
                lang,
                &p,
                &schema.title_vi,
                &format!("/clerk/issue/{}", schema.kind),
                &issue_form(lang, &p, &schema, &typed, &key, &errors_of(lang, &e)),
            );
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
        Err(e) => failed(lang, &p, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// Official and seal

/// `GET /official` and `GET /seal`: the documents the register lets this signer sign now.
pub async fn queue_page(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(&q);
    queue(
        &state,
        &p,
        lang_of(&q),
        q.get("signed").map(String::as_str),
        None,
    )
    .await
}

async fn queue(
    state: &State,
    p: &Principal,
    lang: Lang,
    signed: Option<&str>,
    refusal: Option<&ApiError>,
) -> Response {
    let Some(official) = p.user.official_id.clone() else {
        return failed(lang, p, &auth::wrong_role());
    };
    let found = state
        .blocking(move |app, _| Ok((app::queue::signing_queue(app, &official)?, app.catalog()?)))
        .await;
    let (items, catalog) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, p, &e),
    };
    let here = home(p.role);
    let mut b = if p.role == Role::Official {
        format!(
            "<p><a id=\"delegations\" href=\"{}\">{}</a></p>",
            esc(&with_lang("/official/delegations", lang)),
            pick(
                lang,
                "Ủy quyền ký (giao, thu hồi)",
                "Delegations (grant, revoke)"
            )
        )
    } else {
        String::new()
    };
    b.push_str(&format!(
        "<h1>{}</h1>",
        if p.role == Role::Seal {
            pick(
                lang,
                "Giấy tờ chờ đóng dấu cơ quan",
                "Documents awaiting the agency seal",
            )
        } else {
            pick(lang, "Giấy tờ chờ ký", "Documents awaiting your signature")
        }
    ));
    if let Some(id) = signed.filter(|id| app::verify::is_document_id(id)) {
        b.push_str(&format!(
            "<p class=\"ok\" id=\"message\">{} <a href=\"/v/{id}{}\">{}</a></p>",
            pick(lang, "Đã ký.", "Signed."),
            suffix(lang),
            pick(lang, "Xem trang kiểm tra", "See its verification page"),
            id = esc(id),
        ));
    }
    if let Some(e) = refusal {
        b.push_str(&format!(
            "<p class=\"bad\" id=\"message\" data-problem=\"{}\">{}</p>",
            esc(&e.kind),
            esc(match lang {
                Lang::Vi => &e.detail_vi,
                Lang::En => &e.detail_en,
            })
        ));
    }
    if items.is_empty() {
        b.push_str(&format!(
            "<p id=\"queue\">{}</p>",
            pick(
                lang,
                "Không có giấy tờ nào đang chờ.",
                "Nothing is waiting."
            )
        ));
    } else {
        b.push_str("<ul id=\"queue\" class=\"queue\">");
        for it in &items {
            let d = &it.document;
            let as_line = |c: &app::queue::CapacityChoice| match &c.basis {
                Some(basis) => format!(
                    "{} — {} {}",
                    c.line,
                    pick(lang, "theo quyết định", "under decision"),
                    basis
                ),
                None => format!("{} — {}", c.line, pick(lang, "tự mình", "in own right")),
            };
            let value = |c: &app::queue::CapacityChoice| {
                c.delegation
                    .map_or_else(|| "own".to_owned(), |d| d.to_string())
            };
            // The capacity is chosen among those the register allows, never typed.
            let capacity = match it.choices.as_slice() {
                [] => format!(
                    "{}: {}",
                    pick(lang, "Chữ ký của lãnh đạo", "The official's signature"),
                    esc(it.capacity.as_deref().unwrap_or(""))
                ),
                [one] => format!(
                    "{}: <b>{}</b><input type=\"hidden\" name=\"capacity\" value=\"{}\">",
                    pick(lang, "Ký với tư cách", "Signing as"),
                    esc(&as_line(one)),
                    esc(&value(one))
                ),
                many => {
                    // Radio buttons: each capacity in full, wrapping on a phone.
                    let options: String = many
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            format!(
                                "<label class=\"check\"><input type=\"radio\" name=\"capacity\" value=\"{}\"{}> {}</label>",
                                esc(&value(c)),
                                if i == 0 { " checked" } else { "" },
                                esc(&as_line(c))
                            )
                        })
                        .collect();
                    format!(
                        "<fieldset class=\"capacity\"><legend>{}</legend>{options}</fieldset>",
                        pick(lang, "Ký với tư cách", "Signing as"),
                    )
                }
            };
            let device = if p.role == Role::Official {
                format!(
                    " <button class=\"alt\" formaction=\"/official/prepare{}\">{}</button>",
                    suffix(lang),
                    pick(
                        lang,
                        "Ký bằng thiết bị (USB token)",
                        "Sign with a device (token)"
                    )
                )
            } else {
                String::new()
            };
            b.push_str(&format!(
                "<li><b>{}</b> — {}<br>{}: {}<br>\
<a href=\"/api/v1/documents/{id}/pdf\">{}</a>\
<form method=\"post\" action=\"{here}{}\">{}<input type=\"hidden\" name=\"document\" value=\"{id}\">\
<input type=\"hidden\" name=\"key\" value=\"{}\">{capacity}<br><button>{}</button>{device}</form></li>",
                esc(&number_text(&catalog, d)),
                esc(&kind_title(lang, &catalog, &d.kind)),
                pick(lang, "Người yêu cầu", "Requester"),
                esc(&it.persons.join(", ")),
                pick(lang, "Xem tệp PDF", "Open the PDF"),
                suffix(lang),
                csrf_input(p),
                esc(&form_key()),
                if p.role == Role::Seal {
                    pick(lang, "Đóng dấu", "Apply the seal")
                } else {
                    pick(lang, "Ký bằng khóa đã đăng ký", "Sign with the registered key")
                },
                id = esc(&d.id),
            ));
        }
        b.push_str("</ul>");
        if items.len() >= app::queue::QUEUE_LIMIT {
            b.push_str(&format!(
                "<p class=\"warn\">{}</p>",
                match lang {
                    Lang::Vi => format!(
                        "Hiện {} giấy tờ chờ lâu nhất; các giấy tờ khác hiện ra khi những giấy tờ này đã ký.",
                        items.len()
                    ),
                    Lang::En => format!(
                        "Showing the {} documents waiting longest; the others appear as these are signed.",
                        items.len()
                    ),
                }
            ));
        }
    }
    let mut r = signed_in(lang, p, &pick(lang, "Chờ ký", "Signing queue"), here, &b);
    if let Some(e) = refusal {
        *r.status_mut() = e.status();
    }
    r
}

/// `POST /official` and `POST /seal`: signs `document` as the signer's official record with
/// its registered key; the queue again, with the result or the refusal in words.
pub async fn sign(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let Some(official) = p.user.official_id.clone() else {
        return failed(lang, &p, &auth::wrong_role());
    };
    let id = f.get("document").cloned().unwrap_or_default();
    let key = f.get("key").cloned().unwrap_or_default();
    let done = |id: &str| see_other(&with_lang(&format!("{}?signed={id}", home(p.role)), lang));
    let held = match submit(&state, p.user.id, &key).await {
        Ok(Submission::Do(h)) => h,
        Ok(Submission::Done(id)) => return done(&id),
        Ok(Submission::Busy) => return busy(lang, &p),
        Err(e) => return failed(lang, &p, &e),
    };
    let doc = id.clone();
    let signed = state
        .blocking(move |app, _| {
            if !app::verify::is_document_id(&doc) {
                return Err(AppError::NotFound(format!("document {doc}")));
            }
            app::sign::sign_document(app, &official, &official, &doc, &sign_options(&f)?)
        })
        .await;
    match signed {
        Ok(_) => {
            state.metrics.signed();
            held.finish(&state, &id).await;
            done(&id)
        }
        Err(e) => {
            held.release(&state).await;
            queue(&state, &p, lang, None, Some(&e)).await
        }
    }
}

/// The signing options of a queue form: the capacity chosen (`own`, or a delegation's id).
fn sign_options(f: &HashMap<String, String>) -> Result<app::sign::DocumentSign, AppError> {
    let delegation = match f.get("capacity").map(|c| c.trim()) {
        None | Some("" | "own") => None,
        Some(id) => Some(id.parse::<i64>().map_err(|_| {
            app::error::Denial::input(
                "tư cách ký phải chọn trong danh sách",
                "the capacity must be one of those listed",
            )
        })?),
    };
    Ok(app::sign::DocumentSign {
        delegation,
        ..app::sign::DocumentSign::default()
    })
}

/// What the device page shows, carried in its form so that a refused completion shows it
/// again: nothing here decides anything (the handle does).
struct DeviceStep {
    handle: String,
    document: String,
    number: String,
    capacity: String,
    algorithm: String,
    digest_hex: String,
    digest_base64: String,
    expires_at: String,
}

impl DeviceStep {
    fn from_form(f: &HashMap<String, String>) -> DeviceStep {
        let g = |k: &str| f.get(k).cloned().unwrap_or_default();
        DeviceStep {
            handle: g("handle"),
            document: g("document"),
            number: g("number"),
            capacity: g("capacity_line"),
            algorithm: g("algorithm"),
            digest_hex: g("digest_hex"),
            digest_base64: g("digest_base64"),
            expires_at: g("expires_at"),
        }
    }
}

/// The device step: the digest to give the device, and a form for the raw signature it returns.
/// `kyso.js` (the only script) adds a copy button, checks the pasted value before sending and
/// counts down to the expiry; without it the page works the same.
fn device_page(
    lang: Lang,
    p: &Principal,
    step: &DeviceStep,
    key: &str,
    problem: Option<&str>,
) -> Response {
    let hidden = [
        ("handle", &step.handle),
        ("document", &step.document),
        ("number", &step.number),
        ("capacity_line", &step.capacity),
        ("algorithm", &step.algorithm),
        ("digest_hex", &step.digest_hex),
        ("digest_base64", &step.digest_base64),
        ("expires_at", &step.expires_at),
    ]
    .iter()
    .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
    .collect::<String>();
    let b = format!(
        "<h1>{}</h1><dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd id=\"capacity\">{}</dd>\
<dt>{}</dt><dd>{}</dd><dt>{}</dt><dd id=\"expires\" data-expires=\"{}\">{} <span id=\"left\"></span></dd></dl>\
<p>{}</p><p>SHA-256 (hex): <code id=\"digest-hex\">{}</code></p><p>Base64: <code id=\"digest-b64\">{}</code></p>\
<button type=\"button\" id=\"copy\" data-copy=\"digest-b64\" data-done=\"{}\" hidden>{}</button>\
<form method=\"post\" action=\"/official/complete{}\" id=\"complete\">{}<input type=\"hidden\" name=\"key\" value=\"{}\">{hidden}\
<label for=\"signature\">{}</label><textarea id=\"signature\" name=\"signature\" rows=\"5\" required autocomplete=\"off\" spellcheck=\"false\"{}></textarea>\
<span class=\"err\" id=\"signature-error\" data-message=\"{}\">{}</span><button id=\"complete-button\">{}</button></form>\
<p><a href=\"{}\">{}</a></p><script src=\"/static/kyso.js\" defer></script>",
        pick(
            lang,
            "Ký bằng thiết bị giữ khóa",
            "Sign with a device that holds the key"
        ),
        pick(lang, "Giấy tờ", "Document"),
        esc(&step.number),
        pick(lang, "Ký với tư cách", "Signing as"),
        esc(&step.capacity),
        pick(lang, "Thuật toán", "Algorithm"),
        esc(&step.algorithm),
        pick(lang, "Hết hạn lúc", "Expires at"),
        esc(&step.expires_at),
        esc(&time::OffsetDateTime::parse(
            &step.expires_at,
            &time::format_description::well_known::Rfc3339
        )
        .map_or_else(|_| step.expires_at.clone(), local_time)),
        pick(
            lang,
            "1. Đưa chuỗi băm dưới đây cho thiết bị ký (USB token, ứng dụng ký số) để ký bằng khóa của ông/bà.",
            "1. Give the digest below to the signing device (USB token, signing app) to sign with your key."
        ),
        esc(&step.digest_hex),
        esc(&step.digest_base64),
        pick(lang, "Đã sao chép", "Copied"),
        pick(lang, "Sao chép chuỗi băm", "Copy the digest"),
        suffix(lang),
        csrf_input(p),
        esc(key),
        pick(
            lang,
            "2. Dán chữ ký thiết bị trả về (base64)",
            "2. Paste the signature the device returned (base64)"
        ),
        if problem.is_some() {
            " aria-invalid=\"true\""
        } else {
            ""
        },
        pick(
            lang,
            "Chữ ký phải là chuỗi base64 thiết bị trả về.",
            "The signature must be the base64 text the device returned."
        ),
        esc(problem.unwrap_or("")),
        pick(lang, "Hoàn tất ký", "Complete the signature"),
        esc(&with_lang("/official", lang)),
        pick(
            lang,
            "Hủy, về danh sách chờ ký",
            "Cancel, back to the queue"
        ),
    );
    let mut r = signed_in(
        lang,
        p,
        &pick(lang, "Ký bằng thiết bị", "Sign with a device"),
        "/official",
        &b,
    );
    if problem.is_some() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// `POST /official/prepare`: prepares the signature of `document` in the capacity chosen,
/// for the official's device; the device page with the digest.
pub async fn prepare(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let Some(official) = p.user.official_id.clone() else {
        return failed(lang, &p, &auth::wrong_role());
    };
    let id = f.get("document").cloned().unwrap_or_default();
    let prepared = state
        .blocking(move |app, _| {
            if !app::verify::is_document_id(&id) {
                return Err(AppError::NotFound(format!("document {id}")));
            }
            let opts = sign_options(&f)?;
            let prepared =
                app::sign::prepare_document(app, &official, &official, &id, None, &opts)?;
            let choices = app::queue::capacities_for(app, &official, &id)?;
            let line = choices
                .iter()
                .find(|c| c.delegation == opts.delegation)
                .or(choices.first())
                .map(|c| c.line.clone())
                .unwrap_or_default();
            let d = app::issue::document(app, &id)?;
            let catalog = app.catalog()?;
            let number = number_text(&catalog, &d);
            Ok((prepared, line, number, d.id))
        })
        .await;
    match prepared {
        Ok((prepared, capacity, number, document)) => {
            let step = DeviceStep {
                handle: prepared.handle,
                document,
                number,
                capacity,
                algorithm: prepared.algorithm.name().to_owned(),
                digest_hex: crate::pki::hex_upper(&prepared.digest).to_ascii_lowercase(),
                digest_base64: <base64ct::Base64 as base64ct::Encoding>::encode_string(
                    &prepared.digest,
                ),
                expires_at: crate::authority::store::fmt_time(prepared.expires_at),
            };
            device_page(lang, &p, &step, &form_key(), None)
        }
        Err(e) => queue(&state, &p, lang, None, Some(&e)).await,
    }
}

/// `POST /official/complete`: completes the prepared signature with the device's raw value
/// (only for the official it was prepared for, once); the queue with the result, or the device
/// page again with the refusal.
pub async fn complete(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let Some(official) = p.user.official_id.clone() else {
        return failed(lang, &p, &auth::wrong_role());
    };
    let step = DeviceStep::from_form(&f);
    let key = f.get("key").cloned().unwrap_or_default();
    let done = |id: &str| see_other(&with_lang(&format!("/official?signed={id}"), lang));
    let raw: String = f
        .get("signature")
        .map(|s| s.chars().filter(|c| !c.is_whitespace()).collect())
        .unwrap_or_default();
    let Ok(raw) = <base64ct::Base64 as base64ct::Encoding>::decode_vec(&raw) else {
        let m = pick(
            lang,
            "Chữ ký phải là chuỗi base64 thiết bị trả về.",
            "The signature must be the base64 text the device returned.",
        );
        return device_page(lang, &p, &step, &key, Some(&m));
    };
    let held = match submit(&state, p.user.id, &key).await {
        Ok(Submission::Do(h)) => h,
        Ok(Submission::Done(id)) => return done(&id),
        Ok(Submission::Busy) => return busy(lang, &p),
        Err(e) => return failed(lang, &p, &e),
    };
    let handle = step.handle.clone();
    let completed = state
        .blocking(move |app, _| app::sign::complete_for(app, &official, &handle, &raw))
        .await;
    match completed {
        Ok(signed) => {
            state.metrics.signed();
            let id = signed.document.unwrap_or_default();
            held.finish(&state, &id).await;
            done(&id)
        }
        Err(e) => {
            held.release(&state).await;
            let m = match lang {
                Lang::Vi => e.detail_vi.clone(),
                Lang::En => e.detail_en.clone(),
            };
            let mut r = device_page(lang, &p, &step, &form_key(), Some(&m));
            *r.status_mut() = e.status();
            r
        }
    }
}

/// A URL-encoded form's fields in order, repeated names kept (checkbox lists).
fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// `GET /official/delegations`: the delegations the official granted (with a revoke form each)
/// and received, and the form to grant one, signed with their registered key.
pub async fn official_delegations_page(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query(&q);
    let message = q.contains_key("done").then(|| {
        (
            true,
            pick(lang_of(&q), "Đã ghi vào sổ.", "Recorded in the register."),
        )
    });
    official_delegations(&state, &p, lang_of(&q), &[], &Errors::new(), message).await
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

fn delegation_item(
    lang: Lang,
    d: &crate::authority::Delegation,
    now: time::OffsetDateTime,
) -> String {
    let date = local_time;
    let state_words = match &d.revoked {
        Some((at, reason)) => format!(
            "<span class=\"bad\">{} {} ({})</span>",
            pick(lang, "Đã thu hồi từ", "Revoked from"),
            esc(&date(*at)),
            esc(reason)
        ),
        None if d.valid_from <= now && now <= d.valid_until => format!(
            "<span class=\"ok\">{}</span>",
            pick(lang, "Đang có hiệu lực", "In force")
        ),
        None => format!(
            "<span class=\"warn\">{}</span>",
            pick(lang, "Không trong thời hạn", "Outside its validity")
        ),
    };
    let (first, second) = d.capacity_lines();
    let chain: Vec<String> = d
        .chain()
        .iter()
        .map(|l| {
            format!(
                "{} {} → {} ({})",
                l.mark,
                esc(&l.delegator.full_name),
                esc(&l.delegate.full_name),
                esc(&l.basis_number)
            )
        })
        .collect();
    format!(
        "<b>{} / {}</b>: {} → {}<br>{} {} – {}; {} {} ({})<br>{}: {}<br>{}{}",
        esc(&first),
        esc(&second),
        esc(&d.delegator.full_name),
        esc(&d.delegate.full_name),
        pick(lang, "Hiệu lực", "Valid"),
        esc(&date(d.valid_from)),
        esc(&date(d.valid_until)),
        pick(lang, "quyết định", "decision"),
        esc(&d.basis_number),
        esc(&d.basis_date),
        pick(lang, "Loại giấy tờ", "Kinds"),
        esc(&d.scope.join(", ")),
        state_words,
        if chain.len() > 1 {
            format!(
                "<br>{}: {}",
                pick(lang, "Chuỗi ủy quyền", "Chain of grants"),
                chain.join(" ⟶ ")
            )
        } else {
            String::new()
        }
    )
}

async fn official_delegations(
    state: &State,
    p: &Principal,
    lang: Lang,
    typed: &[(String, String)],
    errors: &Errors,
    message: Option<(bool, String)>,
) -> Response {
    let Some(official) = p.user.official_id.clone() else {
        return failed(lang, p, &auth::wrong_role());
    };
    let me = official.clone();
    let found = state
        .blocking(move |app, _| {
            Ok((
                app::admin::delegations(app, Some(&me))?,
                app::admin::officials(app)?,
                app.catalog()?,
                app.now(),
            ))
        })
        .await;
    let (list, officials, catalog, now) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, p, &e),
    };
    let v = |k: &str| {
        typed
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    };
    let checked = |k: &str| typed.iter().any(|(n, v)| n == "kind" && v == k);
    let mut b = format!("<h1>{}</h1>", pick(lang, "Ủy quyền ký", "Delegations"));
    if let Some((ok, m)) = &message {
        b.push_str(&format!(
            "<p class=\"{}\" id=\"message\">{}</p>",
            if *ok { "ok" } else { "bad" },
            esc(m)
        ));
    }
    b.push_str(&format!(
        "<h2>{}</h2><ul id=\"granted\" class=\"queue\">",
        pick(lang, "Đã giao", "Granted by you")
    ));
    for d in list.iter().filter(|d| d.delegator.id == official) {
        b.push_str(&format!("<li>{}", delegation_item(lang, d, now)));
        if d.revoked.is_none() {
            b.push_str(&format!(
                "<form method=\"post\" action=\"/official/delegations/revoke{}\">{}\
<input type=\"hidden\" name=\"delegation\" value=\"{}\"><label>{}<input name=\"reason\" required></label>\
<button>{}</button></form>",
                suffix(lang),
                csrf_input(p),
                d.id,
                pick(lang, "Lý do thu hồi", "Reason for revoking"),
                pick(lang, "Thu hồi", "Revoke"),
            ));
        }
        b.push_str("</li>");
    }
    b.push_str(&format!(
        "</ul><h2>{}</h2><ul id=\"received\" class=\"queue\">",
        pick(lang, "Được giao", "Granted to you")
    ));
    for d in list.iter().filter(|d| d.delegate.id == official) {
        b.push_str(&format!("<li>{}</li>", delegation_item(lang, d, now)));
    }
    b.push_str("</ul>");
    // The grant form: every problem beside its field, what was typed kept.
    let marks = [
        (
            "KT",
            "KT. — ký thay (cấp phó)",
            "KT. — signs in place of the head (a deputy)",
        ),
        (
            "TM",
            "TM. — thay mặt tập thể",
            "TM. — on behalf of the collective body",
        ),
        (
            "TL",
            "TL. — thừa lệnh (trưởng đơn vị)",
            "TL. — by order (a unit head)",
        ),
        (
            "TUQ",
            "TUQ. — thừa ủy quyền",
            "TUQ. — by special authorisation",
        ),
        ("Q", "Q. — quyền (cấp trưởng)", "Q. — acting head"),
    ];
    let mark_options: String = marks
        .iter()
        .map(|(code, vi, en)| {
            format!(
                "<option value=\"{code}\"{}>{}</option>",
                if v("mark") == *code { " selected" } else { "" },
                esc(&pick(lang, vi, en))
            )
        })
        .collect();
    let people: String = officials
        .iter()
        .filter(|o| !o.is_seal && o.id != official)
        .map(|o| {
            format!(
                "<option value=\"{}\"{}>{} — {}</option>",
                esc(&o.id),
                if v("delegate") == o.id {
                    " selected"
                } else {
                    ""
                },
                esc(&o.full_name),
                esc(&o.title)
            )
        })
        .collect();
    let kinds: String = catalog
        .kinds()
        .map(|t| {
            let k = &t.schema.kind;
            format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"kind\" value=\"{}\"{}> {}</label>",
                esc(k),
                if checked(k) { " checked" } else { "" },
                esc(&kind_title(lang, &catalog, k))
            )
        })
        .collect();
    let sources: String = list
        .iter()
        .filter(|d| {
            d.delegate.id == official && d.revoked.is_none() && d.mark == crate::authority::Mark::Tl
        })
        .map(|d| {
            format!(
                "<option value=\"{}\"{}>{} {} ({})</option>",
                d.id,
                if v("source") == d.id.to_string() {
                    " selected"
                } else {
                    ""
                },
                d.mark,
                esc(&d.delegator.full_name),
                esc(&d.basis_number)
            )
        })
        .collect();
    let field = |name: &str, label: String, input: String| {
        format!(
            "<label for=\"g-{name}\">{label}</label>{input}{}",
            error_list(errors, name)
        )
    };
    let invalid = |name: &str| {
        if errors.contains_key(name) {
            " aria-invalid=\"true\""
        } else {
            ""
        }
    };
    b.push_str(&format!(
        "<h2>{}</h2><form method=\"post\" action=\"/official/delegations{}\" id=\"grant\" novalidate>{}{}{}\
<fieldset><legend>{}</legend>{kinds}{}</fieldset>{}{}{}{}{}<p class=\"note\">{}</p><button id=\"grant-button\">{}</button></form>",
        pick(lang, "Giao ủy quyền mới", "Grant a delegation"),
        suffix(lang),
        csrf_input(p),
        field(
            "mark",
            pick(lang, "Hình thức", "Mark"),
            format!("<select id=\"g-mark\" name=\"mark\"{}>{mark_options}</select>", invalid("mark"))
        ),
        field(
            "delegate",
            pick(lang, "Giao cho", "To"),
            format!(
                "<select id=\"g-delegate\" name=\"delegate\"{}><option value=\"\">{}</option>{people}</select>",
                invalid("delegate"),
                pick(lang, "— chọn —", "— choose —")
            )
        ),
        pick(lang, "Loại giấy tờ", "Document kinds"),
        error_list(errors, "kind"),
        field(
            "valid_from",
            pick(lang, "Từ ngày", "From"),
            format!("<input type=\"date\" id=\"g-valid_from\" name=\"valid_from\" value=\"{}\"{}>", esc(v("valid_from")), invalid("valid_from"))
        ),
        field(
            "valid_until",
            pick(lang, "Đến hết ngày", "Until the end of"),
            format!("<input type=\"date\" id=\"g-valid_until\" name=\"valid_until\" value=\"{}\"{}>", esc(v("valid_until")), invalid("valid_until"))
        ),
        field(
            "basis_number",
            pick(lang, "Số quyết định", "Decision number"),
            format!("<input id=\"g-basis_number\" name=\"basis_number\" value=\"{}\"{}>", esc(v("basis_number")), invalid("basis_number"))
        ),
        field(
            "basis_date",
            pick(lang, "Ngày quyết định", "Decision date"),
            format!("<input type=\"date\" id=\"g-basis_date\" name=\"basis_date\" value=\"{}\"{}>", esc(v("basis_date")), invalid("basis_date"))
        ),
        if sources.is_empty() {
            String::new()
        } else {
            field(
                "source",
                pick(lang, "Giao lại từ ủy quyền (TL.)", "Passed on from (TL.)"),
                format!(
                    "<select id=\"g-source\" name=\"source\"><option value=\"\">{}</option>{sources}</select>",
                    pick(lang, "— không —", "— none —")
                ),
            )
        },
        pick(
            lang,
            "Quyết định ủy quyền được ký bằng chứng thư số đã đăng ký của ông/bà.",
            "The grant is signed with your registered certificate."
        ),
        pick(lang, "Giao và ký", "Grant and sign"),
    ));
    let mut r = signed_in(
        lang,
        p,
        &pick(lang, "Ủy quyền ký", "Delegations"),
        "/official/delegations",
        &b,
    );
    if !errors.is_empty() || message.as_ref().is_some_and(|(ok, _)| !ok) {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// `POST /official/delegations`: grants a delegation from the signed-in official, signed with
/// their registered key; the rules of Decree 30/2020 Art. 13 decide (refusals in words).
pub async fn grant(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let Some(official) = p.user.official_id.clone() else {
        return failed(lang, &p, &auth::wrong_role());
    };
    let typed = form_pairs(&body);
    let v = |k: &str| {
        typed
            .iter()
            .find(|(n, _)| n == k)
            .map_or(String::new(), |(_, v)| v.trim().to_owned())
    };
    let mut errors = Errors::new();
    let mut problem = |k: &str, vi: &str, en: &str| {
        errors
            .entry(k.to_owned())
            .or_default()
            .push(pick(lang, vi, en));
    };
    let day = |k: &str| {
        time::Date::parse(
            &v(k),
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()
    };
    let mark = crate::authority::Mark::parse(&v("mark"));
    if mark.is_none() {
        problem("mark", "Chọn hình thức ủy quyền.", "Choose the mark.");
    }
    if v("delegate").is_empty() {
        problem(
            "delegate",
            "Chọn người được giao.",
            "Choose who receives it.",
        );
    }
    let kinds: Vec<String> = typed
        .iter()
        .filter(|(n, _)| n == "kind")
        .map(|(_, v)| v.clone())
        .collect();
    if kinds.is_empty() {
        problem(
            "kind",
            "Chọn ít nhất một loại giấy tờ.",
            "Choose at least one kind.",
        );
    }
    let (from, until) = (day("valid_from"), day("valid_until"));
    if from.is_none() {
        problem("valid_from", "Nhập ngày bắt đầu.", "Enter the first day.");
    }
    if until.is_none() {
        problem("valid_until", "Nhập ngày kết thúc.", "Enter the last day.");
    }
    if v("basis_number").is_empty() {
        problem(
            "basis_number",
            "Nhập số quyết định.",
            "Enter the decision number.",
        );
    }
    if day("basis_date").is_none() {
        problem(
            "basis_date",
            "Nhập ngày quyết định.",
            "Enter the decision date.",
        );
    }
    let source = match v("source").as_str() {
        "" => None,
        s => s.parse::<i64>().ok(),
    };
    let (Some(mark), Some(from), Some(until), true) = (mark, from, until, errors.is_empty()) else {
        return official_delegations(&state, &p, lang, &typed, &errors, None).await;
    };
    let vn = crate::issuing::VIETNAM;
    let d = app::admin::NewDelegation {
        mark,
        delegator: official,
        delegate: v("delegate"),
        kinds,
        // A day in Vietnam, from its first second to its last.
        valid_from: from.midnight().assume_offset(vn),
        valid_until: until
            .with_hms(23, 59, 59)
            .unwrap_or_else(|_| until.midnight())
            .assume_offset(vn),
        basis_number: v("basis_number"),
        basis_date: v("basis_date"),
        source,
    };
    let granted = state
        .blocking(move |app, _| app::admin::grant_with_registered_key(app, d, true))
        .await;
    match granted {
        Ok(_) => see_other(&with_lang("/official/delegations?done=1", lang)),
        Err(e) => {
            let m = match lang {
                Lang::Vi => e.detail_vi.clone(),
                Lang::En => e.detail_en.clone(),
            };
            official_delegations(&state, &p, lang, &typed, &Errors::new(), Some((false, m))).await
        }
    }
}

/// `POST /official/delegations/revoke`: revokes, from now, a delegation the official granted.
pub async fn official_revoke(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let Some(official) = p.user.official_id.clone() else {
        return failed(lang, &p, &auth::wrong_role());
    };
    let f = form(&body);
    let reason = f.get("reason").cloned().unwrap_or_default();
    let id = f.get("delegation").and_then(|d| d.parse::<i64>().ok());
    let actor = p.actor();
    let done = state
        .blocking(move |app, _| {
            let id = id.ok_or_else(|| AppError::NotFound("delegation".into()))?;
            app::admin::revoke_delegation_by(app, &actor, Some(&official), id, &reason)
        })
        .await;
    match done {
        Ok(()) => see_other(&with_lang("/official/delegations?done=1", lang)),
        Err(e) => {
            let m = match lang {
                Lang::Vi => e.detail_vi.clone(),
                Lang::En => e.detail_en.clone(),
            };
            let mut r =
                official_delegations(&state, &p, lang, &[], &Errors::new(), Some((false, m))).await;
            *r.status_mut() = e.status();
            r
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Admin

/// The admin's pages, linked from each of them.
fn admin_nav(lang: Lang, here: &str) -> String {
    let links = [
        ("/admin", "Tổng quan", "Overview"),
        ("/admin/users", "Người dùng", "Users"),
        (
            "/admin/officials",
            "Cán bộ, chứng thư số",
            "Officials, certificates",
        ),
        ("/admin/delegations", "Ủy quyền ký", "Delegations"),
        ("/admin/audit", "Nhật ký", "Audit log"),
    ];
    let items: Vec<String> = links
        .iter()
        .map(|(path, vi, en)| {
            if *path == here {
                format!("<b>{}</b>", pick(lang, vi, en))
            } else {
                format!(
                    "<a href=\"{}\">{}</a>",
                    esc(&with_lang(path, lang)),
                    pick(lang, vi, en)
                )
            }
        })
        .collect();
    format!(
        "<p class=\"tabs\" id=\"admin-nav\">{}</p>",
        items.join(" · ")
    )
}

/// A refusal or a success line at the top of a page.
fn note(message: Option<&(bool, String)>) -> String {
    message.map_or_else(String::new, |(ok, m)| {
        format!(
            "<p class=\"{}\" id=\"message\">{}</p>",
            if *ok { "ok" } else { "bad" },
            esc(m)
        )
    })
}

fn words(lang: Lang, e: &ApiError) -> String {
    match lang {
        Lang::Vi => e.detail_vi.clone(),
        Lang::En => e.detail_en.clone(),
    }
}

/// `GET /admin`: the archive's state (backlog, oldest waiting, failures and their reasons)
/// and the way to the other pages.
pub async fn admin_home(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = lang_of(&query(&q));
    let found = state
        .blocking(|app, _| Ok((app::admin::archive_status(app)?, app.now())))
        .await;
    let (archive, now) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, &p, &e),
    };
    let mut b = format!(
        "<h1>{}</h1>{}<h2>{}</h2><dl id=\"archive\"><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{} KB</dd>",
        pick(lang, "Quản trị", "Administration"),
        admin_nav(lang, "/admin"),
        pick(lang, "Lưu trữ", "Archive"),
        pick(lang, "Đang chờ", "Waiting"),
        archive.pending,
        pick(lang, "Lỗi, sẽ thử lại", "Failed, to be retried"),
        archive.failed,
        pick(lang, "Đã lưu", "Archived"),
        archive.archived,
        pick(lang, "Dung lượng chờ", "Bytes waiting"),
        archive.waiting_bytes.div_ceil(1024),
    );
    if let Some(w) = &archive.oldest_waiting {
        let age =
            time::OffsetDateTime::parse(&w.since, &time::format_description::well_known::Rfc3339)
                .map(|t| (now - t).whole_minutes().max(0))
                .unwrap_or(0);
        b.push_str(&format!(
            "<dt>{}</dt><dd>{} ({} {}, {} {})</dd>",
            pick(lang, "Chờ lâu nhất", "Oldest waiting"),
            esc(&w.key),
            age,
            pick(lang, "phút", "minutes"),
            w.attempts,
            pick(lang, "lần thử", "attempts"),
        ));
    }
    if archive.archived_without_retention > 0 {
        b.push_str(&format!(
            "<dt>{}</dt><dd class=\"warn\">{}</dd>",
            pick(
                lang,
                "Lưu không đủ thời hạn giữ",
                "Archived without the retention needed"
            ),
            archive.archived_without_retention
        ));
    }
    b.push_str("</dl>");
    if archive.failures.is_empty() {
        b.push_str(&format!(
            "<p class=\"ok\" id=\"failures\">{}</p>",
            pick(lang, "Không có lỗi lưu trữ.", "No archive failures.")
        ));
    } else {
        b.push_str(&format!(
            "<h2>{}</h2><table id=\"failures\"><tr><th>{}</th><th>{}</th></tr>",
            pick(lang, "Lỗi và nguyên nhân", "Failures and their reasons"),
            pick(lang, "Nguyên nhân", "Reason"),
            pick(lang, "Số giấy tờ", "Documents"),
        ));
        for (reason, n) in &archive.failures {
            b.push_str(&format!("<tr><td>{}</td><td>{n}</td></tr>", esc(reason)));
        }
        b.push_str("</table>");
    }
    signed_in(
        lang,
        &p,
        &pick(lang, "Quản trị", "Administration"),
        "/admin",
        &b,
    )
}

/// `GET /admin/users`: users with their roles, disable or enable each; API tokens, make or
/// revoke one; a form to add a user.
pub async fn users_page(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = lang_of(&query(&q));
    users(&state, &p, lang, &HashMap::new(), None).await
}

async fn users(
    state: &State,
    p: &Principal,
    lang: Lang,
    typed: &HashMap<String, String>,
    message: Option<(bool, String)>,
) -> Response {
    let found = state
        .blocking(|app, _| {
            Ok((
                app::users::list_users(app)?,
                app::users::list_tokens(app)?,
                app::admin::officials(app)?,
            ))
        })
        .await;
    let (list, tokens, officials) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, p, &e),
    };
    let v = |k: &str| esc(typed.get(k).map_or("", String::as_str));
    let mut b = format!(
        "<h1>{}</h1>{}{}<table id=\"users\"><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        pick(lang, "Người dùng", "Users"),
        admin_nav(lang, "/admin/users"),
        note(message.as_ref()),
        pick(lang, "Tên đăng nhập, tên", "Username, name"),
        pick(lang, "Vai trò", "Role"),
        pick(lang, "Cán bộ", "Official"),
    );
    for u in &list {
        b.push_str(&format!(
            "<tr><td>{}<br>{}{}</td><td>{}</td><td>{}</td><td><form class=\"inline\" method=\"post\" action=\"/admin/users/state{}\">{}\
<input type=\"hidden\" name=\"username\" value=\"{}\"><input type=\"hidden\" name=\"disabled\" value=\"{}\"><button>{}</button></form></td></tr>",
            esc(&u.username),
            esc(&u.display_name),
            if u.disabled {
                format!(" <span class=\"bad\">{}</span>", pick(lang, "(đã khóa)", "(disabled)"))
            } else {
                String::new()
            },
            u.role.as_str(),
            esc(u.official_id.as_deref().unwrap_or("")),
            suffix(lang),
            csrf_input(p),
            esc(&u.username),
            if u.disabled { "0" } else { "1" },
            if u.disabled {
                pick(lang, "Mở khóa", "Enable")
            } else {
                pick(lang, "Khóa", "Disable")
            },
        ));
    }
    let roles: String = [
        ("clerk", "Một cửa (clerk)"),
        ("official", "Lãnh đạo ký (official)"),
        ("seal", "Giữ dấu (seal)"),
        ("admin", "Quản trị (admin)"),
    ]
    .iter()
    .map(|(r, label)| {
        format!(
            "<option value=\"{r}\"{}>{label}</option>",
            if typed.get("role").map(String::as_str) == Some(*r) {
                " selected"
            } else {
                ""
            }
        )
    })
    .collect();
    let official_options: String = officials
        .iter()
        .map(|o| {
            format!(
                "<option value=\"{}\"{}>{} — {}</option>",
                esc(&o.id),
                if typed.get("official_id") == Some(&o.id) {
                    " selected"
                } else {
                    ""
                },
                esc(&o.full_name),
                esc(&o.title)
            )
        })
        .collect();
    b.push_str(&format!(
        "</table><h2>{}</h2><form method=\"post\" action=\"/admin/users{}\" id=\"add-user\">{}\
<label>{}<input name=\"username\" value=\"{}\" autocapitalize=\"none\" required></label>\
<label>{}<input name=\"display_name\" value=\"{}\" required></label>\
<label>{}<select name=\"role\">{roles}</select></label>\
<label>{}<select name=\"official_id\"><option value=\"\">{}</option>{official_options}</select></label>\
<label>{}<input type=\"password\" name=\"password\" autocomplete=\"new-password\" required></label>\
<button>{}</button></form>",
        pick(lang, "Thêm người dùng", "Add a user"),
        suffix(lang),
        csrf_input(p),
        pick(lang, "Tên đăng nhập", "Username"),
        v("username"),
        pick(lang, "Họ tên", "Name"),
        v("display_name"),
        pick(lang, "Vai trò", "Role"),
        pick(lang, "Là cán bộ (vai trò ký, giữ dấu)", "Acts as official (signing roles)"),
        pick(lang, "— không —", "— none —"),
        pick(lang, "Mật khẩu ban đầu (ít nhất 12 ký tự)", "Initial password (12 characters or more)"),
        pick(lang, "Thêm", "Add"),
    ));
    b.push_str(&format!(
        "<h2>{}</h2><table id=\"tokens\"><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr>",
        pick(lang, "Mã truy cập API", "API tokens"),
        pick(lang, "Mục đích", "Label"),
        pick(lang, "Người dùng, vai trò", "User, role"),
        pick(lang, "Tạo lúc", "Made"),
    ));
    for t in &tokens {
        let who = list
            .iter()
            .find(|u| u.id == t.user_id)
            .map_or_else(|| t.user_id.to_string(), |u| u.username.clone());
        b.push_str(&format!(
            "<tr><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td></tr>",
            esc(&t.label),
            esc(&who),
            t.role.as_str(),
            esc(&t.created_at),
            match &t.revoked_at {
                Some(at) => format!("<span class=\"bad\">{} {}</span>", pick(lang, "Thu hồi", "Revoked"), esc(at)),
                None => format!(
                    "<form class=\"inline\" method=\"post\" action=\"/admin/tokens/revoke{}\">{}<input type=\"hidden\" name=\"token\" value=\"{}\"><button>{}</button></form>",
                    suffix(lang),
                    csrf_input(p),
                    t.id,
                    pick(lang, "Thu hồi", "Revoke")
                ),
            }
        ));
    }
    let user_options: String = list
        .iter()
        .filter(|u| !u.disabled)
        .map(|u| format!("<option value=\"{0}\">{0}</option>", esc(&u.username)))
        .collect();
    b.push_str(&format!(
        "</table><form method=\"post\" action=\"/admin/tokens{}\" id=\"add-token\">{}\
<label>{}<select name=\"username\">{user_options}</select></label><label>{}<input name=\"label\" required></label><button>{}</button></form>",
        suffix(lang),
        csrf_input(p),
        pick(lang, "Cho người dùng", "For user"),
        pick(lang, "Mục đích", "Label"),
        pick(lang, "Tạo mã", "Make a token"),
    ));
    let mut r = signed_in(
        lang,
        p,
        &pick(lang, "Người dùng", "Users"),
        "/admin/users",
        &b,
    );
    if message.as_ref().is_some_and(|(ok, _)| !ok) {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// `POST /admin/users`: adds a user; refusals in words, with what was typed.
pub async fn add_user(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let g = |k: &str| f.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let Some(role) = Role::parse(&g("role")) else {
        let m = pick(lang, "Chọn vai trò.", "Choose a role.");
        return users(&state, &p, lang, &f, Some((false, m))).await;
    };
    let new = app::users::NewUser {
        username: g("username"),
        display_name: g("display_name"),
        role,
        official_id: Some(g("official_id")).filter(|o| !o.is_empty()),
        password: f.get("password").cloned().unwrap_or_default(),
    };
    let actor = p.actor();
    match state
        .blocking(move |app, _| app::users::create_user(app, &actor, new))
        .await
    {
        Ok(u) => {
            let m = pick(lang, "Đã thêm", "Added");
            users(
                &state,
                &p,
                lang,
                &HashMap::new(),
                Some((true, format!("{m}: {}", u.username))),
            )
            .await
        }
        Err(e) => users(&state, &p, lang, &f, Some((false, words(lang, &e)))).await,
    }
}

/// `POST /admin/users/state`: disables (ending their sessions and tokens) or enables a user.
pub async fn user_state(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let username = f.get("username").cloned().unwrap_or_default();
    let disabled = f.get("disabled").is_some_and(|d| d == "1");
    let actor = p.actor();
    let own = p.user.username.clone();
    let done = state
        .blocking(move |app, _| {
            if disabled && username == own {
                return Err(app::error::Denial::input(
                    "không thể tự khóa tài khoản của mình",
                    "an admin cannot disable their own account",
                )
                .into());
            }
            app::users::set_disabled(app, &actor, &username, disabled)
        })
        .await;
    match done {
        Ok(_) => see_other(&with_lang("/admin/users", lang)),
        Err(e) => {
            users(
                &state,
                &p,
                lang,
                &HashMap::new(),
                Some((false, words(lang, &e))),
            )
            .await
        }
    }
}

/// `POST /admin/tokens`: makes an API token; its secret is shown once, here.
pub async fn add_token(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let username = f.get("username").cloned().unwrap_or_default();
    let label = f.get("label").cloned().unwrap_or_default();
    let actor = p.actor();
    match state
        .blocking(move |app, _| app::users::create_token(app, &actor, &username, &label))
        .await
    {
        Ok((_, secret)) => {
            let m = match lang {
                Lang::Vi => format!("Mã mới (chỉ hiện một lần, hãy lưu lại ngay): {secret}"),
                Lang::En => format!("The new token (shown once, keep it now): {secret}"),
            };
            let mut r = users(&state, &p, lang, &HashMap::new(), Some((true, m))).await;
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            users(
                &state,
                &p,
                lang,
                &HashMap::new(),
                Some((false, words(lang, &e))),
            )
            .await
        }
    }
}

/// `POST /admin/tokens/revoke`.
pub async fn revoke_token(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let id = f.get("token").and_then(|t| t.parse::<i64>().ok());
    let actor = p.actor();
    let done = state
        .blocking(move |app, _| {
            let id = id.ok_or_else(|| AppError::NotFound("token".into()))?;
            app::users::revoke_token(app, &actor, id)
        })
        .await;
    match done {
        Ok(()) => see_other(&with_lang("/admin/users", lang)),
        Err(e) => {
            users(
                &state,
                &p,
                lang,
                &HashMap::new(),
                Some((false, words(lang, &e))),
            )
            .await
        }
    }
}

fn revocation_words(lang: Lang, r: &crate::validation::chain::RevocationStatus) -> String {
    use crate::validation::chain::RevocationStatus as R;
    match r {
        R::Good => format!(
            "<span class=\"ok\">{}</span>",
            pick(
                lang,
                "Chưa bị thu hồi (CRL còn hạn)",
                "Not revoked (current CRL)"
            )
        ),
        R::Revoked(at) => format!(
            "<span class=\"bad\">{} {}</span>",
            pick(lang, "ĐÃ BỊ THU HỒI từ", "REVOKED since"),
            time::OffsetDateTime::from_unix_timestamp(*at)
                .map_or_else(|_| at.to_string(), local_time)
        ),
        R::Stale => format!(
            "<span class=\"warn\">{}</span>",
            pick(
                lang,
                "Không rõ: CRL đã quá hạn cập nhật",
                "Unknown: the CRL is past its next update"
            )
        ),
        R::Unknown => format!(
            "<span class=\"warn\">{}</span>",
            pick(
                lang,
                "Không rõ: chưa cấu hình CRL của nơi cấp",
                "Unknown: no CRL of its issuer is configured"
            )
        ),
        _ => format!(
            "<span class=\"warn\">{}</span>",
            pick(lang, "Không đọc được", "Unreadable")
        ),
    }
}

/// `GET /admin/officials`: officials with their current titles and their certificates
/// (subject, issuer, validity, revocation from the configured CRLs, a warning when the title
/// on a certificate no longer matches the register); a form to register a certificate.
pub async fn officials_page(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = lang_of(&query(&q));
    officials(&state, &p, lang, &HashMap::new(), None).await
}

async fn officials(
    state: &State,
    p: &Principal,
    lang: Lang,
    typed: &HashMap<String, String>,
    message: Option<(bool, String)>,
) -> Response {
    let found = state
        .blocking(|app, _| Ok((app::admin::officials_with_certificates(app)?, app.now())))
        .await;
    let (list, now) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, p, &e),
    };
    let mut b = format!(
        "<h1>{}</h1>{}{}<ul id=\"officials\" class=\"queue\">",
        pick(lang, "Cán bộ và chứng thư số", "Officials and certificates"),
        admin_nav(lang, "/admin/officials"),
        note(message.as_ref()),
    );
    for (o, certs) in &list {
        b.push_str(&format!(
            "<li id=\"o-{}\"><b>{}</b> — {}<br>{}{}",
            esc(&o.id),
            esc(&o.full_name),
            esc(&o.title),
            esc(&o.id),
            if certs.is_empty() {
                format!(
                    "<br><span class=\"warn\">{}</span>",
                    pick(lang, "Chưa có chứng thư số.", "No certificate registered.")
                )
            } else {
                String::new()
            }
        ));
        for c in certs {
            let cert = &c.certificate;
            let (from, until) = cert.validity();
            let in_force = from <= now && now <= until;
            b.push_str(&format!(
                "<dl class=\"stack cert\"><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{} – {} {}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}; {}</dd></dl>",
                pick(lang, "Chủ thể", "Subject"),
                esc(&cert.subject()),
                pick(lang, "Nơi cấp", "Issuer"),
                esc(&cert.issuer()),
                pick(lang, "Hiệu lực", "Valid"),
                esc(&local_time(from)),
                esc(&local_time(until)),
                if in_force {
                    String::new()
                } else {
                    format!("<span class=\"bad\">{}</span>", pick(lang, "(hết hạn hoặc chưa có hiệu lực)", "(expired or not yet valid)"))
                },
                pick(lang, "Tình trạng thu hồi", "Revocation"),
                revocation_words(lang, &c.revocation),
                pick(lang, "Số sê-ri, khóa", "Serial, key"),
                esc(&cert.serial_hex()),
                esc(&c.key_location),
            ));
            if let Some(t) = &c.title_differs {
                b.push_str(&format!(
                    "<p class=\"warn title-mismatch\">⚠ {}</p>",
                    esc(&match lang {
                        Lang::Vi => format!(
                            "Chức danh trên chứng thư số (“{t}”) không còn khớp với chức danh trong sổ (“{}”): cần cấp lại chứng thư số.",
                            o.title
                        ),
                        Lang::En => format!(
                            "The certificate's title (“{t}”) no longer matches the register (“{}”): it needs re-issuing.",
                            o.title
                        ),
                    })
                ));
            }
        }
        b.push_str("</li>");
    }
    let official_options: String = list
        .iter()
        .map(|(o, _)| {
            format!(
                "<option value=\"{}\"{}>{} — {}</option>",
                esc(&o.id),
                if typed.get("official") == Some(&o.id) {
                    " selected"
                } else {
                    ""
                },
                esc(&o.full_name),
                esc(&o.title)
            )
        })
        .collect();
    b.push_str(&format!(
        "</ul><h2>{}</h2><form method=\"post\" action=\"/admin/officials/certificates{}\" id=\"add-cert\">{}\
<label>{}<select name=\"official\">{official_options}</select></label>\
<label for=\"pem\">{}</label><textarea id=\"pem\" name=\"pem\" rows=\"6\" required>{}</textarea>\
<label>{}<input name=\"key_location\" value=\"{}\"></label><button>{}</button></form>",
        pick(lang, "Đăng ký chứng thư số", "Register a certificate"),
        suffix(lang),
        csrf_input(p),
        pick(lang, "Của cán bộ", "For official"),
        pick(lang, "Chứng thư số (PEM, dán nội dung tệp .pem)", "Certificate (PEM, paste the .pem file)"),
        esc(typed.get("pem").map_or("", String::as_str)),
        pick(lang, "Khóa ở đâu (external: USB token, ứng dụng ký)", "Where the key is (external: a token, a signing app)"),
        esc(typed.get("key_location").map_or("external", String::as_str)),
        pick(lang, "Đăng ký", "Register"),
    ));
    let mut r = signed_in(
        lang,
        p,
        &pick(lang, "Cán bộ", "Officials"),
        "/admin/officials",
        &b,
    );
    if message.as_ref().is_some_and(|(ok, _)| !ok) {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// `POST /admin/officials/certificates`: registers a PEM certificate to an official, with the
/// same refusals as `kyso officials add-cert`, in words.
pub async fn add_certificate(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let official = f.get("official").cloned().unwrap_or_default();
    let pem = f.get("pem").cloned().unwrap_or_default();
    let location = f
        .get("key_location")
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "external".to_owned());
    let actor = p.actor();
    let done = state
        .blocking(move |app, _| {
            let mut certs = crate::pki::parse_certificates(pem.as_bytes())?;
            if certs.len() != 1 {
                return Err(app::error::Denial::input(
                    format!("cần đúng một chứng thư số, có {}", certs.len()),
                    format!("exactly one certificate is needed, {} given", certs.len()),
                )
                .into());
            }
            let cert = certs.remove(0);
            app::admin::add_certificate(app, &actor, &official, &cert, &location)?;
            Ok(cert.subject())
        })
        .await;
    match done {
        Ok(subject) => {
            let m = format!("{}: {subject}", pick(lang, "Đã đăng ký", "Registered"));
            officials(&state, &p, lang, &HashMap::new(), Some((true, m))).await
        }
        Err(e) => officials(&state, &p, lang, &f, Some((false, words(lang, &e)))).await,
    }
}

/// The audit page shows this many entries (the newest matching the filter), each entry's
/// details cut to this many bytes: with escaping, 100 entries stay near 50 KB, half the page
/// budget. `kyso audit list` and the API give everything.
const AUDIT_SHOWN: i64 = 100;
const AUDIT_DETAIL_BYTES: usize = 200;

/// `GET /admin/audit`: the log, newest first ([`AUDIT_SHOWN`]), filtered by actor, action and subject; with
/// `verify=1`, the chain re-checked and the result said.
pub async fn audit_page(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(&raw);
    let lang = lang_of(&q);
    let g = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (actor, action, subject) = (g("actor"), g("action"), g("subject"));
    let verify = q.contains_key("verify");
    let (a, b_, c) = (actor.clone(), action.clone(), subject.clone());
    let found = state
        .blocking(move |app, _| {
            let entries = app::admin::audit_search(
                app,
                a.as_deref(),
                b_.as_deref(),
                c.as_deref(),
                AUDIT_SHOWN,
            )?;
            let report = if verify {
                Some(app::admin::audit_verify(app)?)
            } else {
                None
            };
            Ok((entries, report))
        })
        .await;
    let (entries, report) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, &p, &e),
    };
    let v = |o: &Option<String>| esc(o.as_deref().unwrap_or(""));
    let mut b = format!(
        "<h1>{}</h1>{}",
        pick(lang, "Nhật ký", "Audit log"),
        admin_nav(lang, "/admin/audit")
    );
    if let Some(r) = &report {
        if r.problems.is_empty() {
            b.push_str(&format!(
                "<p class=\"ok\" id=\"verified\">{}</p>",
                match lang {
                    Lang::Vi => format!(
                        "Chuỗi nhật ký nguyên vẹn: {} mục, không mục nào bị sửa, xóa hay cắt bớt.",
                        r.entries
                    ),
                    Lang::En => format!(
                        "The chain is intact: {} entries, none edited, deleted or cut off.",
                        r.entries
                    ),
                }
            ));
        } else {
            b.push_str(&format!(
                "<div class=\"bad\" id=\"verified\"><p>{}</p><ul>",
                match lang {
                    Lang::Vi => format!(
                        "Chuỗi nhật ký KHÔNG nguyên vẹn ({} vấn đề):",
                        r.problems.len()
                    ),
                    Lang::En => format!("The chain is NOT intact ({} problems):", r.problems.len()),
                }
            ));
            for pr in &r.problems {
                b.push_str(&format!("<li>#{}: {}</li>", pr.seq, esc(&pr.what)));
            }
            b.push_str("</ul></div>");
        }
    }
    b.push_str(&format!(
        "<form method=\"get\" action=\"/admin/audit\" id=\"filter\">{}\
<label>{}<input name=\"actor\" value=\"{}\"></label><label>{}<input name=\"action\" value=\"{}\"></label>\
<label>{}<input name=\"subject\" value=\"{}\"></label><button>{}</button>\
<button name=\"verify\" value=\"1\" id=\"verify\">{}</button></form>",
        if lang == Lang::En { "<input type=\"hidden\" name=\"lang\" value=\"en\">" } else { "" },
        pick(lang, "Người thực hiện", "Actor"),
        v(&actor),
        pick(lang, "Hành động (bắt đầu bằng)", "Action (starts with)"),
        v(&action),
        pick(lang, "Đối tượng (có chứa)", "Subject (contains)"),
        v(&subject),
        pick(lang, "Lọc", "Filter"),
        pick(lang, "Kiểm tra chuỗi nhật ký", "Verify the chain"),
    ));
    if entries.is_empty() {
        b.push_str(&format!(
            "<p id=\"entries\">{}</p>",
            pick(lang, "Không có mục nào.", "No entries.")
        ));
    } else {
        b.push_str(&format!(
            "<table id=\"entries\"><tr><th>#</th><th>{}</th><th>{}</th></tr>",
            pick(lang, "Thời điểm, người", "When, who"),
            pick(lang, "Hành động, đối tượng", "Action, subject"),
        ));
        for e in &entries {
            let details = if e.details.len() > AUDIT_DETAIL_BYTES {
                let mut cut = AUDIT_DETAIL_BYTES;
                while !e.details.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("{}…", &e.details[..cut])
            } else {
                e.details.clone()
            };
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}<br>{}</td><td><b>{}</b> {}<br><code>{}</code></td></tr>",
                e.seq,
                esc(&e.at),
                esc(&e.actor),
                esc(&e.action),
                esc(&e.subject),
                esc(&details),
            ));
        }
        b.push_str("</table>");
    }
    signed_in(
        lang,
        &p,
        &pick(lang, "Nhật ký", "Audit log"),
        "/admin/audit",
        &b,
    )
}

/// `GET /admin/delegations`: every delegation, whether it is in force today, and a form to
/// revoke it.
pub async fn delegations_page(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
) -> Response {
    delegations(&state, &p, lang_of(&query(&q)), None).await
}

async fn delegations(
    state: &State,
    p: &Principal,
    lang: Lang,
    refusal: Option<&ApiError>,
) -> Response {
    let found = state
        .blocking(|app, _| Ok((app::admin::delegations(app, None)?, app.now())))
        .await;
    let (list, now) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, p, &e),
    };
    let mut b = format!(
        "<h1>{}</h1>{}",
        pick(lang, "Ủy quyền ký", "Delegations"),
        admin_nav(lang, "/admin/delegations")
    );
    let in_force = |d: &crate::authority::Delegation| {
        d.revoked.is_none() && d.valid_from <= now && now <= d.valid_until
    };
    b.push_str(&format!(
        "<p id=\"in-force\">{}</p>",
        match lang {
            Lang::Vi => format!(
                "Hôm nay có {} ủy quyền đang có hiệu lực trên tổng số {}.",
                list.iter().filter(|d| in_force(d)).count(),
                list.len()
            ),
            Lang::En => format!(
                "{} of {} delegations are in force today.",
                list.iter().filter(|d| in_force(d)).count(),
                list.len()
            ),
        }
    ));
    if let Some(e) = refusal {
        b.push_str(&format!(
            "<p class=\"bad\" id=\"message\">{}</p>",
            esc(match lang {
                Lang::Vi => &e.detail_vi,
                Lang::En => &e.detail_en,
            })
        ));
    }
    b.push_str("<ul id=\"delegations\" class=\"queue\">");
    for d in &list {
        b.push_str(&format!("<li>{}", delegation_item(lang, d, now)));
        if d.revoked.is_none() {
            b.push_str(&format!(
                "<form method=\"post\" action=\"/admin/delegations{}\">{}\
<input type=\"hidden\" name=\"delegation\" value=\"{}\"><label>{}<input name=\"reason\" required></label>\
<button>{}</button></form>",
                suffix(lang),
                csrf_input(p),
                d.id,
                pick(lang, "Lý do thu hồi", "Reason for revoking"),
                pick(lang, "Thu hồi", "Revoke"),
            ));
        }
        b.push_str("</li>");
    }
    b.push_str("</ul>");
    let mut r = signed_in(
        lang,
        p,
        &pick(lang, "Ủy quyền ký", "Delegations"),
        "/admin/delegations",
        &b,
    );
    if let Some(e) = refusal {
        *r.status_mut() = e.status();
    }
    r
}

/// `POST /admin/delegations`: revokes `delegation` from now, for `reason`.
pub async fn revoke_delegation(
    AxumState(state): AxumState<State>,
    Extension(p): Extension<Principal>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query(&q));
    let f = form(&body);
    let reason = f.get("reason").cloned().unwrap_or_default();
    let id = f.get("delegation").and_then(|d| d.parse::<i64>().ok());
    let actor = p.actor();
    let done = state
        .blocking(move |app, _| {
            let id = id.ok_or_else(|| AppError::NotFound("delegation".into()))?;
            app::admin::revoke_delegation(app, &actor, id, None, &reason)
        })
        .await;
    match done {
        Ok(()) => see_other(&with_lang("/admin/delegations", lang)),
        Err(e) => delegations(&state, &p, lang, Some(&e)).await,
    }
}
