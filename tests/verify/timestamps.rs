//! PAdES B-T: kyso asks a live RFC 3161 TSA (certomancer on loopback, tests/pki/certomancer.yml)
//! for a signature timestamp, pyHanko agrees with what kyso verify reports, a timestamp from
//! before a certificate's expiry keeps the signature valid after it, and bad or missing TSA
//! answers leave a valid B-B signature that says its timestamp is owed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use der::{Decode, Encode};

use crate::common::*;

/// The live test PKI: the one ./test.sh started (`KYSO_TEST_PKI_URL`, keys in
/// `KYSO_TEST_PKI_KEYS`), or one started for this test by .ci/certomancer.sh and stopped on drop.
struct Pki {
    url: String,
    keys: PathBuf,
    certs: tempfile::TempDir,
    own_state: Option<tempfile::TempDir>,
}

impl Pki {
    fn get() -> Pki {
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
            own_state,
        };
        for label in ["root", "interm", "signer", "signer-expiring"] {
            let pem = http_get(&format!(
                "{}/_certomancer/any-cert/kyso/{label}.cert.pem",
                pki.url
            ));
            std::fs::write(pki.cert(label), pem).unwrap();
        }
        pki
    }

    fn tsa(&self) -> String {
        format!("{}/kyso/tsa/tsa", self.url)
    }

    fn cert(&self, label: &str) -> PathBuf {
        self.certs.path().join(format!("{label}.pem"))
    }

    /// `kyso sign` as `label` with these TSA URLs (empty: none configured).
    fn sign(&self, label: &str, tsa_urls: &str, output: &Path) -> Output {
        kyso()
            .env("KYSO_TSA_URLS", tsa_urls)
            .env("KYSO_TRUST", self.cert("root"))
            .arg("sign")
            .arg("--key")
            .arg(self.keys.join(format!("{label}.key.pem")))
            .arg("--cert")
            .arg(self.cert(label))
            .arg("--chain")
            .arg(self.cert("interm"))
            .arg(fixture("pyhanko/unsigned.pdf"))
            .arg("-o")
            .arg(output)
            .output()
            .expect("kyso runs")
    }

    /// `kyso verify --json` under this PKI's root, optionally at a later time.
    fn verify(&self, file: &Path, at: Option<&str>) -> serde_json::Value {
        let mut c = kyso();
        c.arg("verify")
            .arg("--json")
            .arg("--trust")
            .arg(self.cert("root"));
        if let Some(at) = at {
            c.args(["--at", at]);
        }
        let out = c.arg(file).output().expect("kyso runs");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "kyso verify --json: {e}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        if let Some(state) = &self.own_state {
            let _ = Command::new("bash")
                .arg(repo().join(".ci/certomancer.sh"))
                .arg("stop")
                .env("PKI_STATE", state.path())
                .status();
        }
    }
}

fn http_get(url: &str) -> Vec<u8> {
    ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .body_mut()
        .read_to_vec()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "kyso failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn first_signature(report: &serde_json::Value) -> &serde_json::Value {
    &report["signatures"][0]
}

