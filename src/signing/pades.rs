//! The PDF side of a PAdES signature: the signature field and widget, the signature dictionary
//! with its `/ByteRange` and `/Contents` placeholder, and embedding the CMS afterwards.
//!
//! Only objects that must change are rewritten, in one incremental update: the signature
//! dictionary (new), the field (new, or the existing empty field gaining `/V`), its widget's
//! appearance, the page's `/Annots` and the AcroForm's `/Fields` and `/SigFlags` when a field is
//! added. Page content is never touched, so earlier signatures stay valid and validators (pyHanko's
//! difference analysis, kyso's own) classify the update as an allowed signature addition.

use std::collections::HashSet;

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use time::{OffsetDateTime, UtcOffset};

use super::{SignOptions, SignatureAlgorithm, SigningError, cms};
use crate::pdf::incremental::{IncrementalUpdate, Written};
use crate::pdf::{self, Limits, PdfError};
use crate::pki::Certificate;

/// Width reserved for the three patched `/ByteRange` numbers (right-padded with spaces).
const BYTE_RANGE_WIDTH: usize = 40;
/// Deepest field hierarchy walked when looking up names.
const MAX_FIELD_DEPTH: usize = 32;
/// Most fields walked, so a hostile form cannot make the walk unbounded.
const MAX_FIELDS: usize = 10_000;

/// What an appearance builder is told about the signature it draws.
pub struct AppearanceContext<'a> {
    /// The signer's certificate (name, title).
    pub signer: &'a Certificate,
    /// Claimed signing time.
    pub signing_time: OffsetDateTime,
    /// The field's fully qualified name.
    pub field: &'a str,
    /// Widget width in points.
    pub width: f32,
    /// Widget height in points.
    pub height: f32,
}

/// Draws a visible signature: writes a form XObject (and whatever it uses) into the update and
/// returns its id, which becomes the widget's normal appearance (`/AP /N`).
pub trait AppearanceBuilder {
    /// Writes the appearance; see the trait documentation.
    fn build(
        &self,
        update: &mut IncrementalUpdate<'_>,
        ctx: &AppearanceContext<'_>,
    ) -> Result<ObjectId, SigningError>;
}

/// A PDF with a signature placeholder, waiting for its CMS.
#[derive(Clone)]
pub struct PreparedPdf {
    bytes: Vec<u8>,
    /// Offset of the `<` opening the `/Contents` hex string.
    contents_start: usize,
    /// Offset just after the closing `>`.
    contents_end: usize,
    field: String,
}

impl std::fmt::Debug for PreparedPdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedPdf")
            .field("len", &self.bytes.len())
            .field("byte_range", &self.byte_range())
            .field("field", &self.field)
            .finish()
    }
}

impl PreparedPdf {
    /// Rebuilds a prepared PDF from stored parts (deferred signing keeps them in the registry),
    /// checking that the range really is an all-zero `/Contents` placeholder.
    pub fn from_parts(
        bytes: Vec<u8>,
        contents_start: usize,
        contents_end: usize,
        field: String,
    ) -> Result<PreparedPdf, SigningError> {
        let ok = contents_start + 2 <= contents_end
            && contents_end <= bytes.len()
            && bytes[contents_start] == b'<'
            && bytes[contents_end - 1] == b'>'
            && bytes[contents_start + 1..contents_end - 1]
                .iter()
                .all(|b| *b == b'0');
        if !ok {
            return Err(SigningError::Pdf(PdfError::Structure(
                "not a prepared signature placeholder".into(),
            )));
        }
        Ok(PreparedPdf {
            bytes,
            contents_start,
            contents_end,
            field,
        })
    }

    /// The whole prepared file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `(start of "<", end after ">")` of the placeholder.
    pub fn contents_range(&self) -> (usize, usize) {
        (self.contents_start, self.contents_end)
    }

