//! An attacker takes a certification signed by kyso and tries every known trick to make a
//! verifier accept something the official never signed. Each test builds the attack by hand,
//! byte by byte, and the validator must refuse it with the fitting indication.

use std::sync::OnceLock;

use crate::common::*;
use kyso::pdf::incremental::IncrementalUpdate;
use kyso::pki::{Certificate, PrivateKeyDer};
use kyso::signing::{KeySigner, SignOptions};
use kyso::validation::{
    self, Indication, Integrity, Modifications, Policy, SubIndication, TrustAnchors,
    ValidationReport, Verdict,
};
use lopdf::{Object, Stream};

/// A certification signed once by the chairman (made once, shared by the tests).
fn signed() -> &'static [u8] {
    static ONCE: OnceLock<Vec<u8>> = OnceLock::new();
    ONCE.get_or_init(|| {
        sign_bytes(
            "chairman-rsa",
            &std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap(),
        )
    })
}

/// The same, then sealed by the agency.
fn sealed() -> &'static [u8] {
    static ONCE: OnceLock<Vec<u8>> = OnceLock::new();
    ONCE.get_or_init(|| sign_bytes("seal-rsa", signed()))
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("present")
}

/// Offset and text of the `/ByteRange [...]` array of the first signature.
fn byte_range(bytes: &[u8]) -> (usize, usize, [usize; 4]) {
    let key = find(bytes, b"/ByteRange");
    let open = key + find(&bytes[key..], b"[");
    let close = open + find(&bytes[open..], b"]");
    let text = std::str::from_utf8(&bytes[open + 1..close]).unwrap();
    let v: Vec<usize> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (open, close, [v[0], v[1], v[2], v[3]])
}

/// Replaces the `/ByteRange` array with `text`, padded to the same length.
fn with_byte_range(bytes: &[u8], text: &str) -> Vec<u8> {
    let (open, close, _) = byte_range(bytes);
    let width = close + 1 - open;
    assert!(text.len() <= width);
    let mut out = bytes.to_vec();
    let padded = format!("{text:<width$}");
    out[open..=close].copy_from_slice(padded.as_bytes());
    out
}

fn one(report: &ValidationReport) -> &validation::SignatureReport {
    assert_eq!(report.signatures.len(), 1, "{report:#?}");
    &report.signatures[0]
}

fn assert_format_failure(bytes: &[u8]) {
    let report = verify(bytes);
    let s = one(&report);
    assert_eq!(s.indication, Indication::TotalFailed, "{s:#?}");
    assert_eq!(
        s.sub_indication,
        Some(SubIndication::FormatFailure),
        "{s:#?}"
    );
    assert_eq!(report.indication, Verdict::Failed);
}

#[test]
fn the_untouched_signature_passes_so_every_failure_below_is_the_attacks_doing() {
    let report = verify(signed());
    assert_eq!(report.indication, Verdict::Passed, "{report:#?}");
    let report = verify(sealed());
    assert_eq!(report.indication, Verdict::Passed, "{report:#?}");
}

#[test]
fn a_byte_changed_inside_the_signed_range_breaks_integrity() {
    let (_, _, [_, gap_start, gap_end, _]) = byte_range(signed());
    // In the first range: a byte inside the first stream of the original document.
    let mut first = signed().to_vec();
    let at = find(&first, b"stream") + 12;
    assert!(at < gap_start);
    first[at] ^= 0x01;
    // In the second range: the field's name, after the gap.
    let mut second = signed().to_vec();
    let at = gap_end + find(&second[gap_end..], b"(Signature1)") + 10;
    second[at] = b'7';
    for bytes in [first, second] {
        let report = verify(&bytes);
        let s = one(&report);
        assert_eq!(s.integrity, Integrity::Broken);
        assert_eq!(
            (s.indication, s.sub_indication),
            (Indication::TotalFailed, Some(SubIndication::HashFailure))
        );
    }
}

#[test]
fn a_removed_byte_range_is_a_format_failure() {
    let mut bytes = signed().to_vec();
    let at = find(&bytes, b"/ByteRange");
    bytes[at..at + 10].copy_from_slice(b"/ByteRangX");
    assert_format_failure(&bytes);
}

#[test]
fn a_zeroed_byte_range_is_a_format_failure() {
    assert_format_failure(&with_byte_range(signed(), "[0 0 0 0]"));
}

