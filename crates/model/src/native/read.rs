//! Wire → model: converts the parsed TOML into a [`Config`], collecting every problem
//! with its line and column instead of stopping at the first.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::expr::{parse_expression, parse_value_type};
use super::wire::*;
use crate::codes;
use crate::config::*;
use crate::duration::{format_duration_ms, parse_duration_ms};
use crate::error::Problem;
use crate::score::Score;
use crate::validate::{describe, flatten, Locator, Subject};

/// File positions of the objects of a converted configuration, parallel to it, so that
/// validation problems can name lines.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    pub properties: BTreeMap<String, Range<usize>>,
    pub nodes: Vec<Range<usize>>,
    /// In [`flatten`] order.
    pub resources: Vec<ResourcePlaces>,
    pub constraints: Vec<Range<usize>>,
    pub rsc_defaults: BTreeMap<String, Range<usize>>,
    pub op_defaults: BTreeMap<String, Range<usize>>,
    /// Parallel to `Config::fencing_levels`.
    pub fencing_levels: Vec<LevelPlaces>,
}

/// Where a fencing level, its target and its devices are written.
#[derive(Debug, Default, Clone)]
pub(crate) struct LevelPlaces {
    /// The whole `[[fencing-level]]` table, from its header.
    pub table: Range<usize>,
    pub target: Range<usize>,
    pub devices: Vec<Range<usize>>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ResourcePlaces {
    pub id: Range<usize>,
    pub meta: BTreeMap<String, Range<usize>>,
    pub ops: Vec<Range<usize>>,
}

/// Converts byte offsets into `file:line:col`.
pub(crate) struct Text<'t> {
    pub text: &'t str,
    pub file: &'t str,
}

impl Text<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    pub fn at(&self, span: &Range<usize>) -> String {
        let (l, c) = self.line_col(span.start);
        format!("{}:{l}:{c}", self.file)
    }
}

/// Places validation subjects at their line in the file.
pub(crate) struct NativeLocator<'t> {
    pub text: Text<'t>,
    pub map: SourceMap,
}

impl Locator for NativeLocator<'_> {
    fn place(&self, config: &Config, subject: Subject<'_>) -> String {
        let span = match subject {
            Subject::Property(k) => self.map.properties.get(k).cloned(),
            Subject::Node(i) => self.map.nodes.get(i).cloned(),
            Subject::Resource(i) => self.map.resources.get(i).map(|r| r.id.clone()),
            Subject::Meta { resource, key } => self
                .map
                .resources
                .get(resource)
                .map(|r| r.meta.get(key).cloned().unwrap_or_else(|| r.id.clone())),
            Subject::Op { resource, op } => self
                .map
                .resources
                .get(resource)
                .and_then(|r| r.ops.get(op).cloned().or(Some(r.id.clone()))),
            Subject::Constraint(i) => self.map.constraints.get(i).cloned(),
            Subject::RscDefault(k) => self.map.rsc_defaults.get(k).cloned(),
            Subject::OpDefault(k) => self.map.op_defaults.get(k).cloned(),
            Subject::FencingLevel(i) => self.map.fencing_levels.get(i).map(|l| l.table.clone()),
            Subject::FencingTarget(i) => self.map.fencing_levels.get(i).map(|l| l.target.clone()),
            Subject::FencingDevice { level, device } => {
                self.map.fencing_levels.get(level).map(|l| {
                    l.devices
                        .get(device)
                        .cloned()
                        .unwrap_or_else(|| l.table.clone())
                })
            }
        };
        let what = describe(config, &flatten(config), subject);
        match span {
            Some(s) => format!("{}: {what}", self.text.at(&s)),
            None => format!("{}: {what}", self.text.file),
        }
    }
}

pub(crate) struct Reader<'t> {
    pub text: Text<'t>,
    pub problems: Vec<Problem>,
    /// Where the object being read starts: the place of problems inside it that have
    /// no position of their own.
    pub anchor: Range<usize>,
}

/// What a problem is about, for its place text.
fn obj(kind: &str, id: &str) -> String {
    format!("{kind} \"{id}\"")
}

impl<'t> Reader<'t> {
    pub fn problem(
        &mut self,
        code: &'static str,
        span: &Range<usize>,
        what: &str,
        reason: impl Into<String>,
    ) {
        let place = format!("{}: {what}", self.text.at(span));
        self.problems.push(Problem {
            code,
            place,
            reason: reason.into(),
        });
    }

    fn attrs(&mut self, wire: &WireAttrs) -> (Attrs, BTreeMap<String, Range<usize>>) {
        let mut out = Attrs::new();
        let mut spans = BTreeMap::new();
        for (k, v) in wire {
            out.insert(k.clone(), v.get_ref().to_string());
            spans.insert(k.clone(), v.span());
        }
        (out, spans)
    }

