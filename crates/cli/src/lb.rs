//! `halo lb`: the load balancer (HAProxy replacement) standalone.

use anyhow::Context;
use halo_lb::config::{native, summary};
use std::path::PathBuf;

/// Arguments of `halo lb`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: LbCommand,
}

#[derive(clap::Subcommand)]
pub enum LbCommand {
    /// Validate a configuration (HAProxy language or native TOML) and print what was understood.
    Check {
        /// The configuration file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Convert an HAProxy configuration to halo's native TOML (printed on stdout).
    Import {
        /// The haproxy.cfg to convert.
        file: PathBuf,
        /// Write the TOML to this file instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        LbCommand::Check { file } => {
            let parsed = native::load(&file)?;
            print!("{}", summary::describe(&parsed.config));
            for w in &parsed.warnings {
                eprintln!("warning: {w}");
            }
            println!("Configuration file is valid: {}", file.display());
            Ok(())
        }
        LbCommand::Import { file, output } => {
            let parsed = native::load(&file)?;
            for w in &parsed.warnings {
                eprintln!("warning: {w}");
            }
            let text = native::to_toml(&parsed.config).context("cannot write TOML")?;
            match output {
                Some(o) => std::fs::write(&o, text)
                    .with_context(|| format!("cannot write {}", o.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}
