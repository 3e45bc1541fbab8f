//! Tests of the native format: the reference example, round trips, the status mapping
//! and bad input (snapshot style: the input, then the exact error text expected;
//! refresh with `UPDATE_EXPECT=1 cargo test -p halo-model` when a change is intended).

use expect_test::{expect, Expect};

use super::*;
use crate::config::*;
use crate::score::Score;
use crate::status::{OpRecord, ResourceHistory};

const OPENSTACK: &str = include_str!("../../../../examples/openstack.toml");

fn parse(text: &str) -> NativeDoc {
    match parse_native(text, "test.toml") {
        Ok(doc) => doc,
        Err(e) => panic!("unexpected error:\n{e}"),
    }
}

/// The error text `parse_native` gives for `text`, read as `bad.toml`.
fn check_error(text: &str, expected: Expect) {
    match parse_native(text, "bad.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => expected.assert_eq(&e.to_string()),
    }
}

fn notices(text: &str) -> String {
    let doc = parse(text);
    doc.notices
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn primitive<'a>(config: &'a Config, id: &str) -> &'a Primitive {
    fn find<'a>(r: &'a Resource, id: &str) -> Option<&'a Primitive> {
        match r {
            Resource::Primitive(p) => (p.id == id).then_some(p),
            Resource::Group(g) => g.members.iter().find(|m| m.id == id),
            Resource::Clone(c) => find(&c.child, id),
        }
    }
    config
        .resources
        .iter()
        .find_map(|r| find(r, id))
        .unwrap_or_else(|| panic!("no primitive {id}"))
}

/// The reference deployment reads without a problem or a notice, and says what the
/// reference says.
#[test]
fn openstack_example_parses_and_validates_cleanly() {
    let doc = parse_native(OPENSTACK, "examples/openstack.toml").expect("example is valid");
    // Only the scheduler-history properties the reference sets are noted: halo keeps no
    // scheduler inputs.
    let noted: Vec<&str> = doc.notices.iter().map(|n| n.place.as_str()).collect();
    assert_eq!(noted.len(), 3, "{noted:?}");
    assert!(noted.iter().all(|p| p.contains("-series-max")), "{noted:?}");
    let c = &doc.config;
    let again = crate::validate::validate(c).expect("valid");
    assert_eq!(
        again.iter().map(|n| &n.what).collect::<Vec<_>>(),
        doc.notices.iter().map(|n| &n.what).collect::<Vec<_>>()
    );

    let names: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["controller1", "controller2", "controller3"]);
    assert_eq!(c.properties["stonith-enabled"], "false");
    assert_eq!(c.properties["no-quorum-policy"], "stop");
    assert_eq!(c.properties["cluster-recheck-interval"], "5min");
    assert_eq!(c.properties["cluster-name"], "openstack");

    let vip = primitive(c, "vip");
    assert_eq!(vip.agent.to_string(), "ocf:heartbeat:IPaddr2");
    assert_eq!(vip.params["ip"], "10.10.16.224");
    assert_eq!(vip.params["cidr_netmask"], "24");
    assert_eq!(vip.ops[0].name, "monitor");
    assert_eq!(vip.ops[0].interval_ms, 30_000);
    assert_eq!(vip.ops[0].id, "vip-monitor-interval-30s");

    let Resource::Clone(lb) = &c.resources[1] else {
        panic!("second resource is the lb clone")
    };
    assert_eq!(lb.id, "lb-haproxy-clone");
    assert_eq!(lb.child.id(), "lb-haproxy");
    let galera = c
        .resources
        .iter()
        .find_map(|r| match r {
            Resource::Clone(cl) if cl.id == "galera-clone" => Some(cl),
            _ => None,
        })
        .expect("galera clone");
    assert!(galera.promotable);
    assert_eq!(galera.meta["promoted-max"], "3");
    for id in [
        "keystone",
        "glance-api",
        "nova-api",
        "neutron-server",
        "cinder-api",
        "horizon",
        "rabbitmq",
        "memcached",
    ] {
        assert!(c.has_resource(id), "{id}");
    }

    assert!(c
        .constraints
        .contains(&Constraint::Colocation(Colocation::Pair {
            id: "lb-haproxy-with-vip".into(),
            score: Score::INFINITY,
            rsc: "lb-haproxy-clone".into(),
            rsc_role: None,
            with_rsc: "vip".into(),
            with_rsc_role: None,
        })));
    assert!(c.constraints.contains(&Constraint::Order(Order::Pair {
        id: "vip-then-lb-haproxy".into(),
        kind: OrderKind::Optional,
        symmetrical: None,
        first: "vip".into(),
        first_action: None,
        then: "lb-haproxy-clone".into(),
        then_action: None,
        require_all: true,
    })));

    // No [status]: a fresh cluster, all nodes online, nothing known to run.
    let s = &doc.status;
    assert!(s.have_quorum);
    assert_eq!(s.nodes.len(), 3);
    for n in &s.nodes {
        assert_eq!(n.in_ccm.as_deref(), Some("true"));
        assert_eq!(n.crmd.as_deref(), Some("online"));
        assert_eq!(n.join.as_deref(), Some("member"));
        assert_eq!(n.expected.as_deref(), Some("member"));
        assert!(n.resources.is_empty());
    }
}

/// What to_native writes reads back to the same configuration.
#[test]
fn openstack_example_round_trips() {
    let doc = parse(OPENSTACK);
    let text = to_native(&doc.config);
    let again = parse(&text);
    assert_eq!(again.config, doc.config, "written:\n{text}");
}

