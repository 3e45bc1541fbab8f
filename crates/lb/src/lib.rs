//! halo's load balancer: an HAProxy-compatible TCP/HTTP engine.
//!
//! * [`config`] reads HAProxy's configuration language and halo's native TOML into one
//!   typed model;
//! * [`health`] decides server state from check results (no I/O), [`probe`] runs checks;
//! * [`engine`] runs listeners, proxies, balancing, queues, stats and reload.

pub mod agent;
pub mod balance;
pub mod config;
pub mod engine;
pub mod health;
pub mod probe;
pub mod process;
pub mod sample;
