//! Users of the service, their sessions and API tokens: who is asking, with which role.
//!
//! Passwords are kept as argon2id hashes; session cookies and API tokens are random values
//! handed out once and stored only as their SHA-256, so a copy of the registry opens no
//! account. A session lasts [`SESSION_IDLE`] without use and [`SESSION_MAX`] in all; each sign-in
//! makes a new one (the cookie is rotated). Guessing is throttled per account and per client
//! address, in the registry, so every node of a deployment counts the same failures.
//!
//! The role decides what a user may do; an `official` or `seal` user is linked to one official
//! record, and signing always acts as that record, never as one the request names.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::error::Denial;
use super::{App, AppError};
use crate::audit;
use crate::authority::{Position, store};
use crate::registry::users::{self as accounts, UserRow};

/// How long a session lives without being used.
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// How long a session lives at most.
pub const SESSION_MAX: Duration = Duration::hours(12);
/// Failed sign-ins of one account, within [`THROTTLE_WINDOW`], before it is throttled.
pub const MAX_ACCOUNT_FAILURES: i64 = 5;
/// Failed sign-ins from one address, within [`THROTTLE_WINDOW`], before it is throttled.
pub const MAX_ADDRESS_FAILURES: i64 = 20;
/// The window over which failures count.
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// What a user may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Issues, reprints, cancels and looks up documents at the desk.
    Clerk,
    /// Signs what the register allows the linked official.
    Official,
    /// Applies the agency seal.
    Seal,
    /// Keeps users, officials, certificates, delegations and the audit log.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Clerk, Role::Official, Role::Seal, Role::Admin];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Official => "official",
            Role::Seal => "seal",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether users of this role act as an official record.
    pub fn signs(self) -> bool {
        matches!(self, Role::Official | Role::Seal)
    }
}

/// A user, without secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Sign-in name.
    pub username: String,
    /// Name shown on pages.
    pub display_name: String,
    /// The role.
    pub role: Role,
    /// The official record a signer acts as.
    pub official_id: Option<String>,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// When it was created.
    pub created_at: String,
}

impl TryFrom<UserRow> for User {
    type Error = AppError;
    fn try_from(r: UserRow) -> Result<User, AppError> {
        let role = Role::parse(&r.role).ok_or_else(|| {
            AppError::Store(store::StoreError::Corrupt(format!("role {:?}", r.role)))
        })?;
        Ok(User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            role,
            official_id: r.official_id,
            disabled: r.disabled,
            created_at: r.created_at,
        })
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A session cookie, with the session's CSRF token.
    Session {
        /// The token every state-changing form or call must echo.
        csrf: String,
    },
    /// An API token (no CSRF: it is not sent by browsers on their own).
    Token {
        /// Its id.
        id: i64,
    },
}

/// Who is asking: a user, the role they act with, and how they proved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// The role in force (a token's role, which is its user's).
    pub role: Role,
    /// The proof.
    pub credential: Credential,
}

impl Principal {
    /// The name written into audit entries: `user:NAME`.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.username)
    }
}

/// A new user.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewUser {
    /// Sign-in name: 3–64 of `a-z 0-9 . _ -`.
    pub username: String,
    /// Name shown on pages.
    pub display_name: String,
    /// The role.
    pub role: Role,
    /// For `official` and `seal`: the official record they act as.
    pub official_id: Option<String>,
    /// The initial password, at least [`MIN_PASSWORD_CHARS`] characters.
    pub password: String,
}

/// A new session: the cookie value (shown once) and its CSRF token.
#[derive(Debug, Clone)]
pub struct SessionStarted {
    /// The cookie value.
    pub token: String,
    /// The CSRF token.
    pub csrf: String,
    /// Who signed in.
    pub user: User,
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Id.
    pub id: i64,
    /// The user it acts for.
    pub user_id: i64,
    /// The role it acts with.
    pub role: Role,
    /// What it is for.
    pub label: String,
    /// When made.
    pub created_at: String,
    /// When revoked.
    pub revoked_at: Option<String>,
}

fn fmt(t: OffsetDateTime) -> String {
    // Fixed width, UTC, whole seconds: stored times compare as text.
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn url_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    format!(
        "{prefix}{}",
        <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&bytes)
    )
}

/// SHA-256 of a secret, hex: how it is stored and looked up.
fn digest(secret: &str) -> String {
    super::sha256_hex(secret.as_bytes())
}

fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Store(store::StoreError::Corrupt(format!("argon2: {e}"))))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches, verified against when the account does not exist so that an
/// unknown name costs the same time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&url_secret("decoy-")).unwrap_or_default())
}

fn check_password_rules(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Denial::input(
            format!("mật khẩu phải có ít nhất {MIN_PASSWORD_CHARS} ký tự"),
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        )
        .into());
    }
    if password.len() > 1024 {
        return Err(Denial::input("mật khẩu quá dài", "the password is too long").into());
    }
    Ok(())
}

/// The development users' passwords, published in the README (see [`super::demo`]): outside
/// development mode they open nothing and cannot be set.
pub const DEV_PASSWORDS: &[&str] = &[
    "dev-admin-password",
    "dev-clerk-password",
    "dev-chairman-password",
    "dev-vice-password",
    "dev-seal-password",
];

fn is_dev_password(password: &str) -> bool {
    DEV_PASSWORDS.contains(&password)
}

/// Outside development mode the published development passwords open nothing.
fn refuse_dev_password(app: &App, password: &str) -> Result<(), AppError> {
    if !app.settings().development && is_dev_password(password) {
        return Err(Denial::input(
            "mật khẩu này là mật khẩu mẫu công khai; hãy chọn mật khẩu khác",
            "this password is a published development password; choose another",
        )
        .into());
    }
    Ok(())
}

