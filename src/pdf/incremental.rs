//! Incremental updates: new and replaced objects appended after the last `%%EOF`, with a
//! cross-reference section of the same kind as the previous one (table or stream) and a `/Prev`
//! link, so the output starts with the input byte for byte and earlier signatures stay valid.

use std::collections::BTreeMap;
use std::io::Write as _;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::{PdfError, last_startxref};

/// What goes between `N G obj` and `endobj`.
enum Body {
    Object(Object),
    /// Pre-serialised bytes, for objects whose byte layout the caller must know (a signature
    /// dictionary with placeholders to patch).
    Raw(Vec<u8>),
}

/// An incremental update being assembled over `base`.
pub struct IncrementalUpdate<'a> {
    base: &'a [u8],
    prev_startxref: usize,
    xref_stream: bool,
    root: Object,
    info: Option<Object>,
    id: Option<Object>,
    size: u32,
    bodies: BTreeMap<ObjectId, Body>,
}

/// The serialised update.
#[derive(Debug)]
pub struct Written {
    /// The whole output file: `base`, then the update.
    pub bytes: Vec<u8>,
    /// Where each written object's body starts in `bytes` (just after `N G obj\n`).
    pub body_offsets: BTreeMap<ObjectId, usize>,
    /// The objects given as [`Object`]s, as written; pre-serialised bodies are not among them.
    pub objects: BTreeMap<ObjectId, Object>,
    /// The trailer's `/Size`: one more than the highest object number now in use.
    pub size: u32,
}

impl Written {
    /// Brings `doc`, the parsed base, to what parsing [`Written::bytes`] would give for making a
    /// further update: the written objects replace or join the base's, and the trailer's `/Size`
    /// and `doc.max_id` cover every number now in use (the new cross-reference stream's too,
    /// which, unlike in a fresh parse, is not among the objects). `raw` supplies the parsed form
    /// of each pre-serialised body. A caller adding several
    /// updates in a row (the official's signature, then the seal) parses the file once instead
    /// of reading back what it has just written.
    ///
    /// The base must be the one this update was made over, and `doc` its parse; anything else
    /// gives a view that no longer matches the bytes.
    pub fn apply_to(
        &mut self,
        doc: &mut Document,
        raw: impl IntoIterator<Item = (ObjectId, Object)>,
    ) {
        for (id, obj) in std::mem::take(&mut self.objects).into_iter().chain(raw) {
            doc.objects.insert(id, obj);
        }
        doc.trailer
            .set("Size", Object::Integer(i64::from(self.size)));
        doc.max_id = doc.max_id.max(self.size.saturating_sub(1));
    }
}

