//! Where a content stream paints: the areas of a page, or of an annotation's appearance, that
//! show something, as rectangles in default user space.
//!
//! Modification analysis needs this to tell whether a signature widget added after signing draws
//! over what the signer saw (the Evil Annotation and Sneaky Signature attacks of "Breaking the
//! Specification: PDF Certification", IEEE S&P 2021). Rendering is not needed, only a bound that
//! errs on the side of "painted", so that a verdict of "covers nothing" can be trusted:
//!
//! * every path that is stroked or filled paints the bounding box of its points (curve control
//!   points included), widened by the line width when stroked; images paint their unit square;
//!   a shading paints its clip; form XObjects are followed (a few levels deep) and clipped to
//!   their `/BBox`; clipping paths clip to their bounding box;
//! * text paints, for each run of glyphs, the box from its start to its end advance (widths from
//!   the font's `/Widths` or `/W`, one em per glyph when the font does not say) and from 0.35 em
//!   below the baseline to 1.15 em above it (descenders, and the stacked diacritics of
//!   Vietnamese), unless its rendering mode is invisible;
//! * a fill or stroke in white (gray 1, RGB 1 1 1, CMYK 0 0 0 0) paints nothing on a page (white
//!   on white shows nothing), but is counted when reading an appearance, where white over the page
//!   is exactly how content is hidden;
//! * whatever cannot be read (an unsupported filter, a broken stream, a vertical font, a budget
//!   exhausted) paints everywhere.

use std::collections::HashMap;
use std::rc::Rc;

use lopdf::{Dictionary, Object, ObjectId};

use super::revisions::{Budget, LoadedRevision, ReadLimits};
use super::strict::{self, Lexer};

/// A rectangle `[x0, y0, x1, y1]` in default user space, `x0 <= x1`, `y0 <= y1`.
pub type Area = [f64; 4];

/// An area standing for "anywhere": what cannot be read is taken to paint everywhere.
const EVERYWHERE: Area = [-1e9, -1e9, 1e9, 1e9];
/// Most areas kept for one page; past it the page is taken to paint everywhere.
const MAX_AREAS: usize = 200_000;
/// Deepest nesting of form XObjects followed.
const MAX_FORM_DEPTH: usize = 8;
/// Deepest nesting of `q` operators kept (deeper saves are counted, not stored).
const MAX_SAVE_DEPTH: usize = 256;

/// The areas a page or an appearance paints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Painted {
    /// Painted rectangles.
    pub areas: Vec<Area>,
    /// Why some content could not be read (it then counts as painting everywhere).
    pub unreadable: Option<String>,
}

impl Painted {
    /// Whether nothing is painted.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// A rectangle where both `self` and `other` paint, if there is one.
    pub fn overlap(&self, other: &Painted) -> Option<Area> {
        self.areas
            .iter()
            .find_map(|a| other.areas.iter().find_map(|b| intersect(*a, *b)))
    }

    fn push(&mut self, area: Area) {
        if self.areas.len() >= MAX_AREAS {
            self.everywhere("more painted areas than are kept");
        } else {
            self.areas.push(area);
        }
    }

    fn everywhere(&mut self, why: impl Into<String>) {
        if self.unreadable.is_none() {
            self.unreadable = Some(why.into());
        }
        if !self.areas.contains(&EVERYWHERE) {
            self.areas.clear();
            self.areas.push(EVERYWHERE);
        }
    }
}

/// The intersection of two rectangles, if it has an area.
pub fn intersect(a: Area, b: Area) -> Option<Area> {
    const EPS: f64 = 0.01;
    let r = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    (r[2] - r[0] > EPS && r[3] - r[1] > EPS).then_some(r)
}

/// A transformation matrix `[a b c d e f]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Matrix([f64; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn translate(x: f64, y: f64) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, x, y])
    }

    /// `self` applied first, then `then`.
    fn then(self, then: Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = then.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn apply(self, x: f64, y: f64) -> (f64, f64) {
        let [a, b, c, d, e, f] = self.0;
        (a * x + c * y + e, b * x + d * y + f)
    }

    /// The bounding box of `r` transformed.
    fn bbox(self, r: Area) -> Area {
        let mut out = Bounds::default();
        for (x, y) in [(r[0], r[1]), (r[2], r[1]), (r[0], r[3]), (r[2], r[3])] {
            let (x, y) = self.apply(x, y);
            out.add(x, y);
        }
        out.area().unwrap_or([0.0; 4])
    }

    /// How much the matrix stretches lengths, at most.
    fn scale(self) -> f64 {
        let [a, b, c, d, ..] = self.0;
        a.hypot(b).max(c.hypot(d))
    }
}

/// A bounding box being grown point by point.
#[derive(Debug, Clone, Copy, Default)]
struct Bounds(Option<Area>);

impl Bounds {
    fn add(&mut self, x: f64, y: f64) {
        self.0 = Some(match self.0 {
            None => [x, y, x, y],
            Some([x0, y0, x1, y1]) => [x0.min(x), y0.min(y), x1.max(x), y1.max(y)],
        });
    }

    fn area(self) -> Option<Area> {
        self.0
    }
}

/// A normalised rectangle from a PDF array of four numbers.
pub fn rect_of(rev: &LoadedRevision, obj: &Object, limits: &ReadLimits) -> Option<Area> {
    let Some(Object::Array(r)) = rev.resolve(obj, limits) else {
        return None;
    };
    if r.len() != 4 {
        return None;
    }
    let mut v = [0f64; 4];
    for (slot, item) in v.iter_mut().zip(r) {
        *slot = number(rev.resolve(item, limits)?)?;
    }
    let [x1, y1, x2, y2] = v;
    Some([x1.min(x2), y1.min(y2), x1.max(x2), y1.max(y2)])
}

