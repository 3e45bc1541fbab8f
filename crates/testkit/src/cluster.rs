//! Real `halo daemon` processes on 127.0.0.1, each with its own port and state directory,
//! which tests start, stop (SIGTERM), kill (SIGKILL) and restart, and drive through the real
//! `halo` CLI.
//!
//! Liveness is checked by polling with generous deadlines ([`poll`]); nothing here measures
//! speed.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Generous deadline for anything a test waits for (elections, joins, catch-up).
pub const DEADLINE: Duration = Duration::from_secs(30);

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Poll `f` until it returns `Some`, or give up after `deadline`.
pub fn poll<T>(deadline: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free TCP port on 127.0.0.1 (bound then released), never one this process was
/// given before: daemons are given their ports before they start, so the kernel may
/// hand a port out again until its first owner binds it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let Ok(mut given) = GIVEN.lock() else {
            return port;
        };
        if port != 0 && !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    0
}

/// One daemon of a test cluster.
pub struct Daemon {
    pub name: String,
    pub dir: PathBuf,
    pub addr: String,
    pub witness: bool,
    /// Further arguments of `halo daemon` (e.g. `--watchdog PATH`).
    pub extra_args: Vec<String>,
    /// A command the daemon runs under (e.g. `nsenter` into a private systemd's
    /// namespaces); signals then go to that command, not to the daemon.
    pub prefix: Vec<String>,
    child: Option<Child>,
}

impl Daemon {
    pub fn log_path(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// This node's `HA_RSCTMP` (where OCF agents such as Dummy keep their state files):
    /// one per daemon, since the daemons share a machine.
    pub fn rsctmp(&self) -> PathBuf {
        self.dir.with_extension("rsctmp")
    }
}

/// A set of daemons under one temporary directory, removed (and every process killed) on drop.
pub struct Cluster {
    pub root: PathBuf,
    pub bin: PathBuf,
    pub daemons: Vec<Daemon>,
}

/// What running a `halo` command produced.
#[derive(Debug, Clone)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Run `cmd` with `input` on its standard input; what it printed.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
        .into()
}

