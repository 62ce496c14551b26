//! Rendering a template to PDF with typst used as a library.
//!
//! The [`Renderer`] owns everything that does not change between documents: the embedded fonts,
//! the parsed template sources, the font book and typst's standard library. Each render builds a
//! small [`World`] around it that serves the document's data as one more file,
//! [`INPUTS_PATH`], CBOR that the templates decode with typst's `cbor` (values, never source text,
//! so nothing a citizen types can be read as markup).
//!
//! Why a file and not `sys.inputs`: inputs live inside the standard library, so every document
//! had a new library, which typst hashes in full (0.4 ms) and which invalidates every memoised
//! evaluation and layout result of the document before. With one library for all documents,
//! typst reuses the layout of everything that did not change, the header, the motto, the
//! capacity line, from one certification to the next. For the same reason only each kind's main
//! file reads the inputs (with `kyso-inputs()`): the shared `templates/common/layout.typ` reads no
//! file, so typst evaluates it once and reuses it for every document.
//!
//! Rendering is CPU-bound and synchronous: async callers run it on a blocking thread.
//!
//! After layout, the document is asked where the templates put their signature boxes (metadata
//! elements labelled `<kyso-sig>`), so field rectangles come from the real layout rather than from
//! coordinates repeated per template.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Dict, Duration, Label, Selector, Smart, Value};
use typst::introspection::MetadataElem;
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::{LazyHash, PicoStr};
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

/// The fonts every certification uses: Kyso Serif, which is Liberation Serif 2.1.5 (SIL OFL 1.1,
/// metric-compatible with Times New Roman, full Vietnamese coverage) with its TrueType hinting
/// removed, compiled into the binary so that rendering never depends on what is installed on the
/// server. Hinting is useless in a PDF that is scaled or printed, yet it was 40 % of the glyf table
/// plus the cvt, fpgm and prep tables, all copied into each document's font subsets and deflated
/// again for every document; without it PDFs are smaller and cheaper to write. The family is
/// renamed because "Liberation" and "Tinos" are Reserved Font Names, which a modified font may not
/// use (OFL §3). `fonts/dehint.py` makes these files from the originals (see `fonts/README.md`).
const FONTS: [&[u8]; 4] = [
    include_bytes!("../../fonts/KysoSerif-Regular.ttf"),
    include_bytes!("../../fonts/KysoSerif-Bold.ttf"),
    include_bytes!("../../fonts/KysoSerif-Italic.ttf"),
    include_bytes!("../../fonts/KysoSerif-BoldItalic.ttf"),
];

/// The embedded faces, parsed.
pub(crate) fn embedded_fonts() -> Vec<Font> {
    FONTS
        .iter()
        .flat_map(|data| Font::iter(Bytes::new(*data)))
        .collect()
}

/// The virtual file that holds a document's inputs (keys `data` and `meta`) as CBOR, read by each
/// template through `kyso-inputs()`. Dates are maps `{"kyso-date": [year, month, day]}`, which
/// `templates/common/layout.typ` turns back into typst datetimes; a template field can never
/// produce such a map, as schemas name their fields.
pub const INPUTS_PATH: &str = "/kyso/inputs.cbor";

/// Renders between two evictions of typst's memoisation cache (see [`Renderer::compile`]).
const EVICT_EVERY: u64 = 8;

/// The label templates give to signature-field markers (see `templates/common/layout.typ`).
const SIG_LABEL: &str = "kyso-sig";

/// Why a document could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The template failed to compile or lay out (a template defect, or data it cannot handle).
    #[error("template {kind} failed: {message}")]
    Typst {
        /// The kind.
        kind: String,
        /// typst's diagnostics, joined.
        message: String,
    },
    /// PDF export failed.
    #[error("PDF export of {kind} failed: {message}")]
    Export {
        /// The kind.
        kind: String,
        /// typst's diagnostics, joined.
        message: String,
    },
    /// A signature-field marker is malformed or missing.
    #[error("template {kind}: signature field markers: {message}")]
    Fields {
        /// The kind.
        kind: String,
        /// What is wrong.
        message: String,
    },
    /// The kind has no template.
    #[error("no template for kind {0:?}")]
    UnknownKind(String),
    /// Adding the signature fields to the PDF failed.
    #[error("adding signature fields: {0}")]
    Pdf(String),
}

