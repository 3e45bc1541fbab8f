//! `halo property set|unset|list|describe`: cluster properties (`crm_config`), as pcs's.

use halo_model::properties::{property, Effect, PROPERTIES};

use crate::cluster::Target;
use crate::edit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub dry_run: crate::config::DryRun,
    #[command(subcommand)]
    pub command: Option<PropertyCommand>,
}

#[derive(clap::Subcommand)]
pub enum PropertyCommand {
    /// `set name=value...`: set cluster properties (an empty value removes one).
    Set {
        #[arg(num_args = 1..)]
        pairs: Vec<String>,
    },
    /// `unset name...`: remove cluster properties (their defaults apply again).
    Unset {
        #[arg(num_args = 1..)]
        names: Vec<String>,
    },
    /// List the properties that are set (the default); with --all, also the defaults of
    /// those halo acts on.
    #[command(alias = "config")]
    List {
        #[arg(long)]
        all: bool,
    },
    /// Every cluster property halo knows (or those named): type, default, and what it
    /// does in halo, or why it is accepted without effect.
    Describe { names: Vec<String> },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.dry_run.apply();
    let t = &args.target;
    match args.command.unwrap_or(PropertyCommand::List { all: false }) {
        PropertyCommand::Set { pairs } => {
            println!("{}", edit::property_set(t, edit::parse_pairs(&pairs)?)?);
        }
        PropertyCommand::Unset { names } => {
            let pairs = names.into_iter().map(|n| (n, String::new())).collect();
            println!("{}", edit::property_set(t, pairs)?);
        }
        PropertyCommand::List { all } => {
            let cfg = edit::current(t)?;
            println!("Cluster Properties:");
            for (k, v) in &cfg.properties {
                println!(" {k}: {v}");
            }
            if all {
                for p in PROPERTIES {
                    let acted_on = matches!(p.effect, Effect::Honoured(_));
                    if acted_on && !cfg.properties.contains_key(p.name) {
                        println!(" {}: {} (default)", p.name, p.default);
                    }
                }
            }
        }
        PropertyCommand::Describe { names } => {
            for n in &names {
                if property(n).is_none() {
                    anyhow::bail!(
                        "{n}: not a cluster property halo knows (`halo property describe` lists them)"
                    );
                }
            }
            let mut first = true;
            for p in PROPERTIES
                .iter()
                .filter(|p| names.is_empty() || names.iter().any(|n| n == p.name))
            {
                if !first {
                    println!();
                }
                first = false;
                let kind = halo_model::validate::property_type(p.name).unwrap_or_default();
                let default = if p.default.is_empty() {
                    "(none)"
                } else {
                    p.default
                };
                println!("{}  ({kind}; default {default})", p.name);
                match p.effect {
                    Effect::Honoured(what) => println!("  {what}"),
                    Effect::NoEffect(why) => println!("  accepted, no effect in halo: {why}"),
                    Effect::Informational(what) => println!("  informational: {what}"),
                }
            }
        }
    }
    Ok(())
}
