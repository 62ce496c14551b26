//! Signing queues: which registered documents a signer may sign now, decided by the register
//! the way [`super::sign::sign_document`] decides a signature, so that nothing is offered that
//! signing would refuse for want of authority.
//!
//! * An official's queue: issued documents whose official's field nobody has signed yet and
//!   whose kind (and people concerned) the official's authority covers today — in their own
//!   right or under a delegation in force — with the certificate they would sign with.
//! * The seal's queue: issued documents an official has signed and the seal has not.

use serde_json::Value;

use super::sign::{OFFICIAL_FIELD, SEAL_FIELD};
use super::{App, AppError};
use crate::authority::{self, Records};
use crate::issuing::Register as _;
use crate::issuing::{DocumentRecord, Status};

/// The most documents a queue lists at once (the rest follow as these are signed). Each entry
/// of the official's page carries its own form (key, CSRF token, capacity choice, two ways to
/// sign): 100 entries with two capacities each weighed 95.7 KB, too close to the 100 KB page
/// budget; 50 leave room for more capacities.
pub const QUEUE_LIMIT: usize = 50;

/// One capacity in which an official may sign a document now, as the register decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityChoice {
    /// The delegation it is signed under; `None` for the official's own right.
    pub delegation: Option<i64>,
    /// The capacity line ("KT. CHỦ TỊCH / PHÓ CHỦ TỊCH", "CHỦ TỊCH").
    pub line: String,
    /// The delegation's written basis (decision number and date), to tell two grants apart.
    pub basis: Option<String>,
}

/// A document waiting for a signer.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The register entry.
    pub document: DocumentRecord,
    /// The capacity line the official would sign with by default (the first of `choices`);
    /// for the seal, the capacity of the official's signature already on it.
    pub capacity: Option<String>,
    /// Every capacity the official may sign it in now: their own right first, then each
    /// delegation in force for its kind (empty for the seal). Signing takes one of these, never
    /// a line typed by hand.
    pub choices: Vec<CapacityChoice>,
    /// Names of the people the document concerns, for recognising it in the list.
    pub persons: Vec<String>,
}

