//! Validation of signed PDFs: ETSI EN 319 102-1 indications for every signature, resisting the
//! known PDF signature attacks (Universal Signature Forgery, Incremental Saving, Signature Wrapping,
//! Shadow hide / replace / hide-and-replace).
//!
//! Each signature is checked in order, failing closed:
//! 1. [`structure`]: `/Type /Sig`, an accepted `/SubFilter`, a `/ByteRange` of four ascending
//!    integers from 0 that ends exactly at a revision boundary and whose one gap holds exactly this
//!    dictionary's `/Contents`;
//! 2. [`cms`]: digest of the covered bytes against message-digest, the signature value, the
//!    signing-certificate-v2 binding;
//! 3. [`chain`]: a path to a configured trust anchor, constraints, validity, revocation;
//! 4. [`modifications`]: every later revision, resolved on its own, diffed against the signed one.
//!
//! Only [`validate`] produces a [`ValidationReport`]; the CLI and any service render it.

pub mod capacity;
pub mod chain;
pub mod cms;
pub mod crypto;
pub mod findings;
pub mod modifications;
pub mod ocsp;
pub mod report;
pub mod structure;
pub mod timestamp;

use lopdf::{Dictionary, Object, ObjectId};

use crate::pdf::revisions::{self, Budget, LoadedRevision, ReadLimits, RevisionError, Revisions};
pub use chain::TrustAnchors;
use report::Finding;
pub use report::{
    Coverage, Indication, Integrity, ModificationLevel, Modifications, SignatureReport, Signer,
    SubIndication, ValidationReport, Verdict,
};
use structure::ByteRange;

/// Why a file could not be validated at all (as opposed to a signature failing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The input cannot be read as a PDF.
    #[error("not a readable PDF: {0}")]
    NotPdf(#[from] RevisionError),
}

/// What a validation relies on besides the file.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Trust anchors (from configuration or the command line only).
    pub anchors: TrustAnchors,
    /// CRLs (DER) supplied by the caller; CRLs carried in signatures are used too.
    pub crls: Vec<Vec<u8>>,
    /// Limits on the work spent on the file.
    pub limits: ReadLimits,
}

const SUBFILTERS: [&[u8]; 2] = [b"ETSI.CAdES.detached", b"adbe.pkcs7.detached"];

/// A signature found in the document: its field and dictionary.
struct Found {
    field: String,
    field_id: Option<ObjectId>,
    sig_id: Option<ObjectId>,
    sig: Dictionary,
}

