//! Modification analysis: what a later revision changed relative to the signed revision, judged at
//! object level (this is where Incremental Saving and Shadow attacks are caught).
//!
//! Both revisions are resolved on their own (each through its own cross-reference chain), so an
//! update that only re-points an object number to another definition shows up as a changed object
//! exactly like an update that writes a new one. The object graph of the later revision is walked
//! from its catalog; every object reached whose definition differs from the signed revision (new,
//! changed or freed) must be explained by a rule for what may follow a signature:
//!
//! * new signature fields and their widgets, appended to `/AcroForm /Fields` and to a page's
//!   `/Annots`, with their signature value (`/Type /Sig` or `/DocTimeStamp`) and appearance
//!   streams; an existing empty signature field receiving its value;
//! * `/AcroForm /SigFlags`, the catalog's `/DSS` (with VRI, certificates, CRLs, OCSP responses),
//!   `/Extensions` and `/Version`;
//! * form filling — `/V`, `/AP`, `/AS` of existing non-signature fields — unless a certification
//!   signature (DocMDP P=1) or a field lock (FieldMDP) forbids it.
//!
//! Anything else is disallowed and named. Objects an allowed change newly refers to must be new or
//! visible in the signed revision: an allowed change may not bring an object the signer could not
//! see (hidden in the signed revision) into view.

use std::collections::{HashMap, HashSet, VecDeque};

use lopdf::{Dictionary, Object, ObjectId};

use super::report::ModificationLevel;
use crate::pdf::content::{self, Source};
use crate::pdf::revisions::{Budget, LoadedRevision, ReadLimits};

/// The file the revisions come from, for what is read beyond their object tables (the content
/// streams a new widget might draw over), and the file's work budget.
#[derive(Clone, Copy)]
pub struct File<'a> {
    /// The whole file.
    pub bytes: &'a [u8],
    /// The work budget shared by everything read from it.
    pub budget: &'a Budget,
}

/// What the signer allowed to change after signing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// DocMDP P value of a certification signature in the signed revision (1, 2 or 3).
    pub docmdp: Option<i64>,
    /// FieldMDP locks of the signature (from `/Reference` and the field's `/Lock`).
    pub locks: Vec<FieldLock>,
}

/// One FieldMDP lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldLock {
    /// Every field is locked.
    All,
    /// Only these fields are locked.
    Include(Vec<String>),
    /// Every field but these is locked.
    Exclude(Vec<String>),
}

impl Permissions {
    fn may_fill(&self, field: &str) -> bool {
        if self.docmdp == Some(1) {
            return false;
        }
        !self.locks.iter().any(|l| match l {
            FieldLock::All => true,
            FieldLock::Include(names) => names.iter().any(|n| n == field),
            FieldLock::Exclude(names) => !names.iter().any(|n| n == field),
        })
    }

    fn may_sign(&self) -> bool {
        self.docmdp != Some(1)
    }
}

/// The outcome of comparing one later revision with the signed revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Whether anything reachable changed at all.
    pub changed: bool,
    /// How far the changes go, in pyHanko's order.
    pub level: ModificationLevel,
    /// Disallowed changes: object ids (`"12 0"`) with what happened to them.
    pub disallowed: Vec<(String, String)>,
}

