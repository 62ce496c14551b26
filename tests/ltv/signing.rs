//! B-LT and B-LTA at signing and with `kyso ltv extend`: the DSS holds what validates every
//! signature and timestamp, pyHanko agrees with revocation information required, and a dead
//! link leaves a valid signature that says what it owes.

use std::path::Path;

use crate::common::{kyso, output_text, walk};
use crate::pki::{pki, pyhanko_ades, pyhanko_hard_fail, sign};

fn dss_counts(pdf: &[u8]) -> (usize, usize, usize) {
    let doc = kyso::pdf::load(pdf, &Default::default()).unwrap();
    let m = kyso::ltv::read_dss(&doc, &Default::default());
    (m.certs.len(), m.ocsps.len(), m.crls.len())
}

#[test]
fn pyhanko_validates_kysos_b_t_with_revocation_required() {
    // B-T carries no revocation data: pyHanko fetches it from the certificates' URLs (the live
    // responder and CRLs) and requires it for every certificate.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b-t.pdf");
    let o = sign(
        "signer",
        &pki().tsa(),
        "off",
        &dir.path().join("data"),
        &out,
    );
    assert!(o.status.success(), "{}", output_text(&o));
    let (ok, report) = pyhanko_hard_fail(&out);
    assert!(ok, "pyHanko --force-revinfo rejected kyso's B-T:\n{report}");
}

#[test]
fn b_lt_signing_embeds_what_validates_the_signature_and_its_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b-lt.pdf");
    let o = sign(
        "signer",
        &pki().tsa(),
        "b-lt",
        &dir.path().join("data"),
        &out,
    );
    assert!(o.status.success(), "{}", output_text(&o));
    assert!(output_text(&o).contains("B-LT: DSS"), "{}", output_text(&o));
    let bytes = std::fs::read(&out).unwrap();
    // signer, intermediate, root, OCSP responder, TSA; one OCSP response (the signer's); the
    // root's CRL (the intermediate and the TSA).
    assert_eq!(dss_counts(&bytes), (5, 1, 1));
    let (ok, report) = pyhanko_hard_fail(&out);
    assert!(
        ok,
        "pyHanko --force-revinfo rejected kyso's B-LT:\n{report}"
    );
    let (ok, report) = pyhanko_ades(&out);
    assert!(ok, "pyHanko adesverify rejected kyso's B-LT:\n{report}");
}

#[test]
fn b_lta_signing_adds_a_document_timestamp_pyhanko_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b-lta.pdf");
    let o = sign(
        "signer",
        &pki().tsa(),
        "b-lta",
        &dir.path().join("data"),
        &out,
    );
    assert!(o.status.success(), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("B-LTA: DSS + dấu thời gian tài liệu"),
        "{}",
        output_text(&o)
    );
    let (ok, report) = pyhanko_ades(&out);
    assert!(ok, "pyHanko adesverify rejected kyso's B-LTA:\n{report}");
    let (ok, report) = pyhanko_hard_fail(&out);
    assert!(
        ok,
        "pyHanko --force-revinfo rejected kyso's B-LTA:\n{report}"
    );
}

#[test]
fn ltv_extend_turns_a_b_t_file_into_b_lta_and_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let bt = dir.path().join("b-t.pdf");
    let o = sign("signer", &pki().tsa(), "off", &dir.path().join("data"), &bt);
    assert!(o.status.success(), "{}", output_text(&o));
    let ext = |input: &Path, outdir: &Path| {
        kyso()
            .env("KYSO_DATA_DIR", dir.path().join("data"))
            .env("KYSO_TSA_URLS", pki().tsa())
            .env("KYSO_TRUST", pki().cert("root"))
            .args(["ltv", "extend"])
            .arg(input)
            .arg("-o")
            .arg(outdir)
            .output()
            .unwrap()
    };
    let o = ext(&bt, &dir.path().join("once"));
    assert!(o.status.success(), "{}", output_text(&o));
    let once = dir.path().join("once/b-t.pdf");
    let (ok, report) = pyhanko_ades(&once);
    assert!(ok, "{report}");
    // A second round: another DSS update and document timestamp over the first.
    let o = ext(&once, &dir.path().join("twice"));
    assert!(o.status.success(), "{}", output_text(&o));
    let twice = std::fs::read(dir.path().join("twice/b-t.pdf")).unwrap();
    let once_bytes = std::fs::read(&once).unwrap();
    assert!(twice.starts_with(&once_bytes), "an incremental update");
    let (ok, report) = pyhanko_ades(&dir.path().join("twice/b-t.pdf"));
    assert!(ok, "{report}");
    // The input is never overwritten.
    let o = ext(&once, &dir.path().join("once"));
    assert!(!o.status.success());
    // A periodic run renews only files whose newest timestamp stops proving within the margin:
    // here its TSA certificate is valid until 2060, but its RSA-2048 key reaches its end date
    // in the algorithm policy on 2031-01-01.
    let due = |days: &str, outdir: &str| {
        kyso()
            .env("KYSO_DATA_DIR", dir.path().join("data"))
            .env("KYSO_TSA_URLS", pki().tsa())
            .env("KYSO_TRUST", pki().cert("root"))
            .args(["ltv", "extend", "--due-within-days", days])
            .arg(&once)
            .arg("-o")
            .arg(dir.path().join(outdir))
            .output()
            .unwrap()
    };
    let o = due("365", "soon");
    assert!(o.status.success(), "{}", output_text(&o));
    assert!(output_text(&o).contains("not due"), "{}", output_text(&o));
    assert!(!dir.path().join("soon/b-t.pdf").exists());
    let o = due("20000", "late");
    assert!(
        output_text(&o)
            .contains("due: the newest timestamp (KYSO Test TSA) stops proving 2031-01-01T00:00:00Z: RSA-2048 reaches its end date in the algorithm policy"),
        "{}",
        output_text(&o)
    );
    assert!(dir.path().join("late/b-t.pdf").exists());
}

