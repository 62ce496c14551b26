//! Signs one PDF many times in process and prints the mean time per signature (used by
//! `bench/sign.sh`, which runs pyHanko on the same input in the same run).
//!
//! Usage: bench_sign KEY.pem CERT.pem CHAIN.pem IN.pdf ITERATIONS

use std::time::Instant;

use kyso::pki;
use kyso::signing::{KeySigner, SignOptions, sign_pdf};

/// The allocator the `kyso` binary uses, so the figures are the binary's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        return Err("usage: bench_sign KEY.pem CERT.pem CHAIN.pem IN.pdf ITERATIONS".into());
    }
    let key = pki::load_private_key(args[1].as_ref())?;
    let cert = pki::load_certificates(args[2].as_ref())?.remove(0);
    let chain = pki::load_certificates(args[3].as_ref())?;
    let input = std::fs::read(&args[4])?;
    let n: usize = args[5].parse()?;
    let signer = KeySigner::new(&key, cert, chain, false)?;
    let opts = SignOptions {
        development_mode: true,
        ..SignOptions::at(time::OffsetDateTime::now_utc())
    };
    // Warm-up, and a check that the output is a real signature.
    let out = sign_pdf(&input, &signer, &opts)?;
    assert!(out.len() > input.len());
    let start = Instant::now();
    let mut total = 0usize;
    for _ in 0..n {
        total += sign_pdf(&input, &signer, &opts)?.len();
    }
    let per = start.elapsed().as_secs_f64() / n as f64;
    println!("kyso\t{n}\t{:.3}\t{total}", per * 1e3);
    Ok(())
}
