//! What may happen to a signed certification afterwards: a clerk fills in a form field, the agency
//! adds its seal or long-term validation data — allowed; anything that changes what the official
//! saw — refused, naming the objects. Documents are built by hand with incremental updates.

use crate::common::*;
use kyso::pdf::incremental::IncrementalUpdate;
use kyso::validation::{self, Modifications, ValidationReport, Verdict};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream, dictionary};

fn appearance(text: &str) -> Object {
    let content = format!("BT /Helv 10 Tf 2 4 Td ({text}) Tj ET");
    Object::Stream(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 200.into(), 20.into()] },
        content.into_bytes(),
    ))
}

/// The ids the form document is built with.
struct Form {
    bytes: Vec<u8>,
    page: ObjectId,
    field: ObjectId,
    hidden: ObjectId,
}

/// The unsigned fixture plus a text field "ho_ten" on page 1 and, unreferenced anywhere, a stream
/// (what a Shadow attacker plants before signing). With `certified`, the catalog also carries
/// DocMDP permissions P=1 (no changes at all).
fn form(certified: bool) -> Form {
    let base = std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap();
    let doc = Document::load_mem(&base).unwrap();
    let (_, page) = doc.get_pages().into_iter().next().unwrap();
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    let mut up = IncrementalUpdate::new(&base, &doc).unwrap();
    let field = up.allocate();
    let ap = up.allocate();
    let hidden = up.allocate();
    up.put(ap, appearance("Nguyen Van A"));
    up.put(
        field,
        Object::Dictionary(dictionary! {
            "Type" => "Annot", "Subtype" => "Widget", "FT" => "Tx", "T" => Object::string_literal("ho_ten"),
            "V" => Object::string_literal("Nguyen Van A"), "Ff" => 0, "F" => 4,
            "Rect" => vec![100.into(), 700.into(), 300.into(), 720.into()], "P" => page,
            "AP" => dictionary! { "N" => ap },
        }),
    );
    up.put(
        hidden,
        Object::Stream(Stream::new(
            Dictionary::new(),
            b"1 0 0 rg 0 0 595 842 re f BT /Helv 40 Tf 72 400 Td (VOID) Tj ET".to_vec(),
        )),
    );
    let mut page_dict = doc.get_dictionary(page).unwrap().clone();
    page_dict.set("Annots", vec![Object::Reference(field)]);
    up.put(page, Object::Dictionary(page_dict));
    let mut catalog = doc.get_dictionary(root).unwrap().clone();
    catalog.set(
        "AcroForm",
        dictionary! { "Fields" => vec![Object::Reference(field)] },
    );
    if certified {
        let certification = up.allocate();
        up.put(
            certification,
            Object::Dictionary(dictionary! {
                "Type" => "Sig",
                "Reference" => vec![Object::Dictionary(dictionary! {
                    "Type" => "SigRef", "TransformMethod" => "DocMDP",
                    "TransformParams" => dictionary! { "Type" => "TransformParams", "P" => 1, "V" => "1.2" },
                })],
            }),
        );
        catalog.set("Perms", dictionary! { "DocMDP" => certification });
    }
    up.put(root, Object::Dictionary(catalog));
    Form {
        bytes: up.write().unwrap().bytes,
        page,
        field,
        hidden,
    }
}