    /// The field the signature goes into.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The `/ByteRange` written into the signature dictionary.
    pub fn byte_range(&self) -> [usize; 4] {
        [
            0,
            self.contents_start,
            self.contents_end,
            self.bytes.len() - self.contents_end,
        ]
    }

    /// How many bytes of DER the placeholder holds.
    pub fn capacity(&self) -> usize {
        (self.contents_end - self.contents_start - 2) / 2
    }

    /// SHA-256 over the covered bytes (everything but the placeholder).
    pub fn document_digest(&self) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.bytes[..self.contents_start]);
        ctx.update(&self.bytes[self.contents_end..]);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// Writes `cms` (DER) into the placeholder and returns the finished PDF.
    pub fn embed(mut self, cms: &[u8]) -> Result<Vec<u8>, SigningError> {
        if cms.len() > self.capacity() {
            return Err(SigningError::ContentsOverflow {
                needed: cms.len(),
                capacity: self.capacity(),
            });
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut at = self.contents_start + 1;
        for b in cms {
            self.bytes[at] = HEX[(b >> 4) as usize];
            self.bytes[at + 1] = HEX[(b & 15) as usize];
            at += 2;
        }
        Ok(self.bytes)
    }
}

/// A terminal field found by name.
struct FoundField {
    id: ObjectId,
    dict: Dictionary,
}

/// What [`walk_fields`] calls for each terminal field: full name, id, dictionary, inherited `/FT`.
type FieldVisitor<'a> = dyn FnMut(&str, ObjectId, &Dictionary, Option<&[u8]>) + 'a;

/// Walks the AcroForm's field tree, calling `visit(full_name, id, dict, inherited FT)`.
fn walk_fields(
    doc: &Document,
    fields: &Object,
    limits: &Limits,
    visit: &mut FieldVisitor<'_>,
) -> Result<(), SigningError> {
    let mut seen = HashSet::new();
    let array = match pdf::resolve(doc, fields, limits)? {
        Object::Array(a) => a.clone(),
        _ => return Err(PdfError::Structure("/AcroForm /Fields is not an array".into()).into()),
    };
    let mut stack: Vec<(Object, String, Option<Vec<u8>>, usize)> = array
        .into_iter()
        .rev()
        .map(|o| (o, String::new(), None, 0))
        .collect();
    while let Some((obj, parent, inherited_ft, depth)) = stack.pop() {
        let Object::Reference(id) = obj else { continue };
        if depth > MAX_FIELD_DEPTH || seen.len() > MAX_FIELDS || !seen.insert(id) {
            return Err(PdfError::Structure(
                "the form's field tree is too deep, too large or cyclic".into(),
            )
            .into());
        }
        let reference = Object::Reference(id);
        let Ok(dict) = pdf::resolve_dict(doc, &reference, limits, "a form field") else {
            continue;
        };
        let partial = match dict.get(b"T") {
            Ok(Object::String(bytes, _)) => Some(
                lopdf::decode_text_string(&Object::String(
                    bytes.clone(),
                    lopdf::StringFormat::Literal,
                ))
                .unwrap_or_default(),
            ),
            _ => None,
        };
        let name = match (&partial, parent.is_empty()) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{parent}.{p}"),
            (None, _) => parent.clone(),
        };
        let ft = match dict.get(b"FT") {
            Ok(Object::Name(n)) => Some(n.clone()),
            _ => inherited_ft.clone(),
        };
        let kids = match dict.get(b"Kids") {
            Ok(k) => match pdf::resolve(doc, k, limits)? {
                Object::Array(a) => a.clone(),
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        };
        // Kids with /T are fields; kids without are widgets of this field.
        let field_kids: Vec<Object> = kids
            .into_iter()
            .filter(|k| {
                pdf::resolve_dict(doc, k, limits, "a kid")
                    .map(|d| d.has(b"T"))
                    .unwrap_or(false)
            })
            .collect();
        if field_kids.is_empty() {
            if partial.is_some() {
                visit(&name, id, dict, ft.as_deref());
            }
        } else {
            for k in field_kids.into_iter().rev() {
                stack.push((k, name.clone(), ft.clone(), depth + 1));
            }
        }
    }
    Ok(())
}

