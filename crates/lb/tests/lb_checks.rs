//! Health checks against the real services: MariaDB (with Galera), Redis, RabbitMQ, and
//! HTTP checks with `http-check expect`.

mod common;
use common::*;
use halo_lb::engine::Engine;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Proc {
    child: Child,
    dir: PathBuf,
}

impl Proc {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("halo-lb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn sql(dir: &Path, q: &str) -> bool {
    Command::new("mariadb")
        .arg(format!("--socket={}/sock", dir.display()))
        .args(["-uroot", "-e", q])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A MariaDB server in a temporary data directory on a loopback port, as a one-node
/// Galera cluster when the Galera library is installed.
fn mariadb(port: u16, galera: bool) -> Option<Proc> {
    let (Some(mariadbd), Some(_)) = (which("mariadbd"), which("mariadb-install-db")) else {
        skip("mariadb-server is not installed (apt-get install mariadb-server)");
        return None;
    };
    if !is_root() {
        skip("starting a MariaDB test instance needs root here");
        return None;
    }
    let dir = tmpdir(&format!("mariadb-{port}"));
    let ok = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ])
        .arg(format!("--datadir={}/data", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "mariadb-install-db failed");
    let mut cmd = Command::new(mariadbd);
    cmd.args([
        "--no-defaults",
        "--user=root",
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
    ])
    .arg(format!("--datadir={}/data", dir.display()))
    .arg(format!("--socket={}/sock", dir.display()))
    .arg(format!("--pid-file={}/pid", dir.display()))
    .arg(format!("--log-error={}/err.log", dir.display()))
    .arg(format!("--port={port}"));
    if galera {
        let (g1, g2, g3) = (free_port(), free_port(), free_port());
        cmd.args([
            "--wsrep-on=ON",
            "--wsrep-provider=/usr/lib/galera/libgalera_smm.so",
            "--wsrep-cluster-address=gcomm://",
            "--binlog-format=ROW",
            "--innodb-autoinc-lock-mode=2",
            "--wsrep-node-address=127.0.0.1",
        ])
        .arg(format!("--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{g1};ist.recv_addr=127.0.0.1:{g2}"))
        .arg(format!("--wsrep-sst-receive-address=127.0.0.1:{g3}"));
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd starts");
    let p = Proc {
        child,
        dir: dir.clone(),
    };
    assert!(
        wait_until(Duration::from_secs(60), || sql(&dir, "SELECT 1")),
        "MariaDB did not start: see {}/err.log",
        dir.display()
    );
    assert!(sql(&dir, "CREATE USER 'haproxy'@'127.0.0.1'; CREATE USER 'monitor'@'127.0.0.1' IDENTIFIED BY 'secret'"));
    Some(p)
}

fn check_status(e: &Engine, b: &str) -> (String, String, String) {
    let rows = halo_lb::engine::stats::snapshot(e.shared());
    let r = rows
        .iter()
        .find(|r| r.pxname == b && r.svname == "db")
        .expect("row");
    (
        r.status.clone(),
        r.check_status.clone(),
        r.check_detail.clone(),
    )
}

/// Every server of backend `b`: status, check status, check detail.
fn check_all(e: &Engine, b: &str) -> std::collections::HashMap<String, (String, String, String)> {
    halo_lb::engine::stats::snapshot(e.shared())
        .into_iter()
        .filter(|r| r.pxname == b && r.svname != "FRONTEND" && r.svname != "BACKEND")
        .map(|r| {
            (
                r.svname.clone(),
                (
                    r.status.clone(),
                    r.check_status.clone(),
                    r.check_detail.clone(),
                ),
            )
        })
        .collect()
}

/// `option mysql-check user U` logs in to a real MariaDB; the Galera check passes only
/// while the node is Synced: a desynced node (what xinetd's clustercheck missed) and a
/// wrong password fail, a stopped server fails both.
#[test]
fn lb_mysql_and_galera_checks_against_real_mariadb() {
    let galera = std::path::Path::new("/usr/lib/galera/libgalera_smm.so").exists();
    if !galera {
        skip("galera-4 is not installed (apt-get install galera-4)");
        return;
    }
    let port = free_port();
    let Some(mut db) = mariadb(port, true) else {
        return;
    };
    let (p1, p2, p3, p4) = (free_port(), free_port(), free_port(), free_port());
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout check 2s\n\
         listen plain\n bind 127.0.0.1:{p1}\n option mysql-check\n server db 127.0.0.1:{port} check inter 200 rise 1 fall 1\n\
         listen login\n bind 127.0.0.1:{p2}\n option mysql-check user haproxy\n server db 127.0.0.1:{port} check inter 200 rise 1 fall 1\n\
         listen galera\n bind 127.0.0.1:{p3}\n option galera-check user monitor password secret\n server db 127.0.0.1:{port} check inter 200 rise 1 fall 1\n\
         listen badpw\n bind 127.0.0.1:{p4}\n option galera-check user monitor password wrong\n server db 127.0.0.1:{port} check inter 200 rise 1 fall 1\n"
    );
    let e = start_engine(&cfg);
    let all_up = || {
        ["plain", "login", "galera"]
            .iter()
            .all(|b| check_status(&e, b).0 == "UP" && check_status(&e, b).1 == "L7OK")
    };
    assert!(
        wait_until(Duration::from_secs(10), all_up),
        "{:?}",
        ["plain", "login", "galera"].map(|b| check_status(&e, b))
    );
    assert_eq!(check_status(&e, "galera").1, "L7OK");
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "badpw"
    )
    .0 == "DOWN"));
    assert!(
        check_status(&e, "badpw").2.contains("Access denied"),
        "{:?}",
        check_status(&e, "badpw")
    );
    // The node stays up as a MySQL server but leaves the Synced state.
    assert!(sql(&db.dir, "SET GLOBAL wsrep_desync=ON"));
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "galera"
    )
    .0 == "DOWN"));
    assert!(
        check_status(&e, "galera").2.contains("wsrep_local_state 2"),
        "{:?}",
        check_status(&e, "galera")
    );
    assert_eq!(
        check_status(&e, "login").0,
        "UP",
        "mysql-check alone does not see it"
    );
    assert!(sql(&db.dir, "SET GLOBAL wsrep_desync=OFF"));
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "galera"
    )
    .0 == "UP"));
    // Traffic goes through to the database.
    let out = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{p2}"),
            "-uhaproxy",
            "-N",
            "-e",
            "SELECT 40+2",
        ])
        .output()
        .expect("mariadb client");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    db.kill();
    assert!(wait_until(Duration::from_secs(10), || [
        "plain", "login", "galera"
    ]
    .iter()
    .all(|b| check_status(&e, b).0 == "DOWN")));
    e.stop(Duration::ZERO);
}