/// Validates every signature of `bytes` at validation time `at`: the caller's current time
/// (validation reads no clock of its own), or a past time it asks about.
///
/// A resource limit reached in any revision refuses the file as a whole ([`ValidationError`]); a
/// revision that is malformed or ambiguous fails the signatures it follows or holds instead.
pub fn validate(
    bytes: &[u8],
    policy: &Policy,
    at: time::OffsetDateTime,
) -> Result<ValidationReport, ValidationError> {
    let limits = &policy.limits;
    let sha256 = crypto::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    let revs = revisions::find_revisions(bytes, limits)?;
    let budget = Budget::for_file(bytes.len());
    let now = at.unix_timestamp();

    // Signatures of every revision: an update may hide a signature field from the final
    // document (re-pointing the catalog), and such a signature must still be judged.
    let mut cache = RevisionCache::new(bytes, limits, &budget, revs.revisions.len());
    let last_index = revs.revisions.len() - 1;
    let mut unreadable: Vec<RevisionError> = Vec::new();
    let mut dss = Dss::default();
    let mut found: Vec<Found> = match cache.get(&revs, last_index) {
        Ok(final_rev) => {
            dss = read_dss(bytes, &final_rev, limits, &budget);
            find_signatures(&final_rev, limits)
        }
        Err(e) if e.is_limit() => return Err(e.into()),
        Err(e) => {
            unreadable.push(e);
            Vec::new()
        }
    };
    // Loading every earlier revision is only needed when the final document does not account for
    // every signature dictionary in the file: each has its own `/ByteRange` key in the raw bytes.
    let byte_range_keys = revisions::count(bytes, b"/ByteRange");
    let earlier = if found.len() < byte_range_keys {
        last_index
    } else {
        0
    };
    for index in (0..earlier).rev() {
        let rev = match cache.get(&revs, index) {
            Ok(rev) => rev,
            Err(e) if e.is_limit() => return Err(e.into()),
            Err(e) => {
                unreadable.push(e);
                continue;
            }
        };
        for f in find_signatures(&rev, limits) {
            let duplicate = found.iter().any(|g| {
                g.sig_id == f.sig_id && g.sig.get(b"ByteRange").ok() == f.sig.get(b"ByteRange").ok()
            });
            if !duplicate {
                found.push(f);
            }
        }
    }
    // Revision order: by where each signature's byte range ends.
    let end_of = |f: &Found| match f.sig.get(b"ByteRange") {
        Ok(Object::Array(a)) if a.len() == 4 => a[2]
            .as_i64()
            .unwrap_or(0)
            .saturating_add(a[3].as_i64().unwrap_or(0)),
        _ => i64::MAX,
    };
    found.sort_by_key(end_of);
    // The gaps of every signature: no cross-reference entry may point into one (their bytes are
    // not signed, so an object placed there is an update no signature accounts for).
    let gaps: Vec<(usize, usize)> = found
        .iter()
        .filter_map(|f| ByteRange::parse(f.sig.get(b"ByteRange").ok(), bytes.len()).ok())
        .map(|r| (r.gap_start, r.gap_end))
        .collect();
    // Last to first: a valid document timestamp proves that everything before it existed at
    // its time, so each earlier signature and timestamp is judged at the earliest such proof
    // (ETSI EN 319 102-1 past signature validation), and the last one at the validation time.
    let mut reports = Vec::with_capacity(found.len());
    let mut later_poe: Option<i64> = None;
    for f in found.iter().rev() {
        let report = check_signature(
            bytes, &revs, &mut cache, f, &gaps, policy, now, &dss, later_poe,
        )?;
        if report.indication == Indication::TotalPassed
            && let Some(t) = report.timestamp_time
        {
            later_poe = Some(later_poe.map_or(t, |p| p.min(t)));
        }
        reports.push(report);
    }
    reports.reverse();
    // Signature dictionaries in revisions that cannot be read at all must not vanish from the
    // report: the file then fails rather than reading as unsigned.
    if reports.is_empty() && byte_range_keys > 0 {
        // Name the objects placed in the gaps of the signatures the raw bytes declare.
        let raw = raw_gaps(bytes);
        let mut hidden: Vec<String> = Vec::new();
        if !raw.is_empty() {
            for rev in &revs.revisions {
                match revisions::read_xref_chain(bytes, rev, limits, &budget) {
                    Ok(chain) => {
                        for (num, e) in &chain.entries {
                            if let revisions::Entry::InFile { offset, .. } = e
                                && raw.iter().any(|(s, e)| offset >= s && offset < e)
                                && !hidden.contains(&format!("{num} 0"))
                            {
                                hidden.push(format!("{num} 0"));
                            }
                        }
                    }
                    Err(e) if e.is_limit() => return Err(e.into()),
                    Err(_) => {}
                }
            }
        }
        for e in &unreadable {
            let mut report = blank_report("(unreadable)".into());
            if let RevisionError::Ambiguous { objects, .. } = e {
                report.changed_objects.clone_from(objects);
            }
            for h in &hidden {
                if !report.changed_objects.contains(h) {
                    report.changed_objects.push(h.clone());
                }
            }
            reports.push(
                Draft {
                    report,
                    findings: Vec::new(),
                }
                .fail(Finding::failed(
                    SubIndication::FormatFailure,
                    format!("the file holds a signature, but a revision cannot be read: {e}"),
                )),
            );
        }
    }
    // A file none of whose revisions can be read, and which declares no signature, is not a
    // readable PDF.
    if reports.is_empty()
        && byte_range_keys == 0
        && let Some(e) = unreadable.into_iter().next()
    {
        return Err(e.into());
    }
    // A signature dictionary in bytes that form no complete revision (a truncated or damaged
    // update) cannot be judged, but it must not vanish from the report either.
    let tail_start = revs.revisions.last().map_or(0, |r| r.end);
    if revs.trailing_garbage && revisions::find(&bytes[tail_start..], b"/ByteRange").is_some() {
        reports.push(unreadable_tail(tail_start));
    }
    Ok(ValidationReport::new(sha256, reports))
}

/// The CMS containers (DER) of the signatures and document timestamps the final revision of
/// `bytes` holds, each with whether it is a document timestamp: what long-term validation
/// material must cover. Nothing is checked here; unreadable values are left out.
pub fn signature_containers(
    bytes: &[u8],
    limits: &ReadLimits,
) -> Result<Vec<(bool, Vec<u8>)>, ValidationError> {
    let revs = revisions::find_revisions(bytes, limits)?;
    let budget = Budget::for_file(bytes.len());
    let Some(last) = revs.revisions.last() else {
        return Ok(Vec::new());
    };
    let rev = revisions::load_revision(bytes, last, limits, &budget)?;
    Ok(find_signatures(&rev, limits)
        .into_iter()
        .filter_map(|f| {
            let timestamp = f.sig.get(b"Type").ok().and_then(|t| t.as_name().ok())
                == Some(b"DocTimeStamp".as_slice());
            match f.sig.get(b"Contents") {
                Ok(Object::String(c, _)) => structure::cms_der(c).ok().map(|d| (timestamp, d)),
                _ => None,
            }
        })
        .collect())
}

