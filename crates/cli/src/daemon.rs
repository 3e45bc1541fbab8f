//! `halo daemon`: the node daemon.

use std::path::{Path, PathBuf};

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
    /// Where LSB init scripts (class `lsb:`) are found.
    #[arg(long, default_value = "/etc/init.d")]
    pub lsb_root: PathBuf,
    /// OCF_ROOT: where OCF resource agents are installed.
    #[arg(long, env = "OCF_ROOT", default_value = "/usr/lib/ocf")]
    pub ocf_root: PathBuf,
    /// HA_RSCTMP: scratch directory OCF agents keep their state files in. Nodes that
    /// share a machine (tests) need one each.
    #[arg(long, env = "HA_RSCTMP", default_value = "/run/resource-agents")]
    pub rsctmp: PathBuf,
    /// The watchdog to feed while this node is safe, so that a hung or killed halo
    /// resets the node (`none`: no watchdog). Default: /dev/watchdog when it exists.
    #[arg(long, env = "HALO_WATCHDOG", value_name = "PATH|none")]
    pub watchdog: Option<String>,
    /// The watchdog's timeout (a device rounds it up to whole seconds); below the
    /// node's lease (1.5 s with the default timing).
    #[arg(long, value_parser = crate::cluster::parse_duration, value_name = "DURATION")]
    pub watchdog_timeout: Option<std::time::Duration>,
    /// Run directory of halo's builtin agents (pid files, dummy state).
    #[arg(long, env = "HALO_RUN_DIR", default_value = "/run/halo")]
    pub run_dir: PathBuf,
    /// HA_VARRUN given to OCF agents, where many keep pid and state files (unset:
    /// agents use /var/run). Nodes that share a machine (tests) need one each.
    #[arg(long, env = "HA_VARRUN")]
    pub varrun: Option<PathBuf>,
    /// ADDR:PORT of the remote API (HTTPS, users with roles; pcsd's port), or `none`.
    #[arg(long, value_name = "ADDR:PORT|none", default_value = halo_api::remote::DEFAULT_ADDR)]
    pub api: String,
    /// The remote API's certificate chain (PEM); default: the node's own, made at first
    /// start (STATE_DIR/api-cert.pem).
    #[arg(long, value_name = "FILE", requires = "api_key")]
    pub api_cert: Option<PathBuf>,
    /// The key of --api-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "api_cert")]
    pub api_key: Option<PathBuf>,
    /// Validity of the node certificates this node issues or asks for (renewed when a
    /// third is left). For tests: production keeps the default of one year.
    #[arg(long, hide = true, value_parser = crate::cluster::parse_duration, value_name = "DURATION")]
    pub cert_validity: Option<std::time::Duration>,
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

/// Let the agents find halo's Pacemaker tools (crm_attribute, crm_master, ...) and
/// nothing else of a system Pacemaker: links in STATE_DIR/bin, first on their `PATH`,
/// and STATE_DIR/sbin as their `HA_SBIN_DIR` (the tools, and every other program of
/// /usr/sbin); `HALO_STATE_DIR` tells the tools where this daemon is.
fn agent_tools(exec: &mut halo_exec::ExecConfig, state_dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the halo binary")?;
    // Agents run in /: their PATH and HA_SBIN_DIR must be absolute.
    let state_dir = &std::path::absolute(state_dir)
        .with_context(|| format!("--state-dir {}", state_dir.display()))?;
    let dirs = crate::pcmk::links::agent_dirs(state_dir, &exe, Path::new("/usr/sbin"))
        .with_context(|| {
            format!(
                "making the links to halo's Pacemaker tools under {}",
                state_dir.display()
            )
        })?;
    let bin = dirs.bin.display().to_string();
    if bin.contains(':') {
        anyhow::bail!(
            "--state-dir {}: a directory for agents' PATH cannot contain ':'",
            state_dir.display()
        );
    }
    exec.path = format!("{bin}:{}", exec.path);
    exec.extra_env
        .push(("HALO_STATE_DIR".into(), state_dir.display().to_string()));
    if let Some(sbin) = dirs.sbin {
        exec.extra_env
            .push(("HA_SBIN_DIR".into(), sbin.display().to_string()));
    }
    Ok(())
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
    let remote = match args.api.as_str() {
        "none" => None,
        a => Some(halo_api::RemoteOptions {
            addr: a.parse().with_context(|| {
                format!("--api {a}: expected ADDR:PORT (e.g. [::]:2224) or none")
            })?,
            cert: args.api_cert.zip(args.api_key),
        }),
    };
    let name = args.name.unwrap_or_else(host_name);
    let mut opts = halo_consensus::NodeOptions::new(&name, &args.state_dir, &args.listen);
    opts.witness = args.witness;
    if let Some(v) = args.cert_validity {
        anyhow::ensure!(
            v >= std::time::Duration::from_secs(10),
            "--cert-validity {v:?}: at least 10s"
        );
        opts.cert_validity = v;
    }
    let mut exec = halo_exec::ExecConfig {
        node: name.clone(),
        ocf_root: args.ocf_root,
        lsb_root: args.lsb_root,
        rsctmp: args.rsctmp,
        state_dir: args.run_dir,
        // Reap what killed agents leave behind, whatever PID 1 does.
        subreaper: true,
        ..halo_exec::ExecConfig::default()
    };
    agent_tools(&mut exec, &args.state_dir)?;
    if let Some(varrun) = &args.varrun {
        let varrun = &std::path::absolute(varrun)
            .with_context(|| format!("--varrun {}", varrun.display()))?;
        std::fs::create_dir_all(varrun)
            .with_context(|| format!("creating --varrun {}", varrun.display()))?;
        exec.extra_env
            .push(("HA_VARRUN".into(), varrun.display().to_string()));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let watchdog = match args.watchdog.as_deref() {
        Some("none") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => Some(PathBuf::from("/dev/watchdog")).filter(|p| p.exists()),
    };
    let ctl = halo_controller::Options {
        watchdog,
        watchdog_timeout: args.watchdog_timeout,
    };
    rt.spawn(stall_watch());
    rt.block_on(halo_api::run_daemon(opts, exec, ctl, remote))?;
    Ok(())
}

/// Warn when the async runtime was stalled (a task held a worker thread, or the host
/// starved the process): leases are measured on this runtime, so a long stall explains
/// a lease lost on a healthy node.
async fn stall_watch() {
    let tick = std::time::Duration::from_millis(50);
    loop {
        let before = std::time::Instant::now();
        tokio::time::sleep(tick).await;
        let late = before.elapsed().saturating_sub(tick);
        if late >= std::time::Duration::from_millis(150) {
            tracing::warn!(
                late_ms = late.as_millis() as u64,
                "the daemon's runtime was stalled"
            );
        }
    }
}
