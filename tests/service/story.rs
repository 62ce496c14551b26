//! The desk's day over HTTP: the clerk issues a signature certification, the Vice-Chairman signs
//! it "KT. CHỦ TỊCH" from the register's delegation, the agency seal is applied, and the citizen's
//! QR code page shows it; uploads of the delivered file, of the pre-seal revision and of a
//! modified copy are told apart; cancellation shows on the public page. Then the official with
//! a token signs in two steps, the raw signature made by `openssl pkeyutl`.

use serde_json::json;

use crate::client::*;
use crate::common::served::*;
use crate::common::*;

fn issue(s: &Served, clerk: &Caller) -> String {
    let r = s.json(
        clerk,
        "POST",
        "/api/v1/documents",
        &json!({"kind": "signature", "data": signature_sample()}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert!(
        v["verify_url"]
            .as_str()
            .unwrap()
            .starts_with("http://kyso.test/v/")
    );
    v["id"].as_str().unwrap().to_owned()
}

fn pdf(s: &Served, caller: &Caller, id: &str) -> Vec<u8> {
    let r = s.get(caller, &format!("/api/v1/documents/{id}/pdf"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(
        r.header("x-kyso-sha256").unwrap(),
        kyso::app::sha256_hex(&r.body)
    );
    r.body
}

fn verify_api(s: &Served, pdf: &[u8]) -> serde_json::Value {
    let r = s.call(
        &Caller::Anonymous,
        "POST",
        "/api/v1/verify",
        &[("Content-Type", "application/pdf")],
        pdf,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn the_clerk_issues_the_vice_chairman_signs_kt_the_seal_follows_and_the_qr_page_tells_files_apart()
{
    let s = Served::start();
    let clerk = s.dev("van-thu");
    let id = issue(&s, &clerk);

    // The clerk may not sign; the Vice-Chairman signs under the KT. delegation the register holds.
    let r = s.json(
        &clerk,
        "POST",
        &format!("/api/v1/documents/{id}/sign"),
        &json!({}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.problem(), "urn:kyso:problem:wrong-role");
    let vice = s.dev("pho-chu-tich");
    let r = s.json(
        &vice,
        "POST",
        &format!("/api/v1/documents/{id}/sign"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let capacity = r.json()["capacity"].as_str().unwrap().to_owned();
    assert!(capacity.contains("KT. CHỦ TỊCH"), "{capacity}");
    let before_seal = pdf(&s, &clerk, &id);

    // The Chairman has no seal; the seal keeper seals.
    let seal = s.dev("con-dau");
    let r = s.json(
        &seal,
        "POST",
        &format!("/api/v1/documents/{id}/sign"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let delivered = pdf(&s, &clerk, &id);
    assert!(delivered.starts_with(&before_seal));
    let file = std::env::temp_dir().join(format!("kyso-service-{id}.pdf"));
    std::fs::write(&file, &delivered).unwrap();
    assert_externally_valid(&file, &[]);

    // The QR code's page, with no sign-in.
    let page = s.get(&Caller::Anonymous, &format!("/v/{id}.json")).json();
    assert_eq!(page["status"], "issued");
    let signers: Vec<String> = page["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(signers.len(), 2, "{page}");
    let html = s.get(&Caller::Anonymous, &format!("/v/{id}")).text();
    assert!(html.contains("KT. CHỦ TỊCH"), "{html}");
    assert!(
        !html.contains("025190007731"),
        "the requester's ID is masked"
    );

    // Three files, three answers.
    assert_eq!(
        verify_api(&s, &delivered)["comparison"]["verdict"],
        "original"
    );
    let earlier = verify_api(&s, &before_seal);
    assert_eq!(
        earlier["comparison"]["verdict"], "earlier-revision",
        "{earlier}"
    );
    let modified = verify_api(&s, &tampered(&delivered));
    assert_eq!(modified["comparison"]["verdict"], "different");
    assert_eq!(modified["comparison"]["added_revisions"], 1);
    assert!(
        !modified["comparison"]["changed_objects"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{modified}"
    );
    let page_upload = s.upload(&format!("/v/{id}"), &delivered);
    assert_eq!(page_upload.status, 200);

    // The clerk finds it by number and by the requester's ID.
    let found = s
        .get(&clerk, "/api/v1/documents?citizen_id=025190007731")
        .json();
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == id.as_str())
    );
    let detail = s.get(&clerk, &format!("/api/v1/documents/{id}")).json();
    assert_eq!(detail["versions"].as_array().unwrap().len(), 3, "{detail}");

    // Cancellation, by decision, shows on the public page.
    let r = s.json(
        &clerk,
        "POST",
        &format!("/api/v1/documents/{id}/cancel"),
        &json!({"decision": "05/QĐ-UBND ngày 02/12/2026", "reason": "cấp nhầm"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let page = s.get(&Caller::Anonymous, &format!("/v/{id}.json")).json();
    assert_eq!(page["status"], "cancelled");
    assert!(
        page["cancel_decision"]
            .as_str()
            .unwrap()
            .contains("05/QĐ-UBND")
    );

    // Every act is in the audit log under the user who did it.
    let admin = s.dev("admin");
    let audit = s.get(&admin, "/api/v1/audit?limit=1000").json();
    let acts: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        ("user:van-thu", "refuse"),
        ("user:van-thu", "issue"),
        ("pho-chu-tich", "sign"),
        ("con-dau", "sign"),
        ("user:van-thu", "cancel"),
    ] {
        assert!(
            acts.iter()
                .any(|(a, x)| a == want.0 && x.starts_with(want.1)),
            "{want:?} not in {acts:?}"
        );
    }
    assert_eq!(s.get(&admin, "/api/v1/audit/verify").json()["intact"], true);
    let _ = std::fs::remove_file(file);
}

#[test]
fn an_official_with_a_token_signs_in_two_steps_with_openssl_and_a_replay_is_refused() {
    let s = Served::start();
    let clerk = s.token("van-thu");
    let id = issue(&s, &clerk);
    let vice = s.token("pho-chu-tich");
    let r = s.json(
        &vice,
        "POST",
        &format!("/api/v1/documents/{id}/prepare"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(p["algorithm"], "ecdsa-p256-sha256");
    let handle = p["handle"].as_str().unwrap().to_owned();
    let digest_hex = p["digest_hex"].as_str().unwrap();
    let digest: Vec<u8> = (0..digest_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digest_hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        <base64ct::Base64 as base64ct::Encoding>::encode_string(&digest),
        p["digest_base64"].as_str().unwrap()
    );

    // The device: openssl with the Vice-Chairman's key, exactly as the API documents it.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("digest.bin");
    let out = dir.path().join("sig.bin");
    std::fs::write(&input, &digest).unwrap();
    let st = std::process::Command::new("openssl")
        .args(["pkeyutl", "-sign", "-inkey"])
        .arg(keys_dev().join("vice-chairman-ec.key.pem"))
        .args(["-pkeyopt", "digest:sha256", "-in"])
        .arg(&input)
        .arg("-out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let raw = std::fs::read(&out).unwrap();
    let signature = <base64ct::Base64 as base64ct::Encoding>::encode_string(&raw);

    // Someone else cannot complete it; the official can, once.
    let chairman = s.token("chu-tich");
    let path = format!("/api/v1/signatures/{handle}/complete");
    let r = s.json(&chairman, "POST", &path, &json!({"signature": signature}));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.json(&vice, "POST", &path, &json!({"signature": signature}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.json()["capacity"]
            .as_str()
            .unwrap()
            .contains("KT. CHỦ TỊCH")
    );
    let r = s.json(&vice, "POST", &path, &json!({"signature": signature}));
    assert_eq!(r.status, 409, "{}", r.text());

    let seal = s.token("con-dau");
    let r = s.json(
        &seal,
        "POST",
        &format!("/api/v1/documents/{id}/sign"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let signed = pdf(&s, &clerk, &id);
    let file = dir.path().join("signed.pdf");
    std::fs::write(&file, &signed).unwrap();
    assert_externally_valid(&file, &[]);
}
