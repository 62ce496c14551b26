//! `kyso officials …` and `kyso delegations …`: the admin registers officials, their
//! certificates and title powers, and grants or revokes delegations.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kyso::audit;
use kyso::authority::{self, Delegation, Mark, Official, grant, store};
use kyso::pki;
use kyso::registry::Registry;
use kyso::signing::{KeySigner, SignOptions};
use serde_json::json;
use time::OffsetDateTime;

use super::Context;
use super::output::outln;

#[derive(Debug, clap::Subcommand)]
pub enum OfficialsCmd {
    /// Register an official (or the agency seal with --seal).
    Add {
        /// Short handle, e.g. chu-tich.
        #[arg(long)]
        id: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Title, e.g. "Phó Chủ tịch".
        #[arg(long)]
        title: String,
        /// Agency, e.g. "UBND xã Tân Lạc".
        #[arg(long)]
        agency: String,
        /// Personal ID number (12 digits).
        #[arg(long)]
        citizen_id: Option<String>,
        /// This entry is the agency seal (organisation certificate).
        #[arg(long)]
        seal: bool,
    },
    /// Register a certificate for an official, and where its key lives.
    AddCert {
        /// The official's id.
        id: String,
        /// Certificate (PEM).
        #[arg(long, value_name = "CERT.pem")]
        cert: PathBuf,
        /// Where the key lives: file:PATH, pkcs11:URI or external (token, remote signer).
        #[arg(long, default_value = "external")]
        key_location: String,
    },
    /// Let a title sign document kinds in its own right.
    Allow {
        /// The title, e.g. "Chủ tịch".
        #[arg(long)]
        title: String,
        /// Document kinds (repeatable).
        #[arg(long = "kind", required = true)]
        kinds: Vec<String>,
    },
    /// List officials and their certificates.
    List,
}

#[derive(Debug, clap::Subcommand)]
pub enum DelegationsCmd {
    /// Grant a delegation; the delegator's key signs the grant.
    Grant {
        /// TM, KT, TL, TUQ or Q.
        #[arg(long)]
        mark: String,
        /// The delegator's id.
        #[arg(long = "from")]
        delegator: String,
        /// The delegate's id.
        #[arg(long = "to")]
        delegate: String,
        /// Document kinds covered (repeatable).
        #[arg(long = "kind", required = true)]
        kinds: Vec<String>,
        /// Start (RFC 3339, or YYYY-MM-DD for midnight Vietnam time).
        #[arg(long)]
        valid_from: String,
        /// End (RFC 3339, or YYYY-MM-DD for the end of that day Vietnam time).
        #[arg(long)]
        valid_until: String,
        /// Decision number (written basis), e.g. 15/QĐ-UBND.
        #[arg(long)]
        basis_number: String,
        /// Decision date, YYYY-MM-DD.
        #[arg(long)]
        basis_date: String,
        /// The delegator's private key (PEM), which signs the grant.
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
        /// The delegator's certificate (PEM), registered to the delegator.
        #[arg(long, value_name = "CERT.pem")]
        cert: PathBuf,
    },
    /// Revoke a delegation from now (or --at); signatures made before stay valid.
    Revoke {
        /// Delegation id.
        id: i64,
        /// Why.
        #[arg(long)]
        reason: String,
        /// When the revocation takes effect (default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// List delegations (of one official when given).
    List {
        /// Only those where this official delegates or is delegated to.
        #[arg(long)]
        official: Option<String>,
    },
}

fn open(ctx: &Context) -> anyhow::Result<Registry> {
    Registry::open(&ctx.settings.registry_path()).context("cannot open the registry")
}

/// Parses an RFC 3339 time, or a date as midnight (or, with `end_of_day`, 23:59:59) in Vietnam.
pub fn parse_time_arg(s: &str, end_of_day: bool) -> anyhow::Result<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt)
        .with_context(|| format!("{s:?} is neither RFC 3339 nor YYYY-MM-DD"))?;
    let t = if end_of_day {
        time::Time::from_hms(23, 59, 59)?
    } else {
        time::Time::MIDNIGHT
    };
    Ok(d.with_time(t)
        .assume_offset(time::UtcOffset::from_hms(7, 0, 0)?))
}