#[test]
fn a_b_t_signature_from_the_live_tsa_is_reported_by_kyso_and_pyhanko_agrees() {
    let pki = Pki::get();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b-t.pdf");
    // The first TSA is down: the next one in order answers.
    let said = stdout(&pki.sign(
        "signer",
        &format!("http://127.0.0.1:1/tsa, {}", pki.tsa()),
        &out,
    ));
    assert!(
        said.contains("timestamp") && said.contains("KYSO Test TSA"),
        "{said}"
    );
    assert!(!said.contains("owed"), "{said}");

    let report = pki.verify(&out, None);
    let sig = first_signature(&report);
    assert_eq!(sig["indication"], "TOTAL-PASSED", "{report:#}");
    let ts = &sig["timestamps"];
    assert_eq!(ts.as_array().map(Vec::len), Some(1), "{report:#}");
    assert_eq!(ts[0]["valid"], true, "{report:#}");
    assert_eq!(ts[0]["tsa"], "KYSO Test TSA");
    assert!(ts[0]["time"].as_str().is_some_and(|t| t.starts_with("20")));

    // pyHanko, trusting only the test root, sees the same timestamp and judges it valid.
    let o = Command::new(tools().join("venv/bin/pyhanko"))
        .args(["sign", "validate", "--trust"])
        .arg(pki.cert("root"))
        .args(["--trust-replace", "--no-revocation-check", "--pretty-print"])
        .arg(&out)
        .output()
        .expect("pyhanko runs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("The signature is judged VALID"), "{text}");
    assert!(text.contains("Signature timestamp token"), "{text}");
    assert!(
        text.contains("The timestamp token is cryptographically sound"),
        "{text}"
    );
    assert!(text.contains("KYSO Test TSA"), "{text}");
    // pdfsig and pyHanko (external-verify.sh) accept the RSASSA-PSS B-T signature too.
    let (ok, why) = external_verify(&out, &[&pki.cert("root")]);
    assert!(ok, "{why}");
}

#[test]
fn with_no_tsa_answering_the_signature_is_b_b_and_says_its_timestamp_is_owed() {
    let pki = Pki::get();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("owed.pdf");
    // A closed port answers at once; the timeouts bound a silent one.
    let said = stdout(&pki.sign("signer", "http://127.0.0.1:1/tsa", &out));
    assert!(said.contains("timestamp owed"), "{said}");
    // The audit entry of the signing records what is owed.
    let audit = stdout(
        &kyso()
            .args(["audit", "list", "--limit", "1000000"])
            .output()
            .unwrap(),
    );
    let entry = audit
        .lines()
        .rev()
        .find(|l| l.contains("\tsign\t") && l.contains(&*out.to_string_lossy()))
        .unwrap_or_else(|| panic!("no audit entry for {}: {audit}", out.display()));
    assert!(entry.contains(r#""state":"owed""#), "{entry}");
    let report = pki.verify(&out, None);
    let sig = first_signature(&report);
    assert_eq!(sig["indication"], "TOTAL-PASSED", "{report:#}");
    assert_eq!(sig["timestamps"], serde_json::json!([]), "{report:#}");
    // With no TSA configured, kyso signs B-B and says nothing of timestamps.
    let plain = dir.path().join("plain.pdf");
    let said = stdout(&pki.sign("signer", "", &plain));
    assert!(!said.contains("timestamp"), "{said}");
}

/// A TSA that forwards to the real one a request altered by `alter`, and returns the genuine
/// (TSA-signed) answer to that altered request: a replayed or misrouted token.
fn fake_tsa(real: String, alter: fn(&mut x509_tsp::TimeStampReq)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then Content-Length bytes of body.
            let body = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break Some(buf[end + 4..end + 4 + len].to_vec());
                }
            };
            let Some(body) = body else { continue };
            let mut req = x509_tsp::TimeStampReq::from_der(&body).unwrap();
            alter(&mut req);
            let answer = ureq::post(&real)
                .header("Content-Type", "application/timestamp-query")
                .send(&req.to_der().unwrap()[..])
                .unwrap()
                .body_mut()
                .read_to_vec()
                .unwrap();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                answer.len()
            );
            let _ = s.write_all(&answer);
        }
    });
    url
}

#[test]
fn a_tsa_answer_with_another_nonce_or_imprint_is_refused_and_the_timestamp_owed() {
    let pki = Pki::get();
    let dir = tempfile::tempdir().unwrap();
    let wrong_nonce = fake_tsa(pki.tsa(), |r| {
        r.nonce = Some(der::asn1::Int::new(&[0x42; 8]).unwrap());
    });
    let wrong_imprint = fake_tsa(pki.tsa(), |r| {
        r.message_imprint.hashed_message = der::asn1::OctetString::new([7u8; 32]).unwrap();
    });
    for (url, why) in [(wrong_nonce, "nonce"), (wrong_imprint, "imprint")] {
        let out = dir.path().join(format!("{why}.pdf"));
        let said = stdout(&pki.sign("signer", &url, &out));
        assert!(said.contains("timestamp owed"), "{why}: {said}");
        assert!(said.contains(why), "{why}: {said}");
        let report = pki.verify(&out, None);
        assert_eq!(
            first_signature(&report)["timestamps"],
            serde_json::json!([])
        );
        assert_eq!(first_signature(&report)["indication"], "TOTAL-PASSED");
    }
}

#[test]
fn a_timestamp_from_before_the_signer_certificate_expired_keeps_the_signature_valid_after() {
    let pki = Pki::get();
    let dir = tempfile::tempdir().unwrap();
    // signer-expiring is valid until 2029-01-01; validate in 2030.
    let later = "2030-06-01T00:00:00Z";
    let stamped = dir.path().join("stamped.pdf");
    stdout(&pki.sign("signer-expiring", &pki.tsa(), &stamped));
    let report = pki.verify(&stamped, Some(later));
    let sig = first_signature(&report);
    assert_eq!(sig["timestamps"][0]["valid"], true, "{report:#}");
    assert_eq!(sig["indication"], "TOTAL-PASSED", "{report:#}");

    // The same signature without a timestamp has no proof it existed before the expiry.
    let bare = dir.path().join("bare.pdf");
    stdout(&pki.sign("signer-expiring", "", &bare));
    let report = pki.verify(&bare, Some(later));
    let sig = first_signature(&report);
    assert_eq!(sig["indication"], "INDETERMINATE", "{report:#}");
    assert_eq!(sig["sub_indication"], "OUT_OF_BOUNDS_NO_POE", "{report:#}");
}

