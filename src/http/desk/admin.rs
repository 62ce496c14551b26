//! The admin's pages: the archive's state, users and API tokens, officials and their
//! certificates, delegations, the audit log.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{
    DelegationState, DelegationView, Note, chrome, csrf, failed, form, lang_of, local_time, query,
    words,
};
use crate::app::users::{Principal, Role};
use crate::app::{self, AppError};
use crate::http::pages::{Chrome, Lang, render, render_with, see_other, with_lang};
use crate::http::{ApiError, State};

/// The admin's pages, linked from each of them (`admin/nav.html`).
const ADMIN_PAGES: [(&str, &str, &str); 5] = [
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

/// The roles a user may be given, with how the form names them.
const ROLES: [(&str, &str); 4] = [
    ("clerk", "Một cửa (clerk)"),
    ("official", "Lãnh đạo ký (official)"),
    ("seal", "Giữ dấu (seal)"),
    ("admin", "Quản trị (admin)"),
];

#[derive(Template)]
#[template(path = "admin/home.html")]
struct HomePage {
    c: Chrome,
    tab: &'static str,
    a: crate::archive::outbox::Status,
    oldest_minutes: i64,
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
    let oldest_minutes = archive.oldest_waiting.as_ref().map_or(0, |w| {
        time::OffsetDateTime::parse(&w.since, &time::format_description::well_known::Rfc3339)
            .map(|t| (now - t).whole_minutes().max(0))
            .unwrap_or(0)
    });
    render(&HomePage {
        c: chrome(lang, &p, lang.t("Quản trị", "Administration"), "/admin"),
        tab: "/admin",
        a: archive,
        oldest_minutes,
    })
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage<'a> {
    c: Chrome,
    tab: &'static str,
    csrf: String,
    note: Option<Note>,
    users: Vec<app::users::User>,
    tokens: Vec<app::users::ApiToken>,
    officials: Vec<crate::authority::Official>,
    typed: &'a HashMap<String, String>,
}

impl UsersPage<'_> {
    /// What was typed into `name`.
    fn v(&self, name: &str) -> &str {
        self.typed.get(name).map_or("", String::as_str)
    }

    /// The username of a token's user.
    fn owner(&self, t: &app::users::ApiToken) -> String {
        self.users
            .iter()
            .find(|u| u.id == t.user_id)
            .map_or_else(|| t.user_id.to_string(), |u| u.username.clone())
    }
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
    note: Option<Note>,
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
    let status = if note.as_ref().is_some_and(Note::is_bad) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = UsersPage {
        c: chrome(lang, p, lang.t("Người dùng", "Users"), "/admin/users"),
        tab: "/admin/users",
        csrf: csrf(p),
        note,
        users: list,
        tokens,
        officials,
        typed,
    };
    render_with(status, &page)
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
        let m = lang.t("Chọn vai trò.", "Choose a role.").to_owned();
        return users(&state, &p, lang, &f, Some(Note::bad(m))).await;
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
            let m = lang.t("Đã thêm", "Added");
            users(
                &state,
                &p,
                lang,
                &HashMap::new(),
                Some(Note::ok(format!("{m}: {}", u.username))),
            )
            .await
        }
        Err(e) => users(&state, &p, lang, &f, Some(Note::bad(words(lang, &e)))).await,
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
        Err(e) => users_refused(&state, &p, lang, &e).await,
    }
}

/// The users page again, with why the last act on it was refused.
async fn users_refused(state: &State, p: &Principal, lang: Lang, e: &ApiError) -> Response {
    users(
        state,
        p,
        lang,
        &HashMap::new(),
        Some(Note::bad(words(lang, e))),
    )
    .await
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
            let mut r = users(&state, &p, lang, &HashMap::new(), Some(Note::ok(m))).await;
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => users_refused(&state, &p, lang, &e).await,
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
        Err(e) => users_refused(&state, &p, lang, &e).await,
    }
}

/// How a certificate's revocation stands, for the page.
enum Revocation {
    Good,
    /// Revoked since (local time).
    Revoked(String),
    Stale,
    Unknown,
    Unreadable,
}

/// A registered certificate as the officials' page shows it.
struct CertificateView {
    subject: String,
    issuer: String,
    from: String,
    until: String,
    in_force: bool,
    revocation: Revocation,
    serial: String,
    key_location: String,
    /// The title on the certificate, when it no longer matches the register.
    title_differs: Option<String>,
}

/// An official with their certificates.
struct OfficialView {
    id: String,
    full_name: String,
    title: String,
    certificates: Vec<CertificateView>,
}

#[derive(Template)]
#[template(path = "admin/officials.html")]
struct OfficialsPage<'a> {
    c: Chrome,
    tab: &'static str,
    csrf: String,
    note: Option<Note>,
    officials: Vec<OfficialView>,
    typed: &'a HashMap<String, String>,
    key_location: &'a str,
}

