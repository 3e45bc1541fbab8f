//! `stonith:` resources in the executor, as pacemaker-execd runs them through the
//! fencer: start = register the device and run its `monitor`; stop = unregister it;
//! a recurring monitor = the agent's `monitor` on the registered device; a probe
//! (monitor with interval 0) = whether the device was started, without running the
//! agent; meta-data = the agent's meta-data as Pacemaker shows it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::ExecConfig;
use crate::op::OpRequest;
use crate::rc::{ocf, ExecStatus};
use crate::run::Raw;

use super::agent::{pacemaker_metadata, run_metadata};
use super::{FenceDevice, FenceResult};

struct Entry {
    device: Arc<FenceDevice>,
    /// What a probe answers (pacemaker-execd's `fence_probe_result`): set by a
    /// successful start, cleared by a stop.
    running: bool,
}

/// The fence devices started on this node, by resource id.
#[derive(Default)]
pub(crate) struct FenceRegistry {
    devices: Mutex<HashMap<String, Entry>>,
}

impl FenceRegistry {
    fn locked(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The registered device of a resource.
    pub fn get(&self, id: &str) -> Option<Arc<FenceDevice>> {
        self.locked().get(id).map(|e| e.device.clone())
    }

    /// Every registered device, by id.
    pub fn all(&self) -> Vec<Arc<FenceDevice>> {
        let mut v: Vec<Arc<FenceDevice>> =
            self.locked().values().map(|e| e.device.clone()).collect();
        v.sort_by(|a, b| a.id().cmp(b.id()));
        v
    }

    /// Whether a probe finds the resource running (its last start succeeded).
    pub fn is_running(&self, id: &str) -> bool {
        self.locked().get(id).is_some_and(|e| e.running)
    }
}

fn raw_of(r: FenceResult) -> Raw {
    let ok = r.is_success();
    Raw {
        // As pacemaker-execd: any failure of the agent is a generic error, except
        // that an agent that is not installed says so.
        rc: if ok {
            ocf::SUCCESS
        } else if r.status == ExecStatus::NotInstalled {
            ocf::ERR_INSTALLED
        } else {
            ocf::ERR_GENERIC
        },
        status: r.status,
        exit_reason: if ok { None } else { r.exit_reason },
        stdout: r.stdout,
        stderr: r.stderr,
        pid: r.pid,
    }
}

/// Run a resource action of a `stonith:` resource.
pub(crate) async fn run_resource_op(
    registry: &FenceRegistry,
    config: &ExecConfig,
    req: &OpRequest,
    timeout: Duration,
) -> Raw {
    if !crate::run::valid_action(&req.action) {
        return Raw::fail(
            ocf::ERR_ARGS,
            ExecStatus::ErrorHard,
            format!("\"{}\" is not an action name", req.action),
        );
    }
    match req.action.as_str() {
        "meta-data" => metadata(config, &req.agent.kind, timeout).await,
        "start" => {
            let device = match FenceDevice::from_params(&req.resource, &req.agent.kind, &req.params)
            {
                Ok(d) => Arc::new(d),
                Err(e) => return Raw::fail(ocf::ERR_CONFIGURED, ExecStatus::ErrorHard, e.to_string()),
            };
            // Registered first (as the fencer registers it), running once the
            // monitor succeeded.
            {
                let mut map = registry.locked();
                let running = map.get(&req.resource).is_some_and(|e| e.running);
                map.insert(
                    req.resource.clone(),
                    Entry {
                        device: device.clone(),
                        running,
                    },
                );
            }
            let raw = raw_of(device.monitor(config, timeout).await);
            if raw.status == ExecStatus::Done && raw.rc == ocf::SUCCESS {
                if let Some(e) = registry.locked().get_mut(&req.resource) {
                    if Arc::ptr_eq(&e.device, &device) {
                        e.running = true;
                    }
                }
            }
            raw
        }
        "stop" => {
            registry.locked().remove(&req.resource);
            Raw::output(String::new())
        }
        "monitor" | "status" if req.interval.is_zero() => {
            // A probe does not run the agent: it says whether the device was started.
            let running = registry.locked().get(&req.resource).is_some_and(|e| e.running);
            if running {
                Raw::output(String::new())
            } else {
                Raw {
                    rc: ocf::NOT_RUNNING,
                    status: ExecStatus::Done,
                    exit_reason: None,
                    stdout: String::new(),
                    stderr: String::new(),
                    pid: None,
                }
            }
        }
        "monitor" | "status" => match registry.get(&req.resource) {
            Some(device) => raw_of(device.monitor(config, timeout).await),
            None => Raw::fail(
                ocf::NOT_RUNNING,
                ExecStatus::Error,
                format!("fence device '{}' is not active", req.resource),
            ),
        },
        other => Raw::fail(
            ocf::ERR_UNIMPLEMENTED,
            ExecStatus::NotSupported,
            format!(
                "fence devices have no \"{other}\" resource action (start, stop, monitor, meta-data)"
            ),
        ),
    }
}

/// The agent's meta-data as Pacemaker shows it (see [`pacemaker_metadata`]).
pub(crate) async fn metadata(config: &ExecConfig, agent: &str, timeout: Duration) -> Raw {
    if !agent.starts_with(super::AGENT_PREFIX) {
        return Raw::fail(
            ocf::ERR_INSTALLED,
            ExecStatus::NotInstalled,
            format!("\"{agent}\" is not a fence agent (fence agents are named fence_NAME)"),
        );
    }
    let run = run_metadata(config, agent, timeout).await;
    if !run.ok() {
        return Raw {
            rc: if run.status == ExecStatus::NotInstalled {
                ocf::ERR_INSTALLED
            } else {
                ocf::ERR_GENERIC
            },
            status: run.status,
            exit_reason: run.exit_reason,
            stdout: run.stdout,
            stderr: run.stderr,
            pid: run.pid,
        };
    }
    match pacemaker_metadata(&run.stdout) {
        Ok(xml) => Raw {
            rc: ocf::SUCCESS,
            status: ExecStatus::Done,
            exit_reason: None,
            stdout: xml,
            stderr: run.stderr,
            pid: run.pid,
        },
        Err(e) => Raw {
            rc: ocf::ERR_GENERIC,
            status: ExecStatus::Error,
            exit_reason: Some(format!("{agent} printed meta-data that is not XML: {e}")),
            stdout: run.stdout,
            stderr: run.stderr,
            pid: run.pid,
        },
    }
}
