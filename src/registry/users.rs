//! The store of users, sessions, API tokens and failed sign-ins (migration `0006_users`), and
//! the keys of forms they submitted (`0008_form_keys`). Only SQL lives here; what may be done and when is decided in [`crate::app::users`],
//! which calls these inside or outside a unit of work.

use super::Cached;
use rusqlite::{OptionalExtension, params};

use super::Db;
use crate::store::StoreError;

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Row id.
    pub id: i64,
    /// Sign-in name.
    pub username: String,
    /// Name shown on pages.
    pub display_name: String,
    /// `clerk`, `official`, `seal` or `admin`.
    pub role: String,
    /// The official record a signer acts as.
    pub official_id: Option<String>,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Whether the account may sign in.
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

const USER_COLS: &str = "u.id, u.username, u.display_name, u.role, u.official_id, u.password_hash, u.disabled, u.created_at";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        role: r.get(3)?,
        official_id: r.get(4)?,
        password_hash: r.get(5)?,
        disabled: r.get::<_, i64>(6)? != 0,
        created_at: r.get(7)?,
    })
}

/// Inserts a user; returns its id. A taken username is a constraint error.
pub fn insert_user(db: Db<'_>, u: &UserRow) -> Result<i64, StoreError> {
    let conn = db.conn();
    conn.exec(
        "INSERT INTO users(username, display_name, role, official_id, password_hash, disabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            u.username,
            u.display_name,
            u.role,
            u.official_id,
            u.password_hash,
            i64::from(u.disabled),
            u.created_at
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The user named `username`.
pub fn user_by_name(db: Db<'_>, username: &str) -> Result<Option<UserRow>, StoreError> {
    let conn = db.conn();
    Ok(conn
        .one(
            &format!("SELECT {USER_COLS} FROM users u WHERE u.username = ?1"),
            [username],
            user_row,
        )
        .optional()?)
}

/// The user with row id `id`.
pub fn user_by_id(db: Db<'_>, id: i64) -> Result<Option<UserRow>, StoreError> {
    let conn = db.conn();
    Ok(conn
        .one(
            &format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"),
            [id],
            user_row,
        )
        .optional()?)
}

/// Every user, by name.
pub fn users(db: Db<'_>) -> Result<Vec<UserRow>, StoreError> {
    let conn = db.conn();
    let mut st = conn.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users u ORDER BY u.username"
    ))?;
    Ok(st.query_map([], user_row)?.collect::<Result<_, _>>()?)
}

/// Whether any user exists.
pub fn any_user(db: Db<'_>) -> Result<bool, StoreError> {
    let conn = db.conn();
    Ok(conn.one("SELECT EXISTS(SELECT 1 FROM users)", [], |r| r.get(0))?)
}

/// Replaces a user's password hash and ends their sessions.
pub fn set_password(db: Db<'_>, id: i64, hash: &str) -> Result<usize, StoreError> {
    let conn = db.conn();
    let n = conn.exec(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![id, hash],
    )?;
    conn.exec("DELETE FROM sessions WHERE user_id = ?1", [id])?;
    Ok(n)
}

/// Enables or disables a user; disabling ends their sessions and revokes their tokens.
pub fn set_disabled(db: Db<'_>, id: i64, disabled: bool, at: &str) -> Result<usize, StoreError> {
    let conn = db.conn();
    let n = conn.exec(
        "UPDATE users SET disabled = ?2 WHERE id = ?1",
        params![id, i64::from(disabled)],
    )?;
    if disabled {
        conn.exec("DELETE FROM sessions WHERE user_id = ?1", [id])?;
        conn.exec(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![id, at],
        )?;
    }
    Ok(n)
}

/// A session row.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The user.
    pub user: UserRow,
    /// The session's CSRF token.
    pub csrf: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_seen: String,
}

/// Stores a new session.
pub fn insert_session(
    db: Db<'_>,
    token_sha256: &str,
    user_id: i64,
    csrf: &str,
    at: &str,
) -> Result<(), StoreError> {
    let conn = db.conn();
    conn.exec(
        "INSERT INTO sessions(token_sha256, user_id, csrf, created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![token_sha256, user_id, csrf, at],
    )?;
    Ok(())
}

