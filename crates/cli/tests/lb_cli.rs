//! `halo lb` from the command line.

use std::process::Command;

fn halo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_halo"))
}

fn reference() -> String {
    format!(
        "{}/../lb/tests/data/haproxy-openstack.cfg",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The operator's reference haproxy.cfg passes `halo lb check` unchanged.
#[test]
fn lb_check_accepts_the_reference_configuration() {
    let out = halo()
        .args(["lb", "check", "-f", &reference()])
        .output()
        .expect("runs halo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("backend galera_cluster (mode tcp) balance source"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "server controller2 10.10.16.56:3306 weight 1, backup, check inter 2s rise 2 fall 5"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Configuration file is valid"));
}

/// A bad directive fails `check` with file:line, the directive and why.
#[test]
fn lb_check_refuses_an_unknown_directive_with_its_place() {
    let dir = std::env::temp_dir().join(format!("halo-lb-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let f = dir.join("bad.cfg");
    std::fs::write(
        &f,
        "listen a\n  bind 127.0.0.1:1\n  bogus-directive 1\n  server s 127.0.0.1:2\n",
    )
    .expect("write");
    let out = halo()
        .args(["lb", "check", "-f"])
        .arg(&f)
        .output()
        .expect("runs halo");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.cfg:3: `bogus-directive`: unknown"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `halo lb import` writes native TOML that `halo lb check` reads back.
#[test]
fn lb_import_produces_native_toml_that_checks() {
    let dir = std::env::temp_dir().join(format!("halo-lb-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let out_file = dir.join("lb.toml");
    let st = halo()
        .args(["lb", "import", &reference(), "-o"])
        .arg(&out_file)
        .status()
        .expect("runs halo");
    assert!(st.success());
    let text = std::fs::read_to_string(&out_file).expect("toml written");
    assert!(text.contains("version = 1"));
    let out = halo()
        .args(["lb", "check", "-f"])
        .arg(&out_file)
        .output()
        .expect("runs halo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("backend rabbitmq_cluster (mode tcp) balance roundrobin"));
    std::fs::remove_dir_all(&dir).ok();
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = s.rsplit_once('\n').unwrap_or(("", ""));
    (body.to_string(), code.to_string())
}

fn wait(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    false
}

/// The reference haproxy.cfg, rebound to loopback addresses (10.10.16.x -> 127.0.0.x,
/// stats on 127.0.0.1) and with its pidfile in a temporary directory, runs as HAProxy
/// would: in the background, chrooted to /var/lib/haproxy as user haproxy; it serves
/// traffic and its stats page, and `halo lb reload` applies a changed file.
#[test]
fn lb_reference_configuration_runs_daemonized_chrooted_and_reloads() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: needs root (chroot, setuid, ports below 1024)");
        return;
    }
    if !std::path::Path::new("/var/lib/haproxy").is_dir()
        || Command::new("id")
            .arg("haproxy")
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
    {
        eprintln!("SKIP: user haproxy or /var/lib/haproxy missing (apt-get install haproxy)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("halo-lb-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let pidfile = dir.join("haproxy.pid");
    let text = std::fs::read_to_string(reference())
        .expect("reference")
        .replace("10.10.16.", "127.0.0.")
        .replace("0.0.0.0:1080", "127.0.0.1:1080")
        .replace("/var/run/haproxy.pid", &pidfile.display().to_string());
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, &text).expect("write cfg");
    for (a, n) in [
        ("127.0.0.55:5000", "controller01"),
        ("127.0.0.56:5000", "controller02"),
        ("127.0.0.58:5000", "controller03"),
    ] {
        halo_testkit::http::name_server(a, n).expect("backend binds");
    }
    let st = halo()
        .args(["lb", "run", "-f"])
        .arg(&cfg)
        .status()
        .expect("halo lb run");
    assert!(st.success(), "the daemonizing parent exits 0");
    assert!(
        wait(|| std::fs::read_to_string(&pidfile)
            .map(|s| !s.trim().is_empty())
            .unwrap_or(false)),
        "pidfile written"
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    let stop = || {
        // SAFETY: signals the daemon this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    };
    let haproxy_uid = String::from_utf8_lossy(
        &Command::new("id")
            .args(["-u", "haproxy"])
            .output()
            .expect("id")
            .stdout,
    )
    .trim()
    .to_string();
    // The pidfile lies outside the chroot, so it is written before the daemon confines
    // itself: wait for the chroot and the user change rather than racing them.
    let confinement = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let uid_line = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap_or("")
            .to_string();
        let root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap_or_default();
        (uid_line, root)
    };
    let confined = wait(|| {
        let (uid_line, root) = confinement();
        uid_line.split_whitespace().nth(1) == Some(haproxy_uid.as_str())
            && root == std::path::Path::new("/var/lib/haproxy")
    });
    if !confined {
        let (uid_line, root) = confinement();
        stop();
        panic!("not confined: {uid_line}, root {root:?}");
    }
    let ok = wait(|| curl(&["-u", "admin:admin", "http://127.0.0.1:1080/"]).1 == "200");
    let (page, _) = curl(&["-u", "admin:admin", "http://127.0.0.1:1080/"]);
    let (_, denied) = curl(&["http://127.0.0.1:1080/"]);
    let up = wait(|| {
        curl(&["-u", "admin:admin", "http://127.0.0.1:1080/;csv"])
            .0
            .lines()
            .any(|l| l.starts_with("keystone_public_cluster,controller01,") && l.contains(",UP,"))
    });
    let (answer, code) = curl(&["http://127.0.0.224:5000/"]);
    // Reload with a changed file: controller01 leaves keystone_public.
    let changed = text.replace(
        "  server controller01 127.0.0.55:5000 check inter 2000 rise 2 fall 5\n",
        "",
    );
    std::fs::write(&cfg, changed).expect("rewrite cfg");
    let rl = halo()
        .args(["lb", "reload", "-f"])
        .arg(&cfg)
        .status()
        .expect("halo lb reload");
    let reloaded = wait(|| {
        !curl(&["-u", "admin:admin", "http://127.0.0.1:1080/;csv"])
            .0
            .contains("keystone_public_cluster,controller01,")
    });
    stop();
    let gone = wait(|| {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .map(|s| s.contains("zombie"))
                .unwrap_or(true)
    });
    std::fs::remove_dir_all(&dir).ok();
    assert!(ok, "stats page answered");
    assert_eq!(denied, "401");
    for px in [
        "dashboard_cluster",
        "galera_cluster",
        "rabbitmq_cluster",
        "glance_api_cluster",
        "keystone_admin_cluster",
        "nova_compute_api_cluster",
        "cinder_api_cluster",
    ] {
        assert!(page.contains(px), "{px} on the stats page");
    }
    assert!(
        up,
        "keystone_public controller01 checked UP through httpchk"
    );
    assert_eq!(code, "200");
    assert!(answer.starts_with("controller0"), "{answer}");
    assert!(rl.success());
    assert!(reloaded, "reload applied under chroot as user haproxy");
    assert!(gone, "SIGTERM stops it");
}