/// Reads the permissions a signature dictionary (and the catalog) of the signed revision grant.
pub fn permissions(
    signed: &LoadedRevision,
    sig_field: Option<&Dictionary>,
    sig_dict: &Dictionary,
    limits: &ReadLimits,
) -> Permissions {
    let mut p = Permissions::default();
    let refs = sig_dict
        .get(b"Reference")
        .ok()
        .and_then(|r| signed.resolve(r, limits));
    if let Some(Object::Array(items)) = refs {
        for item in items {
            let Some(Object::Dictionary(r)) = signed.resolve(item, limits) else {
                continue;
            };
            let method = r
                .get(b"TransformMethod")
                .ok()
                .and_then(|m| signed.resolve(m, limits))
                .and_then(|m| m.as_name().ok());
            let params = r
                .get(b"TransformParams")
                .ok()
                .and_then(|t| signed.resolve(t, limits))
                .and_then(|t| t.as_dict().ok());
            match method {
                Some(b"DocMDP") => {
                    // An indirect /P is resolved like any value; a value outside 1..=3 is read
                    // as the strictest, never as the default.
                    let v = match params.and_then(|d| d.get(b"P").ok()) {
                        None => 2,
                        Some(v) => signed
                            .resolve(v, limits)
                            .and_then(|v| v.as_i64().ok())
                            .filter(|v| (1..=3).contains(v))
                            .unwrap_or(1),
                    };
                    p.docmdp = Some(v);
                }
                Some(b"FieldMDP") => {
                    if let Some(lock) = params.and_then(|d| field_lock(signed, d, limits)) {
                        p.locks.push(lock);
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(lock) = sig_field
        .and_then(|f| f.get(b"Lock").ok())
        .and_then(|l| signed.resolve(l, limits))
        .and_then(|l| l.as_dict().ok())
        .and_then(|d| field_lock(signed, d, limits))
    {
        p.locks.push(lock);
    }
    // A certification signature elsewhere in the signed revision binds this one too.
    let perms = catalog(signed)
        .and_then(|c| c.get(b"Perms").ok())
        .and_then(|x| signed.resolve(x, limits))
        .and_then(|x| x.as_dict().ok());
    if let Some(docmdp) = perms
        .and_then(|d| d.get(b"DocMDP").ok())
        .and_then(|x| signed.resolve(x, limits))
        .and_then(|x| x.as_dict().ok())
        && p.docmdp.is_none()
    {
        let sub = permissions(signed, None, docmdp, limits);
        p.docmdp = sub.docmdp.or(Some(2));
    }
    p
}

fn field_lock(rev: &LoadedRevision, d: &Dictionary, limits: &ReadLimits) -> Option<FieldLock> {
    let names = || -> Vec<String> {
        match d.get(b"Fields").ok().and_then(|f| rev.resolve(f, limits)) {
            Some(Object::Array(a)) => a
                .iter()
                .filter_map(|x| rev.resolve(x, limits))
                .filter_map(|x| x.as_str().ok())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
            _ => Vec::new(),
        }
    };
    let action = d.get(b"Action").ok()?;
    // An action that cannot be read locks everything rather than nothing.
    match rev.resolve(action, limits).and_then(|a| a.as_name().ok()) {
        Some(b"Include") => Some(FieldLock::Include(names())),
        Some(b"Exclude") => Some(FieldLock::Exclude(names())),
        _ => Some(FieldLock::All),
    }
}

fn catalog(rev: &LoadedRevision) -> Option<&Dictionary> {
    let root = rev.doc.trailer.get(b"Root").ok()?.as_reference().ok()?;
    rev.get(root)?.as_dict().ok()
}

fn id_str(id: ObjectId) -> String {
    format!("{} {}", id.0, id.1)
}

/// Keys of two dictionaries whose values differ.
fn changed_keys<'a>(a: Option<&'a Dictionary>, b: &'a Dictionary) -> Vec<&'a [u8]> {
    let mut keys: Vec<&[u8]> = Vec::new();
    for (k, v) in b.iter() {
        if a.and_then(|a| a.get(k).ok()) != Some(v) {
            keys.push(k.as_slice());
        }
    }
    if let Some(a) = a {
        for (k, _) in a.iter() {
            if !b.has(k) {
                keys.push(k.as_slice());
            }
        }
    }
    keys
}

fn name(key: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(key))
}

/// Every reference inside a direct object (not following references).
fn direct_refs(obj: &Object, out: &mut Vec<ObjectId>) {
    match obj {
        Object::Reference(id) => out.push(*id),
        Object::Array(items) => items.iter().for_each(|o| direct_refs(o, out)),
        Object::Dictionary(d) => d.iter().for_each(|(_, o)| direct_refs(o, out)),
        Object::Stream(s) => s.dict.iter().for_each(|(_, o)| direct_refs(o, out)),
        _ => {}
    }
}

/// Every object reachable from the catalog.
fn reachable(rev: &LoadedRevision, limits: &ReadLimits) -> HashSet<ObjectId> {
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    if let Ok(Object::Reference(root)) = rev.doc.trailer.get(b"Root") {
        queue.push_back(*root);
    }
    let mut refs = Vec::new();
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) || seen.len() > limits.max_objects {
            continue;
        }
        if let Some(obj) = rev.get(id) {
            refs.clear();
            direct_refs(obj, &mut refs);
            queue.extend(refs.iter().copied());
        }
    }
    seen
}

/// The field type of a field or widget, inherited through `/Parent`.
fn field_type<'a>(
    rev: &'a LoadedRevision,
    mut dict: &'a Dictionary,
    limits: &ReadLimits,
) -> Option<&'a [u8]> {
    for _ in 0..limits.max_depth {
        if let Ok(ft) = dict.get(b"FT") {
            return rev.resolve(ft, limits)?.as_name().ok();
        }
        dict = rev
            .resolve(dict.get(b"Parent").ok()?, limits)?
            .as_dict()
            .ok()?;
    }
    None
}

/// The fully qualified name of a field.
pub fn full_name<'a>(
    rev: &'a LoadedRevision,
    mut dict: &'a Dictionary,
    limits: &ReadLimits,
) -> String {
    let mut parts = Vec::new();
    for _ in 0..limits.max_depth {
        if let Some(t) = dict
            .get(b"T")
            .ok()
            .and_then(|t| rev.resolve(t, limits))
            .and_then(|t| t.as_str().ok())
        {
            parts.push(decode_text(t));
        }
        match dict
            .get(b"Parent")
            .ok()
            .and_then(|p| rev.resolve(p, limits))
            .and_then(|p| p.as_dict().ok())
        {
            Some(parent) => dict = parent,
            None => break,
        }
    }
    parts.reverse();
    parts.join(".")
}