/// The session whose cookie hashes to `token_sha256`, with its user.
pub fn session(db: Db<'_>, token_sha256: &str) -> Result<Option<SessionRow>, StoreError> {
    let conn = db.conn();
    Ok(conn
        .one(
            &format!(
                "SELECT {USER_COLS}, s.csrf, s.created_at, s.last_seen
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = ?1"
            ),
            [token_sha256],
            |r| {
                Ok(SessionRow {
                    user: user_row(r)?,
                    csrf: r.get(8)?,
                    created_at: r.get(9)?,
                    last_seen: r.get(10)?,
                })
            },
        )
        .optional()?)
}

/// Marks a session as used at `at`.
pub fn touch_session(db: Db<'_>, token_sha256: &str, at: &str) -> Result<(), StoreError> {
    let conn = db.conn();
    conn.exec(
        "UPDATE sessions SET last_seen = ?2 WHERE token_sha256 = ?1",
        params![token_sha256, at],
    )?;
    Ok(())
}

/// Ends a session.
pub fn delete_session(db: Db<'_>, token_sha256: &str) -> Result<usize, StoreError> {
    Ok(db.conn().exec(
        "DELETE FROM sessions WHERE token_sha256 = ?1",
        [token_sha256],
    )?)
}

/// Ends sessions idle since before `idle_before` or created before `created_before`.
pub fn purge_sessions(
    db: Db<'_>,
    idle_before: &str,
    created_before: &str,
) -> Result<usize, StoreError> {
    Ok(db.conn().exec(
        "DELETE FROM sessions WHERE last_seen < ?1 OR created_at < ?2",
        params![idle_before, created_before],
    )?)
}

/// An API token row (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Row id.
    pub id: i64,
    /// The user it acts for.
    pub user_id: i64,
    /// The role it acts with.
    pub role: String,
    /// What it is for.
    pub label: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        role: r.get(2)?,
        label: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

