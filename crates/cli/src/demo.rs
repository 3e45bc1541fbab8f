//! `halo demo`: a small cluster on this machine, without root, to try halo on: N daemons
//! on 127.0.0.1 (each node's state in DIR/nodeN), formed into one cluster and given a
//! small real configuration — a clone of web servers (`halo:process` running halo's
//! own `demo-web`), a singleton that prefers node1, an order and a colocation. It stays
//! in the foreground; Ctrl-C (or SIGTERM) stops every daemon (each moves or stops its
//! resources) and removes what the demo created.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Arguments of `halo demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Where the nodes keep their state (node N's in DIR/nodeN). Default: a new
    /// temporary directory. What the demo creates there is removed when it ends.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How many nodes to run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub nodes: u8,
}

/// Arguments of `halo demo-web` (the demo's web server, run by `halo:process`).
#[derive(clap::Args)]
pub struct WebArgs {
    /// NODE=PORT,...: the port each node's server listens on (on 127.0.0.1).
    #[arg(long)]
    pub ports: String,
    /// The node this server runs on (halo:process sets HALO_NODE).
    #[arg(long, env = "HALO_NODE")]
    pub node: String,
    /// The demo's directory (names the processes, so the demo can find them).
    #[arg(long)]
    pub dir: PathBuf,
}

/// How long the daemons get to stop cleanly before they are killed.
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// Everything the demo started and created; dropping it stops and removes all of it.
struct Demo {
    dir: PathBuf,
    /// Whether the demo created `dir` (then it removes it whole).
    created_dir: bool,
    daemons: Vec<(String, Child)>,
}

