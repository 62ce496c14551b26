//! `kyso cancel`: record the cancellation of an issued certification. The document stays in its
//! register, marked cancelled with the decision, and verification reports it.

use std::process::ExitCode;

use super::{Context, say};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The document id (printed by `kyso issue`, at the end of its verification URL).
    #[arg(value_name = "ID")]
    id: String,
    /// The cancellation decision, e.g. "Quyết định số 12/QĐ-UBND ngày 20/11/2026".
    #[arg(long, value_name = "TEXT")]
    decision: String,
    /// Why it is cancelled.
    #[arg(long, value_name = "TEXT", default_value = "")]
    reason: String,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    kyso::app::issue::cancel(&ctx.app, "cli", &args.id, &args.decision, &args.reason)?;
    say(&format!("cancelled {}: {}", args.id, args.decision.trim()))?;
    Ok(ExitCode::SUCCESS)
}
