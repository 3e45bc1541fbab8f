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
    /// Print a fresh join token, alone on standard output (it admits one node unless
    /// --uses says more); `token list` and `token revoke ID` manage the tokens.
    #[command(args_conflicts_with_subcommands = true)]
    Token {
        /// Lifetime of the token (e.g. 24h, 30m, 10s).
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        ttl: Duration,
        /// How many nodes the token admits.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        uses: u32,
        #[command(subcommand)]
        action: Option<TokenAction>,
    },
    /// Join the cluster a peer belongs to. The token is read from --token-file, or from
    /// standard input (`--token -`, or no --token when standard input is not a terminal).
    Join {
        /// ADDR:PORT of any cluster node.
        peer_addr: String,
        /// A token from `halo cluster token`, or `-` to read it from standard input.
        /// Avoid giving the token itself here: other users of the machine can read the
        /// command line.
        #[arg(long, conflicts_with = "token_file")]
        token: Option<String>,
        /// A file holding the token (from `halo cluster token`).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
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

/// `halo cluster token list|revoke`.
#[derive(clap::Subcommand)]
pub enum TokenAction {
    /// List the join tokens: id, uses left, expiry (never the secret).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a join token: it admits no node any more.
    Revoke {
        /// The token's id (from `halo cluster token list`).
        id: String,
    },
}

/// Where `halo cluster join` finds its token.
fn read_token(token: Option<String>, token_file: Option<PathBuf>) -> anyhow::Result<String> {
    use std::io::{IsTerminal, Read};
    let from_stdin = || -> anyhow::Result<String> {
        let mut text = String::new();
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut text)
            .context("reading the join token from standard input")?;
        Ok(text)
    };
    let text = match (token, token_file) {
        (_, Some(file)) => std::fs::read_to_string(&file)
            .with_context(|| format!("reading the join token from {}", file.display()))?,
        (Some(t), None) if t == "-" => from_stdin()?,
        (Some(t), None) => {
            eprintln!(
                "warning: a token given on the command line can be read by other users of \
                 this machine (ps, /proc); pass it with --token-file FILE or on standard input"
            );
            t
        }
        (None, None) if std::io::stdin().is_terminal() => bail!(
            "halo cluster join needs a token: --token-file FILE, or the token on standard \
             input (e.g. `halo cluster join ADDR:PORT < token.txt`); make one with `halo \
             cluster token` on a cluster node"
        ),
        (None, None) => from_stdin()?,
    };
    let token = text.trim().to_string();
    if token.is_empty() {
        bail!("the join token is empty: make one with `halo cluster token` on a cluster node");
    }
    Ok(token)
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
            println!(
                "It admits one node; on another node: halo cluster join ADDR:PORT --token-file FILE"
            );
        }
        Command::Token {
            action: Some(TokenAction::List { json }),
            ..
        } => {
            let tokens = rt.block_on(client.tokens())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!(
                    "{:<16}  {:>9}  {:<23}  {:<8}  created by",
                    "id", "uses left", "expires", "state"
                );
                for t in tokens {
                    let state = if t.revoked {
                        "revoked"
                    } else if t.expired {
                        "expired"
                    } else if t.uses_left == Some(0) {
                        "used"
                    } else {
                        "valid"
                    };
                    println!(
                        "{:<16}  {:>9}  {:<23}  {:<8}  {}",
                        t.id,
                        t.uses_left
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| "any".into()),
                        halo_consensus::state::fmt_time(t.expires_ms),
                        state,
                        t.created_by
                    );
                }
            }
        }
        Command::Token {
            action: Some(TokenAction::Revoke { id }),
            ..
        } => {
            rt.block_on(client.revoke_token(&id))?;
            println!("Join token {id} revoked.");
        }
        Command::Token {
            ttl,
            uses,
            action: None,
        } => {
            let token =
                rt.block_on(client.token_with_uses(Some(ttl.as_secs().max(1)), Some(uses)))?;
            println!("{token}");
        }
        Command::Join {
            peer_addr,
            token,
            token_file,
            name,
        } => {
            let token = read_token(token, token_file)?;
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
             node `halo cluster join ADDR:PORT --token-file FILE` with a token from `halo \
             cluster token` on the first (or build every node's state offline with `halo cluster \
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
                     and `halo cluster join ADDR:PORT --token-file FILE` on the others"
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
