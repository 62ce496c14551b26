//! Long-term signatures (PAdES B-LT and B-LTA, ETSI EN 319 142-1): what a verifier needs decades
//! later travels inside the PDF.
//!
//! * [`gather`] walks every signature and timestamp in a file (signer, signature-timestamp and
//!   document-timestamp certificates) up to a self-signed root, and fetches what validates each
//!   certificate on the way: an OCSP response from its AIA responder, else a CRL from its
//!   distribution points, and a missing issuer from AIA caIssuers ([`fetch`]).
//! * [`add_dss`] writes that material as the catalog's `/DSS` (`/Certs`, `/OCSPs`, `/CRLs`,
//!   merged with any earlier DSS) in an incremental update after the signatures: B-LT.
//! * [`add_document_timestamp`] appends a document timestamp (`/Type /DocTimeStamp`,
//!   `/SubFilter /ETSI.RFC3161`) over the whole file: B-LTA. Adding a DSS and a new document
//!   timestamp again before the last timestamp's certificate expires keeps the file provable.
//!
//! Nothing here reads the clock (the app layer passes the time) or a database.

pub mod fetch;
pub mod policy;
pub mod schedule;

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::pdf::incremental::IncrementalUpdate;
use crate::pdf::{self, Limits, PdfError};
use crate::signing::pades::{PreparedPdf, append_reference};
use crate::signing::timestamp::{TimestampClient, Token};
use crate::validation::ValidationError;
use crate::validation::chain::{self, TrustAnchors};
use crate::validation::cms::{Content, SignedCms};
use fetch::{FetchError, Fetcher};

/// Longest certificate path followed.
const MAX_PATH: usize = 8;
/// Most certificates, CRLs or OCSP responses kept in one DSS.
const MAX_ITEMS: usize = 1024;
/// Width reserved for the patched `/ByteRange` numbers.
const BYTE_RANGE_WIDTH: usize = 40;

/// Why long-term material could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LtvError {
    /// The PDF cannot be read or extended.
    #[error(transparent)]
    Pdf(#[from] PdfError),
    /// The PDF's signatures cannot be listed.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// No TSA is configured for a document timestamp.
    #[error("chưa cấu hình máy chủ dấu thời gian / no TSA is configured ([timestamp] urls)")]
    NoTsa,
    /// No configured TSA gave a usable document timestamp.
    #[error("không có dấu thời gian tài liệu / no document timestamp: {}", .0.join("; "))]
    Timestamp(Vec<String>),
    /// The file has no signature to make long-term.
    #[error("tệp không có chữ ký / the file has no signature")]
    Unsigned,
}

/// Certificates, OCSP responses and CRLs (DER), without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Material {
    /// Certificates.
    pub certs: Vec<Vec<u8>>,
    /// DER OCSPResponse values.
    pub ocsps: Vec<Vec<u8>>,
    /// DER CRLs.
    pub crls: Vec<Vec<u8>>,
}

fn push_unique(list: &mut Vec<Vec<u8>>, item: &[u8]) -> bool {
    if list.len() >= MAX_ITEMS || list.iter().any(|x| x == item) {
        return false;
    }
    list.push(item.to_vec());
    true
}

impl Material {
    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.ocsps.is_empty() && self.crls.is_empty()
    }

    /// What `other` holds that `self` does not.
    pub fn minus(&self, other: &Material) -> Material {
        let keep = |mine: &[Vec<u8>], theirs: &[Vec<u8>]| {
            mine.iter()
                .filter(|x| !theirs.contains(x))
                .cloned()
                .collect()
        };
        Material {
            certs: keep(&self.certs, &other.certs),
            ocsps: keep(&self.ocsps, &other.ocsps),
            crls: keep(&self.crls, &other.crls),
        }
    }
}

/// Where the status of one certificate came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusSource {
    /// The certificate's subject common name.
    pub subject: String,
    /// `ocsp` or `crl`.
    pub kind: &'static str,
    /// What the source said: `good`, `revoked`, `unknown` (OCSP), `listed` (CRL).
    pub status: String,
}

/// What [`gather`] found.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// Everything that validates the file's signatures and timestamps.
    pub material: Material,
    /// Per certificate, the revocation source used.
    pub sources: Vec<StatusSource>,
    /// What could not be had (a certificate with no answering source); empty when complete.
    pub missing: Vec<String>,
}

