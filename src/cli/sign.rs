//! `kyso sign`: sign a PDF with a key file (PAdES baseline B-B, incremental update).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use kyso::pki::{self, Certificate};
use kyso::signing::{self, KeySigner, SignOptions};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Private key (PEM, PKCS#8 or PKCS#1 RSA).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// Signer certificate (PEM).
    #[arg(long, value_name = "CERT.pem")]
    cert: PathBuf,
    /// Chain certificates to embed (intermediates, optionally the root); repeatable.
    #[arg(long, value_name = "CA.pem")]
    chain: Vec<PathBuf>,
    /// Signature field: an existing empty field, or the name of a new invisible one.
    #[arg(long, value_name = "NAME")]
    field: Option<String>,
    /// Reason for signing (/Reason).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Place of signing (/Location).
    #[arg(long, value_name = "TEXT")]
    location: Option<String>,
    /// Sign RSA keys with RSASSA-PSS instead of PKCS#1 v1.5.
    #[arg(long)]
    pss: bool,
    /// The PDF to sign.
    #[arg(value_name = "IN.pdf")]
    input: PathBuf,
    /// Where to write the signed PDF (written only when signing succeeded).
    #[arg(short = 'o', long = "out", value_name = "OUT.pdf")]
    output: PathBuf,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let key = pki::load_private_key(&args.key)?;
    let cert = pki::load_certificates(&args.cert)?.remove(0);
    let mut chain: Vec<Certificate> = Vec::new();
    for path in &args.chain {
        chain.extend(pki::load_certificates(path)?);
    }
    let signer = KeySigner::new(&key, cert, chain, args.pss)?;
    drop(key);
    let input = std::fs::read(&args.input).with_context(|| format!("cannot read {}", args.input.display()))?;
    let opts = SignOptions {
        field: args.field,
        reason: args.reason,
        location: args.location,
        development_mode: ctx.settings.development,
        ..SignOptions::new()
    };
    let signed = signing::sign_pdf(&input, &signer, &opts)
        .with_context(|| format!("cannot sign {}", args.input.display()))?;
    write_atomically(&args.output, &signed)?;
    println!("signed {} -> {}", args.input.display(), args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it into place, so
/// `path` is either absent/unchanged or complete — never half-written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.kyso-tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
