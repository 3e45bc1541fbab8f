//! `halo simulate` end to end: the real binary on real files.

use std::path::PathBuf;
use std::process::{Command, Output};

fn halo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_halo"))
        .args(args)
        .output()
        .expect("the halo binary runs")
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("halo-simulate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write input");
    p
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The embedded reference deployment plans a start of everything on a fresh cluster.
#[test]
fn simulate_embedded_reference_starts_the_openstack_control_plane() {
    let o = halo(&["simulate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Transition Summary:"), "{out}");
    assert!(out.contains("Revised Cluster Status:"), "{out}");
    let summary: Vec<&str> = out
        .split("Transition Summary:")
        .nth(1)
        .and_then(|s| s.split("Revised Cluster Status:").next())
        .map(|s| s.lines().filter(|l| l.contains("* Start")).collect())
        .unwrap_or_default();
    assert!(summary.iter().any(|l| l.contains(" vip ")), "{out}");
    assert!(summary.iter().any(|l| l.contains("galera")), "{out}");
    // The revised status has the VIP running on exactly one controller.
    let revised = out.split("Revised Cluster Status:").nth(1).unwrap_or("");
    let vip = revised.lines().find(|l| l.contains("* vip")).unwrap_or("");
    assert!(vip.contains("Started controller"), "{revised}");
}

/// A Pacemaker CIB is planned like crm_simulate plans it.
#[test]
fn simulate_xml_reproduces_crm_simulate_on_a_corpus_case() {
    let case = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/pacemaker-scheduler/cases/bug-5014-A-stopped-B-stopped.xml");
    let o = halo(&["simulate", "--xml", case.to_str().unwrap_or_default()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("* Start") && l.contains("ClusterIP2"))
        .unwrap_or_else(|| panic!("no start of ClusterIP2 in:\n{out}"));
    assert!(
        line.contains("fc16-builder") && line.contains("blocked"),
        "{line}"
    );
    // ClusterIP itself is disabled (target-role Stopped): it gets no line.
    let starts_clusterip = out.lines().any(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some("*") && w.next() == Some("Start") && w.next() == Some("ClusterIP")
    });
    assert!(!starts_clusterip, "{out}");
}