fn valid_username(name: &str) -> bool {
    (3..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Creates a user (admin). An `official` or `seal` user is linked to a registered official of
/// the matching position; a clerk or admin to none.
pub fn create_user(app: &App, actor: &str, new: NewUser) -> Result<User, AppError> {
    if !valid_username(&new.username) {
        return Err(Denial::input(
            "tên đăng nhập: 3–64 ký tự a-z, 0-9, dấu chấm, gạch dưới, gạch ngang",
            "username: 3-64 characters of a-z, 0-9, dot, underscore, hyphen",
        )
        .into());
    }
    let display_name = new.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 200 {
        return Err(Denial::input(
            "tên hiển thị phải có từ 1 đến 200 ký tự",
            "the display name must have 1 to 200 characters",
        )
        .into());
    }
    check_password_rules(&new.password)?;
    refuse_dev_password(app, &new.password)?;
    // Hashed before the unit of work: argon2 takes tens of milliseconds that other writers
    // need not wait for behind the write lock.
    let password_hash = hash_password(&new.password)?;
    app.registry()?.unit_of_work(|db| {
        match (&new.official_id, new.role.signs()) {
            (Some(id), true) => {
                let official = store::official(&db, id).map_err(|_| {
                    AppError::Denied(Denial::input(
                        format!("không có cán bộ {id} trong sổ"),
                        format!("no official {id} is registered"),
                    ))
                })?;
                if (official.position == Position::Seal) != (new.role == Role::Seal) {
                    return Err(Denial::input(
                        "vai trò 'seal' dành cho con dấu cơ quan, 'official' cho cán bộ",
                        "the 'seal' role is for the agency seal, 'official' for a person",
                    )
                    .into());
                }
            }
            (None, true) => {
                return Err(Denial::input(
                    "người ký phải gắn với một cán bộ trong sổ (official_id)",
                    "a signer must be linked to a registered official (official_id)",
                )
                .into());
            }
            (Some(_), false) => {
                return Err(Denial::input(
                    "chỉ vai trò official và seal gắn với cán bộ",
                    "only the official and seal roles are linked to an official",
                )
                .into());
            }
            (None, false) => {}
        }
        if accounts::user_by_name(db, &new.username)?.is_some() {
            return Err(Denial::Conflict {
                vi: format!("tên đăng nhập {} đã có", new.username),
                en: format!("the username {} is taken", new.username),
            }
            .into());
        }
        let row = UserRow {
            id: 0,
            username: new.username.clone(),
            display_name: display_name.to_owned(),
            role: new.role.as_str().to_owned(),
            official_id: new.official_id.clone(),
            password_hash,
            disabled: false,
            created_at: fmt(app.now()),
        };
        let id = accounts::insert_user(db, &row)?;
        audit::append(
            &db,
            actor,
            "user.create",
            &new.username,
            &json!({"role": new.role.as_str(), "official": new.official_id}),
            app.now(),
        )?;
        User::try_from(UserRow { id, ..row })
    })
}

/// Every user.
pub fn list_users(app: &App) -> Result<Vec<User>, AppError> {
    let registry = app.registry()?;
    accounts::users(registry.db())?
        .into_iter()
        .map(User::try_from)
        .collect()
}

/// Whether any user exists (a new deployment has none until the first admin is made).
pub fn any_user(app: &App) -> Result<bool, AppError> {
    Ok(accounts::any_user(app.registry()?.db())?)
}

/// Disables or enables `username` (admin): disabling ends their sessions and revokes tokens.
pub fn set_disabled(
    app: &App,
    actor: &str,
    username: &str,
    disabled: bool,
) -> Result<User, AppError> {
    app.registry()?.unit_of_work(|db| {
        let u = accounts::user_by_name(db, username)?
            .ok_or_else(|| AppError::NotFound(format!("user {username}")))?;
        accounts::set_disabled(db, u.id, disabled, &fmt(app.now()))?;
        audit::append(
            &db,
            actor,
            if disabled {
                "user.disable"
            } else {
                "user.enable"
            },
            username,
            &json!({}),
            app.now(),
        )?;
        User::try_from(UserRow { disabled, ..u })
    })
}

/// Changes `username`'s password: by the user, who gives the current one, or by an admin
/// (`current` None). Every session of the user ends.
pub fn change_password(
    app: &App,
    actor: &str,
    username: &str,
    current: Option<&str>,
    new: &str,
) -> Result<(), AppError> {
    check_password_rules(new)?;
    refuse_dev_password(app, new)?;
    let hash = hash_password(new)?;
    app.registry()?.unit_of_work(|db| {
        let u = accounts::user_by_name(db, username)?
            .ok_or_else(|| AppError::NotFound(format!("user {username}")))?;
        if let Some(current) = current
            && !password_matches(current, &u.password_hash)
        {
            return Err(Denial::BadCredentials.into());
        }
        accounts::set_password(db, u.id, &hash)?;
        audit::append(&db, actor, "user.password", username, &json!({}), app.now())?;
        Ok(())
    })
}

/// Signs `username` in with `password` from `address`: a new session, or a refusal that says
/// nothing of whether the account exists. Throttled per account and per address.
pub fn sign_in(
    app: &App,
    username: &str,
    password: &str,
    address: &str,
) -> Result<SessionStarted, AppError> {
    let now = app.now();
    let since = fmt(now - THROTTLE_WINDOW);
    let account = format!("user:{username}");
    let addr = format!("addr:{address}");
    {
        let registry = app.registry()?;
        let db = registry.db();
        if accounts::failures_since(db, &account, &since)? >= MAX_ACCOUNT_FAILURES
            || accounts::failures_since(db, &addr, &since)? >= MAX_ADDRESS_FAILURES
        {
            return Err(Denial::Throttled.into());
        }
    }
    let found = {
        let registry = app.registry()?;
        accounts::user_by_name(registry.db(), username)?
    };
    let dev_refused = !app.settings().development && is_dev_password(password);
    let ok = match &found {
        Some(u) => password_matches(password, &u.password_hash) && !u.disabled && !dev_refused,
        None => {
            let _ = password_matches(password, decoy_hash());
            false
        }
    };
    let mut registry = app.registry()?;
    let Some(u) = found.filter(|_| ok) else {
        // The failure is recorded (committed), then refused.
        registry.unit_of_work(|db| {
            accounts::record_failure(db, &[&account, &addr], &fmt(now))?;
            audit::append(
                &db,
                &format!("addr:{address}"),
                "user.sign-in-failed",
                username,
                &json!({}),
                now,
            )?;
            Ok::<_, AppError>(())
        })?;
        return Err(Denial::BadCredentials.into());
    };
    let token = url_secret("");
    let csrf = url_secret("");
    registry.unit_of_work(|db| {
        accounts::forget_failures(db, &since, Some(&account))?;
        accounts::purge_sessions(db, &fmt(now - SESSION_IDLE), &fmt(now - SESSION_MAX))?;
        accounts::insert_session(db, &digest(&token), u.id, &csrf, &fmt(now))?;
        audit::append(
            &db,
            &format!("user:{}", u.username),
            "user.sign-in",
            &u.username,
            &json!({}),
            now,
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(SessionStarted {
        token,
        csrf,
        user: User::try_from(u)?,
    })
}

/// The principal of session cookie `token`, if the session is alive (not idle past
/// [`SESSION_IDLE`], not older than [`SESSION_MAX`], its user enabled).
pub fn session(app: &App, token: &str) -> Result<Option<Principal>, AppError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let now = app.now();
    let key = digest(token);
    let registry = app.registry()?;
    let db = registry.db();
    let Some(s) = accounts::session(db, &key)? else {
        return Ok(None);
    };
    if s.user.disabled
        || s.last_seen < fmt(now - SESSION_IDLE)
        || s.created_at < fmt(now - SESSION_MAX)
    {
        accounts::delete_session(db, &key)?;
        return Ok(None);
    }
    // One write a minute at most per session, not one per request.
    if s.last_seen < fmt(now - Duration::minutes(1)) {
        accounts::touch_session(db, &key, &fmt(now))?;
    }
    let user = User::try_from(s.user)?;
    Ok(Some(Principal {
        role: user.role,
        user,
        credential: Credential::Session { csrf: s.csrf },
    }))
}

/// Ends session `token`.
pub fn sign_out(app: &App, token: &str) -> Result<(), AppError> {
    let registry = app.registry()?;
    accounts::delete_session(registry.db(), &digest(token))?;
    Ok(())
}

/// The principal of API token `secret`, if it is valid and its user enabled.
pub fn token_principal(app: &App, secret: &str) -> Result<Option<Principal>, AppError> {
    if !secret.starts_with("kyso_") || secret.len() > 128 {
        return Ok(None);
    }
    let registry = app.registry()?;
    let Some((t, u)) = accounts::token(registry.db(), &digest(secret))? else {
        return Ok(None);
    };
    if u.disabled {
        return Ok(None);
    }
    let user = User::try_from(u)?;
    let role = Role::parse(&t.role).ok_or_else(|| {
        AppError::Store(store::StoreError::Corrupt(format!(
            "token role {:?}",
            t.role
        )))
    })?;
    Ok(Some(Principal {
        user,
        role,
        credential: Credential::Token { id: t.id },
    }))
}

/// Makes an API token for `username` (admin), acting with that user's role; returns it with
/// its secret, which is shown this once and never stored.
pub fn create_token(
    app: &App,
    actor: &str,
    username: &str,
    label: &str,
) -> Result<(ApiToken, String), AppError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 200 {
        return Err(Denial::input(
            "nhãn phải có từ 1 đến 200 ký tự",
            "the label must have 1 to 200 characters",
        )
        .into());
    }
    let at = app.now();
    let now = fmt(at);
    let secret = url_secret("kyso_");
    let (id, u) = app.registry()?.unit_of_work(|db| {
        let u = accounts::user_by_name(db, username)?
            .ok_or_else(|| AppError::NotFound(format!("user {username}")))?;
        if u.disabled {
            return Err(Denial::input("tài khoản đã bị khóa", "the account is disabled").into());
        }
        let id = accounts::insert_token(db, &digest(&secret), u.id, &u.role, label, &now)?;
        audit::append(
            &db,
            actor,
            "token.create",
            username,
            &json!({"token": id, "role": u.role, "label": label}),
            at,
        )?;
        Ok::<_, AppError>((id, u))
    })?;
    let role = Role::parse(&u.role).unwrap_or(Role::Clerk);
    Ok((
        ApiToken {
            id,
            user_id: u.id,
            role,
            label: label.to_owned(),
            created_at: now,
            revoked_at: None,
        },
        secret,
    ))
}

/// Every API token (without secrets).
pub fn list_tokens(app: &App) -> Result<Vec<ApiToken>, AppError> {
    let registry = app.registry()?;
    accounts::tokens(registry.db())?
        .into_iter()
        .map(|t| {
            Ok(ApiToken {
                role: Role::parse(&t.role).ok_or_else(|| {
                    AppError::Store(store::StoreError::Corrupt(format!(
                        "token role {:?}",
                        t.role
                    )))
                })?,
                id: t.id,
                user_id: t.user_id,
                label: t.label,
                created_at: t.created_at,
                revoked_at: t.revoked_at,
            })
        })
        .collect()
}

/// Revokes token `id` (admin).
pub fn revoke_token(app: &App, actor: &str, id: i64) -> Result<(), AppError> {
    app.registry()?.unit_of_work(|db| {
        if accounts::revoke_token(db, id, &fmt(app.now()))? == 0 {
            return Err(AppError::NotFound(format!("token {id}")));
        }
        audit::append(
            &db,
            actor,
            "token.revoke",
            &id.to_string(),
            &json!({}),
            app.now(),
        )?;
        Ok(())
    })
}

/// Records in the audit log a request refused before any use case ran (a signing route called
/// by a role that may not sign): every refusal that concerns signing is audited.
pub fn audit_refusal(app: &App, actor: &str, subject: &str, reason: &str) -> Result<(), AppError> {
    let registry = app.registry()?;
    audit::append(
        &registry.db(),
        actor,
        "refuse",
        subject,
        &json!({"reason": reason, "stage": "access"}),
        app.now(),
    )?;
    Ok(())
}

/// Form keys of every form are kept, and a claim left running is taken over, after the times
/// issuing's own form keys use: one table holds them all.
pub use crate::issuing::{FORM_KEY_ABANDONED, FORM_KEYS_KEPT};

/// What a submission with a form key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormClaim {
    /// Do the work, then [`finish_form`] (or [`release_form`] if it failed).
    Mine,
    /// Another submission with this key is doing the work now.
    Running,
    /// Already done: answer with this result.
    Done(String),
}

/// Claims form `key` for `user_id` in the registry, so that the same key is done once across
/// restarts and nodes. A claim abandoned by a crash ([`FORM_KEY_ABANDONED`]) is taken over.
pub fn claim_form(app: &App, user_id: i64, key: &str) -> Result<FormClaim, AppError> {
    let now = app.now();
    let registry = app.registry()?;
    let db = registry.db();
    let claim = accounts::claim_form_key(db, user_id, key, &fmt(now), &fmt(now - FORM_KEYS_KEPT))?;
    Ok(match claim {
        accounts::FormKey::Claimed => FormClaim::Mine,
        accounts::FormKey::Done(r) => FormClaim::Done(r),
        accounts::FormKey::Running { claimed_at } => {
            let abandoned =
                OffsetDateTime::parse(&claimed_at, &time::format_description::well_known::Rfc3339)
                    .is_ok_and(|t| now - t > FORM_KEY_ABANDONED);
            if abandoned && accounts::take_over_form_key(db, user_id, key, &claimed_at, &fmt(now))?
            {
                FormClaim::Mine
            } else {
                FormClaim::Running
            }
        }
    })
}

/// Records what the submission holding form `key` produced.
pub fn finish_form(app: &App, user_id: i64, key: &str, result: &str) -> Result<(), AppError> {
    Ok(accounts::finish_form_key(
        app.registry()?.db(),
        user_id,
        key,
        result,
    )?)
}

/// Releases form `key` after a failed submission.
pub fn release_form(app: &App, user_id: i64, key: &str) -> Result<(), AppError> {
    Ok(accounts::release_form_key(
        app.registry()?.db(),
        user_id,
        key,
    )?)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A clock the test moves.
    struct Moving(Mutex<OffsetDateTime>);

    impl super::super::Clock for Moving {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().unwrap()
        }
    }

    #[test]
    fn a_form_key_is_done_once_released_on_failure_and_taken_over_when_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::from_toml("development = true").unwrap();
        settings.data_dir = dir.path().to_path_buf();
        let clock = Arc::new(Moving(Mutex::new(OffsetDateTime::now_utc())));
        let app = App::with_clock(settings, clock.clone());
        ensure_users_for_test(&app);
        let user = accounts::user_by_name(app.registry().unwrap().db(), "van-thu")
            .unwrap()
            .unwrap()
            .id;
        let key = "k".repeat(24);
        assert_eq!(claim_form(&app, user, &key).unwrap(), FormClaim::Mine);
        assert_eq!(claim_form(&app, user, &key).unwrap(), FormClaim::Running);
        // A failed submission gives the key back.
        release_form(&app, user, &key).unwrap();
        assert_eq!(claim_form(&app, user, &key).unwrap(), FormClaim::Mine);
        finish_form(&app, user, &key, "doc-1").unwrap();
        assert_eq!(
            claim_form(&app, user, &key).unwrap(),
            FormClaim::Done("doc-1".into())
        );
        // A claim whose holder crashed is taken over once it is old enough.
        let other = "o".repeat(24);
        assert_eq!(claim_form(&app, user, &other).unwrap(), FormClaim::Mine);
        *clock.0.lock().unwrap() += FORM_KEY_ABANDONED + Duration::seconds(1);
        assert_eq!(claim_form(&app, user, &other).unwrap(), FormClaim::Mine);
        assert_eq!(claim_form(&app, user, &other).unwrap(), FormClaim::Running);
        // After a day the key is forgotten.
        *clock.0.lock().unwrap() += FORM_KEYS_KEPT;
        assert_eq!(claim_form(&app, user, &key).unwrap(), FormClaim::Mine);
    }

    fn ensure_users_for_test(app: &App) {
        let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-dev");
        crate::app::demo::ensure_commune(app, &keys).unwrap();
        crate::app::demo::ensure_users(app).unwrap();
    }
}
