//! halo-testkit: test-only helpers that run real halo processes.

pub mod cluster;