pub fn officials(ctx: &Context, cmd: OfficialsCmd) -> anyhow::Result<ExitCode> {
    let mut reg = open(ctx)?;
    match cmd {
        OfficialsCmd::Add {
            id,
            name,
            title,
            agency,
            citizen_id,
            seal,
        } => {
            if let Some(c) = &citizen_id {
                let digits = authority::normalise_id(c);
                if digits.len() != 12 {
                    bail!(
                        "citizen ID {c:?} must have 12 digits / số định danh cá nhân phải có 12 chữ số"
                    );
                }
            }
            let o = Official {
                id: id.clone(),
                full_name: name,
                title,
                agency,
                citizen_id: citizen_id.map(|c| authority::normalise_id(&c)),
                is_seal: seal,
            };
            let tx = reg.connection_mut().transaction()?;
            store::add_official(&tx, &o)?;
            audit::append(
                &tx,
                "admin",
                "official.add",
                &id,
                &json!({"name": o.full_name, "title": o.title, "agency": o.agency, "seal": seal}),
            )?;
            tx.commit()?;
            outln!("registered {id}")?;
        }
        OfficialsCmd::AddCert {
            id,
            cert,
            key_location,
        } => {
            if !(key_location == "external"
                || key_location.starts_with("file:")
                || key_location.starts_with("pkcs11:"))
            {
                bail!("--key-location must be external, file:PATH or pkcs11:URI");
            }
            let c = pki::load_certificates(&cert)?.remove(0);
            if pki::is_development_certificate(c.der()) && !ctx.settings.development {
                bail!(
                    "{} belongs to the development PKI; register it only in development mode (--dev)",
                    cert.display()
                );
            }
            let tx = reg.connection_mut().transaction()?;
            store::add_certificate(&tx, &id, &c, &key_location)?;
            audit::append(
                &tx,
                "admin",
                "certificate.add",
                &id,
                &json!({"subject": c.subject(), "serial": c.serial_hex(), "key_location": key_location}),
            )?;
            tx.commit()?;
            outln!("certificate {} registered for {id}", c.serial_hex())?;
        }
        OfficialsCmd::Allow { title, kinds } => {
            let tx = reg.connection_mut().transaction()?;
            for k in &kinds {
                store::allow_title(&tx, &title, k)?;
            }
            audit::append(
                &tx,
                "admin",
                "title.allow",
                &title,
                &json!({"kinds": kinds}),
            )?;
            tx.commit()?;
            outln!("{title} signs {} in its own right", kinds.join(", "))?;
        }
        OfficialsCmd::List => {
            let conn = reg.connection();
            for o in store::officials(conn)? {
                outln!(
                    "{}\t{}\t{}\t{}{}",
                    o.id,
                    o.full_name,
                    o.title,
                    o.agency,
                    if o.is_seal { "\t(seal)" } else { "" }
                )?;
                for c in store::certificates_of(conn, &o.id)? {
                    outln!("\tcertificate {} {}", c.serial_hex(), c.subject())?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn delegations(ctx: &Context, cmd: DelegationsCmd) -> anyhow::Result<ExitCode> {
    let mut reg = open(ctx)?;
    match cmd {
        DelegationsCmd::Grant {
            mark,
            delegator,
            delegate,
            kinds,
            valid_from,
            valid_until,
            basis_number,
            basis_date,
            key,
            cert,
        } => {
            let mark = Mark::parse(&mark)
                .with_context(|| format!("unknown mark {mark:?}: use TM, KT, TL, TUQ or Q"))?;
            let from = parse_time_arg(&valid_from, false)?;
            let until = parse_time_arg(&valid_until, true)?;
            if until <= from {
                bail!("--valid-until must be after --valid-from");
            }
            time::Date::parse(
                &basis_date,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .with_context(|| format!("--basis-date {basis_date:?} is not YYYY-MM-DD"))?;
            let conn = reg.connection();
            let delegator_o = store::official(conn, &delegator)?;
            let delegate_o = store::official(conn, &delegate)?;
            if delegator_o.id == delegate_o.id {
                bail!("an official cannot delegate to themselves");
            }
            let now = OffsetDateTime::now_utc();
            let delegator_cert = pki::load_certificates(&cert)?.remove(0);
            if !store::certificates_of(conn, &delegator)?.contains(&delegator_cert) {
                bail!(
                    "{} is not a certificate registered to {delegator}",
                    cert.display()
                );
            }
            let opts = SignOptions {
                development_mode: ctx.settings.development,
                ..SignOptions::new()
            };
            kyso::signing::check_certificate(&delegator_cert, &[], &opts)?;
            let own = |k: &str| store::signs_in_own_right(conn, &delegator_o, k).unwrap_or(false);
            let holds = store::delegations_to(conn, &delegator)?;
            if let Err(refusal) =
                authority::check_grant(&delegator_o, &kinds, now.max(from), &own, &holds)
            {
                audit::append(
                    conn,
                    &delegator,
                    "delegation.refuse",
                    &delegate,
                    &json!({"mark": mark.code(), "kinds": kinds, "reason": refusal.to_string()}),
                )?;
                return Err(refusal.into());
            }
            let delegate_cert = store::certificates_of(conn, &delegate)?
                .pop()
                .with_context(|| format!("{delegate} has no registered certificate; register one first (kyso officials add-cert)"))?;
            let signer = KeySigner::new(
                &pki::load_private_key(&key)?,
                delegator_cert,
                Vec::new(),
                false,
            )?;
            let mut d = Delegation {
                id: 0,
                mark,
                delegator: delegator_o,
                delegate: delegate_o,
                scope: kinds.clone(),
                valid_from: from,
                valid_until: until,
                basis_number,
                basis_date,
                grant_der: Vec::new(),
                revoked: None,
            };
            d.grant_der = grant::issue(&d, &delegate_cert, &signer)?;
            let tx = reg.connection_mut().transaction()?;
            let id = store::insert_delegation(&tx, &d)?;
            audit::append(
                &tx,
                &delegator,
                "delegation.grant",
                &format!("delegation:{id}"),
                &json!({
                    "mark": d.mark.code(), "delegate": delegate, "kinds": kinds,
                    "valid_from": store::fmt_time(from), "valid_until": store::fmt_time(until),
                    "basis": d.basis_number, "basis_date": d.basis_date,
                }),
            )?;
            tx.commit()?;
            let (a, b) = d.capacity_lines();
            outln!("delegation {id} granted: {a} / {b}")?;
        }
        DelegationsCmd::Revoke { id, reason, at } => {
            let at = match at {
                Some(s) => parse_time_arg(&s, false)?,
                None => OffsetDateTime::now_utc(),
            };
            let tx = reg.connection_mut().transaction()?;
            store::revoke(&tx, id, at, &reason)?;
            audit::append(
                &tx,
                "admin",
                "delegation.revoke",
                &format!("delegation:{id}"),
                &json!({"at": store::fmt_time(at), "reason": reason}),
            )?;
            tx.commit()?;
            outln!("delegation {id} revoked")?;
        }
        DelegationsCmd::List { official } => {
            for d in store::delegations(reg.connection(), official.as_deref())? {
                let (a, b) = d.capacity_lines();
                let state = match &d.revoked {
                    Some((t, r)) => format!("revoked {} ({r})", store::fmt_time(*t)),
                    None => "active".into(),
                };
                outln!(
                    "{}\t{} -> {}\t{a} / {b}\t{}\t{} .. {}\t{} ({})\t{state}",
                    d.id,
                    d.delegator.id,
                    d.delegate.id,
                    d.scope.join(","),
                    store::fmt_time(d.valid_from),
                    store::fmt_time(d.valid_until),
                    d.basis_number,
                    d.basis_date
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit_cmd(ctx: &Context, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    let reg = open(ctx)?;
    match cmd {
        AuditCmd::Verify => super::archive::audit_verify(ctx, &reg),
        AuditCmd::Checkpoint => super::archive::audit_checkpoint(ctx, &reg),
        AuditCmd::List { limit } => {
            for e in audit::list(reg.connection(), limit)? {
                outln!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    e.seq,
                    e.at,
                    e.actor,
                    e.action,
                    e.subject,
                    e.details
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCmd {
    /// Re-check every entry's hash and link, and the log against the newest signed checkpoint
    /// in the archive store; exit 1 naming the first problem.
    Verify,
    /// Sign the audit head with the audit key and write it to the archive store now.
    Checkpoint,
    /// Print the latest entries.
    List {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}
