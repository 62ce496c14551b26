//! What every page shares: the layout (`templates/base.html`: head, stylesheet, language switch,
//! the signed-in bar), the language choice, safe redirects to sign in and back, problems shown as
//! pages; and the public pages (the QR code's page, the upload to verify, not found), which need
//! no sign-in. Small, no scripts (the one script, `kyso.js`, serves the device-signing page),
//! one stylesheet from the same origin, readable on a phone over a slow link. Vietnamese first;
//! `?lang=en` switches to English.
//!
//! Every page is an askama template (`src/http/templates/`, see `askama.toml`) filled from a
//! struct: the templates are checked when kyso compiles, and askama HTML-escapes every value a
//! template prints, once. Nothing here builds HTML by hand.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use super::ApiError;

use crate::app::verify::{Comparison, PublicDocument, PublicSignature, UploadReport};
use crate::validation::Verdict;

/// The page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Vietnamese (the default).
    Vi,
    /// English.
    En,
}

impl Lang {
    /// From the `lang` query parameter.
    pub fn from_query(q: Option<&str>) -> Lang {
        match q {
            Some("en") => Lang::En,
            _ => Lang::Vi,
        }
    }

    /// The words in this language (templates write `c.t("…", "…")`).
    pub fn t<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// `vi` or `en`, for `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// Whether the page is in English.
    pub fn en(self) -> bool {
        self == Lang::En
    }

    /// What a form's action or a link without a query carries to stay in this language.
    pub fn suffix(self) -> &'static str {
        match self {
            Lang::Vi => "",
            Lang::En => "?lang=en",
        }
    }
}

const CSS: &str = include_str!("kyso.css");

const SCRIPT: &str = include_str!("kyso.js");

/// `GET /static/kyso.js`: the only script, for the device-signing page.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// `GET /static/kyso.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        CSS,
    )
        .into_response()
}

/// The signed-in bar on top of a page: home, who is signed in, password and sign-out.
pub struct Bar {
    /// The role's home page.
    pub home: &'static str,
    /// The user's display name.
    pub name: String,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
}

/// What the layout needs: the language, the title, where the language switch leads, the
/// body's class (`desk`, or `public` in larger type), and the bar when someone is signed in.
pub struct Chrome {
    /// The page language.
    pub lang: Lang,
    /// The `<title>`.
    pub title: String,
    /// This page's path (and query), which the language switch reopens.
    pub here: String,
    /// The body's class.
    pub class: &'static str,
    /// The signed-in bar.
    pub bar: Option<Bar>,
}

impl Chrome {
    /// A page for people at work (signed in or signing in).
    pub fn desk(lang: Lang, title: &str, here: &str) -> Chrome {
        Chrome {
            lang,
            title: title.to_owned(),
            here: here.to_owned(),
            class: "desk",
            bar: None,
        }
    }

    /// A page for citizens and verifiers, no sign-in: the same style in larger type (people
    /// read it on a phone, often older eyes).
    pub fn public(lang: Lang, title: &str, here: &str) -> Chrome {
        Chrome {
            class: "public",
            ..Chrome::desk(lang, title, here)
        }
    }

    /// The words in the page's language.
    pub fn t<'a>(&self, vi: &'a str, en: &'a str) -> &'a str {
        self.lang.t(vi, en)
    }

    /// `path` in the page's language.
    pub fn link(&self, path: &str) -> String {
        with_lang(path, self.lang)
    }

    /// What a form's action carries to stay in the page's language.
    pub fn sfx(&self) -> &'static str {
        self.lang.suffix()
    }

    /// Where the language switch leads.
    pub fn switch_href(&self) -> String {
        match self.lang {
            Lang::Vi => format!("{}?lang=en", self.here),
            Lang::En => self.here.clone(),
        }
    }

    /// The language switch's words (each in its own language).
    pub fn switch_text(&self) -> &'static str {
        match self.lang {
            Lang::Vi => "English",
            Lang::En => "Tiếng Việt",
        }
    }
}

/// A rendered page as a response (200), or a 500 if it could not be written (templates are
/// checked when kyso compiles, so only a value's `Display` could fail).
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page not rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "page not rendered\n").into_response()
        }
    }
}

