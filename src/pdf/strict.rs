//! kyso's own strict reader of one PDF revision: cross-reference sections, trailers, object
//! headers, object streams and object syntax, read by a checked cursor over borrowed bytes.
//!
//! Why not a general-purpose loader: a lenient loader repairs what it finds, and where a structure
//! can be read in two ways (the same object number twice in one cross-reference section, a key
//! twice in a dictionary, an entry whose offset lands on an object with another number) it picks
//! one reading silently, while a viewer may pick the other. A signature validated through one
//! reading and displayed through the other is a forgery that passes. This reader refuses every
//! such structure with [`StrictError::Ambiguous`], naming the objects, and resolves each object
//! only through its cross-reference entry: the header found at the entry's offset (or at its slot
//! in an object stream) must carry the number and generation the entry promises.
//!
//! Every read is charged to a [`Budget`] before the work is done (entries counted from section
//! headers before any is parsed, decompression capped at what the declared entries need, every
//! parsed object and byte charged), and one budget is shared by all revisions of a file, so no
//! input costs more than a bounded multiple of its size.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lopdf::xref::{Xref, XrefEntry, XrefType};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat};

/// Caps on the work spent reading one untrusted PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest file accepted, in bytes.
    pub max_file_size: usize,
    /// Most indirect objects one revision may define.
    pub max_objects: usize,
    /// Most revisions (incremental updates plus the original) a file may have.
    pub max_revisions: usize,
    /// Bytes one object or cross-reference stream may decompress to (the file's work budget
    /// bounds the total).
    pub max_decompressed_total: usize,
    /// Most object streams one revision may hold.
    pub max_object_streams: usize,
    /// Deepest chain of references followed when walking the object graph.
    pub max_depth: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            // Certifications are a few pages; scanned attachments can be tens of megabytes.
            max_file_size: 512 * 1024 * 1024,
            max_objects: 2_000_000,
            max_revisions: 256,
            max_decompressed_total: 256 * 1024 * 1024,
            max_object_streams: 100_000,
            max_depth: 64,
        }
    }
}

/// A named resource limit, so that a refusal says which one was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`ReadLimits::max_file_size`].
    FileSize,
    /// [`ReadLimits::max_revisions`]: revisions, and cross-reference sections in one chain.
    Revisions,
    /// [`ReadLimits::max_objects`]: entries of one cross-reference section or objects of one
    /// revision.
    Objects,
    /// [`ReadLimits::max_decompressed_total`]: bytes one structural stream may decompress to.
    Decompressed,
    /// [`ReadLimits::max_depth`]: nesting of arrays and dictionaries, chains of references.
    Depth,
    /// The work budget of the whole file ([`Budget`]).
    Work,
    /// The memory the file's parsed objects, cross-reference entries and decoded streams may
    /// hold at once ([`Budget`]): what keeps peak memory within 64 MB + 3 × the file's size.
    Memory,
}

impl Limit {
    /// The limit's name as it appears in messages.
    pub fn name(self) -> &'static str {
        match self {
            Limit::FileSize => "max_file_size",
            Limit::Revisions => "max_revisions",
            Limit::Objects => "max_objects",
            Limit::Decompressed => "max_decompressed_total",
            Limit::Depth => "max_depth",
            Limit::Work => "work_budget",
            Limit::Memory => "memory_bound",
        }
    }
}

/// Why a revision could not be read strictly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StrictError {
    /// A resource limit would be exceeded; nothing beyond it was done.
    #[error(
        "vượt giới hạn {} ({what}: {found} > {max}) / limit {} exceeded ({what}: {found} > {max})",
        limit.name(),
        limit.name()
    )]
    Limit {
        /// Which limit.
        limit: Limit,
        /// What was counted.
        what: &'static str,
        /// How much was asked for.
        found: u64,
        /// The limit.
        max: u64,
    },
    /// A structure that two conforming readers could read differently.
    #[error("ambiguous structure (objects {}): {reason}", objects.join(", "))]
    Ambiguous {
        /// The objects concerned (`"12 0"`, `"trailer"`, `"xref at 1234"`).
        objects: Vec<String>,
        /// What is ambiguous.
        reason: String,
    },
    /// A cross-reference entry does not lead to the object it promises (no header at its offset,
    /// the header of another object, an object-stream slot holding another number). Tolerated
    /// for objects nothing reachable refers to (the signed originals of some files carry such
    /// stale entries); refused as [`StrictError::Ambiguous`] as soon as something refers to one.
    #[error("unresolvable entry (objects {}): {reason}", objects.join(", "))]
    Unresolvable {
        /// The objects concerned.
        objects: Vec<String>,
        /// What the entry leads to instead.
        reason: String,
    },
    /// The bytes do not follow the syntax.
    #[error("malformed PDF at byte {at}: {what}")]
    Malformed {
        /// Where.
        at: usize,
        /// What was expected.
        what: String,
    },
    /// The revision is encrypted.
    #[error("the document is encrypted")]
    Encrypted,
    /// A filter or predictor this reader does not decode in structural streams.
    #[error("unsupported {0} in a cross-reference or object stream")]
    Unsupported(String),
}

fn malformed(at: usize, what: impl Into<String>) -> StrictError {
    StrictError::Malformed {
        at,
        what: what.into(),
    }
}

fn unresolvable(objects: Vec<String>, reason: impl Into<String>) -> StrictError {
    StrictError::Unresolvable {
        objects,
        reason: reason.into(),
    }
}

fn ambiguous(objects: Vec<String>, reason: impl Into<String>) -> StrictError {
    StrictError::Ambiguous {
        objects,
        reason: reason.into(),
    }
}

fn id_str(id: ObjectId) -> String {
    format!("{} {}", id.0, id.1)
}

/// Work units charged per parsed object, on top of its bytes: an object costs an allocation and a
/// map entry whatever its size, which is what small objects in great numbers exploit.
const OBJECT_COST: u64 = 32;
/// Work units per hashed stream byte (SHA-256 runs at about 1.7 GB/s, parsing at a tenth of it).
const HASH_BYTES_PER_UNIT: u64 = 16;
/// Work every file may use whatever its size: about 0.1 s and some tens of MB on this machine.
const BASE_WORK: u64 = 8 << 20;
/// Values one revision may hold whatever the file's size (about 30 MB of parsed objects with
/// their maps and cross-reference entries).
const BASE_VALUES: usize = 128 * 1024;
/// Bytes one decoded stream may hold whatever the file's size; one more per byte of input. Object
/// streams are read one at a time and dropped once their objects are parsed; like every decoded
/// buffer they are also held against the file's memory bound while they live.
const BASE_DECODED: usize = 16 << 20;
/// Input bytes per further value allowed (about two bytes of memory per byte of input).
const BYTES_PER_VALUE: usize = 64;
/// Work per byte of input: enough to read each revision of a file with dozens of revisions.
const WORK_PER_BYTE: u64 = 32;
/// Memory the file's readers may hold at once whatever its size (parsed objects, cross-reference
/// entries, decoded streams), and how much more per byte of input (in tenths: 12 = 1.2 bytes).
/// The release binary rests at about 22 MB, and the estimates below fall short by up to 1.65 times
/// on documents made of many small dictionaries and arrays (their allocations have fixed costs):
/// the peak stays under 22 MB + the file + 1.65 × (22 MB + 1.2 × the file), within issue 12's
/// 64 MB + 3 × the file's size.
const BASE_HELD: usize = 22 << 20;
const HELD_TENTHS_PER_BYTE: usize = 12;
/// Memory one parsed value costs beyond its payload: the `Object` itself where it is kept (a map
/// entry with its hash, key and index, or an array slot) and the allocations of small containers
/// (measured: about 240 bytes per value of documents made of small dictionaries).
const VALUE_BYTES: usize = std::mem::size_of::<Object>() + 112;
/// Memory a large array or dictionary costs again per element each time it grows: growth
/// allocates twice the slots and the allocator keeps what it frees (measured: about 370 bytes per
/// element of an array of 100 000 nulls, all told).
const SLOT_BYTES: usize = std::mem::size_of::<Object>() + 40;
/// Memory one cross-reference entry costs in the merged table of a revision (map node included).
const ENTRY_BYTES: usize = 48;
/// Memory one entry that leads nowhere costs (its number and the error naming it).
const UNRESOLVED_BYTES: usize = 256;

/// The work budget of one file, shared by every revision read from it (a file of many revisions
/// cannot multiply the cost of one), and the memory its readers may hold at once. Work is
/// single-threaded by design: validation reads one file at a time per call.
#[derive(Debug)]
pub struct Budget {
    left: Cell<u64>,
    total: u64,
    /// Most values (objects and their elements) one revision may hold in memory.
    max_values: usize,
    /// Most bytes one decoded stream may hold.
    max_decoded: usize,
    /// Bytes held now by what was read from this file and is still alive ([`Held`]).
    held: Arc<AtomicUsize>,
    /// Most bytes that may be held at once.
    max_held: usize,
    /// Digests of stream bodies by (offset, length): a stream that several revisions share is
    /// hashed once. The length is part of the key because an indirect `/Length` may be redefined
    /// by a later revision, giving the same offset another body.
    digests: RefCell<HashMap<(usize, usize), [u8; 32]>>,
}

/// Memory held against a [`Budget`]'s bound for as long as this value lives: a loaded revision
/// keeps one for its objects, a decoded stream for its bytes.
#[derive(Debug)]
pub struct Held {
    pool: Arc<AtomicUsize>,
    bytes: usize,
}

