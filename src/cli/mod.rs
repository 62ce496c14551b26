//! The command-line edge: clap arguments, settings, and the one place where errors become
//! exit codes. Each subcommand lives in its own file and returns `anyhow::Result<ExitCode>`.
//!
//! Errors print as one line (`kyso: <what failed>: <why>`) and exit 1 unless a subcommand has
//! its own contract (`verify` documents exit codes 0–4).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kyso::config::Settings;

mod archive;
mod authority;
mod cancel;
mod demo;
mod dev_pki;
mod issue;
mod kinds;
mod ltv;
mod output;
mod serve;
mod sign;
mod users;
mod verify;

/// kyso: issue, sign, verify and archive commune certifications.
#[derive(Debug, Parser)]
#[command(name = "kyso", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Without it, embedded defaults apply; KYSO_* variables override.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Development mode: accept the committed keys-dev PKI. Never use in production.
    #[arg(long, global = true)]
    dev: bool,
    /// Data directory (registry database, local archive). Overrides the configuration.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// The main job end to end on embedded defaults with keys-dev: issue, sign (KT.), seal, verify, archive.
    Demo(demo::Args),
    /// Create the development PKI (root, intermediate, commune officials, agency seal, CRL).
    DevPki(dev_pki::Args),
    /// Sign a PDF (PAdES baseline B-B) as an incremental update, now or in two steps.
    Sign(sign::Args),
    /// Register officials, their certificates and what their titles sign.
    #[command(subcommand)]
    Officials(authority::OfficialsCmd),
    /// Grant, revoke and list delegations (TM., KT., TL., TUQ., Q.).
    #[command(subcommand)]
    Delegations(authority::DelegationsCmd),
    /// Check the hash-chained audit log.
    #[command(subcommand)]
    Audit(authority::AuditCmd),
    /// Verify every signature of a PDF (ETSI EN 319 102-1 indications; exit codes 0–4).
    Verify(verify::Args),
    /// Issue a certification: validate the data, number it in its register, render the PDF.
    Issue(issue::Args),
    /// List the certification kinds with their template versions and fields.
    Kinds,
    /// Record the cancellation of an issued certification (it stays in the register).
    Cancel(cancel::Args),
    /// Write an issued certification's PDF again, byte for byte as it was issued.
    Reprint(issue::ReprintArgs),
    /// Archive signed documents: outbox, worker, status, integrity audit.
    Archive(archive::ArchiveArgs),
    /// Long-term signatures: add validation material and document timestamps (B-LT, B-LTA).
    #[command(subcommand)]
    Ltv(ltv::LtvCmd),
    /// Serve the public verification pages and the API over HTTP (with the archive worker).
    Serve(serve::Args),
    /// The service's users and API tokens.
    #[command(subcommand)]
    Users(users::UsersCmd),
}

/// Settings after the configuration file, the environment and the global flags, and the
/// use-case layer built on them.
pub struct Context {
    pub settings: Settings,
    /// Shared, so the archive worker can read the time from the same clock.
    pub app: std::sync::Arc<kyso::app::App>,
}

/// Completes on SIGTERM or Ctrl-C: how long-running commands (`serve`, `archive run`) are told
/// to stop.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Prints one line on standard output (through [`output`], so a closed pipe never crashes).
pub fn say(line: &str) -> anyhow::Result<()> {
    output::outln!("{line}")
}

pub fn main() -> ExitCode {
    // Usage errors exit 64 (EX_USAGE), not clap's 2, which `kyso verify` uses for INDETERMINATE.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    init_tracing();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            output::errln!("kyso: {}", one_line(&err));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if cli.dev {
        settings.development = true;
    }
    if let Some(dir) = cli.data_dir {
        settings.data_dir = dir;
    }
    // Flags come after the file and the environment: check the result again.
    let settings = settings.checked()?;
    let ctx = Context {
        app: std::sync::Arc::new(kyso::app::App::new(settings.clone())),
        settings,
    };
    match cli.command {
        Command::Demo(args) => demo::run(&ctx, args),
        Command::DevPki(args) => dev_pki::run(&ctx, args),
        Command::Sign(args) => sign::run(&ctx, args),
        Command::Officials(cmd) => authority::officials(&ctx, cmd),
        Command::Delegations(cmd) => authority::delegations(&ctx, cmd),
        Command::Audit(cmd) => authority::audit_cmd(&ctx, cmd),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Issue(args) => issue::run(&ctx, args),
        Command::Kinds => kinds::run(&ctx),
        Command::Cancel(args) => cancel::run(&ctx, args),
        Command::Reprint(args) => issue::reprint(&ctx, args),
        Command::Archive(args) => archive::run(&ctx, args),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Users(cmd) => users::run(&ctx, cmd),
        Command::Ltv(cmd) => ltv::run(&ctx, cmd),
    }
}

/// The error and its causes on one line, without repeating a cause already in the message.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// Logs go to stderr, quiet unless `KYSO_LOG` (an env-filter directive) asks for more.
///
/// When a log line cannot be written, the subscriber by default reports that with `eprintln!` to
/// the same stderr, which panics when stderr is a closed pipe: a worker whose log reader went away
/// died at its next log line. A lost log line is dropped instead (see `output.rs`).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KYSO_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
