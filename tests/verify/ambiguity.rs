//! An attacker appends an update that two PDF readers read differently: the viewer shows a page
//! the signer never saw while a lenient validator resolves the signed one. kyso reads every
//! revision with its own strict reader and must fail each such file with FORMAT_FAILURE, naming
//! the objects, on signatures made by kyso and by pyHanko, over files whose cross-reference data
//! are tables and over files whose cross-reference data are streams.

use std::sync::OnceLock;

use crate::common::*;
use kyso::validation::{
    self, Indication, Policy, SubIndication, TrustAnchors, ValidationReport, Verdict,
};
use lopdf::xref::XrefEntry;
use lopdf::{Document, Object, ObjectId};

/// Who signed the base file, and in which cross-reference form it (and the attack) is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    KysoTable,
    KysoStream,
    PyHankoTable,
    PyHankoStream,
}

pub const BASES: [Base; 4] = [
    Base::KysoTable,
    Base::KysoStream,
    Base::PyHankoTable,
    Base::PyHankoStream,
];

impl Base {
    pub fn stream(self) -> bool {
        matches!(self, Base::KysoStream | Base::PyHankoStream)
    }
}

/// The unsigned fixture rewritten with object streams and a cross-reference stream (qpdf).
pub fn unsigned_stream_form() -> &'static [u8] {
    static ONCE: OnceLock<Vec<u8>> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("objstm.pdf");
        let status = std::process::Command::new("qpdf")
            .args(["--object-streams=generate", "--"])
            .arg(fixture("pyhanko/unsigned.pdf"))
            .arg(&out)
            .status()
            .expect("qpdf runs");
        assert!(status.success());
        let bytes = std::fs::read(out).unwrap();
        assert!(
            bytes.windows(5).any(|w| w == b"/XRef"),
            "qpdf wrote an xref stream"
        );
        bytes
    })
}

/// Signs `input` with pyHanko as the keys-dev chairman (PAdES), optionally certifying with
/// DocMDP `certify` (1, 2 or 3).
pub fn pyhanko_sign(input: &[u8], certify: Option<u8>) -> Vec<u8> {
    pyhanko_sign_as(input, certify, "PyHankoSig", "chairman-rsa")
}

/// Signs `input` with pyHanko as the keys-dev signer `stem`, into the field `field` (an existing
/// empty one, or a new invisible one), optionally certifying with DocMDP `certify`.
pub fn pyhanko_sign_as(input: &[u8], certify: Option<u8>, field: &str, stem: &str) -> Vec<u8> {
    pyhanko_sign_with(input, certify, field, stem, false)
}

/// pyHanko's approval signature over a document whose certification permissions pyHanko cannot
/// read itself (it reads a DocMDP `/P` only when it is direct): its pre-signing check of the
/// certification is skipped, the signature is made as usual.
pub fn pyhanko_sign_unchecked(input: &[u8]) -> Vec<u8> {
    pyhanko_sign_with(input, None, "PyHankoSig", "chairman-rsa", true)
}

fn pyhanko_sign_with(
    input: &[u8],
    certify: Option<u8>,
    field: &str,
    stem: &str,
    unchecked: bool,
) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&i, input).unwrap();
    let script = r#"
import sys
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter, MDPPerm
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
inp, out, key, cert, inter, certify, field, unchecked = sys.argv[1:9]
if unchecked == '1':
    signers.PdfSigner._enforce_certification_constraints = lambda self, reader: None
signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(inter,))
kw = {}
if certify != '0':
    kw = dict(certify=True, docmdp_permissions={'1': MDPPerm.NO_CHANGES, '2': MDPPerm.FILL_FORMS, '3': MDPPerm.ANNOTATE}[certify])
meta = signers.PdfSignatureMetadata(field_name=field, subfilter=SigSeedSubFilter.PADES, **kw)
with open(inp, 'rb') as f, open(out, 'wb') as o:
    signers.sign_pdf(IncrementalPdfFileWriter(f, strict=False), meta, signer=signer, output=o)
