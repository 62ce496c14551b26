//! `kyso sign`: sign a PDF (PAdES baseline B-B, incremental update) with a key file, or in two
//! steps for a key kyso never sees (`kyso sign prepare` → digest → `kyso sign complete`).
//!
//! With `--official`, kyso first decides from the registry whether that official may sign this
//! kind of document now, in their own right or under one delegation in force, refuses otherwise,
//! and writes the capacity (and the delegation grant) into the signature. Every signing and every
//! refusal goes to the audit log.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kyso::audit;
use kyso::authority::{self, AuthorityError, Capacity};
use kyso::pki::{self, Certificate};
use kyso::registry::Registry;
use kyso::signing::image::{ImageAppearance, SignatureImage};
use kyso::signing::timestamp::TimestampClient;
use kyso::signing::{self, KeySigner, SignOptions, SignatureAlgorithm, TimestampOutcome, deferred};
use serde_json::json;
use time::OffsetDateTime;

use super::Context;
use super::output::outln;

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
    /// Where to write the signed PDF (written only when signing succeeded).
    #[arg(short = 'o', long = "out", value_name = "OUT.pdf", required = true)]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// Chain certificates to embed (intermediates, optionally the root); repeatable.
    #[arg(long, value_name = "CA.pem")]
    chain: Vec<PathBuf>,
    /// Signature field: an existing empty field, or the name of a new invisible one.
    #[arg(long, value_name = "NAME")]
    field: Option<String>,
    /// Draw this transparent PNG centred in the field's widget: the official's signature image
    /// (blue) or the agency's seal (red), as Decree 30/2020 shows digital signatures.
    #[arg(long, value_name = "FILE.png", requires = "field")]
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
    /// The registered official who signs: kyso checks their authority first.
    #[arg(long, value_name = "ID")]
    official: Option<String>,
    /// The document kind (needed with --official).
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// The requester's personal ID number (a certifier may not certify their own matter).
    #[arg(long, value_name = "NUMBER")]
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
    },
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    match args.stage {
        Some(Stage::Prepare {
            cert,
            common,
            ttl_minutes,
            digest_out,
            input,
        }) => prepare(
            ctx,
            &cert,
            &common,
            ttl_minutes,
            digest_out.as_deref(),
            &input,
        ),
        Some(Stage::Complete {
            handle,
            signature,
            output,
        }) => complete(ctx, &handle, &signature, &output),
        None => {
            let (Some(key), Some(cert), Some(input), Some(output)) =
                (args.key, args.cert, args.input, args.output)
            else {
                bail!("--key, --cert, IN.pdf and -o OUT.pdf are required");
            };
            sign_now(ctx, &key, &cert, &args.common, &input, &output)
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

fn base_options(ctx: &Context, common: &CommonArgs) -> SignOptions {
    SignOptions {
        field: common.field.clone(),
        reason: common.reason.clone(),
        location: common.location.clone(),
        development_mode: ctx.settings.development,
        ..SignOptions::new()
    }
}

/// With `--official`: decide, record a refusal, and add the capacity claims to `opts`.
/// Returns the registry (kept open for the audit entry after signing) and a summary.
fn apply_authority(
    ctx: &Context,
    common: &CommonArgs,
    cert: &Certificate,
    opts: &mut SignOptions,
) -> anyhow::Result<Option<(Registry, serde_json::Value)>> {
    let Some(official) = &common.official else {
        if common.kind.is_some() || common.requester_id.is_some() || common.delegation.is_some() {
            bail!("--kind, --requester-id and --delegation need --official");
        }
        return Ok(None);
    };
    let kind = common
        .kind
        .as_deref()
        .context("--official needs --kind (the document kind being signed)")?;
    let registry =
        Registry::open(&ctx.settings.registry_path()).context("cannot open the registry")?;
    let conn = registry.connection();
    let decision = authority::authorise(
        conn,
        official,
        cert,
        kind,
        opts.signing_time,
        common.requester_id.as_deref(),
        common.delegation,
    );
    let auth = match decision {
        Ok(a) => a,
        Err(AuthorityError::Refused(refusal)) => {
            audit::append(
                conn,
                official,
                "refuse",
                kind,
                &json!({"reason": refusal.to_string(), "certificate": cert.serial_hex()}),
            )?;
            return Err(refusal.into());
        }
        Err(e) => return Err(e.into()),
    };
    let claims = authority::signature_claims(conn, &auth)?;
    opts.extra_signed_attributes.push(claims.attribute);
    opts.extra_certificates.extend(claims.certificates);
    let summary = match auth.capacity() {
        Capacity::OwnRight => {
            json!({"official": official, "kind": kind, "capacity": auth.claimed_role()})
        }
        Capacity::Delegated(d) => {
            json!({"official": official, "kind": kind, "capacity": auth.claimed_role(), "delegation": d.id, "mark": d.mark.code(), "delegator": d.delegator.id})
        }
    };
    Ok(Some((registry, summary)))
}

fn sha256_hex(bytes: &[u8]) -> String {
    pki::hex_upper(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()).to_ascii_lowercase()
}

fn sign_now(
    ctx: &Context,
    key: &Path,
    cert: &Path,
    common: &CommonArgs,
    input: &Path,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    let key = pki::load_private_key(key)?;
    let cert = pki::load_certificates(cert)?.remove(0);
    let signer = KeySigner::new(
        &key,
        cert.clone(),
        load_chain(&common.chain)?,
        !common.pkcs1,
    )?;
    drop(key);
    let input_bytes =
        std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let mut opts = base_options(ctx, common);
    opts.timestamper = TimestampClient::from_settings(&ctx.settings)?;
    let authority = apply_authority(ctx, common, &cert, &mut opts)?;
    // A visible field shows the signature image when one is given, else a text block with the
    // signer's name, title and the signing time in Vietnam time.
    let appearance: Box<dyn signing::AppearanceBuilder> = match &common.image {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let image =
                SignatureImage::from_png(&bytes).with_context(|| path.display().to_string())?;
            Box::new(ImageAppearance::new(image))
        }
        None => Box::new(kyso::templates::signature_block::TextAppearance),
    };
    let step = signing::SignatureStep {
        signer: &signer,
        options: &opts,
        appearance: Some(appearance.as_ref()),
    };
    let stamped = signing::sign_pdf_sequence_stamped(&input_bytes, &[step])
        .with_context(|| format!("cannot sign {}", input.display()))?;
    let signed = stamped.bytes;
    let outcome = stamped
        .timestamps
        .first()
        .cloned()
        .unwrap_or(TimestampOutcome::NotAsked);
    let (timestamp_json, timestamp_note) = (outcome.audit_detail(), outcome.summary());
    let timestamp_note = if timestamp_note.is_empty() {
        timestamp_note
    } else {
        format!("; {timestamp_note}")
    };
    write_atomically(output, &signed)?;
    // Every signing is audited; without --official the actor is the certificate's holder as
    // the certificate names them (no registry check was asked for).
    let (registry, mut summary) = match authority {
        Some(found) => found,
        None => (
            Registry::open(&ctx.settings.registry_path()).context("cannot open the registry")?,
            json!({"official": cert.common_name().unwrap_or_else(|| cert.subject()), "kind": "", "unchecked": true}),
        ),
    };
    summary["certificate"] = json!(cert.serial_hex());
    summary["output"] = json!(output.display().to_string());
    summary["sha256"] = json!(sha256_hex(&signed));
    if !timestamp_json.is_null() {
        summary["timestamp"] = timestamp_json;
    }
    audit::append(
        registry.connection(),
        summary["official"].as_str().unwrap_or_default(),
        "sign",
        summary["kind"].as_str().unwrap_or_default(),
        &summary,
    )?;
    drop(registry);
    let archived = record_for_archive(ctx, &signed, common.kind.as_deref(), output)?;
    outln!(
        "signed {} -> {} ({archived}{timestamp_note})",
        input.display(),
        output.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Records the signed output in the archive outbox (durable locally; the archive worker
/// uploads it later, so signing never waits for the network). Kinds that are not archive key
/// slugs are archived as `default`, whose retention is permanent.
fn record_for_archive(
    ctx: &Context,
    signed: &[u8],
    kind: Option<&str>,
    output: &Path,
) -> anyhow::Result<String> {
    let kind = kind
        .filter(|k| kyso::archive::Slug::parse(k, "kind").is_ok())
        .unwrap_or("default");
    let source = output.display().to_string();
    let request = kyso::archive::SubmitRequest {
        bytes: signed,
        kind,
        commune: None,
        date: None,
        source: Some(&source),
    };
    let queued = kyso::archive::submit(&ctx.settings, request).with_context(|| {
        format!(
            "signed {} but could not record it for archiving",
            output.display()
        )
    })?;
    Ok(format!("archive #{} {}", queued.id, queued.key))
}

fn algorithm_for(cert: &Certificate, pss: bool) -> SignatureAlgorithm {
    // An EC point starts with 0x04 (uncompressed); an RSAPublicKey is a DER SEQUENCE (0x30).
    match cert.public_key_bits().first() {
        Some(0x04) => SignatureAlgorithm::EcdsaP256Sha256,
        _ if pss => SignatureAlgorithm::RsaPssSha256,
        _ => SignatureAlgorithm::RsaPkcs1Sha256,
    }
}

fn prepare(
    ctx: &Context,
    cert: &Path,
    common: &CommonArgs,
    ttl_minutes: i64,
    digest_out: Option<&Path>,
    input: &Path,
) -> anyhow::Result<ExitCode> {
    if common.image.is_some() {
        anyhow::bail!(
            "--image is not supported with deferred signing (sign prepare); sign in one step to draw an image"
        );
    }
    if !(1..=7 * 24 * 60).contains(&ttl_minutes) {
        bail!("--ttl-minutes must be between 1 and 10080 (a week)");
    }
    let cert = pki::load_certificates(cert)?.remove(0);
    let chain = load_chain(&common.chain)?;
    let input_bytes =
        std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let mut opts = base_options(ctx, common);
    opts.timestamper = TimestampClient::from_settings(&ctx.settings)?;
    let authority = apply_authority(ctx, common, &cert, &mut opts)?;
    let mut pending = deferred::begin(
        &input_bytes,
        &cert,
        &chain,
        algorithm_for(&cert, !common.pkcs1),
        &opts,
        time::Duration::minutes(ttl_minutes),
    )
    .with_context(|| format!("cannot prepare {}", input.display()))?;
    pending.official_id = common.official.clone();
    let registry = match authority {
        Some((r, _)) => r,
        None => {
            Registry::open(&ctx.settings.registry_path()).context("cannot open the registry")?
        }
    };
    deferred::purge_expired(registry.connection(), OffsetDateTime::now_utc())?;
    deferred::save(registry.connection(), &pending)?;
    let digest = pending.digest();
    if let Some(path) = digest_out {
        write_atomically(path, &digest)?;
    }
    outln!("handle: {}", pending.handle)?;
    outln!("digest: {}", pki::hex_upper(&digest).to_ascii_lowercase())?;
    outln!("algorithm: {:?}", pending.algorithm)?;
    Ok(ExitCode::SUCCESS)
}

fn complete(
    ctx: &Context,
    handle: &str,
    signature: &Path,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    let sig =
        std::fs::read(signature).with_context(|| format!("cannot read {}", signature.display()))?;
    if sig.len() > 1024 {
        bail!(
            "{} is {} bytes: not a raw signature value",
            signature.display(),
            sig.len()
        );
    }
    let mut registry =
        Registry::open(&ctx.settings.registry_path()).context("cannot open the registry")?;
    let now = OffsetDateTime::now_utc();
    let pending = deferred::load(registry.connection(), handle, now)?;
    let official = pending
        .official_id
        .clone()
        .unwrap_or_else(|| "external".into());
    let serial = pending.signer.serial_hex();
    let timestamper = TimestampClient::from_settings(&ctx.settings)?;
    let signed = match pending.complete_stamped(&sig, now, timestamper.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            audit::append(
                registry.connection(),
                &official,
                "refuse",
                handle,
                &json!({"reason": e.to_string(), "certificate": serial}),
            )?;
            return Err(anyhow::Error::new(e).context(format!("cannot complete {handle}")));
        }
    };
    let outcome = signed
        .timestamps
        .first()
        .cloned()
        .unwrap_or(TimestampOutcome::NotAsked);
    let signed = signed.bytes;
    write_atomically(output, &signed)?;
    let tx = registry.connection_mut().transaction()?;
    deferred::mark_completed(&tx, handle)?;
    audit::append(
        &tx,
        &official,
        "sign",
        handle,
        &json!({"deferred": true, "certificate": serial, "output": output.display().to_string(), "sha256": sha256_hex(&signed), "timestamp": outcome.audit_detail()}),
    )?;
    tx.commit()?;
    let archived = record_for_archive(ctx, &signed, None, output)?;
    let note = outcome.summary();
    let note = if note.is_empty() {
        note
    } else {
        format!("; {note}")
    };
    outln!("signed -> {} ({archived}{note})", output.display())?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it into place, so
/// `path` is either absent/unchanged or complete — never half-written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    kyso::archive::local::replace_durable(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
