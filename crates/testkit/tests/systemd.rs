//! The private systemd against the real kernel: a host made a machine of its own
//! ([`Own`]) has its host name (also where systemd sets it from, /etc/hostname) and its
//! own files over the shared ones, as seen by what runs inside; the machine's stay as
//! they were. Needs root; skips visibly otherwise.

use halo_testkit::netns::{require_netns, Net};
use halo_testkit::systemd::{self, Own, Systemd};

fn out(sd: &Systemd, program: &str, args: &[&str]) -> String {
    let o = sd.run(program, args).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn own_host_name_and_files_inside_only() {
    if !require_netns() || !systemd::available() {
        return;
    }
    let net = Net::new(&["own"]).unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("halo-own-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("hosts"), "10.9.9.9 elsewhere\n").unwrap_or_else(|e| panic!("{e}"));
    let before = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let machine = out_of_ns("hostname");
    let own = Own {
        hostname: Some("controller-x".into()),
        binds: vec![(dir.join("hosts"), "/etc/hosts".into())],
    };
    let sd = Systemd::boot_as(&net.hosts()[0], &own).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out(&sd, "hostname", &[]), "controller-x");
    assert_eq!(out(&sd, "cat", &["/etc/hostname"]), "controller-x");
    assert_eq!(out(&sd, "cat", &["/etc/hosts"]), "10.9.9.9 elsewhere");
    // A unit systemd starts sees the same.
    sd.install(
        "name.service",
        &format!(
            "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'hostname > {}'\n",
            dir.join("seen").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let started = sd
        .systemctl(&["start", "name.service"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(started.status.success(), "{started:?}");
    let seen = std::fs::read_to_string(dir.join("seen")).unwrap_or_default();
    assert_eq!(seen.trim(), "controller-x");
    drop(sd);
    assert_eq!(out_of_ns("hostname"), machine, "the machine's name changed");
    assert_eq!(
        std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        before
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn out_of_ns(program: &str) -> String {
    let o = std::process::Command::new(program)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
