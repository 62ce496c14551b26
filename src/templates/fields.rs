//! Empty, named signature fields in a freshly rendered PDF.
//!
//! Each field is a merged field/widget dictionary (`/FT /Sig`, `/T name`, `/Rect`, `/P page`)
//! listed in the page's `/Annots` and in the catalog's `/AcroForm /Fields`. The fields carry no
//! appearance: the signer draws one inside the widget when it signs, so the page content itself
//! never changes after issue and an earlier signature stays valid when the seal is added.
//!
//! This runs on kyso's own output before any signature exists, so rewriting the whole file is
//! safe; everything after issue is appended incrementally by the signer.

use lopdf::{Dictionary, Document, Object, ObjectId, StringFormat};

use super::render::FieldPlacement;

/// Human-readable field descriptions (`/TU`), shown by viewers as tooltips.
fn description(role: &str) -> &'static str {
    match role {
        "seal" => "Chữ ký số của cơ quan (con dấu) / Agency digital seal",
        "clerk" => "Chữ ký số của người tiếp nhận hồ sơ / Signature of the desk clerk who received the request",
        _ => "Chữ ký số của người có thẩm quyền / Signature of the competent official",
    }
}

/// A PDF text string in UTF-16BE with its byte-order mark (needed for Vietnamese letters).
fn text_string(s: &str) -> Object {
    let mut bytes = vec![0xFE, 0xFF];
    for unit in s.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    Object::String(bytes, StringFormat::Hexadecimal)
}

/// Adds `fields` to `pdf` and returns the new file.
pub fn add_signature_fields(pdf: &[u8], fields: &[FieldPlacement]) -> Result<Vec<u8>, String> {
    let mut doc = Document::load_mem(pdf).map_err(|e| format!("reading rendered PDF: {e}"))?;
    let pages = doc.get_pages();
    let mut refs = Vec::with_capacity(fields.len());
    for f in fields {
        let page_no = u32::try_from(f.page).map_err(|_| "page number out of range".to_owned())?;
        let page_id = *pages.get(&page_no).ok_or_else(|| format!("field {} on missing page {}", f.name, f.page))?;
        let mut w = Dictionary::new();
        w.set("Type", Object::Name(b"Annot".to_vec()));
        w.set("Subtype", Object::Name(b"Widget".to_vec()));
        w.set("FT", Object::Name(b"Sig".to_vec()));
        w.set("T", Object::string_literal(f.name.as_bytes().to_vec()));
        w.set("TU", text_string(description(&f.role)));
        w.set("Rect", Object::Array(f.rect.iter().map(|v| Object::Real(*v as f32)).collect()));
        // Print flag: the signature appearance belongs on paper copies too.
        w.set("F", Object::Integer(4));
        w.set("P", Object::Reference(page_id));
        let id = doc.add_object(Object::Dictionary(w));
        push_annot(&mut doc, page_id, id)?;
        refs.push(Object::Reference(id));
    }
    let mut form = Dictionary::new();
    form.set("Fields", Object::Array(refs));
    // SignaturesExist: the document has signature fields (ISO 32000-1, 12.7.2, table 219).
    form.set("SigFlags", Object::Integer(1));
    let form_id = doc.add_object(Object::Dictionary(form));
    doc.catalog_mut()
        .map_err(|e| format!("catalog: {e}"))?
        .set("AcroForm", Object::Reference(form_id));
    let mut out = Vec::with_capacity(pdf.len() + 1024);
    doc.save_to(&mut out).map_err(|e| format!("writing PDF: {e}"))?;
    Ok(out)
}

/// Appends a reference to the page's `/Annots`, whether that array is inline, indirect or absent.
fn push_annot(doc: &mut Document, page_id: ObjectId, annot: ObjectId) -> Result<(), String> {
    let existing = doc
        .get_dictionary(page_id)
        .map_err(|e| format!("page: {e}"))?
        .get(b"Annots")
        .ok()
        .cloned();
    match existing {
        Some(Object::Reference(arr_id)) => match doc.get_object_mut(arr_id) {
            Ok(Object::Array(a)) => a.push(Object::Reference(annot)),
            _ => return Err("page /Annots reference is not an array".into()),
        },
        Some(Object::Array(mut a)) => {
            a.push(Object::Reference(annot));
            doc.get_dictionary_mut(page_id).map_err(|e| e.to_string())?.set("Annots", Object::Array(a));
        }
        Some(_) => return Err("page /Annots is not an array".into()),
        None => {
            doc.get_dictionary_mut(page_id)
                .map_err(|e| e.to_string())?
                .set("Annots", Object::Array(vec![Object::Reference(annot)]));
        }
    }
    Ok(())
}
