//! `kyso ltv extend FILE… -o DIR`: adds a `/DSS` with fresh validation material and a document
//! timestamp (PAdES B-LTA) to signed PDFs, each written under DIR with the same file name.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kyso::app::ltv::{LtvOutcome, make_long_term};
use kyso::archive::ArchiveStore as _;
use kyso::config::LtvLevel;

use super::Context;

#[derive(Debug, clap::Subcommand)]
pub enum LtvCmd {
    /// Add validation material and a document timestamp (B-LTA) to signed PDFs.
    Extend(ExtendArgs),
    /// Renew the archived records that are due now, once: what the archive worker of `kyso
    /// serve` and `kyso archive run` does every `[ltv] renew_every_secs`.
    Renew,
}

#[derive(Debug, clap::Args)]
pub struct ExtendArgs {
    /// Only the DSS (B-LT), no document timestamp.
    #[arg(long)]
    dss_only: bool,
    /// Only files whose newest timestamp's TSA certificate expires within this many days (or
    /// that have no timestamp); the others are left alone. For a periodic run over an archive.
    #[arg(long, value_name = "DAYS")]
    due_within_days: Option<u32>,
    /// Output directory (created if needed); never the input's own directory.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    output: PathBuf,
    /// The signed PDFs.
    #[arg(value_name = "FILE.pdf", required = true)]
    files: Vec<PathBuf>,
}

pub fn run(ctx: &Context, cmd: LtvCmd) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        LtvCmd::Extend(args) => args,
        LtvCmd::Renew => return renew(ctx),
    };
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let level = if args.dss_only {
        LtvLevel::Lt
    } else {
        LtvLevel::Lta
    };
    let mut owed = 0;
    for file in &args.files {
        let Some(name) = file.file_name() else {
            bail!("{}: not a file name", file.display());
        };
        let target = args.output.join(name);
        if target.canonicalize().ok() == file.canonicalize().ok() && target.exists() {
            bail!("{}: the output would overwrite the input", file.display());
        }
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        if let Some(days) = args.due_within_days {
            let margin = time::Duration::days(i64::from(days));
            match kyso::app::ltv::renewal_due(&ctx.app, &bytes, margin)
                .with_context(|| format!("cannot read {}", file.display()))?
            {
                None => {
                    super::say(&format!(
                        "{}: chưa đến hạn / not due (its newest timestamp stays provable beyond {days} days)",
                        file.display()
                    ))?;
                    continue;
                }
                Some(why) => super::say(&format!("{}: đến hạn / due: {why}", file.display()))?,
            }
        }
        let (out, outcome) = make_long_term(&ctx.app, &bytes, level)
            .with_context(|| format!("cannot extend {}", file.display()))?;
        if let LtvOutcome::Owed { .. } = outcome {
            owed += 1;
            super::say(&format!("{}: {}", file.display(), outcome.summary()))?;
            continue;
        }
        let tmp = target.with_extension("pdf.part");
        std::fs::write(&tmp, &out).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        super::say(&format!(
            "{} -> {}: {}",
            file.display(),
            target.display(),
            outcome.summary()
        ))?;
    }
    Ok(if owed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// One renewal pass over the archive (`kyso ltv renew`); exits 3 when a record due could not be
/// renewed.
fn renew(ctx: &Context) -> anyhow::Result<ExitCode> {
    if ctx.settings.timestamp.urls.is_empty() {
        bail!("no TSA is configured ([timestamp] urls, KYSO_TSA_URLS): nothing can be renewed");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let store = kyso::archive::AnyStore::open(&ctx.settings)?;
    let outbox = kyso::archive::Outbox::new(&ctx.settings);
    let r = kyso::app::ltv::renew_due(&ctx.app, |item| {
        outbox
            .read_staged(item)
            .ok()
            .or_else(|| rt.block_on(store.get(&item.key)).ok())
            .map(|b| b.to_vec())
    })?;
    for (doc, sha, why) in &r.renewed {
        super::say(&format!("{doc}: gia hạn / renewed as {sha} ({why})"))?;
    }
    for (doc, why) in &r.failed {
        super::say(&format!("{doc}: chưa gia hạn được / not renewed: {why}"))?;
    }
    super::say(&format!(
        "{} record(s) checked, {} renewed, {} failed",
        r.checked,
        r.renewed.len(),
        r.failed.len()
    ))?;
    Ok(if r.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
