//! `kyso demo`: kyso's main job end to end on embedded defaults, with the keys-dev PKI in
//! development mode: register the demo commune's officials and a KT. delegation (once), issue a
//! signature certification from its sample data, have the Vice-Chairman sign it "KT. CHỦ TỊCH /
//! PHÓ CHỦ TỊCH", seal it with the agency's certificate, verify the result, and hand it to the
//! archive.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use kyso::authority::{self, Delegation, Mark, Official, grant, store};
use kyso::issuing::Issuer;
use kyso::pki::{self, Certificate};
use kyso::registry::Registry;
use kyso::signing::image::{ImageAppearance, SignatureImage};
use kyso::signing::{self, KeySigner, SignOptions, SignatureStep};
use kyso::templates::Catalog;
use kyso::validation::{self, TrustAnchors};
use serde_json::json;
use time::OffsetDateTime;

use super::Context;
use super::output::outln;
use super::sign::write_atomically;

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

struct Person {
    id: &'static str,
    name: &'static str,
    title: &'static str,
    citizen_id: Option<&'static str>,
    stem: &'static str,
    seal: bool,
}

const PEOPLE: &[Person] = &[
    Person {
        id: "chu-tich",
        name: "Nguyễn Văn An",
        title: "Chủ tịch",
        citizen_id: Some("001080000001"),
        stem: "chairman-rsa",
        seal: false,
    },
    Person {
        id: "pho-chu-tich",
        name: "Trần Thị Bình",
        title: "Phó Chủ tịch",
        citizen_id: Some("001085000002"),
        stem: "vice-chairman-ec",
        seal: false,
    },
    Person {
        id: "con-dau",
        name: "UBND xã Tân Lạc",
        title: "Cơ quan",
        citizen_id: None,
        stem: "seal-ec",
        seal: true,
    },
];

fn image(keys: &Path, name: &str) -> anyhow::Result<ImageAppearance> {
    let path = keys.join("images").join(name);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(ImageAppearance::new(
        SignatureImage::from_png(&bytes).with_context(|| path.display().to_string())?,
    ))
}

fn load_identity(keys: &Path, stem: &str) -> anyhow::Result<Certificate> {
    Ok(pki::load_certificates(&keys.join(format!("{stem}.pem")))?.remove(0))
}

fn signer(keys: &Path, stem: &str) -> anyhow::Result<KeySigner> {
    let key = pki::load_private_key(&keys.join(format!("{stem}.key.pem")))?;
    let chain = pki::load_certificates(&keys.join("intermediate-ca.pem"))?;
    Ok(KeySigner::new(
        &key,
        load_identity(keys, stem)?,
        chain,
        true,
    )?)
}

