//! `halo node standby|unstandby|maintenance|unmaintenance|attribute`, as pcs's.

use crate::cluster::Target;
use crate::edit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub dry_run: crate::config::DryRun,
    #[command(subcommand)]
    pub command: NodeCommand,
}

#[derive(clap::Args)]
pub struct Nodes {
    /// The nodes.
    pub nodes: Vec<String>,
    /// Every node.
    #[arg(long)]
    pub all: bool,
}

#[derive(clap::Subcommand)]
pub enum NodeCommand {
    /// Move every resource off the nodes and keep them off.
    Standby(Nodes),
    /// Let the nodes run resources again.
    Unstandby(Nodes),
    /// Leave the nodes' resources alone (not started, stopped or monitored).
    Maintenance(Nodes),
    /// Manage the nodes' resources again.
    Unmaintenance(Nodes),
    /// `attribute NODE name=value...`: permanent node attributes (empty value removes).
    Attribute {
        node: String,
        #[arg(num_args = 1..)]
        pairs: Vec<String>,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.dry_run.apply();
    let t = &args.target;
    let msg = match args.command {
        NodeCommand::Standby(n) => edit::node_flag(t, "standby", true, &n.nodes, n.all)?,
        NodeCommand::Unstandby(n) => edit::node_flag(t, "standby", false, &n.nodes, n.all)?,
        NodeCommand::Maintenance(n) => edit::node_flag(t, "maintenance", true, &n.nodes, n.all)?,
        NodeCommand::Unmaintenance(n) => edit::node_flag(t, "maintenance", false, &n.nodes, n.all)?,
        NodeCommand::Attribute { node, pairs } => edit::node_attribute(t, &node, &pairs)?,
    };
    println!("{msg}");
    Ok(())
}
