//! Who may call what: every route of the route table, called with no credential, with a session
//! and with an API token of every role, and with a session whose CSRF token is missing or
//! wrong. The whole allow/deny matrix must hold: an allowed caller is never answered 401 or a
//! role refusal; a refused one is answered 401 (nobody) or 403 `wrong-role`; a session without
//! its CSRF token cannot change anything. Pages (routes outside `/api/`) answer nobody with a
//! 303 to the sign-in page that comes back to the same path, and refusals with an HTML page
//! whose `data-problem` is the same problem type.

use kyso::app::users::Role;
use kyso::http::{Access, routes};

use crate::common::served::*;

fn concrete(path: &str) -> String {
    path.replace("{id}", "0123456789abcdef0123456789abcdef")
        .replace("{handle}", "no-such-handle")
        .replace("{username}", "no-such-user")
        .replace("{kind}", "signature")
}

fn call(s: &Served, caller: &Caller, method: &str, path: &str) -> Res {
    let body: &[u8] = if method == "GET" || method == "DELETE" {
        b""
    } else {
        b"{}"
    };
    s.call(
        caller,
        method,
        path,
        &[("Content-Type", "application/json")],
        body,
    )
}

const USERS: [(Role, &str); 5] = [
    (Role::Admin, "admin"),
    (Role::Clerk, "van-thu"),
    (Role::Official, "chu-tich"),
    (Role::Official, "pho-chu-tich"),
    (Role::Seal, "con-dau"),
];

#[test]
fn every_route_answers_every_role_as_the_route_table_says() {
    let s = Served::start();
    let mut checked = 0;
    let mut callers: Vec<(Option<Role>, &str, Caller)> = vec![(None, "nobody", Caller::Anonymous)];
    for (role, user) in USERS {
        callers.push((Some(role), user, s.dev(user)));
        callers.push((Some(role), user, s.token(user)));
    }
    for route in routes() {
        let method = route.method.as_str();
        let path = concrete(route.path);
        for (role, user, caller) in &callers {
            // Signing out ends the session the other rows use: it gets a session of its own.
            let fresh;
            let signs_out = (route.path == "/api/v1/session" && method == "DELETE")
                || (route.path == "/sign-out" && method == "POST");
            let caller = if signs_out {
                fresh = match (caller, role) {
                    (Caller::Session { .. }, Some(_)) => s.dev(user),
                    _ => caller.clone(),
                };
                &fresh
            } else {
                caller
            };
            let r = call(&s, caller, method, &path);
            let what = format!(
                "{method} {path} as {user} ({caller:?}): {} {}",
                r.status,
                r.text()
            );
            checked += 1;
            assert!(r.status < 500, "{what}");
            match (route.access, role) {
                (Access::Public, _) | (Access::Metrics, _) => {
                    assert!(r.status != 401 && r.status != 403, "{what}");
                }
                (Access::Roles(_), None) if !path.starts_with("/api/") => {
                    assert_eq!(r.status, 303, "{what}");
                    let next: String =
                        url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
                    assert_eq!(
                        r.header("location"),
                        Some(format!("/sign-in?next={next}").as_str()),
                        "{what}"
                    );
                }
                (Access::Roles(_), None) => {
                    assert_eq!(r.status, 401, "{what}");
                    assert_eq!(r.problem(), "urn:kyso:problem:unauthenticated", "{what}");
                }
                (Access::Roles(allowed), Some(role)) if allowed.contains(role) => {
                    assert!(
                        r.status != 401 && r.problem() != "urn:kyso:problem:wrong-role",
                        "{what}"
                    );
                }
                (Access::Roles(_), Some(_)) => {
                    assert_eq!(r.status, 403, "{what}");
                    assert_eq!(r.problem(), "urn:kyso:problem:wrong-role", "{what}");
                }
            }
        }
        // A session without its CSRF token, or with another one, changes nothing.
        if let Access::Roles(allowed) = route.access
            && !matches!(method, "GET" | "HEAD")
        {
            let user = USERS.iter().find(|(r, _)| allowed.contains(r)).unwrap().1;
            let Caller::Session { cookie, .. } = s.dev(user) else {
                unreachable!()
            };
            for token in ["", "forged-token"] {
                let caller = Caller::Session {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                };
                let r = s.call(
                    &caller,
                    method,
                    &path,
                    &[
                        ("Content-Type", "application/json"),
                        ("X-CSRF-Token", token),
                    ],
                    b"{}",
                );
                assert_eq!(
                    r.status,
                    403,
                    "{method} {path} with CSRF {token:?}: {}",
                    r.text()
                );
                assert_eq!(r.problem(), "urn:kyso:problem:csrf");
                checked += 1;
            }
        }
    }
    assert!(checked > 400, "only {checked} calls");
}

#[test]
fn sign_in_is_throttled_sessions_rotate_and_tokens_can_be_revoked() {
    let s = Served::start();
    // Five wrong passwords, then even the right one is refused for a while.
    for _ in 0..5 {
        let r = s.json(
            &Caller::Anonymous,
            "POST",
            "/api/v1/session",
            &serde_json::json!({"username": "van-thu", "password": "not the password"}),
        );
        assert_eq!(r.status, 401, "{}", r.text());
    }
    let r = s.json(
        &Caller::Anonymous,
        "POST",
        "/api/v1/session",
        &serde_json::json!({"username": "van-thu", "password": "dev-clerk-password"}),
    );
    assert_eq!(r.status, 429, "{}", r.text());
    // An unknown account is refused in the same words as a wrong password.
    let r = s.json(
        &Caller::Anonymous,
        "POST",
        "/api/v1/session",
        &serde_json::json!({"username": "nobody-here", "password": "whatever-password"}),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.problem(), "urn:kyso:problem:bad-credentials");

    // Each sign-in makes a new session; the cookie is HttpOnly and SameSite=Strict (not Secure
    // on an http:// base URL, for development on a LAN).
    let r = s.json(
        &Caller::Anonymous,
        "POST",
        "/api/v1/session",
        &serde_json::json!({"username": "admin", "password": "dev-admin-password"}),
    );
    let cookie = r.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let a = s.dev("admin");
    let b = s.dev("admin");
    match (&a, &b) {
        (Caller::Session { cookie: x, .. }, Caller::Session { cookie: y, .. }) => assert_ne!(x, y),
        _ => unreachable!(),
    }
    // Signing out ends that session only.
    assert_eq!(
        s.call(&a, "DELETE", "/api/v1/session", &[], b"").status,
        204
    );
    assert_eq!(s.get(&a, "/api/v1/me").status, 401);
    assert_eq!(s.get(&b, "/api/v1/me").status, 200);

    // A token works until revoked; its secret is stored only hashed.
    let r = s.json(
        &b,
        "POST",
        "/api/v1/tokens",
        &serde_json::json!({"username": "van-thu", "label": "desk scanner"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    let token = Caller::Token(v["secret"].as_str().unwrap().to_owned());
    assert_eq!(s.get(&token, "/api/v1/me").json()["role"], "clerk");
    let secret = v["secret"].as_str().unwrap().as_bytes();
    for file in ["registry.sqlite3", "registry.sqlite3-wal"] {
        let bytes = std::fs::read(s.data.join(file)).unwrap_or_default();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret), "{file}");
    }
    let id = v["token"]["id"].as_i64().unwrap();
    assert_eq!(
        s.call(&b, "DELETE", &format!("/api/v1/tokens/{id}"), &[], b"")
            .status,
        204
    );
    assert_eq!(s.get(&token, "/api/v1/me").status, 401);
}
