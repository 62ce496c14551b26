//! The OCSP client against certomancer's live responder: good and revoked answers are
//! accepted with their responder and times; an answer for another certificate, a stale one, one
//! signed by a responder the CA never authorised, or one without the nonce sent is refused,
//! each with its reason.

use std::time::Duration;

use kyso::ltv::fetch::{FetchError, Fetcher};
use kyso::validation::ocsp::{CertState, Expect, OcspError, check_response, request};

use crate::pki::{ocsp_post, pki};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn fetcher() -> Fetcher {
    Fetcher::new(Duration::from_secs(3), Duration::from_secs(5))
}

#[test]
fn a_good_certificate_gets_a_current_answer_from_the_delegated_responder() {
    let p = pki();
    let f = fetcher()
        .ocsp(&p.der("signer"), &p.der("interm"), now())
        .expect("certomancer answers");
    assert_eq!(f.answer.state, CertState::Good);
    assert_eq!(f.answer.responder, "KYSO Test Intermediate OCSP");
    assert_eq!(
        f.answer.responder_certificate.as_deref(),
        Some(p.der("interm-ocsp").as_slice()),
        "a delegated responder's certificate is kept for the DSS"
    );
    assert!(f.answer.this_update <= now() + 5);
    assert!(f.answer.next_update.is_some_and(|n| n > now()));
    assert!(f.url.ends_with("/kyso/ocsp/interm"), "{}", f.url);
}

#[test]
fn a_revoked_certificate_is_reported_revoked_with_its_date() {
    let p = pki();
    let f = fetcher()
        .ocsp(&p.der("signer-revoked-early"), &p.der("interm"), now())
        .expect("certomancer answers");
    // 2025-06-01T00:00:00Z
    assert_eq!(f.answer.state, CertState::Revoked(1_748_736_000));
}

#[test]
fn an_answer_about_another_certificate_is_refused() {
    let p = pki();
    let f = fetcher()
        .ocsp(&p.der("signer"), &p.der("interm"), now())
        .unwrap();
    let e = check_response(
        &f.der,
        &p.der("signer-expiring"),
        &p.der("interm"),
        &Expect::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OcspError::OtherCertificate { .. }), "{e}");
    assert!(e.to_string().contains("another certificate"), "{e}");
}

#[test]
fn a_stale_answer_is_refused() {
    let p = pki();
    let (cert, issuer) = (p.der("signer"), p.der("interm"));
    let nonce = [7u8; 16];
    let req = request(&cert, &issuer, &nonce).unwrap();
    // Produced as if a year ago: its nextUpdate (ten minutes later) is long past.
    let der = ocsp_post(
        &format!("{}/kyso/ocsp/interm", p.url),
        &req,
        Some("2025-12-01T00:00:00+00:00"),
    );
    let expect = Expect {
        nonce: Some(&nonce),
        current_at: Some(now()),
    };
    let e = check_response(&der, &cert, &issuer, &expect).unwrap_err();
    assert!(matches!(e, OcspError::Stale { .. }), "{e}");
    assert!(e.to_string().contains("stale"), "{e}");
    // The same answer was current then.
    let then = Expect {
        nonce: Some(&nonce),
        current_at: Some(1_764_547_260),
    };
    assert_eq!(
        check_response(&der, &cert, &issuer, &then).unwrap().state,
        CertState::Good
    );
}

#[test]
fn an_answer_signed_by_an_unauthorised_responder_is_refused() {
    let p = pki();
    let (cert, issuer) = (p.der("signer"), p.der("interm"));
    let nonce = [9u8; 16];
    let req = request(&cert, &issuer, &nonce).unwrap();
    let der = ocsp_post(&format!("{}/kyso/ocsp/interm-rogue", p.url), &req, None);
    let expect = Expect {
        nonce: Some(&nonce),
        current_at: Some(now()),
    };
    let e = check_response(&der, &cert, &issuer, &expect).unwrap_err();
    match &e {
        OcspError::UnauthorisedResponder(who) => assert_eq!(who, "KYSO Test TSA"),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("unauthorised"), "{e}");
}

#[test]
fn an_answer_without_the_nonce_sent_is_refused() {
    let p = pki();
    let (cert, issuer) = (p.der("signer"), p.der("interm"));
    let req = request(&cert, &issuer, &[1u8; 16]).unwrap();
    let der = ocsp_post(&format!("{}/kyso/ocsp/interm", p.url), &req, None);
    let expect = Expect {
        nonce: Some(&[2u8; 16]),
        current_at: Some(now()),
    };
    let e = check_response(&der, &cert, &issuer, &expect).unwrap_err();
    assert_eq!(e, OcspError::NonceMismatch);
}

#[test]
fn a_tampered_answer_does_not_verify() {
    let p = pki();
    let (cert, issuer) = (p.der("signer"), p.der("interm"));
    let req = request(&cert, &issuer, &[3u8; 16]).unwrap();
    let mut der = ocsp_post(&format!("{}/kyso/ocsp/interm", p.url), &req, None);
    // Flip a byte of the nonce, inside the signed response data.
    let at = der
        .windows(16)
        .position(|w| w == [3u8; 16])
        .expect("the nonce is echoed");
    der[at] ^= 1;
    let e = check_response(&der, &cert, &issuer, &Expect::default()).unwrap_err();
    assert_eq!(e, OcspError::BadSignature);
}

#[test]
fn crls_and_issuers_come_from_the_certificate_urls() {
    let p = pki();
    let f = fetcher();
    let crl = f.crl(&p.der("signer"), &p.der("interm"), now()).unwrap();
    assert!(kyso::validation::chain::crl_times(&crl, &p.der("interm")).is_some());
    assert_eq!(f.issuer(&p.der("signer"), now()).unwrap(), p.der("interm"));
    // The root's CRL does not pass for the intermediate's.
    assert!(matches!(
        f.crl(&p.der("signer"), &p.der("root"), now()),
        Err(FetchError::BadCrl { .. })
    ));
    // A certificate naming no responder.
    assert!(matches!(
        f.ocsp(&p.der("tsa"), &p.der("root"), now()),
        Err(FetchError::NoSource { what: "OCSP" })
    ));
}
