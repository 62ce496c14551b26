//! The clerk's pages: the kinds to issue and the search form (`/clerk`), each kind's form
//! generated from its `schema.toml` with every problem beside its field and what was typed
//! kept, the preview before numbering, issuing, a document's page (cancel), the reprint page and
//! the search.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{
    Errors, Opt, WAIT_FOR_FIRST, busy, chrome, csrf, errors_of, failed, form, form_key, kind_title,
    lang_of, number_text, query, status_words,
};
use crate::app::users::Principal;
use crate::app::{self, AppError};
use crate::http::pages::{Chrome, Lang, render, render_with, see_other, with_lang};
use crate::http::{ApiError, State};
use crate::issuing::{Issuance, Search, Status};
use crate::templates::{Catalog, Schema};

use super::schema_form::{
    InputKind, Item, Typed, collect_paths, data_of, hidden_inputs, items, summary,
};

// ---------------------------------------------------------------------------------------------
// Home and search

/// The search form, with what was asked.
struct SearchForm {
    values: HashMap<String, String>,
    kinds: Vec<Opt>,
}

impl SearchForm {
    fn new(lang: Lang, catalog: &Catalog, values: HashMap<String, String>) -> SearchForm {
        let kinds = catalog
            .kinds()
            .map(|t| {
                let k = &t.schema.kind;
                Opt {
                    value: k.clone(),
                    label: kind_title(lang, catalog, k),
                    selected: values.get("kind") == Some(k),
                }
            })
            .collect();
        SearchForm { values, kinds }
    }

    fn v(&self, k: &str) -> &str {
        self.values.get(k).map_or("", String::as_str)
    }
}

#[derive(Template)]
#[template(path = "clerk/home.html")]
struct HomePage {
    c: Chrome,
    /// Each kind: its form's path and its title.
    kinds: Vec<(String, String)>,
    search: SearchForm,
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
    let kinds = catalog
        .kinds()
        .map(|t| {
            (
                with_lang(&format!("/clerk/issue/{}", t.schema.kind), lang),
                kind_title(lang, &catalog, &t.schema.kind),
            )
        })
        .collect();
    render(&HomePage {
        c: chrome(
            lang,
            &p,
            lang.t("Bộ phận Một cửa", "One-stop desk"),
            "/clerk",
        ),
        kinds,
        search: SearchForm::new(lang, &catalog, HashMap::new()),
    })
}

/// A line of the search's results.
struct Found {
    href: String,
    number: String,
    kind: String,
    people: String,
    issued_on: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "clerk/search.html")]
