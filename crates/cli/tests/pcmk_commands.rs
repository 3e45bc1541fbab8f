//! Pacemaker's command-line tools as halo answers them (the `halo` binary run through
//! links named crm_attribute, crm_master, attrd_updater, crm_node, crm_resource,
//! cibadmin and crm_mon), against a live three-node cluster of real daemons: output
//! formats and exit codes as Pacemaker 2.1.5's, and Debian's real `ocf:pacemaker:Stateful`
//! run as a promotable clone, setting its promotion scores through them.
//! No timing assertions: every wait polls with a generous deadline.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use halo_testkit::cluster::{poll, Cluster, DEADLINE};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

const TOOLS: &[&str] = &[
    "crm_attribute",
    "crm_master",
    "attrd_updater",
    "crm_node",
    "crm_resource",
    "cibadmin",
    "crm_mon",
];

/// What a tool run produced.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A directory of links under the tools' names to the halo binary.
fn tool_dir(root: &Path) -> PathBuf {
    let dir = root.join("tools");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    for t in TOOLS {
        let link = dir.join(t);
        if !link.exists() {
            std::os::unix::fs::symlink(bin(), &link).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    dir
}

/// Run `tool ARGS` against daemon `i`, with extra environment `env` (the OCF variables
/// of the test process are never passed on).
fn tool(c: &Cluster, i: usize, name: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(tool_dir(&c.root).join(name));
    cmd.args(args)
        .env("HALO_STATE_DIR", &c.daemons[i].dir)
        .env_remove("OCF_RESOURCE_INSTANCE")
        .env_remove("OCF_RESKEY_CRM_meta_on_node")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Run and expect exit code `code`; returns stdout.
fn expect(
    c: &Cluster,
    i: usize,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
    code: i32,
) -> String {
    let o = tool(c, i, name, args, env);
    assert_eq!(
        o.code, code,
        "{name} {args:?} (env {env:?}): exit {} instead of {code}\nstdout: {}\nstderr: {}",
        o.code, o.stdout, o.stderr
    );
    o.stdout
}

fn state(c: &Cluster, i: usize) -> Value {
    let client = halo_api::Client::new(&c.daemons[i].dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(client.state(true)).unwrap_or(Value::Null)
}

/// Whether python3 can check that a document is well-formed XML (CI installs it).
fn have_python() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import xml.dom.minidom"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("HALO_TEST_NO_SKIP").is_none(),
            "python3 is missing (Debian package python3)"
        );
        eprintln!("SKIP (XML well-formedness check): python3 is missing");
    }
    ok
}

/// The root element name and every `node` element's name attribute of an XML document,
/// read by python's XML parser (so the document must be well-formed).
fn xml_nodes(doc: &str) -> (String, Vec<String>) {
    let script = "import sys, xml.dom.minidom as m\nd = m.parseString(sys.stdin.read())\nprint(d.documentElement.tagName)\nfor n in d.getElementsByTagName('nodes')[0].getElementsByTagName('node'):\n    print(n.getAttribute('name'))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        stdin
            .write_all(doc.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let o = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        o.status.success(),
        "not well-formed XML: {}\n{doc}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut lines = text.lines().map(str::to_string);
    let root = lines.next().unwrap_or_default();
    (root, lines.collect())
}

/// crm_attribute: transient and permanent node attributes, cluster properties,
/// promotion scores; crm_master; the query formats and Pacemaker's exit codes.
#[test]
fn crm_attribute_and_crm_master() {
    let c = Cluster::formed(bin(), "pcmk-attr", &["n1", "n2", "n3"]);
    let none: &[(&str, &str)] = &[];

    // Transient (status) attributes.
    expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "tr", "-l", "reboot", "-v", "7"],
        none,
        0,
    );
    let q = expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "tr", "-l", "reboot", "-G"],
        none,
        0,
    );
    assert_eq!(q, "scope=status  name=tr value=7\n");
    let q = expect(
        &c,
        0,
        "crm_attribute",
        &[
            "--node=n2",
            "--name",
            "tr",
            "--lifetime",
            "reboot",
            "--query",
            "--quiet",
        ],
        none,
        0,
    );
    assert_eq!(q, "7\n");
    // Replicated: every node reads it.
    let seen = poll(DEADLINE, || {
        let o = tool(
            &c,
            2,
            "crm_attribute",
            &["-N", "n2", "-n", "tr", "-t", "status", "-G", "-q"],
            none,
        );
        (o.code == 0 && o.stdout == "7\n").then_some(())
    });
    assert!(seen.is_some(), "n3 never saw the attribute\n{}", c.logs());
    // Increments, as pacemaker-attrd expands them.
    expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "tr", "-l", "reboot", "-v", "value++"],
        none,
        0,
    );
    expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "tr", "-l", "reboot", "-v", "value+=10"],
        none,
        0,
    );
    let q = expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "tr", "-l", "reboot", "-G", "-q"],
        none,
        0,
    );
    assert_eq!(q, "18\n");
    assert_eq!(state(&c, 0)["node_attrs"]["n2"]["tr"], "18");
    // Missing: Pacemaker's message and exit code 105 (CRM_EX_NOSUCH), or the default.
    let o = tool(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "missing", "-l", "reboot", "-G"],
        none,
    );
    assert_eq!(o.code, 105, "{o:?}");
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr.trim(),
        "crm_attribute: Error performing operation: No such device or address"
    );
    let q = expect(
        &c,
        0,
        "crm_attribute",
        &[
            "-N", "n2", "-n", "missing", "-l", "reboot", "-G", "-d", "dflt",
        ],
        none,
        0,
    );
    assert_eq!(q, "scope=status  name=missing value=dflt\n");
    let q = expect(
        &c,
        0,
        "crm_attribute",
        &[
            "-N", "n2", "-n", "missing", "-l", "reboot", "-G", "-q", "-d", "dflt",
        ],
        none,
        0,
    );
    assert_eq!(q, "dflt\n");
    // Delete; deleting what is not there succeeds.
    let d = expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "tr", "-l", "reboot", "-D"],
        none,
        0,
    );
    assert_eq!(d, "");
    expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "tr", "-l", "reboot", "-G"],
        none,
        105,
    );
    expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n2", "-n", "tr", "-l", "reboot", "-D"],
        none,
        0,
    );
    assert!(state(&c, 0)["node_attrs"]["n2"]["tr"].is_null());
    // An unknown node.
    let o = tool(
        &c,
        0,
        "crm_attribute",
        &["-N", "nX", "-n", "a", "-l", "reboot", "-G"],
        none,
    );
    assert_eq!(o.code, 105, "{o:?}");
    assert!(
        o.stderr.contains("Could not map name=nX to a UUID"),
        "{o:?}"
    );

    // Permanent (nodes) attributes live in the configuration.
    expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n1", "-n", "perm", "-l", "forever", "-v", "p1"],
        none,
        0,
    );
    let q = expect(
        &c,
        1,
        "crm_attribute",
        &["-N", "n1", "-n", "perm", "-G"],
        none,
        0,
    );
    assert_eq!(q, "scope=nodes  name=perm value=p1\n");
    let shown = c.halo(0, &["config", "show"]);
    assert!(shown.ok && shown.stdout.contains("perm"), "{shown:?}");
    let d = expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n1", "-n", "perm", "-l", "forever", "-D"],
        none,
        0,
    );
    assert_eq!(d, "Deleted nodes attribute: id=nodes-1-perm name=perm\n");

    // Permanent attributes written at once from every node (as rabbitmq-cluster's
    // instances record their node names as they start together): none is lost, none
    // refused because another changed the configuration meanwhile.
    std::thread::scope(|s| {
        for i in 0..6 {
            let c = &c;
            s.spawn(move || {
                let (node, name, value) =
                    (format!("n{}", i % 3 + 1), format!("at{i}"), format!("v{i}"));
                expect(
                    c,
                    i % 3,
                    "crm_attribute",
                    &["-N", &node, "-n", &name, "-l", "forever", "-v", &value],
                    &[],
                    0,
                );
            });
        }
    });
    for i in 0..6 {
        let node = format!("n{}", i % 3 + 1);
        let q = expect(
            &c,
            0,
            "crm_attribute",
            &[
                "-N",
                &node,
                "-n",
                &format!("at{i}"),
                "-l",
                "forever",
                "-G",
                "-q",
            ],
            none,
            0,
        );
        assert_eq!(q.trim(), format!("v{i}"));
    }
    expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n1", "-n", "perm", "-t", "nodes", "-G"],
        none,
        105,
    );

    // Cluster properties.
    expect(
        &c,
        0,
        "crm_attribute",
        &["-n", "test-prop", "-v", "x"],
        none,
        0,
    );
    let q = expect(
        &c,
        0,
        "crm_attribute",
        &["-t", "crm_config", "-n", "test-prop", "-G"],
        none,
        0,
    );
    assert_eq!(q, "scope=crm_config  name=test-prop value=x\n");
    let d = expect(&c, 0, "crm_attribute", &["-n", "test-prop", "-D"], none, 0);
    assert_eq!(
        d,
        "Deleted crm_config option: id=cib-bootstrap-options-test-prop name=test-prop\n"
    );

    // Promotion scores: master-$OCF_RESOURCE_INSTANCE on the agent's node, transient.
    let agent = [
        ("OCF_RESOURCE_INSTANCE", "st"),
        ("OCF_RESKEY_CRM_meta_on_node", "n3"),
    ];
    expect(
        &c,
        0,
        "crm_attribute",
        &["--promotion", "-v", "5"],
        &agent,
        0,
    );
    assert_eq!(state(&c, 0)["node_attrs"]["n3"]["master-st"], "5");
    let q = expect(&c, 0, "crm_attribute", &["-p", "-G"], &agent, 0);
    assert_eq!(q, "scope=status  name=master-st value=5\n");
    let q = expect(
        &c,
        0,
        "crm_attribute",
        &["-N", "n3", "-p", "st", "-G", "-q"],
        none,
        0,
    );
    assert_eq!(q, "5\n");
    let o = tool(&c, 0, "crm_attribute", &["-p", "-G"], none);
    assert_eq!(o.code, 64, "no resource: a usage error {o:?}");
    // crm_master, as agents call it.
    expect(&c, 0, "crm_master", &["-l", "reboot", "-v", "7"], &agent, 0);
    let q = expect(
        &c,
        0,
        "crm_master",
        &["-l", "reboot", "-G", "-q"],
        &agent,
        0,
    );
    assert_eq!(q, "7\n");
    expect(
        &c,
        0,
        "crm_master",
        &["-N", "n2", "-l", "reboot", "-v", "3"],
        &agent,
        0,
    );
    assert_eq!(state(&c, 0)["node_attrs"]["n2"]["master-st"], "3");
    expect(&c, 0, "crm_master", &["-l", "reboot", "-D"], &agent, 0);
    expect(&c, 0, "crm_master", &["-l", "reboot", "-G"], &agent, 105);
    let o = tool(&c, 0, "crm_master", &["-l", "reboot", "-G"], none);
    assert_eq!(o.code, 1, "no resource {o:?}");

    // No daemon: "not connected" (agents look for it), exit 102 (CRM_EX_DISCONNECT).
    let o = Command::new(tool_dir(&c.root).join("crm_attribute"))
        .args(["-n", "x", "-G"])
        .env("HALO_STATE_DIR", c.root.join("nowhere"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(102));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not connected"));
}