/// The names of the people a register entry's data concerns.
pub fn persons_of(data: &str) -> Vec<String> {
    super::sign::persons_concerned(data)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The documents `official_id` may sign now, oldest first, at most [`QUEUE_LIMIT`]. A signer
/// record of the seal gets the seal's queue.
pub fn signing_queue(app: &App, official_id: &str) -> Result<Vec<Queued>, AppError> {
    let issuer = super::issue::issuer(app)?;
    let registry = app.registry()?;
    let db = &registry.db();
    let official = authority::store::official(db, official_id)?;
    let now = app.now();
    let is_seal = official.position == authority::Position::Seal;
    let certificate = if is_seal {
        None
    } else {
        // The certificate signing would use: the newest registered one in force.
        let keys = authority::store::keys_of(db, official_id)?;
        let in_force = keys.into_iter().map(|(c, _)| c).find(|c| {
            let (from, until) = c.validity();
            from <= now && now <= until
        });
        match in_force {
            Some(c) => Some(c),
            // Without a certificate in force nothing can be signed: an empty queue.
            None => return Ok(Vec::new()),
        }
    };
    // Candidates, oldest first (the citizen who waited longest): issued documents that wait
    // for the field this signer fills — for the seal, those an official has signed.
    let field = if is_seal { SEAL_FIELD } else { OFFICIAL_FIELD };
    let candidates = db.awaiting_signature(field)?;
    let delegations = authority::store::delegations_to(db, official_id)?;
    let mut out = Vec::new();
    for id in candidates {
        if out.len() >= QUEUE_LIMIT {
            break;
        }
        let Some(doc) = issuer.document(&id)? else {
            continue;
        };
        if doc.status != Status::Issued {
            continue;
        }
        let versions = issuer.versions(&doc.id)?;
        let signed = |field: &str| {
            versions
                .iter()
                .find(|v| v.stage == "signed" && v.field.as_deref() == Some(field))
        };
        let (capacity, choices) = match &certificate {
            None => {
                let Some(by_official) = signed(OFFICIAL_FIELD) else {
                    continue;
                };
                if signed(SEAL_FIELD).is_some() {
                    continue;
                }
                (by_official.capacity.clone(), Vec::new())
            }
            Some(cert) => {
                if signed(OFFICIAL_FIELD).is_some() {
                    continue;
                }
                let choices = capacities(db, official_id, cert, &doc, &delegations, now)?;
                match choices.first() {
                    Some(c) => (Some(c.line.clone()), choices),
                    None => continue,
                }
            }
        };
        out.push(Queued {
            persons: persons_of(&doc.data),
            capacity,
            choices,
            document: doc,
        });
    }
    Ok(out)
}

/// The capacities in which `official_id`, holding `cert`, may sign `doc` at `now`: their own
/// right if the register gives it, then each of `delegations` (those to the official) that
/// the register accepts for this document, each decided as signing decides it.
fn capacities(
    db: &impl Records,
    official_id: &str,
    cert: &crate::pki::Certificate,
    doc: &DocumentRecord,
    delegations: &[authority::Delegation],
    now: time::OffsetDateTime,
) -> Result<Vec<CapacityChoice>, AppError> {
    let ids: Vec<String> = super::sign::persons_concerned(&doc.data)
        .into_iter()
        .map(|(_, id)| authority::normalise_id(&id))
        .collect();
    let mut out = Vec::new();
    let mut decide = |chosen: Option<i64>| -> Result<(), AppError> {
        match authority::authorise(db, official_id, cert, &doc.kind, now, &ids, chosen) {
            Ok(a) => {
                let (delegation, basis) = match a.capacity() {
                    authority::Capacity::OwnRight => (None, None),
                    authority::Capacity::Delegated(d) => (
                        Some(d.id),
                        Some(format!("{} ({})", d.basis_number, d.basis_date)),
                    ),
                };
                // Without a choice, the register picks the own right or the only delegation:
                // the delegation is listed below, by its id.
                if chosen.is_some() || delegation.is_none() {
                    out.push(CapacityChoice {
                        delegation,
                        line: a.claimed_role(),
                        basis,
                    });
                }
                Ok(())
            }
            Err(authority::AuthorityError::Store(e)) => Err(e.into()),
            Err(_) => Ok(()),
        }
    };
    decide(None)?;
    for d in delegations {
        if d.revoked.is_none() && d.valid_from <= now && now <= d.valid_until {
            decide(Some(d.id))?;
        }
    }
    Ok(out)
}

/// The capacities in which `official_id` may sign document `document_id` now (empty when
/// none: the document is not theirs to sign).
pub fn capacities_for(
    app: &App,
    official_id: &str,
    document_id: &str,
) -> Result<Vec<CapacityChoice>, AppError> {
    let doc = super::issue::document(app, document_id)?;
    let registry = app.registry()?;
    let db = &registry.db();
    let now = app.now();
    let cert = authority::store::keys_of(db, official_id)?
        .into_iter()
        .map(|(c, _)| c)
        .find(|c| {
            let (from, until) = c.validity();
            from <= now && now <= until
        });
    match cert {
        Some(cert) if doc.status == Status::Issued => {
            let delegations = authority::store::delegations_to(db, official_id)?;
            capacities(db, official_id, &cert, &doc, &delegations, now)
        }
        _ => Ok(Vec::new()),
    }
}

/// Whether `data` (a register entry's JSON) names a desk clerk, for pages that show it.
pub fn has_desk_clerk(data: &str) -> bool {
    serde_json::from_str::<Value>(data)
        .map(|d| d.get("desk_clerk").is_some_and(|c| !c.is_null()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::sign::{DocumentSign, sign_document};

    fn app(dir: &std::path::Path) -> App {
        let mut settings = crate::config::Settings::from_toml(
            "development = true\nbase_url = \"https://kyso.example.gov.vn\"",
        )
        .unwrap();
        settings.data_dir = dir.to_path_buf();
        let app = App::new(settings);
        let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-dev");
        crate::app::demo::ensure_commune(&app, &keys).unwrap();
        app
    }

    fn ids(q: &[Queued]) -> Vec<&str> {
        q.iter().map(|d| d.document.id.as_str()).collect()
    }

    #[test]
    fn a_document_moves_from_the_officials_queues_to_the_seals_and_out() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let catalog = app.catalog().unwrap();
        let sample: Value = serde_json::from_str(catalog.get("signature").unwrap().sample).unwrap();
        let doc = super::super::issue::issue(&app, "user:van-thu", "signature", &sample).unwrap();

        // The Chairman in his own right, the Vice-Chairman under the KT. delegation.
        let chair = signing_queue(&app, "chu-tich").unwrap();
        assert_eq!(ids(&chair), [doc.id.as_str()]);
        let vice = signing_queue(&app, "pho-chu-tich").unwrap();
        assert_eq!(ids(&vice), [doc.id.as_str()]);
        assert!(
            vice[0].capacity.as_deref().unwrap().starts_with("KT."),
            "{:?}",
            vice[0].capacity
        );
        let seal = seal_id(&app);
        assert!(signing_queue(&app, &seal).unwrap().is_empty());

        sign_document(
            &app,
            "pho-chu-tich",
            "pho-chu-tich",
            &doc.id,
            &DocumentSign::default(),
        )
        .unwrap();
        assert!(signing_queue(&app, "chu-tich").unwrap().is_empty());
        assert!(signing_queue(&app, "pho-chu-tich").unwrap().is_empty());
        assert_eq!(ids(&signing_queue(&app, &seal).unwrap()), [doc.id.as_str()]);

        sign_document(&app, &seal, &seal, &doc.id, &DocumentSign::default()).unwrap();
        assert!(signing_queue(&app, &seal).unwrap().is_empty());

        // Oldest first; a cancelled document leaves every queue.
        let other = super::super::issue::issue(&app, "user:van-thu", "signature", &sample).unwrap();
        let third = super::super::issue::issue(&app, "user:van-thu", "signature", &sample).unwrap();
        assert_eq!(
            ids(&signing_queue(&app, "chu-tich").unwrap()),
            [other.id.as_str(), third.id.as_str()]
        );
        super::super::issue::cancel(&app, "user:van-thu", &other.id, "01/QĐ-UBND", "lỗi").unwrap();
        assert_eq!(
            ids(&signing_queue(&app, "chu-tich").unwrap()),
            [third.id.as_str()]
        );
    }

    fn seal_id(app: &App) -> String {
        crate::app::admin::officials(app)
            .unwrap()
            .into_iter()
            .find(|o| o.position == authority::Position::Seal)
            .unwrap()
            .id
    }
}
