//! A power cut in the middle of the rush: the server is killed with SIGKILL during a burst of
//! 200 issue + sign requests. After a restart on the same data directory, every request that
//! was answered 2xx is in the register, audited, and (for signatures) in the archive outbox;
//! the audit chain is intact.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::*;
use crate::common::served::*;

#[test]
fn after_kill_9_during_a_burst_every_answered_request_is_recorded_audited_and_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Served::start_on(&data, &[]);
    let clerk = s.token("van-thu");
    let vice = s.token("pho-chu-tich");
    let issued = Arc::new(Mutex::new(Vec::<String>::new()));
    let signed = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let addr = s.addr.clone();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (issued, signed, clerk, vice) = (issued.clone(), signed.clone(), &clerk, &vice);
            let s = &s;
            scope.spawn(move || {
                for _ in 0..50 {
                    let Some(r) = try_json(
                        s,
                        clerk,
                        "/api/v1/documents",
                        &json!({"kind": "signature", "data": signature_sample()}),
                    ) else {
                        return;
                    };
                    if r.status != 201 {
                        continue;
                    }
                    let id = r.json()["id"].as_str().unwrap().to_owned();
                    issued.lock().unwrap().push(id.clone());
                    let Some(r) =
                        try_json(s, vice, &format!("/api/v1/documents/{id}/sign"), &json!({}))
                    else {
                        return;
                    };
                    if r.status == 200 {
                        let sha = r.json()["sha256"].as_str().unwrap().to_owned();
                        signed.lock().unwrap().push((id, sha));
                    }
                }
            });
        }
        // The cut comes once the rush is under way, at a moment that varies between runs.
        let wait = 1500 + (std::process::id() % 2000) as u64;
        while started.elapsed() < Duration::from_millis(wait) && issued.lock().unwrap().len() < 150
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &s.child.id().to_string()])
            .status();
    });
    let _ = addr;
    drop(s);
    let issued = issued.lock().unwrap().clone();
    let signed = signed.lock().unwrap().clone();
    assert!(
        !issued.is_empty() && !signed.is_empty(),
        "the burst got going"
    );

    let s = Served::start_on(&data, &[]);
    let admin = s.token("admin");
    for id in &issued {
        let r = s.get(&admin, &format!("/api/v1/documents/{id}"));
        assert_eq!(
            r.status,
            200,
            "answered 201 for {id}, then lost: {}",
            r.text()
        );
    }
    let mut versions = BTreeSet::new();
    for (id, sha) in &signed {
        let d = s.get(&admin, &format!("/api/v1/documents/{id}")).json();
        assert!(
            d["versions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["sha256"] == sha.as_str()),
            "signature {sha} of {id} answered 200, then lost"
        );
        versions.insert(sha.clone());
    }
    let audit = s.get(&admin, "/api/v1/audit?limit=1000").json();
    let entries = audit.as_array().unwrap();
    for id in &issued {
        assert!(
            entries
                .iter()
                .any(|e| e["action"] == "issue" && e["subject"] == id.as_str()),
            "issue of {id} not audited"
        );
    }
    for (id, sha) in &signed {
        assert!(
            entries.iter().any(|e| e["action"] == "sign"
                && e["subject"] == id.as_str()
                && e["details"]["sha256"] == sha.as_str()),
            "signature {sha} not audited"
        );
    }
    assert_eq!(s.get(&admin, "/api/v1/audit/verify").json()["intact"], true);
    // In the outbox (or archived already): the registry's outbox knows every signed file.
    let conn = rusqlite::Connection::open(data.join("registry.sqlite3")).unwrap();
    for sha in &versions {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM archive_outbox WHERE sha256 = ?1",
                [sha],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "signed file {sha} is not in the archive outbox");
    }
}

/// A JSON POST that returns None when the server is gone (the kill).
fn try_json(s: &Served, caller: &Caller, path: &str, body: &serde_json::Value) -> Option<Res> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.json(caller, "POST", path, body)
    }))
    .ok()
}
