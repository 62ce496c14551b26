//! The audit log anchored in the archive store: the worker writes a checkpoint of the audit
//! head, signed with a dedicated audit key, to Garage with each batch it uploads; `kyso audit
//! verify` holds the log to the newest one. Someone who can rewrite the whole database (but not
//! sign with the audit key) can make the chain consistent again, and is still caught.

use crate::support::{Garage, Kyso, settings_of};
use kyso::archive::ArchiveStore;
use kyso::registry::Registry;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A data directory on Garage with a dedicated audit key configured.
fn kyso_with_audit_key(garage: &Garage) -> Kyso {
    let mut k = Kyso::on_garage(garage);
    let (key, cert) = kyso::archive::checkpoint::generate_audit_key(
        "kyso audit checkpoints (test)",
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let key_path = k.dir.path().join("audit.key.pem");
    let cert_path = k.dir.path().join("audit.pem");
    std::fs::write(&key_path, key).unwrap();
    std::fs::write(&cert_path, cert).unwrap();
    k.set("KYSO_ARCHIVE_AUDIT_KEY", key_path.to_str().unwrap());
    k.set(
        "KYSO_ARCHIVE_AUDIT_CERTIFICATE",
        cert_path.to_str().unwrap(),
    );
    k
}

fn registry(k: &Kyso) -> Registry {
    Registry::open(&settings_of(k).registry_path()).unwrap()
}

/// The registry's database file opened directly, as someone with access to the disk would, to
/// tamper with the log behind kyso's back.
fn raw(k: &Kyso) -> rusqlite::Connection {
    rusqlite::Connection::open(settings_of(k).registry_path()).unwrap()
}

/// Twelve entries, every third a refusal, then a batch of documents archived (which writes the
/// checkpoint of entry 12).
fn twelve_entries_and_a_batch(k: &Kyso) {
    {
        let reg = registry(k);
        for i in 0..12 {
            let action = if i % 3 == 0 { "refuse" } else { "sign" };
            kyso::audit::append(
                &reg.db(),
                "pho-chu-tich",
                action,
                &format!("doc-{i}.pdf"),
                &serde_json::json!({ "kind": "contract", "i": i }),
                time::OffsetDateTime::now_utc(),
            )
            .unwrap();
        }
    }
    let files = k.write_docs(0..3);
    k.put(&files, "contract");
    let drained = k.ok(&["archive", "drain"]);
    assert!(drained.contains("archived 3"), "{drained}");
}

fn checkpoint_keys(k: &Kyso) -> Vec<String> {
    let s = settings_of(k);
    let store = kyso::archive::AnyStore::open(&s).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(store.list(&format!("{}-audit/", s.archive.prefix)))
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

/// The chain hash as kyso computes it (length-prefixed fields, SHA-256): what an attacker who
/// read the source would recompute.
fn entry_hash(fields: [&str; 7]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for f in fields {
        ctx.update(&(f.len() as u64).to_be_bytes());
        ctx.update(f.as_bytes());
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Renumbers and re-hashes the whole chain and sets the head to its last entry, the way
/// someone with write access to the database would cover up deletions.
fn rechain(conn: &rusqlite::Connection) {
    type Row = (i64, String, String, String, String, String);
    let rows: Vec<Row> = conn
        .prepare("SELECT seq, at, actor, action, subject, details FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    conn.execute("DELETE FROM audit_log", []).unwrap();
    let mut prev = GENESIS.to_owned();
    let mut seq = 0i64;
    for (_, at, actor, action, subject, details) in rows {
        seq += 1;
        let s = seq.to_string();
        let hash = entry_hash([&prev, &s, &at, &actor, &action, &subject, &details]);
        conn.execute(
            "INSERT INTO audit_log(seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
            rusqlite::params![seq, at, actor, action, subject, details, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
    conn.execute(
        "UPDATE registry_info SET value = ?1 WHERE key = 'audit_head'",
        [format!("{seq}:{prev}")],
    )
    .unwrap();
}

fn verify(k: &Kyso) -> (i32, String) {
    let out = k.run(&["audit", "verify"]);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn each_batch_anchors_the_audit_head_in_garage_and_later_entries_still_verify() {
    let garage = Garage::shared();
    let k = kyso_with_audit_key(&garage);
    twelve_entries_and_a_batch(&k);
    let keys = checkpoint_keys(&k);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains("-audit/0000000000000012-"), "{keys:?}");

    let (code, text) = verify(&k);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("checkpoint: entry 12") && text.contains("audit log intact: 12 entries"),
        "{text}"
    );

    // Entries after the newest checkpoint are legitimate; `audit checkpoint` anchors them now.
    kyso::audit::append(
        &registry(&k).db(),
        "chu-tich",
        "sign",
        "doc-12.pdf",
        &serde_json::json!({}),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(verify(&k).0, 0);
    let out = k.ok(&["audit", "checkpoint"]);
    assert!(out.contains("checkpoint of entry 13"), "{out}");
    let (code, text) = verify(&k);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("checkpoint: entry 13"), "{text}");
}

#[test]
fn deleting_refusals_and_recomputing_the_chain_is_caught_by_the_checkpoint() {
    let garage = Garage::shared();
    let k = kyso_with_audit_key(&garage);
    twelve_entries_and_a_batch(&k);
    let reg = registry(&k);
    raw(&k)
        .execute("DELETE FROM audit_log WHERE action = 'refuse'", [])
        .unwrap();
    rechain(&raw(&k));
    // The chain is consistent again: on its own it passes.
    let own = kyso::audit::verify(&reg.db()).unwrap();
    assert!(own.problems.is_empty(), "{:?}", own.problems);
    assert_eq!(own.entries, 8);

    let (code, text) = verify(&k);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("entry 12") && text.contains("cut off"),
        "{text}"
    );

    // Padding the log back to twelve entries does not help: entry 12 has another hash.
    for i in 0..4 {
        kyso::audit::append(
            &reg.db(),
            "pho-chu-tich",
            "sign",
            &format!("filler-{i}.pdf"),
            &serde_json::json!({}),
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    }
    assert!(kyso::audit::verify(&reg.db()).unwrap().problems.is_empty());
    let (code, text) = verify(&k);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("entry 12") && text.contains("was rewritten"),
        "{text}"
    );
}

#[test]
fn cutting_the_tail_and_moving_the_head_is_caught_by_the_checkpoint() {
    let garage = Garage::shared();
    let k = kyso_with_audit_key(&garage);
    twelve_entries_and_a_batch(&k);
    let reg = registry(&k);
    let c = &raw(&k);
    c.execute("DELETE FROM audit_log WHERE seq > 9", [])
        .unwrap();
    let hash: String = c
        .query_row("SELECT hash FROM audit_log WHERE seq = 9", [], |r| r.get(0))
        .unwrap();
    c.execute(
        "UPDATE registry_info SET value = ?1 WHERE key = 'audit_head'",
        [format!("9:{hash}")],
    )
    .unwrap();
    assert!(kyso::audit::verify(&reg.db()).unwrap().problems.is_empty());

    let (code, text) = verify(&k);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("entry 12") && text.contains("now ends at entry 9"),
        "{text}"
    );
}

#[test]
fn a_checkpoint_signed_with_another_key_is_not_believed() {
    let garage = Garage::shared();
    let k = kyso_with_audit_key(&garage);
    twelve_entries_and_a_batch(&k);
    // Someone with the store's credentials but not the audit key rewrites the log and writes a
    // checkpoint of it with a key of their own.
    {
        let reg = registry(&k);
        let c = &raw(&k);
        c.execute("DELETE FROM audit_log WHERE seq > 9", [])
            .unwrap();
        rechain(c);
        // Past the real checkpoint's entry, so that the forged one is the newest.
        for i in 0..5 {
            kyso::audit::append(
                &reg.db(),
                "kyso",
                "sign",
                &format!("filler-{i}"),
                &serde_json::json!({}),
                time::OffsetDateTime::now_utc(),
            )
            .unwrap();
        }
    }
    let mut forger = kyso_with_audit_key(&garage);
    for var in ["KYSO_ARCHIVE_PREFIX", "KYSO_DATA_DIR"] {
        forger.set(var, &k.env[var].clone());
    }
    let forged = forger.ok(&["audit", "checkpoint"]);
    assert!(forged.contains("checkpoint of entry 14"), "{forged}");

    let (code, text) = verify(&k);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not by the configured audit key"), "{text}");
}
