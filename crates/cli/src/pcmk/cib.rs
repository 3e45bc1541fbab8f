//! The CIB as Pacemaker would hold it, made from the replicated state, and
//! `cibadmin --query [--xpath XPATH] [--scope SECTION] [--node-path]` over it.
//!
//! The document has the configuration (cluster properties, nodes with their permanent
//! attributes, resources with their parameters, meta attributes and operations, the
//! defaults; constraints are left out) and the status (each node's state, transient
//! attributes and operation history). Agents read it with XPath queries
//! (ocf:heartbeat:rabbitmq-cluster: `//node_state[@crmd='online']//nvpair[@name='X']`);
//! [`xpath`] evaluates the abbreviated location paths such queries use.

use halo_model::{OpDef, Resource};
use halo_sched::cluster::on_fail_str;

use super::opts::{self, flag, optional, value, Spec};
use super::view::{op_key, View};
use super::xml::Element;
use super::{ctime, exit, print_version, Ctx, Fail, Res};

/// The CRM feature set halo's documents claim (Pacemaker 2.1.5's).
pub const FEATURE_SET: &str = "3.16.1";

/// The whole CIB of the cluster `v` shows.
pub fn document(v: &View) -> Element {
    let last = v
        .state
        .history
        .back()
        .map(|h| (ctime((h.time_ms / 1000) as i64), h.node.clone()))
        .unwrap_or_default();
    let mut cib = Element::new("cib")
        .attr("crm_feature_set", FEATURE_SET)
        .attr("validate-with", "pacemaker-3.9")
        .attr("epoch", v.state.epoch)
        .attr("num_updates", 0)
        .attr("admin_epoch", 0)
        .attr("cib-last-written", &last.0)
        .attr("update-origin", &last.1)
        .attr("update-client", "halo")
        .attr("have-quorum", u8::from(v.status.quorate));
    if let Some(dc) = &v.status.dc {
        cib.set("dc-uuid", v.node_id(dc));
    }
    cib.push(configuration(v));
    cib.push(status(v));
    cib
}

fn nvpairs(parent: &str, set_id: &str, attrs: &halo_model::Attrs) -> Element {
    let mut set = Element::new(parent).attr("id", set_id);
    for (k, val) in attrs {
        set.push(
            Element::new("nvpair")
                .attr("id", format!("{set_id}-{k}"))
                .attr("name", k)
                .attr("value", val),
        );
    }
    set
}

fn configuration(v: &View) -> Element {
    let cfg = &v.cfg;
    let mut conf = Element::new("configuration");
    conf.push(Element::new("crm_config").child(nvpairs(
        "cluster_property_set",
        "cib-bootstrap-options",
        &cfg.properties,
    )));
    let mut nodes = Element::new("nodes");
    for n in &cfg.nodes {
        let id = v.node_id(&n.name);
        let mut node = Element::new("node").attr("id", &id).attr("uname", &n.name);
        if let Some(s) = n.score {
            node.set("score", s.to_string());
        }
        let (util, attrs): (Vec<_>, Vec<_>) = n
            .attrs
            .iter()
            .partition(|(k, _)| k.starts_with(super::attrs::UTILIZATION_PREFIX));
        if !attrs.is_empty() {
            let attrs = attrs
                .into_iter()
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect();
            node.push(nvpairs(
                "instance_attributes",
                &format!("nodes-{id}"),
                &attrs,
            ));
        }
        if !util.is_empty() {
            let util = strip_utilization(util.into_iter());
            node.push(nvpairs(
                "utilization",
                &format!("nodes-{id}-utilization"),
                &util,
            ));
        }
        nodes.push(node);
    }
    conf.push(nodes);
    let mut resources = Element::new("resources");
    for r in &cfg.resources {
        resources.push(resource(r));
    }
    conf.push(resources);
    conf.push(Element::new("constraints"));
    if !cfg.rsc_defaults.is_empty() {
        conf.push(Element::new("rsc_defaults").child(nvpairs(
            "meta_attributes",
            "rsc-options",
            &cfg.rsc_defaults,
        )));
    }
    if !cfg.op_defaults.is_empty() {
        conf.push(Element::new("op_defaults").child(nvpairs(
            "meta_attributes",
            "op-options",
            &cfg.op_defaults,
        )));
    }
    conf
}

