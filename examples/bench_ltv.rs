//! The cost of PAdES B-LT and B-LTA over B-T, in process, with the OCSP/CRL cache warm (as in
//! the server: one fetcher for the process), and of validating the B-LTA file offline (used by
//! `bench/ltv.sh`, which serves the TSA, OCSP responder and CRLs on loopback).
//!
//! Usage: bench_ltv KEY.pem CERT.pem CHAIN.pem ROOT.pem IN.pdf TSA_URL ITERATIONS

use std::time::{Duration, Instant};

use kyso::ltv::{self, Material, fetch::Fetcher};
use kyso::pdf::Limits;
use kyso::pki;
use kyso::signing::timestamp::TimestampClient;
use kyso::signing::{KeySigner, SignOptions, SignatureStep, sign_pdf_sequence_stamped};
use kyso::validation::{self, Policy, Verdict, chain::TrustAnchors};

/// The allocator the `kyso` binary uses, so the figures are the binary's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// CPU time of this process so far (user + system, all threads), in milliseconds, from
/// `/proc/self/stat` (clock ticks: 10 ms each, so loops run for seconds); 0 elsewhere.
fn cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name (which may hold spaces) start at state, field 3;
    // utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 8 {
        return Err(
            "usage: bench_ltv KEY.pem CERT.pem CHAIN.pem ROOT.pem IN.pdf TSA_URL ITERATIONS".into(),
        );
    }
    let key = pki::load_private_key(args[1].as_ref())?;
    let cert = pki::load_certificates(args[2].as_ref())?.remove(0);
    let chain = pki::load_certificates(args[3].as_ref())?;
    let mut anchors = TrustAnchors::new();
    anchors.add_pem_or_der(&std::fs::read(&args[4])?)?;
    let input = std::fs::read(&args[5])?;
    let n: usize = args[7].parse()?;
    let signer = KeySigner::new(&key, cert, chain, true)?;
    let tsa = TimestampClient::new(
        vec![args[6].clone()],
        anchors.clone(),
        Duration::from_secs(3),
        Duration::from_secs(5),
        8192,
    );
    let opts = SignOptions {
        timestamper: Some(tsa.clone()),
        ..SignOptions::at(time::OffsetDateTime::now_utc())
    };
    let step = SignatureStep {
        signer: &signer,
        options: &opts,
        appearance: None,
    };
    let limits = Limits::default();
    let fetcher = Fetcher::new(Duration::from_secs(3), Duration::from_secs(5));
    let b_t = || sign_pdf_sequence_stamped(&input, &[step]).map(|s| s.bytes);
    let b_lt = |bytes: &[u8]| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let g = ltv::gather(
            bytes,
            &limits,
            &anchors,
            &Material::default(),
            &fetcher,
            now(),
        )?;
        if !g.missing.is_empty() {
            return Err(g.missing.join("; ").into());
        }
        Ok(ltv::add_dss(bytes, &g.material, &limits)?)
    };
    // Warm-up: fills the OCSP/CRL cache.
    let lta = ltv::add_document_timestamp(
        &b_lt(&b_t()?)?,
        &limits,
        &tsa,
        time::OffsetDateTime::now_utc(),
    )?
    .0;

    // Wall-clock and CPU time per iteration. The CPU time is this process's (user + system,
    // every thread): what kyso itself spends, without the time it waits for the TSA (a
    // separate process) and without the time other processes take the cores from it.
    let time = |f: &mut dyn FnMut() -> Result<usize, Box<dyn std::error::Error>>| {
        let (start, cpu) = (Instant::now(), cpu_ms());
        let mut size = 0;
        for _ in 0..n {
            size = f().expect("the step works");
        }
        (
            start.elapsed().as_secs_f64() * 1e3 / n as f64,
            (cpu_ms() - cpu) / n as f64,
            size,
        )
    };
    let (bt, bt_cpu, bt_size) = time(&mut || Ok(b_t()?.len()));
    let (blt, blt_cpu, blt_size) = time(&mut || Ok(b_lt(&b_t()?)?.len()));
    let (blta, blta_cpu, blta_size) = time(&mut || {
        Ok(ltv::add_document_timestamp(
            &b_lt(&b_t()?)?,
            &limits,
            &tsa,
            time::OffsetDateTime::now_utc(),
        )?
        .0
        .len())
    });
    // What B-LTA adds to one B-T file: the DSS (caches warm: no network) and the document
    // timestamp.
    let bt_file = b_t()?;
    let (extra, extra_cpu, _) = time(&mut || {
        Ok(ltv::add_document_timestamp(
            &b_lt(&bt_file)?,
            &limits,
            &tsa,
            time::OffsetDateTime::now_utc(),
        )?
        .0
        .len())
    });
    // The TSA alone: one request and its checks over a fixed value.
    let (tsa_rt, tsa_cpu, _) = time(&mut || {
        Ok(tsa
            .timestamp(&[7u8; 32], time::OffsetDateTime::now_utc())
            .map_err(|e| format!("{e:?}"))?
            .der
            .len())
    });
    println!("step\truns\twall ms\tkyso CPU ms\tbytes");
    println!("TSA round trip\t{n}\t{tsa_rt:.3}\t{tsa_cpu:.3}\t-");
    println!("B-T\t{n}\t{bt:.3}\t{bt_cpu:.3}\t{bt_size}");
    println!("B-LT\t{n}\t{blt:.3}\t{blt_cpu:.3}\t{blt_size}");
    println!("B-LTA\t{n}\t{blta:.3}\t{blta_cpu:.3}\t{blta_size}");
    println!("B-LTA added to a B-T file\t{n}\t{extra:.3}\t{extra_cpu:.3}\t-");

    let policy = Policy {
        anchors,
        ..Policy::default()
    };
    let report = validation::validate(&lta, &policy, time::OffsetDateTime::now_utc())?;
    if report.indication != Verdict::Passed {
        return Err(format!("the B-LTA file does not validate: {report:?}").into());
    }
    let v = n * 10;
    let (start, cpu) = (Instant::now(), cpu_ms());
    for _ in 0..v {
        std::hint::black_box(validation::validate(
            &lta,
            &policy,
            time::OffsetDateTime::now_utc(),
        )?);
    }
    let per = start.elapsed().as_secs_f64() * 1e3 / v as f64;
    let per_cpu = (cpu_ms() - cpu) / v as f64;
    println!("validate B-LTA\t{v}\t{per:.3}\t{per_cpu:.3}\t{}", lta.len());
    Ok(())
}