#[test]
fn deferred_signing_with_an_external_key_gets_its_signature_timestamp_at_completion() {
    let pki = Pki::get();
    let dir = tempfile::tempdir().unwrap();
    let digest = dir.path().join("digest.bin");
    let run = |args: &[&std::ffi::OsStr]| {
        stdout(
            &kyso()
                .env("KYSO_TSA_URLS", pki.tsa())
                .env("KYSO_TRUST", pki.cert("root"))
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let input = fixture("pyhanko/unsigned.pdf");
    let said = run(&[
        "sign".as_ref(),
        "prepare".as_ref(),
        "--cert".as_ref(),
        pki.cert("signer").as_os_str(),
        "--chain".as_ref(),
        pki.cert("interm").as_os_str(),
        "--digest-out".as_ref(),
        digest.as_os_str(),
        input.as_os_str(),
    ]);
    let handle = said
        .lines()
        .find_map(|l| l.strip_prefix("handle: "))
        .expect("a handle")
        .to_owned();
    // The token signs RSASSA-PSS, kyso's default for RSA keys.
    let sig = dir.path().join("sig.bin");
    let st = Command::new("openssl")
        .args(["pkeyutl", "-sign", "-inkey"])
        .arg(pki.keys.join("signer.key.pem"))
        .arg("-in")
        .arg(&digest)
        .arg("-out")
        .arg(&sig)
        .args([
            "-pkeyopt",
            "digest:sha256",
            "-pkeyopt",
            "rsa_padding_mode:pss",
            "-pkeyopt",
            "rsa_pss_saltlen:32",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let out = dir.path().join("deferred.pdf");
    let said = run(&[
        "sign".as_ref(),
        "complete".as_ref(),
        handle.as_ref(),
        "--signature".as_ref(),
        sig.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(said.contains("KYSO Test TSA"), "{said}");
    let report = pki.verify(&out, None);
    let s = first_signature(&report);
    assert_eq!(s["indication"], "TOTAL-PASSED", "{report:#}");
    assert_eq!(s["timestamps"][0]["valid"], true, "{report:#}");
}

#[test]
fn a_token_from_a_certificate_without_time_stamping_eku_or_outside_the_anchors_is_refused() {
    let pki = Pki::get();
    let dir = tempfile::tempdir().unwrap();
    // A certificate of the trusted root that is not a TSA.
    let posing = format!("{}/kyso/tsa/tsa-no-eku", pki.url);
    let out = dir.path().join("no-eku.pdf");
    let said = stdout(&pki.sign("signer", &posing, &out));
    assert!(said.contains("timestamp owed"), "{said}");
    assert!(said.contains("timeStamping"), "{said}");
    // The real TSA, but the configured anchors are another PKI's (keys-dev): no chain.
    let out = dir.path().join("untrusted.pdf");
    let o = kyso()
        .env("KYSO_TSA_URLS", pki.tsa())
        .env("KYSO_TRUST", keys_dev().join("root-ca.pem"))
        .arg("sign")
        .arg("--key")
        .arg(pki.keys.join("signer.key.pem"))
        .arg("--cert")
        .arg(pki.cert("signer"))
        .arg("--chain")
        .arg(pki.cert("interm"))
        .arg(fixture("pyhanko/unsigned.pdf"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let said = stdout(&o);
    assert!(said.contains("timestamp owed"), "{said}");
    assert!(said.contains("trust anchor"), "{said}");
}

#[test]
fn a_tsa_that_accepts_but_never_answers_costs_its_read_timeout_and_the_next_one_stamps() {
    let pki = Pki::get();
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections (the kernel's backlog does) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/tsa", silent.local_addr().unwrap());
    let config = dir.path().join("kyso.toml");
    std::fs::write(
        &config,
        format!(
            "[timestamp]\nurls = [{silent_url:?}, {:?}]\nconnect_timeout_secs = 1\nread_timeout_secs = 1\n",
            pki.tsa()
        ),
    )
    .unwrap();
    let out = dir.path().join("after-timeout.pdf");
    let started = std::time::Instant::now();
    let o = kyso()
        .env("KYSO_CONFIG", &config)
        .env("KYSO_TRUST", pki.cert("root"))
        .arg("sign")
        .arg("--key")
        .arg(pki.keys.join("signer.key.pem"))
        .arg("--cert")
        .arg(pki.cert("signer"))
        .arg("--chain")
        .arg(pki.cert("interm"))
        .arg(fixture("pyhanko/unsigned.pdf"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let took = started.elapsed();
    let said = stdout(&o);
    assert!(
        said.contains("KYSO Test TSA") && !said.contains("owed"),
        "{said}"
    );
    assert!(
        took >= std::time::Duration::from_secs(1) && took < std::time::Duration::from_secs(4),
        "took {took:?}"
    );
    drop(silent);
}