fn strip_utilization<'a>(it: impl Iterator<Item = (&'a String, &'a String)>) -> halo_model::Attrs {
    it.map(|(k, x)| {
        (
            k.trim_start_matches(super::attrs::UTILIZATION_PREFIX)
                .to_string(),
            x.clone(),
        )
    })
    .collect()
}

/// Meta attributes, with the utilization ones (stored as meta `utilization-NAME`) apart.
fn meta_sets(e: &mut Element, id: &str, meta: &halo_model::Attrs) {
    let (util, plain): (Vec<_>, Vec<_>) = meta
        .iter()
        .partition(|(k, _)| k.starts_with(super::attrs::UTILIZATION_PREFIX));
    if !plain.is_empty() {
        let plain = plain
            .into_iter()
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect();
        e.push(nvpairs(
            "meta_attributes",
            &format!("{id}-meta_attributes"),
            &plain,
        ));
    }
    if !util.is_empty() {
        let util = strip_utilization(util.into_iter());
        e.push(nvpairs("utilization", &format!("{id}-utilization"), &util));
    }
}

fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn op(o: &OpDef) -> Element {
    let mut e = Element::new("op")
        .attr("id", &o.id)
        .attr("name", &o.name)
        .attr("interval", duration(o.interval_ms));
    if let Some(t) = o.timeout_ms {
        e.set("timeout", duration(t));
    }
    if let Some(r) = o.role {
        e.set("role", r.as_str());
    }
    if let Some(f) = o.on_fail {
        e.set("on-fail", on_fail_str(f));
    }
    if !o.enabled {
        e.set("enabled", "false");
    }
    for (k, x) in &o.attrs {
        e.set(k, x);
    }
    e
}

fn primitive(p: &halo_model::Primitive) -> Element {
    let mut e = Element::new("primitive")
        .attr("id", &p.id)
        .attr("class", &p.agent.class);
    if let Some(prov) = &p.agent.provider {
        e.set("provider", prov);
    }
    e.set("type", &p.agent.kind);
    if !p.params.is_empty() {
        e.push(nvpairs(
            "instance_attributes",
            &format!("{}-instance_attributes", p.id),
            &p.params,
        ));
    }
    meta_sets(&mut e, &p.id, &p.meta);
    if !p.ops.is_empty() {
        let mut ops = Element::new("operations");
        for o in &p.ops {
            ops.push(op(o));
        }
        e.push(ops);
    }
    e
}

fn resource(r: &Resource) -> Element {
    match r {
        Resource::Primitive(p) => primitive(p),
        Resource::Group(g) => {
            let mut e = Element::new("group").attr("id", &g.id);
            meta_sets(&mut e, &g.id, &g.meta);
            for m in &g.members {
                e.push(primitive(m));
            }
            e
        }
        Resource::Clone(c) => {
            let mut e = Element::new("clone").attr("id", &c.id);
            let mut meta = c.meta.clone();
            if c.promotable {
                meta.insert("promotable".into(), "true".into());
            }
            meta_sets(&mut e, &c.id, &meta);
            e.push(resource(&c.child));
            e
        }
    }
}