/// A PDF text string (UTF-16BE with BOM, or PDFDocEncoding read as Latin-1).
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|b| *b as char).collect()
}

/// Terminal fields of the AcroForm of a revision, with their full names.
fn form_fields(rev: &LoadedRevision, limits: &ReadLimits) -> HashMap<ObjectId, String> {
    let mut out = HashMap::new();
    let Some(af) = catalog(rev)
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(|a| rev.resolve(a, limits))
        .and_then(|a| a.as_dict().ok())
    else {
        return out;
    };
    let mut stack: Vec<(ObjectId, usize)> = Vec::new();
    if let Some(Object::Array(fields)) = af.get(b"Fields").ok().and_then(|f| rev.resolve(f, limits))
    {
        stack.extend(
            fields
                .iter()
                .filter_map(|f| f.as_reference().ok())
                .map(|id| (id, 0)),
        );
    }
    let mut seen = HashSet::new();
    while let Some((id, depth)) = stack.pop() {
        if depth > limits.max_depth || !seen.insert(id) || seen.len() > limits.max_objects {
            continue;
        }
        let Some(d) = rev.get(id).and_then(|o| o.as_dict().ok()) else {
            continue;
        };
        out.insert(id, full_name(rev, d, limits));
        if let Some(Object::Array(kids)) = d.get(b"Kids").ok().and_then(|k| rev.resolve(k, limits))
        {
            stack.extend(
                kids.iter()
                    .filter_map(|k| k.as_reference().ok())
                    .map(|k| (k, depth + 1)),
            );
        }
    }
    out
}

/// Compares `later` with `signed`.
pub fn diff(
    signed: &LoadedRevision,
    later: &LoadedRevision,
    perms: &Permissions,
    file: &File<'_>,
    limits: &ReadLimits,
) -> Diff {
    let mut d = Diff::default();
    let root_s = signed
        .doc
        .trailer
        .get(b"Root")
        .ok()
        .and_then(|r| r.as_reference().ok());
    let root_l = later
        .doc
        .trailer
        .get(b"Root")
        .ok()
        .and_then(|r| r.as_reference().ok());
    let (Some(root), true) = (root_l, root_s == root_l) else {
        d.changed = true;
        d.disallowed.push((
            "trailer".into(),
            "the document catalog (/Root) was replaced".into(),
        ));
        return d;
    };
    let visible_in_signed = reachable(signed, limits);
    let fields_s = form_fields(signed, limits);
    let fields_l = form_fields(later, limits);

    let changed = |id: ObjectId| signed.get(id) != later.get(id);
    let is_new = |id: ObjectId| signed.get(id).is_none();

    // Containers whose rules depend on who refers to them.
    let cat_l = later.get(root).and_then(|o| o.as_dict().ok());
    let acroform_id = cat_l
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(|a| a.as_reference().ok());
    let fields_array_id = acroform_id
        .and_then(|a| later.get(a))
        .and_then(|a| a.as_dict().ok())
        .and_then(|a| a.get(b"Fields").ok())
        .and_then(|f| f.as_reference().ok());

    let mut main_seen: HashSet<ObjectId> = HashSet::new();
    let mut allowed_roots: Vec<ObjectId> = Vec::new();
    let mut queue: VecDeque<ObjectId> = VecDeque::from([root]);
    let mut annots_arrays: HashMap<ObjectId, ObjectId> = HashMap::new();
    let mut refs = Vec::new();
    let mut form_filling = false;

    while let Some(id) = queue.pop_front() {
        if !main_seen.insert(id) || main_seen.len() > limits.max_objects {
            continue;
        }
        let obj_l = later.get(id);
        let obj_s = signed.get(id);
        let Some(obj_l) = obj_l else {
            if obj_s.is_some() {
                d.changed = true;
                d.disallowed.push((
                    id_str(id),
                    "object was deleted (freed) after signing".into(),
                ));
            }
            continue;
        };
        // An object the signer could not see may not come into view, whatever leads to it.
        if obj_s.is_some() && !visible_in_signed.contains(&id) {
            d.changed = true;
            d.disallowed.push((
                id_str(id),
                "an object that was unreachable in the signed revision became reachable".into(),
            ));
        }
        // Which of this object's entries lead into an allowed-change region.
        let mut allowed_keys: &[&[u8]] = &[];
        if let Object::Dictionary(dict) = obj_l {
            let ft = field_type(later, dict, limits);
            let fresh_signature_field = ft == Some(b"Sig".as_slice())
                && (is_new(id)
                    || obj_s
                        .and_then(|o| o.as_dict().ok())
                        .is_some_and(|s| !s.has(b"V")))
                && (changed(id) || is_new(id));
            // A signature field being signed now, or a form field that may be filled: its value
            // and appearance are the allowed change.
            let fillable = ft.is_some()
                && ft != Some(b"Sig".as_slice())
                && fields_s.get(&id).is_some_and(|n| perms.may_fill(n));
            if id == root {
                allowed_keys = &[b"DSS"];
            } else if fresh_signature_field || fillable {
                allowed_keys = &[b"V", b"AP"];
            }
            if dict.has_type(b"Page")
                && let Ok(Object::Reference(a)) = dict.get(b"Annots")
            {
                annots_arrays.insert(*a, id);
            }
        }
        if changed(id) {
            d.changed = true;
            if let Some(reason) = judge(
                signed,
                later,
                file,
                id,
                root,
                acroform_id,
                fields_array_id,
                &annots_arrays,
                &fields_s,
                &fields_l,
                perms,
                limits,
            ) {
                d.disallowed.push((id_str(id), reason));
            } else if let Object::Dictionary(dict) = obj_l
                && field_type(later, dict, limits).is_some()
                && !(field_type(later, dict, limits) == Some(b"Sig".as_slice())
                    && is_timestamp_field(later, dict, limits))
            {
                // A field changed (filled, or signed) beyond adding a document timestamp.
                form_filling = true;
            }
        }
        refs.clear();
        match obj_l {
            Object::Dictionary(dict) => {
                for (k, v) in dict.iter() {
                    if allowed_keys.contains(&k.as_slice()) {
                        let mut sub = Vec::new();
                        direct_refs(v, &mut sub);
                        allowed_roots.extend(sub);
                    } else {
                        direct_refs(v, &mut refs);
                    }
                }
            }
            other => direct_refs(other, &mut refs),
        }
        queue.extend(refs.iter().copied());
    }

    // Allowed regions: new or changed objects are fine, but none may be reached through the main
    // graph (judged above), and none may bring a hidden object of the signed revision into view.
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut queue: VecDeque<ObjectId> = allowed_roots.into();
    while let Some(id) = queue.pop_front() {
        if main_seen.contains(&id) || !seen.insert(id) || seen.len() > limits.max_objects {
            continue;
        }
        if changed(id) {
            d.changed = true;
        }
        if signed.get(id).is_some() && !visible_in_signed.contains(&id) {
            d.disallowed.push((
                id_str(id),
                "an allowed change brings into view an object hidden in the signed revision".into(),
            ));
        }
        if let Some(obj) = later.get(id) {
            refs.clear();
            direct_refs(obj, &mut refs);
            queue.extend(refs.iter().copied());
        }
    }
    d.level = if !d.disallowed.is_empty() {
        ModificationLevel::Other
    } else if form_filling {
        ModificationLevel::FormFilling
    } else if d.changed {
        ModificationLevel::LtaUpdates
    } else {
        ModificationLevel::None
    };
    d
}