#[test]
fn a_shortened_byte_range_is_a_format_failure() {
    let (_, _, [a, b, c, d]) = byte_range(signed());
    // The second range stops short of the end of the revision.
    assert_format_failure(&with_byte_range(
        signed(),
        &format!("[{a} {b} {c} {}]", d - 100),
    ));
    // Three numbers only.
    assert_format_failure(&with_byte_range(signed(), &format!("[{a} {b} {c}]")));
    // A negative length and a range running past the end of the file.
    assert_format_failure(&with_byte_range(signed(), &format!("[{a} {b} {c} -{d}]")));
    assert_format_failure(&with_byte_range(
        signed(),
        &format!("[{a} {b} {c} {}]", d + 1),
    ));
}

#[test]
fn extra_bytes_in_the_gap_are_a_format_failure() {
    let (_, _, [_, gap_start, gap_end, _]) = byte_range(signed());
    // Whitespace inside the hex string: PDF readers accept it, the gap must not hold it.
    let mut spaced = signed().to_vec();
    assert_eq!(&spaced[gap_end - 3..gap_end], b"00>");
    spaced[gap_end - 3..gap_end - 1].copy_from_slice(b"  ");
    assert_format_failure(&spaced);
    // A gap widened to swallow part of the dictionary (Signature Wrapping): the signed ranges
    // shrink, so the gap no longer holds exactly one hex string.
    let (_, _, [a, _, c, d]) = byte_range(signed());
    let wrapped = with_byte_range(signed(), &format!("[{a} {} {c} {d}]", gap_start - 11));
    assert_format_failure(&wrapped);
}

#[test]
fn a_truncated_file_is_refused() {
    // The signing revision cut short: the signature is in bytes that form no complete
    // revision; it is reported unreadable, not silently dropped as "no signature".
    let cut = &signed()[..signed().len() - 200];
    let report = verify(cut);
    let s = one(&report);
    assert_eq!(s.integrity, Integrity::Unreadable);
    assert_eq!(s.sub_indication, Some(SubIndication::FormatFailure));
    assert_eq!(report.indication, Verdict::Failed);
    // Cut inside the header: not a PDF at all.
    assert!(
        validation::validate(
            &signed()[..6],
            &dev_policy(),
            time::OffsetDateTime::now_utc()
        )
        .is_err()
    );
    // Two revisions, the last one cut short: the first signature is followed by bytes that form
    // no revision, which is a disallowed modification.
    let cut = &sealed()[..sealed().len() - 40];
    let report = verify(cut);
    assert_eq!(report.indication, Verdict::Failed);
    assert_eq!(
        report.signatures[0].modifications_after,
        Modifications::Disallowed
    );
}

/// Appends an incremental update replacing `objects` of `bytes`.
fn update(bytes: &[u8], objects: Vec<((u32, u16), Object)>) -> Vec<u8> {
    let doc = lopdf::Document::load_mem(bytes).unwrap();
    let mut up = IncrementalUpdate::new(bytes, &doc).unwrap();
    for (id, obj) in objects {
        up.put(id, obj);
    }
    up.write().unwrap().bytes
}

fn first_page(bytes: &[u8]) -> ((u32, u16), lopdf::Dictionary) {
    let doc = lopdf::Document::load_mem(bytes).unwrap();
    let (_, id) = doc.get_pages().into_iter().next().unwrap();
    (id, doc.get_dictionary(id).unwrap().clone())
}

fn changed(s: &validation::SignatureReport) -> Vec<String> {
    s.changed_objects.clone()
}

#[test]
fn page_content_replaced_in_a_later_revision_is_a_disallowed_modification() {
    let (page_id, page) = first_page(signed());
    let forged = Stream::new(
        lopdf::Dictionary::new(),
        b"BT /F1 24 Tf 72 700 Td (FORGED) Tj ET".to_vec(),
    );
    // The existing content stream redefined in place…
    let content_id = match page.get(b"Contents").unwrap() {
        Object::Reference(id) => *id,
        Object::Array(a) => a[0].as_reference().unwrap(),
        other => panic!("unexpected /Contents {other:?}"),
    };
    let in_place = update(signed(), vec![(content_id, Object::Stream(forged.clone()))]);
    let report = verify(&in_place);
    let s = one(&report);
    assert_eq!(
        s.integrity,
        Integrity::Intact,
        "the signed bytes themselves are untouched"
    );
    assert_eq!(s.modifications_after, Modifications::Disallowed);
    assert!(
        changed(s).contains(&format!("{} {}", content_id.0, content_id.1)),
        "{s:#?}"
    );
    assert_eq!(report.indication, Verdict::Failed);
    // …or the page pointed at a new stream.
    let doc = lopdf::Document::load_mem(signed()).unwrap();
    let new_id = (doc.max_id + 1, 0);
    let mut page2 = page.clone();
    page2.set("Contents", Object::Reference(new_id));
    let repointed = update(
        signed(),
        vec![
            (new_id, Object::Stream(forged)),
            (page_id, Object::Dictionary(page2)),
        ],
    );
    let report = verify(&repointed);
    let s = one(&report);
    assert_eq!(s.modifications_after, Modifications::Disallowed);
    assert!(
        changed(s).contains(&format!("{} {}", page_id.0, page_id.1)),
        "{s:#?}"
    );
}