    pub fn score(&mut self, v: &Spanned<Scalar>, what: &str, key: &str) -> Score {
        let parsed = match v.get_ref() {
            Scalar::Bool(_) => None,
            s => Score::parse(&s.to_string()).ok(),
        };
        parsed.unwrap_or_else(|| {
            self.problem(
                codes::BAD_SCORE,
                &v.span(),
                what,
                format!(
                    "{key}: invalid score '{}': expected an integer, INFINITY or -INFINITY",
                    v.get_ref()
                ),
            );
            Score::ZERO
        })
    }

    /// A duration: an integer is seconds, a string has a unit.
    pub fn duration(&mut self, v: &Spanned<Scalar>, what: &str, key: &str) -> u64 {
        let parsed = match v.get_ref() {
            Scalar::Int(n) => u64::try_from(*n).ok().and_then(|n| n.checked_mul(1000)),
            Scalar::Str(s) => parse_duration_ms(s).ok(),
            Scalar::Bool(_) => None,
        };
        parsed.unwrap_or_else(|| {
            self.problem(
                codes::BAD_VALUE,
                &v.span(),
                what,
                format!(
                    "{key}: invalid duration '{}': expected e.g. \"30s\", \"5min\", \"500ms\" or whole seconds",
                    v.get_ref()
                ),
            );
            0
        })
    }

    pub fn role(&mut self, v: &Option<Spanned<String>>, what: &str, key: &str) -> Option<Role> {
        let v = v.as_ref()?;
        let r = crate::validate::parse_role(v.get_ref());
        if r.is_none() {
            self.problem(
                codes::BAD_VALUE,
                &v.span(),
                what,
                format!(
                    "{key}: '{}' is not a role: write Stopped, Started, Unpromoted or Promoted",
                    v.get_ref()
                ),
            );
        }
        r
    }

    fn one_of<T>(
        &mut self,
        v: &Spanned<String>,
        what: &str,
        key: &str,
        parse: impl Fn(&str) -> Option<T>,
        accepted: &str,
    ) -> Option<T> {
        let r = parse(v.get_ref());
        if r.is_none() {
            self.problem(
                codes::BAD_VALUE,
                &v.span(),
                what,
                format!("{key}: '{}' is not one of: {accepted}", v.get_ref()),
            );
        }
        r
    }

    fn action(&mut self, v: &Option<Spanned<String>>, what: &str, key: &str) -> Option<Action> {
        let v = v.as_ref()?;
        self.one_of(v, what, key, Action::parse, "start, stop, promote, demote")
    }

    fn order_kind(&mut self, v: &Option<Spanned<String>>, what: &str) -> Option<OrderKind> {
        let v = v.as_ref()?;
        self.one_of(
            v,
            what,
            "kind",
            OrderKind::parse,
            "Mandatory, Optional, Serialize",
        )
    }

    fn agent(&mut self, v: &Spanned<String>, what: &str) -> AgentRef {
        let s = v.get_ref();
        match parse_agent(s) {
            Ok(a) => a,
            Err(why) => {
                self.problem(codes::BAD_AGENT, &v.span(), what, why);
                // Reported here; a placeholder validation accepts, so it is not reported twice.
                AgentRef {
                    class: "halo".into(),
                    provider: None,
                    kind: s.clone(),
                }
            }
        }
    }

    // ---------------------------------------------------------------- configuration

