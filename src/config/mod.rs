//! Settings: embedded defaults, then one optional TOML file, then `KYSO_*` environment variables.
//!
//! The defaults must run kyso with no file at all (local-disk archive and SQLite under
//! `./kyso-data`), so every field has a default and the file only overrides what it names.
//!
//! Whatever the source (file, environment, command-line flag), the result is checked as a whole by
//! [`Settings::checked`] before anything uses it: a value that parses but means nothing, or means
//! something other than what was intended, is refused with one line naming the setting. That class
//! covers: an empty `data_dir` (which would silently be the current directory), a `base_url` that
//! is not an http(s) URL with a host (`javascript:…` would be printed into every QR code), empty
//! authority names (printed on every document and keying its registers), text with control,
//! invisible or bidi characters in those names, and empty trust anchor paths. Archive settings are
//! checked by [`ArchiveSettings`] itself.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod archive;

pub use archive::ArchiveSettings;

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
    /// A setting, from whichever source, has a value that cannot be used.
    #[error("{key}: {message}")]
    Invalid {
        /// The setting, with the environment variable and flag that also set it.
        key: &'static str,
        /// Why, in Vietnamese then English.
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
    /// Signature timestamps (`[timestamp]`): none configured means B-B signatures.
    pub timestamp: TimestampSettings,
    /// Long-term signatures (`[ltv]`): validation material and document timestamps.
    pub ltv: LtvSettings,
    /// CRL files (DER or PEM) that signing checks the signer's certificate against, and that
    /// validation uses beside the CRLs a signature carries.
    pub crls: Vec<PathBuf>,
    /// CA certificates (PEM) sent with signatures that the service makes with officials'
    /// registered key files: the intermediates between their certificates and the trust
    /// anchors (`KYSO_CHAIN`, paths separated as in PATH).
    pub chain: Vec<PathBuf>,
    /// Refuse to sign when the signer certificate's revocation status cannot be established
    /// (no CRL from its issuer, or only a stale one). Off by default: a commune on a poor link
    /// still signs, and the audit entry records "revocation unknown".
    pub require_revocation: bool,
    /// Kinds of documents kyso signs but does not issue into a register (administrative
    /// letters and the like). Signing a PDF that is not in the register is allowed only under
    /// one of these; certification kinds always need their register entry.
    pub external_kinds: Vec<String>,
    /// The HTTP service (`[server]`).
    pub server: ServerSettings,
}

/// The HTTP service's settings (`[server]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on (`KYSO_LISTEN`, `kyso serve --listen`); loopback by default, so a
    /// node is exposed only through a deliberate setting or a reverse proxy.
    pub listen: String,
    /// Largest request body accepted (`KYSO_MAX_UPLOAD_BYTES`): uploads of PDFs to verify.
    /// Larger bodies get 413 before they are read whole.
    pub max_upload_bytes: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".to_owned(),
            max_upload_bytes: 64 << 20,
        }
    }
}

/// RFC 3161 time-stamping authorities for PAdES B-T signatures. Opt-in: with no URL, kyso signs
/// B-B as before; with some, every signature asks them in order for a signature timestamp, and
/// is delivered B-B (recording that a timestamp is owed) when none answers.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TimestampSettings {
    /// TSA URLs, tried in order (`KYSO_TSA_URLS`, separated by spaces or commas).
    pub urls: Vec<String>,
    /// Seconds to wait for a TCP connection to one TSA.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for one TSA's answer once connected.
    pub read_timeout_secs: u64,
    /// Bytes of `/Contents` reserved for the token: its DER with the TSA's certificate is
    /// usually 2–6 KB; a larger one is not embedded (the signature stays B-B, owed).
    pub reserve_bytes: usize,
    /// PEM files of the anchors the TSA certificates must chain to; empty: the anchors of
    /// `trust`. With neither, the chain is not checked (EKU, signature, nonce and imprint are).
    pub trust: Vec<PathBuf>,
}

impl Default for TimestampSettings {
    fn default() -> Self {
        TimestampSettings {
            urls: Vec::new(),
            connect_timeout_secs: 3,
            read_timeout_secs: 5,
            reserve_bytes: 8192,
            trust: Vec::new(),
        }
    }
}

