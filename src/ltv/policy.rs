//! The dated algorithm policy: until when a hash function or a signature algorithm of a given
//! key size still proves anything. A timestamp stops protecting what it covers when its TSA
//! certificate expires *or* when one of its algorithms reaches its end date, whichever comes
//! first ([`deadline`]); before then, the archive's renewal job (`crate::app::ltv::renew_due`)
//! adds a new DSS and a new document timestamp over the file.
//!
//! # Source
//!
//! NIST SP 800-57 Part 1 Rev. 5 (May 2020), tables 2 and 4 (security strength of each algorithm
//! and key size, and until when each strength is acceptable), with NIST SP 800-131A Rev. 2
//! (March 2019) for what is already disallowed:
//!
//! * 112-bit security (RSA 2048–3071, ECDSA on 224–255-bit curves, SHA-224) is acceptable
//!   through 2030, so its end date is 2031-01-01;
//! * 128 bits and more (RSA ≥ 3072, ECDSA ≥ 256, SHA-256/384/512) has no end date yet;
//! * SHA-1, RSA below 2048 and ECDSA below 224 bits have been disallowed for signature
//!   generation since the end of 2013 (80-bit security).
//!
//! Circular 15/2025/TT-BKHCN sets the same floor for new signatures (RSA ≥ 2048, ECDSA ≥ 256,
//! SHA-2/SHA-3). ETSI TS 119 312 (V1.4.x) and the SOG-IS Agreed Cryptographic Mechanisms (v1.2)
//! are stricter on RSA: moduli under 3000 bits are legacy after 2025. A deployment that follows
//! them changes the end date of [`RSA_112`] to 2026-01-01; this table keeps NIST's date because
//! the Vietnamese national TSAs sign with RSA 2048 keys, and renewing with the same TSA could
//! not move the deadline anyway. NIST IR 8547 (initial public draft, November 2024) proposes to
//! deprecate every RSA and ECDSA key after 2030 and disallow them after 2035 (quantum
//! computers); it is a draft and no TSA offers a post-quantum signature yet, so it has no row.
//! Revising the table means adding a dated row, never editing the meaning of an old one.

use time::{Date, Month, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::validation::crypto::Digest;

/// One row of the policy: an algorithm family, the key sizes it covers, and the first day it no
/// longer proves anything (`None`: no end date known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// `RSA`, `ECDSA`, or a hash function's name.
    pub algorithm: &'static str,
    /// Smallest key size covered, in bits (0 for hash functions).
    pub min_bits: u32,
    /// Largest key size covered, in bits.
    pub max_bits: u32,
    /// The end date: from this day on, the algorithm is taken as broken.
    pub ends: Option<Date>,
}

const fn date(y: i32, m: Month, d: u8) -> Date {
    match Date::from_calendar_date(y, m, d) {
        Ok(d) => d,
        Err(_) => panic!("invalid date in the algorithm policy"),
    }
}

/// End of 80-bit security for signatures (SP 800-131A: disallowed after 2013).
const END_80: Option<Date> = Some(date(2014, Month::January, 1));
/// End of 112-bit security (SP 800-57: acceptable through 2030).
const END_112: Option<Date> = Some(date(2031, Month::January, 1));

/// RSA 2048–3071 bits: 112-bit security.
pub const RSA_112: Rule = Rule {
    algorithm: "RSA",
    min_bits: 2048,
    max_bits: 3071,
    ends: END_112,
};

/// The table, in the order it is searched. A key size no row covers is taken as broken.
pub const POLICY: &[Rule] = &[
    Rule {
        algorithm: "RSA",
        min_bits: 0,
        max_bits: 2047,
        ends: END_80,
    },
    RSA_112,
    Rule {
        algorithm: "RSA",
        min_bits: 3072,
        max_bits: u32::MAX,
        ends: None,
    },
    Rule {
        algorithm: "ECDSA",
        min_bits: 0,
        max_bits: 223,
        ends: END_80,
    },
    Rule {
        algorithm: "ECDSA",
        min_bits: 224,
        max_bits: 255,
        ends: END_112,
    },
    Rule {
        algorithm: "ECDSA",
        min_bits: 256,
        max_bits: u32::MAX,
        ends: None,
    },
    Rule {
        algorithm: "SHA-1",
        min_bits: 0,
        max_bits: u32::MAX,
        ends: END_80,
    },
    Rule {
        algorithm: "SHA-224",
        min_bits: 0,
        max_bits: u32::MAX,
        ends: END_112,
    },
    Rule {
        algorithm: "SHA-256",
        min_bits: 0,
        max_bits: u32::MAX,
        ends: None,
    },
    Rule {
        algorithm: "SHA-384",
        min_bits: 0,
        max_bits: u32::MAX,
        ends: None,
    },
    Rule {
        algorithm: "SHA-512",
        min_bits: 0,
        max_bits: u32::MAX,
        ends: None,
    },
];

/// The end date of `algorithm` with a `bits`-bit key under [`POLICY`]: `Ok(None)` when it has
/// none, `Err(())` when no row covers it (an algorithm kyso does not know is taken as broken).
#[allow(clippy::result_unit_err)]
pub fn end_of(algorithm: &str, bits: u32) -> Result<Option<Date>, ()> {
    POLICY
        .iter()
        .find(|r| r.algorithm == algorithm && (r.min_bits..=r.max_bits).contains(&bits))
        .map(|r| r.ends)
        .ok_or(())
}

