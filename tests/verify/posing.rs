//! After a signature, an update may add signatures, validation data and permitted form filling,
//! and nothing that changes what the signer saw. These tests pose other things as allowed ones:
//! annotations carrying `/FT /Sig`, a signed widget re-pointed at a hidden drawing, one signature
//! shown by two fields, indirect permission values; and check that the legitimate long-term
//! updates (DSS, document timestamps) still pass after a certification that forbids changes.

use crate::ambiguity::{
    BASES, Base, base, check, pyhanko_sign, pyhanko_sign_as, pyhanko_sign_unchecked,
    unsigned_stream_form,
};
use crate::common::*;
use kyso::pdf::incremental::IncrementalUpdate;
use kyso::validation::{Indication, ModificationLevel, Modifications, SubIndication, Verdict};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream, dictionary};

fn load(bytes: &[u8]) -> Document {
    kyso::pdf::load(bytes, &kyso::pdf::Limits::default()).unwrap()
}

fn id(o: ObjectId) -> String {
    format!("{} {}", o.0, o.1)
}

fn drawing(text: &str) -> Object {
    Object::Stream(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 595.into(), 842.into()] },
        format!("1 1 1 rg 0 0 595 842 re f BT /Helv 30 Tf 72 400 Td ({text}) Tj ET").into_bytes(),
    ))
}

/// Appends an update to `bytes` made by `build`.
pub(crate) fn update(
    bytes: &[u8],
    build: impl FnOnce(&Document, &mut IncrementalUpdate<'_>),
) -> Vec<u8> {
    let doc = load(bytes);
    let mut up = IncrementalUpdate::new(bytes, &doc).unwrap();
    build(&doc, &mut up);
    up.write().unwrap().bytes
}

fn first_page(doc: &Document) -> ObjectId {
    doc.get_pages().into_iter().next().unwrap().1
}

/// Puts `field` into the first page's `/Annots` and into `/AcroForm /Fields`, whatever form the
/// two arrays have (direct or indirect, present or not).
pub(crate) fn attach(doc: &Document, up: &mut IncrementalUpdate<'_>, field: ObjectId) {
    let page = first_page(doc);
    let mut page_dict = doc.get_dictionary(page).unwrap().clone();
    match page_dict.get(b"Annots").ok().cloned() {
        Some(Object::Reference(a)) => {
            let mut arr = doc.get_object(a).unwrap().as_array().unwrap().clone();
            arr.push(Object::Reference(field));
            up.put(a, Object::Array(arr));
        }
        Some(Object::Array(mut arr)) => {
            arr.push(Object::Reference(field));
            page_dict.set("Annots", arr);
            up.put(page, Object::Dictionary(page_dict));
        }
        _ => {
            page_dict.set("Annots", vec![Object::Reference(field)]);
            up.put(page, Object::Dictionary(page_dict));
        }
    }
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    let mut catalog = doc.get_dictionary(root).unwrap().clone();
    let push_fields =
        |af: &mut Dictionary, up: &mut IncrementalUpdate<'_>| match af.get(b"Fields").ok().cloned()
        {
            Some(Object::Reference(f)) => {
                let mut arr = doc.get_object(f).unwrap().as_array().unwrap().clone();
                arr.push(Object::Reference(field));
                up.put(f, Object::Array(arr));
                false
            }
            Some(Object::Array(mut arr)) => {
                arr.push(Object::Reference(field));
                af.set("Fields", arr);
                true
            }
            _ => {
                af.set("Fields", vec![Object::Reference(field)]);
                true
            }
        };
    match catalog.get(b"AcroForm").ok().cloned() {
        Some(Object::Reference(a)) => {
            let mut af = doc.get_dictionary(a).unwrap().clone();
            if push_fields(&mut af, up) {
                up.put(a, Object::Dictionary(af));
            }
        }
        Some(Object::Dictionary(mut af)) => {
            push_fields(&mut af, up);
            catalog.set("AcroForm", af);
            up.put(root, Object::Dictionary(catalog));
        }
        _ => {
            let mut af = Dictionary::new();
            push_fields(&mut af, up);
            catalog.set("AcroForm", af);
            up.put(root, Object::Dictionary(catalog));
        }
    }
}

/// The first signature's report is a disallowed modification whose messages name `object`.
fn assert_disallowed(what: &str, bytes: &[u8], object: ObjectId) {
    let report = check(bytes);
    assert_eq!(report.indication, Verdict::Failed, "{what}: {report:#?}");
    let s = &report.signatures[0];
    assert_eq!(
        s.modifications_after,
        Modifications::Disallowed,
        "{what}: {s:#?}"
    );
    assert_eq!(s.modification_level, ModificationLevel::Other);
    let named = id(object);
    assert!(
        s.changed_objects.contains(&named)
            || s.messages
                .iter()
                .any(|m| m.contains(&format!("object {named}"))
                    || m.contains(&format!("field {named}"))
                    || m.contains(&format!("value {named}"))),
        "{what}: {named} is named: {:?} {:?}",
        s.changed_objects,
        s.messages
    );
}

#[test]
fn annotations_carrying_ft_sig_are_not_new_signature_fields() {
    for b in BASES {
        for subtype in ["FreeText", "Stamp", "Link"] {
            let mut evil = 0;
            let bytes = update(base(b), |doc, up| {
                let a = up.allocate();
                evil = a.0;
                let mut annot = dictionary! {
                    "Type" => "Annot", "Subtype" => subtype, "FT" => "Sig",
                    "T" => Object::string_literal("Evil"), "F" => 4,
                    "Rect" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                    "P" => first_page(doc), "Contents" => Object::string_literal("FORGED"),
                    "DA" => Object::string_literal("/Helv 40 Tf 1 0 0 rg"),
                };
                if subtype == "Link" {
                    annot.set(
                        "A",
                        dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("app.alert('x')") },
                    );
                }
                up.put(a, Object::Dictionary(annot));
                attach(doc, up, a);
            });
            assert_disallowed(&format!("{b:?} {subtype}"), &bytes, (evil, 0));
        }
    }
}

