//! Issuing, reprinting and cancelling certifications.

use crate::issuing::{DocumentRecord, IssueError, Issued, Issuer, Search, Status, Version};

use super::{App, AppError};

/// A document still pending this long after numbering was interrupted (rendering takes
/// milliseconds): it is voided, with that reason, before the next issue.
pub const INTERRUPTED_AFTER: time::Duration = time::Duration::minutes(10);

pub(super) fn issuer(app: &App) -> Result<Issuer, AppError> {
    Ok(Issuer::new(
        app.catalog()?,
        app.registry()?,
        app.issued_files(),
        app.settings().authority.clone(),
        &app.settings().base_url,
    ))
}

/// Issues a document of `kind` from `data` for `actor` (the clerk). When it returns, the PDF is
/// durable in the issued-files store and the register says `issued`, with its audit entry; the
/// caller may then deliver the bytes however it likes, and [`reprint`] gives them back.
pub fn issue(
    app: &App,
    actor: &str,
    kind: &str,
    data: &serde_json::Value,
) -> Result<Issued, AppError> {
    let now = app.now();
    let mut issuer = issuer(app)?;
    issuer.void_interrupted(now - INTERRUPTED_AFTER)?;
    match issuer.issue_as(actor, kind, data, now) {
        Ok(doc) => Ok(doc),
        Err(IssueError::Invalid(errors)) => Err(AppError::Invalid(errors)),
        Err(e) => Err(e.into()),
    }
}

/// A preview of what issuing `data` as `kind` would print, marked as a preview and without a
/// number; nothing is recorded. Refused for invalid data exactly as [`issue`] refuses it.
pub fn preview(app: &App, kind: &str, data: &serde_json::Value) -> Result<Vec<u8>, AppError> {
    match issuer(app)?.preview(kind, data, app.now()) {
        Ok(pdf) => Ok(pdf),
        Err(IssueError::Invalid(errors)) => Err(AppError::Invalid(errors)),
        Err(e) => Err(e.into()),
    }
}

/// The version of document `id` whose SHA-256 is `sha256` (one that left kyso), for a reprint
/// of that version.
pub fn version(
    app: &App,
    id: &str,
    sha256: &str,
) -> Result<(DocumentRecord, Version, Vec<u8>), AppError> {
    let (record, versions) = document_with_versions(app, id)?;
    let v = versions
        .into_iter()
        .find(|v| v.sha256.eq_ignore_ascii_case(sha256))
        .ok_or_else(|| AppError::NotFound(format!("version {sha256} of document {id}")))?;
    let bytes = if v.stage == "issued" {
        reprint(app, id)?.1
    } else {
        issuer(app)?.files().read_version(id, &v.sha256)?
    };
    Ok((record, v, bytes))
}

/// The issued PDF of document `id`, byte for byte as it was issued (checked against the
/// register's SHA-256), with its register entry.
pub fn reprint(app: &App, id: &str) -> Result<(DocumentRecord, Vec<u8>), AppError> {
    let issuer = issuer(app)?;
    let record = issuer
        .document(id)?
        .ok_or_else(|| AppError::NotFound(format!("document {id}")))?;
    match record.status {
        Status::Issued | Status::Cancelled => {}
        other => {
            return Err(super::error::Denial::NotSignable {
                id: id.to_owned(),
                status: format!(
                    "{other}{}",
                    record
                        .void_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
            }
            .into());
        }
    }
    let bytes = issuer.files().read(&record)?;
    Ok((record, bytes))
}

/// Records the cancellation of document `id` by `decision`, audited as `actor`.
pub fn cancel(
    app: &App,
    actor: &str,
    id: &str,
    decision: &str,
    reason: &str,
) -> Result<(), AppError> {
    let mut issuer = issuer(app)?;
    match issuer.cancel_as(actor, id, decision, reason, app.now()) {
        Err(IssueError::NotFound(id)) => Err(AppError::NotFound(format!("document {id}"))),
        other => Ok(other?),
    }
}

/// One document's register entry.
pub fn document(app: &App, id: &str) -> Result<DocumentRecord, AppError> {
    issuer(app)?
        .document(id)?
        .ok_or_else(|| AppError::NotFound(format!("document {id}")))
}

/// Register entries matching `q`, newest first.
pub fn search(app: &App, q: &Search) -> Result<Vec<DocumentRecord>, AppError> {
    Ok(issuer(app)?.search(q)?)
}

/// One document with every version of it that left kyso, oldest first.
pub fn document_with_versions(
    app: &App,
    id: &str,
) -> Result<(DocumentRecord, Vec<Version>), AppError> {
    let issuer = issuer(app)?;
    let record = issuer
        .document(id)?
        .ok_or_else(|| AppError::NotFound(format!("document {id}")))?;
    let versions = issuer.versions(id)?;
    Ok((record, versions))
}

/// The latest version of document `id` that left kyso (the issued PDF until someone signs),
/// with its register entry and that version's description.
pub fn current_version(
    app: &App,
    id: &str,
) -> Result<(DocumentRecord, Version, Vec<u8>), AppError> {
    let issuer = issuer(app)?;
    let record = issuer
        .document(id)?
        .ok_or_else(|| AppError::NotFound(format!("document {id}")))?;
    let versions = issuer.versions(id)?;
    match versions.last() {
        Some(v) if v.stage == "signed" => {
            let bytes = issuer.files().read_version(id, &v.sha256)?;
            Ok((record, v.clone(), bytes))
        }
        _ => {
            drop(issuer);
            let (record, bytes) = reprint(app, &record.id)?;
            let v = Version {
                sha256: record.pdf_sha256.clone().unwrap_or_default(),
                stage: "issued".into(),
                size: bytes.len() as i64,
                field: None,
                signer: None,
                capacity: None,
                created_at: record.issued_on.clone(),
            };
            Ok((record, v, bytes))
        }
    }
}
