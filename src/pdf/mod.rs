//! PDF utilities: reading untrusted bytes within [`Limits`], and appending incremental updates
//! ([`incremental`]) so that earlier revisions, and the signatures over them, stay untouched.
//!
//! lopdf parses objects; everything kyso writes into an existing file goes through
//! [`incremental::IncrementalUpdate`], which only ever appends.

pub mod content;
pub mod incremental;
pub mod revisions;
pub mod strict;

use lopdf::{Dictionary, Document, Object, ObjectId};

/// Resource limits on reading untrusted PDF bytes: the same for signing and for validation.
pub use revisions::ReadLimits as Limits;

/// Why PDF bytes could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// The bytes do not start with a PDF header.
    #[error("not a PDF file (no %PDF- header)")]
    NotPdf,
    /// The file has no `startxref` / `%%EOF` trailer at its end: it is truncated or damaged.
    #[error("the PDF is truncated or damaged (no startxref and %%EOF at its end)")]
    Truncated,
    /// The file is bigger than [`Limits::max_file_size`].
    #[error("the PDF is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More objects than [`Limits::max_objects`].
    #[error("the PDF has {count} objects, over the limit of {limit}")]
    TooManyObjects {
        /// Objects found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The parser rejected the file.
    #[error("the PDF cannot be parsed: {0}")]
    Parse(String),
    /// The cross-reference data was wrong and had to be rebuilt; appending to such a file
    /// would produce an update other software reads differently.
    #[error(
        "the PDF's cross-reference data is damaged ({0}); repair it first (e.g. qpdf in.pdf out.pdf)"
    )]
    Damaged(String),
    /// The file holds a structure that readers could read differently (duplicate cross-reference
    /// entries or dictionary keys, an entry pointing at another object's header, …): signing it
    /// would sign something a viewer may show differently.
    #[error("cấu trúc PDF mập mờ, không ký / ambiguous PDF structure, refused: {0}")]
    Ambiguous(String),
    /// A resource limit was reached while reading the file.
    #[error("the PDF exceeds a reading limit: {0}")]
    Limit(String),
    /// The file is encrypted.
    #[error("the PDF is encrypted; kyso signs only unencrypted documents")]
    Encrypted,
    /// A required structure is missing or has the wrong type.
    #[error("malformed PDF structure: {0}")]
    Structure(String),
}

/// The offset named by the last `startxref` of the file, which must be followed by `%%EOF`
/// and at most some trailing whitespace.
pub fn last_startxref(bytes: &[u8]) -> Option<usize> {
    let tail_start = bytes.len().saturating_sub(2048);
    let tail = &bytes[tail_start..];
    let eof = rfind(tail, b"%%EOF")?;
    if !tail[eof + 5..]
        .iter()
        .all(|b| b.is_ascii_whitespace() || *b == 0)
    {
        return None;
    }
    let sx = rfind(&tail[..eof], b"startxref")?;
    let digits = std::str::from_utf8(&tail[sx + 9..eof]).ok()?.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset: usize = digits.parse().ok()?;
    (offset < bytes.len()).then_some(offset)
}

/// Parses untrusted bytes into the document of their last revision within `limits`, with the
/// validator's strict reader ([`revisions::load_revision`], [`strict`]): refuses encrypted files,
/// damaged or ambiguous cross-reference data and objects, and bytes after the last `%%EOF` (a
/// truncated update).
/// Stream bodies are replaced by their digests: signing reads dictionaries and never rewrites an
/// existing stream.
pub fn load(bytes: &[u8], limits: &Limits) -> Result<Document, PdfError> {
    use revisions::RevisionError as E;
    let map = |e: E| match e {
        E::TooLarge { size, limit } => PdfError::TooLarge { size, limit },
        E::NotPdf(why) if why.contains("header") => PdfError::NotPdf,
        E::NotPdf(_) => PdfError::Truncated,
        E::TooManyObjects { found, limit } => PdfError::TooManyObjects {
            count: found,
            limit,
        },
        E::Ambiguous { .. } => PdfError::Ambiguous(e.to_string()),
        E::Limit { .. } => PdfError::Limit(e.to_string()),
        E::Encrypted(_) => PdfError::Encrypted,
        other => PdfError::Parse(other.to_string()),
    };
    let revs = revisions::find_revisions(bytes, limits).map_err(map)?;
    if revs.trailing_garbage {
        return Err(PdfError::Truncated);
    }
    let last = revs.revisions.last().ok_or(PdfError::Truncated)?;
    let budget = revisions::Budget::for_file(bytes.len());
    let doc = revisions::load_revision(bytes, last, limits, &budget)
        .map_err(map)?
        .doc;
    if doc.is_encrypted() || doc.was_encrypted() {
        return Err(PdfError::Encrypted);
    }
    Ok(doc)
}