fn status(v: &View) -> Element {
    let mut status = Element::new("status");
    for n in &v.input.nodes {
        let id = v.node_id(&n.name);
        let mut ns = Element::new("node_state")
            .attr("id", &id)
            .attr("uname", &n.name);
        for (k, x) in [
            ("in_ccm", &n.in_ccm),
            ("crmd", &n.crmd),
            ("join", &n.join),
            ("expected", &n.expected),
        ] {
            if let Some(x) = x {
                ns.set(k, x);
            }
        }
        let attrs = halo_controller::input::transient_attrs(&v.state, &n.name);
        if !attrs.is_empty() {
            ns.push(
                Element::new("transient_attributes")
                    .attr("id", &id)
                    .child(nvpairs(
                        "instance_attributes",
                        &format!("status-{id}"),
                        &attrs,
                    )),
            );
        }
        let mut lrm_resources = Element::new("lrm_resources");
        for h in &n.resources {
            let mut lr = Element::new("lrm_resource")
                .attr("id", &h.id)
                .attr("type", &h.kind)
                .attr("class", &h.class);
            if let Some(p) = &h.provider {
                lr.set("provider", p);
            }
            for o in &h.ops {
                let mut e = Element::new("lrm_rsc_op")
                    .attr("id", &o.id)
                    .attr("operation_key", op_key(&h.id, o))
                    .attr("operation", &o.operation)
                    .attr("crm_feature_set", FEATURE_SET);
                if let Some(k) = &o.transition_key {
                    e.set("transition-key", k);
                    e.set("transition-magic", format!("{}:{};{k}", o.op_status, o.rc));
                }
                e.set("exit-reason", o.exit_reason.as_deref().unwrap_or(""));
                e.set("on_node", &n.name);
                e.set("call-id", o.call_id);
                e.set("rc-code", o.rc);
                e.set("op-status", o.op_status);
                e.set("interval", o.interval_ms);
                if let Some(t) = o.last_rc_change {
                    e.set("last-rc-change", t);
                }
                if let Some(t) = o.last_run {
                    e.set("last-run", t);
                }
                e.set("exec-time", o.exec_time_ms.unwrap_or(0));
                e.set("queue-time", 0);
                if let Some(d) = &o.op_digest {
                    e.set("op-digest", d);
                }
                lr.push(e);
            }
            lrm_resources.push(lr);
        }
        ns.push(Element::new("lrm").attr("id", &id).child(lrm_resources));
        status.push(ns);
    }
    status
}

// ---------------------------------------------------------------------------------
// XPath