/// How long-term a signature is made at signing (`[ltv] level`, `KYSO_LTV`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum LtvLevel {
    /// Only what `[timestamp]` gives: B-B or B-T.
    #[default]
    #[serde(rename = "off")]
    Off,
    /// B-LT: a `/DSS` with the certificates, OCSP responses and CRLs of every signature and
    /// timestamp, fetched at signing.
    #[serde(rename = "b-lt")]
    Lt,
    /// B-LTA: B-LT and a document timestamp over it all (needs `[timestamp] urls`).
    #[serde(rename = "b-lta")]
    Lta,
}

impl LtvLevel {
    /// Parses `off`, `b-lt` or `b-lta`.
    pub fn parse(s: &str) -> Option<LtvLevel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "" => Some(LtvLevel::Off),
            "b-lt" | "lt" => Some(LtvLevel::Lt),
            "b-lta" | "lta" => Some(LtvLevel::Lta),
            _ => None,
        }
    }
}

/// Long-term signatures: what signing adds after the signature, and how the validation
/// material is fetched. When no source answers, the signature is delivered as it is (B-B or
/// B-T) and what it owes is recorded; the archive drain adds it when the link returns.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LtvSettings {
    /// `off` (default), `b-lt` or `b-lta`.
    pub level: LtvLevel,
    /// Seconds to wait for a TCP connection to an OCSP responder or CRL server.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for one answer once connected.
    pub read_timeout_secs: u64,
    /// Whether the archive worker (`kyso serve`, `kyso archive run`) renews the long-term
    /// material of archived records whose retention outlasts their newest timestamp
    /// (`KYSO_LTV_RENEW`): a new DSS and document timestamp as a new archive version, before
    /// that timestamp's TSA certificate expires or one of its algorithms reaches its end date
    /// in [`crate::ltv::policy`]. Needs `[timestamp] urls`; without them nothing is renewed.
    pub renew: bool,
    /// How long before that deadline a record is renewed, in days
    /// (`KYSO_LTV_RENEW_MARGIN_DAYS`): time enough for a TSA outage, a forgotten server or a
    /// policy revision to be noticed and fixed.
    pub renew_margin_days: u32,
    /// Seconds between two looks at the archive for records due (`KYSO_LTV_RENEW_EVERY_SECS`).
    pub renew_every_secs: u64,
}

impl Default for LtvSettings {
    fn default() -> Self {
        LtvSettings {
            level: LtvLevel::Off,
            connect_timeout_secs: 3,
            read_timeout_secs: 5,
            renew: true,
            renew_margin_days: 365,
            renew_every_secs: 24 * 3600,
        }
    }
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
            timestamp: TimestampSettings::default(),
            ltv: LtvSettings::default(),
            crls: Vec::new(),
            chain: Vec::new(),
            require_revocation: false,
            external_kinds: vec!["van-ban".to_owned()],
            server: ServerSettings::default(),
        }
    }
}