/// Judges an array that may only grow by new signature fields: `(before, after)` to the reason
/// it is disallowed, if it is.
type ArrayRule<'a> = dyn Fn(&[Object], &[Object]) -> Option<String> + 'a;

/// Why a changed object reached from the catalog is disallowed, or `None` if a rule allows it.
#[allow(clippy::too_many_arguments)]
fn judge(
    signed: &LoadedRevision,
    later: &LoadedRevision,
    file: &File<'_>,
    id: ObjectId,
    root: ObjectId,
    acroform_id: Option<ObjectId>,
    fields_array_id: Option<ObjectId>,
    annots_arrays: &HashMap<ObjectId, ObjectId>,
    fields_s: &HashMap<ObjectId, String>,
    fields_l: &HashMap<ObjectId, String>,
    perms: &Permissions,
    limits: &ReadLimits,
) -> Option<String> {
    let obj_l = later.get(id)?;
    let obj_s = signed.get(id);
    let dict_s = obj_s.and_then(|o| o.as_dict().ok());
    let new_sig_element = |items_s: &[Object], items_l: &[Object]| -> Option<String> {
        for old in items_s {
            if !items_l.contains(old) {
                return Some("an existing entry was removed".into());
            }
        }
        for item in items_l.iter().filter(|i| !items_s.contains(i)) {
            let Ok(new_id) = item.as_reference() else {
                return Some("a direct entry was added".into());
            };
            if signed.get(new_id).is_some() {
                return Some(format!(
                    "object {} of the signed revision was added",
                    id_str(new_id)
                ));
            }
            if let Some(why) = new_signature_field(signed, later, file, new_id, perms, limits) {
                return Some(why);
            }
        }
        None
    };

    if id == root {
        let Object::Dictionary(c) = obj_l else {
            return Some("catalog is not a dictionary".into());
        };
        for key in changed_keys(dict_s, c) {
            match key {
                // /Version only declares which PDF version the file conforms to (writers raise it
                // when they add a timestamp); it changes nothing that is displayed.
                b"DSS" | b"Extensions" | b"Version" => {}
                b"AcroForm" => {
                    let af_s = dict_s.and_then(|d| d.get(b"AcroForm").ok());
                    match (af_s, c.get(b"AcroForm").ok()) {
                        (Some(Object::Dictionary(a)), Some(Object::Dictionary(b))) => {
                            if let Some(r) =
                                judge_acroform(signed, later, Some(a), b, &new_sig_element, limits)
                            {
                                return Some(r);
                            }
                        }
                        (None, Some(Object::Reference(_))) => {}
                        (None, Some(Object::Dictionary(b))) => {
                            if let Some(r) =
                                judge_acroform(signed, later, None, b, &new_sig_element, limits)
                            {
                                return Some(r);
                            }
                        }
                        _ => return Some("catalog /AcroForm was re-pointed".into()),
                    }
                }
                other => return Some(format!("catalog entry {} changed", name(other))),
            }
        }
        return None;
    }
    if Some(id) == acroform_id {
        let Object::Dictionary(b) = obj_l else {
            return Some("/AcroForm is not a dictionary".into());
        };
        return judge_acroform(signed, later, dict_s, b, &new_sig_element, limits);
    }
    if Some(id) == fields_array_id || annots_arrays.contains_key(&id) {
        let Object::Array(items_l) = obj_l else {
            return Some("array became something else".into());
        };
        let items_s: Vec<Object> = match obj_s {
            Some(Object::Array(a)) => a.clone(),
            Some(_) => return Some("array replaced an object of another type".into()),
            None => {
                // A new array: compare with what the signed revision had in that place.
                let owner = annots_arrays
                    .get(&id)
                    .and_then(|p| signed.get(*p))
                    .and_then(|p| p.as_dict().ok());
                let before = match owner {
                    Some(page) => page.get(b"Annots").ok(),
                    None => catalog(signed)
                        .and_then(|c| c.get(b"AcroForm").ok())
                        .and_then(|a| signed.resolve(a, limits))
                        .and_then(|a| a.as_dict().ok())
                        .and_then(|a| a.get(b"Fields").ok()),
                };
                match before.and_then(|b| signed.resolve(b, limits)) {
                    Some(Object::Array(a)) => a.clone(),
                    _ => Vec::new(),
                }
            }
        };
        return new_sig_element(&items_s, items_l);
    }
    let Object::Dictionary(dict_l) = obj_l else {
        return Some(if obj_s.is_some() {
            "object changed after signing".into()
        } else {
            "object added after signing".into()
        });
    };
    // A page: only /Annots may change, by appending signature widgets.
    if dict_l.has_type(b"Page") && dict_s.is_some_and(|s| s.has_type(b"Page")) {
        for key in changed_keys(dict_s, dict_l) {
            if key != b"Annots" {
                return Some(format!("page entry {} changed", name(key)));
            }
            let before = dict_s
                .and_then(|s| s.get(b"Annots").ok())
                .and_then(|a| signed.resolve(a, limits));
            let after = dict_l.get(b"Annots").ok();
            match (before, after) {
                (_, Some(Object::Reference(r))) => {
                    // A new array is judged as an object of its own; an existing one may not be
                    // swapped in.
                    if signed.get(*r).is_some() {
                        return Some("page /Annots re-pointed to an existing array".into());
                    }
                }
                (before, Some(Object::Array(items))) => {
                    let old = match before {
                        Some(Object::Array(a)) => a.as_slice(),
                        _ => &[],
                    };
                    if let Some(r) = new_sig_element(old, items) {
                        return Some(format!("page /Annots: {r}"));
                    }
                }
                _ => return Some("page /Annots removed".into()),
            }
        }
        return None;
    }
    let ft = field_type(later, dict_l, limits);
    let is_widget = dict_l.get(b"Subtype").ok().and_then(|s| s.as_name().ok()) == Some(b"Widget");
    if ft == Some(b"Sig".as_slice()) {
        if dict_s.is_none() {
            // New signature field or widget: reached only through the arrays judged above, which
            // applied the same rule; judged again here for a field reached some other way.
            return new_signature_field(signed, later, file, id, perms, limits);
        }
        // A field that was signed keeps its appearance: re-pointing /AP would show something
        // else over a signature that still verifies.
        let was_empty = dict_s.is_some_and(|s| !s.has(b"V"));
        for key in changed_keys(dict_s, dict_l) {
            let ok = match key {
                b"AP" | b"AS" => was_empty,
                b"V" => {
                    was_empty
                        && signature_value_problem(signed, later, dict_l, perms, limits).is_none()
                }
                _ => false,
            };
            if !ok {
                return Some(if was_empty {
                    format!("signature field entry {} changed", name(key))
                } else {
                    format!(
                        "entry {} of a signature field that is already signed changed",
                        name(key)
                    )
                });
            }
        }
        return None;
    }
    if let Some(field) = fields_s.get(&id).filter(|_| ft.is_some() || is_widget) {
        if fields_l.get(&id) != Some(field) {
            return Some(format!("form field {field} was renamed or detached"));
        }
        if !perms.may_fill(field) {
            return Some(format!(
                "form field {field} changed, but the signature locks it"
            ));
        }
        for key in changed_keys(dict_s, dict_l) {
            if !matches!(key, b"V" | b"AP" | b"AS") {
                return Some(format!("form field {field}: entry {} changed", name(key)));
            }
        }
        return None;
    }
    if dict_l.has_type(b"Sig") || dict_l.has_type(b"DocTimeStamp") {
        return Some("signature dictionary changed after signing".into());
    }
    Some(if obj_s.is_some() {
        "object changed after signing".into()
    } else {
        "object added after signing".into()
    })
}

