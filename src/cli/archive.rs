//! `kyso archive …`: put documents into the outbox, run the worker, show status, audit the store.
//!
//! Exit codes: 0 success; 1 the command could not run (one line on stderr); 2 `verify` found
//! damaged or missing objects, or `drain` left documents waiting (both name what and why).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use kyso::archive::outbox::{Outbox, Status};
use kyso::archive::worker::Worker;
use kyso::archive::{AnyStore, ArchiveStore, LockSupport, SubmitRequest};
use kyso::registry::Registry;

use super::Context;
use super::output::{errln, outln};

/// Archive of signed documents.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    command: ArchiveCommand,
}

#[derive(Debug, Subcommand)]
enum ArchiveCommand {
    /// Record files in the archive outbox (durable locally at once; uploaded by the worker).
    Put {
        /// Signed documents.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Document kind, which chooses the retention: a kind of the template catalog
        /// (`kyso kinds`: signature, contract, birth-extract, …) or `default`.
        #[arg(long)]
        kind: String,
        /// Commune code for the object key (default: archive.commune).
        #[arg(long)]
        commune: Option<String>,
        /// Date for the object key, YYYY-MM-DD (default: today, Vietnam time).
        #[arg(long)]
        date: Option<String>,
    },
    /// Upload waiting documents until the outbox is empty or nothing more goes through.
    Drain {
        /// Passes over the outbox at most.
        #[arg(long, default_value_t = 3)]
        passes: usize,
    },
    /// Run the worker until stopped (SIGINT or SIGTERM), retrying failures with backoff.
    Run,
    /// Pending, failed and archived counts, the oldest waiting document, failure reasons.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also contact the store: reachability and Object Lock support.
        #[arg(long)]
        probe: bool,
    },
    /// Re-read archived objects and check each against the registry's digest.
    Verify {
        /// Check a random sample of this many objects instead of all.
        #[arg(long)]
        sample: Option<usize>,
    },
}

