//! How long each kind of document must be kept (DOMAIN.md §8), and the S3 Object Lock request
//! that enforces it. Pure logic, no I/O.
//!
//! Registers and civil-status files are kept permanently: S3 retention periods always end, so a
//! permanent document gets a legal hold, which has no end date and only a privileged, deliberate
//! call can lift. Timed periods become a retain-until date in the configured lock mode.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use time::{Date, Duration, Month, OffsetDateTime, Time};

/// A retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retention {
    /// No retention required.
    None,
    /// A number of days.
    Days(u32),
    /// A number of calendar years.
    Years(u32),
    /// Kept for ever.
    Permanent,
}

impl Retention {
    /// The periods of DOMAIN.md §8: certification registers and civil-status registers and files
    /// permanently; signature and translator certifications 2 years; contracts 20 years. A kind
    /// nobody configured falls back to `default`, which is permanent because keeping a
    /// document too long is recoverable and deleting it too early is not.
    pub fn domain_defaults() -> BTreeMap<String, Retention> {
        [
            ("default", Retention::Permanent),
            ("register", Retention::Permanent),
            ("civil-status", Retention::Permanent),
            ("signature", Retention::Years(2)),
            ("translator", Retention::Years(2)),
            ("contract", Retention::Years(20)),
            // The same kinds under the names the authority registry uses.
            ("so-chung-thuc", Retention::Permanent),
            ("ho-tich", Retention::Permanent),
            ("chung-thuc-chu-ky", Retention::Years(2)),
            ("chung-thuc-ban-dich", Retention::Years(2)),
            ("hop-dong", Retention::Years(20)),
            ("chung-thuc-hop-dong", Retention::Years(20)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The retention of `kind` under `table` (falling back to its `default` entry).
    pub fn for_kind(table: &BTreeMap<String, Retention>, kind: &str) -> Retention {
        table
            .get(kind)
            .or_else(|| table.get("default"))
            .copied()
            .unwrap_or(Retention::Permanent)
    }
}

impl FromStr for Retention {
    type Err = String;
    fn from_str(s: &str) -> Result<Retention, String> {
        let t = s.trim().to_ascii_lowercase();
        let bad = || {
            format!(
                "expected a period such as \"2y\", \"30d\", \"permanent\" or \"none\", got {s:?}"
            )
        };
        match t.as_str() {
            "permanent" => return Ok(Retention::Permanent),
            "none" => return Ok(Retention::None),
            _ => {}
        }
        let (n, unit) = t.split_at(t.len().saturating_sub(1));
        let n: u32 = n.parse().map_err(|_| bad())?;
        match unit {
            // Beyond 1000 years an S3 date stops meaning anything; use `permanent`.
            "y" if (1..=1000).contains(&n) => Ok(Retention::Years(n)),
            "d" if (1..=366_000).contains(&n) => Ok(Retention::Days(n)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::None => f.write_str("none"),
            Retention::Days(n) => write!(f, "{n}d"),
            Retention::Years(n) => write!(f, "{n}y"),
            Retention::Permanent => f.write_str("permanent"),
        }
    }
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// S3 Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LockMode {
    /// Nobody, not even the bucket's owner, can shorten or remove it.
    Compliance,
    /// Users with a special permission can lift it.
    Governance,
}

impl FromStr for LockMode {
    type Err = String;
    fn from_str(s: &str) -> Result<LockMode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "compliance" => Ok(LockMode::Compliance),
            "governance" => Ok(LockMode::Governance),
            other => Err(format!("expected compliance or governance, got {other:?}")),
        }
    }
}

/// The lock one object needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lock {
    /// Retain (in `mode`) until `until`.
    Until {
        /// The mode.
        mode: LockMode,
        /// The end of the retention.
        until: OffsetDateTime,
    },
    /// A legal hold: kept until someone deliberately lifts it.
    LegalHold,
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lock::Until { mode, until } => {
                let mode = match mode {
                    LockMode::Compliance => "compliance",
                    LockMode::Governance => "governance",
                };
                write!(f, "{mode} until {}", until.date())
            }
            Lock::LegalHold => f.write_str("legal hold"),
        }
    }
}

/// The lock for a document of `retention` dated `date`: retained through the whole anniversary
/// day (until the start of the next day, UTC), so a document is never released early.
pub fn lock_for(retention: Retention, mode: LockMode, date: Date) -> Option<Lock> {
    let end = match retention {
        Retention::None => return None,
        Retention::Permanent => return Some(Lock::LegalHold),
        Retention::Days(n) => date.checked_add(Duration::days(i64::from(n))),
        Retention::Years(n) => add_years(date, n),
    };
    // A date past year 9999 cannot be written; such a period is permanent in all but name.
    let Some(end) = end.and_then(|d| d.next_day()) else {
        return Some(Lock::LegalHold);
    };
    Some(Lock::Until {
        mode,
        until: end.with_time(Time::MIDNIGHT).assume_utc(),
    })
}

fn add_years(date: Date, n: u32) -> Option<Date> {
    let year = date.year().checked_add(i32::try_from(n).ok()?)?;
    // 29 February of a leap year becomes 1 March (never earlier than the full period).
    Date::from_calendar_date(year, date.month(), date.day())
        .or_else(|_| Date::from_calendar_date(year, Month::March, 1))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn periods_parse_and_print() {
        for s in ["2y", "30d", "permanent", "none"] {
            assert_eq!(s.parse::<Retention>().unwrap().to_string(), s);
        }
        for s in ["", "y", "0y", "2w", "-3d", "1001y", "forever"] {
            assert!(s.parse::<Retention>().is_err(), "{s}");
        }
    }

    #[test]
    fn domain_periods() {
        let t = Retention::domain_defaults();
        assert_eq!(Retention::for_kind(&t, "contract"), Retention::Years(20));
        assert_eq!(Retention::for_kind(&t, "signature"), Retention::Years(2));
        assert_eq!(Retention::for_kind(&t, "register"), Retention::Permanent);
        assert_eq!(
            Retention::for_kind(&t, "something-new"),
            Retention::Permanent
        );
    }

    #[test]
    fn locks() {
        let d = date!(2026 - 11 - 25);
        assert_eq!(
            lock_for(Retention::Years(20), LockMode::Compliance, d),
            Some(Lock::Until {
                mode: LockMode::Compliance,
                until: datetime!(2046-11-26 0:00 UTC)
            })
        );
        assert_eq!(
            lock_for(
                Retention::Years(2),
                LockMode::Governance,
                date!(2028 - 02 - 29)
            ),
            Some(Lock::Until {
                mode: LockMode::Governance,
                until: datetime!(2030-03-02 0:00 UTC)
            })
        );
        assert_eq!(
            lock_for(Retention::Permanent, LockMode::Compliance, d),
            Some(Lock::LegalHold)
        );
        assert_eq!(lock_for(Retention::None, LockMode::Compliance, d), None);
        assert_eq!(
            lock_for(
                Retention::Years(1000),
                LockMode::Compliance,
                date!(9500 - 01 - 01)
            ),
            Some(Lock::LegalHold)
        );
    }
}
