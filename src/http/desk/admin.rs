//! The admin's pages: the archive's state, users and API tokens, officials and their
//! certificates, delegations, the audit log.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::extract::State as AxumState;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::app::{self, AppError};
use crate::http::pages::see_other;

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
        b.push_str(&format!(
            "<li>{}",
            super::official::delegation_item(lang, d, now)
        ));
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
