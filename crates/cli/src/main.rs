//! The `halo` command: parses arguments and calls the libraries. Nothing else lives here.

mod agent;
mod bench;
mod cluster;
mod config;
mod constraint;
mod constraint_words;
mod daemon;
mod demo;
mod edit;
mod examples;
mod haproxy;
mod hosts;
mod lb;
mod node;
mod pcmk;
mod property;
mod resource;
mod simulate;
mod status;
mod stonith;
mod user;
mod vip;

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
    /// Start a small cluster on this machine (no root needed) to try halo on; Ctrl-C
    /// stops it and cleans up.
    Demo(demo::Args),
    /// The demo's web server (run by the demo's resources).
    #[command(hide = true)]
    DemoWeb(demo::WebArgs),
    /// Plan a transition offline from a configuration and status, like crm_simulate.
    Simulate(simulate::Args),
    /// Measure halo's own speed (see also the scripts under bench/).
    Bench(bench::Args),
    /// Run a resource agent by hand, or check it against the OCF conventions.
    Agent(agent::Args),
    /// Resource agents and resources: list, describe, debug-start/stop/monitor.
    Resource(resource::Args),
    /// Virtual IPs by hand: add (and announce), delete, show halo's addresses.
    Vip(vip::Args),
    /// Run the node daemon.
    Daemon(daemon::Args),
    /// Create, join and manage the cluster.
    Cluster(cluster::Args),
    /// Show the cluster: quorum, DC, nodes.
    Status(status::Args),
    /// The cluster's configuration as a whole: apply a native TOML file, show it.
    Config(config::Args),
    /// Fence devices, fencing levels, fencing a node, the fencing history.
    Stonith(stonith::Args),
    /// Constraints: location, colocation, order; list and remove them.
    Constraint(constraint::Args),
    /// Cluster properties: set, unset, list.
    Property(property::Args),
    /// Nodes: standby, maintenance, attributes.
    Node(node::Args),
    /// Users of the API (roles read, operator, admin) and their tokens.
    User(user::Args),
    /// Why a resource runs where it runs, or why it does not run (the scheduler's
    /// explanation on the live state).
    Why(status::WhyArgs),
    /// Print a shell completion script: `halo completion bash > /etc/bash_completion.d/halo`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (halo.1, halo-resource.1, halo-resource-create.1, ...) into DIR,
    /// one per command: `halo man /usr/local/share/man/man1`.
    Man {
        /// The directory (made if missing).
        dir: std::path::PathBuf,
    },
    /// The load balancer: check, run, reload or import an HAProxy configuration.
    Lb(lb::Args),
    /// Make links named after Pacemaker's tools (crm_attribute, crm_mon, ...) to halo in
    /// DIR: run through them, halo answers as those tools (the daemon makes its own for
    /// the agents it runs); with --haproxy also DIR/haproxy, HAProxy's command line.
    PcmkLinks(pcmk::links::Args),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HALO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Run under a Pacemaker tool's name (a link), halo is that tool; under the name
    // `haproxy`, it is HAProxy (its command line, running halo's load balancer).
    let mut argv = std::env::args_os();
    let argv0 = argv.next();
    if let Some(tool) = argv0.as_deref().and_then(pcmk::tool_name) {
        let args = argv.map(|a| a.to_string_lossy().into_owned()).collect();
        std::process::exit(pcmk::run(tool, args));
    }
    if argv0.as_deref().is_some_and(haproxy::is_haproxy_name) {
        std::process::exit(haproxy::main(argv.collect()));
    }
    let cli = {
        use clap::{CommandFactory, FromArgMatches};
        let matches = examples::attach(Cli::command(), "").get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    };
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::DemoWeb(args) => demo::web(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Resource(args) => resource::run(args),
        Command::Vip(args) => vip::run(args),
        Command::Daemon(args) => daemon::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Status(args) => status::run(args),
        Command::Config(args) => config::run(args),
        Command::Stonith(args) => stonith::run(args),
        Command::Constraint(args) => constraint::run(args),
        Command::Property(args) => property::run(args),
        Command::Node(args) => node::run(args),
        Command::User(args) => user::run(args),
        Command::Why(args) => status::why(args),
        Command::Man { dir } => man_pages(&dir),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            // Into a buffer first: the generator panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "halo", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Command::Lb(args) => lb::run(args),
        Command::PcmkLinks(args) => pcmk::links::run(args),
    };
    if let Err(e) = result {
        if e.is::<config::DryRunDone>() {
            return;
        }
        eprintln!("halo: {e:#}");
        std::process::exit(1);
    }
}

/// Every command's man page, generated from its clap definition, into `dir`.
fn man_pages(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    fn write(cmd: clap::Command, name: &str, dir: &std::path::Path) -> anyhow::Result<usize> {
        let cmd = cmd.name(name.to_string());
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        let mut n = 1;
        let shown = |s: &&clap::Command| !s.is_hide_set() && s.get_name() != "help";
        for sub in cmd.get_subcommands().filter(shown) {
            n += write(sub.clone(), &format!("{name}-{}", sub.get_name()), dir)?;
        }
        Ok(n)
    }
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let mut cli = examples::attach(Cli::command(), "");
    cli.build();
    let n = write(cli, "halo", dir)?;
    println!("{n} man pages written to {}", dir.display());
    Ok(())
}
