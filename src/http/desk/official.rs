//! What only officials do: signing with a device that holds the key (prepare, the digest
//! to the device, complete), and granting and revoking delegations.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::StatusCode;
use axum::response::Response;

use super::{
    DelegationState, DelegationView, Errors, Note, Opt, Submission, busy, chrome, csrf, failed,
    form, form_key, form_pairs, kind_title, lang_of, local_time, number_text, query, submit,
};
use crate::app::users::Principal;
use crate::app::{self, AppError};
use crate::http::State;
use crate::http::auth;
use crate::http::pages::{Chrome, Lang, render_with, see_other, with_lang};

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

    /// The step as the form's hidden inputs.
    fn hidden(&self) -> [(&'static str, &str); 8] {
        [
            ("handle", &self.handle),
            ("document", &self.document),
            ("number", &self.number),
            ("capacity_line", &self.capacity),
            ("algorithm", &self.algorithm),
            ("digest_hex", &self.digest_hex),
            ("digest_base64", &self.digest_base64),
            ("expires_at", &self.expires_at),
        ]
    }
}

#[derive(Template)]
#[template(path = "official/device.html")]
struct DevicePage<'a> {
    c: Chrome,
    csrf: String,
    step: &'a DeviceStep,
    expires_local: String,
    key: &'a str,
    problem: Option<&'a str>,
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
    let page = DevicePage {
        c: chrome(
            lang,
            p,
            lang.t("Ký bằng thiết bị", "Sign with a device"),
            "/official",
        ),
        csrf: csrf(p),
        step,
        expires_local: time::OffsetDateTime::parse(
            &step.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or_else(|_| step.expires_at.clone(), local_time),
        key,
        problem,
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render_with(status, &page)
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
        let m = lang.t(
            "Chữ ký phải là chuỗi base64 thiết bị trả về.",
            "The signature must be the base64 text the device returned.",
        );
        return device_page(lang, &p, &step, &key, Some(m));
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
    let lang = lang_of(&q);
    let note = q.contains_key("done").then(|| {
        Note::ok(
            lang.t("Đã ghi vào sổ.", "Recorded in the register.")
                .to_owned(),
        )
    });
    official_delegations(&state, &p, lang, &[], &Errors::new(), note).await
}

#[derive(Template)]
#[template(path = "official/delegations.html")]
struct DelegationsPage<'a> {
    c: Chrome,
    csrf: String,
    note: Option<Note>,
    granted: Vec<DelegationView>,
    received: Vec<DelegationView>,
    marks: Vec<Opt>,
    people: Vec<Opt>,
    kinds: Vec<Opt>,
    sources: Vec<Opt>,
    typed: &'a [(String, String)],
    errors: &'a Errors,
}

impl DelegationsPage<'_> {
    /// What was typed into `name`.
    fn v(&self, name: &str) -> &str {
        self.typed
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The problems of field `name`.
    fn e(&self, name: &str) -> &[String] {
        super::errors_at(self.errors, name)
    }
}

/// The marks of Decree 30/2020 Art. 13 a grant may carry, with what each means.
const MARKS: [(&str, &str, &str); 5] = [
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

async fn official_delegations(
    state: &State,
    p: &Principal,
    lang: Lang,
    typed: &[(String, String)],
    errors: &Errors,
    note: Option<Note>,
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
    let marks = MARKS
        .iter()
        .map(|(code, vi, en)| Opt {
            value: (*code).to_owned(),
            label: lang.t(vi, en).to_owned(),
            selected: v("mark") == *code,
        })
        .collect();
    let people = officials
        .iter()
        .filter(|o| !o.is_seal && o.id != official)
        .map(|o| Opt {
            value: o.id.clone(),
            label: format!("{} — {}", o.full_name, o.title),
            selected: v("delegate") == o.id,
        })
        .collect();
    let kinds = catalog
        .kinds()
        .map(|t| {
            let k = &t.schema.kind;
            Opt {
                value: k.clone(),
                label: kind_title(lang, &catalog, k),
                selected: typed.iter().any(|(n, v)| n == "kind" && v == k),
            }
        })
        .collect();
    let sources = list
        .iter()
        .filter(|d| {
            d.delegate.id == official && d.revoked.is_none() && d.mark == crate::authority::Mark::Tl
        })
        .map(|d| Opt {
            value: d.id.to_string(),
            label: format!("{} {} ({})", d.mark, d.delegator.full_name, d.basis_number),
            selected: v("source") == d.id.to_string(),
        })
        .collect();
    let status = if !errors.is_empty() || note.as_ref().is_some_and(Note::is_bad) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = DelegationsPage {
        c: chrome(
            lang,
            p,
            lang.t("Ủy quyền ký", "Delegations"),
            "/official/delegations",
        ),
        csrf: csrf(p),
        note,
        granted: list
            .iter()
            .filter(|d| d.delegator.id == official)
            .map(|d| DelegationView::of(d, now))
            .collect(),
        received: list
            .iter()
            .filter(|d| d.delegate.id == official)
            .map(|d| DelegationView::of(d, now))
            .collect(),
        marks,
        people,
        kinds,
        sources,
        typed,
        errors,
    };
    render_with(status, &page)
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
            .push(lang.t(vi, en).to_owned());
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
            official_delegations(&state, &p, lang, &typed, &Errors::new(), Some(Note::bad(m))).await
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
                official_delegations(&state, &p, lang, &[], &Errors::new(), Some(Note::bad(m)))
                    .await;
            *r.status_mut() = e.status();
            r
        }
    }
}
