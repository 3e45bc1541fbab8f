//! The conformance sequence `ocf-tester` runs, as a library: meta-data, validate-all,
//! probe while stopped (7), start, monitor (0), start again (idempotent), [promote,
//! monitor (8), demote, monitor (0) for promotable agents], stop, stop again
//! (idempotent), monitor (7).

use std::time::Duration;

use serde::Serialize;

use halo_model::{AgentRef, Attrs};

use crate::executor::Executor;
use crate::metadata::AgentMetadata;
use crate::op::{OpRequest, OpResult};
use crate::rc::{ocf, ExecStatus};

/// The verdict of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    Skipped,
}

/// One step of the sequence.
#[derive(Debug, Clone, Serialize)]
pub struct CheckStep {
    /// What the step checks, e.g. "start again (idempotent)".
    pub name: String,
    pub action: String,
    /// The rc the step expects.
    pub expected_rc: Option<i32>,
    pub verdict: Verdict,
    /// Why it failed or was skipped, or a remark.
    pub note: Option<String>,
    pub result: Option<OpResult>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub agent: String,
    pub resource: String,
    pub steps: Vec<CheckStep>,
}

impl CheckReport {
    /// True when no step failed.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.verdict != Verdict::Fail)
    }
}

struct Runner<'a> {
    exec: &'a Executor,
    agent: &'a AgentRef,
    resource: &'a str,
    params: &'a Attrs,
    metadata: Option<AgentMetadata>,
    steps: Vec<CheckStep>,
}

impl Runner<'_> {
    fn timeout(&self, action: &str) -> Duration {
        self.metadata
            .as_ref()
            .and_then(|m| m.timeout_for(action, 0))
            .unwrap_or(self.exec.config().default_timeout)
    }

    async fn step(&mut self, name: &str, action: &str, expected: i32) -> bool {
        let req = OpRequest::new(self.resource, self.agent.clone(), action)
            .with_params(self.params.clone())
            .with_timeout(self.timeout(action))
            .with_target_rc(expected);
        let r = self.exec.execute(req).await;
        let (verdict, note) = if r.status == ExecStatus::Done && r.rc == expected {
            (Verdict::Pass, None)
        } else if action == "validate-all"
            && (r.rc == ocf::ERR_UNIMPLEMENTED || r.status == ExecStatus::NotSupported)
        {
            (
                Verdict::Skipped,
                Some("the agent does not implement validate-all".to_string()),
            )
        } else {
            let (name, meaning) = crate::rc::rc_meaning(r.rc);
            let mut why = format!("expected rc {expected}, got {} ({name}: {meaning})", r.rc);
            if r.status != ExecStatus::Done {
                why.push_str(&format!(", {}", r.status));
            }
            if let Some(reason) = &r.exit_reason {
                why.push_str(&format!(": {reason}"));
            }
            (Verdict::Fail, Some(why))
        };
        let pass = verdict != Verdict::Fail;
        self.steps.push(CheckStep {
            name: name.to_string(),
            action: action.to_string(),
            expected_rc: Some(expected),
            verdict,
            note,
            result: Some(r),
        });
        pass
    }
}

/// Run the conformance sequence against `agent` as resource `resource` with `params`.
/// Leaves the resource stopped (a final stop is attempted when a step failed).
pub async fn conformance_check(
    exec: &Executor,
    agent: &AgentRef,
    resource: &str,
    params: &Attrs,
) -> CheckReport {
    let mut r = Runner {
        exec,
        agent,
        resource,
        params,
        metadata: None,
        steps: Vec::new(),
    };
    // 1. meta-data: runs, parses, advertises the basic actions, parameters fit.
    let md_req = OpRequest::new(resource, agent.clone(), "meta-data")
        .with_timeout(exec.config().default_timeout);
    let md_result = exec.execute(md_req).await;
    let parsed = if md_result.status == ExecStatus::Done && md_result.rc == 0 {
        AgentMetadata::parse(&md_result.stdout, &agent.to_string()).map_err(|e| e.to_string())
    } else {
        Err(format!(
            "meta-data ended with rc {} ({}){}",
            md_result.rc,
            md_result.status,
            md_result
                .exit_reason
                .as_ref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        ))
    };
    let (verdict, note) = match &parsed {
        Ok(md) => {
            let missing: Vec<&str> = ["start", "stop", "monitor"]
                .into_iter()
                .filter(|a| !md.supports(a))
                .collect();
            if missing.is_empty() {
                (Verdict::Pass, None)
            } else {
                (
                    Verdict::Fail,
                    Some(format!(
                        "meta-data does not advertise: {}",
                        missing.join(", ")
                    )),
                )
            }
        }
        Err(e) => (Verdict::Fail, Some(e.clone())),
    };
    r.steps.push(CheckStep {
        name: "meta-data".into(),
        action: "meta-data".into(),
        expected_rc: Some(0),
        verdict,
        note,
        result: Some(md_result),
    });
    if let Ok(md) = parsed {
        let problems = md.check_params(params);
        let missing: Vec<&String> = problems
            .iter()
            .filter(|p| p.contains("is missing"))
            .collect();
        let (verdict, note) = if !missing.is_empty() {
            (
                Verdict::Fail,
                Some(
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            )
        } else if problems.is_empty() {
            (Verdict::Pass, None)
        } else {
            (Verdict::Pass, Some(problems.join("; ")))
        };
        r.steps.push(CheckStep {
            name: "parameters".into(),
            action: "-".into(),
            expected_rc: None,
            verdict,
            note,
            result: None,
        });
        r.metadata = Some(md);
    }
    r.step("validate-all", "validate-all", ocf::SUCCESS).await;
    r.step("monitor while stopped (probe)", "monitor", ocf::NOT_RUNNING)
        .await;
    r.step("start", "start", ocf::SUCCESS).await;
    r.step("monitor while started", "monitor", ocf::SUCCESS)
        .await;
    r.step("start again (idempotent)", "start", ocf::SUCCESS)
        .await;
    let promotable = r
        .metadata
        .as_ref()
        .is_some_and(|m| m.supports("promote") && m.supports("demote"));
    if promotable {
        r.step("promote", "promote", ocf::SUCCESS).await;
        r.step("monitor while promoted", "monitor", ocf::RUNNING_PROMOTED)
            .await;
        r.step("demote", "demote", ocf::SUCCESS).await;
        r.step("monitor after demote", "monitor", ocf::SUCCESS)
            .await;
    }
    r.step("stop", "stop", ocf::SUCCESS).await;
    r.step("stop again (idempotent)", "stop", ocf::SUCCESS)
        .await;
    let stopped = r
        .step("monitor after stop", "monitor", ocf::NOT_RUNNING)
        .await;
    let report = CheckReport {
        agent: agent.to_string(),
        resource: resource.to_string(),
        steps: r.steps,
    };
    if !report.passed() && !stopped {
        let req = OpRequest::new(resource, agent.clone(), "stop")
            .with_params(params.clone())
            .with_timeout(exec.config().default_timeout);
        let _ = exec.execute(req).await;
    }
    report
}
