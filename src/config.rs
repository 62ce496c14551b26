//! Settings: embedded defaults, then one optional TOML file, then `KYSO_*` environment variables.
//!
//! The defaults must run kyso with no file at all (local-disk archive and SQLite under
//! `./kyso-data`), so every field has a default and the file only overrides what it names.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::archive::settings::ArchiveSettings;

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for these settings.
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An environment override has a value that cannot be used.
    #[error("invalid value for environment variable {name}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Why.
        message: String,
    },
}

/// All of kyso's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where kyso keeps its registry database, local archive and working files.
    pub data_dir: PathBuf,
    /// Development mode: the only mode in which the committed `keys-dev/` PKI is accepted.
    /// It must be stated explicitly (`--dev`, `development = true` or `KYSO_DEVELOPMENT=1`).
    pub development: bool,
    /// Base URL of the public verification pages; QR codes encode `{base_url}/v/{id}`.
    pub base_url: String,
    /// Trust anchors (PEM files) for validation. Never hard-coded: empty unless configured.
    pub trust: Vec<PathBuf>,
    /// The issuing authority: its register code and how documents name it (`[authority]`).
    pub authority: Authority,
    /// The archive of signed documents (`[archive]`): local disk by default, or S3.
    pub archive: ArchiveSettings,
}

/// The commune People's Committee this deployment issues for. The defaults are the development
/// commune of `keys-dev/`; a real deployment sets every field.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Authority {
    /// Stable code of the commune (e.g. its administrative unit code); registers are per code.
    pub code: String,
    /// Superior body printed above the name (may be empty).
    pub parent: String,
    /// Name in the document header, printed in capitals; `\n` breaks the line.
    pub name: String,
    /// Name in running text.
    pub full_name: String,
    /// Place name for the date line.
    pub place: String,
    /// Where certification is done, for the statements' "tại …".
    pub office: String,
}

impl Default for Authority {
    fn default() -> Self {
        Authority {
            code: "dev-tan-lac".to_owned(),
            parent: String::new(),
            name: "Ủy ban nhân dân\nxã Tân Lạc".to_owned(),
            full_name: "Ủy ban nhân dân xã Tân Lạc".to_owned(),
            place: "Tân Lạc".to_owned(),
            office: "Bộ phận Một cửa, Ủy ban nhân dân xã Tân Lạc, tỉnh Phú Thọ".to_owned(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("kyso-data"),
            development: false,
            base_url: "http://localhost:8080".to_owned(),
            trust: Vec::new(),
            authority: Authority::default(),
            archive: ArchiveSettings::default(),
        }
    }
}

impl Settings {
    /// Loads settings: defaults, then `file` (or the file named by `KYSO_CONFIG`) when given,
    /// then environment overrides.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let env_file = std::env::var_os("KYSO_CONFIG").map(PathBuf::from);
        let mut settings = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => Self::from_file(&path)?,
            None => Settings::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        Ok(settings)
    }

    /// Parses a TOML file on top of the defaults.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text on top of the defaults.
    pub fn from_toml(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| e.message().to_owned())
    }

    /// Applies `KYSO_*` overrides read through `get` (a parameter so tests need not touch the
    /// process environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("KYSO_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("KYSO_DEVELOPMENT") {
            self.development = parse_bool("KYSO_DEVELOPMENT", &v)?;
        }
        if let Some(v) = get("KYSO_BASE_URL") {
            self.base_url = v;
        }
        if let Some(v) = get("KYSO_TRUST") {
            self.trust = std::env::split_paths(&v).collect();
        }
        self.archive.apply_env(&get)?;
        Ok(())
    }

    /// The registry database file.
    pub fn registry_path(&self) -> PathBuf {
        self.data_dir.join("registry.sqlite3")
    }
}

pub(crate) fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(ConfigError::Env {
            name,
            message: format!("expected true or false, got {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::from_toml("").unwrap();
        assert_eq!(s.data_dir, PathBuf::from("kyso-data"));
        assert!(!s.development);
        assert!(s.trust.is_empty());
    }

    #[test]
    fn file_then_env() {
        let mut s =
            Settings::from_toml("development = true\nbase_url = \"https://x.gov.vn\"").unwrap();
        assert!(s.development);
        s.apply_env(|k| (k == "KYSO_DEVELOPMENT").then(|| "0".to_owned()))
            .unwrap();
        assert!(!s.development);
        assert_eq!(s.base_url, "https://x.gov.vn");
        assert!(
            s.apply_env(|k| (k == "KYSO_DEVELOPMENT").then(|| "maybe".to_owned()))
                .is_err()
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Settings::from_toml("developmnet = true").is_err());
    }
}
