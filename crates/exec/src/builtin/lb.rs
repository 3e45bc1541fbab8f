//! `halo:lb`: a load balancer engine (the lb crate) as a resource, for a configuration
//! held by the cluster (`config`: native TOML or HAProxy text) or a file on the node
//! (`file`). Run as a clone kept with the VIP, it is what HAProxy is in the reference
//! deployment; a changed configuration is applied by reload, without dropping
//! connections.

use std::sync::Arc;
use std::time::Duration;

use halo_lb::agent::LbAgent;

use crate::builtin::{BoxFuture, BuiltinAgent, BuiltinCall, BuiltinOutcome};
use crate::metadata::{ActionMeta, AgentMetadata, ParamMeta};

/// The `halo:lb` agent; it owns the engines this node runs.
#[derive(Default)]
pub struct LbBuiltin {
    engines: Arc<LbAgent>,
}

impl LbBuiltin {
    pub fn new() -> Self {
        Self::default()
    }

    /// The engines, for what the node learns outside an agent call (hosts lost).
    pub fn engines(&self) -> Arc<LbAgent> {
        self.engines.clone()
    }
}

impl BuiltinAgent for LbBuiltin {
    fn name(&self) -> &str {
        "lb"
    }

    fn metadata(&self) -> AgentMetadata {
        let param = |name: &str, desc: &str| ParamMeta {
            name: name.into(),
            shortdesc: desc.into(),
            longdesc: desc.into(),
            content_type: "string".into(),
            ..Default::default()
        };
        AgentMetadata {
            name: "lb".into(),
            version: Some("1.0".into()),
            shortdesc: "Load balancer (HAProxy-compatible)".into(),
            longdesc: "Runs halo's load balancer engine in the node daemon for a configuration \
                       in HAProxy's language or halo's native TOML. Listeners may bind \
                       addresses the node does not hold yet, so the engine is ready before the \
                       virtual IP arrives."
                .into(),
            parameters: vec![
                param(
                    "config",
                    "The configuration text (native TOML or haproxy.cfg).",
                ),
                param(
                    "file",
                    "A configuration file on the node, when `config` is not given.",
                ),
            ],
            actions: vec![
                ActionMeta::new("start", 20_000, None),
                ActionMeta::new("stop", 20_000, None),
                ActionMeta::new("monitor", 20_000, Some(10_000)),
                ActionMeta::new("reload", 20_000, None),
                ActionMeta::new("validate-all", 20_000, None),
                ActionMeta::new("meta-data", 5_000, None),
            ],
        }
    }

    fn run<'a>(&'a self, call: BuiltinCall<'a>) -> BoxFuture<'a, BuiltinOutcome> {
        let engines = self.engines.clone();
        let id = call.resource.to_string();
        let params = call.params.clone();
        let action = call.action.to_string();
        // Stops wait for sessions to drain: leave a little of the timeout for the rest.
        let grace = call.timeout.saturating_sub(Duration::from_secs(1));
        Box::pin(async move {
            // Binding and draining block: keep them off the executor's threads.
            let joined = tokio::task::spawn_blocking(move || match action.as_str() {
                "start" | "reload" => match LbAgent::config_from_params(&id, &params)
                    .and_then(|cfg| engines.start(&id, cfg))
                {
                    Ok(()) => BuiltinOutcome::ok(),
                    Err(e) => BuiltinOutcome::fail(e.ocf_rc(), e.to_string()),
                },
                "stop" => {
                    engines.stop(&id, grace);
                    BuiltinOutcome::ok()
                }
                "monitor" | "status" => {
                    let st = engines.monitor(&id);
                    match st {
                        halo_lb::agent::AgentStatus::Failed(why) => BuiltinOutcome::fail(1, why),
                        other => BuiltinOutcome::rc(other.ocf_rc()),
                    }
                }
                "validate-all" => match LbAgent::config_from_params(&id, &params) {
                    Ok(_) => BuiltinOutcome::ok(),
                    Err(e) => BuiltinOutcome::fail(e.ocf_rc(), e.to_string()),
                },
                other => BuiltinOutcome::unimplemented(other),
            })
            .await;
            joined.unwrap_or_else(|e| {
                BuiltinOutcome::fail(1, format!("halo:lb operation failed: {e}"))
            })
        })
    }
}
