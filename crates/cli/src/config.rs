//! `halo config apply|show|edit|history|diff|rollback|export|import`: the whole cluster
//! configuration, in halo's native format or as a Pacemaker CIB, and its past versions.

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
        /// Apply a file `halo config show` wrote even if the configuration changed
        /// since (which is refused otherwise).
        #[arg(long)]
        force: bool,
    },
    /// Print the cluster's configuration as native TOML, headed by the epoch it is of
    /// (`config apply` refuses the file once the configuration changed, unless --force).
    Show,
    /// Edit the cluster's configuration in $VISUAL or $EDITOR (vi by default); saved,
    /// it is validated and committed, refused if the cluster's changed meanwhile.
    Edit,
    /// The configurations the cluster keeps (the last 50 changes): epoch, time, node
    /// and change.
    History {
        /// How many to show, newest last.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON (with each configuration).
        #[arg(long)]
        json: bool,
    },
    /// What changed between the configuration at EPOCH and at TO (default: now).
    Diff { epoch: u64, to: Option<u64> },
    /// Make the configuration what it was at EPOCH (membership stays as it is now).
    Rollback {
        epoch: u64,
        /// Print the change and the transition it would cause; commit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the configuration as native TOML, or as a Pacemaker CIB (with the live
    /// status) that `crm_simulate -x` and `halo simulate -x` take.
    Export {
        #[arg(long, value_enum, default_value = "toml")]
        format: Format,
    },
    /// Replace the configuration with a Pacemaker CIB's (`cibadmin --query` of a live
    /// Pacemaker cluster); what halo does not take is noted.
    Import {
        file: PathBuf,
        /// Print the change and the transition it would cause; commit nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `config export` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Toml,
    Xml,
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
    let client = target.client()?;
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
        print!(
            "{}",
            preview(target, state, &before, "after this command", &cfg, config)?
        );
        return Err(DryRunDone.into());
    }
    commit(target, config, Some(current))
}