/// Appends `new` to the array `container[key]`: an indirect array is rewritten in `update` as its
/// own object; a direct or missing one is changed in `container`, and `true` says the container
/// must be rewritten.
pub(crate) fn append_reference(
    doc: &Document,
    update: &mut IncrementalUpdate<'_>,
    container: &mut Dictionary,
    key: &[u8],
    new: ObjectId,
    limits: &Limits,
) -> Result<bool, SigningError> {
    let not_array =
        || PdfError::Structure(format!("/{} is not an array", String::from_utf8_lossy(key)));
    match container.get(key) {
        Ok(Object::Reference(id)) => {
            let id = *id;
            let mut arr = match pdf::resolve(doc, &Object::Reference(id), limits)? {
                Object::Array(a) => a.clone(),
                _ => return Err(not_array().into()),
            };
            arr.push(Object::Reference(new));
            update.put(id, Object::Array(arr));
            Ok(false)
        }
        Ok(Object::Array(a)) => {
            let mut a = a.clone();
            a.push(Object::Reference(new));
            container.set(key.to_vec(), Object::Array(a));
            Ok(true)
        }
        Ok(Object::Null) | Err(_) => {
            container.set(key.to_vec(), Object::Array(vec![Object::Reference(new)]));
            Ok(true)
        }
        Ok(_) => Err(not_array().into()),
    }
}

/// `D:YYYYMMDDHHmmSS+07'00'`: the PDF date of `t` in Vietnam time.
pub fn pdf_date_vietnam(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::from_hms(7, 0, 0).expect("valid offset"));
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}+07'00'",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn rect_size(dict: &Dictionary, doc: &Document, limits: &Limits) -> (f32, f32) {
    let Ok(rect) = dict.get(b"Rect") else {
        return (0.0, 0.0);
    };
    let Ok(Object::Array(r)) = pdf::resolve(doc, rect, limits) else {
        return (0.0, 0.0);
    };
    let n: Vec<f32> = r.iter().filter_map(|o| o.as_float().ok()).collect();
    if n.len() != 4 {
        return (0.0, 0.0);
    }
    ((n[2] - n[0]).abs(), (n[3] - n[1]).abs())
}

/// Appends the signature field (or fills the named empty one) and a placeholder signature
/// dictionary to `input`, sized for `signer`'s chain and a signature of `max_signature_len`.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    input: &[u8],
    signer: &Certificate,
    chain: &[Certificate],
    algorithm: SignatureAlgorithm,
    max_signature_len: usize,
    opts: &SignOptions,
    appearance: Option<&dyn AppearanceBuilder>,
) -> Result<PreparedPdf, SigningError> {
    let doc = pdf::load(input, &opts.limits)?;
    Ok(prepare_loaded(
        input,
        &doc,
        signer,
        chain,
        algorithm,
        max_signature_len,
        opts,
        appearance,
    )?
    .0)
}

/// What a prepared signature adds to the parsed document: everything the update wrote, the
/// signature dictionary last, as its `/Contents` is known only once the CMS is embedded.
pub(crate) struct ParsedUpdate {
    written: Written,
    sig_id: ObjectId,
    sig_dict: Dictionary,
}

impl ParsedUpdate {
    /// Brings `doc` (the parse [`prepare_loaded`] was given) to the signed file, `cms` being what
    /// [`PreparedPdf::embed`] wrote into the placeholder of `capacity` bytes.
    pub(crate) fn apply(mut self, doc: &mut Document, cms: &[u8], capacity: usize) {
        let mut contents = cms.to_vec();
        contents.resize(capacity.max(cms.len()), 0);
        self.sig_dict.set(
            "Contents",
            Object::String(contents, lopdf::StringFormat::Hexadecimal),
        );
        self.written
            .apply_to(doc, [(self.sig_id, Object::Dictionary(self.sig_dict))]);
    }
}