/// `option redis-check` against a real redis-server: up while it answers PONG, down
/// once it is gone.
#[test]
fn lb_redis_check_against_real_redis() {
    let Some(redis) = which("redis-server") else {
        skip("redis-server is not installed (apt-get install redis-server)");
        return;
    };
    let port = free_port();
    let dir = tmpdir("redis");
    let child = Command::new(redis)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis starts");
    let mut r = Proc { child, dir };
    let p = free_port();
    let cfg = format!("defaults\n mode tcp\n timeout connect 1s\nlisten r\n bind 127.0.0.1:{p}\n option redis-check\n server db 127.0.0.1:{port} check inter 200 rise 1 fall 1\n");
    let e = start_engine(&cfg);
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "r"
    )
    .0 == "UP"
        && check_status(&e, "r").1 == "L7OK"));
    r.kill();
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "r"
    )
    .0 == "DOWN"));
    e.stop(Duration::ZERO);
}

/// `option tcp-check` as deployments check Redis (TripleO, kolla): log in with AUTH,
/// PING, and ask `info replication` for `role:master` — against a real master and a
/// real replica of it, both with a password: the master is up, the replica down; a
/// wrong password puts both down.
#[test]
fn lb_tcp_check_finds_the_redis_master() {
    let Some(redis) = which("redis-server") else {
        skip("redis-server is not installed (apt-get install redis-server)");
        return;
    };
    let start = |port: u16, extra: &[String]| {
        let dir = tmpdir("redis-tc");
        let child = Command::new(&redis)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args([
                "--appendonly",
                "no",
                "--requirepass",
                "s3cret",
                "--masterauth",
                "s3cret",
            ])
            .args(extra)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis starts");
        Proc { child, dir }
    };
    let (pm, pr) = (free_port(), free_port());
    let _master = start(pm, &[]);
    let _replica = start(
        pr,
        &["--replicaof".into(), "127.0.0.1".into(), pm.to_string()],
    );
    let p = free_port();
    let cfg = |password: &str| {
        format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout check 1s\nlisten r\n bind 127.0.0.1:{p}\n\
             option tcp-check\n tcp-check connect\n\
             tcp-check send AUTH\\ {password}\\r\\n\n tcp-check expect string +OK\n\
             tcp-check send PING\\r\\n\n tcp-check expect string +PONG\n\
             tcp-check send info\\ replication\\r\\n\n tcp-check expect string role:master\n\
             tcp-check send QUIT\\r\\n\n tcp-check expect string +OK\n\
             server master 127.0.0.1:{pm} check inter 200 rise 1 fall 1\n\
             server replica 127.0.0.1:{pr} check inter 200 rise 1 fall 1\n"
        )
    };
    let e = start_engine(&cfg("s3cret"));
    assert!(
        wait_until(Duration::from_secs(15), || {
            let all = check_all(&e, "r");
            all.get("master").is_some_and(|s| s.0 == "UP")
                && all.get("replica").is_some_and(|s| s.0 == "DOWN")
        }),
        "{:?}",
        check_all(&e, "r")
    );
    e.stop(Duration::ZERO);
    let e = start_engine(&cfg("wrong"));
    assert!(
        wait_until(Duration::from_secs(15), || {
            let all = check_all(&e, "r");
            all.get("master").is_some_and(|s| s.0 == "DOWN")
                && all.get("replica").is_some_and(|s| s.0 == "DOWN")
        }),
        "{:?}",
        check_all(&e, "r")
    );
    e.stop(Duration::ZERO);
}