/// Propose `config` as the whole configuration (only over `if_unchanged` when given);
/// the new epoch.
fn commit(
    target: &Target,
    config: StoredConfig,
    if_unchanged: Option<StoredConfig>,
) -> anyhow::Result<u64> {
    let reply = runtime()?.block_on(target.client()?.propose(Change::SetConfig {
        config,
        if_unchanged,
    }))?;
    if let ChangeResult::Refused { code, reason } = reply.result {
        bail!("{code} {reason}");
    }
    Ok(reply.epoch)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let target = &args.target;
    let client = target.client()?;
    let rt = runtime()?;
    match args.command {
        ConfigCommand::Apply {
            file,
            dry_run,
            force,
        } => {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
            if let (Some(read), false) = (shown_epoch(&text), force) {
                let now = config_epoch(&rt.block_on(client.config_versions())?);
                if now != read {
                    bail!(
                        "HALO-E154 {name} was read at epoch {read}, and the configuration has changed since (epoch {now}): \
                         read it again (`halo config show`, `halo config diff {read}`) or apply it with --force"
                    );
                }
            }
            let doc = halo_model::native::parse_native(&text, &name)?;
            let epoch = replace(target, &name, doc.config, Members::Strict, dry_run, false)?;
            if let Some(epoch) = epoch {
                println!("configuration applied (epoch {epoch})");
            }
        }
        ConfigCommand::Show
        | ConfigCommand::Export {
            format: Format::Toml,
        } => {
            let epoch = config_epoch(&rt.block_on(client.config_versions())?);
            print!(
                "{SHOWN}{epoch}\n{}",
                halo_model::to_native(&crate::edit::current(target)?)
            );
        }
        ConfigCommand::Export {
            format: Format::Xml,
        } => {
            let state = rt.block_on(client.state(true))?;
            let state: halo_consensus::ClusterState =
                serde_json::from_value(state).context("reading the cluster's replicated state")?;
            let st = rt.block_on(client.status())?;
            let view =
                crate::pcmk::view::View::build(st, state).map_err(|f| anyhow::anyhow!("{f}"))?;
            print!("{}", crate::pcmk::cib::document(&view).to_xml());
        }
        ConfigCommand::Import { file, dry_run } => {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
            let import = halo_model::parse_cib(&text, &name)?;
            for n in &import.notices {
                eprintln!("{name}: note: {n}");
            }
            let epoch = replace(
                target,
                &name,
                import.config,
                Members::Strict,
                dry_run,
                false,
            )?;
            if let Some(epoch) = epoch {
                println!("configuration imported from {name} (epoch {epoch})");
            }
        }
        ConfigCommand::Edit => edit_in_editor(target)?,
        ConfigCommand::History { limit, json } => {
            let versions = rt.block_on(client.config_versions())?;
            let shown = &versions[versions.len().saturating_sub(limit)..];
            if json {
                println!("{}", serde_json::to_string_pretty(shown)?);
                return Ok(());
            }
            println!(
                "{:>6}  {:<23}  {:<12}  {:<22}  {:<9}  change",
                "epoch", "time", "node", "who", "lines"
            );
            let first = versions.len() - shown.len();
            for (i, v) in shown.iter().enumerate() {
                // How much of the configuration it changed, against the one before.
                let lines = match (first + i).checked_sub(1).map(|p| &versions[p]) {
                    Some(prev) => {
                        let text = |c: &StoredConfig| {
                            c.to_model()
                                .map(|m| halo_model::to_native(&m))
                                .unwrap_or_default()
                        };
                        let d = line_diff(&text(&prev.config), &text(&v.config));
                        let added = d.iter().filter(|l| l.starts_with('+')).count();
                        format!("+{added} -{}", d.len() - added)
                    }
                    None => "-".to_string(),
                };
                println!(
                    "{:>6}  {:<23}  {:<12}  {:<22}  {:<9}  {}",
                    v.epoch,
                    halo_consensus::state::fmt_time(v.time_ms),
                    v.node,
                    v.by.as_deref().unwrap_or("-"),
                    lines,
                    v.summary
                );
            }
        }
        ConfigCommand::Diff { epoch, to } => {
            let versions = rt.block_on(client.config_versions())?;
            let from = version_at(&versions, epoch)?;
            let (to_name, to_cfg) = match to {
                Some(e) => (format!("epoch {e}"), version_at(&versions, e)?),
                None => ("now".to_string(), crate::edit::current(target)?),
            };
            let (a, b) = (halo_model::to_native(&from), halo_model::to_native(&to_cfg));
            println!("--- epoch {epoch}\n+++ {to_name}");
            let diff = line_diff(&a, &b);
            if diff.is_empty() {
                println!("(no change)");
            }
            for l in diff {
                println!("{l}");
            }
        }
        ConfigCommand::Rollback { epoch, dry_run } => {
            let versions = rt.block_on(client.config_versions())?;
            let old = version_at(&versions, epoch)?;
            let name = format!("the configuration of epoch {epoch}");
            if let Some(now) = replace(target, &name, old, Members::Current, dry_run, true)? {
                println!("configuration of epoch {epoch} restored (epoch {now})");
            }
        }
    }
    Ok(())
}

/// How `config show` heads its output: the epoch of the configuration shown.
const SHOWN: &str = "# halo config show: the configuration of epoch ";

/// The epoch a `config show` output names, if the text is one.
fn shown_epoch(text: &str) -> Option<u64> {
    text.lines()
        .next()?
        .strip_prefix(SHOWN)?
        .trim()
        .parse()
        .ok()
}

/// The epoch of the change that made the current configuration.
fn config_epoch(versions: &[halo_consensus::ConfigVersion]) -> u64 {
    versions.last().map(|v| v.epoch).unwrap_or(0)
}

/// The configuration as it was at `epoch`: the last kept version made at or before it.
fn version_at(
    versions: &[halo_consensus::ConfigVersion],
    epoch: u64,
) -> anyhow::Result<halo_model::Config> {
    let Some(v) = versions.iter().rev().find(|v| v.epoch <= epoch) else {
        match versions.first() {
            Some(first) => bail!(
                "epoch {epoch} is older than the oldest configuration kept (epoch {}; see `halo config history`)",
                first.epoch
            ),
            None => bail!("no configuration is kept yet (see `halo config history`)"),
        }
    };
    Ok(v.config.to_model()?)
}

/// How a whole new configuration's nodes meet the cluster's members.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Members {
    /// A node that is not a member is an error (a file or CIB given by the operator).
    Strict,
    /// Nodes that are no longer members are left out (an older configuration).
    Current,
}

