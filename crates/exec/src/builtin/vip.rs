//! `halo:vip`: a virtual IP as a resource, natively through netlink (the vip crate),
//! with IPaddr2's parameter names so `ocf:heartbeat:IPaddr2` configurations move over
//! by changing only the agent name.

use crate::builtin::{BoxFuture, BuiltinAgent, BuiltinCall, BuiltinOutcome};
use crate::metadata::{ActionMeta, AgentMetadata, ParamMeta};

/// The `halo:vip` agent.
pub struct VipAgent;

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
                       clients follow at once. Only addresses halo added are ever removed."
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
                "stop" => outcome(vip.stop().await),
                "monitor" | "status" => outcome(vip.monitor().await),
                "validate-all" => BuiltinOutcome::ok(),
                other => BuiltinOutcome::unimplemented(other),
            }
        })
    }
}
