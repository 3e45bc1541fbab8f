//! `halo property set|unset|list`: cluster properties (`crm_config`), as pcs's.

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
    /// List the properties that are set (the default); with --all, also the defaults.
    #[command(alias = "config")]
    List {
        #[arg(long)]
        all: bool,
    },
}

/// Properties the scheduler or the controller acts on, with Pacemaker's defaults (shown
/// by `list --all`). Others that Pacemaker knows are accepted (and checked) when set.
const DEFAULTS: &[(&str, &str)] = &[
    ("batch-limit", "0"),
    ("cluster-recheck-interval", "15min"),
    ("concurrent-fencing", "false"),
    ("enable-startup-probes", "true"),
    ("maintenance-mode", "false"),
    ("migration-limit", "-1"),
    ("no-quorum-policy", "stop"),
    ("start-failure-is-fatal", "true"),
    ("startup-fencing", "true"),
    ("stonith-action", "reboot"),
    ("stonith-enabled", "true"),
    ("stonith-timeout", "60s"),
    ("stop-orphan-actions", "true"),
    ("stop-orphan-resources", "true"),
    ("symmetric-cluster", "true"),
];

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
                for (k, v) in DEFAULTS {
                    if !cfg.properties.contains_key(*k) {
                        println!(" {k}: {v} (default)");
                    }
                }
            }
        }
    }
    Ok(())
}