#[test]
fn a_new_signature_widget_with_actions_or_an_unsigned_visible_one_is_refused() {
    for b in BASES {
        for (label, with_action) in [("action", true), ("visible unsigned", false)] {
            let mut evil = 0;
            let bytes = update(base(b), |doc, up| {
                let w = up.allocate();
                evil = w.0;
                let ap = up.allocate();
                up.put(ap, drawing("FORGED"));
                let mut widget = dictionary! {
                    "Type" => "Annot", "Subtype" => "Widget", "FT" => "Sig",
                    "T" => Object::string_literal("Evil"), "F" => 4, "P" => first_page(doc),
                    "Rect" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                    "AP" => dictionary! { "N" => ap },
                };
                if with_action {
                    widget.set(
                        "AA",
                        dictionary! { "PO" => dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("1") } },
                    );
                }
                up.put(w, Object::Dictionary(widget));
                attach(doc, up, w);
            });
            assert_disallowed(&format!("{b:?} {label}"), &bytes, (evil, 0));
        }
        // Control: an empty, invisible signature field for a later signer is allowed.
        let bytes = update(base(b), |doc, up| {
            let w = up.allocate();
            up.put(
                w,
                Object::Dictionary(dictionary! {
                    "Type" => "Annot", "Subtype" => "Widget", "FT" => "Sig",
                    "T" => Object::string_literal("Later"), "F" => 132, "P" => first_page(doc),
                    "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()],
                }),
            );
            attach(doc, up, w);
        });
        let report = check(&bytes);
        assert_eq!(report.indication, Verdict::Passed, "{b:?}: {report:#?}");
        assert_eq!(
            report.signatures[0].modification_level,
            ModificationLevel::FormFilling
        );
    }
}

/// The signature field (not the widget kid) and signature dictionary of the first signature.
fn signature_field(doc: &Document) -> (ObjectId, ObjectId) {
    doc.objects
        .iter()
        .find_map(|(fid, o)| {
            let d = o.as_dict().ok()?;
            let v = d.get(b"V").ok()?.as_reference().ok()?;
            doc.get_dictionary(v)
                .ok()
                .filter(|s| s.has(b"ByteRange"))
                .map(|_| (*fid, v))
        })
        .unwrap()
}

