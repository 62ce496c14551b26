//! `kyso sign`: sign a PDF (PAdES baseline B-B, incremental update) with a key file, or in two
//! steps for a key kyso never sees (`kyso sign prepare` → digest → `kyso sign complete`).
//! The decision, the records and the refusals are the use case's ([`kyso::app::sign`]); this
//! file turns arguments into a request and the result into an output file and a line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kyso::app::output::OutputPath;
use kyso::app::sign::{self, SignRequest};
use kyso::pki::{self, Certificate};
use kyso::signing::KeySigner;
use kyso::signing::image::{ImageAppearance, SignatureImage};

use super::Context;

/// Largest PDF read for signing; the signing limits refuse anything larger anyway.
const MAX_INPUT: u64 = 256 << 20;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    stage: Option<Stage>,
    /// Private key (PEM, PKCS#8 or PKCS#1 RSA).
    #[arg(long, value_name = "KEY.pem", required = true)]
    key: Option<PathBuf>,
    /// Signer certificate (PEM).
    #[arg(long, value_name = "CERT.pem", required = true)]
    cert: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
    /// The PDF to sign.
    #[arg(value_name = "IN.pdf", required = true)]
    input: Option<PathBuf>,
    /// Where to write the signed PDF (written only when signing succeeded and was recorded).
    #[arg(short = 'o', long = "out", value_name = "OUT.pdf", required = true)]
    output: Option<PathBuf>,
    /// Replace OUT.pdf if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// Chain certificates to embed (intermediates, optionally the root); repeatable.
    #[arg(long, value_name = "CA.pem")]
    chain: Vec<PathBuf>,
    /// Signature field: an existing empty field, or the name of a new invisible one. On a
    /// registered document, the field of the signer's role (the default).
    #[arg(long, value_name = "NAME")]
    field: Option<String>,
    /// Draw this transparent PNG centred in the field's widget: the official's signature image
    /// (blue) or the agency's seal (red), as Decree 30/2020 shows digital signatures.
    #[arg(long, value_name = "FILE.png")]
    image: Option<PathBuf>,
    /// Reason for signing (/Reason).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Place of signing (/Location).
    #[arg(long, value_name = "TEXT")]
    location: Option<String>,
    /// Sign RSA keys with PKCS#1 v1.5 instead of RSASSA-PSS, for older tokens and verifiers
    /// (Circular 15/2025/TT-BKHCN names PSS, so PSS is the default).
    #[arg(long)]
    pkcs1: bool,
    /// The registered official who signs: the register decides their authority.
    #[arg(long, value_name = "ID")]
    official: Option<String>,
    /// The document kind: checked against the register entry of a document kyso issued;
    /// required (a configured external kind) for another PDF signed with --official.
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// The requester's 12-digit personal ID, or another paper as TYPE:NUMBER.
    #[arg(long, value_name = "ID")]
    requester_id: Option<String>,
    /// Sign under this delegation (when several are in force).
    #[arg(long, value_name = "ID")]
    delegation: Option<i64>,
}

// Parsed once per process: the size of the largest variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
enum Stage {
    /// Prepare a signature for an external key: prints the handle and the digest to sign.
    Prepare {
        /// Signer certificate (PEM).
        #[arg(long, value_name = "CERT.pem")]
        cert: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
        /// Minutes before the prepared signature expires.
        #[arg(long, default_value_t = 60)]
        ttl_minutes: i64,
        /// Also write the 32-byte digest to this file (for `openssl pkeyutl -sign -in FILE`).
        #[arg(long, value_name = "FILE")]
        digest_out: Option<PathBuf>,
        /// Replace the digest file if it exists.
        #[arg(long)]
        force: bool,
        /// The PDF to sign.
        #[arg(value_name = "IN.pdf")]
        input: PathBuf,
    },
    /// Complete a prepared signature with the raw signature value from the token.
    Complete {
        /// The handle `prepare` printed.
        handle: String,
        /// The raw signature value (RSA: modulus-sized; ECDSA: DER), binary.
        #[arg(long, value_name = "SIG.bin")]
        signature: PathBuf,
        /// Where to write the signed PDF.
        #[arg(short = 'o', long = "out", value_name = "OUT.pdf")]
        output: PathBuf,
        /// Replace OUT.pdf if it exists.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    match args.stage {
        Some(Stage::Prepare {
            cert,
            common,
            ttl_minutes,
            digest_out,
            force,
            input,
        }) => prepare(
            ctx,
            &cert,
            &common,
            ttl_minutes,
            digest_out.as_deref(),
            force,
            &input,
        ),
        Some(Stage::Complete {
            handle,
            signature,
            output,
            force,
        }) => complete(ctx, &handle, &signature, &output, force),
        None => {
            let (Some(key), Some(cert), Some(input), Some(output)) =
                (args.key, args.cert, args.input, args.output)
            else {
                bail!("--key, --cert, IN.pdf and -o OUT.pdf are required");
            };
            sign_now(ctx, &key, &cert, &args.common, &input, &output, args.force)
        }
    }
}

fn load_chain(paths: &[PathBuf]) -> anyhow::Result<Vec<Certificate>> {
    let mut chain = Vec::new();
    for p in paths {
        chain.extend(pki::load_certificates(p)?);
    }
    Ok(chain)
}

