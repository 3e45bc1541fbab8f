//! halo-api: the control API of a halo node — HTTP/JSON over the Unix socket
//! `STATE_DIR/halo.sock` (callers known by their kernel credentials) and over HTTPS
//! (the remote API, port 2224 as pcsd's; users with roles) — and the client the CLI
//! uses to talk to either.
//!
//! Invariant: the API holds no state of its own; every answer comes from the node
//! (`halo_consensus::ClusterNode`), and every refusal carries the node's stable error code.
//!
//! API boundary: [`serve`] / [`run_daemon`] on the server side, [`Client`] on the client
//! side; request and reply bodies are the serde types in [`proto`].

pub mod auth;
pub mod client;
pub mod proto;
pub mod remote;
pub mod routes;
pub mod server;

pub use client::{Client, ClientError};
pub use remote::RemoteOptions;
pub use server::{run_daemon, socket_path, DaemonError};
