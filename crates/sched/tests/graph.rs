//! The transition graph as the controller will read it: every action carries what is
//! needed to run it, and waits for the right actions. Pacemaker's own cases check the
//! shape of the graph (tests/corpus.rs); these check the typed details.

use halo_sched::graph::{ActionKind, GraphAction, ResourceOp, TransitionGraph, GRAPH_FORMAT};

fn plan(xml: &str, live: bool) -> halo_sched::Plan {
    let imp = halo_model::parse_cib(xml, "test.xml").expect("the test CIB parses");
    let mode = if live {
        halo_sched::Mode::Live
    } else {
        halo_sched::Mode::Simulation
    };
    halo_sched::schedule_in(&imp.config, &imp.status, 1_700_000_000, mode).expect("schedules")
}

/// A CIB with two online nodes, the given properties, resources, constraints and
/// node1's resource history.
fn cib(props: &str, resources: &str, constraints: &str, node1_lrm: &str) -> String {
    format!(
        r#"<cib have-quorum="1" dc-uuid="node1">
  <configuration>
    <crm_config><cluster_property_set id="p">
      <nvpair id="p-st" name="stonith-enabled" value="false"/>{props}
    </cluster_property_set></crm_config>
    <nodes><node id="node1" uname="node1"/><node id="node2" uname="node2"/></nodes>
    <resources>{resources}</resources>
    <constraints>{constraints}</constraints>
  </configuration>
  <status>
    <node_state id="node1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
      <lrm id="node1"><lrm_resources>{node1_lrm}</lrm_resources></lrm>
    </node_state>
    <node_state id="node2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>
  </status>
</cib>"#
    )
}

const DUMMY: &str = r#"<primitive id="db" class="ocf" provider="pacemaker" type="Dummy">
  <instance_attributes id="db-ia"><nvpair id="db-f" name="fake" value="foo"/></instance_attributes>
  <operations>
    <op id="db-mon" name="monitor" interval="10s" timeout="30s"/>
    <op id="db-start" name="start" interval="0" timeout="90s"/>
  </operations>
</primitive>"#;

/// The plan's Transition Summary lines.
fn summary(p: &halo_sched::Plan) -> Vec<String> {
    p.changes.iter().map(|c| c.render()).collect()
}

fn action<'a>(g: &'a TransitionGraph, label: &str) -> &'a GraphAction {
    g.by_label(label)
        .unwrap_or_else(|| panic!("no action {label} in\n{}", g.to_dot()))
}

fn op(a: &GraphAction) -> &ResourceOp {
    match &a.kind {
        ActionKind::Resource(op) => op,
        other => panic!("{} is not a resource operation: {other:?}", a.label),
    }
}