/// A match: the element and its path from the document root
/// (`/cib/configuration/nodes/node[@id='1']`).
pub type Match<'a> = (String, &'a Element);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Slash,
    DSlash,
    Name(String),
    Star,
    At,
    LBr,
    RBr,
    LPar,
    RPar,
    Eq,
    Ne,
    Lit(String),
    Num(usize),
    Dot,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' => i += 1,
            '/' if c.get(i + 1) == Some(&'/') => {
                out.push(Tok::DSlash);
                i += 2;
            }
            '/' => {
                out.push(Tok::Slash);
                i += 1;
            }
            '*' => {
                out.push(Tok::Star);
                i += 1;
            }
            '@' => {
                out.push(Tok::At);
                i += 1;
            }
            '[' => {
                out.push(Tok::LBr);
                i += 1;
            }
            ']' => {
                out.push(Tok::RBr);
                i += 1;
            }
            '(' => {
                out.push(Tok::LPar);
                i += 1;
            }
            ')' => {
                out.push(Tok::RPar);
                i += 1;
            }
            '=' => {
                out.push(Tok::Eq);
                i += 1;
            }
            '!' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Ne);
                i += 2;
            }
            '.' if !c.get(i + 1).is_some_and(|x| x.is_ascii_digit()) => {
                out.push(Tok::Dot);
                i += 1;
            }
            '\'' | '"' => {
                let end = c[i + 1..]
                    .iter()
                    .position(|x| *x == ch)
                    .ok_or("unterminated string literal")?;
                out.push(Tok::Lit(c[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            d if d.is_ascii_digit() => {
                let start = i;
                while i < c.len() && c[i].is_ascii_digit() {
                    i += 1;
                }
                let n: String = c[start..i].iter().collect();
                out.push(Tok::Num(n.parse().map_err(|_| "bad number")?));
            }
            a if a.is_alphabetic() || a == '_' => {
                let start = i;
                while i < c.len()
                    && (c[i].is_alphanumeric() || matches!(c[i], '_' | '-' | '.' | ':'))
                {
                    i += 1;
                }
                out.push(Tok::Name(c[start..i].iter().collect()));
            }
            other => return Err(format!("unsupported character '{other}'")),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, bool, Operand),
    Exists(Operand),
    Position(usize),
}

#[derive(Debug, Clone)]
enum Operand {
    Attr(String),
    Lit(String),
    Path(Vec<Step>),
}

#[derive(Debug, Clone)]
struct Step {
    /// `//` before this step: descendants, not only children.
    deep: bool,
    /// Element name; `None` for `*`; `Some(".")` for the context itself.
    name: Option<String>,
    preds: Vec<Expr>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?}, found {other:?}")),
        }
    }

    /// A location path; `absolute` when it must start at the root.
    fn path(&mut self) -> Result<(bool, Vec<Step>), String> {
        let mut steps = Vec::new();
        let mut absolute = false;
        let mut deep = match self.peek() {
            Some(Tok::Slash) => {
                self.pos += 1;
                absolute = true;
                false
            }
            Some(Tok::DSlash) => {
                self.pos += 1;
                absolute = true;
                true
            }
            _ => false,
        };
        loop {
            let name = match self.next() {
                Some(Tok::Name(n)) => Some(n),
                Some(Tok::Star) => None,
                Some(Tok::Dot) => Some(".".to_string()),
                other => return Err(format!("expected an element name, found {other:?}")),
            };
            let mut preds = Vec::new();
            while self.peek() == Some(&Tok::LBr) {
                self.pos += 1;
                preds.push(self.or()?);
                self.expect(Tok::RBr)?;
            }
            steps.push(Step { deep, name, preds });
            match self.peek() {
                Some(Tok::Slash) => {
                    self.pos += 1;
                    deep = false;
                }
                Some(Tok::DSlash) => {
                    self.pos += 1;
                    deep = true;
                }
                _ => break,
            }
        }
        Ok((absolute, steps))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while matches!(self.peek(), Some(Tok::Name(n)) if n == "or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while matches!(self.peek(), Some(Tok::Name(n)) if n == "and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek().cloned() {
            Some(Tok::Name(n)) if n == "not" && self.toks.get(self.pos + 1) == Some(&Tok::LPar) => {
                self.pos += 2;
                let e = self.or()?;
                self.expect(Tok::RPar)?;
                Ok(Expr::Not(Box::new(e)))
            }
            Some(Tok::LPar) => {
                self.pos += 1;
                let e = self.or()?;
                self.expect(Tok::RPar)?;
                Ok(e)
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Position(n))
            }
            _ => {
                let left = self.operand()?;
                match self.peek() {
                    Some(Tok::Eq) | Some(Tok::Ne) => {
                        let eq = self.next() == Some(Tok::Eq);
                        let right = self.operand()?;
                        Ok(Expr::Cmp(left, eq, right))
                    }
                    _ => Ok(Expr::Exists(left)),
                }
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek().cloned() {
            Some(Tok::At) => {
                self.pos += 1;
                match self.next() {
                    Some(Tok::Name(n)) => Ok(Operand::Attr(n)),
                    other => Err(format!("expected an attribute name, found {other:?}")),
                }
            }
            Some(Tok::Lit(s)) => {
                self.pos += 1;
                Ok(Operand::Lit(s))
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Operand::Lit(n.to_string()))
            }
            _ => {
                let (absolute, steps) = self.path()?;
                if absolute {
                    return Err("absolute paths inside predicates are not supported".into());
                }
                Ok(Operand::Path(steps))
            }
        }
    }
}

fn segment(e: &Element) -> String {
    match e.get("id") {
        Some(id) => format!("{}[@id='{id}']", e.name),
        None => e.name.clone(),
    }
}

fn descendants<'a>(base: &str, e: &'a Element, out: &mut Vec<Match<'a>>) {
    for c in &e.children {
        let p = format!("{base}/{}", segment(c));
        out.push((p.clone(), c));
        descendants(&p, c, out);
    }
}

