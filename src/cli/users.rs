//! `kyso users`: the service's users and API tokens from the command line — how the first
//! admin of a new deployment is made. Passwords are read from standard input, never from
//! arguments (which other users of the machine can see).

use std::io::BufRead as _;
use std::process::ExitCode;

use anyhow::Context as _;
use kyso::app::users::{self, NewUser, Role};

use super::Context;
use super::output::outln;

#[derive(Debug, clap::Subcommand)]
pub enum UsersCmd {
    /// Create a user; the password is read from the first line of standard input.
    Add {
        /// Sign-in name (3–64 of a-z, 0-9, `.`, `_`, `-`).
        username: String,
        /// clerk, official, seal or admin.
        #[arg(long)]
        role: String,
        /// The name shown on pages (default: the username).
        #[arg(long)]
        name: Option<String>,
        /// For official and seal users: the official record they act as.
        #[arg(long)]
        official: Option<String>,
    },
    /// List users.
    List,
    /// Make an API token for a user (acting with the user's role); prints the secret once.
    Token {
        /// The user.
        username: String,
        /// What the token is for.
        #[arg(long)]
        label: String,
    },
    /// Revoke an API token.
    RevokeToken {
        /// The token's id.
        id: i64,
    },
}

pub fn run(ctx: &Context, cmd: UsersCmd) -> anyhow::Result<ExitCode> {
    let app = &ctx.app;
    match cmd {
        UsersCmd::Add {
            username,
            role,
            name,
            official,
        } => {
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role {role:?} (clerk, official, seal, admin)"))?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let u = users::create_user(
                app,
                "cli",
                NewUser {
                    display_name: name.unwrap_or_else(|| username.clone()),
                    username,
                    role,
                    official_id: official,
                    password,
                },
            )?;
            outln!("user {} ({}) created", u.username, u.role.as_str())?;
        }
        UsersCmd::List => {
            for u in users::list_users(app)? {
                outln!(
                    "{:<20} {:<9} {:<16} {}{}",
                    u.username,
                    u.role.as_str(),
                    u.official_id.as_deref().unwrap_or("-"),
                    u.display_name,
                    if u.disabled { " (disabled)" } else { "" }
                )?;
            }
        }
        UsersCmd::Token { username, label } => {
            let (t, secret) = users::create_token(app, "cli", &username, &label)?;
            outln!("{secret}")?;
            super::say(&format!(
                "token {} for {username} ({}); the secret above is shown only once",
                t.id,
                t.role.as_str()
            ))?;
        }
        UsersCmd::RevokeToken { id } => {
            users::revoke_token(app, "cli", id)?;
            outln!("token {id} revoked")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
