//! halo's executor (the part of pacemaker-execd): runs resource agents on this node.
//!
//! * agent classes: `ocf:PROVIDER:TYPE` scripts, `lsb:NAME` init scripts,
//!   `systemd:UNIT` units, `service:NAME`, builtins `halo:TYPE` ([`builtin`]), and
//!   fence devices `stonith:fence_NAME` run as Pacemaker's fencer runs them
//!   ([`fence`]: also the library to fence a node through a device);
//! * every operation runs with a timeout; on expiry the agent's whole process group is
//!   killed and reaped, and the result says `timed out`;
//! * operations of one resource are serialized; different resources run in parallel;
//! * recurring monitors; results with rc, exit reason, start time, duration and output
//!   tail; fail counts per resource/node/operation with cleanup;
//! * results go to a [`ResultSink`] (the controller connects one that writes to the
//!   replicated status; [`MemorySink`] keeps them in memory).
//!
//! Invariant: every process the executor starts is waited for (no zombies), only by
//! its pid (never `waitpid(-1)`), and a process group is only killed on timeout or
//! when an operation is abandoned, never after a normal exit (daemons started by
//! agents must survive them).

pub mod agent;
pub mod builtin;
pub mod check;
pub mod config;
pub mod duration;
pub mod error;
pub mod executor;
pub mod failcount;
pub mod fence;
pub mod metadata;
pub mod op;
pub mod rc;
mod run;
pub mod sink;
pub mod spawn;

pub use agent::{parse_agent, AgentClass, AgentFilter};
pub use builtin::{AgentRegistry, BuiltinAgent, BuiltinCall, BuiltinOutcome};
pub use config::ExecConfig;
pub use error::ExecError;
pub use executor::Executor;
pub use failcount::{FailCount, FailKey};
pub use fence::{
    Eligibility, FenceAction, FenceAgentInfo, FenceDevice, FenceResult, FenceTarget, HostCheck,
    PowerState,
};
pub use metadata::AgentMetadata;
pub use op::{OpRequest, OpResult};
pub use rc::{rc_meaning, ExecStatus};
pub use sink::{ExecEvent, MemorySink, NullSink, ResultSink};