/// [`prepare`] over `input` already parsed as `doc` (by [`pdf::load`], or kept up to date with
/// [`ParsedUpdate::apply`]); also returns what the update adds to the parse.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare_loaded(
    input: &[u8],
    doc: &Document,
    signer: &Certificate,
    chain: &[Certificate],
    algorithm: SignatureAlgorithm,
    max_signature_len: usize,
    opts: &SignOptions,
    appearance: Option<&dyn AppearanceBuilder>,
) -> Result<(PreparedPdf, ParsedUpdate), SigningError> {
    let limits = &opts.limits;
    let mut update = IncrementalUpdate::new(input, doc)?;
    let catalog_id = pdf::catalog_id(doc)?;
    let mut catalog =
        pdf::resolve_dict(doc, &Object::Reference(catalog_id), limits, "the catalog")?.clone();

    // Where the AcroForm lives decides which object we rewrite.
    enum AcroLoc {
        Indirect(ObjectId),
        InCatalog,
        Absent,
    }
    let (acro_loc, mut acroform) = match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => (
            AcroLoc::Indirect(*id),
            pdf::resolve_dict(doc, &Object::Reference(*id), limits, "the AcroForm")?.clone(),
        ),
        Ok(Object::Dictionary(d)) => (AcroLoc::InCatalog, d.clone()),
        _ => (AcroLoc::Absent, Dictionary::new()),
    };

    let mut names = Vec::new();
    let mut found: Option<(FoundField, bool)> = None;
    if let Ok(fields) = acroform.get(b"Fields") {
        let wanted = opts.field.clone();
        walk_fields(doc, fields, limits, &mut |name, id, dict, ft| {
            names.push(name.to_owned());
            if wanted.as_deref() == Some(name) && found.is_none() {
                found = Some((
                    FoundField {
                        id,
                        dict: dict.clone(),
                    },
                    ft == Some(b"Sig".as_slice()),
                ));
            }
        })?;
    }

    let sig_id = update.allocate();
    let field_name;
    let mut acro_changed = false;
    match found {
        Some((field, is_sig)) => {
            field_name = opts.field.clone().unwrap_or_default();
            if !is_sig {
                return Err(SigningError::NotSignatureField(field_name));
            }
            if field
                .dict
                .get(b"V")
                .map(|v| !matches!(v, Object::Null))
                .unwrap_or(false)
            {
                return Err(SigningError::FieldAlreadySigned(field_name));
            }
            let mut field_dict = field.dict;
            field_dict.set("V", Object::Reference(sig_id));
            // The widget is the field itself (merged) or its first kid.
            let widget = if field_dict
                .get(b"Subtype")
                .map(|s| s == &Object::Name(b"Widget".to_vec()))
                .unwrap_or(false)
            {
                None
            } else {
                match field_dict.get(b"Kids") {
                    Ok(k) => match pdf::resolve(doc, k, limits)? {
                        Object::Array(a) => match a.first() {
                            Some(Object::Reference(wid)) => Some((
                                *wid,
                                pdf::resolve_dict(
                                    doc,
                                    &Object::Reference(*wid),
                                    limits,
                                    "the widget",
                                )?
                                .clone(),
                            )),
                            _ => None,
                        },
                        _ => None,
                    },
                    Err(_) => None,
                }
            };
            let (w, h) = match &widget {
                Some((_, wd)) => rect_size(wd, doc, limits),
                None => rect_size(&field_dict, doc, limits),
            };
            let ap = match appearance {
                Some(builder) if w > 0.0 && h > 0.0 => {
                    let ctx = AppearanceContext {
                        signer,
                        signing_time: opts.signing_time,
                        field: &field_name,
                        width: w,
                        height: h,
                    };
                    Some(builder.build(&mut update, &ctx)?)
                }
                _ => None,
            };
            let ap_dict = |id: ObjectId| {
                Object::Dictionary(Dictionary::from_iter(vec![("N", Object::Reference(id))]))
            };
            match widget {
                Some((wid, mut wd)) => {
                    if let Some(ap) = ap {
                        wd.set("AP", ap_dict(ap));
                        update.put(wid, Object::Dictionary(wd));
                    }
                }
                None => {
                    if let Some(ap) = ap {
                        field_dict.set("AP", ap_dict(ap));
                    }
                }
            }
            update.put(field.id, Object::Dictionary(field_dict));
        }
        None => {
            field_name = match &opts.field {
                Some(n) => n.clone(),
                None => (1..)
                    .map(|i| format!("Signature{i}"))
                    .find(|n| !names.contains(n))
                    .expect("unbounded"),
            };
            let pages = doc.get_pages();
            let page_id = *pages
                .get(&1)
                .ok_or_else(|| PdfError::Structure("the document has no pages".into()))?;
            let mut page =
                pdf::resolve_dict(doc, &Object::Reference(page_id), limits, "the first page")?
                    .clone();
            let field_id = update.allocate();
            let blank_id = update.allocate();
            let blank = Stream::new(
                Dictionary::from_iter(vec![
                    ("Type", Object::Name(b"XObject".to_vec())),
                    ("Subtype", Object::Name(b"Form".to_vec())),
                    (
                        "BBox",
                        Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
                    ),
                    ("Resources", Object::Dictionary(Dictionary::new())),
                ]),
                Vec::new(),
            );
            update.put(blank_id, Object::Stream(blank));
            let field = Dictionary::from_iter(vec![
                ("Type", Object::Name(b"Annot".to_vec())),
                ("Subtype", Object::Name(b"Widget".to_vec())),
                ("FT", Object::Name(b"Sig".to_vec())),
                ("T", lopdf::text_string(&field_name)),
                ("V", Object::Reference(sig_id)),
                ("F", Object::Integer(132)),
                (
                    "Rect",
                    Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
                ),
                ("P", Object::Reference(page_id)),
                (
                    "AP",
                    Object::Dictionary(Dictionary::from_iter(vec![(
                        "N",
                        Object::Reference(blank_id),
                    )])),
                ),
            ]);
            update.put(field_id, Object::Dictionary(field));
            // An indirect /Annots or /Fields array is rewritten on its own, so the page (or the
            // AcroForm) object itself stays as it was.
            if append_reference(doc, &mut update, &mut page, b"Annots", field_id, limits)? {
                update.put(page_id, Object::Dictionary(page));
            }
            acro_changed |=
                append_reference(doc, &mut update, &mut acroform, b"Fields", field_id, limits)?;
        }
    }
    if acroform.get(b"SigFlags").ok() != Some(&Object::Integer(3)) {
        acroform.set("SigFlags", Object::Integer(3));
        acro_changed = true;
    }
    if acro_changed {
        match acro_loc {
            AcroLoc::Indirect(id) => update.put(id, Object::Dictionary(acroform)),
            AcroLoc::InCatalog => {
                catalog.set("AcroForm", Object::Dictionary(acroform));
                update.put(catalog_id, Object::Dictionary(catalog));
            }
            AcroLoc::Absent => {
                let acro_id = update.allocate();
                update.put(acro_id, Object::Dictionary(acroform));
                catalog.set("AcroForm", Object::Reference(acro_id));
                update.put(catalog_id, Object::Dictionary(catalog));
            }
        }
    }

    // The signature dictionary, serialised here so the placeholders' positions are known. Its
    // entries but /ByteRange and /Contents are written from the dictionary the parse gets.
    let capacity = contents_capacity(
        signer,
        &super::cms_chain(chain, opts),
        algorithm,
        max_signature_len,
        &opts.extra_signed_attributes,
    )?;
    let mut sig_dict = Dictionary::new();
    sig_dict.set("Type", Object::Name(b"Sig".to_vec()));
    sig_dict.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig_dict.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    sig_dict.set(
        "M",
        Object::string_literal(pdf_date_vietnam(opts.signing_time)),
    );
    for (key, value) in [("Reason", &opts.reason), ("Location", &opts.location)] {
        if let Some(v) = value {
            sig_dict.set(key, lopdf::text_string(v));
        }
    }
    if let Some(name) = signer.common_name() {
        sig_dict.set("Name", lopdf::text_string(&name));
    }
    let app = Dictionary::from_iter(vec![
        ("Name", Object::Name(b"kyso".to_vec())),
        ("REx", Object::string_literal(env!("CARGO_PKG_VERSION"))),
    ]);
    sig_dict.set(
        "Prop_Build",
        Object::Dictionary(Dictionary::from_iter(vec![(
            "App",
            Object::Dictionary(app),
        )])),
    );
    let mut body = Vec::with_capacity(capacity * 2 + 512);
    body.extend_from_slice(b"<<\n");
    for (key, value) in sig_dict.iter() {
        body.push(b'/');
        body.extend_from_slice(key);
        body.push(b' ');
        lopdf::Writer::write_object(&mut body, value)
            .map_err(|e| PdfError::Structure(e.to_string()))?;
        body.push(b'\n');
    }
    body.extend_from_slice(b"/ByteRange [");
    let byte_range_rel = body.len();
    body.extend(std::iter::repeat_n(b' ', BYTE_RANGE_WIDTH));
    body.extend_from_slice(b"]\n/Contents ");
    let contents_rel = body.len();
    body.push(b'<');
    body.extend(std::iter::repeat_n(b'0', capacity * 2));
    body.extend_from_slice(b">\n>>");
    update.put_raw(sig_id, body);

    let mut written = update.write()?;
    let sig_body = written.body_offsets[&sig_id];
    let mut bytes = std::mem::take(&mut written.bytes);
    let contents_start = sig_body + contents_rel;
    let contents_end = contents_start + capacity * 2 + 2;
    let byte_range = [0, contents_start, contents_end, bytes.len() - contents_end];
    let range = format!(
        "{} {} {} {}",
        byte_range[0], byte_range[1], byte_range[2], byte_range[3]
    );
    if range.len() > BYTE_RANGE_WIDTH {
        return Err(PdfError::Structure("file too large for the /ByteRange field".into()).into());
    }
    let at = sig_body + byte_range_rel;
    bytes[at..at + range.len()].copy_from_slice(range.as_bytes());
    sig_dict.set(
        "ByteRange",
        Object::Array(
            byte_range
                .iter()
                .map(|v| Object::Integer(*v as i64))
                .collect(),
        ),
    );
    Ok((
        PreparedPdf {
            bytes,
            contents_start,
            contents_end,
            field: field_name,
        },
        ParsedUpdate {
            written,
            sig_id,
            sig_dict,
        },
    ))
}

/// Exact size of the CMS this signer will produce (with the longest possible signature value),
/// plus a little slack: the placeholder is sized from the actual chain and never overflows.
fn contents_capacity(
    signer: &Certificate,
    chain: &[Certificate],
    algorithm: SignatureAlgorithm,
    max_signature_len: usize,
    extra: &[x509_cert::attr::Attribute],
) -> Result<usize, SigningError> {
    let attrs = cms::signed_attributes(&[0u8; 32], signer, extra)?;
    let dummy = vec![0xffu8; max_signature_len];
    let len = cms::assemble(attrs, &dummy, algorithm, signer, chain)?.len();
    Ok(len + 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnam_time() {
        let t = time::macros::datetime!(2026-11-25 20:30:05 UTC);
        assert_eq!(pdf_date_vietnam(t), "D:20261126033005+07'00'");
    }
}