fn number(o: &Object) -> Option<f64> {
    let v = match o {
        Object::Integer(n) => *n as f64,
        Object::Real(x) => f64::from(*x),
        _ => return None,
    };
    v.is_finite().then_some(v)
}

fn matrix_of(rev: &LoadedRevision, obj: Option<&Object>, limits: &ReadLimits) -> Option<Matrix> {
    let Some(obj) = obj else {
        return Some(Matrix::IDENTITY);
    };
    let Some(Object::Array(m)) = rev.resolve(obj, limits) else {
        return None;
    };
    if m.len() != 6 {
        return None;
    }
    let mut v = [0f64; 6];
    for (slot, item) in v.iter_mut().zip(m) {
        *slot = number(rev.resolve(item, limits)?)?;
    }
    Some(Matrix(v))
}

/// What reading content needs: the revision, its bytes, the limits and the file's work budget.
pub struct Source<'a> {
    /// The revision whose objects are read.
    pub rev: &'a LoadedRevision,
    /// The file (or at least the revision's prefix of it).
    pub bytes: &'a [u8],
    /// Reading limits.
    pub limits: &'a ReadLimits,
    /// The file's work budget.
    pub budget: &'a Budget,
}

impl<'a> Source<'a> {
    /// The decoded data of stream `id`, at most `cap` bytes.
    fn data(&self, id: ObjectId, cap: usize) -> Result<Vec<u8>, String> {
        let prefix = self.bytes.get(..self.rev.end).unwrap_or(self.bytes);
        strict::stream_data(prefix, &self.rev.xref, id, self.limits, self.budget, cap)
            .map_err(|e| format!("stream {} {}: {e}", id.0, id.1))
    }

    fn dict<'o>(&self, obj: &'o Object) -> Option<&'o Dictionary>
    where
        'a: 'o,
    {
        match self.rev.resolve(obj, self.limits)? {
            Object::Dictionary(d) => Some(d),
            Object::Stream(s) => Some(&s.dict),
            _ => None,
        }
    }
}

/// What the page `page` of `src.rev` paints with its content streams (white fills excepted).
pub fn page_content(src: &Source<'_>, page: ObjectId) -> Painted {
    let mut p = Painter::new(src, false);
    let Some(page_dict) = src.rev.get(page).and_then(|o| o.as_dict().ok()) else {
        p.out
            .everywhere(format!("page {} {} is not a dictionary", page.0, page.1));
        return p.out;
    };
    let resources = inherited(src, page_dict, b"Resources");
    let ids: Vec<ObjectId> = match page_dict.get(b"Contents").ok() {
        None => Vec::new(),
        Some(Object::Reference(id)) => match src.rev.get(*id) {
            Some(Object::Stream(_)) => vec![*id],
            Some(Object::Array(a)) => a.iter().filter_map(|o| o.as_reference().ok()).collect(),
            _ => {
                p.out
                    .everywhere("the page /Contents is neither a stream nor an array");
                return p.out;
            }
        },
        Some(Object::Array(a)) => a.iter().filter_map(|o| o.as_reference().ok()).collect(),
        Some(_) => {
            p.out
                .everywhere("the page /Contents is neither a stream nor an array");
            return p.out;
        }
    };
    // Content streams are one stream cut at token boundaries: read them as one.
    let mut data = Vec::new();
    for id in ids {
        let cap = src.budget.max_decoded().saturating_sub(data.len());
        match src.data(id, cap) {
            Ok(d) => {
                data.extend_from_slice(&d);
                data.push(b'\n');
            }
            Err(e) => {
                p.out.everywhere(e);
                return p.out;
            }
        }
    }
    let gs = GState::new(Matrix::IDENTITY, None);
    p.live = data.len();
    p.run(&data, resources, gs, 0);
    p.out
}

