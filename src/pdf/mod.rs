//! PDF utilities: reading untrusted bytes within [`Limits`], and appending incremental updates
//! ([`incremental`]) so that earlier revisions, and the signatures over them, stay untouched.
//!
//! lopdf parses objects; everything kyso writes into an existing file goes through
//! [`incremental::IncrementalUpdate`], which only ever appends.

pub mod incremental;
pub mod revisions;

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

/// Resource limits applied before and while parsing untrusted PDF bytes. A file beyond any of
/// them is refused rather than parsed, so memory stays bounded whatever arrives.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_file_size: usize,
    /// Largest number of indirect objects.
    pub max_objects: usize,
    /// Largest size any single stream may decompress to while loading.
    pub max_decompressed_stream: usize,
    /// Deepest chain of nested references followed when resolving a value.
    pub max_reference_depth: usize,
}

impl Default for Limits {
    /// Generous for certifications (a few pages, a few hundred KiB) and scanned attachments,
    /// still far below what would strain a small commune server.
    fn default() -> Self {
        Limits {
            max_file_size: 256 * 1024 * 1024,
            max_objects: 1_000_000,
            max_decompressed_stream: 64 * 1024 * 1024,
            max_reference_depth: 64,
        }
    }
}

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
    #[error("the PDF's cross-reference data is damaged ({0}); repair it first (e.g. qpdf in.pdf out.pdf)")]
    Damaged(String),
    /// The file is encrypted.
    #[error("the PDF is encrypted; kyso signs only unencrypted documents")]
    Encrypted,
    /// A required structure is missing or has the wrong type.
    #[error("malformed PDF structure: {0}")]
    Structure(String),
}

/// Cheap checks on the raw bytes before any parsing: header, size, and a `startxref` followed
/// by `%%EOF` near the end (a truncated download lacks them).
pub fn precheck(bytes: &[u8], limits: &Limits) -> Result<(), PdfError> {
    if bytes.len() > limits.max_file_size {
        return Err(PdfError::TooLarge { size: bytes.len(), limit: limits.max_file_size });
    }
    // The header may be preceded by a little junk (the spec allows readers to tolerate 1 KiB).
    let head = &bytes[..bytes.len().min(1024)];
    if find(head, b"%PDF-").is_none() {
        return Err(PdfError::NotPdf);
    }
    last_startxref(bytes).ok_or(PdfError::Truncated)?;
    Ok(())
}

/// The offset named by the last `startxref` of the file, which must be followed by `%%EOF`
/// and at most some trailing whitespace.
pub fn last_startxref(bytes: &[u8]) -> Option<usize> {
    let tail_start = bytes.len().saturating_sub(2048);
    let tail = &bytes[tail_start..];
    let eof = rfind(tail, b"%%EOF")?;
    if !tail[eof + 5..].iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
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

/// Parses untrusted bytes into a document within `limits`: refuses encrypted files, and
/// turns a panic inside the parser into an error (defence in depth; the limits come first).
pub fn load(bytes: &[u8], limits: &Limits) -> Result<Document, PdfError> {
    precheck(bytes, limits)?;
    let options = LoadOptions {
        max_decompressed_size: Some(limits.max_decompressed_stream),
        ..LoadOptions::default()
    };
    let result = std::panic::catch_unwind(|| Document::load_mem_with_options(bytes, options));
    let doc = match result {
        Ok(Ok(doc)) => doc,
        Ok(Err(lopdf::Error::Decryption(_))) | Ok(Err(lopdf::Error::InvalidPassword)) => {
            return Err(PdfError::Encrypted);
        }
        Ok(Err(e)) => return Err(PdfError::Parse(e.to_string())),
        Err(_) => return Err(PdfError::Parse("the parser failed on malformed input".into())),
    };
    if doc.is_encrypted() || doc.was_encrypted() || doc.trailer.has(b"Encrypt") {
        return Err(PdfError::Encrypted);
    }
    if doc.objects.len() > limits.max_objects {
        return Err(PdfError::TooManyObjects { count: doc.objects.len(), limit: limits.max_objects });
    }
    Ok(doc)
}

/// Follows references from `obj` until a direct object, at most `limits.max_reference_depth`
/// steps (reference cycles end there instead of looping).
pub fn resolve<'a>(doc: &'a Document, mut obj: &'a Object, limits: &Limits) -> Result<&'a Object, PdfError> {
    for _ in 0..limits.max_reference_depth {
        match obj {
            Object::Reference(id) => {
                obj = doc
                    .objects
                    .get(id)
                    .ok_or_else(|| PdfError::Structure(format!("object {} {} R is missing", id.0, id.1)))?;
            }
            other => return Ok(other),
        }
    }
    Err(PdfError::Structure("reference chain too deep or cyclic".into()))
}

/// The dictionary at `obj` (resolving references); `what` names it in the error.
pub fn resolve_dict<'a>(doc: &'a Document, obj: &'a Object, limits: &Limits, what: &str) -> Result<&'a Dictionary, PdfError> {
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
        _ => Err(PdfError::Structure("the trailer has no /Root reference".into())),
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
    fn precheck_rejects_non_pdf_and_truncation() {
        let l = Limits::default();
        assert!(matches!(precheck(b"hello", &l), Err(PdfError::NotPdf)));
        assert!(matches!(precheck(b"%PDF-1.7\n1 0 obj\n", &l), Err(PdfError::Truncated)));
        assert!(precheck(b"%PDF-1.7\nxref\nstartxref\n9\n%%EOF\n", &l).is_ok());
        // startxref pointing past the end
        assert!(matches!(precheck(b"%PDF-1.7\nstartxref\n999\n%%EOF", &l), Err(PdfError::Truncated)));
        // bytes after %%EOF that are not whitespace: truncated in a later revision
        assert!(matches!(precheck(b"%PDF-1.7\nstartxref\n1\n%%EOF\n3 0 obj", &l), Err(PdfError::Truncated)));
    }

    #[test]
    fn size_limit() {
        let l = Limits { max_file_size: 4, ..Limits::default() };
        assert!(matches!(precheck(b"%PDF-1.7", &l), Err(PdfError::TooLarge { .. })));
    }
}
