//! `halo demo` as a new user runs it: three daemons on 127.0.0.1 form a cluster, the
//! demo's web servers answer on every node and the singleton runs on node1; Ctrl-C
//! (SIGINT) stops everything and removes what the demo created.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use halo_testkit::cluster::poll;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

fn get(port: u16) -> Option<String> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    c.write_all(b"GET / HTTP/1.1\r\nhost: demo\r\n\r\n").ok()?;
    let mut answer = String::new();
    c.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn demo_runs_a_cluster_and_cleans_up() {
    let dir = std::env::temp_dir().join(format!("halo-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut demo = Command::new(bin())
        .args(["demo", "--state-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = demo.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("Logs:"))
        .collect();
    let export = lines
        .iter()
        .find_map(|l| l.strip_prefix("export HALO_STATE_DIR="))
        .unwrap_or_else(|| {
            let mut err = String::new();
            if let Some(mut e) = demo.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("no export line in {lines:?}\n{err}")
        });
    assert_eq!(Path::new(export), dir.join("node1"));
    // Every node's web server answers with its own name.
    let ports: Vec<(String, u16)> = lines
        .iter()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("curl http://127.0.0.1:")?;
            let (port, tail) = rest.split_once('/')?;
            let node = tail.split_whitespace().next()?.strip_suffix("'s")?;
            Some((node.to_string(), port.parse().ok()?))
        })
        .collect();
    assert_eq!(ports.len(), 3, "{lines:?}");
    for (node, port) in &ports {
        let answer = poll(Duration::from_secs(60), || {
            get(*port).filter(|a| a.contains(&format!("hello from {node}")))
        });
        assert!(
            answer.is_some(),
            "{node}'s web server on {port} never answered"
        );
    }
    // The CLI, pointed where the demo says, sees three nodes and the singleton on node1.
    let status = poll(Duration::from_secs(60), || {
        let out = Command::new(bin())
            .arg("status")
            .env("HALO_STATE_DIR", export)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("Started node1").then_some(text)
    });
    let status = status.unwrap_or_else(|| panic!("the singleton never ran on node1"));
    assert!(status.contains("3 of 3 voters online"), "{status}");

    // Ctrl-C: everything stops, the directory the demo created is gone.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(demo.id() as i32, libc::SIGINT);
    }
    let end = Instant::now() + Duration::from_secs(120);
    let code = loop {
        if let Some(s) = demo.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break s;
        }
        assert!(Instant::now() < end, "the demo did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(code.success(), "{code:?}");
    assert!(!dir.exists(), "{} was not removed", dir.display());
    for (_, port) in &ports {
        assert!(get(*port).is_none(), "a web server still answers on {port}");
    }
}