/// Every construct of the format survives a round trip, including generated and
/// explicit ids, rules in both forms, sets and roles.
#[test]
fn everything_round_trips() {
    let text = r##"
version = 1

[cluster]
name = "c"

[properties]
stonith-enabled = true
no-quorum-policy = "freeze"
symmetric-cluster = false

[resource-defaults]
resource-stickiness = "INFINITY"
migration-threshold = 3

[op-defaults]
timeout = "45s"

[[node]]
name = "n1"
id = 101
score = -10
standby = true
attributes = { rack = "a", "odd key" = "x y", weight = 5 }

[[node]]
name = "n2"
maintenance = false
attributes = { standby = "on" }

[[group]]
id = "web"
meta = { target-role = "Started" }
[[group.member]]
id = "web-ip"
agent = "ocf:heartbeat:IPaddr2"
params = { ip = "192.168.1.10", nic = "eth0", cidr_netmask = 24, note = "a \"quoted\" \\ value", flag = true }
op = [
  { name = "monitor", interval = "10s", timeout = "20s", on-fail = "restart" },
  { name = "start", timeout = "90s", id = "custom-start" },
  { name = "monitor", interval = "1500ms", enabled = false, attributes = { OCF_CHECK_LEVEL = 10 } },
]
[[group.member]]
id = "web-server"
agent = "systemd:nginx"

[[resource]]
id = "solo"
agent = "lsb:solo"
meta = { priority = 10, is-managed = false, failure-timeout = "2min" }

[[clone]]
id = "db-clone"
promotable = true
meta = { promoted-max = 1, clone-max = 2, notify = true }
[clone.group]
id = "db-group"
[[clone.group.member]]
id = "db"
agent = "ocf:pacemaker:Stateful"
op = [
  { name = "monitor", interval = "11s", role = "Unpromoted" },
  { name = "monitor", interval = "10s", role = "Promoted" },
]

[[clone]]
id = "ping-clone"
[clone.resource]
id = "ping"
agent = "ocf:pacemaker:ping"
params = { host_list = "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7", multiplier = 1000 }

[[location]]
id = "solo-on-n1"
resource = "solo"
node = "n1"
score = -50
resource-discovery = "never"

[[location]]
id = "db-rules"
resource = "db-clone"
role = "Promoted"
rule = [
  { score = "-INFINITY", expression = "#uname eq n2 or rack ne \"row 2\"" },
  { id = "named", score-attribute = "pingd", bool-op = "or", expression = "defined pingd" },
]

[[location]]
id = "complex"
set = [ { resources = ["solo", "web"], sequential = false } ]
[[location.rule]]
score = 5
role = "Started"
expr = [
  { attribute = "cores", op = "gte", value = "8", type = "integer" },
  { attribute = "zone", op = "eq", value = "z", value-source = "param", id = "zexpr" },
  { bool-op = "or", expression = "a eq 1 or b eq 2" },
  { bool-op = "and", expr = [ { attribute = "c", op = "not_defined" } ] },
]

[[colocation]]
id = "web-with-db"
resource = "web"
role = "Started"
with = "db-clone"
with-role = "Promoted"
score = 500

[[colocation]]
id = "sets-col"
score = "-INFINITY"
set = [
  { id = "s-one", resources = ["solo"], role = "Started" },
  { resources = ["web", "ping-clone"], sequential = false, score = 10 },
  { resources = ["db-clone", "web"], ordering = "listed" },
]

[[order]]
id = "db-then-web"
first-action = "promote"
first = "db-clone"
then-action = "start"
then = "web"
kind = "Mandatory"
symmetrical = false
require-all = false

[[order]]
id = "serial"
kind = "Serialize"
set = [
  { resources = ["solo"], require-all = false, action = "stop", kind = "Optional" },
  { resources = ["ping-clone"] },
]
"##;
    let doc = parse(text);
    let c = &doc.config;
    // Spot checks of the reading itself.
    assert_eq!(c.nodes[0].id, "101");
    assert_eq!(c.nodes[0].score, Some(Score::new(-10)));
    assert_eq!(c.nodes[0].attrs["standby"], "true");
    assert_eq!(c.nodes[0].attrs["weight"], "5");
    assert_eq!(c.nodes[1].id, "n2");
    let ids: Vec<&str> = c.resources.iter().map(|r| r.id()).collect();
    assert_eq!(
        ids,
        ["web", "solo", "db-clone", "ping-clone"],
        "file order kept"
    );
    let ip = primitive(c, "web-ip");
    assert_eq!(ip.params["note"], "a \"quoted\" \\ value");
    assert_eq!(ip.params["flag"], "true");
    assert_eq!(ip.ops[0].on_fail, Some(OnFail::Restart));
    assert_eq!(ip.ops[1].id, "custom-start");
    assert_eq!(ip.ops[1].timeout_ms, Some(90_000));
    assert_eq!(ip.ops[2].interval_ms, 1500);
    assert!(!ip.ops[2].enabled);
    assert_eq!(ip.ops[2].attrs["OCF_CHECK_LEVEL"], "10");
    let Constraint::Location(l) = &c.constraints[1] else {
        panic!("location")
    };
    let LocationHow::Rules(rules) = &l.how else {
        panic!("rules")
    };
    assert_eq!(rules[0].id, "db-rules-rule-1");
    assert_eq!(rules[0].bool_op, BoolOp::Or);
    assert_eq!(rules[0].score, Some(Score::NEG_INFINITY));
    assert_eq!(
        rules[0].exprs[1],
        RuleExpr::Attr(AttrExpr {
            id: "db-rules-rule-1-expr-2".into(),
            attribute: "rack".into(),
            op: ExprOp::Ne,
            value: Some("row 2".into()),
            value_type: None,
            value_source: ValueSource::Literal,
        })
    );
    assert_eq!(rules[1].score_attribute.as_deref(), Some("pingd"));
    let Constraint::Colocation(Colocation::Sets { sets, .. }) = &c.constraints[4] else {
        panic!("colocation sets")
    };
    let orderings: Vec<_> = sets.iter().map(|s| s.ordering).collect();
    assert_eq!(
        orderings,
        [SetOrdering::Group, SetOrdering::Group, SetOrdering::Listed]
    );
    let kinds: Vec<&str> = c.constraints.iter().map(|c| c.id()).collect();
    assert_eq!(
        kinds,
        [
            "solo-on-n1",
            "db-rules",
            "complex",
            "web-with-db",
            "sets-col",
            "db-then-web",
            "serial"
        ]
    );

    let Constraint::Location(solo) = &c.constraints[0] else {
        panic!("the first constraint is a location")
    };
    assert_eq!(solo.discovery, Discovery::Never);
    let written = to_native(c);
    let again = parse(&written);
    assert_eq!(&again.config, c, "written:\n{written}");
    // And writing is stable.
    assert_eq!(to_native(&again.config), written);
}