/// Appends an update to `bytes` made by `build`.
fn update(bytes: &[u8], build: impl FnOnce(&Document, &mut IncrementalUpdate<'_>)) -> Vec<u8> {
    let doc = Document::load_mem(bytes).unwrap();
    let mut up = IncrementalUpdate::new(bytes, &doc).unwrap();
    build(&doc, &mut up);
    up.write().unwrap().bytes
}

fn first(report: &ValidationReport) -> &validation::SignatureReport {
    &report.signatures[0]
}

fn id(o: ObjectId) -> String {
    format!("{} {}", o.0, o.1)
}

/// The clerk's update: a new value and a new appearance for the field.
fn fill(bytes: &[u8], field: ObjectId) -> Vec<u8> {
    update(bytes, |doc, up| {
        let ap = up.allocate();
        up.put(ap, appearance("Tran Thi B"));
        let mut f = doc.get_dictionary(field).unwrap().clone();
        f.set("V", Object::string_literal("Tran Thi B"));
        f.set("AP", dictionary! { "N" => ap });
        up.put(field, Object::Dictionary(f));
    })
}

#[test]
fn filling_in_a_form_field_after_an_approval_signature_is_allowed() {
    let f = form(false);
    let signed = sign_bytes("chairman-ec", &f.bytes);
    let report = verify(&fill(&signed, f.field));
    assert_eq!(report.indication, Verdict::Passed, "{report:#?}");
    assert_eq!(first(&report).modifications_after, Modifications::Allowed);
}

#[test]
fn filling_in_a_form_field_of_a_document_certified_against_changes_is_disallowed() {
    let f = form(true);
    let signed = sign_bytes("chairman-ec", &f.bytes);
    let report = verify(&fill(&signed, f.field));
    let s = first(&report);
    assert_eq!(s.modifications_after, Modifications::Disallowed, "{s:#?}");
    assert!(s.changed_objects.contains(&id(f.field)), "{s:#?}");
    assert_eq!(report.indication, Verdict::Failed);
}

#[test]
fn changing_a_fields_flags_or_position_is_not_form_filling() {
    let f = form(false);
    let signed = sign_bytes("chairman-ec", &f.bytes);
    for (key, value) in [
        ("Ff", Object::Integer(1)),
        (
            "Rect",
            vec![0.into(), 0.into(), 595.into(), 842.into()].into(),
        ),
    ] {
        let moved = update(&signed, |doc, up| {
            let mut d = doc.get_dictionary(f.field).unwrap().clone();
            d.set(key, value);
            up.put(f.field, Object::Dictionary(d));
        });
        let report = verify(&moved);
        let s = first(&report);
        assert_eq!(
            s.modifications_after,
            Modifications::Disallowed,
            "/{key}: {s:#?}"
        );
        assert!(
            s.messages.iter().any(|m| m.contains(&format!("/{key}"))),
            "{:?}",
            s.messages
        );
    }
}

#[test]
fn a_new_annotation_that_is_not_a_signature_is_disallowed() {
    let f = form(false);
    let signed = sign_bytes("chairman-ec", &f.bytes);
    let annotated = update(&signed, |doc, up| {
        let note = up.allocate();
        up.put(
            note,
            Object::Dictionary(dictionary! {
                "Type" => "Annot", "Subtype" => "FreeText", "Contents" => Object::string_literal("PAID"),
                "Rect" => vec![0.into(), 0.into(), 595.into(), 842.into()], "DA" => Object::string_literal("/Helv 60 Tf"),
            }),
        );
        let mut page = doc.get_dictionary(f.page).unwrap().clone();
        let mut annots = page.get(b"Annots").unwrap().as_array().unwrap().clone();
        annots.push(Object::Reference(note));
        page.set("Annots", annots);
        up.put(f.page, Object::Dictionary(page));
    });
    let report = verify(&annotated);
    let s = first(&report);
    assert_eq!(s.modifications_after, Modifications::Disallowed);
    assert!(s.changed_objects.contains(&id(f.page)), "{s:#?}");
}

#[test]
fn long_term_validation_data_added_later_is_allowed() {
    let f = form(false);
    let signed = sign_bytes("chairman-ec", &f.bytes);
    let with_dss = update(&signed, |doc, up| {
        let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        let cert = up.allocate();
        let der = pem::parse(std::fs::read(keys_dev().join("intermediate-ca.pem")).unwrap())
            .unwrap()
            .into_contents();
        up.put(cert, Object::Stream(Stream::new(Dictionary::new(), der)));
        let dss = up.allocate();
        up.put(
            dss,
            Object::Dictionary(
                dictionary! { "Type" => "DSS", "Certs" => vec![Object::Reference(cert)] },
            ),
        );
        let mut catalog = doc.get_dictionary(root).unwrap().clone();
        catalog.set("DSS", dss);
        up.put(root, Object::Dictionary(catalog));
    });
    let report = verify(&with_dss);
    assert_eq!(report.indication, Verdict::Passed, "{report:#?}");
    assert_eq!(first(&report).modifications_after, Modifications::Allowed);
}

#[test]
fn a_new_signature_appearance_may_not_bring_a_hidden_object_into_view() {
    // Shadow "hide" through an allowed change: the attacker planted an unreferenced stream before
    // the official signed, then adds a "signature" whose appearance draws it over the page.
    let f = form(false);
    let signed = sign_bytes("chairman-ec", &f.bytes);
    let report = verify(&add_signature_widget(&signed, &f, true));
    let s = first(&report);
    assert_eq!(s.modifications_after, Modifications::Disallowed, "{s:#?}");
    assert!(s.changed_objects.contains(&id(f.hidden)), "{s:#?}");
    assert_eq!(report.indication, Verdict::Failed);
    // The same update with an appearance of its own is still refused: an empty signature field
    // drawn on the page is an overlay no signature accounts for (Evil Annotation, issue 12).
    let report = verify(&add_signature_widget(&signed, &f, false));
    assert_eq!(
        first(&report).modifications_after,
        Modifications::Disallowed,
        "{report:#?}"
    );
}

/// Adds an empty signature field whose appearance draws `f.hidden` (when `draw_hidden`) or text.
fn add_signature_widget(signed: &[u8], f: &Form, draw_hidden: bool) -> Vec<u8> {
    update(signed, |doc, up| {
        let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        let ap = up.allocate();
        up.put(
            ap,
            Object::Stream(Stream::new(
                dictionary! {
                    "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                    "Resources" => if draw_hidden { dictionary! { "XObject" => dictionary! { "X" => f.hidden } } } else { Dictionary::new() },
                },
                if draw_hidden { b"/X Do".to_vec() } else { b"0 0 1 rg 0 0 10 10 re f".to_vec() },
            )),
        );
        let widget = up.allocate();
        up.put(
            widget,
            Object::Dictionary(dictionary! {
                "Type" => "Annot", "Subtype" => "Widget", "FT" => "Sig", "T" => Object::string_literal("Signature9"),
                "Rect" => vec![0.into(), 0.into(), 595.into(), 842.into()], "P" => f.page, "AP" => dictionary! { "N" => ap },
            }),
        );
        let mut page = doc.get_dictionary(f.page).unwrap().clone();
        let mut annots = page.get(b"Annots").unwrap().as_array().unwrap().clone();
        annots.push(Object::Reference(widget));
        page.set("Annots", annots);
        up.put(f.page, Object::Dictionary(page));
        let catalog = doc.get_dictionary(root).unwrap();
        let af_obj = catalog.get(b"AcroForm").unwrap();
        let (af_id, mut af) = match af_obj {
            Object::Reference(r) => (Some(*r), doc.get_dictionary(*r).unwrap().clone()),
            Object::Dictionary(d) => (None, d.clone()),
            other => panic!("{other:?}"),
        };
        let mut fields = af.get(b"Fields").unwrap().as_array().unwrap().clone();
        fields.push(Object::Reference(widget));
        af.set("Fields", fields);
        match af_id {
            Some(r) => up.put(r, Object::Dictionary(af)),
            None => {
                let mut c = catalog.clone();
                c.set("AcroForm", af);
                up.put(root, Object::Dictionary(c));
            }
        }
    })
}

/// A time-stamping authority certificate issued by the development intermediate (PEM cert, key).
pub(crate) fn dev_tsa() -> (String, String) {
    let ca_pem = std::fs::read_to_string(keys_dev().join("intermediate-ca.pem")).unwrap();
    let ca_key = rcgen::KeyPair::from_pem(
        &std::fs::read_to_string(keys_dev().join("intermediate-ca.key.pem")).unwrap(),
    )
    .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    // pyHanko's test time-stamper signs with RSA only; ring cannot make RSA keys, so a committed
    // development RSA key gets a TSA certificate of its own.
    let key = rcgen::KeyPair::from_pem(
        &std::fs::read_to_string(keys_dev().join("clerk-rsa.key.pem")).unwrap(),
    )
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut params = kyso::pki::dev::leaf_params(
        "kyso Development TSA",
        "",
        true,
        now - time::Duration::days(1),
        now + time::Duration::days(365),
    );
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::TimeStamping];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn a_document_timestamp_added_by_pyhanko_after_the_signature_is_allowed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("signed.pdf");
    let stamped = dir.path().join("stamped.pdf");
    std::fs::write(
        &signed,
        sign_bytes(
            "chairman-rsa",
            &std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap(),
        ),
    )
    .unwrap();
    let (cert, key) = dev_tsa();
    let (cert_path, key_path) = (dir.path().join("tsa.pem"), dir.path().join("tsa.key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let script = r#"
import sys
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko_certvalidator.registry import SimpleCertificateStore
inp, out, cert, key, inter = sys.argv[1:6]
ts = DummyTimeStamper(
    tsa_cert=load_cert_from_pemder(cert),
    tsa_key=load_private_key_from_pemder(key, None),
    certs_to_embed=SimpleCertificateStore.from_certs([load_cert_from_pemder(inter)]),
)
with open(inp, 'rb') as f, open(out, 'wb') as o:
    PdfTimeStamper(ts).timestamp_pdf(IncrementalPdfFileWriter(f), 'sha256', output=o)
"#;
    let out = std::process::Command::new(tools().join("venv/bin/python"))
        .arg("-c")
        .arg(script)
        .args([
            &signed,
            &stamped,
            &cert_path,
            &key_path,
            &keys_dev().join("intermediate-ca.pem"),
        ])
        .output()
        .expect("pyHanko runs");
    assert!(
        out.status.success(),
        "pyHanko timestamping failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let report = verify(&std::fs::read(&stamped).unwrap());
    assert_eq!(report.signatures.len(), 2, "{report:#?}");
    let (sig, ts) = (&report.signatures[0], &report.signatures[1]);
    assert_eq!(sig.modifications_after, Modifications::Allowed, "{sig:#?}");
    assert_eq!(
        sig.indication,
        validation::Indication::TotalPassed,
        "{sig:#?}"
    );
    assert_eq!(
        ts.indication,
        validation::Indication::TotalPassed,
        "{ts:#?}"
    );
    assert_eq!(
        ts.signer.as_ref().unwrap().common_name,
        "kyso Development TSA"
    );
    assert_eq!(report.indication, Verdict::Passed);

    // One covered byte changed (a line break made a space, which any parser reads the same):
    // the timestamp's imprint no longer matches, nor does the signature's digest.
    let mut bytes = std::fs::read(&stamped).unwrap();
    let at = 20 + bytes[20..].iter().position(|b| *b == b'\n').unwrap();
    bytes[at] = b' ';
    let report = verify(&bytes);
    for s in &report.signatures {
        assert_eq!(
            s.sub_indication,
            Some(validation::SubIndication::HashFailure),
            "{report:#?}"
        );
    }
}
