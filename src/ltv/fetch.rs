//! Fetching validation material over HTTP: OCSP responses from a certificate's AIA responder,
//! CRLs from its CRL distribution points, issuer certificates from its AIA caIssuers URL.
//!
//! Every answer is checked before it is returned ([`crate::validation::ocsp::check_response`]
//! for OCSP: nonce, certificate, responder authority, freshness; issuer signature and validity
//! window for CRLs) and kept in memory until its `nextUpdate`, so signing many documents asks
//! each responder once per validity period. The caller passes the time (the app layer's clock);
//! nothing here reads it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::validation::ocsp::{self, Expect, OcspAnswer, OcspError};

/// Largest CRL fetched (a commune CA's CRL is kilobytes to a few megabytes).
pub const MAX_CRL: u64 = 16 << 20;
/// Largest certificate fetched.
const MAX_CERT: u64 = 64 * 1024;
/// Most cached answers kept; the oldest half is dropped past it.
const MAX_CACHED: usize = 4096;
/// How long an issuer certificate fetched from AIA stays cached, seconds.
const CERT_CACHE_SECS: i64 = 24 * 3600;

const ID_AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
const ID_AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// Why no material could be had for a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The certificate names no source of this kind.
    #[error("chứng thư không có địa chỉ {what} / the certificate names no {what} URL")]
    NoSource {
        /// "OCSP", "CRL" or "caIssuers".
        what: &'static str,
    },
    /// No connection, a timeout, an HTTP error or an oversized answer.
    #[error("{url}: không kết nối được / unreachable: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The OCSP answer was refused.
    #[error("{url}: {source}")]
    Ocsp {
        /// The responder URL.
        url: String,
        /// Why.
        source: OcspError,
    },
    /// The CRL is not the issuer's, does not verify, or is out of date.
    #[error("{url}: CRL không dùng được / unusable CRL: {reason}")]
    BadCrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The certificate cannot be read.
    #[error("chứng thư không đọc được / unreadable certificate: {0}")]
    BadCertificate(String),
}

/// An accepted OCSP response.
#[derive(Debug, Clone)]
pub struct FetchedOcsp {
    /// The DER OCSPResponse, as embedded in a `/DSS`.
    pub der: Vec<u8>,
    /// What it says.
    pub answer: OcspAnswer,
    /// The responder URL.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ocsp(Vec<u8>, Vec<u8>),
    /// A CRL URL and the issuer it was checked against.
    Crl(String, Vec<u8>),
    Url(String),
}

#[derive(Debug, Clone)]
enum Cached {
    Ocsp(FetchedOcsp),
    Bytes(Vec<u8>),
}

/// An HTTP client for validation material, with a cache.
#[derive(Debug)]
pub struct Fetcher {
    agent: ureq::Agent,
    cache: Mutex<HashMap<Key, (Cached, i64)>>,
}