#[test]
fn one_signature_dictionary_shown_by_a_second_field_is_refused() {
    for b in BASES {
        let mut shown = (0, 0);
        let bytes = update(base(b), |doc, up| {
            let (_, sig) = signature_field(doc);
            shown = sig;
            let w = up.allocate();
            up.put(
                w,
                Object::Dictionary(dictionary! {
                    "Type" => "Annot", "Subtype" => "Widget", "FT" => "Sig",
                    "T" => Object::string_literal("AgencySeal"), "F" => 4, "P" => first_page(doc),
                    "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()], "V" => sig,
                }),
            );
            attach(doc, up, w);
        });
        assert_disallowed(&format!("{b:?}"), &bytes, shown);
    }
}

/// The unsigned fixture (table or stream form) with a text field, an unreferenced drawing (what a
/// Shadow attacker plants before signing) and, with `docmdp`, a certification's permissions in
/// the catalog; with `indirect_p` the DocMDP /P value is an indirect object.
struct Form {
    bytes: Vec<u8>,
    field: ObjectId,
    hidden: ObjectId,
}

fn form(stream: bool, docmdp: Option<i64>, indirect_p: bool) -> Form {
    let base = if stream {
        unsigned_stream_form().to_vec()
    } else {
        std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap()
    };
    let (mut field, mut hidden) = ((0, 0), (0, 0));
    let bytes = update(&base, |doc, up| {
        field = up.allocate();
        hidden = up.allocate();
        let ap = up.allocate();
        up.put(ap, drawing("Nguyen Van A"));
        up.put(hidden, drawing("VOID"));
        up.put(
            field,
            Object::Dictionary(dictionary! {
                "Type" => "Annot", "Subtype" => "Widget", "FT" => "Tx", "T" => Object::string_literal("ho_ten"),
                "V" => Object::string_literal("Nguyen Van A"), "F" => 4, "P" => first_page(doc),
                "Rect" => vec![100.into(), 700.into(), 300.into(), 720.into()],
                "AP" => dictionary! { "N" => ap },
            }),
        );
        let page = first_page(doc);
        let mut page_dict = doc.get_dictionary(page).unwrap().clone();
        page_dict.set("Annots", vec![Object::Reference(field)]);
        up.put(page, Object::Dictionary(page_dict));
        let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        let mut catalog = doc.get_dictionary(root).unwrap().clone();
        catalog.set(
            "AcroForm",
            dictionary! { "Fields" => vec![Object::Reference(field)] },
        );
        if let Some(p) = docmdp {
            let p_value = if indirect_p {
                let pid = up.allocate();
                up.put(pid, Object::Integer(p));
                Object::Reference(pid)
            } else {
                Object::Integer(p)
            };
            let certification = up.allocate();
            up.put(
                certification,
                Object::Dictionary(dictionary! {
                    "Type" => "Sig",
                    "Reference" => vec![Object::Dictionary(dictionary! {
                        "Type" => "SigRef", "TransformMethod" => "DocMDP",
                        "TransformParams" => dictionary! { "Type" => "TransformParams", "P" => p_value, "V" => "1.2" },
                    })],
                }),
            );
            catalog.set("Perms", dictionary! { "DocMDP" => certification });
        }
        up.put(root, Object::Dictionary(catalog));
    });
    Form {
        bytes,
        field,
        hidden,
    }
}

fn sign_as(b: Base, input: &[u8]) -> Vec<u8> {
    match b {
        Base::KysoTable | Base::KysoStream => sign_bytes("chairman-rsa", input),
        Base::PyHankoTable | Base::PyHankoStream => pyhanko_sign_unchecked(input),
    }
}

#[test]
fn a_signed_widgets_appearance_may_not_be_re_pointed_at_a_hidden_drawing() {
    for b in BASES {
        let f = form(b.stream(), None, false);
        let signed = sign_as(b, &f.bytes);
        assert_eq!(check(&signed).indication, Verdict::Passed, "{b:?}");
        let mut sig_field = (0, 0);
        let bytes = update(&signed, |doc, up| {
            let (fid, _) = signature_field(doc);
            sig_field = fid;
            let mut d = doc.get_dictionary(fid).unwrap().clone();
            d.set("AP", dictionary! { "N" => f.hidden });
            up.put(fid, Object::Dictionary(d));
        });
        assert_disallowed(&format!("{b:?} signed /AP"), &bytes, sig_field);
        // The same hidden drawing reached from the text field's appearance, which form filling
        // may otherwise change.
        let bytes = update(&signed, |doc, up| {
            let mut d = doc.get_dictionary(f.field).unwrap().clone();
            d.set("V", Object::string_literal("Tran Thi B"));
            d.set("AP", dictionary! { "N" => f.hidden });
            up.put(f.field, Object::Dictionary(d));
        });
        assert_disallowed(&format!("{b:?} filled /AP"), &bytes, f.hidden);
    }
}