/// The checks of [`load`] that a file kyso has just extended (an update over a file [`load`]
/// accepted) can fail: its size and revision count, and the object count of `doc`, its parse.
/// A caller that keeps a parse up to date instead of loading again runs this before each later use.
pub fn check_grown(bytes: &[u8], doc: &Document, limits: &Limits) -> Result<(), PdfError> {
    if bytes.len() > limits.max_file_size {
        return Err(PdfError::TooLarge {
            size: bytes.len(),
            limit: limits.max_file_size,
        });
    }
    if doc.objects.len() > limits.max_objects {
        return Err(PdfError::TooManyObjects {
            count: doc.objects.len(),
            limit: limits.max_objects,
        });
    }
    match revisions::find_revisions(bytes, limits) {
        Ok(_) => Ok(()),
        Err(e) => Err(PdfError::Parse(e.to_string())),
    }
}

/// Follows references from `obj` until a direct object, at most `limits.max_depth`
/// steps (reference cycles end there instead of looping).
pub fn resolve<'a>(
    doc: &'a Document,
    mut obj: &'a Object,
    limits: &Limits,
) -> Result<&'a Object, PdfError> {
    for _ in 0..limits.max_depth {
        match obj {
            Object::Reference(id) => {
                obj = doc.objects.get(id).ok_or_else(|| {
                    PdfError::Structure(format!("object {} {} R is missing", id.0, id.1))
                })?;
            }
            other => return Ok(other),
        }
    }
    Err(PdfError::Structure(
        "reference chain too deep or cyclic".into(),
    ))
}

/// The dictionary at `obj` (resolving references); `what` names it in the error.
pub fn resolve_dict<'a>(
    doc: &'a Document,
    obj: &'a Object,
    limits: &Limits,
    what: &str,
) -> Result<&'a Dictionary, PdfError> {
    match resolve(doc, obj, limits)? {
        Object::Dictionary(d) => Ok(d),
        Object::Stream(s) => Ok(&s.dict),
        _ => Err(PdfError::Structure(format!("{what} is not a dictionary"))),
    }
}

/// The catalog's object id.
pub fn catalog_id(doc: &Document) -> Result<ObjectId, PdfError> {
    match doc.trailer.get(b"Root") {
        Ok(Object::Reference(id)) => Ok(*id),
        _ => Err(PdfError::Structure(
            "the trailer has no /Root reference".into(),
        )),
    }
}

/// Position of the first occurrence of `needle`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Position of the last occurrence of `needle`.
pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_rejects_non_pdf_and_truncation() {
        let l = Limits::default();
        assert!(matches!(load(b"hello", &l), Err(PdfError::NotPdf)));
        assert!(matches!(
            load(b"%PDF-1.7\n1 0 obj\n", &l),
            Err(PdfError::Truncated)
        ));
        // startxref pointing past the end is no revision end at all.
        assert!(matches!(
            load(b"%PDF-1.7\nstartxref\n999\n%%EOF", &l),
            Err(PdfError::Truncated)
        ));
    }

    #[test]
    fn size_limit() {
        let l = Limits {
            max_file_size: 4,
            ..Limits::default()
        };
        assert!(matches!(
            load(b"%PDF-1.7", &l),
            Err(PdfError::TooLarge { .. })
        ));
    }
}