/// The URLs a certificate names for one purpose.
fn urls(cert: &X509Certificate<'_>, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) if what != "crl" => {
                for ad in aia.iter() {
                    if ad.access_method.to_id_string() == what
                        && let GeneralName::URI(u) = &ad.access_location
                    {
                        out.push((*u).to_owned());
                    }
                }
            }
            ParsedExtension::CRLDistributionPoints(cdp) if what == "crl" => {
                for p in cdp.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                        for n in names {
                            if let GeneralName::URI(u) = n {
                                out.push((*u).to_owned());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out.retain(|u| u.starts_with("http://") || u.starts_with("https://"));
    out
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, FetchError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| FetchError::BadCertificate(e.to_string()))
}

/// Whether the certificate names an OCSP responder.
pub fn has_ocsp(cert: &[u8]) -> bool {
    parse(cert).is_ok_and(|c| !urls(&c, ID_AD_OCSP).is_empty())
}

/// Whether the certificate carries id-pkix-ocsp-nocheck (an OCSP responder's own certificate,
/// whose status nobody checks).
pub fn ocsp_no_check(cert: &[u8]) -> bool {
    parse(cert).is_ok_and(|c| {
        c.extensions()
            .iter()
            .any(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.48.1.5")
    })
}

impl Fetcher {
    /// A client with these timeouts per request.
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> Fetcher {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_recv_response(Some(read_timeout))
            .timeout_recv_body(Some(read_timeout))
            .http_status_as_error(true)
            .build()
            .into();
        Fetcher {
            agent,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &Key, now: i64) -> Option<Cached> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|(_, until)| now < *until)
            .map(|(c, _)| c.clone())
    }

    fn keep(&self, key: Key, value: Cached, until: i64) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED {
            let mut by_age: Vec<(Key, i64)> =
                cache.iter().map(|(k, (_, u))| (k.clone(), *u)).collect();
            by_age.sort_by_key(|(_, u)| *u);
            for (k, _) in by_age.into_iter().take(MAX_CACHED / 2) {
                cache.remove(&k);
            }
        }
        cache.insert(key, (value, until));
    }

    fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        let unreachable = |reason: String| FetchError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| unreachable(e.to_string()))?;
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| unreachable(e.to_string()))
    }

    /// A current OCSP response for `cert` (issued by `issuer`) from the responders its AIA
    /// names, tried in order; the first accepted answer (good, revoked or unknown) is returned.
    pub fn ocsp(&self, cert: &[u8], issuer: &[u8], now: i64) -> Result<FetchedOcsp, FetchError> {
        let c = parse(cert)?;
        let key = Key::Ocsp(c.raw_serial().to_vec(), c.issuer().as_raw().to_vec());
        if let Some(Cached::Ocsp(hit)) = self.cached(&key, now) {
            return Ok(hit);
        }
        let responders = urls(&c, ID_AD_OCSP);
        let mut last = FetchError::NoSource { what: "OCSP" };
        for url in responders {
            match self.ask_ocsp(&url, cert, issuer, now) {
                Ok(f) => {
                    let until = f
                        .answer
                        .next_update
                        .unwrap_or(f.answer.this_update + ocsp::MAX_AGE_WITHOUT_NEXT_UPDATE);
                    self.keep(key, Cached::Ocsp(f.clone()), until);
                    return Ok(f);
                }
                Err(e) => {
                    tracing::warn!(%e, "OCSP request failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn ask_ocsp(
        &self,
        url: &str,
        cert: &[u8],
        issuer: &[u8],
        now: i64,
    ) -> Result<FetchedOcsp, FetchError> {
        let unreachable = |reason: String| FetchError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| unreachable("no randomness for the nonce".into()))?;
        let request = ocsp::request(cert, issuer, &nonce).map_err(|source| FetchError::Ocsp {
            url: url.to_owned(),
            source,
        })?;
        let mut response = self
            .agent
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .send(&request[..])
            .map_err(|e| unreachable(e.to_string()))?;
        let der = response
            .body_mut()
            .with_config()
            .limit(ocsp::MAX_RESPONSE as u64)
            .read_to_vec()
            .map_err(|e| unreachable(e.to_string()))?;
        let answer = ocsp::check_response(
            &der,
            cert,
            issuer,
            &Expect {
                nonce: Some(&nonce),
                current_at: Some(now),
            },
        )
        .map_err(|source| FetchError::Ocsp {
            url: url.to_owned(),
            source,
        })?;
        Ok(FetchedOcsp {
            der,
            answer,
            url: url.to_owned(),
        })
    }

    /// A current CRL of `issuer` from `cert`'s distribution points, tried in order.
    pub fn crl(&self, cert: &[u8], issuer: &[u8], now: i64) -> Result<Vec<u8>, FetchError> {
        let c = parse(cert)?;
        let mut last = FetchError::NoSource { what: "CRL" };
        for url in urls(&c, "crl") {
            let key = Key::Crl(url.clone(), issuer.to_vec());
            if let Some(Cached::Bytes(b)) = self.cached(&key, now) {
                return Ok(b);
            }
            let result = self.get(&url, MAX_CRL).and_then(|der| {
                let bad = |reason: &str| FetchError::BadCrl {
                    url: url.clone(),
                    reason: reason.to_owned(),
                };
                let (this, next) = crate::validation::chain::crl_times(&der, issuer)
                    .ok_or_else(|| bad("not signed by the certificate's issuer"))?;
                if this > now + ocsp::SKEW {
                    return Err(bad("thisUpdate is in the future"));
                }
                if next.is_some_and(|n| n + ocsp::SKEW < now) {
                    return Err(bad("past its nextUpdate"));
                }
                Ok((der, next.unwrap_or(now + 3600)))
            });
            match result {
                Ok((der, until)) => {
                    self.keep(key, Cached::Bytes(der.clone()), until);
                    return Ok(der);
                }
                Err(e) => {
                    tracing::warn!(%e, "CRL download failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// The issuer certificate of `cert` from its AIA caIssuers URLs (DER or PEM), one whose key
    /// verifies `cert`'s signature.
    pub fn issuer(&self, cert: &[u8], now: i64) -> Result<Vec<u8>, FetchError> {
        let c = parse(cert)?;
        let mut last = FetchError::NoSource { what: "caIssuers" };
        for url in urls(&c, ID_AD_CA_ISSUERS) {
            let key = Key::Url(url.clone());
            let body = match self.cached(&key, now) {
                Some(Cached::Bytes(b)) => b,
                _ => match self.get(&url, MAX_CERT) {
                    Ok(b) => {
                        self.keep(key, Cached::Bytes(b.clone()), now + CERT_CACHE_SECS);
                        b
                    }
                    Err(e) => {
                        last = e;
                        continue;
                    }
                },
            };
            let ders = crate::validation::chain::certs_from_pem_or_der(&body, "CERTIFICATE")
                .unwrap_or_default();
            for der in ders {
                if let Ok((_, i)) = X509Certificate::from_der(&der)
                    && i.subject().as_raw() == c.issuer().as_raw()
                    && crate::validation::crypto::signed_by(&c, &i)
                {
                    return Ok(der);
                }
            }
            last = FetchError::BadCertificate(format!("{url}: not the issuer's certificate"));
        }
        Err(last)
    }
}