impl Held {
    /// Holds nothing (a revision built by hand, in tests).
    pub fn nothing() -> Held {
        Held {
            pool: Arc::new(AtomicUsize::new(0)),
            bytes: 0,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.pool.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl Budget {
    /// The budget of a file of `file_len` bytes.
    pub fn for_file(file_len: usize) -> Budget {
        let total = BASE_WORK.saturating_add(WORK_PER_BYTE.saturating_mul(file_len as u64));
        let mut b = Budget::with_total(total);
        b.max_values = BASE_VALUES.saturating_add(file_len / BYTES_PER_VALUE);
        b.max_decoded = BASE_DECODED.saturating_add(file_len);
        b.max_held = BASE_HELD.saturating_add(file_len.saturating_mul(HELD_TENTHS_PER_BYTE) / 10);
        b
    }

    /// A budget of exactly `total` units (tests, fuzzing).
    pub fn with_total(total: u64) -> Budget {
        Budget {
            left: Cell::new(total),
            total,
            max_values: BASE_VALUES,
            max_decoded: BASE_DECODED,
            held: Arc::new(AtomicUsize::new(0)),
            max_held: BASE_HELD,
            digests: RefCell::new(HashMap::new()),
        }
    }

    /// Most bytes of decoded stream data one reader may take now: the per-stream cap, or less when
    /// what the file's readers hold leaves less room under the memory bound.
    pub fn max_decoded(&self) -> usize {
        self.max_decoded.min(self.room())
    }

    /// Bytes that may still be held under the memory bound.
    pub fn room(&self) -> usize {
        self.max_held
            .saturating_sub(self.held.load(Ordering::Relaxed))
    }

    /// Bytes held now by what was read from this file and is still alive.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Holds `bytes` against the memory bound until the returned guard is dropped, or says that
    /// the bound stops the work (nothing is held then).
    pub fn hold(&self, bytes: usize, what: &'static str) -> Result<Held, StrictError> {
        let now = self.held.load(Ordering::Relaxed);
        let after = now.saturating_add(bytes);
        if after > self.max_held {
            return Err(StrictError::Limit {
                limit: Limit::Memory,
                what,
                found: after as u64,
                max: self.max_held as u64,
            });
        }
        self.held.fetch_add(bytes, Ordering::Relaxed);
        Ok(Held {
            pool: self.held.clone(),
            bytes,
        })
    }

    /// Units not yet spent.
    pub fn left(&self) -> u64 {
        self.left.get()
    }

    /// Takes `units` from the budget, or says which limit stops the work.
    pub fn charge(&self, units: u64, what: &'static str) -> Result<(), StrictError> {
        let left = self.left.get();
        if units > left {
            return Err(StrictError::Limit {
                limit: Limit::Work,
                what,
                found: self.total - left + units,
                max: self.total,
            });
        }
        self.left.set(left - units);
        Ok(())
    }
}

fn check_limit(
    limit: Limit,
    what: &'static str,
    found: usize,
    max: usize,
) -> Result<(), StrictError> {
    if found > max {
        return Err(StrictError::Limit {
            limit,
            what,
            found: found as u64,
            max: max as u64,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lexing and object syntax.

pub(super) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

pub(super) fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}

/// A cursor over `bytes[..end]`: reads never go past `end` and never panic.
#[derive(Debug, Clone)]
pub(super) struct Lexer<'a> {
    bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(bytes: &'a [u8], pos: usize) -> Self {
        Lexer { bytes, pos }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(super) fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos.checked_add(ahead)?).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    /// Skips whitespace and comments.
    pub(super) fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// A run of regular characters (a keyword or a number).
    pub(super) fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_regular) {
            self.pos += 1;
        }
        // A cursor placed past the end (an offset from a cross-reference entry) reads nothing.
        self.bytes.get(start..self.pos).unwrap_or_default()
    }

    /// Consumes `word` if it comes next as a whole token.
    fn keyword(&mut self, word: &[u8]) -> bool {
        if self.rest().starts_with(word)
            && self
                .bytes
                .get(self.pos + word.len())
                .is_none_or(|b| !is_regular(*b))
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), StrictError> {
        self.skip_ws();
        if self.keyword(word.as_bytes()) {
            Ok(())
        } else {
            Err(malformed(self.pos, format!("expected `{word}`")))
        }
    }

    /// An unsigned decimal integer token.
    fn unsigned(&mut self) -> Option<u64> {
        let save = self.pos;
        let t = self.token();
        if t.is_empty() || t.len() > 19 || !t.iter().all(u8::is_ascii_digit) {
            self.pos = save;
            return None;
        }
        t.iter().try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }
}

/// What the object parser needs from its surroundings.
struct Syntax<'b> {
    budget: &'b Budget,
    max_depth: usize,
    /// Values parsed for the revision being read, and how many may be: every value is kept in
    /// memory (about 128 bytes each) until the revision is dropped.
    values: Cell<usize>,
    max_values: usize,
    /// Bytes the values and entries read so far for this revision hold (see [`Budget::hold`]);
    /// held against the file's bound by the revision once it is read.
    held: Cell<usize>,
}

impl<'b> Syntax<'b> {
    fn new(budget: &'b Budget, limits: &ReadLimits) -> Self {
        Syntax {
            budget,
            max_depth: limits.max_depth,
            values: Cell::new(0),
            max_values: budget.max_values,
            held: Cell::new(0),
        }
    }

    /// Holds `bytes` more for this revision against the file's memory bound, or says that the
    /// bound stops the reading. What a revision holds is given back when its reading fails, or
    /// passed to the revision read ([`Syntax::into_held`]).
    fn hold(&self, bytes: usize, what: &'static str) -> Result<(), StrictError> {
        let after = self.budget.held().saturating_add(bytes);
        if after > self.budget.max_held {
            return Err(StrictError::Limit {
                limit: Limit::Memory,
                what,
                found: after as u64,
                max: self.budget.max_held as u64,
            });
        }
        self.budget.held.fetch_add(bytes, Ordering::Relaxed);
        self.held.set(self.held.get() + bytes);
        Ok(())
    }

    /// What this revision holds, now held by the returned guard.
    fn into_held(self) -> Held {
        Held {
            pool: self.budget.held.clone(),
            bytes: self.held.replace(0),
        }
    }
}

impl Drop for Syntax<'_> {
    fn drop(&mut self) {
        self.budget
            .held
            .fetch_sub(self.held.get(), Ordering::Relaxed);
    }
}

impl Syntax<'_> {
    /// Parses one direct object (a reference `n g R` counts as one).
    fn object(&self, lx: &mut Lexer<'_>, depth: usize) -> Result<Object, StrictError> {
        check_limit(
            Limit::Depth,
            "nesting of arrays and dictionaries",
            depth,
            self.max_depth,
        )?;
        self.budget.charge(OBJECT_COST, "parsed objects")?;
        let values = self.values.get() + 1;
        check_limit(
            Limit::Objects,
            "values parsed in one revision (memory bound)",
            values,
            self.max_values,
        )?;
        self.values.set(values);
        self.hold(VALUE_BYTES, "parsed values")?;
        lx.skip_ws();
        let start = lx.pos;
        let Some(b) = lx.peek() else {
            return Err(malformed(
                start,
                "unexpected end of data, expected an object",
            ));
        };
        let obj = match b {
            b'/' => Object::Name(self.name(lx)?),
            b'(' => Object::String(literal_string(lx)?, StringFormat::Literal),
            b'<' if lx.peek_at(1) == Some(b'<') => Object::Dictionary(self.dictionary(lx, depth)?),
            b'<' => Object::String(hex_string(lx)?, StringFormat::Hexadecimal),
            b'[' => {
                lx.pos += 1;
                let mut items = Vec::new();
                loop {
                    lx.skip_ws();
                    match lx.peek() {
                        Some(b']') => {
                            lx.pos += 1;
                            break;
                        }
                        None => return Err(malformed(lx.pos, "unterminated array")),
                        _ => {
                            let value = self.object(lx, depth + 1)?;
                            if items.len() == items.capacity() && items.len() >= 8 {
                                self.hold(items.len() * SLOT_BYTES, "parsed values")?;
                            }
                            items.push(value);
                        }
                    }
                }
                Object::Array(items)
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => number_or_reference(lx)?,
            _ => {
                let word = lx.token();
                match word {
                    b"true" => Object::Boolean(true),
                    b"false" => Object::Boolean(false),
                    b"null" => Object::Null,
                    _ => return Err(malformed(start, "expected an object")),
                }
            }
        };
        if let Object::Name(b) | Object::String(b, _) = &obj {
            self.hold(b.capacity(), "parsed strings and names")?;
        }
        // Bytes are charged once, by the outermost object (nested ones are inside its span).
        if depth == 0 {
            self.budget
                .charge((lx.pos - start) as u64, "parsed bytes")?;
        }
        Ok(obj)
    }

    fn name(&self, lx: &mut Lexer<'_>) -> Result<Vec<u8>, StrictError> {
        let start = lx.pos;
        lx.pos += 1; // '/'
        let raw = lx.token();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while let Some(&b) = raw.get(i) {
            if b == b'#' {
                let hex = raw
                    .get(i + 1..i + 3)
                    .ok_or_else(|| malformed(start, "bad # escape in a name"))?;
                let (Some(h), Some(l)) = (hex_val(hex[0]), hex_val(hex[1])) else {
                    return Err(malformed(start, "bad # escape in a name"));
                };
                out.push(h << 4 | l);
                i += 3;
            } else {
                out.push(b);
                i += 1;
            }
        }
        Ok(out)
    }

    fn dictionary(&self, lx: &mut Lexer<'_>, depth: usize) -> Result<Dictionary, StrictError> {
        lx.pos += 2; // '<<'
        let mut dict = Dictionary::new();
        loop {
            lx.skip_ws();
            match lx.peek() {
                Some(b'>') if lx.peek_at(1) == Some(b'>') => {
                    lx.pos += 2;
                    return Ok(dict);
                }
                Some(b'/') => {
                    let key = self.name(lx)?;
                    self.hold(key.capacity(), "parsed strings and names")?;
                    let value = self.object(lx, depth + 1)?;
                    if dict.has(&key) {
                        return Err(StrictError::Ambiguous {
                            objects: Vec::new(),
                            reason: format!(
                                "a dictionary has the key /{} twice",
                                String::from_utf8_lossy(&key)
                            ),
                        });
                    }
                    if dict.len() >= 8 && dict.len().is_power_of_two() {
                        self.hold(dict.len() * SLOT_BYTES, "parsed values")?;
                    }
                    dict.set(key, value);
                }
                None => return Err(malformed(lx.pos, "unterminated dictionary")),
                _ => return Err(malformed(lx.pos, "a dictionary key must be a name")),
            }
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A hex string: hex digits and whitespace only (readers differ on anything else).
pub(super) fn hex_string(lx: &mut Lexer<'_>) -> Result<Vec<u8>, StrictError> {
    let start = lx.pos;
    lx.pos += 1;
    let mut out = Vec::new();
    let mut high: Option<u8> = None;
    loop {
        let Some(b) = lx.peek() else {
            return Err(malformed(start, "unterminated hex string"));
        };
        lx.pos += 1;
        if b == b'>' {
            break;
        }
        if is_ws(b) {
            continue;
        }
        let v = hex_val(b)
            .ok_or_else(|| malformed(lx.pos - 1, "a hex string holds a non-hex character"))?;
        match high.take() {
            Some(h) => out.push(h << 4 | v),
            None => high = Some(v),
        }
    }
    if let Some(h) = high {
        out.push(h << 4);
    }
    Ok(out)
}

/// A literal string with its escapes; ends of lines inside it read as `\n` (ISO 32000-1, 7.3.4.2).
pub(super) fn literal_string(lx: &mut Lexer<'_>) -> Result<Vec<u8>, StrictError> {
    let start = lx.pos;
    lx.pos += 1;
    let mut out = Vec::new();
    let mut depth = 1usize;
    loop {
        let Some(b) = lx.peek() else {
            return Err(malformed(start, "unterminated literal string"));
        };
        lx.pos += 1;
        match b {
            b'(' => {
                depth += 1;
                out.push(b);
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(out);
                }
                out.push(b);
            }
            b'\r' => {
                if lx.peek() == Some(b'\n') {
                    lx.pos += 1;
                }
                out.push(b'\n');
            }
            b'\\' => {
                let Some(e) = lx.peek() else {
                    return Err(malformed(start, "unterminated literal string"));
                };
                lx.pos += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'(' | b')' | b'\\' => out.push(e),
                    b'\r' => {
                        if lx.peek() == Some(b'\n') {
                            lx.pos += 1;
                        }
                    }
                    b'\n' => {}
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match lx.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    lx.pos += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push((v & 0xff) as u8);
                    }
                    other => out.push(other),
                }
            }
            other => out.push(other),
        }
    }
}

/// A number, or `n g R` when two unsigned integers are followed by `R`.
fn number_or_reference(lx: &mut Lexer<'_>) -> Result<Object, StrictError> {
    let start = lx.pos;
    let save = lx.pos;
    if let Some(num) = lx.unsigned() {
        let after_num = lx.pos;
        let mut look = lx.clone();
        look.skip_ws();
        if look.pos > after_num
            && let Some(generation) = look.unsigned()
        {
            let after_gen = look.pos;
            look.skip_ws();
            if look.pos > after_gen && look.keyword(b"R") {
                let num = u32::try_from(num)
                    .map_err(|_| malformed(start, "object number out of range"))?;
                let generation = u16::try_from(generation)
                    .map_err(|_| malformed(start, "generation out of range"))?;
                lx.pos = look.pos;
                return Ok(Object::Reference((num, generation)));
            }
        }
        lx.pos = after_num;
        return i64::try_from(num)
            .map(Object::Integer)
            .map_err(|_| malformed(start, "integer out of range"));
    }
    lx.pos = save;
    let t = lx.token();
    let text = std::str::from_utf8(t).map_err(|_| malformed(start, "bad number"))?;
    let valid = {
        let body = text.strip_prefix(['+', '-']).unwrap_or(text);
        !body.is_empty()
            && body.bytes().filter(|b| *b == b'.').count() <= 1
            && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && body != "."
    };
    if !valid {
        return Err(malformed(start, "bad number"));
    }
    if text.contains('.') {
        let v: f64 = text.parse().map_err(|_| malformed(start, "bad number"))?;
        Ok(Object::Real(v as f32))
    } else {
        text.parse::<i64>()
            .map(Object::Integer)
            .map_err(|_| malformed(start, "integer out of range"))
    }
}

// ---------------------------------------------------------------------------------------------
// Cross-reference data.

/// Where a cross-reference entry says an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Free (deleted) in this section.
    Free,
    /// At this byte offset, with this generation.
    InFile {
        /// Byte offset of the object's header.
        offset: usize,
        /// Generation number.
        generation: u16,
    },
    /// Inside an object stream.
    InStream {
        /// The object stream's number.
        stream: u32,
        /// The slot in it.
        index: u32,
    },
}