/// `option amqp-check` against a real RabbitMQ broker: the protocol header is answered
/// by Connection.Start; an HTTP server on the port fails the check.
#[test]
fn lb_amqp_check_against_real_rabbitmq() {
    // The real start script (the /usr/sbin wrapper switches to the rabbitmq user).
    let server = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    let Some(_) = std::path::Path::new(server).exists().then_some(()) else {
        skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)");
        return;
    };
    if !is_root() {
        skip("starting a RabbitMQ test broker needs root here");
        return;
    }
    let port = free_port();
    let dist = free_port();
    let epmd = free_port();
    let dir = tmpdir("rabbitmq");
    std::fs::write(
        dir.join("rabbitmq.conf"),
        format!("listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users = none\n"),
    )
    .expect("conf");
    std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins");
    let node = format!("halo{port}@localhost");
    let child = Command::new(server)
        .env("RABBITMQ_NODENAME", &node)
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_DIST_PORT", dist.to_string())
        .env("ERL_EPMD_PORT", epmd.to_string())
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
        .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log"))
        .env("RABBITMQ_PID_FILE", dir.join("pid"))
        .env("HOME", &dir)
        .current_dir(&dir)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rabbitmq starts");
    let pgid = child.id() as i32;
    let mut r = Proc { child, dir };
    let web = HttpBackend::start("not-amqp");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout check 2s\nlisten q\n bind 127.0.0.1:{p}\n option amqp-check\n server db 127.0.0.1:{port} check inter 300 rise 1 fall 1\n\
         listen w\n bind 127.0.0.1:{}\n option amqp-check\n server db {} check inter 300 rise 1 fall 1\n",
        free_port(),
        web.addr
    );
    let e = start_engine(&cfg);
    let up = wait_until(Duration::from_secs(90), || {
        check_status(&e, "q").0 == "UP" && check_status(&e, "q").1 == "L7OK"
    });
    assert!(up, "RabbitMQ never passed: {:?}", check_status(&e, "q"));
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "w"
    )
    .0 == "DOWN"));
    // Stop the broker's process group (script and beam), then its epmd.
    // SAFETY: kill(2) on the process group this test created.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    r.kill();
    std::thread::sleep(Duration::from_millis(200));
    let _ = Command::new("epmd")
        .arg("-kill")
        .env("ERL_EPMD_PORT", epmd.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(wait_until(Duration::from_secs(20), || check_status(
        &e, "q"
    )
    .0 == "DOWN"));
    e.stop(Duration::ZERO);
}