struct SearchPage {
    c: Chrome,
    search: SearchForm,
    problems: Vec<&'static str>,
    found: Vec<Found>,
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
            problems.push(lang.t("Số phải là số nguyên.", "The number must be whole."));
            None
        }
    };
    let date = |k: &str, problems: &mut Vec<&'static str>| {
        let v = given(k)?;
        if time::Date::parse(
            &v,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok()
        {
            Some(v)
        } else {
            problems.push(lang.t(
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
    let found = found
        .iter()
        .map(|d| Found {
            href: with_lang(&format!("/clerk/documents/{}", d.id), lang),
            number: number_text(&catalog, d),
            kind: kind_title(lang, &catalog, &d.kind),
            people: app::queue::persons_of(&d.data).join(", "),
            issued_on: d.issued_on.clone(),
            status: status_words(lang, d.status),
        })
        .collect();
    render(&SearchPage {
        c: chrome(lang, &p, lang.t("Tìm giấy tờ", "Search"), "/clerk/search"),
        search: SearchForm::new(lang, &catalog, q),
        problems,
        found,
    })
}

// ---------------------------------------------------------------------------------------------
// A document: its page, cancelling it, reprinting it

#[derive(Template)]
#[template(path = "clerk/document.html")]
struct DocumentPage {
    c: Chrome,
    csrf: String,
    id: String,
    title: String,
    number: String,
    issued_on: String,
    status: &'static str,
    people: String,
    /// Each signature: the capacity (or the signer) and when.
    signatures: Vec<(String, String)>,
    /// Whether it can still be cancelled.
    cancellable: bool,
    /// Why the last cancellation was refused.
    refusal: Option<String>,
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
            let mut r = document_page(&state, &p, id, lang, Some(&e)).await;
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
    refusal: Option<&ApiError>,
) -> Response {
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
        Err(e) => return failed(lang, p, &e),
    };
    let signatures = versions
        .iter()
        .filter(|v| v.stage == "signed")
        .map(|v| {
            (
                v.capacity
                    .as_deref()
                    .or(v.signer.as_deref())
                    .unwrap_or("")
                    .to_owned(),
                v.created_at.clone(),
            )
        })
        .collect();
    render(&DocumentPage {
        c: chrome(
            lang,
            p,
            lang.t("Giấy tờ", "Document"),
            &format!("/clerk/documents/{}", d.id),
        ),
        csrf: csrf(p),
        title: kind_title(lang, &catalog, &d.kind),
        number: number_text(&catalog, &d),
        issued_on: d.issued_on.clone(),
        status: status_words(lang, d.status),
        people: app::queue::persons_of(&d.data).join(", "),
        signatures,
        cancellable: d.status == Status::Issued,
        refusal: refusal.map(|e| lang.t(&e.detail_vi, &e.detail_en).to_owned()),
        id: d.id,
    })
}

/// A version of a document on the reprint page.
struct Printed {
    what: String,
    newest: bool,
    created_at: String,
    sha256: String,
    kb: i64,
}

#[derive(Template)]
#[template(path = "clerk/reprint.html")]
struct ReprintPage {
    c: Chrome,
    id: String,
    number: String,
    status: &'static str,
    in_force: bool,
    versions: Vec<Printed>,
    /// The document's page.
    back: String,
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
    let count = versions.len();
    let printed = versions
        .iter()
        .enumerate()
        .rev()
        .map(|(i, v)| Printed {
            what: match (v.stage.as_str(), v.field.as_deref()) {
                ("issued", _) => lang
                    .t("Bản đã cấp (chưa ký)", "As issued (not signed)")
                    .to_owned(),
                (_, Some(app::sign::SEAL_FIELD)) => lang
                    .t("Sau khi đóng dấu cơ quan", "After the agency seal")
                    .to_owned(),
                ("signed", _) => format!(
                    "{} {}",
                    lang.t("Sau chữ ký", "After the signature"),
                    v.capacity.as_deref().or(v.signer.as_deref()).unwrap_or("")
                ),
                (other, _) => other.to_owned(),
            },
            newest: i + 1 == count,
            created_at: v.created_at.clone(),
            sha256: v.sha256.clone(),
            kb: (v.size + 1023) / 1024,
        })
        .collect();
    render(&ReprintPage {
        c: chrome(
            lang,
            &p,
            lang.t("In lại", "Reprint"),
            &format!("/clerk/documents/{}/reprint", d.id),
        ),
        number: number_text(&catalog, &d),
        status: status_words(lang, d.status),
        in_force: d.status == Status::Issued,
        versions: printed,
        back: with_lang(&format!("/clerk/documents/{}", d.id), lang),
        id: d.id,
    })
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

// ---------------------------------------------------------------------------------------------
// The form of a kind

#[derive(Template)]
#[template(path = "clerk/issue.html")]
struct IssuePage {
    c: Chrome,
    csrf: String,
    kind: String,
    title: String,
    key: String,
    /// How many problems there are in all.
    count: usize,
    /// Problems whose path names no input on the form (e.g. a rule across fields).
    elsewhere: Vec<String>,
    items: Vec<Item>,
}

fn issue_form(
    lang: Lang,
    p: &Principal,
    schema: &Schema,
    typed: &Typed,
    key: &str,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let mut shown = HashSet::new();
    collect_paths(&schema.fields, "", typed, &mut shown);
    let mut elsewhere: Vec<(&String, &Vec<String>)> = errors
        .iter()
        .filter(|(path, _)| !shown.contains(*path))
        .collect();
    elsewhere.sort();
    let mut list = Vec::new();
    items(lang, &schema.fields, "", typed, errors, &mut list);
    let page = IssuePage {
        c: chrome(
            lang,
            p,
            &schema.title_vi,
            &format!("/clerk/issue/{}", schema.kind),
        ),
        csrf: csrf(p),
        kind: schema.kind.clone(),
        title: lang.t(&schema.title_vi, &schema.title_en).to_owned(),
        key: key.to_owned(),
        count: errors.values().map(Vec::len).sum(),
        elsewhere: elsewhere
            .into_iter()
            .flat_map(|(_, es)| es.iter().cloned())
            .collect(),
        items: list,
    };
    render_with(status, &page)
}

async fn schema_of(state: &State, kind: String) -> Result<Schema, ApiError> {
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
    issue_form(
        lang,
        &p,
        &schema,
        &typed,
        &form_key(),
        &Errors::new(),
        StatusCode::OK,
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
    let key = match typed.get("key") {
        "" => form_key(),
        k => k.to_owned(),
    };
    let again = |errors: &Errors, status: StatusCode| {
        issue_form(lang, &p, &schema, &typed, &key, errors, status)
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
            Ok(_) => preview_page(lang, &p, &schema, &typed, &key),
            Err(e) if !e.errors.is_empty() => {
                again(&errors_of(lang, &e), StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(e) => failed(lang, &p, &e),
        };
    }
    // The issuing unit of work records the form's key with the document it numbers, so a
    // repeat of the form (after a crash or a restart too, or on another node) finds that
    // document; in this process a double click also waits for the first submission.
    let typed_key = typed.get("key");
    let slot = state.forms.slot(p.user.id, typed_key);
    let mut guard = match slot {
        Some(s) => Some(s.lock_owned().await),
        None => None,
    };
    if let Some(id) = guard.as_ref().and_then(|g| (**g).clone()) {
        return see_other(&with_lang(&format!("/clerk/documents/{id}"), lang));
    }
    let form_key = crate::issuing::FormKey::new(p.user.id, typed_key);
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
            Ok(Issuance::InProgress) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(Issuance::InProgress) => return busy(lang, &p),
            other => break other,
        }
    };
    let id = match issued {
        Ok(Issuance::New(doc)) => {
            state.metrics.issued();
            doc.id
        }
        Ok(Issuance::Earlier(record)) => record.id,
        Ok(Issuance::InProgress) => return busy(lang, &p),
        Err(e) if e.errors.is_empty() => return failed(lang, &p, &e),
        Err(e) => return again(&errors_of(lang, &e), StatusCode::UNPROCESSABLE_ENTITY),
    };
    if let Some(g) = guard.as_mut() {
        **g = Some(id.clone());
    }
    see_other(&with_lang(&format!("/clerk/documents/{id}"), lang))
}

// ---------------------------------------------------------------------------------------------
// The preview

#[derive(Template)]
#[template(path = "clerk/preview.html")]
struct PreviewPage {
    c: Chrome,
    csrf: String,
    kind: String,
    title: String,
    key: String,
    summary: Vec<(String, String)>,
    hidden: Vec<(String, String)>,
}

/// The preview of a valid form: clearly not a document (nothing is numbered or recorded), what
/// was typed, the watermarked PDF on request, and the choice to correct or to issue.
fn preview_page(lang: Lang, p: &Principal, schema: &Schema, typed: &Typed, key: &str) -> Response {
    let mut listed = Vec::new();
    summary(lang, &schema.fields, "", "", typed, &mut listed);
    render(&PreviewPage {
        c: chrome(
            lang,
            p,
            lang.t("Bản xem trước", "Preview"),
            &format!("/clerk/issue/{}", schema.kind),
        ),
        csrf: csrf(p),
        kind: schema.kind.clone(),
        title: lang.t(&schema.title_vi, &schema.title_en).to_owned(),
        key: key.to_owned(),
        summary: listed,
        hidden: hidden_inputs(typed),
    })
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
            issue_form(
                lang,
                &p,
                &schema,
                &typed,
                &key,
                &errors_of(lang, &e),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => failed(lang, &p, &e),
    }
}
