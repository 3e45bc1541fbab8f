//! Running a fence agent once: its arguments as `key=value` lines on stdin, the
//! environment pacemaker-fenced gives it, a timeout that kills its process group; and
//! reading what its meta-data says about it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::ExecConfig;
use crate::duration::format_duration;
use crate::rc::{ocf, ExecStatus};
use crate::run::base_env;
use crate::spawn::{run_process, ProcEnd, ProcSpec};

/// Output kept for meta-data, which must be read whole.
const METADATA_CAP: usize = 1024 * 1024;
/// How much of a failure line becomes the exit reason.
const MAX_REASON: usize = 512;

/// What one run of a fence agent produced: the executor's raw result.
pub(crate) type AgentRun = crate::run::Raw;

/// Where the agent named `agent` lives.
pub(crate) fn agent_path(config: &ExecConfig, agent: &str) -> PathBuf {
    config.fence_agent_dir.join(agent)
}

/// The agent's standard input: one `key=value` line per argument, as Pacemaker's
/// services library writes it.
pub(crate) fn stdin_text(args: &[(String, String)]) -> String {
    let mut s = String::new();
    for (k, v) in args {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    s
}

/// The environment of a fence agent: the executor's own ([`base_env`]) plus
/// `PCMK_service=pacemaker-fenced`, which every Pacemaker daemon sets for its
/// children and which makes fence-agents' fencing.py leave timing to the fencer
/// (`disable_timeout`: no login/power/shell timeouts of its own unless configured).
fn fence_env(config: &ExecConfig) -> Vec<(String, String)> {
    let mut env = vec![("PCMK_service".to_string(), "pacemaker-fenced".to_string())];
    // Later entries win: the sysconfig-like `extra_env` may still replace it.
    env.extend(base_env(config));
    env
}

/// Run `agent` once with `args` on stdin.
pub(crate) async fn run_agent(
    config: &ExecConfig,
    agent: &str,
    args: &[(String, String)],
    timeout: Duration,
    output_cap: usize,
) -> AgentRun {
    let path = agent_path(config, agent);
    if let Some(missing) = not_installed(agent, &path) {
        return missing;
    }
    let input = stdin_text(args);
    let env = fence_env(config);
    let action = args
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.as_str())
        .unwrap_or("?");
    let out = run_process(ProcSpec {
        program: &path,
        args: &[],
        env: &env,
        cwd: Path::new("/"),
        timeout,
        output_cap,
        subreaper: config.subreaper,
        stdin: Some(input.as_bytes()),
    })
    .await;
    let mut run = AgentRun {
        rc: ocf::ERR_GENERIC,
        status: ExecStatus::Error,
        exit_reason: None,
        stdout: out.stdout,
        stderr: out.stderr,
        pid: out.pid,
    };
    match out.end {
        ProcEnd::Exited(code) => {
            run.rc = code;
            run.status = ExecStatus::Done;
            if code != 0 && !(action == "status" && code == 2) {
                run.exit_reason = Some(match failure_line(&run.stderr, &run.stdout) {
                    Some(line) => format!("{agent} {action} exited with {code}: {line}"),
                    None => format!("{agent} {action} exited with {code}"),
                });
            }
        }
        ProcEnd::Signaled(sig) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str())
                .unwrap_or("unknown");
            run.exit_reason = Some(format!(
                "{agent} {action} was killed by signal {sig} ({name})"
            ));
        }
        ProcEnd::TimedOut => {
            run.status = ExecStatus::Timeout;
            run.exit_reason = Some(format!(
                "{agent} {action} timed out after {}; the agent's process group was killed",
                format_duration(timeout)
            ));
        }
        ProcEnd::SpawnFailed(e) => {
            if e.kind() == std::io::ErrorKind::NotFound {
                run.rc = ocf::ERR_INSTALLED;
                run.status = ExecStatus::NotInstalled;
            }
            run.exit_reason = Some(format!("{agent} could not be run: {e}"));
        }
    }
    run
}

fn not_installed(agent: &str, path: &Path) -> Option<AgentRun> {
    use std::os::unix::fs::PermissionsExt;
    let why = match std::fs::metadata(path) {
        Err(_) => "does not exist",
        Ok(m) if !m.is_file() => "is not a file",
        Ok(m) if m.permissions().mode() & 0o111 == 0 => "is not executable",
        Ok(_) => return None,
    };
    Some(AgentRun {
        rc: ocf::ERR_INSTALLED,
        status: ExecStatus::NotInstalled,
        exit_reason: Some(format!(
            "fence agent {agent} is not installed on this node: {} {why}",
            path.display()
        )),
        stdout: String::new(),
        stderr: String::new(),
        pid: None,
    })
}

