//! `halo:vip`: a virtual IP as a resource, natively through netlink (the vip crate),
//! with IPaddr2's parameter names so `ocf:heartbeat:IPaddr2` configurations move over
//! by changing only the agent name.

use std::sync::Arc;
use std::time::{Duration, Instant};

use halo_lb::agent::LbAgent;
use halo_lb::engine::Quiesce;

use crate::builtin::{BoxFuture, BuiltinAgent, BuiltinCall, BuiltinOutcome};
use crate::metadata::{ActionMeta, AgentMetadata, ParamMeta};

/// The longest a stop waits for the sessions through the address to end.
const DRAIN: Duration = Duration::from_millis(500);

/// The `halo:vip` agent, with the node's load balancer engines (`halo:lb`), whose
/// listeners on the address a stop pauses first.
pub struct VipAgent {
    lb: Option<Arc<LbAgent>>,
}

impl VipAgent {
    pub fn new(lb: Option<Arc<LbAgent>>) -> Self {
        VipAgent { lb }
    }

    /// Before a held address leaves (a move, a standby): the load balancer's listeners
    /// on it take no new connection (their clients' SYNs go unanswered and are sent
    /// again a second later, when the address answers on its new node) and the
    /// sessions open through it get up to [`DRAIN`] to end. A session cut by the move
    /// fails: its next packets reach the new node, which knows nothing of it. Returns
    /// the paused listeners, to resume once the address is gone.
    async fn drain(&self, vip: &halo_vip::Vip, timeout: Duration) -> Vec<Quiesce> {
        let Some(lb) = &self.lb else {
            return Vec::new();
        };
        let ip = vip.params().ip;
        let paused = lb.quiesce(ip);
        // Nothing listens there, or the address is gone already: nothing to wait for.
        if paused.is_empty() || !matches!(vip.state().await, Ok(halo_vip::VipState::Running { .. }))
        {
            return Vec::new();
        }
        let open = || paused.iter().map(Quiesce::sessions).sum::<u64>();
        let until = Instant::now() + DRAIN.min(timeout / 2);
        while open() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if open() > 0 {
            tracing::info!(%ip, sessions = open(), "VIP leaves with sessions still open");
        }
        paused
    }
}

fn outcome(r: halo_vip::OcfResult) -> BuiltinOutcome {
    BuiltinOutcome {
        rc: r.rc.code(),
        exit_reason: r.reason,
        output: String::new(),
    }
}

impl BuiltinAgent for VipAgent {
    fn name(&self) -> &str {
        "vip"
    }

    fn metadata(&self) -> AgentMetadata {
        AgentMetadata {
            name: "vip".into(),
            version: Some("1.0".into()),
            shortdesc: "Virtual IP address (IPv4 or IPv6)".into(),
            longdesc: "Adds a virtual IP address to an interface through netlink and \
                       announces it (gratuitous ARP or unsolicited neighbour advertisement) so \
                       clients follow at once. Only addresses halo added are ever removed. A stop \
                       first pauses the node's halo:lb listeners on the address and lets \
                       the sessions open through it end (up to half a second), so a \
                       planned move cuts none that finish by then."
                .into(),
            parameters: halo_vip::PARAMETERS
                .iter()
                .map(|p| ParamMeta {
                    name: p.name.into(),
                    shortdesc: p.description.into(),
                    longdesc: p.description.into(),
                    required: p.required,
                    unique: p.name == "ip",
                    content_type: "string".into(),
                    default: (!p.default.is_empty()).then(|| p.default.to_string()),
                    ..Default::default()
                })
                .collect(),
            actions: vec![
                ActionMeta::new("start", 20_000, None),
                ActionMeta::new("stop", 20_000, None),
                ActionMeta::new("monitor", 20_000, Some(10_000)),
                ActionMeta::new("validate-all", 20_000, None),
                ActionMeta::new("meta-data", 5_000, None),
            ],
        }
    }

    fn run<'a>(&'a self, call: BuiltinCall<'a>) -> BoxFuture<'a, BuiltinOutcome> {
        Box::pin(async move {
            let vip = match halo_vip::Vip::from_params(call.params) {
                Ok(v) => v,
                Err(e) => return BuiltinOutcome::fail(e.ocf_rc().code(), e.to_string()),
            };
            match call.action {
                "start" => outcome(vip.start().await),
                "stop" => {
                    let paused = self.drain(&vip, call.timeout).await;
                    let r = outcome(vip.stop().await);
                    drop(paused);
                    r
                }
                "monitor" | "status" => outcome(vip.monitor().await),
                "validate-all" => BuiltinOutcome::ok(),
                other => BuiltinOutcome::unimplemented(other),
            }
        })
    }
}
