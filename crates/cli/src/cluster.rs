//! `halo cluster ...`: create, join and manage the cluster through the local daemon.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use halo_api::Client;

/// Where the local daemon is.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// The daemon's state directory (its control socket is DIR/halo.sock).
    #[arg(
        long,
        env = "HALO_STATE_DIR",
        default_value = "/var/lib/halo",
        global = true
    )]
    pub state_dir: PathBuf,
}

impl Target {
    pub fn client(&self) -> Client {
        Client::new(&self.state_dir)
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a cluster with this node as its first member; prints a join token.
    Init {
        /// The cluster name.
        #[arg(long)]
        name: String,
        /// A node silent for this long is shown offline (e.g. 2s, 1500ms).
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        failure_timeout: Duration,
        /// Lifetime of the printed join token (e.g. 24h, 30m).
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        token_ttl: Duration,
    },
    /// Print a fresh join token, alone on standard output.
    Token {
        /// Lifetime of the token (e.g. 24h, 30m, 10s).
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        ttl: Duration,
    },
    /// Join the cluster a peer belongs to.
    Join {
        /// ADDR:PORT of any cluster node.
        peer_addr: String,
        /// A token from `halo cluster token`.
        #[arg(long)]
        token: String,
        /// This node's name in the cluster (default: the daemon's --name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Make per-node state directories offline (for configuration management).
    Setup {
        /// The cluster name.
        #[arg(long)]
        name: String,
        /// The nodes, as NODE=ADDR:PORT.
        #[arg(required = true, value_name = "NODE=ADDR")]
        nodes: Vec<String>,
        /// Nodes (among those given) that are witnesses.
        #[arg(long, value_name = "NODE")]
        witness: Vec<String>,
        /// A node silent for this long is shown offline.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        failure_timeout: Duration,
        /// Output directory: one state directory per node, DIR/NODE (required: halo
        /// cannot yet set up the other nodes remotely, as pcs does through pcsd).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// pcs's `cluster auth`: halo's nodes need no password; they authenticate each other
    /// with certificates issued when they join. Explains how to form the cluster.
    Auth {
        /// The nodes pcs would authenticate to.
        nodes: Vec<String>,
        /// pcs's user (hacluster); not used.
        #[arg(short = 'u', long)]
        username: Option<String>,
        /// pcs's password; not used, not stored, not logged.
        #[arg(short = 'p', long)]
        password: Option<String>,
    },
    /// pcs's `cluster enable`: halo starts at boot as the systemd unit halo.service.
    /// Explains how to enable it.
    Enable {
        /// Every node (pcs's --all).
        #[arg(long)]
        all: bool,
    },
    /// Take this node out of the cluster and forget the cluster here.
    Leave,
    /// Take another node out of the cluster.
    Remove { node: String },
    /// Stop this node's membership, keeping its data (until `halo cluster start`).
    Stop,
    /// Start this node's membership again.
    Start {
        /// Every node (pcs's --all): not yet possible from one node (explained).
        #[arg(long)]
        all: bool,
    },
    /// Show the last configuration changes.
    History {
        /// How many changes to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Parse `90`, `500ms`, `10s`, `30m`, `24h` or `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: use e.g. 500ms, 10s, 30m, 24h"))?;
    let per = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "invalid duration unit {unit:?} in {s:?}: use ms, s, m, h or d"
            ))
        }
    };
    n.checked_mul(per)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let client = args.target.client();
    let rt = runtime()?;
    match args.command {
        Command::Init {
            name,
            failure_timeout,
            token_ttl,
        } => {
            let token = rt.block_on(client.init(
                &name,
                Some(failure_timeout.as_millis() as u64),
                Some(token_ttl.as_secs()),
            ))?;
            let st = rt.block_on(client.status())?;
            println!(
                "Cluster {name} created; node {} is its first member.",
                st.node
            );
            println!("Join token (valid {}):", humanize(token_ttl));
            println!("{token}");
            println!("On another node: halo cluster join ADDR:PORT --token TOKEN");
        }
        Command::Token { ttl } => {
            let token = rt.block_on(client.token(Some(ttl.as_secs().max(1))))?;
            println!("{token}");
        }
        Command::Join {
            peer_addr,
            token,
            name,
        } => {
            let j = rt.block_on(client.join(&peer_addr, &token, name.as_deref()))?;
            println!(
                "Node {} joined cluster {} as voter (id {}).",
                j.name, j.cluster, j.id
            );
        }
        Command::Auth { .. } => bail!(
            "halo cluster auth: halo's nodes take no password: they authenticate each other \
             (mutual TLS) with certificates the cluster issues when they join. Form the \
             cluster instead: `halo cluster init --name NAME` on one node, then on each other \
             node `halo cluster join ADDR:PORT --token TOKEN` with a token from `halo cluster \
             token` on the first (or build every node's state offline with `halo cluster \
             setup --name NAME --out DIR NODE=ADDR:PORT...`)"
        ),
        Command::Enable { .. } => bail!(
            "halo cluster enable: halo starts at boot as the systemd unit halo.service: run \
             `systemctl enable halo` on each node (halo cannot yet do it remotely, as pcs \
             does through pcsd)"
        ),
        Command::Setup {
            name,
            nodes,
            witness,
            failure_timeout,
            out,
        } => {
            let Some(out) = out else {
                bail!(
                    "halo cluster setup without --out: halo cannot yet set up the other nodes \
                     remotely (pcs does it through pcsd). Either give --out DIR with the nodes \
                     as NODE=ADDR:PORT and install DIR/NODE as each node's state directory, \
                     or form the cluster live: `halo cluster init --name {name}` on one node \
                     and `halo cluster join ADDR:PORT --token TOKEN` on the others"
                );
            };
            let mut list = Vec::new();
            for n in &nodes {
                let Some((node, addr)) = n.split_once('=') else {
                    bail!("{n:?}: expected NODE=ADDR:PORT");
                };
                addr.parse::<std::net::SocketAddr>()
                    .with_context(|| format!("{n:?}: {addr:?} is not ADDR:PORT"))?;
                list.push(halo_consensus::setup::SetupNode {
                    name: node.to_string(),
                    addr: addr.to_string(),
                    witness: witness.iter().any(|w| w == node),
                });
            }
            for w in &witness {
                if !list.iter().any(|n| &n.name == w) {
                    bail!("--witness {w}: not among the nodes given");
                }
            }
            let settings = halo_consensus::Settings {
                failure_timeout_ms: failure_timeout.as_millis() as u64,
            };
            halo_consensus::setup::make_bundles(&name, &list, settings, &out)?;
            for n in &list {
                println!(
                    "{}: copy {} to the node's state directory, then run: halo daemon --name {} --state-dir DIR --listen {}{}",
                    n.name,
                    out.join(&n.name).display(),
                    n.name,
                    n.addr,
                    if n.witness { " --witness" } else { "" }
                );
            }
        }
        Command::Leave => {
            rt.block_on(client.leave())?;
            println!("This node left the cluster.");
        }
        Command::Remove { node } => {
            rt.block_on(client.remove(&node))?;
            println!("Node {node} removed from the cluster.");
        }
        Command::Stop => {
            rt.block_on(client.stop())?;
            println!("Cluster membership stopped on this node (data kept; `halo cluster start` resumes).");
        }
        Command::Start { all } => {
            if all {
                bail!(
                    "halo cluster start --all: halo cannot yet reach other nodes' daemons from \
                     here (pcs does it through pcsd; halo's remote API is not there yet). Run \
                     `systemctl start halo` (or `halo cluster start` for a stopped membership) \
                     on each node"
                );
            }
            rt.block_on(client.start())?;
            println!("Cluster membership started on this node.");
        }
        Command::History { limit, json } => {
            let h = rt.block_on(client.history(limit))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                println!("{:>6}  {:<23}  {:<12}  change", "epoch", "time", "node");
                for e in h {
                    println!(
                        "{:>6}  {:<23}  {:<12}  {}",
                        e.epoch,
                        halo_consensus::state::fmt_time(e.time_ms),
                        e.node,
                        e.summary
                    );
                }
            }
        }
    }
    Ok(())
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{} s", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("h").is_err());
    }
}