/// Validation material of the document security store (`/DSS` in the final catalog).
#[derive(Debug, Default)]
struct Dss {
    /// Certificates (DER).
    certs: Vec<Vec<u8>>,
    /// CRLs and OCSP responses (DER).
    revinfo: Vec<Vec<u8>>,
    /// The inflated items, held against the file's memory bound.
    _held: Vec<revisions::Held>,
}

/// Most items read from one DSS array, and the largest stream inflated.
const DSS_MAX_ITEMS: usize = 1024;
const DSS_MAX_STREAM: u64 = 16 << 20;

/// The raw body of stream object `id` of `rev`, read from the file at its cross-reference
/// offset and accepted only when its SHA-256 is the digest the strict reader kept in its place.
fn stream_body<'a>(
    bytes: &'a [u8],
    rev: &LoadedRevision,
    id: ObjectId,
    limits: &ReadLimits,
) -> Option<&'a [u8]> {
    let Some(Object::Stream(s)) = rev.get(id) else {
        return None;
    };
    let revisions::Entry::InFile { offset, .. } = rev.xref.entries.get(&id.0)? else {
        return None;
    };
    let len = rev
        .resolve(s.dict.get(b"Length").ok()?, limits)?
        .as_i64()
        .ok()
        .and_then(|l| usize::try_from(l).ok())?;
    let head = bytes.get(*offset..)?;
    let head = &head[..head.len().min(4096)];
    let dict_end = revisions::find(head, b">>")?;
    let kw = dict_end + revisions::find(&head[dict_end..], b"stream")? + 6;
    let start = match head.get(kw..kw + 2) {
        Some(b"\r\n") => kw + 2,
        Some([b'\n', _]) | Some([b'\r', _]) => kw + 1,
        _ => return None,
    };
    let body = bytes.get(offset + start..(offset + start).checked_add(len)?)?;
    (ring::digest::digest(&ring::digest::SHA256, body).as_ref() == s.content.as_slice())
        .then_some(body)
}

/// Reads the DSS of `rev`. Each stream is read once however often the arrays list it, and the
/// work and memory its items take are the file's `budget`'s: what does not fit is left out (the
/// signatures that needed it then lack validation material, which fails closed).
fn read_dss(bytes: &[u8], rev: &LoadedRevision, limits: &ReadLimits, budget: &Budget) -> Dss {
    let mut out = Dss::default();
    let mut seen = std::collections::HashSet::new();
    let Some(dss) = rev
        .doc
        .trailer
        .get(b"Root")
        .ok()
        .and_then(|r| rev.resolve(r, limits))
        .and_then(|c| c.as_dict().ok())
        .and_then(|c| c.get(b"DSS").ok())
        .and_then(|d| rev.resolve(d, limits))
        .and_then(|d| d.as_dict().ok())
    else {
        return out;
    };
    for (key, certs) in [(&b"Certs"[..], true), (b"OCSPs", false), (b"CRLs", false)] {
        let Some(items) = dss
            .get(key)
            .ok()
            .and_then(|a| rev.resolve(a, limits))
            .and_then(|a| a.as_array().ok())
        else {
            continue;
        };
        for item in items.iter().take(DSS_MAX_ITEMS) {
            let Ok(id) = item.as_reference() else {
                continue;
            };
            if !seen.insert(id) {
                continue;
            }
            let Some(Object::Stream(s)) = rev.get(id) else {
                continue;
            };
            if budget
                .charge(
                    s.dict
                        .get(b"Length")
                        .ok()
                        .and_then(|l| rev.resolve(l, limits))
                        .and_then(|l| l.as_i64().ok())
                        .and_then(|l| u64::try_from(l).ok())
                        .unwrap_or(0)
                        / 16,
                    "hashed DSS streams",
                )
                .is_err()
            {
                break;
            }
            let Some(raw) = stream_body(bytes, rev, id, limits) else {
                continue;
            };
            let data = match s.dict.get(b"Filter").ok().and_then(|f| f.as_name().ok()) {
                None => budget
                    .hold(raw.len(), "DSS items")
                    .ok()
                    .map(|held| (raw.to_vec(), held)),
                Some(b"FlateDecode") => {
                    let cap = (DSS_MAX_STREAM as usize).min(budget.max_decoded());
                    revisions::inflate_held(raw, cap, budget).ok()
                }
                Some(_) => None,
            };
            if let Some((d, held)) = data {
                out._held.push(held);
                if certs {
                    out.certs.push(d);
                } else {
                    out.revinfo.push(d);
                }
            }
        }
    }
    out
}

