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
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            for res in responses.values_mut() {
                let Some(content) = res["content"].as_object_mut() else {
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