/// `option httpchk` with `http-check expect status` and `expect string`, and
/// `http-check send meth uri ver hdr` (OpenStack-Ansible's User-Agent).
#[test]
fn lb_http_checks_expect_status_and_string() {
    let a = HttpBackend::start("alpha");
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let cfg = format!(
        "defaults\n mode http\n timeout connect 1s\n\
         backend s200\n option httpchk GET /status/200\n http-check expect status 200\n server db {} check inter 200 rise 1 fall 1\n\
         backend s503\n option httpchk GET /status/503\n server db {} check inter 200 rise 1 fall 1\n\
         backend str\n option httpchk GET /\n http-check expect string lph\n server db {} check inter 200 rise 1 fall 1\n\
         backend hdr\n option httpchk\n http-check send meth GET uri /headers ver HTTP/1.1 hdr Host checks.test hdr User-Agent osa-haproxy-healthcheck\n\
         http-check expect string \"User-Agent: osa-haproxy-healthcheck\"\n server db {} check inter 200 rise 1 fall 1\n\
         backend nohdr\n option httpchk GET /headers\n http-check expect string \"User-Agent: osa\"\n server db {} check inter 200 rise 1 fall 1\n\
         frontend f1\n bind 127.0.0.1:{p1}\n default_backend s200\nfrontend f2\n bind 127.0.0.1:{p2}\n default_backend s503\nfrontend f3\n bind 127.0.0.1:{p3}\n default_backend str\n",
        a.addr, a.addr, a.addr, a.addr, a.addr
    );
    let e = start_engine(&cfg);
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "s503"
    )
    .0 == "DOWN"));
    assert_eq!(check_status(&e, "s503").1, "L7STS");
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "s200"
    )
    .1 == "L7OK"
        && check_status(&e, "str").1 == "L7OK"));
    assert_eq!(check_status(&e, "s200").0, "UP");
    assert_eq!(check_status(&e, "str").0, "UP");
    // `http-check send ... hdr`: the server gets the headers (it echoes them).
    assert!(wait_until(Duration::from_secs(10), || check_status(
        &e, "hdr"
    )
    .0 == "UP"
        && check_status(&e, "nohdr").0 == "DOWN"));
    e.stop(Duration::ZERO);
}

/// `option log-health-checks` in a backend with its own `log` line: each check that
/// moves the server's status or health is logged there, in HAProxy's words (a first
/// pass, then a refused connection), at severity notice; a `tcp-check expect` with
/// `min-recv` judges what came once it has that many bytes, and a step that times out
/// is named with its comment.
#[test]
fn lb_health_check_log_lines_in_haproxy_words() {
    let sys = syslog();
    // A server that says "ready" and waits: `!rstring ^error` is judged on 5 bytes.
    let srv = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = srv.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        for c in srv.incoming().take(2) {
            let Ok(mut c) = c else { continue };
            let _ = std::io::Write::write_all(&mut c, b"ready");
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout check 150ms\n\
         backend be\n log {sys} local0\n option log-health-checks\n option tcp-check\n\
         tcp-check expect min-recv 5 !rstring ^error comment \"no error\"\n\
         server s {addr} check inter 100ms rise 1 fall 1\n\
         backend slow\n log {sys} local0\n option log-health-checks\n option tcp-check\n\
         tcp-check expect string never comment \"the greeting\"\n\
         server t {addr} check inter 100ms rise 1 fall 1\n",
        sys = sys.local_addr().expect("addr"),
    );
    let e = start_engine(&cfg);
    // The first line of each server.
    let mut lines = vec![String::new(), String::new()];
    while lines.iter().any(String::is_empty) {
        let l = next_line(&sys);
        let i = match l {
            _ if l.contains("Health check for server slow/t ") => 0,
            _ if l.contains("Health check for server be/s ") => 1,
            _ => continue,
        };
        if lines[i].is_empty() {
            lines[i] = l;
        }
    }
    assert!(
        lines[1].starts_with("<133>")
            && lines[1].contains(
                "Health check for server be/s succeeded, reason: Layer7 check passed, info: \"tcp-check passed\", check duration: "
            )
            && lines[1].ends_with("ms, status: 1/1 UP."),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("Health check for server slow/t failed, reason: Layer7 timeout, info: \"at step 1 of tcp-check (expect string 'never') comment: 'the greeting'\", check duration: ")
            && lines[0].ends_with("ms, status: 0/1 DOWN."),
        "{lines:?}"
    );
    e.stop(Duration::ZERO);
    let _ = server.join();
}

