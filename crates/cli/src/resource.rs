//! `halo resource agents|describe|debug-start|debug-stop|debug-monitor`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use halo_exec::duration::format_duration;
use halo_exec::{parse_agent, AgentFilter, OpRequest};
use halo_model::{Config, Primitive, Resource};

use crate::agent::{exit_code, print_result, runtime, ExecOpts};

/// Arguments of `halo resource`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ResourceCommand,
    #[command(flatten)]
    pub exec: ExecOpts,
}

#[derive(clap::Subcommand)]
pub enum ResourceCommand {
    /// List installed agents, all or of one STANDARD[:PROVIDER] (e.g. ocf:heartbeat).
    Agents {
        /// ocf, ocf:PROVIDER, lsb, systemd or halo.
        filter: Option<String>,
    },
    /// Show an agent's description, parameters and default operations.
    Describe {
        /// CLASS:PROVIDER:TYPE (e.g. ocf:heartbeat:IPaddr2) or CLASS:TYPE.
        agent: String,
        /// Print the parsed meta-data as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start RESOURCE here, outside the cluster, and show what the agent says.
    DebugStart(DebugArgs),
    /// Stop RESOURCE here, outside the cluster, and show what the agent says.
    DebugStop(DebugArgs),
    /// Probe RESOURCE here (a one-shot monitor), and show what the agent says.
    DebugMonitor(DebugArgs),
    /// Reset RESOURCE's fail counts in the cluster (on every node, or on --node), so the
    /// scheduler may place it there again. Needs the local daemon (--state-dir).
    Cleanup {
        /// The resource id.
        resource: String,
        /// Only on this node.
        #[arg(long)]
        node: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct DebugArgs {
    /// The resource id (a primitive, or a member of a group or clone).
    pub resource: String,
    /// The cluster configuration, in halo's native TOML format.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

fn find_primitive<'a>(r: &'a Resource, id: &str) -> Option<&'a Primitive> {
    match r {
        Resource::Primitive(p) => (p.id == id).then_some(p),
        Resource::Group(g) => g.members.iter().find(|m| m.id == id),
        Resource::Clone(c) => find_primitive(&c.child, id),
    }
}

fn load_config(path: &PathBuf) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc = halo_model::parse_native(&text, &path.display().to_string())?;
    Ok(doc.config)
}

fn debug(opts: &ExecOpts, args: &DebugArgs, action: &str) -> anyhow::Result<()> {
    let config = load_config(&args.config)?;
    let Some(p) = config
        .resources
        .iter()
        .find_map(|r| find_primitive(r, &args.resource))
    else {
        if config.has_resource(&args.resource) {
            bail!(
                "{}: \"{}\" is a group or clone; name one of its primitives",
                args.config.display(),
                args.resource
            );
        }
        bail!(
            "{}: no resource \"{}\" (resources: {})",
            args.config.display(),
            args.resource,
            config.all_resource_ids().join(", ")
        );
    };
    // The configured op's timeout, else op_defaults, else the agent's advertised one.
    let op = p
        .ops
        .iter()
        .find(|o| o.name == action && (action != "monitor" || o.enabled));
    let rt = runtime()?;
    let (exec, _sink) = opts.executor();
    let r = rt.block_on(async {
        let timeout = match op.and_then(|o| o.timeout_ms) {
            Some(ms) => Duration::from_millis(ms),
            None => match config
                .op_defaults
                .get("timeout")
                .and_then(|t| halo_exec::duration::parse_duration(t))
            {
                Some(t) => t,
                None => exec
                    .metadata(&p.agent)
                    .await
                    .ok()
                    .and_then(|m| m.timeout_for(action, 0))
                    .unwrap_or(exec.config().default_timeout),
            },
        };
        let mut req = OpRequest::new(p.id.clone(), p.agent.clone(), action)
            .with_params(p.params.clone())
            .with_timeout(timeout);
        req.meta = p.meta.clone();
        req.check_level = op.and_then(|o| o.attrs.get("OCF_CHECK_LEVEL").cloned());
        exec.execute(req).await
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_result(&r);
    }
    drop(rt);
    std::process::exit(exit_code(&r));
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match &args.command {
        ResourceCommand::Agents { filter } => {
            let filter = match filter {
                Some(f) => AgentFilter::parse(f)?,
                None => AgentFilter::default(),
            };
            let (exec, _) = args.exec.executor();
            for a in exec.list_agents(&filter) {
                println!("{a}");
            }
            Ok(())
        }
        ResourceCommand::Describe { agent, json } => {
            let agent = parse_agent(agent)?;
            let rt = runtime()?;
            let (exec, _) = args.exec.executor();
            let md = rt.block_on(exec.metadata(&agent))?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&*md)?);
                return Ok(());
            }
            println!("{agent} - {}", md.shortdesc);
            if !md.longdesc.is_empty() {
                println!();
                for para in md.longdesc.split("\n\n") {
                    println!("{}", para.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
            println!();
            println!("Resource options:");
            if md.parameters.is_empty() {
                println!("  (none)");
            }
            for p in &md.parameters {
                let mut flags = Vec::new();
                if p.required {
                    flags.push("required".to_string());
                }
                if p.unique {
                    flags.push("unique".to_string());
                }
                if p.reloadable {
                    flags.push("reloadable".to_string());
                }
                if p.deprecated {
                    flags.push("deprecated".to_string());
                }
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", flags.join(", "))
                };
                let desc = if p.longdesc.is_empty() {
                    &p.shortdesc
                } else {
                    &p.longdesc
                };
                println!(
                    "  {}{flags}: {}",
                    p.name,
                    desc.split_whitespace().collect::<Vec<_>>().join(" ")
                );
                if !p.options.is_empty() {
                    println!("    Allowed values: {}", p.options.join(", "));
                }
                if let Some(d) = &p.default {
                    println!("    Default: {d}");
                }
            }
            println!();
            println!("Default operations:");
            for a in md
                .actions
                .iter()
                .filter(|a| !matches!(a.name.as_str(), "meta-data" | "validate-all"))
            {
                let mut parts = vec![format!(
                    "interval={}",
                    format_duration(Duration::from_millis(a.interval_ms.unwrap_or(0)))
                )];
                if let Some(t) = a.timeout_ms {
                    parts.push(format!(
                        "timeout={}",
                        format_duration(Duration::from_millis(t))
                    ));
                }
                if let Some(r) = &a.role {
                    parts.push(format!("role={r}"));
                }
                if let Some(d) = &a.depth {
                    parts.push(format!("OCF_CHECK_LEVEL={d}"));
                }
                println!("  {}: {}", a.name, parts.join(" "));
            }
            Ok(())
        }
        ResourceCommand::DebugStart(d) => debug(&args.exec, d, "start"),
        ResourceCommand::DebugStop(d) => debug(&args.exec, d, "stop"),
        ResourceCommand::DebugMonitor(d) => debug(&args.exec, d, "monitor"),
        ResourceCommand::Cleanup { resource, node } => {
            cleanup(&args.exec.state_dir, resource, node.as_deref())
        }
    }
}

/// Reset fail counts in the replicated status through the local daemon.
fn cleanup(state_dir: &std::path::Path, resource: &str, node: Option<&str>) -> anyhow::Result<()> {
    use halo_consensus::{Change, ChangeResult};
    let client = halo_api::Client::new(state_dir);
    let rt = crate::cluster::runtime()?;
    let nodes: Vec<String> = match node {
        Some(n) => vec![n.to_string()],
        None => rt
            .block_on(client.status())?
            .nodes
            .into_iter()
            .map(|n| n.name)
            .collect(),
    };
    for n in &nodes {
        let reply = rt.block_on(client.propose(Change::SetFailCount {
            node: n.clone(),
            resource: resource.to_string(),
            count: 0,
        }))?;
        if let ChangeResult::Refused { code, reason } = reply.result {
            bail!("{code} cleanup of {resource} on {n} refused: {reason}");
        }
    }
    println!("Cleaned up {resource} on {}", nodes.join(", "));
    Ok(())
}