#[test]
fn an_indirect_docmdp_p_is_resolved_not_read_as_the_default() {
    // P=1 written as `P 12 0 R`: filling the form is a change the certification forbids.
    for b in BASES {
        let f = form(b.stream(), Some(1), true);
        let signed = sign_as(b, &f.bytes);
        let bytes = update(&signed, |doc, up| {
            let mut d = doc.get_dictionary(f.field).unwrap().clone();
            d.set("V", Object::string_literal("Tran Thi B"));
            up.put(f.field, Object::Dictionary(d));
        });
        assert_disallowed(&format!("{b:?}"), &bytes, f.field);
        // Control: the same with P=2 written indirectly allows the filling.
        let f = form(b.stream(), Some(2), true);
        let signed = sign_as(b, &f.bytes);
        let bytes = update(&signed, |doc, up| {
            let mut d = doc.get_dictionary(f.field).unwrap().clone();
            d.set("V", Object::string_literal("Tran Thi B"));
            up.put(f.field, Object::Dictionary(d));
        });
        let report = check(&bytes);
        assert_eq!(report.indication, Verdict::Passed, "{b:?}: {report:#?}");
        assert_eq!(
            report.signatures[0].modification_level,
            ModificationLevel::FormFilling
        );
    }
}

/// A document timestamp by pyHanko over `input` (the development TSA).
fn pyhanko_timestamp(input: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&i, input).unwrap();
    let (cert, key) = crate::modifications::dev_tsa();
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
    PdfTimeStamper(ts).timestamp_pdf(IncrementalPdfFileWriter(f, strict=False), 'sha256', output=o)