impl Settings {
    /// Loads settings: defaults, then `file` (or the file named by `KYSO_CONFIG`) when given,
    /// then environment overrides; the result is [`checked`](Settings::checked). A caller that
    /// changes settings afterwards (command-line flags) checks them again.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let env_file = std::env::var_os("KYSO_CONFIG").map(PathBuf::from);
        let mut settings = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => Self::from_file(&path)?,
            None => Settings::default(),
        };
        settings.apply_env(|name| std::env::var(name).ok())?;
        settings.checked()
    }

    /// Refuses values that parse but cannot be meant (see the module documentation), and writes
    /// `base_url` in its normalised form (lower-case host, punycode, a path ending in `/`), so the
    /// QR code carries the URL a browser would go to, not a spelling it would have to repair.
    pub fn checked(mut self) -> Result<Settings, ConfigError> {
        if self.data_dir.as_os_str().is_empty() || self.data_dir.to_string_lossy().trim().is_empty()
        {
            return Err(invalid(
                "data_dir (KYSO_DATA_DIR, --data-dir)",
                "không được để trống (trống sẽ là thư mục hiện hành) / \
                 must not be empty (empty would mean the current directory)",
            ));
        }
        self.base_url = check_base_url(&self.base_url)?;
        if self.ltv.level == LtvLevel::Lta && self.timestamp.urls.is_empty() {
            return Err(invalid(
                "ltv.level (KYSO_LTV)",
                "b-lta cần máy chủ dấu thời gian ([timestamp] urls, KYSO_TSA_URLS) / \
                 b-lta needs a TSA for its document timestamp ([timestamp] urls, KYSO_TSA_URLS)",
            ));
        }
        if self.ltv.connect_timeout_secs == 0 || self.ltv.read_timeout_secs == 0 {
            return Err(invalid(
                "ltv.connect_timeout_secs, read_timeout_secs",
                "phải lớn hơn 0 / must be more than 0",
            ));
        }
        if self.ltv.renew_every_secs == 0 {
            return Err(invalid(
                "ltv.renew_every_secs (KYSO_LTV_RENEW_EVERY_SECS)",
                "phải lớn hơn 0 / must be more than 0",
            ));
        }
        if self.ltv.renew_margin_days > 36_500 {
            return Err(invalid(
                "ltv.renew_margin_days (KYSO_LTV_RENEW_MARGIN_DAYS)",
                "tối đa 36500 ngày / at most 36500 days",
            ));
        }
        if self.trust.iter().any(|p| p.as_os_str().is_empty()) {
            return Err(invalid(
                "trust (KYSO_TRUST)",
                "có đường dẫn trống (hai dấu phân cách liền nhau?) / \
                 has an empty path (two separators in a row?)",
            ));
        }
        self.authority.check()?;
        for u in &self.timestamp.urls {
            let ok = url::Url::parse(u)
                .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
            if !ok {
                return Err(invalid(
                    "timestamp.urls (KYSO_TSA_URLS)",
                    format!("{u:?} không phải URL http(s) / is not an http(s) URL"),
                ));
            }
        }
        if self.timestamp.connect_timeout_secs == 0 || self.timestamp.read_timeout_secs == 0 {
            return Err(invalid(
                "timestamp.connect_timeout_secs, read_timeout_secs",
                "phải lớn hơn 0 / must be more than 0",
            ));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "server.listen (KYSO_LISTEN, --listen)",
                "phải là địa chỉ IP:cổng, ví dụ 127.0.0.1:8080 / must be IP:PORT, e.g. 127.0.0.1:8080",
            ));
        }
        if !(1024..=(4u64 << 30)).contains(&self.server.max_upload_bytes) {
            return Err(invalid(
                "server.max_upload_bytes (KYSO_MAX_UPLOAD_BYTES)",
                "phải từ 1024 byte đến 4 GiB / must be between 1024 bytes and 4 GiB",
            ));
        }
        Ok(self)
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
            // Set but empty: no trust anchors (splitting "" would give one empty path).
            self.trust = if v.is_empty() {
                Vec::new()
            } else {
                std::env::split_paths(&v).collect()
            };
        }
        if let Some(v) = get("KYSO_TSA_URLS") {
            self.timestamp.urls = v
                .split([' ', ','])
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("KYSO_LTV") {
            self.ltv.level = LtvLevel::parse(&v).ok_or_else(|| ConfigError::Env {
                name: "KYSO_LTV",
                message: format!("expected off, b-lt or b-lta, got {v:?}"),
            })?;
        }
        if let Some(v) = get("KYSO_LTV_RENEW") {
            self.ltv.renew = parse_bool("KYSO_LTV_RENEW", &v)?;
        }
        if let Some(v) = get("KYSO_LTV_RENEW_MARGIN_DAYS") {
            self.ltv.renew_margin_days = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "KYSO_LTV_RENEW_MARGIN_DAYS",
                message: format!("expected a number of days, got {v:?}"),
            })?;
        }
        if let Some(v) = get("KYSO_LTV_RENEW_EVERY_SECS") {
            self.ltv.renew_every_secs = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "KYSO_LTV_RENEW_EVERY_SECS",
                message: format!("expected a number of seconds, got {v:?}"),
            })?;
        }
        if let Some(v) = get("KYSO_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = get("KYSO_MAX_UPLOAD_BYTES") {
            self.server.max_upload_bytes = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "KYSO_MAX_UPLOAD_BYTES",
                message: format!("expected a number of bytes, got {v:?}"),
            })?;
        }
        if let Some(v) = get("KYSO_CHAIN") {
            self.chain = std::env::split_paths(&v).collect();
        }
        if let Some(v) = get("KYSO_CRLS") {
            self.crls = std::env::split_paths(&v).collect();
        }
        if let Some(v) = get("KYSO_REQUIRE_REVOCATION") {
            self.require_revocation = parse_bool("KYSO_REQUIRE_REVOCATION", &v)?;
        }
        self.archive.apply_env(&get)?;
        Ok(())
    }

    /// The registry database file.
    pub fn registry_path(&self) -> PathBuf {
        self.data_dir.join("registry.sqlite3")
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// The base URL of verification pages, normalised: http or https, a host, and nothing that would
/// change what `{base_url}/v/{id}` means or who it shows as the site: no user name or password
/// (`https://ubnd.gov.vn@example.com` names example.com), no query or fragment (they would swallow
/// the `/v/{id}` appended to it).
fn check_base_url(text: &str) -> Result<String, ConfigError> {
    const KEY: &str = "base_url (KYSO_BASE_URL)";
    let shown: String = text.chars().take(60).collect();
    let refuse = |vi: &str, en: &str| invalid(KEY, format!("{vi} / {en}: {shown:?}"));
    // The URL parser forgives spaces and line breaks by dropping them, a backslash by reading `/`,
    // and `https:/host` or `https:///host` by repairing the slashes; a QR code scanner may not,
    // so only the plain spelling `http(s)://host…` is taken.
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(refuse(
            "có khoảng trắng, ký tự điều khiển hoặc dấu \\",
            "contains spaces, control characters or a backslash",
        ));
    }
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return Err(refuse(
            "không phải địa chỉ http hoặc https có tên máy chủ",
            "is not an http or https URL with a host",
        ));
    }
    let url = url::Url::parse(text).map_err(|_| {
        refuse(
            "không phải địa chỉ http hoặc https có tên máy chủ",
            "is not an http or https URL with a host",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(refuse(
            "không phải địa chỉ http hoặc https có tên máy chủ",
            "is not an http or https URL with a host",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not shown: the value holds a password, which must not reach a terminal or a log.
        return Err(invalid(
            KEY,
            "không được chứa tên người dùng hay mật khẩu / must not contain a user name or password",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse(
            "không được có phần truy vấn (?) hay phân đoạn (#)",
            "must not have a query (?) or fragment (#)",
        ));
    }
    Ok(url.to_string())
}

impl Authority {
    /// Every name the documents print is present and plain text; `parent` alone may be empty.
    fn check(&self) -> Result<(), ConfigError> {
        let fields: [(&'static str, &str); 6] = [
            ("authority.code", &self.code),
            ("authority.parent", &self.parent),
            ("authority.name", &self.name),
            ("authority.full_name", &self.full_name),
            ("authority.place", &self.place),
            ("authority.office", &self.office),
        ];
        for (key, value) in fields {
            if value.trim().is_empty() && key != "authority.parent" {
                return Err(invalid(key, "không được để trống / must not be empty"));
            }
            // `name` breaks its line with `\n` (see the field); nothing else may move text.
            let bad = value.chars().find(|&c| {
                (c.is_control() && !(key == "authority.name" && c == '\n'))
                    || crate::text::is_invisible_or_reordering(c)
            });
            if let Some(c) = bad {
                return Err(invalid(
                    key,
                    format!(
                        "chứa ký tự điều khiển hoặc vô hình U+{:04X} / \
                         contains the control or invisible character U+{:04X}",
                        u32::from(c),
                        u32::from(c)
                    ),
                ));
            }
        }
        // Registers are keyed by the code: "xa-a " and "xa-a" would be two registers, each
        // numbering from 01, so one commune would issue the same number twice.
        if self.code.chars().any(char::is_whitespace) {
            return Err(invalid(
                "authority.code",
                "không được chứa khoảng trắng / must not contain spaces",
            ));
        }
        Ok(())
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

    fn with_env(name: &'static str, value: &str) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        s.apply_env(|k| (k == name).then(|| value.to_owned()))?;
        s.checked()
    }

    #[test]
    fn the_defaults_pass_their_own_checks() {
        let s = Settings::default().checked().unwrap();
        assert_eq!(s.base_url, "http://localhost:8080/");
    }

    #[test]
    fn base_urls_other_than_http_or_https_with_a_host_are_refused() {
        for bad in [
            "javascript:alert(document.cookie)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "ftp://kyso.gov.vn",
            "https://",
            "https:///v",
            "kyso.gov.vn",
            "",
            " https://kyso.gov.vn",
            "https://kyso.gov.vn/x y",
            "https://kyso\n.gov.vn",
            "https://ubnd.gov.vn@example.com",
            "https://user:secret@kyso.gov.vn",
            "https://kyso.gov.vn/?next=",
            "https://kyso.gov.vn/#",
            "http:/kyso.gov.vn",
            "https:\\\\kyso.gov.vn",
        ] {
            let e = with_env("KYSO_BASE_URL", bad).expect_err(bad);
            let text = e.to_string();
            assert!(text.contains("KYSO_BASE_URL"), "{text}");
            assert!(!text.contains('\n'), "one line: {text}");
        }
    }

    #[test]
    fn a_good_base_url_is_kept_normalised() {
        let s = with_env("KYSO_BASE_URL", "HTTPS://Kyso.Example.GOV.vn:8443/xac-thuc").unwrap();
        assert_eq!(s.base_url, "https://kyso.example.gov.vn:8443/xac-thuc");
        let s = with_env("KYSO_BASE_URL", "https://xã-tân-lạc.vn").unwrap();
        assert!(s.base_url.starts_with("https://xn--"), "{}", s.base_url);
    }

    #[test]
    fn empty_or_blank_values_that_would_mean_something_else_are_refused() {
        assert!(with_env("KYSO_DATA_DIR", "").is_err());
        assert!(with_env("KYSO_DATA_DIR", "  ").is_err());
        assert!(with_env("KYSO_DATA_DIR", "/srv/kyso").is_ok());
        // TSA URLs: several, in order; only http(s).
        // B-LTA needs a TSA for the document timestamp.
        assert!(with_env("KYSO_LTV", "b-lta").is_err());
        assert_eq!(
            with_env("KYSO_LTV", "B-LT").unwrap().ltv.level,
            LtvLevel::Lt
        );
        assert_eq!(
            with_env("KYSO_LTV", "off").unwrap().ltv.level,
            LtvLevel::Off
        );
        assert!(with_env("KYSO_LTV", "b-ltx").is_err());
        // The renewal job: a margin in days, a period in seconds, both bounded.
        let s = with_env("KYSO_LTV_RENEW_MARGIN_DAYS", "2000").unwrap();
        assert_eq!(s.ltv.renew_margin_days, 2000);
        assert!(with_env("KYSO_LTV_RENEW_MARGIN_DAYS", "-1").is_err());
        assert!(with_env("KYSO_LTV_RENEW_MARGIN_DAYS", "99999").is_err());
        assert!(with_env("KYSO_LTV_RENEW_EVERY_SECS", "0").is_err());
        assert!(!with_env("KYSO_LTV_RENEW", "false").unwrap().ltv.renew);
        let s = with_env("KYSO_TSA_URLS", "http://a.test/tsa, https://b.test/tsa").unwrap();
        assert_eq!(
            s.timestamp.urls,
            ["http://a.test/tsa", "https://b.test/tsa"]
        );
        assert!(with_env("KYSO_TSA_URLS", "ftp://a.test/tsa").is_err());
        assert!(
            with_env("KYSO_TSA_URLS", "")
                .unwrap()
                .timestamp
                .urls
                .is_empty()
        );
        // An empty KYSO_TRUST clears the list; an empty entry inside one is refused.
        assert!(with_env("KYSO_TRUST", "").unwrap().trust.is_empty());
        assert!(with_env("KYSO_TRUST", "/a.pem::/b.pem").is_err());
        for toml in [
            "[authority]\ncode = \"\"",
            "[authority]\ncode = \"xa a\"",
            "[authority]\nname = \" \"",
            "[authority]\nfull_name = \"\"",
            "[authority]\nplace = \"\"",
            "[authority]\noffice = \"\"",
            "[authority]\nfull_name = \"Ủy ban nhân dân xã \u{202E}Lạc\"",
            "[authority]\nplace = \"Tân\tLạc\"",
            "data_dir = \"\"",
            "trust = [\"\"]",
        ] {
            let s = Settings::from_toml(toml).unwrap();
            assert!(s.checked().is_err(), "{toml}");
        }
        // The superior body may be absent; the header name may break its line.
        let s = Settings::from_toml("[authority]\nparent = \"\"\nname = \"UBND\\nxã A\"").unwrap();
        assert!(s.checked().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Settings::from_toml("developmnet = true").is_err());
    }
}
