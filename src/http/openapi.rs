//! The OpenAPI 3.1 document of the JSON API, generated from the handlers' annotations and the
//! request and response types (utoipa), then completed from the route table: each operation
//! carries `x-kyso-access` (who may call it) and the security schemes it accepts, so the
//! document states the same rules the access layer enforces.

use axum::Json;
use axum::response::IntoResponse;
use utoipa::OpenApi;

use super::{Access, api, error, public};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kyso",
        description = "Issuing, signing and verifying commune certifications. Errors are RFC 9457 problem documents with the message in Vietnamese and English."
    ),
    paths(
        public::verify_upload_api,
        api::sign_in,
        api::sign_out,
        api::get_me,
        api::change_password,
        api::issue,
        api::search,
        api::get_document,
        api::document_pdf,
        api::reprint,
        api::cancel,
        api::sign,
        api::prepare,
        api::complete,
        api::officials,
        api::add_official,
        api::official,
        api::add_certificate,
        api::delegations,
        api::grant,
        api::revoke,
        api::list_users,
        api::create_user,
        api::disable_user,
        api::enable_user,
        api::list_tokens,
        api::create_token,
        api::revoke_token,
        api::audit_list,
        api::audit_verify,
        api::archive_status,
    ),
    components(schemas(error::ApiError, error::FieldProblem))
)]
struct Doc;

/// The OpenAPI document, with `x-kyso-access` and security on every operation.
pub fn openapi() -> serde_json::Value {
    let mut doc = serde_json::to_value(Doc::openapi()).unwrap_or_default();
    doc["components"]["securitySchemes"] = serde_json::json!({
        "token": {"type": "http", "scheme": "bearer", "description": "An API token (`kyso_…`), made by an admin."},
        "session": {"type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE,
                    "description": "The session cookie of POST /api/v1/session; state-changing calls also need the X-CSRF-Token header."}
    });
    // Problems are served as application/problem+json (RFC 9457).
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths
            .values_mut()
            .filter_map(|p| p.as_object_mut())
            .flat_map(|p| p.values_mut())
        {
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            for res in responses.values_mut() {
                let Some(content) = res.get_mut("content").and_then(|c| c.as_object_mut()) else {
                    continue;
                };
                let is_problem = content
                    .get("application/json")
                    .and_then(|c| c["schema"]["$ref"].as_str())
                    .is_some_and(|r| r.ends_with("/ApiError"));
                if is_problem && let Some(c) = content.remove("application/json") {
                    content.insert("application/problem+json".into(), c);
                }
            }
        }
    }
    // An upload to verify is any PDF, sent as application/pdf or as bytes.
    if let Some(body) = doc
        .get_mut("paths")
        .and_then(|p| p.get_mut("/api/v1/verify"))
        .and_then(|p| p.get_mut("post"))
        .and_then(|o| o.get_mut("requestBody"))
    {
        let binary = serde_json::json!({"schema": {"type": "string", "format": "binary"}});
        body["content"] = serde_json::json!({
            "application/pdf": binary.clone(),
            "application/octet-stream": binary,
        });
    }
    for r in super::routes() {
        let method = r.method.as_str().to_ascii_lowercase();
        // `get_mut`, not indexing: indexing a JSON value would insert the missing paths.
        let Some(op) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(r.path))
            .and_then(|p| p.get_mut(&method))
            .and_then(|o| o.as_object_mut())
        else {
            continue;
        };
        op.insert("x-kyso-access".into(), r.access.describe());
        // What the layers in front of every handler may answer, documented on every operation
        // they guard: no or bad credential, wrong role or CSRF token, a body that is not JSON
        // or too large, and an unknown id in the path.
        let problem = serde_json::json!({"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}});
        let mut common: Vec<(&str, &str)> = Vec::new();
        if matches!(r.access, Access::Roles(_)) {
            common.push(("401", "No credential, or one that is not valid"));
            common.push((
                "403",
                "The role may not call this, or the CSRF token is missing or wrong",
            ));
        }
        if op.contains_key("requestBody") {
            common.push(("400", "The body is not what the operation takes"));
            common.push(("413", "The body is larger than the configured limit"));
            common.push(("415", "The body's media type is not the one documented"));
        }
        if r.path.contains('{') {
            common.push(("404", "Nothing by that id"));
        }
        if let Some(responses) = op.get_mut("responses").and_then(|v| v.as_object_mut()) {
            for (status, description) in common {
                responses.entry(status).or_insert_with(|| {
                    let mut p = problem.clone();
                    p["description"] = serde_json::json!(description);
                    p
                });
            }
        }
        let security = match r.access {
            Access::Public => serde_json::json!([{}]),
            _ => serde_json::json!([{"token": []}, {"session": []}]),
        };
        op.insert("security".into(), security);
    }
    doc
}

/// `GET /api/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    Json(openapi())
}