/// The elements `steps` select from each context.
fn walk<'a>(ctx: Vec<Match<'a>>, steps: &[Step]) -> Vec<Match<'a>> {
    let mut cur = ctx;
    for step in steps {
        let mut next: Vec<Match<'a>> = Vec::new();
        for (path, e) in &cur {
            let mut cands: Vec<Match<'a>> = Vec::new();
            if step.name.as_deref() == Some(".") {
                if step.deep {
                    cands.push((path.clone(), e));
                    descendants(path, e, &mut cands);
                } else {
                    cands.push((path.clone(), e));
                }
            } else if step.deep {
                descendants(path, e, &mut cands);
            } else {
                cands.extend(
                    e.children
                        .iter()
                        .map(|c| (format!("{path}/{}", segment(c)), c)),
                );
            }
            let named: Vec<Match<'a>> = cands
                .into_iter()
                .filter(|(_, c)| match step.name.as_deref() {
                    None | Some(".") => true,
                    Some(n) => c.name == n,
                })
                .collect();
            let mut kept = named;
            for pred in &step.preds {
                let total = kept.len();
                kept = kept
                    .into_iter()
                    .enumerate()
                    .filter(|(i, (p, c))| eval(pred, p, c, i + 1, total))
                    .map(|(_, m)| m)
                    .collect();
            }
            for m in kept {
                if !next.iter().any(|(_, x)| std::ptr::eq(*x, m.1)) {
                    next.push(m);
                }
            }
        }
        cur = next;
    }
    cur
}

fn values<'a>(o: &'a Operand, path: &str, e: &'a Element) -> Vec<String> {
    match o {
        Operand::Attr(a) => e.get(a).map(str::to_string).into_iter().collect(),
        Operand::Lit(s) => vec![s.clone()],
        // Elements have no text in the CIB: a path compares by nothing.
        Operand::Path(steps) => walk(vec![(path.to_string(), e)], steps)
            .into_iter()
            .map(|_| String::new())
            .collect(),
    }
}

fn eval(x: &Expr, path: &str, e: &Element, pos: usize, total: usize) -> bool {
    let _ = total;
    match x {
        Expr::Or(a, b) => eval(a, path, e, pos, total) || eval(b, path, e, pos, total),
        Expr::And(a, b) => eval(a, path, e, pos, total) && eval(b, path, e, pos, total),
        Expr::Not(a) => !eval(a, path, e, pos, total),
        Expr::Position(n) => pos == *n,
        Expr::Exists(o) => !values(o, path, e).is_empty(),
        Expr::Cmp(l, eq, r) => {
            let (lv, rv) = (values(l, path, e), values(r, path, e));
            lv.iter().any(|a| rv.iter().any(|b| (a == b) == *eq))
        }
    }
}

/// Evaluate an XPath location path on the document whose root element is `root`
/// (relative paths start at the document too).
pub fn xpath<'a>(root: &'a Element, expr: &str) -> Result<Vec<Match<'a>>, String> {
    let mut p = Parser {
        toks: tokenize(expr)?,
        pos: 0,
    };
    let (_, steps) = p.path()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "unsupported XPath at token {}: halo evaluates location paths with [@attr='value'], and/or/not() and positions",
            p.pos + 1
        ));
    }
    let Some((first, rest)) = steps.split_first() else {
        return Ok(vec![]);
    };
    // The first step applies to the document node, whose only child is the root
    // element: `/cib` is the root, `//x` any element named x.
    let root_path = format!("/{}", segment(root));
    let mut cands: Vec<Match<'a>> = vec![(root_path.clone(), root)];
    if first.deep {
        descendants(&root_path, root, &mut cands);
    }
    let mut kept: Vec<Match<'a>> = cands
        .into_iter()
        .filter(|m| first.name.as_deref().is_none_or(|n| m.1.name == n))
        .collect();
    for pred in &first.preds {
        let total = kept.len();
        kept = kept
            .into_iter()
            .enumerate()
            .filter(|(i, (p, c))| eval(pred, p, c, i + 1, total))
            .map(|(_, m)| m)
            .collect();
    }
    Ok(walk(kept, rest))
}

