//! Empty, named signature fields in a freshly rendered PDF.
//!
//! Each field is a merged field/widget dictionary (`/FT /Sig`, `/T name`, `/Rect`, `/P page`)
//! listed in the page's `/Annots` and in the catalog's `/AcroForm /Fields`. The fields carry no
//! appearance: the signer draws one inside the widget when it signs, so the page content itself
//! never changes after issue and an earlier signature stays valid when the seal is added.
//!
//! The fields go in as an incremental update after typst's file, which stays byte for byte as
//! typst wrote it: nothing of the tagged structure or the metadata is re-serialised, and writing
//! the update costs a fraction of rewriting the whole file. The update replaces only the page
//! (its `/Annots`) and the catalog (its `/AcroForm`). Signatures are later appended the same way.

use lopdf::{Dictionary, Document, Object, ObjectId, StringFormat};

use super::render::FieldPlacement;
use crate::pdf::incremental::IncrementalUpdate;

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

/// Adds `fields` to `pdf`, the file typst has just written, and returns the new file.
pub fn add_signature_fields(pdf: &[u8], fields: &[FieldPlacement]) -> Result<Vec<u8>, String> {
    let doc = Document::load_mem(pdf).map_err(|e| format!("reading rendered PDF: {e}"))?;
    let mut update = IncrementalUpdate::new(pdf, &doc).map_err(|e| format!("rendered PDF: {e}"))?;
    let pages = doc.get_pages();
    // Pages gaining widgets, with their dictionaries as the update will write them.
    let mut changed: Vec<(ObjectId, Dictionary)> = Vec::new();
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
        let id = update.allocate();
        update.put(id, Object::Dictionary(w));
        let at = match changed.iter().position(|(p, _)| *p == page_id) {
            Some(at) => at,
            None => {
                let page = doc.get_dictionary(page_id).map_err(|e| format!("page: {e}"))?.clone();
                changed.push((page_id, page));
                changed.len() - 1
            }
        };
        push_annot(&mut changed[at].1, id)?;
        refs.push(Object::Reference(id));
    }
    for (page_id, page) in changed {
        update.put(page_id, Object::Dictionary(page));
    }
    let mut form = Dictionary::new();
    form.set("Fields", Object::Array(refs));
    // SignaturesExist: the document has signature fields (ISO 32000-1, 12.7.2, table 219).
    form.set("SigFlags", Object::Integer(1));
    let form_id = update.allocate();
    update.put(form_id, Object::Dictionary(form));
    let catalog_id = crate::pdf::catalog_id(&doc).map_err(|e| e.to_string())?;
    let mut catalog = doc.get_dictionary(catalog_id).map_err(|e| format!("catalog: {e}"))?.clone();
    catalog.set("AcroForm", Object::Reference(form_id));
    update.put(catalog_id, Object::Dictionary(catalog));
    Ok(update.write().map_err(|e| format!("writing the fields: {e}"))?.bytes)
}

/// Appends a reference to a page's `/Annots`. typst writes link annotations as an inline array;
/// an indirect one would have to be rewritten as its own object, which typst never produces.
fn push_annot(page: &mut Dictionary, annot: ObjectId) -> Result<(), String> {
    match page.get_mut(b"Annots") {
        Ok(Object::Array(a)) => a.push(Object::Reference(annot)),
        Ok(_) => return Err("page /Annots is not an inline array".into()),
        Err(_) => page.set("Annots", Object::Array(vec![Object::Reference(annot)])),
    }
    Ok(())
}