/// Where a template placed an empty signature field, in PDF user space (points, origin at the
/// bottom-left of the page).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPlacement {
    /// The field name (`ChuKyLanhDao` for the official, `DauCoQuan` for the agency seal), the
    /// name `kyso sign --field` takes.
    pub name: String,
    /// Whose signature goes there: `official` or `seal`.
    pub role: String,
    /// The page, starting at 1.
    pub page: usize,
    /// `[x0, y0, x1, y1]`.
    pub rect: [f64; 4],
}

/// A rendered certification before fields are added.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The PDF as typst wrote it.
    pub pdf: Vec<u8>,
    /// Page sizes in points (width, height).
    pub page_sizes: Vec<(f64, f64)>,
    /// The signature fields the layout placed.
    pub fields: Vec<FieldPlacement>,
}

/// Renders templates; build once, share across threads (it is `Send + Sync`).
pub struct Renderer {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    sources: HashMap<FileId, Source>,
    mains: HashMap<String, FileId>,
    library: LazyHash<Library>,
    inputs: FileId,
    /// Documents rendered so far, which paces cache eviction.
    renders: AtomicU64,
    /// Bounds the renders running at once (see [`RenderGate`]).
    gate: RenderGate,
}

/// At most one render per core at once. A render is CPU work from start to end, so more at
/// once finish no sooner, while each holds its own layout and PDF-writer buffers (a zlib state
/// per stream): the service runs twice as many blocking workers as cores, so that fsyncs
/// overlap, and without the gate a burst of issue requests renders on all of them at once.
struct RenderGate {
    running: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
    limit: usize,
}

struct RenderSlot<'a>(&'a RenderGate);

impl RenderGate {
    fn new() -> RenderGate {
        RenderGate {
            running: std::sync::Mutex::new(0),
            freed: std::sync::Condvar::new(),
            limit: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }

    fn enter(&self) -> RenderSlot<'_> {
        let mut n = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= self.limit {
            n = self.freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        RenderSlot(self)
    }
}

impl Drop for RenderSlot<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

/// One template source to load: its virtual path (`/certified-copy/template.typ`) and text.
pub struct SourceFile<'a> {
    /// Path inside the template tree, starting with `/`.
    pub path: &'a str,
    /// The typst source.
    pub text: &'a str,
}

