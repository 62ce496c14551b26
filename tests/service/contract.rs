//! The API's contract: the OpenAPI document served at `/api/openapi.json` lists exactly the
//! API routes the server has, each with the access the route table gives it, and every
//! documented operation, called the way an integration would, answers with a documented status
//! and a body that matches the documented schema.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::client::*;
use crate::common::served::*;
use crate::common::*;

/// Checks `v` against `schema` (the subset of JSON Schema the generator emits); returns what
/// does not match.
fn check(doc: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], v, at, errors);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema[key].as_array() {
            let ok = alts.iter().any(|a| {
                let mut e = Vec::new();
                check(doc, a, v, at, &mut e);
                e.is_empty()
            });
            if !ok {
                errors.push(format!("{at}: matches none of {key}"));
            }
            return;
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for a in all {
            check(doc, a, v, at, errors);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() {
        let actual = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !fits {
            errors.push(format!("{at}: {actual} where {types:?} is documented"));
            return;
        }
    }
    if let (Some(props), Value::Object(o)) = (schema["properties"].as_object(), v) {
        for req in schema["required"].as_array().into_iter().flatten() {
            let k = req.as_str().unwrap_or_default();
            if !o.contains_key(k) {
                errors.push(format!("{at}: required {k} missing"));
            }
        }
        for (k, val) in o {
            match props.get(k) {
                Some(p) => check(doc, p, val, &format!("{at}.{k}"), errors),
                None => errors.push(format!("{at}: undocumented field {k}")),
            }
        }
    }
    if let (Some(items), Value::Array(a)) = (schema.get("items"), v) {
        for (i, x) in a.iter().enumerate() {
            check(doc, items, x, &format!("{at}[{i}]"), errors);
        }
    }
}

#[test]
fn every_documented_operation_answers_as_documented() {
    let s = Served::start();
    let doc = s.get(&Caller::Anonymous, "/api/openapi.json").json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));

    // The document and the route table name the same API operations, with the same access.
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.insert((method.to_ascii_uppercase(), path.clone()));
            assert!(op.get("x-kyso-access").is_some(), "{method} {path}");
        }
    }
    let api_routes: BTreeSet<(String, String)> = kyso::http::routes()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, api_routes);

    // Callers and a document to work on.
    let admin = s.token("admin");
    let clerk = s.token("van-thu");
    let chairman = s.token("chu-tich");
    let vice = s.token("pho-chu-tich");
    let seal = s.token("con-dau");
    let session = s.dev("van-thu");
    let issue = |who: &Caller| {
        s.json(
            who,
            "POST",
            "/api/v1/documents",
            &json!({"kind": "signature", "data": signature_sample()}),
        )
    };
    let doc_a = issue(&clerk).json()["id"].as_str().unwrap().to_owned();
    let doc_b = issue(&clerk).json()["id"].as_str().unwrap().to_owned();
    let pdf_a = s
        .get(&clerk, &format!("/api/v1/documents/{doc_a}/pdf"))
        .body;
    let pem = std::fs::read_to_string(keys_dev().join("vice-chairman-ec.pem")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };

    // One realistic call per operation, in an order where each finds what it needs.
    type Case<'a> = (
        &'a str,
        &'a str,
        String,
        &'a Caller,
        Option<Value>,
        Option<Vec<u8>>,
    );
    let mut cases: Vec<Case> = vec![
        (
            "POST",
            "/api/v1/verify",
            "/api/v1/verify".into(),
            &Caller::Anonymous,
            None,
            Some(pdf_a.clone()),
        ),
        (
            "GET",
            "/api/v1/me",
            "/api/v1/me".into(),
            &session,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/documents",
            "/api/v1/documents".into(),
            &clerk,
            Some(json!({"kind": "signature", "data": signature_sample()})),
            None,
        ),
        (
            "GET",
            "/api/v1/documents",
            "/api/v1/documents?kind=signature&limit=5".into(),
            &clerk,
            None,
            None,
        ),
        (
            "GET",
            "/api/v1/documents/{id}",
            format!("/api/v1/documents/{doc_a}"),
            &clerk,
            None,
            None,
        ),
        (
            "GET",
            "/api/v1/documents/{id}/pdf",
            format!("/api/v1/documents/{doc_a}/pdf"),
            &seal,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/documents/{id}/reprint",
            format!("/api/v1/documents/{doc_a}/reprint"),
            &clerk,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/documents/{id}/sign",
            format!("/api/v1/documents/{doc_a}/sign"),
            &vice,
            Some(json!({})),
            None,
        ),
        (
            "POST",
            "/api/v1/documents/{id}/prepare",
            format!("/api/v1/documents/{doc_b}/prepare"),
            &vice,
            Some(json!({})),
            None,
        ),
        (
            "POST",
            "/api/v1/signatures/{handle}/complete",
            "/api/v1/signatures/no-such-handle/complete".into(),
            &vice,
            Some(json!({"signature": "AAAA"})),
            None,
        ),
        (
            "POST",
            "/api/v1/documents/{id}/cancel",
            format!("/api/v1/documents/{doc_b}/cancel"),
            &clerk,
            Some(json!({"decision": "07/QĐ-UBND", "reason": "trùng"})),
            None,
        ),
        (
            "GET",
            "/api/v1/officials",
            "/api/v1/officials".into(),
            &admin,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/officials",
            "/api/v1/officials".into(),
            &admin,
            Some(
                json!({"id": "cong-chuc", "full_name": "Đỗ Văn Cường", "title": "Công chức Tư pháp - Hộ tịch",
                        "citizen_id": "001095000009", "position": "staff", "unit": ""}),
            ),
            None,
        ),
        (
            "GET",
            "/api/v1/officials/{id}",
            "/api/v1/officials/pho-chu-tich".into(),
            &admin,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/officials/{id}/certificates",
            "/api/v1/officials/pho-chu-tich/certificates".into(),
            &admin,
            Some(json!({"pem": pem, "key_location": "external"})),
            None,
        ),
        (
            "GET",
            "/api/v1/delegations",
            "/api/v1/delegations".into(),
            &admin,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/delegations",
            "/api/v1/delegations".into(),
            &chairman,
            Some(
                json!({"mark": "KT", "delegate": "pho-chu-tich", "kinds": ["signature"],
                        "valid_from": rfc(now), "valid_until": rfc(now + time::Duration::days(30)),
                        "basis_number": "09/QĐ-UBND", "basis_date": "2026-12-01"}),
            ),
            None,
        ),
        (
            "POST",
            "/api/v1/delegations/{id}/revoke",
            "/api/v1/delegations/1/revoke".into(),
            &admin,
            Some(json!({"reason": "hết nhiệm vụ"})),
            None,
        ),
        (
            "GET",
            "/api/v1/users",
            "/api/v1/users".into(),
            &admin,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/users",
            "/api/v1/users".into(),
            &admin,
            Some(
                json!({"username": "thu-quy", "display_name": "Thủ quỹ", "role": "clerk",
                        "password": "a long enough password"}),
            ),
            None,
        ),
        (
            "POST",
            "/api/v1/users/{username}/disable",
            "/api/v1/users/thu-quy/disable".into(),
            &admin,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/users/{username}/enable",
            "/api/v1/users/thu-quy/enable".into(),
            &admin,
            None,
            None,
        ),
        (
            "GET",
            "/api/v1/tokens",
            "/api/v1/tokens".into(),
            &admin,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/tokens",
            "/api/v1/tokens".into(),
            &admin,
            Some(json!({"username": "thu-quy", "label": "contract"})),
            None,
        ),
        (
            "DELETE",
            "/api/v1/tokens/{id}",
            "/api/v1/tokens/6".into(),
            &admin,
            None,
            None,
        ),
        (
            "GET",
            "/api/v1/audit",
            "/api/v1/audit?limit=20".into(),
            &admin,
            None,
            None,
        ),
        (
            "GET",
            "/api/v1/audit/verify",
            "/api/v1/audit/verify".into(),
            &admin,
            None,
            None,
        ),
        (
            "GET",
            "/api/v1/archive/status",
            "/api/v1/archive/status".into(),
            &admin,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/me/password",
            "/api/v1/me/password".into(),
            &session,
            Some(json!({"current": "dev-clerk-password", "new": "another long password"})),
            None,
        ),
        (
            "DELETE",
            "/api/v1/session",
            "/api/v1/session".into(),
            &Caller::Anonymous,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/session",
            "/api/v1/session".into(),
            &Caller::Anonymous,
            Some(json!({"username": "admin", "password": "dev-admin-password"})),
            None,
        ),
    ];
    // Signing out needs a session of its own.
    let leaving = s.dev("admin");
    for c in cases.iter_mut() {
        if c.0 == "DELETE" && c.1 == "/api/v1/session" {
            c.3 = &leaving;
        }
    }
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.0.to_owned(), c.1.to_owned()))
        .collect();
    assert_eq!(
        covered, documented,
        "each documented operation has a case here"
    );

    for (method, template, path, caller, body, raw) in &cases {
        let r = match (body, raw) {
            (Some(b), _) => s.json(caller, method, path, b),
            (None, Some(pdf)) => s.call(
                caller,
                method,
                path,
                &[("Content-Type", "application/pdf")],
                pdf,
            ),
            (None, None) => s.call(caller, method, path, &[], b""),
        };
        let op = &doc["paths"][template][method.to_ascii_lowercase()];
        let documented = &op["responses"][r.status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path}: status {} is not documented: {}",
            r.status,
            r.text()
        );
        assert!(
            r.status < 400 || template.contains("complete"),
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        let content = &documented["content"];
        let json_schema = content["application/json"]["schema"]
            .as_object()
            .or(content["application/problem+json"]["schema"].as_object());
        if r.status >= 400 {
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
            assert!(
                content.get("application/problem+json").is_some(),
                "{method} {path}"
            );
        }
        if let Some(schema) = json_schema {
            let mut errors = Vec::new();
            check(
                &doc,
                &Value::Object(schema.clone()),
                &r.json(),
                "$",
                &mut errors,
            );
            assert!(
                errors.is_empty(),
                "{method} {path}: {errors:?}\n{}",
                r.text()
            );
        } else if content.get("application/pdf").is_some() {
            assert!(r.body.starts_with(b"%PDF-"), "{method} {path}");
        }
    }
}
