//! The signing queues of officials (`/official`) and of the seal keeper (`/seal`): the documents
//! the register lets this signer sign now, and signing one with the registered key.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::extract::State as AxumState;
use axum::response::Response;

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::app::{self, AppError};
use crate::http::auth;
use crate::http::pages::see_other;

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