fn inputs(g: &TransitionGraph, a: &GraphAction) -> Vec<String> {
    let mut v: Vec<String> = a
        .inputs
        .iter()
        .map(|&i| g.actions[i].label.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn a_new_resource_is_probed_everywhere_then_started_then_monitored() {
    let g = plan(&cib("", DUMMY, "", ""), true).graph();
    assert_eq!(g.format, GRAPH_FORMAT);
    for (i, a) in g.actions.iter().enumerate() {
        assert_eq!(a.id, i, "ids are positions");
        assert!(a.runnable, "{} should run", a.label);
    }
    for node in ["node1", "node2"] {
        let probe = action(&g, &format!("db_monitor_0 {node}"));
        let p = op(probe);
        assert!(p.probe);
        assert_eq!(p.expected_rc, Some(7), "a probe expects 'not running'");
        assert_eq!(p.timeout_ms, 30_000, "a probe takes the monitor's timeout");
        assert_eq!(p.params.get("fake").map(String::as_str), Some("foo"));
        assert_eq!(probe.node.as_deref(), Some(node));
    }
    let start = g
        .actions
        .iter()
        .find(|a| a.key == "db_start_0")
        .expect("a start");
    let node = start.node.clone().expect("a start has a node");
    assert_eq!(
        inputs(&g, start),
        vec![
            "db_monitor_0 node1".to_string(),
            "db_monitor_0 node2".to_string()
        ],
        "the start waits for both probes"
    );
    let s = op(start);
    assert_eq!((s.class.as_str(), s.agent_type.as_str()), ("ocf", "Dummy"));
    assert_eq!(s.provider.as_deref(), Some("pacemaker"));
    assert_eq!(s.timeout_ms, 90_000);
    assert_eq!(s.meta.get("timeout").map(String::as_str), Some("90000"));
    assert!(
        !s.meta.contains_key("on_node"),
        "the node is the action's, so operations on several nodes share their details"
    );
    assert_eq!(s.meta.get("name").map(String::as_str), Some("start"));
    let mon = action(&g, &format!("db_monitor_10000 {node}"));
    assert_eq!(op(mon).interval_ms, 10_000);
    assert!(!op(mon).probe);
    assert_eq!(inputs(&g, mon), vec![start.label.clone()]);
    let json = serde_json::to_value(&g).expect("serializes");
    assert_eq!(json["format"], GRAPH_FORMAT);
    assert_eq!(json["actions"][start.id]["kind"]["task"], "start");
}

#[test]
fn a_running_resource_with_its_monitor_needs_nothing() {
    let lrm = r#"<lrm_resource id="db" class="ocf" provider="pacemaker" type="Dummy">
  <lrm_rsc_op id="db_last_0" operation="start" interval="0" op-status="0" rc-code="0" transition-key="1:1:0:00000000-0000-0000-0000-000000000000" call-id="2" crm_feature_set="3.16.2" op-digest="DIGEST"/>
  <lrm_rsc_op id="db_monitor_10000" operation="monitor" interval="10000" op-status="0" rc-code="0" transition-key="2:1:0:00000000-0000-0000-0000-000000000000" call-id="3" crm_feature_set="3.16.2" op-digest="MONDIGEST"/>
</lrm_resource>"#;
    let params = [("fake".to_string(), "foo".to_string())].into();
    let monitor = [
        ("fake".to_string(), "foo".to_string()),
        ("CRM_meta_timeout".to_string(), "30000".to_string()),
    ]
    .into();
    let lrm = lrm
        .replace("MONDIGEST", &halo_sched::digest::digest(&monitor))
        .replace("DIGEST", &halo_sched::digest::digest(&params));
    let g = plan(&cib("", DUMMY, "", &lrm), true).graph();
    let labels: Vec<&str> = g.actions.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(
        labels,
        vec!["db_monitor_0 node2"],
        "only the unknown node is probed"
    );
}

#[test]
fn a_secret_only_change_restarts_in_a_live_plan_but_not_in_a_simulation() {
    let resources = r#"<primitive id="db" class="ocf" provider="pacemaker" type="Dummy">
  <instance_attributes id="db-ia">
    <nvpair id="db-f" name="fake" value="foo"/><nvpair id="db-p" name="passwd" value="new-secret"/>
  </instance_attributes>
</primitive>"#;
    // Recorded with the old secret; the secure digest leaves the secret out.
    let p = |kv: &[(&str, &str)]| {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let old = halo_sched::digest::digest(&p(&[("fake", "foo"), ("passwd", "old-secret")]));
    let secure = halo_sched::digest::digest(&p(&[("fake", "foo")]));
    let lrm = format!(
        r#"<lrm_resource id="db" class="ocf" provider="pacemaker" type="Dummy">
  <lrm_rsc_op id="db_last_0" operation="start" interval="0" op-status="0" rc-code="0" transition-key="1:1:0:00000000-0000-0000-0000-000000000000" call-id="2" crm_feature_set="3.16.2" op-digest="{old}" op-secure-params=" passwd " op-secure-digest="{secure}"/>
</lrm_resource>
<lrm_resource id="x" class="ocf" provider="pacemaker" type="Dummy">
  <lrm_rsc_op id="x_last_0" operation="monitor" interval="0" op-status="0" rc-code="7" transition-key="3:1:7:00000000-0000-0000-0000-000000000000" call-id="1" crm_feature_set="3.16.2"/>
</lrm_resource>"#
    );
    let xml = cib("", resources, "", &lrm);
    let live = plan(&xml, true);
    let lines = summary(&live);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Restart") && l.contains("db")),
        "live: {lines:?}"
    );
    let g = live.graph();
    assert!(g.by_label("db_stop_0 node1").is_some_and(|a| a.runnable));
    assert!(g.by_label("db_start_0 node1").is_some_and(|a| a.runnable));
    let sim = plan(&xml, false);
    assert!(sim.changes.is_empty(), "simulation: {:?}", summary(&sim));
}

#[test]
fn notifying_clones_tell_every_instance_what_happens() {
    let resources = r#"<clone id="cl">
  <meta_attributes id="cl-m"><nvpair id="cl-n" name="notify" value="true"/></meta_attributes>
  <primitive id="child" class="ocf" provider="pacemaker" type="Dummy"/>
</clone>"#;
    let lrm = r#"<lrm_resource id="child" class="ocf" provider="pacemaker" type="Dummy">
  <lrm_rsc_op id="child_last_0" operation="start" interval="0" op-status="0" rc-code="0" transition-key="1:1:0:00000000-0000-0000-0000-000000000000" call-id="2" crm_feature_set="3.16.2" op-digest="DIGEST"/>
</lrm_resource>"#
        .replace("DIGEST", &halo_sched::digest::digest(&Default::default()));
    let g = plan(&cib("", resources, "", &lrm), true).graph();
    // The pseudo-actions around the clone's start, and their order.
    let pre = action(&g, "cl_pre_notify_start_0");
    let pre_done = action(&g, "cl_confirmed-pre_notify_start_0");
    let post = action(&g, "cl_post_notify_running_0");
    let post_done = action(&g, "cl_confirmed-post_notify_running_0");
    assert!(pre_done.inputs.contains(&pre.id));
    assert!(action(&g, "cl_start_0").inputs.contains(&pre_done.id));
    assert!(post.inputs.contains(&action(&g, "cl_running_0").id));
    assert!(post_done.inputs.contains(&post.id));
    // The running instance hears before and after; the new one after it started.
    let before = action(&g, "child_pre_notify_start_0 node1");
    let after_new = g
        .actions
        .iter()
        .find(|a| a.node.as_deref() == Some("node2") && a.key.ends_with("_post_notify_start_0"))
        .expect("a post-notification on node2");
    for a in [before, after_new] {
        let o = op(a);
        assert_eq!(o.task, "notify");
        assert_eq!(
            o.meta.get("notify_start_uname").map(String::as_str),
            Some("node2")
        );
        assert_eq!(
            o.meta.get("notify_active_uname").map(String::as_str),
            Some("node1")
        );
        assert_eq!(
            o.meta.get("notify_active_resource").map(String::as_str),
            Some("child:0")
        );
        assert_eq!(o.meta.get("notify").map(String::as_str), Some("true"));
    }
    assert_eq!(
        op(before).meta.get("notify_type").map(String::as_str),
        Some("pre")
    );
    assert_eq!(
        op(after_new).meta.get("notify_type").map(String::as_str),
        Some("post")
    );
    assert!(before.inputs.contains(&pre.id) && pre_done.inputs.contains(&before.id));
    assert!(after_new.inputs.contains(&post.id) && post_done.inputs.contains(&after_new.id));
}

#[test]
fn a_lost_node_is_fenced_before_its_resources_start_elsewhere() {
    let xml = r#"<cib have-quorum="1" dc-uuid="node1">
  <configuration>
    <crm_config><cluster_property_set id="p"/></crm_config>
    <nodes><node id="node1" uname="node1"/><node id="node2" uname="node2"/><node id="node3" uname="node3"/></nodes>
    <resources>
      <primitive id="fence" class="stonith" type="fence_dummy"/>
      <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2">
        <instance_attributes id="vip-ia"><nvpair id="vip-ip" name="ip" value="10.0.0.1"/></instance_attributes>
      </primitive>
    </resources>
    <constraints><rsc_location id="l" rsc="fence" node="node2" score="-INFINITY"/></constraints>
  </configuration>
  <status>
    <node_state id="node1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
    <node_state id="node3" uname="node3" in_ccm="true" crmd="online" join="member" expected="member"/>
    <node_state id="node2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="member">
      <lrm id="node2"><lrm_resources>
        <lrm_resource id="vip" class="ocf" provider="heartbeat" type="IPaddr2">
          <lrm_rsc_op id="vip_last_0" operation="start" interval="0" op-status="0" rc-code="0" transition-key="1:1:0:00000000-0000-0000-0000-000000000000" call-id="2" crm_feature_set="3.16.2"/>
        </lrm_resource>
      </lrm_resources></lrm>
    </node_state>
  </status>
</cib>"#;
    let g = plan(xml, true).graph();
    let fence = action(&g, "stonith 'reboot' node2");
    assert_eq!(
        fence.kind,
        ActionKind::Fence {
            action: "reboot".into()
        }
    );
    let stop = action(&g, "vip_stop_0 node2");
    assert!(
        matches!(stop.kind, ActionKind::Pseudo { .. }),
        "the stop is implied by the fencing"
    );
    assert!(stop.inputs.contains(&fence.id));
    let start = g
        .actions
        .iter()
        .find(|a| a.key == "vip_start_0")
        .expect("vip starts elsewhere");
    assert_ne!(start.node.as_deref(), Some("node2"));
    assert!(start.inputs.contains(&fence.id), "{}", g.to_dot());
}

#[test]
fn a_blocked_start_is_in_the_graph_with_its_reason() {
    let resources = r#"<primitive id="a" class="ocf" provider="pacemaker" type="Dummy">
  <meta_attributes id="a-m"><nvpair id="a-t" name="target-role" value="Stopped"/></meta_attributes>
</primitive>
<primitive id="b" class="ocf" provider="pacemaker" type="Dummy"/>"#;
    let constraints = r#"<rsc_order id="o" first="a" then="b" kind="Mandatory"/>"#;
    let g = plan(&cib("", resources, constraints, ""), true).graph();
    let blocked = g
        .actions
        .iter()
        .find(|a| a.key == "b_start_0")
        .expect("b's start is shown");
    assert!(!blocked.runnable);
    let why = blocked.blocked_by.clone().unwrap_or_default();
    assert!(why.contains("a start"), "{why}");
    assert!(g.to_dot().contains("style=dashed color=\"red\""));
}

#[test]
fn a_configuration_with_one_id_twice_is_refused_with_the_id() {
    let mut cfg = halo_model::parse_cib(&cib("", DUMMY, "", ""), "t.xml")
        .expect("parses")
        .config;
    let again = cfg.resources[0].clone();
    cfg.resources.push(again);
    let Err(err) = halo_sched::schedule(&cfg, &halo_model::Status::default(), 0) else {
        panic!("a configuration with a duplicate id is planned");
    };
    let text = err.to_string();
    assert!(text.contains("HALO-E100") && text.contains("db"), "{text}");
}

/// A chain of 1,200 mandatory orderings listed last-first: each pass over the
/// orderings moves "cannot start" one step along it, and the plan must still reach the
/// end of the chain (the passes once stopped after 1,000).
#[test]
fn a_long_chain_of_orderings_is_followed_to_its_end() {
    let n = 1200;
    let mut resources = String::new();
    for i in 0..n {
        resources.push_str(&format!(
            r#"<primitive id="r{i}" class="ocf" provider="pacemaker" type="Dummy"/>"#
        ));
    }
    let mut constraints = String::from(
        r#"<rsc_location id="ban" rsc="r0" node="node1" score="-INFINITY"/>
<rsc_location id="ban2" rsc="r0" node="node2" score="-INFINITY"/>"#,
    );
    for i in (1..n).rev() {
        constraints.push_str(&format!(
            r#"<rsc_order id="o{i}" first="r{}" then="r{i}" kind="Mandatory"/>"#,
            i - 1
        ));
    }
    let plan = plan(&cib("", &resources, &constraints, ""), true);
    let last = format!("r{}", n - 1);
    let g = plan.graph();
    let start = g
        .actions
        .iter()
        .find(|a| a.key == format!("{last}_start_0"))
        .expect("the last start is shown");
    assert!(!start.runnable, "{last} cannot start: r0 cannot");
}

/// resource-discovery: "never" skips the probe on that node; "exclusive" probes (and
/// runs) only on the nodes of exclusive locations.
#[test]
fn resource_discovery_decides_where_resources_are_probed() {
    let resources = r#"<primitive id="a" class="ocf" provider="pacemaker" type="Dummy"/>
<primitive id="b" class="ocf" provider="pacemaker" type="Dummy"/>"#;
    let constraints = r#"<rsc_location id="a-never" rsc="a" node="node2" score="0" resource-discovery="never"/>
<rsc_location id="b-only" rsc="b" node="node2" score="0" resource-discovery="exclusive"/>"#;
    let g = plan(&cib("", resources, constraints, ""), true).graph();
    let probes = |rsc: &str| -> Vec<String> {
        let mut v: Vec<String> = g
            .actions
            .iter()
            .filter(|a| a.key == format!("{rsc}_monitor_0"))
            .filter_map(|a| a.node.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(probes("a"), vec!["node1".to_string()], "{}", g.to_dot());
    assert_eq!(probes("b"), vec!["node2".to_string()], "{}", g.to_dot());
    let b_start = g
        .actions
        .iter()
        .find(|a| a.key == "b_start_0")
        .expect("b starts");
    assert_eq!(
        b_start.node.as_deref(),
        Some("node2"),
        "exclusive: only there"
    );
}

/// A recurring monitor recorded without a digest (or with other parameters) is
/// started again, as Pacemaker reschedules it.
#[test]
fn a_monitor_recorded_with_other_parameters_runs_again() {
    let lrm = r#"<lrm_resource id="db" class="ocf" provider="pacemaker" type="Dummy">
  <lrm_rsc_op id="db_last_0" operation="start" interval="0" op-status="0" rc-code="0" transition-key="1:1:0:00000000-0000-0000-0000-000000000000" call-id="2" crm_feature_set="3.16.2" op-digest="DIGEST"/>
  <lrm_rsc_op id="db_monitor_10000" operation="monitor" interval="10000" op-status="0" rc-code="0" transition-key="2:1:0:00000000-0000-0000-0000-000000000000" call-id="3" crm_feature_set="3.16.2" op-digest="0123456789abcdef0123456789abcdef"/>
</lrm_resource>"#;
    let params = [("fake".to_string(), "foo".to_string())].into();
    let lrm = lrm.replace("DIGEST", &halo_sched::digest::digest(&params));
    let p = plan(&cib("", DUMMY, "", &lrm), true);
    assert!(p.changes.is_empty(), "nothing restarts");
    let g = p.graph();
    let mon = action(&g, "db_monitor_10000 node1");
    assert!(mon.runnable && mon.inputs.is_empty(), "{}", g.to_dot());
}

/// An ordered set with require-all=false: the next set waits for any one of its
/// members, through a one-or-more pseudo-action, so one member that cannot start does
/// not hold the others up.
#[test]
fn any_one_member_of_a_relaxed_set_is_enough() {
    let mut resources = String::new();
    for r in ["a", "b", "c", "d"] {
        resources.push_str(&format!(
            r#"<primitive id="{r}" class="ocf" provider="pacemaker" type="Dummy"/>"#
        ));
    }
    let constraints = r#"<rsc_location id="no-b1" rsc="b" node="node1" score="-INFINITY"/>
<rsc_location id="no-b2" rsc="b" node="node2" score="-INFINITY"/>
<rsc_order id="o">
  <resource_set id="s1"><resource_ref id="a"/></resource_set>
  <resource_set id="s2" sequential="false" require-all="false"><resource_ref id="b"/><resource_ref id="c"/></resource_set>
  <resource_set id="s3"><resource_ref id="d"/></resource_set>
</rsc_order>"#;
    let p = plan(&cib("", &resources, constraints, ""), true);
    let lines = summary(&p);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Start") && l.contains(" d ")),
        "d starts: {lines:?}"
    );
    let g = p.graph();
    let met = action(&g, "one-or-more:s2");
    assert!(met.runnable);
    let d = g
        .actions
        .iter()
        .find(|a| a.key == "d_start_0")
        .expect("d starts");
    assert!(d.runnable && d.inputs.contains(&met.id), "{}", g.to_dot());
}
