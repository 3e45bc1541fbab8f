//! `halo stonith`: fence devices (`stonith:` resources running Debian's fence-agents),
//! the fencing topology, fencing a node by hand, and the fencing history — pcs's
//! `stonith` vocabulary.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use halo_model::{AgentRef, Config, FencingLevel, FencingTarget, OpDef, Primitive, Resource};

use crate::cluster::{runtime, Target};
use crate::config::edit;
use crate::edit::{current, parse_pairs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub dry_run: crate::config::DryRun,
    #[command(subcommand)]
    pub command: StonithCommand,
}

#[derive(clap::Subcommand)]
pub enum StonithCommand {
    /// Create a fence device: `halo stonith create fence-n1 fence_ipmilan ip=10.0.0.1
    /// username=admin password=secret pcmk_host_list=n1`.
    Create {
        name: String,
        /// The fence agent (`fence_NAME`, or `stonith:fence_NAME`).
        agent: String,
        /// Instance parameters, `key=value`.
        params: Vec<String>,
        /// Create it stopped (target-role=Stopped).
        #[arg(long)]
        disabled: bool,
    },
    /// Set (`key=value`) or remove (`key=`) parameters of a fence device.
    Update { name: String, params: Vec<String> },
    /// Remove a fence device (and it from the fencing levels).
    Delete { name: String },
    /// List the fence devices and the fencing levels.
    List,
    /// The fencing topology: which devices to try for a node, level after level.
    Level {
        #[command(subcommand)]
        command: LevelCommand,
    },
    /// Fence a node now (reboot, or --off), through the DC.
    Fence {
        node: String,
        #[arg(long)]
        off: bool,
    },
    /// The fencing history (of one node, or all).
    History {
        node: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum LevelCommand {
    /// `level add LEVEL TARGET DEVICE...`: TARGET is a node name, `regexp%PATTERN` or
    /// `attrib%NAME=VALUE` (as pcs).
    Add {
        level: u32,
        target: String,
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// `level remove LEVEL [TARGET]`.
    Remove { level: u32, target: Option<String> },
}

fn parse_target(t: &str) -> anyhow::Result<FencingTarget> {
    if let Some(p) = t.strip_prefix("regexp%") {
        return Ok(FencingTarget::Pattern(p.to_string()));
    }
    if let Some(a) = t.strip_prefix("attrib%") {
        let Some((name, value)) = a.split_once('=') else {
            bail!("{t:?}: expected attrib%NAME=VALUE");
        };
        return Ok(FencingTarget::Attribute {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    Ok(FencingTarget::Node(t.to_string()))
}

fn device_mut<'a>(cfg: &'a mut Config, name: &str) -> anyhow::Result<&'a mut Primitive> {
    cfg.resources
        .iter_mut()
        .find_map(|r| match r {
            Resource::Primitive(p) if p.id == name && p.agent.class == "stonith" => Some(p),
            _ => None,
        })
        .with_context(|| format!("no fence device named {name} (see `halo stonith list`)"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.dry_run.apply();
    match args.command {
        StonithCommand::Create {
            name,
            agent,
            params,
            disabled,
        } => {
            let kind = agent.strip_prefix("stonith:").unwrap_or(&agent).to_string();
            if !kind.starts_with("fence_") {
                bail!("{agent}: a fence agent is named fence_NAME (see /usr/sbin/fence_*)");
            }
            let params = parse_pairs(&params)?;
            let epoch = edit(&args.target, |cfg| {
                if cfg
                    .resources
                    .iter()
                    .any(|r| r.ids().contains(&name.as_str()))
                {
                    bail!("a resource named {name} already exists");
                }
                let mut meta = BTreeMap::new();
                if disabled {
                    meta.insert("target-role".to_string(), "Stopped".to_string());
                }
                cfg.resources.push(Resource::Primitive(Primitive {
                    id: name.clone(),
                    agent: AgentRef {
                        class: "stonith".into(),
                        provider: None,
                        kind,
                    },
                    params,
                    meta,
                    // As pcs: a fence device is monitored every minute.
                    ops: vec![OpDef {
                        id: format!("{name}-monitor-interval-60s"),
                        name: "monitor".into(),
                        interval_ms: 60_000,
                        timeout_ms: None,
                        role: None,
                        on_fail: None,
                        enabled: true,
                        attrs: BTreeMap::new(),
                    }],
                }));
                Ok(())
            })?;
            println!("fence device {name} created (epoch {epoch})");
        }
        StonithCommand::Update { name, params } => {
            let params = parse_pairs(&params)?;
            let epoch = edit(&args.target, |cfg| {
                let dev = device_mut(cfg, &name)?;
                for (k, v) in params {
                    if v.is_empty() {
                        dev.params.remove(&k);
                    } else {
                        dev.params.insert(k, v);
                    }
                }
                Ok(())
            })?;
            println!("fence device {name} updated (epoch {epoch})");
        }
        StonithCommand::Delete { name } => {
            let epoch = edit(&args.target, |cfg| {
                device_mut(cfg, &name)?;
                cfg.resources.retain(|r| r.id() != name);
                for l in &mut cfg.fencing_levels {
                    l.devices.retain(|d| *d != name);
                }
                cfg.fencing_levels.retain(|l| !l.devices.is_empty());
                Ok(())
            })?;
            println!("fence device {name} deleted (epoch {epoch})");
        }
        StonithCommand::List => {
            let cfg = current(&args.target)?;
            for r in &cfg.resources {
                if let Resource::Primitive(p) = r {
                    if p.agent.class == "stonith" {
                        let params: Vec<String> = p
                            .params
                            .iter()
                            .map(|(k, v)| {
                                if is_secret(k) {
                                    format!("{k}=(hidden)")
                                } else {
                                    format!("{k}={v}")
                                }
                            })
                            .collect();
                        println!("{} (stonith:{}) {}", p.id, p.agent.kind, params.join(" "));
                    }
                }
            }
            let mut levels: Vec<&FencingLevel> = cfg.fencing_levels.iter().collect();
            levels.sort_by_key(|l| (l.target.key(), l.index));
            if !levels.is_empty() {
                println!("Fencing levels:");
            }
            for l in levels {
                println!("  {} level {}: {}", l.target, l.index, l.devices.join(","));
            }
        }
        StonithCommand::Level { command } => match command {
            LevelCommand::Add {
                level,
                target,
                devices,
            } => {
                let t = parse_target(&target)?;
                let epoch = edit(&args.target, |cfg| {
                    if cfg
                        .fencing_levels
                        .iter()
                        .any(|l| l.index == level && l.target == t)
                    {
                        bail!("{t} already has a level {level}: remove it first");
                    }
                    cfg.fencing_levels.push(FencingLevel {
                        id: FencingLevel::default_id(&t, level),
                        target: t.clone(),
                        index: level,
                        devices: devices.clone(),
                    });
                    Ok(())
                })?;
                println!("fencing level {level} for {t} added (epoch {epoch})");
            }
            LevelCommand::Remove { level, target } => {
                let t = target.as_deref().map(parse_target).transpose()?;
                let epoch = edit(&args.target, |cfg| {
                    let before = cfg.fencing_levels.len();
                    cfg.fencing_levels.retain(|l| {
                        !(l.index == level && t.as_ref().is_none_or(|t| *t == l.target))
                    });
                    if cfg.fencing_levels.len() == before {
                        bail!("no fencing level {level} to remove");
                    }
                    Ok(())
                })?;
                println!("fencing level {level} removed (epoch {epoch})");
            }
        },
        StonithCommand::Fence { node, off } => {
            crate::config::refuse_dry_run("halo stonith fence")?;
            let action = if off { "off" } else { "reboot" };
            let client = args
                .target
                .client()?
                .with_timeout(std::time::Duration::from_secs(300));
            let ack = runtime()?.block_on(client.fence(&node, action))?;
            let detail = ack.detail.unwrap_or_default();
            if ack.done == Some(true) {
                println!("Node {node} fenced ({action}): {detail}");
            } else {
                bail!("fencing {node} ({action}) failed: {detail}");
            }
        }
        StonithCommand::History { node, json } => {
            let state = runtime()?.block_on(args.target.client()?.state(true))?;
            let history: Vec<halo_consensus::state::FenceRecord> =
                serde_json::from_value(state["fence_history"].clone()).unwrap_or_default();
            let shown: Vec<_> = history
                .iter()
                .filter(|r| node.as_ref().is_none_or(|n| *n == r.target))
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
                return Ok(());
            }
            for r in shown {
                println!(
                    "{}  {} of {} by {} on {} (asked by {}): {} — {}",
                    halo_consensus::state::fmt_time(r.time_ms),
                    r.action,
                    r.target,
                    r.device.as_deref().unwrap_or("self-fencing"),
                    r.executor,
                    r.origin,
                    if r.ok { "succeeded" } else { "FAILED" },
                    r.detail
                );
            }
        }
    }
    Ok(())
}

/// Parameters never shown (fence agents' passwords).
fn is_secret(k: &str) -> bool {
    k.contains("passw")
}
