//! The reference deployment's database: Debian's MariaDB with Galera on three
//! controllers, run by Debian's `ocf:heartbeat:galera` agent, unchanged, as a promotable
//! clone of a live halo cluster. Each controller is a network namespace of the test kit
//! with its own private systemd (so its own `/run`, where the node's Galera files are
//! found at the same paths on every node, as the agent's parameters are the same for
//! every instance). The agent decides who bootstraps from the seqnos the nodes report
//! through `crm_attribute`, promotes through `crm_master`, and asks `crm_mon` whether a
//! promoted instance exists: halo answers all of it.
//!
//! Checked by what MariaDB says: every instance promoted, a three-node primary
//! component, a row written on one node read on the others; after a node's death the
//! others keep accepting writes, and the node comes back and catches up by itself.
//! Needs root (namespaces) and Debian's mariadb-server, galera-4, rsync and
//! resource-agents; skipped with the reason otherwise, a failure in CI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use halo_testkit::cluster::poll;
use halo_testkit::netns::{require_netns, Net};
use halo_testkit::systemd::{self, Systemd};

const NAMES: [&str; 3] = ["controller1", "controller2", "controller3"];
const GALERA: &str = "/usr/lib/ocf/resource.d/heartbeat/galera";
/// Galera's first start takes a while (a state transfer per joiner, by rsync).
const DEADLINE: Duration = Duration::from_secs(240);
/// Where each node's Galera files are, in its private /run (a link to its directory).
const RUN: &str = "/run/galera";
/// MariaDB's socket where Debian's client looks by default (the agent's checks give no
/// socket): also private to each host.
const SOCKET: &str = "/run/mysqld/mysqld.sock";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

struct Lab {
    /// Dropped first: MariaDB and the daemons die with their host's PID namespace.
    systemds: Vec<Systemd>,
    daemons: Vec<Option<Child>>,
    net: Net,
    root: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for d in self.daemons.iter_mut().flatten() {
            let _ = d.kill();
            let _ = d.wait();
        }
        self.systemds.clear();
        if std::env::var_os("HALO_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Lab {
    fn dir(&self, i: usize) -> PathBuf {
        self.root.join(NAMES[i])
    }

    fn ip(&self, i: usize) -> String {
        self.net.hosts()[i].ipv4().to_string()
    }

    fn halo(&self, i: usize, args: &[&str]) -> (bool, String) {
        let o = Command::new(bin())
            .args(args)
            .env("HALO_STATE_DIR", self.dir(i).join("halo"))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("halo: {e}"));
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    }

