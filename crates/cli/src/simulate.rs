//! `halo simulate`: run the scheduler offline.

use std::path::PathBuf;

/// Arguments of `halo simulate`.
#[derive(clap::Args)]
pub struct Args {
    /// A Pacemaker CIB (cibadmin --query output: configuration and status).
    #[arg(long, short = 'x', conflicts_with = "config")]
    pub xml: Option<PathBuf>,
    /// A native halo configuration (TOML). Without --xml or --config, the embedded
    /// reference deployment (examples/openstack.toml) is used.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Print the allocation scores.
    #[arg(long, short = 's')]
    pub show_scores: bool,
    /// Say in plain words why RESOURCE is where it is, or why it cannot run.
    #[arg(long, value_name = "RESOURCE")]
    pub explain: Option<String>,
}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("the scheduler is not wired in yet")
}
