//! Issues certifications of one kind in a loop, in process, on one thread, and prints documents
//! per second and CPU time per document for three stages (used by `bench/issue.sh`):
//!
//! * `render`: the template rendered to a PDF with its signature fields (typst + fields);
//! * `issue`: validation, numbering in a SQLite register (a file, synchronous=FULL), rendering;
//! * `issue+1sig`: issuing, then the official's signature only;
//! * `issue+sign`: issuing, then the official's signature and the agency seal (two PAdES
//!   incremental revisions) with keys-dev keys, in one go as they are applied when the official signs
//!   (`sign_pdf_sequence`: the issued file is parsed once, as a signing request reads it);
//! * the same with four threads sharing the register, as a server issues.
//!
//! Every document gets different data (the names and ID numbers of the sample cycle through a
//! list), as at a real desk: typst reuses the layout of what did not change, and a loop over one
//! sample would measure its caches rather than the work of a new certification.
//!
//! Usage: bench_issue KIND ITERATIONS KEYS_DIR [STAGE ...]
//!
//! STAGE limits the run to some of `render`, `issue`, `ecdsa`, `rsa` (the signing stages with
//! either algorithm) and `threads`, e.g. to count one stage's instructions under callgrind.

use std::sync::Arc;
use std::time::Instant;

use kyso::config::Authority;
use kyso::issuing::Issuer;
use kyso::pki;
use kyso::registry::Registry;
use kyso::signing::{KeySigner, SignOptions, SignatureStep, sign_pdf, sign_pdf_sequence};
use kyso::templates::{AuthorityLines, Catalog, DocumentMeta};

/// The allocator the `kyso` binary uses, so the figures are the binary's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time (user + system) of this process so far, in seconds, from /proc (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5); after ')' they are at 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// Names with the diacritics a commune sees every day, so each document needs other glyphs.
const NAMES: [&str; 8] = [
    "Nguyễn Văn An",
    "Lê Thị Hồng Nhung",
    "Đặng Quốc Khánh",
    "Võ Thị Ngọc Ánh",
    "Hoàng Đức Thắng",
    "Bùi Thị Thu Hà",
    "Phạm Minh Tuấn",
    "Trịnh Thị Yến",
];

/// The sample with document `i`'s names and ID numbers.
fn vary(v: &serde_json::Value, i: usize) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .enumerate()
                .map(|(j, (k, x))| {
                    let x = match (k.as_str(), x) {
                        ("full_name", Value::String(_)) => {
                            Value::String(NAMES[(i + j) % NAMES.len()].into())
                        }
                        ("personal_id", Value::String(s)) if s.len() == 12 => {
                            Value::String(format!("{}{:07}", &s[..5], (i * 7919 + j) % 10_000_000))
                        }
                        _ => vary(x, i + j),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => {
            Value::Array(a.iter().enumerate().map(|(j, x)| vary(x, i + j)).collect())
        }
        other => other.clone(),
    }
}

/// The official's signature, then the agency seal.
fn steps<'a>(
    official: &'a KeySigner,
    fo: &'a SignOptions,
    seal: &'a KeySigner,
    fs: &'a SignOptions,
) -> [SignatureStep<'a>; 2] {
    [
        SignatureStep {
            signer: official,
            options: fo,
            appearance: None,
        },
        SignatureStep {
            signer: seal,
            options: fs,
            appearance: None,
        },
    ]
}