    pub fn config(&mut self, doc: &WireDoc) -> (Config, SourceMap) {
        let mut config = Config::default();
        let mut map = SourceMap::default();

        let (props, spans) = self.attrs(&doc.properties);
        config.properties = props;
        map.properties = spans;
        if let Some(name) = doc.cluster.as_ref().and_then(|c| c.name.as_ref()) {
            if let Some(span) = map.properties.get("cluster-name").cloned() {
                self.problem(
                    codes::CONFLICT,
                    &span,
                    "property \"cluster-name\"",
                    "the cluster name is given twice: keep [cluster] name or properties cluster-name",
                );
            } else {
                config
                    .properties
                    .insert("cluster-name".into(), name.get_ref().clone());
                map.properties.insert("cluster-name".into(), name.span());
            }
        }

        for n in &doc.node {
            let (node, span) = self.node(n);
            config.nodes.push(node);
            map.nodes.push(span);
        }

        let (d, s) = self.attrs(&doc.resource_defaults);
        config.rsc_defaults = d;
        map.rsc_defaults = s;
        let (d, s) = self.attrs(&doc.op_defaults);
        config.op_defaults = d;
        map.op_defaults = s;

        // Resources of all kinds, in the order they appear in the file.
        let mut top: Vec<(usize, Resource, Vec<ResourcePlaces>)> = Vec::new();
        for p in &doc.resource {
            let mut places = Vec::new();
            let prim = self.primitive(p, &mut places);
            top.push((p.id.span().start, Resource::Primitive(prim), places));
        }
        for g in &doc.group {
            let mut places = Vec::new();
            let grp = self.group(g, &mut places);
            top.push((g.id.span().start, Resource::Group(grp), places));
        }
        for c in &doc.clone {
            let mut places = Vec::new();
            let cl = self.clone(c, &mut places);
            top.push((c.id.span().start, Resource::Clone(cl), places));
        }
        top.sort_by_key(|(start, _, _)| *start);
        for (_, r, places) in top {
            config.resources.push(r);
            map.resources.extend(places);
        }

        let mut cons: Vec<(Range<usize>, Constraint)> = Vec::new();
        // A constraint too broken to build is reported and left out, so that
        // validation does not report it again.
        for l in &doc.location {
            if let Some(c) = self.location(l) {
                cons.push((l.id.span(), c));
            }
        }
        for c in &doc.colocation {
            if let Some(c2) = self.colocation(c) {
                cons.push((c.id.span(), c2));
            }
        }
        for o in &doc.order {
            if let Some(c) = self.order(o) {
                cons.push((o.id.span(), c));
            }
        }
        cons.sort_by_key(|(span, _)| span.start);
        for (span, c) in cons {
            config.constraints.push(c);
            map.constraints.push(span);
        }

        // A level too broken to build is reported and left out, as constraints are.
        let mut taken: HashSet<String> = HashSet::new();
        for l in &doc.fencing_level {
            if let Some((level, places)) = self.fencing_level(l, &taken) {
                taken.insert(level.id.clone());
                config.fencing_levels.push(level);
                map.fencing_levels.push(places);
            }
        }
        (config, map)
    }