/// Why the new object `id` may not join `/AcroForm /Fields` or a page's `/Annots` as a new
/// signature field, if it may not.
///
/// Only a widget annotation (`/Subtype /Widget`, or a field whose kids all are) without actions
/// may be one: other annotations carrying `/FT /Sig` (FreeText, Stamp, Link, …) draw what they
/// like (the Evil Annotation attack).
///
/// What its appearance may draw, and why this rule rather than another:
/// * an unsigned field is a place for a later signature, and no signature vouches for what it
///   shows: its appearance may paint nothing at all. Over the page's content it hides what was
///   signed (the Evil Annotation attack, and the Sneaky Signature attack made with empty
///   fields); in blank space it adds text the signer never saw. An appearance that paints
///   nothing (the empty placeholder pyHanko and Acrobat draw for a visible field) is allowed;
/// * a signed field's value must be a signature dictionary of its own, new in this update; after
///   a certification (DocMDP P=2 or P=3) its appearance may not paint over what the certified
///   page shows (the Sneaky Signature attack). pyHanko goes further and refuses every new
///   visible signature after a certification, which ISO 32000 does not ask and which would
///   refuse the visible signature and seal images that Decree 30/2020 requires on Vietnamese
///   documents, so kyso compares what is painted instead of the widget's `/Rect`: the areas the
///   new appearance paints (white included, as white is how content is hidden) against the
///   areas the signed page's content streams paint and the appearances of its annotations
///   ([`content`], which errs towards "painted": a region it cannot read counts as painted
///   everywhere).
///
/// A new signature after an approval signature (no certification) may draw anywhere: that is how
/// the agency seal is laid over the official's signature.
fn new_signature_field(
    signed: &LoadedRevision,
    later: &LoadedRevision,
    file: &File<'_>,
    id: ObjectId,
    perms: &Permissions,
    limits: &ReadLimits,
) -> Option<String> {
    let Some(dict) = later.get(id).and_then(|o| o.as_dict().ok()) else {
        return Some(format!(
            "object {} added is not a signature field",
            id_str(id)
        ));
    };
    if field_type(later, dict, limits) != Some(b"Sig") {
        return Some(format!(
            "object {} added is not a signature field",
            id_str(id)
        ));
    }
    let mut widgets: Vec<(Option<ObjectId>, &Dictionary)> = Vec::new();
    match dict
        .get(b"Kids")
        .ok()
        .and_then(|k| later.resolve(k, limits))
    {
        Some(Object::Array(kids)) => {
            for kid in kids {
                match later.resolve(kid, limits).and_then(|k| k.as_dict().ok()) {
                    Some(k) => widgets.push((kid.as_reference().ok(), k)),
                    None => {
                        return Some(format!(
                            "signature field {} has a kid that is not a widget",
                            id_str(id)
                        ));
                    }
                }
            }
        }
        _ => widgets.push((Some(id), dict)),
    }
    for (_, w) in &widgets {
        let subtype = w
            .get(b"Subtype")
            .ok()
            .and_then(|s| later.resolve(s, limits))
            .and_then(|s| s.as_name().ok());
        if subtype != Some(b"Widget") {
            return Some(format!(
                "object {} carries /FT /Sig but is a /{} annotation, not a signature widget",
                id_str(id),
                String::from_utf8_lossy(subtype.unwrap_or(b"(none)"))
            ));
        }
        if w.has(b"A") || w.has(b"AA") || (dict.has(b"AA")) {
            return Some(format!(
                "new signature field {} carries actions (/A or /AA)",
                id_str(id)
            ));
        }
    }
    if !dict.has(b"V") {
        if !perms.may_sign() {
            return Some(
                "a certification signature (DocMDP P=1) forbids new signature fields".into(),
            );
        }
        for (wid, w) in &widgets {
            let painted = content::appearance(&source(later, file, limits), w);
            if painted.is_empty() {
                continue;
            }
            let what = covers_signed_content(signed, later, file, *wid, w, &painted, limits)
                .map_or_else(
                    || "paints on the page".to_string(),
                    |why| format!("draws over {why}"),
                );
            return Some(format!(
                "new unsigned signature field {} {what}, and no signature vouches for what an empty field shows",
                id_str(id)
            ));
        }
        return None;
    }
    if let Some(why) = signature_value_problem(signed, later, dict, perms, limits) {
        return Some(format!("new signature field {}: {why}", id_str(id)));
    }
    if perms.docmdp.is_some() {
        for (wid, w) in &widgets {
            let painted = content::appearance(&source(later, file, limits), w);
            if painted.is_empty() {
                continue;
            }
            if let Some(why) = covers_signed_content(signed, later, file, *wid, w, &painted, limits)
            {
                return Some(format!(
                    "new signature field {} draws over {why}, which the certification covers",
                    id_str(id)
                ));
            }
        }
    }
    None
}