fn common_name(der: &[u8]) -> String {
    chain::describe_signer(der)
        .map(|s| {
            if s.common_name.is_empty() {
                s.subject
            } else {
                s.common_name
            }
        })
        .unwrap_or_default()
}

/// The leaf certificate and the certificates carried with it, for every signature, signature
/// timestamp and document timestamp in the containers.
fn leaves(containers: &[(bool, Vec<u8>)]) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut add = |der: &[u8], content: Content| {
        if let Ok(cms) = SignedCms::parse(der, content) {
            out.push((cms.signer_certificate().to_vec(), cms.certificates.clone()));
        }
    };
    for (timestamp, der) in containers {
        if *timestamp {
            add(der, Content::TimeStampToken);
        } else {
            add(der, Content::Detached);
            if let Some((_, tokens)) = crate::validation::timestamp::timestamp_tokens(der) {
                for t in tokens {
                    add(&t, Content::TimeStampToken);
                }
            }
        }
    }
    out
}

/// Gathers what validates every signature and timestamp of `pdf`: certificates up to a
/// self-signed root (or a trust anchor), and an OCSP response or CRL for each non-root one.
/// `existing` (an earlier DSS) is used for building paths but fetched again, so that a new
/// document timestamp covers fresh revocation data.
pub fn gather(
    pdf: &[u8],
    limits: &Limits,
    anchors: &TrustAnchors,
    existing: &Material,
    fetcher: &Fetcher,
    now: i64,
) -> Result<Gathered, LtvError> {
    let containers = crate::validation::signature_containers(pdf, limits)?;
    if containers.is_empty() {
        return Err(LtvError::Unsigned);
    }
    let mut g = Gathered::default();
    let mut done: Vec<Vec<u8>> = Vec::new();
    for (leaf, carried) in leaves(&containers) {
        let mut pool: Vec<Vec<u8>> = carried;
        pool.extend(existing.certs.iter().cloned());
        pool.extend(anchors.iter().map(<[u8]>::to_vec));
        cover(&leaf, &pool, fetcher, now, &mut g, &mut done);
    }
    Ok(g)
}

/// Adds `leaf`'s path and the status of each certificate on it to `g`.
fn cover(
    leaf: &[u8],
    pool: &[Vec<u8>],
    fetcher: &Fetcher,
    now: i64,
    g: &mut Gathered,
    done: &mut Vec<Vec<u8>>,
) {
    let mut current = leaf.to_vec();
    for _ in 0..MAX_PATH {
        push_unique(&mut g.material.certs, &current);
        let Ok((_, cert)) = X509Certificate::from_der(&current) else {
            return;
        };
        if cert.subject().as_raw() == cert.issuer().as_raw() {
            return;
        }
        let name = common_name(&current);
        let issuer = pool
            .iter()
            .chain(g.material.certs.iter())
            .find(|d| {
                X509Certificate::from_der(d).is_ok_and(|(_, i)| {
                    i.subject().as_raw() == cert.issuer().as_raw()
                        && crate::validation::crypto::signed_by(&cert, &i)
                })
            })
            .cloned()
            .map_or_else(|| fetcher.issuer(&current, now), Ok);
        let issuer = match issuer {
            Ok(i) => i,
            Err(e) => {
                g.missing.push(format!("{name}: issuer certificate: {e}"));
                return;
            }
        };
        if !done.contains(&current) {
            done.push(current.clone());
            status(&current, &issuer, &name, fetcher, now, g);
        }
        current = issuer;
    }
}

