//! The live test PKI: the one ./test.sh started (`KYSO_TEST_PKI_URL`, keys in
//! `KYSO_TEST_PKI_KEYS`), or one started here by .ci/certomancer.sh and stopped on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::common::{fixture, kyso, repo, tools};

pub struct Pki {
    pub url: String,
    pub keys: PathBuf,
    certs: tempfile::TempDir,
    _own_state: Option<tempfile::TempDir>,
}

/// Every certificate label of tests/pki/certomancer.yml the tests use.
const LABELS: [&str; 9] = [
    "root",
    "interm",
    "tsa",
    "interm-ocsp",
    "signer",
    "signer-expiring",
    "signer-revoked-early",
    "signer-revoked-later",
    "tsa-no-eku",
];

/// The PKI, started once per test binary.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::start)
}

impl Pki {
    fn start() -> Pki {
        let (url, keys, own_state) = match (
            std::env::var("KYSO_TEST_PKI_URL"),
            std::env::var("KYSO_TEST_PKI_KEYS"),
        ) {
            (Ok(u), Ok(k)) => (u, PathBuf::from(k), None),
            _ => {
                let state = tempfile::tempdir().unwrap();
                let out = Command::new("bash")
                    .arg(repo().join(".ci/certomancer.sh"))
                    .arg("start")
                    .env("PKI_STATE", state.path())
                    .output()
                    .expect("certomancer.sh runs");
                assert!(
                    out.status.success(),
                    "cannot start certomancer: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let env = std::fs::read_to_string(state.path().join("env")).unwrap();
                let var = |name: &str| {
                    env.lines()
                        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                        .unwrap()
                        .to_owned()
                };
                (
                    var("KYSO_TEST_PKI_URL"),
                    PathBuf::from(var("KYSO_TEST_PKI_KEYS")),
                    Some(state),
                )
            }
        };
        let pki = Pki {
            url,
            keys,
            certs: tempfile::tempdir().unwrap(),
            _own_state: own_state,
        };
        for label in LABELS {
            let pem = http_get(
                &format!("{}/_certomancer/any-cert/kyso/{label}.cert.pem", pki.url),
                None,
            );
            std::fs::write(pki.cert(label), pem).unwrap();
        }
        pki
    }

    pub fn tsa(&self) -> String {
        format!("{}/kyso/tsa/tsa", self.url)
    }

    /// The PEM file of a certificate.
    pub fn cert(&self, label: &str) -> PathBuf {
        self.certs.path().join(format!("{label}.pem"))
    }

    /// The DER of a certificate.
    pub fn der(&self, label: &str) -> Vec<u8> {
        pem::parse(std::fs::read(self.cert(label)).unwrap())
            .unwrap()
            .into_contents()
    }

    pub fn key(&self, label: &str) -> PathBuf {
        self.keys.join(format!("{label}.key.pem"))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        if let Some(state) = &self._own_state {
            let _ = Command::new("bash")
                .arg(repo().join(".ci/certomancer.sh"))
                .arg("stop")
                .env("PKI_STATE", state.path())
                .status();
        }
    }
}

/// GET, optionally at a fake time (certomancer's `X-Certomancer-Fake-Time`, RFC 3339).
pub fn http_get(url: &str, fake_time: Option<&str>) -> Vec<u8> {
    let mut req = ureq::get(url);
    if let Some(t) = fake_time {
        req = req.header("X-Certomancer-Fake-Time", t);
    }
    req.call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .body_mut()
        .read_to_vec()
        .unwrap()
}

/// POST an OCSP request, optionally at a fake time.
pub fn ocsp_post(url: &str, body: &[u8], fake_time: Option<&str>) -> Vec<u8> {
    let mut req = ureq::post(url).header("Content-Type", "application/ocsp-request");
    if let Some(t) = fake_time {
        req = req.header("X-Certomancer-Fake-Time", t);
    }
    req.send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .body_mut()
        .read_to_vec()
        .unwrap()
}

/// `kyso sign` of the unsigned fixture as `label`, with these TSAs and `[ltv] level`, into
/// `output`, with its own data directory under `data`.
pub fn sign(label: &str, tsa_urls: &str, level: &str, data: &Path, output: &Path) -> Output {
    let p = pki();
    kyso()
        .env("KYSO_DATA_DIR", data)
        .env("KYSO_TSA_URLS", tsa_urls)
        .env("KYSO_TRUST", p.cert("root"))
        .env("KYSO_LTV", level)
        .arg("sign")
        .arg("--key")
        .arg(p.key(label))
        .arg("--cert")
        .arg(p.cert(label))
        .arg("--chain")
        .arg(p.cert("interm"))
        .arg(fixture("pyhanko/unsigned.pdf"))
        .arg("-o")
        .arg(output)
        .output()
        .expect("kyso runs")
}

/// `kyso verify --json` under the test root, optionally at a later time, with extra CRLs.
pub fn verify(file: &Path, at: Option<&str>, crls: &[&Path]) -> serde_json::Value {
    let p = pki();
    let mut c = kyso();
    c.arg("verify")
        .arg("--json")
        .arg("--trust")
        .arg(p.cert("root"));
    if let Some(at) = at {
        c.args(["--at", at]);
    }
    for crl in crls {
        c.arg("--crl").arg(crl);
    }
    let out = c.arg(file).output().expect("kyso runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kyso verify --json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// pyHanko's AdES validation (`pyhanko sign adesverify`): revocation information required for
/// every certificate, taken from the file (no fetching), past validation through the file's
/// timestamps. Returns (valid, report).
pub fn pyhanko_ades(file: &Path) -> (bool, String) {
    let out = Command::new(tools().join("venv/bin/pyhanko"))
        .args(["sign", "adesverify", "--trust"])
        .arg(pki().cert("root"))
        .args(["--trust-replace", "--pretty-print"])
        .arg(file)
        .output()
        .expect("pyhanko runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains("The signature is judged VALID"),
        text,
    )
}

/// pyHanko's classic validation with revocation checking `--force-revinfo` (hard-fail, and a
/// certificate without revocation information fails). Returns (valid, report).
pub fn pyhanko_hard_fail(file: &Path) -> (bool, String) {
    let out = Command::new(tools().join("venv/bin/pyhanko"))
        .args(["sign", "validate", "--trust"])
        .arg(pki().cert("root"))
        .args(["--trust-replace", "--force-revinfo", "--executive-summary"])
        .arg(file)
        .output()
        .expect("pyhanko runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && text.contains(":VALID") && !text.contains(":INVALID"),
        text,
    )
}
