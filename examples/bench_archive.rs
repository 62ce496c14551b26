//! Archive throughput, driven by `bench/archive.sh`:
//!
//! * one upload at a time of 1-page signed PDFs straight to the store: documents per second
//!   and the p50 / p99 latency of one upload;
//! * recording documents in the outbox (what `kyso sign` pays per document): per second;
//! * draining a backlog of that many documents with the worker: documents per second.
//!
//! `bench_archive SIGNED.pdf UPLOADS BACKLOG`; the store comes from the usual settings
//! (`KYSO_ARCHIVE_*`), the data directory is a fresh temporary one.

use std::time::Instant;

use kyso::archive::worker::Worker;
use kyso::archive::{
    AnyStore, ArchiveStore, Bytes, ObjectKey, Outbox, Sha256, Slug, SubmitRequest,
};
use kyso::config::Settings;
use kyso::registry::Registry;

/// The allocator the `kyso` binary uses, so the figures are the binary's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn doc(base: &[u8], run: u64, n: usize) -> Vec<u8> {
    let mut b = base.to_vec();
    b.extend_from_slice(format!("\n% bench {run} {n}\n").as_bytes());
    b
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let base = std::fs::read(&args[1])?;
    let uploads: usize = args[2].parse()?;
    let backlog: usize = args[3].parse()?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    let data = tempfile::tempdir()?;
    let mut settings = Settings::load(None)?;
    settings.data_dir = data.path().to_path_buf();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // 1. Single uploads, one after the other.
    let store = AnyStore::open(&settings)?;
    let (prefix, commune) = (
        Slug::parse("bench", "prefix")?,
        Slug::parse("xa-bench", "commune")?,
    );
    let date = kyso::archive::outbox::date_in_vietnam(time::OffsetDateTime::now_utc());
    let docs: Vec<(ObjectKey, Bytes)> = (0..uploads)
        .map(|n| {
            let b = doc(&base, run, n);
            (
                ObjectKey::new(&prefix, &commune, date, Sha256::of(&b)),
                Bytes::from(b),
            )
        })
        .collect();
    let mut lat = Vec::with_capacity(uploads);
    let start = Instant::now();
    for (key, bytes) in &docs {
        let t = Instant::now();
        rt.block_on(store.put(key, bytes, None))?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let total = start.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{:<40} {:>5} docs of {} B: {:>8.1} docs/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
        format!(
            "upload, one at a time ({})",
            store.describe().split(' ').next().unwrap_or("")
        ),
        uploads,
        base.len(),
        uploads as f64 / total,
        pct(&lat, 0.50),
        pct(&lat, 0.99)
    );

    // 2. Recording a backlog in the outbox, as signing does.
    let registry = Registry::open(&settings.registry_path())?;
    let outbox = Outbox::new(&settings);
    let start = Instant::now();
    for n in 0..backlog {
        let b = doc(&base, run, uploads + n);
        outbox.submit(
            &registry.db(),
            SubmitRequest {
                bytes: &b,
                kind: "signature",
                commune: Some("xa-bench"),
                date,
                source: None,
            },
        )?;
    }
    let rec = start.elapsed().as_secs_f64();
    println!(
        "{:<40} {:>5} docs: {:>8.1} docs/s",
        "record in outbox (sign side)",
        backlog,
        backlog as f64 / rec
    );
    drop(registry);

    // 3. The worker drains the backlog.
    let registry = Registry::open(&settings.registry_path())?;
    let mut worker = Worker::new(
        &settings,
        AnyStore::open(&settings)?,
        registry,
        std::sync::Arc::new(time::OffsetDateTime::now_utc),
    )?;
    let start = Instant::now();
    let (report, waiting) = rt.block_on(worker.drain(3))?;
    let drain = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        waiting == 0,
        "{waiting} documents still waiting: {:?}",
        report.reasons
    );
    println!(
        "{:<40} {:>5} docs: {:>8.1} docs/s   ({:.1} s, concurrency {})",
        "drain backlog (worker)",
        report.archived,
        report.archived as f64 / drain,
        drain,
        settings.archive.concurrency
    );
    Ok(())
}