fn file_id(path: &str) -> Option<FileId> {
    let vpath = VirtualPath::new(path).ok()?;
    Some(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

impl Renderer {
    /// Loads the embedded fonts and the given sources; `mains` maps each kind to its main file.
    pub fn new<'a>(
        files: impl IntoIterator<Item = SourceFile<'a>>,
        mains: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Renderer, RenderError> {
        let fonts = embedded_fonts();
        let book = LazyHash::new(FontBook::from_fonts(&fonts));
        let mut sources = HashMap::new();
        for f in files {
            let id = file_id(f.path).ok_or_else(|| RenderError::UnknownKind(f.path.to_owned()))?;
            sources.insert(id, Source::new(id, f.text.to_owned()));
        }
        let mut main_ids = HashMap::new();
        for (kind, path) in mains {
            let id = file_id(path)
                .filter(|id| sources.contains_key(id))
                .ok_or_else(|| RenderError::UnknownKind(kind.to_owned()))?;
            main_ids.insert(kind.to_owned(), id);
        }
        let inputs =
            file_id(INPUTS_PATH).ok_or_else(|| RenderError::UnknownKind(INPUTS_PATH.to_owned()))?;
        let library = LazyHash::new(Library::builder().build());
        Ok(Renderer {
            book,
            fonts,
            sources,
            mains: main_ids,
            library,
            inputs,
            renders: AtomicU64::new(0),
            gate: RenderGate::new(),
        })
    }

    /// The font faces typst can use: the only ones in its book, so the only ones that can draw.
    pub fn fonts(&self) -> &[Font] {
        &self.fonts
    }

    /// Renders `kind` with `inputs` (keys `data` and `meta`) served as [`INPUTS_PATH`]; `today` is what
    /// `datetime.today()` returns (the issue date in Vietnam). `ident` seeds the PDF's /ID.
    pub fn render(
        &self,
        kind: &str,
        inputs: Dict,
        today: Datetime,
        ident: &str,
    ) -> Result<Rendered, RenderError> {
        let (doc, pdf) = self.compile(kind, inputs, today, ident)?;
        let fields = signature_fields(&doc).map_err(|message| RenderError::Fields {
            kind: kind.to_owned(),
            message,
        })?;
        let page_sizes = doc
            .pages()
            .iter()
            .map(|p| (p.frame.width().to_pt(), p.frame.height().to_pt()))
            .collect();
        Ok(Rendered {
            pdf,
            page_sizes,
            fields,
        })
    }

    /// Renders `kind` to PDF without signature fields (appearance snippets).
    pub fn render_plain(
        &self,
        kind: &str,
        inputs: Dict,
        today: Datetime,
        ident: &str,
    ) -> Result<Vec<u8>, RenderError> {
        Ok(self.compile(kind, inputs, today, ident)?.1)
    }

    fn compile(
        &self,
        kind: &str,
        inputs: Dict,
        today: Datetime,
        ident: &str,
    ) -> Result<(PagedDocument, Vec<u8>), RenderError> {
        let _slot = self.gate.enter();
        // typst lays out and exports with rayon's parallel iterators. Started from a thread
        // outside rayon's pool (a request's blocking worker), each of them is handed to a pool
        // thread while the caller sleeps, and the pool's threads spin a while before they sleep
        // again: several hand-overs per document, and context switches that cost more than a
        // one-page certification gains from running in parallel. Run on a pool thread from the
        // start, the whole render is handed over once and its parallel parts run there.
        rayon::scope(|_| self.compile_in_pool(kind, inputs, today, ident))
    }

    fn compile_in_pool(
        &self,
        kind: &str,
        inputs: Dict,
        today: Datetime,
        ident: &str,
    ) -> Result<(PagedDocument, Vec<u8>), RenderError> {
        let main = *self
            .mains
            .get(kind)
            .ok_or_else(|| RenderError::UnknownKind(kind.to_owned()))?;
        // typst memoises evaluation and layout results across compilations; what a
        // certification's own data produced is dead weight after it, while what every document
        // shares (the layout module, the header) is hit again each time. Evicting keeps a
        // long-running server's memory flat. An eviction walks every cached entry, so it runs
        // once per EVICT_EVERY renders (counted whether they succeed or not) and drops the entries
        // no render has used since the two evictions before it, that is for 16 to 24 renders.
        if self.renders.fetch_add(1, Ordering::Relaxed) % EVICT_EVERY == EVICT_EVERY - 1 {
            typst::comemo::evict(2);
        }
        let inputs = encode_inputs(inputs).map_err(|message| RenderError::Typst {
            kind: kind.to_owned(),
            message,
        })?;
        let world = DocWorld {
            renderer: self,
            inputs,
            main,
            today,
        };
        let warned = typst::compile::<PagedDocument>(&world);
        let doc = warned.output.map_err(|d| RenderError::Typst {
            kind: kind.to_owned(),
            message: join(&d),
        })?;
        let options = typst_pdf::PdfOptions {
            ident: Smart::Custom(ident.to_owned()),
            creator: Smart::Custom(Some(format!("kyso {}", env!("CARGO_PKG_VERSION")))),
            timestamp: Some(typst_pdf::Timestamp::new_utc(today)),
            // PDF/A-2b (ISO 19005-2, level B): certifications are kept permanently (DOMAIN.md
            // §8) and must render the same decades later. typst then writes the sRGB output
            // intent (GTS_PDFA1 with its ICC profile), the XMP identification (pdfaid:part 2,
            // conformance B) and embeds every font, and refuses anything the profile forbids.
            // PDF/A-2 rather than -1: it allows the transparency of the seal and signature
            // images kyso stamps later, and the compressed object streams typst writes.
            // Tagging (on by default) and the document's /Lang (`set text(lang: "vi")`) stay.
            standards: pdf_a_2b(),
            ..Default::default()
        };
        let pdf = typst_pdf::pdf(&doc, &options).map_err(|d| RenderError::Export {
            kind: kind.to_owned(),
            message: join(&d),
        })?;
        Ok((doc, pdf))
    }
}

/// The PDF/A-2b standard for [`typst_pdf::PdfOptions::standards`].
fn pdf_a_2b() -> typst_pdf::PdfStandards {
    // A single archival standard is always a valid combination; the fallback (no standard)
    // is unreachable, and issuing would still produce a valid PDF.
    typst_pdf::PdfStandards::new(&[typst_pdf::PdfStandard::A_2b]).unwrap_or_default()
}

/// The inputs as CBOR, dates as `{"kyso-date": [y, m, d]}` (CBOR has no date type typst reads).
fn encode_inputs(inputs: Dict) -> Result<Bytes, String> {
    fn tag_dates(v: Value) -> Result<Value, String> {
        Ok(match v {
            Value::Datetime(d) => {
                let (Some(y), Some(m), Some(day)) = (d.year(), d.month(), d.day()) else {
                    return Err("an input datetime is not a calendar date".into());
                };
                let ymd = [i64::from(y), i64::from(m), i64::from(day)]
                    .into_iter()
                    .map(Value::Int)
                    .collect();
                let mut tagged = Dict::new();
                tagged.insert("kyso-date".into(), Value::Array(ymd));
                Value::Dict(tagged)
            }
            Value::Dict(d) => Value::Dict(
                d.into_iter()
                    .map(|(k, v)| Ok((k, tag_dates(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(a) => Value::Array(
                a.into_iter()
                    .map(tag_dates)
                    .collect::<Result<_, String>>()?,
            ),
            other => other,
        })
    }
    let tagged = tag_dates(Value::Dict(inputs))?;
    let mut out = Vec::with_capacity(2048);
    ciborium::into_writer(&tagged, &mut out).map_err(|e| format!("encoding the inputs: {e}"))?;
    Ok(Bytes::new(out))
}

fn join(diags: &[SourceDiagnostic]) -> String {
    let mut out = String::new();
    for d in diags.iter().take(5) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&d.message);
    }
    out
}

/// Reads the `<kyso-sig>` markers: each is `metadata((name, role, width, height))` at the top-left
/// corner of its box. Typst positions are from the page's top-left, y downwards; PDF's origin is
/// the bottom-left, y upwards.
fn signature_fields(doc: &PagedDocument) -> Result<Vec<FieldPlacement>, String> {
    let label = Label::new(PicoStr::intern(SIG_LABEL)).ok_or("bad label")?;
    let intro = doc.introspector();
    let mut out: Vec<FieldPlacement> = Vec::new();
    for content in intro.elements().query(&Selector::Label(label)) {
        let meta = content
            .to_packed::<MetadataElem>()
            .ok_or("a <kyso-sig> label is not on metadata")?;
        let Value::Dict(d) = &meta.value else {
            return Err("a <kyso-sig> metadata value is not a dictionary".into());
        };
        let text = |k: &str| match d.get(k) {
            Ok(Value::Str(s)) => Ok(s.to_string()),
            _ => Err(format!("marker without string {k:?}")),
        };
        let length = |k: &str| match d.get(k) {
            Ok(Value::Length(l)) if l.em == typst::layout::Em::zero() => Ok(l.abs.to_pt()),
            _ => Err(format!("marker without absolute length {k:?}")),
        };
        let (name, role, w, h) = (
            text("name")?,
            text("role")?,
            length("width")?,
            length("height")?,
        );
        let loc = content.location().ok_or("marker without location")?;
        let pos = intro.position(loc).ok_or("marker not laid out")?;
        let page = pos.page.get();
        let page_h = doc
            .pages()
            .get(page - 1)
            .map(|p| p.frame.height().to_pt())
            .ok_or("marker on a page that does not exist")?;
        let (x, y) = (pos.point.x.to_pt(), pos.point.y.to_pt());
        if out.iter().any(|f| f.name == name) {
            return Err(format!("field {name:?} placed twice"));
        }
        out.push(FieldPlacement {
            name,
            role,
            page,
            rect: [x, page_h - y - h, x + w, page_h - y],
        });
    }
    if out.is_empty() {
        return Err("the template places no signature field".into());
    }
    Ok(out)
}

/// The world of one compilation.
struct DocWorld<'a> {
    renderer: &'a Renderer,
    /// This document's inputs, served as [`INPUTS_PATH`].
    inputs: Bytes,
    main: FileId,
    today: Datetime,
}

impl World for DocWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.renderer.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.renderer.book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        self.renderer
            .sources
            .get(&id)
            .cloned()
            .ok_or_else(|| FileError::NotFound(id.vpath().get_without_slash().into()))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        // Templates read nothing but their inputs and sources: no images or data files from disk.
        if id == self.renderer.inputs {
            return Ok(self.inputs.clone());
        }
        self.source(id)
            .map(|s| Bytes::from_string(s.text().to_owned()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.renderer.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}
