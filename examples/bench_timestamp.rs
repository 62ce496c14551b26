//! The cost of a PAdES B-T signature (with a signature timestamp from a TSA) against B-B, in
//! process, same key and input (used by `bench/timestamp.sh`, which serves the TSA on loopback).
//!
//! Usage: bench_timestamp KEY.pem CERT.pem CHAIN.pem ROOT.pem IN.pdf TSA_URL ITERATIONS

use std::time::{Duration, Instant};

use kyso::pki;
use kyso::signing::timestamp::TimestampClient;
use kyso::signing::{
    KeySigner, SignOptions, SignatureStep, TimestampOutcome, sign_pdf_sequence_stamped,
};
use kyso::validation::chain::TrustAnchors;

/// The allocator the `kyso` binary uses, so the figures are the binary's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 8 {
        return Err(
            "usage: bench_timestamp KEY.pem CERT.pem CHAIN.pem ROOT.pem IN.pdf TSA_URL ITERATIONS"
                .into(),
        );
    }
    let key = pki::load_private_key(args[1].as_ref())?;
    let cert = pki::load_certificates(args[2].as_ref())?.remove(0);
    let chain = pki::load_certificates(args[3].as_ref())?;
    let mut anchors = TrustAnchors::new();
    anchors.add_pem_or_der(&std::fs::read(&args[4])?)?;
    let input = std::fs::read(&args[5])?;
    let n: usize = args[7].parse()?;
    // RSASSA-PSS, kyso's default for RSA keys.
    let signer = KeySigner::new(&key, cert, chain, true)?;
    let b_b = SignOptions::at(time::OffsetDateTime::now_utc());
    let b_t = SignOptions {
        timestamper: Some(TimestampClient::new(
            vec![args[6].clone()],
            anchors,
            Duration::from_secs(3),
            Duration::from_secs(5),
            8192,
        )),
        ..SignOptions::at(time::OffsetDateTime::now_utc())
    };
    for (name, opts) in [("B-B", &b_b), ("B-T", &b_t)] {
        let step = SignatureStep {
            signer: &signer,
            options: opts,
            appearance: None,
        };
        // Warm-up, and a check that B-T really got its timestamp.
        let first = sign_pdf_sequence_stamped(&input, &[step])?;
        if name == "B-T" && !matches!(first.timestamps[0], TimestampOutcome::Stamped { .. }) {
            return Err(format!("no timestamp: {:?}", first.timestamps[0]).into());
        }
        let start = Instant::now();
        let mut bytes = 0usize;
        for _ in 0..n {
            bytes = sign_pdf_sequence_stamped(&input, &[step])?.bytes.len();
        }
        let per = start.elapsed().as_secs_f64() / n as f64;
        println!("{name}\t{n}\t{:.3}\t{bytes}", per * 1e3);
    }
    Ok(())
}