/// [`render`] answered with `status`.
pub fn render_with(status: StatusCode, t: &impl Template) -> Response {
    let mut r = render(t);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

#[derive(Template)]
#[template(path = "public/not_found.html")]
struct NotFoundPage {
    c: Chrome,
}

/// The 404 page, the same for unknown and malformed ids.
pub fn not_found(lang: Lang) -> Response {
    let c = Chrome::public(lang, lang.t("Không tìm thấy", "Not found"), "/verify");
    render_with(StatusCode::NOT_FOUND, &NotFoundPage { c })
}

/// A line of a result, with its class (`ok`, `warn`, `bad`).
pub struct Said {
    /// `ok`, `warn` or `bad`.
    pub class: &'static str,
    /// The words.
    pub text: String,
}

/// What an upload's comparison and signature check say, for `public/upload.html`.
pub struct UploadView {
    /// How the file compares with the register.
    pub comparison: Said,
    /// What the validation of its signatures concluded.
    pub verdict: Said,
    /// Each signature: signer, capacity claimed, indication.
    pub rows: Vec<[String; 3]>,
}

#[derive(Template)]
#[template(path = "public/document.html")]
struct DocumentPage<'a> {
    c: Chrome,
    d: &'a PublicDocument,
    doc_title: &'a str,
    persons: String,
    upload: Option<UploadView>,
}

impl DocumentPage<'_> {
    fn capacity<'s>(&self, s: &'s PublicSignature) -> &'s str {
        s.capacity.as_deref().or(s.title.as_deref()).unwrap_or("")
    }
}

/// The public page of a registered document.
pub fn document(lang: Lang, d: &PublicDocument, upload: Option<&UploadReport>) -> Response {
    let doc_title = match lang {
        Lang::Vi => &d.title_vi,
        Lang::En => &d.title_en,
    };
    let persons = d
        .persons
        .iter()
        .map(|p| format!("{} ({})", p.initials, p.id))
        .collect::<Vec<_>>()
        .join(", ");
    render(&DocumentPage {
        c: Chrome::public(lang, doc_title, &format!("/v/{}", d.id)),
        d,
        doc_title,
        persons,
        upload: upload.map(|u| upload_view(lang, u)),
    })
}

/// What an upload's comparison and signature check say.
fn upload_view(lang: Lang, u: &UploadReport) -> UploadView {
    let said = |class, text: String| Said { class, text };
    let comparison = match &u.comparison {
        Comparison::Original => said(
            "ok",
            lang.t(
                "Tệp này đúng là bản gốc đã cấp.",
                "This file is identical to the original as delivered.",
            )
            .to_owned(),
        ),
        Comparison::EarlierRevision { stage, .. } => said(
            "warn",
            match (lang, stage.as_str()) {
                (Lang::Vi, "issued") => "Đây là bản trước khi ký của giấy tờ này.",
                (Lang::En, "issued") => {
                    "This is an earlier revision of the document, before it was signed."
                }
                (Lang::Vi, _) => "Đây là một bản trước của giấy tờ này (chưa đủ các chữ ký).",
                (Lang::En, _) => {
                    "This is an earlier revision of the document (not all signatures yet)."
                }
            }
            .to_owned(),
        ),
        Comparison::OriginalWithLtv { added_revisions } => said(
            "ok",
            match lang {
                Lang::Vi => format!(
                    "Bản gốc, có thêm {added_revisions} lần bổ sung dữ liệu xác thực dài hạn."
                ),
                Lang::En => format!(
                    "The original, with long-term validation material added ({added_revisions} revision(s))."
                ),
            },
        ),
        Comparison::Different {
            added_revisions,
            changed_objects,
            ..
        } => said(
            "bad",
            match lang {
                Lang::Vi => format!(
                    "Tệp này KHÁC bản gốc: có {added_revisions} lần sửa đổi sau bản đã ghi nhận; đối tượng thay đổi: {}.",
                    changed_objects.join(", ")
                ),
                Lang::En => format!(
                    "This file DIFFERS from the original: {added_revisions} revision(s) after the recorded version; changed objects: {}.",
                    changed_objects.join(", ")
                ),
            },
        ),
        Comparison::NotRegistered => said(
            "warn",
            lang.t(
                "Tệp này không có trong sổ của cơ quan.",
                "This file is not in this authority's register.",
            )
            .to_owned(),
        ),
    };
    let (class, text) = match u.report.indication {
        Verdict::Passed => (
            "ok",
            lang.t("Các chữ ký hợp lệ.", "The signatures are valid."),
        ),
        Verdict::Failed => (
            "bad",
            lang.t(
                "Chữ ký không hợp lệ hoặc tệp đã bị sửa trái phép.",
                "A signature is invalid or the file was changed in a disallowed way.",
            ),
        ),
        Verdict::NoSignature => (
            "warn",
            lang.t("Tệp không có chữ ký số.", "The file has no signature."),
        ),
        _ => (
            "warn",
            lang.t(
                "Chưa xác định được (ví dụ: không kiểm tra được chuỗi chứng thư).",
                "Indeterminate (e.g. the certificate chain could not be checked).",
            ),
        ),
    };
    let rows = u
        .report
        .signatures
        .iter()
        .map(|sig| {
            [
                sig.signer
                    .as_ref()
                    .map(|x| x.common_name.clone())
                    .unwrap_or_default(),
                sig.capacity
                    .as_ref()
                    .and_then(|c| c.claimed_role.clone())
                    .unwrap_or_default(),
                sig.indication.as_str().to_owned(),
            ]
        })
        .collect();
    UploadView {
        comparison,
        verdict: said(class, text.to_owned()),
        rows,
    }
}

