//! HTML for the public pages: small, no scripts, one stylesheet from the same origin, readable
//! on a phone over a slow link. (The one script, `kyso.js`, serves the device-signing page.)
//! Vietnamese first; `?lang=en` switches to English. Also what every page module shares: the
//! language choice, safe redirects to sign in and back, and problems shown as pages.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use super::ApiError;

use crate::app::verify::{Comparison, PublicDocument, UploadReport};
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

    fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:18px/1.5 system-ui,sans-serif;margin:0;color:#111;background:#fafafa}\
main{max-width:40rem;margin:0 auto;padding:1rem}h1{font-size:1.4rem}\
.ok{color:#0a6b2b}.bad{color:#a10d0d}.warn{color:#8a5a00}\
dl{display:grid;grid-template-columns:auto minmax(0,1fr);gap:.2rem 1rem}dt{font-weight:600}\
dd{margin:0;min-width:0}td,th,dd{overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}\
code{word-break:break-all;font-size:.85rem}nav{text-align:right}\
form{margin:1rem 0;padding:1rem;background:#fff;border:1px solid #ddd}\
label{display:block;margin:.6rem 0 .1rem;font-weight:600}\
input,select,button{font:inherit;max-width:100%;box-sizing:border-box}input,select{width:100%;padding:.3rem}\
button{margin:.6rem .3rem 0 0;padding:.4rem 1rem}fieldset{border:1px solid #ccc;margin:.6rem 0}\
.err{display:block;color:#a10d0d}[aria-invalid]{border:2px solid #a10d0d}.req{color:#a10d0d;text-decoration:none}\
.default{position:absolute;left:-9999px}.bar{font-size:.9rem;border-bottom:1px solid #ddd}\
form.inline{display:inline;margin:0;padding:0;border:0;background:none}form.inline button{margin:0;padding:0 .4rem}\
.queue{padding-left:1.2rem}.queue li{margin:.8rem 0}.queue form{padding:.4rem;margin:.3rem 0}\
.preview{border:3px dashed #a10d0d;color:#a10d0d;font-weight:700;padding:.6rem;text-align:center}\
button.alt{background:#eef;border:1px solid #99c}label.check{font-weight:400}label.check input{width:auto}\
textarea{width:100%;box-sizing:border-box;font:.85rem monospace}dl.stack{display:block}.stack dd{margin:0 0 .4rem}.tabs{line-height:2}\
.public{font-size:21px}.public h1{font-size:1.6rem}.public button,.public input[type=file]{font-size:1.1rem;padding:.6rem 1.2rem}\
dl.cert{border-left:3px solid #ccc;padding-left:.5rem;font-size:.9rem}";

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

/// A whole page around `body`.
pub fn page(lang: Lang, title: &str, here: &str, body: &str) -> Html<String> {
    page_for(lang, title, here, body, "desk")
}

/// A page for citizens and verifiers, no sign-in: the same style in larger type (people read
/// it on a phone, often older eyes).
fn public_page(lang: Lang, title: &str, here: &str, body: &str) -> Html<String> {
    page_for(lang, title, here, body, "public")
}

fn page_for(lang: Lang, title: &str, here: &str, body: &str, class: &str) -> Html<String> {
    let (switch_href, switch_text) = match lang {
        Lang::Vi => (format!("{here}?lang=en"), "English"),
        Lang::En => (here.to_owned(), "Tiếng Việt"),
    };
    Html(format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{}</title><link rel=\"stylesheet\" href=\"/static/kyso.css\"></head>\
<body class=\"{class}\"><main><nav><a href=\"{}\">{}</a></nav>{}</main></body></html>",
        match lang {
            Lang::Vi => "vi",
            Lang::En => "en",
        },
        esc(title),
        esc(&switch_href),
        switch_text,
        body
    ))
}

/// The 404 page, the same for unknown and malformed ids.
pub fn not_found(lang: Lang) -> Html<String> {
    public_page(
        lang,
        lang.pick("Không tìm thấy", "Not found"),
        "/verify",
        &format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/verify\">{}</a></p>",
            lang.pick("Không tìm thấy giấy tờ", "No such document"),
            lang.pick(
                "Đường dẫn không đúng hoặc giấy tờ không có trong sổ.",
                "The link is wrong or the document is not in the register."
            ),
            lang.pick("Kiểm tra một tệp PDF", "Check a PDF file")
        ),
    )
}

fn status_text(lang: Lang, d: &PublicDocument) -> String {
    match d.status.as_str() {
        "issued" => format!(
            "<span class=\"ok\">{}</span>",
            lang.pick("Có hiệu lực", "Valid")
        ),
        "cancelled" => format!(
            "<span class=\"bad\">{}</span>: {}",
            lang.pick("Đã bị hủy", "Cancelled"),
            esc(d.cancel_decision.as_deref().unwrap_or(""))
        ),
        _ => format!(
            "<span class=\"bad\">{}</span>: {}",
            lang.pick(
                "Không có hiệu lực (số bị hủy)",
                "Void (number never issued)"
            ),
            esc(d.void_reason.as_deref().unwrap_or(""))
        ),
    }
}

/// The public page of a registered document.
pub fn document(lang: Lang, d: &PublicDocument, upload: Option<&UploadReport>) -> Html<String> {
    let here = format!("/v/{}", d.id);
    let title = match lang {
        Lang::Vi => &d.title_vi,
        Lang::En => &d.title_en,
    };
    let mut b = format!(
        "<h1>{}</h1><dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>",
        esc(title),
        lang.pick("Cơ quan cấp", "Issued by"),
        esc(&d.authority),
        lang.pick("Số", "Number"),
        esc(&d.number),
        lang.pick("Ngày cấp", "Date of issue"),
        esc(&d.issued_on),
        lang.pick("Tình trạng", "Status"),
        status_text(lang, d)
    );
    if !d.persons.is_empty() {
        let people: Vec<String> = d
            .persons
            .iter()
            .map(|p| format!("{} ({})", esc(&p.initials), esc(&p.id)))
            .collect();
        b.push_str(&format!(
            "<dt>{}</dt><dd>{}</dd>",
            lang.pick("Người yêu cầu", "Requester"),
            people.join(", ")
        ));
    }
    if let Some(sha) = &d.original_sha256 {
        b.push_str(&format!(
            "<dt>SHA-256</dt><dd><code>{}</code></dd>",
            esc(sha)
        ));
    }
    b.push_str("</dl>");
    b.push_str(&format!(
        "<h2>{}</h2>",
        lang.pick("Chữ ký số", "Digital signatures")
    ));
    if d.signatures.is_empty() {
        b.push_str(&format!(
            "<p class=\"warn\">{}</p>",
            lang.pick("Chưa được ký.", "Not signed yet.")
        ));
    } else {
        b.push_str(&format!(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
            lang.pick("Người ký", "Signer"),
            lang.pick("Tư cách", "Capacity"),
            lang.pick("Thời điểm", "Time")
        ));
        for s in &d.signatures {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.signer),
                esc(s.capacity.as_deref().or(s.title.as_deref()).unwrap_or("")),
                esc(&s.at)
            ));
        }
        b.push_str("</table>");
    }
    if let Some(u) = upload {
        b.push_str(&upload_section(lang, u));
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"{}{}\" enctype=\"multipart/form-data\"><p>{}</p>\
<input type=\"file\" name=\"file\" accept=\"application/pdf\" required> <button>{}</button></form>\
<p><a href=\"{}.json\">JSON</a></p>",
        esc(&here),
        if lang == Lang::En { "?lang=en" } else { "" },
        lang.pick(
            "Đối chiếu tệp PDF bạn đang giữ với bản gốc:",
            "Compare the PDF you hold with the original:"
        ),
        lang.pick("Kiểm tra", "Check"),
        esc(&here)
    ));
    public_page(lang, title, &here, &b)
}

/// What an upload's comparison and signature check say.
pub fn upload_section(lang: Lang, u: &UploadReport) -> String {
    let (class, text) = match &u.comparison {
        Comparison::Original => (
            "ok",
            lang.pick(
                "Tệp này đúng là bản gốc đã cấp.",
                "This file is identical to the original as delivered.",
            )
            .to_owned(),
        ),
        Comparison::EarlierRevision { stage, .. } => (
            "warn",
            match (lang, stage.as_str()) {
                (Lang::Vi, "issued") => "Đây là bản trước khi ký của giấy tờ này.".to_owned(),
                (Lang::En, "issued") => {
                    "This is an earlier revision of the document, before it was signed.".to_owned()
                }
                (Lang::Vi, _) => {
                    "Đây là một bản trước của giấy tờ này (chưa đủ các chữ ký).".to_owned()
                }
                (Lang::En, _) => {
                    "This is an earlier revision of the document (not all signatures yet)."
                        .to_owned()
                }
            },
        ),
        Comparison::OriginalWithLtv { added_revisions } => (
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
        } => (
            "bad",
            match lang {
                Lang::Vi => format!(
                    "Tệp này KHÁC bản gốc: có {added_revisions} lần sửa đổi sau bản đã ghi nhận; đối tượng thay đổi: {}.",
                    esc(&changed_objects.join(", "))
                ),
                Lang::En => format!(
                    "This file DIFFERS from the original: {added_revisions} revision(s) after the recorded version; changed objects: {}.",
                    esc(&changed_objects.join(", "))
                ),
            },
        ),
        Comparison::NotRegistered => (
            "warn",
            lang.pick(
                "Tệp này không có trong sổ của cơ quan.",
                "This file is not in this authority's register.",
            )
            .to_owned(),
        ),
    };
    let verdict = match u.report.indication {
        Verdict::Passed => (
            "ok",
            lang.pick("Các chữ ký hợp lệ.", "The signatures are valid."),
        ),
        Verdict::Failed => (
            "bad",
            lang.pick(
                "Chữ ký không hợp lệ hoặc tệp đã bị sửa trái phép.",
                "A signature is invalid or the file was changed in a disallowed way.",
            ),
        ),
        Verdict::NoSignature => (
            "warn",
            lang.pick("Tệp không có chữ ký số.", "The file has no signature."),
        ),
        _ => (
            "warn",
            lang.pick(
                "Chưa xác định được (ví dụ: không kiểm tra được chuỗi chứng thư).",
                "Indeterminate (e.g. the certificate chain could not be checked).",
            ),
        ),
    };
    let mut s = format!(
        "<h2>{}</h2><p class=\"{class}\">{text}</p><p class=\"{}\">{}</p><table>",
        lang.pick("Kết quả kiểm tra", "Result"),
        verdict.0,
        verdict.1
    );
    for sig in &u.report.signatures {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(sig
                .signer
                .as_ref()
                .map(|x| x.common_name.as_str())
                .unwrap_or("")),
            esc(sig
                .capacity
                .as_ref()
                .and_then(|c| c.claimed_role.as_deref())
                .unwrap_or("")),
            esc(sig.indication.as_str())
        ));
    }
    s.push_str("</table>");
    s
}