/// The line that best says why an agent failed: fencing.py logs `Failed: ...` (as
/// `ERROR:root:Failed: ...` or `DATE TIME ERROR: Failed: ...`); else the last line
/// mentioning an error; else the last line of stderr, then of stdout.
pub(crate) fn failure_line(stderr: &str, stdout: &str) -> Option<String> {
    let lines = || {
        stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty())
    };
    let pick = lines()
        .rfind(|l| l.contains("Failed"))
        .or_else(|| lines().rfind(|l| l.contains("ERROR")))
        .or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .or_else(|| stdout.lines().map(str::trim).rfind(|l| !l.is_empty()))?;
    let text = match pick.find("Failed") {
        Some(i) => &pick[i..],
        None => match pick.rfind("ERROR:") {
            Some(i) => pick[i + "ERROR:".len()..]
                .trim_start_matches("root:")
                .trim(),
            None => pick,
        },
    };
    let mut text = text.to_string();
    if text.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Some(text)
}

/// What Pacemaker's fencer reads from a fence agent's meta-data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FenceAgentInfo {
    /// The agent advertises `list` (a default `pcmk_host_check` of `dynamic-list`).
    pub supports_list: bool,
    /// The agent advertises `status` (a default `pcmk_host_check` of `status`).
    pub supports_status: bool,
    /// The agent advertises `reboot`; otherwise a reboot is done as `off`.
    pub supports_reboot: bool,
    /// The agent advertises `on` (unfencing).
    pub supports_on: bool,
    /// `<action name="on" automatic="1">`: the cluster unfences nodes when they join.
    pub automatic_unfencing: bool,
    /// Actions with `on_target="1"`: run only on the node they target.
    pub on_target_actions: Vec<String>,
    /// The parameter that names the target (`port`, else `plug`); `None` when the
    /// agent has neither (Pacemaker then still passes `port`).
    pub host_parameter: Option<String>,
    /// The agent has a `nodeid` parameter (Pacemaker passes the target's node id).
    pub wants_nodeid: bool,
}

impl FenceAgentInfo {
    /// Read a fence agent's meta-data as the fencer does (`read_action_metadata`,
    /// `stonith__device_parameter_flags`, `is_nodeid_required`).
    pub fn parse(xml: &str) -> Result<FenceAgentInfo, String> {
        let opts = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(xml.trim_start(), opts)
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        if doc.root_element().tag_name().name() != "resource-agent" {
            return Err(format!(
                "the root element is <{}>, expected <resource-agent>",
                doc.root_element().tag_name().name()
            ));
        }
        let mut info = FenceAgentInfo::default();
        let truthy = |v: Option<&str>| {
            matches!(
                v.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
                Some("1" | "true" | "yes" | "on" | "y")
            )
        };
        let (mut port, mut plug) = (false, false);
        for n in doc.descendants().filter(|n| n.is_element()) {
            match n.tag_name().name() {
                "action" => {
                    let name = n.attribute("name").unwrap_or_default();
                    match name {
                        "list" => info.supports_list = true,
                        "status" => info.supports_status = true,
                        "reboot" => info.supports_reboot = true,
                        "on" => {
                            info.supports_on = true;
                            if truthy(n.attribute("automatic")) || truthy(n.attribute("required")) {
                                info.automatic_unfencing = true;
                            }
                        }
                        _ => {}
                    }
                    if !name.is_empty()
                        && truthy(n.attribute("on_target"))
                        && !info.on_target_actions.iter().any(|a| a == name)
                    {
                        info.on_target_actions.push(name.to_string());
                    }
                }
                "parameter" => match n.attribute("name").unwrap_or_default() {
                    p if p.eq_ignore_ascii_case("port") => port = true,
                    p if p.eq_ignore_ascii_case("plug") => plug = true,
                    "nodeid" => info.wants_nodeid = true,
                    _ => {}
                },
                _ => {}
            }
        }
        info.host_parameter = if port {
            Some("port".into())
        } else if plug {
            Some("plug".into())
        } else {
            None
        };
        Ok(info)
    }
}

/// Run `agent`'s `metadata` action (stdout kept whole).
pub(crate) async fn run_metadata(config: &ExecConfig, agent: &str, timeout: Duration) -> AgentRun {
    let args = [("action".to_string(), "metadata".to_string())];
    run_agent(config, agent, &args, timeout, METADATA_CAP).await
}

