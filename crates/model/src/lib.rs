//! halo's cluster model: configuration and status types, validation, the native TOML
//! format and the Pacemaker CIB importer.
//!
//! Invariant: this crate does no I/O. Readers take text and a name to cite in errors.

pub mod cib;
pub mod config;
pub mod error;
pub mod score;
pub mod status;

pub use cib::{parse_cib, CibImport};
pub use config::*;
pub use error::{ModelError, Notice, Problem};
pub use score::{Score, ScoreError, INFINITY};
pub use status::*;
