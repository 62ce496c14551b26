//! Shared helpers for the black-box tests: where things are, running the `kyso` binary (and, in
//! [`served`], `kyso serve` with a client for it), and the external verifiers (pyHanko, pdfsig,
//! qpdf) that judge what kyso produces.
#![allow(dead_code)]

pub mod served;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed development PKI.
pub fn keys_dev() -> PathBuf {
    repo().join("keys-dev")
}

/// The shared folder (fixtures, verifier scripts): `KYSO_SHARED`, else `../shared`, else
/// `/work/shared`.
pub fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("KYSO_SHARED") {
        return PathBuf::from(p);
    }
    let beside = repo().join("../shared");
    if beside.join("tools").is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared")
}

/// A fixture under `shared/fixtures/external/`.
pub fn fixture(rel: &str) -> PathBuf {
    shared().join("fixtures/external").join(rel)
}

/// The `kyso` binary built for these tests.
pub fn kyso() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kyso"));
    c.env_remove("KYSO_CONFIG")
        .env_remove("KYSO_DEVELOPMENT")
        .env_remove("KYSO_TRUST");
    // Signed output is recorded in the archive outbox; keep that out of the source tree.
    c.env(
        "KYSO_DATA_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("kyso-data"),
    );
    c
}

/// What a finished process wrote: its stdout, then its stderr.
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file below `dir`, in any depth.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `pdf` with one more revision that turns its first page by 90 degrees.
pub fn tampered(pdf: &[u8]) -> Vec<u8> {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let page = *doc.get_pages().values().next().unwrap();
    let mut dict = doc.get_dictionary(page).unwrap().clone();
    dict.set("Rotate", 90);
    let mut up = kyso::pdf::incremental::IncrementalUpdate::new(pdf, &doc).unwrap();
    up.put(page, lopdf::Object::Dictionary(dict));
    up.write().unwrap().bytes
}

/// Arguments `--key --cert --chain` for a keys-dev identity such as `chairman-rsa`.
pub fn signer_args(stem: &str) -> Vec<String> {
    let k = keys_dev();
    vec![
        "--key".into(),
        k.join(format!("{stem}.key.pem")).display().to_string(),
        "--cert".into(),
        k.join(format!("{stem}.pem")).display().to_string(),
        "--chain".into(),
        k.join("intermediate-ca.pem").display().to_string(),
    ]
}

/// Arguments of `kyso --dev sign` as keys-dev identity `stem`.
pub fn sign_args(stem: &str, input: &Path, output: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["--dev".into(), "sign".into()];
    args.extend(signer_args(stem));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(input.display().to_string());
    args.push("-o".into());
    args.push(output.display().to_string());
    args
}

/// `kyso --dev sign` as `stem`; panics with kyso's stderr on failure.
pub fn dev_sign(stem: &str, input: &Path, output: &Path, extra: &[&str]) {
    let out = kyso()
        .args(sign_args(stem, input, output, extra))
        .output()
        .expect("kyso runs");
    assert!(
        out.status.success(),
        "kyso sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The verifiers' tool directory (pyHanko venv).
pub fn tools() -> PathBuf {
    std::env::var_os("KYSO_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/kyso-tools")
        })
}

/// Runs `shared/tools/external-verify.sh FILE ROOTS...`; returns (accepted, report).
pub fn external_verify(file: &Path, roots: &[&Path]) -> (bool, String) {
    let mut c = Command::new("bash");
    c.arg(shared().join("tools/external-verify.sh")).arg(file);
    for r in roots {
        c.arg(r);
    }
    let out = c
        .env("KYSO_TOOLS", tools())
        .output()
        .expect("external-verify.sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Asserts both external verifiers accept `file` under the keys-dev root (plus `extra_roots`).
pub fn assert_externally_valid(file: &Path, extra_roots: &[&Path]) {
    let root = keys_dev().join("root-ca.pem");
    let mut roots = vec![root.as_path()];
    roots.extend_from_slice(extra_roots);
    let (ok, report) = external_verify(file, &roots);
    assert!(
        ok,
        "external verifiers rejected {}:\n{report}",
        file.display()
    );
}

/// Asserts `qpdf --check` finds no errors.
pub fn assert_qpdf_clean(file: &Path) {
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(file)
        .output()
        .expect("qpdf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("No syntax or stream encoding errors"),
        "qpdf --check failed on {}:\n{text}{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Length of the DER TLV at the start of `b` (a `/Contents` value is zero-padded after it).
pub fn der_len(b: &[u8]) -> usize {
    match b.get(1).copied().unwrap_or(0) {
        n if n < 0x80 => 2 + n as usize,
        0x81 => 3 + b[2] as usize,
        0x82 => 4 + (((b[2] as usize) << 8) | b[3] as usize),
        _ => 5 + (((b[2] as usize) << 16) | ((b[3] as usize) << 8) | b[4] as usize),
    }
}

/// Validation policy trusting the keys-dev root.
pub fn dev_policy() -> kyso::validation::Policy {
    let mut anchors = kyso::validation::TrustAnchors::new();
    anchors
        .add_pem_or_der(&std::fs::read(keys_dev().join("root-ca.pem")).unwrap())
        .unwrap();
    kyso::validation::Policy {
        anchors,
        ..Default::default()
    }
}

/// Validates `bytes` under [`dev_policy`].
pub fn verify(bytes: &[u8]) -> kyso::validation::ValidationReport {
    kyso::validation::validate(bytes, &dev_policy(), time::OffsetDateTime::now_utc())
        .expect("readable PDF")
}

/// `kyso --dev sign` as `stem` over `input` bytes, returning the signed bytes.
pub fn sign_bytes(stem: &str, input: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&i, input).unwrap();
    dev_sign(stem, &i, &o, &[]);
    std::fs::read(o).unwrap()
}

/// An in-process signer with the keys-dev key and certificate `stem` (e.g. `chairman-rsa`) and
/// the development intermediate as its chain.
pub fn dev_key_signer(stem: &str) -> kyso::signing::KeySigner {
    let k = keys_dev();
    let key = kyso::pki::load_private_key(&k.join(format!("{stem}.key.pem"))).unwrap();
    let cert = kyso::pki::load_certificates(&k.join(format!("{stem}.pem")))
        .unwrap()
        .remove(0);
    let chain = kyso::pki::load_certificates(&k.join("intermediate-ca.pem")).unwrap();
    kyso::signing::KeySigner::new(&key, cert, chain, false).unwrap()
}