/// Stores a token by the hash of its secret; returns its id.
pub fn insert_token(
    db: Db<'_>,
    token_sha256: &str,
    user_id: i64,
    role: &str,
    label: &str,
    at: &str,
) -> Result<i64, StoreError> {
    let conn = db.conn();
    conn.exec(
        "INSERT INTO api_tokens(token_sha256, user_id, role, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token_sha256, user_id, role, label, at],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The unrevoked token whose secret hashes to `token_sha256`, with its user.
pub fn token(db: Db<'_>, token_sha256: &str) -> Result<Option<(TokenRow, UserRow)>, StoreError> {
    let conn = db.conn();
    Ok(conn
        .one(
            &format!(
                "SELECT t.id, t.user_id, t.role, t.label, t.created_at, t.revoked_at, {USER_COLS}
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_sha256 = ?1 AND t.revoked_at IS NULL"
            ),
            [token_sha256],
            |r| {
                let t = token_row(r)?;
                let u = UserRow {
                    id: r.get(6)?,
                    username: r.get(7)?,
                    display_name: r.get(8)?,
                    role: r.get(9)?,
                    official_id: r.get(10)?,
                    password_hash: r.get(11)?,
                    disabled: r.get::<_, i64>(12)? != 0,
                    created_at: r.get(13)?,
                };
                Ok((t, u))
            },
        )
        .optional()?)
}

/// Every token, newest first.
pub fn tokens(db: Db<'_>) -> Result<Vec<TokenRow>, StoreError> {
    let conn = db.conn();
    let mut st = conn.prepare_cached(
        "SELECT id, user_id, role, label, created_at, revoked_at FROM api_tokens ORDER BY id DESC",
    )?;
    Ok(st.query_map([], token_row)?.collect::<Result<_, _>>()?)
}

/// Revokes token `id`; returns how many rows changed (0: unknown or already revoked).
pub fn revoke_token(db: Db<'_>, id: i64, at: &str) -> Result<usize, StoreError> {
    Ok(db.conn().exec(
        "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, at],
    )?)
}

/// Records a failed sign-in for each subject.
pub fn record_failure(db: Db<'_>, subjects: &[&str], at: &str) -> Result<(), StoreError> {
    let conn = db.conn();
    for s in subjects {
        conn.exec(
            "INSERT INTO login_failures(subject, at) VALUES (?1, ?2)",
            params![s, at],
        )?;
    }
    Ok(())
}

/// Failed sign-ins of `subject` since `since`.
pub fn failures_since(db: Db<'_>, subject: &str, since: &str) -> Result<i64, StoreError> {
    let conn = db.conn();
    Ok(conn.one(
        "SELECT COUNT(*) FROM login_failures WHERE subject = ?1 AND at >= ?2",
        params![subject, since],
        |r| r.get(0),
    )?)
}

/// Forgets failures before `before`, and those of `subject` (after a successful sign-in).
pub fn forget_failures(db: Db<'_>, before: &str, subject: Option<&str>) -> Result<(), StoreError> {
    let conn = db.conn();
    conn.exec("DELETE FROM login_failures WHERE at < ?1", [before])?;
    if let Some(s) = subject {
        conn.exec("DELETE FROM login_failures WHERE subject = ?1", [s])?;
    }
    Ok(())
}

/// What the registry holds for a form key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKey {
    /// Nobody had claimed it: this call did (the caller does the work).
    Claimed,
    /// Claimed at `claimed_at`, still running (or abandoned by a crash).
    Running {
        /// RFC 3339.
        claimed_at: String,
    },
    /// Done: what the first submission produced.
    Done(String),
}

/// Claims `key` for `user_id` at `at`, or says who holds it; keys claimed before `forget_before`
/// are dropped first.
pub fn claim_form_key(
    db: Db<'_>,
    user_id: i64,
    key: &str,
    at: &str,
    forget_before: &str,
) -> Result<FormKey, StoreError> {
    let conn = db.conn();
    conn.prepare_cached("DELETE FROM form_keys WHERE claimed_at < ?1")?
        .execute([forget_before])?;
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO form_keys (user_id, form_key, result, claimed_at)
             VALUES (?1, ?2, NULL, ?3)",
        )?
        .execute(params![user_id, key, at])?;
    if inserted == 1 {
        return Ok(FormKey::Claimed);
    }
    let (result, claimed_at): (Option<String>, String) = conn
        .prepare_cached(
            "SELECT result, claimed_at FROM form_keys WHERE user_id = ?1 AND form_key = ?2",
        )?
        .query_row(params![user_id, key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(match result {
        Some(r) => FormKey::Done(r),
        None => FormKey::Running { claimed_at },
    })
}

/// Takes over a running claim left since `claimed_at` (its holder crashed): true if this call
/// got it (nobody else took it over or finished meanwhile).
pub fn take_over_form_key(
    db: Db<'_>,
    user_id: i64,
    key: &str,
    claimed_at: &str,
    at: &str,
) -> Result<bool, StoreError> {
    let conn = db.conn();
    Ok(conn
        .prepare_cached(
            "UPDATE form_keys SET claimed_at = ?4
              WHERE user_id = ?1 AND form_key = ?2 AND claimed_at = ?3 AND result IS NULL",
        )?
        .execute(params![user_id, key, claimed_at, at])?
        == 1)
}

/// Records what the claim of `key` produced.
pub fn finish_form_key(
    db: Db<'_>,
    user_id: i64,
    key: &str,
    result: &str,
) -> Result<(), StoreError> {
    let conn = db.conn();
    conn.prepare_cached("UPDATE form_keys SET result = ?3 WHERE user_id = ?1 AND form_key = ?2")?
        .execute(params![user_id, key, result])?;
    Ok(())
}

/// Releases the claim of `key` (its submission failed; the corrected form may use it again).
pub fn release_form_key(db: Db<'_>, user_id: i64, key: &str) -> Result<(), StoreError> {
    let conn = db.conn();
    conn.prepare_cached(
        "DELETE FROM form_keys WHERE user_id = ?1 AND form_key = ?2 AND result IS NULL",
    )?
    .execute(params![user_id, key])?;
    Ok(())
}