impl Demo {
    fn node_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Run `halo ARGS` against node `name`'s daemon; its output on failure.
    fn halo(&self, name: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(std::env::current_exe().context("finding the halo binary")?)
            .args(args)
            .env("HALO_STATE_DIR", self.node_dir(name))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running halo {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "halo {} (on {name}) failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn start_daemon(&mut self, name: &str, addr: SocketAddr) -> anyhow::Result<()> {
        let dir = self.node_dir(name);
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))
            .with_context(|| format!("creating {name}'s log in {}", self.dir.display()))?;
        let child = Command::new(std::env::current_exe().context("finding the halo binary")?)
            .args(["daemon", "--name", name, "--listen", &addr.to_string()])
            .arg("--state-dir")
            .arg(&dir)
            .arg("--rsctmp")
            .arg(dir.with_extension("rsctmp"))
            .arg("--run-dir")
            .arg(dir.with_extension("run"))
            .args(["--watchdog", "none"])
            // Three daemons on one host cannot all have port 2224: the demo is local.
            .args(["--api", "none"])
            .env("HALO_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a halo daemon")?;
        std::fs::write(
            self.dir.join(format!("{name}.pid")),
            format!("{}\n", child.id()),
        )?;
        self.daemons.push((name.to_string(), child));
        let sock = dir.join("halo.sock");
        let end = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            if Instant::now() > end {
                bail!(
                    "{name}'s daemon did not start: see {}",
                    self.dir.join(format!("{name}.log")).display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SIGTERM: each daemon shuts down cleanly, stopping what runs on it.
        for (_, child) in &self.daemons {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) on our own child's pid; no memory involved.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
        let end = Instant::now() + STOP_LIMIT;
        for (name, child) in &mut self.daemons {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > end => {
                        eprintln!("halo demo: {name} did not stop in time: killed");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        // Web servers a killed daemon could not stop.
        kill_demo_web(&self.dir);
        let removed = if self.created_dir {
            std::fs::remove_dir_all(&self.dir)
        } else {
            self.daemons
                .iter()
                .flat_map(|(name, _)| {
                    let d = self.node_dir(name);
                    [
                        d.with_extension("rsctmp"),
                        d.with_extension("run"),
                        self.dir.join(format!("{name}.log")),
                        self.dir.join(format!("{name}.pid")),
                        d,
                    ]
                })
                .chain([self.dir.join("demo.toml")])
                .try_for_each(|p| remove(&p))
        };
        match removed {
            Ok(()) => eprintln!("halo demo: stopped, {} cleaned up", self.dir.display()),
            Err(e) => eprintln!("halo demo: cleaning up {}: {e}", self.dir.display()),
        }
    }
}

/// Remove a file or a directory tree; one that is not there is fine.
fn remove(p: &Path) -> std::io::Result<()> {
    let r = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// SIGKILL every `halo demo-web` process of the demo in `dir`.
fn kill_demo_web(dir: &Path) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let dir = dir.display().to_string();
    for pid in entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let args = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = args.split(|b| *b == 0).collect();
            args.contains(&b"demo-web".as_slice())
                && args.windows(2).any(|w| w == [b"--dir", dir.as_bytes()])
        })
    {
        // SAFETY: kill(2); no memory involved.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// A port on 127.0.0.1 that nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The demo's configuration: a clone of web servers, a singleton that prefers node1 and
/// runs where a web server runs, after it.
fn config(halo: &Path, dir: &Path, ports: &[(String, u16)]) -> String {
    let ports = ports
        .iter()
        .map(|(n, p)| format!("{n}={p}"))
        .collect::<Vec<_>>()
        .join(",");
    let command = format!(
        "exec '{}' demo-web --ports {ports} --dir '{}'",
        halo.display(),
        dir.display()
    );
    format!(
        r#"version = 1

[cluster]
name = "demo"

[resource-defaults]
resource-stickiness = 100

[[clone]]
id = "web-clone"
[clone.resource]
id = "web"
agent = "halo:process"
params = {{ command = {command:?} }}
op = [ {{ name = "monitor", interval = "5s" }} ]

[[resource]]
id = "singleton"
agent = "halo:dummy"
op = [ {{ name = "monitor", interval = "5s" }} ]

[[location]]
id = "singleton-prefers-node1"
resource = "singleton"
node = "node1"
score = 50

[[order]]
id = "web-then-singleton"
first = "web-clone"
then = "singleton"

[[colocation]]
id = "singleton-with-web"
resource = "singleton"
with = "web-clone"
score = "INFINITY"
"#
    )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (dir, created_dir) = match args.state_dir {
        Some(d) => {
            let existed = d.exists();
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            (std::path::absolute(&d)?, !existed)
        }
        None => {
            let d = std::env::temp_dir().join(format!("halo-demo-{}", std::process::id()));
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            (d, true)
        }
    };
    let names: Vec<String> = (1..=args.nodes).map(|i| format!("node{i}")).collect();
    for n in &names {
        if dir.join(n).exists() {
            bail!(
                "{} already holds a node's state: give the demo an empty directory",
                dir.join(n).display()
            );
        }
    }
    let mut demo = Demo {
        dir: dir.clone(),
        created_dir,
        daemons: Vec::new(),
    };
    let stop = stop_signal()?;

    eprintln!(
        "halo demo: starting {} daemons in {}",
        names.len(),
        dir.display()
    );
    let mut addrs = Vec::new();
    for n in &names {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        demo.start_daemon(n, addr)?;
        addrs.push(addr);
    }
    demo.halo(&names[0], &["cluster", "init", "--name", "demo"])?;
    for (n, _) in names.iter().zip(&addrs).skip(1) {
        // The token goes through a file, not the command line other users can read.
        let token = demo.halo(&names[0], &["cluster", "token"])?;
        let token_file = dir.join(format!("{n}.token"));
        std::fs::write(&token_file, token.trim())
            .with_context(|| format!("writing {}", token_file.display()))?;
        let joined = demo.halo(
            n,
            &[
                "cluster",
                "join",
                &addrs[0].to_string(),
                "--token-file",
                &token_file.display().to_string(),
            ],
        );
        let _ = std::fs::remove_file(&token_file);
        joined?;
    }
    let ports = names
        .iter()
        .map(|n| Ok((n.clone(), free_port()?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file = dir.join("demo.toml");
    let halo = std::env::current_exe().context("finding the halo binary")?;
    std::fs::write(&file, config(&halo, &dir, &ports))
        .with_context(|| format!("writing {}", file.display()))?;
    demo.halo(&names[0], &["config", "apply", &file.display().to_string()])?;

    let node1 = dir.join(&names[0]);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "halo demo: {} nodes on 127.0.0.1, configured from {}",
        names.len(),
        file.display()
    )?;
    writeln!(out, "Point halo at node1 (in another terminal):")?;
    writeln!(out)?;
    writeln!(out, "export HALO_STATE_DIR={}", node1.display())?;
    writeln!(out)?;
    writeln!(out, "Then try:")?;
    writeln!(
        out,
        "  halo status                    the nodes, the resources and where they run"
    )?;
    for hint in [
        "  halo resource move singleton node2     move it (halo resource clear singleton: back)",
        "  halo node standby node3                drain a node (halo node unstandby node3)",
        "  halo resource create more Dummy --clone   add a resource, pcs-style",
        "  halo config show               the configuration (edit it, then halo config apply FILE)",
    ] {
        writeln!(out, "{hint}")?;
    }
    for (n, p) in &ports {
        writeln!(out, "  curl http://127.0.0.1:{p}/      {n}'s web server")?;
    }
    writeln!(
        out,
        "  kill $(cat {})      kill node1's daemon: watch the singleton move",
        dir.join("node1.pid").display()
    )?;
    writeln!(
        out,
        "Logs: {}/NODE.log. Ctrl-C stops everything and cleans up.",
        dir.display()
    )?;
    drop(out);
    stop.recv().ok();
    eprintln!("halo demo: stopping (each node stops its resources first)");
    drop(demo);
    Ok(())
}

/// A channel that receives once on SIGINT or SIGTERM.
fn stop_signal() -> anyhow::Result<std::sync::mpsc::Receiver<()>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    std::thread::spawn(move || {
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            let _ = tx.send(());
        });
    });
    Ok(rx)
}

/// `halo demo-web`: answer every HTTP request with the node's name, on its port.
pub fn web(args: WebArgs) -> anyhow::Result<()> {
    let port = args
        .ports
        .split(',')
        .find_map(|kv| {
            let (n, p) = kv.split_once('=')?;
            (n == args.node).then(|| p.parse::<u16>().ok()).flatten()
        })
        .with_context(|| format!("--ports {} names no port for {}", args.ports, args.node))?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    let body = format!("hello from {}\n", args.node);
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        // Read the request head (it is not looked at), then answer and close.
        let mut buf = [0u8; 4096];
        let _ = std::io::Read::read(&mut conn, &mut buf);
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    Ok(())
}