impl OfficialsPage<'_> {
    /// What was typed into `name`.
    fn v(&self, name: &str) -> &str {
        self.typed.get(name).map_or("", String::as_str)
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
    note: Option<Note>,
) -> Response {
    use crate::validation::chain::RevocationStatus as R;
    let found = state
        .blocking(|app, _| Ok((app::admin::officials_with_certificates(app)?, app.now())))
        .await;
    let (list, now) = match found {
        Ok(f) => f,
        Err(e) => return failed(lang, p, &e),
    };
    let officials = list
        .into_iter()
        .map(|(o, certs)| OfficialView {
            certificates: certs
                .iter()
                .map(|c| {
                    let cert = &c.certificate;
                    let (from, until) = cert.validity();
                    CertificateView {
                        subject: cert.subject(),
                        issuer: cert.issuer(),
                        from: local_time(from),
                        until: local_time(until),
                        in_force: from <= now && now <= until,
                        revocation: match &c.revocation {
                            R::Good => Revocation::Good,
                            R::Revoked(at) => Revocation::Revoked(
                                time::OffsetDateTime::from_unix_timestamp(*at)
                                    .map_or_else(|_| at.to_string(), local_time),
                            ),
                            R::Stale => Revocation::Stale,
                            R::Unknown => Revocation::Unknown,
                            R::Unreadable => Revocation::Unreadable,
                        },
                        serial: cert.serial_hex(),
                        key_location: c.key_location.clone(),
                        title_differs: c.title_differs.clone(),
                    }
                })
                .collect(),
            id: o.id,
            full_name: o.full_name,
            title: o.title,
        })
        .collect();
    let status = if note.as_ref().is_some_and(Note::is_bad) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = OfficialsPage {
        c: chrome(lang, p, lang.t("Cán bộ", "Officials"), "/admin/officials"),
        tab: "/admin/officials",
        csrf: csrf(p),
        note,
        officials,
        typed,
        key_location: typed.get("key_location").map_or("external", String::as_str),
    };
    render_with(status, &page)
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
            let m = format!("{}: {subject}", lang.t("Đã đăng ký", "Registered"));
            officials(&state, &p, lang, &HashMap::new(), Some(Note::ok(m))).await
        }
        Err(e) => officials(&state, &p, lang, &f, Some(Note::bad(words(lang, &e)))).await,
    }
}

/// The audit page shows this many entries (the newest matching the filter), each entry's
/// details cut to this many bytes: with escaping, 100 entries stay near 50 KB, half the page
/// budget. `kyso audit list` and the API give everything.
const AUDIT_SHOWN: i64 = 100;
const AUDIT_DETAIL_BYTES: usize = 200;

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    c: Chrome,
    tab: &'static str,
    report: Option<crate::audit::AuditReport>,
    actor: String,
    action: String,
    subject: String,
    entries: Vec<crate::audit::AuditEntry>,
}

impl AuditPage {
    /// An entry's details, cut to [`AUDIT_DETAIL_BYTES`] on a character boundary.
    fn details<'e>(&self, e: &'e crate::audit::AuditEntry) -> std::borrow::Cow<'e, str> {
        if e.details.len() > AUDIT_DETAIL_BYTES {
            let mut cut = AUDIT_DETAIL_BYTES;
            while !e.details.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…", &e.details[..cut]).into()
        } else {
            e.details.as_str().into()
        }
    }
}

/// `GET /admin/audit`: the log, newest first ([`AUDIT_SHOWN`]), filtered by actor, action and
/// subject; with `verify=1`, the chain re-checked and the result said.
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
    let (a, b, c) = (actor.clone(), action.clone(), subject.clone());
    let found = state
        .blocking(move |app, _| {
            let entries = app::admin::audit_search(
                app,
                a.as_deref(),
                b.as_deref(),
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
    render(&AuditPage {
        c: chrome(lang, &p, lang.t("Nhật ký", "Audit log"), "/admin/audit"),
        tab: "/admin/audit",
        report,
        actor: actor.unwrap_or_default(),
        action: action.unwrap_or_default(),
        subject: subject.unwrap_or_default(),
        entries,
    })
}

#[derive(Template)]
#[template(path = "admin/delegations.html")]
struct DelegationsPage<'a> {
    c: Chrome,
    tab: &'static str,
    csrf: String,
    list: Vec<DelegationView>,
    in_force: usize,
    refusal: Option<&'a ApiError>,
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
    let list: Vec<DelegationView> = list.iter().map(|d| DelegationView::of(d, now)).collect();
    let page = DelegationsPage {
        c: chrome(
            lang,
            p,
            lang.t("Ủy quyền ký", "Delegations"),
            "/admin/delegations",
        ),
        tab: "/admin/delegations",
        csrf: csrf(p),
        in_force: list
            .iter()
            .filter(|d| matches!(d.state, DelegationState::InForce))
            .count(),
        list,
        refusal,
    };
    render_with(refusal.map_or(StatusCode::OK, ApiError::status), &page)
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