/// attrd_updater and crm_node against the live cluster.
#[test]
fn attrd_updater_and_crm_node() {
    let c = Cluster::formed(bin(), "pcmk-attrd", &["n1", "n2", "n3"]);
    let none: &[(&str, &str)] = &[];

    // The local node by default (the daemon asked is n1's).
    expect(&c, 0, "attrd_updater", &["-n", "au", "-U", "1"], none, 0);
    assert_eq!(state(&c, 0)["node_attrs"]["n1"]["au"], "1");
    let q = expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-Q", "-N", "n1"],
        none,
        0,
    );
    assert_eq!(q, "name=\"au\" host=\"n1\" value=\"1\"\n");
    // Known elsewhere, not on n2: an empty value.
    let q = expect(
        &c,
        0,
        "attrd_updater",
        &["-Q", "-n", "au", "-N", "n2"],
        none,
        0,
    );
    assert_eq!(q, "name=\"au\" host=\"n2\" value=\"\"\n");
    // An agent's own node; -v is -U; -d with -U does not set a delay (as in 2.1.5).
    let agent = [("OCF_RESKEY_CRM_meta_on_node", "n2")];
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-v", "2", "-d", "5s"],
        &agent,
        0,
    );
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-B", "3", "-d", "2s", "-N", "n3"],
        none,
        0,
    );
    assert_eq!(
        state(&c, 0)["node_attrs"]["n2"]["au"],
        "2",
        "-U -d is not dampened"
    );
    // -B with -d: the value is the daemon's at once, the cluster's after the delay.
    assert!(
        state(&c, 0)["node_attrs"]["n3"]["au"].is_null(),
        "written before its 2 s dampening"
    );
    let q = expect(&c, 0, "attrd_updater", &["-n", "au", "-Q", "-A"], none, 0);
    assert_eq!(
        q,
        "name=\"au\" host=\"n1\" value=\"1\"\nname=\"au\" host=\"n2\" value=\"2\"\nname=\"au\" host=\"n3\" value=\"3\"\n"
    );
    let written = poll(DEADLINE, || {
        (state(&c, 0)["node_attrs"]["n3"]["au"] == "3").then_some(())
    });
    assert!(written.is_some(), "the dampened value was never written");
    // The delay stays with the attribute: a later -U waits for it too, -Q sees it.
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-U", "4", "-N", "n3"],
        none,
        0,
    );
    assert_eq!(state(&c, 0)["node_attrs"]["n3"]["au"], "3");
    let q = expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-Q", "-N", "n3"],
        none,
        0,
    );
    assert_eq!(q, "name=\"au\" host=\"n3\" value=\"4\"\n");
    // Back to the written value before the delay ran out: 4 is never written.
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-U", "3", "-N", "n3"],
        none,
        0,
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        state(&c, 0)["node_attrs"]["n3"]["au"],
        "3",
        "a cancelled value was written"
    );
    // -Y changes only the delay: none now, so the next value is written at once.
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-Y", "-d", "0", "-N", "n3"],
        none,
        0,
    );
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-Y", "-N", "n3"],
        none,
        64,
    );
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-U", "5", "-N", "n3"],
        none,
        0,
    );
    assert_eq!(state(&c, 0)["node_attrs"]["n3"]["au"], "5");
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-U", "3", "-N", "n3"],
        none,
        0,
    );
    let q = expect(&c, 0, "attrd_updater", &["-n", "au", "-Q"], &agent, 0);
    assert_eq!(q, "name=\"au\" host=\"n2\" value=\"2\"\n");
    // What mariadb does with the answer: eval it.
    let sh = Command::new("sh")
        .args(["-c", &format!("eval {}; echo \"$value\"", q.trim())])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&sh.stdout), "2\n");
    // Never set anywhere: exit 78, Pacemaker's message.
    let o = tool(&c, 0, "attrd_updater", &["-n", "nothere", "-Q"], none);
    assert_eq!(o.code, 78, "{o:?}");
    assert!(
        o.stderr
            .contains("Could not query value of nothere: attribute does not exist"),
        "{o:?}"
    );
    // Delete.
    expect(&c, 0, "attrd_updater", &["-n", "au", "-D"], none, 0);
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-D", "-N", "n2"],
        none,
        0,
    );
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "au", "-D", "-N", "n3"],
        none,
        0,
    );
    expect(&c, 0, "attrd_updater", &["-n", "au", "-Q"], none, 78);
    // Usage errors.
    expect(&c, 0, "attrd_updater", &["-U", "1"], none, 64);
    expect(
        &c,
        0,
        "attrd_updater",
        &["-n", "x", "-U", "1", "-l", "sometimes"],
        none,
        64,
    );

    // crm_node.
    assert_eq!(expect(&c, 1, "crm_node", &["-n"], none, 0), "n2\n");
    assert_eq!(
        expect(
            &c,
            1,
            "crm_node",
            &["--name"],
            &[("OCF_RESKEY_CRM_meta_on_node", "n3")],
            0
        ),
        "n3\n"
    );
    let status = c.status(1).unwrap_or(Value::Null);
    let id_of = |name: &str| {
        status["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["name"] == name)
            .map(|n| n["id"].to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        expect(&c, 1, "crm_node", &["-i"], none, 0),
        format!("{}\n", id_of("n2"))
    );
    assert_eq!(
        expect(&c, 0, "crm_node", &["-l"], none, 0),
        format!(
            "{} n1 member\n{} n2 member\n{} n3 member\n",
            id_of("n1"),
            id_of("n2"),
            id_of("n3")
        )
    );
    assert_eq!(expect(&c, 0, "crm_node", &["-p"], none, 0), "n1 n2 n3 \n");
    // As rabbitmq-server-ha asks: -l -p is -p.
    assert_eq!(
        expect(&c, 0, "crm_node", &["-l", "-p"], none, 0),
        "n1 n2 n3 \n"
    );
    assert_eq!(expect(&c, 0, "crm_node", &["-q"], none, 0), "1\n");
    assert_eq!(
        expect(&c, 0, "crm_node", &["-N", &id_of("n3")], none, 0),
        "n3\n"
    );
    expect(&c, 0, "crm_node", &["-N", "999"], none, 68);
    expect(&c, 0, "crm_node", &[], none, 64);
}

const STATEFUL: &str = "/usr/lib/ocf/resource.d/pacemaker/Stateful";
const DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";

/// Whether Debian's pacemaker-resource-agents is installed.
fn have_stateful() -> bool {
    halo_testkit::installed(STATEFUL, "pacemaker-resource-agents")
}

/// A wrapper around the halo binary that gives each daemon its own HA_VARRUN (its
/// HA_RSCTMP directory): Stateful keeps its role in ${HA_VARRUN}/Stateful-RSC.state, and
/// the three test daemons share one machine.
fn wrapper(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("halo-wrapper");
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = daemon ]; then\n  prev=\n  for a in \"$@\"; do\n    if [ \"$prev\" = --rsctmp ]; then HA_VARRUN=\"$a\"; export HA_VARRUN; fi\n    prev=\"$a\"\n  done\nfi\nexec '{}' \"$@\"\n",
        bin().display()
    );
    std::fs::write(&path, script).unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    path
}

