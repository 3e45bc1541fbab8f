//! `halo resource`: agents (`agents`, `describe`, `debug-start|stop|monitor`) and the
//! cluster's resources (`create`, `delete`, `move`, ... in `edit.rs`; `cleanup`).

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
    pub command: Option<ResourceCommand>,
    #[command(flatten)]
    pub exec: ExecOpts,
    #[command(flatten)]
    pub dry_run: crate::config::DryRun,
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
    /// Create a resource in the cluster: `halo resource create vip ocf:heartbeat:IPaddr2
    /// ip=10.0.0.5 cidr_netmask=24 op monitor interval=30s [meta k=v...] [--clone]`.
    #[command(allow_hyphen_values = true)]
    Create {
        name: String,
        /// CLASS:PROVIDER:TYPE, CLASS:TYPE, or TYPE (an ocf:heartbeat agent).
        agent: String,
        /// Parameters `key=value`, then `op NAME key=value...` (repeatable), `meta
        /// key=value...`, `clone key=value...`.
        #[arg(trailing_var_arg = true)]
        words: Vec<String>,
        /// Clone it (one instance per node), as NAME-clone.
        #[arg(long)]
        clone: bool,
        /// A promotable clone.
        #[arg(long)]
        promotable: bool,
        /// Put it in group GROUP (made if missing), last or --before/--after a member.
        #[arg(long)]
        group: Option<String>,
        #[arg(long, requires = "group")]
        before: Option<String>,
        #[arg(long, requires = "group", conflicts_with = "before")]
        after: Option<String>,
        /// Create it stopped (target-role=Stopped).
        #[arg(long)]
        disabled: bool,
    },
    /// Remove a resource from the cluster, with the constraints that name it.
    Delete { name: String },
    /// Change a primitive's parameters (`key=` removes one), `op NAME key=value...`
    /// (replaces that operation) or `meta key=value...`.
    Update {
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// Set meta attributes (`key=` removes one) of any resource.
    Meta {
        name: String,
        #[arg(num_args = 1..)]
        pairs: Vec<String>,
    },
    /// Let resources run (removes target-role).
    Enable {
        #[arg(num_args = 1..)]
        names: Vec<String>,
    },
    /// Stop resources and keep them stopped (target-role=Stopped).
    Disable {
        #[arg(num_args = 1..)]
        names: Vec<String>,
    },
    /// Stop a resource everywhere and start it again (its target-role set to Stopped,
    /// then back), waiting for each.
    Restart {
        name: String,
        /// How long to wait for the stop, then for the start (e.g. 60s; plain seconds
        /// as pcs's --wait).
        #[arg(long, default_value = "60s", value_parser = crate::cluster::parse_duration)]
        wait: std::time::Duration,
    },
    /// Move a resource to NODE (a cli-prefer constraint; `clear` removes it).
    Move {
        name: String,
        node: String,
        /// Only for this long (e.g. 1h, 30m): the constraint then stops counting.
        #[arg(long, value_parser = crate::cluster::parse_duration)]
        lifetime: Option<std::time::Duration>,
    },
    /// Keep a resource off NODE (a cli-ban constraint; `clear` removes it).
    Ban {
        name: String,
        node: String,
        /// Only for this long (e.g. 1h, 30m): the constraint then stops counting.
        #[arg(long, value_parser = crate::cluster::parse_duration)]
        lifetime: Option<std::time::Duration>,
    },
    /// Remove the constraints `move` and `ban` made (of one NODE, or all).
    Clear { name: String, node: Option<String> },
    /// Show (no arguments) or set (`key=value`, `key=` removes) the meta attributes every
    /// resource inherits (rsc_defaults).
    Defaults { pairs: Vec<String> },
    /// Operations: `op add RSC NAME key=value...`, `op remove RSC NAME`, `op defaults
    /// [key=value...]`.
    Op {
        #[command(subcommand)]
        command: OpCommand,
    },
    /// Groups: `group add GROUP RSC... [--before R|--after R]`, `group remove GROUP
    /// [RSC...]` (all members: the group dissolves, its members stay).
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Clone a primitive or group (as ID-clone), with clone meta `key=value...`.
    Clone { name: String, pairs: Vec<String> },
    /// Make a promotable clone of a primitive or group (as ID-clone).
    Promotable { name: String, pairs: Vec<String> },
    /// Turn a clone back into what it clones (by the clone's or the clonee's id).
    Unclone { name: String },
    /// Fail counts: `failcount show [RSC] [--node NODE]`.
    Failcount {
        #[command(subcommand)]
        command: FailcountCommand,
    },
    /// List the cluster's resources (the default), or show one's configuration; with
    /// --full, every resource's configuration.
    #[command(alias = "config")]
    Show {
        name: Option<String>,
        #[arg(long)]
        full: bool,
    },
    /// Reset RESOURCE's fail counts in the cluster (every resource's without one; on
    /// every node, or on --node), so the scheduler may place it there again. Needs the
    /// local daemon (--state-dir).
    Cleanup {
        /// The resource id.
        resource: Option<String>,
        /// Only on this node.
        #[arg(long)]
        node: Option<String>,
    },
}