/// The gaps `(start, end)` of every `/ByteRange [0 a b c]` written in the raw bytes, read without
/// parsing the file (for naming objects when a revision cannot be parsed).
fn raw_gaps(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for at in memchr::memmem::find_iter(bytes, b"/ByteRange") {
        let rest = bytes.get(at + 10..).unwrap_or_default();
        let rest = rest.get(..rest.len().min(80)).unwrap_or_default();
        let text = String::from_utf8_lossy(rest);
        let Some(open) = text.trim_start().strip_prefix('[') else {
            continue;
        };
        let Some(close) = open.find(']') else {
            continue;
        };
        let nums: Vec<usize> = open[..close]
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [0, a, b, _] = nums[..]
            && a < b
            && b <= bytes.len()
        {
            out.push((a, b));
        }
    }
    out
}

/// How many loaded revisions stay in memory at once: the signed revision, the one compared with
/// it and the final one cover the common cases; a file with many revisions re-reads some instead
/// of holding every revision's object table.
const CACHED_REVISIONS: usize = 3;
/// Most objects the cached revisions may hold together.
const CACHED_OBJECTS: usize = 100_000;

/// Revisions loaded on demand, a few kept for the other signatures of the same file.
struct RevisionCache<'a> {
    bytes: &'a [u8],
    limits: &'a ReadLimits,
    budget: &'a Budget,
    loaded: Vec<Option<std::rc::Rc<LoadedRevision>>>,
    /// Indices in `loaded`, least recently used first.
    order: std::collections::VecDeque<usize>,
}

impl<'a> RevisionCache<'a> {
    fn new(bytes: &'a [u8], limits: &'a ReadLimits, budget: &'a Budget, count: usize) -> Self {
        RevisionCache {
            bytes,
            limits,
            budget,
            loaded: vec![None; count],
            order: std::collections::VecDeque::new(),
        }
    }

    fn get(
        &mut self,
        revs: &Revisions,
        index: usize,
    ) -> Result<std::rc::Rc<LoadedRevision>, RevisionError> {
        if let Some(rev) = &self.loaded[index] {
            let rev = rev.clone();
            self.order.retain(|i| *i != index);
            self.order.push_back(index);
            return Ok(rev);
        }
        let load = || {
            revisions::load_revision(self.bytes, &revs.revisions[index], self.limits, self.budget)
        };
        let rev = match load() {
            // The revisions kept for later hold the memory this one needs: let them go (those a
            // caller still uses stay until it drops them) and read it again.
            Err(e) if e.is_memory() && !self.order.is_empty() => {
                for i in self.order.drain(..) {
                    self.loaded[i] = None;
                }
                load()?
            }
            other => other?,
        };
        let rev = std::rc::Rc::new(rev);
        self.loaded[index] = Some(rev.clone());
        self.order.push_back(index);
        // Keep at most a few revisions, and only as many objects as a large honest file has: a
        // revision of a quarter million tiny objects is read again rather than kept (the caller
        // holds the one it asked for as long as it needs it).
        let objects = |loaded: &[Option<std::rc::Rc<LoadedRevision>>],
                       order: &std::collections::VecDeque<usize>| {
            order
                .iter()
                .map(|i| loaded[*i].as_ref().map_or(0, |r| r.doc.objects.len()))
                .sum::<usize>()
        };
        while self.order.len() > CACHED_REVISIONS
            || objects(&self.loaded, &self.order) > CACHED_OBJECTS
        {
            if let Some(old) = self.order.pop_front() {
                self.loaded[old] = None;
            }
        }
        Ok(rev)
    }
}

/// Signature fields with a value, walking `/AcroForm /Fields` and `/Kids`.
fn find_signatures(rev: &LoadedRevision, limits: &ReadLimits) -> Vec<Found> {
    let mut out = Vec::new();
    let catalog = rev
        .doc
        .trailer
        .get(b"Root")
        .ok()
        .and_then(|r| rev.resolve(r, limits))
        .and_then(|c| c.as_dict().ok());
    let Some(fields) = catalog
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(|a| rev.resolve(a, limits))
        .and_then(|a| a.as_dict().ok())
        .and_then(|a| a.get(b"Fields").ok())
        .and_then(|f| rev.resolve(f, limits))
        .and_then(|f| f.as_array().ok())
    else {
        return out;
    };
    let mut stack: Vec<(&Object, usize)> = fields.iter().map(|f| (f, 0)).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some((item, depth)) = stack.pop() {
        if depth > limits.max_depth || seen.len() > limits.max_objects {
            continue;
        }
        let field_id = item.as_reference().ok();
        if let Some(id) = field_id
            && !seen.insert(id)
        {
            continue;
        }
        let Some(field) = rev.resolve(item, limits).and_then(|f| f.as_dict().ok()) else {
            continue;
        };
        if let Ok(Object::Array(kids)) = field.get(b"Kids") {
            stack.extend(kids.iter().map(|k| (k, depth + 1)));
        }
        let is_sig = field.get(b"FT").ok().and_then(|f| f.as_name().ok()) == Some(b"Sig")
            || inherited_ft(rev, field, limits);
        let Ok(value) = field.get(b"V") else { continue };
        if !is_sig {
            continue;
        }
        let sig_id = value.as_reference().ok();
        // A value that is not a dictionary is still a signature: it fails (as a dictionary
        // without /Type) instead of making the file read as unsigned.
        let sig = rev
            .resolve(value, limits)
            .and_then(|v| v.as_dict().ok())
            .cloned()
            .unwrap_or_default();
        out.push(Found {
            field: modifications::full_name(rev, field, limits),
            field_id,
            sig_id,
            sig,
        });
    }
    out
}