"#;
    let out = std::process::Command::new(tools().join("venv/bin/python"))
        .arg("-c")
        .arg(script)
        .args([
            &i,
            &o,
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
    std::fs::read(o).unwrap()
}

/// A `/DSS` with the chain's certificates, added by hand.
fn add_dss(bytes: &[u8]) -> Vec<u8> {
    update(bytes, |doc, up| {
        let mut certs = Vec::new();
        for name in ["intermediate-ca.pem", "chairman-rsa.pem"] {
            let der = kyso::pki::load_certificates(&keys_dev().join(name))
                .unwrap()
                .remove(0);
            let s = up.allocate();
            up.put(
                s,
                Object::Stream(Stream::new(Dictionary::new(), der.der().to_vec())),
            );
            certs.push(Object::Reference(s));
        }
        let dss = up.allocate();
        up.put(
            dss,
            Object::Dictionary(dictionary! { "Type" => "DSS", "Certs" => certs }),
        );
        let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        let mut catalog = doc.get_dictionary(root).unwrap().clone();
        catalog.set("DSS", dss);
        up.put(root, Object::Dictionary(catalog));
    })
}

/// A `/DSS` added by pyHanko (its `DocumentSecurityStore.add_dss`) for the first signature: the
/// chain's certificates and the intermediate's CRL, with a VRI entry.
fn pyhanko_dss(bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, bytes).unwrap();
    let script = r#"
import io, sys
from asn1crypto import crl, pem
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore
path, inter, root, crl_path = sys.argv[1:5]
data = open(path, 'rb').read()
sig = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures[0]
der = open(crl_path, 'rb').read()
if pem.detect(der):
    _, _, der = pem.unarmor(der)
buf = io.BytesIO(data)
DocumentSecurityStore.add_dss(
    buf, sig.sig_object['/Contents'],
    certs=[load_cert_from_pemder(inter), load_cert_from_pemder(root)],
    crls=[crl.CertificateList.load(der)], strict=False,
)
open(path, 'wb').write(buf.getvalue())
"#;
    let k = keys_dev();
    let out = std::process::Command::new(tools().join("venv/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(k.join("intermediate-ca.pem"))
        .arg(k.join("root-ca.pem"))
        .arg(k.join("intermediate-ca.crl.pem"))
        .output()
        .expect("pyHanko runs");
    assert!(
        out.status.success(),
        "pyHanko add_dss failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(path).unwrap()
}

#[test]
fn a_dss_added_by_pyhanko_then_a_document_timestamp_pass_on_every_base() {
    for b in BASES {
        let with_dss = pyhanko_dss(base(b));
        assert!(
            with_dss.len() > base(b).len(),
            "{b:?}: an update was appended"
        );
        let report = check(&with_dss);
        assert_eq!(report.indication, Verdict::Passed, "{b:?}: {report:#?}");
        assert_eq!(
            report.signatures[0].modification_level,
            ModificationLevel::LtaUpdates,
            "{b:?}"
        );
        let report = check(&pyhanko_timestamp(&with_dss));
        assert_eq!(report.indication, Verdict::Passed, "{b:?}: {report:#?}");
        assert_eq!(report.signatures.len(), 2, "{b:?}");
        assert_eq!(
            report.signatures[0].modification_level,
            ModificationLevel::LtaUpdates,
            "{b:?}"
        );
    }
}

#[test]
fn a_certification_forbidding_changes_still_allows_dss_and_a_document_timestamp() {
    // kyso's signature under P=1 permissions in the catalog; pyHanko's own P=1 certification.
    for b in BASES {
        let label = format!("{b:?}");
        let certified = match b {
            Base::KysoTable | Base::KysoStream => {
                sign_bytes("chairman-rsa", &form(b.stream(), Some(1), false).bytes)
            }
            Base::PyHankoTable | Base::PyHankoStream => {
                pyhanko_sign(&form(b.stream(), None, false).bytes, Some(1))
            }
        };
        assert_eq!(check(&certified).indication, Verdict::Passed, "{label}");
        // The DSS by hand after kyso's signature, by pyHanko after its own.
        let with_dss = match b {
            Base::KysoTable | Base::KysoStream => add_dss(&certified),
            Base::PyHankoTable | Base::PyHankoStream => pyhanko_dss(&certified),
        };
        let lta = pyhanko_timestamp(&with_dss);
        let report = check(&lta);
        assert_eq!(report.indication, Verdict::Passed, "{label}: {report:#?}");
        assert_eq!(report.signatures.len(), 2);
        assert_eq!(
            report.signatures[0].modification_level,
            ModificationLevel::LtaUpdates,
            "{label}"
        );
        assert_eq!(report.signatures[1].indication, Indication::TotalPassed);
        // A second approval signature is a change P=1 forbids.
        let report = check(&sign_bytes("seal-rsa", &certified));
        assert_eq!(report.indication, Verdict::Failed, "{label}: {report:#?}");
        assert_eq!(
            report.signatures[0].modifications_after,
            Modifications::Disallowed
        );
    }
}

#[test]
fn after_a_p2_certification_form_filling_and_a_second_signature_pass() {
    for stream in [false, true] {
        let f = form(stream, None, false);
        for p in [2u8, 3] {
            let certified = pyhanko_sign(&f.bytes, Some(p));
            let filled = update(&certified, |doc, up| {
                let mut d = doc.get_dictionary(f.field).unwrap().clone();
                d.set("V", Object::string_literal("Tran Thi B"));
                up.put(f.field, Object::Dictionary(d));
            });
            let report = check(&filled);
            assert_eq!(report.indication, Verdict::Passed, "P={p}: {report:#?}");
            assert_eq!(
                report.signatures[0].modification_level,
                ModificationLevel::FormFilling
            );
            let second = sign_bytes("seal-rsa", &certified);
            let report = check(&second);
            assert_eq!(report.indication, Verdict::Passed, "P={p}: {report:#?}");
        }
    }
}

/// A document certified with DocMDP P=2 on base `b`: pyHanko's own certification, or kyso's
/// signature under the catalog's P=2 permissions.
fn certified_p2(b: Base) -> (Form, Vec<u8>) {
    match b {
        Base::KysoTable | Base::KysoStream => {
            let f = form(b.stream(), Some(2), false);
            let signed = sign_bytes("chairman-rsa", &f.bytes);
            (f, signed)
        }
        Base::PyHankoTable | Base::PyHankoStream => {
            let f = form(b.stream(), None, false);
            let signed = pyhanko_sign(&f.bytes, Some(2));
            (f, signed)
        }
    }
}

/// An appearance that paints nothing.
fn empty_drawing() -> Object {
    Object::Stream(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 100.into(), 100.into()] },
        Vec::new(),
    ))
}