/// The upload form for any PDF, with a result when there is one.
pub fn verify(lang: Lang, result: Option<&UploadReport>) -> Html<String> {
    let mut b = format!(
        "<h1>{}</h1><form method=\"post\" action=\"/verify{}\" enctype=\"multipart/form-data\">\
<input type=\"file\" name=\"file\" accept=\"application/pdf\" required> <button>{}</button></form>",
        lang.pick(
            "Kiểm tra chữ ký số trên tệp PDF",
            "Check the signatures of a PDF"
        ),
        if lang == Lang::En { "?lang=en" } else { "" },
        lang.pick("Kiểm tra", "Check")
    );
    if let Some(u) = result {
        if let Some(id) = &u.document {
            b.push_str(&format!(
                "<p><a href=\"/v/{}\">{}</a></p>",
                esc(id),
                lang.pick("Xem giấy tờ trong sổ", "See the document in the register")
            ));
        }
        b.push_str(&upload_section(lang, u));
    }
    public_page(
        lang,
        lang.pick("Kiểm tra chữ ký số", "Verify"),
        "/verify",
        &b,
    )
}

/// A page saying what was wrong with an upload.
pub fn upload_problem(lang: Lang, status_vi: &str, status_en: &str) -> Html<String> {
    public_page(
        lang,
        lang.pick("Không kiểm tra được", "Cannot check"),
        "/verify",
        &format!(
            "<h1>{}</h1><p class=\"bad\">{}</p><p><a href=\"/verify\">{}</a></p>",
            lang.pick("Không kiểm tra được tệp", "The file cannot be checked"),
            esc(lang.pick(status_vi, status_en)),
            lang.pick("Thử tệp khác", "Try another file")
        ),
    )
}