#[test]
fn a_catalog_changed_in_a_later_revision_is_a_disallowed_modification() {
    let doc = lopdf::Document::load_mem(signed()).unwrap();
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    let mut catalog = doc.get_dictionary(root).unwrap().clone();
    catalog.set("OpenAction", lopdf::dictionary! { "S" => "URI", "URI" => Object::string_literal("https://evil.example") });
    let bytes = update(signed(), vec![(root, Object::Dictionary(catalog))]);
    let report = verify(&bytes);
    let s = one(&report);
    assert_eq!(s.modifications_after, Modifications::Disallowed);
    assert_eq!(changed(s), vec![format!("{} {}", root.0, root.1)]);
    assert!(
        s.messages.iter().any(|m| m.contains("/OpenAction")),
        "{:?}",
        s.messages
    );
}

#[test]
fn an_xref_only_revision_re_pointing_an_object_is_a_disallowed_modification() {
    // The signer rewrote the catalog (to add the signature field), so the file still holds the
    // original catalog's definition, before the signature. An update made of nothing but a
    // cross-reference section re-points the catalog's number at that old definition: the
    // signature field disappears from the document a viewer shows.
    let bytes = signed();
    let doc = lopdf::Document::load_mem(bytes).unwrap();
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    let header = format!("\n{} {} obj", root.0, root.1);
    let old_def = find(bytes, header.as_bytes()) + 1;
    let last_def = bytes
        .windows(header.len())
        .rposition(|w| w == header.as_bytes())
        .unwrap()
        + 1;
    assert!(old_def < last_def, "the catalog is defined twice");
    let size = doc.trailer.get(b"Size").unwrap().as_i64().unwrap();
    let prev = kyso::pdf::last_startxref(bytes).unwrap();
    let mut out = bytes.to_vec();
    let xref_at = out.len();
    out.extend_from_slice(
        format!(
            "xref\n{} 1\n{old_def:010} {:05} n \ntrailer\n<</Size {size}/Root {} {} R/Prev {prev}>>\nstartxref\n{xref_at}\n%%EOF\n",
            root.0, root.1, root.0, root.1
        )
        .as_bytes(),
    );
    let report = verify(&out);
    // The signature is still found (in the revision it was made in) and judged.
    let s = one(&report);
    assert_eq!(s.integrity, Integrity::Intact);
    assert_eq!(s.modifications_after, Modifications::Disallowed, "{s:#?}");
    assert!(
        changed(s).contains(&format!("{} {}", root.0, root.1)),
        "{s:#?}"
    );
    assert_eq!(report.indication, Verdict::Failed);
}

