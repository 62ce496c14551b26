//! `kyso dev-pki`: make the development PKI.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::Context;
use super::output::outln;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (created if missing; files in it are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(_ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let summary = kyso::pki::dev::generate(&args.out).with_context(|| {
        format!(
            "cannot create the development PKI in {}",
            args.out.display()
        )
    })?;
    outln!(
        "development PKI written to {} ({} files) — for development only",
        args.out.display(),
        summary.files.len()
    )?;
    Ok(ExitCode::SUCCESS)
}
