//! Issuing, reprinting and cancelling certifications.

use crate::issuing::{
    DocumentRecord, FormKey, Issuance, IssueError, Issued, Issuer, Search, Status, Version,
};
use crate::registry::Registry;

use super::{App, AppError};

/// A document still pending this long after numbering was interrupted (rendering takes
/// milliseconds): it is voided, with that reason, before the next issue.
pub const INTERRUPTED_AFTER: time::Duration = time::Duration::minutes(10);

pub(super) fn issuer(app: &App) -> Result<Issuer<Registry>, AppError> {
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
    match issue_once(app, actor, kind, data, None)? {
        Issuance::New(doc) => Ok(doc),
        // Only a form key leads to an earlier document or one in progress.
        Issuance::Earlier(_) | Issuance::InProgress => {
            Err(AppError::Records(crate::store::StoreError::new(
                crate::store::StoreErrorKind::Other,
                "an issue without a form key was keyed",
            )))
        }
    }
}

/// [`issue`] from a form carrying `key` (the pages' issue form): the unit of work that numbers
/// the document records the key with it, so that a repeat of the form (a double click, a
/// reload, a retry after a crash or a restart, on this node or another) gets the document the
/// first submission issued ([`Issuance::Earlier`]) instead of a second one, or
/// [`Issuance::InProgress`] while the first is still rendering. Without a key it is [`issue`].
pub fn issue_once(
    app: &App,
    actor: &str,
    kind: &str,
    data: &serde_json::Value,
    key: Option<&FormKey>,
) -> Result<Issuance, AppError> {
    let now = app.now();
    let mut issuer = issuer(app)?;
    issuer.void_interrupted(now - INTERRUPTED_AFTER, now)?;
    match issuer.issue_once(actor, kind, data, now, key) {
        Ok(done) => Ok(done),
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::issuing::{FORM_KEY_ABANDONED, Registers};
    use crate::store::StoreError;

    /// A clock the test moves.
    struct Moving(Mutex<OffsetDateTime>);

    impl super::super::Clock for Moving {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().unwrap()
        }
    }

    /// An application on `dir`, as one process (or one node) of the service sees it.
    fn process(dir: &std::path::Path, clock: &Arc<Moving>) -> App {
        let mut settings = crate::config::Settings::from_toml("development = true").unwrap();
        settings.data_dir = dir.to_path_buf();
        App::with_clock(settings, clock.clone())
    }

    /// The demo commune and users on `app`; the clerk's user id.
    fn clerk(app: &App) -> i64 {
        let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-dev");
        crate::app::demo::ensure_commune(app, &keys).unwrap();
        crate::app::demo::ensure_users(app).unwrap();
        crate::app::users::list_users(app)
            .unwrap()
            .into_iter()
            .find(|u| u.username == "van-thu")
            .unwrap()
            .id
    }

    fn sample() -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates/signature/sample.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn entries(app: &App) -> Vec<DocumentRecord> {
        search(
            app,
            &Search {
                kind: Some("signature".into()),
                limit: 500,
                ..Search::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn a_form_key_issues_once_even_when_its_process_stops_before_anything_else_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(Moving(Mutex::new(OffsetDateTime::now_utc())));
        let first = process(dir.path(), &clock);
        let user = clerk(&first);
        let key = FormKey::new(user, "kKkKkKkKkKkKkKkKkKkKkK").unwrap();
        let Issuance::New(doc) =
            issue_once(&first, "van-thu", "signature", &sample(), Some(&key)).unwrap()
        else {
            panic!("the first submission issues");
        };
        // The process stops right after issuing: nothing after the use case runs, and what it
        // kept in memory is gone. The form is sent again later, to another process (a restart,
        // or another node behind the same registry), after any claim would count as abandoned.
        drop(first);
        *clock.0.lock().unwrap() += FORM_KEY_ABANDONED + Duration::seconds(1);
        let second = process(dir.path(), &clock);
        let Issuance::Earlier(again) =
            issue_once(&second, "van-thu", "signature", &sample(), Some(&key)).unwrap()
        else {
            panic!("the repeat issues again");
        };
        assert_eq!(again.id, doc.id);
        assert_eq!(again.status, Status::Issued);
        assert_eq!(entries(&second).len(), 1, "one register entry");
        // Another form (another key) issues its own document; so does an issue without a key.
        let other = FormKey::new(user, "oOoOoOoOoOoOoOoOoOoOoO").unwrap();
        assert!(matches!(
            issue_once(&second, "van-thu", "signature", &sample(), Some(&other)).unwrap(),
            Issuance::New(d) if d.id != doc.id
        ));
        issue(&second, "van-thu", "signature", &sample()).unwrap();
        assert_eq!(entries(&second).len(), 3);
    }

    /// The registry of a process that stops between numbering and the issued commit: that
    /// commit never happens.
    struct StopsBeforeIssued(Registry);

    impl Registers for StopsBeforeIssued {
        type Db<'a> = crate::registry::Db<'a>;

        fn db(&self) -> Self::Db<'_> {
            self.0.db()
        }

        fn unit_of_work<T, E: From<StoreError>>(
            &mut self,
            f: impl FnOnce(Self::Db<'_>) -> Result<T, E>,
        ) -> Result<T, E> {
            self.0.unit_of_work(f)
        }

        fn unit_of_work_grouped<T, E: From<StoreError>>(
            &mut self,
            _: impl FnOnce(Self::Db<'_>) -> Result<T, E>,
        ) -> Result<T, E> {
            Err(StoreError::new(crate::store::StoreErrorKind::Other, "process stopped").into())
        }

        fn unit_of_work_relaxed<T, E: From<StoreError>>(
            &mut self,
            f: impl FnOnce(Self::Db<'_>) -> Result<T, E>,
        ) -> Result<T, E> {
            self.0.unit_of_work_relaxed(f)
        }
    }

    #[test]
    fn a_form_key_whose_issue_stopped_after_numbering_waits_then_issues_once() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(Moving(Mutex::new(OffsetDateTime::now_utc())));
        let app = process(dir.path(), &clock);
        let user = clerk(&app);
        let key = FormKey::new(user, "sSsSsSsSsSsSsSsSsSsSsS").unwrap();
        let mut stopping = Issuer::new(
            app.catalog().unwrap(),
            StopsBeforeIssued(app.registry().unwrap()),
            app.issued_files(),
            app.settings().authority.clone(),
            &app.settings().base_url,
        );
        assert!(
            stopping
                .issue_once("van-thu", "signature", &sample(), app.now(), Some(&key))
                .is_err()
        );
        let numbered = entries(&app);
        assert_eq!(numbered.len(), 1);
        assert_eq!(numbered[0].status, Status::Pending);
        // Soon after, the first submission may still be at work: nothing is numbered.
        assert!(matches!(
            issue_once(&app, "van-thu", "signature", &sample(), Some(&key)).unwrap(),
            Issuance::InProgress
        ));
        assert_eq!(entries(&app).len(), 1);
        // Once abandoned, the pending number is voided with the reason and the form issues.
        *clock.0.lock().unwrap() += FORM_KEY_ABANDONED + Duration::seconds(1);
        let Issuance::New(doc) =
            issue_once(&app, "van-thu", "signature", &sample(), Some(&key)).unwrap()
        else {
            panic!("the abandoned form issues");
        };
        let stopped = document(&app, &numbered[0].id).unwrap();
        assert_eq!(stopped.status, Status::Void);
        assert!(stopped.void_reason.unwrap().contains("interrupted"));
        // And from then on the key gives that document.
        let Issuance::Earlier(again) =
            issue_once(&app, "van-thu", "signature", &sample(), Some(&key)).unwrap()
        else {
            panic!("issued twice");
        };
        assert_eq!(again.id, doc.id);
        assert_eq!(entries(&app).len(), 2, "the void number and the issued one");
    }
}