// Pieces every page module shares: language choice, safe redirects, problem pages.

pub(super) fn pick(lang: Lang, vi: &str, en: &str) -> String {
    match lang {
        Lang::Vi => vi.to_owned(),
        Lang::En => en.to_owned(),
    }
}

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

/// A problem as a page: its status, its words, a way back. `data-problem` carries the
/// problem type, as the API's problem responses do in `type`.
pub fn problem_page(lang: Lang, e: &ApiError, home_link: Option<&str>) -> Response {
    let detail = match lang {
        Lang::Vi => &e.detail_vi,
        Lang::En => &e.detail_en,
    };
    let title = match e.status {
        403 => pick(lang, "Không được phép", "Not allowed"),
        404 => pick(lang, "Không tìm thấy", "Not found"),
        _ => pick(lang, "Không làm được", "Cannot do this"),
    };
    let back = home_link.unwrap_or("/sign-in");
    let body = format!(
        "<section data-problem=\"{}\"><h1>{}</h1><p class=\"bad\">{}</p><p><a href=\"{}\">{}</a></p></section>",
        esc(&e.kind),
        esc(&title),
        esc(detail),
        esc(&with_lang(back, lang)),
        pick(lang, "Về trang chính", "Back to the home page")
    );
    (e.status(), page(lang, &title, back, &body)).into_response()
}
