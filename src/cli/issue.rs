//! `kyso issue`: render a certification from JSON data, numbered in its register;
//! `kyso reprint`: write an issued certification's PDF again.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use kyso::app::{self, AppError, output::OutputPath};

use super::output::errln;
use super::{Context, say};

/// Largest data file accepted: a certification's fields are a few kilobytes.
const MAX_DATA: u64 = 1 << 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Certification kind (`kyso kinds` lists them).
    #[arg(long, value_name = "KIND")]
    kind: String,
    /// The document's data: a JSON object following the kind's schema.
    #[arg(long, value_name = "FILE.json")]
    data: PathBuf,
    /// Where to write the PDF (default: <document id>.pdf in the current directory).
    #[arg(short = 'o', long = "out", value_name = "OUT.pdf")]
    output: Option<PathBuf>,
    /// Replace OUT.pdf if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReprintArgs {
    /// The document id (printed by `kyso issue`, at the end of its verification URL).
    #[arg(value_name = "ID")]
    id: String,
    /// Where to write the PDF.
    #[arg(short = 'o', long = "out", value_name = "OUT.pdf")]
    output: PathBuf,
    /// Replace OUT.pdf if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let data_dir = &ctx.app.settings().data_dir;
    // An explicit output is checked before anything is numbered.
    let checked = match &args.output {
        Some(p) => Some(OutputPath::check(p, data_dir, args.force)?),
        None => None,
    };
    let mut text = String::new();
    std::fs::File::open(&args.data)
        .with_context(|| format!("cannot read {}", args.data.display()))?
        .take(MAX_DATA + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as UTF-8 text", args.data.display()))?;
    if text.len() as u64 > MAX_DATA {
        anyhow::bail!("{} is larger than {} bytes", args.data.display(), MAX_DATA);
    }
    let data: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", args.data.display()))?;
    let issued = match app::issue::issue(&ctx.app, "cli", &args.kind, &data) {
        Ok(doc) => doc,
        Err(AppError::Invalid(errors)) => {
            errln!(
                "kyso: {}: {} trường không hợp lệ / {} invalid field(s); không cấp số / nothing was numbered",
                args.data.display(),
                errors.len(),
                errors.len()
            );
            for e in &errors {
                errln!("  {e}");
            }
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let out = match checked {
        Some(o) => o,
        None => OutputPath::check(
            &PathBuf::from(format!("{}.pdf", issued.id)),
            data_dir,
            args.force,
        )?,
    };
    // The document is issued and its PDF kept (kyso reprint gives it back): say which one it is
    // before writing, so a failed write still tells the clerk what to reprint.
    say(&format!("id: {}", issued.id))?;
    let catalog = ctx.app.catalog()?;
    say(&format!("number: {}", issued.number_text(&catalog)))?;
    say(&format!("verify: {}", issued.verify_url))?;
    out.write(&issued.pdf).with_context(|| {
        format!(
            "document {} is issued; write it again with `kyso reprint {} -o FILE`",
            issued.id, issued.id
        )
    })?;
    say(&format!("file: {}", out.path().display()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn reprint(ctx: &Context, args: ReprintArgs) -> anyhow::Result<ExitCode> {
    let out = OutputPath::check(&args.output, &ctx.app.settings().data_dir, args.force)?;
    let (record, bytes) = app::issue::reprint(&ctx.app, &args.id)?;
    out.write(&bytes)?;
    say(&format!(
        "reprinted {} ({}{}) -> {}",
        record.id,
        record.status,
        record
            .cancel_decision
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default(),
        out.path().display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