/// The writer's output for a small configuration: what a person would write.
#[test]
fn to_native_writes_readable_toml() {
    let doc = parse(
        r#"
version = 1
[properties]
stonith-enabled = false
[[node]]
name = "a"
[[resource]]
id = "vip"
agent = "ocf:heartbeat:IPaddr2"
params = { ip = "10.0.0.1", cidr_netmask = "24" }
op = [{ name = "monitor", interval = 30 }]
[[clone]]
id = "lb-clone"
resource = { id = "lb", agent = "systemd:haproxy" }
[[colocation]]
id = "lb-with-vip"
resource = "lb-clone"
with = "vip"
[[order]]
id = "o"
first = "vip"
then = "lb-clone"
kind = "optional"
"#,
    );
    expect![[r#"
        version = 1

        [properties]
        stonith-enabled = false

        [[node]]
        name = "a"

        [[resource]]
        id = "vip"
        agent = "ocf:heartbeat:IPaddr2"
        params = { cidr_netmask = 24, ip = "10.0.0.1" }
        op = [
          { name = "monitor", interval = "30s" },
        ]

        [[clone]]
        id = "lb-clone"
        [clone.resource]
        id = "lb"
        agent = "systemd:haproxy"

        [[colocation]]
        id = "lb-with-vip"
        resource = "lb-clone"
        with = "vip"
        score = "INFINITY"

        [[order]]
        id = "o"
        first = "vip"
        then = "lb-clone"
        kind = "Optional"
    "#]]
    .assert_eq(&to_native(&doc.config));
}

// ------------------------------------------------------------------------- status

const TWO_NODES: &str = r#"
version = 1
[[node]]
name = "n1"
[[node]]
name = "n2"
[[node]]
name = "n3"
[[resource]]
id = "vip"
agent = "ocf:heartbeat:IPaddr2"
params = { ip = "10.0.0.1" }
op = [ { name = "monitor", interval = "30s" } ]
[[clone]]
id = "db-clone"
promotable = true
[clone.resource]
id = "db"
agent = "ocf:pacemaker:Stateful"
op = [
  { name = "monitor", interval = "11s" },
  { name = "monitor", interval = "10s", role = "Promoted" },
]
"#;

fn op(rec: &OpRecord) -> String {
    format!(
        "{} {} interval={} rc={} target={:?} call={}",
        rec.id, rec.operation, rec.interval_ms, rec.rc, rec.target_rc, rec.call_id
    )
}

fn history(h: &ResourceHistory) -> String {
    let ops: Vec<String> = h.ops.iter().map(op).collect();
    format!("{} [{}]: {}", h.id, h.kind, ops.join("; "))
}

/// Running, promoted and failed resources become the operation history Pacemaker
/// would have recorded, and node states the membership fields it would have.
#[test]
fn status_maps_to_recorded_history() {
    let text = format!(
        "{TWO_NODES}{}",
        r#"
[status]
quorum = true
dc = "n1"
now = 1700000000

[[status.node]]
name = "n1"
running = ["vip", "db-clone"]
attributes = { master-db = 10 }

[[status.node]]
name = "n2"
promoted = ["db"]
[[status.node.failure]]
resource = "vip"
op = "monitor"
reason = "IP gone"
count = 2

[[status.node]]
name = "n3"
online = false
unclean = true
running = ["db:0"]
"#
    );
    let doc = parse(&text);
    let s = &doc.status;
    assert!(s.have_quorum);
    assert_eq!(s.dc.as_deref(), Some("n1"));
    assert_eq!(s.now, Some(1_700_000_000));

    let n1 = &s.nodes[0];
    assert_eq!(
        (
            n1.in_ccm.as_deref(),
            n1.crmd.as_deref(),
            n1.join.as_deref(),
            n1.expected.as_deref()
        ),
        (Some("true"), Some("online"), Some("member"), Some("member"))
    );
    assert_eq!(n1.attrs["master-db"], "10");
    let h: Vec<String> = n1.resources.iter().map(history).collect();
    assert_eq!(
        h,
        [
            "vip [IPaddr2]: vip_last_0 start interval=0 rc=0 target=Some(0) call=1; vip_monitor_30000 monitor interval=30000 rc=0 target=Some(0) call=2",
            "db [Stateful]: db_last_0 start interval=0 rc=0 target=Some(0) call=3; db_monitor_11000 monitor interval=11000 rc=0 target=Some(0) call=4",
        ]
    );
    assert_eq!(n1.resources[0].provider.as_deref(), Some("heartbeat"));
    assert_eq!(n1.resources[0].ops[0].on_node.as_deref(), Some("n1"));
    assert_eq!(n1.resources[0].ops[0].last_run, Some(1_700_000_000));

    let n2 = &s.nodes[1];
    let h: Vec<String> = n2.resources.iter().map(history).collect();
    assert_eq!(
        h,
        [
            "vip [IPaddr2]: vip_last_failure_0 monitor interval=30000 rc=7 target=Some(0) call=1",
            "db [Stateful]: db_last_0 promote interval=0 rc=0 target=Some(0) call=2; db_monitor_10000 monitor interval=10000 rc=8 target=Some(8) call=3",
        ]
    );
    assert_eq!(
        n2.resources[0].ops[0].exit_reason.as_deref(),
        Some("IP gone")
    );
    assert_eq!(n2.attrs["fail-count-vip#monitor_30000"], "2");
    assert_eq!(
        n2.attrs["master-db"], "1",
        "a promoted instance keeps a promotion score"
    );
    assert_eq!(
        n1.attrs["master-db"], "10",
        "a given promotion score is kept"
    );
    assert_eq!(n2.attrs["last-failure-vip#monitor_30000"], "1700000000");

    let n3 = &s.nodes[2];
    assert_eq!(
        (
            n3.in_ccm.as_deref(),
            n3.crmd.as_deref(),
            n3.join.as_deref(),
            n3.expected.as_deref()
        ),
        (Some("false"), Some("offline"), Some("down"), Some("member"))
    );
    let h: Vec<String> = n3.resources.iter().map(history).collect();
    assert_eq!(
        h,
        ["db:0 [Stateful]: db:0_last_0 start interval=0 rc=0 target=Some(0) call=1; db:0_monitor_11000 monitor interval=11000 rc=0 target=Some(0) call=2"]
    );
}

/// On an online node with a status entry, what is not listed is recorded as probed
/// and not running; a failed recurring monitor of a running resource updates the
/// monitor's own record too.
#[test]
fn status_probes_unlisted_resources_and_updates_failed_monitors() {
    let text = format!(
        "{TWO_NODES}{}",
        r#"
[[status.node]]
name = "n1"
running = ["vip"]
failure = [ { resource = "vip", op = "monitor", rc = 1 } ]
[[status.node]]
name = "n2"
online = false
"#
    );
    let doc = parse(&text);
    let n1 = &doc.status.nodes[0];
    let h: Vec<String> = n1.resources.iter().map(history).collect();
    assert_eq!(
        h,
        [
            "vip [IPaddr2]: vip_last_0 start interval=0 rc=0 target=Some(0) call=1; vip_monitor_30000 monitor interval=30000 rc=1 target=Some(0) call=3; vip_last_failure_0 monitor interval=30000 rc=1 target=Some(0) call=3",
            "db [Stateful]: db_last_0 monitor interval=0 rc=7 target=Some(7) call=4",
        ]
    );
    assert_eq!(n1.attrs["fail-count-vip#monitor_30000"], "1");
    assert!(
        !n1.attrs.contains_key("last-failure-vip#monitor_30000"),
        "no time known"
    );
    // A cleanly stopped node: down and expected down, nothing recorded.
    let n2 = &doc.status.nodes[1];
    assert_eq!(n2.expected.as_deref(), Some("down"));
    assert!(n2.resources.is_empty());
    // A node without an entry: online, nothing known.
    let n3 = &doc.status.nodes[2];
    assert_eq!(n3.crmd.as_deref(), Some("online"));
    assert!(n3.resources.is_empty());
}

#[test]
fn status_without_quorum() {
    let doc = parse(&format!("{TWO_NODES}\n[status]\nquorum = false\n"));
    assert!(!doc.status.have_quorum);
}

// ---------------------------------------------------------------------- bad input

#[test]
fn syntax_error_names_line_and_column() {
    check_error(
        "version = 1\n\n[[resource]\nid = \"x\"\n",
        expect![
            "HALO-E001 bad.toml:3:11: malformed TOML: invalid table header; expected `.`, `]]`"
        ],
    );
    check_error(
        "version = 1\n[properties]\nstonith-enabled = tru\n",
        expect![[r#"HALO-E001 bad.toml:3:19: malformed TOML: invalid string; expected `"`, `'`"#]],
    );
}

#[test]
fn unknown_key_and_wrong_type_name_line_and_column() {
    check_error(
        r#"version = 1
[[resource]]
id = "vip"
agent = "ocf:heartbeat:IPaddr2"
op = [ { name = "monitor", intervall = "30s" } ]
"#,
        expect![[
            r#"HALO-E002 bad.toml:5:28: unknown field `intervall`, expected one of `id`, `name`, `interval`, `timeout`, `role`, `on-fail`, `enabled`, `attributes`"#
        ]],
    );
    check_error(
        "version = 1\n[[node]]\nname = \"a\"\nstandby = \"yes\"\n",
        expect![[r#"HALO-E002 bad.toml:4:11: invalid type: string "yes", expected a boolean"#]],
    );
    check_error(
        "version = 1\n[properties]\nweight = 1.5\n",
        expect![[
            r#"HALO-E002 bad.toml:3:10: invalid type: floating point `1.5`, expected a string, an integer or a boolean (write decimals as strings, e.g. "1.5")"#
        ]],
    );
    check_error(
        "version = 1\n[[resource]]\nagent = \"systemd:x\"\n",
        expect![[r#"HALO-E002 bad.toml:2:1: missing field `id`"#]],
    );
}

#[test]
fn version_is_required_and_checked() {
    check_error(
        "[[node]]\nname = \"a\"\n",
        expect![[
            r#"HALO-E003 bad.toml:1:1: the file has no version: put `version = 1` at the top"#
        ]],
    );
    check_error(
        "version = 2\n",
        expect![[
            r#"HALO-E003 bad.toml:1:11: version 2 is not one this halo reads: it reads version 1"#
        ]],
    );
}

/// An unknown resource in a constraint names the constraint, its line and the id.
#[test]
fn unknown_resource_in_constraint_names_the_constraint() {
    check_error(
        r#"version = 1
[[resource]]
id = "vip"
agent = "ocf:heartbeat:IPaddr2"

[[order]]
id = "o1"
first = "vip"
then = "haproxy"

[[colocation]]
id = "c1"
score = 100
set = [ { resources = ["vip", "nope"] } ]
"#,
        expect![[r#"
            HALO-E023 bad.toml:7:6: order "o1": unknown resource "haproxy" (in then): no resource, group or clone has this id
            HALO-E023 bad.toml:12:6: colocation "c1": unknown resource "nope" (in set): no resource, group or clone has this id"#]],
    );
}

/// A cycle of mandatory orders is reported with its path and constraints.
#[test]
fn order_cycle_reports_the_path() {
    check_error(
        r#"version = 1
[[resource]]
id = "a"
agent = "ocf:pacemaker:Dummy"
[[resource]]
id = "b"
agent = "ocf:pacemaker:Dummy"
[[resource]]
id = "c"
agent = "ocf:pacemaker:Dummy"
[[order]]
id = "o1"
first = "a"
then = "b"
[[order]]
id = "o2"
first = "b"
then = "c"
[[order]]
id = "o3"
first = "c"
then = "a"
[[order]]
id = "fine"
first = "c"
then = "a"
kind = "Optional"
"#,
        expect![[
            r#"HALO-E040 bad.toml:12:6: order "o1": order cycle: a start -> b start -> c start -> a start via constraints o1, o2, o3: none of these actions could ever run; make one of these orders kind = "Optional" or remove it"#
        ]],
    );
}

/// A member ordered before its group's earlier member closes a cycle through the
/// group's implicit order.
#[test]
fn order_cycle_through_a_group() {
    check_error(
        r#"version = 1
[[group]]
id = "g"
[[group.member]]
id = "m1"
agent = "ocf:pacemaker:Dummy"
[[group.member]]
id = "m2"
agent = "ocf:pacemaker:Dummy"
[[order]]
id = "back"
first = "m2"
then = "m1"
symmetrical = false
"#,
        expect![[
            r#"HALO-E040 bad.toml:11:6: order "back": order cycle: m1 start -> m2 start -> m1 start via constraint back and the member order of group g: none of these actions could ever run; make one of these orders kind = "Optional" or remove it"#
        ]],
    );
}

/// Invalid values name the attribute, its line, and what is accepted.
#[test]
fn invalid_values_name_the_attribute() {
    check_error(
        r#"version = 1
[properties]
no-quorum-policy = "sometimes"
[resource-defaults]
resource-stickiness = "lots"
[[resource]]
id = "vip"
agent = "ocf:heartbeat:IPaddr2"
meta = { migration-threshold = "many", target-role = "Running", clone-max = -1, is-managed = "perhaps" }
op = [ { name = "monitor", interval = "30 parsecs", on-fail = "panic", role = "Leader" } ]
[[location]]
id = "l1"
resource = "vip"
node = "n1"
score = "high"
"#,
        expect![[r#"
            HALO-E022 bad.toml:3:20: property "no-quorum-policy": 'sometimes' is not one of: stop, freeze, ignore, demote, suicide
            HALO-E021 bad.toml:5:23: resource-defaults "resource-stickiness": resource-stickiness: invalid score 'lots': expected an integer, INFINITY or -INFINITY
            HALO-E021 bad.toml:9:32: resource "vip" meta "migration-threshold": meta attribute migration-threshold: invalid score 'many': expected an integer, INFINITY or -INFINITY
            HALO-E022 bad.toml:9:54: resource "vip" meta "target-role": meta attribute target-role: 'Running' is not a role: write Stopped, Started, Unpromoted or Promoted
            HALO-E022 bad.toml:9:77: resource "vip" meta "clone-max": meta attribute clone-max: '-1' is not a non-negative integer
            HALO-E022 bad.toml:9:94: resource "vip" meta "is-managed": meta attribute is-managed: 'perhaps' is not a boolean: write true or false
            HALO-E022 bad.toml:10:39: resource "vip" op monitor: interval: invalid duration '30 parsecs': expected e.g. "30s", "5min", "500ms" or whole seconds
            HALO-E022 bad.toml:10:63: resource "vip" op monitor: on-fail: 'panic' is not one of: ignore, block, stop, restart, standby, fence, demote
            HALO-E022 bad.toml:10:79: resource "vip" op monitor: role: 'Leader' is not a role: write Stopped, Started, Unpromoted or Promoted
            HALO-E021 bad.toml:15:9: location "l1": score: invalid score 'high': expected an integer, INFINITY or -INFINITY"#]],
    );
}

#[test]
fn structural_problems_are_all_reported() {
    check_error(
        r#"version = 1
[[node]]
name = "n1"
[[node]]
name = "n1"
[[resource]]
id = "x"
agent = "heartbeat:IPaddr2"
op = [ { name = "monitor", interval = "10s" }, { name = "monitor", interval = "10" } ]
[[resource]]
id = "x"
agent = "ocf:IPaddr2"
[[group]]
id = "empty"
[[clone]]
id = "c"
[[location]]
id = "l"
resource = "x"
[[colocation]]
id = "self"
resource = "x"
with = "x"
"#,
        expect![[r#"
            HALO-E011 bad.toml:5:8: node "n1": node name "n1" is already used by bad.toml:3:8: node "n1"
            HALO-E025 bad.toml:7:6: resource "x": agent "heartbeat:IPaddr2": unknown class "heartbeat" (an OCF agent is written ocf:heartbeat:IPaddr2); the classes are ocf, lsb, service, systemd, stonith, nagios, upstart, halo
            HALO-E012 bad.toml:9:57: resource "x" op monitor interval 10s: a second monitor operation with interval 10s: remove one or give it another interval
            HALO-E010 bad.toml:11:6: resource "x": id "x" is already used by bad.toml:7:6: resource "x"
            HALO-E025 bad.toml:12:9: resource "x": OCF agent "ocf:IPaddr2" must be ocf:PROVIDER:TYPE, e.g. ocf:heartbeat:IPaddr2
            HALO-E041 bad.toml:14:6: group "empty": the group has no members: add members or remove the group
            HALO-E004 bad.toml:16:6: clone "c": the clone has no child: add `resource = { id = ..., agent = ... }` or a `group`
            HALO-E004 bad.toml:18:6: location "l": say where: `node = "..."` with a `score`, or `rule`
            HALO-E044 bad.toml:21:6: colocation "self": resource "x" is colocated with itself"#]],
    );
}

#[test]
fn status_problems_name_the_entry() {
    check_error(
        &format!(
            "{TWO_NODES}{}",
            r#"
[status]
dc = "n9"
[[status.node]]
name = "n4"
[[status.node]]
name = "n1"
online = true
unclean = true
running = ["nothing", "vip:0"]
promoted = ["vip"]
failure = [ { resource = "db-clone", op = "start", count = 0 } ]
"#
        ),
        expect![[r#"
            HALO-E005 bad.toml:26:6: [status] dc: node "n9" is not configured
            HALO-E005 bad.toml:28:8: [[status.node]] "n4": node "n4" is not configured: add a [[node]] or fix the name
            HALO-E004 bad.toml:30:8: [[status.node]] "n1": unclean = true describes a node that left without shutting down: set online = false too
            HALO-E005 bad.toml:33:12: [[status.node]] "n1": no resource "nothing" is configured
            HALO-E005 bad.toml:33:23: [[status.node]] "n1": "vip:0": only a primitive inside a clone has numbered instances
            HALO-E005 bad.toml:34:13: [[status.node]] "n1": "vip" cannot be promoted: it is not in a promotable clone
            HALO-E022 bad.toml:35:60: [[status.node]] "n1" failure of "db-clone": count must be at least 1 (or INFINITY)"#]],
    );
}

#[test]
fn notices_do_not_fail_the_parse() {
    expect![[r#"
        test.toml:3:19: property "stonith-enabeld": not a cluster property halo knows (a typo?); it is kept but has no effect
        test.toml:8:25: clone "c" meta "promoted-max": promoted-max has no effect: the clone is not promotable (set promotable = true)
        test.toml:12:17: resource "d" op monitor interval 10s: role Promoted never happens: the resource is not in a promotable clone
        test.toml:12:96: resource "d" op start interval 0s: a second start operation: only the first is used; remove one
        test.toml:14:6: location "l": node "elsewhere" is not configured; the constraint applies if it joins"#]]
    .assert_eq(&notices(
        r#"version = 1
[properties]
stonith-enabeld = false
[[node]]
name = "n1"
[[clone]]
id = "c"
meta = { promoted-max = 2 }
[clone.resource]
id = "d"
agent = "ocf:pacemaker:Dummy"
op = [ { name = "monitor", interval = "10s", role = "Promoted" }, { name = "start" }, { name = "start", timeout = "20s", id = "s2" } ]
[[location]]
id = "l"
resource = "c"
node = "elsewhere"
score = 10
"#,
    ));
}

#[test]
fn rule_expression_errors_name_the_expression() {
    check_error(
        r#"version = 1
[[resource]]
id = "x"
agent = "ocf:pacemaker:Dummy"
[[location]]
id = "l"
resource = "x"
rule = [ { score = 10, expression = "rack eq a and zone eq b or c eq d" }, { score = 1 } ]
"#,
        expect![[r#"
            HALO-E004 bad.toml:6:6: location "l": rule "l-rule-2" has no condition: add `expression = "..."` or `expr`
            HALO-E022 bad.toml:8:37: location "l": expression "rack eq a and zone eq b or c eq d": mixing 'and' and 'or' is ambiguous: use `expr` tables with a nested rule"#]],
    );
}

/// Columns count characters, not bytes.
#[test]
fn columns_count_characters() {
    check_error(
        "version = 1\n[cluster]\nname = \"contrôleur\" x\n",
        expect!["HALO-E001 bad.toml:3:21: malformed TOML: expected newline, `#`"],
    );
}

/// No input makes the reader panic: every cut of the reference example and of a
/// file using every construct, and byte-wise damage, give a result or an error.
#[test]
fn damaged_input_never_panics() {
    let mut inputs = vec![OPENSTACK.to_string()];
    inputs.push(format!(
        "{TWO_NODES}\n[status]\n[[status.node]]\nname = \"n1\"\npromoted = [\"db\"]\nfailure = [ {{ resource = \"vip\", op = \"start\" }} ]\n"
    ));
    inputs.push(format!(
        "{FENCED}\n[[fencing-level]]\ntarget = \"n1\"\nindex = 1\ndevices = [\"pdu\", \"ipmi-n1\"]\n\n[[fencing-level]]\ntarget-attribute = \"rack\"\ntarget-value = 1\nindex = 2\ndevices = [\"pdu\"]\n\n[[fencing-level]]\ntarget-pattern = \"^n[0-9]+(a|b){{1,2}}$\"\nindex = 3\ndevices = [\"pdu\"]\n"
    ));
    let mut checked = 0;
    for text in &inputs {
        for cut in (0..text.len()).step_by(17) {
            if text.is_char_boundary(cut) {
                let _ = parse_native(&text[..cut], "cut.toml");
                checked += 1;
            }
        }
        // Replace single characters with ones that change the structure.
        let bytes = text.as_bytes();
        for (i, _) in bytes.iter().enumerate().step_by(61) {
            for with in ["\"", "]", "[", "=", "\n", "{", ","] {
                if text.is_char_boundary(i) && text.is_char_boundary(i + 1) {
                    let damaged = format!("{}{with}{}", &text[..i], &text[i + 1..]);
                    let _ = parse_native(&damaged, "damaged.toml");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "{checked}");
}

// ---------------------------------------------------------------- fencing topology

/// Two nodes, two fence devices and a resource that is not one.
const FENCED: &str = r#"version = 1
[[node]]
name = "n1"
attributes = { rack = "1" }
[[node]]
name = "n2"
[[resource]]
id = "ipmi-n1"
agent = "stonith:fence_ipmilan"
[[resource]]
id = "pdu"
agent = "stonith:fence_apc"
[[resource]]
id = "vip"
agent = "ocf:heartbeat:IPaddr2"
"#;

/// Every form of target, written and generated ids (pcs's, made unique as pcs does),
/// and several devices per level read as written, and write back the same.
#[test]
fn fencing_levels_read_and_round_trip() {
    let text = format!(
        "{FENCED}{}",
        r#"
[[fencing-level]]
target = "n1"
index = 1
devices = ["ipmi-n1"]

[[fencing-level]]
target = "n1"
index = 2
devices = ["pdu", "ipmi-n1"]

[[fencing-level]]
id = "by-pattern"
target-pattern = "^n[0-9]+$"
index = 3
devices = ["pdu"]

[[fencing-level]]
target-pattern = "n[12]"
index = 4
devices = ["pdu"]

[[fencing-level]]
target-attribute = "rack"
target-value = 1
index = 1
devices = ["pdu"]

[[fencing-level]]
id = "fl-n2-1"
target-attribute = "rack"
target-value = "2"
index = 2
devices = ["pdu"]

[[fencing-level]]
target = "n2"
index = 1
devices = ["pdu"]
"#
    );
    let doc = parse(&text);
    assert_eq!(doc.notices, vec![]);
    let levels = &doc.config.fencing_levels;
    let level = |id: &str, target: FencingTarget, index: u32, devices: &[&str]| FencingLevel {
        id: id.into(),
        target,
        index,
        devices: devices.iter().map(|d| d.to_string()).collect(),
    };
    let node = |n: &str| FencingTarget::Node(n.into());
    let rack = |v: &str| FencingTarget::Attribute {
        name: "rack".into(),
        value: v.into(),
    };
    assert_eq!(
        levels,
        &[
            level("fl-n1-1", node("n1"), 1, &["ipmi-n1"]),
            level("fl-n1-2", node("n1"), 2, &["pdu", "ipmi-n1"]),
            level(
                "by-pattern",
                FencingTarget::Pattern("^n[0-9]+$".into()),
                3,
                &["pdu"]
            ),
            level(
                "fl-n12-4",
                FencingTarget::Pattern("n[12]".into()),
                4,
                &["pdu"]
            ),
            level("fl-rack-1", rack("1"), 1, &["pdu"]),
            level("fl-n2-1", rack("2"), 2, &["pdu"]),
            // The pcs id is taken by the level before: pcs's next one.
            level("fl-n2-1-1", node("n2"), 1, &["pdu"]),
        ]
    );

    let written = to_native(&doc.config);
    let again = parse(&written);
    assert_eq!(again.config, doc.config, "written:\n{written}");
    assert_eq!(to_native(&again.config), written, "writing is stable");
    let fencing = &written[written.find("[[fencing-level]]").expect("levels written")..];
    expect![[r#"
        [[fencing-level]]
        target = "n1"
        index = 1
        devices = ["ipmi-n1"]

        [[fencing-level]]
        target = "n1"
        index = 2
        devices = ["pdu", "ipmi-n1"]

        [[fencing-level]]
        id = "by-pattern"
        target-pattern = "^n[0-9]+$"
        index = 3
        devices = ["pdu"]

        [[fencing-level]]
        target-pattern = "n[12]"
        index = 4
        devices = ["pdu"]

        [[fencing-level]]
        target-attribute = "rack"
        target-value = 1
        index = 1
        devices = ["pdu"]

        [[fencing-level]]
        id = "fl-n2-1"
        target-attribute = "rack"
        target-value = 2
        index = 2
        devices = ["pdu"]

        [[fencing-level]]
        target = "n2"
        index = 1
        devices = ["pdu"]
    "#]]
    .assert_eq(fencing);
}

/// A level that cannot be built is reported at the key concerned, and every such
/// problem at once.
#[test]
fn fencing_level_errors_name_line_and_column() {
    check_error(
        &format!(
            "{FENCED}{}",
            r#"
[[fencing-level]]
index = 1
devices = ["pdu"]

[[fencing-level]]
target = "n1"
target-pattern = "n.*"
index = 2
devices = ["pdu"]

[[fencing-level]]
target-attribute = "rack"
index = 3
devices = ["pdu"]

[[fencing-level]]
target = "n1"
target-value = "x"
index = 4
devices = ["pdu"]

[[fencing-level]]
target = "n1"
index = 0
devices = ["pdu"]

[[fencing-level]]
id = "big"
target = "n2"
index = 10
devices = ["pdu"]

[[fencing-level]]
target = "n2"
index = 1
devices = []
"#
        ),
        expect![[r#"
            HALO-E004 bad.toml:17:1: fencing-level: say which nodes the level fences: `target = "NODE"`, `target-pattern = "REGEX"`, or `target-attribute` with `target-value`
            HALO-E004 bad.toml:23:18: fencing-level "fl-n1-2": give one target, not target and target-pattern: `target`, `target-pattern`, or `target-attribute` with `target-value` (target-pattern is one too many)
            HALO-E002 bad.toml:28:20: fencing-level "fl-rack-3": target-attribute needs target-value: the value the attribute must have
            HALO-E002 bad.toml:34:16: fencing-level "fl-n1-4": target-value belongs with target-attribute, not with target
            HALO-E022 bad.toml:40:9: fencing-level "fl-n1-0": index 0 is not a level: levels are numbered 1 to 9
            HALO-E022 bad.toml:46:9: fencing-level "big": index 10 is not a level: levels are numbered 1 to 9
            HALO-E045 bad.toml:52:11: fencing-level "fl-n2-1": the level lists no devices: name its fence devices, e.g. devices = ["fence-n1"]"#]],
    );
    // Index and devices are required keys.
    check_error(
        "version = 1\n[[fencing-level]]\ntarget = \"n1\"\ndevices = [\"pdu\"]\n",
        expect![[r#"HALO-E002 bad.toml:2:1: missing field `index`"#]],
    );
    check_error(
        "version = 1\n[[fencing-level]]\ntarget = \"n1\"\nindex = 1\ndevice = [\"pdu\"]\n",
        expect![[
            r#"HALO-E002 bad.toml:5:1: unknown field `device`, expected one of `id`, `target`, `target-pattern`, `target-attribute`, `target-value`, `index`, `devices`"#
        ]],
    );
}

/// Validation of the topology: devices must be fence devices, one level per target and
/// index, patterns must compile; an unknown node is only a notice.
#[test]
fn fencing_level_validation_names_the_level() {
    check_error(
        &format!(
            "{FENCED}{}",
            r#"
[[fencing-level]]
target = "n1"
index = 1
devices = ["ipmi-n1", "vip", "ghost", "pdu,ipmi-n1"]

[[fencing-level]]
id = "again"
target = "n1"
index = 1
devices = ["pdu"]

[[fencing-level]]
target-pattern = "n(1"
index = 2
devices = ["pdu"]

[[fencing-level]]
id = "vip"
target = "n2"
index = 1
devices = ["pdu"]
"#
        ),
        expect![[r#"
            HALO-E026 bad.toml:20:23: fencing-level "fl-n1-1": device "vip" is a resource with agent ocf:heartbeat:IPaddr2, not a fence device: a device is a primitive of class stonith
            HALO-E026 bad.toml:20:30: fencing-level "fl-n1-1": device "ghost" is not configured: no stonith resource has this id
            HALO-E026 bad.toml:20:39: fencing-level "fl-n1-1": device "pdu,ipmi-n1" is not configured: write each device as its own string, e.g. ["a", "b"]
            HALO-E014 bad.toml:22:1: fencing-level "again": node "n1" already has a level 1 at bad.toml:17:1: fencing-level "fl-n1-1": list all its devices in one level, or give this one another index
            HALO-E027 bad.toml:29:18: fencing-level "fl-n1-2": target-pattern "n(1" is not a POSIX extended regular expression: unmatched '(' (at character 2); Pacemaker's fencer would never use this level
            HALO-E010 bad.toml:33:1: fencing-level "vip": id "vip" is already used by bad.toml:14:6: resource "vip""#]],
    );
    expect![[r#"
        test.toml:18:10: fencing-level "fl-remote-1-1": node "remote-1" is not configured; the level applies if it joins
        test.toml:23:18: fencing-level "fl--1": the empty target-pattern matches every node"#]]
    .assert_eq(&notices(&format!(
        "{FENCED}{}",
        r#"
[[fencing-level]]
target = "remote-1"
index = 1
devices = ["pdu"]

[[fencing-level]]
target-pattern = ""
index = 1
devices = ["pdu"]
"#
    )));
}