// ---------------------------------------------------------------------------------
// cibadmin

const SPECS: &[Spec] = &[
    flag('?', "help"),
    flag('h', "help-hidden"),
    flag('$', "version"),
    flag('V', "verbose"),
    flag('Q', "query"),
    flag('u', "upgrade"),
    flag('E', "erase"),
    flag('B', "bump"),
    flag('C', "create"),
    flag('M', "modify"),
    flag('P', "patch"),
    flag('R', "replace"),
    flag('D', "delete"),
    flag('d', "delete-all"),
    flag('a', "empty"),
    flag('5', "md5-sum"),
    flag('6', "md5-sum-versioned"),
    optional('S', "show-access"),
    flag('f', "force"),
    value('t', "timeout"),
    value('U', "user"),
    flag('s', "sync-call"),
    flag('l', "local"),
    flag('c', "allow-create"),
    flag('n', "no-children"),
    value('X', "xml-text"),
    value('x', "xml-file"),
    flag('p', "xml-pipe"),
    value('o', "scope"),
    value('A', "xpath"),
    flag('e', "node-path"),
    value('N', "node"),
];

/// `cibadmin`: only queries (`-Q`), of the whole CIB, a section (`-o`) or an XPath
/// (`-A`), optionally as paths (`-e`) or without children (`-n`).
pub fn cibadmin(args: &[String]) -> Res<i32> {
    let p =
        opts::parse(SPECS, args).map_err(|f| Fail::new(f.code, format!("cibadmin: {}", f.msg)))?;
    if p.has("help") || p.has("help-hidden") {
        print!(
            "{}",
            opts::usage(
                "cibadmin",
                "cibadmin - query the CIB (halo: queries only)",
                SPECS
            )
        );
        return Ok(exit::OK);
    }
    if p.has("version") {
        print_version();
        return Ok(exit::OK);
    }
    let changing = [
        "upgrade",
        "erase",
        "bump",
        "create",
        "modify",
        "patch",
        "replace",
        "delete",
        "delete-all",
        "md5-sum",
        "md5-sum-versioned",
    ];
    if let Some((k, _)) = p.opts.iter().find(|(k, _)| changing.contains(k)) {
        return Err(Fail::new(
            exit::UNIMPLEMENT_FEATURE,
            format!("cibadmin: --{k} is not supported by halo: change the cluster with `halo config apply`, crm_attribute or crm_resource"),
        ));
    }
    if p.has("empty") {
        print!(
            "{}",
            Element::new("cib")
                .attr("crm_feature_set", FEATURE_SET)
                .attr("validate-with", "pacemaker-3.9")
                .attr("epoch", 1)
                .attr("num_updates", 0)
                .attr("admin_epoch", 0)
                .child(
                    Element::new("configuration")
                        .child(Element::new("crm_config"))
                        .child(Element::new("nodes"))
                        .child(Element::new("resources"))
                        .child(Element::new("constraints"))
                )
                .child(Element::new("status"))
                .to_xml()
        );
        return Ok(exit::OK);
    }
    let ctx = Ctx::new().map_err(prefixed)?;
    let view = View::load(&ctx).map_err(prefixed)?;
    let doc = document(&view);
    let no_children = p.has("no-children");
    let expr = match (p.value("xpath"), p.value("scope")) {
        (Some(x), _) => x.to_string(),
        (None, Some(scope)) => match scope {
            "configuration" | "status" => format!("/cib/{scope}"),
            "nodes" | "resources" | "constraints" | "crm_config" | "rsc_defaults"
            | "op_defaults" | "acls" | "fencing-topology" | "tags" | "alerts" => {
                format!("/cib/configuration/{scope}")
            }
            other => {
                return Err(Fail::new(
                    exit::USAGE,
                    format!("cibadmin: Invalid scope: {other}"),
                ))
            }
        },
        (None, None) => "/cib".to_string(),
    };
    let found = xpath(&doc, &expr).map_err(|e| {
        Fail::new(
            exit::USAGE,
            format!("cibadmin: invalid XPath '{expr}': {e}"),
        )
    })?;
    if found.is_empty() {
        return Err(Fail::new(
            exit::NOSUCH,
            "Call failed: No such device or address",
        ));
    }
    if p.has("node-path") {
        for (path, _) in &found {
            println!("{path}");
        }
        return Ok(exit::OK);
    }
    let shown = |e: &Element| {
        let mut e = e.clone();
        if no_children {
            e.children.clear();
        }
        e
    };
    if found.len() == 1 {
        print!("{}", shown(found[0].1).to_xml());
    } else {
        let mut wrap = Element::new("xpath-query");
        for (_, e) in &found {
            wrap.push(shown(e));
        }
        print!("{}", wrap.to_xml());
    }
    Ok(exit::OK)
}

