//! Archive stories against a real S3 server: Garage on loopback. Stories that stop the server or
//! touch its files start an instance of their own; the others share the one `.ci/run` starts
//! (each under its own key prefix). Garage must be installed with `bash .ci/garage.sh install`
//! (`.ci/run` does it).

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support;
use crate::support::{
    Background, Garage, Kyso, SilentServer, outbox_rows, settings_of, store_keys,
};
use kyso::archive::{ArchiveStore, ObjectKey};

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn documents_round_trip_through_garage_with_checksums_including_a_multipart_one() {
    let garage = Garage::shared();
    let mut k = Kyso::on_garage(&garage);
    k.set(
        "KYSO_ARCHIVE_MULTIPART_THRESHOLD",
        &(6 * 1024 * 1024).to_string(),
    );
    k.set("KYSO_ARCHIVE_PART_SIZE", &(5 * 1024 * 1024).to_string());
    let mut files = k.write_docs(0..60);
    let big = k.dir.path().join("annex.pdf");
    let mut big_bytes = support::signed_pdf(1000);
    big_bytes.resize(13 * 1024 * 1024 + 17, b'%');
    std::fs::write(&big, &big_bytes).unwrap();
    files.push(big);

    let keys = k.put(&files, "contract");
    let drained = k.ok(&["archive", "drain"]);
    assert!(drained.contains("archived 61"), "{drained}");
    assert_eq!(k.counts(), (0, 0, 61));
    let verify = k.ok(&["archive", "verify"]);
    assert!(
        verify.contains("verified 61 archived object(s) in s3://") && verify.contains(": 0 bad"),
        "{verify}"
    );

    // Read back through the library: the bytes are the ones submitted, checked against the key.
    let settings = settings_of(&k);
    let store = kyso::archive::AnyStore::open(&settings).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = rt
        .block_on(store.get(&ObjectKey::parse(keys.last().unwrap()).unwrap()))
        .unwrap();
    assert_eq!(
        got.as_ref(),
        big_bytes.as_slice(),
        "multipart object round trip"
    );
    let got = rt
        .block_on(store.get(&ObjectKey::parse(&keys[3]).unwrap()))
        .unwrap();
    assert_eq!(got.as_ref(), support::signed_pdf(3).as_slice());

    // Garage does not implement Object Lock: archived, and the missing retention is reported.
    let status = k.ok(&["archive", "status", "--probe"]);
    assert!(status.contains("reachable: yes"), "{status}");
    assert!(
        status.contains("object lock: unavailable") && status.contains("NotImplemented"),
        "{status}"
    );
    assert!(
        status.contains("61 archived document(s) without the retention"),
        "{status}"
    );
}

#[test]
fn a_damaged_object_in_garage_is_named_by_verify() {
    let garage = Garage::shared();
    let k = Kyso::on_garage(&garage);
    let files = k.write_docs(0..12);
    let keys = k.put(&files, "signature");
    k.ok(&["archive", "drain"]);

    // The store returns other bytes under a document's key (a bad disk, a bad restore).
    let settings = settings_of(&k);
    let kyso::archive::AnyStore::S3(s3) = kyso::archive::AnyStore::open(&settings).unwrap() else {
        panic!("s3")
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut damaged = support::signed_pdf(5);
    damaged[2000] ^= 0x20;
    rt.block_on(s3.put_raw_for_tests(&keys[5], damaged))
        .unwrap();

    let out = k.run(&["archive", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = text.lines().filter(|l| l.starts_with("BAD")).collect();
    assert_eq!(bad.len(), 1, "{text}");
    assert!(
        bad[0].contains(&keys[5]) && bad[0].contains("integrity"),
        "{text}"
    );
}

#[test]
fn a_byte_flipped_in_garages_own_files_is_detected() {
    let garage = Garage::start();
    let k = Kyso::on_garage(&garage);
    let files = k.write_docs(0..1);
    let keys = k.put(&files, "signature");
    k.ok(&["archive", "drain"]);

    // Garage keeps object data as block files under its data directory; flip a byte in one.
    let mut blocks = Vec::new();
    collect_files(&garage.data_dir(), &mut blocks);
    let block = blocks
        .iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 1000))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a data block")
        .clone();
    let mut data = std::fs::read(&block).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&block, &data).unwrap();

    let out = k.run(&["archive", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("BAD") && l.contains(&keys[0]) && l.contains("cut short")),
        "{text}"
    );
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out)
        } else {
            out.push(p)
        }
    }
}

