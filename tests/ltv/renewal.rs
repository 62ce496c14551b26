//! The archive's scheduled renewal as `kyso serve` runs it: the real server binary, its archive
//! worker looking every second (`KYSO_LTV_RENEW_EVERY_SECS`), and a margin
//! (`KYSO_LTV_RENEW_MARGIN_DAYS`) that makes the test TSA's timestamps due: its RSA-2048 key
//! reaches its end date in the algorithm policy on 2031-01-01.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::served::{Serve, Served};
use crate::common::{kyso, output_text, repo, walk};
use crate::pki::{pki, pyhanko_ades};

/// kyso with the data directory, the live TSA and the test root.
fn k(data: &Path) -> Command {
    let mut c = kyso();
    c.env("KYSO_DATA_DIR", data)
        .env("KYSO_TSA_URLS", pki().tsa())
        .env("KYSO_TRUST", pki().cert("root"));
    c
}

fn ok(c: &mut Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{:?}: {}", c, output_text(&o));
    output_text(&o)
}

/// Issues a `kind` from its sample and signs it B-LTA as the registered chairman (the test
/// PKI's signer): the document id and the signed file.
fn issue_and_sign(data: &Path, dir: &Path, kind: &str) -> (String, PathBuf) {
    let issued = dir.join(format!("{kind}.pdf"));
    let out = ok(k(data)
        .args(["issue", "--kind", kind, "--data"])
        .arg(repo().join(format!("templates/{kind}/sample.json")))
        .arg("-o")
        .arg(&issued));
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .trim()
        .to_owned();
    let signed = dir.join(format!("{kind}-signed.pdf"));
    ok(k(data)
        .env("KYSO_LTV", "b-lta")
        .args([
            "sign",
            "--official",
            "chu-tich",
            "--field",
            "ChuKyLanhDao",
            "--key",
        ])
        .arg(pki().key("signer"))
        .arg("--cert")
        .arg(pki().cert("signer"))
        .arg("--chain")
        .arg(pki().cert("interm"))
        .arg(&issued)
        .arg("-o")
        .arg(&signed));
    (id, signed)
}

/// `kyso serve` on `data` as [`k`] runs kyso, its archive worker looking for renewals every
/// second with a margin of `margin_days`; killed when dropped.
fn serve(data: &Path, margin_days: &str) -> Served {
    Serve::default()
        .without_dev()
        .data(data)
        .env("KYSO_TSA_URLS", pki().tsa())
        .env("KYSO_TRUST", pki().cert("root"))
        .env("KYSO_LTV_RENEW_EVERY_SECS", "1")
        .env("KYSO_LTV_RENEW_MARGIN_DAYS", margin_days)
        .start()
}

/// The public page's answer to an upload of `pdf` to `/v/{id}`, in English.
fn upload(server: &Served, id: &str, pdf: &[u8]) -> String {
    server.upload(&format!("/v/{id}?lang=en"), pdf).text()
}

fn renewals(data: &Path) -> u64 {
    let o = k(data)
        .args(["archive", "status", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("archive status: {e}: {}", output_text(&o)));
    v["ltv_renewals"].as_u64().unwrap()
}

#[test]
fn the_server_renews_archived_permanent_records_before_their_timestamps_stop_proving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cn = "Nguyen Van Ky"; // the test PKI signer's common name
    ok(k(&data).args([
        "officials",
        "add",
        "--id",
        "chu-tich",
        "--name",
        cn,
        "--title",
        "Chủ tịch",
        "--agency",
        "UBND xã Tân Lạc",
        "--citizen-id",
        "001080000001",
        "--position",
        "head",
    ]));
    ok(k(&data)
        .args(["officials", "add-cert", "chu-tich", "--cert"])
        .arg(pki().cert("signer"))
        .args(["--key-location", "external"]));
    ok(k(&data).args([
        "officials",
        "allow",
        "--title",
        "Chủ tịch",
        "--kind",
        "certified-copy",
        "--kind",
        "signature",
    ]));
    // A certified copy is kept permanently; a signature certification two years, which ends
    // before the test TSA's timestamps stop proving (2031): it is never renewed.
    let (copy_id, copy) = issue_and_sign(&data, dir.path(), "certified-copy");
    let (_, short) = issue_and_sign(&data, dir.path(), "signature");
    let delivered = std::fs::read(&copy).unwrap();

    // A margin of a year: nothing is due (2031 is further away), however often it looks.
    let server = serve(&data, "365");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(renewals(&data), 0, "nothing is due within a year");
    drop(server);

    // A margin of 2000 days reaches 2031: the certified copy is renewed once, by the server.
    let server = serve(&data, "2000");
    let deadline = Instant::now() + Duration::from_secs(90);
    while renewals(&data) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(renewals(&data), 1);
    // The new timestamp's key reaches the same end date, so renewing again at once would give
    // nothing: the record waits (30 days) instead of growing a version every second.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(renewals(&data), 1, "renewed once, not every pass");

    // The renewed version: the delivered bytes, then a new DSS and a second document timestamp.
    let short_bytes = std::fs::read(&short).unwrap();
    let renewed = walk(&data)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .map(|p| std::fs::read(p).unwrap())
        .find(|b| b.len() > delivered.len() && b.starts_with(&delivered))
        .expect("a renewed version in the archive");
    assert!(
        !walk(&data)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
            .any(|p| {
                let b = std::fs::read(p).unwrap();
                b.len() > short_bytes.len() && b.starts_with(&short_bytes)
            }),
        "the two-year record is not renewed"
    );
    let timestamps = |b: &[u8]| {
        b.windows(b"/DocTimeStamp".len())
            .filter(|w| w == b"/DocTimeStamp")
            .count()
    };
    assert_eq!(timestamps(&renewed), timestamps(&delivered) + 1);
    let renewed_path = dir.path().join("renewed.pdf");
    std::fs::write(&renewed_path, &renewed).unwrap();
    let (valid, report) = pyhanko_ades(&renewed_path);
    assert!(valid, "pyHanko adesverify rejected the renewal:\n{report}");

    // The public page: the registered original is still the file as delivered, and the
    // renewal is that original with long-term material added.
    let page = upload(&server, &copy_id, &delivered);
    assert!(
        page.contains("identical to the original as delivered"),
        "{page}"
    );
    let page = upload(&server, &copy_id, &renewed);
    assert!(
        page.contains("The original, with long-term validation material added"),
        "{page}"
    );
    drop(server);

    // Audited as ltv.renew, with why it was due.
    let o = k(&data).args(["audit", "list"]).output().unwrap();
    let audit = output_text(&o);
    assert!(
        audit.contains("ltv.renew") && audit.contains("RSA-2048 reaches its end date"),
        "{audit}"
    );
}
