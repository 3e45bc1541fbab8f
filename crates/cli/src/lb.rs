//! `halo lb`: the load balancer (HAProxy replacement) standalone.

use anyhow::Context;
use halo_lb::config::haproxy::{ConfigError, ConfigErrors, Parsed};
use halo_lb::config::{native, summary, Config};
use std::path::PathBuf;
use std::sync::Arc;

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
    /// SIGHUP (or SIGUSR2, as HAProxy's master) reloads it without dropping connections;
    /// SIGUSR1 stops gracefully; SIGTERM/SIGINT stop at once.
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
        } => run_engine(RunSpec {
            files: vec![file],
            foreground,
            daemon: false,
            threads,
            overrides: Arc::new(|_: &mut Config| {}),
            lifecycle: Arc::new(Plain),
        }),
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

/// How [`run_engine`] runs: what `halo lb run` and `haproxy ...` (`haproxy.rs`) decide
/// from their command lines.
pub(crate) struct RunSpec {
    /// The configuration files, read as one text in this order (HAProxy's several `-f`).
    pub files: Vec<PathBuf>,
    /// Never fork into the background, whatever the configuration says (`--foreground`,
    /// HAProxy's -d, -db, -Ws).
    pub foreground: bool,
    /// Fork into the background even without `daemon` in the configuration (HAProxy's -D).
    pub daemon: bool,
    /// Worker threads (default: `nbthread`, else one per CPU).
    pub threads: Option<usize>,
    /// Command-line settings laid over every configuration read, at start and at reload
    /// (HAProxy's -p, -n, -N, -dS).
    pub overrides: Arc<dyn Fn(&mut Config) + Send + Sync>,
    /// What to tell the outside world at each step.
    pub lifecycle: Arc<dyn Lifecycle>,
}

/// The steps of a running load balancer that a caller may report on (HAProxy's systemd
/// notifications, its `-sf`/`-st` signals to the old process, its message format).
pub(crate) trait Lifecycle: Send + Sync {
    /// The configuration was accepted with these warnings; an error refuses to start.
    fn warnings(&self, warnings: &[ConfigError]) -> anyhow::Result<()> {
        for w in warnings {
            eprintln!("warning: {w}");
        }
        Ok(())
    }
    /// The engine listens and serves (`shared`: to run runtime API commands on it).
    fn started(&self, _shared: &Arc<halo_lb::engine::Shared>) {}
    /// A reload was asked for (by a signal).
    fn reloading(&self) {}
    /// The reload ended: the new configuration runs (`Ok`), or the previous one still does.
    fn reloaded(&self, _result: &Result<(), String>) {}
    /// A stop was asked for; `graceful`: open sessions may finish.
    fn stopping(&self, _graceful: bool) {}
}

/// `halo lb run`'s lifecycle: warnings on stderr, nothing else to tell.
pub(crate) struct Plain;
impl Lifecycle for Plain {}

/// Parses configuration texts, given as (name, text) in order, as one configuration:
/// HAProxy reads several `-f` files as if they were one, in order. Errors and warnings
/// name the file and line they come from. A single text is parsed as is.
pub(crate) fn parse_files(files: &[(String, String)]) -> Result<Parsed, ConfigErrors> {
    if let [(name, text)] = files {
        return native::parse_any(text, name);
    }
    let joined_name = files
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let mut joined = String::new();
    // (file name, number of the joined text's line before the file's first line)
    let mut starts = Vec::with_capacity(files.len());
    let mut lines = 0usize;
    for (name, text) in files {
        starts.push((name.as_str(), lines));
        joined.push_str(text);
        if !text.is_empty() && !text.ends_with('\n') {
            joined.push('\n');
        }
        lines += text.lines().count();
    }
    let place = |e: &mut ConfigError| {
        let Some(n) = e
            .place
            .strip_prefix(joined_name.as_str())
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|r| r.parse::<usize>().ok())
        else {
            return;
        };
        if let Some((name, before)) = starts.iter().rev().find(|(_, before)| *before < n) {
            e.place = format!("{name}:{}", n - before);
        }
    };
    match native::parse_any(&joined, &joined_name) {
        Ok(mut parsed) => {
            parsed.warnings.iter_mut().for_each(place);
            Ok(parsed)
        }
        Err(ConfigErrors(mut errors)) => {
            errors.iter_mut().for_each(place);
            Err(ConfigErrors(errors))
        }
    }
}