/// One cross-reference section (a table with its trailer, or a stream).
#[derive(Debug)]
struct Section {
    entries: Vec<(u32, Entry)>,
    trailer: Dictionary,
    xref_stream: bool,
}

/// Memory one entry of a section being read costs (the entry, and the set that finds numbers
/// listed twice).
const SECTION_ENTRY_BYTES: usize = std::mem::size_of::<(u32, Entry)>() + 16;

/// The objects of a revision as its cross-reference chain defines them.
#[derive(Debug, Default)]
pub struct XrefChain {
    /// Object number to entry, newest section first wins.
    pub entries: BTreeMap<u32, Entry>,
    /// The newest section's trailer.
    pub trailer: Dictionary,
    /// Byte offsets of every section of the chain, newest first.
    pub sections: Vec<usize>,
    /// Whether the newest section is a cross-reference stream.
    pub xref_stream: bool,
}

/// A revision read strictly: the document and where its objects live.
#[derive(Debug)]
pub struct StrictRevision {
    /// The document; stream bodies hold the SHA-256 of their raw bytes.
    pub doc: Document,
    /// Every object's cross-reference entry and section offsets.
    pub xref: XrefChain,
    /// Object numbers whose entry leads to no such object (nothing reachable refers to them).
    pub unresolved: Vec<u32>,
    /// The memory the revision holds against the file's bound, given back when it is dropped.
    pub held: Held,
}