impl<'a> IncrementalUpdate<'a> {
    /// Starts an update of `base`, whose parsed form is `doc`.
    pub fn new(base: &'a [u8], doc: &Document) -> Result<Self, PdfError> {
        if let Some(recovery) = doc.xref_recovery {
            return Err(PdfError::Damaged(format!("{recovery:?}")));
        }
        let prev_startxref = last_startxref(base).ok_or(PdfError::Truncated)?;
        let xref_stream = !base[prev_startxref..].starts_with(b"xref");
        let root = doc
            .trailer
            .get(b"Root")
            .map_err(|_| PdfError::Structure("the trailer has no /Root".into()))?
            .clone();
        let declared = match doc.trailer.get(b"Size") {
            Ok(Object::Integer(n)) if *n > 0 => u32::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        let max_id = doc.objects.keys().map(|(n, _)| *n).max().unwrap_or(0);
        let size = declared
            .max(max_id.saturating_add(1))
            .max(doc.max_id.saturating_add(1));
        Ok(IncrementalUpdate {
            base,
            prev_startxref,
            xref_stream,
            root,
            info: doc.trailer.get(b"Info").ok().cloned(),
            id: doc.trailer.get(b"ID").ok().cloned(),
            size,
            bodies: BTreeMap::new(),
        })
    }

    /// A fresh object number (generation 0) for a new object.
    pub fn allocate(&mut self) -> ObjectId {
        let id = (self.size, 0);
        self.size += 1;
        id
    }

    /// Adds `object` as `id`, replacing any earlier definition of `id`.
    pub fn put(&mut self, id: ObjectId, object: Object) {
        self.bodies.insert(id, Body::Object(object));
    }

    /// Adds pre-serialised bytes as the body of `id`.
    pub fn put_raw(&mut self, id: ObjectId, body: Vec<u8>) {
        self.bodies.insert(id, Body::Raw(body));
    }

    /// Whether `id` is written by this update already.
    pub fn contains(&self, id: ObjectId) -> bool {
        self.bodies.contains_key(&id)
    }

    /// Serialises base + objects + cross-reference section + trailer.
    pub fn write(mut self) -> Result<Written, PdfError> {
        let mut out = Vec::with_capacity(self.base.len() + 16 * 1024);
        let mut objects = BTreeMap::new();
        out.extend_from_slice(self.base);
        if !matches!(out.last(), Some(b'\n') | Some(b'\r')) {
            out.push(b'\n');
        }
        let mut offsets: BTreeMap<ObjectId, usize> = BTreeMap::new();
        let mut body_offsets = BTreeMap::new();
        for (id, body) in std::mem::take(&mut self.bodies) {
            offsets.insert(id, out.len());
            writeln!(out, "{} {} obj", id.0, id.1).expect("writing to a Vec cannot fail");
            body_offsets.insert(id, out.len());
            match body {
                Body::Raw(bytes) => out.extend_from_slice(&bytes),
                Body::Object(obj) => {
                    lopdf::Writer::write_object(&mut out, &obj).map_err(|e| {
                        PdfError::Structure(format!("cannot serialise object {}: {e}", id.0))
                    })?;
                    objects.insert(id, obj);
                }
            }
            out.extend_from_slice(b"\nendobj\n");
        }
        let mut trailer = Dictionary::new();
        trailer.set("Root", self.root.clone());
        if let Some(info) = &self.info {
            trailer.set("Info", info.clone());
        }
        if let Some(id) = &self.id {
            trailer.set("ID", id.clone());
        }
        trailer.set("Prev", Object::Integer(self.prev_startxref as i64));
        if self.xref_stream {
            let xref_id = self.allocate();
            let xref_offset = out.len();
            offsets.insert(xref_id, xref_offset);
            trailer.set("Size", Object::Integer(i64::from(self.size)));
            trailer.set("Type", Object::Name(b"XRef".to_vec()));
            trailer.set("W", Object::Array(vec![1.into(), 4.into(), 2.into()]));
            let (index, data) = stream_entries(&offsets)?;
            trailer.set("Index", Object::Array(index));
            trailer.set("Length", Object::Integer(data.len() as i64));
            writeln!(out, "{} 0 obj", xref_id.0).expect("Vec write");
            lopdf::Writer::write_object(&mut out, &Object::Dictionary(trailer)).map_err(|e| {
                PdfError::Structure(format!("cannot serialise the xref stream: {e}"))
            })?;
            out.extend_from_slice(b"\nstream\n");
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\nendstream\nendobj\n");
            write!(out, "startxref\n{xref_offset}\n%%EOF\n").expect("Vec write");
        } else {
            let xref_offset = out.len();
            out.extend_from_slice(b"xref\n");
            for (start, run) in runs(&offsets) {
                writeln!(out, "{} {}", start, run.len()).expect("Vec write");
                for (offset, generation) in run {
                    write!(out, "{offset:010} {generation:05} n\r\n").expect("Vec write");
                }
            }
            trailer.set("Size", Object::Integer(i64::from(self.size)));
            out.extend_from_slice(b"trailer\n");
            lopdf::Writer::write_object(&mut out, &Object::Dictionary(trailer))
                .map_err(|e| PdfError::Structure(format!("cannot serialise the trailer: {e}")))?;
            write!(out, "\nstartxref\n{xref_offset}\n%%EOF\n").expect("Vec write");
        }
        Ok(Written {
            bytes: out,
            body_offsets,
            objects,
            size: self.size,
        })
    }
}

/// Consecutive object numbers grouped into xref subsections: (first number, [(offset, gen)]).
fn runs(offsets: &BTreeMap<ObjectId, usize>) -> Vec<(u32, Vec<(usize, u16)>)> {
    let mut out: Vec<(u32, Vec<(usize, u16)>)> = Vec::new();
    for (&(num, generation), &offset) in offsets {
        match out.last_mut() {
            Some((start, run)) if *start + run.len() as u32 == num => {
                run.push((offset, generation))
            }
            _ => out.push((num, vec![(offset, generation)])),
        }
    }
    out
}

/// `/Index` array and binary rows (`W [1 4 2]`) of an xref stream.
fn stream_entries(offsets: &BTreeMap<ObjectId, usize>) -> Result<(Vec<Object>, Vec<u8>), PdfError> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (start, run) in runs(offsets) {
        index.push(Object::Integer(i64::from(start)));
        index.push(Object::Integer(run.len() as i64));
        for (offset, generation) in run {
            let offset = u32::try_from(offset).map_err(|_| {
                PdfError::Structure("file too large for a 4-byte xref offset".into())
            })?;
            data.push(1);
            data.extend_from_slice(&offset.to_be_bytes());
            data.extend_from_slice(&generation.to_be_bytes());
        }
    }
    Ok((index, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_consecutive_numbers() {
        let mut m = BTreeMap::new();
        m.insert((3, 0), 10);
        m.insert((4, 0), 20);
        m.insert((9, 1), 30);
        let r = runs(&m);
        assert_eq!(r, vec![(3, vec![(10, 0), (20, 0)]), (9, vec![(30, 1)])]);
    }
}
