//! PDF/A-2b (ISO 19005-2, level B) kept through kyso's signatures, DSS and timestamps.
//!
//! No PDF/A validator is installable here (no veraPDF package), so the profile's requirements
//! are checked structurally on every certification kind: as issued, after the official's
//! signature (B-LTA: DSS and document timestamp), and after the agency's seal (B-LTA again).
//! Each check names the clause of ISO 19005-2 it stands for.

use std::collections::BTreeSet;
use std::path::Path;

use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::common::{keys_dev, kyso, output_text, repo};
use crate::pki::{pki, pyhanko_ades};

fn k(data: &Path) -> std::process::Command {
    let mut c = kyso();
    c.env("KYSO_DATA_DIR", data)
        .env("KYSO_TSA_URLS", pki().tsa())
        .env("KYSO_TRUST", pki().cert("root"))
        .env("KYSO_LTV", "b-lta");
    c
}

fn ok(c: &mut std::process::Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}: {}", output_text(&o));
    output_text(&o)
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> &'a Object {
    match o {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(o),
        _ => o,
    }
}

fn dict<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    match deref(doc, o) {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

fn name(o: Option<&Object>) -> Option<&[u8]> {
    match o {
        Some(Object::Name(n)) => Some(n),
        _ => None,
    }
}

/// Every requirement of PDF/A-2b checked on `bytes`; `what` names the stage in messages.
fn assert_pdfa_2b(bytes: &[u8], issued_info: Option<&Dictionary>, what: &str) {
    // 6.1.2: the header, then a comment of at least four bytes above 127.
    assert!(bytes.starts_with(b"%PDF-1."), "{what}: header");
    let second = bytes.split(|b| *b == b'\n').nth(1).unwrap_or_default();
    assert!(
        second.first() == Some(&b'%') && second.iter().filter(|b| **b > 127).count() >= 4,
        "{what}: binary comment after the header"
    );
    // 6.1.3: nothing after the last %%EOF but one end-of-line.
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    assert!(
        tail.ends_with(b"%%EOF\n") || tail.ends_with(b"%%EOF\r\n") || tail.ends_with(b"%%EOF"),
        "{what}: data after %%EOF"
    );
    let doc = Document::load_mem(bytes).unwrap();
    // 6.1.3: an /ID in the trailer, no /Encrypt.
    assert!(doc.trailer.get(b"ID").is_ok(), "{what}: trailer /ID");
    assert!(doc.trailer.get(b"Encrypt").is_err(), "{what}: encrypted");
    let catalog = doc.catalog().unwrap();
    // 6.6.2.1, 6.6.4: XMP metadata identifying PDF/A-2, conformance B.
    let meta = match deref(&doc, catalog.get(b"Metadata").unwrap()) {
        Object::Stream(s) => String::from_utf8_lossy(
            &s.decompressed_content()
                .unwrap_or_else(|_| s.content.clone()),
        )
        .into_owned(),
        _ => panic!("{what}: /Metadata is not a stream"),
    };
    assert!(
        meta.contains("<pdfaid:part>2</pdfaid:part>")
            && meta.contains("<pdfaid:conformance>B</pdfaid:conformance>"),
        "{what}: XMP identification"
    );
    // 6.2.3: an output intent GTS_PDFA1 with an ICC profile (RGB, the colour space used).
    let intents = match deref(&doc, catalog.get(b"OutputIntents").unwrap()) {
        Object::Array(a) => a.clone(),
        _ => panic!("{what}: /OutputIntents"),
    };
    let intent = intents
        .iter()
        .filter_map(|i| dict(&doc, i))
        .find(|d| name(d.get(b"S").ok()) == Some(b"GTS_PDFA1"))
        .unwrap_or_else(|| panic!("{what}: no GTS_PDFA1 output intent"));
    let Object::Stream(icc) = deref(&doc, intent.get(b"DestOutputProfile").unwrap()) else {
        panic!("{what}: no ICC profile")
    };
    let profile = icc
        .decompressed_content()
        .unwrap_or_else(|_| icc.content.clone());
    assert_eq!(&profile[36..40], b"acsp", "{what}: not an ICC profile");
    assert_eq!(&profile[16..20], b"RGB ", "{what}: not an RGB profile");
    // Tags and language kept (PDF/A-2b does not require them, but they were there).
    assert!(catalog.get(b"Lang").is_ok(), "{what}: /Lang lost");
    assert!(catalog.get(b"StructTreeRoot").is_ok(), "{what}: tags lost");
    // 6.1.13 / 6.6.2: the document information dictionary as issued (it matches the XMP).
    if let Some(info) = issued_info {
        let now = doc
            .trailer
            .get(b"Info")
            .ok()
            .and_then(|i| dict(&doc, i))
            .unwrap();
        assert_eq!(now, info, "{what}: /Info changed after issue");
    }
    // 6.6.1: no actions but the allowed ones, no JavaScript; 6.4.1: no NeedAppearances, no
    // XFA; 6.8: no embedded files.
    assert!(catalog.get(b"AA").is_err(), "{what}: catalog /AA");
    if let Some(form) = catalog.get(b"AcroForm").ok().and_then(|f| dict(&doc, f)) {
        assert_ne!(
            form.get(b"NeedAppearances").ok(),
            Some(&Object::Boolean(true)),
            "{what}: NeedAppearances"
        );
        assert!(form.get(b"XFA").is_err(), "{what}: XFA");
    }
    let forbidden_actions: BTreeSet<&[u8]> = [
        &b"Launch"[..],
        b"Sound",
        b"Movie",
        b"ResetForm",
        b"ImportData",
        b"JavaScript",
        b"Hide",
        b"SetOCGState",
        b"Rendition",
        b"Trans",
        b"GoTo3DView",
    ]
    .into_iter()
    .collect();
    let mut fonts = 0;
    for (id, obj) in &doc.objects {
        let Some(d) = dict(&doc, obj) else { continue };
        for key in [&b"JS"[..], b"JavaScript", b"EmbeddedFiles", b"AA"] {
            assert!(
                d.get(key).is_err(),
                "{what}: {id:?} has /{}",
                String::from_utf8_lossy(key)
            );
        }
        if let Some(s) = name(d.get(b"S").ok())
            && d.get(b"Type")
                .ok()
                .is_none_or(|t| name(Some(t)) == Some(b"Action"))
        {
            assert!(
                !forbidden_actions.contains(s),
                "{what}: {id:?} is a {} action",
                String::from_utf8_lossy(s)
            );
        }
        // 6.1.7: no external streams, no LZW, no Crypt filters.
        if let Object::Stream(s) = obj {
            for key in [&b"F"[..], b"FFilter", b"FDecodeParms"] {
                assert!(s.dict.get(key).is_err(), "{what}: {id:?} external stream");
            }
            let filters: Vec<Vec<u8>> = match s.dict.get(b"Filter").ok() {
                Some(Object::Name(n)) => vec![n.clone()],
                Some(Object::Array(a)) => a
                    .iter()
                    .filter_map(|f| name(Some(f)).map(<[u8]>::to_vec))
                    .collect(),
                _ => Vec::new(),
            };
            for f in filters {
                assert!(
                    f != b"LZWDecode" && f != b"Crypt",
                    "{what}: {id:?} filter {}",
                    String::from_utf8_lossy(&f)
                );
            }
        }
        match name(d.get(b"Type").ok()).or_else(|| name(d.get(b"Subtype").ok())) {
            Some(b"Font") => {
                fonts += 1;
                check_font(&doc, *id, d, what);
            }
            Some(b"Annot") => check_annotation(&doc, *id, d, what),
            Some(b"XObject") | Some(b"Image") | Some(b"Form") => {
                // 6.2.8, 6.2.9: no alternates, OPI, PostScript or reference XObjects, no
                // interpolation.
                for key in [&b"Alternates"[..], b"OPI", b"Ref", b"Subtype2"] {
                    assert!(d.get(key).is_err(), "{what}: {id:?} XObject with /{key:?}");
                }
                assert_ne!(name(d.get(b"Subtype").ok()), Some(&b"PS"[..]), "{what}: PS");
                assert_ne!(
                    d.get(b"Interpolate").ok(),
                    Some(&Object::Boolean(true)),
                    "{what}: {id:?} interpolated image"
                );
            }
            Some(b"ExtGState") => {
                // 6.2.5: no transfer functions or halftones of another kind.
                assert!(d.get(b"TR").is_err(), "{what}: {id:?} /TR");
                if let Ok(tr2) = d.get(b"TR2") {
                    assert_eq!(name(Some(tr2)), Some(&b"Default"[..]), "{what}: /TR2");
                }
            }
            Some(b"Sig") | Some(b"DocTimeStamp") => check_signature(bytes, &doc, d, what),
            _ => {}
        }
    }
    assert!(fonts > 0, "{what}: no fonts found");
}

/// 6.2.11.4: every font but Type 3 embeds its program.
fn check_font(doc: &Document, id: ObjectId, font: &Dictionary, what: &str) {
    let sub = name(font.get(b"Subtype").ok()).unwrap_or_default();
    if sub == b"Type3" {
        return;
    }
    let descriptor_owner = if sub == b"Type0" {
        let Some(Object::Array(desc)) = font.get(b"DescendantFonts").ok().map(|d| deref(doc, d))
        else {
            panic!("{what}: {id:?} Type0 font without descendants")
        };
        dict(doc, &desc[0]).unwrap()
    } else {
        font
    };
    let fd = descriptor_owner
        .get(b"FontDescriptor")
        .ok()
        .and_then(|d| dict(doc, d))
        .unwrap_or_else(|| panic!("{what}: {id:?} font without descriptor (not embedded)"));
    assert!(
        [&b"FontFile"[..], b"FontFile2", b"FontFile3"]
            .iter()
            .any(|k| fd.get(k).is_ok()),
        "{what}: {id:?} font not embedded"
    );
}

/// 6.3.2, 6.3.3: every annotation prints and is not hidden; one with an area has a normal
/// appearance and nothing else.
fn check_annotation(doc: &Document, id: ObjectId, a: &Dictionary, what: &str) {
    if name(a.get(b"Subtype").ok()) == Some(b"Popup") {
        return;
    }
    let Ok(Object::Integer(f)) = a.get(b"F").map(|f| deref(doc, f)) else {
        panic!("{what}: {id:?} annotation without /F")
    };
    assert!(f & 4 != 0, "{what}: {id:?} annotation does not print");
    assert!(
        f & (1 | 2 | 32 | 256) == 0,
        "{what}: {id:?} hidden annotation"
    );
    let area = match a.get(b"Rect").ok().map(|r| deref(doc, r)) {
        Some(Object::Array(r)) if r.len() == 4 => {
            let n: Vec<f32> = r
                .iter()
                .map(|v| match v {
                    Object::Integer(i) => *i as f32,
                    Object::Real(x) => *x,
                    _ => 0.0,
                })
                .collect();
            (n[2] - n[0]).abs() > 0.0 && (n[3] - n[1]).abs() > 0.0
        }
        _ => false,
    };
    if let Some(ap) = a.get(b"AP").ok().and_then(|ap| dict(doc, ap)) {
        assert_eq!(
            ap.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            vec![b"N".to_vec()],
            "{what}: {id:?} appearance with more than /N"
        );
        if name(a.get(b"FT").ok()) == Some(b"Sig") {
            assert!(
                matches!(deref(doc, ap.get(b"N").unwrap()), Object::Stream(_)),
                "{what}: {id:?} signature appearance is not a stream"
            );
        }
    } else {
        assert!(
            !area,
            "{what}: {id:?} visible annotation without an appearance"
        );
    }
}

/// 6.4.3 (PAdES): a signature's /ByteRange covers the whole file but its /Contents.
fn check_signature(bytes: &[u8], doc: &Document, sig: &Dictionary, what: &str) {
    let Ok(Object::Array(r)) = sig.get(b"ByteRange").map(|r| deref(doc, r)) else {
        return;
    };
    let n: Vec<i64> = r.iter().filter_map(|v| v.as_i64().ok()).collect();
    assert_eq!(n.len(), 4, "{what}: ByteRange");
    assert_eq!(n[0], 0, "{what}: ByteRange starts at 0");
    assert_eq!(bytes[n[1] as usize], b'<', "{what}: the gap is /Contents");
    assert_eq!(
        bytes[n[2] as usize - 1],
        b'>',
        "{what}: the gap is /Contents"
    );
    assert!(
        n[2] + n[3] <= bytes.len() as i64,
        "{what}: ByteRange past the end"
    );
}

#[test]
fn every_kind_stays_pdf_a_2b_through_official_seal_and_long_term_material() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kinds: Vec<String> = std::fs::read_dir(repo().join("templates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("sample.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(kinds.len() >= 8, "{kinds:?}");
    // The chairman and the agency seal, with certificates of the live PKI (whose OCSP and CRLs
    // make B-LTA possible).
    for (id, cn, label, extra) in [
        (
            "chu-tich",
            "Nguyen Van Ky",
            "signer",
            &[
                "--position",
                "head",
                "--title",
                "Chủ tịch",
                "--citizen-id",
                "001080000001",
            ][..],
        ),
        (
            "con-dau",
            "Tran Thi Han",
            "signer-expiring",
            &["--seal", "--title", "Cơ quan"][..],
        ),
    ] {
        ok(k(&data)
            .args([
                "officials",
                "add",
                "--id",
                id,
                "--name",
                cn,
                "--agency",
                "UBND xã Tân Lạc",
            ])
            .args(extra));
        ok(k(&data)
            .args(["officials", "add-cert", id, "--cert"])
            .arg(pki().cert(label))
            .args(["--key-location", "external"]));
    }
    let mut allow = k(&data);
    allow.args(["officials", "allow", "--title", "Chủ tịch"]);
    for kind in &kinds {
        allow.args(["--kind", kind]);
    }
    ok(&mut allow);
    for kind in &kinds {
        let issued = dir.path().join(format!("{kind}.pdf"));
        ok(k(&data)
            .args(["issue", "--kind", kind, "--data"])
            .arg(repo().join(format!("templates/{kind}/sample.json")))
            .arg("-o")
            .arg(&issued));
        let bytes = std::fs::read(&issued).unwrap();
        assert_pdfa_2b(&bytes, None, &format!("{kind} as issued"));
        let issued_doc = Document::load_mem(&bytes).unwrap();
        let info = issued_doc
            .trailer
            .get(b"Info")
            .ok()
            .and_then(|i| dict(&issued_doc, i))
            .cloned()
            .unwrap();
        let mut input = issued;
        for (stage, official, field, label, image) in [
            (
                "official",
                "chu-tich",
                "ChuKyLanhDao",
                "signer",
                "signature-chairman.png",
            ),
            (
                "seal",
                "con-dau",
                "DauCoQuan",
                "signer-expiring",
                "seal.png",
            ),
        ] {
            let out = dir.path().join(format!("{kind}-{stage}.pdf"));
            let said = ok(k(&data)
                .args(["sign", "--official", official, "--field", field, "--key"])
                .arg(pki().key(label))
                .arg("--cert")
                .arg(pki().cert(label))
                .arg("--chain")
                .arg(pki().cert("interm"))
                .arg("--image")
                .arg(keys_dev().join("images").join(image))
                .arg(&input)
                .arg("-o")
                .arg(&out));
            assert!(said.contains("B-LTA"), "{kind} {stage}: {said}");
            let signed = std::fs::read(&out).unwrap();
            assert_pdfa_2b(
                &signed,
                Some(&info),
                &format!("{kind} after the {stage} + B-LTA"),
            );
            input = out;
        }
        if kind == "contract" {
            // The signatures themselves stay valid with their long-term material.
            let (valid, report) = pyhanko_ades(&input);
            assert!(valid, "{kind}: {report}");
        }
    }
}