/// Appends a new signature field "Sneaky" at `rect` on the first page, drawn by `appearance`,
/// signed (with a signature dictionary of its own, which does not verify) when `signed`.
fn new_sig_field(
    bytes: &[u8],
    rect: [i64; 4],
    appearance: Object,
    signed: bool,
) -> (Vec<u8>, ObjectId) {
    let mut w_id = (0, 0);
    let out = update(bytes, |doc, up| {
        let w = up.allocate();
        w_id = w;
        let ap = up.allocate();
        up.put(ap, appearance);
        let mut widget = dictionary! {
            "Type" => "Annot", "Subtype" => "Widget", "FT" => "Sig",
            "T" => Object::string_literal("Sneaky"), "F" => 4, "P" => first_page(doc),
            "Rect" => rect.iter().map(|n| Object::Integer(*n)).collect::<Vec<_>>(),
            "AP" => dictionary! { "N" => ap },
        };
        if signed {
            let v = up.allocate();
            up.put(
                v,
                Object::Dictionary(dictionary! {
                    "Type" => "Sig", "Filter" => "Adobe.PPKLite", "SubFilter" => "ETSI.CAdES.detached",
                    "ByteRange" => vec![0.into(), 0.into(), 0.into(), 0.into()],
                    "Contents" => Object::String(vec![0; 8], lopdf::StringFormat::Hexadecimal),
                }),
            );
            widget.set("V", v);
        }
        up.put(w, Object::Dictionary(widget));
        attach(doc, up, w);
    });
    (out, w_id)
}

/// The report of the first signature that is not the field "Sneaky".
fn original(bytes: &[u8]) -> kyso::validation::SignatureReport {
    let report = check(bytes);
    report
        .signatures
        .iter()
        .find(|s| s.field != "Sneaky")
        .cloned()
        .unwrap_or_else(|| panic!("{report:#?}"))
}

// Where the unsigned fixture's page paints: lines of text from x = 31 at y = 798, 776, 730, 685,
// 662 and 640 (13 pt); the form's text field "ho_ten" sits at [100 700 300 720].
const OVER_TEXT: [i64; 4] = [25, 790, 300, 815];
const OVER_FIELD: [i64; 4] = [90, 702, 310, 722];
const BLANK: [i64; 4] = [400, 100, 500, 150];

#[test]
fn a_new_signature_drawn_over_certified_content_is_refused_after_p2() {
    for b in BASES {
        let (_, certified) = certified_p2(b);
        assert_eq!(check(&certified).indication, Verdict::Passed, "{b:?}");
        // Over the certified page's text, and over its certified form field.
        for (rect, what) in [(OVER_TEXT, "content of page"), (OVER_FIELD, "annotation")] {
            let (bytes, w) = new_sig_field(&certified, rect, drawing("Tran Thi B"), true);
            let s = original(&bytes);
            assert_eq!(
                s.modifications_after,
                Modifications::Disallowed,
                "{b:?} {what}: {s:#?}"
            );
            assert!(
                s.messages
                    .iter()
                    .any(|m| m.contains(&format!("field {}", id(w))) && m.contains(what)),
                "{b:?} {what}: {s:#?}"
            );
        }
        // In blank space, or over the text with an appearance that paints nothing: only the new
        // (unverifiable) signature fails, the certification's view is intact.
        for (rect, appearance) in [(BLANK, drawing("Tran Thi B")), (OVER_TEXT, empty_drawing())] {
            let (bytes, _) = new_sig_field(&certified, rect, appearance, true);
            let s = original(&bytes);
            assert_eq!(
                s.modifications_after,
                Modifications::Allowed,
                "{b:?} {rect:?}: {s:#?}"
            );
        }
    }
}

