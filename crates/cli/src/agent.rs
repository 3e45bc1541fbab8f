//! `halo agent run|check`: exercise a resource agent by hand, and run the
//! conformance sequence `ocf-tester` runs. Also the pieces `halo resource` shares:
//! executor options, `key=value` arguments, printing a result.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use halo_exec::check::{conformance_check, Verdict};
use halo_exec::duration::{format_duration, parse_duration};
use halo_exec::{
    parse_agent, rc_meaning, AgentRegistry, ExecConfig, Executor, MemorySink, OpRequest, OpResult,
};
use halo_model::Attrs;

/// Where agents are found; defaults are the system's (/usr/lib/ocf, /etc/init.d).
#[derive(clap::Args, Debug, Clone)]
pub struct ExecOpts {
    /// OCF_ROOT: OCF agents are OCF_ROOT/resource.d/PROVIDER/TYPE.
    #[arg(
        long,
        env = "HALO_OCF_ROOT",
        default_value = "/usr/lib/ocf",
        global = true
    )]
    pub ocf_root: PathBuf,
    /// Directory of LSB init scripts.
    #[arg(
        long,
        env = "HALO_LSB_ROOT",
        default_value = "/etc/init.d",
        global = true
    )]
    pub lsb_root: PathBuf,
    /// HA_RSCTMP, where OCF agents keep state files.
    #[arg(
        long,
        env = "HALO_RSCTMP",
        default_value = "/run/resource-agents",
        global = true
    )]
    pub rsctmp: PathBuf,
    /// State directory of halo's builtin agents.
    #[arg(
        long,
        env = "HALO_STATE_DIR",
        default_value = "/run/halo",
        global = true
    )]
    pub state_dir: PathBuf,
    /// Change the cluster through this node's remote API instead of the local daemon
    /// (a node you authenticated to with `halo cluster auth`).
    #[arg(long, env = "HALO_HOST", global = true, value_name = "NODE")]
    pub host: Option<String>,
}

impl ExecOpts {
    pub fn executor(&self) -> (Executor, Arc<MemorySink>) {
        let config = ExecConfig {
            ocf_root: self.ocf_root.clone(),
            lsb_root: self.lsb_root.clone(),
            rsctmp: self.rsctmp.clone(),
            state_dir: self.state_dir.clone(),
            // Reap what killed agents leave behind, whatever PID 1 does.
            subreaper: true,
            // By hand, agents' ocf_log lines go to stderr, as under crm_resource
            // --force-*, not to syslog.
            log_facility: None,
            ..ExecConfig::default()
        };
        let sink = Arc::new(MemorySink::new());
        let exec = Executor::new(config, AgentRegistry::with_defaults(), sink.clone());
        (exec, sink)
    }
}

/// Arguments of `halo agent`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AgentCommand,
    #[command(flatten)]
    pub exec: ExecOpts,
}

