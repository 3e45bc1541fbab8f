//! halo-api: the control API of a halo node — HTTP/JSON over the Unix socket
//! `STATE_DIR/halo.sock` (mode 0600, so root-only with the default state directory) — and
//! the client the CLI uses to talk to it.
//!
//! Invariant: the API holds no state of its own; every answer comes from the node
//! (`halo_consensus::ClusterNode`), and every refusal carries the node's stable error code.
//!
//! API boundary: [`serve`] / [`run_daemon`] on the server side, [`Client`] on the client
//! side; request and reply bodies are the serde types in [`proto`].

pub mod client;
pub mod proto;
pub mod server;

pub use client::{Client, ClientError};
pub use server::{run_daemon, serve, socket_path, DaemonError};
