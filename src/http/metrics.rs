//! `/metrics` in the Prometheus text format: requests by route and status, a latency
//! histogram, documents issued and signed, signing refusals, and the archive outbox's backlog
//! and oldest waiting age (read from the registry at scrape time). Written by hand: the format
//! is a few lines of text, and the counters are a handful of atomics and one small map.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    issued: AtomicU64,
    signed: AtomicU64,
    refusals: AtomicU64,
}

impl Metrics {
    /// Counts one request of `route` (the route pattern, not the path: ids do not multiply
    /// the series) answered with `status` after `took`.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        }
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Counts an issued document.
    pub fn issued(&self) {
        self.issued.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a signature made.
    pub fn signed(&self) {
        self.signed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused signing request.
    pub fn refused(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition, with the outbox figures read at scrape time.
    pub fn render(&self, outbox: Option<(u64, u64, Option<f64>)>) -> String {
        let mut out = String::new();
        out.push_str("# HELP kyso_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE kyso_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "kyso_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    route.replace('\\', "\\\\").replace('"', "\\\"")
                );
            }
        }
        out.push_str("# HELP kyso_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE kyso_http_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "kyso_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "kyso_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "kyso_http_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "kyso_http_request_duration_seconds_count {count}");
        for (name, help, v) in [
            (
                "kyso_documents_issued_total",
                "Documents issued.",
                &self.issued,
            ),
            (
                "kyso_documents_signed_total",
                "Signatures made.",
                &self.signed,
            ),
            (
                "kyso_signing_refusals_total",
                "Signing requests refused.",
                &self.refusals,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        if let Some((pending, failed, oldest)) = outbox {
            out.push_str("# HELP kyso_outbox_backlog Signed files waiting for the archive.\n");
            out.push_str("# TYPE kyso_outbox_backlog gauge\n");
            let _ = writeln!(out, "kyso_outbox_backlog{{state=\"pending\"}} {pending}");
            let _ = writeln!(out, "kyso_outbox_backlog{{state=\"failed\"}} {failed}");
            out.push_str(
                "# HELP kyso_outbox_oldest_waiting_seconds Age of the oldest file waiting.\n",
            );
            out.push_str("# TYPE kyso_outbox_oldest_waiting_seconds gauge\n");
            let _ = writeln!(
                out,
                "kyso_outbox_oldest_waiting_seconds {}",
                oldest.unwrap_or(0.0)
            );
        }
        out
    }
}