fn inherited_ft(rev: &LoadedRevision, field: &Dictionary, limits: &ReadLimits) -> bool {
    let mut d = field;
    for _ in 0..limits.max_depth {
        let Some(parent) = d
            .get(b"Parent")
            .ok()
            .and_then(|p| rev.resolve(p, limits))
            .and_then(|p| p.as_dict().ok())
        else {
            return false;
        };
        if let Ok(ft) = parent.get(b"FT") {
            return ft.as_name().ok() == Some(b"Sig");
        }
        d = parent;
    }
    false
}

fn unreadable_tail(tail_start: usize) -> SignatureReport {
    Draft { report: blank_report("(unreadable)".into()), findings: Vec::new() }.fail(Finding::failed(
        SubIndication::FormatFailure,
        format!("a signature lies after byte {tail_start}, in bytes that form no complete revision (truncated or damaged file)"),
    ))
}

fn blank_report(field: String) -> SignatureReport {
    SignatureReport {
        field,
        signer: None,
        claimed_signing_time: None,
        integrity: Integrity::Unreadable,
        coverage: None,
        modifications_after: Modifications::None,
        modification_level: ModificationLevel::None,
        changed_objects: Vec::new(),
        chain: Vec::new(),
        trusted: false,
        indication: Indication::TotalFailed,
        sub_indication: None,
        messages: Vec::new(),
        capacity: None,
        timestamps: Vec::new(),
        revocation: Vec::new(),
        proof_of_existence: None,
        timestamp_time: None,
        subfilter: String::new(),
    }
}

/// A signature report being filled in.
struct Draft {
    report: SignatureReport,
    findings: Vec<Finding>,
}

impl Draft {
    fn fail(mut self, finding: Finding) -> SignatureReport {
        self.findings.push(finding);
        self.finish()
    }

    fn finish(mut self) -> SignatureReport {
        let worst = self
            .findings
            .iter()
            .find(|f| f.indication == Indication::TotalFailed)
            .or_else(|| self.findings.first());
        match worst {
            Some(f) => {
                self.report.indication = f.indication;
                self.report.sub_indication = Some(f.sub);
            }
            None => {
                self.report.indication = Indication::TotalPassed;
                self.report.sub_indication = None;
            }
        }
        let mut messages: Vec<String> = self.findings.iter().map(|f| f.message.clone()).collect();
        messages.append(&mut self.report.messages);
        self.report.messages = messages;
        self.report
    }
}

