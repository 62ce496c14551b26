//! Revisions of an incrementally updated PDF, and loading one revision within [`ReadLimits`].
//!
//! A PDF that was signed and then updated is a chain of revisions: each incremental update appends
//! objects, a cross-reference section and a trailer ending in `startxref N` and `%%EOF`. Validation
//! must look at every revision on its own (what the signer saw, and what every later update made
//! of it), so this module finds where each revision ends and loads the prefix of the file up to
//! that point as a document of its own.
//!
//! Untrusted bytes are read defensively:
//! * the file size, object count, revision count and decompressed size of structural streams are
//!   capped, and all work on a file is charged to one budget shared by its revisions (so a file
//!   full of small compression bombs, or of revisions, cannot multiply a per-stream cap);
//! * stream bodies are replaced by their SHA-256 digest while loading, so a loaded revision costs
//!   little beyond its object dictionaries however large the file is, and two revisions compare
//!   stream contents exactly by digest;
//! * each revision is read by kyso's strict reader ([`super::strict`]), which refuses structures
//!   that readers could read differently and charges all work to one [`Budget`] per file.

use lopdf::{Document, Object, ObjectId};

use super::strict::{self, StrictError};
pub use super::strict::{Budget, Entry, Held, ReadLimits, XrefChain, inflate_held};

/// Why a revision could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevisionError {
    /// The file is larger than [`ReadLimits::max_file_size`].
    #[error("file is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The file size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No `%PDF-` header, or no revision ending in `startxref` / `%%EOF`.
    #[error("not a PDF file: {0}")]
    NotPdf(&'static str),
    /// More revisions than [`ReadLimits::max_revisions`].
    #[error("file has more than {0} revisions")]
    TooManyRevisions(usize),
    /// More objects or object streams than the limits allow.
    #[error("revision defines too many objects ({found}, limit {limit})")]
    TooManyObjects {
        /// What was found.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// The PDF parser rejected the revision.
    #[error("cannot parse PDF revision ending at byte {end}: {message}")]
    Malformed {
        /// Where the revision ends.
        end: usize,
        /// What the parser said.
        message: String,
    },
    /// The revision holds a structure that two conforming readers could read differently
    /// (ISO 32000 leaves the choice open, or readers are known to differ).
    #[error(
        "cấu trúc mập mờ trong bản sửa kết thúc ở byte {end} (đối tượng {}) / ambiguous structure in the revision ending at byte {end} (objects {}): {reason}",
        objects.join(", "),
        objects.join(", ")
    )]
    Ambiguous {
        /// Where the revision ends.
        end: usize,
        /// The objects concerned.
        objects: Vec<String>,
        /// What is ambiguous.
        reason: String,
    },
    /// A resource limit was reached while reading the revision ending at `end`.
    #[error("revision ending at byte {end}: {message}")]
    Limit {
        /// Where the revision ends.
        end: usize,
        /// Which limit.
        limit: strict::Limit,
        /// Which limit, with the figures.
        message: String,
    },
    /// The revision is encrypted; signed certifications are never encrypted.
    #[error("revision ending at byte {0} is encrypted")]
    Encrypted(usize),
}

/// One revision of the file: the bytes `[0, end)` form a complete PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    /// Offset just after this revision's `%%EOF` marker and its end-of-line.
    pub end: usize,
    /// Offset just after `%%EOF`, before any end-of-line (a signature may stop at either).
    pub eof_end: usize,
    /// The `startxref` value of this revision.
    pub startxref: usize,
}

impl Revision {
    /// Whether a byte range ending at `offset` ends exactly at this revision.
    pub fn ends_at(&self, offset: usize) -> bool {
        offset == self.end || offset == self.eof_end
    }
}

/// The revisions of a file, oldest first, plus what follows the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revisions {
    /// Every revision, in file order.
    pub revisions: Vec<Revision>,
    /// Whether bytes other than whitespace follow the last revision.
    pub trailing_garbage: bool,
}

