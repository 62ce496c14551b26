//! The load generator of `bench/serve.sh` for issue + sign pairs (POST /api/v1/documents, then
//! POST /api/v1/documents/{id}/sign).
//!
//! It is compiled, not scripted, because on a 2-core machine the generator shares the cores with
//! the server it measures: the Python client it replaces spent about 1.2 ms of CPU per pair, a
//! tenth of what the server spends, and every millisecond it took was missing from the server's
//! figure. This one keeps one blocking keep-alive connection per client thread.
//!
//! Two measurements, as the issue asks:
//!  - capacity: 32 clients in a closed loop, each starting its next pair when the last ends;
//!  - latency at a target rate: pairs started on a fixed schedule (RATE per second, open loop),
//!    each pair's time counted from when it was due, not from when a client got round to it, so a
//!    slow server cannot hide its queue (no coordinated omission). With 32 closed-loop clients a
//!    p99 under 50 ms would need 640 pairs/s (Little's law), so latency is judged at the rate.
//!
//! Usage: bench_serve_load BASE_URL CLERK_TOKEN OFFICIAL_TOKEN DATA.json SECONDS RATE

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clients of the closed loop (the issue's 32 connections).
const CLOSED_CLIENTS: usize = 32;
/// Clients that take due pairs in the open loop: enough that a late server, not the generator,
/// decides when a pair starts.
const OPEN_CLIENTS: usize = 64;

struct Target {
    base: String,
    clerk: String,
    official: String,
    issue_body: String,
}

impl Target {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .max_idle_connections_per_host(1)
            .build()
            .into()
    }

    /// One issue then one sign; `true` when both answered as they should.
    fn pair(&self, agent: &ureq::Agent) -> bool {
        let issued = agent
            .post(format!("{}/api/v1/documents", self.base))
            .header("Authorization", format!("Bearer {}", self.clerk))
            .content_type("application/json")
            .send(self.issue_body.as_str());
        let Ok(mut issued) = issued else {
            return false;
        };
        let Ok(body) = issued.body_mut().read_to_string() else {
            return false;
        };
        if issued.status().as_u16() != 201 {
            return false;
        }
        let Some(id) = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
        else {
            return false;
        };
        let signed = agent
            .post(format!("{}/api/v1/documents/{id}/sign", self.base))
            .header("Authorization", format!("Bearer {}", self.official))
            .content_type("application/json")
            .send("{}");
        match signed {
            Ok(mut r) => r.body_mut().read_to_vec().is_ok() && r.status().as_u16() == 200,
            Err(_) => false,
        }
    }
}

fn p99_ms(lat: &mut [Duration]) -> f64 {
    if lat.is_empty() {
        return f64::NAN;
    }
    lat.sort();
    let i = (lat.len() * 99 / 100).saturating_sub(1);
    lat[i].as_secs_f64() * 1000.0
}

/// This process's CPU time so far (user + system), from /proc.
fn own_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the ')'.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn closed_loop(t: &Arc<Target>, secs: f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0usize));
    let cpu0 = own_cpu();
    let start = Instant::now();
    let threads: Vec<_> = (0..CLOSED_CLIENTS)
        .map(|_| {
            let (t, lat, errors) = (t.clone(), lat.clone(), errors.clone());
            std::thread::spawn(move || {
                let agent = Target::agent();
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    if t.pair(&agent) {
                        lat.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(t0.elapsed());
                    } else {
                        *errors.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                    }
                }
            })
        })
        .collect();
    for th in threads {
        let _ = th.join();
    }
    let took = start.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *lat.lock().unwrap_or_else(|e| e.into_inner()));
    let errors = *errors.lock().unwrap_or_else(|e| e.into_inner());
    let n = lat.len();
    println!(
        "issue + sign capacity: {:.1} pairs/s at {CLOSED_CLIENTS} clients, p99 {:.1}ms, {errors} errors (target >= 150 pairs/s); the generator used {:.2} ms of CPU per pair",
        n as f64 / took,
        p99_ms(&mut lat),
        (own_cpu() - cpu0).as_secs_f64() * 1000.0 / (n.max(1) as f64),
    );
}

fn open_loop(t: &Arc<Target>, secs: f64, rate: f64) {
    let (tx, rx) = mpsc::channel::<Instant>();
    let rx = Arc::new(Mutex::new(rx));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0usize));
    let threads: Vec<_> = (0..OPEN_CLIENTS)
        .map(|_| {
            let (t, rx, lat, errors) = (t.clone(), rx.clone(), lat.clone(), errors.clone());
            std::thread::spawn(move || {
                let agent = Target::agent();
                loop {
                    let due = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                        Ok(due) => due,
                        Err(_) => return,
                    };
                    if t.pair(&agent) {
                        lat.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(due.elapsed());
                    } else {
                        *errors.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    let n = (secs * rate) as u64;
    for i in 0..n {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if tx.send(at).is_err() {
            break;
        }
    }
    drop(tx);
    for th in threads {
        let _ = th.join();
    }
    let mut lat = std::mem::take(&mut *lat.lock().unwrap_or_else(|e| e.into_inner()));
    let errors = *errors.lock().unwrap_or_else(|e| e.into_inner());
    let p99 = p99_ms(&mut lat);
    let median = lat
        .get(lat.len() / 2)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "issue + sign at {rate:.0}/s: p99 {p99:.1}ms, median {median:.1}ms, {} pairs, {errors} errors (target p99 < 50ms)",
        lat.len()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        return Err(
            "usage: bench_serve_load BASE_URL CLERK_TOKEN OFFICIAL_TOKEN DATA.json SECONDS RATE"
                .into(),
        );
    }
    let data: serde_json::Value = serde_json::from_slice(&std::fs::read(&args[4])?)?;
    let target = Arc::new(Target {
        base: args[1].trim_end_matches('/').to_owned(),
        clerk: args[2].clone(),
        official: args[3].clone(),
        issue_body: serde_json::json!({"kind": "signature", "data": data}).to_string(),
    });
    let secs: f64 = args[5].parse()?;
    let rate: f64 = args[6].parse()?;
    closed_loop(&target, secs);
    open_loop(&target, secs, rate);
    Ok(())
}