#[allow(clippy::too_many_arguments)]
fn check_signature(
    bytes: &[u8],
    revs: &Revisions,
    cache: &mut RevisionCache<'_>,
    f: &Found,
    gaps: &[(usize, usize)],
    policy: &Policy,
    now: i64,
    dss: &Dss,
    later_poe: Option<i64>,
) -> Result<SignatureReport, RevisionError> {
    let limits = &policy.limits;
    let mut d = Draft {
        report: blank_report(f.field.clone()),
        findings: Vec::new(),
    };
    let format = |m: String| Finding::failed(SubIndication::FormatFailure, m);
    let sig = &f.sig;

    // 1. Structure.
    let kind = sig.get(b"Type").ok().and_then(|t| t.as_name().ok());
    let subfilter = sig
        .get(b"SubFilter")
        .ok()
        .and_then(|s| s.as_name().ok())
        .unwrap_or_default();
    d.report.subfilter = String::from_utf8_lossy(subfilter).into_owned();
    let timestamp = match (kind, subfilter) {
        (Some(b"Sig"), sf) if SUBFILTERS.contains(&sf) => false,
        (Some(b"DocTimeStamp"), b"ETSI.RFC3161") => true,
        (Some(b"Sig" | b"DocTimeStamp"), _) => {
            let msg = format!("/SubFilter /{} is not accepted", d.report.subfilter);
            return Ok(d.fail(format(msg)));
        }
        _ => {
            return Ok(d.fail(format(
                "signature dictionary /Type is missing or not /Sig".into(),
            )));
        }
    };
    let range = match ByteRange::parse(sig.get(b"ByteRange").ok(), bytes.len()) {
        Ok(r) => r,
        Err(e) => return Ok(d.fail(format(e.to_string()))),
    };
    let Some(signed_index) = revs.revisions.iter().position(|r| r.ends_at(range.end)) else {
        return Ok(d.fail(format(
            "/ByteRange does not end at the end of a revision".into(),
        )));
    };
    let covered_to_end = bytes[range.end..]
        .iter()
        .all(|b| revisions::is_pdf_whitespace(*b));
    d.report.coverage = Some(if covered_to_end {
        Coverage::WholeFile
    } else {
        Coverage::Revision
    });
    let Ok(Object::String(contents, _)) = sig.get(b"Contents") else {
        return Ok(d.fail(format("/Contents is missing or not a string".into())));
    };
    let signed = match cache.get(revs, signed_index) {
        Ok(r) => r,
        Err(e) if e.is_limit() => return Err(e),
        Err(e) => {
            if let RevisionError::Ambiguous { objects, .. } = &e {
                d.report.changed_objects.clone_from(objects);
            }
            return Ok(d.fail(format(format!("signed revision: {e}"))));
        }
    };
    // The dictionary must be the one the signed revision defines, unchanged and uncompressed.
    let Some(sig_id) = f.sig_id else {
        return Ok(d.fail(format("signature value is not an indirect object".into())));
    };
    if signed.get(sig_id).and_then(|o| o.as_dict().ok()) != Some(sig) {
        return Ok(d.fail(format(
            "signature dictionary differs from the one in the signed revision".into(),
        )));
    }
    let dict_offset = match signed.doc.reference_table.get(sig_id.0) {
        Some(lopdf::xref::XrefEntry::Normal { offset, .. }) => Some(*offset as usize),
        _ => None,
    };
    if let Err(e) = range.check_gap(bytes, contents, dict_offset) {
        // Foreign bytes in the gap may be an update that a later cross-reference section
        // reaches: name the objects it places there.
        for index in signed_index + 1..revs.revisions.len() {
            match cache.get(revs, index) {
                Ok(later) => {
                    for (num, _) in entries_in_gaps(&later, &[(range.gap_start, range.gap_end)]) {
                        let id = format!("{num} 0");
                        if !d.report.changed_objects.contains(&id) {
                            d.report.changed_objects.push(id);
                        }
                    }
                }
                Err(e) if e.is_limit() => return Err(e),
                Err(_) => {}
            }
        }
        return Ok(d.fail(format(e.to_string())));
    }

    // 2. Integrity.
    let der = match structure::cms_der(contents) {
        Ok(der) => der,
        Err(e) => return Ok(d.fail(format(format!("/Contents: {e}")))),
    };
    let content = if timestamp {
        cms::Content::TimeStampToken
    } else {
        cms::Content::Detached
    };
    let cms = match cms::SignedCms::parse(&der, content) {
        Ok(c) => c,
        Err(cms::CmsError::NoSignerCertificate) => {
            return Ok(d.fail(Finding::indeterminate(
                SubIndication::NoSigningCertificateFound,
                "the signer's certificate is not in the signature",
            )));
        }
        Err(e) => return Ok(d.fail(format(e.to_string()))),
    };
    d.report.signer = chain::describe_signer(cms.signer_certificate());
    let tst = if timestamp {
        match cms.tst_info() {
            Ok(t) => Some(t),
            Err(e) => return Ok(d.fail(format(e.to_string()))),
        }
    } else {
        None
    };
    // A document timestamp's time is the TSA's genTime; a signature's is only claimed.
    let claimed = match &tst {
        Some(t) => Some(t.gen_time),
        None => sig
            .get(b"M")
            .ok()
            .and_then(|m| m.as_str().ok())
            .and_then(parse_pdf_date)
            .or(cms.signing_time),
    };
    d.report.claimed_signing_time = claimed.map(fmt_time);
    d.report.timestamp_time = tst.as_ref().map(|t| t.gen_time);
    let parts = range.signed_parts(bytes);
    let imprint_ok = tst
        .as_ref()
        .is_none_or(|t| t.imprint_digest.digest(&parts) == t.imprint);
    if cms.content_digest(&parts) != cms.message_digest || !imprint_ok {
        d.report.integrity = Integrity::Broken;
        return Ok(d.fail(Finding::failed(
            SubIndication::HashFailure,
            "the signed bytes were changed: their digest differs from the signed message digest",
        )));
    }
    match cms.verify_signature() {
        Ok(()) => {}
        Err(crypto::CryptoError::Invalid) => {
            d.report.integrity = Integrity::Broken;
            return Ok(d.fail(Finding::failed(
                SubIndication::SigCryptoFailure,
                "the signature value does not verify with the signer's key",
            )));
        }
        // The SignerIdentifier names a certificate whose key is not of the signature's kind:
        // it is not the signer's certificate, whatever else it is.
        Err(crypto::CryptoError::BadKey) => {
            return Ok(d.fail(Finding::indeterminate(
                SubIndication::NoSigningCertificateFound,
                "the certificate the SignerIdentifier names holds no key that could have made this signature: it is not the signer's certificate",
            )));
        }
        Err(e) => {
            return Ok(d.fail(Finding::indeterminate(
                SubIndication::CryptoConstraintsFailure,
                e.to_string(),
            )));
        }
    }
    d.report.integrity = Integrity::Intact;
    // RFC 3161 and ETSI.CAdES.detached both require the signing-certificate binding.
    match cms.check_ess_binding(timestamp || subfilter == b"ETSI.CAdES.detached") {
        Ok(()) => {}
        Err(cms::CmsError::SigningCertificateMismatch) => {
            d.findings.push(Finding::indeterminate(
                SubIndication::NoSigningCertificateFound,
                "signing-certificate-v2 does not match the signer's certificate",
            ));
        }
        Err(e) => d.findings.push(format(e.to_string())),
    }

    // 3. Chain. Revocation data: the caller's, the signature's own CRLs, the DSS's CRLs and
    // OCSP responses; certificates: the signature's and the DSS's.
    let mut crls = policy.crls.clone();
    crls.extend(cms.crls.iter().cloned());
    crls.extend(dss.revinfo.iter().cloned());
    let mut pool = cms.certificates.clone();
    pool.extend(dss.certs.iter().cloned());
    let purpose = if timestamp {
        chain::Purpose::TimeStamping
    } else {
        chain::Purpose::Signing
    };
    // What this object's timestamps are judged at: the time of a later document timestamp
    // covering it, else now.
    let ts_now = later_poe.map_or(now, |p| p.min(now));
    // 3a. Signature timestamps: the earliest valid one proves the signature existed then, so
    // the chain is judged at that time rather than now (past signature validation).
    let mut validation_time = ts_now;
    if !timestamp {
        d.report.timestamps = timestamp::signature_timestamps(&der, &policy.anchors, &crls, ts_now);
        for t in d.report.timestamps.iter().filter(|t| !t.valid) {
            d.report.messages.push(format!(
                "signature timestamp from {} is not valid: {}",
                t.tsa,
                t.messages.join("; ")
            ));
        }
        if let Some(poe) = timestamp::proof_of_existence(&d.report.timestamps) {
            validation_time = poe.min(ts_now);
        }
    }
    if validation_time < now {
        d.report.proof_of_existence = Some(fmt_time(validation_time));
    }
    let outcome = chain::check_path_at(
        cms.signer_certificate(),
        &pool,
        &policy.anchors,
        &crls,
        claimed.unwrap_or(validation_time),
        validation_time,
        now,
        purpose,
    );
    d.report.revocation = outcome.revocation;
    d.report.chain = outcome.chain;
    d.report.trusted = outcome.trusted;
    d.findings.extend(outcome.findings);
    d.report.messages.extend(outcome.notes);
    if claimed.is_none() {
        d.report
            .messages
            .push("no claimed signing time (/M); validity checked at validation time".into());
    }

    // 3b. The claimed capacity (own right, or a delegation whose grant must verify).
    if let Some(sa) = &cms.signer_attributes_v2 {
        let (capacity, findings) = capacity::check(
            sa,
            cms.signer_certificate(),
            &cms.certificates,
            &policy.anchors,
            &crls,
            claimed,
            now,
        );
        d.report.capacity = Some(capacity);
        d.findings.extend(findings);
    }

    // 4. Modifications after the signed revision.
    let field_dict = f
        .field_id
        .and_then(|id| signed.get(id))
        .and_then(|o| o.as_dict().ok());
    let perms = modifications::permissions(&signed, field_dict, sig, limits);
    let mut level = Modifications::None;
    let mut graded = ModificationLevel::None;
    for (index, later) in revs.revisions.iter().enumerate().skip(signed_index + 1) {
        level = level.max(Modifications::Allowed);
        let later_rev = match cache.get(revs, index) {
            Ok(r) => r,
            Err(e) if e.is_limit() => return Err(e),
            Err(e) => {
                level = Modifications::Disallowed;
                match &e {
                    RevisionError::Ambiguous { objects, .. } => {
                        for o in objects {
                            if !d.report.changed_objects.contains(o) {
                                d.report.changed_objects.push(o.clone());
                            }
                        }
                    }
                    _ => d
                        .report
                        .changed_objects
                        .push(format!("revision ending at byte {}", later.end)),
                }
                d.report
                    .messages
                    .push(format!("a later revision cannot be read: {e}"));
                continue;
            }
        };
        // Entries written after signing must lead to the objects they name, reachable or not.
        for num in &later_rev.unresolved {
            if later_rev.xref.entries.get(num) == signed.xref.entries.get(num) {
                continue;
            }
            level = Modifications::Disallowed;
            let id = format!("{num} 0");
            if !d.report.changed_objects.contains(&id) {
                d.report.changed_objects.push(id.clone());
            }
            if d.report.messages.len() < 64 {
                d.report.messages.push(format!(
                    "revision ending at byte {}: object {id}: its cross-reference entry, written after signing, does not lead to object {num} (an ambiguous structure)",
                    later.end
                ));
            }
        }
        for (num, at) in entries_in_gaps(&later_rev, gaps) {
            level = Modifications::Disallowed;
            let id = format!("{num} 0");
            if !d.report.changed_objects.contains(&id) {
                d.report.changed_objects.push(id.clone());
            }
            d.report.messages.push(format!(
                "revision ending at byte {}: object {id}: its cross-reference entry points at byte {at}, inside a signature's /Contents, which no signature covers",
                later.end
            ));
        }
        let file = modifications::File {
            bytes,
            budget: cache.budget,
        };
        let diff = modifications::diff(&signed, &later_rev, &perms, &file, limits);
        graded = graded.max(diff.level);
        for (id, why) in diff.disallowed {
            level = Modifications::Disallowed;
            if !d.report.changed_objects.contains(&id) {
                d.report.changed_objects.push(id.clone());
            }
            d.report.messages.push(format!(
                "revision ending at byte {}: object {id}: {why}",
                later.end
            ));
        }
    }
    if revs.trailing_garbage && !covered_to_end {
        level = Modifications::Disallowed;
        d.report.changed_objects.push(format!(
            "bytes after offset {}",
            revs.revisions.last().map_or(0, |r| r.end)
        ));
        d.report
            .messages
            .push("bytes that form no revision follow the last revision".into());
    }
    d.report.modifications_after = level;
    d.report.modification_level = if level == Modifications::Disallowed {
        ModificationLevel::Other
    } else {
        graded
    };
    if level == Modifications::Disallowed {
        d.findings.insert(
            0,
            Finding::failed(
                SubIndication::FormatFailure,
                "the document was modified after signing in a way a signature does not allow",
            ),
        );
    } else if level == Modifications::Allowed {
        d.report.messages.push(
            "later revisions only add signatures, validation data or permitted form filling".into(),
        );
    }
    Ok(d.finish())
}