"#;
    let k = keys_dev();
    let out = std::process::Command::new(tools().join("venv/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(&i)
        .arg(&o)
        .arg(k.join(format!("{stem}.key.pem")))
        .arg(k.join(format!("{stem}.pem")))
        .arg(k.join("intermediate-ca.pem"))
        .arg(certify.map_or("0".to_string(), |c| c.to_string()))
        .arg(field)
        .arg(if unchecked { "1" } else { "0" })
        .output()
        .expect("pyHanko runs");
    assert!(
        out.status.success(),
        "pyHanko signing failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(o).unwrap()
}

/// The signed base file for `b` (made once per test process).
pub fn base(b: Base) -> &'static [u8] {
    static ONCE: [OnceLock<Vec<u8>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let unsigned_table = || std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap();
    match b {
        Base::KysoTable => ONCE[0].get_or_init(|| sign_bytes("chairman-rsa", &unsigned_table())),
        Base::KysoStream => {
            ONCE[1].get_or_init(|| sign_bytes("chairman-rsa", unsigned_stream_form()))
        }
        Base::PyHankoTable => ONCE[2].get_or_init(|| pyhanko_sign(&unsigned_table(), None)),
        Base::PyHankoStream => ONCE[3].get_or_init(|| pyhanko_sign(unsigned_stream_form(), None)),
    }
}

/// Validation under the development root (both signers use the keys-dev chairman).
pub fn check(bytes: &[u8]) -> ValidationReport {
    let mut anchors = TrustAnchors::new();
    anchors
        .add_pem_or_der(&std::fs::read(keys_dev().join("root-ca.pem")).unwrap())
        .unwrap();
    let policy = Policy {
        anchors,
        ..Policy::default()
    };
    validation::validate(bytes, &policy, time::OffsetDateTime::now_utc()).expect("readable PDF")
}

/// Where an entry of the appended section points.
#[derive(Debug, Clone, Copy)]
pub enum At {
    Offset(usize),
    InStream(u32, u32),
}

/// An update written by hand, byte by byte, so that it can say what no honest writer says.
pub struct Update {
    out: Vec<u8>,
    entries: Vec<(u32, At)>,
    trailer_extra: String,
    pub doc: Document,
    prev: usize,
    pub size: u32,
}

impl Update {
    pub fn over(base: &[u8]) -> Update {
        let doc = kyso::pdf::load(base, &kyso::pdf::Limits::default()).expect("base loads");
        let size = doc.trailer.get(b"Size").unwrap().as_i64().unwrap() as u32;
        Update {
            out: base.to_vec(),
            entries: Vec::new(),
            trailer_extra: String::new(),
            prev: kyso::pdf::last_startxref(base).unwrap(),
            size,
            doc,
        }
    }

    /// A fresh object number.
    pub fn allocate(&mut self) -> u32 {
        self.size += 1;
        self.size - 1
    }

    /// Writes `num 0 obj body endobj` and lists it; returns the header's offset.
    pub fn object(&mut self, num: u32, body: &[u8]) -> usize {
        let at = self.write_object(num, body);
        self.entries.push((num, At::Offset(at)));
        at
    }

    /// Writes an object without listing it.
    pub fn write_object(&mut self, num: u32, body: &[u8]) -> usize {
        self.out.push(b'\n');
        let at = self.out.len();
        self.out
            .extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
        at
    }

    /// Lists an entry as it is.
    pub fn entry(&mut self, num: u32, at: At) {
        self.entries.push((num, at));
    }

    /// Adds raw text to the trailer dictionary.
    pub fn trailer(&mut self, extra: &str) {
        self.trailer_extra.push_str(extra);
    }

    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Where the base says object `num` lives.
    pub fn location(&self, num: u32) -> At {
        match self.doc.reference_table.entries.get(&num) {
            Some(XrefEntry::Normal { offset, .. }) => At::Offset(*offset as usize),
            Some(XrefEntry::Compressed { container, index }) => {
                At::InStream(*container, u32::from(*index))
            }
            other => panic!("object {num} is not in use: {other:?}"),
        }
    }

    fn root(&self) -> String {
        let (n, g) = self
            .doc
            .trailer
            .get(b"Root")
            .unwrap()
            .as_reference()
            .unwrap();
        format!("{n} {g} R")
    }

    /// Closes the update with a cross-reference table (`stream == false`) or stream; each entry
    /// gets a subsection (or `/Index` pair) of its own, in the order listed.
    pub fn finish(mut self, stream: bool) -> Vec<u8> {
        let xref_at = self.out.len() + 1;
        self.out.push(b'\n');
        let root = self.root();
        if !stream {
            let mut text = String::from("xref\n");
            for (num, at) in &self.entries {
                let At::Offset(o) = at else {
                    panic!("a table cannot point into an object stream")
                };
                text.push_str(&format!("{num} 1\n{o:010} 00000 n \n"));
            }
            text.push_str(&format!(
                "trailer\n<</Size {}/Root {root}/Prev {}{}>>\nstartxref\n{xref_at}\n%%EOF\n",
                self.size, self.prev, self.trailer_extra
            ));
            self.out.extend_from_slice(text.as_bytes());
            return self.out;
        }
        let own = self.size;
        self.entries.push((own, At::Offset(xref_at)));
        let mut rows = Vec::new();
        let mut index = String::new();
        // Consecutive numbers share one `/Index` pair, as writers do.
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for (num, _) in &self.entries {
            match runs.last_mut() {
                Some((start, len)) if *start + *len == *num => *len += 1,
                _ => runs.push((*num, 1)),
            }
        }
        for (start, len) in runs {
            index.push_str(&format!("{start} {len} "));
        }
        for (_, at) in &self.entries {
            let (t, a, b) = match at {
                At::Offset(o) => (1u8, *o as u32, 0u32),
                At::InStream(s, i) => (2u8, *s, *i),
            };
            rows.push(t);
            rows.extend_from_slice(&a.to_be_bytes());
            rows.extend_from_slice(&b.to_be_bytes());
        }
        self.out.extend_from_slice(
            format!(
                "{own} 0 obj\n<</Type/XRef/Size {}/Root {root}/Prev {}/W[1 4 4]/Index[{}]/Length {}{}>>stream\n",
                own + 1,
                self.prev,
                index.trim_end(),
                rows.len(),
                self.trailer_extra
            )
            .as_bytes(),
        );
        self.out.extend_from_slice(&rows);
        self.out.extend_from_slice(
            format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes(),
        );
        self.out
    }
}

/// The first page's id and its content stream's id.
pub fn page_and_content(doc: &Document) -> (ObjectId, ObjectId) {
    let (_, page) = doc.get_pages().into_iter().next().unwrap();
    let content = match doc.get_dictionary(page).unwrap().get(b"Contents").unwrap() {
        Object::Reference(id) => *id,
        Object::Array(a) => a[0].as_reference().unwrap(),
        other => panic!("unexpected /Contents {other:?}"),
    };
    (page, content)
}

const FORGED: &[u8] = b"<</Length 39>>stream\nBT /F1 24 Tf 72 700 Td (FORGED) Tj ET\nendstream";

fn id(n: u32) -> String {
    format!("{n} 0")
}

/// The one signature of `report` failed with FORMAT_FAILURE and names every object of `named`.
fn assert_refused(b: Base, report: &ValidationReport, named: &[String]) {
    assert_eq!(report.indication, Verdict::Failed, "{b:?}: {report:#?}");
    let s = report
        .signatures
        .iter()
        .find(|s| s.indication == Indication::TotalFailed)
        .unwrap_or_else(|| panic!("{b:?}: no signature failed: {report:#?}"));
    assert_eq!(
        s.sub_indication,
        Some(SubIndication::FormatFailure),
        "{b:?}: {s:#?}"
    );
    for n in named {
        assert!(
            s.changed_objects.contains(n),
            "{b:?}: object {n} is named: {:?} / {:?}",
            s.changed_objects,
            s.messages
        );
    }
}

#[test]
fn the_untouched_bases_pass_so_every_failure_below_is_the_attacks_doing() {
    for b in BASES {
        let report = check(base(b));
        assert_eq!(report.indication, Verdict::Passed, "{b:?}: {report:#?}");
        // An honest update in the same form (an xref-only update listing nothing new) passes too.
        let up = Update::over(base(b));
        let bytes = up.finish(b.stream());
        let report = check(&bytes);
        assert_eq!(report.indication, Verdict::Passed, "{b:?}: {report:#?}");
    }
}

#[test]
fn one_section_listing_an_object_twice_is_refused() {
    for b in BASES {
        let mut up = Update::over(base(b));
        let (_, content) = page_and_content(&up.doc);
        let old = up.location(content.0);
        // The new definition first, then the signed one: readers that take the first entry and
        // readers that take the last one show different pages.
        up.object(content.0, FORGED);
        up.entry(content.0, old);
        if !b.stream() && matches!(old, At::InStream(..)) {
            continue;
        }
        let report = check(&up.finish(b.stream()));
        assert_refused(b, &report, &[id(content.0)]);
    }
}

#[test]
fn an_entry_pointing_at_another_objects_header_is_refused() {
    for b in BASES {
        let mut up = Update::over(base(b));
        let (page, content) = page_and_content(&up.doc);
        // An object that lives in the file itself, with another number.
        let other = up
            .doc
            .reference_table
            .entries
            .iter()
            .find_map(|(n, e)| match e {
                XrefEntry::Normal { offset, .. } if *n != content.0 && *n != page.0 && *n != 0 => {
                    Some((*n, *offset as usize))
                }
                _ => None,
            })
            .unwrap();
        up.entry(content.0, At::Offset(other.1));
        let report = check(&up.finish(b.stream()));
        assert_refused(b, &report, &[id(content.0), id(other.0)]);
    }
}

#[test]
fn an_object_stream_holding_an_object_twice_is_refused() {
    // Written as a cross-reference stream over every base (an update may switch to streams).
    for b in BASES {
        let mut up = Update::over(base(b));
        let (page, _) = page_and_content(&up.doc);
        let forged_content = up.allocate();
        up.object(forged_content, FORGED);
        let mut forged_page = up.doc.get_dictionary(page).unwrap().clone();
        forged_page.set("Contents", Object::Reference((forged_content, 0)));
        let mut first = Vec::new();
        kyso_write(&Object::Dictionary(forged_page), &mut first);
        let mut second = Vec::new();
        kyso_write(
            &Object::Dictionary(up.doc.get_dictionary(page).unwrap().clone()),
            &mut second,
        );
        let head = format!("{} 0 {} {} ", page.0, page.0, first.len() + 1);
        let mut data = head.clone().into_bytes();
        data.extend_from_slice(&first);
        data.push(b' ');
        data.extend_from_slice(&second);
        let stm = up.allocate();
        let mut body = format!(
            "<</Type/ObjStm/N 2/First {}/Length {}>>stream\n",
            head.len(),
            data.len()
        )
        .into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\nendstream");
        up.object(stm, &body);
        // The index selects the second copy for some readers, the first for others.
        up.entry(page.0, At::InStream(stm, 1));
        let report = check(&up.finish(true));
        assert_refused(b, &report, &[id(page.0), id(stm)]);
    }
}

/// Serialises an object the way a PDF writer would (through lopdf's writer).
pub(crate) fn kyso_write(obj: &Object, out: &mut Vec<u8>) {
    let mut doc = Document::with_version("1.7");
    let id = doc.add_object(obj.clone());
    doc.trailer.set("Root", id);
    let mut file = Vec::new();
    doc.save_to(&mut file).unwrap();
    let header = format!("{} 0 obj", id.0);
    let start = file
        .windows(header.len())
        .position(|w| w == header.as_bytes())
        .unwrap()
        + header.len();
    let end = start
        + file[start..]
            .windows(6)
            .position(|w| w == b"endobj")
            .unwrap();
    out.extend_from_slice(file[start..end].trim_ascii());
}

#[test]
fn a_trailer_with_two_roots_is_refused() {
    for b in BASES {
        let mut up = Update::over(base(b));
        let root = up.doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        let mut catalog = up.doc.get_dictionary(root).unwrap().clone();
        catalog.remove(b"AcroForm");
        let mut text = Vec::new();
        kyso_write(&Object::Dictionary(catalog), &mut text);
        let new_root = up.allocate();
        up.object(new_root, &text);
        up.trailer(&format!("/Root {new_root} 0 R"));
        let report = check(&up.finish(b.stream()));
        assert_refused(b, &report, &[]);
        let s = &report.signatures[0];
        assert!(
            !s.changed_objects.is_empty() && s.messages.iter().any(|m| m.contains("/Root twice")),
            "{b:?}: the trailer is named: {s:#?}"
        );
    }
}

#[test]
fn a_signature_dictionary_with_two_contents_is_refused() {
    for b in BASES {
        let mut up = Update::over(base(b));
        let sig = sig_dict_id(&up.doc);
        let mut dict = up.doc.get_dictionary(sig).unwrap().clone();
        dict.remove(b"Contents");
        let mut text = Vec::new();
        kyso_write(&Object::Dictionary(dict), &mut text);
        // Two /Contents: the signed value (read by some) and another (read by others).
        let close = text.len() - 2;
        let original = up
            .doc
            .get_dictionary(sig)
            .unwrap()
            .get(b"Contents")
            .unwrap();
        let Object::String(v, _) = original else {
            panic!("contents")
        };
        let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
        let insert = format!("/Contents <{hex}>/Contents <00>");
        text.splice(close..close, insert.bytes());
        up.object(sig.0, &text);
        let report = check(&up.finish(b.stream()));
        assert_refused(b, &report, &[id(sig.0)]);
    }
}

/// The id of the first signature dictionary of a document.
pub fn sig_dict_id(doc: &Document) -> ObjectId {
    doc.objects
        .iter()
        .find_map(|(id, o)| {
            o.as_dict()
                .ok()
                .filter(|d| d.has(b"ByteRange"))
                .map(|_| *id)
        })
        .unwrap()
}

#[test]
fn an_update_hidden_in_a_signature_gap_is_refused() {
    for b in BASES {
        let mut up = Update::over(base(b));
        let (_, content) = page_and_content(&up.doc);
        // The gap holds the forged object; an xref-only update reaches it.
        let bytes = up.bytes_mut();
        let key = bytes.windows(10).rposition(|w| w == b"/ByteRange").unwrap();
        let open = key + bytes[key..].iter().position(|c| *c == b'[').unwrap();
        let close = open + bytes[open..].iter().position(|c| *c == b']').unwrap();
        let nums: Vec<usize> = std::str::from_utf8(&bytes[open + 1..close])
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        let (gap_start, gap_end) = (nums[1], nums[2]);
        let mut object = format!("{} 0 obj\n", content.0).into_bytes();
        object.extend_from_slice(FORGED);
        object.extend_from_slice(b"\nendobj\n");
        let at = gap_start + 9;
        assert!(at + object.len() < gap_end, "{b:?}: room in the gap");
        bytes[at..at + object.len()].copy_from_slice(&object);
        up.entry(content.0, At::Offset(at));
        let report = check(&up.finish(b.stream()));
        assert_refused(b, &report, &[id(content.0)]);
    }
}

#[test]
fn signing_refuses_ambiguous_input_with_the_reason() {
    let mut up = Update::over(&std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap());
    let (_, content) = page_and_content(&up.doc);
    let old = up.location(content.0);
    up.object(content.0, FORGED);
    up.entry(content.0, old);
    let bytes = up.finish(false);
    let dir = tempfile::tempdir().unwrap();
    let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&i, &bytes).unwrap();
    let out = kyso()
        .args(sign_args("chairman-rsa", &i, &o, &[]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ambiguous"), "{err}");
    assert!(err.contains(&format!("{} 0", content.0)), "{err}");
    assert!(!o.exists());
}

/// The page dictionary of `page` as written, with `extra` inserted just before its closing `>>`.
fn page_text_with(up: &Update, page: ObjectId, extra: &str) -> Vec<u8> {
    let mut text = Vec::new();
    kyso_write(
        &Object::Dictionary(up.doc.get_dictionary(page).unwrap().clone()),
        &mut text,
    );
    let close = text.len() - 2;
    text.splice(close..close, extra.bytes());
    text
}

#[test]
fn a_key_written_twice_anywhere_in_an_update_is_refused() {
    for b in BASES {
        // The page with a second /Contents (a forged stream): readers keeping the first key and
        // readers keeping the last show different pages.
        let mut up = Update::over(base(b));
        let (page, _) = page_and_content(&up.doc);
        let forged = up.allocate();
        up.object(forged, FORGED);
        let text = page_text_with(&up, page, &format!("/Contents {forged} 0 R"));
        up.object(page.0, &text);
        let report = check(&up.finish(b.stream()));
        assert_refused(b, &report, &[id(page.0)]);
        // A key twice in a dictionary nested inside the page.
        let mut up = Update::over(base(b));
        let text = page_text_with(
            &up,
            page,
            "/Group<</S/Transparency/CS/DeviceRGB/CS/DeviceCMYK>>",
        );
        up.object(page.0, &text);
        let report = check(&up.finish(b.stream()));
        assert_refused(b, &report, &[id(page.0)]);
        // The same page kept in an object stream (the update written as a cross-reference stream
        // whatever the base's form).
        let mut up = Update::over(base(b));
        let forged = up.allocate();
        up.object(forged, FORGED);
        let text = page_text_with(&up, page, &format!("/Contents {forged} 0 R"));
        let head = format!("{} 0 ", page.0);
        let mut data = head.clone().into_bytes();
        data.extend_from_slice(&text);
        let stm = up.allocate();
        let mut body = format!(
            "<</Type/ObjStm/N 1/First {}/Length {}>>stream\n",
            head.len(),
            data.len()
        )
        .into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\nendstream");
        up.object(stm, &body);
        up.entry(page.0, At::InStream(stm, 0));
        let report = check(&up.finish(true));
        assert_refused(b, &report, &[id(page.0)]);
    }
}

#[test]
fn a_table_and_its_cross_reference_stream_defining_one_object_differently_are_refused() {
    // A hybrid update: the table keeps the signed content stream, the /XRefStm it points at (read
    // only by readers of PDF 1.5 and later) lists a forged one.
    for b in BASES {
        let mut up = Update::over(base(b));
        let (_, content) = page_and_content(&up.doc);
        let At::Offset(old) = up.location(content.0) else {
            continue;
        };
        let forged_at = up.write_object(content.0, FORGED);
        let stm = up.allocate();
        let mut row = vec![1u8];
        row.extend_from_slice(&(forged_at as u32).to_be_bytes());
        row.extend_from_slice(&[0, 0, 0, 0]);
        let mut body = format!(
            "<</Type/XRef/Size {}/W[1 4 4]/Index[{} 1]/Length {}>>stream\n",
            up.size,
            content.0,
            row.len()
        )
        .into_bytes();
        body.extend_from_slice(&row);
        body.extend_from_slice(b"\nendstream");
        let stm_at = up.write_object(stm, &body);
        up.entry(content.0, At::Offset(old));
        up.trailer(&format!("/XRefStm {stm_at}"));
        let report = check(&up.finish(false));
        assert_refused(b, &report, &[id(content.0)]);
    }
}

#[test]
fn signing_refuses_every_kind_of_ambiguous_input_with_the_reason() {
    let unsigned = std::fs::read(fixture("pyhanko/unsigned.pdf")).unwrap();
    let mut cases: Vec<(&str, Vec<u8>, String)> = Vec::new();
    // An entry leading to another object's header.
    let mut up = Update::over(&unsigned);
    let (page, content) = page_and_content(&up.doc);
    let At::Offset(page_at) = up.location(page.0) else {
        panic!("the fixture keeps its page in the file")
    };
    up.entry(content.0, At::Offset(page_at));
    cases.push(("alias", up.finish(false), id(content.0)));
    // A key twice in the page.
    let mut up = Update::over(&unsigned);
    let forged = up.allocate();
    up.object(forged, FORGED);
    let text = page_text_with(&up, page, &format!("/Contents {forged} 0 R"));
    up.object(page.0, &text);
    cases.push(("duplicate key", up.finish(false), id(page.0)));
    // Two /Root keys in the trailer.
    let mut up = Update::over(&unsigned);
    let root = up.doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    up.trailer(&format!("/Root {} 0 R", root.0));
    cases.push(("two roots", up.finish(false), "trailer".into()));
    let dir = tempfile::tempdir().unwrap();
    for (what, bytes, named) in cases {
        let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
        std::fs::write(&i, &bytes).unwrap();
        let out = kyso()
            .args(sign_args("chairman-rsa", &i, &o, &[]))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ambiguous"), "{what}: {err}");
        assert!(err.contains(&named), "{what}: {named} is named: {err}");
        assert!(!o.exists(), "{what}");
    }
}