impl Cluster {
    /// A new empty cluster using the `halo` binary at `bin`.
    pub fn new(bin: &Path, label: &str) -> Cluster {
        let root = std::env::temp_dir().join(format!(
            "halo-test-{label}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::create_dir_all(&root);
        Cluster {
            root,
            bin: bin.to_path_buf(),
            daemons: vec![],
        }
    }

    /// A cluster of daemons named `names`, started, formed through the first one, and
    /// quorate on every node.
    pub fn formed(bin: &Path, label: &str, names: &[&str]) -> Cluster {
        let mut c = Cluster::new(bin, label);
        for n in names {
            let i = c.add(n, false);
            c.start(i);
        }
        let others: Vec<usize> = (1..names.len()).collect();
        c.form(0, &others);
        for i in 0..names.len() {
            c.wait_quorate(i);
        }
        c
    }

    /// Add a daemon (not started). Returns its index.
    pub fn add(&mut self, name: &str, witness: bool) -> usize {
        let port = free_port();
        self.daemons.push(Daemon {
            name: name.to_string(),
            dir: self.root.join(name),
            addr: format!("127.0.0.1:{port}"),
            witness,
            extra_args: Vec::new(),
            prefix: Vec::new(),
            child: None,
        });
        self.daemons.len() - 1
    }

    pub fn index(&self, name: &str) -> usize {
        self.daemons
            .iter()
            .position(|d| d.name == name)
            .unwrap_or_else(|| panic!("no daemon named {name}"))
    }

    /// Start (or restart) daemon `i` and wait until its control socket answers.
    pub fn start(&mut self, i: usize) {
        let d = &mut self.daemons[i];
        assert!(d.child.is_none(), "{} is already running", d.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.log_path())
            .unwrap_or_else(|e| panic!("log file for {}: {e}", d.name));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let mut cmd = match d.prefix.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("daemon")
            .args(["--name", &d.name, "--listen", &d.addr])
            .arg("--state-dir")
            .arg(&d.dir)
            .arg("--rsctmp")
            .arg(d.rsctmp())
            .arg("--run-dir")
            .arg(d.dir.with_extension("run"))
            .env(
                "HALO_LOG",
                std::env::var("HALO_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        if d.witness {
            cmd.arg("--witness");
        }
        // Daemons sharing a host share its port 2224: no remote API unless asked for.
        if !d.extra_args.iter().any(|a| a == "--api") {
            cmd.args(["--api", "none"]);
        }
        cmd.args(&d.extra_args);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        d.child = Some(child);
        let sock = d.dir.join("halo.sock");
        let name = d.name.clone();
        let up = poll(DEADLINE, || {
            std::os::unix::net::UnixStream::connect(&sock)
                .ok()
                .map(|_| ())
        });
        assert!(
            up.is_some(),
            "daemon {name} did not open its control socket\n{}",
            self.logs()
        );
    }

    fn signal(&mut self, i: usize, sig: i32) {
        let d = &mut self.daemons[i];
        if let Some(mut c) = d.child.take() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
            let _ = c.wait();
        }
    }

    /// Stop daemon `i` gracefully (SIGTERM) and wait for it to exit.
    pub fn stop(&mut self, i: usize) {
        self.signal(i, libc::SIGTERM);
    }

    /// Kill daemon `i` (SIGKILL) and reap it.
    pub fn kill(&mut self, i: usize) {
        self.signal(i, libc::SIGKILL);
    }

    /// Freeze daemon `i` (SIGSTOP): a hung node.
    pub fn pause(&self, i: usize) {
        self.send(i, libc::SIGSTOP);
    }

    /// Let a frozen daemon `i` go on (SIGCONT).
    pub fn resume(&self, i: usize) {
        self.send(i, libc::SIGCONT);
    }

    fn send(&self, i: usize, sig: i32) {
        if let Some(pid) = self.daemons[i].pid() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe {
                libc::kill(pid as i32, sig);
            }
        }
    }

    /// Whether daemon `i` runs.
    pub fn is_running(&mut self, i: usize) -> bool {
        self.daemons[i].is_running()
    }

    /// Run `halo ARGS --state-dir DIR(i)`.
    pub fn halo(&self, i: usize, args: &[&str]) -> Run {
        let out = Command::new(&self.bin)
            .args(args)
            .env("HALO_STATE_DIR", &self.daemons[i].dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run halo: {e}"));
        out.into()
    }

    /// Run `halo ARGS --state-dir DIR(i)` with `input` on its standard input.
    pub fn halo_stdin(&self, i: usize, args: &[&str], input: &str) -> Run {
        run_with_stdin(
            Command::new(&self.bin)
                .args(args)
                .env("HALO_STATE_DIR", &self.daemons[i].dir),
            input,
        )
    }

    /// `halo status --json` of daemon `i`, parsed (None when the command fails).
    pub fn status(&self, i: usize) -> Option<Value> {
        let r = self.halo(i, &["status", "--json"]);
        if !r.ok {
            return None;
        }
        serde_json::from_str(&r.stdout).ok()
    }

    /// Create the cluster on daemon `first` and join every daemon in `others` to it.
    pub fn form(&mut self, first: usize, others: &[usize]) {
        let r = self.halo(first, &["cluster", "init", "--name", "test"]);
        assert!(r.ok, "init failed: {}\n{}", r.stderr, self.logs());
        for &o in others {
            self.join(o, first);
        }
    }

    /// Join daemon `i` through daemon `via` with a fresh token (passed in a file, as
    /// an operator should).
    pub fn join(&self, i: usize, via: usize) {
        let token = self.halo(via, &["cluster", "token"]);
        assert!(token.ok, "token failed: {}", token.stderr);
        let file = self.root.join(format!("{}.token", self.daemons[i].name));
        std::fs::write(&file, token.stdout.trim())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let r = self.halo(
            i,
            &[
                "cluster",
                "join",
                &self.daemons[via].addr,
                "--token-file",
                &file.display().to_string(),
            ],
        );
        assert!(
            r.ok,
            "join of {} failed: {}\n{}",
            self.daemons[i].name,
            r.stderr,
            self.logs()
        );
    }

    /// Wait until daemon `i` reports a quorate cluster with a DC; returns its status.
    pub fn wait_quorate(&self, i: usize) -> Value {
        poll(DEADLINE, || {
            self.status(i)
                .filter(|s| s["quorate"] == Value::Bool(true) && s["dc"].is_string())
        })
        .unwrap_or_else(|| {
            panic!(
                "{} never became quorate\n{}",
                self.daemons[i].name,
                self.logs()
            )
        })
    }

    /// Configuration history of daemon `i` as (epoch, summary) pairs.
    pub fn history(&self, i: usize) -> Option<Vec<(u64, String)>> {
        let r = self.halo(i, &["cluster", "history", "--json", "--limit", "1000"]);
        if !r.ok {
            return None;
        }
        let v: Value = serde_json::from_str(&r.stdout).ok()?;
        Some(
            v.as_array()?
                .iter()
                .map(|e| {
                    (
                        e["epoch"].as_u64().unwrap_or(0),
                        e["summary"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect(),
        )
    }

    /// The tail of every daemon's log, for assertion messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for d in &self.daemons {
            let mut text = String::new();
            if let Ok(mut f) = std::fs::File::open(d.log_path()) {
                let _ = f.read_to_string(&mut text);
            }
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out.push_str(&format!(
                "--- {} ({})\n{}\n",
                d.name,
                d.addr,
                tail.join("\n")
            ));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.daemons.len() {
            self.kill(i);
        }
        if std::env::var_os("HALO_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Node-to-node probes with chosen credentials, for security tests.
pub mod probe {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use halo_consensus::net::{self, Net, PeerRequest, PeerResponse, PeerView};
    use halo_consensus::pki::Identity;
    use halo_consensus::transport::TcpTransport;
    use halo_consensus::types::Member;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Send a ping to `addr` (node `name`), trusting the CA in `trust_dir` and presenting the
    /// node certificate of `cert_dir`. Ok(peer's name) when it answered.
    pub fn ping_with_cert(
        trust_dir: &Path,
        cert_dir: &Path,
        name: &str,
        addr: &str,
    ) -> Result<String, String> {
        let identity = Identity {
            name: "probe".into(),
            ca_cert_pem: read(&trust_dir.join("tls/ca.pem")),
            cert_pem: read(&cert_dir.join("tls/node.pem")),
            key_pem: read(&cert_dir.join("tls/node.key")),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let net = Net::new(Arc::new(TcpTransport), &identity).map_err(|e| e.to_string())?;
            let member = Member {
                name: name.into(),
                addr: addr.into(),
                witness: false,
            };
            // A ping speaks for the node its certificate names.
            let own = halo_consensus::pki::cert_der(&identity.cert_pem)
                .ok()
                .and_then(|d| halo_consensus::pki::cert_common_name(d.as_ref()))
                .unwrap_or_default();
            let view = PeerView {
                name: own,
                ..Default::default()
            };
            match net
                .call(&member, &PeerRequest::Ping(view), Duration::from_secs(5))
                .await
            {
                Ok(PeerResponse::Pong(v)) => Ok(v.name),
                Ok(other) => Err(format!("unexpected reply {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// Send a ping without any client certificate (verifying the peer by CA fingerprint).
    pub fn ping_anonymous(ca_fingerprint: &str, addr: &str) -> Result<String, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let view = PeerView::default();
            match net::send_anonymous(
                &TcpTransport,
                addr,
                ca_fingerprint,
                &PeerRequest::Ping(view),
                Duration::from_secs(5),
            )
            .await
            {
                Ok(PeerResponse::Pong(v)) => Ok(v.name),
                Ok(other) => Err(format!("unexpected reply {other:?}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// SHA-256 fingerprint of the CA in a state directory.
    pub fn ca_fingerprint(dir: &Path) -> String {
        halo_consensus::pki::fingerprint_pem(&read(&dir.join("tls/ca.pem"))).unwrap_or_default()
    }
}
