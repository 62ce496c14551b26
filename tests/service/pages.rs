//! The pages people use, over HTTP as a browser sends them (URL-encoded forms, the session
//! cookie, the CSRF token in the form): signing in and coming back, the clerk's form with a
//! mistake then issued once however often it is submitted, the Vice-Chairman's queue and the
//! seal's, refusals in words, signing out.

use serde_json::Value;

use crate::client::*;
use crate::common::served::*;

/// The value of hidden input `name` on a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The sample's fields as the form names them (`requester.full_name`).
fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, &p, out);
            }
        }
        Value::Array(items) => {
            out.push((format!("rows.{prefix}"), items.len().to_string()));
            for (i, v) in items.iter().enumerate() {
                flatten(v, &format!("{prefix}[{i}]"), out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn sign_in_comes_back_and_refusals_are_pages() {
    let s = Served::start();
    // No session: sign in, then back to the page asked for.
    let r = s.get(&Caller::Anonymous, "/clerk/search?name=H");
    assert_eq!(r.status, 303);
    let to = r.header("location").unwrap().to_owned();
    assert_eq!(to, "/sign-in?next=%2Fclerk%2Fsearch%3Fname%3DH");
    let form = s.get(&Caller::Anonymous, &to);
    assert_eq!(form.status, 200);
    let next = hidden(&form.text(), "next");
    assert_eq!(next, "/clerk/search?name=H");
    let r = s.form(
        &Caller::Anonymous,
        "/sign-in",
        &[
            ("username", "van-thu"),
            ("password", "dev-clerk-password"),
            ("next", &next),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/clerk/search?name=H"));
    // Only paths on this site: anything else goes to the role's home.
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil",
        "/api/v1/me",
    ] {
        let r = s.form(
            &Caller::Anonymous,
            "/sign-in",
            &[
                ("username", "van-thu"),
                ("password", "dev-clerk-password"),
                ("next", next),
            ],
        );
        assert_eq!(r.header("location"), Some("/clerk"), "{next}");
    }
    // Each role has its home.
    for (user, password, home) in [
        ("chu-tich", "dev-chairman-password", "/official"),
        ("con-dau", "dev-seal-password", "/seal"),
        ("admin", "dev-admin-password", "/admin"),
    ] {
        let r = s.form(
            &Caller::Anonymous,
            "/sign-in?lang=en",
            &[("username", user), ("password", password)],
        );
        assert_eq!(
            r.header("location"),
            Some(format!("{home}?lang=en").as_str())
        );
        let b = s.browser(user, password);
        let page = s.get(&b, home);
        assert_eq!(page.status, 200, "{home}: {}", page.text());
        assert!(page.text().contains("<html lang=\"vi\""));
    }
    // A wrong password: the form again, the name kept, the reason in words.
    let r = s.form(
        &Caller::Anonymous,
        "/sign-in",
        &[("username", "van-thu"), ("password", "wrong password!")],
    );
    assert_eq!(r.status, 422);
    assert!(r.text().contains("value=\"van-thu\""), "{}", r.text());
    assert!(r.text().contains("id=\"message\""));
    // An unknown or expired session is no session.
    let r = s.get(&Caller::Browser("expired-or-forged".into()), "/official");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/sign-in?next=%2Fofficial"));
    // The wrong role: a 403 page, not a problem document.
    let clerk = s.browser("van-thu", "dev-clerk-password");
    let r = s.get(&clerk, "/admin?lang=en");
    assert_eq!(r.status, 403);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(r.problem(), "urn:kyso:problem:wrong-role");
    assert!(r.text().contains("your role may not do this"));
    // A form without its CSRF token changes nothing.
    let r = s.form(&clerk, "/sign-out", &[]);
    assert_eq!(r.status, 403);
    assert_eq!(r.problem(), "urn:kyso:problem:csrf");
    assert_eq!(s.get(&clerk, "/clerk").status, 200);
    // Password: both new ones must agree; the use case's rules are shown in words.
    let page = s.get(&clerk, "/account/password").text();
    let csrf = hidden(&page, "csrf");
    let r = s.form(
        &clerk,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", "dev-clerk-password"),
            ("new", "a-new-password-1"),
            ("confirm", "another-password"),
        ],
    );
    assert_eq!(r.status, 422);
    let r = s.form(
        &clerk,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", "dev-clerk-password"),
            ("new", "short"),
            ("confirm", "short"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.text().contains("12"), "{}", r.text());
    // Signing out with the form's token ends the session.
    let r = s.form(&clerk, "/sign-out", &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/sign-in"));
    assert_eq!(s.get(&clerk, "/clerk").status, 303);
}

#[test]
fn the_clerk_issues_once_the_vice_chairman_signs_and_the_seal_seals_from_their_pages() {
    let s = Served::start();
    let clerk = s.browser("van-thu", "dev-clerk-password");
    let home = s.get(&clerk, "/clerk").text();
    assert!(home.contains("href=\"/clerk/issue/signature\""), "{home}");
    let form = s.get(&clerk, "/clerk/issue/signature").text();
    // Generated from the schema: Vietnamese labels, choices, required marks.
    for part in [
        "name=\"requester.personal_id\"",
        "Số định danh cá nhân",
        "<option>Căn cước công dân</option>",
        "class=\"req\"",
        "name=\"desk_clerk.full_name\"",
    ] {
        assert!(form.contains(part), "{part} in {form}");
    }
    let csrf = hidden(&form, "csrf");
    let key = hidden(&form, "key");
    let mut fields = Vec::new();
    flatten(&signature_sample(), "", &mut fields);
    fields.push(("csrf".into(), csrf.clone()));
    fields.push(("key".into(), key.clone()));

    // One mistake: shown beside its field, everything typed kept.
    let mut wrong = fields.clone();
    for (k, v) in &mut wrong {
        if k == "requester.personal_id" {
            *v = "02519000773".into();
        }
    }
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&wrong));
    assert_eq!(r.status, 422, "{}", r.text());
    let page = r.text();
    assert!(page.contains("value=\"02519000773\" inputmode"), "{page}");
    assert!(page.contains("value=\"Phạm Thị Hương\""), "{page}");
    let after = page.split("name=\"requester.personal_id\"").nth(1).unwrap();
    assert!(after.contains("aria-invalid") || page.contains("aria-invalid=\"true\">"));
    let beside = &after[..after.find("<label").unwrap_or(after.len())];
    assert!(beside.contains("class=\"err\""), "{beside}");
    assert!(beside.contains("12"), "{beside}");
    assert_eq!(hidden(&page, "key"), key);

    // Fixed: issued, and a double submit issues once.
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&fields));
    assert_eq!(r.status, 303, "{}", r.text());
    let result = r.header("location").unwrap().to_owned();
    let id = result.strip_prefix("/clerk/documents/").unwrap().to_owned();
    let again = s.form(&clerk, "/clerk/issue/signature", &pairs(&fields));
    assert_eq!(again.header("location"), Some(result.as_str()));
    let admin = s.dev("admin");
    let all = s.get(&admin, "/api/v1/documents").json();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    let page = s.get(&clerk, &result).text();
    assert!(
        page.contains(&format!("href=\"/api/v1/documents/{id}/pdf\"")),
        "{page}"
    );
    assert!(page.contains("id=\"number\">01, quyển số 01/"), "{page}");
    let pdf = s.get(&clerk, &format!("/api/v1/documents/{id}/pdf"));
    assert_eq!(pdf.status, 200);
    assert!(pdf.body.starts_with(b"%PDF"));
    // Search by citizen ID, name, kind, number and date.
    for q in [
        "citizen_id=025190007731",
        "name=H%C6%B0%C6%A1ng",
        "kind=signature&number=1",
        "from=2000-01-01",
    ] {
        let r = s.get(&clerk, &format!("/clerk/search?{q}"));
        assert!(r.text().contains(&result), "{q}: {}", r.text());
    }
    let r = s.get(&clerk, "/clerk/search?kind=contract");
    assert!(!r.text().contains(&result));

    // The Vice-Chairman signs KT. from her queue; a second click signs once.
    let vice = s.browser("pho-chu-tich", "dev-vice-password");
    let queue = s.get(&vice, "/official").text();
    assert!(queue.contains(&format!("value=\"{id}\"")), "{queue}");
    assert!(queue.contains("KT. CHỦ TỊCH"), "{queue}");
    let seal = s.browser("con-dau", "dev-seal-password");
    assert!(!s.get(&seal, "/seal").text().contains(&id));
    let sign = [
        ("csrf", hidden(&queue, "csrf")),
        ("document", id.clone()),
        ("key", hidden(&queue, "key")),
    ];
    let sign: Vec<(&str, &str)> = sign.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.form(&vice, "/official", &sign);
    assert_eq!(r.status, 303, "{}", r.text());
    let done = format!("/official?signed={id}");
    assert_eq!(r.header("location"), Some(done.as_str()));
    assert_eq!(
        s.form(&vice, "/official", &sign).header("location"),
        Some(done.as_str())
    );
    assert!(!s.get(&vice, "/official").text().contains(&id));

    // The Chairman can no longer sign it: the refusal in words, in his language.
    let chair = s.browser("chu-tich", "dev-chairman-password");
    let queue = s.get(&chair, "/official").text();
    assert!(!queue.contains(&format!("value=\"{id}\"")));
    let r = s.form(
        &chair,
        "/official?lang=en",
        &[
            ("csrf", &hidden(&queue, "csrf")),
            ("document", &id),
            ("key", "another-key-0123456789"),
        ],
    );
    assert!((400..500).contains(&r.status), "{}", r.text());
    assert!(
        r.text().contains("class=\"bad\" id=\"message\""),
        "{}",
        r.text()
    );

    // The seal keeper seals it.
    let queue = s.get(&seal, "/seal").text();
    assert!(queue.contains(&format!("value=\"{id}\"")), "{queue}");
    let r = s.form(
        &seal,
        "/seal",
        &[
            ("csrf", &hidden(&queue, "csrf")),
            ("document", &id),
            ("key", &hidden(&queue, "key")),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(!s.get(&seal, "/seal").text().contains(&id));
    let public = s.get(&Caller::Anonymous, &format!("/v/{id}.json")).json();
    assert_eq!(
        public["signatures"].as_array().unwrap().len(),
        2,
        "{public}"
    );
}

#[test]
fn the_admin_revokes_the_delegation_and_the_clerk_cancels_from_their_pages() {
    let s = Served::start();
    let clerk = s.browser("van-thu", "dev-clerk-password");
    let form = s.get(&clerk, "/clerk/issue/signature").text();
    let mut fields = Vec::new();
    flatten(&signature_sample(), "", &mut fields);
    fields.push(("csrf".into(), hidden(&form, "csrf")));
    fields.push(("key".into(), hidden(&form, "key")));
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&fields));
    assert_eq!(r.status, 303, "{}", r.text());
    let page = r.header("location").unwrap().to_owned();
    let id = page.strip_prefix("/clerk/documents/").unwrap().to_owned();
    let vice = s.browser("pho-chu-tich", "dev-vice-password");
    let chair = s.browser("chu-tich", "dev-chairman-password");
    assert!(s.get(&vice, "/official").text().contains(&id));
    assert!(s.get(&chair, "/official").text().contains(&id));

    // The clerk cannot open the admin's pages.
    let r = s.get(&clerk, "/admin/delegations");
    assert_eq!(r.status, 403);
    assert_eq!(r.problem(), "urn:kyso:problem:wrong-role");

    // The admin revokes the KT. delegation: a reason is needed; then it leaves the
    // Vice-Chairman's queue, not the Chairman's.
    let admin = s.browser("admin", "dev-admin-password");
    let list = s.get(&admin, "/admin/delegations").text();
    assert!(
        list.contains("KT. CHỦ TỊCH") && list.contains("Đang có hiệu lực"),
        "{list}"
    );
    let delegation = hidden(&list, "delegation");
    let csrf = hidden(&list, "csrf");
    let r = s.form(
        &admin,
        "/admin/delegations",
        &[
            ("csrf", &csrf),
            ("delegation", &delegation),
            ("reason", " "),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("id=\"message\""));
    let r = s.form(
        &admin,
        "/admin/delegations",
        &[
            ("csrf", &csrf),
            ("delegation", &delegation),
            ("reason", "Phó Chủ tịch nghỉ phép"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(
        s.get(&admin, "/admin/delegations")
            .text()
            .contains("Đã thu hồi")
    );
    assert!(!s.get(&vice, "/official").text().contains(&id));
    assert!(s.get(&chair, "/official").text().contains(&id));

    // The clerk cancels it by a decision: it leaves every queue.
    let doc = s.get(&clerk, &page).text();
    let csrf = hidden(&doc, "csrf");
    let r = s.form(
        &clerk,
        &page,
        &[("csrf", &csrf), ("decision", ""), ("reason", "")],
    );
    assert!((400..500).contains(&r.status), "{}", r.text());
    assert!(r.text().contains("id=\"message\""), "{}", r.text());
    let r = s.form(
        &clerk,
        &page,
        &[
            ("csrf", &csrf),
            ("decision", "05/QĐ-UBND ngày 02/12/2026"),
            ("reason", "ghi sai tên giấy tờ"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(s.get(&clerk, &page).text().contains("Đã hủy"));
    assert!(!s.get(&chair, "/official").text().contains(&id));
}

#[test]
fn what_people_type_is_escaped_once_on_the_form_the_result_the_search_and_the_public_page() {
    let s = Served::start();
    let clerk = s.browser("van-thu", "dev-clerk-password");
    let form = s.get(&clerk, "/clerk/issue/signature").text();
    let name = "<script>\"&' Hương";
    // Each character HTML gives a meaning to, escaped once (not left raw, not escaped twice).
    let escaped = "&#60;script&#62;&#34;&#38;&#39; Hương";
    let mut fields = Vec::new();
    flatten(&signature_sample(), "", &mut fields);
    for (k, v) in &mut fields {
        if k == "requester.full_name" {
            *v = name.into();
        }
    }
    fields.push(("csrf".into(), hidden(&form, "csrf")));
    fields.push(("key".into(), hidden(&form, "key")));

    // In a form field: the form comes back (another field is wrong) with the name as typed.
    let mut wrong = fields.clone();
    for (k, v) in &mut wrong {
        if k == "requester.personal_id" {
            *v = "123".into();
        }
    }
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&wrong));
    assert_eq!(r.status, 422, "{}", r.text());
    let page = r.text();
    assert!(page.contains(&format!("value=\"{escaped}\"")), "{page}");
    assert!(!page.contains("<script"), "{page}");
    // The preview lists it and carries it on.
    let mut go = fields.clone();
    go.push(("go".into(), "preview".into()));
    let page = s.form(&clerk, "/clerk/issue/signature", &pairs(&go)).text();
    assert!(page.contains(&format!("<dd>{escaped}</dd>")), "{page}");
    assert!(page.contains(&format!("value=\"{escaped}\"")), "{page}");
    assert!(!page.contains("<script"), "{page}");

    // Issued: the citizen's name on the clerk's result page and in the search's list.
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&fields));
    assert_eq!(r.status, 303, "{}", r.text());
    let result = r.header("location").unwrap().to_owned();
    let id = result.strip_prefix("/clerk/documents/").unwrap().to_owned();
    let page = s.get(&clerk, &result).text();
    assert!(page.contains(escaped), "{page}");
    assert!(!page.contains("<script"), "{page}");
    let list = s.get(&clerk, "/clerk/search?name=script").text();
    assert!(list.contains(&format!("<td>{escaped}</td>")), "{list}");
    assert!(!list.contains("<script"), "{list}");
    // The public page shows initials: the first one is the "<", escaped.
    let public = s.get(&Caller::Anonymous, &format!("/v/{id}")).text();
    assert!(public.contains("&#60;. H."), "{public}");
    assert!(!public.contains("<."), "{public}");
}

/// The text of element `<code id="{id}">…</code>` on a page.
fn code(page: &str, id: &str) -> String {
    let marker = format!("<code id=\"{id}\">");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in {page}"))
        + marker.len();
    page[start..].split('<').next().unwrap().to_owned()
}

#[test]
fn the_clerk_previews_without_a_number_then_issues_and_reprints_each_version() {
    let s = Served::start();
    let clerk = s.browser("van-thu", "dev-clerk-password");
    let admin = s.dev("admin");
    let form = s.get(&clerk, "/clerk/issue/signature").text();
    assert!(form.contains("id=\"preview\""), "{form}");
    let mut fields = Vec::new();
    flatten(&signature_sample(), "", &mut fields);
    fields.push(("csrf".into(), hidden(&form, "csrf")));
    fields.push(("key".into(), hidden(&form, "key")));

    // A preview of a form with a mistake: the form again, the problem beside its field.
    let mut wrong = fields.clone();
    wrong.push(("go".into(), "preview".into()));
    for (k, v) in &mut wrong {
        if k == "requester.personal_id" {
            *v = "123".into();
        }
    }
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&wrong));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("class=\"err\""));

    // A valid preview: marked, what was typed listed and carried on, nothing in the register.
    let mut go = fields.clone();
    go.push(("go".into(), "preview".into()));
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&go));
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    assert!(page.contains("BẢN XEM TRƯỚC"), "{page}");
    assert!(page.contains("<dd>Phạm Thị Hương</dd>"), "{page}");
    assert_eq!(hidden(&page, "requester.personal_id"), "025190007731");
    assert_eq!(hidden(&page, "key"), hidden(&form, "key"));
    assert!(page.len() < 100_000);
    let pdf = s.form(&clerk, "/clerk/preview/signature", &pairs(&fields));
    assert_eq!(pdf.status, 200, "{}", pdf.text());
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    assert!(pdf.body.starts_with(b"%PDF"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("preview.pdf");
    std::fs::write(&file, &pdf.body).unwrap();
    let text = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("BẢN XEM TRƯỚC — chưa cấp số, không có giá trị"),
        "{text}"
    );
    assert!(text.contains("Số chứng thực: ……, quyển số: ……/"), "{text}");
    let none = s.get(&admin, "/api/v1/documents").json();
    assert_eq!(none.as_array().unwrap().len(), 0, "{none}");
    // "Correct it": the form again with everything typed.
    let mut edit = fields.clone();
    edit.push(("go".into(), "edit".into()));
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&edit));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("value=\"Phạm Thị Hương\""));

    // Issued from the preview's form, once.
    let mut issue = fields.clone();
    issue.push(("go".into(), "issue".into()));
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&issue));
    assert_eq!(r.status, 303, "{}", r.text());
    let doc = r.header("location").unwrap().to_owned();
    let id = doc.strip_prefix("/clerk/documents/").unwrap().to_owned();
    assert_eq!(
        s.form(&clerk, "/clerk/issue/signature", &pairs(&issue))
            .header("location"),
        Some(doc.as_str())
    );
    let text = s.get(&clerk, &doc).text();
    assert!(text.contains(&format!("href=\"/clerk/documents/{id}/reprint\"")));

    // Signed by the Chairman; the reprint page offers both versions, byte for byte.
    let chair = s.browser("chu-tich", "dev-chairman-password");
    let queue = s.get(&chair, "/official").text();
    let r = s.form(
        &chair,
        "/official",
        &[
            ("csrf", &hidden(&queue, "csrf")),
            ("document", &id),
            ("key", &hidden(&queue, "key")),
            ("capacity", &hidden(&queue, "capacity")),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let page = s.get(&clerk, &format!("{doc}/reprint")).text();
    let links: Vec<&str> = page
        .split(&format!("href=\"/clerk/documents/{id}/versions/"))
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect();
    assert_eq!(links.len(), 2, "{page}");
    assert!(page.contains("CHỦ TỊCH"), "{page}");
    let newest = s.get(&clerk, &format!("{doc}/versions/{}", links[0]));
    assert_eq!(newest.status, 200);
    assert_eq!(
        newest.body,
        s.get(&admin, &format!("/api/v1/documents/{id}/pdf")).body
    );
    let issued = s.get(&clerk, &format!("{doc}/versions/{}", links[1]));
    assert_eq!(
        kyso::app::sha256_hex(&issued.body),
        links[1],
        "the issued version is given back byte for byte"
    );
    let r = s.get(&clerk, &format!("{doc}/versions/{}", "0".repeat(64)));
    assert_eq!(r.status, 404);
}

#[test]
fn the_chairman_grants_from_his_page_and_the_vice_chooses_her_capacity_and_signs_with_a_device() {
    let s = Served::start();
    let clerk = s.browser("van-thu", "dev-clerk-password");
    let form = s.get(&clerk, "/clerk/issue/signature").text();
    let mut fields = Vec::new();
    flatten(&signature_sample(), "", &mut fields);
    fields.push(("csrf".into(), hidden(&form, "csrf")));
    fields.push(("key".into(), hidden(&form, "key")));
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&fields));
    let id = r
        .header("location")
        .unwrap()
        .strip_prefix("/clerk/documents/")
        .unwrap()
        .to_owned();

    // The Vice-Chairman has one capacity: KT., shown, not typed.
    let vice = s.browser("pho-chu-tich", "dev-vice-password");
    let queue = s.get(&vice, "/official").text();
    assert!(!queue.contains("<fieldset class=\"capacity\">"), "{queue}");
    assert!(queue.contains("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH — theo quyết định"));

    // The Chairman grants her a TM. for signatures from his page: every problem first.
    let chair = s.browser("chu-tich", "dev-chairman-password");
    let page = s.get(&chair, "/official/delegations").text();
    assert!(page.contains("id=\"granted\""), "{page}");
    let csrf = hidden(&page, "csrf");
    let r = s.form(
        &chair,
        "/official/delegations",
        &[
            ("csrf", &csrf),
            ("mark", "TM"),
            ("basis_number", "07/QĐ-UBND"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let text = r.text();
    for field in ["delegate", "valid_from", "valid_until", "basis_date"] {
        assert!(text.contains(&format!("id=\"g-{field}\"")), "{field}");
    }
    assert_eq!(text.matches("class=\"err\"").count(), 5, "{text}");
    assert!(text.contains("value=\"07/QĐ-UBND\""), "{text}");
    let (today, later) = (vietnam_day(0), vietnam_day(30));
    let grant = [
        ("csrf", csrf.as_str()),
        ("mark", "TM"),
        ("delegate", "pho-chu-tich"),
        ("kind", "signature"),
        ("kind", "contract"),
        ("valid_from", &today),
        ("valid_until", &later),
        ("basis_number", "07/QĐ-UBND"),
        ("basis_date", &today),
    ];
    let r = s.form(&chair, "/official/delegations", &grant);
    assert_eq!(r.status, 303, "{}", r.text());
    let page = s.get(&chair, "/official/delegations?done=1").text();
    assert!(page.contains("TM. CHỦ TỊCH"), "{page}");
    // The Vice-Chairman cannot grant KT. (only the head grants): the refusal in words.
    let vpage = s.get(&vice, "/official/delegations").text();
    let vcsrf = hidden(&vpage, "csrf");
    let mut by_vice = grant.to_vec();
    by_vice[0] = ("csrf", &vcsrf);
    by_vice[2] = ("delegate", "chu-tich");
    let r = s.form(&vice, "/official/delegations", &by_vice);
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("class=\"bad\" id=\"message\""),
        "{}",
        r.text()
    );

    // Now she chooses among the capacities the register allows.
    let queue = s.get(&vice, "/official").text();
    assert!(queue.contains("<fieldset class=\"capacity\">"), "{queue}");
    let kt = queue
        .split("name=\"capacity\" value=\"")
        .skip(1)
        .find(|o| o[..o.find("</label>").unwrap()].contains("KT. CHỦ TỊCH"))
        .map(|o| o.split('"').next().unwrap().to_owned())
        .unwrap();

    // The Chairman cannot sign under her delegation (a capacity that is not his, forged into
    // the form): refused in words, nothing signed.
    let cq = s.get(&chair, "/official").text();
    let r = s.form(
        &chair,
        "/official",
        &[
            ("csrf", &hidden(&cq, "csrf")),
            ("document", &id),
            ("key", &hidden(&cq, "key")),
            ("capacity", &kt),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("class=\"bad\" id=\"message\""),
        "{}",
        r.text()
    );
    assert!(s.get(&vice, "/official").text().contains(&id));

    // Signing with her device: prepare in the KT. capacity, the digest shown.
    let r = s.form(
        &vice,
        "/official/prepare",
        &[
            ("csrf", &hidden(&queue, "csrf")),
            ("document", &id),
            ("capacity", &kt),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let device = r.text();
    assert!(
        device.contains("<script src=\"/static/kyso.js\""),
        "{device}"
    );
    assert!(device.contains("KT. CHỦ TỊCH"), "{device}");
    let digest = code(&device, "digest-b64");
    let mut complete: Vec<(String, String)> = [
        "csrf",
        "key",
        "handle",
        "document",
        "number",
        "capacity_line",
        "algorithm",
        "digest_hex",
        "digest_base64",
        "expires_at",
    ]
    .iter()
    .map(|k| (k.to_string(), hidden(&device, k)))
    .collect();
    // Not base64: the device page again, with the problem beside the field.
    complete.push(("signature".into(), "not a signature!".into()));
    let r = s.form(&vice, "/official/complete", &pairs(&complete));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains(&digest));
    complete.pop();
    let signature = device_sign("vice-chairman-ec.key.pem", &digest);
    complete.push(("signature".into(), signature));
    // An official cannot complete a signature prepared for another.
    let mut theirs = complete.clone();
    theirs[0].1 = hidden(&page, "csrf");
    let r = s.form(&chair, "/official/complete", &pairs(&theirs));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("người khác"), "{}", r.text());
    // She completes it, once however often she clicks.
    let r = s.form(&vice, "/official/complete", &pairs(&complete));
    assert_eq!(r.status, 303, "{}", r.text());
    let done = format!("/official?signed={id}");
    assert_eq!(r.header("location"), Some(done.as_str()));
    let r = s.form(&vice, "/official/complete", &pairs(&complete));
    assert_eq!(r.header("location"), Some(done.as_str()));
    let public = s.get(&Caller::Anonymous, &format!("/v/{id}.json")).json();
    let capacity = public["signatures"][0]["capacity"].as_str().unwrap();
    assert!(capacity.starts_with("KT. CHỦ TỊCH"), "{public}");

    // The Chairman revokes the TM. from his page (a reason is needed); the Vice-Chairman
    // cannot revoke a grant she did not make.
    let page = s.get(&chair, "/official/delegations").text();
    let tm = page
        .split("name=\"delegation\" value=\"")
        .nth(1)
        .map(|r| r.split('"').next().unwrap().to_owned())
        .unwrap();
    let r = s.form(
        &vice,
        "/official/delegations/revoke",
        &[("csrf", &vcsrf), ("delegation", &tm), ("reason", "thử")],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.form(
        &chair,
        "/official/delegations/revoke",
        &[("csrf", &csrf), ("delegation", &tm), ("reason", "hết việc")],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let page = s.get(&chair, "/official/delegations").text();
    assert!(page.contains("Đã thu hồi"), "{page}");
}

#[test]
fn the_admin_keeps_users_tokens_certificates_and_the_audit_log_from_pages() {
    let dir = tempfile::tempdir().unwrap();
    let keys = crate::common::keys_dev();
    let chain = keys.join("intermediate-ca.pem");
    let crl = keys.join("intermediate-ca.crl.pem");
    let s = Served::start_on(
        &dir.path().join("data"),
        &[
            ("KYSO_CHAIN", chain.to_str().unwrap()),
            ("KYSO_CRLS", crl.to_str().unwrap()),
        ],
    );
    let admin = s.browser("admin", "dev-admin-password");
    let home = s.get(&admin, "/admin").text();
    for part in ["id=\"archive\"", "id=\"failures\"", "href=\"/admin/audit\""] {
        assert!(home.contains(part), "{part}: {home}");
    }
    let csrf = hidden(&home, "csrf");

    // Users: a refusal in words with what was typed kept; then added, disabled, enabled.
    let r = s.form(
        &admin,
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("username", "van-thu-2"),
            ("display_name", "Nguyễn Thị Mai"),
            ("role", "clerk"),
            ("official_id", ""),
            ("password", "short"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("value=\"Nguyễn Thị Mai\""));
    assert!(r.text().contains("class=\"bad\" id=\"message\""));
    let r = s.form(
        &admin,
        "/admin/users",
        &[
            ("csrf", &csrf),
            ("username", "van-thu-2"),
            ("display_name", "Nguyễn Thị Mai"),
            ("role", "clerk"),
            ("official_id", ""),
            ("password", "a-long-enough-password"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("van-thu-2"));
    let mai = s.browser("van-thu-2", "a-long-enough-password");
    assert_eq!(s.get(&mai, "/clerk").status, 200);
    let r = s.form(
        &admin,
        "/admin/users/state",
        &[
            ("csrf", &csrf),
            ("username", "van-thu-2"),
            ("disabled", "1"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(s.get(&mai, "/clerk").status, 303, "her session ended");
    let r = s.form(
        &admin,
        "/admin/users/state",
        &[("csrf", &csrf), ("username", "admin"), ("disabled", "1")],
    );
    assert_eq!(r.status, 422, "{}", r.text());

    // A token: its secret shown once, it works, then revoked from the page.
    let r = s.form(
        &admin,
        "/admin/tokens",
        &[
            ("csrf", &csrf),
            ("username", "van-thu"),
            ("label", "máy quét"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let secret = text
        .split("(chỉ hiện một lần, hãy lưu lại ngay): ")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let token = Caller::Token(secret.clone());
    assert_eq!(s.get(&token, "/api/v1/me").status, 200);
    let page = s.get(&admin, "/admin/users").text();
    assert!(!page.contains(&secret), "a secret is shown once");
    let id = page
        .split("name=\"token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = s.form(
        &admin,
        "/admin/tokens/revoke",
        &[("csrf", &csrf), ("token", &id)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(s.get(&token, "/api/v1/me").status, 401);

    // Officials: titles, certificates with their issuer, validity and CRL status.
    let page = s.get(&admin, "/admin/officials").text();
    assert!(page.contains("Trần Thị Bình</b> — Phó Chủ tịch"), "{page}");
    assert!(page.contains("Chưa bị thu hồi (CRL còn hạn)"), "{page}");
    assert!(page.contains("kyso Development Specialised CA"), "{page}");
    assert!(!page.contains("title-mismatch"), "{page}");
    // A new Chief of Office whose certificate still says Vice-Chairman (and was revoked).
    let api = s.dev("admin");
    let r = s.json(
        &api,
        "POST",
        "/api/v1/officials",
        &serde_json::json!({"id": "chanh-van-phong", "full_name": "Phạm Văn Dũng",
            "title": "Chánh Văn phòng", "citizen_id": "001090000009",
            "position": "unit-head", "unit": "VP"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let pem = |name: &str| std::fs::read_to_string(keys.join(name)).unwrap();
    // Refusals as in the CLI: a CA certificate, another person's certificate.
    for (file, words) in [
        ("root-ca.pem", "chứng thư số của tổ chức cấp (CA)"),
        ("chairman-ec.pem", "không phải tên của chanh-van-phong"),
    ] {
        let r = s.form(
            &admin,
            "/admin/officials/certificates",
            &[
                ("csrf", &csrf),
                ("official", "chanh-van-phong"),
                ("pem", &pem(file)),
                ("key_location", "external"),
            ],
        );
        assert_eq!(r.status, 422, "{file}: {}", r.text());
        assert!(r.text().contains(words), "{file}: {}", r.text());
    }
    let r = s.form(
        &admin,
        "/admin/officials/certificates",
        &[
            ("csrf", &csrf),
            ("official", "chanh-van-phong"),
            ("pem", &pem("revoked-ec.pem")),
            ("key_location", "external"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    let dung = page.split("id=\"o-chanh-van-phong\"").nth(1).unwrap();
    let dung = &dung[..dung.find("</li>").unwrap()];
    assert!(dung.contains("ĐÃ BỊ THU HỒI"), "{dung}");
    assert!(dung.contains("class=\"warn title-mismatch\""), "{dung}");
    assert!(dung.contains("Chánh Văn phòng"), "{dung}");
    assert!(page.len() < 100_000);

    // The audit log: filtered, and its chain verified.
    let r = s.get(&admin, "/admin/audit?action=certificate.&verify=1");
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("Chuỗi nhật ký nguyên vẹn"), "{page}");
    assert!(
        page.contains("<b>certificate.add</b> chanh-van-phong"),
        "{page}"
    );
    assert!(!page.contains("<b>user.disable</b>"), "{page}");
    let page = s.get(&admin, "/admin/audit?actor=user%3Aadmin").text();
    assert!(page.contains("<b>user.disable</b>"), "{page}");

    // Every admin page in English too.
    for path in [
        "/admin",
        "/admin/users",
        "/admin/officials",
        "/admin/delegations",
        "/admin/audit?verify=1",
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = s.get(&admin, &format!("{path}{sep}lang=en"));
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text().contains("<html lang=\"en\""), "{path}");
    }
    let r = s.get(&admin, "/admin/audit?verify=1&lang=en");
    assert!(r.text().contains("The chain is intact"), "{}", r.text());

    // A clerk opens none of these.
    let clerk = s.browser("van-thu", "dev-clerk-password");
    for path in ["/admin", "/admin/users", "/admin/officials", "/admin/audit"] {
        assert_eq!(s.get(&clerk, path).status, 403, "{path}");
    }
}

#[test]
fn a_form_submitted_again_after_a_restart_issues_and_signs_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Served::start_on(&data, &[]);
    let clerk = s.browser("van-thu", "dev-clerk-password");
    let vice = s.browser("pho-chu-tich", "dev-vice-password");
    let form = s.get(&clerk, "/clerk/issue/signature").text();
    let mut fields = Vec::new();
    flatten(&signature_sample(), "", &mut fields);
    fields.push(("csrf".into(), hidden(&form, "csrf")));
    fields.push(("key".into(), hidden(&form, "key")));
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&fields));
    assert_eq!(r.status, 303, "{}", r.text());
    let doc = r.header("location").unwrap().to_owned();
    let id = doc.strip_prefix("/clerk/documents/").unwrap().to_owned();
    let queue = s.get(&vice, "/official").text();
    let sign = [
        ("csrf", hidden(&queue, "csrf")),
        ("document", id.clone()),
        ("key", hidden(&queue, "key")),
        ("capacity", hidden(&queue, "capacity")),
    ];
    let sign: Vec<(&str, &str)> = sign.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(s.form(&vice, "/official", &sign).status, 303);

    // The server restarts (or the next request lands on another node): the same submissions
    // are answered with what the first ones did.
    drop(s);
    let s = Served::start_on(&data, &[]);
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&fields));
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some(doc.as_str()));
    let r = s.form(&vice, "/official", &sign);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("/official?signed={id}").as_str())
    );
    let admin = s.dev("admin");
    let all = s.get(&admin, "/api/v1/documents").json();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    let public = s.get(&Caller::Anonymous, &format!("/v/{id}.json")).json();
    assert_eq!(
        public["signatures"].as_array().unwrap().len(),
        1,
        "{public}"
    );
}

#[test]
fn an_expired_session_comes_back_to_the_same_page_and_a_document_page_of_another_role_is_a_403_page()
 {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Served::start_on(&data, &[]);
    let clerk = s.browser("van-thu", "dev-clerk-password");
    let form = s.get(&clerk, "/clerk/issue/signature").text();
    let mut fields = Vec::new();
    flatten(&signature_sample(), "", &mut fields);
    fields.push(("csrf".into(), hidden(&form, "csrf")));
    fields.push(("key".into(), hidden(&form, "key")));
    let r = s.form(&clerk, "/clerk/issue/signature", &pairs(&fields));
    let doc = r.header("location").unwrap().to_owned();

    // The session idles past its limit (its last use set back in the registry).
    let db = rusqlite::Connection::open(data.join("registry.sqlite3")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute("UPDATE sessions SET last_seen = '2000-01-01T00:00:00Z'", [])
        .unwrap();
    let r = s.get(&clerk, &format!("{doc}/reprint?lang=en"));
    assert_eq!(r.status, 303);
    let to = r.header("location").unwrap().to_owned();
    assert!(to.starts_with("/sign-in?next="), "{to}");
    let page = s.get(&Caller::Anonymous, &to).text();
    assert!(page.contains("Hãy đăng nhập để tiếp tục."), "{page}");
    let next = hidden(&page, "next");
    assert_eq!(next, format!("{doc}/reprint?lang=en"));
    let r = s.form(
        &Caller::Anonymous,
        "/sign-in",
        &[
            ("username", "van-thu"),
            ("password", "dev-clerk-password"),
            ("next", &next),
        ],
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some(next.as_str()));

    // An official may not open the clerk's page of a document: a 403 page in words.
    let vice = s.browser("pho-chu-tich", "dev-vice-password");
    let r = s.get(&vice, &doc);
    assert_eq!(r.status, 403);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("Không được phép"), "{}", r.text());
    let r = s.get(&vice, &format!("{doc}/reprint"));
    assert_eq!(r.status, 403);
    // An unknown document is a 404 page, a malformed id too.
    let r = s.get(&clerk, "/clerk/documents/0123456789abcdef0123456789abcdef");
    assert_eq!(r.status, 303, "the expired session is gone; sign in again");
    let clerk = s.browser("van-thu", "dev-clerk-password");
    for path in [
        "/clerk/documents/0123456789abcdef0123456789abcdef",
        "/clerk/documents/..%2F..%2Fetc",
    ] {
        let r = s.get(&clerk, path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
    }
}

#[test]
fn a_full_queue_and_a_full_audit_page_stay_under_the_page_budget() {
    let s = Served::start();
    let clerk = s.token("van-thu");
    // More than the queue and the audit page show (the log also has the demo's entries).
    for _ in 0..(kyso::app::queue::QUEUE_LIMIT + 3).max(100) {
        let r = s.json(
            &clerk,
            "POST",
            "/api/v1/documents",
            &serde_json::json!({"kind": "signature", "data": signature_sample()}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // Two capacities for every document: the KT. of the demo and a TM. granted now.
    let chair = s.browser("chu-tich", "dev-chairman-password");
    let page = s.get(&chair, "/official/delegations").text();
    let (today, later) = (vietnam_day(0), vietnam_day(30));
    let r = s.form(
        &chair,
        "/official/delegations",
        &[
            ("csrf", &hidden(&page, "csrf")),
            ("mark", "TM"),
            ("delegate", "pho-chu-tich"),
            ("kind", "signature"),
            ("valid_from", &today),
            ("valid_until", &later),
            ("basis_number", "07/QĐ-UBND"),
            ("basis_date", &today),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let vice = s.browser("pho-chu-tich", "dev-vice-password");
    let started = std::time::Instant::now();
    let queue = s.get(&vice, "/official").text();
    let took = started.elapsed();
    assert_eq!(
        queue.matches("<fieldset class=\"capacity\">").count(),
        kyso::app::queue::QUEUE_LIMIT
    );
    eprintln!(
        "a queue of {} documents with two capacities each: {} bytes in {took:?}",
        kyso::app::queue::QUEUE_LIMIT,
        queue.len()
    );
    assert!(queue.len() < 100_000, "{} bytes", queue.len());
    // The audit page lists the newest 100 of the log's entries (issues with their details).
    let admin = s.browser("admin", "dev-admin-password");
    let audit = s.get(&admin, "/admin/audit").text();
    assert_eq!(audit.matches("<tr><td>").count(), 100);
    eprintln!("the audit page with 100 entries: {} bytes", audit.len());
    assert!(audit.len() < 100_000, "{} bytes", audit.len());
}
