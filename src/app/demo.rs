//! The demo commune of the development PKI (`keys-dev/`): its officials with their registered
//! certificates and keys, the Chairman's powers, a KT. delegation to the Vice-Chairman, and one
//! user per role for the service. Development mode only: every function here refuses to run
//! otherwise, and the development passwords ([`DEV_USERS`]) are refused at sign-in outside it.

use std::path::Path;

use time::Duration;

use super::admin::{self, NewDelegation, NewOfficial};
use super::error::Denial;
use super::users::{self, NewUser, Role};
use super::{App, AppError};
use crate::authority::{Mark, Position, store};
use crate::pki::{self, Certificate};
use crate::signing::KeySigner;

struct Person {
    id: &'static str,
    name: &'static str,
    title: &'static str,
    citizen_id: Option<&'static str>,
    stem: &'static str,
    position: Position,
}

const PEOPLE: &[Person] = &[
    Person {
        id: "chu-tich",
        name: "Nguyễn Văn An",
        title: "Chủ tịch",
        citizen_id: Some("001080000001"),
        stem: "chairman-rsa",
        position: Position::Head,
    },
    Person {
        id: "pho-chu-tich",
        name: "Trần Thị Bình",
        title: "Phó Chủ tịch",
        citizen_id: Some("001085000002"),
        stem: "vice-chairman-ec",
        position: Position::DeputyHead,
    },
    Person {
        id: "con-dau",
        name: "UBND xã Tân Lạc",
        title: "Cơ quan",
        citizen_id: None,
        stem: "seal-ec",
        position: Position::Seal,
    },
];

/// The development users: username, display name, role, linked official, password. The
/// passwords are public (README) and refused outside development mode
/// ([`users::DEV_PASSWORDS`] lists them; a test holds the two lists together).
pub const DEV_USERS: &[(&str, &str, Role, Option<&str>, &str)] = &[
    (
        "admin",
        "Quản trị viên",
        Role::Admin,
        None,
        "dev-admin-password",
    ),
    (
        "van-thu",
        "Lê Văn Thư (một cửa)",
        Role::Clerk,
        None,
        "dev-clerk-password",
    ),
    (
        "chu-tich",
        "Nguyễn Văn An",
        Role::Official,
        Some("chu-tich"),
        "dev-chairman-password",
    ),
    (
        "pho-chu-tich",
        "Trần Thị Bình",
        Role::Official,
        Some("pho-chu-tich"),
        "dev-vice-password",
    ),
    (
        "con-dau",
        "Văn phòng (giữ dấu)",
        Role::Seal,
        Some("con-dau"),
        "dev-seal-password",
    ),
];

fn development_only(app: &App) -> Result<(), AppError> {
    if app.settings().development {
        Ok(())
    } else {
        Err(Denial::input(
            "dữ liệu mẫu chỉ dùng ở chế độ phát triển (--dev)",
            "the demo commune is for development mode only (--dev)",
        )
        .into())
    }
}

fn identity(keys: &Path, stem: &str) -> Result<Certificate, AppError> {
    Ok(pki::load_certificates(&keys.join(format!("{stem}.pem")))?.remove(0))
}

/// The signer of development identity `stem` (its key and certificate in `keys`, with the
/// intermediate CA as its chain).
pub fn signer(keys: &Path, stem: &str) -> Result<KeySigner, AppError> {
    let key = pki::load_private_key(&keys.join(format!("{stem}.key.pem")))?;
    let chain = pki::load_certificates(&keys.join("intermediate-ca.pem"))?;
    Ok(KeySigner::new(&key, identity(keys, stem)?, chain, true)?)
}

/// Registers the demo officials (certificates with their key files in `keys`), the Chairman's
/// powers over every kind, and a KT. delegation to the Vice-Chairman for a year, unless the
/// commune is registered already. Returns the delegation's id when it registered them.
pub fn ensure_commune(app: &App, keys: &Path) -> Result<Option<i64>, AppError> {
    development_only(app)?;
    {
        let reg = app.registry()?;
        if store::official(&reg.db(), "chu-tich").is_ok() {
            return Ok(None);
        }
    }
    let keys = std::fs::canonicalize(keys).map_err(|e| AppError::io(keys, e))?;
    let agency = app.settings().authority.full_name.clone();
    for p in PEOPLE {
        admin::add_official(
            app,
            "demo",
            NewOfficial {
                id: p.id.into(),
                full_name: p.name.into(),
                title: p.title.into(),
                agency: agency.clone(),
                citizen_id: p.citizen_id.map(str::to_owned),
                position: p.position,
                unit: String::new(),
            },
        )?;
        let key_location = format!(
            "file:{}",
            keys.join(format!("{}.key.pem", p.stem)).display()
        );
        admin::add_certificate(app, "demo", p.id, &identity(&keys, p.stem)?, &key_location)?;
    }
    let kinds: Vec<String> = app
        .catalog()?
        .kinds()
        .map(|t| t.schema.kind.clone())
        .collect();
    admin::allow_title(app, "demo", "Chủ tịch", &kinds)?;
    let now = app.now();
    let d = admin::grant_delegation(
        app,
        NewDelegation {
            mark: Mark::Kt,
            delegator: "chu-tich".into(),
            delegate: "pho-chu-tich".into(),
            kinds,
            valid_from: now - Duration::days(1),
            valid_until: now + Duration::days(365),
            basis_number: "01/QĐ-UBND".into(),
            basis_date: "2026-01-02".into(),
            source: None,
        },
        &signer(&keys, "chairman-rsa")?,
    )?;
    Ok(Some(d.id))
}

/// Creates the development users that do not exist yet (a signer only when their official is
/// registered: a data directory may hold another commune); returns the names created.
pub fn ensure_users(app: &App) -> Result<Vec<&'static str>, AppError> {
    development_only(app)?;
    let existing: Vec<String> = users::list_users(app)?
        .into_iter()
        .map(|u| u.username)
        .collect();
    let officials: Vec<String> = admin::officials(app)?.into_iter().map(|o| o.id).collect();
    let mut made = Vec::new();
    for (name, display, role, official, password) in DEV_USERS {
        if existing.iter().any(|e| e == name)
            || official.is_some_and(|o| !officials.iter().any(|x| x == o))
        {
            continue;
        }
        users::create_user(
            app,
            "demo",
            NewUser {
                username: (*name).into(),
                display_name: (*display).into(),
                role: *role,
                official_id: official.map(str::to_owned),
                password: (*password).into(),
            },
        )?;
        made.push(*name);
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_development_password_is_refused_outside_development() {
        for u in DEV_USERS {
            assert!(users::DEV_PASSWORDS.contains(&u.4), "{}", u.0);
        }
    }
}