/// The name of a digest in [`POLICY`].
pub fn digest_name(d: Digest) -> &'static str {
    match d {
        Digest::Sha256 => "SHA-256",
        Digest::Sha384 => "SHA-384",
        Digest::Sha512 => "SHA-512",
    }
}

/// The signature algorithm family and key size of a certificate's public key (`RSA`, `ECDSA`).
pub fn key_of(cert_der: &[u8]) -> Option<(&'static str, u32)> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    match cert.public_key().parsed().ok()? {
        PublicKey::RSA(rsa) => Some(("RSA", u32::try_from(rsa.key_size()).ok()?)),
        PublicKey::EC(ec) => Some(("ECDSA", u32::try_from(ec.key_size()).ok()?)),
        _ => None,
    }
}

/// Why a timestamp stops proving at its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// The first moment the timestamp no longer proves anything, Unix seconds.
    pub at: i64,
    /// What ends then: the TSA certificate, or an algorithm with the policy row's date.
    pub because: String,
}

/// The deadline of a timestamp whose token was signed by `tsa_cert` with `digest` (the signer
/// info's digest), over a message imprint computed with `imprint`, the TSA certificate
/// expiring at `tsa_expires` (Unix seconds): the earliest of the certificate's expiry and the
/// end dates of the algorithms.
pub fn deadline(tsa_cert: &[u8], tsa_expires: i64, digest: Digest, imprint: Digest) -> Deadline {
    let mut best = Deadline {
        at: tsa_expires,
        because: "the TSA certificate expires".to_owned(),
    };
    let mut consider = |name: &str, bits: u32, ends: Result<Option<Date>, ()>| {
        let at = match ends {
            Ok(None) => return,
            Ok(Some(d)) => d.midnight().assume_utc().unix_timestamp(),
            Err(()) => i64::MIN,
        };
        if at < best.at {
            best = Deadline {
                at,
                because: if bits == 0 {
                    format!("{name} reaches its end date in the algorithm policy")
                } else {
                    format!("{name}-{bits} reaches its end date in the algorithm policy")
                },
            };
        }
    };
    match key_of(tsa_cert) {
        Some((alg, bits)) => consider(alg, bits, end_of(alg, bits)),
        None => consider("an unknown key type", 0, Err(())),
    }
    for d in [digest, imprint] {
        let name = digest_name(d);
        consider(name, 0, end_of(name, 0));
    }
    best
}

/// Formats Unix seconds as an RFC 3339 date-time (UTC).
pub fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "an invalid time".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_size_of_each_family_is_covered_once() {
        for alg in ["RSA", "ECDSA"] {
            for bits in [
                0u32, 1024, 2047, 2048, 3071, 3072, 4096, 223, 224, 255, 256, 521,
            ] {
                let rows = POLICY
                    .iter()
                    .filter(|r| r.algorithm == alg && (r.min_bits..=r.max_bits).contains(&bits))
                    .count();
                assert_eq!(rows, 1, "{alg}-{bits}");
            }
        }
    }

    #[test]
    fn the_table_says_what_its_source_says() {
        let y = |d: Option<Date>| d.map(|d| d.year());
        assert_eq!(end_of("RSA", 1024).map(y), Ok(Some(2014)));
        assert_eq!(end_of("RSA", 2048).map(y), Ok(Some(2031)));
        assert_eq!(end_of("RSA", 3072), Ok(None));
        assert_eq!(end_of("ECDSA", 256), Ok(None));
        assert_eq!(end_of("SHA-1", 0).map(y), Ok(Some(2014)));
        assert_eq!(end_of("SHA-256", 0), Ok(None));
        assert_eq!(end_of("MD5", 0), Err(()));
    }

    fn der(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("keys-dev")
            .join(name);
        pem::parse(std::fs::read(path).unwrap())
            .unwrap()
            .into_contents()
    }

    #[test]
    fn a_timestamp_stops_proving_at_its_certificate_expiry_or_its_algorithm_end_whichever_first() {
        let far = date(2060, Month::January, 1)
            .midnight()
            .assume_utc()
            .unix_timestamp();
        let rsa = der("seal-rsa.pem");
        assert_eq!(key_of(&rsa), Some(("RSA", 2048)));
        let d = deadline(&rsa, far, Digest::Sha256, Digest::Sha256);
        assert_eq!(rfc3339(d.at), "2031-01-01T00:00:00Z");
        assert!(d.because.contains("RSA-2048"), "{}", d.because);
        let ec = der("seal-ec.pem");
        assert_eq!(key_of(&ec), Some(("ECDSA", 256)));
        let d = deadline(&ec, far, Digest::Sha256, Digest::Sha384);
        assert_eq!(d.at, far);
        assert_eq!(d.because, "the TSA certificate expires");
        // A certificate expiring before the algorithm's end date sets the deadline.
        let soon = far - 40 * 365 * 86400;
        assert_eq!(
            deadline(&rsa, soon, Digest::Sha256, Digest::Sha256).at,
            soon
        );
    }
}
