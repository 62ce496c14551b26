//! The signing queues of officials (`/official`) and of the seal keeper (`/seal`): the documents
//! the register lets this signer sign now, and signing one with the registered key.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::StatusCode;
use axum::response::Response;

use super::{
    Submission, busy, chrome, csrf, failed, form, form_key, home, kind_title, lang_of, number_text,
    query, submit,
};
use crate::app::users::{Principal, Role};
use crate::app::{self, AppError};
use crate::http::auth;
use crate::http::pages::{Chrome, Lang, render_with, see_other, with_lang};
use crate::http::{ApiError, State};

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

/// How a queue entry is signed: the capacity line alone (the seal), the one capacity the
/// register allows, or a choice among several.
enum Capacity {
    /// The capacity of the official's signature already on it (the seal's queue).
    Shown(String),
    /// The one capacity allowed: its line and the form's value.
    One(String, String),
    /// Several: each line and its value, the first chosen.
    Many(Vec<(String, String)>),
}

/// A document in the queue.
struct Entry {
    id: String,
    number: String,
    kind: String,
    persons: String,
    key: String,
    capacity: Capacity,
}

#[derive(Template)]
#[template(path = "official/queue.html")]
struct QueuePage<'a> {
    c: Chrome,
    csrf: String,
    /// `/official` or `/seal`: where the forms post.
    here: &'static str,
    seal: bool,
    signed: Option<&'a str>,
    refusal: Option<&'a ApiError>,
    entries: Vec<Entry>,
    /// Whether the queue shows only the documents waiting longest.
    cut: bool,
}

pub(super) async fn queue(
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
    let as_line = |c: &app::queue::CapacityChoice| match &c.basis {
        Some(basis) => format!(
            "{} — {} {}",
            c.line,
            lang.t("theo quyết định", "under decision"),
            basis
        ),
        None => format!("{} — {}", c.line, lang.t("tự mình", "in own right")),
    };
    let value = |c: &app::queue::CapacityChoice| {
        c.delegation
            .map_or_else(|| "own".to_owned(), |d| d.to_string())
    };
    let entries = items
        .iter()
        .map(|it| Entry {
            id: it.document.id.clone(),
            number: number_text(&catalog, &it.document),
            kind: kind_title(lang, &catalog, &it.document.kind),
            persons: it.persons.join(", "),
            key: form_key(),
            // The capacity is chosen among those the register allows, never typed.
            capacity: match it.choices.as_slice() {
                [] => Capacity::Shown(it.capacity.clone().unwrap_or_default()),
                [one] => Capacity::One(as_line(one), value(one)),
                many => Capacity::Many(many.iter().map(|c| (as_line(c), value(c))).collect()),
            },
        })
        .collect::<Vec<_>>();
    let page = QueuePage {
        c: chrome(lang, p, lang.t("Chờ ký", "Signing queue"), home(p.role)),
        csrf: csrf(p),
        here: home(p.role),
        seal: p.role == Role::Seal,
        signed: signed.filter(|id| app::verify::is_document_id(id)),
        refusal,
        cut: entries.len() >= app::queue::QUEUE_LIMIT,
        entries,
    };
    render_with(refusal.map_or(StatusCode::OK, ApiError::status), &page)
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
    let form = held.form();
    let signed = state
        .blocking(move |app, _| {
            if !app::verify::is_document_id(&doc) {
                return Err(AppError::NotFound(format!("document {doc}")));
            }
            let opts = app::sign::DocumentSign {
                form,
                ..sign_options(&f)?
            };
            app::sign::sign_document(app, &official, &official, &doc, &opts)
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
pub(super) fn sign_options(
    f: &HashMap<String, String>,
) -> Result<app::sign::DocumentSign, AppError> {
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
