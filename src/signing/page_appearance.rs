//! An appearance drawn elsewhere as a one-page PDF (kyso's own typst output) and imported into
//! the widget as a form XObject: the page's content becomes the form's content and everything its
//! resources reach (fonts, images) is copied into the incremental update under new numbers.
//!
//! Only PDFs kyso produced itself go through here, never a user's file, so the copy trusts the
//! structure but still bounds how many objects it follows.

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};

use super::SigningError;
use crate::pdf::PdfError;
use crate::pdf::incremental::IncrementalUpdate;

/// Most objects one imported appearance may bring (a subset font is a handful).
const MAX_IMPORTED_OBJECTS: usize = 512;

fn err(m: impl Into<String>) -> SigningError {
    SigningError::Pdf(PdfError::Structure(format!("appearance: {}", m.into())))
}

/// Copies `obj` into `update`, giving every object it references a new number.
fn copy(
    doc: &Document,
    obj: &Object,
    update: &mut IncrementalUpdate<'_>,
    map: &mut HashMap<ObjectId, ObjectId>,
    budget: &mut usize,
) -> Result<Object, SigningError> {
    Ok(match obj {
        Object::Reference(id) => {
            if let Some(new) = map.get(id) {
                return Ok(Object::Reference(*new));
            }
            if *budget == 0 {
                return Err(err("too many objects"));
            }
            *budget -= 1;
            let new = update.allocate();
            map.insert(*id, new);
            let target = doc
                .objects
                .get(id)
                .ok_or_else(|| err(format!("object {} missing", id.0)))?;
            let copied = copy(doc, target, update, map, budget)?;
            update.put(new, copied);
            Object::Reference(new)
        }
        Object::Array(a) => Object::Array(
            a.iter()
                .map(|o| copy(doc, o, update, map, budget))
                .collect::<Result<_, _>>()?,
        ),
        Object::Dictionary(d) => Object::Dictionary(copy_dict(doc, d, update, map, budget)?),
        Object::Stream(s) => {
            let mut st = Stream::new(
                copy_dict(doc, &s.dict, update, map, budget)?,
                s.content.clone(),
            );
            st.allows_compression = false;
            Object::Stream(st)
        }
        other => other.clone(),
    })
}

fn copy_dict(
    doc: &Document,
    d: &Dictionary,
    update: &mut IncrementalUpdate<'_>,
    map: &mut HashMap<ObjectId, ObjectId>,
    budget: &mut usize,
) -> Result<Dictionary, SigningError> {
    let mut out = Dictionary::new();
    for (k, v) in d.iter() {
        out.set(k.clone(), copy(doc, v, update, map, budget)?);
    }
    Ok(out)
}

/// Imports page 1 of `pdf` into `update` as a form XObject of size `width` × `height` (the page
/// is scaled to fit) and returns its id.
pub fn import_first_page(
    pdf: &[u8],
    update: &mut IncrementalUpdate<'_>,
    width: f32,
    height: f32,
) -> Result<ObjectId, SigningError> {
    let doc = Document::load_mem(pdf).map_err(|e| err(e.to_string()))?;
    let page_id = *doc.get_pages().get(&1).ok_or_else(|| err("no page"))?;
    let page = doc
        .get_dictionary(page_id)
        .map_err(|e| err(e.to_string()))?;
    let media: Vec<f32> = match page.get(b"MediaBox").and_then(|m| m.as_array()) {
        Ok(a) => a.iter().filter_map(|o| o.as_float().ok()).collect(),
        Err(_) => return Err(err("no MediaBox")),
    };
    if media.len() != 4 || media[2] <= media[0] || media[3] <= media[1] {
        return Err(err("bad MediaBox"));
    }
    let content = doc.get_page_content(page_id);
    let resources = match page.get(b"Resources") {
        Ok(r) => r.clone(),
        Err(_) => Object::Dictionary(Dictionary::new()),
    };
    let mut map = HashMap::new();
    let mut budget = MAX_IMPORTED_OBJECTS;
    let resources = copy(&doc, &resources, update, &mut map, &mut budget)?;
    let (pw, ph) = (media[2] - media[0], media[3] - media[1]);
    let (sx, sy) = (width / pw, height / ph);
    let mut body = format!(
        "q {sx:.5} 0 0 {sy:.5} {:.3} {:.3} cm\n",
        -media[0] * sx,
        -media[1] * sy
    )
    .into_bytes();
    body.extend_from_slice(&content);
    body.extend_from_slice(b"\nQ\n");
    let form = Stream::new(
        Dictionary::from_iter(vec![
            ("Type", Object::Name(b"XObject".to_vec())),
            ("Subtype", Object::Name(b"Form".to_vec())),
            (
                "BBox",
                Object::Array(vec![
                    0.into(),
                    0.into(),
                    Object::Real(width),
                    Object::Real(height),
                ]),
            ),
            ("Resources", resources),
        ]),
        body,
    );
    let id = update.allocate();
    update.put(id, Object::Stream(form));
    Ok(id)
}