/// Replace the cluster's configuration with `cfg` (from `name`): validated, its nodes
/// made the cluster's members (the members it does not list keep their entries), then
/// previewed (`dry_run`) or committed, only if the configuration did not change since
/// it was read when `guarded`. The new epoch, `None` for a preview.
fn replace(
    target: &Target,
    name: &str,
    mut cfg: halo_model::Config,
    members: Members,
    dry_run: bool,
    guarded: bool,
) -> anyhow::Result<Option<u64>> {
    let client = target.client()?;
    let rt = runtime()?;
    let state = rt.block_on(client.state(true))?;
    let stored: StoredConfig = serde_json::from_value(state["config"].clone())
        .context("reading the cluster's current configuration")?;
    let current = stored.to_model()?;
    let member = |n: &str| current.nodes.iter().any(|c| c.name == n);
    if members == Members::Strict {
        if let Some(n) = cfg.nodes.iter().find(|n| !member(&n.name)) {
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
    for n in cfg.nodes.iter().filter(|n| !member(&n.name)) {
        eprintln!(
            "{name}: note: node {} is no longer a member: left out",
            n.name
        );
    }
    cfg.nodes.retain(|n| member(&n.name));
    for c in &current.nodes {
        if !cfg.nodes.iter().any(|n| n.name == c.name) {
            cfg.nodes.push(c.clone());
        }
    }
    for n in halo_model::validate(&cfg)? {
        eprintln!("{name}: note: {n}");
    }
    let config = StoredConfig::from_model(&cfg)?;
    if dry_run {
        print!("{}", preview(target, state, &current, name, &cfg, config)?);
        return Ok(None);
    }
    commit(target, config, guarded.then_some(stored)).map(Some)
}

/// `config edit`: the configuration in the operator's editor, committed once it reads
/// back valid and only if nobody changed it meanwhile. An invalid file is kept for
/// another try (`halo config apply FILE`), with the reason.
fn edit_in_editor(target: &Target) -> anyhow::Result<()> {
    let client = target.client()?;
    let rt = runtime()?;
    let state = rt.block_on(client.state(true))?;
    let stored: StoredConfig = serde_json::from_value(state["config"].clone())
        .context("reading the cluster's current configuration")?;
    let text = halo_model::to_native(&stored.to_model()?);
    let path = std::env::temp_dir().join(format!("halo-config-{}.toml", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.write_all(text.as_bytes())?;
    }
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    // Through the shell, as git runs it: EDITOR may carry arguments.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("running the editor {editor:?}"))?;
    if !status.success() {
        bail!(
            "the editor {editor:?} failed ({status}); nothing changed (your text is in {})",
            path.display()
        );
    }
    let edited = std::fs::read_to_string(&path)?;
    if edited == text {
        let _ = std::fs::remove_file(&path);
        println!("no change");
        return Ok(());
    }
    let name = path.display().to_string();
    let outcome = halo_model::native::parse_native(&edited, &name)
        .map_err(anyhow::Error::from)
        .and_then(|doc| {
            let cfg = doc.config;
            let epoch = {
                // Commit only over the configuration that was edited.
                let now: StoredConfig =
                    serde_json::from_value(rt.block_on(client.state(true))?["config"].clone())?;
                if now != stored {
                    bail!("HALO-E154 the configuration changed while it was edited");
                }
                replace(target, &name, cfg, Members::Strict, false, true)?
            };
            Ok(epoch)
        });
    match outcome {
        Ok(epoch) => {
            let _ = std::fs::remove_file(&path);
            println!(
                "configuration saved (epoch {})",
                epoch.unwrap_or_default()
            );
            Ok(())
        }
        Err(e) => bail!(
            "{e:#}\nnothing changed; your edit is kept in {name}: fix it and `halo config apply {name}`"
        ),
    }
}

/// What a new configuration changes: a line diff against `before` and the transition the
/// scheduler would plan with it on the live status (`state` carries the new one).
fn preview(
    target: &Target,
    state: serde_json::Value,
    before: &halo_model::Config,
    name: &str,
    cfg: &halo_model::Config,
    config: StoredConfig,
) -> anyhow::Result<String> {
    let mut state: halo_consensus::ClusterState =
        serde_json::from_value(state).context("reading the cluster's replicated state")?;
    state.config = config;
    let st = runtime()?.block_on(target.client()?.status())?;
    let (before, after) = (halo_model::to_native(before), halo_model::to_native(cfg));
    let mut out = format!("--- the cluster's configuration\n+++ {name}\n");
    let diff = line_diff(&before, &after);
    if diff.is_empty() {
        out.push_str("(no change)\n");
    }
    for l in diff {
        out.push_str(&l);
        out.push('\n');
    }
    let (_, plan) = crate::status::plan_on(&state, &st)?;
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
