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
    /// Run the load balancer from a configuration (HAProxy language or native TOML).
    /// SIGHUP reloads it without dropping connections; SIGUSR1 stops gracefully;
    /// SIGTERM/SIGINT stop at once.
    Run {
        /// The configuration file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Stay in the foreground even if the configuration says `daemon` (HAProxy's -db).
        #[arg(long)]
        foreground: bool,
        /// Worker threads (default: `nbthread`, else one per CPU).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Ask a running `halo lb run` to reload its configuration (sends SIGHUP).
    Reload {
        /// Its configuration file (to find the `pidfile`).
        #[arg(short = 'f', long = "file", required_unless_present_any = ["pidfile", "pid"])]
        file: Option<PathBuf>,
        /// The pidfile to read the process id from.
        #[arg(short = 'p', long = "pidfile")]
        pidfile: Option<PathBuf>,
        /// The process id.
        #[arg(long)]
        pid: Option<i32>,
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
        LbCommand::Run {
            file,
            foreground,
            threads,
        } => run_engine(&file, foreground, threads),
        LbCommand::Reload { file, pidfile, pid } => {
            let pid = match (pid, pidfile, file) {
                (Some(p), _, _) => p,
                (None, Some(pf), _) => read_pid(&pf)?,
                (None, None, Some(f)) => {
                    let parsed = native::load(&f)?;
                    let pf = parsed.config.global.pidfile.clone().with_context(|| {
                        format!("{} has no `pidfile`; use --pid or --pidfile", f.display())
                    })?;
                    read_pid(&pf)?
                }
                (None, None, None) => anyhow::bail!("give -f FILE, --pidfile or --pid"),
            };
            // SAFETY: kill(2) with a pid and a signal number.
            if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
                anyhow::bail!(
                    "cannot signal process {pid}: {}",
                    std::io::Error::last_os_error()
                );
            }
            println!("reload requested from process {pid}");
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

fn read_pid(p: &std::path::Path) -> anyhow::Result<i32> {
    let t = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read pidfile {}", p.display()))?;
    t.trim()
        .parse()
        .with_context(|| format!("{} does not hold a process id", p.display()))
}

fn run_engine(
    file: &std::path::Path,
    foreground: bool,
    threads: Option<usize>,
) -> anyhow::Result<()> {
    use halo_lb::engine::{prebind, Engine, EngineOptions};
    use halo_lb::process;
    let parsed = native::load(file)?;
    for w in &parsed.warnings {
        eprintln!("warning: {w}");
    }
    let config = parsed.config;
    process::raise_nofile(&config.global);
    let pre = prebind(&config, &EngineOptions { threads })?;
    let cfg_file = process::ConfigFile::open(file)?;
    if config.global.daemon && !foreground {
        process::daemonize()?;
    }
    if let Some(p) = &config.global.pidfile {
        process::write_pidfile(p)?;
    }
    process::confine(&config.global)?;
    let engine = Engine::start_prebound(config, pre)?;
    let display = cfg_file.display.display().to_string();
    engine.set_loader(Box::new(move || {
        let text = cfg_file
            .read()
            .map_err(|e| format!("cannot read {display}: {e}"))?;
        native::parse_any(&text, &display)
            .map(|p| p.config)
            .map_err(|e| e.to_string())
    }));
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    let shared = engine.shared().clone();
    engine.handle().spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut hup), Ok(mut term), Ok(mut int), Ok(mut usr1)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::user_defined1()),
        ) else {
            let _ = tx.send(false);
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    let sh = shared.clone();
                    let r = tokio::task::spawn_blocking(move || halo_lb::engine::reload_shared(&sh)).await;
                    match r {
                        Ok(Ok(())) => eprintln!("halo lb: configuration reloaded"),
                        Ok(Err(e)) => eprintln!("halo lb: reload refused, still running the previous configuration: {e}"),
                        Err(e) => eprintln!("halo lb: reload failed: {e}"),
                    }
                }
                _ = term.recv() => { let _ = tx.send(false); return; }
                _ = int.recv() => { let _ = tx.send(false); return; }
                _ = usr1.recv() => { let _ = tx.send(true); return; }
            }
        }
    });
    eprintln!("halo lb: running ({} threads)", engine.shared().threads);
    let graceful = rx.recv().unwrap_or(false);
    engine.stop(if graceful {
        std::time::Duration::from_secs(3600)
    } else {
        std::time::Duration::ZERO
    });
    Ok(())
}
