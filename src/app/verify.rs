//! Public verification: what anyone holding a certification (or a photo of its QR code) may
//! learn about it, and what a PDF they upload is compared with the register.
//!
//! Personal data stays masked: anyone with the QR code's URL can open the page (Decree 13/2023
//! on personal data), so the people a document concerns appear as initials and the last three
//! digits of their ID number. Verification is offline: the configured trust anchors and CRLs,
//! and what the file embeds; nothing named inside an uploaded file is ever fetched.

use serde::Serialize;

use super::{App, AppError, sha256_hex};
use crate::issuing::{Register as _, Status};
use crate::pdf::revisions::ReadLimits;
use crate::validation::{self, Modifications, Policy, TrustAnchors, ValidationReport};

/// A signature made on a registered document, as the public page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PublicSignature {
    /// Who signed: the official's registered name (or the signer's certificate name for the
    /// desk clerk's signature).
    pub signer: String,
    /// Their title, when the signer is a registered official.
    pub title: Option<String>,
    /// The capacity written into the signature, when authority was checked.
    pub capacity: Option<String>,
    /// The signature field.
    pub field: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// A person the document concerns, masked.
#[derive(Debug, Clone, Serialize)]
pub struct MaskedPerson {
    /// Initials ("P. T. H.").
    pub initials: String,
    /// The ID number with all but its last three digits hidden.
    pub id: String,
}

/// What the public page says about a registered document.
#[derive(Debug, Clone, Serialize)]
pub struct PublicDocument {
    /// The public id.
    pub id: String,
    /// The issuing authority.
    pub authority: String,
    /// The kind.
    pub kind: String,
    /// The kind's title, Vietnamese.
    pub title_vi: String,
    /// The kind's title, English.
    pub title_en: String,
    /// The number as printed.
    pub number: String,
    /// Day of issue (YYYY-MM-DD, Vietnam).
    pub issued_on: String,
    /// `issued`, `cancelled` or `void`.
    pub status: String,
    /// The cancellation decision, when cancelled.
    pub cancel_decision: Option<String>,
    /// Why the number was voided, when void.
    pub void_reason: Option<String>,
    /// The people the matter concerns, masked.
    pub persons: Vec<MaskedPerson>,
    /// The signatures kyso made on it, in order.
    pub signatures: Vec<PublicSignature>,
    /// SHA-256 of the original as delivered (after its last signature), or of the issued file
    /// while it is unsigned.
    pub original_sha256: Option<String>,
}

/// How an uploaded file relates to the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Comparison {
    /// Byte for byte the original as delivered.
    Original,
    /// An earlier version kyso recorded (e.g. before the seal).
    EarlierRevision {
        /// `issued` or `signed`.
        stage: String,
        /// Who signed last in that version, if anyone.
        last_signer: Option<String>,
    },
    /// The original with long-term validation material added after it (document timestamps,
    /// with nothing disallowed).
    OriginalWithLtv {
        /// Revisions added after the original.
        added_revisions: usize,
    },
    /// Not a version kyso recorded: what it is based on and what differs.
    Different {
        /// The recorded version it starts from, if any (its SHA-256).
        based_on: Option<String>,
        /// Revisions after that version.
        added_revisions: usize,
        /// The objects the validation found changed (`12 0 R`, …).
        changed_objects: Vec<String>,
    },
    /// No revision of the file is a document in this register.
    NotRegistered,
}

/// An upload's verification: the signature report and the comparison with the register.
#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    /// The register entry the file belongs to, if any.
    pub document: Option<String>,
    /// How it relates to the registered versions.
    pub comparison: Comparison,
    /// The signatures' validation.
    pub report: ValidationReport,
}

/// Whether `id` has the shape of a kyso document id (32 lower-case hex digits). Anything else
/// is answered exactly like an unknown id.
pub fn is_document_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The public view of document `id`.
pub fn public_document(app: &App, id: &str) -> Result<PublicDocument, AppError> {
    if !is_document_id(id) {
        return Err(AppError::NotFound("document".into()));
    }
    let record = match super::issue::document(app, id) {
        Ok(r) => r,
        Err(AppError::NotFound(_)) => return Err(AppError::NotFound("document".into())),
        Err(e) => return Err(e),
    };
    if record.status == Status::Pending {
        return Err(AppError::NotFound("document".into()));
    }
    let catalog = app.catalog()?;
    let template = catalog.get(&record.kind);
    let document_style =
        template.is_some_and(|t| t.schema.numbering == crate::templates::Numbering::Document);
    let number = if document_style {
        format!("{:02}/{}", record.number, record.register.type_code)
    } else {
        format!(
            "{:02}, quyển số {:02}/{}-{}",
            record.number, record.volume, record.register.year, record.register.type_code
        )
    };
    let versions = app.registry()?.db().versions_with_signers(id)?;
    let signatures = versions
        .iter()
        .filter(|v| v.version.stage == "signed")
        .map(|v| PublicSignature {
            signer: v
                .signer_name
                .clone()
                .or_else(|| v.version.signer.clone())
                .unwrap_or_default(),
            title: v.signer_title.clone(),
            capacity: v.version.capacity.clone(),
            field: v.version.field.clone(),
            at: v.version.created_at.clone(),
        })
        .collect();
    Ok(PublicDocument {
        id: record.id.clone(),
        authority: app.settings().authority.full_name.clone(),
        kind: record.kind.clone(),
        title_vi: template
            .map(|t| t.schema.title_vi.clone())
            .unwrap_or_default(),
        title_en: template
            .map(|t| t.schema.title_en.clone())
            .unwrap_or_default(),
        number,
        issued_on: record.issued_on.clone(),
        status: record.status.to_string(),
        cancel_decision: record.cancel_decision.clone(),
        void_reason: record.void_reason.clone(),
        persons: masked_persons(&record.data),
        signatures,
        original_sha256: versions.last().map(|v| v.version.sha256.clone()),
    })
}

