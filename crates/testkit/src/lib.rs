//! Test-only support for halo. Never a dependency of product code.
//!
//! - [`netns`]: a small network of hosts in Linux network namespaces (veth pairs on a
//!   bridge in a private "switch" namespace), with faults: cut a host off, partition,
//!   loss/delay (tc netem), heal, kill a host's processes.
//! - [`cluster`]: real `halo daemon` processes on loopback, started, stopped, killed and
//!   restarted, driven through the real CLI.

pub mod cluster;
pub mod netns;
