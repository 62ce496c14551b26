//! The statements behind the service's busy paths read indexes, not whole tables.
//!
//! Every request of the issue + sign workload, the signing queues, the QR code's page, an upload to verify, a
//! sign-in and an archive worker pass are run on a fresh registry while the statements they run
//! are recorded; SQLite's planner is then asked how it would run each one. A statement that
//! reads a growing table whole (documents, versions, the audit log, the outbox...) fails the
//! test, naming the statement: such a statement is fast in tests and slows the service down a
//! little more with every certification issued.

use std::path::Path;

use super::sign::DocumentSign;
use super::{App, demo, issue, sign, users, verify};
use crate::registry::{Registry, statements};

fn sample() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/signature/sample.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_busy_paths_read_no_growing_table_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::config::Settings::from_toml("development = true").unwrap();
    settings.data_dir = dir.path().to_path_buf();
    let app = App::new(settings.clone());
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-dev");
    demo::ensure_commune(&app, &keys).unwrap();
    demo::ensure_users(&app).unwrap();
    let (_, secret) = users::create_token(&app, "admin", "van-thu", "plans").unwrap();
    // A document issued and signed before recording: the register is not empty.
    let first = issue::issue(&app, "van-thu", "signature", &sample()).unwrap();
    sign::sign_document(
        &app,
        "pho-chu-tich",
        "pho-chu-tich",
        &first.id,
        &DocumentSign::default(),
    )
    .unwrap();

    statements::start();
    let clerk = users::token_principal(&app, &secret).unwrap();
    assert!(clerk.is_some());
    let started = users::sign_in(&app, "van-thu", "dev-clerk-password", "127.0.0.1").unwrap();
    assert!(users::session(&app, &started.token).unwrap().is_some());
    let issued = issue::issue(&app, "van-thu", "signature", &sample()).unwrap();
    for official in ["pho-chu-tich", "con-dau"] {
        let queue = super::queue::signing_queue(&app, official).unwrap();
        assert!(
            queue.iter().any(|q| q.document.id == issued.id),
            "{official}'s queue"
        );
        sign::sign_document(
            &app,
            official,
            official,
            &issued.id,
            &DocumentSign::default(),
        )
        .unwrap();
    }
    let (_, _, delivered) = issue::current_version(&app, &issued.id).unwrap();
    verify::public_document(&app, &issued.id).unwrap();
    let policy = verify::policy(&app).unwrap();
    verify::verify_upload(&app, &delivered, &policy).unwrap();
    let store = crate::archive::AnyStore::open(&settings).unwrap();
    let records = Registry::open(&settings.registry_path()).unwrap();
    let mut worker = crate::archive::worker::Worker::new(
        &settings,
        store,
        records,
        std::sync::Arc::new(time::OffsetDateTime::now_utc),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(worker.pass(true)).unwrap();
    // What the worker asks between passes.
    let outbox = crate::archive::Outbox::new(&settings);
    outbox.next_due_ms(&app.registry().unwrap().db()).unwrap();
    let seen = statements::take();

    // The recording itself works: the paths above run dozens of distinct statements.
    assert!(seen.len() > 30, "only {} statements recorded", seen.len());
    let scans = statements::full_scans(&app.registry().unwrap(), &seen);
    let report: Vec<String> = scans
        .iter()
        .map(|(sql, plan)| format!("{}\n    {}", sql.trim(), plan.join("\n    ")))
        .collect();
    assert!(
        scans.is_empty(),
        "statements that read a growing table whole:\n{}",
        report.join("\n")
    );
}
