//! halo's cluster model: configuration and status types, validation, the native TOML
//! format and the Pacemaker CIB importer.
//!
//! Invariant: this crate does no I/O. Readers take text and a name to cite in errors.

pub mod cib;
pub mod codes;
pub mod config;
pub mod datetime;
pub mod duration;
pub mod ere;
pub mod error;
pub mod native;
pub mod properties;
pub mod score;
pub mod status;
pub mod validate;

pub use cib::{parse_cib, CibImport};
pub use config::*;
pub use error::{ModelError, Notice, Problem};
pub use native::{parse_native, to_native, NativeDoc};
pub use score::{Score, ScoreError, INFINITY};
pub use status::*;
pub use validate::validate;
