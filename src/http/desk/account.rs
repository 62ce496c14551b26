//! Everyone's pages: `/` (the role's home), sign-in, sign-out, changing the password.

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{chrome, csrf, form, home, lang_of, query};
use crate::app;
use crate::app::users::Principal;
use crate::http::State;
use crate::http::auth::{self, SESSION_COOKIE};
use crate::http::pages::{Chrome, Lang, render, render_with, safe_next, see_other, with_lang};

#[derive(Template)]
#[template(path = "account/sign_in.html")]
struct SignInPage<'a> {
    c: Chrome,
    next: Option<&'a str>,
    username: &'a str,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "account/sign_out.html")]
struct SignOutPage {
    c: Chrome,
    csrf: String,
}

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage<'a> {
    c: Chrome,
    csrf: String,
    message: Option<&'a str>,
    min: usize,
}

/// `GET /`: the signed-in user's home, or the sign-in page.
pub async fn root(p: Option<Extension<Principal>>, RawQuery(q): RawQuery) -> Response {
    let lang = lang_of(&query(&q));
    match p {
        Some(Extension(p)) => see_other(&with_lang(home(p.role), lang)),
        None => see_other(&with_lang("/sign-in", lang)),
    }
}

/// `GET /sign-in`.
pub async fn sign_in_page(p: Option<Extension<Principal>>, RawQuery(q): RawQuery) -> Response {
    let q = query(&q);
    let lang = lang_of(&q);
    let next = q.get("next").and_then(|n| safe_next(n));
    if let Some(Extension(p)) = p {
        return see_other(next.unwrap_or(&with_lang(home(p.role), lang)));
    }
    let message = if q.contains_key("changed") {
        Some(lang.t(
            "Đã đổi mật khẩu. Hãy đăng nhập lại.",
            "Password changed. Please sign in again.",
        ))
    } else {
        next.map(|_| lang.t("Hãy đăng nhập để tiếp tục.", "Please sign in to continue."))
    };
    let here = match next {
        Some(n) => format!(
            "/sign-in?next={}",
            url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => "/sign-in".to_owned(),
    };
    render(&SignInPage {
        c: Chrome::desk(lang, lang.t("Đăng nhập", "Sign in"), &here),
        next,
        username: "",
        message,
    })
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
            // A page has no WWW-Authenticate challenge: a refused sign-in is a form to fix
            // (422), a throttled one says so (429).
            let status = match e.status() {
                StatusCode::TOO_MANY_REQUESTS => StatusCode::TOO_MANY_REQUESTS,
                StatusCode::UNAUTHORIZED => StatusCode::UNPROCESSABLE_ENTITY,
                other => other,
            };
            let page = SignInPage {
                c: Chrome::desk(lang, lang.t("Đăng nhập", "Sign in"), "/sign-in"),
                next: next.as_deref(),
                username: &username,
                message: Some(lang.t(&e.detail_vi, &e.detail_en)),
            };
            render_with(status, &page)
        }
    }
}

/// `GET /sign-out`: a button to sign out (signing out changes state: it is a POST).
pub async fn sign_out_page(Extension(p): Extension<Principal>, RawQuery(q): RawQuery) -> Response {
    let lang = lang_of(&query(&q));
    render(&SignOutPage {
        c: chrome(lang, &p, lang.t("Đăng xuất", "Sign out"), "/sign-out"),
        csrf: csrf(&p),
    })
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

fn password_page_for(
    lang: Lang,
    p: &Principal,
    status: StatusCode,
    message: Option<&str>,
) -> Response {
    let page = PasswordPage {
        c: chrome(
            lang,
            p,
            lang.t("Đổi mật khẩu", "Change password"),
            "/account/password",
        ),
        csrf: csrf(p),
        message,
        min: app::users::MIN_PASSWORD_CHARS,
    };
    render_with(status, &page)
}

/// `GET /account/password`.
pub async fn password_page(Extension(p): Extension<Principal>, RawQuery(q): RawQuery) -> Response {
    password_page_for(lang_of(&query(&q)), &p, StatusCode::OK, None)
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
    if f.get("confirm") != Some(&new) {
        return password_page_for(
            lang,
            &p,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(lang.t(
                "Hai lần nhập mật khẩu mới không giống nhau.",
                "The two new passwords differ.",
            )),
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
        Err(e) => password_page_for(
            lang,
            &p,
            e.status(),
            Some(lang.t(&e.detail_vi, &e.detail_en)),
        ),
    }
}
