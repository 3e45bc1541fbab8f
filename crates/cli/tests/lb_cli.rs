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