/// What the normal appearance of the annotation `annot` paints on its page, white included, mapped
/// into its `/Rect` as ISO 32000-1 (12.5.5) maps an appearance. Nothing for a hidden annotation,
/// one without an area or without an appearance.
pub fn appearance(src: &Source<'_>, annot: &Dictionary) -> Painted {
    let mut p = Painter::new(src, true);
    let limits = src.limits;
    let rev = src.rev;
    let flags = annot
        .get(b"F")
        .ok()
        .and_then(|f| rev.resolve(f, limits))
        .and_then(|f| f.as_i64().ok())
        .unwrap_or(0);
    // Hidden (bit 2) or NoView (bit 6).
    if flags & 0b10 != 0 || flags & 0b10_0000 != 0 {
        return p.out;
    }
    let Some(rect) = annot
        .get(b"Rect")
        .ok()
        .and_then(|r| rect_of(rev, r, limits))
    else {
        return p.out;
    };
    if intersect(rect, rect).is_none() {
        return p.out;
    }
    let Some(normal) = annot
        .get(b"AP")
        .ok()
        .and_then(|ap| src.dict(ap))
        .and_then(|ap| ap.get(b"N").ok())
    else {
        return p.out;
    };
    let streams: Vec<ObjectId> = match normal {
        Object::Reference(id) => match rev.get(*id) {
            Some(Object::Stream(_)) => vec![*id],
            // Appearance states: the one `/AS` selects, or any of them.
            Some(Object::Dictionary(states)) => {
                let selected = annot
                    .get(b"AS")
                    .ok()
                    .and_then(|s| rev.resolve(s, limits))
                    .and_then(|s| s.as_name().ok());
                states
                    .iter()
                    .filter(|(k, _)| selected.is_none_or(|s| s == k.as_slice()))
                    .filter_map(|(_, v)| v.as_reference().ok())
                    .collect()
            }
            _ => Vec::new(),
        },
        Object::Dictionary(states) => {
            let selected = annot
                .get(b"AS")
                .ok()
                .and_then(|s| rev.resolve(s, limits))
                .and_then(|s| s.as_name().ok());
            states
                .iter()
                .filter(|(k, _)| selected.is_none_or(|s| s == k.as_slice()))
                .filter_map(|(_, v)| v.as_reference().ok())
                .collect()
        }
        _ => Vec::new(),
    };
    for id in streams {
        let Some(Object::Stream(form)) = rev.get(id) else {
            continue;
        };
        let dict = &form.dict;
        let (Some(matrix), Some(bbox)) = (
            matrix_of(rev, dict.get(b"Matrix").ok(), limits),
            dict.get(b"BBox").ok().and_then(|b| rect_of(rev, b, limits)),
        ) else {
            // An appearance without a readable box is drawn over the whole rectangle.
            p.out.push(rect);
            continue;
        };
        let shown = matrix.bbox(bbox);
        let (w, h) = (shown[2] - shown[0], shown[3] - shown[1]);
        if w <= 0.0 || h <= 0.0 {
            continue;
        }
        // Algorithm 8.1: the transformed box is scaled and moved onto the rectangle.
        let (sx, sy) = ((rect[2] - rect[0]) / w, (rect[3] - rect[1]) / h);
        let fit = Matrix([
            sx,
            0.0,
            0.0,
            sy,
            rect[0] - sx * shown[0],
            rect[1] - sy * shown[1],
        ]);
        let ctm = matrix.then(fit);
        let data = match src.data(id, src.budget.max_decoded()) {
            Ok(d) => d,
            Err(_) => {
                p.out.push(rect);
                continue;
            }
        };
        let resources = dict.get(b"Resources").ok().and_then(|r| src.dict(r));
        let mut sub = Painter::new(src, true);
        sub.visiting.push(id);
        sub.live = data.len();
        sub.run(&data, resources, GState::new(ctm, Some(rect)), 1);
        // Whatever an appearance could not say it paints, it paints within its rectangle.
        if sub.out.areas.contains(&EVERYWHERE) {
            p.out.push(rect);
        } else {
            for a in sub.out.areas {
                p.out.push(a);
            }
        }
    }
    p.out
}

/// A key of a page, inherited from its ancestors in the page tree.
fn inherited<'a>(src: &Source<'a>, page: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
    let mut node = page;
    for _ in 0..src.limits.max_depth {
        if let Ok(v) = node.get(key) {
            return src.dict(v);
        }
        node = src.dict(node.get(b"Parent").ok()?)?;
    }
    None
}

/// Glyph widths of a font, in thousandths of text space per unit of font size (or in glyph
/// space scaled by `scale` for Type 3 fonts).
#[derive(Debug)]
struct Font {
    /// Two-byte codes (Identity-H and other two-byte CMaps) rather than one-byte codes.
    two_byte: bool,
    /// Writes vertically: not modelled, painted everywhere.
    vertical: bool,
    /// Glyph space to text space.
    scale: f64,
    widths: Widths,
}

#[derive(Debug)]
enum Widths {
    Simple {
        first: i64,
        widths: Vec<f64>,
        missing: f64,
    },
    Cid {
        /// `(first, last, width)`, sorted by `first`.
        ranges: Vec<(u32, u32, f64)>,
        default: f64,
    },
}

/// Width used when a font says nothing: one em, wider than almost every glyph.
const UNKNOWN_WIDTH: f64 = 1000.0;
/// Most width entries read from one font.
const MAX_WIDTHS: usize = 65_536;

impl Font {
    fn unknown() -> Font {
        Font {
            two_byte: false,
            vertical: false,
            scale: 0.001,
            widths: Widths::Simple {
                first: 0,
                widths: Vec::new(),
                missing: UNKNOWN_WIDTH,
            },
        }
    }