/// --show-scores prints one allocation score per resource and node.
#[test]
fn simulate_show_scores_lists_every_node() {
    let o = halo(&["simulate", "--show-scores"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for n in ["controller1", "controller2", "controller3"] {
        assert!(
            out.contains(&format!("vip allocation score on {n}:")),
            "{out}"
        );
    }
}

/// --explain says where a resource goes and why it cannot run elsewhere.
#[test]
fn simulate_explain_names_the_reasons() {
    let cfg = tmp(
        "explain.toml",
        r#"version = 1
[properties]
stonith-enabled = false
[[node]]
name = "a"
[[node]]
name = "b"
[[resource]]
id = "web"
agent = "ocf:heartbeat:Dummy"
[[resource]]
id = "db"
agent = "ocf:heartbeat:Dummy"
[[location]]
id = "db-not-on-a"
resource = "db"
node = "a"
score = "-INFINITY"
[[location]]
id = "db-not-on-b"
resource = "db"
node = "b"
score = "-INFINITY"
"#,
    );
    let o = halo(&[
        "simulate",
        "--config",
        cfg.to_str().unwrap_or_default(),
        "--explain",
        "db",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let why = out
        .split("Why db:")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    assert!(why.contains("cannot run anywhere"), "{why}");
    assert!(
        why.contains("db-not-on-a") && why.contains("db-not-on-b"),
        "{why}"
    );
    let o = halo(&[
        "simulate",
        "--config",
        cfg.to_str().unwrap_or_default(),
        "--explain",
        "nope",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

/// Malformed XML is refused with the line and column, not a panic.
#[test]
fn simulate_malformed_xml_names_the_place() {
    let p = tmp(
        "bad.xml",
        "<cib>\n  <configuration>\n    <nodes>\n  </configuration>\n",
    );
    let o = halo(&["simulate", "--xml", p.to_str().unwrap_or_default()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("bad.xml:"), "{err}");
    assert!(err.contains("HALO-E001"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn native_error(name: &str, body: &str) -> String {
    let p = tmp(name, body);
    let o = halo(&["simulate", "--config", p.to_str().unwrap_or_default()]);
    assert!(!o.status.success(), "{name} was accepted:\n{}", stdout(&o));
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    err
}

const TWO_NODES: &str = "version = 1\n[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n[[resource]]\nid = \"A\"\nagent = \"ocf:heartbeat:Dummy\"\n[[resource]]\nid = \"B\"\nagent = \"ocf:heartbeat:Dummy\"\n";

/// A constraint naming a resource that does not exist is an error naming both.
#[test]
fn simulate_unknown_resource_in_constraint_is_refused() {
    let err = native_error(
        "unknown.toml",
        &format!("{TWO_NODES}[[colocation]]\nid = \"c1\"\nresource = \"A\"\nwith = \"ghost\"\nscore = \"INFINITY\"\n"),
    );
    assert!(err.contains("c1") && err.contains("ghost"), "{err}");
}

/// An invalid score names the constraint.
#[test]
fn simulate_invalid_score_is_refused() {
    let err = native_error(
        "score.toml",
        &format!("{TWO_NODES}[[location]]\nid = \"l1\"\nresource = \"A\"\nnode = \"a\"\nscore = \"lots\"\n"),
    );
    assert!(err.contains("lots"), "{err}");
    assert!(err.contains("score.toml"), "{err}");
}

/// A cycle of mandatory orders is refused with the cycle spelled out.
#[test]
fn simulate_mandatory_order_cycle_is_refused() {
    let err = native_error(
        "cycle.toml",
        &format!("{TWO_NODES}[[order]]\nid = \"o1\"\nfirst = \"A\"\nthen = \"B\"\n[[order]]\nid = \"o2\"\nfirst = \"B\"\nthen = \"A\"\n"),
    );
    assert!(err.contains("o1") && err.contains("o2"), "{err}");
    assert!(err.to_lowercase().contains("cycle"), "{err}");
}

/// `--dot` and `--graph-json` write the transition graph: the same actions and
/// orderings in both forms, for the embedded reference deployment (and `dot` can draw
/// it when graphviz is installed).
#[test]
fn simulate_writes_the_transition_graph_as_dot_and_json() {
    let dir = std::env::temp_dir().join(format!("halo-simulate-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (dot, json) = (dir.join("g.dot"), dir.join("g.json"));
    let o = halo(&[
        "simulate",
        "--dot",
        dot.to_str().unwrap_or_default(),
        "--graph-json",
        json.to_str().unwrap_or_default(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dot_text = std::fs::read_to_string(&dot).expect("the DOT file is written");
    let graph: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON file is written"))
            .expect("valid JSON");
    assert_eq!(graph["format"], "halo-graph/1");
    let actions = graph["actions"].as_array().expect("an action list");
    let nodes = dot_text
        .lines()
        .filter(|l| l.starts_with('"') && !l.contains("->"));
    assert_eq!(nodes.count(), actions.len());
    let edges = dot_text.lines().filter(|l| l.contains("->")).count();
    let inputs: usize = actions
        .iter()
        .map(|a| a["inputs"].as_array().map(|v| v.len()).unwrap_or(0))
        .sum();
    assert_eq!(edges, inputs, "every edge is an input on a fresh cluster");
    // The VIP is probed on every controller before it starts, then monitored.
    let label = |a: &serde_json::Value| a["label"].as_str().unwrap_or("").to_string();
    let start = actions
        .iter()
        .find(|a| a["key"] == "vip_start_0")
        .expect("the VIP starts");
    let waits: Vec<String> = start["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.as_u64())
        .map(|i| label(&actions[i as usize]))
        .collect();
    for c in ["controller1", "controller2", "controller3"] {
        assert!(waits.contains(&format!("vip_monitor_0 {c}")), "{waits:?}");
    }
    assert!(dot_text.contains(&format!("\"{}\" -> \"vip_monitor_30000 ", label(start))));
    if let Ok(o) = Command::new("dot")
        .args(["-Tsvg", dot.to_str().unwrap_or_default()])
        .output()
    {
        assert!(o.status.success(), "dot cannot read it: {}", stderr(&o));
    }
}

/// A resource whose stop failed with on-fail=block shows as crm_simulate shows it:
/// failed and blocked, before and after (nothing acts on it), and its failure never
/// expires although failure-timeout passed.
#[test]
fn simulate_shows_a_blocked_failure_as_blocked() {
    let case = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/pacemaker-scheduler/cases/expire-non-blocked-failure.xml");
    let o = halo(&["simulate", "--xml", case.to_str().unwrap_or_default()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let blocked = out
        .lines()
        .filter(|l| l.contains("rsc1\t") && l.contains("FAILED node2 (blocked)"))
        .count();
    assert_eq!(blocked, 2, "{out}");
}
