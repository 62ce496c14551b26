//! `kyso issue`: render a certification from JSON data, numbered in its register.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use kyso::issuing::{IssueError, Issuer};
use kyso::registry::Registry;
use kyso::templates::Catalog;
use time::OffsetDateTime;

use super::Context;
use super::output::{errln, outln};
use super::sign::write_atomically;

/// Largest data file accepted: a certification's fields are a few kilobytes.
const MAX_DATA: u64 = 1 << 20;

/// A document still pending this long after numbering was interrupted (rendering takes
/// milliseconds): it is voided, with that reason, before the next issue.
const INTERRUPTED_AFTER: time::Duration = time::Duration::minutes(10);

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
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
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
    let catalog = Arc::new(Catalog::load().context("templates")?);
    let registry = Registry::open(&ctx.settings.registry_path())?;
    let mut issuer = Issuer::new(
        catalog.clone(),
        registry,
        ctx.settings.authority.clone(),
        &ctx.settings.base_url,
    );
    let now = OffsetDateTime::now_utc();
    issuer.void_interrupted(now - INTERRUPTED_AFTER)?;
    let issued = match issuer.issue(&args.kind, &data, now) {
        Ok(doc) => doc,
        Err(IssueError::Invalid(errors)) => {
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
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}.pdf", issued.id)));
    // The document is issued in the register whatever happens to the file: say which one it is
    // before writing, so a failed write still tells the clerk what to re-render or cancel.
    outln!("id: {}", issued.id)?;
    outln!("number: {}", issued.number_text(&catalog))?;
    outln!("verify: {}", issued.verify_url)?;
    write_atomically(&out, &issued.pdf)?;
    outln!("file: {}", out.display())?;
    Ok(ExitCode::SUCCESS)
}