#[derive(clap::Subcommand)]
pub enum AgentCommand {
    /// Run one action of an agent and print its rc, what the rc means, and its output.
    /// The exit status of halo is the agent's rc.
    Run {
        /// CLASS:PROVIDER:TYPE (ocf) or CLASS:TYPE (lsb, systemd, service, halo).
        agent: String,
        /// start, stop, monitor, promote, demote, notify, reload, validate-all, meta-data, ...
        action: String,
        /// Instance parameters, as name=value.
        params: Vec<String>,
        /// Resource instance name (OCF_RESOURCE_INSTANCE).
        #[arg(long, default_value = "halo-test")]
        id: String,
        /// Timeout (default: the agent's advertised timeout, else 20s).
        #[arg(long)]
        timeout: Option<String>,
        /// Interval given to the agent (OCF_RESKEY_CRM_meta_interval); it runs once.
        #[arg(long)]
        interval: Option<String>,
        /// Meta attribute name=value (OCF_RESKEY_CRM_meta_NAME), repeatable.
        #[arg(long = "meta", value_name = "NAME=VALUE")]
        meta: Vec<String>,
        /// OCF_CHECK_LEVEL for monitor.
        #[arg(long)]
        check_level: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the standard conformance sequence (as ocf-tester does) and report each step;
    /// fails when a step fails.
    Check {
        /// CLASS:PROVIDER:TYPE (ocf) or CLASS:TYPE.
        agent: String,
        /// Instance parameters, as name=value.
        params: Vec<String>,
        /// Resource instance name (OCF_RESOURCE_INSTANCE).
        #[arg(long, default_value = "halo-check")]
        id: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Parse `name=value` arguments.
pub fn parse_kv(items: &[String], what: &str) -> anyhow::Result<Attrs> {
    let mut out = Attrs::new();
    for (i, item) in items.iter().enumerate() {
        let Some((k, v)) = item.split_once('=') else {
            bail!("{what} {} (\"{item}\"): expected name=value", i + 1);
        };
        if k.is_empty() {
            bail!("{what} {} (\"{item}\"): the name is empty", i + 1);
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

pub fn parse_dur(text: &str, flag: &str) -> anyhow::Result<Duration> {
    parse_duration(text)
        .with_context(|| format!("--{flag} {text}: not a duration (use e.g. 500ms, 20s, 2min)"))
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Print a result the way operators read it: rc and meaning, reason, output.
pub fn print_result(r: &OpResult) {
    let (name, meaning) = rc_meaning(r.rc);
    println!(
        "{} {} ({}): rc={} ({name}: {meaning}), {}, {}",
        r.resource,
        r.action,
        r.agent,
        r.rc,
        r.status,
        format_duration(Duration::from_millis(r.duration_ms))
    );
    if let Some(reason) = &r.exit_reason {
        println!("exit reason: {reason}");
    }
    if !r.stdout.is_empty() {
        println!("--- stdout ---\n{}", r.stdout.trim_end());
    }
    if !r.stderr.is_empty() {
        println!("--- stderr ---\n{}", r.stderr.trim_end());
    }
}

/// The exit status for an agent's rc.
pub fn exit_code(r: &OpResult) -> i32 {
    r.rc.clamp(0, 255)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = runtime()?;
    let (exec, _sink) = args.exec.executor();
    match args.command {
        AgentCommand::Run {
            agent,
            action,
            params,
            id,
            timeout,
            interval,
            meta,
            check_level,
            json,
        } => {
            let agent = parse_agent(&agent)?;
            let params = parse_kv(&params, "parameter")?;
            let meta = parse_kv(&meta, "--meta")?;
            let interval = match interval {
                Some(i) => parse_dur(&i, "interval")?,
                None => Duration::ZERO,
            };
            let r = rt.block_on(async {
                let timeout = match &timeout {
                    Some(t) => parse_dur(t, "timeout")?,
                    None if action == "meta-data" => exec.config().default_timeout,
                    None => match exec.metadata(&agent).await {
                        Ok(md) => md
                            .timeout_for(&action, interval.as_millis() as u64)
                            .unwrap_or(exec.config().default_timeout),
                        Err(_) => exec.config().default_timeout,
                    },
                };
                let mut req = OpRequest::new(id, agent, action)
                    .with_params(params)
                    .with_interval(interval)
                    .with_timeout(timeout);
                req.meta = meta;
                req.check_level = check_level;
                anyhow::Ok(exec.execute(req).await)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_result(&r);
            }
            drop(rt);
            std::process::exit(exit_code(&r));
        }
        AgentCommand::Check {
            agent,
            params,
            id,
            json,
        } => {
            let agent = parse_agent(&agent)?;
            let params = parse_kv(&params, "parameter")?;
            let report = rt.block_on(conformance_check(&exec, &agent, &id, &params));
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "Checking {} as resource \"{}\":",
                    report.agent, report.resource
                );
                for step in &report.steps {
                    let mark = match step.verdict {
                        Verdict::Pass => "PASS",
                        Verdict::Fail => "FAIL",
                        Verdict::Skipped => "SKIP",
                    };
                    let rc = step
                        .result
                        .as_ref()
                        .map(|r| format!(" rc={}", r.rc))
                        .unwrap_or_default();
                    let note = step
                        .note
                        .as_ref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_default();
                    println!("  {mark}  {}{rc}{note}", step.name);
                }
                let failed = report
                    .steps
                    .iter()
                    .filter(|s| s.verdict == Verdict::Fail)
                    .count();
                if failed == 0 {
                    println!("{}: all {} steps passed", report.agent, report.steps.len());
                } else {
                    println!(
                        "{}: {failed} of {} steps failed",
                        report.agent,
                        report.steps.len()
                    );
                }
            }
            if !report.passed() {
                bail!("{} failed the conformance check", report.agent);
            }
            Ok(())
        }
    }
}