/// Initials of a name: the first letter of each word, with a dot.
fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An ID number with all but its last three characters hidden.
fn mask_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().filter(|c| !c.is_whitespace()).collect();
    let keep = chars.len().min(3);
    let hidden = chars.len() - keep;
    "*".repeat(hidden) + &chars[hidden..].iter().collect::<String>()
}

/// Everyone the data names with a personal ID, masked.
fn masked_persons(data: &str) -> Vec<MaskedPerson> {
    super::sign::persons_concerned(data)
        .into_iter()
        .map(|(name, id)| MaskedPerson {
            initials: initials(&name),
            id: mask_id(&id),
        })
        .collect()
}

/// The validation policy of the configuration: its trust anchors (the development PKI only in
/// development mode) and its CRLs. Nothing is fetched.
pub fn policy(app: &App) -> Result<Policy, AppError> {
    let settings = app.settings();
    let mut anchors = TrustAnchors::new();
    for path in &settings.trust {
        let data = std::fs::read(path).map_err(|e| AppError::io(path, e))?;
        anchors.add_pem_or_der(&data).map_err(|e| {
            AppError::Denied(super::error::Denial::input(
                format!("chứng thư gốc {} không đọc được: {e}", path.display()),
                format!("trust anchor {}: {e}", path.display()),
            ))
        })?;
    }
    if !settings.development {
        anchors.retain(|der| !crate::pki::is_development_certificate(der));
    }
    Ok(Policy {
        anchors,
        crls: super::sign::load_crls(&settings.crls)?,
        limits: ReadLimits::default(),
    })
}

/// Verifies an uploaded PDF and compares it with the register (with document `expected`'s
/// versions when the upload comes from that document's page).
pub fn verify_upload(app: &App, bytes: &[u8], policy: &Policy) -> Result<UploadReport, AppError> {
    let report = validation::validate(bytes, policy, app.now()).map_err(|e| {
        AppError::Denied(super::error::Denial::input(
            format!("tệp không đọc được như PDF: {e}"),
            format!("the file cannot be read as a PDF: {e}"),
        ))
    })?;
    let registry = app.registry()?;
    let db = registry.db();
    let whole = sha256_hex(bytes);
    let (prefixes, markers) = super::sign::revision_digests(bytes);
    // The register entry: through the longest recorded version that is a revision prefix of
    // the file. (document, matched sha, stage, revisions after it)
    let mut found: Option<(String, String, String, usize)> = None;
    for digest in prefixes.iter().rev() {
        if let Some((doc, stage)) = db.version_by_sha256(&digest.sha256)? {
            found = Some((
                doc,
                digest.sha256.clone(),
                stage,
                markers - digest.marker - 1,
            ));
            break;
        }
    }
    let Some((document, matched, stage, added)) = found else {
        return Ok(UploadReport {
            document: None,
            comparison: Comparison::NotRegistered,
            report,
        });
    };
    let versions = db.versions_with_signers(&document)?;
    let original = versions
        .last()
        .map(|v| v.version.sha256.clone())
        .unwrap_or_default();
    let comparison = if whole == original {
        Comparison::Original
    } else if whole == matched {
        let last_signer = versions
            .iter()
            .find(|v| v.version.sha256 == matched)
            .and_then(|v| v.version.signer.clone());
        Comparison::EarlierRevision { stage, last_signer }
    } else if matched == original && only_ltv_added(&report) {
        Comparison::OriginalWithLtv {
            added_revisions: added,
        }
    } else {
        let mut changed: Vec<String> = report
            .signatures
            .iter()
            .flat_map(|s| s.changed_objects.iter().cloned())
            .collect();
        changed.sort();
        changed.dedup();
        Comparison::Different {
            based_on: Some(matched),
            added_revisions: added,
            changed_objects: changed,
        }
    };
    Ok(UploadReport {
        document: Some(document),
        comparison,
        report,
    })
}

/// Whether the revisions after the last signature kyso made add only long-term validation
/// material: at least one document timestamp, and nothing disallowed anywhere.
fn only_ltv_added(report: &ValidationReport) -> bool {
    let no_disallowed = report
        .signatures
        .iter()
        .all(|s| s.modifications_after != Modifications::Disallowed);
    let has_doc_ts = report
        .signatures
        .iter()
        .any(|s| s.subfilter == "ETSI.RFC3161");
    let only_ts_after_first_ts = report
        .signatures
        .iter()
        .skip_while(|s| s.subfilter != "ETSI.RFC3161")
        .all(|s| s.subfilter == "ETSI.RFC3161");
    no_disallowed && has_doc_ts && only_ts_after_first_ts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_masked_and_officials_are_not_listed() {
        let data = r#"{"signer":{"full_name":"Trần Thị Bình"},"requester":{"full_name":"Phạm Thị Hương","personal_id":"025190007731"}}"#;
        let p = masked_persons(data);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].initials, "P. T. H.");
        assert_eq!(p[0].id, "*********731");
        assert!(is_document_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_document_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_document_id("../etc/passwd"));
    }
}