/// The meta-data Pacemaker shows for a fence agent (`stonith__rhcs_get_metadata`):
/// the agent's own, with `start` and `stop` actions (which Pacemaker implements)
/// added when it has no `stop`, and the parameters `action`, `port` and `plug`
/// made optional, since the fencer supplies them.
pub fn pacemaker_metadata(xml: &str) -> Result<String, String> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let offset = xml.len() - xml.trim_start().len();
    let doc = roxmltree::Document::parse_with_options(&xml[offset..], opts)
        .map_err(|e| format!("not well-formed XML: {e}"))?;
    // (byte position in `xml`, bytes to replace, replacement)
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for p in doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "parameter")
    {
        let name = p.attribute("name").unwrap_or_default();
        if !["action", "port", "plug"].contains(&name) {
            continue;
        }
        match p.attributes().find(|a| a.name() == "required") {
            Some(a) => {
                let r = a.range_value();
                edits.push((offset + r.start, r.len(), "0".into()));
            }
            None => {
                // Right after `<parameter`.
                let at = offset + p.range().start + 1 + "parameter".len();
                edits.push((at, 0, " required=\"0\"".into()));
            }
        }
    }
    let has_stop = doc.descendants().any(|n| {
        n.is_element() && n.tag_name().name() == "action" && n.attribute("name") == Some("stop")
    });
    if !has_stop {
        if let Some(actions) = doc
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == "actions")
        {
            let added = "\t<action name=\"stop\" timeout=\"20s\" />\n\t<action name=\"start\" timeout=\"20s\" />\n";
            let r = actions.range();
            let text = &xml[offset + r.start..offset + r.end];
            match text.rfind("</") {
                Some(close) => edits.push((offset + r.start + close, 0, added.to_string())),
                None => edits.push((
                    offset + r.start,
                    r.len(),
                    format!("<actions>\n{added}</actions>"),
                )),
            }
        }
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = xml.to_string();
    for (at, len, text) in edits {
        if at + len <= out.len() && out.is_char_boundary(at) && out.is_char_boundary(at + len) {
            out.replace_range(at..at + len, &text);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" ?>
<resource-agent name="fence_x" shortdesc="X" >
<parameters>
	<parameter name="action" unique="0" required="1">
		<content type="string" default="reboot"  />
	</parameter>
	<parameter name="plug" unique="0">
		<content type="string"  />
	</parameter>
	<parameter name="nodeid" unique="0" required="0"/>
</parameters>
<actions>
	<action name="on" automatic="1" on_target="1"/>
	<action name="off" />
	<action name="list" />
	<action name="monitor" />
</actions>
</resource-agent>
"#;

    #[test]
    fn reads_what_the_fencer_reads() {
        let i = FenceAgentInfo::parse(XML).unwrap();
        assert!(i.supports_list && i.supports_on && i.automatic_unfencing);
        assert!(!i.supports_reboot && !i.supports_status);
        assert_eq!(i.on_target_actions, ["on"]);
        assert_eq!(i.host_parameter.as_deref(), Some("plug"));
        assert!(i.wants_nodeid);
        assert!(FenceAgentInfo::parse("<x/>").is_err());
        assert!(FenceAgentInfo::parse("<resource-agent").is_err());
    }

    #[test]
    fn metadata_gets_start_stop_and_optional_target_parameters() {
        let out = pacemaker_metadata(XML).unwrap();
        let doc = roxmltree::Document::parse(&out).unwrap();
        let req = |name: &str| {
            doc.descendants()
                .find(|n| n.tag_name().name() == "parameter" && n.attribute("name") == Some(name))
                .and_then(|n| n.attribute("required"))
                .map(str::to_string)
        };
        assert_eq!(req("action").as_deref(), Some("0"));
        assert_eq!(req("plug").as_deref(), Some("0"));
        assert_eq!(req("nodeid").as_deref(), Some("0"));
        let actions: Vec<&str> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "action")
            .filter_map(|n| n.attribute("name"))
            .collect();
        assert_eq!(actions, ["on", "off", "list", "monitor", "stop", "start"]);
        // Already there: unchanged.
        assert_eq!(pacemaker_metadata(&out).unwrap(), out);
    }

    #[test]
    fn failure_lines() {
        let err = "WARNING:root:Parse error: Ignoring unknown option 'port=n1'\n\n\
                   ERROR:root:Failed: Timed out waiting to power OFF\n\n\n\
                   2026-12-06 09:05:50,340 ERROR: Failed: Timed out waiting to power OFF\n";
        assert_eq!(
            failure_line(err, "").as_deref(),
            Some("Failed: Timed out waiting to power OFF")
        );
        assert_eq!(
            failure_line("2026-01-01 ERROR: no route\n", "").as_deref(),
            Some("no route")
        );
        assert_eq!(failure_line("", "bye\n").as_deref(), Some("bye"));
        assert_eq!(failure_line(" \n", ""), None);
        assert_eq!(
            stdin_text(&[
                ("action".into(), "off".into()),
                ("port".into(), "n1".into())
            ]),
            "action=off\nport=n1\n"
        );
    }
}