/// Why a signature field's `/V` in `later` is not an acceptable new value: it must be a
/// signature or document timestamp dictionary written after `signed` (each signature dictionary
/// belongs to exactly one field), and only a document timestamp may follow a P=1 certification
/// (ISO 32000-2, 12.8.2.2: validation data and document timestamps are not changes).
fn signature_value_problem(
    signed: &LoadedRevision,
    later: &LoadedRevision,
    field: &Dictionary,
    perms: &Permissions,
    limits: &ReadLimits,
) -> Option<String> {
    let v = field.get(b"V").ok()?;
    let Ok(v_id) = v.as_reference() else {
        return Some("its signature value is not an indirect object".into());
    };
    if signed.get(v_id).is_some() {
        return Some(format!(
            "its value {} is a signature dictionary that already existed (it belongs to another field)",
            id_str(v_id)
        ));
    }
    let value = later.resolve(v, limits).and_then(|o| o.as_dict().ok());
    match value
        .and_then(|d| d.get(b"Type").ok())
        .and_then(|t| t.as_name().ok())
    {
        Some(b"DocTimeStamp") => None,
        Some(b"Sig") if perms.may_sign() => None,
        Some(b"Sig") => {
            Some("a certification signature (DocMDP P=1) forbids new signatures".into())
        }
        _ => Some("its value is not a signature dictionary".into()),
    }
}