/// Reads one revision: the cross-reference chain starting at `startxref` inside `bytes` (the
/// revision's prefix of the file), then every object it defines.
pub fn read_revision(
    bytes: &[u8],
    startxref: usize,
    limits: &ReadLimits,
    budget: &Budget,
) -> Result<StrictRevision, StrictError> {
    let syntax = Syntax::new(budget, limits);
    let mut chain = read_chain(bytes, startxref, limits, &syntax)?;
    if chain.trailer.has(b"Encrypt") {
        return Err(StrictError::Encrypted);
    }
    let in_use = chain
        .entries
        .values()
        .filter(|e| !matches!(e, Entry::Free))
        .count();
    check_limit(
        Limit::Objects,
        "objects in one revision",
        in_use,
        limits.max_objects,
    )?;
    let mut reader = ObjectReader {
        bytes,
        syntax: &syntax,
        chain: &chain,
        limits,
        streams: HashMap::new(),
        streams_read: 0,
    };
    let mut objects = BTreeMap::new();
    let mut reference_table = Xref::new(
        0,
        if chain.xref_stream {
            XrefType::CrossReferenceStream
        } else {
            XrefType::CrossReferenceTable
        },
    );
    let mut max_id = 0;
    let mut unresolved: Vec<(u32, StrictError)> = Vec::new();
    // Objects in object streams are read stream by stream, each stream dropped once its objects
    // are parsed, so that one decoded object stream at a time is held in memory.
    let mut ordered: Vec<(u32, Entry)> = chain.entries.iter().map(|(n, e)| (*n, *e)).collect();
    ordered.sort_by_key(|(num, e)| match e {
        Entry::InStream { stream, index } => (1, *stream, *index, *num),
        _ => (0, 0, 0, *num),
    });
    let mut current_stream = None;
    for (num, entry) in ordered {
        if let Entry::InStream { stream, .. } = entry
            && current_stream != Some(stream)
            && let Some(done) = current_stream.replace(stream)
        {
            reader.streams.remove(&done);
        }
        let (id, obj) = match entry {
            Entry::Free => {
                reference_table.entries.insert(num, XrefEntry::Free);
                continue;
            }
            // Cross-reference streams were read as sections; as objects nothing refers to them,
            // and their dictionaries can be the largest of the file.
            Entry::InFile { offset, .. } if chain.sections.contains(&offset) => continue,
            Entry::InFile { offset, generation } => {
                let id = (num, generation);
                reference_table.entries.insert(
                    num,
                    XrefEntry::Normal {
                        offset: u32::try_from(offset).unwrap_or(u32::MAX),
                        generation,
                    },
                );
                match reader.in_file(id, offset) {
                    Ok(o) => (id, o),
                    Err(e @ StrictError::Unresolvable { .. }) => {
                        budget.charge(OBJECT_COST, "entries that lead nowhere")?;
                        syntax.hold(UNRESOLVED_BYTES, "entries that lead nowhere")?;
                        unresolved.push((num, e));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            Entry::InStream { stream, index } => {
                reference_table.entries.insert(
                    num,
                    XrefEntry::Compressed {
                        container: stream,
                        index: u16::try_from(index).unwrap_or(u16::MAX),
                    },
                );
                match reader.in_stream(num, stream, index) {
                    Ok(o) => ((num, 0), o),
                    Err(e @ StrictError::Unresolvable { .. }) => {
                        budget.charge(OBJECT_COST, "entries that lead nowhere")?;
                        syntax.hold(UNRESOLVED_BYTES, "entries that lead nowhere")?;
                        unresolved.push((num, e));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        max_id = max_id.max(num);
        objects.insert(id, obj);
    }
    // The last object stream read goes with the reader.
    drop(reader);
    let size = chain
        .trailer
        .get(b"Size")
        .ok()
        .and_then(|s| s.as_i64().ok())
        .and_then(|s| u32::try_from(s).ok())
        .unwrap_or(0);
    reference_table.size = size.max(max_id.saturating_add(1));
    // An entry that leads nowhere is harmless while nothing refers to it; a reference to it from
    // anything reachable is read one way here and another way by a repairing reader.
    if !unresolved.is_empty() {
        let referenced = referenced_from_trailer(&chain.trailer, &objects, limits);
        if let Some((num, e)) = unresolved.iter().find(|(n, _)| referenced.contains(n)) {
            let (objects, reason) = match e {
                StrictError::Unresolvable { objects, reason } => (objects.clone(), reason.clone()),
                other => (vec![format!("{num} 0")], other.to_string()),
            };
            return Err(StrictError::Ambiguous {
                objects,
                reason: format!("{reason}, and the document refers to object {num}"),
            });
        }
    }
    let mut doc = Document::new();
    doc.trailer = std::mem::take(&mut chain.trailer);
    doc.objects = objects;
    doc.max_id = max_id;
    doc.reference_table = reference_table;
    let held = syntax.into_held();
    Ok(StrictRevision {
        doc,
        xref: chain,
        unresolved: unresolved.into_iter().map(|(n, _)| n).collect(),
        held,
    })
}

/// Object numbers referred to by anything reachable from the trailer (including references to
/// objects that do not resolve).
fn referenced_from_trailer(
    trailer: &Dictionary,
    objects: &BTreeMap<ObjectId, Object>,
    limits: &ReadLimits,
) -> HashSet<u32> {
    fn refs(o: &Object, out: &mut Vec<ObjectId>) {
        match o {
            Object::Reference(id) => out.push(*id),
            Object::Array(a) => a.iter().for_each(|x| refs(x, out)),
            Object::Dictionary(d) => d.iter().for_each(|(_, x)| refs(x, out)),
            Object::Stream(s) => s.dict.iter().for_each(|(_, x)| refs(x, out)),
            _ => {}
        }
    }
    let mut queue = Vec::new();
    for key in [b"Root".as_slice(), b"Info"] {
        if let Ok(v) = trailer.get(key) {
            refs(v, &mut queue);
        }
    }
    let mut seen: HashSet<u32> = HashSet::new();
    let mut visited: HashSet<ObjectId> = HashSet::new();
    while let Some(id) = queue.pop() {
        seen.insert(id.0);
        if visited.len() > limits.max_objects || !visited.insert(id) {
            continue;
        }
        if let Some(o) = objects.get(&id) {
            refs(o, &mut queue);
        }
    }
    seen
}

/// Reads only the cross-reference chain of a revision (no object is parsed): where each object
/// of the revision lives. Used to name objects when the revision itself cannot be read.
pub fn read_xref(
    bytes: &[u8],
    startxref: usize,
    limits: &ReadLimits,
    budget: &Budget,
) -> Result<XrefChain, StrictError> {
    let syntax = Syntax::new(budget, limits);
    read_chain(bytes, startxref, limits, &syntax)
}

/// The decoded data of stream `id` of a revision read by [`read_revision`] (`bytes` is the
/// revision's prefix of the file, `chain` its cross-reference chain), decoded to at most `cap`
/// bytes and charged to `budget`. Only the filters of structural streams are decoded
/// (none, `/FlateDecode`, PNG predictors); anything else is [`StrictError::Unsupported`], which
/// a caller judging what a page draws treats as "draws everywhere".
pub fn stream_data(
    bytes: &[u8],
    chain: &XrefChain,
    id: ObjectId,
    limits: &ReadLimits,
    budget: &Budget,
    cap: usize,
) -> Result<Vec<u8>, StrictError> {
    let syntax = Syntax::new(budget, limits);
    let reader = ObjectReader {
        bytes,
        syntax: &syntax,
        chain,
        limits,
        streams: HashMap::new(),
        streams_read: 0,
    };
    let Some(Entry::InFile { offset, generation }) = chain.entries.get(&id.0).copied() else {
        return Err(malformed(
            0,
            format!("stream {} is not an object of the file", id_str(id)),
        ));
    };
    if generation != id.1 {
        return Err(malformed(
            offset,
            format!("stream {} has another generation", id_str(id)),
        ));
    }
    let mut lx = Lexer::new(bytes, offset);
    if header(&mut lx)? != id {
        return Err(unresolvable(
            vec![id_str(id)],
            format!("the entry of stream {} leads to another object", id_str(id)),
        ));
    }
    let Object::Dictionary(dict) = syntax.object(&mut lx, 0)? else {
        return Err(malformed(
            offset,
            format!("object {} is not a stream", id_str(id)),
        ));
    };
    let length = |r: ObjectId| -> Result<i64, StrictError> { reader.length_of(r) };
    let raw = stream_body(&mut lx, &dict, bytes, id, Some(&length))?;
    let cap = cap.min(limits.max_decompressed_total);
    let decoded = decode(raw, &dict, cap, budget, offset)?;
    match predictor_of(&dict, offset)? {
        Some(columns) => unpredict_png(&decoded.data, columns, offset),
        None => Ok(decoded.data),
    }
}

/// Follows `/Prev` (and `/XRefStm`) from `startxref`, newest first, merging the sections.
fn read_chain(
    bytes: &[u8],
    startxref: usize,
    limits: &ReadLimits,
    syntax: &Syntax<'_>,
) -> Result<XrefChain, StrictError> {
    let mut chain = XrefChain::default();
    let mut next = Some(startxref);
    let mut visited = HashSet::new();
    while let Some(at) = next.take() {
        if !visited.insert(at) {
            return Err(malformed(
                at,
                "the /Prev chain of cross-reference sections loops",
            ));
        }
        check_limit(
            Limit::Revisions,
            "cross-reference sections in one chain",
            visited.len(),
            limits.max_revisions,
        )?;
        let mut section = read_section(bytes, at, limits, syntax)?;
        chain.sections.push(at);
        let newest = chain.sections.len() == 1;
        let xref_stm = section.trailer.get(b"XRefStm").ok().cloned();
        let prev = section.trailer.get(b"Prev").ok().cloned();
        if newest {
            chain.trailer = std::mem::take(&mut section.trailer);
            chain.xref_stream = section.xref_stream;
        }
        let mut from_this: HashSet<u32> = HashSet::new();
        for &(num, entry) in &section.entries {
            from_this.insert(num);
            if let std::collections::btree_map::Entry::Vacant(v) = chain.entries.entry(num) {
                syntax.hold(ENTRY_BYTES, "cross-reference entries")?;
                v.insert(entry);
            }
        }
        // A hybrid file's table may point at a cross-reference stream for the objects it keeps in
        // object streams; that stream's entries rank just after the table's own.
        if !section.xref_stream
            && let Some(stm) = &xref_stm
        {
            let stm_at =
                offset_value(stm).ok_or_else(|| malformed(at, "/XRefStm is not an offset"))?;
            if !visited.insert(stm_at) {
                return Err(malformed(
                    stm_at,
                    "/XRefStm points at a section already read",
                ));
            }
            let stm = read_section(bytes, stm_at, limits, syntax)?;
            if !stm.xref_stream {
                return Err(malformed(
                    stm_at,
                    "/XRefStm does not point at a cross-reference stream",
                ));
            }
            chain.sections.push(stm_at);
            for &(num, entry) in &stm.entries {
                match (from_this.contains(&num), entry) {
                    (false, _) => {
                        if let std::collections::btree_map::Entry::Vacant(v) =
                            chain.entries.entry(num)
                        {
                            syntax.hold(ENTRY_BYTES, "cross-reference entries")?;
                            v.insert(entry);
                        }
                    }
                    // Listed in the table as free or unused: the stream's entry is the object.
                    (true, Entry::Free) => {}
                    (true, _) => {
                        if let Some(Entry::Free) = chain.entries.get(&num) {
                            chain.entries.insert(num, entry);
                        } else if chain.entries.get(&num) != Some(&entry) {
                            return Err(ambiguous(
                                vec![format!("{num} 0")],
                                format!(
                                    "object {num} is defined both by the table at byte {at} and by its /XRefStm"
                                ),
                            ));
                        }
                    }
                }
            }
        }
        next = match &prev {
            Some(p) => {
                Some(offset_value(p).ok_or_else(|| malformed(at, "/Prev is not an offset"))?)
            }
            None => None,
        };
        if let Some(p) = next
            && p >= bytes.len()
        {
            return Err(malformed(at, "/Prev points past the end of the revision"));
        }
    }
    Ok(chain)
}

fn offset_value(o: &Object) -> Option<usize> {
    match o {
        Object::Integer(n) => usize::try_from(*n).ok(),
        _ => None,
    }
}

/// Reads the section at `at`: a table `xref` … `trailer << >>`, or an `n g obj` cross-reference
/// stream. Duplicate object numbers within the section are refused.
fn read_section(
    bytes: &[u8],
    at: usize,
    limits: &ReadLimits,
    syntax: &Syntax<'_>,
) -> Result<Section, StrictError> {
    if at >= bytes.len() {
        return Err(malformed(
            at,
            "a cross-reference offset points past the end",
        ));
    }
    let mut lx = Lexer::new(bytes, at);
    lx.skip_ws();
    let section = if lx.keyword(b"xref") {
        read_table(&mut lx, at, limits, syntax)?
    } else {
        read_xref_stream(bytes, lx.pos, limits, syntax)?
    };
    let _held = syntax.budget.hold(
        section.entries.len().saturating_mul(SECTION_ENTRY_BYTES),
        "cross-reference entries",
    )?;
    let mut seen = HashSet::with_capacity(section.entries.len());
    let mut dups = Vec::new();
    for (num, _) in &section.entries {
        if !seen.insert(*num) && dups.len() < 16 {
            dups.push(format!("{num} 0"));
        }
    }
    if !dups.is_empty() {
        return Err(ambiguous(
            dups,
            format!("the cross-reference section at byte {at} lists the same object number twice"),
        ));
    }
    Ok(section)
}

/// Width of one entry of a cross-reference table: 10 + 1 + 5 + 1 + 1 + 2-byte end of line.
const TABLE_ENTRY_LEN: usize = 20;

fn read_table(
    lx: &mut Lexer<'_>,
    at: usize,
    limits: &ReadLimits,
    syntax: &Syntax<'_>,
) -> Result<Section, StrictError> {
    let mut entries = Vec::new();
    loop {
        lx.skip_ws();
        if lx.keyword(b"trailer") {
            break;
        }
        let sub_at = lx.pos;
        let first = lx
            .unsigned()
            .ok_or_else(|| malformed(sub_at, "expected a subsection header or `trailer`"))?;
        lx.skip_ws();
        let count = lx
            .unsigned()
            .ok_or_else(|| malformed(sub_at, "bad subsection header"))?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        // Counted before anything is allocated or parsed: the entries must fit both the limit
        // and the bytes that are actually there.
        check_limit(
            Limit::Objects,
            "entries in one cross-reference section",
            entries.len().saturating_add(count),
            limits.max_objects.min(syntax.max_values),
        )?;
        let need = count.saturating_mul(TABLE_ENTRY_LEN);
        if need > lx.bytes.len().saturating_sub(lx.pos) {
            return Err(malformed(
                sub_at,
                format!("a subsection declares {count} entries that the file does not hold"),
            ));
        }
        syntax
            .budget
            .charge(need as u64, "cross-reference entries")?;
        let first =
            u32::try_from(first).map_err(|_| malformed(sub_at, "object number out of range"))?;
        // The end of line after the header: one or two characters.
        if lx.peek() == Some(b' ') {
            lx.pos += 1;
        }
        match (lx.peek(), lx.peek_at(1)) {
            (Some(b'\r'), Some(b'\n')) => lx.pos += 2,
            (Some(b'\r' | b'\n'), _) => lx.pos += 1,
            _ => {
                return Err(malformed(
                    lx.pos,
                    "expected an end of line after a subsection header",
                ));
            }
        }
        entries.reserve(count);
        for i in 0..count {
            let e_at = lx.pos;
            let raw = lx
                .bytes
                .get(e_at..e_at + TABLE_ENTRY_LEN)
                .ok_or_else(|| malformed(e_at, "truncated cross-reference entry"))?;
            let ok_shape = raw[..10].iter().all(u8::is_ascii_digit)
                && raw[10] == b' '
                && raw[11..16].iter().all(u8::is_ascii_digit)
                && raw[16] == b' '
                && matches!(raw[17], b'n' | b'f')
                && matches!(&raw[18..20], b" \r" | b" \n" | b"\r\n");
            if !ok_shape {
                return Err(malformed(
                    e_at,
                    "a cross-reference entry is not 20 bytes of `nnnnnnnnnn ggggg n`",
                ));
            }
            let offset = digits(&raw[..10]);
            let generation = digits(&raw[11..16]);
            let num = first
                .checked_add(u32::try_from(i).unwrap_or(u32::MAX))
                .ok_or_else(|| malformed(e_at, "object number out of range"))?;
            let entry = if raw[17] == b'n' {
                Entry::InFile {
                    offset: offset as usize,
                    generation: u16::try_from(generation)
                        .map_err(|_| malformed(e_at, "generation out of range"))?,
                }
            } else {
                Entry::Free
            };
            entries.push((num, entry));
            lx.pos += TABLE_ENTRY_LEN;
        }
    }
    lx.skip_ws();
    if lx.peek() != Some(b'<') || lx.peek_at(1) != Some(b'<') {
        return Err(malformed(lx.pos, "expected the trailer dictionary"));
    }
    let trailer = syntax
        .dictionary(lx, 0)
        .map_err(|e| in_object(e, format!("trailer at byte {at}")))?;
    Ok(Section {
        entries,
        trailer,
        xref_stream: false,
    })
}

fn digits(d: &[u8]) -> u64 {
    d.iter().fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'))
}

/// Names the object an ambiguity was found in.
fn in_object(e: StrictError, what: String) -> StrictError {
    match e {
        StrictError::Ambiguous {
            mut objects,
            reason,
        } => {
            objects.insert(0, what);
            StrictError::Ambiguous { objects, reason }
        }
        other => other,
    }
}

fn read_xref_stream(
    bytes: &[u8],
    at: usize,
    limits: &ReadLimits,
    syntax: &Syntax<'_>,
) -> Result<Section, StrictError> {
    let mut lx = Lexer::new(bytes, at);
    let id = header(&mut lx)?;
    lx.skip_ws();
    if lx.peek() != Some(b'<') || lx.peek_at(1) != Some(b'<') {
        return Err(malformed(
            lx.pos,
            "a cross-reference stream must start with a dictionary",
        ));
    }
    let dict = syntax
        .dictionary(&mut lx, 0)
        .map_err(|e| in_object(e, id_str(id)))?;
    if dict.get(b"Type").ok().and_then(|t| t.as_name().ok()) != Some(b"XRef") {
        return Err(malformed(
            at,
            "startxref or /Prev points at neither a table nor an /XRef stream",
        ));
    }
    let int = |key: &[u8]| -> Option<i64> { dict.get(key).ok().and_then(|v| v.as_i64().ok()) };
    let size = int(b"Size")
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(|| malformed(at, "cross-reference stream without /Size"))?;
    let widths: Vec<usize> = match dict.get(b"W") {
        Ok(Object::Array(w)) if w.len() == 3 => w
            .iter()
            .map(|x| {
                x.as_i64()
                    .ok()
                    .and_then(|v| usize::try_from(v).ok())
                    .filter(|v| *v <= 8)
            })
            .collect::<Option<_>>()
            .ok_or_else(|| malformed(at, "/W must hold three widths of at most 8 bytes"))?,
        _ => return Err(malformed(at, "/W must hold three widths")),
    };
    let row = widths.iter().sum::<usize>();
    if row == 0 {
        return Err(malformed(at, "/W declares empty entries"));
    }
    let index: Vec<(u64, usize)> = match dict.get(b"Index") {
        Ok(Object::Array(ix)) => {
            if ix.len() % 2 != 0 {
                return Err(malformed(at, "/Index must hold pairs"));
            }
            ix.chunks_exact(2)
                .map(|p| {
                    let a = p[0].as_i64().ok().and_then(|v| u64::try_from(v).ok())?;
                    let n = p[1].as_i64().ok().and_then(|v| usize::try_from(v).ok())?;
                    Some((a, n))
                })
                .collect::<Option<_>>()
                .ok_or_else(|| malformed(at, "/Index must hold non-negative integers"))?
        }
        Err(_) => vec![(0, size)],
        Ok(_) => return Err(malformed(at, "/Index must be an array")),
    };
    // Counted before decompressing: the declared entries bound what may be decoded.
    let count = index
        .iter()
        .fold(0usize, |acc, (_, n)| acc.saturating_add(*n));
    check_limit(
        Limit::Objects,
        "entries in one cross-reference stream",
        count,
        limits.max_objects.min(syntax.max_values),
    )?;
    // Each entry is decoded, checked for duplicates and merged: charged before any is.
    syntax.budget.charge(
        (count as u64).saturating_mul(OBJECT_COST),
        "cross-reference entries",
    )?;
    let predictor = predictor_of(&dict, at)?;
    let need = count.saturating_mul(row + usize::from(predictor.is_some()));
    check_limit(
        Limit::Decompressed,
        "decoded bytes of a cross-reference stream",
        need,
        limits.max_decompressed_total,
    )?;
    let raw = stream_body(&mut lx, &dict, bytes, id, None)?;
    let decoded = decode(raw, &dict, need, syntax.budget, at)?;
    let data = match predictor {
        Some(columns) => {
            if columns != row {
                return Err(malformed(
                    at,
                    "/DecodeParms /Columns differs from the sum of /W",
                ));
            }
            unpredict_png(&decoded.data, columns, at)?
        }
        None => decoded.data,
    };
    if data.len() != count * row {
        return Err(malformed(
            at,
            format!(
                "the cross-reference stream holds {} bytes where /W and /Index declare {}",
                data.len(),
                count * row
            ),
        ));
    }
    let mut entries = Vec::with_capacity(count);
    let mut rows = data.chunks_exact(row);
    for (first, n) in index {
        for i in 0..n {
            let r = rows
                .next()
                .ok_or_else(|| malformed(at, "truncated cross-reference stream"))?;
            let (f1, rest) = r.split_at(widths[0]);
            let (f2, f3) = rest.split_at(widths[1]);
            let kind = if widths[0] == 0 { 1 } else { be(f1) };
            let num = first
                .checked_add(i as u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| malformed(at, "object number out of range"))?;
            let entry = match kind {
                0 => Entry::Free,
                1 => Entry::InFile {
                    offset: usize::try_from(be(f2)).unwrap_or(usize::MAX),
                    generation: u16::try_from(be(f3))
                        .map_err(|_| malformed(at, "generation out of range"))?,
                },
                2 => Entry::InStream {
                    stream: u32::try_from(be(f2))
                        .map_err(|_| malformed(at, "object stream number out of range"))?,
                    index: u32::try_from(be(f3))
                        .map_err(|_| malformed(at, "object stream index out of range"))?,
                },
                _ => {
                    return Err(malformed(
                        at,
                        format!("cross-reference stream entry of unknown type {kind}"),
                    ));
                }
            };
            entries.push((num, entry));
        }
    }
    Ok(Section {
        entries,
        trailer: dict,
        xref_stream: true,
    })
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
}

/// `Some(columns)` for a PNG predictor, `None` for none; anything else is refused.
fn predictor_of(dict: &Dictionary, at: usize) -> Result<Option<usize>, StrictError> {
    let parms = match dict.get(b"DecodeParms") {
        Ok(Object::Dictionary(d)) => d,
        Ok(Object::Array(a)) if a.len() == 1 => match &a[0] {
            Object::Dictionary(d) => d,
            Object::Null => return Ok(None),
            _ => return Err(malformed(at, "bad /DecodeParms")),
        },
        Ok(Object::Null) | Err(_) => return Ok(None),
        Ok(_) => return Err(malformed(at, "bad /DecodeParms")),
    };
    let p = parms
        .get(b"Predictor")
        .ok()
        .and_then(|p| p.as_i64().ok())
        .unwrap_or(1);
    match p {
        1 => Ok(None),
        10..=15 => {
            let colors = parms
                .get(b"Colors")
                .ok()
                .and_then(|c| c.as_i64().ok())
                .unwrap_or(1);
            let bpc = parms
                .get(b"BitsPerComponent")
                .ok()
                .and_then(|c| c.as_i64().ok())
                .unwrap_or(8);
            if colors != 1 || bpc != 8 {
                return Err(StrictError::Unsupported("predictor colour layout".into()));
            }
            let columns = parms
                .get(b"Columns")
                .ok()
                .and_then(|c| c.as_i64().ok())
                .unwrap_or(1);
            usize::try_from(columns)
                .ok()
                .filter(|c| *c > 0)
                .map(Some)
                .ok_or_else(|| malformed(at, "bad /Columns"))
        }
        other => Err(StrictError::Unsupported(format!("predictor {other}"))),
    }
}

/// Reverses PNG row filters (one filter-type byte per row of `columns` bytes, 1 byte per pixel).
fn unpredict_png(data: &[u8], columns: usize, at: usize) -> Result<Vec<u8>, StrictError> {
    let stride = columns + 1;
    if !data.len().is_multiple_of(stride) {
        return Err(malformed(at, "predicted data is not whole rows"));
    }
    let mut out = Vec::with_capacity(data.len() / stride * columns);
    let mut prev = vec![0u8; columns];
    for chunk in data.chunks_exact(stride) {
        let (kind, src) = (chunk[0], &chunk[1..]);
        let mut cur = vec![0u8; columns];
        for i in 0..columns {
            let left = if i > 0 { cur[i - 1] } else { 0 };
            let up = prev[i];
            let up_left = if i > 0 { prev[i - 1] } else { 0 };
            let pred = match kind {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                _ => return Err(malformed(at, "unknown PNG filter type")),
            };
            cur[i] = src[i].wrapping_add(pred);
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Decoded stream data, held against the file's memory bound while it lives.
#[derive(Debug)]
struct Decoded {
    data: Vec<u8>,
    _held: Held,
}

/// Decodes a structural stream (no filter, or `/FlateDecode`) to at most `cap` bytes: a body that
/// would decode to more is refused without decoding the rest. The size is found by a first pass
/// through a small buffer, so the data then takes one allocation of exactly its size (a growing
/// buffer would briefly hold up to three times it, and the allocator keeps what it frees).
fn decode(
    raw: &[u8],
    dict: &Dictionary,
    cap: usize,
    budget: &Budget,
    at: usize,
) -> Result<Decoded, StrictError> {
    let filter = match dict.get(b"Filter") {
        Err(_) | Ok(Object::Null) => None,
        Ok(Object::Name(n)) => Some(n.as_slice()),
        Ok(Object::Array(a)) if a.is_empty() => None,
        Ok(Object::Array(a)) if a.len() == 1 => {
            Some(a[0].as_name().map_err(|_| malformed(at, "bad /Filter"))?)
        }
        Ok(_) => return Err(StrictError::Unsupported("filter chain".into())),
    };
    match filter {
        None => {
            budget.charge(raw.len() as u64, "decoded structural streams")?;
            let held = budget.hold(raw.len(), "decoded stream bytes held at once")?;
            Ok(Decoded {
                data: raw.to_vec(),
                _held: held,
            })
        }
        Some(b"FlateDecode") => inflate(raw, cap, budget, at),
        Some(other) => Err(StrictError::Unsupported(format!(
            "filter /{}",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// Inflates a `/FlateDecode` body to at most `cap` bytes, charged to `budget` and held against its
/// memory bound while the result lives; see [`decode`].
fn inflate(raw: &[u8], cap: usize, budget: &Budget, at: usize) -> Result<Decoded, StrictError> {
    // Never decode more than the budget could pay for (each byte is inflated twice) or the memory
    // bound could hold.
    let affordable = usize::try_from(budget.left() / 2).unwrap_or(usize::MAX);
    let (limit, cap) = [
        (Limit::Decompressed, cap),
        (Limit::Work, affordable),
        (Limit::Memory, budget.room()),
    ]
    .into_iter()
    .min_by_key(|(_, c)| *c)
    .unwrap_or((Limit::Decompressed, cap));
    let inflate_error =
        |e: std::io::Error| malformed(at, format!("the stream does not inflate: {e}"));
    let mut z = flate2::read::ZlibDecoder::new(raw).take(cap as u64 + 1);
    let mut scratch = [0u8; 16 * 1024];
    let mut len = 0usize;
    loop {
        match z.read(&mut scratch) {
            Ok(0) => break,
            Ok(k) => len += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(inflate_error(e)),
        }
    }
    // Decoding stops one byte past what may be decoded: the rest is never inflated.
    if len > cap {
        return Err(StrictError::Limit {
            limit,
            what: "bytes a stream decodes to (more than declared or allowed)",
            found: len as u64,
            max: cap as u64,
        });
    }
    budget.charge(2 * len as u64, "decoded structural streams")?;
    let held = budget.hold(len, "decoded stream bytes held at once")?;
    let mut data = vec![0u8; len];
    flate2::read::ZlibDecoder::new(raw)
        .read_exact(&mut data)
        .map_err(inflate_error)?;
    Ok(Decoded { data, _held: held })
}

/// Inflates a `/FlateDecode` body read from an untrusted file to at most `cap` bytes, charged to
/// the file's `budget`; the bytes are held against its memory bound as long as the [`Held`]
/// returned with them lives.
pub fn inflate_held(
    raw: &[u8],
    cap: usize,
    budget: &Budget,
) -> Result<(Vec<u8>, Held), StrictError> {
    let Decoded { data, _held } = inflate(raw, cap, budget, 0)?;
    Ok((data, _held))
}

/// `n g obj` at the cursor.
fn header(lx: &mut Lexer<'_>) -> Result<ObjectId, StrictError> {
    lx.skip_ws();
    let at = lx.pos;
    let num = lx
        .unsigned()
        .ok_or_else(|| malformed(at, "expected an object header `n g obj`"))?;
    lx.skip_ws();
    let generation = lx
        .unsigned()
        .ok_or_else(|| malformed(at, "expected an object header `n g obj`"))?;
    lx.skip_ws();
    if !lx.keyword(b"obj") {
        return Err(malformed(at, "expected an object header `n g obj`"));
    }
    let num = u32::try_from(num).map_err(|_| malformed(at, "object number out of range"))?;
    let generation =
        u16::try_from(generation).map_err(|_| malformed(at, "generation out of range"))?;
    Ok((num, generation))
}

/// The body of the stream whose dictionary the cursor has just read, checked against `/Length`
/// and the `endstream` / `endobj` keywords that must follow it. `length` resolves an indirect
/// `/Length`.
fn stream_body<'a>(
    lx: &mut Lexer<'a>,
    dict: &Dictionary,
    bytes: &'a [u8],
    id: ObjectId,
    length: Option<&dyn Fn(ObjectId) -> Result<i64, StrictError>>,
) -> Result<&'a [u8], StrictError> {
    lx.skip_ws();
    let at = lx.pos;
    if !lx.keyword(b"stream") {
        return Err(malformed(
            at,
            format!("object {} is not a stream", id_str(id)),
        ));
    }
    match (lx.peek(), lx.peek_at(1)) {
        (Some(b'\r'), Some(b'\n')) => lx.pos += 2,
        (Some(b'\n'), _) => lx.pos += 1,
        _ => {
            return Err(malformed(
                lx.pos,
                "`stream` must be followed by an end of line",
            ));
        }
    }
    let len = match dict.get(b"Length") {
        Ok(Object::Integer(n)) => *n,
        Ok(Object::Reference(r)) => match length {
            Some(f) => f(*r)?,
            None => return Err(malformed(at, "a structural stream needs a direct /Length")),
        },
        _ => {
            return Err(malformed(
                at,
                format!("stream {} has no /Length", id_str(id)),
            ));
        }
    };
    let len = usize::try_from(len).map_err(|_| malformed(at, "negative /Length"))?;
    let start = lx.pos;
    let end = start
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| {
            malformed(
                at,
                format!("stream {} runs past the end of the revision", id_str(id)),
            )
        })?;
    lx.pos = end;
    lx.skip_ws();
    if lx.keyword(b"endstream") {
        lx.expect_keyword("endobj")?;
        return Ok(&bytes[start..end]);
    }
    // A wrong /Length (edited metadata is the usual case) is repaired the same way by every
    // viewer: the data ends at the first `endstream`. Structural streams get no such repair.
    if length.is_none() {
        return Err(malformed(
            lx.pos,
            format!("stream {} does not end where its /Length says", id_str(id)),
        ));
    }
    let found = memchr::memmem::find(&bytes[start..], b"endstream")
        .ok_or_else(|| malformed(start, format!("stream {} has no `endstream`", id_str(id))))?;
    let mut data_end = start + found;
    if bytes[..data_end].ends_with(b"\r\n") {
        data_end -= 2;
    } else if bytes[..data_end].ends_with(b"\n") || bytes[..data_end].ends_with(b"\r") {
        data_end -= 1;
    }
    lx.pos = start + found + b"endstream".len();
    lx.expect_keyword("endobj")?;
    Ok(&bytes[start..data_end])
}

/// A decoded object stream: each slot's object number and offset, and the decoded bytes.
#[derive(Debug)]
struct ObjStm {
    slots: Vec<(u32, usize)>,
    data: Vec<u8>,
    first: usize,
    /// The decoded bytes and the slots, held against the file's memory bound.
    _held: (Held, Held),
}

/// Resolves entries to objects for one revision.
struct ObjectReader<'r, 'b> {
    bytes: &'r [u8],
    syntax: &'r Syntax<'b>,
    chain: &'r XrefChain,
    limits: &'r ReadLimits,
    streams: HashMap<u32, Rc<ObjStm>>,
    /// Object streams decoded so far (each once, unless a stream's objects are not contiguous).
    streams_read: usize,
}

impl ObjectReader<'_, '_> {
    /// The object at `offset`, whose header must be `id`.
    fn in_file(&mut self, id: ObjectId, offset: usize) -> Result<Object, StrictError> {
        let mut lx = Lexer::new(self.bytes, offset);
        let found = header(&mut lx).map_err(|_| {
            unresolvable(
                vec![id_str(id)],
                format!("the cross-reference entry of object {} points at byte {offset}, where no object header is", id_str(id)),
            )
        })?;
        if found != id {
            return Err(unresolvable(
                vec![id_str(id), id_str(found)],
                format!(
                    "the cross-reference entry of object {} points at the header of object {}",
                    id_str(id),
                    id_str(found)
                ),
            ));
        }
        let obj = self
            .syntax
            .object(&mut lx, 0)
            .map_err(|e| in_object(e, id_str(id)))?;
        lx.skip_ws();
        if lx.keyword(b"endobj") {
            return Ok(obj);
        }
        let Object::Dictionary(dict) = obj else {
            return Err(malformed(
                lx.pos,
                format!("object {} lacks `endobj`", id_str(id)),
            ));
        };
        let length = |r: ObjectId| -> Result<i64, StrictError> { self.length_of(r) };
        let body = stream_body(&mut lx, &dict, self.bytes, id, Some(&length))?;
        let digest = self.digest((offset, body.len()), body)?;
        let mut stream = Stream::new(Dictionary::new(), digest);
        stream.dict = dict;
        stream.start_position = None;
        Ok(Object::Stream(stream))
    }

    fn digest(&self, key: (usize, usize), body: &[u8]) -> Result<Vec<u8>, StrictError> {
        if let Some(d) = self.syntax.budget.digests.borrow().get(&key) {
            return Ok(d.to_vec());
        }
        self.syntax.budget.charge(
            body.len() as u64 / HASH_BYTES_PER_UNIT,
            "hashed stream bytes",
        )?;
        let d = ring::digest::digest(&ring::digest::SHA256, body);
        let mut arr = [0u8; 32];
        arr.copy_from_slice(d.as_ref());
        self.syntax.budget.digests.borrow_mut().insert(key, arr);
        Ok(arr.to_vec())
    }

    /// An indirect `/Length`: an integer object defined in the file itself.
    fn length_of(&self, r: ObjectId) -> Result<i64, StrictError> {
        let Some(Entry::InFile { offset, generation }) = self.chain.entries.get(&r.0).copied()
        else {
            return Err(malformed(
                0,
                format!("the /Length object {} is not in the file", id_str(r)),
            ));
        };
        if generation != r.1 {
            return Err(malformed(
                offset,
                format!("the /Length object {} has another generation", id_str(r)),
            ));
        }
        let mut lx = Lexer::new(self.bytes, offset);
        let found = header(&mut lx)?;
        if found != r {
            return Err(ambiguous(
                vec![id_str(r), id_str(found)],
                format!(
                    "the cross-reference entry of object {} points at the header of object {}",
                    id_str(r),
                    id_str(found)
                ),
            ));
        }
        match self.syntax.object(&mut lx, 0)? {
            Object::Integer(n) => {
                lx.expect_keyword("endobj")?;
                Ok(n)
            }
            _ => Err(malformed(
                offset,
                format!("the /Length object {} is not an integer", id_str(r)),
            )),
        }
    }

    /// Object `num` in slot `index` of object stream `stream`.
    fn in_stream(&mut self, num: u32, stream: u32, index: u32) -> Result<Object, StrictError> {
        let id = (num, 0);
        let objstm = self.object_stream(stream)?;
        let &(slot_num, slot_off) = objstm.slots.get(index as usize).ok_or_else(|| {
            unresolvable(
                vec![id_str(id), format!("{stream} 0")],
                format!("object {num} is said to be in slot {index} of object stream {stream}, which has no such slot"),
            )
        })?;
        if slot_num != num {
            return Err(unresolvable(
                vec![id_str(id), format!("{slot_num} 0"), format!("{stream} 0")],
                format!(
                    "the cross-reference entry of object {num} points at slot {index} of object stream {stream}, which holds object {slot_num}"
                ),
            ));
        }
        let start = objstm
            .first
            .checked_add(slot_off)
            .filter(|s| *s <= objstm.data.len())
            .ok_or_else(|| {
                malformed(
                    0,
                    format!("object stream {stream}: slot {index} lies outside it"),
                )
            })?;
        let end = objstm
            .slots
            .get(index as usize + 1)
            .map_or(objstm.data.len(), |(_, o)| objstm.first.saturating_add(*o))
            .min(objstm.data.len());
        let data = objstm.data.get(start..end).unwrap_or_default();
        let mut lx = Lexer::new(data, 0);
        let obj = self
            .syntax
            .object(&mut lx, 0)
            .map_err(|e| in_object(e, id_str(id)))?;
        lx.skip_ws();
        if lx.peek().is_some() {
            return Err(malformed(
                start,
                format!("object {num} in object stream {stream} is followed by more data"),
            ));
        }
        Ok(obj)
    }

    fn object_stream(&mut self, stream: u32) -> Result<Rc<ObjStm>, StrictError> {
        if let Some(s) = self.streams.get(&stream) {
            return Ok(s.clone());
        }
        let sid = (stream, 0);
        let Some(Entry::InFile {
            offset,
            generation: 0,
        }) = self.chain.entries.get(&stream).copied()
        else {
            return Err(malformed(
                0,
                format!("object stream {stream} is not an uncompressed object of generation 0"),
            ));
        };
        check_limit(
            Limit::Objects,
            "object streams in one revision",
            self.streams_read + 1,
            self.limits.max_object_streams,
        )?;
        self.streams_read += 1;
        let mut lx = Lexer::new(self.bytes, offset);
        let found = header(&mut lx)?;
        if found != sid {
            return Err(ambiguous(
                vec![format!("{stream} 0"), id_str(found)],
                format!(
                    "the cross-reference entry of object stream {stream} points at the header of object {}",
                    id_str(found)
                ),
            ));
        }
        lx.skip_ws();
        if lx.peek() != Some(b'<') || lx.peek_at(1) != Some(b'<') {
            return Err(malformed(
                lx.pos,
                format!("object stream {stream} has no dictionary"),
            ));
        }
        let dict = self
            .syntax
            .dictionary(&mut lx, 0)
            .map_err(|e| in_object(e, id_str(sid)))?;
        if dict.get(b"Type").ok().and_then(|t| t.as_name().ok()) != Some(b"ObjStm") {
            return Err(malformed(
                offset,
                format!("object {stream} is not an object stream"),
            ));
        }
        let n = dict
            .get(b"N")
            .ok()
            .and_then(|v| v.as_i64().ok())
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| malformed(offset, "object stream without /N"))?;
        let first = dict
            .get(b"First")
            .ok()
            .and_then(|v| v.as_i64().ok())
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| malformed(offset, "object stream without /First"))?;
        // Counted before decoding: each slot costs at least a pair of numbers and an object.
        check_limit(
            Limit::Objects,
            "objects in one object stream",
            n,
            self.limits.max_objects.min(self.syntax.max_values),
        )?;
        self.syntax.budget.charge(
            (n as u64).saturating_mul(OBJECT_COST),
            "objects in object streams",
        )?;
        let length = |r: ObjectId| -> Result<i64, StrictError> { self.length_of(r) };
        let raw = stream_body(&mut lx, &dict, self.bytes, sid, Some(&length))?;
        let cap = self
            .limits
            .max_decompressed_total
            .min(self.syntax.budget.max_decoded);
        let Decoded {
            data,
            _held: data_held,
        } = decode(raw, &dict, cap, self.syntax.budget, offset)?;
        let slots_held = self.syntax.budget.hold(
            n.saturating_mul(std::mem::size_of::<(u32, usize)>() + 16),
            "object stream slots",
        )?;
        let head = data
            .get(..first)
            .ok_or_else(|| malformed(offset, "/First lies past the end of the object stream"))?;
        let mut hl = Lexer::new(head, 0);
        let mut slots = Vec::with_capacity(n);
        let mut seen = HashSet::with_capacity(n);
        let mut last = None;
        for _ in 0..n {
            hl.skip_ws();
            let num = hl.unsigned().and_then(|v| u32::try_from(v).ok());
            hl.skip_ws();
            let off = hl.unsigned().and_then(|v| usize::try_from(v).ok());
            let (Some(num), Some(off)) = (num, off) else {
                return Err(malformed(
                    offset,
                    format!("object stream {stream}: bad header pairs"),
                ));
            };
            if !seen.insert(num) {
                return Err(ambiguous(
                    vec![format!("{num} 0"), format!("{stream} 0")],
                    format!("object stream {stream} holds object {num} twice"),
                ));
            }
            if last.is_some_and(|l| off <= l) {
                return Err(malformed(
                    offset,
                    format!("object stream {stream}: offsets are not increasing"),
                ));
            }
            last = Some(off);
            slots.push((num, off));
        }
        let s = Rc::new(ObjStm {
            slots,
            data,
            first,
            _held: (data_held, slots_held),
        });
        self.streams.insert(stream, s.clone());
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> Result<Object, StrictError> {
        let budget = Budget::with_total(1 << 20);
        let syntax = Syntax {
            budget: &budget,
            max_depth: 8,
            values: Cell::new(0),
            max_values: 1 << 20,
            held: Cell::new(0),
        };
        syntax.object(&mut Lexer::new(text, 0), 0)
    }

    #[test]
    fn objects_parse_as_a_viewer_reads_them() {
        assert_eq!(parse(b"12 0 R").unwrap(), Object::Reference((12, 0)));
        assert_eq!(parse(b"12 0").unwrap(), Object::Integer(12));
        assert_eq!(parse(b"-3.5").unwrap(), Object::Real(-3.5));
        assert_eq!(parse(b"/A#20B").unwrap(), Object::Name(b"A B".to_vec()));
        assert_eq!(
            parse(b"(a\\(b\\)\\101\r\n)").unwrap(),
            Object::String(b"a(b)A\n".to_vec(), StringFormat::Literal)
        );
        assert_eq!(
            parse(b"<0a 0B1>").unwrap(),
            Object::String(vec![0x0a, 0x0b, 0x10], StringFormat::Hexadecimal)
        );
        let Object::Dictionary(d) = parse(b"<</A [1 2 0 R /N] /B<</C true>>>>").unwrap() else {
            panic!("not a dictionary")
        };
        assert_eq!(
            d.get(b"A").unwrap(),
            &Object::Array(vec![
                Object::Integer(1),
                Object::Reference((2, 0)),
                Object::Name(b"N".to_vec())
            ])
        );
    }

    #[test]
    fn ambiguous_or_hostile_syntax_is_refused() {
        assert!(matches!(
            parse(b"<</Contents <00> /Contents <01>>>"),
            Err(StrictError::Ambiguous { .. })
        ));
        assert!(matches!(parse(b"<0g>"), Err(StrictError::Malformed { .. })));
        assert!(matches!(
            parse(&[b'['; 100]),
            Err(StrictError::Limit {
                limit: Limit::Depth,
                ..
            })
        ));
        assert!(parse(b"<</A 1").is_err());
        assert!(parse(b"(unterminated").is_err());
        let budget = Budget::with_total(10);
        assert!(matches!(
            budget.charge(11, "x"),
            Err(StrictError::Limit {
                limit: Limit::Work,
                ..
            })
        ));
    }

    fn file(objects: &[&str], xref: impl Fn(&[usize]) -> String) -> (Vec<u8>, usize) {
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for o in objects {
            offsets.push(out.len());
            out.extend_from_slice(o.as_bytes());
        }
        let at = out.len();
        out.extend_from_slice(xref(&offsets).as_bytes());
        (out, at)
    }

    #[test]
    fn a_section_listing_an_object_twice_is_ambiguous() {
        let (bytes, at) = file(&["1 0 obj\n<</Type/Catalog>>\nendobj\n"], |o| {
            format!(
                "xref\n0 2\n0000000000 65535 f \n{:010} 00000 n \n1 1\n{:010} 00000 n \ntrailer\n<</Size 2/Root 1 0 R>>\n",
                o[0], o[0]
            )
        });
        let e = read_revision(
            &bytes,
            at,
            &ReadLimits::default(),
            &Budget::for_file(bytes.len()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, StrictError::Ambiguous { objects, .. } if objects == &["1 0"]),
            "{e}"
        );
    }

    #[test]
    fn an_entry_pointing_at_another_objects_header_is_ambiguous() {
        let aliased = |catalog: &str| {
            file(&[catalog, "2 0 obj\n(two)\nendobj\n"], |o| {
                format!(
                    "xref\n0 3\n0000000000 65535 f \n{:010} 00000 n \n{:010} 00000 n \ntrailer\n<</Size 3/Root 1 0 R>>\n",
                    o[0], o[0]
                )
            })
        };
        // Nothing refers to object 2: its stale entry is kept aside, not read as object 1.
        let (bytes, at) = aliased("1 0 obj\n<</Type/Catalog>>\nendobj\n");
        let rev = read_revision(
            &bytes,
            at,
            &ReadLimits::default(),
            &Budget::for_file(bytes.len()),
        )
        .unwrap();
        assert_eq!(rev.unresolved, vec![2]);
        assert!(!rev.doc.objects.contains_key(&(2, 0)));
        // The catalog refers to it: ambiguous.
        let (bytes, at) = aliased("1 0 obj\n<</Type/Catalog/X 2 0 R>>\nendobj\n");
        let e = read_revision(
            &bytes,
            at,
            &ReadLimits::default(),
            &Budget::for_file(bytes.len()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, StrictError::Ambiguous { objects, .. } if objects[0] == "2 0"),
            "{e}"
        );
    }

    #[test]
    fn a_trailer_with_two_roots_is_ambiguous() {
        let (bytes, at) = file(&["1 0 obj\n<</Type/Catalog>>\nendobj\n"], |o| {
            format!(
                "xref\n0 2\n0000000000 65535 f \n{:010} 00000 n \ntrailer\n<</Size 2/Root 1 0 R/Root 1 0 R>>\n",
                o[0]
            )
        });
        let e = read_revision(
            &bytes,
            at,
            &ReadLimits::default(),
            &Budget::for_file(bytes.len()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, StrictError::Ambiguous { objects, .. } if objects[0].starts_with("trailer")),
            "{e}"
        );
    }

    #[test]
    fn huge_declared_sections_are_refused_before_work() {
        let (bytes, at) = file(&[], |_| {
            "xref\n0 60000000\n0000000000 65535 f \ntrailer\n<<>>\n".into()
        });
        assert!(
            read_revision(
                &bytes,
                at,
                &ReadLimits::default(),
                &Budget::for_file(bytes.len())
            )
            .is_err()
        );
        let limits = ReadLimits {
            max_objects: 10,
            ..ReadLimits::default()
        };
        let (bytes, at) = file(&[], |_| {
            "xref\n0 11\n".to_string() + &"0000000000 65535 f \n".repeat(11) + "trailer\n<<>>\n"
        });
        assert!(matches!(
            read_revision(&bytes, at, &limits, &Budget::for_file(bytes.len())),
            Err(StrictError::Limit {
                limit: Limit::Objects,
                ..
            })
        ));
    }

    #[test]
    fn xref_streams_and_object_streams_are_read() {
        // Object 2 lives in object stream 3; the xref stream (4) has no filter and no predictor.
        let objstm_data = b"2 0 (in stream)";
        let obj3 = format!(
            "3 0 obj\n<</Type/ObjStm/N 1/First 4/Length {}>>stream\n{}\nendstream\nendobj\n",
            objstm_data.len(),
            std::str::from_utf8(objstm_data).unwrap()
        );
        let mut out = b"%PDF-1.7\n".to_vec();
        let o1 = out.len();
        out.extend_from_slice(b"1 0 obj\n<</Type/Catalog>>\nendobj\n");
        let o3 = out.len();
        out.extend_from_slice(obj3.as_bytes());
        let o4 = out.len();
        let mut rows = Vec::new();
        let mut row = |t: u8, a: u32, b: u16| {
            rows.push(t);
            rows.extend_from_slice(&a.to_be_bytes());
            rows.extend_from_slice(&b.to_be_bytes());
        };
        row(0, 0, 65535);
        row(1, o1 as u32, 0);
        row(2, 3, 0);
        row(1, o3 as u32, 0);
        row(1, o4 as u32, 0);
        out.extend_from_slice(
            format!(
                "4 0 obj\n<</Type/XRef/Size 5/W[1 4 2]/Root 1 0 R/Length {}>>stream\n",
                rows.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&rows);
        out.extend_from_slice(b"\nendstream\nendobj\n");
        let rev = read_revision(
            &out,
            o4,
            &ReadLimits::default(),
            &Budget::for_file(out.len()),
        )
        .unwrap();
        assert_eq!(
            rev.doc.objects.get(&(2, 0)),
            Some(&Object::String(
                b"in stream".to_vec(),
                StringFormat::Literal
            ))
        );
        assert!(rev.xref.xref_stream);
        // The same object stream holding object 2 twice is ambiguous.
        let dup_data = b"2 0 2 11 (in stream)(other)";
        let mut bad = out.clone();
        let obj3_dup = format!(
            "3 0 obj\n<</Type/ObjStm/N 2/First 9/Length {}>>stream\n{}\nendstream\nendobj\n",
            dup_data.len(),
            std::str::from_utf8(dup_data).unwrap()
        );
        bad.splice(o3..o3 + obj3.len(), obj3_dup.bytes());
        // Offsets after the replaced object moved: rebuild only what the test needs.
        let shift = obj3_dup.len() as i64 - obj3.len() as i64;
        let o4b = (o4 as i64 + shift) as usize;
        let mut rows = Vec::new();
        for (t, a, b) in [
            (0u8, 0u32, 65535u16),
            (1, o1 as u32, 0),
            (2, 3, 0),
            (1, o3 as u32, 0),
            (1, o4b as u32, 0),
        ] {
            rows.push(t);
            rows.extend_from_slice(&a.to_be_bytes());
            rows.extend_from_slice(&b.to_be_bytes());
        }
        bad.truncate(o4b);
        bad.extend_from_slice(
            format!(
                "4 0 obj\n<</Type/XRef/Size 5/W[1 4 2]/Root 1 0 R/Length {}>>stream\n",
                rows.len()
            )
            .as_bytes(),
        );
        bad.extend_from_slice(&rows);
        bad.extend_from_slice(b"\nendstream\nendobj\n");
        let e = read_revision(
            &bad,
            o4b,
            &ReadLimits::default(),
            &Budget::for_file(bad.len()),
        )
        .unwrap_err();
        assert!(
            matches!(&e, StrictError::Ambiguous { objects, .. } if objects[0] == "2 0"),
            "{e}"
        );
    }

    #[test]
    fn png_up_predictor_round_trips() {
        let data = [2u8, 1, 2, 2, 1, 1];
        assert_eq!(unpredict_png(&data, 2, 0).unwrap(), vec![1, 2, 2, 3]);
    }
}