/// Fetches the status of `cert`: OCSP first when its AIA names a responder, else a CRL.
fn status(cert: &[u8], issuer: &[u8], name: &str, fetcher: &Fetcher, now: i64, g: &mut Gathered) {
    let mut reasons: Vec<FetchError> = Vec::new();
    if fetch::has_ocsp(cert) {
        match fetcher.ocsp(cert, issuer, now) {
            Ok(f) => {
                push_unique(&mut g.material.ocsps, &f.der);
                if let Some(rc) = &f.answer.responder_certificate {
                    push_unique(&mut g.material.certs, rc);
                    // A delegated responder's own status, unless it says nobody checks it.
                    if !fetch::ocsp_no_check(rc) {
                        match fetcher.crl(rc, issuer, now) {
                            Ok(crl) => {
                                push_unique(&mut g.material.crls, &crl);
                            }
                            Err(e) => g.missing.push(format!("{}: {e}", common_name(rc))),
                        }
                    }
                }
                g.sources.push(StatusSource {
                    subject: name.to_owned(),
                    kind: "ocsp",
                    status: match f.answer.state {
                        crate::validation::ocsp::CertState::Good => "good".into(),
                        crate::validation::ocsp::CertState::Revoked(_) => "revoked".into(),
                        crate::validation::ocsp::CertState::Unknown => "unknown".into(),
                    },
                });
                return;
            }
            Err(e) => reasons.push(e),
        }
    }
    match fetcher.crl(cert, issuer, now) {
        Ok(crl) => {
            push_unique(&mut g.material.crls, &crl);
            let listed = matches!(
                chain::revocation_status(cert, issuer, std::slice::from_ref(&crl), now),
                chain::RevocationStatus::Revoked(_)
            );
            g.sources.push(StatusSource {
                subject: name.to_owned(),
                kind: "crl",
                status: if listed { "revoked" } else { "good" }.into(),
            });
        }
        Err(e) => {
            reasons.push(e);
            let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
            g.missing
                .push(format!("{name}: no revocation data: {}", why.join("; ")));
        }
    }
}

/// The material of the `/DSS` in `doc`'s catalog (streams decoded), empty when there is none.
pub fn read_dss(doc: &Document, limits: &Limits) -> Material {
    let mut m = Material::default();
    let Some(dss) = pdf::catalog_id(doc)
        .ok()
        .and_then(|c| {
            pdf::resolve_dict(doc, &Object::Reference(c), limits, "the catalog")
                .ok()
                .and_then(|c| c.get(b"DSS").ok().cloned())
        })
        .and_then(|d| pdf::resolve_dict(doc, &d, limits, "the DSS").ok().cloned())
    else {
        return m;
    };
    for (key, list) in [
        (&b"Certs"[..], &mut m.certs),
        (b"OCSPs", &mut m.ocsps),
        (b"CRLs", &mut m.crls),
    ] {
        let Some(Object::Array(items)) = dss
            .get(key)
            .ok()
            .and_then(|a| pdf::resolve(doc, a, limits).ok())
        else {
            continue;
        };
        for item in items {
            if let Ok(Object::Stream(s)) = pdf::resolve(doc, item, limits) {
                let content = s
                    .decompressed_content()
                    .unwrap_or_else(|_| s.content.clone());
                push_unique(list, &content);
            }
        }
    }
    m
}