fn measure(label: &str, n: usize, mut one: impl FnMut(usize)) {
    one(0); // warm-up
    let (t, c) = (Instant::now(), cpu_seconds());
    for i in 0..n {
        one(i + 1);
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c;
    println!(
        "{label:<11} {n:>6} docs  {:>8.1} docs/s  {:>7.3} ms wall/doc  {:>7.3} ms CPU/doc",
        n as f64 / wall,
        wall / n as f64 * 1e3,
        cpu / n as f64 * 1e3
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: bench_issue KIND ITERATIONS KEYS_DIR [STAGE ...]".into());
    }
    const STAGES: [&str; 5] = ["render", "issue", "ecdsa", "rsa", "threads"];
    if let Some(bad) = args[4..].iter().find(|a| !STAGES.contains(&a.as_str())) {
        return Err(format!("unknown stage {bad:?}; stages: {}", STAGES.join(", ")).into());
    }
    let run = |stage: &str| args.len() == 4 || args[4..].iter().any(|a| a == stage);
    let kind = args[1].as_str();
    let n: usize = args[2].parse()?;
    let keys = std::path::Path::new(&args[3]);
    let catalog = Arc::new(Catalog::load()?);
    let template = catalog.get(kind).ok_or("unknown kind")?;
    let sample: serde_json::Value = serde_json::from_str(template.sample)?;
    let data: Vec<serde_json::Value> = (0..=n).map(|i| vary(&sample, i)).collect();
    let a = Authority::default();

    // Stage 1: render only.
    let today = typst::foundations::Datetime::from_ymd(2026, 11, 25).ok_or("date")?;
    let valid: Vec<_> = data
        .iter()
        .map(|d| template.schema.validate(d, today))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e:?}"))?;
    let meta = |i: usize| DocumentMeta {
        id: format!(
            "{:032x}",
            0x0123_4567_89ab_cdef_u128.wrapping_mul(i as u128 + 1)
        ),
        number: i as u32 + 1,
        volume: 1,
        year: 2026,
        type_code: template.schema.type_code.clone(),
        issued_on: (2026, 11, 25),
        authority: AuthorityLines {
            parent: a.parent.clone(),
            name: a.name.clone(),
            full_name: a.full_name.clone(),
            place: a.place.clone(),
            office: a.office.clone(),
        },
        verify_url: format!(
            "https://kyso.example.gov.vn/v/{:032x}",
            0x0123_4567_89ab_cdef_u128.wrapping_mul(i as u128 + 1)
        ),
    };
    if run("render") {
        measure("render", n, |i| {
            catalog.render(kind, &valid[i], &meta(i)).expect("renders");
        });
    }

    // Stage 2: issue (validate, number, render, record).
    let dir = std::env::temp_dir().join(format!("kyso-bench-issue-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut issuer = Issuer::new(
        catalog.clone(),
        Registry::open(&dir.join("r.sqlite3"))?,
        kyso::issuing::IssuedFiles::new(dir.join("documents")),
        a.clone(),
        "https://kyso.example.gov.vn",
    );
    let now = time::OffsetDateTime::now_utc();
    if run("issue") {
        measure("issue", n, |i| {
            issuer.issue(kind, &data[i], now).expect("issues");
        });
    }

    // Stage 3: issue, then the official signs and the agency seals.
    let signer = |stem: &str| -> Result<KeySigner, Box<dyn std::error::Error>> {
        let key = pki::load_private_key(&keys.join(format!("{stem}.key.pem")))?;
        let cert = pki::load_certificates(&keys.join(format!("{stem}.pem")))?.remove(0);
        let chain = pki::load_certificates(&keys.join("intermediate-ca.pem"))?;
        Ok(KeySigner::new(&key, cert, chain, false)?)
    };
    for (stage, official, seal) in [
        ("ecdsa", "chairman-ec", "seal-ec"),
        ("rsa", "chairman-rsa", "seal-rsa"),
    ] {
        if !run(stage) {
            continue;
        }
        let (o, s) = (signer(official)?, signer(seal)?);
        let field = |name: &str| SignOptions {
            field: Some(name.into()),
            development_mode: true,
            ..SignOptions::at(time::OffsetDateTime::now_utc())
        };
        let (fo, fs) = (field("ChuKyLanhDao"), field("DauCoQuan"));
        let label = if official.ends_with("ec") {
            "issue+sign (ECDSA P-256)"
        } else {
            "issue+sign (RSA-2048)"
        };
        println!("{label}, the official's signature only, then official and seal:");
        measure("issue+1sig", n, |i| {
            let doc = issuer.issue(kind, &data[i], now).expect("issues");
            sign_pdf(&doc.pdf, &o, &fo).expect("official signs");
        });
        measure("issue+sign", n, |i| {
            let doc = issuer.issue(kind, &data[i], now).expect("issues");
            let signed = sign_pdf_sequence(&doc.pdf, &steps(&o, &fo, &s, &fs))
                .expect("official and seal sign");
            assert!(signed.len() > doc.pdf.len());
        });
    }

    // Stage 4: as a server would, several issuing threads share the register. A single thread
    // waits for the disk once per document (the issued commit's fsync); with several, one
    // renders and signs while another waits, so on one core (taskset -c 0) documents per second
    // approach 1000 / (CPU ms per document).
    let threads = 4;
    if n < threads || !run("threads") {
        std::fs::remove_dir_all(&dir)?;
        return Ok(());
    }
    let (o, s) = (
        Arc::new(signer("chairman-ec")?),
        Arc::new(signer("seal-ec")?),
    );
    let data = Arc::new(data);
    let (t, c) = (Instant::now(), cpu_seconds());
    let per_thread = n / threads;
    std::thread::scope(|scope| -> Result<(), String> {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (catalog, o, s, data, a, db) = (
                    catalog.clone(),
                    o.clone(),
                    s.clone(),
                    data.clone(),
                    a.clone(),
                    dir.join("r.sqlite3"),
                );
                let files = kyso::issuing::IssuedFiles::new(dir.join("documents"));
                scope.spawn(move || -> Result<(), String> {
                    let registry = Registry::open(&db).map_err(|e| e.to_string())?;
                    let mut issuer =
                        Issuer::new(catalog, registry, files, a, "https://kyso.example.gov.vn");
                    let field = |name: &str| SignOptions {
                        field: Some(name.into()),
                        development_mode: true,
                        ..SignOptions::at(time::OffsetDateTime::now_utc())
                    };
                    let (fo, fs) = (field("ChuKyLanhDao"), field("DauCoQuan"));
                    for i in 0..per_thread {
                        let doc = issuer
                            .issue(kind, &data[(k * per_thread + i) % data.len()], now)
                            .map_err(|e| e.to_string())?;
                        sign_pdf_sequence(&doc.pdf, &steps(&o, &fo, &s, &fs))
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| "an issuing thread panicked".to_owned())??;
        }
        Ok(())
    })?;
    let (wall, cpu, total) = (
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c,
        (per_thread * threads) as f64,
    );
    println!("issue+sign (ECDSA P-256), {threads} threads sharing the register:");
    println!(
        "issue+sign  {:>6} docs  {:>8.1} docs/s  {:>7.3} ms wall/doc  {:>7.3} ms CPU/doc",
        per_thread * threads,
        total / wall,
        wall / total * 1e3,
        cpu / total * 1e3
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