#[test]
fn an_untrusted_root_is_indeterminate() {
    let mut anchors = TrustAnchors::new();
    anchors
        .add_pem_or_der(&std::fs::read(fixture("pyhanko/trust-root.pem")).unwrap())
        .unwrap();
    let report = validation::validate(
        signed(),
        &Policy {
            anchors,
            ..Policy::default()
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let s = one(&report);
    assert_eq!(s.integrity, Integrity::Intact);
    assert!(!s.trusted);
    assert_eq!(
        (s.indication, s.sub_indication),
        (
            Indication::Indeterminate,
            Some(SubIndication::NoCertificateChainFound)
        )
    );
    assert_eq!(report.indication, Verdict::Indeterminate);
}

/// Signs with a fresh key whose certificate the development intermediate issued for `validity`.
fn sign_with_validity(
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Vec<u8> {
    let ca_pem = std::fs::read_to_string(keys_dev().join("intermediate-ca.pem")).unwrap();
    let ca_key = rcgen::KeyPair::from_pem(
        &std::fs::read_to_string(keys_dev().join("intermediate-ca.key.pem")).unwrap(),
    )
    .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params =
        kyso::pki::dev::leaf_params("Hoàng Văn Em", "Phó Chủ tịch", false, not_before, not_after);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let chain = vec![Certificate::from_der(pem::parse(&ca_pem).unwrap().into_contents()).unwrap()];
    let signer = KeySigner::new(
        &PrivateKeyDer::Pkcs8(key.serialize_der()),
        Certificate::from_der(cert.der().to_vec()).unwrap(),
        chain,
        false,
    )
    .unwrap();
    let opts = SignOptions {
        development_mode: true,
        dangerous_skip_validity_check: true,
        ..SignOptions::at(time::OffsetDateTime::now_utc())
    };
    let input = std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap();
    kyso::signing::sign_pdf(&input, &signer, &opts).unwrap()
}

#[test]
fn an_expired_signer_is_out_of_bounds_without_proof_of_existence() {
    let bytes = sign_with_validity(
        time::macros::datetime!(2025-01-01 0:00 UTC),
        time::macros::datetime!(2026-01-01 0:00 UTC),
    );
    let report = verify(&bytes);
    let s = one(&report);
    assert_eq!(s.integrity, Integrity::Intact);
    assert!(s.trusted);
    assert_eq!(
        (s.indication, s.sub_indication),
        (
            Indication::Indeterminate,
            Some(SubIndication::OutOfBoundsNoPoe)
        ),
        "{s:#?}"
    );
    assert_eq!(report.indication, Verdict::Indeterminate);
}

#[test]
fn a_certificate_issued_after_the_claimed_signing_time_is_not_yet_valid() {
    let now = time::OffsetDateTime::now_utc();
    let bytes = sign_with_validity(
        now + time::Duration::days(30),
        now + time::Duration::days(400),
    );
    let s = verify(&bytes).signatures[0].clone();
    assert_eq!(
        (s.indication, s.sub_indication),
        (Indication::TotalFailed, Some(SubIndication::NotYetValid)),
        "{s:#?}"
    );
}

#[test]
fn a_revoked_signer_fails_and_a_signature_from_before_revocation_is_only_indeterminate() {
    let crl = std::fs::read(keys_dev().join("intermediate-ca.crl.pem")).unwrap();
    let mut p = dev_policy();
    p.crls = validation::chain::certs_from_pem_or_der(&crl, "X509 CRL").unwrap();
    let bytes = sign_bytes(
        "revoked-ec",
        &std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap(),
    );
    let s = validation::validate(&bytes, &p, time::OffsetDateTime::now_utc())
        .unwrap()
        .signatures[0]
        .clone();
    assert_eq!(
        (s.indication, s.sub_indication),
        (Indication::TotalFailed, Some(SubIndication::Revoked)),
        "{s:#?}"
    );

    // Claimed to be signed before the revocation date (15 January 2026): nothing proves that
    // claim, so the signature is not failed but cannot pass either.
    let signer = dev_key_signer("revoked-ec");
    let opts = SignOptions {
        development_mode: true,
        ..SignOptions::at(time::macros::datetime!(2025-12-01 9:00 +7))
    };
    let bytes = kyso::signing::sign_pdf(
        &std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap(),
        &signer,
        &opts,
    )
    .unwrap();
    let s = validation::validate(&bytes, &p, time::OffsetDateTime::now_utc())
        .unwrap()
        .signatures[0]
        .clone();
    assert_eq!(
        (s.indication, s.sub_indication),
        (Indication::Indeterminate, Some(SubIndication::RevokedNoPoe)),
        "{s:#?}"
    );
}

#[test]
fn hostile_bytes_never_panic() {
    // Every prefix length class and byte flips across the file: the validator returns an error
    // or a report, never panics.
    let base = sealed();
    let mut state = 0x2545_f491_u32;
    for i in 0..300 {
        let mut bytes = base.to_vec();
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let at = state as usize % bytes.len();
        match i % 3 {
            0 => bytes[at] = bytes[at].wrapping_add(1 + (state >> 24) as u8),
            1 => bytes.truncate(at),
            _ => bytes[at..].iter_mut().take(16).for_each(|b| *b = b'['),
        }
        let _ = validation::validate(&bytes, &dev_policy(), time::OffsetDateTime::now_utc());
    }
}