#[test]
fn with_the_revocation_sources_down_the_signature_is_delivered_and_the_material_owed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("owed.pdf");
    // The TSA answers, but the certificates' OCSP and CRL URLs point at the live PKI: take a
    // TSA that is down instead, so the timestamp and with it the long-term material are owed.
    let o = sign(
        "signer",
        "http://127.0.0.1:9/tsa",
        "b-lta",
        &dir.path().join("data"),
        &out,
    );
    assert!(o.status.success(), "{}", output_text(&o));
    let text = output_text(&o);
    assert!(text.contains("long-term material owed"), "{text}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(dss_counts(&bytes), (0, 0, 0));
    let report = crate::pki::verify(&out, None, &[]);
    assert_eq!(report["indication"], "TOTAL-PASSED", "{report:#}");

    // The debt is recorded; `kyso archive status` counts it; the drain pays it once the TSA
    // answers again, as a new archive version of the same document.
    let data = dir.path().join("data");
    let archive = |args: &[&str], tsa: &str| {
        kyso()
            .env("KYSO_DATA_DIR", &data)
            .env("KYSO_TSA_URLS", tsa)
            .env("KYSO_TRUST", pki().cert("root"))
            .arg("archive")
            .args(args)
            .output()
            .unwrap()
    };
    let status = |tsa: &str| -> serde_json::Value {
        serde_json::from_slice(&archive(&["status", "--json"], tsa).stdout).unwrap()
    };
    assert_eq!(status("")["ltv_owed"], 1);
    let o = archive(&["drain"], "http://127.0.0.1:9/tsa");
    assert!(
        output_text(&o).contains("0 document(s), 1 still owe it"),
        "{}",
        output_text(&o)
    );
    assert_eq!(status("")["ltv_owed"], 1);
    let o = archive(&["drain"], &pki().tsa());
    assert!(
        output_text(&o).contains("long-term material added to 1 document(s), 0 still owe it"),
        "{}",
        output_text(&o)
    );
    let s = status("");
    assert_eq!(s["ltv_owed"], 0, "{s:#}");
    assert_eq!(
        s["archived"], 2,
        "the delivered file and its long-term version: {s:#}"
    );
    // The long-term version: the delivered bytes, then a DSS and a document timestamp.
    let versions: Vec<std::path::PathBuf> = walk(&data)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    let lta = versions
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|b| b.len() > bytes.len())
        .expect("a long-term version in the archive");
    assert!(lta.starts_with(&bytes));
    assert_eq!(dss_counts(&lta).1, 1);
}

#[test]
fn a_running_archive_worker_adds_the_owed_material_when_the_link_returns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("owed.pdf");
    let o = sign("signer", "http://127.0.0.1:9/tsa", "b-lta", &data, &out);
    assert!(
        output_text(&o).contains("long-term material owed"),
        "{}",
        output_text(&o)
    );
    let with_env = |c: &mut std::process::Command| {
        c.env("KYSO_DATA_DIR", &data)
            .env("KYSO_TSA_URLS", pki().tsa())
            .env("KYSO_TRUST", pki().cert("root"));
    };
    // `kyso archive run`: the worker `kyso serve` also runs, with the same retry beside it.
    let mut run = kyso();
    with_env(&mut run);
    let mut child = run
        .args(["archive", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        let mut st = kyso();
        with_env(&mut st);
        let s: serde_json::Value = serde_json::from_slice(
            &st.args(["archive", "status", "--json"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        if (s["ltv_owed"] == 0 && s["archived"] == 2) || std::time::Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status["ltv_owed"], 0, "{status:#}");
    assert_eq!(status["archived"], 2, "{status:#}");
}
