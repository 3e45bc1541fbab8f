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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(halo_api::run_daemon(opts))?;
    Ok(())
}
