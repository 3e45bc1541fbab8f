//! Errors of the executor library.
//!
//! An agent that runs and fails is not an error here: it is a result (`OpResult`) with
//! its rc and status. These errors are for requests the executor cannot even attempt.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// An agent name that is not `class:provider:type` / `class:type`.
    #[error("HALO-E401 agent \"{spec}\": {reason}")]
    BadAgent { spec: String, reason: String },
    /// An agent class the executor does not run.
    #[error(
        "HALO-E402 agent \"{agent}\": class \"{class}\" is not supported by the executor ({hint})"
    )]
    UnsupportedClass {
        agent: String,
        class: String,
        hint: &'static str,
    },
    /// A duration such as `20s` that does not parse.
    #[error("HALO-E403 {place}: \"{value}\" is not a duration (use e.g. 500ms, 20s, 2min, 1h)")]
    BadDuration { place: String, value: String },
    /// The agent's meta-data could not be obtained or read.
    #[error("HALO-E404 meta-data of {agent}: {reason}")]
    Metadata { agent: String, reason: String },
    /// A request that makes no sense (e.g. a recurring operation without an interval).
    #[error("HALO-E405 resource \"{resource}\": {reason}")]
    BadRequest { resource: String, reason: String },
    /// A file or directory the executor needs could not be used.
    #[error("HALO-E406 {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A fence device whose parameters cannot be used (see [`crate::fence`]).
    #[error("HALO-E407 fence device \"{device}\": {reason}")]
    BadFenceDevice { device: String, reason: String },
}