/// Registers the demo officials, the Chairman's powers and a KT. delegation, unless present.
fn ensure_commune(
    registry: &mut Registry,
    keys: &Path,
    agency: &str,
    kinds: &[String],
) -> anyhow::Result<()> {
    let conn = registry.connection();
    if store::official(conn, "chu-tich").is_ok() {
        return Ok(());
    }
    let tx = registry.connection_mut().transaction()?;
    for p in PEOPLE {
        let o = Official {
            id: p.id.into(),
            full_name: p.name.into(),
            title: p.title.into(),
            agency: agency.into(),
            citizen_id: p.citizen_id.map(str::to_owned),
            is_seal: p.seal,
        };
        store::add_official(&tx, &o)?;
        let key_location = format!(
            "file:{}",
            keys.join(format!("{}.key.pem", p.stem)).display()
        );
        store::add_certificate(&tx, p.id, &load_identity(keys, p.stem)?, &key_location)?;
        kyso::audit::append(
            &tx,
            "demo",
            "official.add",
            p.id,
            &json!({"name": p.name, "title": p.title}),
        )?;
    }
    for k in kinds {
        store::allow_title(&tx, "Chủ tịch", k)?;
    }
    let now = OffsetDateTime::now_utc();
    let mut d = Delegation {
        id: 0,
        mark: Mark::Kt,
        delegator: store::official(&tx, "chu-tich")?,
        delegate: store::official(&tx, "pho-chu-tich")?,
        scope: kinds.to_vec(),
        valid_from: now - time::Duration::days(1),
        valid_until: now + time::Duration::days(365),
        basis_number: "01/QĐ-UBND".into(),
        basis_date: (now - time::Duration::days(2)).date().to_string(),
        grant_der: Vec::new(),
        revoked: None,
    };
    d.grant_der = grant::issue(
        &d,
        &load_identity(keys, "vice-chairman-ec")?,
        &signer(keys, "chairman-rsa")?,
    )?;
    let id = store::insert_delegation(&tx, &d)?;
    kyso::audit::append(
        &tx,
        "chu-tich",
        "delegation.grant",
        &format!("delegation:{id}"),
        &json!({"mark": "KT", "delegate": "pho-chu-tich", "kinds": kinds}),
    )?;
    tx.commit()?;
    outln!(
        "registered the demo commune: Chủ tịch, Phó Chủ tịch (KT. delegation {id}), agency seal"
    )?;
    Ok(())
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
    let catalog = Arc::new(Catalog::load().context("templates")?);
    let kinds: Vec<String> = catalog.kinds().map(|t| t.schema.kind.clone()).collect();
    let mut registry =
        Registry::open(&settings.registry_path()).context("cannot open the registry")?;
    ensure_commune(&mut registry, keys, &settings.authority.full_name, &kinds)?;

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
    let requester_id = data
        .pointer("/requester/personal_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let mut issuer = Issuer::new(
        catalog.clone(),
        Registry::open(&settings.registry_path())?,
        settings.authority.clone(),
        &settings.base_url,
    );
    let issued = issuer
        .issue(&args.kind, &data, OffsetDateTime::now_utc())
        .map_err(|e| match e {
            kyso::issuing::IssueError::Invalid(errors) => anyhow::anyhow!(
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
    let out_dir = settings.data_dir.join("demo");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let issued_path = out_dir.join(format!("{}-issued.pdf", issued.id));
    write_atomically(&issued_path, &issued.pdf)?;
    outln!(
        "1. issued {} number {} -> {}",
        issued.id,
        issued.number_text(&catalog),
        issued_path.display()
    )?;
    outln!("   verification URL in the QR code: {}", issued.verify_url)?;

    // 2. The Vice-Chairman signs under the KT. delegation, into the official's field.
    let field = |role: &str| {
        issued
            .fields
            .iter()
            .find(|f| f.role == role)
            .map(|f| f.name.clone())
    };
    let vice = signer(keys, "vice-chairman-ec")?;
    let conn = registry.connection();
    let at = OffsetDateTime::now_utc();
    let auth = authority::authorise(
        conn,
        "pho-chu-tich",
        signing::Signer::certificate(&vice),
        &args.kind,
        at,
        requester_id.as_deref(),
        None,
    )?;
    let claims = authority::signature_claims(conn, &auth)?;
    let opts = SignOptions {
        field: field("official"),
        reason: Some(format!("Chứng thực số {}", issued.number_text(&catalog))),
        location: Some(settings.authority.full_name.clone()),
        signing_time: at,
        development_mode: true,
        extra_signed_attributes: vec![claims.attribute],
        extra_certificates: claims.certificates,
        ..SignOptions::new()
    };
    let signature_image = image(keys, "signature-vice-chairman.png")?;

    // 3. The agency seal, applied together with the official's signature: both
    // are authorised first, then signed in one go (one parse of the issued file).
    let seal = signer(keys, "seal-ec")?;
    let seal_auth = authority::authorise(
        conn,
        "con-dau",
        signing::Signer::certificate(&seal),
        &args.kind,
        OffsetDateTime::now_utc(),
        None,
        None,
    )?;
    let seal_claims = authority::signature_claims(conn, &seal_auth)?;
    let seal_opts = SignOptions {
        field: field("seal"),
        development_mode: true,
        extra_signed_attributes: vec![seal_claims.attribute],
        ..SignOptions::new()
    };
    let seal_image = image(keys, "seal.png")?;
    let sealed = signing::sign_pdf_sequence(
        &issued.pdf,
        &[
            SignatureStep {
                signer: &vice,
                options: &opts,
                appearance: Some(&signature_image),
            },
            SignatureStep {
                signer: &seal,
                options: &seal_opts,
                appearance: Some(&seal_image),
            },
        ],
    )?;
    kyso::audit::append(
        conn,
        "pho-chu-tich",
        "sign",
        &issued.id,
        &json!({"capacity": auth.claimed_role(), "kind": args.kind}),
    )?;
    outln!("2. signed by Trần Thị Bình as {}", auth.claimed_role())?;
    kyso::audit::append(
        conn,
        "con-dau",
        "sign",
        &issued.id,
        &json!({"capacity": "seal", "kind": args.kind}),
    )?;
    let final_path = out_dir.join(format!("{}-signed.pdf", issued.id));
    write_atomically(&final_path, &sealed)?;
    outln!(
        "3. sealed by {} -> {}",
        settings.authority.full_name,
        final_path.display()
    )?;

    // 4. Verify, as anyone holding the file and the root would.
    let mut anchors = TrustAnchors::new();
    anchors.add_pem_or_der(&std::fs::read(keys.join("root-ca.pem"))?)?;
    let policy = validation::Policy {
        anchors,
        ..Default::default()
    };
    let report = validation::validate(&sealed, &policy)?;
    outln!("4. verified: {:?}", report.indication)?;
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
        outln!(
            "   {} — {} {} — {}",
            s.field,
            who,
            capacity,
            s.indication.as_str()
        )?;
    }

    // 5. Archive.
    archive(ctx, &sealed, &issued.id, &args.kind)?;
    Ok(if report.indication == validation::Verdict::Passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Records the signed file in the archive outbox (durable locally at once), then lets the worker
/// upload what is waiting: to the local-disk store on embedded defaults.
fn archive(ctx: &Context, pdf: &[u8], id: &str, kind: &str) -> anyhow::Result<()> {
    let kind = if kyso::archive::Slug::parse(kind, "kind").is_ok() {
        kind
    } else {
        "default"
    };
    let source = format!("demo:{id}");
    let queued = kyso::archive::submit(
        &ctx.settings,
        kyso::archive::SubmitRequest {
            bytes: pdf,
            kind,
            commune: None,
            date: None,
            source: Some(&source),
        },
    )?;
    outln!(
        "5. recorded for the archive as #{} {}",
        queued.id,
        queued.key
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let store = kyso::archive::AnyStore::open(&ctx.settings)?;
    let mut worker = kyso::archive::worker::Worker::new(&ctx.settings, store)?;
    let (report, waiting) = runtime.block_on(worker.drain(3))?;
    outln!(
        "   archived {} ({} already there), {} waiting; store {}",
        report.archived,
        report.already_present,
        waiting,
        kyso::archive::ArchiveStore::describe(worker.store())
    )?;
    Ok(())
}