#[derive(clap::Subcommand)]
pub enum OpCommand {
    /// Add (or replace) operation NAME of a primitive.
    Add {
        resource: String,
        name: String,
        pairs: Vec<String>,
    },
    /// Remove operation NAME (every interval, or `interval=...` only) of a primitive.
    Remove {
        resource: String,
        name: String,
        pairs: Vec<String>,
    },
    /// Show or set the attributes every operation inherits (op_defaults).
    Defaults { pairs: Vec<String> },
}

#[derive(clap::Subcommand)]
pub enum GroupCommand {
    /// Put resources into GROUP (made if missing), last or before/after a member.
    Add {
        group: String,
        #[arg(num_args = 1..)]
        resources: Vec<String>,
        #[arg(long)]
        before: Option<String>,
        #[arg(long, conflicts_with = "before")]
        after: Option<String>,
    },
    /// Take resources out of GROUP (all: the group dissolves); they stay configured.
    Remove {
        group: String,
        resources: Vec<String>,
    },
}

#[derive(clap::Subcommand)]
pub enum FailcountCommand {
    /// The fail counts (of one resource, on one node).
    Show {
        resource: Option<String>,
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
    crate::config::refuse_dry_run(&format!("halo resource debug-{action}"))?;
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
    args.dry_run.apply();
    // `halo resource` alone lists the resources, as `pcs resource` does.
    let cmd = args.command.unwrap_or(ResourceCommand::Show {
        name: None,
        full: false,
    });
    if cmd.is_cluster_edit() {
        return cluster_command(&args.exec, cmd);
    }
    match &cmd {
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
            crate::config::refuse_dry_run("halo resource cleanup")?;
            cleanup(
                &daemon_dir(&args.exec),
                resource.as_deref(),
                node.as_deref(),
            )
        }
        _ => bail!("internal: a cluster command"),
    }
}

impl ResourceCommand {
    /// Whether the command reads or changes the cluster's configuration.
    fn is_cluster_edit(&self) -> bool {
        matches!(
            self,
            ResourceCommand::Create { .. }
                | ResourceCommand::Delete { .. }
                | ResourceCommand::Update { .. }
                | ResourceCommand::Meta { .. }
                | ResourceCommand::Enable { .. }
                | ResourceCommand::Disable { .. }
                | ResourceCommand::Restart { .. }
                | ResourceCommand::Move { .. }
                | ResourceCommand::Ban { .. }
                | ResourceCommand::Clear { .. }
                | ResourceCommand::Show { .. }
                | ResourceCommand::Defaults { .. }
                | ResourceCommand::Op { .. }
                | ResourceCommand::Failcount { .. }
                | ResourceCommand::Group { .. }
                | ResourceCommand::Clone { .. }
                | ResourceCommand::Promotable { .. }
                | ResourceCommand::Unclone { .. }
        )
    }
}

/// The daemon's state directory: `--state-dir`/`HALO_STATE_DIR` serve both the
/// executor (builtin agents' state, default /run/halo) and the daemon (default
/// /var/lib/halo); left at the executor's default, the daemon's default is meant.
fn daemon_dir(exec: &ExecOpts) -> PathBuf {
    if exec.state_dir == std::path::Path::new("/run/halo") {
        PathBuf::from("/var/lib/halo")
    } else {
        exec.state_dir.clone()
    }
}

