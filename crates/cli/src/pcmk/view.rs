//! The cluster as Pacemaker's status tools show it: the scheduler's input built from
//! the replicated state (`halo_controller::input::scheduler_input`, with who is online
//! as this node sees it), unpacked by the scheduler's own code (node states, each
//! resource's role, where it runs, whether it failed) exactly as the DC reads it before
//! planning. Nothing is planned: this is the current state, as crm_mon shows it.

use halo_consensus::{ClusterState, StatusReport};
use halo_controller::input::{scheduler_input, Liveness};
use halo_model::{Config, Role, Status};
use halo_sched::cluster::{Cluster, NodeId, Options, RscId, Variant};

use super::{exit, now_secs, Ctx, Fail, Res};

/// Everything the status tools read, taken once.
pub struct View {
    pub status: StatusReport,
    pub state: ClusterState,
    pub cfg: Config,
    pub input: Status,
    pub cl: Cluster,
}

impl View {
    pub fn load(ctx: &Ctx) -> Res<View> {
        let status = ctx.status()?;
        let state = ctx.state()?;
        View::build(status, state)
    }

    pub fn build(status: StatusReport, state: ClusterState) -> Res<View> {
        let live = Liveness {
            quorate: status.quorate,
            dc: status.dc.clone(),
            online: status
                .nodes
                .iter()
                .filter(|n| n.online && n.role != "witness")
                .map(|n| n.name.clone())
                .collect(),
        };
        let (cfg, input) =
            scheduler_input(&state, &live).map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
        let opts = Options::from_config(&cfg, &input, now_secs());
        let nodes = halo_sched::unpack::nodes(&cfg, &input, &opts);
        let mut cl = halo_sched::cluster::build(&cfg, &opts, nodes)
            .map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
        halo_sched::unpack::histories(&mut cl, &input);
        Ok(View {
            status,
            state,
            cfg,
            input,
            cl,
        })
    }

    /// A node's cluster id (its numeric id in the cluster, as `crm_node -i` prints it).
    pub fn node_id(&self, name: &str) -> String {
        self.state
            .nodes
            .get(name)
            .map(|r| r.id.to_string())
            .unwrap_or_else(|| name.to_string())
    }

    /// The role a resource is shown in: a running resource is at least Started, and a
    /// started instance of a promotable clone is Unpromoted.
    pub fn role(&self, r: RscId) -> Role {
        let rsc = &self.cl.rscs[r];
        let mut role = rsc.role;
        if !rsc.running_on.is_empty() && role == Role::Stopped {
            role = Role::Started;
        }
        if role == Role::Started && self.promotable(r) {
            role = Role::Unpromoted;
        }
        role
    }

    /// Whether `r` is (inside) an instance of a promotable clone.
    pub fn promotable(&self, r: RscId) -> bool {
        self.cl
            .clone_parent(r)
            .is_some_and(|c| self.cl.rscs[c].promotable)
    }

    /// The id a resource is shown under: anonymous clone instances by their base id.
    pub fn shown_id(&self, r: RscId) -> String {
        let rsc = &self.cl.rscs[r];
        match self.cl.clone_parent(r) {
            Some(c) if !self.cl.rscs[c].unique => {
                halo_sched::unpack::strip_instance(&rsc.id).to_string()
            }
            _ => rsc.id.clone(),
        }
    }

    /// Configured resources (not clone instances, not orphans) by id; also finds a
    /// clone instance by its instance id (`rsc:1`).
    pub fn find(&self, id: &str) -> Option<RscId> {
        self.cl
            .rscs
            .iter()
            .position(|r| r.id == id && r.instance.is_none() && !r.orphan)
            .or_else(|| self.cl.rscs.iter().position(|r| r.id == id))
    }

    /// The primitives at or below `r` (for a clone: every instance's).
    pub fn primitives(&self, r: RscId) -> Vec<RscId> {
        self.cl.primitives(r)
    }

    /// The primitives a resource id names: everything at or below a configured
    /// resource, or every instance of a primitive inside a clone (`rsc`, `rsc:N`).
    pub fn matching(&self, id: &str) -> Vec<RscId> {
        if let Some(r) = self.find(id) {
            return self.primitives(r);
        }
        let base = halo_sched::unpack::strip_instance(id);
        (0..self.cl.rscs.len())
            .filter(|&i| {
                let x = &self.cl.rscs[i];
                x.variant == Variant::Primitive
                    && x.instance.is_some()
                    && halo_sched::unpack::strip_instance(&x.id) == base
            })
            .collect()
    }

    /// Where `r` (and everything below it) runs, with the role there.
    pub fn locations(&self, r: RscId) -> Vec<(NodeId, Role)> {
        let mut out = Vec::new();
        for p in self.primitives(r) {
            let role = self.role(p);
            for &n in &self.cl.rscs[p].running_on {
                out.push((n, role));
            }
        }
        out
    }

    /// Number of primitives running on node `n`.
    pub fn resources_running(&self, n: NodeId) -> usize {
        self.cl
            .rscs
            .iter()
            .filter(|r| r.variant == Variant::Primitive && r.running_on.contains(&n))
            .count()
    }
}

/// Text of an OCF exit code, as Pacemaker prints it (`services_ocf_exitcode_str`).
pub fn ocf_rc_text(rc: i32) -> &'static str {
    match rc {
        0 => "ok",
        1 => "error",
        2 => "invalid parameter",
        3 => "unimplemented feature",
        4 => "insufficient privileges",
        5 => "not installed",
        6 => "not configured",
        7 => "not running",
        8 => "promoted",
        9 => "promoted (failed)",
        190 => "OCF_DEGRADED",
        191 => "promoted (degraded)",
        _ => "unknown",
    }
}

/// Text of an execution status (`pcmk_exec_status_str`).
pub fn exec_status_text(status: i32) -> &'static str {
    match status {
        -1 => "pending",
        0 => "complete",
        1 => "Cancelled",
        2 => "Timed Out",
        3 => "NOT SUPPORTED",
        4 => "Error",
        5 => "Hard error",
        6 => "Fatal error",
        7 => "Not installed",
        8 => "Internal communication failure",
        9 => "Cannot execute now",
        10 => "No fence device",
        11 => "CIB secrets unavailable",
        _ => "UNKNOWN!",
    }
}

/// The operation key of a record (`RSC_OP_INTERVAL`).
pub fn op_key(rsc: &str, op: &halo_model::OpRecord) -> String {
    format!("{rsc}_{}_{}", op.operation, op.interval_ms)
}