#[test]
fn signing_goes_on_while_garage_is_down_and_the_backlog_drains_when_it_returns() {
    let garage = Garage::start();
    let k = Kyso::on_garage(&garage);
    let worker = Background::spawn(k.command(&["archive", "run"]));
    garage.pause();

    // 100 documents, ten per command, as a counter would sign them through a day.
    let files = k.write_docs(0..100);
    let started = Instant::now();
    for chunk in files.chunks(10) {
        assert_eq!(k.put(chunk, "signature").len(), 10);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(30),
        "recording never waits for S3 ({elapsed:?})"
    );
    // Every document has been tried against the stopped server and failed with the reason.
    wait_for(
        "every document to fail once",
        Duration::from_secs(20),
        || k.counts().1 == 100,
    );
    let s = k.status();
    assert!(
        s["failures"][0][0]
            .as_str()
            .unwrap()
            .contains("cannot reach S3 endpoint"),
        "{s}"
    );
    // Keep it down long enough for many failing passes: the worker must neither flood its log
    // nor stop.
    std::thread::sleep(Duration::from_secs(3));
    let (_, _, archived) = k.counts();
    assert_eq!(archived, 0);
    let lines = worker.log().lines().count();
    assert!(
        lines < 20,
        "one warning per failing pass floods the log: {lines} lines\n{}",
        worker.log()
    );

    garage.resume();
    let resumed = Instant::now();
    wait_for("the backlog to drain", Duration::from_secs(60), || {
        k.counts().2 == 100
    });
    eprintln!(
        "backlog of 100 drained {:?} after Garage resumed",
        resumed.elapsed()
    );
    let (status, log) = worker.terminate();
    assert!(
        status.success(),
        "the worker stops cleanly on SIGTERM\n{log}"
    );
    assert!(
        log.contains("cannot reach S3 endpoint"),
        "it said why it waited\n{log}"
    );
    assert!(
        log.contains("answers again"),
        "it said the store came back\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log that is not a terminal\n{log}"
    );

    let stored = store_keys(&k);
    assert_eq!(stored.len(), 100, "none duplicated, none lost");
    let rows: std::collections::BTreeSet<String> =
        outbox_rows(&k).into_iter().map(|(key, _)| key).collect();
    let stored: std::collections::BTreeSet<String> =
        stored.into_iter().map(|(key, _)| key).collect();
    assert_eq!(rows, stored);
    assert!(
        k.ok(&["archive", "verify"])
            .contains("verified 100 archived object(s)")
    );
}

#[test]
fn a_store_that_accepts_connections_but_never_answers_costs_seconds() {
    let silent = SilentServer::start();
    let mut k = Kyso::new();
    k.set("KYSO_ARCHIVE_BACKEND", "s3")
        .set(
            "KYSO_ARCHIVE_ENDPOINT",
            &format!("http://127.0.0.1:{}", silent.port),
        )
        .set("KYSO_ARCHIVE_BUCKET", "b")
        .set("KYSO_ARCHIVE_ACCESS_KEY_ID", "GK0")
        .set("KYSO_ARCHIVE_SECRET_ACCESS_KEY", "s")
        .set("KYSO_ARCHIVE_READ_TIMEOUT_MS", "1000")
        .set("KYSO_ARCHIVE_TIMEOUT_MS", "60000")
        .set("KYSO_ARCHIVE_CONCURRENCY", "2");
    let files = k.write_docs(0..4);
    k.put(&files, "signature");
    let started = Instant::now();
    let out = k.run(&["archive", "drain", "--passes", "1"]);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    // Four documents, two slots: two rounds of one first-byte limit each, not of 60 s.
    assert!(
        took < Duration::from_secs(15),
        "drain took {took:?}: {text}"
    );
    assert!(
        text.contains("timed out") && text.contains("archive.read_timeout_ms"),
        "{text}"
    );
    assert_eq!(k.counts(), (0, 4, 0));
}

#[test]
fn crashes_at_random_moments_lose_nothing_on_garage() {
    let garage = Garage::start();
    let k = Kyso::on_garage(&garage);
    support::kill_loop(&k, 20);
}