const PROMOTABLE: &str = r#"
version = 1

[[node]]
name = "n1"
[[node]]
name = "n2"
[[node]]
name = "n3"

[[clone]]
id = "ms"
promotable = true
[clone.resource]
id = "st"
agent = "ocf:pacemaker:Stateful"
op = [
  { name = "monitor", interval = "1s", role = "Promoted" },
  { name = "monitor", interval = "2s", role = "Unpromoted" },
]
"#;

/// The role Stateful's own state file records on node `i` (None: not running there).
fn role_file(c: &Cluster, i: usize) -> Option<String> {
    std::fs::read_to_string(c.daemons[i].rsctmp().join("Stateful-st.state"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Debian's real ocf:pacemaker:Stateful as a promotable clone on three nodes: each
/// instance sets its promotion score through halo's crm_attribute (found as
/// ${HA_SBIN_DIR}/crm_attribute), the scheduler promotes exactly one, and the status
/// tools (crm_mon's XML, crm_resource --locate, cibadmin) show it.
#[test]
fn stateful_promotable_clone_promotes_exactly_one() {
    if !have_stateful() {
        return;
    }
    let scratch = std::env::temp_dir().join(format!("halo-pcmk-wrapper-{}", std::process::id()));
    let wrap = wrapper(&scratch);
    let c = Cluster::formed(&wrap, "pcmk-stateful", &["n1", "n2", "n3"]);
    let file = c.root.join("config.toml");
    std::fs::write(&file, PROMOTABLE).unwrap_or_else(|e| panic!("{e}"));
    let r = c.halo(0, &["config", "apply", &file.display().to_string()]);
    assert!(r.ok, "config apply failed: {}\n{}", r.stderr, c.logs());

    let roles = || -> Vec<Option<String>> { (0..3).map(|i| role_file(&c, i)).collect() };
    let settled = poll(DEADLINE * 2, || {
        let r = roles();
        let promoted: Vec<usize> = (0..3)
            .filter(|&i| r[i].as_deref() == Some("Promoted"))
            .collect();
        let unpromoted = r
            .iter()
            .filter(|x| x.as_deref() == Some("Unpromoted"))
            .count();
        (promoted.len() == 1 && unpromoted == 2).then(|| promoted[0])
    });
    let Some(p) = settled else {
        panic!(
            "expected one Promoted and two Unpromoted instances, state files say {:?}\n{}\n{}",
            roles(),
            state(&c, 0)["node_attrs"],
            c.logs()
        );
    };
    let promoted = format!("n{}", p + 1);
    // The scores the agent set through crm_attribute --promotion: 10 where promoted,
    // 5 elsewhere, in the replicated transient node attributes.
    let scores = poll(DEADLINE, || {
        let st = state(&c, 0);
        let s: Vec<String> = (1..=3)
            .map(|n| {
                st["node_attrs"][format!("n{n}")]["master-st"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        let want: Vec<String> = (0..3)
            .map(|i| if i == p { "10" } else { "5" }.to_string())
            .collect();
        (s == want).then_some(())
    });
    assert!(
        scores.is_some(),
        "promotion scores: {}\n{}",
        state(&c, 0)["node_attrs"],
        c.logs()
    );
    // Stays so: still exactly one Promoted a little later.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let r = roles();
    assert_eq!(
        r.iter()
            .filter(|x| x.as_deref() == Some("Promoted"))
            .count(),
        1,
        "{r:?}"
    );
    assert_eq!(r[p].as_deref(), Some("Promoted"), "{r:?}");

    let none: &[(&str, &str)] = &[];
    // crm_mon's XML, as galera greps it: one Promoted instance, active, not failed.
    let xml = expect(&c, 1, "crm_mon", &["-1", "--output-as=xml"], none, 0);
    let promoted_lines: Vec<&str> = xml
        .lines()
        .filter(|l| {
            l.contains("<resource id=\"st\"")
                && l.contains("role=\"Promoted\" active=\"true\" orphaned=\"false\"")
                && l.contains("failed=\"false\"")
        })
        .collect();
    assert_eq!(promoted_lines.len(), 1, "{xml}");
    assert_eq!(
        xml.matches("role=\"Unpromoted\" active=\"true\"").count(),
        2,
        "{xml}"
    );
    assert!(
        xml.contains("<clone id=\"ms\" multi_state=\"true\" unique=\"false\""),
        "{xml}"
    );
    assert!(xml.contains("<current_dc present=\"true\""), "{xml}");
    assert!(
        xml.trim_end()
            .ends_with("<status code=\"0\" message=\"OK\"/>\n</pacemaker-result>".trim_end()),
        "{xml}"
    );
    if have_python() {
        let (root, nodes) = xml_nodes(&xml);
        assert_eq!(root, "pacemaker-result");
        assert_eq!(nodes, ["n1", "n2", "n3"]);
        let legacy = expect(&c, 2, "crm_mon", &["-1X"], none, 0);
        let (root, nodes) = xml_nodes(&legacy);
        assert_eq!(root, "crm_mon");
        assert_eq!(nodes, ["n1", "n2", "n3"]);
    }
    // crm_mon's text.
    let text = expect(&c, 0, "crm_mon", &["-1"], none, 0);
    assert!(
        text.contains(&format!("Promoted: [ {promoted} ]")),
        "{text}"
    );

    // crm_resource --locate.
    let w = expect(&c, 0, "crm_resource", &["-r", "st", "-W"], none, 0);
    assert!(
        w.contains(&format!("resource st is running on: {promoted} Promoted\n")),
        "{w}"
    );
    assert_eq!(w.lines().count(), 3, "{w}");
    let w = expect(
        &c,
        0,
        "crm_resource",
        &["--resource", "ms", "--locate", "-Q"],
        none,
        0,
    );
    assert_eq!(w.lines().count(), 3, "{w}");
    let o = tool(&c, 0, "crm_resource", &["-r", "nosuch", "-W"], none);
    assert_eq!(o.code, 105, "{o:?}");
    // Its recorded operations: the promotion among them.
    let ops = expect(
        &c,
        0,
        "crm_resource",
        &["--list-operations", "-r", "st", "-N", &promoted],
        none,
        0,
    );
    assert!(
        ops.lines().any(|l| l
            .starts_with("st\t(ocf:pacemaker:Stateful):\t Promoted: st_promote_0 (node=")
            && l.ends_with("): complete")),
        "{ops}"
    );
    // Utilization (kept as meta utilization-NAME), as VirtualDomain sets it.
    expect(
        &c,
        0,
        "crm_resource",
        &["-r", "st", "-z", "-p", "cpu", "-v", "2"],
        none,
        0,
    );
    assert_eq!(
        expect(
            &c,
            0,
            "crm_resource",
            &["-Q", "-r", "st", "-z", "-g", "cpu"],
            none,
            0
        ),
        "2\n"
    );
    let o = tool(
        &c,
        0,
        "crm_resource",
        &["-Q", "-r", "st", "-z", "-g", "mem"],
        none,
    );
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{o:?}");
    expect(
        &c,
        0,
        "crm_resource",
        &["-r", "st", "--utilization", "--delete-parameter=cpu"],
        none,
        0,
    );
    expect(
        &c,
        0,
        "crm_resource",
        &["-Q", "-r", "st", "-z", "-g", "cpu"],
        none,
        0,
    );

    // cibadmin, as rabbitmq-cluster queries it (every node online and scored: wait
    // for it, a loaded machine may show a node offline for a moment).
    let query = [
        "-Q",
        "--xpath",
        "//node_state[@crmd='online']//nvpair[@name='master-st']",
    ];
    let x = poll(DEADLINE, || {
        let o = tool(&c, 0, "cibadmin", &query, none);
        (o.code == 0 && o.stdout.matches("name=\"master-st\"").count() == 3).then_some(o.stdout)
    })
    .unwrap_or_else(|| {
        let o = tool(&c, 0, "cibadmin", &query, none);
        panic!(
            "cibadmin {query:?}: exit {}: {}{}",
            o.code, o.stdout, o.stderr
        )
    });
    assert!(x.starts_with("<xpath-query>\n"), "{x}");
    let one = expect(
        &c,
        0,
        "cibadmin",
        &[
            "--query",
            "--xpath",
            &format!("//node_state[@uname='{promoted}']//nvpair[@name='master-st']"),
        ],
        none,
        0,
    );
    assert!(
        one.starts_with("<nvpair ") && one.contains("value=\"10\""),
        "{one}"
    );
    let got = Command::new("sh")
        .args(["-c", "sed -n -e \"s/^.*value=.\\(.*\\)\\\".*$/\\1/p\""])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            if let Some(mut i) = ch.stdin.take() {
                i.write_all(one.as_bytes())?;
            }
            ch.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&got.stdout), "10\n");
    let o = tool(
        &c,
        0,
        "cibadmin",
        &["-Q", "--xpath", "//nvpair[@name='nothing']"],
        none,
    );
    assert_eq!(o.code, 105, "{o:?}");
    let whole = expect(&c, 0, "cibadmin", &["-Q"], none, 0);
    assert!(
        whole.starts_with("<cib ")
            && whole.contains(
                "<primitive id=\"st\" class=\"ocf\" provider=\"pacemaker\" type=\"Stateful\""
            ),
        "{whole}"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

/// `no-quorum-policy=demote`: the node running the promoted Stateful instance is cut off
/// (the other two daemons frozen); its guard demotes that instance (Stateful's own state
/// file says Unpromoted, still running) and stops what is not a promotable clone's
/// instance (a Dummy). Once the others go on, the cluster promotes exactly one again.
#[test]
fn no_quorum_policy_demote_demotes_and_stops_the_rest() {
    if !have_stateful() || !halo_testkit::installed(DUMMY, "resource-agents") {
        return;
    }
    let scratch = std::env::temp_dir().join(format!("halo-pcmk-demote-{}", std::process::id()));
    let wrap = wrapper(&scratch);
    let c = Cluster::formed(&wrap, "pcmk-demote", &["n1", "n2", "n3"]);
    let file = c.root.join("config.toml");
    let config = PROMOTABLE.replacen(
        "version = 1\n",
        "version = 1\n[properties]\nno-quorum-policy = \"demote\"\n",
        1,
    );
    std::fs::write(&file, config).unwrap_or_else(|e| panic!("{e}"));
    let r = c.halo(0, &["config", "apply", &file.display().to_string()]);
    assert!(r.ok, "config apply failed: {}\n{}", r.stderr, c.logs());
    let promoted = poll(DEADLINE * 2, || {
        let p: Vec<usize> = (0..3)
            .filter(|&i| role_file(&c, i).as_deref() == Some("Promoted"))
            .collect();
        (p.len() == 1 && (0..3).all(|i| role_file(&c, i).is_some())).then(|| p[0])
    });
    let Some(p) = promoted else {
        panic!("never one promoted instance\n{}", c.logs());
    };
    let name = c.daemons[p].name.clone();
    let solo = |i: usize| c.daemons[i].rsctmp().join("Dummy-solo.state").exists();
    let r = c.halo(0, &["resource", "create", "solo", "ocf:heartbeat:Dummy"]);
    assert!(r.ok, "{}", r.stderr);
    let r = c.halo(0, &["constraint", "location", "solo", "prefers", &name]);
    assert!(r.ok, "{}", r.stderr);
    assert!(
        poll(DEADLINE, || solo(p).then_some(())).is_some(),
        "solo never ran on {name}\n{}",
        c.logs()
    );

    let others: Vec<usize> = (0..3).filter(|&i| i != p).collect();
    for &i in &others {
        c.pause(i);
    }
    let demoted = poll(DEADLINE, || {
        (role_file(&c, p).as_deref() == Some("Unpromoted") && !solo(p)).then_some(())
    });
    for &i in &others {
        c.resume(i);
    }
    assert!(
        demoted.is_some(),
        "{name} cut off: Stateful says {:?}, solo running: {}\n{}",
        role_file(&c, p),
        solo(p),
        c.logs()
    );
    // Healed: exactly one promoted instance again, solo back.
    let healed = poll(DEADLINE * 2, || {
        let promoted = (0..3)
            .filter(|&i| role_file(&c, i).as_deref() == Some("Promoted"))
            .count();
        let solos = (0..3).filter(|&i| solo(i)).count();
        (promoted == 1 && solos == 1).then_some(())
    });
    assert!(
        healed.is_some(),
        "after healing: {:?}\n{}",
        (0..3).map(|i| role_file(&c, i)).collect::<Vec<_>>(),
        c.logs()
    );
}
