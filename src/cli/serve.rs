//! `kyso serve`: the HTTP service on the configured address, with the archive worker beside it.
//! SIGTERM or Ctrl-C stops accepting connections, lets the requests in flight finish, and
//! stops the worker between passes: nothing is left half-written.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use kyso::http::Server;

use super::Context;
use super::output::{errln, outln};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (overrides `[server] listen` and KYSO_LISTEN).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Do not run the archive worker in this process (another node or process runs it).
    #[arg(long)]
    no_archive_worker: bool,
    /// Development mode only: the development PKI whose demo commune and users are seeded.
    #[arg(long, value_name = "DIR", default_value = "keys-dev")]
    keys: std::path::PathBuf,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let mut settings = ctx.settings.clone();
    if let Some(l) = args.listen {
        settings.server.listen = l;
    }
    if settings.development {
        // The development PKI is the trust anchor and chain unless configured otherwise.
        if settings.trust.is_empty() {
            settings.trust = vec![args.keys.join("root-ca.pem")];
        }
        if settings.chain.is_empty() {
            settings.chain = vec![args.keys.join("intermediate-ca.pem")];
        }
    }
    let settings = settings.checked()?;
    if settings.development {
        seed(&settings, &args.keys)?;
    }
    // Use cases run on the blocking pool, at most two per core at once (`http::State`). Left
    // to itself tokio starts a new blocking thread whenever none is idle at the instant a task
    // is handed over, and under a burst of requests the pool grew to dozens of threads, each
    // keeping its own allocator cache: peak memory followed the thread count, not the work.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cores * 2 + 4)
        .build()
        .context("cannot start the async runtime")?;
    let app = Arc::new(kyso::app::App::new(settings.clone()));
    // The archive worker reads the time from the application's clock.
    let worker_clock: kyso::archive::worker::Now = {
        let app = Arc::clone(&app);
        Arc::new(move || app.now())
    };
    // The worker's registry connection comes from the application's pool, so that its commits
    // share the pool's grouped fsync and never hold SQLite's write lock while waiting for the
    // disk (requests queue behind a lock held across an fsync).
    let worker_registry = if args.no_archive_worker {
        None
    } else {
        Some(app.registry()?)
    };
    runtime.block_on(async move {
        let server = Server::bind(app, &settings.server.listen).await?;
        let addr = server.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker = match worker_registry {
            None => None,
            Some(registry) => Some(spawn_worker(
                &settings,
                registry,
                stop_rx.clone(),
                worker_clock,
            )?),
        };
        outln!(
            "kyso serving on http://{addr} (public verification: {}/v/ID)",
            settings.base_url.trim_end_matches('/')
        )?;
        let mut server_stop = stop_rx.clone();
        let serving = tokio::spawn(server.run(async move {
            let _ = server_stop.wait_for(|s| *s).await;
        }));
        super::shutdown_signal().await;
        errln!("kyso: stopping: finishing requests in flight");
        let _ = stop_tx.send(true);
        serving.await.context("the server task failed")??;
        if let Some(w) = worker {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// The archive worker on its own thread with its own small runtime (it keeps a registry
/// connection and runs passes one after another), stopped by `stop`.
fn spawn_worker(
    settings: &kyso::config::Settings,
    registry: kyso::registry::Registry,
    mut stop: tokio::sync::watch::Receiver<bool>,
    now: kyso::archive::worker::Now,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let store = kyso::archive::AnyStore::open(settings)?;
    let mut worker = kyso::archive::worker::Worker::new(settings, store, registry, now)?;
    let settings = settings.clone();
    Ok(std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            errln!("kyso: archive worker: cannot start its runtime");
            return;
        };
        rt.block_on(async move {
            tokio::select! {
                r = worker.run(async move {
                    let _ = stop.wait_for(|s| *s).await;
                }) => {
                    if let Err(e) = r {
                        errln!("kyso: archive worker stopped: {e}");
                    }
                }
                // Documents owing long-term material (poor links at signing) get it here.
                () = super::archive::settle_owed_forever(settings) => {}
            }
        });
    }))
}

/// Development mode: the demo commune of `keys` and one user per role, unless present.
fn seed(settings: &kyso::config::Settings, keys: &std::path::Path) -> anyhow::Result<()> {
    if !keys.join("root-ca.pem").exists() {
        anyhow::bail!(
            "no development PKI in {} (run from the repository root, or pass --keys)",
            keys.display()
        );
    }
    let app = kyso::app::App::new(settings.clone());
    if let Some(d) = kyso::app::demo::ensure_commune(&app, keys)? {
        errln!("kyso: registered the demo commune (KT. delegation {d})");
    }
    let made = kyso::app::demo::ensure_users(&app)?;
    if !made.is_empty() {
        errln!("kyso: development users (passwords in README.md):");
        for (name, _, role, _, password) in kyso::app::demo::DEV_USERS {
            if made.contains(name) {
                errln!("  {name:<14} {:<9} {password}", role.as_str());
            }
        }
    }
    Ok(())
}