/// Finds the revisions of `bytes`.
///
/// A revision ends at an `%%EOF` marker preceded by `startxref N`, where `N` points back into the
/// file at a cross-reference table (`xref`) or a cross-reference stream (`n g obj`). Markers that
/// do not meet this (an `%%EOF` inside an embedded file, the first-page section of a linearized
/// file) are not revision ends.
pub fn find_revisions(bytes: &[u8], limits: &ReadLimits) -> Result<Revisions, RevisionError> {
    if bytes.len() > limits.max_file_size {
        return Err(RevisionError::TooLarge {
            size: bytes.len(),
            limit: limits.max_file_size,
        });
    }
    if find(&bytes[..bytes.len().min(1024)], b"%PDF-").is_none() {
        return Err(RevisionError::NotPdf(
            "no %PDF- header in the first 1024 bytes",
        ));
    }
    let mut revisions = Vec::new();
    let mut from = 0;
    while let Some(rel) = find(&bytes[from..], b"%%EOF") {
        let at = from + rel;
        from = at + 5;
        let Some(startxref) = startxref_before(&bytes[..at]) else {
            continue;
        };
        if startxref >= at || !points_at_xref(&bytes[startxref..at]) {
            continue;
        }
        let eof_end = at + 5;
        let end = eof_end + eol_len(&bytes[eof_end..]);
        revisions.push(Revision {
            end,
            eof_end,
            startxref,
        });
        if revisions.len() > limits.max_revisions {
            return Err(RevisionError::TooManyRevisions(limits.max_revisions));
        }
    }
    let Some(last) = revisions.last() else {
        return Err(RevisionError::NotPdf("no startxref / %%EOF trailer"));
    };
    let trailing_garbage = bytes[last.end..].iter().any(|b| !is_pdf_whitespace(*b));
    Ok(Revisions {
        revisions,
        trailing_garbage,
    })
}

/// A revision loaded on its own. Stream bodies hold `SHA-256(raw body)` instead of the body.
#[derive(Debug)]
pub struct LoadedRevision {
    /// The document as of this revision.
    pub doc: Document,
    /// Where each object of the revision lives, per its cross-reference chain.
    pub xref: XrefChain,
    /// Object numbers whose entry leads to no such object; nothing reachable refers to them.
    pub unresolved: Vec<u32>,
    /// Where the revision ends in the file.
    pub end: usize,
    /// The memory it holds against the file's bound ([`Budget::hold`]), given back when dropped.
    pub held: Held,
}

impl LoadedRevision {
    /// Resolves a reference (following chains of references up to the depth limit).
    pub fn resolve<'a>(&'a self, object: &'a Object, limits: &ReadLimits) -> Option<&'a Object> {
        let mut current = object;
        for _ in 0..limits.max_depth {
            match current {
                Object::Reference(id) => current = self.doc.objects.get(id)?,
                other => return Some(other),
            }
        }
        None
    }

    /// The object with this id, if defined.
    pub fn get(&self, id: ObjectId) -> Option<&Object> {
        self.doc.objects.get(&id)
    }
}

/// Loads `rev` (the prefix `bytes[..rev.end]`) with kyso's strict reader ([`super::strict`]),
/// charging the work to `budget`, which the caller shares between all revisions of the file.
pub fn load_revision(
    bytes: &[u8],
    rev: &Revision,
    limits: &ReadLimits,
    budget: &Budget,
) -> Result<LoadedRevision, RevisionError> {
    let end = rev.end;
    let prefix = bytes
        .get(..end)
        .ok_or(RevisionError::NotPdf("revision end beyond the file"))?;
    match strict::read_revision(prefix, rev.startxref, limits, budget) {
        Ok(r) => Ok(LoadedRevision {
            doc: r.doc,
            xref: r.xref,
            unresolved: r.unresolved,
            end,
            held: r.held,
        }),
        Err(e) => Err(RevisionError::from_strict(end, e)),
    }
}

/// Reads only where the objects of `rev` live (its cross-reference chain), within `budget`.
pub fn read_xref_chain(
    bytes: &[u8],
    rev: &Revision,
    limits: &ReadLimits,
    budget: &Budget,
) -> Result<XrefChain, RevisionError> {
    let prefix = bytes
        .get(..rev.end)
        .ok_or(RevisionError::NotPdf("revision end beyond the file"))?;
    strict::read_xref(prefix, rev.startxref, limits, budget)
        .map_err(|e| RevisionError::from_strict(rev.end, e))
}

impl RevisionError {
    fn from_strict(end: usize, e: StrictError) -> RevisionError {
        match e {
            StrictError::Limit { limit, .. } => RevisionError::Limit {
                end,
                limit,
                message: e.to_string(),
            },
            StrictError::Ambiguous { objects, reason }
            | StrictError::Unresolvable { objects, reason } => RevisionError::Ambiguous {
                end,
                objects,
                reason,
            },
            StrictError::Encrypted => RevisionError::Encrypted(end),
            other => RevisionError::Malformed {
                end,
                message: other.to_string(),
            },
        }
    }

