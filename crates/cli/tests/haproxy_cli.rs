//! halo run under the name `haproxy`: HAProxy 2.6's command line as Debian's unit file,
//! configuration tools, monitoring and HAProxy's regression runner use it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A temporary directory holding a link named `haproxy` to the built halo.
struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_halo"), tmp.path().join("haproxy"))
            .unwrap_or_else(|e| panic!("link: {e}"));
        Dir { tmp }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn haproxy(&self) -> Command {
        Command::new(self.path("haproxy"))
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}

/// A running `haproxy` killed at the end of the test, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signals the process this test started.
        unsafe { libc::kill(self.0.id() as i32, sig) };
    }

    /// Waits (bounded) for the exit; returns the status and stderr.
    fn wait_exit(&mut self) -> (Option<std::process::ExitStatus>, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut status = None;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.0.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut err = String::new();
        if status.is_some() {
            if let Some(mut e) = self.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
        }
        (status, err)
    }
}

use halo_testkit::cluster::free_port;

/// A minimal HTTP server on a free loopback port answering every request with `name`.
fn backend(name: &'static str) -> u16 {
    halo_testkit::http::name_server("127.0.0.1:0", name)
        .unwrap_or_else(|e| panic!("bind: {e}"))
        .port()
}

/// The body of `GET /` on 127.0.0.1:`port`, if a 200 answer came.
fn get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Polls `f` until it holds (bounded: 10 s).
fn wait(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

fn http_config(port: u16, server_port: u16) -> String {
    format!(
        "global\n  maxconn 100\n\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\nlisten web\n  bind 127.0.0.1:{port}\n  server s 127.0.0.1:{server_port}\n"
    )
}

fn start(dir: &Dir, args: &[&str], cfg: &Path) -> Running {
    Running(
        dir.haproxy()
            .args(args)
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn haproxy: {e}")),
    )
}

/// `-v` and `-vv` read as HAProxy 2.6.0's, through the very pipeline HAProxy's
/// run-regtests.sh uses, and say that this is halo without TLS.
#[test]
fn haproxy_version_reads_as_2_6_0_for_the_regression_runner() {
    let dir = Dir::new();
    let out = dir
        .haproxy()
        .arg("-v")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("");
    assert!(first.starts_with("HAProxy version 2.6.0 "), "{first}");
    assert!(first.contains("halo"), "{first}");
    assert!(
        !text.contains("Feature list"),
        "-v has no build options: {text}"
    );
    // run-regtests.sh, lines `{ read HAPROXY_VERSION; ... } << EOF` and the `cut`.
    let script = r#"
{ read HAPROXY_VERSION; read TARGET; read FEATURES; read SERVICES; } << EOF
$($HAPROXY_PROGRAM -vv | grep 'HA-\?Proxy version\|TARGET.*=\|^Feature\|^Available services' | sed 's/.* [:=] //')
EOF
HAPROXY_VERSION=$(echo $HAPROXY_VERSION | cut -d " " -f 3)
echo "version=$HAPROXY_VERSION"
echo "target=$TARGET"
echo "features=$FEATURES"
echo "services=$SERVICES"
"#;
    let out = Command::new("sh")
        .args(["-c", script])
        .env("HAPROXY_PROGRAM", dir.path("haproxy"))
        .output()
        .unwrap_or_else(|e| panic!("sh: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(field("version"), "2.6.0", "{text}");
    assert!(field("target").starts_with("linux-"), "{text}");
    let features = format!(" {} ", field("features"));
    assert!(features.contains(" -OPENSSL "), "{text}");
    assert!(features.contains(" -LUA "), "{text}");
    assert!(features.contains(" +LINUX_SPLICE "), "{text}");
    assert!(features.contains(" +PROMEX "), "{text}");
    assert_eq!(field("services"), "prometheus-exporter", "{text}");
}

/// `haproxy -c -f FILE`: exit 0 and HAProxy's message for a valid file, nothing with
/// `-q`, exit 1 and an alert naming file:line for an invalid one.
#[test]
fn haproxy_check_mode_answers_as_configuration_tools_expect() {
    let dir = Dir::new();
    let good = dir.write("good.cfg", &http_config(free_port(), 9));
    let out = dir
        .haproxy()
        .args(["-c", "-f"])
        .arg(&good)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Configuration file is valid"
    );
    // Debian's ExecStartPre and ExecReload.
    let out = dir
        .haproxy()
        .args(["-Ws", "-f"])
        .arg(&good)
        .args(["-c", "-q"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let bad = dir.write(
        "bad.cfg",
        "listen a\n  bind 127.0.0.1:1\n  bogus-directive 1\n  server s 127.0.0.1:2\n",
    );
    let out = dir
        .haproxy()
        .args(["-c", "-f"])
        .arg(&bad)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[ALERT]"), "{stderr}");
    assert!(stderr.contains("bad.cfg:3: `bogus-directive`"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// `-f DIR` reads the directory's `*.cfg` files in lexical order as one configuration
/// (the second file's proxy uses the first one's defaults), and an error in the
/// second file names that file and its own line.
#[test]
fn haproxy_config_directory_reads_cfg_files_in_order() {
    let dir = Dir::new();
    dir.write(
        "conf.d/10-defaults.cfg",
        "global\n  maxconn 100\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n",
    );
    let listen = format!(
        "listen web\n  bind 127.0.0.1:{}\n  server s 127.0.0.1:9\n",
        free_port()
    );
    dir.write("conf.d/20-web.cfg", &listen);
    dir.write("conf.d/README", "not a configuration\n");
    let out = dir
        .haproxy()
        .args(["-c", "-f"])
        .arg(dir.path("conf.d"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.write(
        "conf.d/20-web.cfg",
        &listen.replace("  server", "  no-such-directive\n  server"),
    );
    let out = dir
        .haproxy()
        .args(["-c", "-f"])
        .arg(dir.path("conf.d"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("20-web.cfg:3: `no-such-directive`"),
        "{stderr}"
    );
}

/// `haproxy -d -f CFG -p PIDFILE` serves, writes its pid, reloads a changed file on
/// SIGUSR2 (the master-worker reload Debian's unit sends) and stops with exit 0 on
/// SIGUSR1.
#[test]
fn haproxy_runs_reloads_on_sigusr2_and_stops_on_sigusr1() {
    let dir = Dir::new();
    let (one, two) = (backend("one"), backend("two"));
    let port = free_port();
    let cfg = dir.write("haproxy.cfg", &http_config(port, one));
    let pidfile = dir.path("haproxy.pid");
    let mut p = start(&dir, &["-d", "-p", &pidfile.display().to_string()], &cfg);
    let served = wait(|| get(port).as_deref() == Some("one"));
    let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
    std::fs::write(&cfg, http_config(port, two)).unwrap_or_else(|e| panic!("{e}"));
    p.signal(libc::SIGUSR2);
    let reloaded = wait(|| get(port).as_deref() == Some("two"));
    p.signal(libc::SIGUSR1);
    let (status, stderr) = p.wait_exit();
    assert!(served, "served the first configuration; stderr: {stderr}");
    assert_eq!(pid.trim(), p.0.id().to_string(), "pidfile holds its pid");
    assert!(
        reloaded,
        "SIGUSR2 reloaded the changed file; stderr: {stderr}"
    );
    assert!(status.is_some_and(|s| s.success()), "{status:?} {stderr}");
}

/// `-Ws` tells systemd READY=1 on $NOTIFY_SOCKET once listening, RELOADING=1 then
/// READY=1 around a reload, and STOPPING=1.
#[test]
fn haproxy_ws_notifies_systemd() {
    let dir = Dir::new();
    let port = free_port();
    let cfg = dir.write("haproxy.cfg", &http_config(port, backend("one")));
    let sock_path = dir.path("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path)
        .unwrap_or_else(|e| panic!("bind notify socket: {e}"));
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut p = Running(
        dir.haproxy()
            .args(["-Ws", "-f"])
            .arg(&cfg)
            .env("NOTIFY_SOCKET", &sock_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}")),
    );
    let recv = || {
        let mut buf = [0u8; 512];
        sock.recv(&mut buf)
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            .unwrap_or_else(|e| format!("nothing ({e})"))
    };
    let ready = recv();
    let serving = get(port).as_deref() == Some("one");
    p.signal(libc::SIGUSR2);
    let reloading = recv();
    let ready_again = recv();
    p.signal(libc::SIGTERM);
    let stopping = recv();
    let (status, stderr) = p.wait_exit();
    assert_eq!(ready, "READY=1", "{stderr}");
    assert!(serving, "listening once READY=1 is sent");
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert!(ready_again.starts_with("READY=1\n"), "{ready_again}");
    assert_eq!(stopping, "STOPPING=1");
    assert!(status.is_some(), "SIGTERM stops it");
}

/// An option HAProxy 2.6 does not have fails with exit 1, naming it, and the usage.
#[test]
fn haproxy_unknown_option_is_refused_by_name() {
    let dir = Dir::new();
    let out = dir
        .haproxy()
        .args(["-f", "x.cfg", "-Q"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[ALERT]"), "{stderr}");
    assert!(stderr.contains("unknown option '-Q'"), "{stderr}");
    assert!(stderr.contains("Usage : haproxy"), "{stderr}");
}

/// `-cc COND` answers what the regression suite's `feature cmd "$HAPROXY_PROGRAM -cc
/// '...'"` asks before a test runs: 0 when true, 1 when false, 2 when not a condition.
#[test]
fn haproxy_cc_evaluates_conditions_as_the_suite_asks() {
    let dir = Dir::new();
    let code = |cond: &str| {
        dir.haproxy()
            .args(["-cc", cond])
            .env("HALO_CC_SET", "1")
            .status()
            .unwrap_or_else(|e| panic!("{e}"))
            .code()
    };
    assert_eq!(code("version_atleast(2.5-dev0)"), Some(0));
    assert_eq!(
        code("feature(LINUX_SPLICE) && defined(HALO_CC_SET)"),
        Some(0)
    );
    assert_eq!(code("feature(OPENSSL)"), Some(1), "no TLS: not claimed");
    assert_eq!(code("version_atleast(2.7)"), Some(1));
    assert_eq!(code("feature(OPENSSL) &"), Some(2));
}

/// `-sf PID` sends SIGUSR1 to the old process once the new one has started (here a
/// `sleep`, which the signal ends).
#[test]
fn haproxy_sf_signals_the_old_process_after_start() {
    let dir = Dir::new();
    let port = free_port();
    let cfg = dir.write("haproxy.cfg", &http_config(port, backend("one")));
    let mut old = Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap_or_else(|e| panic!("sleep: {e}"));
    let old_pid = old.id().to_string();
    let mut p = start(&dir, &["-db", "-sf", &old_pid], &cfg);
    let old_ended = wait(|| matches!(old.try_wait(), Ok(Some(_))));
    let serving = get(port).as_deref() == Some("one");
    if !old_ended {
        let _ = old.kill();
    }
    let old_status = old.wait().ok();
    p.signal(libc::SIGTERM);
    let (_, stderr) = p.wait_exit();
    assert!(
        old_ended,
        "the old process got its signal; stderr: {stderr}"
    );
    assert!(serving, "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        old_status.and_then(|s| s.signal()),
        Some(libc::SIGUSR1),
        "ended by SIGUSR1"
    );
}

/// `-Ws` also reaches an abstract $NOTIFY_SOCKET (`@name`), as systemd may give.
#[test]
fn haproxy_ws_notifies_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let dir = Dir::new();
    let cfg = dir.write("haproxy.cfg", &http_config(free_port(), backend("one")));
    let name = format!("halo-haproxy-cli-{}", std::process::id());
    let sock = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .and_then(|a| std::os::unix::net::UnixDatagram::bind_addr(&a))
        .unwrap_or_else(|e| panic!("bind @{name}: {e}"));
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut p = Running(
        dir.haproxy()
            .args(["-Ws", "-f"])
            .arg(&cfg)
            .env("NOTIFY_SOCKET", format!("@{name}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}")),
    );
    let mut buf = [0u8; 512];
    let got = sock
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    p.signal(libc::SIGTERM);
    let (_, stderr) = p.wait_exit();
    assert_eq!(got.ok().as_deref(), Some("READY=1"), "{stderr}");
}

/// `halo pcmk-links` makes the `haproxy` link only with `--haproxy`, and never replaces
/// a real program of that name without `--force`.
#[test]
fn haproxy_link_is_made_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let links = |args: &[&str], dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_halo"))
            .arg("pcmk-links")
            .args(args)
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let plain = tmp.path().join("plain");
    assert!(links(&[], &plain).status.success());
    assert!(plain.join("crm_mon").exists() && !plain.join("haproxy").exists());
    let asked = tmp.path().join("asked");
    assert!(links(&["--haproxy"], &asked).status.success());
    let out = Command::new(asked.join("haproxy"))
        .arg("-v")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("HAProxy version 2.6.0 "));
    let real = tmp.path().join("real");
    std::fs::create_dir_all(&real).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(real.join("haproxy"), "#!/bin/sh\n").unwrap_or_else(|e| panic!("{e}"));
    let out = links(&["--haproxy"], &real);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(real.join("haproxy")).unwrap_or_default(),
        "#!/bin/sh\n"
    );
}

/// The master CLI (`-S PATH`, Debian's EXTRAOPTS) answers `show proc` with the one
/// process, runs `@1 CMD` on the runtime API, and `reload` applies a changed file.
#[test]
fn haproxy_master_cli_shows_the_process_and_reloads() {
    use std::os::unix::net::UnixStream;
    let dir = Dir::new();
    let (one, two) = (backend("one"), backend("two"));
    let port = free_port();
    let cfg = dir.write("haproxy.cfg", &http_config(port, one));
    let sock = dir.path("master.sock");
    let p = start(
        &dir,
        &["-W", "-db", "-S", &sock.display().to_string()],
        &cfg,
    );
    let ask = |cmd: &str| -> String {
        let Ok(mut s) = UnixStream::connect(&sock) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        let _ = s.write_all(format!("{cmd}\n").as_bytes());
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    };
    let served = wait(|| get(port).as_deref() == Some("one"));
    let procs = ask("show proc");
    let info = ask("@1 show info");
    std::fs::write(&cfg, http_config(port, two)).unwrap_or_else(|e| panic!("{e}"));
    let reload = ask("reload");
    let reloaded = get(port).as_deref() == Some("two");
    let unknown = ask("frobnicate");
    drop(p);
    let pid = procs
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("")
        .to_string();
    assert!(served);
    assert!(procs.starts_with("#<PID>"), "{procs}");
    assert!(
        procs.contains(" master ") && procs.contains(" worker "),
        "{procs}"
    );
    assert!(info.contains(&format!("Pid: {pid}\n")), "{info} / {procs}");
    assert!(reload.starts_with("Reloaded."), "{reload}");
    assert!(reloaded, "the master CLI's reload applied the changed file");
    assert!(unknown.starts_with("Unknown command"), "{unknown}");
}

/// Debian's own `haproxy.service`, its command lines unchanged but for the binary's
/// path (halo as `haproxy`), run by a private systemd: `systemctl start` (Type=notify,
/// `-Ws`, `-p`, the master socket `-S`), `reload` (its `-c -q` check, then SIGUSR2 to
/// the main process, which stays), a reload refused for a broken file (the running
/// configuration stays), and `stop`.
#[test]
fn debian_haproxy_service_runs_halo() {
    if !halo_testkit::systemd::available() {
        return;
    }
    let unit = Path::new("/lib/systemd/system/haproxy.service");
    let Ok(text) = std::fs::read_to_string(unit) else {
        assert!(
            std::env::var_os("HALO_TEST_NO_SKIP").is_none(),
            "{} is missing (apt-get install haproxy)",
            unit.display()
        );
        eprintln!(
            "SKIP: {} is missing (apt-get install haproxy)",
            unit.display()
        );
        return;
    };
    let dir = Dir::new();
    let (a, b) = (backend("alpha"), backend("beta"));
    let port = free_port();
    let cfg = dir.write("haproxy.cfg", &http_config(port, a));
    let exe = dir.path("haproxy");
    // The unit's own lines; only where halo and the file are differs. `/dev/log` is
    // bound into HAProxy's chroot when it exists (no syslog daemon runs here).
    let ours = text
        .replace("/usr/sbin/haproxy", &exe.display().to_string())
        .replace("/etc/haproxy/haproxy.cfg", &cfg.display().to_string())
        .replace("BindReadOnlyPaths=/dev/log", "BindReadOnlyPaths=-/dev/log");
    for line in ["ExecStart=", "ExecReload=", "Type=notify", "KillMode=mixed"] {
        assert!(ours.contains(line), "the unit has `{line}`: {ours}");
    }
    let sd = halo_testkit::systemd::Systemd::boot().unwrap_or_else(|e| panic!("boot: {e}"));
    sd.install("haproxy.service", &ours)
        .unwrap_or_else(|e| panic!("install: {e}"));
    let ctl = |args: &[&str]| {
        let out = sd
            .systemctl(args)
            .unwrap_or_else(|e| panic!("systemctl: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let status = || {
        sd.systemctl(&["status", "--no-pager", "haproxy.service"])
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    };
    let (ok, err) = ctl(&["start", "haproxy.service"]);
    assert!(ok, "start: {err}\n{}", status());
    assert_eq!(sd.active_state("haproxy.service"), "active");
    assert!(
        wait(|| get(port).as_deref() == Some("alpha")),
        "{}",
        status()
    );
    let main_pid = || {
        sd.systemctl(&["show", "-p", "MainPID", "--value", "haproxy.service"])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let pid = main_pid();
    assert!(pid != "0" && !pid.is_empty(), "MainPID {pid}");
    // The pid file (-p) and the master socket (-S), in the service's private /run.
    let run = sd.root().join("run");
    let written = std::fs::read_to_string(run.join("haproxy.pid")).unwrap_or_default();
    assert!(!written.trim().is_empty(), "pid file");
    assert!(run.join("haproxy-master.sock").exists(), "master socket");
    // Reload: the new file serves, the main process stays.
    dir.write("haproxy.cfg", &http_config(port, b));
    let (ok, err) = ctl(&["reload", "haproxy.service"]);
    assert!(ok, "reload: {err}\n{}", status());
    assert!(
        wait(|| get(port).as_deref() == Some("beta")),
        "{}",
        status()
    );
    assert_eq!(main_pid(), pid, "the main process stays over a reload");
    // A broken file: the unit's check refuses the reload; the service keeps serving.
    dir.write(
        "haproxy.cfg",
        "listen broken\n  bind 127.0.0.1:1\n  nosuchdirective\n",
    );
    let (ok, _) = ctl(&["reload", "haproxy.service"]);
    assert!(!ok, "a reload with a broken file fails");
    assert_eq!(sd.active_state("haproxy.service"), "active");
    assert_eq!(get(port).as_deref(), Some("beta"));
    let (ok, err) = ctl(&["stop", "haproxy.service"]);
    assert!(ok, "stop: {err}");
    assert_eq!(sd.active_state("haproxy.service"), "inactive");
    assert!(wait(|| get(port).is_none()), "stopped");
}
