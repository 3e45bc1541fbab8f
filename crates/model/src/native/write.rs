//! Model → native text. Writes what a person would: defaults left out, one operation
//! per line, short tables inline, long ones as their own sections. The output reads
//! back (`parse_native`) to the same configuration.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::expr::{expr_op_str, format_expression, value_type_str, Term};
use super::read::{
    default_expr_id, default_level_id, default_op_id, default_rule_id, default_set_id,
};
use crate::config::*;
use crate::duration::format_duration_ms;
use crate::score::Score;

/// Longest inline table kept on the key's line.
const INLINE_MAX: usize = 88;

/// A TOML key, quoted unless bare.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        k.to_string()
    } else {
        string(k)
    }
}

/// A TOML basic string.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An attribute value: booleans and integers bare when they read back identically.
fn scalar(v: &str) -> String {
    if v == "true" || v == "false" {
        return v.to_string();
    }
    if let Ok(i) = v.parse::<i64>() {
        if i.to_string() == v {
            return v.to_string();
        }
    }
    string(v)
}

fn score(s: Score) -> String {
    if s.is_pos_infinity() || s.is_neg_infinity() {
        string(&s.to_string())
    } else {
        s.value().to_string()
    }
}

fn duration(ms: u64) -> String {
    string(&format_duration_ms(ms))
}

fn inline(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "{}".to_string();
    }
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{} = {v}", key(k)))
        .collect();
    format!("{{ {} }}", body.join(", "))
}

fn attr_pairs(a: &Attrs) -> Vec<(String, String)> {
    a.iter().map(|(k, v)| (k.clone(), scalar(v))).collect()
}

fn strings(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// A table written either inline on `name = {...}` or, when long, as section `[path.name]`
/// after the other keys.
struct Deferred {
    header: String,
    body: Attrs,
}

fn table_or_defer(out: &mut String, path: &str, name: &str, a: &Attrs, later: &mut Vec<Deferred>) {
    if a.is_empty() {
        return;
    }
    let text = inline(&attr_pairs(a));
    if name.len() + 3 + text.len() <= INLINE_MAX {
        let _ = writeln!(out, "{name} = {text}");
    } else {
        later.push(Deferred {
            header: format!("[{path}.{name}]"),
            body: a.clone(),
        });
    }
}

fn flush(out: &mut String, later: Vec<Deferred>) {
    for d in later {
        let _ = writeln!(out, "{}", d.header);
        for (k, v) in &d.body {
            let _ = writeln!(out, "{} = {}", key(k), scalar(v));
        }
    }
}

/// Write `config` in the native format.
pub fn to_native(config: &Config) -> String {
    let mut out = String::new();
    out.push_str("version = 1\n");

    let mut props = config.properties.clone();
    if let Some(name) = props.remove("cluster-name") {
        let _ = write!(out, "\n[cluster]\nname = {}\n", string(&name));
    }
    for (title, a) in [
        ("properties", &props),
        ("resource-defaults", &config.rsc_defaults),
        ("op-defaults", &config.op_defaults),
    ] {
        if !a.is_empty() {
            let _ = writeln!(out, "\n[{title}]");
            for (k, v) in a {
                let _ = writeln!(out, "{} = {}", key(k), scalar(v));
            }
        }
    }

    for n in &config.nodes {
        let _ = write!(out, "\n[[node]]\nname = {}\n", string(&n.name));
        if n.id != n.name {
            let _ = writeln!(out, "id = {}", scalar(&n.id));
        }
        if let Some(s) = n.score {
            let _ = writeln!(out, "score = {}", score(s));
        }
        let mut attrs = n.attrs.clone();
        for k in ["standby", "maintenance"] {
            if let Some(v) = attrs
                .get(k)
                .filter(|v| *v == "true" || *v == "false")
                .cloned()
            {
                let _ = writeln!(out, "{k} = {v}");
                attrs.remove(k);
            }
        }
        let mut later = Vec::new();
        table_or_defer(&mut out, "node", "attributes", &attrs, &mut later);
        flush(&mut out, later);
    }

    for r in &config.resources {
        out.push('\n');
        match r {
            Resource::Primitive(p) => primitive(&mut out, "[[resource]]", "resource", p),
            Resource::Group(g) => group(&mut out, "[[group]]", "group", g),
            Resource::Clone(c) => clone(&mut out, c),
        }
    }

    for c in &config.constraints {
        out.push('\n');
        match c {
            Constraint::Location(l) => location(&mut out, l),
            Constraint::Colocation(c) => colocation(&mut out, c),
            Constraint::Order(o) => order(&mut out, o),
        }
    }

    // Ids are generated from the levels before, as the reader does.
    let mut taken = HashSet::new();
    for l in &config.fencing_levels {
        out.push('\n');
        fencing_level(&mut out, l, &taken);
        taken.insert(l.id.clone());
    }
    out
}

fn fencing_level(out: &mut String, l: &FencingLevel, taken: &HashSet<String>) {
    out.push_str("[[fencing-level]]\n");
    if l.id != default_level_id(&l.target, l.index, taken) {
        let _ = writeln!(out, "id = {}", string(&l.id));
    }
    match &l.target {
        FencingTarget::Node(n) => {
            let _ = writeln!(out, "target = {}", string(n));
        }
        FencingTarget::Pattern(p) => {
            let _ = writeln!(out, "target-pattern = {}", string(p));
        }
        FencingTarget::Attribute { name, value } => {
            let _ = writeln!(out, "target-attribute = {}", string(name));
            let _ = writeln!(out, "target-value = {}", scalar(value));
        }
    }
    let _ = writeln!(out, "index = {}", l.index);
    let _ = writeln!(out, "devices = {}", strings(&l.devices));
}

fn primitive(out: &mut String, header: &str, path: &str, p: &Primitive) {
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "id = {}", string(&p.id));
    let _ = writeln!(out, "agent = {}", string(&p.agent.to_string()));
    let mut later = Vec::new();
    table_or_defer(out, path, "params", &p.params, &mut later);
    table_or_defer(out, path, "meta", &p.meta, &mut later);
    if !p.ops.is_empty() {
        out.push_str("op = [\n");
        for o in &p.ops {
            let _ = writeln!(out, "  {},", op(&p.id, o));
        }
        out.push_str("]\n");
    }
    flush(out, later);
}