#[test]
fn wrong_credentials_hold_documents_back_with_the_reason_until_fixed() {
    let garage = Garage::shared();
    let mut k = Kyso::on_garage(&garage);
    let good = k.env["KYSO_ARCHIVE_SECRET_ACCESS_KEY"].clone();
    k.set(
        "KYSO_ARCHIVE_SECRET_ACCESS_KEY",
        "0000000000000000000000000000000000000000000000000000000000000000",
    );
    let files = k.write_docs(0..3);
    k.put(&files, "contract");

    let out = k.run(&["archive", "drain"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("S3 refused the credentials"), "{text}");
    assert!(
        !text.contains("0000000000000000"),
        "the secret is never printed"
    );

    // The worker keeps trying and says why.
    let mut worker = k
        .command(&["archive", "run"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    worker.kill().unwrap();
    let out = worker.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("S3 refused the credentials"), "{err}");
    assert!(!err.contains("0000000000000000"));
    let s = k.status();
    assert_eq!(s["failed"].as_u64(), Some(3));
    assert!(
        s["oldest_waiting"]["attempts"].as_u64().unwrap() >= 3,
        "{s}"
    );

    k.set("KYSO_ARCHIVE_SECRET_ACCESS_KEY", &good);
    k.ok(&["archive", "drain"]);
    assert_eq!(k.counts(), (0, 0, 3));
    assert!(k.ok(&["archive", "verify"]).contains(": 0 bad"));
}

#[test]
fn a_missing_bucket_holds_documents_back_with_the_reason_until_fixed() {
    let garage = Garage::shared();
    let mut k = Kyso::on_garage(&garage);
    let bucket = k.env["KYSO_ARCHIVE_BUCKET"].clone();
    k.set("KYSO_ARCHIVE_BUCKET", "no-such-bucket");
    let files = k.write_docs(0..3);
    k.put(&files, "birth-extract");
    let out = k.run(&["archive", "drain"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bucket \"no-such-bucket\" does not exist"),
        "{text}"
    );
    let probe = k.ok(&["archive", "status", "--probe"]);
    assert!(
        probe.contains("reachable: no") && probe.contains("does not exist"),
        "{probe}"
    );
    assert_eq!(k.counts(), (0, 3, 0));

    k.set("KYSO_ARCHIVE_BUCKET", &bucket);
    k.ok(&["archive", "drain"]);
    assert_eq!(k.counts(), (0, 0, 3));
}

#[test]
fn required_retention_on_a_server_without_object_lock_holds_documents_back() {
    let garage = Garage::shared();
    let mut k = Kyso::on_garage(&garage);
    k.set("KYSO_ARCHIVE_OBJECT_LOCK", "required");
    let files = k.write_docs(0..2);
    k.put(&files, "contract");
    let out = k.run(&["archive", "drain"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Object Lock retention is required") && text.contains("NotImplemented"),
        "{text}"
    );
    assert_eq!(k.counts(), (0, 2, 0));
    // Retention not wanted for this kind: the same server takes it.
    k.set("KYSO_ARCHIVE_RETENTION", "contract=none");
    k.ok(&["archive", "drain"]);
    assert_eq!(k.counts(), (0, 0, 2));
}

#[test]
fn a_password_in_the_endpoint_url_is_never_shown_or_stored() {
    // A closed port: every attempt fails, with the endpoint in the reason.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut k = Kyso::new();
    k.set("KYSO_ARCHIVE_BACKEND", "s3")
        .set(
            "KYSO_ARCHIVE_ENDPOINT",
            &format!("http://archivist:hunter2-secret@127.0.0.1:{port}"),
        )
        .set("KYSO_ARCHIVE_BUCKET", "b")
        .set("KYSO_ARCHIVE_ACCESS_KEY_ID", "GK0")
        .set("KYSO_ARCHIVE_SECRET_ACCESS_KEY", "s");
    let files = k.write_docs(0..2);
    k.put(&files, "contract");
    let drain = k.run(&["archive", "drain", "--passes", "1"]);
    let status = k.run(&["archive", "status", "--probe"]);
    let json = k.ok(&["archive", "status", "--json"]);
    let settings = settings_of(&k);
    let reg = kyso::registry::Registry::open(&settings.registry_path()).unwrap();
    let stored: Vec<String> = kyso::archive::Outbox::new(&settings)
        .all(&reg.db())
        .unwrap()
        .into_iter()
        .filter_map(|i| i.last_error)
        .collect();
    assert_eq!(stored.len(), 2);
    let shown = format!(
        "{}{}{}{}{json}{}",
        String::from_utf8_lossy(&drain.stdout),
        String::from_utf8_lossy(&drain.stderr),
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr),
        stored.join("\n")
    );
    assert!(
        shown.contains(&format!("http://***@127.0.0.1:{port}")),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("archivist"), "{shown}");
}