#[test]
fn a_new_unsigned_signature_field_may_not_paint_but_an_empty_placeholder_passes() {
    for b in BASES {
        // After an approval signature: painting over the text, or in blank space, is refused.
        for rect in [OVER_TEXT, BLANK] {
            let (bytes, w) = new_sig_field(base(b), rect, drawing("DA HUY"), false);
            assert_disallowed(&format!("{b:?} {rect:?}"), &bytes, w);
        }
        // A visible placeholder whose appearance paints nothing (what pyHanko and Acrobat draw
        // for a field to be signed later) is allowed, even where the page has text.
        let (bytes, _) = new_sig_field(base(b), OVER_TEXT, empty_drawing(), false);
        let report = check(&bytes);
        assert_eq!(report.indication, Verdict::Passed, "{b:?}: {report:#?}");
        assert_eq!(
            report.signatures[0].modifications_after,
            Modifications::Allowed
        );
        // After a P=2 certification, a painting empty field is refused in blank space too.
        let (_, certified) = certified_p2(b);
        let (bytes, w) = new_sig_field(&certified, BLANK, drawing("DA HUY"), false);
        let s = original(&bytes);
        assert_eq!(
            s.modifications_after,
            Modifications::Disallowed,
            "{b:?}: {s:#?}"
        );
        assert!(
            s.messages
                .iter()
                .any(|m| m.contains(&format!("field {}", id(w)))),
            "{b:?}: {s:#?}"
        );
    }
}

/// The unsigned form with a second text field "ghi_chu" and an empty invisible signature field
/// "KySo" whose `/Lock` locks "ho_ten", its `/Action` and `/Fields` written as indirect objects.
fn locked_form(stream: bool) -> (Vec<u8>, ObjectId, ObjectId) {
    let f = form(stream, None, false);
    let mut other = (0, 0);
    let bytes = update(&f.bytes, |doc, up| {
        other = up.allocate();
        let ap = up.allocate();
        up.put(ap, drawing("-"));
        up.put(
            other,
            Object::Dictionary(dictionary! {
                "Type" => "Annot", "Subtype" => "Widget", "FT" => "Tx", "T" => Object::string_literal("ghi_chu"),
                "V" => Object::string_literal("-"), "F" => 4, "P" => first_page(doc),
                "Rect" => vec![100.into(), 600.into(), 300.into(), 620.into()],
                "AP" => dictionary! { "N" => ap },
            }),
        );
        attach(doc, up, other);
    });
    let bytes = update(&bytes, |doc, up| {
        let action = up.allocate();
        up.put(action, Object::Name(b"Include".to_vec()));
        let fields = up.allocate();
        up.put(
            fields,
            Object::Array(vec![Object::string_literal("ho_ten")]),
        );
        let sig = up.allocate();
        up.put(
            sig,
            Object::Dictionary(dictionary! {
                "Type" => "Annot", "Subtype" => "Widget", "FT" => "Sig", "T" => Object::string_literal("KySo"),
                "F" => 132, "P" => first_page(doc),
                "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()],
                "Lock" => dictionary! { "Type" => "SigFieldLock", "Action" => action, "Fields" => fields },
            }),
        );
        attach(doc, up, sig);
    });
    (bytes, f.field, other)
}

#[test]
fn an_indirect_field_lock_is_resolved_not_read_as_no_lock() {
    for b in BASES {
        let (input, locked, free) = locked_form(b.stream());
        let signed = match b {
            Base::KysoTable | Base::KysoStream => {
                let dir = tempfile::tempdir().unwrap();
                let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
                std::fs::write(&i, &input).unwrap();
                dev_sign("chairman-rsa", &i, &o, &["--field", "KySo"]);
                std::fs::read(o).unwrap()
            }
            Base::PyHankoTable | Base::PyHankoStream => {
                pyhanko_sign_as(&input, None, "KySo", "chairman-rsa")
            }
        };
        assert_eq!(check(&signed).indication, Verdict::Passed, "{b:?}");
        let fill = |field: ObjectId| {
            update(&signed, |doc, up| {
                let mut d = doc.get_dictionary(field).unwrap().clone();
                d.set("V", Object::string_literal("Tran Thi B"));
                up.put(field, Object::Dictionary(d));
            })
        };
        assert_disallowed(&format!("{b:?} locked"), &fill(locked), locked);
        let report = check(&fill(free));
        assert_eq!(
            report.indication,
            Verdict::Passed,
            "{b:?} free: {report:#?}"
        );
        assert_eq!(
            report.signatures[0].modification_level,
            ModificationLevel::FormFilling
        );
    }
}