/// Whether the value at `/V` of this new field is a document timestamp (an LTA update).
fn is_timestamp_field(later: &LoadedRevision, dict: &Dictionary, limits: &ReadLimits) -> bool {
    dict.get(b"V")
        .ok()
        .and_then(|v| later.resolve(v, limits))
        .and_then(|v| v.as_dict().ok())
        .is_some_and(|v| v.has_type(b"DocTimeStamp"))
}

fn source<'a>(rev: &'a LoadedRevision, file: &File<'a>, limits: &'a ReadLimits) -> Source<'a> {
    Source {
        rev,
        bytes: file.bytes,
        limits,
        budget: file.budget,
    }
}

/// The page of `later` whose `/Annots` holds the widget `wid` (the page named by its `/P` for a
/// widget that is not an indirect object). Viewers show an annotation only through `/Annots`.
fn page_of(
    later: &LoadedRevision,
    wid: Option<ObjectId>,
    w: &Dictionary,
    limits: &ReadLimits,
) -> Option<ObjectId> {
    let Some(wid) = wid else {
        return w.get(b"P").ok()?.as_reference().ok();
    };
    let root = later.doc.trailer.get(b"Root").ok()?.as_reference().ok()?;
    let pages = later
        .get(root)?
        .as_dict()
        .ok()?
        .get(b"Pages")
        .ok()?
        .as_reference()
        .ok()?;
    let mut stack = vec![(pages, 0usize)];
    let mut seen = HashSet::new();
    while let Some((node, depth)) = stack.pop() {
        if depth > limits.max_depth || !seen.insert(node) || seen.len() > limits.max_objects {
            continue;
        }
        let Some(d) = later.get(node).and_then(|o| o.as_dict().ok()) else {
            continue;
        };
        if let Some(Object::Array(kids)) =
            d.get(b"Kids").ok().and_then(|k| later.resolve(k, limits))
        {
            stack.extend(
                kids.iter()
                    .filter_map(|k| k.as_reference().ok())
                    .map(|k| (k, depth + 1)),
            );
        }
        if let Some(Object::Array(annots)) =
            d.get(b"Annots").ok().and_then(|a| later.resolve(a, limits))
            && annots.contains(&Object::Reference(wid))
        {
            return Some(node);
        }
    }
    None
}

fn area_str(a: content::Area) -> String {
    if a[0] <= -1e8 {
        return "everywhere".into();
    }
    format!("[{:.1} {:.1} {:.1} {:.1}]", a[0], a[1], a[2], a[3])
}