#[derive(Template)]
#[template(path = "public/verify.html")]
struct VerifyPage<'a> {
    c: Chrome,
    document: Option<&'a str>,
    upload: Option<UploadView>,
}

/// The upload form for any PDF, with a result when there is one.
pub fn verify(lang: Lang, result: Option<&UploadReport>) -> Response {
    render(&VerifyPage {
        c: Chrome::public(lang, lang.t("Kiểm tra chữ ký số", "Verify"), "/verify"),
        document: result.and_then(|u| u.document.as_deref()),
        upload: result.map(|u| upload_view(lang, u)),
    })
}

#[derive(Template)]
#[template(path = "public/upload_problem.html")]
struct UploadProblemPage<'a> {
    c: Chrome,
    problem: &'a str,
}

/// A page saying what was wrong with an upload, answered with the problem's status.
pub fn upload_problem(lang: Lang, e: &ApiError) -> Response {
    let c = Chrome::public(
        lang,
        lang.t("Không kiểm tra được", "Cannot check"),
        "/verify",
    );
    let problem = lang.t(&e.detail_vi, &e.detail_en);
    render_with(e.status(), &UploadProblemPage { c, problem })
}

// Pieces every page module shares: language choice, safe redirects, problem pages.

pub(super) fn with_lang(path: &str, lang: Lang) -> String {
    match lang {
        Lang::Vi => path.to_owned(),
        Lang::En if path.contains('?') => format!("{path}&lang=en"),
        Lang::En => format!("{path}?lang=en"),
    }
}

/// `next` if it is a path on this site kyso may send a browser back to.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 1000
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        && !next.starts_with("/sign-in")
        && !next.starts_with("/api/");
    ok.then_some(next)
}

/// Where a request for `uri` without a session is sent: the sign-in page, coming back after.
pub fn sign_in_redirect(uri: &Uri) -> Response {
    let here = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut to = "/sign-in".to_owned();
    if let Some(next) = safe_next(here) {
        to.push_str("?next=");
        to.extend(url::form_urlencoded::byte_serialize(next.as_bytes()));
    }
    see_other(&to)
}

pub(super) fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    c: Chrome,
    e: &'a ApiError,
    detail: &'a str,
    back: &'a str,
}

/// A problem as a page: its status, its words, a way back. `data-problem` carries the
/// problem type, as the API's problem responses do in `type`.
pub fn problem_page(lang: Lang, e: &ApiError, home_link: Option<&str>) -> Response {
    let title = match e.status {
        403 => lang.t("Không được phép", "Not allowed"),
        404 => lang.t("Không tìm thấy", "Not found"),
        _ => lang.t("Không làm được", "Cannot do this"),
    };
    let back = home_link.unwrap_or("/sign-in");
    let page = ProblemPage {
        c: Chrome::desk(lang, title, back),
        e,
        detail: lang.t(&e.detail_vi, &e.detail_en),
        back,
    };
    render_with(e.status(), &page)
}