fn request(common: &CommonArgs, output: Option<&Path>) -> SignRequest {
    SignRequest {
        field: common.field.clone(),
        reason: common.reason.clone(),
        location: common.location.clone(),
        official: common.official.clone(),
        kind: common.kind.clone(),
        requester: common.requester_id.clone(),
        delegation: common.delegation,
        actor: None,
        label: output.map(|o| o.display().to_string()),
        form: None,
    }
}

/// Reads a file of at most `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{} is larger than {max} bytes", path.display());
    }
    Ok(bytes)
}

fn sign_now(
    ctx: &Context,
    key: &Path,
    cert: &Path,
    common: &CommonArgs,
    input: &Path,
    output: &Path,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let out = OutputPath::check(output, &ctx.app.settings().data_dir, force)?;
    let key = pki::load_private_key(key)?;
    let cert = pki::load_certificates(cert)?.remove(0);
    let signer = KeySigner::new(&key, cert, load_chain(&common.chain)?, !common.pkcs1)?;
    drop(key);
    let input_bytes = read_limited(input, MAX_INPUT)?;
    // A visible field shows the signature image when one is given, else a text block with the
    // signer's name, title and the signing time in Vietnam time.
    let appearance: Box<dyn kyso::signing::AppearanceBuilder> = match &common.image {
        Some(path) => {
            let bytes = read_limited(path, 16 << 20)?;
            let image =
                SignatureImage::from_png(&bytes).with_context(|| path.display().to_string())?;
            Box::new(ImageAppearance::new(image))
        }
        None => Box::new(kyso::templates::signature_block::TextAppearance),
    };
    let signed = sign::sign(
        &ctx.app,
        &input_bytes,
        &signer,
        Some(appearance.as_ref()),
        &request(common, Some(out.path())),
    )
    .with_context(|| format!("cannot sign {}", input.display()))?;
    write_signed(&out, &signed)?;
    super::say(&format!(
        "signed {} -> {} ({}archive #{} {}{}{}{})",
        input.display(),
        output.display(),
        signed
            .capacity
            .as_deref()
            .map(|c| format!("{c}; "))
            .unwrap_or_default(),
        signed.archive_id,
        signed.archive_key,
        if signed.revocation == "good" {
            String::new()
        } else {
            format!("; revocation {}", signed.revocation)
        },
        match signed.timestamp.summary() {
            t if t.is_empty() => t,
            t => format!("; {t}"),
        },
        match signed.ltv.summary() {
            t if t.is_empty() => t,
            t => format!("; {t}"),
        }
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes a signed file the use case has already recorded (audit entry, outbox row, staged
/// copy): a failed write leaves the signature in the outbox, never an unrecorded one.
fn write_signed(out: &OutputPath, signed: &sign::Signed) -> anyhow::Result<()> {
    out.write(&signed.bytes).with_context(|| {
        format!(
            "signed and recorded (archive {}), but could not write the output",
            signed.archive_key
        )
    })
}

fn prepare(
    ctx: &Context,
    cert: &Path,
    common: &CommonArgs,
    ttl_minutes: i64,
    digest_out: Option<&Path>,
    force: bool,
    input: &Path,
) -> anyhow::Result<ExitCode> {
    if common.image.is_some() {
        bail!(
            "--image is not supported with deferred signing (sign prepare); sign in one step to draw an image"
        );
    }
    let digest_path = match digest_out {
        Some(p) => Some(OutputPath::check(p, &ctx.app.settings().data_dir, force)?),
        None => None,
    };
    let cert = pki::load_certificates(cert)?.remove(0);
    let chain = load_chain(&common.chain)?;
    let input_bytes = read_limited(input, MAX_INPUT)?;
    let prepared = sign::prepare(
        &ctx.app,
        &input_bytes,
        &cert,
        &chain,
        !common.pkcs1,
        time::Duration::minutes(ttl_minutes),
        &request(common, None),
    )
    .with_context(|| format!("cannot prepare {}", input.display()))?;
    if let Some(p) = digest_path {
        p.write(&prepared.digest)?;
    }
    super::say(&format!("handle: {}", prepared.handle))?;
    super::say(&format!(
        "digest: {}",
        pki::hex_upper(&prepared.digest).to_ascii_lowercase()
    ))?;
    super::say(&format!("algorithm: {:?}", prepared.algorithm))?;
    Ok(ExitCode::SUCCESS)
}

fn complete(
    ctx: &Context,
    handle: &str,
    signature: &Path,
    output: &Path,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let out = OutputPath::check(output, &ctx.app.settings().data_dir, force)?;
    let sig = read_limited(signature, 4096)?;
    let signed = sign::complete(&ctx.app, handle, &sig)
        .with_context(|| format!("cannot complete {handle}"))?;
    write_signed(&out, &signed)?;
    super::say(&format!(
        "signed -> {} (archive #{} {}{}{})",
        output.display(),
        signed.archive_id,
        signed.archive_key,
        match signed.timestamp.summary() {
            t if t.is_empty() => t,
            t => format!("; {t}"),
        },
        match signed.ltv.summary() {
            t if t.is_empty() => t,
            t => format!("; {t}"),
        }
    ))?;
    Ok(ExitCode::SUCCESS)
}