#[test]
fn a_signature_dictionary_that_does_not_parse_fails_instead_of_reading_as_unsigned() {
    for b in BASES {
        let mut bytes = base(b).to_vec();
        let at = bytes.windows(10).rposition(|w| w == b"/ByteRange").unwrap();
        let open = at + bytes[at..].iter().position(|c| *c == b'[').unwrap();
        // An unbalanced literal string swallows the rest of the dictionary.
        bytes[open] = b'(';
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.pdf");
        std::fs::write(&path, &bytes).unwrap();
        let out = kyso()
            .args(["verify", "--json", "--trust"])
            .arg(keys_dev().join("root-ca.pem"))
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{b:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Re-points the SignerIdentifier of the (only) signature at the intermediate CA's certificate,
/// which the signature carries too. The gap is not signed, so nothing else changes.
fn sid_naming_the_intermediate(signed: &[u8]) -> Vec<u8> {
    use cms::cert::IssuerAndSerialNumber;
    use cms::content_info::ContentInfo;
    use cms::signed_data::{SignedData, SignerIdentifier, SignerInfos};
    use der::asn1::SetOfVec;
    use der::{Any, Decode, DecodePem, Encode};
    let key = signed
        .windows(10)
        .rposition(|w| w == b"/ByteRange")
        .unwrap();
    let open = key + signed[key..].iter().position(|c| *c == b'[').unwrap();
    let close = open + signed[open..].iter().position(|c| *c == b']').unwrap();
    let nums: Vec<usize> = std::str::from_utf8(&signed[open + 1..close])
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (start, end) = (nums[1] + 1, nums[2] - 1);
    let hex = std::str::from_utf8(&signed[start..end]).unwrap();
    let raw: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let der = &raw[..der_len(&raw)];
    let ci = ContentInfo::from_der(der).unwrap();
    let mut sd: SignedData = ci.content.decode_as().unwrap();
    let pem = std::fs::read(keys_dev().join("intermediate-ca.pem")).unwrap();
    let inter = x509_cert::Certificate::from_pem(&pem).unwrap();
    let mut infos = sd.signer_infos.0.into_vec();
    infos[0].sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: inter.tbs_certificate.issuer.clone(),
        serial_number: inter.tbs_certificate.serial_number.clone(),
    });
    sd.signer_infos = SignerInfos(SetOfVec::try_from(infos).unwrap());
    let forged = ContentInfo {
        content_type: ci.content_type,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap();
    let mut text: String = forged.iter().map(|b| format!("{b:02x}")).collect();
    assert!(text.len() <= end - start, "room in the gap");
    while text.len() < end - start {
        text.push('0');
    }
    let mut out = signed.to_vec();
    out[start..end].copy_from_slice(text.as_bytes());
    out
}

#[test]
fn a_signer_identifier_naming_another_certificate_is_not_the_signers() {
    let unsigned = std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap();
    for b in BASES {
        for (stem, expected) in [
            // An RSA signer, an RSA intermediate: the value does not verify with the named key.
            ("chairman-rsa", SubIndication::SigCryptoFailure),
            // An ECDSA signer named as the RSA intermediate: that key cannot have made it.
            ("chairman-ec", SubIndication::NoSigningCertificateFound),
        ] {
            let input = if b.stream() {
                unsigned_stream_form().to_vec()
            } else {
                unsigned.clone()
            };
            let signed = match b {
                Base::KysoTable | Base::KysoStream => sign_bytes(stem, &input),
                Base::PyHankoTable | Base::PyHankoStream => {
                    pyhanko_sign_as(&input, None, "PyHankoSig", stem)
                }
            };
            assert_eq!(check(&signed).indication, Verdict::Passed, "{b:?} {stem}");
            let report = check(&sid_naming_the_intermediate(&signed));
            let s = &report.signatures[0];
            assert_ne!(
                s.indication,
                Indication::TotalPassed,
                "{b:?} {stem}: {s:#?}"
            );
            assert_eq!(s.sub_indication, Some(expected), "{b:?} {stem}: {s:#?}");
        }
    }
}