/// A server's agent (what `agent-check` talks to): answers each connection with the
/// line it is told to, after reading what the load balancer sends; it can go away.
struct Agent {
    port: u16,
    reply: std::sync::Arc<std::sync::Mutex<String>>,
    heard: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    fn start(reply: &str) -> Agent {
        use std::io::{Read, Write};
        use std::sync::{atomic::AtomicBool, Arc, Mutex};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let reply = Arc::new(Mutex::new(reply.to_string()));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (reply.clone(), heard.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for c in l.incoming() {
                if s.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = c else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                let n = c.read(&mut buf).unwrap_or(0);
                h.lock()
                    .expect("heard")
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let line = format!("{}\n", r.lock().expect("reply"));
                let _ = c.write_all(line.as_bytes());
            }
        });
        Agent {
            port,
            reply,
            heard,
            stop,
            thread: Some(thread),
        }
    }

    fn say(&self, line: &str) {
        *self.reply.lock().expect("reply") = line.to_string();
    }

    /// The agent goes away: its port refuses connections.
    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `agent-check` against a server's agent: the line it answers to `agent-send` sets
/// the server's weight (`50%` of the configured 100), takes it down whatever its health
/// check says (`down#reason`) and back (`up`), drains it (`drain`), sets it ready with a
/// connection limit (`ready,maxconn:7`); requests follow; an agent that goes away
/// changes nothing.
#[test]
fn lb_agent_checks_steer_weight_state_and_health() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let mut agent = Agent::start("50%");
    let p = free_port();
    let dir = tmpdir("agent");
    let sock = dir.join("admin.sock");
    let cfg = format!(
        "global\n stats socket {sock} level admin\n\
         defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n default_backend be\n\
         backend be\n balance roundrobin\n\
         server a {a} weight 100 check inter 200 agent-check agent-port {ap} agent-inter 100ms agent-send \"ping\\n\"\n\
         server b {b} weight 100 check inter 200\n",
        sock = sock.display(),
        a = a.addr,
        b = b.addr,
        ap = agent.port,
    );
    let e = start_engine(&cfg);
    let row = || {
        halo_lb::engine::stats::snapshot(e.shared())
            .into_iter()
            .find(|r| r.pxname == "be" && r.svname == "a")
            .expect("row")
    };
    let state = || admin_command(&sock, "show servers state be").expect("state");
    // Who answers ten requests.
    let spread = || {
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..10 {
            let (_, body) = curl(&["-s", &format!("http://127.0.0.1:{p}/")]);
            names.insert(body);
        }
        names.into_iter().collect::<Vec<_>>().join(",")
    };
    assert!(
        wait_until(Duration::from_secs(10), || row().weight == 50
            && row().status == "UP"),
        "{}",
        state()
    );
    assert!(state().contains(" a 127.0.0.1 2 0 50 100 "), "{}", state());
    assert_eq!(spread(), "alpha,bravo");
    assert!(agent
        .heard
        .lock()
        .expect("heard")
        .iter()
        .any(|h| h == "ping\n"));
    agent.say("down#maintenance window");
    assert!(
        wait_until(Duration::from_secs(10), || row().status == "DOWN (agent)"),
        "{}",
        state()
    );
    assert_eq!(spread(), "bravo");
    agent.say("up");
    assert!(
        wait_until(Duration::from_secs(10), || row().status == "UP"),
        "{}",
        state()
    );
    assert_eq!(spread(), "alpha,bravo");
    agent.say("drain");
    assert!(
        wait_until(Duration::from_secs(10), || row().status == "DRAIN"),
        "{}",
        state()
    );
    assert_eq!(spread(), "bravo");
    agent.say("ready,maxconn:7");
    assert!(
        wait_until(Duration::from_secs(10), || row().status == "UP"
            && row().slim == 7),
        "{}",
        state()
    );
    assert_eq!(spread(), "alpha,bravo");
    // The agent is gone: the server stays as it last said.
    agent.stop();
    std::thread::sleep(Duration::from_millis(500));
    let r = row();
    assert_eq!((r.status.as_str(), r.weight, r.slim), ("UP", 50, 7));
    e.stop(Duration::ZERO);
}

