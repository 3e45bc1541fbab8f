//! The `halo` command: parses arguments and calls the libraries. Nothing else lives here.

mod lb;
mod simulate;

use clap::{Parser, Subcommand};

/// halo: one system for high availability (membership, resources, load balancing, VIPs).
#[derive(Parser)]
#[command(name = "halo", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Plan a transition offline from a configuration and status, like crm_simulate.
    Simulate(simulate::Args),
    /// The load balancer: check, run, reload or import an HAProxy configuration.
    Lb(lb::Args),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HALO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Lb(args) => lb::run(args),
    };
    if let Err(e) = result {
        eprintln!("halo: {e:#}");
        std::process::exit(1);
    }
}