/// Cross-reference entries (object numbers and offsets) and sections of `rev` that lie inside one
/// of the signature gaps `gaps` (section offsets are reported as object 0).
fn entries_in_gaps(rev: &LoadedRevision, gaps: &[(usize, usize)]) -> Vec<(u32, usize)> {
    let inside = |at: usize| gaps.iter().any(|(s, e)| at >= *s && at < *e);
    let mut out: Vec<(u32, usize)> = rev
        .xref
        .entries
        .iter()
        .filter_map(|(num, e)| match e {
            revisions::Entry::InFile { offset, .. } if inside(*offset) => Some((*num, *offset)),
            _ => None,
        })
        .collect();
    out.extend(
        rev.xref
            .sections
            .iter()
            .filter(|s| inside(**s))
            .map(|s| (0, *s)),
    );
    out
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Parses a PDF date `D:YYYYMMDDHHmmSSOHH'mm'` (all but the year optional) into Unix seconds.
pub fn parse_pdf_date(s: &[u8]) -> Option<i64> {
    let s = s.strip_prefix(b"D:").unwrap_or(s);
    let mut cur = structure::Cursor::new(s);
    let mut num = |n: usize, default: i64| -> Option<i64> {
        match cur.peek() {
            Some(b) if b.is_ascii_digit() => {
                let digits = cur.take(n)?;
                if !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                std::str::from_utf8(digits).ok()?.parse().ok()
            }
            _ => Some(default),
        }
    };
    let year = num(4, -1)?;
    let month = num(2, 1)?;
    let day = num(2, 1)?;
    let hour = num(2, 0)?;
    let minute = num(2, 0)?;
    let second = num(2, 0)?;
    if year < 0 {
        return None;
    }
    let mut offset = 0i64;
    match cur.byte() {
        Some(sign @ (b'+' | b'-')) => {
            let digits = |c: &mut structure::Cursor<'_>| -> Option<i64> {
                let d = c.take(2)?;
                std::str::from_utf8(d).ok()?.parse().ok()
            };
            let h = digits(&mut cur)?;
            let _ = cur.byte().filter(|b| *b == b'\'');
            let m = digits(&mut cur).unwrap_or(0);
            offset = (h * 3600 + m * 60) * if sign == b'+' { 1 } else { -1 };
        }
        Some(b'Z') | None => {}
        Some(_) => return None,
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp()
            - offset,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates() {
        assert_eq!(
            parse_pdf_date(b"D:20261125103000+07'00'"),
            Some(1_795_577_400)
        );
        assert_eq!(parse_pdf_date(b"D:20261125033000Z"), Some(1_795_577_400));
        assert_eq!(parse_pdf_date(b"D:2026"), Some(1_767_225_600));
        assert_eq!(parse_pdf_date(b"D:20261325"), None);
        assert_eq!(parse_pdf_date(b"garbage"), None);
        assert_eq!(fmt_time(1_795_577_400), "2026-11-25T03:30:00Z");
    }
}