pub fn run(ctx: &Context, args: ArchiveArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ArchiveCommand::Put {
            files,
            kind,
            commune,
            date,
        } => put(ctx, &files, &kind, commune.as_deref(), date.as_deref()),
        ArchiveCommand::Drain { passes } => {
            let rt = runtime()?;
            settle_owed(ctx, &rt)?;
            rt.block_on(drain(ctx, passes))
        }
        ArchiveCommand::Run => runtime()?.block_on(run_worker(ctx)),
        ArchiveCommand::Status { json, probe } => runtime()?.block_on(status(ctx, json, probe)),
        ArchiveCommand::Verify { sample } => runtime()?.block_on(verify(ctx, sample)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn put(
    ctx: &Context,
    files: &[PathBuf],
    kind: &str,
    commune: Option<&str>,
    date: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let date = date
        .map(|d| {
            time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                .with_context(|| format!("invalid --date {d:?} (expected YYYY-MM-DD)"))
        })
        .transpose()?
        .unwrap_or_else(|| kyso::archive::outbox::date_in_vietnam(ctx.app.now()));
    let settings = &ctx.settings;
    let catalog = kyso::templates::Catalog::load().context("templates")?;
    let registry = Registry::open(&settings.registry_path())
        .map_err(|e| disk_hint(e.into(), &settings.data_dir))
        .context("cannot open the registry")?;
    let outbox = Outbox::new(settings);
    for file in files {
        let size = std::fs::metadata(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .len();
        if size > settings.archive.max_document_size {
            anyhow::bail!(
                "{}: {size} bytes exceeds archive.max_document_size ({})",
                file.display(),
                settings.archive.max_document_size
            );
        }
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        kyso::archive::check_document(&bytes, kind, &catalog)
            .with_context(|| format!("{}: not recorded", file.display()))?;
        let source = file.display().to_string();
        let done = outbox
            .submit(
                &registry.db(),
                SubmitRequest {
                    bytes: &bytes,
                    kind,
                    commune,
                    date,
                    source: Some(&source),
                },
            )
            .map_err(|e| disk_hint(e.into(), &settings.data_dir))
            .with_context(|| format!("{}: not recorded", file.display()))?;
        // One line per document, printed only once it is durable and recorded.
        outln!(
            "{} {} {} {}",
            if done.new { "queued" } else { "known" },
            done.id,
            done.key,
            done.state.as_str()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// SQLite reports a full disk as a generic I/O error when it fails to grow its shared-memory
/// file; say what that most likely means.
fn disk_hint(err: anyhow::Error, data_dir: &std::path::Path) -> anyhow::Error {
    let text = format!("{err:#}");
    if text.contains("disk I/O error") || text.contains("disk is full") {
        err.context(format!("is the disk holding {} full?", data_dir.display()))
    } else {
        err
    }
}

fn worker(ctx: &Context) -> anyhow::Result<Worker<AnyStore, Registry>> {
    let store = AnyStore::open(&ctx.settings)?;
    let registry =
        Registry::open(&ctx.settings.registry_path()).context("cannot open the registry")?;
    let app = std::sync::Arc::clone(&ctx.app);
    Ok(Worker::new(
        &ctx.settings,
        store,
        registry,
        std::sync::Arc::new(move || app.now()),
    )?)
}

/// Adds the long-term material documents still owe (`[ltv]`), now that the link may be back:
/// each long-term version joins the outbox before the drain uploads it.
fn settle_owed(ctx: &Context, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    if kyso::app::ltv::owed_count(&ctx.app)? == 0 {
        return Ok(());
    }
    let outbox = Outbox::new(&ctx.settings);
    let store = AnyStore::open(&ctx.settings)?;
    let settled = kyso::app::ltv::settle_owed(&ctx.app, |item| {
        outbox
            .read_staged(item)
            .ok()
            .or_else(|| rt.block_on(store.get(&item.key)).ok())
            .map(|b| b.to_vec())
    })?;
    outln!(
        "long-term material added to {} document(s), {} still owe it",
        settled.added,
        settled.still_owed.len()
    )?;
    for (sha, reason) in &settled.still_owed {
        outln!("ltv owed {sha}: {reason}")?;
    }
    Ok(())
}

async fn drain(ctx: &Context, passes: usize) -> anyhow::Result<ExitCode> {
    let mut w = worker(ctx)?;
    let (report, waiting) = w.drain(passes).await?;
    outln!(
        "archived {} ({} already in the store), {} attempt(s) failed, {} waiting; store {}",
        report.archived,
        report.already_present,
        report.failed,
        waiting,
        w.store().describe()
    )?;
    if waiting == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    for (reason, n) in &report.reasons {
        outln!("failing ({n}): {reason}")?;
    }
    Ok(ExitCode::from(2))
}

async fn run_worker(ctx: &Context) -> anyhow::Result<ExitCode> {
    let mut w = worker(ctx)?;
    errln!(
        "kyso: archive worker started; store {}",
        w.store().describe()
    );
    tokio::select! {
        r = w.run(super::shutdown_signal()) => r?,
        () = settle_owed_forever(ctx.settings.clone()) => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// How often a running worker retries the documents that owe long-term material.
const LTV_RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// Beside a running archive worker (`kyso archive run`, `kyso serve`), on a blocking thread
/// (fetching is blocking I/O): at start and then every [`LTV_RETRY`], adds the long-term
/// material documents still owe, as the drain does; at start and then every `[ltv]
/// renew_every_secs`, renews the long-term material of archived records whose newest
/// timestamp stops proving within the margin (`kyso::app::ltv::renew_due`). Never returns;
/// the caller drops it on shutdown.
pub(super) async fn settle_owed_forever(settings: kyso::config::Settings) {
    let app = std::sync::Arc::new(kyso::app::App::new(settings.clone()));
    let store = match AnyStore::open(&settings) {
        Ok(s) => std::sync::Arc::new(s),
        Err(e) => {
            tracing::warn!(%e, "long-term material will not be retried: no archive store");
            return std::future::pending().await;
        }
    };
    let renew = settings.ltv.renew && !settings.timestamp.urls.is_empty();
    if settings.ltv.renew && !renew {
        tracing::info!(
            "ltv: no TSA configured ([timestamp] urls): archived records are not renewed"
        );
    }
    let renew_every = std::time::Duration::from_secs(settings.ltv.renew_every_secs.max(1));
    let start = tokio::time::Instant::now();
    let (mut next_settle, mut next_renew) = (start, start);
    loop {
        let now = tokio::time::Instant::now();
        let (settle_now, renew_now) = (now >= next_settle, renew && now >= next_renew);
        if settle_now {
            next_settle = now + LTV_RETRY;
        }
        if renew_now {
            next_renew = now + renew_every;
        }
        let (app, store, settings) = (app.clone(), store.clone(), settings.clone());
        let result = tokio::task::spawn_blocking(move || {
            let outbox = Outbox::new(&settings);
            let handle = tokio::runtime::Handle::current();
            let mut bytes_of = |item: &kyso::archive::outbox::Item| {
                outbox
                    .read_staged(item)
                    .ok()
                    .or_else(|| handle.block_on(store.get(&item.key)).ok())
                    .map(|b| b.to_vec())
            };
            let settled = if settle_now && kyso::app::ltv::owed_count(&app)? > 0 {
                Some(kyso::app::ltv::settle_owed(&app, &mut bytes_of)?)
            } else {
                None
            };
            let renewed = if renew_now {
                Some(kyso::app::ltv::renew_due(&app, &mut bytes_of)?)
            } else {
                None
            };
            Ok::<_, kyso::app::AppError>((settled, renewed))
        })
        .await;
        match result {
            Ok(Ok((settled, renewed))) => {
                if let Some(s) = settled {
                    if s.added > 0 {
                        tracing::info!("ltv: long-term material added to {} document(s)", s.added);
                    }
                    if !s.still_owed.is_empty() {
                        tracing::warn!(
                            "ltv: {} document(s) still owe long-term material: {}",
                            s.still_owed.len(),
                            s.still_owed[0].1
                        );
                    }
                }
                if let Some(r) = renewed {
                    log_renewals(&r);
                }
            }
            Ok(Err(e)) => tracing::warn!(%e, "ltv: long-term material could not be handled"),
            Err(e) => tracing::warn!(%e, "ltv: the long-term material task failed"),
        }
        let wake = if renew {
            next_settle.min(next_renew)
        } else {
            next_settle
        };
        tokio::time::sleep_until(wake).await;
    }
}

fn log_renewals(r: &kyso::app::ltv::Renewals) {
    for (doc, sha, why) in &r.renewed {
        tracing::info!("ltv: renewed {doc} as archive version {sha} ({why})");
    }
    if let Some((doc, why)) = r.ineffective.first() {
        // The TSA's own certificate or algorithm ends within the margin: only the TSA's
        // operator can fix that, so say it loudly, once per pass.
        tracing::warn!(
            "ltv: {} renewal(s) do not reach beyond the margin (first: {doc}: {why}); tried again in 30 days",
            r.ineffective.len()
        );
    }
    if let Some((doc, why)) = r.failed.first() {
        tracing::warn!(
            "ltv: {} record(s) due for renewal could not be renewed (first: {doc}: {why}); retried later",
            r.failed.len()
        );
    }
}

async fn status(ctx: &Context, json: bool, probe: bool) -> anyhow::Result<ExitCode> {
    let registry =
        Registry::open(&ctx.settings.registry_path()).context("cannot open the registry")?;
    let s: Status = Outbox::new(&ctx.settings).status(&registry.db())?;
    let store = AnyStore::open(&ctx.settings)?;
    let probed = if probe {
        Some(probe_store(&store).await)
    } else {
        None
    };
    let ltv_owed = kyso::app::ltv::owed_count(&ctx.app)?;
    let ltv_renewals = kyso::app::ltv::renewal_count(&ctx.app)?;
    if json {
        let mut v = serde_json::to_value(&s)?;
        v["store"] = store.describe().into();
        v["ltv_owed"] = ltv_owed.into();
        v["ltv_renewals"] = ltv_renewals.into();
        if let Some((reach, lock)) = &probed {
            v["reachable"] = reach.clone().map_or_else(|e| e.into(), |()| true.into());
            v["object_lock"] = lock.clone().into();
        }
        outln!("{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("store:    {}", store.describe())?;
    outln!("pending:  {}", s.pending)?;
    outln!("failed:   {} (retried automatically)", s.failed)?;
    outln!("archived: {}", s.archived)?;
    outln!("ltv owed: {ltv_owed} (documents whose DSS / document timestamp is still owed)")?;
    outln!(
        "ltv renewals: {ltv_renewals} (archive versions with a new DSS and document timestamp)"
    )?;
    if let Some(o) = &s.oldest_waiting {
        outln!(
            "oldest waiting: #{} since {} ({} attempt(s)) {}{}",
            o.id,
            o.since,
            o.attempts,
            o.key,
            o.source
                .as_deref()
                .map(|s| format!(" from {s}"))
                .unwrap_or_default()
        )?;
        outln!("waiting bytes: {}", s.waiting_bytes)?;
    }
    for (reason, n) in &s.failures {
        outln!("failing ({n}): {reason}")?;
    }
    if s.archived_without_retention > 0 {
        outln!(
            "retention: {} archived document(s) without the retention their kind needs (the store cannot apply it)",
            s.archived_without_retention
        )?;
    }
    if let Some((reach, lock)) = probed {
        match reach {
            Ok(()) => outln!("reachable: yes")?,
            Err(e) => outln!("reachable: no: {e}")?,
        }
        outln!("object lock: {lock}")?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn probe_store(store: &AnyStore) -> (Result<(), String>, String) {
    // A listing of a prefix that holds nothing: cheap, and it names a missing bucket or
    // refused credentials precisely (a HEAD answers those with a bare status code).
    let reach = store
        .list("kyso-probe/none/")
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let lock = match store.lock_support().await {
        Ok(LockSupport::Supported) => {
            "supported; retention is applied per document kind".to_owned()
        }
        Ok(LockSupport::Unavailable(why)) => format!("unavailable: {why}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("unknown: {e}"),
    };
    (reach, lock)
}

async fn verify(ctx: &Context, sample: Option<usize>) -> anyhow::Result<ExitCode> {
    let registry =
        Registry::open(&ctx.settings.registry_path()).context("cannot open the registry")?;
    let items = Outbox::new(&ctx.settings).archived(&registry.db(), sample)?;
    let store = AnyStore::open(&ctx.settings)?;
    let mut bad = 0usize;
    for item in &items {
        // `get` proves the bytes hash to the digest in the key; the key is the registry's, so
        // the bytes are checked against the registry too. The size is checked as well.
        let problem = match store.get(&item.key).await {
            Ok(bytes) if bytes.len() as u64 != item.size => Some(format!(
                "size {} differs from the registry's {}",
                bytes.len(),
                item.size
            )),
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        if let Some(p) = problem {
            bad += 1;
            outln!("BAD #{} {}: {p}", item.id, item.key)?;
        }
    }
    outln!(
        "verified {} archived object(s) in {}: {} bad",
        items.len(),
        store.describe(),
        bad
    )?;
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `kyso audit verify`: the chain, then the chain against the newest checkpoint in the store.
pub fn audit_verify(ctx: &Context, registry: &Registry) -> anyhow::Result<ExitCode> {
    use kyso::archive::checkpoint::{Anchor, verify_log};
    let store = AnyStore::open(&ctx.settings)?;
    let anchored = runtime()?
        .block_on(verify_log(&registry.db(), &store, &ctx.settings))
        .context("không kiểm được nhật ký với mốc kiểm / cannot check the audit log against its checkpoint")?;
    let report = &anchored.report;
    match &anchored.anchor {
        Anchor::Checkpoint { key, seq, at } => outln!(
            "checkpoint: entry {seq} signed at {at} ({key} in {})",
            store.describe()
        )?,
        // On stdout with the verdict: what the log was held against is part of the report.
        Anchor::NoCheckpoint { store } => outln!(
            "checkpoint: chưa có mốc kiểm nào trong {store}; nhật ký chỉ được kiểm với chính nó / \
             none in {store} yet; the log is checked only against itself"
        )?,
        Anchor::NotConfigured => outln!(
            "checkpoint: chưa cấu hình chứng thư kiểm toán (archive.audit_certificate); nhật ký chỉ được kiểm với chính nó / \
             no audit certificate configured; the log is checked only against itself"
        )?,
        other => outln!("checkpoint: {other:?}")?,
    }
    if report.problems.is_empty() {
        outln!("audit log intact: {} entries", report.entries)?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &report.problems {
        outln!("entry {}: {}", p.seq, p.what)?;
    }
    errln!(
        "kyso: nhật ký kiểm toán đã bị sửa / the audit log was tampered with ({} problem(s), first at entry {})",
        report.problems.len(),
        report.problems[0].seq
    );
    Ok(ExitCode::from(1))
}

/// `kyso audit checkpoint`: sign the audit head now and write it to the store.
pub fn audit_checkpoint(ctx: &Context, registry: &Registry) -> anyhow::Result<ExitCode> {
    let store = AnyStore::open(&ctx.settings)?;
    let written = runtime()?.block_on(kyso::archive::checkpoint::checkpoint_now(
        &registry.db(),
        &store,
        &ctx.settings,
        ctx.app.now(),
    ))?;
    match written {
        Some((key, c)) => outln!(
            "checkpoint of entry {} ({}) written to {} as {key}",
            c.head.seq,
            c.head.hash,
            store.describe()
        )?,
        None => outln!("the audit log is empty: nothing to anchor")?,
    }
    Ok(ExitCode::SUCCESS)
}