    fn read(src: &Source<'_>, font: &Dictionary) -> Font {
        let rev = src.rev;
        let limits = src.limits;
        let num = |d: &Dictionary, k: &[u8]| {
            d.get(k)
                .ok()
                .and_then(|v| rev.resolve(v, limits))
                .and_then(number)
        };
        let name = |d: &Dictionary, k: &[u8]| {
            d.get(k)
                .ok()
                .and_then(|v| rev.resolve(v, limits))
                .and_then(|v| v.as_name().ok())
                .map(<[u8]>::to_vec)
        };
        let subtype = name(font, b"Subtype");
        if subtype.as_deref() == Some(b"Type0") {
            let encoding = name(font, b"Encoding");
            // Predefined CMaps ending in -V write vertically; embedded CMaps are read as
            // two-byte horizontal codes (each byte a glyph would only widen the box).
            let vertical = encoding.as_deref().is_some_and(|e| e.ends_with(b"-V"));
            let descendant = font
                .get(b"DescendantFonts")
                .ok()
                .and_then(|d| rev.resolve(d, limits))
                .and_then(|d| d.as_array().ok())
                .and_then(|a| a.first())
                .and_then(|d| src.dict(d));
            let default = descendant
                .and_then(|d| num(d, b"DW"))
                .unwrap_or(1000.0)
                .abs();
            let mut ranges = Vec::new();
            if let Some(Object::Array(w)) = descendant
                .and_then(|d| d.get(b"W").ok())
                .and_then(|w| rev.resolve(w, limits))
            {
                let mut i = 0;
                while i < w.len() && ranges.len() < MAX_WIDTHS {
                    let Some(first) = rev.resolve(&w[i], limits).and_then(number) else {
                        break;
                    };
                    let first = first.max(0.0) as u32;
                    match w.get(i + 1).and_then(|x| rev.resolve(x, limits)) {
                        Some(Object::Array(list)) => {
                            for (k, x) in list.iter().enumerate().take(MAX_WIDTHS) {
                                let cid = first.saturating_add(k as u32);
                                let width =
                                    rev.resolve(x, limits).and_then(number).unwrap_or(default);
                                ranges.push((cid, cid, width.abs()));
                            }
                            i += 2;
                        }
                        Some(last) => {
                            let (Some(last), Some(width)) = (
                                number(last),
                                w.get(i + 2)
                                    .and_then(|x| rev.resolve(x, limits))
                                    .and_then(number),
                            ) else {
                                break;
                            };
                            ranges.push((first, last.max(0.0) as u32, width.abs()));
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
            ranges.sort_by_key(|r| r.0);
            return Font {
                two_byte: true,
                vertical,
                scale: 0.001,
                widths: Widths::Cid { ranges, default },
            };
        }
        let scale = if subtype.as_deref() == Some(b"Type3") {
            match font
                .get(b"FontMatrix")
                .ok()
                .and_then(|m| matrix_of(rev, Some(m), limits))
            {
                Some(m) => m.scale(),
                None => return Font::unknown(),
            }
        } else {
            0.001
        };
        let missing = font
            .get(b"FontDescriptor")
            .ok()
            .and_then(|d| src.dict(d))
            .and_then(|d| num(d, b"MissingWidth"))
            .filter(|w| *w > 0.0)
            .unwrap_or(UNKNOWN_WIDTH * 0.001 / scale);
        let first = num(font, b"FirstChar").unwrap_or(0.0) as i64;
        let widths = match font
            .get(b"Widths")
            .ok()
            .and_then(|w| rev.resolve(w, limits))
        {
            Some(Object::Array(w)) => w
                .iter()
                .take(MAX_WIDTHS)
                .map(|x| {
                    rev.resolve(x, limits)
                        .and_then(number)
                        .unwrap_or(missing)
                        .abs()
                })
                .collect(),
            _ => Vec::new(),
        };
        Font {
            two_byte: false,
            vertical: false,
            scale,
            widths: Widths::Simple {
                first,
                widths,
                missing,
            },
        }
    }

    /// Width in text space per unit of font size of the glyph `code`.
    fn width(&self, code: u32) -> f64 {
        let w = match &self.widths {
            Widths::Simple {
                first,
                widths,
                missing,
            } => usize::try_from(i64::from(code) - first)
                .ok()
                .and_then(|i| widths.get(i))
                .copied()
                .unwrap_or(*missing),
            Widths::Cid { ranges, default } => {
                let i = ranges.partition_point(|r| r.0 <= code);
                ranges[..i]
                    .iter()
                    .rev()
                    .take(64)
                    .find(|r| r.1 >= code)
                    .map_or(*default, |r| r.2)
            }
        };
        w * self.scale
    }
}

/// The graphics state the painter tracks.
#[derive(Debug, Clone)]
struct GState {
    ctm: Matrix,
    clip: Option<Area>,
    fill_white: bool,
    stroke_white: bool,
    line_width: f64,
    font: Option<Rc<Font>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    horizontal_scale: f64,
    leading: f64,
    rise: f64,
    render: i64,
}

impl GState {
    fn new(ctm: Matrix, clip: Option<Area>) -> GState {
        GState {
            ctm,
            clip,
            fill_white: false,
            stroke_white: false,
            line_width: 1.0,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            horizontal_scale: 1.0,
            leading: 0.0,
            rise: 0.0,
            render: 0,
        }
    }
}

/// An operand of a content-stream operator.
#[derive(Debug, Clone)]
enum Operand {
    Number(f64),
    Name(Vec<u8>),
    String(Vec<u8>),
    Array(Vec<Operand>),
    Other,
}

struct Painter<'s, 'a> {
    src: &'s Source<'a>,
    /// Whether white paint counts (appearances) or not (pages).
    count_white: bool,
    out: Painted,
    /// Form XObjects being run (a form that draws itself is not followed again).
    visiting: Vec<ObjectId>,
    /// Bytes of decoded content held by the streams being run (forms nest): together at most
    /// [`Budget::max_decoded`].
    live: usize,
}

/// Descent and ascent of a line of text, in ems.
const DESCENT: f64 = 0.35;
const ASCENT: f64 = 1.15;

impl<'s, 'a> Painter<'s, 'a> {
    fn new(src: &'s Source<'a>, count_white: bool) -> Self {
        Painter {
            src,
            count_white,
            out: Painted::default(),
            visiting: Vec::new(),
            live: 0,
        }
    }

    fn paint(&mut self, gs: &GState, area: Area) {
        if !area.iter().all(|v| v.is_finite()) {
            self.out.everywhere("a painted area is not finite");
            return;
        }
        let area = match gs.clip {
            Some(clip) => match intersect(area, clip) {
                Some(a) => a,
                None => return,
            },
            None => area,
        };
        // Zero-width lines still show: keep degenerate areas with a hair of thickness.
        let area = [
            area[0],
            area[1],
            area[2].max(area[0] + 0.02),
            area[3].max(area[1] + 0.02),
        ];
        self.out.push(area);
    }

    fn font(
        &self,
        resources: Option<&Dictionary>,
        name: &[u8],
        cache: &mut HashMap<Vec<u8>, Rc<Font>>,
    ) -> Rc<Font> {
        if let Some(f) = cache.get(name) {
            return f.clone();
        }
        let font = resources
            .and_then(|r| r.get(b"Font").ok())
            .and_then(|f| self.src.dict(f))
            .and_then(|f| f.get(name).ok())
            .and_then(|f| self.src.dict(f))
            .map_or_else(Font::unknown, |f| Font::read(self.src, f));
        let font = Rc::new(font);
        if cache.len() < 1024 {
            cache.insert(name.to_vec(), font.clone());
        }
        font
    }

    /// Runs a content stream under `gs` with `resources`.
    fn run(&mut self, data: &[u8], resources: Option<&Dictionary>, gs: GState, depth: usize) {
        if let Err(e) = self
            .src
            .budget
            .charge(data.len() as u64 + 1, "content streams read")
        {
            self.out.everywhere(e.to_string());
            return;
        }
        let mut gs = gs;
        let mut saved: Vec<GState> = Vec::new();
        let mut unsaved_depth = 0usize;
        let mut fonts: HashMap<Vec<u8>, Rc<Font>> = HashMap::new();
        let mut ops: Vec<Operand> = Vec::new();
        let mut room = OPERAND_ROOM;
        let mut path = Bounds::default();
        let mut clip_pending = false;
        let mut tm = Matrix::IDENTITY;
        let mut tlm = Matrix::IDENTITY;
        let mut lx = Lexer::new(data, 0);
        loop {
            lx.skip_ws();
            let Some(b) = lx.peek() else { break };
            if b != b'/' && b != b'(' && b != b'<' && b != b'[' && !strict::is_regular(b) {
                lx.pos += 1;
                continue;
            }
            if !strict::is_regular(b) || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.') {
                match operand(&mut lx, 0, &mut room) {
                    Ok(o) => {
                        if ops.len() < 4096 {
                            ops.push(o);
                        }
                    }
                    Err(why) => {
                        self.out.everywhere(why);
                        return;
                    }
                }
                continue;
            }
            let op = lx.token();
            if matches!(op, b"true" | b"false" | b"null") {
                if ops.len() < 4096 {
                    ops.push(Operand::Other);
                }
                continue;
            }
            let n = |k: usize| -> Option<Vec<f64>> {
                let start = ops.len().checked_sub(k)?;
                ops[start..]
                    .iter()
                    .map(|o| match o {
                        Operand::Number(v) => Some(*v),
                        _ => None,
                    })
                    .collect()
            };
            match op {
                b"q" => {
                    if saved.len() < MAX_SAVE_DEPTH {
                        saved.push(gs.clone());
                    } else {
                        unsaved_depth += 1;
                    }
                }
                b"Q" => {
                    if unsaved_depth > 0 {
                        unsaved_depth -= 1;
                    } else if let Some(s) = saved.pop() {
                        gs = s;
                    }
                }
                b"cm" => {
                    if let Some(v) = n(6) {
                        gs.ctm = Matrix([v[0], v[1], v[2], v[3], v[4], v[5]]).then(gs.ctm);
                    }
                }
                b"w" => {
                    if let Some(v) = n(1) {
                        gs.line_width = v[0].abs();
                    }
                }
                b"g" => gs.fill_white = n(1).is_some_and(|v| v[0] >= 1.0),
                b"G" => gs.stroke_white = n(1).is_some_and(|v| v[0] >= 1.0),
                b"rg" => gs.fill_white = n(3).is_some_and(|v| v.iter().all(|c| *c >= 1.0)),
                b"RG" => gs.stroke_white = n(3).is_some_and(|v| v.iter().all(|c| *c >= 1.0)),
                b"k" => gs.fill_white = n(4).is_some_and(|v| v.iter().all(|c| *c <= 0.0)),
                b"K" => gs.stroke_white = n(4).is_some_and(|v| v.iter().all(|c| *c <= 0.0)),
                b"cs" | b"sc" | b"scn" => gs.fill_white = false,
                b"CS" | b"SC" | b"SCN" => gs.stroke_white = false,
                b"m" | b"l" => {
                    if let Some(v) = n(2) {
                        let (x, y) = gs.ctm.apply(v[0], v[1]);
                        path.add(x, y);
                    }
                }
                b"c" | b"v" | b"y" => {
                    let k = if op == b"c" { 6 } else { 4 };
                    if let Some(v) = n(k) {
                        for p in v.chunks_exact(2) {
                            let (x, y) = gs.ctm.apply(p[0], p[1]);
                            path.add(x, y);
                        }
                    }
                }
                b"re" => {
                    if let Some(v) = n(4) {
                        for (x, y) in [
                            (v[0], v[1]),
                            (v[0] + v[2], v[1]),
                            (v[0], v[1] + v[3]),
                            (v[0] + v[2], v[1] + v[3]),
                        ] {
                            let (x, y) = gs.ctm.apply(x, y);
                            path.add(x, y);
                        }
                    }
                }
                b"W" | b"W*" => clip_pending = true,
                b"S" | b"s" | b"f" | b"F" | b"f*" | b"B" | b"B*" | b"b" | b"b*" | b"n" => {
                    let stroke = matches!(op, b"S" | b"s" | b"B" | b"B*" | b"b" | b"b*");
                    let fill = matches!(op, b"f" | b"F" | b"f*" | b"B" | b"B*" | b"b" | b"b*");
                    if let Some(mut area) = path.area() {
                        let shows = (fill && (self.count_white || !gs.fill_white))
                            || (stroke && (self.count_white || !gs.stroke_white));
                        if stroke {
                            let half = gs.line_width.max(1.0) * gs.ctm.scale() / 2.0;
                            area = [
                                area[0] - half,
                                area[1] - half,
                                area[2] + half,
                                area[3] + half,
                            ];
                        }
                        if shows {
                            self.paint(&gs, area);
                        }
                        if clip_pending {
                            let bounds = path.area().unwrap_or(area);
                            gs.clip = Some(match gs.clip {
                                Some(c) => intersect(c, bounds).unwrap_or([0.0; 4]),
                                None => bounds,
                            });
                        }
                    }
                    path = Bounds::default();
                    clip_pending = false;
                }
                b"BT" => {
                    tm = Matrix::IDENTITY;
                    tlm = Matrix::IDENTITY;
                }
                b"Tf" => {
                    if let (Some(Operand::Name(name)), Some(Operand::Number(size))) = (
                        ops.len().checked_sub(2).and_then(|i| ops.get(i)),
                        ops.last(),
                    ) {
                        gs.font = Some(self.font(resources, name, &mut fonts));
                        gs.size = *size;
                    }
                }
                b"Tc" => gs.char_spacing = n(1).map_or(gs.char_spacing, |v| v[0]),
                b"Tw" => gs.word_spacing = n(1).map_or(gs.word_spacing, |v| v[0]),
                b"Tz" => gs.horizontal_scale = n(1).map_or(gs.horizontal_scale, |v| v[0] / 100.0),
                b"TL" => gs.leading = n(1).map_or(gs.leading, |v| v[0]),
                b"Ts" => gs.rise = n(1).map_or(gs.rise, |v| v[0]),
                b"Tr" => gs.render = n(1).map_or(gs.render, |v| v[0] as i64),
                b"Td" | b"TD" => {
                    if let Some(v) = n(2) {
                        if op == b"TD" {
                            gs.leading = -v[1];
                        }
                        tlm = Matrix::translate(v[0], v[1]).then(tlm);
                        tm = tlm;
                    }
                }
                b"Tm" => {
                    if let Some(v) = n(6) {
                        tlm = Matrix([v[0], v[1], v[2], v[3], v[4], v[5]]);
                        tm = tlm;
                    }
                }
                b"T*" => {
                    tlm = Matrix::translate(0.0, -gs.leading).then(tlm);
                    tm = tlm;
                }
                b"Tj" | b"'" | b"\"" => {
                    // `string '` and `aw ac string "` move to the next line first.
                    if op == b"\""
                        && let Some(i) = ops.len().checked_sub(3)
                        && let (Operand::Number(aw), Operand::Number(ac)) = (&ops[i], &ops[i + 1])
                    {
                        gs.word_spacing = *aw;
                        gs.char_spacing = *ac;
                    }
                    if op != b"Tj" {
                        tlm = Matrix::translate(0.0, -gs.leading).then(tlm);
                        tm = tlm;
                    }
                    if let Some(Operand::String(s)) = ops.last() {
                        let s = s.clone();
                        self.show(&gs, &mut tm, &[Operand::String(s)]);
                    }
                }
                b"TJ" => {
                    if let Some(Operand::Array(items)) = ops.last() {
                        let items = items.clone();
                        self.show(&gs, &mut tm, &items);
                    }
                }
                b"Do" => {
                    if let Some(Operand::Name(name)) = ops.last() {
                        let name = name.clone();
                        self.xobject(&gs, resources, &name, depth);
                    }
                }
                b"sh" => {
                    let area = gs.clip.unwrap_or(EVERYWHERE);
                    if area == EVERYWHERE {
                        self.out.everywhere("a shading painted without a clip");
                    } else {
                        self.paint(&gs, area);
                    }
                }
                b"BI" => {
                    // The image's dictionary runs to `ID`, its data to `EI`.
                    ops.clear();
                    loop {
                        lx.skip_ws();
                        let Some(b) = lx.peek() else { break };
                        if strict::is_regular(b)
                            && !b.is_ascii_digit()
                            && !matches!(b, b'+' | b'-' | b'.')
                        {
                            let t = lx.token();
                            if t == b"ID" {
                                break;
                            }
                            continue;
                        }
                        let mut fresh = OPERAND_ROOM;
                        if operand(&mut lx, 0, &mut fresh).is_err() {
                            lx.pos += 1;
                        }
                    }
                    lx.pos += 1;
                    let rest = data.get(lx.pos..).unwrap_or_default();
                    let end = memchr::memmem::find_iter(rest, b"EI").find(|&i| {
                        (i == 0 || strict::is_ws(rest[i - 1]))
                            && rest.get(i + 2).is_none_or(|c| !strict::is_regular(*c))
                    });
                    lx.pos = end.map_or(data.len(), |i| lx.pos + i + 2);
                    let unit = gs.ctm.bbox([0.0, 0.0, 1.0, 1.0]);
                    self.paint(&gs, unit);
                }
                _ => {}
            }
            ops.clear();
            room = OPERAND_ROOM;
        }
    }

    /// Paints a run of text and moves the text matrix past it.
    fn show(&mut self, gs: &GState, tm: &mut Matrix, items: &[Operand]) {
        let font = gs.font.clone().unwrap_or_else(|| Rc::new(Font::unknown()));
        if font.vertical {
            self.out.everywhere("vertical text is not measured");
            return;
        }
        let (size, th) = (gs.size, gs.horizontal_scale);
        let mut x = 0.0f64;
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        let mut glyphs = 0usize;
        for item in items {
            match item {
                Operand::Number(adjust) => {
                    x -= adjust / 1000.0 * size * th;
                }
                Operand::String(s) => {
                    let step = if font.two_byte { 2 } else { 1 };
                    for code in s.chunks(step) {
                        let c = code.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
                        let mut advance = font.width(c) * size + gs.char_spacing;
                        if !font.two_byte && c == 32 {
                            advance += gs.word_spacing;
                        }
                        lo = lo.min(x);
                        x += advance * th;
                        hi = hi.max(x);
                        glyphs += 1;
                    }
                }
                _ => {}
            }
            lo = lo.min(x);
            hi = hi.max(x);
        }
        // Invisible (3) and clip-only (7) text paints nothing.
        if glyphs > 0 && gs.render != 3 && gs.render != 7 {
            let em = size.abs();
            let run = [lo, gs.rise - DESCENT * em, hi, gs.rise + ASCENT * em];
            let area = tm.then(gs.ctm).bbox(run);
            self.paint(gs, area);
        }
        *tm = Matrix::translate(x, 0.0).then(*tm);
    }

    fn xobject(&mut self, gs: &GState, resources: Option<&Dictionary>, name: &[u8], depth: usize) {
        let src = self.src;
        let Some(id) = resources
            .and_then(|r| r.get(b"XObject").ok())
            .and_then(|x| src.dict(x))
            .and_then(|x| x.get(name).ok())
            .and_then(|x| x.as_reference().ok())
        else {
            return;
        };
        let Some(Object::Stream(s)) = src.rev.get(id) else {
            return;
        };
        let subtype = s
            .dict
            .get(b"Subtype")
            .ok()
            .and_then(|t| src.rev.resolve(t, src.limits))
            .and_then(|t| t.as_name().ok());
        match subtype {
            Some(b"Image") => {
                let unit = gs.ctm.bbox([0.0, 0.0, 1.0, 1.0]);
                self.paint(gs, unit);
            }
            Some(b"Form") => {
                let matrix = matrix_of(src.rev, s.dict.get(b"Matrix").ok(), src.limits);
                let bbox = s
                    .dict
                    .get(b"BBox")
                    .ok()
                    .and_then(|b| rect_of(src.rev, b, src.limits));
                let (Some(matrix), Some(bbox)) = (matrix, bbox) else {
                    self.out.everywhere(format!(
                        "form {} {} has no readable /BBox or /Matrix",
                        id.0, id.1
                    ));
                    return;
                };
                let ctm = matrix.then(gs.ctm);
                let shown = ctm.bbox(bbox);
                if depth >= MAX_FORM_DEPTH || self.visiting.contains(&id) {
                    self.paint(gs, shown);
                    return;
                }
                let cap = src.budget.max_decoded().saturating_sub(self.live);
                let data = match src.data(id, cap) {
                    Ok(d) => d,
                    Err(_) => {
                        self.paint(gs, shown);
                        return;
                    }
                };
                let mut inner = gs.clone();
                inner.ctm = ctm;
                inner.clip = Some(match gs.clip {
                    Some(c) => intersect(c, shown).unwrap_or([0.0; 4]),
                    None => shown,
                });
                let form_resources = s
                    .dict
                    .get(b"Resources")
                    .ok()
                    .and_then(|r| src.dict(r))
                    .or(resources);
                self.visiting.push(id);
                self.live += data.len();
                self.run(&data, form_resources, inner, depth + 1);
                self.live -= data.len();
                self.visiting.pop();
            }
            _ => {}
        }
    }
}

/// Reads one operand at the cursor (a number, name, string, array or dictionary).
/// Operands (array elements included, and strings at one per 32 bytes) one operator may have
/// before the content counts as unreadable: about 8 MB of them at most in memory, far more than any
/// drawing or text operator takes.
const OPERAND_ROOM: usize = 1 << 18;

fn operand(lx: &mut Lexer<'_>, depth: usize, room: &mut usize) -> Result<Operand, String> {
    if depth > 32 {
        return Err("operands nested too deep".into());
    }
    *room = room
        .checked_sub(1)
        .ok_or("too many operands before an operator")?;
    lx.skip_ws();
    let Some(b) = lx.peek() else {
        return Err("content ends inside an operand".into());
    };
    Ok(match b {
        b'/' => {
            lx.pos += 1;
            Operand::Name(name_bytes(lx.token()))
        }
        b'(' => {
            let text = strict::literal_string(lx).map_err(|e| e.to_string())?;
            *room = room
                .checked_sub(text.len() / 32)
                .ok_or("too many operands before an operator")?;
            Operand::String(text)
        }
        b'<' if lx.peek_at(1) == Some(b'<') => {
            lx.pos += 2;
            loop {
                lx.skip_ws();
                match lx.peek() {
                    None => return Err("unterminated dictionary in content".into()),
                    Some(b'>') if lx.peek_at(1) == Some(b'>') => {
                        lx.pos += 2;
                        break;
                    }
                    Some(c)
                        if strict::is_regular(c)
                            && !c.is_ascii_digit()
                            && !matches!(c, b'+' | b'-' | b'.') =>
                    {
                        lx.token();
                    }
                    Some(_) => {
                        operand(lx, depth + 1, room)?;
                    }
                }
            }
            Operand::Other
        }
        b'<' => {
            let text = strict::hex_string(lx).map_err(|e| e.to_string())?;
            *room = room
                .checked_sub(text.len() / 32)
                .ok_or("too many operands before an operator")?;
            Operand::String(text)
        }
        b'[' => {
            lx.pos += 1;
            let mut items = Vec::new();
            loop {
                lx.skip_ws();
                match lx.peek() {
                    None => return Err("unterminated array in content".into()),
                    Some(b']') => {
                        lx.pos += 1;
                        break;
                    }
                    Some(c)
                        if strict::is_regular(c)
                            && !c.is_ascii_digit()
                            && !matches!(c, b'+' | b'-' | b'.') =>
                    {
                        lx.token();
                        *room = room
                            .checked_sub(1)
                            .ok_or("too many operands before an operator")?;
                        items.push(Operand::Other);
                    }
                    Some(_) => items.push(operand(lx, depth + 1, room)?),
                }
                if items.len() > 1 << 20 {
                    return Err("array too long in content".into());
                }
            }
            Operand::Array(items)
        }
        b')' | b'>' | b']' | b'{' | b'}' => {
            lx.pos += 1;
            Operand::Other
        }
        _ => {
            let t = lx.token();
            if t.is_empty() {
                lx.pos += 1;
                return Ok(Operand::Other);
            }
            match std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
            {
                Some(v) if v.is_finite() => Operand::Number(v),
                // Readers take malformed numbers such as `--5` or `1.2.3` in their own ways.
                _ => Operand::Number(0.0),
            }
        }
    })
}

fn name_bytes(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let hex = |c: u8| (c as char).to_digit(16);
        if b == b'#'
            && let (Some(h), Some(l)) = (
                raw.get(i + 1).and_then(|c| hex(*c)),
                raw.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::revisions::XrefChain;

    fn painted(content: &[u8], count_white: bool) -> Painted {
        let rev = LoadedRevision {
            doc: lopdf::Document::new(),
            xref: XrefChain::default(),
            unresolved: Vec::new(),
            end: 0,
            held: crate::pdf::revisions::Held::nothing(),
        };
        let limits = ReadLimits::default();
        let budget = Budget::with_total(1 << 24);
        let src = Source {
            rev: &rev,
            bytes: &[],
            limits: &limits,
            budget: &budget,
        };
        let mut p = Painter::new(&src, count_white);
        p.run(content, None, GState::new(Matrix::IDENTITY, None), 0);
        p.out
    }

    #[test]
    fn paths_text_and_images_paint_their_boxes() {
        let p = painted(b"q 2 0 0 2 10 10 cm 0 0 50 20 re f Q", false);
        assert_eq!(p.areas, vec![[10.0, 10.0, 110.0, 50.0]]);
        // Text: one em per glyph for an unknown font, 0.35 em below and 1.15 em above.
        let p = painted(b"BT /F1 10 Tf 100 700 Td (abc) Tj ET", false);
        assert_eq!(p.areas.len(), 1);
        let [x0, y0, x1, y1] = p.areas[0];
        assert!(
            (x0 - 100.0).abs() < 1e-9 && (x1 - 130.0).abs() < 1e-9,
            "{x0} {x1}"
        );
        assert!(
            (y0 - 696.5).abs() < 1e-9 && (y1 - 711.5).abs() < 1e-9,
            "{y0} {y1}"
        );
        // TJ adjustments and Td move the next run.
        let p = painted(
            b"BT /F1 10 Tf 0 0 Td [(a) -1000 (b)] TJ 0 -20 Td (c) Tj ET",
            false,
        );
        assert_eq!(p.areas.len(), 2);
        assert!((p.areas[0][2] - 30.0).abs() < 1e-9);
        assert!((p.areas[1][1] - (-23.5)).abs() < 1e-9);
        // An inline image paints its unit square, and the bytes after EI are read again.
        let p = painted(
            b"q 20 0 0 10 5 5 cm BI /W 1 /H 1 /BPC 8 /CS /G ID AEI\x0aEI Q 0 0 1 1 re f",
            false,
        );
        assert_eq!(p.areas, vec![[5.0, 5.0, 25.0, 15.0], [0.0, 0.0, 1.0, 1.0]]);
    }

    #[test]
    fn white_counts_only_in_appearances_and_invisible_text_never() {
        let content = b"1 g 0 0 595 842 re f 1 1 1 RG 0 0 10 10 re S";
        assert!(painted(content, false).is_empty());
        assert_eq!(painted(content, true).areas.len(), 2);
        assert!(painted(b"BT 3 Tr /F1 12 Tf (hidden) Tj ET", false).is_empty());
        // A clip bounds what follows it.
        let p = painted(b"0 0 10 10 re W n 0 0 100 100 re f", false);
        assert_eq!(p.areas, vec![[0.0, 0.0, 10.0, 10.0]]);
        assert!(painted(b"0 0 10 10 re n 0 0 0 RG", false).is_empty());
    }

    #[test]
    fn what_cannot_be_read_paints_everywhere() {
        let p = painted(b"BT /F1 12 Tf (unterminated Tj ET", false);
        assert_eq!(p.areas, vec![EVERYWHERE]);
        assert!(p.unreadable.is_some());
        let p = painted(b"/Sh0 sh", false);
        assert_eq!(p.areas, vec![EVERYWHERE]);
        assert!(
            Painted {
                areas: vec![[0.0, 0.0, 5.0, 5.0]],
                unreadable: None
            }
            .overlap(&p)
            .is_some()
        );
    }
}