fn op(rsc: &str, o: &OpDef) -> String {
    let mut pairs = vec![("name".to_string(), string(&o.name))];
    if o.interval_ms != 0 {
        pairs.push(("interval".into(), duration(o.interval_ms)));
    }
    if let Some(t) = o.timeout_ms {
        pairs.push(("timeout".into(), duration(t)));
    }
    if let Some(r) = o.role {
        pairs.push(("role".into(), string(r.as_str())));
    }
    if let Some(f) = o.on_fail {
        pairs.push(("on-fail".into(), string(on_fail_str(f))));
    }
    if !o.enabled {
        pairs.push(("enabled".into(), "false".into()));
    }
    if !o.attrs.is_empty() {
        pairs.push(("attributes".into(), inline(&attr_pairs(&o.attrs))));
    }
    if o.id != default_op_id(rsc, &o.name, o.interval_ms, o.role) {
        pairs.push(("id".into(), string(&o.id)));
    }
    inline(&pairs)
}

fn on_fail_str(f: OnFail) -> &'static str {
    match f {
        OnFail::Ignore => "ignore",
        OnFail::Block => "block",
        OnFail::Stop => "stop",
        OnFail::Restart => "restart",
        OnFail::Standby => "standby",
        OnFail::Fence => "fence",
        OnFail::Demote => "demote",
    }
}

fn group(out: &mut String, header: &str, path: &str, g: &Group) {
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "id = {}", string(&g.id));
    let mut later = Vec::new();
    table_or_defer(out, path, "meta", &g.meta, &mut later);
    flush(out, later);
    let member_path = format!("{path}.member");
    for m in &g.members {
        primitive(out, &format!("[[{member_path}]]"), &member_path, m);
    }
}

fn clone(out: &mut String, c: &Clone) {
    let _ = writeln!(out, "[[clone]]");
    let _ = writeln!(out, "id = {}", string(&c.id));
    if c.promotable {
        out.push_str("promotable = true\n");
    }
    let mut later = Vec::new();
    table_or_defer(out, "clone", "meta", &c.meta, &mut later);
    flush(out, later);
    let mut child = c.child.as_ref();
    while let Resource::Clone(inner) = child {
        // Not expressible (and rejected by validation): keep what can be kept.
        let _ = writeln!(
            out,
            "# halo: the child clone {} cannot be written; its own child follows",
            string(&inner.id)
        );
        child = inner.child.as_ref();
    }
    match child {
        Resource::Primitive(p) => primitive(out, "[clone.resource]", "clone.resource", p),
        Resource::Group(g) => group(out, "[clone.group]", "clone.group", g),
        Resource::Clone(_) => {}
    }
}