/// What the signed revision shows that the widget `w` of `later`, painting `painted`, draws over:
/// the content of its page, or an annotation of that page, as the signed revision has them.
fn covers_signed_content(
    signed: &LoadedRevision,
    later: &LoadedRevision,
    file: &File<'_>,
    wid: Option<ObjectId>,
    w: &Dictionary,
    painted: &content::Painted,
    limits: &ReadLimits,
) -> Option<String> {
    let page = page_of(later, wid, w, limits)?;
    let signed_src = source(signed, file, limits);
    let page_dict = signed.get(page).and_then(|o| o.as_dict().ok())?;
    let shown = content::page_content(&signed_src, page);
    if let Some(at) = painted.overlap(&shown) {
        let note = shown
            .unreadable
            .as_ref()
            .map(|why| format!(" (the page content cannot all be read: {why})"))
            .unwrap_or_default();
        return Some(format!(
            "the content of page {} at {}{note}",
            id_str(page),
            area_str(at)
        ));
    }
    let Some(Object::Array(annots)) = page_dict
        .get(b"Annots")
        .ok()
        .and_then(|a| signed.resolve(a, limits))
    else {
        return None;
    };
    for a in annots.iter().take(limits.max_objects) {
        let Some(annot) = signed.resolve(a, limits).and_then(|o| o.as_dict().ok()) else {
            continue;
        };
        let other = content::appearance(&signed_src, annot);
        if let Some(at) = painted.overlap(&other) {
            let which = a
                .as_reference()
                .map(|r| format!("annotation {}", id_str(r)))
                .unwrap_or_else(|_| "an annotation".into());
            return Some(format!(
                "{which} of page {} at {}",
                id_str(page),
                area_str(at)
            ));
        }
    }
    None
}

fn judge_acroform(
    signed: &LoadedRevision,
    later: &LoadedRevision,
    before: Option<&Dictionary>,
    after: &Dictionary,
    new_sig_element: &ArrayRule<'_>,
    limits: &ReadLimits,
) -> Option<String> {
    for key in changed_keys(before, after) {
        match key {
            b"SigFlags" => {}
            b"Fields" => {
                let old = before.and_then(|b| b.get(b"Fields").ok());
                match after.get(b"Fields").ok() {
                    Some(Object::Array(items)) => {
                        let old_items = match old.and_then(|o| signed.resolve(o, limits)) {
                            Some(Object::Array(a)) => a.as_slice(),
                            _ => &[],
                        };
                        if let Some(r) = new_sig_element(old_items, items) {
                            return Some(format!("/AcroForm /Fields: {r}"));
                        }
                    }
                    // An indirect array is judged as an object of its own.
                    Some(Object::Reference(r)) if later.get(*r).is_some() => {
                        if let (Some(Object::Reference(o)), true) = (old, signed.get(*r).is_some())
                            && o != r
                        {
                            return Some(
                                "/AcroForm /Fields re-pointed to an existing array".into(),
                            );
                        }
                    }
                    _ => return Some("/AcroForm /Fields removed".into()),
                }
            }
            other => return Some(format!("/AcroForm entry {} changed", name(other))),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::revisions::XrefChain;
    use lopdf::dictionary;

    fn revision(objects: Vec<(ObjectId, Object)>) -> LoadedRevision {
        let mut doc = lopdf::Document::new();
        doc.objects.extend(objects);
        LoadedRevision {
            doc,
            xref: XrefChain::default(),
            unresolved: Vec::new(),
            end: 0,
            held: crate::pdf::revisions::Held::nothing(),
        }
    }

    #[test]
    fn indirect_permission_values_are_resolved() {
        let limits = ReadLimits::default();
        // FieldMDP with /Action and /Fields written as indirect objects.
        let rev = revision(vec![
            ((5, 0), Object::Name(b"Include".to_vec())),
            (
                (6, 0),
                Object::Array(vec![Object::string_literal("ho_ten")]),
            ),
        ]);
        let sig = dictionary! { "Reference" => vec![Object::Dictionary(dictionary! {
            "TransformMethod" => "FieldMDP",
            "TransformParams" => dictionary! { "Action" => Object::Reference((5, 0)), "Fields" => Object::Reference((6, 0)) },
        })] };
        let p = permissions(&rev, None, &sig, &limits);
        assert_eq!(p.locks, vec![FieldLock::Include(vec!["ho_ten".into()])]);
        assert!(!p.may_fill("ho_ten"));
        assert!(p.may_fill("ghi_chu"));
        // An action that does not resolve to a known name locks every field.
        let sig = dictionary! { "Reference" => vec![Object::Dictionary(dictionary! {
            "TransformMethod" => "FieldMDP",
            "TransformParams" => dictionary! { "Action" => Object::Reference((9, 0)) },
        })] };
        assert_eq!(
            permissions(&rev, None, &sig, &limits).locks,
            vec![FieldLock::All]
        );
        // DocMDP /P written as an indirect 1, and a /P outside 1..=3.
        let rev = revision(vec![
            ((7, 0), Object::Integer(1)),
            ((8, 0), Object::Integer(9)),
        ]);
        for (p, expected) in [((7, 0), 1), ((8, 0), 1)] {
            let sig = dictionary! { "Reference" => vec![Object::Dictionary(dictionary! {
                "TransformMethod" => "DocMDP",
                "TransformParams" => dictionary! { "P" => Object::Reference(p) },
            })] };
            assert_eq!(
                permissions(&rev, None, &sig, &limits).docmdp,
                Some(expected)
            );
        }
    }
}