fn prefixed(f: Fail) -> Fail {
    Fail::new(f.code, format!("cibadmin: {}", f.msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Element {
        let nv = |id: &str, n: &str, v: &str| {
            Element::new("nvpair")
                .attr("id", id)
                .attr("name", n)
                .attr("value", v)
        };
        Element::new("cib")
            .child(
                Element::new("configuration").child(
                    Element::new("nodes")
                        .child(Element::new("node").attr("id", "1").attr("uname", "n1"))
                        .child(Element::new("node").attr("id", "2").attr("uname", "n2")),
                ),
            )
            .child(
                Element::new("status")
                    .child(
                        Element::new("node_state")
                            .attr("id", "1")
                            .attr("uname", "n1")
                            .attr("crmd", "online")
                            .child(
                                Element::new("transient_attributes").attr("id", "1").child(
                                    Element::new("instance_attributes")
                                        .attr("id", "status-1")
                                        .child(nv("status-1-c", "cookie", "rabbit@n1")),
                                ),
                            ),
                    )
                    .child(
                        Element::new("node_state")
                            .attr("id", "2")
                            .attr("uname", "n2")
                            .attr("crmd", "offline")
                            .child(
                                Element::new("transient_attributes").attr("id", "2").child(
                                    Element::new("instance_attributes")
                                        .attr("id", "status-2")
                                        .child(nv("status-2-c", "cookie", "rabbit@n2")),
                                ),
                            ),
                    ),
            )
    }

    fn ids(d: &Element, x: &str) -> Vec<String> {
        xpath(d, x)
            .unwrap_or_else(|e| panic!("{x}: {e}"))
            .iter()
            .map(|(_, e)| e.get("id").unwrap_or("").to_string())
            .collect()
    }

    /// The queries of ocf:heartbeat:rabbitmq-cluster, and the usual shapes.
    #[test]
    fn location_paths() {
        let d = doc();
        assert_eq!(
            ids(&d, "//node_state[@crmd='online']//nvpair[@name='cookie']"),
            ["status-1-c"]
        );
        assert_eq!(
            ids(&d, "//node_state//nvpair[@name='cookie']"),
            ["status-1-c", "status-2-c"]
        );
        assert_eq!(ids(&d, "/cib/configuration/nodes/node[@uname='n2']"), ["2"]);
        assert_eq!(ids(&d, "//node[@id='1' or @id=\"2\"]"), ["1", "2"]);
        assert_eq!(ids(&d, "//node_state[not(@crmd='online')]"), ["2"]);
        assert_eq!(ids(&d, "//node_state[transient_attributes]"), ["1", "2"]);
        assert_eq!(ids(&d, "/cib/status/node_state[2]"), ["2"]);
        assert_eq!(ids(&d, "//*[@uname='n1']"), ["1", "1"]);
        assert!(ids(&d, "//nvpair[@name='nothing']").is_empty());
        let paths: Vec<String> = xpath(&d, "//nvpair[@name='cookie']")
            .unwrap_or_default()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            paths[0],
            "/cib/status/node_state[@id='1']/transient_attributes[@id='1']/instance_attributes[@id='status-1']/nvpair[@id='status-1-c']"
        );
        assert!(xpath(&d, "//node/@id").is_err());
    }
}
