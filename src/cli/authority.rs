//! `kyso officials …` and `kyso delegations …`: the admin registers officials, their
//! certificates and title powers, and grants or revokes delegations.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use kyso::app::admin::{self, NewDelegation, NewOfficial};
use kyso::audit;
use kyso::authority::{Mark, Position, store};
use kyso::pki;
use kyso::registry::Registry;
use kyso::signing::KeySigner;
use time::OffsetDateTime;

use super::output::outln;
use super::{Context, say};

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
        /// Personal ID number (12 digits); required except for the seal.
        #[arg(long)]
        citizen_id: Option<String>,
        /// This entry is the agency seal (organisation certificate).
        #[arg(long)]
        seal: bool,
        /// Position: head (Chủ tịch), deputy-head (Phó Chủ tịch), unit-head (e.g. Chánh Văn
        /// phòng), unit-deputy, or staff. It decides who may grant them which delegation.
        #[arg(long, default_value = "staff")]
        position: String,
        /// The unit they belong to (empty for the committee's leadership).
        #[arg(long, default_value = "")]
        unit: String,
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
    /// Move a registered certificate to another official (audited, with the reason).
    MoveCert {
        /// The official who receives it.
        id: String,
        /// Certificate (PEM).
        #[arg(long, value_name = "CERT.pem")]
        cert: PathBuf,
        /// Why it moves.
        #[arg(long)]
        reason: String,
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
        /// Pass on this TL. grant (the delegator is its holder; the delegate their own deputy).
        #[arg(long, value_name = "ID")]
        source: Option<i64>,
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
    // The whole last day counts: its last instant, not 23:59:59 with the final second cut off.
    let t = if end_of_day {
        time::Time::from_hms_nano(23, 59, 59, 999_999_999)?
    } else {
        time::Time::MIDNIGHT
    };
    Ok(d.with_time(t)
        .assume_offset(time::UtcOffset::from_hms(7, 0, 0)?))
}

pub fn officials(ctx: &Context, cmd: OfficialsCmd) -> anyhow::Result<ExitCode> {
    let app = &ctx.app;
    match cmd {
        OfficialsCmd::Add {
            id,
            name,
            title,
            agency,
            citizen_id,
            seal,
            position,
            unit,
        } => {
            let position = if seal {
                Position::Seal
            } else {
                Position::parse(&position).with_context(|| {
                    format!("unknown position {position:?}: use head, deputy-head, unit-head, unit-deputy or staff")
                })?
            };
            let o = admin::add_official(
                app,
                "admin",
                NewOfficial {
                    id,
                    full_name: name,
                    title,
                    agency,
                    citizen_id,
                    position,
                    unit,
                },
            )?;
            say(&format!("registered {} ({})", o.id, o.position))?;
        }
        OfficialsCmd::AddCert {
            id,
            cert,
            key_location,
        } => {
            let c = pki::load_certificates(&cert)?.remove(0);
            admin::add_certificate(app, "admin", &id, &c, &key_location)?;
            say(&format!(
                "certificate {} registered for {id}",
                c.serial_hex()
            ))?;
        }
        OfficialsCmd::MoveCert { id, cert, reason } => {
            let c = pki::load_certificates(&cert)?.remove(0);
            let from = admin::move_certificate(app, "admin", &c, &id, &reason)?;
            say(&format!(
                "certificate {} moved from {from} to {id}",
                c.serial_hex()
            ))?;
        }
        OfficialsCmd::Allow { title, kinds } => {
            admin::allow_title(app, "admin", &title, &kinds)?;
            say(&format!(
                "{title} signs {} in its own right",
                kinds.join(", ")
            ))?;
        }
        OfficialsCmd::List => {
            let reg = open(ctx)?;
            let db = &reg.db();
            for o in store::officials(db)? {
                say(&format!(
                    "{}\t{}\t{}\t{}\t{}{}",
                    o.id,
                    o.full_name,
                    o.title,
                    o.agency,
                    o.position,
                    if o.unit.is_empty() {
                        String::new()
                    } else {
                        format!("\t{}", o.unit)
                    }
                ))?;
                for c in store::certificates_of(db, &o.id)? {
                    say(&format!("\tcertificate {} {}", c.serial_hex(), c.subject()))?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn delegations(ctx: &Context, cmd: DelegationsCmd) -> anyhow::Result<ExitCode> {
    let app = &ctx.app;
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
            source,
        } => {
            let mark = Mark::parse(&mark)
                .with_context(|| format!("unknown mark {mark:?}: use TM, KT, TL, TUQ or Q"))?;
            let from = parse_time_arg(&valid_from, false)?;
            let until = parse_time_arg(&valid_until, true)?;
            if until <= from {
                bail!("--valid-until must be after --valid-from");
            }
            let delegator_cert = pki::load_certificates(&cert)?.remove(0);
            let signer = KeySigner::new(
                &pki::load_private_key(&key)?,
                delegator_cert,
                Vec::new(),
                false,
            )?;
            let d = admin::grant_delegation(
                app,
                NewDelegation {
                    mark,
                    delegator,
                    delegate,
                    kinds,
                    valid_from: from,
                    valid_until: until,
                    basis_number,
                    basis_date,
                    source,
                },
                &signer,
            )?;
            let (a, b) = d.capacity_lines();
            say(&format!("delegation {} granted: {a} / {b}", d.id))?;
        }
        DelegationsCmd::Revoke { id, reason, at } => {
            let at = match at {
                Some(s) => Some(parse_time_arg(&s, false)?),
                None => None,
            };
            admin::revoke_delegation(app, "admin", id, at, &reason)?;
            say(&format!("delegation {id} revoked"))?;
        }
        DelegationsCmd::List { official } => {
            let reg = open(ctx)?;
            for d in store::delegations(&reg.db(), official.as_deref())? {
                let (a, b) = d.capacity_lines();
                let state = match &d.revoked {
                    Some((t, r)) => format!("revoked {} ({r})", store::fmt_time(*t)),
                    None => "active".into(),
                };
                say(&format!(
                    "{}\t{} -> {}\t{a} / {b}\t{}\t{} .. {}\t{} ({})\t{state}{}",
                    d.id,
                    d.delegator.id,
                    d.delegate.id,
                    d.scope.join(","),
                    store::fmt_time(d.valid_from),
                    store::fmt_time(d.valid_until),
                    d.basis_number,
                    d.basis_date,
                    d.source
                        .as_ref()
                        .map(|s| format!("\tfrom delegation {}", s.id))
                        .unwrap_or_default()
                ))?;
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
            for e in audit::list(&reg.db(), limit)? {
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
