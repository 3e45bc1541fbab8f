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
    /// Talk to this node's remote API instead of the local daemon (a node you
    /// authenticated to with `halo cluster auth`).
    #[arg(long, env = "HALO_HOST", global = true, value_name = "NODE")]
    pub host: Option<String>,
}

impl Target {
    pub fn client(&self) -> anyhow::Result<Client> {
        match &self.host {
            Some(h) => crate::hosts::Hosts::load()?.client(h),
            None => Ok(Client::new(&self.state_dir)),
        }
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
    /// Form a cluster of the named nodes through their remote APIs (as pcs does through
    /// pcsd; authenticate to them first with `halo cluster auth`): the first creates it,
    /// the others join. With --out, make per-node state directories offline instead
    /// (nodes as NODE=ADDR:PORT, for configuration management).
    Setup {
        /// The cluster name.
        #[arg(long)]
        name: String,
        /// The nodes: names authenticated with `halo cluster auth` (or, with --out,
        /// NODE=ADDR:PORT).
        #[arg(required = true, value_name = "NODE")]
        nodes: Vec<String>,
        /// Nodes (among those given) that are witnesses (with --out only: a live node
        /// is a witness if its daemon runs with --witness).
        #[arg(long, value_name = "NODE")]
        witness: Vec<String>,
        /// A node silent for this long is shown offline.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        failure_timeout: Duration,
        /// Output directory: one state directory per node, DIR/NODE.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Authenticate to nodes' remote APIs (pcs's `cluster auth`/`host auth`): each node
    /// issues this user an API token, kept with the node's certificate fingerprint in
    /// ~/.config/halo/hosts.json, for `cluster setup`, `--all` and `--host`.
    Auth {
        /// The nodes, each NODE[:PORT] optionally followed by addr=ADDR[:PORT] (where
        /// its API is, when NODE does not resolve).
        #[arg(required = true, value_name = "NODE [addr=ADDR]")]
        nodes: Vec<String>,
        /// The user (default hacluster, as pcs's).
        #[arg(short = 'u', long, default_value = "hacluster")]
        username: String,
        /// The password (default: read from standard input; on the command line it is
        /// visible to other users of this machine).
        #[arg(short = 'p', long)]
        password: Option<String>,
    },
    /// Forget the tokens and pinned certificates of nodes (all with --all).
    Deauth {
        nodes: Vec<String>,
        #[arg(long)]
        all: bool,
    },
    /// Start halo at boot (systemctl enable halo) on this node, or every node (--all).
    Enable {
        /// Every node of the cluster, through their remote APIs.
        #[arg(long)]
        all: bool,
    },
    /// Do not start halo at boot on this node, or every node (--all).
    Disable {
        #[arg(long)]
        all: bool,
    },
    /// Take this node out of the cluster and forget the cluster here.
    Leave,
    /// Take another node out of the cluster.
    Remove { node: String },
    /// Stop this node's membership, keeping its data (until `halo cluster start`).
    Stop {
        /// Every node of the cluster, through their remote APIs.
        #[arg(long)]
        all: bool,
    },
    /// Start this node's membership again (or every node's, --all).
    Start {
        /// Every node of the cluster, through their remote APIs.
        #[arg(long)]
        all: bool,
    },
    /// The nodes' certificates: `certs show`, `certs rotate`.
    Certs {
        #[command(subcommand)]
        action: CertsAction,
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

/// `halo cluster certs show|rotate`.
#[derive(clap::Subcommand)]
pub enum CertsAction {
    /// Each node's certificate: fingerprint, expiry, the CA that issued it.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Renew every node's certificate now (each node makes a new key; a holder of the
    /// CA key signs it); returns once every node uses its new certificate, the old ones
    /// refused from then on.
    Rotate {
        /// Move the cluster to a new CA as well: made on this node (which must hold the
        /// CA key), trusted beside the old one until every node has a certificate of it,
        /// then the only one. Run it again to finish a move a down node held up.
        #[arg(long)]
        new_ca: bool,
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
    let client = args.target.client()?;
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
        Command::Auth {
            nodes,
            username,
            password,
        } => auth(&rt, &nodes, &username, password)?,
        Command::Deauth { nodes, all } => {
            let mut hosts = crate::hosts::Hosts::load()?;
            if all {
                hosts.hosts.clear();
            } else if nodes.is_empty() {
                bail!("name the nodes to forget, or --all");
            }
            for n in &nodes {
                if hosts.hosts.remove(n).is_none() {
                    eprintln!("{n}: was not authenticated");
                }
            }
            hosts.save()?;
        }
        Command::Enable { all } => each_node(&rt, &args.target, all, NodeAction::Enable)?,
        Command::Disable { all } => each_node(&rt, &args.target, all, NodeAction::Disable)?,
        Command::Setup {
            name,
            nodes,
            witness,
            failure_timeout,
            out: None,
        } => {
            if !witness.is_empty() {
                bail!("--witness is for --out: a live node is a witness when its daemon runs with --witness");
            }
            setup(&rt, &name, &nodes, failure_timeout)?;
        }
        Command::Setup {
            name,
            nodes,
            witness,
            failure_timeout,
            out: Some(out),
        } => {
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
        Command::Stop { all: false } => {
            rt.block_on(client.stop())?;
            println!("Cluster membership stopped on this node (data kept; `halo cluster start` resumes).");
        }
        Command::Stop { all: true } => each_node(&rt, &args.target, true, NodeAction::Stop)?,
        Command::Start { all: false } => {
            rt.block_on(client.start())?;
            println!("Cluster membership started on this node.");
        }
        Command::Start { all: true } => each_node(&rt, &args.target, true, NodeAction::Start)?,
        Command::Certs { action } => {
            let (certs, json) = match action {
                CertsAction::Show { json } => (rt.block_on(client.certs())?, json),
                CertsAction::Rotate { new_ca, json } => {
                    let c = rt.block_on(client.rotate_certs(new_ca))?;
                    if !json && new_ca {
                        println!("The cluster moved to a new CA (the old one is no longer trusted); every node renewed its certificate from it:");
                    } else if !json {
                        println!("Every node renewed its certificate:");
                    }
                    (c, json)
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&certs)?);
            } else {
                println!(
                    "{:<16}  {:<64}  {:<23}  CA",
                    "node", "certificate SHA-256", "not after"
                );
                for c in certs {
                    println!(
                        "{:<16}  {:<64}  {:<23}  {}{}",
                        c.node,
                        c.cert_sha256.as_deref().unwrap_or("-"),
                        c.not_after_ms
                            .map(halo_consensus::state::fmt_time)
                            .unwrap_or_else(|| "-".into()),
                        c.ca_sha256.get(..16).unwrap_or(&c.ca_sha256),
                        if c.previous_cert_sha256.is_some() {
                            " (switching to it)"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        Command::History { limit, json } => {
            let h = rt.block_on(client.history(limit))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                println!("{:>6}  {:<23}  {:<12}  change", "epoch", "time", "node");
                for e in h {
                    println!(
                        "{:>6}  {:<23}  {:<12}  {}{}",
                        e.epoch,
                        halo_consensus::state::fmt_time(e.time_ms),
                        e.node,
                        e.summary,
                        e.by.as_deref()
                            .map(|b| format!(" (by {b})"))
                            .unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

/// What `--all` does on every node.
#[derive(Clone, Copy)]
enum NodeAction {
    Start,
    Stop,
    Enable,
    Disable,
}

impl NodeAction {
    fn name(self) -> &'static str {
        match self {
            NodeAction::Start => "start",
            NodeAction::Stop => "stop",
            NodeAction::Enable => "enable",
            NodeAction::Disable => "disable",
        }
    }

    async fn on(self, c: &Client) -> Result<(), halo_api::ClientError> {
        match self {
            NodeAction::Start => c.start().await,
            NodeAction::Stop => c.stop().await,
            NodeAction::Enable => c.boot(true).await.map(|_| ()),
            NodeAction::Disable => c.boot(false).await.map(|_| ()),
        }
    }
}

/// Run `action` on this node, or (with `all`) on every node of the cluster through their
/// remote APIs, one line per node; fails if any node failed.
fn each_node(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    all: bool,
    action: NodeAction,
) -> anyhow::Result<()> {
    let what = action.name();
    if !all {
        let c = target.client()?;
        rt.block_on(action.on(&c))?;
        println!("{what}: done on this node");
        return Ok(());
    }
    let hosts = crate::hosts::Hosts::load()?;
    // The cluster's nodes (witnesses too: they run halo.service as well), as this node
    // (or --host) knows them; else every node authenticated to.
    let names: Vec<String> = match target.client().map(|c| rt.block_on(c.status())) {
        Ok(Ok(st)) if st.cluster.is_some() => st.nodes.into_iter().map(|n| n.name).collect(),
        _ => hosts.hosts.keys().cloned().collect(),
    };
    if names.is_empty() {
        bail!("no nodes: authenticate to them first with `halo cluster auth NODE...`");
    }
    let mut failed = Vec::new();
    for n in &names {
        let res = hosts.client(n).and_then(|c| {
            rt.block_on(action.on(&c.with_timeout(Duration::from_secs(60))))
                .map_err(Into::into)
        });
        match res {
            Ok(()) => println!("{n}: {what}: done"),
            Err(e) => {
                println!("{n}: {what}: FAILED: {e:#}");
                failed.push(n.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("{what} failed on {}", failed.join(", "));
    }
    Ok(())
}

/// `halo cluster auth NODE [addr=ADDR]... -u USER [-p PASSWORD]`.
fn auth(
    rt: &tokio::runtime::Runtime,
    words: &[String],
    user: &str,
    password: Option<String>,
) -> anyhow::Result<()> {
    let mut nodes: Vec<(String, Option<String>)> = Vec::new();
    for w in words {
        match (w.strip_prefix("addr="), nodes.last_mut()) {
            (Some(a), Some((_, addr @ None))) => *addr = Some(a.to_string()),
            (Some(_), _) => bail!("{w}: addr= follows the node it is the address of"),
            (None, _) => nodes.push((w.clone(), None)),
        }
    }
    let password = match password {
        Some(p) => {
            eprintln!(
                "note: a password given with -p is visible to other users of this machine; \
                 without -p, halo reads it from standard input"
            );
            p
        }
        None => crate::hosts::read_secret(&format!("Password for {user}: "))?,
    };
    let mut hosts = crate::hosts::Hosts::load()?;
    let mut failed = Vec::new();
    for (node, addr) in nodes {
        let name = node
            .rsplit_once(':')
            .filter(|(_, p)| p.parse::<u16>().is_ok())
            .map_or(node.as_str(), |(n, _)| n)
            .to_string();
        let api = crate::hosts::api_addr(&node, addr.as_deref());
        let pinned = hosts.hosts.get(&name).map(|h| h.fingerprint.clone());
        let client = Client::remote(
            halo_api::client::Remote {
                addr: api.clone(),
                fingerprint: pinned.clone(),
                authorization: None,
            }
            .basic(user, &password),
        )
        .with_timeout(Duration::from_secs(30));
        let issued = rt.block_on(client.token_issue(&halo_api::proto::IssueToken::default()));
        match issued {
            Ok(t) => {
                let fingerprint = client.seen_fingerprint().unwrap_or_default();
                if pinned.is_none() {
                    println!("{name}: API key fingerprint {fingerprint} (first contact: compare it with the `key` the node's daemon logs when its remote API starts)");
                }
                hosts.hosts.insert(
                    name.clone(),
                    crate::hosts::Host {
                        addr: api,
                        fingerprint,
                        user: user.to_string(),
                        token: t.token,
                    },
                );
                println!("{name}: Authorized ({user}, {})", t.role);
            }
            Err(e) => {
                let hint = if matches!(&e, halo_api::ClientError::CertificateChanged { .. }) {
                    format!(" (`halo cluster deauth {name}` forgets the old certificate)")
                } else {
                    String::new()
                };
                println!("{name}: FAILED: {e}{hint}");
                failed.push(name);
            }
        }
    }
    hosts.save()?;
    if !failed.is_empty() {
        bail!("not authorized on {}", failed.join(", "));
    }
    Ok(())
}

/// `halo cluster setup --name NAME NODE...` through the nodes' remote APIs: the first
/// node creates the cluster (its users become the cluster's), the others join it with
/// a token each; then every node is reached with the first node's token.
fn setup(
    rt: &tokio::runtime::Runtime,
    name: &str,
    nodes: &[String],
    failure_timeout: Duration,
) -> anyhow::Result<()> {
    let mut hosts = crate::hosts::Hosts::load()?;
    let mut infos = Vec::new();
    for n in nodes {
        if n.contains('=') {
            bail!("{n}: NODE=ADDR is for --out; a live setup names nodes authenticated with `halo cluster auth`");
        }
        let c = hosts.client(n)?.with_timeout(Duration::from_secs(30));
        let info = rt
            .block_on(c.node())
            .with_context(|| format!("asking {n} about itself"))?;
        if let Some(cl) = &info.cluster {
            bail!(
                "{n} (node {}) is already in cluster {cl}: `halo cluster leave` on it first",
                info.name
            );
        }
        infos.push((n.clone(), c, info));
    }
    let Some(((first, first_client, first_info), rest)) = infos.split_first() else {
        bail!("name the nodes");
    };
    rt.block_on(first_client.init(name, Some(failure_timeout.as_millis() as u64), Some(3600)))
        .with_context(|| format!("creating cluster {name} on {first}"))?;
    println!("{first}: created cluster {name} (node {})", first_info.name);
    for (n, c, info) in rest {
        let token = rt
            .block_on(first_client.token(Some(600)))
            .with_context(|| format!("a join token for {n} from {first}"))?;
        rt.block_on(c.join(&first_info.listen, &token, None))
            .with_context(|| format!("{n} joining through {first} ({})", first_info.listen))?;
        println!("{n}: joined (node {})", info.name);
    }
    // The cluster's users are the first node's: its token now opens every node.
    if let Some(t) = hosts.hosts.get(first).cloned() {
        for (n, _, _) in rest {
            if let Some(h) = hosts.hosts.get_mut(n) {
                h.token = t.token.clone();
                h.user = t.user.clone();
            }
        }
        hosts.save()?;
    }
    println!(
        "Cluster {name} set up with {} nodes; the users of {first} are the cluster's.",
        infos.len()
    );
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
