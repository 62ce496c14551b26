//! What only officials do: signing with a device that holds the key (prepare, the digest
//! to the device, complete), and granting and revoking delegations.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::Response;

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::app::{self, AppError};
use crate::http::auth;
use crate::http::pages::see_other;

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
            let opts = super::queue::sign_options(&f)?;
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
        Err(e) => super::queue::queue(&state, &p, lang, None, Some(&e)).await,
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

pub(super) fn delegation_item(
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
