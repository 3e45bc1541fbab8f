//! `halo config apply|show`: the whole cluster configuration in halo's native format.

use std::path::PathBuf;

use anyhow::{bail, Context};
use halo_consensus::{Change, ChangeResult, StoredConfig};

use crate::cluster::{runtime, Target};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Replace the cluster's configuration with FILE (native TOML), after validating it.
    /// Nodes are the cluster's members: the file may list them (to give attributes or
    /// scores) but not add others.
    Apply { file: PathBuf },
    /// Print the cluster's configuration as native TOML.
    Show,
}

/// Read the cluster's configuration, change it with `f`, validate it and commit it.
/// Returns the new epoch.
pub fn edit(
    target: &Target,
    f: impl FnOnce(&mut halo_model::Config) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let client = target.client();
    let rt = runtime()?;
    let state = rt.block_on(client.state(true))?;
    let current: StoredConfig = serde_json::from_value(state["config"].clone())
        .context("reading the cluster's current configuration")?;
    let mut cfg = current.to_model()?;
    f(&mut cfg)?;
    halo_model::validate(&cfg)?;
    let config = StoredConfig::from_model(&cfg)?;
    let reply = rt.block_on(client.propose(Change::SetConfig {
        config,
        if_unchanged: Some(current),
    }))?;
    if let ChangeResult::Refused { code, reason } = reply.result {
        bail!("{code} {reason}");
    }
    Ok(reply.epoch)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let client = args.target.client();
    let rt = runtime()?;
    match args.command {
        ConfigCommand::Apply { file } => {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
            let doc = halo_model::native::parse_native(&text, &name)?;
            let mut cfg = doc.config;
            for n in halo_model::validate(&cfg)? {
                eprintln!("{name}: note: {n}");
            }
            let state = rt.block_on(client.state(true))?;
            let current: StoredConfig = serde_json::from_value(state["config"].clone())
                .context("reading the cluster's current configuration")?;
            let current = current.to_model()?;
            for n in &cfg.nodes {
                if !current.nodes.iter().any(|c| c.name == n.name) {
                    bail!(
                        "{name}: node {} is not a member of this cluster (members: {}); add nodes with `halo cluster join`",
                        n.name,
                        current
                            .nodes
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            for c in &current.nodes {
                if !cfg.nodes.iter().any(|n| n.name == c.name) {
                    cfg.nodes.push(c.clone());
                }
            }
            let config = StoredConfig::from_model(&cfg)?;
            let reply = rt.block_on(client.propose(Change::SetConfig {
                config,
                if_unchanged: None,
            }))?;
            if let ChangeResult::Refused { code, reason } = reply.result {
                bail!("{code} {reason}");
            }
            println!("configuration applied (epoch {})", reply.epoch);
        }
        ConfigCommand::Show => {
            let state = rt.block_on(client.state(true))?;
            let current: StoredConfig = serde_json::from_value(state["config"].clone())
                .context("reading the cluster's configuration")?;
            print!("{}", halo_model::to_native(&current.to_model()?));
        }
    }
    Ok(())
}