    /// One `[[fencing-level]]`; `taken`: the ids of the levels before it.
    fn fencing_level(
        &mut self,
        w: &Spanned<WireFencingLevel>,
        taken: &HashSet<String>,
    ) -> Option<(FencingLevel, LevelPlaces)> {
        let table = w.span();
        let l = w.get_ref();
        let index = *l.index.get_ref();
        let given: Vec<(&str, &Spanned<String>)> = [
            ("target", &l.target),
            ("target-pattern", &l.target_pattern),
            ("target-attribute", &l.target_attribute),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        // The name problems are reported under: the id, written or generated.
        let id = match (&l.id, given.first()) {
            (Some(id), _) => Some(id.get_ref().clone()),
            (None, Some((key, v))) => {
                let part = v.get_ref().clone();
                let target = match *key {
                    "target" => FencingTarget::Node(part),
                    "target-pattern" => FencingTarget::Pattern(part),
                    _ => FencingTarget::Attribute {
                        name: part,
                        value: String::new(),
                    },
                };
                let index = u32::try_from(index).unwrap_or(0);
                Some(default_level_id(&target, index, taken))
            }
            (None, None) => None,
        };
        let what = match &id {
            Some(id) => obj("fencing-level", id),
            None => "fencing-level".to_string(),
        };
        let before = self.problems.len();
        let target = match given.as_slice() {
            [] => {
                match &l.target_value {
                    Some(v) => self.problem(
                        codes::SCHEMA,
                        &v.span(),
                        &what,
                        "target-value needs target-attribute: the node attribute to compare",
                    ),
                    None => self.problem(
                        codes::CONFLICT,
                        &table,
                        &what,
                        "say which nodes the level fences: `target = \"NODE\"`, `target-pattern = \"REGEX\"`, or `target-attribute` with `target-value`",
                    ),
                }
                None
            }
            [(key, v)] => {
                let value = l.target_value.as_ref();
                match (*key, value) {
                    ("target-attribute", Some(value)) => Some(FencingTarget::Attribute {
                        name: v.get_ref().clone(),
                        value: value.get_ref().to_string(),
                    }),
                    ("target-attribute", None) => {
                        self.problem(
                            codes::SCHEMA,
                            &v.span(),
                            &what,
                            "target-attribute needs target-value: the value the attribute must have",
                        );
                        None
                    }
                    (_, Some(value)) => {
                        self.problem(
                            codes::SCHEMA,
                            &value.span(),
                            &what,
                            format!("target-value belongs with target-attribute, not with {key}"),
                        );
                        None
                    }
                    ("target", None) => Some(FencingTarget::Node(v.get_ref().clone())),
                    (_, None) => Some(FencingTarget::Pattern(v.get_ref().clone())),
                }
            }
            [_, (key, v), ..] => {
                let keys: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
                self.problem(
                    codes::CONFLICT,
                    &v.span(),
                    &what,
                    format!(
                        "give one target, not {}: `target`, `target-pattern`, or `target-attribute` with `target-value` ({key} is one too many)",
                        keys.join(" and ")
                    ),
                );
                None
            }
        };
        let index = match u32::try_from(index) {
            Ok(i) if FencingLevel::index_is_valid(i) => i,
            _ => {
                self.problem(
                    codes::BAD_VALUE,
                    &l.index.span(),
                    &what,
                    format!(
                        "index {index} is not a level: levels are numbered {} to {}",
                        FencingLevel::INDEX_MIN,
                        FencingLevel::INDEX_MAX
                    ),
                );
                0
            }
        };
        if l.devices.get_ref().is_empty() {
            self.problem(
                codes::EMPTY_LEVEL,
                &l.devices.span(),
                &what,
                "the level lists no devices: name its fence devices, e.g. devices = [\"fence-n1\"]",
            );
        }
        let target = target?;
        if self.problems.len() > before {
            return None;
        }
        let id = id.unwrap_or_else(|| default_level_id(&target, index, taken));
        let target_span = given
            .first()
            .map(|(_, v)| v.span())
            .unwrap_or(table.clone());
        let places = LevelPlaces {
            table,
            target: target_span,
            devices: l.devices.get_ref().iter().map(|d| d.span()).collect(),
        };
        let level = FencingLevel {
            id,
            target,
            index,
            devices: l
                .devices
                .get_ref()
                .iter()
                .map(|d| d.get_ref().clone())
                .collect(),
        };
        Some((level, places))
    }

    fn node(&mut self, n: &WireNode) -> (Node, Range<usize>) {
        let name = n.name.get_ref().clone();
        let what = obj("node", &name);
        let (mut attrs, spans) = self.attrs(&n.attributes);
        for (key, flag) in [("standby", n.standby), ("maintenance", n.maintenance)] {
            if let Some(b) = flag {
                if let Some(span) = spans.get(key) {
                    self.problem(
                        codes::CONFLICT,
                        span,
                        &what,
                        format!("{key} is given twice: keep `{key} = true|false` and remove it from attributes"),
                    );
                }
                attrs.insert(key.to_string(), b.to_string());
            }
        }
        let id = match &n.id {
            Some(v) => v.get_ref().to_string(),
            None => name.clone(),
        };
        let score = n.score.as_ref().map(|v| self.score(v, &what, "score"));
        (
            Node {
                id,
                name,
                attrs,
                score,
            },
            n.name.span(),
        )
    }

    fn primitive(&mut self, p: &WirePrimitive, places: &mut Vec<ResourcePlaces>) -> Primitive {
        let id = p.id.get_ref().clone();
        let what = obj("resource", &id);
        let agent = self.agent(&p.agent, &what);
        let (params, _) = self.attrs(&p.params);
        let (meta, meta_spans) = self.attrs(&p.meta);
        let mut ops = Vec::new();
        let mut op_spans = Vec::new();
        for o in &p.op {
            let (op, span) = self.op(&id, o);
            ops.push(op);
            op_spans.push(span);
        }
        places.push(ResourcePlaces {
            id: p.id.span(),
            meta: meta_spans,
            ops: op_spans,
        });
        Primitive {
            id,
            agent,
            params,
            meta,
            ops,
        }
    }

    fn op(&mut self, rsc: &str, o: &WireOp) -> (OpDef, Range<usize>) {
        let name = o.name.get_ref().clone();
        let what = format!("resource \"{rsc}\" op {name}");
        let interval_ms = o
            .interval
            .as_ref()
            .map(|v| self.duration(v, &what, "interval"))
            .unwrap_or(0);
        let timeout_ms = o
            .timeout
            .as_ref()
            .map(|v| self.duration(v, &what, "timeout"));
        let role = self.role(&o.role, &what, "role");
        let on_fail = o.on_fail.as_ref().and_then(|v| {
            self.one_of(
                v,
                &what,
                "on-fail",
                OnFail::parse,
                "ignore, block, stop, restart, standby, fence, demote",
            )
        });
        let (attrs, _) = self.attrs(&o.attributes);
        let id = match &o.id {
            Some(v) => v.get_ref().clone(),
            None => default_op_id(rsc, &name, interval_ms, role),
        };
        let op = OpDef {
            id,
            name,
            interval_ms,
            timeout_ms,
            role,
            on_fail,
            enabled: o.enabled.unwrap_or(true),
            attrs,
        };
        (op, o.name.span())
    }

    fn group(&mut self, g: &WireGroup, places: &mut Vec<ResourcePlaces>) -> Group {
        let (meta, meta_spans) = self.attrs(&g.meta);
        places.push(ResourcePlaces {
            id: g.id.span(),
            meta: meta_spans,
            ops: Vec::new(),
        });
        let members = g.member.iter().map(|m| self.primitive(m, places)).collect();
        Group {
            id: g.id.get_ref().clone(),
            meta,
            members,
        }
    }

    fn clone(&mut self, c: &WireClone, places: &mut Vec<ResourcePlaces>) -> Clone {
        let id = c.id.get_ref().clone();
        let (meta, meta_spans) = self.attrs(&c.meta);
        places.push(ResourcePlaces {
            id: c.id.span(),
            meta: meta_spans,
            ops: Vec::new(),
        });
        let child = match (&c.resource, &c.group) {
            (Some(p), None) => Resource::Primitive(self.primitive(p, places)),
            (None, Some(g)) => Resource::Group(self.group(g, places)),
            (Some(p), Some(_)) => {
                self.problem(
                    codes::CONFLICT,
                    &c.id.span(),
                    &obj("clone", &id),
                    "a clone has one child: give `resource` or `group`, not both",
                );
                Resource::Primitive(self.primitive(p, places))
            }
            (None, None) => {
                self.problem(
                    codes::CONFLICT,
                    &c.id.span(),
                    &obj("clone", &id),
                    "the clone has no child: add `resource = { id = ..., agent = ... }` or a `group`",
                );
                // A placeholder child keeps the flattened order aligned with the map.
                places.push(ResourcePlaces {
                    id: c.id.span(),
                    ..Default::default()
                });
                Resource::Primitive(Primitive {
                    id: format!("{id}-child"),
                    agent: AgentRef {
                        class: "ocf".into(),
                        provider: Some("pacemaker".into()),
                        kind: "Dummy".into(),
                    },
                    ..Default::default()
                })
            }
        };
        Clone {
            id,
            meta,
            promotable: c.promotable.unwrap_or(false),
            child: Box::new(child),
        }
    }

    fn sets(&mut self, cid: &str, what: &str, sets: &[WireSet]) -> Vec<ResourceSet> {
        sets.iter()
            .enumerate()
            .map(|(n, s)| ResourceSet {
                id: s
                    .id
                    .as_ref()
                    .map(|v| v.get_ref().clone())
                    .unwrap_or_else(|| default_set_id(cid, n)),
                resources: s.resources.iter().map(|r| r.get_ref().clone()).collect(),
                sequential: s.sequential.unwrap_or(true),
                require_all: s.require_all.unwrap_or(true),
                role: self.role(&s.role, what, "set role"),
                action: self.action(&s.action, what, "set action"),
                score: s.score.as_ref().map(|v| self.score(v, what, "set score")),
                kind: self.order_kind(&s.kind, what),
                ordering: s
                    .ordering
                    .as_ref()
                    .and_then(|v| {
                        self.one_of(v, what, "ordering", SetOrdering::parse, "group, listed")
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }

    fn location(&mut self, l: &WireLocation) -> Option<Constraint> {
        self.anchor = l.id.span();
        let id = l.id.get_ref().clone();
        let what = obj("location", &id);
        let span = l.id.span();
        let target = match (&l.resource, &l.set) {
            (Some(r), None) => LocationTarget::Resource(r.get_ref().clone()),
            (None, Some(sets)) => LocationTarget::Sets(self.sets(&id, &what, sets)),
            (r, _) => {
                let why = if r.is_some() {
                    "give `resource` or `set`, not both"
                } else {
                    "say which resource: `resource = \"...\"` or `set = [...]`"
                };
                self.problem(codes::CONFLICT, &span, &what, why);
                return None;
            }
        };
        let role = self.role(&l.role, &what, "role");
        let how = match (&l.node, &l.rule) {
            (Some(node), None) => LocationHow::Node {
                node: node.get_ref().clone(),
                score: l
                    .score
                    .as_ref()
                    .map(|v| self.score(v, &what, "score"))
                    .unwrap_or(Score::INFINITY),
            },
            (None, Some(rules)) => {
                if let Some(s) = &l.score {
                    self.problem(
                        codes::CONFLICT,
                        &s.span(),
                        &what,
                        "with rules, the score belongs to each rule: move `score` into the rule",
                    );
                }
                let rules = rules
                    .iter()
                    .enumerate()
                    .map(|(n, r)| self.rule(&what, &default_rule_id(&id, n), r))
                    .collect();
                LocationHow::Rules(rules)
            }
            (node, _) => {
                let why = if node.is_some() {
                    "give `node` (with `score`) or `rule`, not both"
                } else {
                    "say where: `node = \"...\"` with a `score`, or `rule`"
                };
                self.problem(codes::CONFLICT, &span, &what, why);
                return None;
            }
        };
        let discovery = match &l.resource_discovery {
            None => Discovery::Always,
            Some(v) => self
                .one_of(
                    v,
                    &what,
                    "resource-discovery",
                    Discovery::parse,
                    "always, never or exclusive",
                )
                .unwrap_or_default(),
        };
        Some(Constraint::Location(Location {
            id,
            target,
            role,
            how,
            discovery,
        }))
    }

    fn rule(&mut self, what: &str, default_id: &str, r: &WireRule) -> Rule {
        let id =
            r.id.as_ref()
                .map(|v| v.get_ref().clone())
                .unwrap_or_else(|| default_id.to_string());
        let score = r.score.as_ref().map(|v| self.score(v, what, "rule score"));
        let role = self.role(&r.role, what, "rule role");
        let (bool_op, exprs) = self.rule_body(
            what,
            &id,
            r.bool_op.as_ref(),
            r.expression.as_ref(),
            r.expr.as_deref(),
            r.id.as_ref().map(|v| v.span()),
        );
        Rule {
            id,
            score,
            score_attribute: r.score_attribute.clone(),
            bool_op,
            role,
            exprs,
        }
    }

    /// The connective and expressions of a rule, from `expression` or `expr`.
    fn rule_body(
        &mut self,
        what: &str,
        rule_id: &str,
        bool_op: Option<&Spanned<String>>,
        expression: Option<&Spanned<String>>,
        expr: Option<&[WireExpr]>,
        span: Option<Range<usize>>,
    ) -> (BoolOp, Vec<RuleExpr>) {
        let declared = bool_op.and_then(|b| {
            self.one_of(
                b,
                what,
                "bool-op",
                |s| match s {
                    "and" => Some(BoolOp::And),
                    "or" => Some(BoolOp::Or),
                    _ => None,
                },
                "and, or",
            )
        });
        match (expression, expr) {
            (Some(text), None) => match parse_expression(text.get_ref()) {
                Ok((op, terms)) => {
                    let op = if terms.len() > 1 {
                        if declared.is_some_and(|d| d != op) {
                            self.problem(
                                codes::CONFLICT,
                                &text.span(),
                                what,
                                "bool-op disagrees with the connective of `expression`",
                            );
                        }
                        op
                    } else {
                        declared.unwrap_or_default()
                    };
                    let exprs = terms
                        .into_iter()
                        .enumerate()
                        .map(|(n, t)| {
                            RuleExpr::Attr(AttrExpr {
                                id: default_expr_id(rule_id, n),
                                attribute: t.attribute,
                                op: t.op,
                                value: t.value,
                                value_type: t.value_type,
                                value_source: ValueSource::Literal,
                            })
                        })
                        .collect();
                    (op, exprs)
                }
                Err(why) => {
                    self.problem(
                        codes::BAD_VALUE,
                        &text.span(),
                        what,
                        format!("expression \"{}\": {why}", text.get_ref()),
                    );
                    (declared.unwrap_or_default(), Vec::new())
                }
            },
            (None, Some(list)) => {
                let exprs = list
                    .iter()
                    .enumerate()
                    .map(|(n, e)| self.expr(what, &default_expr_id(rule_id, n), e))
                    .collect();
                (declared.unwrap_or_default(), exprs)
            }
            (Some(text), Some(_)) => {
                self.problem(
                    codes::CONFLICT,
                    &text.span(),
                    what,
                    "give `expression` or `expr`, not both",
                );
                (declared.unwrap_or_default(), Vec::new())
            }
            (None, None) => {
                let at = span
                    .or_else(|| bool_op.map(|b| b.span()))
                    .unwrap_or_else(|| self.anchor.clone());
                self.problem(
                    codes::CONFLICT,
                    &at,
                    what,
                    format!(
                        "rule \"{rule_id}\" has no condition: add `expression = \"...\"` or `expr`"
                    ),
                );
                (declared.unwrap_or_default(), Vec::new())
            }
        }
    }

    fn expr(&mut self, what: &str, default_id: &str, e: &WireExpr) -> RuleExpr {
        let id =
            e.id.as_ref()
                .map(|v| v.get_ref().clone())
                .unwrap_or_else(|| default_id.to_string());
        if let Some(date) = &e.date {
            return RuleExpr::Date(self.date_expr(what, id, date, e));
        }
        let nested = e.bool_op.is_some() || e.expression.is_some() || e.expr.is_some();
        if let (Some(attribute), false) = (&e.attribute, nested) {
            let op = match &e.op {
                Some(o) => self
                    .one_of(
                        o,
                        what,
                        "op",
                        ExprOp::parse,
                        "lt, gt, lte, gte, eq, ne, defined, not_defined",
                    )
                    .unwrap_or(ExprOp::Eq),
                None => {
                    self.problem(
                        codes::SCHEMA,
                        &attribute.span(),
                        what,
                        format!("the expression on \"{}\" has no `op`", attribute.get_ref()),
                    );
                    ExprOp::Eq
                }
            };
            let value_type = e.value_type.as_ref().and_then(|t| {
                self.one_of(
                    t,
                    what,
                    "type",
                    parse_value_type,
                    "string, integer, number, version",
                )
            });
            let value_source = e
                .value_source
                .as_ref()
                .and_then(|s| {
                    self.one_of(
                        s,
                        what,
                        "value-source",
                        |v| match v {
                            "literal" => Some(ValueSource::Literal),
                            "param" => Some(ValueSource::Param),
                            "meta" => Some(ValueSource::Meta),
                            _ => None,
                        },
                        "literal, param, meta",
                    )
                })
                .unwrap_or_default();
            RuleExpr::Attr(AttrExpr {
                id,
                attribute: attribute.get_ref().clone(),
                op,
                value: e.value.as_ref().map(|v| v.get_ref().to_string()),
                value_type,
                value_source,
            })
        } else {
            let span = e
                .attribute
                .as_ref()
                .map(|a| a.span())
                .or_else(|| e.id.as_ref().map(|i| i.span()));
            let own = span
                .clone()
                .or_else(|| e.op.as_ref().map(|b| b.span()))
                .or_else(|| e.value.as_ref().map(|b| b.span()))
                .or_else(|| e.bool_op.as_ref().map(|b| b.span()))
                .or_else(|| e.expression.as_ref().map(|b| b.span()))
                .unwrap_or_else(|| self.anchor.clone());
            if !nested {
                self.problem(
                    codes::SCHEMA,
                    &own,
                    what,
                    "an expression needs `attribute` (a comparison) or `expression`/`expr` (a nested rule)",
                );
                return RuleExpr::Rule(Rule {
                    id,
                    ..Default::default()
                });
            }
            if e.attribute.is_some() || e.op.is_some() || e.value.is_some() {
                self.problem(
                    codes::CONFLICT,
                    &own,
                    what,
                    "an expression is either a comparison (attribute, op, value) or a nested rule (bool-op with expression or expr), not both",
                );
            }
            let (bool_op, exprs) = self.rule_body(
                what,
                &id,
                e.bool_op.as_ref(),
                e.expression.as_ref(),
                e.expr.as_deref(),
                span,
            );
            RuleExpr::Rule(Rule {
                id,
                score: None,
                score_attribute: None,
                bool_op,
                role: None,
                exprs,
            })
        }
    }

    /// `{ date = "lt"|"gt"|"in_range", start = "...", end = "..." }`.
    fn date_expr(
        &mut self,
        what: &str,
        id: String,
        date: &Spanned<String>,
        e: &WireExpr,
    ) -> DateExpr {
        let op = self
            .one_of(
                date,
                what,
                "date",
                |v| match v {
                    "lt" => Some(DateOp::Lt),
                    "gt" => Some(DateOp::Gt),
                    "in_range" => Some(DateOp::InRange),
                    _ => None,
                },
                "lt, gt, in_range",
            )
            .unwrap_or(DateOp::InRange);
        if e.attribute.is_some() || e.op.is_some() || e.value.is_some() || e.expr.is_some() {
            self.problem(
                codes::CONFLICT,
                &date.span(),
                what,
                "a date expression has `date`, `start` and `end` only",
            );
        }
        let mut time = |t: &Option<Spanned<String>>, key: &str| -> Option<i64> {
            let t = t.as_ref()?;
            let at = crate::datetime::parse_datetime(t.get_ref());
            if at.is_none() {
                self.problem(
                    codes::BAD_VALUE,
                    &t.span(),
                    what,
                    format!(
                        "{key} = \"{}\" is not an ISO 8601 date (e.g. 2026-12-31T23:00:00Z)",
                        t.get_ref()
                    ),
                );
            }
            at
        };
        let (start, end) = (time(&e.start, "start"), time(&e.end, "end"));
        let needed = match op {
            DateOp::Lt => end.is_some(),
            DateOp::Gt => start.is_some(),
            DateOp::InRange => start.is_some() || end.is_some(),
        };
        if !needed {
            self.problem(
                codes::SCHEMA,
                &date.span(),
                what,
                "a date expression needs `end` (lt), `start` (gt), or either (in_range)",
            );
        }
        DateExpr { id, op, start, end }
    }

    fn colocation(&mut self, c: &WireColocation) -> Option<Constraint> {
        let id = c.id.get_ref().clone();
        let what = obj("colocation", &id);
        let score = c
            .score
            .as_ref()
            .map(|v| self.score(v, &what, "score"))
            .unwrap_or(Score::INFINITY);
        let rsc_role = self.role(&c.role, &what, "role");
        let with_rsc_role = self.role(&c.with_role, &what, "with-role");
        match (&c.resource, &c.with, &c.set) {
            (Some(r), Some(w), None) => Some(Constraint::Colocation(Colocation::Pair {
                id,
                score,
                rsc: r.get_ref().clone(),
                rsc_role,
                with_rsc: w.get_ref().clone(),
                with_rsc_role,
            })),
            (None, None, Some(sets)) => {
                if c.role.is_some() || c.with_role.is_some() {
                    self.problem(
                        codes::CONFLICT,
                        &c.id.span(),
                        &what,
                        "with sets, give roles per set (`role` in each set)",
                    );
                }
                let sets = self.sets(&id, &what, sets);
                Some(Constraint::Colocation(Colocation::Sets { id, score, sets }))
            }
            (_, _, s) => {
                let why = if s.is_some() {
                    "give `resource` and `with`, or `set`, not both"
                } else {
                    "a colocation needs `resource` and `with` (or `set`)"
                };
                self.problem(codes::CONFLICT, &c.id.span(), &what, why);
                None
            }
        }
    }

    fn order(&mut self, o: &WireOrder) -> Option<Constraint> {
        let id = o.id.get_ref().clone();
        let what = obj("order", &id);
        let kind = self.order_kind(&o.kind, &what).unwrap_or_default();
        let first_action = self.action(&o.first_action, &what, "first-action");
        let then_action = self.action(&o.then_action, &what, "then-action");
        match (&o.first, &o.then, &o.set) {
            (Some(f), Some(t), None) => Some(Constraint::Order(Order::Pair {
                id,
                kind,
                symmetrical: o.symmetrical,
                first: f.get_ref().clone(),
                first_action,
                then: t.get_ref().clone(),
                then_action,
                require_all: o.require_all.unwrap_or(true),
            })),
            (None, None, Some(sets)) => {
                if o.first_action.is_some() || o.then_action.is_some() || o.require_all.is_some() {
                    self.problem(
                        codes::CONFLICT,
                        &o.id.span(),
                        &what,
                        "with sets, give actions and require-all per set (`action`, `require-all` in each set)",
                    );
                }
                let sets = self.sets(&id, &what, sets);
                Some(Constraint::Order(Order::Sets {
                    id,
                    kind,
                    symmetrical: o.symmetrical,
                    sets,
                }))
            }
            (_, _, s) => {
                let why = if s.is_some() {
                    "give `first` and `then`, or `set`, not both"
                } else {
                    "an order needs `first` and `then` (or `set`)"
                };
                self.problem(codes::CONFLICT, &o.id.span(), &what, why);
                None
            }
        }
    }
}

/// Parse `class:provider:type` (ocf) or `class:type` (every other class).
pub fn parse_agent(s: &str) -> Result<AgentRef, String> {
    let Some((class, rest)) = s.split_once(':') else {
        return Err(format!(
            "agent \"{s}\" is not class:provider:type or class:type (e.g. ocf:heartbeat:IPaddr2, systemd:haproxy)"
        ));
    };
    if class.is_empty() || rest.is_empty() {
        return Err(format!("agent \"{s}\" has an empty class or type"));
    }
    if class == "ocf" {
        match rest.split_once(':') {
            Some((p, t)) if !p.is_empty() && !t.is_empty() && !t.contains(':') => Ok(AgentRef {
                class: class.into(),
                provider: Some(p.into()),
                kind: t.into(),
            }),
            _ => Err(format!(
                "OCF agent \"{s}\" must be ocf:PROVIDER:TYPE, e.g. ocf:heartbeat:IPaddr2"
            )),
        }
    } else {
        Ok(AgentRef {
            class: class.into(),
            provider: None,
            kind: rest.into(),
        })
    }
}

/// The id an operation gets when none is written: pcs's convention, plus the role
/// when there is one (`galera-monitor-interval-10s-role-Promoted`).
pub(crate) fn default_op_id(rsc: &str, name: &str, interval_ms: u64, role: Option<Role>) -> String {
    let interval = format_duration_ms(interval_ms);
    match role {
        Some(r) => format!("{rsc}-{name}-interval-{interval}-role-{r}"),
        None => format!("{rsc}-{name}-interval-{interval}"),
    }
}

/// The id a fencing level gets when none is written: pcs's `fl-TARGET-INDEX`
/// ([`FencingLevel::default_id`]), with `-1`, `-2`, ... appended as pcs does when a
/// level before it already has that id.
pub(crate) fn default_level_id(
    target: &FencingTarget,
    index: u32,
    taken: &HashSet<String>,
) -> String {
    let base = FencingLevel::default_id(target, index);
    if !taken.contains(&base) {
        return base;
    }
    (1..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken.contains(id))
        .unwrap_or(base)
}

pub(crate) fn default_set_id(constraint: &str, n: usize) -> String {
    format!("{constraint}-set-{}", n + 1)
}

pub(crate) fn default_rule_id(constraint: &str, n: usize) -> String {
    format!("{constraint}-rule-{}", n + 1)
}

pub(crate) fn default_expr_id(rule: &str, n: usize) -> String {
    format!("{rule}-expr-{}", n + 1)
}
