//! `halo daemon`: the node daemon.

use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `halo daemon`.
#[derive(clap::Args)]
pub struct Args {
    /// This node's name (default: the host name). It becomes the node's certificate name.
    #[arg(long)]
    pub name: Option<String>,
    /// Holds the log, the keys and the control socket DIR/halo.sock.
    #[arg(long, env = "HALO_STATE_DIR", default_value = "/var/lib/halo")]
    pub state_dir: PathBuf,
    /// ADDR:PORT for node-to-node traffic; other nodes reach this node there.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: String,
    /// Run as a witness: a voter that never runs resources (third vote of two-node clusters).
    #[arg(long)]
    pub witness: bool,
    /// OCF_ROOT: where OCF resource agents are installed.
    #[arg(long, env = "OCF_ROOT", default_value = "/usr/lib/ocf")]
    pub ocf_root: PathBuf,
    /// HA_RSCTMP: scratch directory OCF agents keep their state files in. Nodes that
    /// share a machine (tests) need one each.
    #[arg(long, env = "HA_RSCTMP", default_value = "/run/resource-agents")]
    pub rsctmp: PathBuf,
    /// Run directory of halo's builtin agents (pid files, dummy state).
    #[arg(long, env = "HALO_RUN_DIR", default_value = "/run/halo")]
    pub run_dir: PathBuf,
}

/// The host name, for the default node name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().split('.').next().unwrap_or("").to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.listen
        .parse::<std::net::SocketAddr>()
        .with_context(|| {
            format!(
                "--listen {}: expected ADDR:PORT, e.g. 192.0.2.10:7946",
                args.listen
            )
        })?;
    let name = args.name.unwrap_or_else(host_name);
    let mut opts = halo_consensus::NodeOptions::new(&name, &args.state_dir, &args.listen);
    opts.witness = args.witness;
    let exec = halo_exec::ExecConfig {
        node: name.clone(),
        ocf_root: args.ocf_root,
        rsctmp: args.rsctmp,
        state_dir: args.run_dir,
        // Reap what killed agents leave behind, whatever PID 1 does.
        subreaper: true,
        ..halo_exec::ExecConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(halo_api::run_daemon(opts, exec))?;
    Ok(())
}
