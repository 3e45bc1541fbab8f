//! `halo user ...`: the users of the API and their tokens (pcsd's `hacluster`, with
//! roles as Pacemaker's ACLs). Passwords are read from standard input (or typed at a
//! prompt without echo), never taken from the command line.

use std::time::Duration;

use anyhow::Context;
use halo_consensus::users::Role;

use crate::cluster::{parse_duration, runtime, Target};
use crate::hosts::read_secret;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a user; its password is read from standard input.
    Add {
        name: String,
        /// read (status, configuration), operator (standby, move, ban, cleanup,
        /// enable/disable) or admin (everything, users and nodes included).
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Set a user's password (read from standard input).
    Passwd { name: String },
    /// Change a user's role.
    Role {
        name: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Delete a user and its tokens.
    Del { name: String },
    /// List the users and their roles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Issue an API token for programs (to yourself, or as admin to NAME); printed once.
    Token {
        name: Option<String>,
        /// Lifetime (e.g. 30d); default: until revoked.
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
    /// List API tokens and sessions (yours, or all as admin); never their secrets.
    Tokens {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token or session by its id.
    Revoke { id: String },
    /// Who the daemon takes you for.
    Whoami,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn time(ms: Option<u64>) -> String {
    ms.map(halo_consensus::state::fmt_time)
        .unwrap_or_else(|| "never".into())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let client = args.target.client()?;
    let rt = runtime()?;
    match args.command {
        Command::Add { name, role } => {
            let pw = read_secret(&format!("Password for {name}: "))?;
            rt.block_on(client.user_add(&name, role, &pw))?;
            println!("User {name} added ({role}).");
        }
        Command::Passwd { name } => {
            let pw = read_secret(&format!("New password for {name}: "))?;
            rt.block_on(client.user_set(
                &name,
                &halo_api::proto::SetUser {
                    password: Some(pw),
                    role: None,
                },
            ))?;
            println!("Password of {name} changed; its sessions ended.");
        }
        Command::Role { name, role } => {
            rt.block_on(client.user_set(
                &name,
                &halo_api::proto::SetUser {
                    password: None,
                    role: Some(role),
                },
            ))?;
            println!("User {name} is now {role}.");
        }
        Command::Del { name } => {
            rt.block_on(client.user_delete(&name))?;
            println!("User {name} deleted, with its tokens.");
        }
        Command::List { json } => {
            let users = rt.block_on(client.users())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!("{:<20} {:<9} changed", "user", "role");
                for u in users {
                    println!("{:<20} {:<9} {}", u.name, u.role, time(Some(u.changed_ms)));
                }
            }
        }
        Command::Token { name, ttl } => {
            let t = rt.block_on(client.token_issue(&halo_api::proto::IssueToken {
                user: name,
                ttl_s: ttl.map(|d| d.as_secs().max(1)),
            }))?;
            eprintln!(
                "API token {} for {} ({}), expires {}; shown once, keep it secret:",
                t.id,
                t.user,
                t.role,
                time(t.expires_ms)
            );
            println!("{}", t.token);
        }
        Command::Tokens { json } => {
            let list = rt.block_on(client.api_tokens())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<14} {:<16} {:<8} {:<23} {:<23} from",
                    "id", "user", "kind", "created", "expires"
                );
                for t in list {
                    println!(
                        "{:<14} {:<16} {:<8} {:<23} {:<23} {}",
                        t.id,
                        t.user,
                        format!("{:?}", t.kind).to_lowercase(),
                        time(Some(t.created_ms)),
                        time(t.expires_ms),
                        t.origin
                    );
                }
            }
        }
        Command::Revoke { id } => {
            rt.block_on(client.token_revoke(&id))
                .with_context(|| format!("revoking token {id}"))?;
            println!("Token {id} revoked.");
        }
        Command::Whoami => {
            let w = rt.block_on(client.whoami())?;
            println!("{} ({}) from {}", w.user, w.role, w.origin);
        }
    }
    Ok(())
}