fn set_list(out: &mut String, cid: &str, sets: &[ResourceSet]) {
    out.push_str("set = [\n");
    for (n, s) in sets.iter().enumerate() {
        let mut pairs = Vec::new();
        if s.id != default_set_id(cid, n) {
            pairs.push(("id".to_string(), string(&s.id)));
        }
        pairs.push(("resources".into(), strings(&s.resources)));
        if !s.sequential {
            pairs.push(("sequential".into(), "false".into()));
        }
        if !s.require_all {
            pairs.push(("require-all".into(), "false".into()));
        }
        if let Some(r) = s.role {
            pairs.push(("role".into(), string(r.as_str())));
        }
        if let Some(a) = s.action {
            pairs.push(("action".into(), string(a.as_str())));
        }
        if let Some(sc) = s.score {
            pairs.push(("score".into(), score(sc)));
        }
        if let Some(k) = s.kind {
            pairs.push(("kind".into(), string(kind_str(k))));
        }
        if s.ordering != SetOrdering::Group {
            pairs.push(("ordering".into(), string(s.ordering.as_str())));
        }
        let _ = writeln!(out, "  {},", inline(&pairs));
    }
    out.push_str("]\n");
}

fn kind_str(k: OrderKind) -> &'static str {
    match k {
        OrderKind::Mandatory => "Mandatory",
        OrderKind::Optional => "Optional",
        OrderKind::Serialize => "Serialize",
    }
}

fn bool_op_str(b: BoolOp) -> &'static str {
    match b {
        BoolOp::And => "and",
        BoolOp::Or => "or",
    }
}

/// The rule's expressions as one line, if they can be.
fn short_expression(rule: &Rule) -> Option<String> {
    let mut terms = Vec::new();
    for (n, e) in rule.exprs.iter().enumerate() {
        let RuleExpr::Attr(a) = e else { return None };
        if a.value_source != ValueSource::Literal || a.id != default_expr_id(&rule.id, n) {
            return None;
        }
        terms.push(Term {
            attribute: a.attribute.clone(),
            op: a.op,
            value: a.value.clone(),
            value_type: a.value_type,
        });
    }
    format_expression(rule.bool_op, &terms)
}

/// The keys of a rule's body: `bool-op` and `expression`, or `bool-op` and `expr`.
fn rule_body(rule: &Rule) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    match short_expression(rule) {
        Some(text) => {
            if rule.exprs.len() < 2 && rule.bool_op != BoolOp::default() {
                pairs.push(("bool-op".to_string(), string(bool_op_str(rule.bool_op))));
            }
            pairs.push(("expression".into(), string(&text)));
        }
        None => {
            if rule.bool_op != BoolOp::default() {
                pairs.push(("bool-op".to_string(), string(bool_op_str(rule.bool_op))));
            }
            let items: Vec<String> = rule
                .exprs
                .iter()
                .enumerate()
                .map(|(n, e)| expr(&default_expr_id(&rule.id, n), e))
                .collect();
            pairs.push(("expr".into(), format!("[{}]", items.join(", "))));
        }
    }
    pairs
}

fn expr(default_id: &str, e: &RuleExpr) -> String {
    match e {
        RuleExpr::Attr(a) => {
            let mut pairs = vec![
                ("attribute".to_string(), string(&a.attribute)),
                ("op".to_string(), string(expr_op_str(a.op))),
            ];
            if let Some(v) = &a.value {
                pairs.push(("value".into(), string(v)));
            }
            if let Some(t) = a.value_type {
                pairs.push(("type".into(), string(value_type_str(t))));
            }
            match a.value_source {
                ValueSource::Literal => {}
                ValueSource::Param => pairs.push(("value-source".into(), string("param"))),
                ValueSource::Meta => pairs.push(("value-source".into(), string("meta"))),
            }
            if a.id != default_id {
                pairs.push(("id".into(), string(&a.id)));
            }
            inline(&pairs)
        }
        RuleExpr::Date(d) => {
            let op = match d.op {
                DateOp::Lt => "lt",
                DateOp::Gt => "gt",
                DateOp::InRange => "in_range",
            };
            let mut pairs = vec![("date".to_string(), string(op))];
            for (key, t) in [("start", d.start), ("end", d.end)] {
                if let Some(t) = t {
                    pairs.push((key.into(), string(&crate::datetime::format_datetime(t))));
                }
            }
            if d.id != default_id {
                pairs.push(("id".into(), string(&d.id)));
            }
            inline(&pairs)
        }
        RuleExpr::Rule(r) => {
            let mut pairs = rule_body(r);
            // A nested rule with neither form would read back as a comparison.
            if r.id != default_id {
                pairs.push(("id".into(), string(&r.id)));
            }
            inline(&pairs)
        }
    }
}

