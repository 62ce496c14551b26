//! `kyso demo`: kyso's main job end to end on embedded defaults, with the keys-dev PKI in
//! development mode: register the demo commune's officials and a KT. delegation (once), issue a
//! signature certification from its sample data, have the Vice-Chairman sign it "KT. CHỦ TỊCH /
//! PHÓ CHỦ TỊCH", seal it with the agency's certificate, verify the result, and hand it to the
//! archive. Every step is the same use case the CLI's commands and the service run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kyso::app::sign::SignRequest;
use kyso::app::{self, AppError};
use kyso::signing::KeySigner;
use kyso::signing::image::{ImageAppearance, SignatureImage};
use kyso::validation::{self, TrustAnchors};

use super::{Context, say};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The development PKI to use.
    #[arg(long, value_name = "DIR", default_value = "keys-dev")]
    keys: PathBuf,
    /// The certification kind to issue.
    #[arg(long, default_value = "signature")]
    kind: String,
    /// Sample data (default: templates/<kind>/sample.json).
    #[arg(long, value_name = "FILE.json")]
    data: Option<PathBuf>,
}

fn signer(keys: &Path, stem: &str) -> anyhow::Result<KeySigner> {
    Ok(kyso::app::demo::signer(keys, stem)?)
}

fn image(keys: &Path, name: &str) -> anyhow::Result<ImageAppearance> {
    let path = keys.join("images").join(name);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(ImageAppearance::new(
        SignatureImage::from_png(&bytes).with_context(|| path.display().to_string())?,
    ))
}

/// Writes `bytes` to `path`, replacing an earlier demo run's file.
fn write_demo_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    kyso::archive::local::replace_durable(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    if !ctx.settings.development {
        bail!("the demo signs with the keys-dev PKI: run it in development mode (kyso --dev demo)");
    }
    let keys = &args.keys;
    if !keys.join("root-ca.pem").exists() {
        bail!(
            "no development PKI in {} (run from the repository root, or pass --keys)",
            keys.display()
        );
    }
    let settings = &ctx.settings;
    let app = &ctx.app;
    if let Some(d) = kyso::app::demo::ensure_commune(app, keys)? {
        say(&format!(
            "registered the demo commune: Chủ tịch, Phó Chủ tịch (KT. delegation {d}), agency seal"
        ))?;
    }

    // 1. Issue.
    let data_path = args.data.clone().unwrap_or_else(|| {
        PathBuf::from("templates")
            .join(&args.kind)
            .join("sample.json")
    });
    let data: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&data_path)
            .with_context(|| format!("cannot read {}", data_path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", data_path.display()))?;
    let issued = app::issue::issue(app, "demo", &args.kind, &data).map_err(|e| match e {
        AppError::Invalid(errors) => anyhow::anyhow!(
            "{}: {}",
            data_path.display(),
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => other.into(),
    })?;
    let catalog = app.catalog()?;
    // The demo's own files sit in the data directory's demo/ folder, which kyso never reads.
    let out_dir = settings.data_dir.join("demo");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let issued_path = out_dir.join(format!("{}-issued.pdf", issued.id));
    write_demo_file(&issued_path, &issued.pdf)?;
    say(&format!(
        "1. issued {} number {} -> {}",
        issued.id,
        issued.number_text(&catalog),
        issued_path.display()
    ))?;
    say(&format!(
        "   verification URL in the QR code: {}",
        issued.verify_url
    ))?;

    // 2. The Vice-Chairman signs; the register finds the KT. delegation and the document.
    let request = |official: &str| SignRequest {
        official: Some(official.into()),
        reason: Some(format!("Chứng thực số {}", issued.number_text(&catalog))),
        location: Some(settings.authority.full_name.clone()),
        actor: Some("demo".into()),
        label: Some(format!("demo:{}", issued.id)),
        ..SignRequest::default()
    };
    let signed = app::sign::sign(
        app,
        &issued.pdf,
        &signer(keys, "vice-chairman-ec")?,
        Some(&image(keys, "signature-vice-chairman.png")?),
        &request("pho-chu-tich"),
    )?;
    say(&format!(
        "2. signed by Trần Thị Bình as {}",
        signed.capacity.as_deref().unwrap_or_default()
    ))?;

    // 3. The agency seal, in its own field.
    let sealed = app::sign::sign(
        app,
        &signed.bytes,
        &signer(keys, "seal-ec")?,
        Some(&image(keys, "seal.png")?),
        &request("con-dau"),
    )?;
    let sealed = sealed.bytes;
    let final_path = out_dir.join(format!("{}-signed.pdf", issued.id));
    write_demo_file(&final_path, &sealed)?;
    say(&format!(
        "3. sealed by {} -> {}",
        settings.authority.full_name,
        final_path.display()
    ))?;
    // 4. Verify, as anyone holding the file and the root would.
    let mut anchors = TrustAnchors::new();
    anchors.add_pem_or_der(&std::fs::read(keys.join("root-ca.pem"))?)?;
    let policy = validation::Policy {
        anchors,
        ..Default::default()
    };
    let report = validation::validate(&sealed, &policy, app.now())?;
    say(&format!("4. verified: {:?}", report.indication))?;
    for s in &report.signatures {
        let who = s
            .signer
            .as_ref()
            .map(|x| x.common_name.clone())
            .unwrap_or_default();
        let capacity = s
            .capacity
            .as_ref()
            .and_then(|c| c.claimed_role.clone())
            .unwrap_or_default();
        say(&format!(
            "   {} — {} {} — {}",
            s.field,
            who,
            capacity,
            s.indication.as_str()
        ))?;
    }

    // 5. Archive.
    archive(ctx)?;
    Ok(if report.indication == validation::Verdict::Passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Lets the worker upload what is waiting (both signed versions are in the outbox since they
/// were signed): to the local-disk store on embedded defaults.
fn archive(ctx: &Context) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let store = kyso::archive::AnyStore::open(&ctx.settings)?;
    let registry = kyso::registry::Registry::open(&ctx.settings.registry_path())?;
    let app = std::sync::Arc::clone(&ctx.app);
    let mut worker = kyso::archive::worker::Worker::new(
        &ctx.settings,
        store,
        registry,
        std::sync::Arc::new(move || app.now()),
    )?;
    let (report, waiting) = runtime.block_on(worker.drain(3))?;
    say(&format!(
        "5. archived {} ({} already there), {} waiting; store {}",
        report.archived,
        report.already_present,
        waiting,
        kyso::archive::ArchiveStore::describe(worker.store())
    ))?;
    Ok(())
}