    /// Whether the memory bound stopped the reading: what else is held (other revisions kept for
    /// later) may be let go and the reading tried again.
    pub fn is_memory(&self) -> bool {
        matches!(
            self,
            RevisionError::Limit {
                limit: strict::Limit::Memory,
                ..
            }
        )
    }

    /// Whether a resource limit stopped the reading (the file is refused as a whole), as opposed
    /// to a revision whose structure is wrong or ambiguous (a signature over it fails).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            RevisionError::Limit { .. }
                | RevisionError::TooLarge { .. }
                | RevisionError::TooManyRevisions(_)
                | RevisionError::TooManyObjects { .. }
        )
    }
}

/// Finds `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// How many times `needle` occurs in `hay` (without overlaps).
pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    memchr::memmem::find_iter(hay, needle).count()
}

/// PDF whitespace (ISO 32000-1, 7.2.2).
pub fn is_pdf_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

fn eol_len(rest: &[u8]) -> usize {
    match rest {
        [b'\r', b'\n', ..] => 2,
        [b'\n', ..] | [b'\r', ..] => 1,
        _ => 0,
    }
}

/// Reads `startxref <digits>` that closes `before` (only whitespace may separate them).
fn startxref_before(before: &[u8]) -> Option<usize> {
    let mut i = before.len();
    while i > 0 && is_pdf_whitespace(before[i - 1]) {
        i -= 1;
    }
    let digits_end = i;
    while i > 0 && before[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i == digits_end || digits_end - i > 15 {
        return None;
    }
    let value: usize = std::str::from_utf8(&before[i..digits_end])
        .ok()?
        .parse()
        .ok()?;
    while i > 0 && is_pdf_whitespace(before[i - 1]) {
        i -= 1;
    }
    (i >= 9 && &before[i - 9..i] == b"startxref").then_some(value)
}

/// Whether `at` starts with a cross-reference table or an indirect object (an xref stream).
fn points_at_xref(at: &[u8]) -> bool {
    let mut i = 0;
    while i < at.len() && is_pdf_whitespace(at[i]) {
        i += 1;
    }
    let at = &at[i..];
    if at.starts_with(b"xref") {
        return true;
    }
    // `n g obj`
    let mut parts = at.splitn(4, |b| is_pdf_whitespace(*b));
    let num = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    let gen_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    let obj = parts.next().is_some_and(|p| p.starts_with(b"obj"));
    num && gen_ok && obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_revision_ends_and_ignores_false_markers() {
        let mut pdf = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\nxref\n0 1\n0000000000 65535 f \ntrailer\n<<>>\nstartxref\n29\n%%EOF\n".to_vec();
        let first = pdf.len();
        // An %%EOF inside a stream, not preceded by startxref, is not a revision end.
        pdf.extend_from_slice(b"2 0 obj\n<</Length 5>>stream\n%%EOF\nendstream\nendobj\n");
        let xref_at = pdf.len();
        pdf.extend_from_slice(
            format!("xref\n0 1\n0000000000 65535 f \ntrailer\n<<>>\nstartxref\n{xref_at}\n%%EOF")
                .as_bytes(),
        );
        let revs = find_revisions(&pdf, &ReadLimits::default()).unwrap();
        assert_eq!(revs.revisions.len(), 2);
        assert_eq!(revs.revisions[0].end, first);
        assert!(revs.revisions[0].ends_at(first - 1));
        assert_eq!(revs.revisions[1].end, pdf.len());
        assert!(!revs.trailing_garbage);
        pdf.extend_from_slice(b"\ngarbage");
        assert!(
            find_revisions(&pdf, &ReadLimits::default())
                .unwrap()
                .trailing_garbage
        );
    }

    #[test]
    fn refuses_non_pdf_and_oversized_input() {
        assert!(matches!(
            find_revisions(b"hello", &ReadLimits::default()),
            Err(RevisionError::NotPdf(_))
        ));
        let limits = ReadLimits {
            max_file_size: 4,
            ..ReadLimits::default()
        };
        assert!(matches!(
            find_revisions(b"%PDF-1.7", &limits),
            Err(RevisionError::TooLarge { .. })
        ));
        assert!(matches!(
            find_revisions(b"%PDF-1.7\nno trailer", &ReadLimits::default()),
            Err(RevisionError::NotPdf(_))
        ));
    }
}