fn rule_pairs(cid: &str, n: usize, r: &Rule) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if r.id != default_rule_id(cid, n) {
        pairs.push(("id".to_string(), string(&r.id)));
    }
    if let Some(s) = r.score {
        pairs.push(("score".into(), score(s)));
    }
    if let Some(a) = &r.score_attribute {
        pairs.push(("score-attribute".into(), string(a)));
    }
    if let Some(role) = r.role {
        pairs.push(("role".into(), string(role.as_str())));
    }
    pairs.extend(rule_body(r));
    pairs
}

fn location(out: &mut String, l: &Location) {
    let _ = writeln!(out, "[[location]]");
    let _ = writeln!(out, "id = {}", string(&l.id));
    match &l.target {
        LocationTarget::Resource(r) => {
            let _ = writeln!(out, "resource = {}", string(r));
        }
        LocationTarget::Sets(sets) => set_list(out, &l.id, sets),
    }
    if let Some(r) = l.role {
        let _ = writeln!(out, "role = {}", string(r.as_str()));
    }
    if l.discovery != Discovery::Always {
        let _ = writeln!(out, "resource-discovery = {}", string(l.discovery.as_str()));
    }
    match &l.how {
        LocationHow::Node { node, score: s } => {
            let _ = writeln!(out, "node = {}", string(node));
            let _ = writeln!(out, "score = {}", score(*s));
        }
        LocationHow::Rules(rules) => {
            let lines: Vec<String> = rules
                .iter()
                .enumerate()
                .map(|(n, r)| inline(&rule_pairs(&l.id, n, r)))
                .collect();
            if lines.iter().all(|s| s.len() + 2 <= INLINE_MAX) {
                out.push_str("rule = [\n");
                for s in lines {
                    let _ = writeln!(out, "  {s},");
                }
                out.push_str("]\n");
            } else {
                for (n, r) in rules.iter().enumerate() {
                    out.push_str("[[location.rule]]\n");
                    for (k, v) in rule_pairs(&l.id, n, r) {
                        let _ = writeln!(out, "{k} = {v}");
                    }
                }
            }
        }
    }
}

fn colocation(out: &mut String, c: &Colocation) {
    let _ = writeln!(out, "[[colocation]]");
    match c {
        Colocation::Pair {
            id,
            score: s,
            rsc,
            rsc_role,
            with_rsc,
            with_rsc_role,
        } => {
            let _ = writeln!(out, "id = {}", string(id));
            let _ = writeln!(out, "resource = {}", string(rsc));
            if let Some(r) = rsc_role {
                let _ = writeln!(out, "role = {}", string(r.as_str()));
            }
            let _ = writeln!(out, "with = {}", string(with_rsc));
            if let Some(r) = with_rsc_role {
                let _ = writeln!(out, "with-role = {}", string(r.as_str()));
            }
            let _ = writeln!(out, "score = {}", score(*s));
        }
        Colocation::Sets { id, score: s, sets } => {
            let _ = writeln!(out, "id = {}", string(id));
            let _ = writeln!(out, "score = {}", score(*s));
            set_list(out, id, sets);
        }
    }
}

fn order(out: &mut String, o: &Order) {
    let _ = writeln!(out, "[[order]]");
    let (id, kind, symmetrical) = match o {
        Order::Pair {
            id,
            kind,
            symmetrical,
            ..
        }
        | Order::Sets {
            id,
            kind,
            symmetrical,
            ..
        } => (id, *kind, *symmetrical),
    };
    let _ = writeln!(out, "id = {}", string(id));
    match o {
        Order::Pair {
            first,
            first_action,
            then,
            then_action,
            require_all,
            ..
        } => {
            if let Some(a) = first_action {
                let _ = writeln!(out, "first-action = {}", string(a.as_str()));
            }
            let _ = writeln!(out, "first = {}", string(first));
            if let Some(a) = then_action {
                let _ = writeln!(out, "then-action = {}", string(a.as_str()));
            }
            let _ = writeln!(out, "then = {}", string(then));
            if !require_all {
                out.push_str("require-all = false\n");
            }
        }
        Order::Sets { .. } => {}
    }
    if kind != OrderKind::Mandatory {
        let _ = writeln!(out, "kind = {}", string(kind_str(kind)));
    }
    if let Some(s) = symmetrical {
        let _ = writeln!(out, "symmetrical = {s}");
    }
    if let Order::Sets { sets, .. } = o {
        set_list(out, id, sets);
    }
}
