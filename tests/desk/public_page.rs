//! The citizen with a phone: the QR code on a certification leads to `kyso serve`'s public page,
//! which says who issued it, its status and who signed it, with the requester masked; the PDF
//! they hold can be uploaded and is compared with the registered versions. The server is the
//! real `kyso serve` binary on a free loopback port with its own data directory.

use std::path::Path;

use crate::authority::Commune;
use crate::common::served::{Caller, Res, Served};
use crate::common::*;

fn signed_and_sealed(c: &Commune) -> (String, Vec<u8>, Vec<u8>) {
    c.granted(
        "KT",
        "chu-tich",
        "pho-chu-tich",
        &["signature"],
        "2026-01-01",
        "2030-12-31",
    );
    let (issued, id) = c.issue("signature");
    let signed = c.path("signed.pdf");
    let o = c.sign_as(
        "vice-chairman-ec",
        "pho-chu-tich",
        None,
        &issued,
        &signed,
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sealed = c.path("sealed.pdf");
    let o = c.sign_as("seal-ec", "con-dau", None, &signed, &sealed, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        id,
        std::fs::read(&signed).unwrap(),
        std::fs::read(Path::new(&sealed)).unwrap(),
    )
}

#[test]
fn the_qr_code_page_shows_the_signed_document_and_tells_the_original_from_other_files() {
    let c = Commune::new();
    let (id, pre_seal, sealed) = signed_and_sealed(&c);
    let root = keys_dev().join("root-ca.pem");
    let s = Served::start_on(&c.data(), &[("KYSO_TRUST", root.to_str().unwrap())]);
    let visitor = Caller::Anonymous;

    let r = s.get(&visitor, &format!("/v/{id}"));
    let page = r.text();
    assert_eq!(r.status, 200, "{page}");
    assert!(page.contains("Có hiệu lực"), "{page}");
    assert!(page.contains("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH"), "{page}");
    assert!(page.contains("Ủy ban nhân dân xã Tân Lạc"), "{page}");
    // The requester is masked: initials and the last three digits only.
    assert!(page.contains("*********731"), "{page}");
    assert!(!page.contains("025190007731") && !page.contains("Phạm Thị Hương"));
    assert!(page.len() < 100_000);
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));

    let r = s.get(&visitor, &format!("/v/{id}.json"));
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().contains("json"));
    let v = r.json();
    assert_eq!(v["status"], "issued");
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
    assert_eq!(v["original_sha256"], kyso::app::sha256_hex(&sealed));

    // The visitor's copies, compared with the register.
    let r = s.upload(&format!("/v/{id}?lang=en"), &sealed);
    let page = r.text();
    assert_eq!(r.status, 200, "{page}");
    assert!(page.contains("identical to the original"), "{page}");
    assert!(page.contains("The signatures are valid"), "{page}");
    let page = s.upload(&format!("/v/{id}?lang=en"), &pre_seal).text();
    assert!(page.contains("earlier revision"), "{page}");
    let page = s
        .upload(&format!("/v/{id}?lang=en"), &tampered(&sealed))
        .text();
    assert!(page.contains("DIFFERS from the original"), "{page}");
    assert!(page.contains("1 revision(s)"), "{page}");

    // Any PDF, through the API: the same report as `kyso verify --json`, plus the comparison.
    let r = s.call(
        &visitor,
        "POST",
        "/api/v1/verify",
        &[("Content-Type", "application/pdf")],
        &sealed,
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["comparison"]["verdict"], "original");
    assert_eq!(v["document"], id.as_str());
    assert_eq!(v["report"]["indication"], "TOTAL-PASSED");
    let r = s.upload("/verify?lang=en", &tampered(&sealed));
    let page = r.text();
    assert_eq!(r.status, 200);
    assert!(page.contains("DIFFERS"), "{page}");

    // A cancellation shows on the page at once.
    c.ok(&[
        "cancel",
        &id,
        "--decision",
        "Quyết định số 12/QĐ-UBND ngày 20/11/2026",
    ]);
    let page = s.get(&visitor, &format!("/v/{id}")).text();
    assert!(
        page.contains("Đã bị hủy") && page.contains("12/QĐ-UBND"),
        "{page}"
    );

    // Unknown and malformed ids get the same 404 page.
    let unknown = s.get(&visitor, "/v/0123456789abcdef0123456789abcdef");
    let malformed = s.get(&visitor, "/v/..%2F..%2Fregistry.sqlite3");
    assert_eq!((unknown.status, malformed.status), (404, 404));
    assert_eq!(unknown.text(), malformed.text());

    assert_eq!(s.get(&visitor, "/healthz").status, 200);
    let r = s.get(&visitor, "/readyz");
    let ready = r.text();
    assert_eq!(r.status, 200, "{ready}");
    assert!(ready.contains("\"registry\":\"ok\""), "{ready}");
    assert!(s.stop().success(), "SIGTERM ends the server cleanly");
}

#[test]
fn bad_uploads_get_problem_responses_never_a_server_error() {
    let c = Commune::new();
    let s = Served::start_on(&c.data(), &[("KYSO_MAX_UPLOAD_BYTES", "100000")]);
    let problem = |r: &Res, kind: &str| {
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("application/problem+json"),
            "{:?}",
            r.headers
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["status"], r.status);
        assert_eq!(v["type"], format!("urn:kyso:problem:{kind}"));
        assert!(v["detail"].as_str().unwrap().contains(" / "));
    };
    let verify = |content_type: &str, body: &[u8]| {
        s.call(
            &Caller::Anonymous,
            "POST",
            "/api/v1/verify",
            &[("Content-Type", content_type)],
            body,
        )
    };
    let r = verify("text/plain", b"hello");
    assert_eq!(r.status, 415);
    problem(&r, "unsupported-media-type");
    let r = verify("application/pdf", b"not a pdf at all");
    assert_eq!(r.status, 422);
    problem(&r, "not-a-pdf");
    let r = verify("application/pdf", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog");
    assert_eq!(r.status, 422, "{}", r.text());
    problem(&r, "refused");
    let mut big = b"%PDF-1.7\n".to_vec();
    big.resize(300_000, b' ');
    let r = verify("application/pdf", &big);
    assert_eq!(r.status, 413);
    problem(&r, "too-large");
    let r = s.upload("/verify", &big);
    assert_eq!(r.status, 413, "{}", r.text());
    let r = s.get(&Caller::Anonymous, "/api/v1/nothing");
    assert_eq!(r.status, 404);
    problem(&r, "not-found");
}
