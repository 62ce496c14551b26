//! Empty, named signature fields in a freshly rendered PDF.
//!
//! Each field is a merged field/widget dictionary (`/FT /Sig`, `/T name`, `/Rect`, `/P page`)
//! listed in the page's `/Annots` and in the catalog's `/AcroForm /Fields`. The fields carry an
//! empty appearance (PDF/A-2 wants one): the signer draws the real one inside the widget when it
//! signs, so the page content itself never changes after issue and an earlier signature stays
//! valid when the seal is added.
//!
//! The fields go in as an incremental update after typst's file, which stays byte for byte as
//! typst wrote it: nothing of the tagged structure or the metadata is re-serialised, and writing
//! the update costs a fraction of rewriting the whole file. The update replaces only the page
//! (its `/Annots`) and the catalog (its `/AcroForm`). Signatures are later appended the same way.

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat};

use super::render::FieldPlacement;
use crate::pdf::incremental::IncrementalUpdate;

/// Human-readable field descriptions (`/TU`), shown by viewers as tooltips.
fn description(role: &str) -> &'static str {
    match role {
        "seal" => "Chữ ký số của cơ quan (con dấu) / Agency digital seal",
        "clerk" => {
            "Chữ ký số của người tiếp nhận hồ sơ / Signature of the desk clerk who received the request"
        }
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
        let page_id = *pages
            .get(&page_no)
            .ok_or_else(|| format!("field {} on missing page {}", f.name, f.page))?;
        let mut w = Dictionary::new();
        w.set("Type", Object::Name(b"Annot".to_vec()));
        w.set("Subtype", Object::Name(b"Widget".to_vec()));
        w.set("FT", Object::Name(b"Sig".to_vec()));
        w.set("T", Object::string_literal(f.name.as_bytes().to_vec()));
        w.set("TU", text_string(description(&f.role)));
        w.set(
            "Rect",
            Object::Array(f.rect.iter().map(|v| Object::Real(*v as f32)).collect()),
        );
        // Print flag: the signature appearance belongs on paper copies too.
        w.set("F", Object::Integer(4));
        w.set("P", Object::Reference(page_id));
        // An empty normal appearance until it is signed: PDF/A-2 (ISO 19005-2, 6.3.3) wants
        // one on every annotation with an area, and painting nothing keeps the page as issued.
        let width = (f.rect[2] - f.rect[0]).abs();
        let height = (f.rect[3] - f.rect[1]).abs();
        let empty = Stream::new(
            Dictionary::from_iter(vec![
                ("Type", Object::Name(b"XObject".to_vec())),
                ("Subtype", Object::Name(b"Form".to_vec())),
                (
                    "BBox",
                    Object::Array(vec![
                        Object::Integer(0),
                        Object::Integer(0),
                        Object::Real(width as f32),
                        Object::Real(height as f32),
                    ]),
                ),
                ("Resources", Object::Dictionary(Dictionary::new())),
            ]),
            Vec::new(),
        );
        let ap_id = update.allocate();
        update.put(ap_id, Object::Stream(empty));
        w.set(
            "AP",
            Object::Dictionary(Dictionary::from_iter(vec![("N", Object::Reference(ap_id))])),
        );
        let id = update.allocate();
        update.put(id, Object::Dictionary(w));
        let at = match changed.iter().position(|(p, _)| *p == page_id) {
            Some(at) => at,
            None => {
                let page = doc
                    .get_dictionary(page_id)
                    .map_err(|e| format!("page: {e}"))?
                    .clone();
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
    let mut catalog = doc
        .get_dictionary(catalog_id)
        .map_err(|e| format!("catalog: {e}"))?
        .clone();
    catalog.set("AcroForm", Object::Reference(form_id));
    update.put(catalog_id, Object::Dictionary(catalog));
    Ok(update
        .write()
        .map_err(|e| format!("writing the fields: {e}"))?
        .bytes)
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

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{Stream, dictionary};

    fn two_pages(xref_stream: bool) -> Vec<u8> {
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let content = doc.add_object(Stream::new(dictionary! {}, b"".to_vec()));
        let link = doc.add_object(dictionary! {"Type" => "Annot", "Subtype" => "Link", "Rect" => vec![0.into(),0.into(),1.into(),1.into()]});
        let p1 = doc.add_object(dictionary! {"Type" => "Page", "Parent" => pages_id, "Contents" => content, "MediaBox" => vec![0.into(),0.into(),595.into(),842.into()], "Annots" => vec![Object::Reference(link)]});
        let p2 = doc.add_object(dictionary! {"Type" => "Page", "Parent" => pages_id, "Contents" => content, "MediaBox" => vec![0.into(),0.into(),595.into(),842.into()]});
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! {"Type" => "Pages", "Kids" => vec![p1.into(), p2.into()], "Count" => 2},
            ),
        );
        let cat = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
        doc.trailer.set("Root", cat);
        let mut out = Vec::new();
        if xref_stream {
            doc.reference_table.cross_reference_type = lopdf::xref::XrefType::CrossReferenceStream;
        }
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn fields_on_two_pages_join_an_existing_annots_array_with_either_xref_kind() {
        for xs in [false, true] {
            let pdf = two_pages(xs);
            let fp = |name: &str, page| FieldPlacement {
                name: name.into(),
                role: "official".into(),
                page,
                rect: [1.0, 2.0, 3.0, 4.0],
            };
            let out = add_signature_fields(&pdf, &[fp("A", 1), fp("B", 2), fp("C", 1)]).unwrap();
            assert!(out.starts_with(&pdf));
            let doc = crate::pdf::load(&out, &crate::pdf::Limits::default()).unwrap();
            let pages = doc.get_pages();
            let annots = |n: u32| {
                doc.get_dictionary(pages[&n])
                    .unwrap()
                    .get(b"Annots")
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .len()
            };
            assert_eq!((annots(1), annots(2)), (3, 1));
            let form = doc
                .catalog()
                .unwrap()
                .get(b"AcroForm")
                .unwrap()
                .as_reference()
                .unwrap();
            assert_eq!(
                doc.get_dictionary(form)
                    .unwrap()
                    .get(b"Fields")
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .len(),
                3
            );
        }
    }
}
