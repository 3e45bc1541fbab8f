//! `halo config apply|show`: the whole cluster configuration in halo's native format.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context};
use halo_consensus::{Change, ChangeResult, StoredConfig};

use crate::cluster::{runtime, Target};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Replace the cluster's configuration with FILE (native TOML), after validating it.
    /// Nodes are the cluster's members: the file may list them (to give attributes or
    /// scores) but not add others.
    Apply {
        file: PathBuf,
        /// Print the change (a diff of the configuration) and the transition it would
        /// cause on the live cluster; commit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the cluster's configuration as native TOML.
    Show,
}

/// Set by `--dry-run` on the configuration commands: [`edit`] then prints what the
/// change would do instead of committing it.
static DRY_RUN: AtomicBool = AtomicBool::new(false);

/// `--dry-run`, for the command groups that change the configuration.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct DryRun {
    /// Print what the change would do (the configuration diff and the transition it
    /// would cause on the live cluster) and commit nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
}

impl DryRun {
    /// Make this process's configuration changes previews (see [`edit`]).
    pub fn apply(self) {
        DRY_RUN.store(self.dry_run, Ordering::Relaxed);
    }
}

/// Refuse `what` under `--dry-run`: a command that changes something other than the
/// configuration has nothing to preview, and must not run.
pub fn refuse_dry_run(what: &str) -> anyhow::Result<()> {
    if DRY_RUN.load(Ordering::Relaxed) {
        bail!("--dry-run: {what} has no dry run (it changes no configuration); run it without --dry-run");
    }
    Ok(())
}

/// How a dry run ends once it printed its preview: not a failure (exit status 0).
#[derive(Debug)]
pub struct DryRunDone;

impl std::fmt::Display for DryRunDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dry run: nothing committed")
    }
}

impl std::error::Error for DryRunDone {}

/// Read the cluster's configuration, change it with `f`, validate it and commit it.
/// Returns the new epoch. Under `--dry-run`, prints the configuration diff and the
/// transition the change would cause on the live cluster, commits nothing, and ends
/// with [`DryRunDone`].
pub fn edit(
    target: &Target,
    f: impl FnOnce(&mut halo_model::Config) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let client = target.client();
    let rt = runtime()?;
    let state = rt.block_on(client.state(true))?;
    let current: StoredConfig = serde_json::from_value(state["config"].clone())
        .context("reading the cluster's current configuration")?;
    let before = current.to_model()?;
    let mut cfg = before.clone();
    f(&mut cfg)?;
    // What validation notes about this change (not what it noted before).
    let old: Vec<String> = halo_model::validate(&before)
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    for n in halo_model::validate(&cfg)? {
        let n = n.to_string();
        if !old.contains(&n) {
            eprintln!("note: {n}");
        }
    }
    let config = StoredConfig::from_model(&cfg)?;
    if DRY_RUN.load(Ordering::Relaxed) {
        let mut state: halo_consensus::ClusterState =
            serde_json::from_value(state).context("reading the cluster's replicated state")?;
        state.config = config;
        let st = rt.block_on(client.status())?;
        let before = halo_model::to_native(&before);
        print!(
            "{}",
            preview(&before, "after this command", &cfg, &state, &st)?
        );
        return Err(DryRunDone.into());
    }
    let reply = rt.block_on(client.propose(Change::SetConfig {
        config,
        if_unchanged: Some(current),
    }))?;
    if let ChangeResult::Refused { code, reason } = reply.result {
        bail!("{code} {reason}");
    }
    Ok(reply.epoch)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let client = args.target.client();
    let rt = runtime()?;
    match args.command {
        ConfigCommand::Apply { file, dry_run } => {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
            let doc = halo_model::native::parse_native(&text, &name)?;
            let mut cfg = doc.config;
            for n in halo_model::validate(&cfg)? {
                eprintln!("{name}: note: {n}");
            }
            let state = rt.block_on(client.state(true))?;
            let current: StoredConfig = serde_json::from_value(state["config"].clone())
                .context("reading the cluster's current configuration")?;
            let current = current.to_model()?;
            for n in &cfg.nodes {
                if !current.nodes.iter().any(|c| c.name == n.name) {
                    bail!(
                        "{name}: node {} is not a member of this cluster (members: {}); add nodes with `halo cluster join`",
                        n.name,
                        current
                            .nodes
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            for c in &current.nodes {
                if !cfg.nodes.iter().any(|n| n.name == c.name) {
                    cfg.nodes.push(c.clone());
                }
            }
            let config = StoredConfig::from_model(&cfg)?;
            if dry_run {
                let mut state: halo_consensus::ClusterState = serde_json::from_value(state)
                    .context("reading the cluster's replicated state")?;
                let before = halo_model::to_native(&current);
                state.config = config;
                let st = rt.block_on(client.status())?;
                print!("{}", preview(&before, &name, &cfg, &state, &st)?);
                return Ok(());
            }
            let reply = rt.block_on(client.propose(Change::SetConfig {
                config,
                if_unchanged: None,
            }))?;
            if let ChangeResult::Refused { code, reason } = reply.result {
                bail!("{code} {reason}");
            }
            println!("configuration applied (epoch {})", reply.epoch);
        }
        ConfigCommand::Show => {
            let state = rt.block_on(client.state(true))?;
            let current: StoredConfig = serde_json::from_value(state["config"].clone())
                .context("reading the cluster's configuration")?;
            print!("{}", halo_model::to_native(&current.to_model()?));
        }
    }
    Ok(())
}

/// What a new configuration changes: a line diff against `before` and the transition the
/// scheduler would plan with it on the live status (`state` carries the new one).
fn preview(
    before: &str,
    name: &str,
    cfg: &halo_model::Config,
    state: &halo_consensus::ClusterState,
    st: &halo_consensus::node::StatusReport,
) -> anyhow::Result<String> {
    let after = halo_model::to_native(cfg);
    let mut out = format!("--- the cluster's configuration\n+++ {name}\n");
    let diff = line_diff(before, &after);
    if diff.is_empty() {
        out.push_str("(no change)\n");
    }
    for l in diff {
        out.push_str(&l);
        out.push('\n');
    }
    let (_, plan) = crate::status::plan_on(state, st)?;
    out.push_str("\nTransition Summary:\n");
    for l in halo_sched::summary::render_all(&plan.changes) {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str("(dry run: nothing committed)\n");
    Ok(out)
}

/// The lines of `a` and `b` that differ, as `- line` / `+ line` in order (a longest
/// common subsequence of lines is kept).
fn line_diff(a: &str, b: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    #[test]
    fn line_diff_keeps_common_lines_and_orders_changes() {
        let a = "version = 1\nx = 1\ny = 2\n";
        let b = "version = 1\ny = 2\nz = 3\n";
        assert_eq!(line_diff(a, b), vec!["- x = 1", "+ z = 3"]);
        assert!(line_diff(a, a).is_empty());
    }
}