/// A process that must run as another user (PostgreSQL refuses root): its uid and gid.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, name]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// A PostgreSQL server in a temporary cluster on a loopback port: role `postgres`
/// trusted, role `app` asked for its password (SCRAM), role `ghost` refused.
fn postgresql(port: u16) -> Option<Proc> {
    let bin = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
        d.flatten()
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
    });
    let Some(bin) = bin else {
        skip("postgresql is not installed (apt-get install postgresql)");
        return None;
    };
    if !is_root() {
        skip("starting a PostgreSQL test instance as user postgres needs root here");
        return None;
    }
    let (uid, gid) = user_ids("postgres").expect("the postgresql package's user");
    let dir = tmpdir(&format!("pgsql-{port}"));
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown");
    let data = dir.join("data");
    let ok = Command::new(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-A", "trust"])
        .uid(uid)
        .gid(gid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "initdb failed");
    let hba = data.join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    std::fs::write(
        &hba,
        format!(
            "host all app 127.0.0.1/32 scram-sha-256\nhost all ghost 127.0.0.1/32 reject\n{rules}"
        ),
    )
    .expect("pg_hba.conf");
    let child = Command::new(bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-k")
        .arg(&dir)
        .uid(uid)
        .gid(gid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres starts");
    let p = Proc {
        child,
        dir: dir.clone(),
    };
    let psql = |q: &str| {
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-c",
                q,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        wait_until(Duration::from_secs(30), || psql("SELECT 1")),
        "PostgreSQL did not start"
    );
    assert!(psql("CREATE ROLE app LOGIN PASSWORD 'secret'"));
    Some(p)
}

/// An OpenLDAP server (slapd) with no database on a loopback port; `anonymous` says
/// whether it accepts anonymous binds.
fn slapd(port: u16, anonymous: bool) -> Option<Proc> {
    let Some(slapd) = which("slapd") else {
        skip("slapd is not installed (apt-get install slapd)");
        return None;
    };
    let dir = tmpdir(&format!("slapd-{port}"));
    let conf = dir.join("slapd.conf");
    let mut text = format!(
        "pidfile {d}/slapd.pid\nargsfile {d}/slapd.args\n",
        d = dir.display()
    );
    if !anonymous {
        text.push_str("disallow bind_anon\n");
    }
    std::fs::write(&conf, text).expect("slapd.conf");
    let child = Command::new(slapd)
        .arg("-f")
        .arg(&conf)
        .args(["-h", &format!("ldap://127.0.0.1:{port}/"), "-d", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("slapd starts");
    let p = Proc { child, dir };
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "slapd did not start"
    );
    Some(p)
}

/// An SMTP server (Python's aiosmtpd, from Debian) on a loopback port.
fn smtp_server(port: u16) -> Option<Proc> {
    let has = Command::new("/usr/bin/python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        skip("aiosmtpd is not installed (apt-get install python3-aiosmtpd)");
        return None;
    }
    let child = Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd starts");
    let p = Proc {
        child,
        dir: tmpdir(&format!("smtp-{port}")),
    };
    assert!(
        wait_until(Duration::from_secs(20), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "the SMTP server did not start"
    );
    Some(p)
}

/// `option pgsql-check`, `option ldap-check` and `option smtpchk` against the real
/// servers: PostgreSQL lets the trusted role in ("PostgreSQL server is ok"), reports a
/// role its pg_hba.conf rejects with its error's severity (FATAL), and asks `app` for a
/// password, which the check (as HAProxy's) cannot give; OpenLDAP takes an anonymous
/// bind, or refuses it (`disallow bind_anon`: result code 48); an SMTP server greets
/// and answers HELO and EHLO with 250. Each check fails against a server of another
/// protocol: PostgreSQL's and LDAP's get the SMTP greeting, SMTP's gets no greeting.
#[test]
fn lb_pgsql_ldap_and_smtp_checks_against_real_servers() {
    let (pg, l1, l2, sm) = (free_port(), free_port(), free_port(), free_port());
    let Some(_pg) = postgresql(pg) else { return };
    let Some(_l1) = slapd(l1, true) else { return };
    let Some(_l2) = slapd(l2, false) else { return };
    let Some(_sm) = smtp_server(sm) else { return };
    let o = format!("127.0.0.1:{sm}");
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 1s\n timeout check 2s\n\
         backend pg_ok\n option pgsql-check user postgres\n server db 127.0.0.1:{pg} check inter 300 rise 1 fall 1\n\
         backend pg_ghost\n option pgsql-check user ghost\n server db 127.0.0.1:{pg} check inter 300 rise 1 fall 1\n\
         backend pg_pw\n option pgsql-check user app\n server db 127.0.0.1:{pg} check inter 300 rise 1 fall 1\n\
         backend pg_smtp\n option pgsql-check user postgres\n server db {o} check inter 300 rise 1 fall 1\n\
         backend ldap_ok\n option ldap-check\n server db 127.0.0.1:{l1} check inter 300 rise 1 fall 1\n\
         backend ldap_no\n option ldap-check\n server db 127.0.0.1:{l2} check inter 300 rise 1 fall 1\n\
         backend ldap_smtp\n option ldap-check\n server db {o} check inter 300 rise 1 fall 1\n\
         backend smtp_helo\n option smtpchk\n server db 127.0.0.1:{sm} check inter 300 rise 1 fall 1\n\
         backend smtp_ehlo\n option smtpchk EHLO lb.example.org\n server db 127.0.0.1:{sm} check inter 300 rise 1 fall 1\n\
         backend smtp_ldap\n option smtpchk\n server db 127.0.0.1:{l1} check inter 300 rise 1 fall 1\n"
    );
    let e = start_engine(&cfg);
    let want: &[(&str, &str, &str, &str)] = &[
        ("pg_ok", "UP", "L7OK", "PostgreSQL server is ok"),
        ("pg_ghost", "DOWN", "L7RSP", "FATAL"),
        ("pg_pw", "DOWN", "L7STS", "PostgreSQL unknown error"),
        ("pg_smtp", "DOWN", "L7STS", "PostgreSQL unknown error"),
        ("ldap_ok", "UP", "L7OK", "Success"),
        (
            "ldap_no",
            "DOWN",
            "L7STS",
            "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9",
        ),
        ("ldap_smtp", "DOWN", "L7RSP", "Not LDAPv3 protocol"),
        ("smtp_helo", "UP", "L7OK", "localhost"),
        ("smtp_ehlo", "UP", "L7OK", "localhost"),
        ("smtp_ldap", "DOWN", "L7TOUT", ""),
    ];
    let settled = || {
        want.iter().all(|(b, st, cs, d)| {
            check_status(&e, b) == (st.to_string(), cs.to_string(), d.to_string())
        })
    };
    let seen = || {
        want.iter()
            .map(|(b, ..)| format!("{b}: {:?}", check_status(&e, b)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(wait_until(Duration::from_secs(20), settled), "{}", seen());
    // The LDAP refusal's result code, and what a non-SMTP server says first.
    let rows = halo_lb::engine::stats::snapshot(e.shared());
    let row = |b: &str| {
        rows.iter()
            .find(|r| r.pxname == b && r.svname == "db")
            .expect("row")
    };
    assert_eq!(row("ldap_no").check_code, "48");
    assert_eq!(row("smtp_helo").check_code, "250");
    e.stop(Duration::ZERO);
}