/// Appends `material` to the document's `/DSS` (created when absent) in one incremental
/// update; returns the grown file. Items the DSS already holds are not written again.
pub fn add_dss(input: &[u8], material: &Material, limits: &Limits) -> Result<Vec<u8>, LtvError> {
    let doc = pdf::load(input, limits)?;
    let have = read_dss(&doc, limits);
    let new = material.minus(&have);
    if new.is_empty() {
        return Ok(input.to_vec());
    }
    let mut update = IncrementalUpdate::new(input, &doc)?;
    let catalog_id = pdf::catalog_id(&doc)?;
    let mut catalog =
        pdf::resolve_dict(&doc, &Object::Reference(catalog_id), limits, "the catalog")?.clone();
    let (dss_id, mut dss) = match catalog.get(b"DSS") {
        Ok(Object::Reference(id)) => (
            Some(*id),
            pdf::resolve_dict(&doc, &Object::Reference(*id), limits, "the DSS")?.clone(),
        ),
        Ok(Object::Dictionary(d)) => (None, d.clone()),
        _ => (None, Dictionary::new()),
    };
    for (key, items) in [
        ("Certs", &new.certs),
        ("OCSPs", &new.ocsps),
        ("CRLs", &new.crls),
    ] {
        let mut array = match dss.get(key.as_bytes()) {
            Ok(a) => match pdf::resolve(&doc, a, limits)? {
                Object::Array(a) => a.clone(),
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        };
        for item in items {
            let id = update.allocate();
            update.put(
                id,
                Object::Stream(Stream::new(Dictionary::new(), item.clone())),
            );
            array.push(Object::Reference(id));
        }
        if !array.is_empty() {
            dss.set(key, Object::Array(array));
        }
    }
    match dss_id {
        Some(id) => update.put(id, Object::Dictionary(dss)),
        None => {
            let id = update.allocate();
            update.put(id, Object::Dictionary(dss));
            catalog.set("DSS", Object::Reference(id));
            update.put(catalog_id, Object::Dictionary(catalog));
        }
    }
    Ok(update.write()?.bytes)
}

/// Appends a document timestamp from `client` over the whole of `input` (B-LTA), in a new
/// hidden signature field; returns the grown file and the token, checked as of `now`.
pub fn add_document_timestamp(
    input: &[u8],
    limits: &Limits,
    client: &TimestampClient,
    now: time::OffsetDateTime,
) -> Result<(Vec<u8>, Token), LtvError> {
    let prepared = prepare_timestamp_field(input, limits, client.reserve())?;
    let (start, end) = prepared.contents_range();
    let bytes = prepared.bytes();
    let covered = [&bytes[..start], &bytes[end..]].concat();
    let token = client
        .timestamp(&covered, now)
        .map_err(|errors| LtvError::Timestamp(errors.iter().map(ToString::to_string).collect()))?;
    if token.der.len() > prepared.capacity() {
        return Err(LtvError::Timestamp(vec![format!(
            "{}: the token ({} bytes) does not fit the reserved {} bytes; raise [timestamp] reserve_bytes",
            token.url,
            token.der.len(),
            prepared.capacity()
        )]));
    }
    let signed = prepared
        .embed(&token.der)
        .map_err(|e| PdfError::Structure(e.to_string()))?;
    Ok((signed, token))
}

/// A hidden signature field with a `/DocTimeStamp` placeholder of `capacity` bytes.
fn prepare_timestamp_field(
    input: &[u8],
    limits: &Limits,
    capacity: usize,
) -> Result<PreparedPdf, LtvError> {
    let doc = pdf::load(input, limits)?;
    let mut update = IncrementalUpdate::new(input, &doc)?;
    let catalog_id = pdf::catalog_id(&doc)?;
    let mut catalog =
        pdf::resolve_dict(&doc, &Object::Reference(catalog_id), limits, "the catalog")?.clone();
    let (acro_id, mut acroform): (Option<ObjectId>, Dictionary) = match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => (
            Some(*id),
            pdf::resolve_dict(&doc, &Object::Reference(*id), limits, "the AcroForm")?.clone(),
        ),
        Ok(Object::Dictionary(d)) => (None, d.clone()),
        _ => (None, Dictionary::new()),
    };
    // A name no top-level field has (a new field is top-level).
    let mut names: Vec<String> = Vec::new();
    if let Ok(fields) = acroform.get(b"Fields")
        && let Ok(Object::Array(fields)) = pdf::resolve(&doc, fields, limits)
    {
        for f in fields.iter().take(10_000) {
            if let Ok(d) = pdf::resolve_dict(&doc, f, limits, "a form field")
                && let Ok(t @ Object::String(..)) = d.get(b"T")
            {
                names.push(lopdf::decode_text_string(t).unwrap_or_default());
            }
        }
    }
    let field_name = (1..)
        .map(|i| format!("DocTimeStamp{i}"))
        .find(|n| !names.contains(n))
        .unwrap_or_else(|| "DocTimeStamp".to_owned());
    let pages = doc.get_pages();
    let page_id = *pages
        .get(&1)
        .ok_or_else(|| PdfError::Structure("the document has no pages".into()))?;
    let mut page =
        pdf::resolve_dict(&doc, &Object::Reference(page_id), limits, "the first page")?.clone();
    let sig_id = update.allocate();
    let field_id = update.allocate();
    let zero = || Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]);
    let field = Dictionary::from_iter(vec![
        ("Type", Object::Name(b"Annot".to_vec())),
        ("Subtype", Object::Name(b"Widget".to_vec())),
        ("FT", Object::Name(b"Sig".to_vec())),
        ("T", lopdf::text_string(&field_name)),
        ("V", Object::Reference(sig_id)),
        ("F", Object::Integer(132)),
        ("Rect", zero()),
        ("P", Object::Reference(page_id)),
    ]);
    update.put(field_id, Object::Dictionary(field));
    let signing_limits = limits;
    if append_reference(
        &doc,
        &mut update,
        &mut page,
        b"Annots",
        field_id,
        signing_limits,
    )
    .map_err(|e| PdfError::Structure(e.to_string()))?
    {
        update.put(page_id, Object::Dictionary(page));
    }
    let mut acro_changed = append_reference(
        &doc,
        &mut update,
        &mut acroform,
        b"Fields",
        field_id,
        signing_limits,
    )
    .map_err(|e| PdfError::Structure(e.to_string()))?;
    if acroform.get(b"SigFlags").ok() != Some(&Object::Integer(3)) {
        acroform.set("SigFlags", Object::Integer(3));
        acro_changed = true;
    }
    if acro_changed {
        match acro_id {
            Some(id) => update.put(id, Object::Dictionary(acroform)),
            None => {
                let id = update.allocate();
                update.put(id, Object::Dictionary(acroform));
                catalog.set("AcroForm", Object::Reference(id));
                update.put(catalog_id, Object::Dictionary(catalog));
            }
        }
    }
    let mut body = Vec::with_capacity(capacity * 2 + 256);
    body.extend_from_slice(
        b"<<\n/Type /DocTimeStamp\n/Filter /Adobe.PPKLite\n/SubFilter /ETSI.RFC3161\n/ByteRange [",
    );
    let byte_range_rel = body.len();
    body.extend(std::iter::repeat_n(b' ', BYTE_RANGE_WIDTH));
    body.extend_from_slice(b"]\n/Contents ");
    let contents_rel = body.len();
    body.push(b'<');
    body.extend(std::iter::repeat_n(b'0', capacity * 2));
    body.extend_from_slice(b">\n>>");
    update.put_raw(sig_id, body);
    let mut written = update.write()?;
    let sig_body = written.body_offsets[&sig_id];
    let mut bytes = std::mem::take(&mut written.bytes);
    let contents_start = sig_body + contents_rel;
    let contents_end = contents_start + capacity * 2 + 2;
    let range = format!(
        "0 {} {} {}",
        contents_start,
        contents_end,
        bytes.len() - contents_end
    );
    if range.len() > BYTE_RANGE_WIDTH {
        return Err(PdfError::Structure("file too large for the /ByteRange field".into()).into());
    }
    let at = sig_body + byte_range_rel;
    bytes[at..at + range.len()].copy_from_slice(range.as_bytes());
    PreparedPdf::from_parts(bytes, contents_start, contents_end, field_name)
        .map_err(|e| PdfError::Structure(e.to_string()).into())
}