/// The commands that change or show the cluster's configuration (`edit`).
fn cluster_command(exec: &ExecOpts, cmd: ResourceCommand) -> anyhow::Result<()> {
    let t = &crate::cluster::Target {
        state_dir: daemon_dir(exec),
        host: exec.host.clone(),
    };
    let msg = match cmd {
        ResourceCommand::Create {
            name,
            agent,
            words,
            clone,
            promotable,
            group,
            before,
            after,
            disabled,
        } => {
            let opts = crate::edit::CreateOpts {
                clone,
                promotable,
                group,
                before,
                after,
                disabled,
            };
            crate::edit::create(t, &name, &agent, &words, opts)?
        }
        ResourceCommand::Delete { name } => crate::edit::delete(t, &name)?,
        ResourceCommand::Update { name, words } => crate::edit::update(t, &name, &words)?,
        ResourceCommand::Meta { name, pairs } => crate::edit::meta(t, &name, &pairs)?,
        ResourceCommand::Enable { names } => crate::edit::set_enabled(t, &names, true)?,
        ResourceCommand::Disable { names } => crate::edit::set_enabled(t, &names, false)?,
        ResourceCommand::Restart { name, wait } => crate::edit::restart(t, &name, wait)?,
        ResourceCommand::Move {
            name,
            node,
            lifetime,
        } => crate::edit::move_to(t, &name, &node, lifetime)?,
        ResourceCommand::Ban {
            name,
            node,
            lifetime,
        } => crate::edit::ban(t, &name, &node, lifetime)?,
        ResourceCommand::Clear { name, node } => crate::edit::clear(t, &name, node.as_deref())?,
        ResourceCommand::Show {
            name: None,
            full: true,
        } => {
            let cfg = crate::edit::current(t)?;
            halo_model::to_native(&Config {
                resources: cfg.resources,
                ..Config::default()
            })
        }
        ResourceCommand::Show {
            name: None,
            full: false,
        } => {
            let st = crate::cluster::runtime()?.block_on(t.client()?.status())?;
            let (_, lines) = crate::status::resources(t, &st)?;
            if lines.is_empty() {
                "NO resources configured".to_string()
            } else {
                lines.join("\n")
            }
        }
        ResourceCommand::Show {
            name: Some(name), ..
        } => {
            let cfg = crate::edit::current(t)?;
            let r = cfg
                .resources
                .iter()
                .find(|r| r.ids().contains(&name.as_str()))
                .with_context(|| format!("no resource named {name} (see `halo resource`)"))?;
            let one = Config {
                resources: vec![r.clone()],
                ..Config::default()
            };
            halo_model::to_native(&one)
        }
        ResourceCommand::Defaults { pairs } => crate::edit::defaults(t, false, &pairs)?,
        ResourceCommand::Op {
            command: OpCommand::Defaults { pairs },
        } => crate::edit::defaults(t, true, &pairs)?,
        ResourceCommand::Op {
            command:
                OpCommand::Add {
                    resource,
                    name,
                    pairs,
                },
        } => crate::edit::op_add(t, &resource, &name, &pairs)?,
        ResourceCommand::Op {
            command:
                OpCommand::Remove {
                    resource,
                    name,
                    pairs,
                },
        } => crate::edit::op_remove(t, &resource, &name, &pairs)?,
        ResourceCommand::Failcount {
            command: FailcountCommand::Show { resource, node },
        } => crate::edit::failcounts(t, resource.as_deref(), node.as_deref())?,
        ResourceCommand::Group {
            command:
                GroupCommand::Add {
                    group,
                    resources,
                    before,
                    after,
                },
        } => crate::edit::group_add(t, &group, &resources, before.as_deref(), after.as_deref())?,
        ResourceCommand::Group {
            command: GroupCommand::Remove { group, resources },
        } => crate::edit::group_remove(t, &group, &resources)?,
        ResourceCommand::Clone { name, pairs } => crate::edit::clone(t, &name, false, &pairs)?,
        ResourceCommand::Promotable { name, pairs } => crate::edit::clone(t, &name, true, &pairs)?,
        ResourceCommand::Unclone { name } => crate::edit::unclone(t, &name)?,
        _ => bail!("internal: not a cluster command"),
    };
    println!("{}", msg.trim_end());
    Ok(())
}

/// Reset fail counts in the replicated status through the local daemon: `resource`'s,
/// or every resource's that has some.
fn cleanup(
    state_dir: &std::path::Path,
    resource: Option<&str>,
    node: Option<&str>,
) -> anyhow::Result<()> {
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
    let resources: Vec<String> = match resource {
        Some(r) => vec![r.to_string()],
        None => {
            let state: halo_consensus::ClusterState =
                serde_json::from_value(rt.block_on(client.state(false))?)?;
            let mut failed = std::collections::BTreeSet::new();
            for n in &nodes {
                let counted = state.fail_counts.get(n).into_iter().flat_map(|m| m.keys());
                let recorded = state.failures.get(n).into_iter().flat_map(|m| m.keys());
                for key in counted.chain(recorded) {
                    let base = key.split('#').next().unwrap_or(key);
                    failed.insert(base.split(':').next().unwrap_or(base).to_string());
                }
            }
            failed.into_iter().collect()
        }
    };
    if resources.is_empty() {
        println!("No failures to clean up on {}", nodes.join(", "));
        return Ok(());
    }
    for r in &resources {
        for n in &nodes {
            let reply = rt.block_on(client.propose(Change::SetFailCount {
                node: n.clone(),
                resource: r.clone(),
                count: 0,
            }))?;
            if let ChangeResult::Refused { code, reason } = reply.result {
                bail!("{code} cleanup of {r} on {n} refused: {reason}");
            }
        }
        println!("Cleaned up {r} on {}", nodes.join(", "));
    }
    Ok(())
}