/// Reads and parses `files` as one configuration (see [`parse_files`]). Errors: a file
/// that cannot be read (`HALO-E101`), or the configuration's [`ConfigErrors`] as they
/// are (callers may downcast to list them one by one).
pub(crate) fn load_files(files: &[PathBuf]) -> anyhow::Result<Parsed> {
    let mut texts = Vec::with_capacity(files.len());
    for f in files {
        let bytes = std::fs::read(f).map_err(|source| native::LoadError::Read {
            path: f.display().to_string(),
            source,
        })?;
        texts.push((
            f.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    Ok(parse_files(&texts)?)
}

/// Runs the load balancer until a signal stops it: binds every listener (before
/// dropping privileges), forks into the background if asked, writes the pidfile,
/// chroots and changes user, serves; SIGHUP and SIGUSR2 reload the files, SIGUSR1 stops
/// once the open sessions end (bounded by an hour), SIGTERM and SIGINT stop at once.
pub(crate) fn run_engine(spec: RunSpec) -> anyhow::Result<()> {
    use halo_lb::engine::{prebind, Engine, EngineOptions};
    use halo_lb::process;
    let RunSpec {
        files,
        foreground,
        daemon,
        threads,
        overrides,
        lifecycle,
    } = spec;
    let parsed = load_files(&files)?;
    lifecycle.warnings(&parsed.warnings)?;
    let mut config = parsed.config;
    overrides(&mut config);
    process::raise_nofile(&config.global);
    let pre = prebind(&config, &EngineOptions { threads })?;
    // Handles that still read the files after chroot.
    let handles = files
        .iter()
        .map(|f| process::ConfigFile::open(f))
        .collect::<Result<Vec<_>, _>>()?;
    if (config.global.daemon || daemon) && !foreground {
        process::daemonize()?;
    }
    if let Some(p) = &config.global.pidfile {
        process::write_pidfile(p)?;
    }
    process::confine(&config.global)?;
    let engine = Engine::start_prebound(config, pre)?;
    engine.set_loader(Box::new(move || {
        let mut texts = Vec::with_capacity(handles.len());
        for h in &handles {
            let display = h.display.display().to_string();
            let text = h
                .read()
                .map_err(|e| format!("cannot read {display}: {e}"))?;
            texts.push((display, text));
        }
        let mut config = parse_files(&texts).map_err(|e| e.to_string())?.config;
        overrides(&mut config);
        Ok(config)
    }));
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    let shared = engine.shared().clone();
    let events = lifecycle.clone();
    engine.handle().spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut hup), Ok(mut usr2), Ok(mut term), Ok(mut int), Ok(mut usr1)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::user_defined2()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::user_defined1()),
        ) else {
            eprintln!("halo lb: cannot install the signal handlers; stopping");
            let _ = tx.send(false);
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {}
                _ = usr2.recv() => {}
                _ = term.recv() => { let _ = tx.send(false); return; }
                _ = int.recv() => { let _ = tx.send(false); return; }
                _ = usr1.recv() => { let _ = tx.send(true); return; }
            }
            // SIGHUP or SIGUSR2: reload.
            events.reloading();
            let sh = shared.clone();
            let r = tokio::task::spawn_blocking(move || halo_lb::engine::reload_shared(&sh)).await;
            let result = match r {
                Ok(Ok(())) => {
                    eprintln!("halo lb: configuration reloaded");
                    Ok(())
                }
                Ok(Err(e)) => {
                    eprintln!(
                        "halo lb: reload refused, still running the previous configuration: {e}"
                    );
                    Err(e.to_string())
                }
                Err(e) => {
                    eprintln!(
                        "halo lb: reload failed, still running the previous configuration: {e}"
                    );
                    Err(e.to_string())
                }
            };
            events.reloaded(&result);
        }
    });
    eprintln!("halo lb: running ({} threads)", engine.shared().threads);
    lifecycle.started(engine.shared());
    let graceful = rx.recv().unwrap_or(false);
    lifecycle.stopping(graceful);
    engine.stop(if graceful {
        std::time::Duration::from_secs(3600)
    } else {
        std::time::Duration::ZERO
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several files read as one still name the file and line of each error.
    #[test]
    fn joined_files_name_each_error_by_file_and_line() {
        let files = vec![
            (
                "a.cfg".to_string(),
                "global\n  maxconn 100\n# no newline at the end".to_string(),
            ),
            (
                "b.cfg".to_string(),
                "listen x\n  bind 127.0.0.1:1\n  bogus 1\n  server s 127.0.0.1:2\n".to_string(),
            ),
        ];
        let errors = match parse_files(&files) {
            Err(ConfigErrors(e)) => e,
            Ok(_) => panic!("bogus accepted"),
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].place, "b.cfg:3");
        let mut fixed = files.clone();
        fixed[1].1 = fixed[1].1.replace("  bogus 1\n", "");
        let parsed = parse_files(&fixed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.config.global.maxconn, 100);
        assert_eq!(parsed.config.frontends.len(), 1);
    }
}
