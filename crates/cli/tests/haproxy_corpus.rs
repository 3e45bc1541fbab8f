//! The haproxy.cfg files that OpenStack deployment tools generate
//! (`crates/lb/tests/data/openstack-corpus`, rendered from kolla-ansible, TripleO,
//! OpenStack-Ansible, the charms and the HA guide): halo accepts each one that HAProxy
//! accepts, and runs each one unchanged, its HTTP frontends answering through it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lb/tests/data/openstack-corpus")
}

fn files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap_or_else(|e| panic!("corpus: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "the corpus has {} files", v.len());
    v
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A shell prefix that runs a command in a private mount namespace where the paths the
/// files name exist (the runtime socket directories, the chroot) on fresh tmpfs, and
/// where kolla's `group kolla` exists (a copy of /etc/group) — the host is unchanged.
const PRIVATE_FS: &str = "set -e; mount -t tmpfs tmpfs /run; mkdir -p /run/haproxy; \
    mount -t tmpfs tmpfs /var/lib; mkdir -p /var/lib/haproxy /var/lib/kolla/haproxy; \
    cp /etc/group /run/group; echo kolla:x:42400: >> /run/group; \
    mount --bind /run/group /etc/group; exec \"$@\"";

/// `haproxy -c` (Debian's HAProxy) on a file: as root in the private mount namespace
/// (kolla's files name a group the host may not have); `None` without HAProxy.
fn haproxy_check(file: &Path) -> Option<(bool, String)> {
    let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let mut cmd = if is_root() {
        let mut c = Command::new("unshare");
        c.args(["-m", "sh", "-c", PRIVATE_FS, "sh", haproxy]);
        c
    } else {
        Command::new(haproxy)
    };
    let out = cmd
        .args(["-c", "-f"])
        .arg(file)
        .env("CORPUS_DIR", corpus())
        .output()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Every file HAProxy accepts, `halo lb check` accepts (and HAProxy accepts them all:
/// the corpus holds only valid files).
#[test]
fn halo_accepts_every_corpus_file_haproxy_accepts() {
    for f in files() {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match haproxy_check(&f) {
            Some((true, _)) => {}
            Some((false, err)) if !is_root() && err.contains("unknown group name") => {
                println!("{name}: haproxy -c needs a group this host lacks (root checks it in a private mount namespace)");
            }
            Some((false, err)) => panic!("{name}: HAProxy refuses a corpus file:\n{err}"),
            None => println!("skipped the HAProxy cross-check of {name}: HAProxy is not installed"),
        }
        let out = Command::new(env!("CARGO_BIN_EXE_halo"))
            .args(["lb", "check", "-f"])
            .arg(&f)
            .env("CORPUS_DIR", corpus())
            .output()
            .unwrap_or_else(|e| panic!("halo: {e}"));
        assert!(
            out.status.success(),
            "{name}: halo lb check refuses it:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// What a run needs to know of a file: the addresses it binds and those of its servers.
#[derive(Default)]
struct Layout {
    /// Frontends to ask: (bind address, TLS). In `mode http`, all; in `mode tcp`,
    /// those whose backends' checks the test's HTTP servers can pass (not MySQL's,
    /// Redis's or a scripted TCP check), so that both runs see the same servers up
    /// whenever they are asked.
    binds: Vec<(String, bool)>,
    /// Server addresses and check ports, with whether they speak TLS.
    servers: BTreeSet<(String, bool)>,
}

/// One section as [`layout`] reads it.
#[derive(Default)]
struct Section {
    kind: String,
    name: String,
    http: Option<bool>,
    binds: Vec<(String, bool)>,
    routes: Vec<String>,
    /// A check the test's HTTP servers cannot pass.
    foreign_check: bool,
}

/// Reads the sections, binds and servers of a file (enough to run it; halo's own
/// parser is what is under test, so this one is deliberately simple).
fn layout(text: &str) -> Layout {
    let mut l = Layout::default();
    let mut default_http = false;
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        let w: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let Some(first) = w.first() else { continue };
        if matches!(
            *first,
            "global" | "defaults" | "frontend" | "listen" | "backend" | "userlist" | "peers"
        ) {
            let name = w.get(1).unwrap_or(&"").to_string();
            let routes = if *first == "listen" {
                vec![name.clone()]
            } else {
                Vec::new()
            };
            sections.push(Section {
                kind: first.to_string(),
                name,
                routes,
                ..Section::default()
            });
            continue;
        }
        let Some(sec) = sections.last_mut() else {
            continue;
        };
        if w.iter().any(|x| {
            [
                "mysql-check",
                "tcp-check",
                "redis-check",
                "pgsql-check",
                "ssl-hello-chk",
            ]
            .contains(x)
        }) {
            sec.foreign_check = true;
        }
        match *first {
            "mode" if w.len() > 1 => {
                if sec.kind == "defaults" {
                    default_http = w[1] == "http";
                } else {
                    sec.http = Some(w[1] == "http");
                }
            }
            "bind" if w.len() > 1 => sec.binds.push((w[1].to_string(), w.contains(&"ssl"))),
            "default_backend" | "use_backend" if w.len() > 1 => sec.routes.push(w[1].to_string()),
            "server" if w.len() > 2 => {
                let addr = w[2].to_string();
                let tls = w.contains(&"ssl");
                if let Some(i) = w.iter().position(|x| *x == "port") {
                    if let (Some(p), Some((host, _))) = (w.get(i + 1), addr.rsplit_once(':')) {
                        l.servers
                            .insert((format!("{host}:{p}"), tls || w.contains(&"check-ssl")));
                    }
                }
                l.servers.insert((addr, tls));
            }
            _ => {}
        }
    }
    for sec in sections
        .iter()
        .filter(|s| s.kind == "frontend" || s.kind == "listen")
    {
        let http = sec.http.unwrap_or(default_http);
        let plain = !sec.routes.is_empty()
            && sec.routes.iter().all(|r| {
                sections
                    .iter()
                    .find(|s| &s.name == r && s.kind != "frontend")
                    .is_some_and(|s| !s.foreign_check)
            });
        if http || plain {
            l.binds.extend(sec.binds.iter().cloned());
        }
    }
    l
}

fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

/// Each file runs unchanged under halo (as `haproxy -db -f FILE`, as Debian's unit
/// starts it) in a network namespace holding its addresses, with an HTTP server on
/// every server address (TLS where the file says `ssl`), then under Debian's HAProxy
/// the same way: every frontend answers a request as HAProxy does (the same status: a
/// server's answer, a redirect, the stats page's login, a 503 where nothing serves),
/// plain and TLS, in `mode http` and `mode tcp`.
#[test]
fn every_corpus_file_runs_and_answers_as_haproxy_does() {
    if !halo_testkit::netns::require_netns() {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tmp: {e}"));
    let haproxy = dir.path().join("haproxy");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_halo"), &haproxy)
        .unwrap_or_else(|e| panic!("link: {e}"));
    let echo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lb/tests/data/echo-servers.py");
    let pem = corpus().join("certs/internal.pem");
    for f in files() {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        let l = layout(&text);
        let net = halo_testkit::netns::Net::new(&["lb"]).unwrap_or_else(|e| panic!("netns: {e}"));
        let h = net.host("lb");
        let mut ips = BTreeSet::new();
        for a in l
            .binds
            .iter()
            .map(|b| &b.0)
            .chain(l.servers.iter().map(|s| &s.0))
        {
            let ip = host_of(a);
            if ip
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
            {
                ips.insert(ip.to_string());
            }
        }
        for ip in &ips {
            h.ip(&["addr", "add", &format!("{ip}/32"), "dev", "lo"])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // Servers on every server address the frontends do not bind themselves.
        let bound: BTreeSet<&str> = l.binds.iter().map(|b| b.0.as_str()).collect();
        let wild_ports: BTreeSet<&str> = bound
            .iter()
            .filter(|a| a.starts_with('*') || a.starts_with(':') || a.starts_with("0.0.0.0"))
            .filter_map(|a| a.rsplit_once(':').map(|(_, p)| p))
            .collect();
        let specs: Vec<String> = l
            .servers
            .iter()
            .filter(|(a, _)| !bound.contains(a.as_str()))
            .filter(|(a, _)| {
                a.rsplit_once(':')
                    .is_some_and(|(_, p)| !wild_ports.contains(p))
            })
            .map(|(a, tls)| if *tls { format!("{a}/tls") } else { a.clone() })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut servers = h
            .command("python3")
            .arg(&echo)
            .arg(&pem)
            .args(&specs)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: echo servers: {e}"));
        {
            use std::io::BufRead;
            let mut line = String::new();
            if let Some(out) = servers.stdout.take() {
                let _ = std::io::BufReader::new(out).read_line(&mut line);
            }
            assert_eq!(
                line.trim(),
                "ready",
                "{name}: the echo servers did not start"
            );
        }
        let targets: Vec<(String, bool)> = l
            .binds
            .iter()
            .map(|(a, tls)| {
                let (host, port) = a.rsplit_once(':').unwrap_or((a, "80"));
                let host = if host.is_empty() || host == "*" || host == "::" || host == ":" {
                    "127.0.0.1"
                } else {
                    host
                };
                (format!("{host}:{port}"), *tls)
            })
            .collect();
        assert!(!targets.is_empty(), "{name}: no frontend to ask");
        let ask = |target: &str, tls: bool| -> String {
            let url = format!("{}://{target}/", if tls { "https" } else { "http" });
            h.command("curl")
                .args([
                    "-s",
                    "-k",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "5",
                    &url,
                ])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        // The file run by `program` as Debian's unit runs HAProxy: each frontend's answer.
        let run = |program: &Path, extra: &[&str]| -> Vec<String> {
            let mut lb = h
                .command("unshare")
                .args(["-m", "sh", "-c", PRIVATE_FS, "sh"])
                .arg(program)
                .args(["-db", "-f"])
                .arg(&f)
                .args(extra)
                .env("CORPUS_DIR", corpus())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", program.display()));
            // Started once the first frontend answers.
            let deadline = Instant::now() + Duration::from_secs(20);
            while ask(&targets[0].0, targets[0].1) == "000" && Instant::now() < deadline {
                if let Ok(Some(st)) = lb.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = lb.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!("{name}: {} exited ({st}):\n{err}", program.display());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // A moment for the first health checks.
            std::thread::sleep(Duration::from_millis(300));
            let codes = targets.iter().map(|(t, tls)| ask(t, *tls)).collect();
            let _ = lb.kill();
            let _ = lb.wait();
            codes
        };
        let ours = run(&haproxy, &[]);
        let theirs = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists())
            // HAProxy wants file descriptors for the files' global maxconn, more than a
            // container may give: a smaller maxconn for the reference run.
            .map(|p| run(p, &["-n", "4096"]));
        let _ = servers.kill();
        let _ = servers.wait();
        let mut bad = Vec::new();
        for (i, (target, tls)) in targets.iter().enumerate() {
            let shown = format!("{}{target}", if *tls { "https://" } else { "http://" });
            match &theirs {
                // The same answer as HAProxy's.
                Some(t) if t[i] != ours[i] => {
                    bad.push(format!("{shown}: halo {} HAProxy {}", ours[i], t[i]))
                }
                Some(_) => {}
                None if ours[i] == "000" => bad.push(format!("{shown}: no answer")),
                None => {}
            }
        }
        if theirs.is_none() {
            println!("{name}: HAProxy is not installed: halo's answers not compared");
        }
        assert!(
            bad.is_empty(),
            "{name}: {} of {} HTTP frontends differ: {bad:?}",
            bad.len(),
            targets.len()
        );
        println!("{name}: {} frontends answered as HAProxy's", targets.len());
    }
}