/// The newest timestamp of a file (document or signature timestamp): what keeps everything
/// before it provable until its TSA certificate expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastTimestamp {
    /// genTime, Unix seconds.
    pub time: i64,
    /// The TSA certificate's notAfter, Unix seconds.
    pub tsa_expires: i64,
    /// The TSA's name.
    pub tsa: String,
    /// When it stops proving anything: the TSA certificate's expiry or the end date of one of
    /// its algorithms in the [`policy`], whichever comes first.
    pub deadline: policy::Deadline,
}

/// The newest readable timestamp in `pdf`, if any.
pub fn last_timestamp(pdf: &[u8], limits: &Limits) -> Result<Option<LastTimestamp>, LtvError> {
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    for (timestamp, der) in crate::validation::signature_containers(pdf, limits)? {
        if timestamp {
            tokens.push(der);
        } else if let Some((_, t)) = crate::validation::timestamp::timestamp_tokens(&der) {
            tokens.extend(t);
        }
    }
    let mut best: Option<LastTimestamp> = None;
    for t in tokens {
        let Ok(cms) = SignedCms::parse(&t, Content::TimeStampToken) else {
            continue;
        };
        let (Ok(tst), Ok((_, cert))) = (
            cms.tst_info(),
            X509Certificate::from_der(cms.signer_certificate()),
        ) else {
            continue;
        };
        if best.as_ref().is_none_or(|b| tst.gen_time > b.time) {
            let tsa_expires = cert.validity().not_after.timestamp();
            best = Some(LastTimestamp {
                time: tst.gen_time,
                tsa_expires,
                tsa: common_name(cms.signer_certificate()),
                deadline: policy::deadline(
                    cms.signer_certificate(),
                    tsa_expires,
                    cms.digest,
                    tst.imprint_digest,
                ),
            });
        }
    }
    Ok(best)
}