    /// `SQL` on node `i`'s MariaDB (through its socket); the rows, or None.
    fn sql(&self, i: usize, sql: &str) -> Option<String> {
        let o = self.systemds[i]
            .run("mariadb", &["--socket", SOCKET, "-N", "-B", "-e", sql])
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    /// Boot host `i` (a new private systemd, so a fresh /run; its files kept) and start
    /// its daemon.
    fn boot(&mut self, i: usize) {
        let sd = Systemd::boot_in(&self.net.hosts()[i]).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(self.dir(i), sd.root().join(RUN.trim_start_matches('/')))
            .unwrap_or_else(|e| panic!("{e}"));
        self.systemds.insert(i.min(self.systemds.len()), sd);
        self.start_daemon(i);
    }

    fn start_daemon(&mut self, i: usize) {
        let dir = self.dir(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("halo.log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = self.systemds[i]
            .command(bin())
            .args(["daemon", "--name", NAMES[i]])
            .args(["--listen", &format!("{}:7000", self.ip(i))])
            .arg("--state-dir")
            .arg(dir.join("halo"))
            .arg("--rsctmp")
            .arg(dir.join("rsctmp"))
            .arg("--run-dir")
            .arg(dir.join("run"))
            .args(["--watchdog", "none", "--api", "none"])
            .env("HALO_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        self.daemons[i] = Some(child);
        let sock = dir.join("halo/halo.sock");
        let up = poll(Duration::from_secs(30), || {
            std::os::unix::net::UnixStream::connect(&sock)
                .ok()
                .map(|_| ())
        });
        assert!(up.is_some(), "{} did not start\n{}", NAMES[i], self.logs());
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for (i, name) in NAMES.iter().enumerate() {
            let text = std::fs::read_to_string(self.dir(i).join("halo.log")).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("galera") || l.contains("ERROR"))
                .collect();
            let tail = &lines[lines.len().saturating_sub(12)..];
            let db = std::fs::read_to_string(self.dir(i).join("error.log")).unwrap_or_default();
            let db: Vec<&str> = db.lines().collect();
            out.push_str(&format!(
                "--- {name}\n{}\n--- {name} mariadb\n{}\n",
                tail.join("\n"),
                db[db.len().saturating_sub(8)..].join("\n")
            ));
        }
        out
    }

    /// The nodes where galera is promoted, by `halo status --json` (a clone's object
    /// has its instances' roles by node).
    fn promoted(&self) -> Vec<String> {
        let (_, out) = self.halo(0, &["status", "--json"]);
        let st: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let galera = st["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["id"] == "galera")
            .cloned()
            .unwrap_or_default();
        let mut nodes: Vec<String> = galera["roles"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, role)| *role == "promoted")
            .map(|(n, _)| n.clone())
            .collect();
        nodes.sort();
        nodes
    }
}

fn my_cnf(ip: &str, all: &[String]) -> String {
    format!(
        "[mysqld]\n\
         datadir={RUN}/data\n\
         socket={SOCKET}\n\
         pid-file={RUN}/mysqld.pid\n\
         log-error={RUN}/error.log\n\
         bind-address={ip}\n\
         port=3306\n\
         skip-name-resolve\n\
         binlog_format=ROW\n\
         default_storage_engine=InnoDB\n\
         innodb_autoinc_lock_mode=2\n\
         innodb_buffer_pool_size=32M\n\
         innodb_log_file_size=16M\n\
         wsrep_on=ON\n\
         wsrep_provider=/usr/lib/galera/libgalera_smm.so\n\
         wsrep_provider_options=\"gcache.size=32M\"\n\
         wsrep_cluster_name=halo-galera\n\
         wsrep_cluster_address=gcomm://{all}\n\
         wsrep_node_address={ip}\n\
         wsrep_sst_method=rsync\n\
         \n[client]\nsocket={SOCKET}\n",
        all = all.join(",")
    )
}

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn start_lab() -> Option<Lab> {
    if !require_netns()
        || !systemd::available()
        || !halo_testkit::installed(GALERA, "resource-agents")
        || !halo_testkit::installed("/usr/sbin/mariadbd", "mariadb-server")
        || !halo_testkit::installed("/usr/lib/galera/libgalera_smm.so", "galera-4")
        || !halo_testkit::installed("/usr/bin/rsync", "rsync")
    {
        return None;
    }
    let net = Net::new(&NAMES).unwrap_or_else(|e| panic!("{e}"));
    let root = std::env::temp_dir().join(format!("halo-galera-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("{e}"));
    let mut lab = Lab {
        systemds: Vec::new(),
        daemons: vec![None, None, None],
        net,
        root,
    };
    // MariaDB runs as mysql: it must reach its directory.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&lab.root, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let ips: Vec<String> = (0..3).map(|i| lab.ip(i)).collect();
    for i in 0..3 {
        let dir = lab.dir(i);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("my.cnf"), my_cnf(&ips[i], &ips)).unwrap_or_else(|e| panic!("{e}"));
        run(Command::new("chown").args(["mysql:mysql"]).arg(&dir));
        run(Command::new("mariadb-install-db")
            .args([
                "--user=mysql",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .stdout(Stdio::null()));
        lab.boot(i);
    }
    let (ok, out) = lab.halo(0, &["cluster", "init", "--name", "openstack"]);
    assert!(ok, "{out}");
    for (i, name) in NAMES.iter().enumerate().skip(1) {
        let (ok, token) = lab.halo(0, &["cluster", "token"]);
        assert!(ok, "{token}");
        let token_file = lab.root.join("token");
        std::fs::write(&token_file, token.trim()).unwrap_or_else(|e| panic!("{e}"));
        let (ok, out) = lab.halo(
            i,
            &[
                "cluster",
                "join",
                &format!("{}:7000", lab.ip(0)),
                "--token-file",
                &token_file.display().to_string(),
            ],
        );
        assert!(ok, "join {name}: {out}");
    }
    Some(lab)
}

#[test]
fn galera_runs_promoted_everywhere_and_survives_a_node() {
    let Some(mut lab) = start_lab() else {
        return;
    };
    let (ok, out) = lab.halo(0, &["property", "set", "stonith-enabled=false"]);
    assert!(ok, "{out}");
    let ips: Vec<String> = (0..3).map(|i| lab.ip(i)).collect();
    let map: Vec<String> = (0..3).map(|i| format!("{}:{}", NAMES[i], ips[i])).collect();
    let create = [
        "resource".to_string(),
        "create".into(),
        "galera".into(),
        "ocf:heartbeat:galera".into(),
        format!("wsrep_cluster_address=gcomm://{}", ips.join(",")),
        format!("cluster_host_map={}", map.join(";")),
        format!("config={RUN}/my.cnf"),
        format!("datadir={RUN}/data"),
        format!("socket={SOCKET}"),
        format!("pid={RUN}/mysqld.pid"),
        format!("log={RUN}/error.log"),
        "user=mysql".into(),
        "group=mysql".into(),
        "op".into(),
        "start".into(),
        "timeout=180s".into(),
        "op".into(),
        "promote".into(),
        "timeout=300s".into(),
        "op".into(),
        "monitor".into(),
        "interval=10s".into(),
        "timeout=30s".into(),
        "op".into(),
        "monitor".into(),
        "interval=8s".into(),
        "role=Promoted".into(),
        "timeout=30s".into(),
        "--promotable".into(),
        "promoted-max=3".into(),
    ];
    let args: Vec<&str> = create.iter().map(String::as_str).collect();
    let (ok, out) = lab.halo(0, &args);
    assert!(ok, "{out}");

    let all = poll(DEADLINE, || (lab.promoted().len() == 3).then_some(()));
    assert!(
        all.is_some(),
        "galera promoted on {:?} only\n{}",
        lab.promoted(),
        lab.logs()
    );
    for (i, name) in NAMES.iter().enumerate() {
        let size = lab.sql(i, "SHOW STATUS LIKE 'wsrep_cluster_size'");
        assert!(
            size.as_deref().is_some_and(|s| s.ends_with('3')),
            "{name}: {size:?}"
        );
    }
    let uuid = lab.sql(0, "SHOW STATUS LIKE 'wsrep_cluster_state_uuid'");
    assert!(lab
        .sql(0, "CREATE DATABASE t; CREATE TABLE t.kv (k INT PRIMARY KEY, v TEXT); INSERT INTO t.kv VALUES (1, 'written on controller1')")
        .is_some());
    for (i, name) in NAMES.iter().enumerate().skip(1) {
        let got = poll(Duration::from_secs(30), || {
            lab.sql(i, "SELECT v FROM t.kv WHERE k = 1")
                .filter(|v| !v.is_empty())
        });
        assert_eq!(got.as_deref(), Some("written on controller1"), "{name}");
    }

    // controller3 dies: every process of the host (halo, mysqld_safe, MariaDB) killed at
    // once with its PID namespace. The others keep a primary component and take writes.
    if let Some(mut d) = lab.daemons[2].take() {
        let _ = d.kill();
        let _ = d.wait();
    }
    drop(lab.systemds.remove(2));
    let two = poll(DEADLINE, || {
        let s = lab.sql(0, "SHOW STATUS LIKE 'wsrep_cluster_size'")?;
        s.ends_with('2').then_some(())
    });
    assert!(
        two.is_some(),
        "the survivors never formed a two-node primary\n{}",
        lab.logs()
    );
    assert!(lab
        .sql(
            1,
            "INSERT INTO t.kv VALUES (2, 'while controller3 was down')"
        )
        .is_some());

    // It comes back (a new boot: a new /run, its data directory kept): halo starts and
    // promotes it again, and it catches up by itself.
    lab.boot(2);
    let back = poll(DEADLINE, || (lab.promoted().len() == 3).then_some(()));
    assert!(
        back.is_some(),
        "controller3 never came back\n{}",
        lab.logs()
    );
    let caught_up = poll(Duration::from_secs(60), || {
        lab.sql(2, "SELECT v FROM t.kv WHERE k = 2")
            .filter(|v| !v.is_empty())
    });
    assert_eq!(
        caught_up.as_deref(),
        Some("while controller3 was down"),
        "{}",
        lab.logs()
    );
    assert_eq!(
        lab.sql(2, "SHOW STATUS LIKE 'wsrep_cluster_state_uuid'"),
        uuid,
        "the cluster's UUID changed: a new cluster was forked"
    );

    // A full outage: every controller dies at once, then all come back. halo brings the
    // database back by itself, from the node with the last commit, without anyone
    // touching grastate.dat, and the cluster is the same one (no forked UUID).
    assert!(lab
        .sql(0, "INSERT INTO t.kv VALUES (3, 'just before the outage')")
        .is_some());
    for i in 0..3 {
        if let Some(mut d) = lab.daemons[i].take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
    lab.systemds.clear();
    let back_at = std::time::Instant::now();
    for i in 0..3 {
        lab.boot(i);
    }
    let writable = poll(DEADLINE, || {
        lab.sql(0, "INSERT INTO t.kv VALUES (4, 'after the outage')")
            .map(|_| ())
    });
    assert!(
        writable.is_some(),
        "the database never came back\n{}",
        lab.logs()
    );
    eprintln!(
        "galera full outage: writes accepted again {} ms after the controllers came back",
        back_at.elapsed().as_millis()
    );
    assert_eq!(
        lab.sql(0, "SHOW STATUS LIKE 'wsrep_cluster_state_uuid'"),
        uuid,
        "a new cluster was forked after the outage"
    );
    assert_eq!(
        lab.sql(0, "SELECT v FROM t.kv WHERE k = 3").as_deref(),
        Some("just before the outage"),
        "a committed transaction was lost"
    );
    let all = poll(DEADLINE, || (lab.promoted().len() == 3).then_some(()));
    assert!(
        all.is_some(),
        "not every instance came back\n{}",
        lab.logs()
    );
}
