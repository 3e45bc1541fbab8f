//! Import of Pacemaker CIB XML (`cibadmin --query` output) into the model.
//!
//! [`parse_cib`] reads the `configuration` and `status` sections of a `<cib>` document.
//! It follows Pacemaker 2.1's reading of the CIB where that is a matter of interpretation
//! (how several attribute sets merge, `id-ref`, the legacy `score` of an ordering, ...),
//! and leaves every scheduling decision to the scheduler: values are kept as configured.
//!
//! Anything the model cannot express yet (bundles, templates, tickets, ACLs, conditional
//! attribute sets, `date_spec` and `duration` in date rules, remote nodes, ...) is
//! reported as a [`Notice`] naming its place; it is never dropped silently. Errors name the place as
//! `SOURCE:LINE:COL: <element id="...">`.
//!
//! Problem codes used here:
//! - `HALO-E001` the text is not well-formed XML;
//! - `HALO-E020` a required attribute is missing;
//! - `HALO-E021` an invalid score;
//! - `HALO-E022` an invalid value (duration, role, boolean, number, keyword);
//! - `HALO-E023` an `id-ref` that refers to nothing;
//! - `HALO-E024` a structural problem (wrong root element, duplicate or empty resource).

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use roxmltree::{Document, Node as X};

use crate::config::{
    Action, AgentRef, Attrs, BoolOp, Clone, Colocation, Config, Constraint, ExprOp, FencingLevel,
    FencingTarget, Group, Location, LocationHow, LocationTarget, Node, OnFail, OpDef, Order,
    OrderKind, Primitive, Resource, ResourceSet, Role, Rule, RuleExpr, SetOrdering, ValueSource,
    ValueType,
};
use crate::config::{AttrExpr, DateExpr, DateOp};
use crate::error::{ModelError, Notice, Problem};
use crate::score::Score;
use crate::status::{NodeState, OpRecord, ResourceHistory, Status};

const E_MISSING: &str = "HALO-E020";
const E_SCORE: &str = "HALO-E021";
const E_VALUE: &str = "HALO-E022";
const E_IDREF: &str = "HALO-E023";
const E_STRUCTURE: &str = "HALO-E024";

/// The id of the cluster property set Pacemaker always reads first.
const BOOTSTRAP_SET: &str = "cib-bootstrap-options";

/// The result of importing a CIB.
#[derive(Debug, Clone, PartialEq)]
pub struct CibImport {
    pub config: Config,
    pub status: Status,
    /// What was not imported, or imported with a caveat, and why.
    pub notices: Vec<Notice>,
}

/// Import a CIB document. `source_name` (usually the file name) is cited in errors and
/// notices. Every problem found is reported, not only the first.
pub fn parse_cib(text: &str, source_name: &str) -> Result<CibImport, ModelError> {
    let doc = Document::parse(text).map_err(|e| {
        let pos = e.pos();
        ModelError::Syntax {
            format: "XML",
            place: format!("{source_name}:{}:{}", pos.row, pos.col),
            reason: e.to_string(),
        }
    })?;
    let mut imp = Importer::new(&doc, source_name);
    let (config, status) = imp.cib(doc.root_element());
    if imp.problems.is_empty() {
        Ok(CibImport {
            config,
            status,
            notices: imp.notices,
        })
    } else {
        Err(ModelError::Invalid(imp.problems))
    }
}

/// Parse a Pacemaker duration into milliseconds (see [`crate::duration`]).
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    crate::duration::parse_duration_ms(s).ok()
}

// Pacemaker's boolean spellings (`crm_str_to_boolean`), shared with validation.
use crate::validate::parse_bool;

/// A role, case-insensitively, accepting the legacy `Master`/`Slave`.
fn parse_role(s: &str) -> Option<Role> {
    [
        ("stopped", Role::Stopped),
        ("started", Role::Started),
        ("unpromoted", Role::Unpromoted),
        ("slave", Role::Unpromoted),
        ("promoted", Role::Promoted),
        ("master", Role::Promoted),
    ]
    .into_iter()
    .find(|(name, _)| s.trim().eq_ignore_ascii_case(name))
    .map(|(_, role)| role)
}

fn parse_value_type(s: &str) -> Option<ValueType> {
    match s.to_ascii_lowercase().as_str() {
        "string" => Some(ValueType::String),
        "integer" => Some(ValueType::Integer),
        "number" => Some(ValueType::Number),
        "version" => Some(ValueType::Version),
        _ => None,
    }
}

fn parse_value_source(s: &str) -> Option<ValueSource> {
    match s.to_ascii_lowercase().as_str() {
        "literal" => Some(ValueSource::Literal),
        "param" => Some(ValueSource::Param),
        "meta" => Some(ValueSource::Meta),
        _ => None,
    }
}

/// The target rc of a transition key `ACTION:TRANSITION:TARGET_RC:UUID`.
fn target_rc_of_key(key: &str) -> Option<i32> {
    key.split(':').nth(2)?.trim().parse().ok()
}

/// The target rc of a transition magic `OPSTATUS:RC;ACTION:TRANSITION:TARGET_RC:UUID`.
fn target_rc_of_magic(magic: &str) -> Option<i32> {
    target_rc_of_key(magic.split_once(';')?.1)
}

/// Element children of a node.
fn elements<'a, 'i>(n: X<'a, 'i>) -> impl Iterator<Item = X<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

fn tag<'i>(n: X<'_, 'i>) -> &'i str {
    n.tag_name().name()
}

struct Importer<'a, 'i> {
    doc: &'a Document<'i>,
    source: &'a str,
    /// Elements by (tag, id), for `id-ref`; the first in document order wins.
    by_id: HashMap<(&'i str, &'a str), X<'a, 'i>>,
    problems: Vec<Problem>,
    notices: Vec<Notice>,
}

impl<'a, 'i> Importer<'a, 'i> {
    fn new(doc: &'a Document<'i>, source: &'a str) -> Self {
        let mut by_id = HashMap::new();
        for n in doc.descendants().filter(|n| n.is_element()) {
            if let Some(id) = n.attribute("id") {
                by_id.entry((tag(n), id)).or_insert(n);
            }
        }
        Importer {
            doc,
            source,
            by_id,
            problems: Vec::new(),
            notices: Vec::new(),
        }
    }

    // ----- places, problems, notices -------------------------------------------------

    fn place(&self, n: X) -> String {
        let pos = self.doc.text_pos_at(n.range().start);
        let ident = match (n.attribute("id"), n.attribute("id-ref")) {
            (Some(id), _) => format!(" id=\"{id}\""),
            (None, Some(r)) => format!(" id-ref=\"{r}\""),
            (None, None) => String::new(),
        };
        format!(
            "{}:{}:{}: <{}{}>",
            self.source,
            pos.row,
            pos.col,
            tag(n),
            ident
        )
    }

    fn problem(&mut self, code: &'static str, n: X, reason: impl Into<String>) {
        let place = self.place(n);
        self.problems.push(Problem {
            code,
            place,
            reason: reason.into(),
        });
    }

    fn notice(&mut self, n: X, what: impl Into<String>) {
        let place = self.place(n);
        self.notices.push(Notice {
            place,
            what: what.into(),
        });
    }

    fn unknown_element(&mut self, n: X, parent: &str) {
        self.notice(
            n,
            format!(
                "unknown element: <{}> inside <{parent}> is not imported",
                tag(n)
            ),
        );
    }

    /// Report the attributes of `n` that are not in `known`: they have no effect.
    fn unknown_attributes(&mut self, n: X<'a, 'i>, known: &[&str]) {
        for a in n.attributes() {
            if !known.contains(&a.name()) {
                self.notice(
                    n,
                    format!(
                        "unknown attribute: {}=\"{}\" is ignored",
                        a.name(),
                        a.value()
                    ),
                );
            }
        }
    }

    /// A required attribute; a problem is recorded when it is missing.
    fn req(&mut self, n: X<'a, 'i>, attr: &str) -> Option<&'a str> {
        let v = n.attribute(attr);
        if v.is_none() {
            self.problem(
                E_MISSING,
                n,
                format!("the required attribute '{attr}' is missing"),
            );
        }
        v
    }

    /// An optional attribute parsed by `parse`. `None` means it was invalid (a problem is
    /// recorded); `Some(None)` that it is absent.
    fn opt<T>(
        &mut self,
        n: X<'a, 'i>,
        attr: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<Option<T>> {
        match n.attribute(attr) {
            None => Some(None),
            Some(v) => match parse(v) {
                Some(t) => Some(Some(t)),
                None => {
                    self.problem(E_VALUE, n, format!("{attr}=\"{v}\" is not a valid {what}"));
                    None
                }
            },
        }
    }

    fn opt_score(&mut self, n: X<'a, 'i>, attr: &str) -> Option<Option<Score>> {
        match n.attribute(attr) {
            None => Some(None),
            Some(v) => match Score::parse(v) {
                Ok(s) => Some(Some(s)),
                Err(e) => {
                    self.problem(E_SCORE, n, format!("{attr}: {e}"));
                    None
                }
            },
        }
    }

    fn opt_role(&mut self, n: X<'a, 'i>, attr: &str) -> Option<Option<Role>> {
        self.opt(
            n,
            attr,
            "role (Stopped, Started, Unpromoted, Promoted)",
            parse_role,
        )
    }

    fn opt_bool(&mut self, n: X<'a, 'i>, attr: &str) -> Option<Option<bool>> {
        self.opt(n, attr, "boolean", parse_bool)
    }

    fn opt_int<T: std::str::FromStr>(&mut self, n: X<'a, 'i>, attr: &str) -> Option<Option<T>> {
        self.opt(n, attr, "integer", |v| v.trim().parse().ok())
    }

    /// The element an `id-ref` refers to (an element of the same name), or `n` itself.
    fn resolve(&mut self, n: X<'a, 'i>) -> Option<X<'a, 'i>> {
        let Some(r) = n.attribute("id-ref") else {
            return Some(n);
        };
        match self.by_id.get(&(tag(n), r)) {
            Some(target) => Some(*target),
            None => {
                self.problem(
                    E_IDREF,
                    n,
                    format!("id-ref \"{r}\" does not name any <{}>", tag(n)),
                );
                None
            }
        }
    }

    // ----- document ------------------------------------------------------------------

    fn cib(&mut self, root: X<'a, 'i>) -> (Config, Status) {
        let mut config = Config::default();
        let mut status = Status::default();
        if tag(root) != "cib" {
            self.problem(
                E_STRUCTURE,
                root,
                "the root element must be <cib> (the output of cibadmin --query)",
            );
            return (config, status);
        }
        status.have_quorum = root
            .attribute("have-quorum")
            .is_some_and(|v| parse_bool(v) == Some(true));
        status.dc = root.attribute("dc-uuid").map(str::to_string);
        status.now = self.opt_int(root, "execution-date").flatten();
        status.quorum_panic = root
            .attribute("no-quorum-panic")
            .map(|v| matches!(v, "1" | "true" | "yes" | "on"))
            .unwrap_or(false);
        // A missing or older feature set means the old fail-count layout.
        status.legacy_failcounts = root
            .attribute("crm_feature_set")
            .map(|v| version_lt(v, "3.0.13"))
            .unwrap_or(true);

        let mut configuration = None;
        let mut status_xml = None;
        for child in elements(root) {
            match tag(child) {
                "configuration" if configuration.is_none() => configuration = Some(child),
                "status" if status_xml.is_none() => status_xml = Some(child),
                _ => self.unknown_element(child, "cib"),
            }
        }
        match configuration {
            Some(c) => config = self.configuration(c),
            None => self.problem(E_STRUCTURE, root, "the <configuration> section is missing"),
        }
        if let Some(s) = status_xml {
            status.nodes = self.status(s, &config);
        }
        (config, status)
    }

    fn configuration(&mut self, conf: X<'a, 'i>) -> Config {
        let mut config = Config::default();
        let mut constraints_xml = Vec::new();
        for child in elements(conf) {
            match tag(child) {
                "crm_config" => {
                    let props =
                        self.nvsets(child, "cluster_property_set", Some(BOOTSTRAP_SET), false);
                    for (k, v) in props {
                        config.properties.entry(k).or_insert(v);
                    }
                    for c in elements(child).filter(|c| tag(*c) != "cluster_property_set") {
                        self.unknown_element(c, "crm_config");
                    }
                }
                "nodes" => self.nodes(child, &mut config.nodes),
                "resources" => self.resources(child, &mut config.resources),
                // Constraints refer to resources: read them once all resources are known.
                "constraints" => constraints_xml.push(child),
                "rsc_defaults" => config.rsc_defaults.extend(self.defaults(child)),
                "op_defaults" => config.op_defaults.extend(self.defaults(child)),
                "fencing-topology" => self.fencing_topology(child, &mut config.fencing_levels),
                "acls" => self.notice(child, "not supported: ACLs are not imported"),
                "alerts" => self.notice(child, "not supported: alerts are not imported"),
                "tags" => self.notice(
                    child,
                    "not supported: tags are not imported; constraints naming a tag are ignored",
                ),
                _ => self.unknown_element(child, "configuration"),
            }
        }
        self.check_duplicate_ids(conf, &config);
        let known: HashSet<String> = config
            .all_resource_ids()
            .into_iter()
            .map(str::to_string)
            .collect();
        for section in constraints_xml {
            self.constraints(section, &known, &config.nodes, &mut config.constraints);
        }
        config
    }

    fn check_duplicate_ids(&mut self, conf: X<'a, 'i>, config: &Config) {
        let mut seen = HashSet::new();
        for id in config.all_resource_ids() {
            if !seen.insert(id) {
                // Point at the second element that carries this id.
                let dup = conf
                    .descendants()
                    .filter(|n| {
                        matches!(tag(*n), "primitive" | "group" | "clone" | "master")
                            && n.attribute("id") == Some(id)
                    })
                    .nth(1);
                if let Some(n) = dup {
                    self.problem(
                        E_STRUCTURE,
                        n,
                        format!("another resource already has the id \"{id}\""),
                    );
                }
            }
        }
    }

    // ----- attribute sets ------------------------------------------------------------

    /// Merge the `set_tag` children of `owner` as Pacemaker does: sets are taken in
    /// decreasing `score` (the set `first` always first; equal scores in reverse document
    /// order), and a name keeps its first value unless `overwrite`. The value `#default`
    /// removes the name again.
    fn nvsets(
        &mut self,
        owner: X<'a, 'i>,
        set_tag: &str,
        first: Option<&str>,
        overwrite: bool,
    ) -> Attrs {
        let mut sets = Vec::new();
        for child in elements(owner).filter(|c| tag(*c) == set_tag) {
            let Some(set) = self.resolve(child) else {
                continue;
            };
            if elements(set).any(|c| tag(c) == "rule") {
                let count = elements(set).filter(|c| tag(*c) == "nvpair").count();
                self.notice(
                    set,
                    format!(
                        "not supported: conditional <{set_tag}> (with a rule); its {count} attribute(s) are not imported"
                    ),
                );
                continue;
            }
            let Some(score) = self.opt_score(set, "score") else {
                continue;
            };
            let is_first = first.is_some_and(|f| {
                set.attribute("id")
                    .is_some_and(|id| id.eq_ignore_ascii_case(f))
            });
            sets.push((is_first, score.unwrap_or_default(), set));
        }
        sets.reverse();
        sets.sort_by_key(|(is_first, score, _)| (Reverse(*is_first), Reverse(*score)));
        let mut out = Attrs::new();
        for (_, _, set) in sets {
            self.nvpairs(set, &mut out, overwrite);
        }
        out
    }

    fn nvpairs(&mut self, set: X<'a, 'i>, out: &mut Attrs, overwrite: bool) {
        for pair in elements(set) {
            if tag(pair) != "nvpair" {
                self.unknown_element(pair, tag(set));
                continue;
            }
            let referenced = match pair.attribute("id-ref") {
                None => None,
                Some(_) => match self.resolve(pair) {
                    Some(r) => Some(r),
                    None => continue,
                },
            };
            let name = pair
                .attribute("name")
                .or_else(|| referenced.and_then(|r| r.attribute("name")));
            let value = pair
                .attribute("value")
                .or_else(|| referenced.and_then(|r| r.attribute("value")));
            // Pacemaker skips a pair without a name or a value.
            let (Some(name), Some(value)) = (name, value) else {
                continue;
            };
            if value.eq_ignore_ascii_case("#default") {
                out.remove(name);
            } else if overwrite || !out.contains_key(name) {
                out.insert(name.to_string(), value.to_string());
            }
        }
    }

    /// `rsc_defaults` / `op_defaults`: their meta attributes.
    fn defaults(&mut self, section: X<'a, 'i>) -> Attrs {
        let attrs = self.nvsets(section, "meta_attributes", None, false);
        for child in elements(section) {
            match tag(child) {
                "meta_attributes" => {}
                "instance_attributes" => self.notice(
                    child,
                    format!(
                        "not supported: instance attributes in <{}> are not imported",
                        tag(section)
                    ),
                ),
                _ => self.unknown_element(child, tag(section)),
            }
        }
        attrs
    }

    // ----- fencing topology ----------------------------------------------------------

    /// `<fencing-topology>`: its levels, read as Pacemaker 2.1's fencer reads them
    /// (`fenced_register_level`). A level the fencer would ignore (no usable target, an
    /// index outside 1..9) is left out with a notice.
    fn fencing_topology(&mut self, section: X<'a, 'i>, out: &mut Vec<FencingLevel>) {
        for n in elements(section) {
            if tag(n) != "fencing-level" {
                self.unknown_element(n, "fencing-topology");
                continue;
            }
            out.extend(self.fencing_level(n));
        }
    }

    fn fencing_level(&mut self, n: X<'a, 'i>) -> Option<FencingLevel> {
        let id = self.req(n, "id");
        let index = self.req(n, "index");
        let devices = self.req(n, "devices");
        self.unknown_attributes(
            n,
            &[
                "id",
                "target",
                "target-pattern",
                "target-attribute",
                "target-value",
                "index",
                "devices",
            ],
        );
        let index = match index {
            Some(v) => match v.trim().parse::<i64>() {
                Ok(i) => Some(i),
                Err(_) => {
                    self.problem(E_VALUE, n, format!("index=\"{v}\" is not a valid integer"));
                    None
                }
            },
            None => None,
        };
        let (id, index, devices) = (id?, index?, devices?);
        // The fencer's precedence: target, then target-pattern, then target-attribute
        // with target-value; the others are ignored.
        let pattern = n.attribute("target-pattern");
        let attribute = n.attribute("target-attribute");
        let value = n.attribute("target-value");
        let (target, used) = match (n.attribute("target"), pattern, attribute, value) {
            (Some(t), ..) => (FencingTarget::Node(t.to_string()), "target"),
            (None, Some(p), ..) => (FencingTarget::Pattern(p.to_string()), "target-pattern"),
            (None, None, Some(a), Some(v)) => (
                FencingTarget::Attribute {
                    name: a.to_string(),
                    value: v.to_string(),
                },
                "target-attribute",
            ),
            _ => {
                self.notice(
                    n,
                    "ignored: no target (target, target-pattern, or target-attribute with target-value), as Pacemaker's fencer ignores the level",
                );
                return None;
            }
        };
        let ignored: Vec<&str> = ["target-pattern", "target-attribute", "target-value"]
            .into_iter()
            .filter(|a| n.attribute(*a).is_some())
            .filter(|a| match used {
                "target" => true,
                "target-pattern" => *a != "target-pattern",
                _ => false,
            })
            .collect();
        if !ignored.is_empty() {
            self.notice(
                n,
                format!(
                    "ignored: {} beside {used}, as Pacemaker's fencer uses {used} only",
                    ignored.join(", ")
                ),
            );
        }
        let index = match u32::try_from(index) {
            Ok(i) if FencingLevel::index_is_valid(i) => i,
            _ => {
                self.notice(
                    n,
                    format!(
                        "ignored: index {index} is not a level (1 to 9), as Pacemaker's fencer ignores the level"
                    ),
                );
                return None;
            }
        };
        Some(FencingLevel {
            id: id.to_string(),
            target,
            index,
            // Split as the fencer does (`parse_device_list`): every piece counts.
            devices: devices.split(',').map(str::to_string).collect(),
        })
    }

    // ----- nodes ---------------------------------------------------------------------

    fn nodes(&mut self, section: X<'a, 'i>, out: &mut Vec<Node>) {
        for n in elements(section) {
            if tag(n) != "node" {
                self.unknown_element(n, "nodes");
                continue;
            }
            let Some(id) = self.req(n, "id") else {
                continue;
            };
            self.unknown_attributes(n, &["id", "uname", "type", "score", "description"]);
            let name = n.attribute("uname").unwrap_or(id);
            match n.attribute("type").map(str::to_ascii_lowercase).as_deref() {
                None | Some("member") | Some("normal") => {}
                Some(kind @ ("remote" | "ping")) => {
                    self.notice(
                        n,
                        format!("not supported: {kind} node \"{name}\" is not imported"),
                    );
                    continue;
                }
                Some(other) => self.notice(
                    n,
                    format!("unknown value: node type \"{other}\" is read as a cluster member"),
                ),
            }
            let Some(score) = self.opt_score(n, "score") else {
                continue;
            };
            let attrs = self.nvsets(n, "instance_attributes", None, false);
            for child in elements(n) {
                match tag(child) {
                    "instance_attributes" => {}
                    "utilization" => {
                        self.notice(child, "not supported: node utilization is not imported")
                    }
                    _ => self.unknown_element(child, "node"),
                }
            }
            out.push(Node {
                id: id.to_string(),
                name: name.to_string(),
                attrs,
                score,
            });
        }
    }

    // ----- resources -----------------------------------------------------------------

    fn resources(&mut self, section: X<'a, 'i>, out: &mut Vec<Resource>) {
        for n in elements(section) {
            let r = match tag(n) {
                "primitive" => self.primitive(n, &Attrs::new()).map(Resource::Primitive),
                "group" => self.group(n, &Attrs::new()).map(Resource::Group),
                "clone" => self.clone_resource(n, false).map(Resource::Clone),
                "master" => self.clone_resource(n, true).map(Resource::Clone),
                "bundle" | "template" => {
                    self.notice(n, format!("not supported: {} is not imported", tag(n)));
                    None
                }
                _ => {
                    self.unknown_element(n, "resources");
                    None
                }
            };
            out.extend(r);
        }
    }

    /// Instance attributes of a resource, with those of its parents (`inherited`) filled
    /// in where the resource does not set them itself, as Pacemaker does.
    fn params(&mut self, n: X<'a, 'i>, inherited: &Attrs) -> Attrs {
        let mut params = self.nvsets(n, "instance_attributes", None, false);
        for (k, v) in inherited {
            params.entry(k.clone()).or_insert_with(|| v.clone());
        }
        params
    }

    fn primitive(&mut self, n: X<'a, 'i>, inherited: &Attrs) -> Option<Primitive> {
        let id = self.req(n, "id")?;
        self.unknown_attributes(
            n,
            &["id", "class", "provider", "type", "template", "description"],
        );
        if n.attribute("template").is_some() {
            self.notice(
                n,
                "not supported: primitives based on a resource template are not imported",
            );
            return None;
        }
        let class = self.req(n, "class");
        let kind = self.req(n, "type");
        let provider = n.attribute("provider");
        if class == Some("ocf") && provider.is_none() {
            self.problem(
                E_MISSING,
                n,
                "an ocf primitive needs the attribute 'provider'",
            );
        }
        let (class, kind) = (class?, kind?);
        if class == "ocf" && provider == Some("pacemaker") && kind == "remote" {
            self.notice(
                n,
                "not supported: Pacemaker Remote connection; its remote node is not created",
            );
        }
        let params = self.params(n, inherited);
        let meta = self.nvsets(n, "meta_attributes", None, false);
        if meta.contains_key("remote-node") {
            self.notice(
                n,
                "not supported: guest node (meta remote-node); the guest node is not created",
            );
        }
        let mut ops = Vec::new();
        for child in elements(n) {
            match tag(child) {
                "instance_attributes" | "meta_attributes" => {}
                "operations" => {
                    if let Some(set) = self.resolve(child) {
                        self.operations(set, &mut ops);
                    }
                }
                "utilization" => {
                    self.notice(child, "not supported: resource utilization is not imported")
                }
                _ => self.unknown_element(child, "primitive"),
            }
        }
        Some(Primitive {
            id: id.to_string(),
            agent: AgentRef {
                class: class.to_string(),
                provider: provider.map(str::to_string),
                kind: kind.to_string(),
            },
            params,
            meta,
            ops,
        })
    }

    fn operations(&mut self, set: X<'a, 'i>, out: &mut Vec<OpDef>) {
        for op in elements(set) {
            if tag(op) != "op" {
                self.unknown_element(op, "operations");
                continue;
            }
            if let Some(op) = self.resolve(op) {
                out.extend(self.op(op));
            }
        }
    }

    fn op(&mut self, n: X<'a, 'i>) -> Option<OpDef> {
        let id = self.req(n, "id");
        let name = self.req(n, "name");
        let interval = self.req(n, "interval");
        let interval_ms = match interval {
            Some(v) => {
                let ms = parse_duration_ms(v);
                if ms.is_none() {
                    self.problem(
                        E_VALUE,
                        n,
                        format!("interval=\"{v}\" is not a valid duration"),
                    );
                }
                ms
            }
            None => None,
        };
        let timeout_ms = self.opt(n, "timeout", "duration", parse_duration_ms);
        let role = self.opt_role(n, "role");
        let enabled = self.opt_bool(n, "enabled");
        let (id, name, interval_ms, timeout_ms, role, enabled) =
            (id?, name?, interval_ms?, timeout_ms?, role?, enabled?);
        let on_fail = match n.attribute("on-fail") {
            None => None,
            Some(v) => {
                let parsed = OnFail::parse(&v.to_ascii_lowercase());
                if parsed.is_none() {
                    self.notice(
                        n,
                        format!(
                            "unknown value: on-fail=\"{v}\" is ignored (Pacemaker uses the default)"
                        ),
                    );
                }
                parsed
            }
        };
        if n.attribute("interval-origin").is_some() {
            self.notice(
                n,
                "not supported: interval-origin is recorded but not acted on",
            );
        }
        let mut attrs = Attrs::new();
        for a in n.attributes() {
            if !matches!(
                a.name(),
                "id" | "name" | "interval" | "timeout" | "role" | "on-fail" | "enabled"
            ) {
                attrs.insert(a.name().to_string(), a.value().to_string());
            }
        }
        for (k, v) in self.nvsets(n, "meta_attributes", None, false) {
            attrs.entry(k).or_insert(v);
        }
        for (k, v) in self.nvsets(n, "instance_attributes", None, false) {
            attrs.entry(k).or_insert(v);
        }
        for child in elements(n) {
            if !matches!(tag(child), "meta_attributes" | "instance_attributes") {
                self.unknown_element(child, "op");
            }
        }
        Some(OpDef {
            id: id.to_string(),
            name: name.to_string(),
            interval_ms,
            timeout_ms,
            role,
            on_fail,
            enabled: enabled.unwrap_or(true),
            attrs,
        })
    }

    fn group(&mut self, n: X<'a, 'i>, inherited: &Attrs) -> Option<Group> {
        let id = self.req(n, "id")?;
        self.unknown_attributes(n, &["id", "description"]);
        let meta = self.nvsets(n, "meta_attributes", None, false);
        let params = self.params(n, inherited);
        let mut members = Vec::new();
        for child in elements(n) {
            match tag(child) {
                "meta_attributes" | "instance_attributes" => {}
                "primitive" => members.extend(self.primitive(child, &params)),
                "group" | "clone" | "master" | "bundle" => self.problem(
                    E_STRUCTURE,
                    child,
                    format!("a group can only contain primitives, not a {}", tag(child)),
                ),
                _ => self.unknown_element(child, "group"),
            }
        }
        Some(Group {
            id: id.to_string(),
            meta,
            members,
        })
    }

    fn clone_resource(&mut self, n: X<'a, 'i>, legacy_master: bool) -> Option<Clone> {
        let id = self.req(n, "id")?;
        self.unknown_attributes(n, &["id", "description"]);
        let meta = self.nvsets(n, "meta_attributes", None, false);
        let params = self.params(n, &Attrs::new());
        let mut child_resource = None;
        let mut found = 0;
        for child in elements(n) {
            let r = match tag(child) {
                "meta_attributes" | "instance_attributes" => continue,
                "primitive" => self.primitive(child, &params).map(Resource::Primitive),
                "group" => self.group(child, &params).map(Resource::Group),
                "clone" | "master" | "bundle" => {
                    self.problem(
                        E_STRUCTURE,
                        child,
                        format!(
                            "a clone can only contain a primitive or a group, not a {}",
                            tag(child)
                        ),
                    );
                    continue;
                }
                _ => {
                    self.unknown_element(child, tag(n));
                    continue;
                }
            };
            found += 1;
            if found > 1 {
                self.problem(E_STRUCTURE, child, "a clone can contain only one resource");
            }
            child_resource = child_resource.or(r);
        }
        if found == 0 {
            self.problem(
                E_STRUCTURE,
                n,
                "a clone needs one primitive or group inside",
            );
        } else if child_resource.is_none() {
            self.notice(
                n,
                "not imported: the resource inside this clone was not imported",
            );
        }
        let promotable =
            legacy_master || meta.get("promotable").and_then(|v| parse_bool(v)) == Some(true);
        Some(Clone {
            id: id.to_string(),
            meta,
            promotable,
            child: Box::new(child_resource?),
        })
    }

    // ----- constraints ---------------------------------------------------------------

    fn constraints(
        &mut self,
        section: X<'a, 'i>,
        known: &HashSet<String>,
        nodes: &[Node],
        out: &mut Vec<Constraint>,
    ) {
        for n in elements(section) {
            let c = match tag(n) {
                "rsc_location" => self.location(n, nodes).map(Constraint::Location),
                "rsc_colocation" => self.colocation(n).map(Constraint::Colocation),
                "rsc_order" => self.order(n).map(Constraint::Order),
                "rsc_ticket" => {
                    self.notice(n, "not supported: ticket constraints are not imported");
                    None
                }
                _ => {
                    self.unknown_element(n, "constraints");
                    None
                }
            };
            let Some(c) = c else { continue };
            let missing: Vec<&str> = constraint_resources(&c)
                .into_iter()
                .filter(|r| !known.contains(*r))
                .collect();
            if missing.is_empty() {
                out.push(c);
            } else {
                let names: Vec<String> = missing.iter().map(|r| format!("\"{r}\"")).collect();
                self.notice(
                    n,
                    format!(
                        "unknown resource: {} not configured (or not imported); the constraint is ignored, as Pacemaker does",
                        names.join(", ")
                    ),
                );
            }
        }
    }

    fn location(&mut self, n: X<'a, 'i>, nodes: &[Node]) -> Option<Location> {
        let id = self.req(n, "id")?;
        self.unknown_attributes(
            n,
            &[
                "id",
                "rsc",
                "rsc-pattern",
                "node",
                "score",
                "role",
                "resource-discovery",
                "description",
            ],
        );
        if n.attribute("rsc-pattern").is_some() {
            self.notice(
                n,
                "not supported: rsc-pattern (regular expression) locations are not imported",
            );
            return None;
        }
        let discovery = match n.attribute("resource-discovery") {
            None => crate::Discovery::Always,
            Some(d) => match crate::Discovery::parse(d) {
                Some(v) => v,
                None => {
                    // Pacemaker ignores the whole constraint.
                    self.notice(
                        n,
                        format!(
                            "not imported: resource-discovery=\"{d}\" is not always, never or exclusive"
                        ),
                    );
                    return None;
                }
            },
        };
        let role = self.opt_role(n, "role")?;
        let target = match n.attribute("rsc") {
            Some(rsc) => LocationTarget::Resource(rsc.to_string()),
            None => {
                let sets = self.sets(n)?;
                if sets.is_empty() {
                    self.problem(
                        E_MISSING,
                        n,
                        "names no resource: give 'rsc' or a <resource_set>",
                    );
                    return None;
                }
                LocationTarget::Sets(sets)
            }
        };
        let score = self.opt_score(n, "score")?;
        let how = match (n.attribute("node"), score) {
            (Some(node), Some(score)) => {
                if !nodes.iter().any(|x| x.name.eq_ignore_ascii_case(node)) {
                    self.notice(
                        n,
                        format!("unknown node: \"{node}\" is not configured; the constraint has no effect"),
                    );
                }
                LocationHow::Node {
                    node: node.to_string(),
                    score,
                }
            }
            _ => {
                let mut rules = Vec::new();
                let mut any = false;
                for child in elements(n) {
                    match tag(child) {
                        "rule" => {
                            any = true;
                            if let Some(r) = self.resolve(child) {
                                rules.extend(self.rule(r));
                            }
                        }
                        "resource_set" => {}
                        _ => self.unknown_element(child, "rsc_location"),
                    }
                }
                if !any {
                    self.notice(
                        n,
                        "ignored: neither node and score nor a rule is given, as Pacemaker ignores it",
                    );
                    return None;
                }
                if rules.is_empty() {
                    if self.problems.is_empty() {
                        self.notice(n, "not imported: none of its rules could be imported");
                    }
                    return None;
                }
                LocationHow::Rules(rules)
            }
        };
        Some(Location {
            id: id.to_string(),
            target,
            role,
            how,
            discovery,
        })
    }

    /// A rule; `None` when it is invalid (problem) or not supported (notice).
    fn rule(&mut self, n: X<'a, 'i>) -> Option<Rule> {
        let id = self.req(n, "id");
        self.unknown_attributes(n, &["id", "score", "score-attribute", "boolean-op", "role"]);
        let score = self.opt_score(n, "score");
        let role = self.opt_role(n, "role");
        let bool_op = self.opt(n, "boolean-op", "boolean-op (and, or)", |v| {
            match v.to_ascii_lowercase().as_str() {
                "and" => Some(BoolOp::And),
                "or" => Some(BoolOp::Or),
                _ => None,
            }
        });
        let mut exprs = Vec::new();
        let mut ok = true;
        for child in elements(n) {
            match tag(child) {
                "expression" => match self.resolve(child).and_then(|e| self.expression(e)) {
                    Some(e) => exprs.push(RuleExpr::Attr(e)),
                    None => ok = false,
                },
                // A nested rule's score means nothing (only the top rule's counts).
                "rule" => match self.resolve(child).and_then(|r| self.rule(r)) {
                    Some(r) => exprs.push(RuleExpr::Rule(Rule {
                        score: None,
                        score_attribute: None,
                        ..r
                    })),
                    None => ok = false,
                },
                "date_expression" => {
                    match self.resolve(child).and_then(|e| self.date_expression(e)) {
                        Some(e) => exprs.push(RuleExpr::Date(e)),
                        None => ok = false,
                    }
                }
                other @ ("rsc_expression" | "op_expression") => {
                    ok = false;
                    self.notice(
                        child,
                        format!(
                            "not supported: {other}; the rule \"{}\" (and any rule containing it) is not imported",
                            id.unwrap_or("")
                        ),
                    );
                }
                _ => {
                    ok = false;
                    self.unknown_element(child, "rule");
                }
            }
        }
        let (id, score, role, bool_op) = (id?, score?, role?, bool_op?);
        if !ok {
            return None;
        }
        Some(Rule {
            id: id.to_string(),
            score,
            score_attribute: n.attribute("score-attribute").map(str::to_string),
            bool_op: bool_op.unwrap_or_default(),
            role,
            exprs,
        })
    }

    /// `date_expression` with `lt`, `gt` or `in_range` (a `duration` or `date_spec`
    /// inside is not supported: noted, and the rule not imported).
    fn date_expression(&mut self, n: X<'a, 'i>) -> Option<DateExpr> {
        let id = self.req(n, "id")?;
        self.unknown_attributes(n, &["id", "operation", "start", "end"]);
        if let Some(inner) = elements(n).next() {
            self.notice(
                inner,
                format!(
                    "not supported: {} in a date expression; the rule containing \"{id}\" is not imported",
                    tag(inner)
                ),
            );
            return None;
        }
        let op = match self.req(n, "operation")? {
            "lt" => DateOp::Lt,
            "gt" => DateOp::Gt,
            "in_range" => DateOp::InRange,
            other => {
                self.notice(
                    n,
                    format!("not supported: date operation \"{other}\"; the rule containing \"{id}\" is not imported"),
                );
                return None;
            }
        };
        let mut time = |key: &str| -> Result<Option<i64>, ()> {
            match n.attribute(key) {
                None => Ok(None),
                Some(v) => match crate::datetime::parse_datetime(v) {
                    Some(t) => Ok(Some(t)),
                    None => {
                        self.problem(E_VALUE, n, format!("{key}=\"{v}\" is not an ISO 8601 date"));
                        Err(())
                    }
                },
            }
        };
        let (start, end) = (time("start").ok()?, time("end").ok()?);
        let complete = match op {
            DateOp::Lt => end.is_some(),
            DateOp::Gt => start.is_some(),
            DateOp::InRange => start.is_some() || end.is_some(),
        };
        if !complete {
            self.problem(
                E_VALUE,
                n,
                "a date expression needs end (lt), start (gt), or either (in_range)".to_string(),
            );
            return None;
        }
        Some(DateExpr {
            id: id.to_string(),
            op,
            start,
            end,
        })
    }

    fn expression(&mut self, n: X<'a, 'i>) -> Option<AttrExpr> {
        let id = self.req(n, "id");
        self.unknown_attributes(
            n,
            &[
                "id",
                "attribute",
                "operation",
                "value",
                "type",
                "value-source",
            ],
        );
        let attribute = self.req(n, "attribute");
        let op = match self.req(n, "operation") {
            Some(v) => {
                let op = ExprOp::parse(v);
                if op.is_none() {
                    self.problem(
                        E_VALUE,
                        n,
                        format!("operation=\"{v}\" is not one of lt, gt, lte, gte, eq, ne, defined, not_defined"),
                    );
                }
                op
            }
            None => None,
        };
        let value_type = self.opt(
            n,
            "type",
            "type (string, integer, number, version)",
            parse_value_type,
        );
        let value_source = self.opt(
            n,
            "value-source",
            "value-source (literal, param, meta)",
            parse_value_source,
        );
        let (id, attribute, op, value_type, value_source) =
            (id?, attribute?, op?, value_type?, value_source?);
        Some(AttrExpr {
            id: id.to_string(),
            attribute: attribute.to_string(),
            op,
            value: n.attribute("value").map(str::to_string),
            value_type,
            value_source: value_source.unwrap_or_default(),
        })
    }

    /// The `resource_set` children of a constraint. `None` if any is invalid.
    fn sets(&mut self, n: X<'a, 'i>) -> Option<Vec<ResourceSet>> {
        let mut sets = Vec::new();
        let mut ok = true;
        for child in elements(n).filter(|c| tag(*c) == "resource_set") {
            match self.resolve(child).and_then(|s| self.set(s)) {
                Some(s) => sets.push(s),
                None => ok = false,
            }
        }
        ok.then_some(sets)
    }

    fn set(&mut self, n: X<'a, 'i>) -> Option<ResourceSet> {
        let id = self.req(n, "id");
        self.unknown_attributes(
            n,
            &[
                "id",
                "sequential",
                "require-all",
                "ordering",
                "role",
                "action",
                "score",
                "kind",
            ],
        );
        let sequential = self.opt_bool(n, "sequential");
        let require_all = self.opt_bool(n, "require-all");
        let role = self.opt_role(n, "role");
        let action = self.opt(
            n,
            "action",
            "action (start, stop, promote, demote)",
            Action::parse,
        );
        let score = self.opt_score(n, "score");
        let kind = self.opt(
            n,
            "kind",
            "kind (Mandatory, Optional, Serialize)",
            parse_order_kind,
        );
        let ordering = self.opt(
            n,
            "ordering",
            "ordering (group, listed)",
            SetOrdering::parse,
        );
        let mut resources = Vec::new();
        for child in elements(n) {
            if tag(child) == "resource_ref" {
                resources.extend(self.req(child, "id").map(str::to_string));
            } else {
                self.unknown_element(child, "resource_set");
            }
        }
        let (id, sequential, require_all, role, action, score, kind, ordering) = (
            id?,
            sequential?,
            require_all?,
            role?,
            action?,
            score?,
            kind?,
            ordering?,
        );
        Some(ResourceSet {
            id: id.to_string(),
            resources,
            sequential: sequential.unwrap_or(true),
            require_all: require_all.unwrap_or(true),
            role,
            action,
            score,
            kind,
            ordering: ordering.unwrap_or_default(),
        })
    }

    fn colocation(&mut self, n: X<'a, 'i>) -> Option<Colocation> {
        let id = self.req(n, "id")?;
        self.unknown_attributes(
            n,
            &[
                "id",
                "rsc",
                "with-rsc",
                "score",
                "rsc-role",
                "with-rsc-role",
                "node-attribute",
                "influence",
                "rsc-instance",
                "with-rsc-instance",
                "description",
            ],
        );
        for attr in [
            "node-attribute",
            "influence",
            "rsc-instance",
            "with-rsc-instance",
        ] {
            if let Some(v) = n.attribute(attr) {
                self.notice(n, format!("not supported: {attr}=\"{v}\" is ignored"));
            }
        }
        for child in elements(n).filter(|c| tag(*c) != "resource_set") {
            self.unknown_element(child, "rsc_colocation");
        }
        // Pacemaker reads a missing score as 0 (a colocation without effect).
        let score = self.opt_score(n, "score")?.unwrap_or_default();
        let sets = self.sets(n)?;
        if !sets.is_empty() {
            return Some(Colocation::Sets {
                id: id.to_string(),
                score,
                sets,
            });
        }
        let rsc = self.req(n, "rsc");
        let with_rsc = self.req(n, "with-rsc");
        let rsc_role = self.opt_role(n, "rsc-role");
        let with_rsc_role = self.opt_role(n, "with-rsc-role");
        let (rsc, with_rsc, rsc_role, with_rsc_role) = (rsc?, with_rsc?, rsc_role?, with_rsc_role?);
        Some(Colocation::Pair {
            id: id.to_string(),
            score,
            rsc: rsc.to_string(),
            rsc_role,
            with_rsc: with_rsc.to_string(),
            with_rsc_role,
        })
    }

    fn order(&mut self, n: X<'a, 'i>) -> Option<Order> {
        let id = self.req(n, "id")?;
        self.unknown_attributes(
            n,
            &[
                "id",
                "first",
                "then",
                "first-action",
                "then-action",
                "kind",
                "score",
                "symmetrical",
                "require-all",
                "first-instance",
                "then-instance",
                "description",
            ],
        );
        for attr in ["first-instance", "then-instance"] {
            if let Some(v) = n.attribute(attr) {
                self.notice(n, format!("not supported: {attr}=\"{v}\" is ignored"));
            }
        }
        for child in elements(n).filter(|c| tag(*c) != "resource_set") {
            self.unknown_element(child, "rsc_order");
        }
        let kind = match n.attribute("kind") {
            Some(k) => parse_order_kind(k).unwrap_or_else(|| {
                self.notice(
                    n,
                    format!("unknown value: kind=\"{k}\" is read as Mandatory, as Pacemaker does"),
                );
                OrderKind::Mandatory
            }),
            // The deprecated `score`: 0 means Optional, anything else Mandatory.
            None => match self.opt_score(n, "score")? {
                Some(s) if s == Score::ZERO => OrderKind::Optional,
                _ => OrderKind::Mandatory,
            },
        };
        let symmetrical = self.opt_bool(n, "symmetrical")?;
        let sets = self.sets(n)?;
        if !sets.is_empty() {
            return Some(Order::Sets {
                id: id.to_string(),
                kind,
                symmetrical,
                sets,
            });
        }
        let first = self.req(n, "first");
        let then = self.req(n, "then");
        let action = "action (start, stop, promote, demote)";
        let first_action = self.opt(n, "first-action", action, Action::parse);
        let then_action = self.opt(n, "then-action", action, Action::parse);
        let require_all = self.opt_bool(n, "require-all");
        let (first, then, first_action, then_action, require_all) =
            (first?, then?, first_action?, then_action?, require_all?);
        Some(Order::Pair {
            id: id.to_string(),
            kind,
            symmetrical,
            first: first.to_string(),
            first_action,
            then: then.to_string(),
            then_action,
            require_all: require_all.unwrap_or(true),
        })
    }

    // ----- status --------------------------------------------------------------------

    fn status(&mut self, section: X<'a, 'i>, config: &Config) -> Vec<NodeState> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for n in elements(section) {
            match tag(n) {
                "node_state" => out.extend(self.node_state(n, config, &mut seen)),
                "tickets" => self.notice(n, "not supported: tickets are not imported"),
                _ => self.unknown_element(n, "status"),
            }
        }
        out
    }

    /// A `node_state`, with `id` and `name` those of the configured node it belongs to.
    /// `seen` holds the ids of configured nodes that already have a state.
    fn node_state(
        &mut self,
        n: X<'a, 'i>,
        config: &Config,
        seen: &mut HashSet<String>,
    ) -> Option<NodeState> {
        let (Some(id), Some(uname)) = (n.attribute("id"), n.attribute("uname")) else {
            self.notice(
                n,
                "ignored: a node_state without both id and uname is ignored, as Pacemaker does",
            );
            return None;
        };
        if n.attribute("remote_node").and_then(parse_bool) == Some(true) {
            self.notice(
                n,
                format!("not supported: state of remote node \"{uname}\" is not imported"),
            );
            return None;
        }
        // Pacemaker matches a state to a configured node by id, then by name, ignoring case.
        let Some(node) = config
            .nodes
            .iter()
            .find(|x| x.id.eq_ignore_ascii_case(id))
            .or_else(|| {
                config
                    .nodes
                    .iter()
                    .find(|x| x.name.eq_ignore_ascii_case(uname))
            })
        else {
            self.notice(
                n,
                format!(
                    "ignored: node \"{uname}\" is not in the configuration; its recorded state is ignored, as Pacemaker does"
                ),
            );
            return None;
        };
        if !seen.insert(node.id.clone()) {
            self.notice(
                n,
                format!(
                    "ignored: node \"{}\" already has a node_state; only the first is read",
                    node.name
                ),
            );
            return None;
        }
        let mut state = NodeState {
            id: node.id.clone(),
            name: node.name.clone(),
            in_ccm: n.attribute("in_ccm").map(str::to_string),
            crmd: n.attribute("crmd").map(str::to_string),
            join: n.attribute("join").map(str::to_string),
            expected: n.attribute("expected").map(str::to_string),
            ..NodeState::default()
        };
        for child in elements(n) {
            match tag(child) {
                "transient_attributes" => {
                    for (k, v) in self.nvsets(child, "instance_attributes", None, true) {
                        state.attrs.insert(k, v);
                    }
                    for c in elements(child).filter(|c| tag(*c) != "instance_attributes") {
                        self.unknown_element(c, "transient_attributes");
                    }
                }
                "lrm" => {
                    for c in elements(child) {
                        if tag(c) == "lrm_resources" {
                            for r in elements(c) {
                                if tag(r) == "lrm_resource" {
                                    state.resources.extend(self.lrm_resource(r));
                                } else {
                                    self.unknown_element(r, "lrm_resources");
                                }
                            }
                        } else {
                            self.unknown_element(c, "lrm");
                        }
                    }
                }
                _ => self.unknown_element(child, "node_state"),
            }
        }
        Some(state)
    }

    fn lrm_resource(&mut self, n: X<'a, 'i>) -> Option<ResourceHistory> {
        let id = self.req(n, "id");
        let class = self.req(n, "class");
        let kind = self.req(n, "type");
        let mut ops = Vec::new();
        for op in elements(n) {
            if tag(op) == "lrm_rsc_op" {
                ops.extend(self.lrm_rsc_op(op));
            } else {
                self.unknown_element(op, "lrm_resource");
            }
        }
        Some(ResourceHistory {
            id: id?.to_string(),
            class: class?.to_string(),
            provider: n.attribute("provider").map(str::to_string),
            kind: kind?.to_string(),
            ops,
        })
    }

    fn lrm_rsc_op(&mut self, n: X<'a, 'i>) -> Option<OpRecord> {
        let id = self.req(n, "id");
        let operation = self.req(n, "operation");
        let call_id = self.opt_int(n, "call-id");
        let rc = self.opt_int(n, "rc-code");
        let op_status = self.opt_int(n, "op-status");
        let interval_ms = self.opt_int(n, "interval");
        let last_rc_change = self.opt_int(n, "last-rc-change");
        let last_run = self.opt_int(n, "last-run");
        let exec_time_ms = self.opt_int(n, "exec-time");
        let (id, operation, call_id, rc, op_status, interval_ms) =
            (id?, operation?, call_id?, rc?, op_status?, interval_ms?);
        let (last_rc_change, last_run, exec_time_ms) = (last_rc_change?, last_run?, exec_time_ms?);
        let text = |a: &str| n.attribute(a).map(str::to_string);
        let transition_key = text("transition-key");
        let transition_magic = text("transition-magic");
        let target_rc = match (&transition_key, &transition_magic) {
            (Some(k), _) => target_rc_of_key(k),
            (None, Some(m)) => target_rc_of_magic(m),
            (None, None) => None,
        };
        Some(OpRecord {
            id: id.to_string(),
            operation: operation.to_string(),
            call_id: call_id.unwrap_or(0),
            rc: rc.unwrap_or(0),
            op_status: op_status.unwrap_or(0),
            interval_ms: interval_ms.unwrap_or(0),
            target_rc,
            last_rc_change,
            last_run,
            exec_time_ms,
            exit_reason: text("exit-reason"),
            on_node: text("on_node"),
            op_digest: text("op-digest"),
            op_restart_digest: text("op-restart-digest"),
            op_force_restart: text("op-force-restart"),
            op_secure_params: text("op-secure-params"),
            op_secure_digest: text("op-secure-digest"),
            feature_set: text("crm_feature_set"),
            transition_key,
            transition_magic,
        })
    }
}

fn parse_order_kind(s: &str) -> Option<OrderKind> {
    OrderKind::parse(&s.to_ascii_lowercase())
}

/// Every resource id a constraint names.
pub fn constraint_resources(c: &Constraint) -> Vec<&str> {
    fn in_sets(sets: &[ResourceSet]) -> impl Iterator<Item = &str> {
        sets.iter()
            .flat_map(|s| s.resources.iter().map(String::as_str))
    }
    match c {
        Constraint::Location(l) => match &l.target {
            LocationTarget::Resource(r) => vec![r.as_str()],
            LocationTarget::Sets(sets) => in_sets(sets).collect(),
        },
        Constraint::Colocation(Colocation::Pair { rsc, with_rsc, .. }) => {
            vec![rsc.as_str(), with_rsc.as_str()]
        }
        Constraint::Colocation(Colocation::Sets { sets, .. })
        | Constraint::Order(Order::Sets { sets, .. }) => in_sets(sets).collect(),
        Constraint::Order(Order::Pair { first, then, .. }) => vec![first.as_str(), then.as_str()],
    }
}

/// Compare dotted versions numerically.
pub fn version_lt(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    let (pa, pb) = (parse(a), parse(b));
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (
            pa.get(i).copied().unwrap_or(0),
            pb.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CIB with the given configuration sections and status content.
    fn cib(cib_attrs: &str, configuration: &str, status: &str) -> String {
        format!(
            "<cib {cib_attrs}>\n<configuration>\n{configuration}\n</configuration>\n<status>\n{status}\n</status>\n</cib>\n"
        )
    }

    fn import(configuration: &str) -> CibImport {
        let text = cib("", configuration, "");
        parse_cib(&text, "t.xml").unwrap_or_else(|e| panic!("import failed: {e}"))
    }

    fn problems(text: &str) -> Vec<Problem> {
        match parse_cib(text, "t.xml") {
            Err(ModelError::Invalid(p)) => p,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const TWO_DUMMIES: &str = r##"<resources>
  <primitive id="a" class="ocf" provider="pacemaker" type="Dummy"/>
  <primitive id="b" class="ocf" provider="pacemaker" type="Dummy"/>
</resources>"##;

    fn with_constraints(constraints: &str) -> CibImport {
        import(&format!(
            "<nodes><node id=\"1\" uname=\"n1\"/></nodes>{TWO_DUMMIES}<constraints>{constraints}</constraints>"
        ))
    }

    #[test]
    fn durations_follow_pacemaker_units_and_iso8601() {
        for (text, ms) in [
            ("10", 10_000),
            ("0", 0),
            ("10s", 10_000),
            ("10 sec", 10_000),
            ("1m", 60_000),
            ("2min", 120_000),
            ("500ms", 500),
            ("1500us", 1),
            ("1h", 3_600_000),
            ("1HR", 3_600_000),
            ("PT10S", 10_000),
            ("P10S", 10_000),
            ("PT1M", 60_000),
            ("P1M", 30 * 86_400_000),
            ("P1DT2H", 26 * 3_600_000),
            ("P1W", 7 * 86_400_000),
        ] {
            assert_eq!(parse_duration_ms(text), Some(ms), "{text}");
        }
        for bad in ["", "s", "10x", "ten", "-5", "P", "PT", "P5", "PT5X", "1.5s"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn target_rc_comes_from_the_key_or_the_magic() {
        assert_eq!(target_rc_of_key("3:-1:7:abc-def"), Some(7));
        assert_eq!(target_rc_of_magic("0:8;3:14:8:abc-def"), Some(8));
        assert_eq!(target_rc_of_key("garbage"), None);
        assert_eq!(target_rc_of_magic("0:0"), None);
    }

    #[test]
    fn cluster_properties_read_bootstrap_set_first_then_by_score() {
        let imp = import(
            r##"<crm_config>
  <cluster_property_set id="extra" score="100">
    <nvpair id="e1" name="stonith-enabled" value="false"/>
    <nvpair id="e2" name="no-quorum-policy" value="freeze"/>
  </cluster_property_set>
  <cluster_property_set id="cib-bootstrap-options">
    <nvpair id="b1" name="stonith-enabled" value="true"/>
    <nvpair id="b2" name="stonith-enabled" value="false"/>
  </cluster_property_set>
</crm_config>"##,
        );
        assert_eq!(
            imp.config.properties,
            attrs(&[("stonith-enabled", "true"), ("no-quorum-policy", "freeze")])
        );
    }

    #[test]
    fn meta_sets_merge_by_score_then_reverse_document_order_with_default_reset() {
        let imp = import(
            r##"<resources>
  <primitive id="a" class="ocf" provider="pacemaker" type="Dummy">
    <meta_attributes id="m1">
      <nvpair id="m1a" name="target-role" value="Stopped"/>
      <nvpair id="m1b" name="priority" value="1"/>
      <nvpair id="m1c" name="is-managed" value="false"/>
    </meta_attributes>
    <meta_attributes id="m2">
      <nvpair id="m2a" name="target-role" value="Started"/>
      <nvpair id="m2b" name="is-managed" value="#default"/>
    </meta_attributes>
    <meta_attributes id="m3" score="10">
      <nvpair id="m3a" name="priority" value="5"/>
    </meta_attributes>
  </primitive>
</resources>"##,
        );
        let Resource::Primitive(p) = &imp.config.resources[0] else {
            panic!("expected a primitive");
        };
        // m3 (score 10) first, then m2 (later in the document), then m1.
        assert_eq!(
            p.meta,
            attrs(&[
                ("priority", "5"),
                ("target-role", "Started"),
                ("is-managed", "false")
            ])
        );
    }

    #[test]
    fn nvpair_and_set_id_refs_resolve() {
        let imp = import(
            r##"<resources>
  <primitive id="a" class="ocf" provider="pacemaker" type="Dummy">
    <instance_attributes id="a-ia">
      <nvpair id="a-fake" name="fake" value="common"/>
    </instance_attributes>
    <meta_attributes id="shared-meta">
      <nvpair id="sm1" name="resource-stickiness" value="100"/>
    </meta_attributes>
  </primitive>
  <primitive id="b" class="ocf" provider="pacemaker" type="Dummy">
    <instance_attributes id="b-ia">
      <nvpair id-ref="a-fake"/>
      <nvpair id-ref="a-fake" name="fake_fake"/>
    </instance_attributes>
    <meta_attributes id-ref="shared-meta"/>
  </primitive>
</resources>"##,
        );
        let Resource::Primitive(b) = &imp.config.resources[1] else {
            panic!("expected a primitive");
        };
        assert_eq!(
            b.params,
            attrs(&[("fake", "common"), ("fake_fake", "common")])
        );
        assert_eq!(b.meta, attrs(&[("resource-stickiness", "100")]));
    }

    #[test]
    fn conditional_attribute_sets_are_skipped_with_a_notice() {
        let imp = import(
            r##"<rsc_defaults>
  <meta_attributes id="rd-rule">
    <rule id="r" score="0"><date_expression id="d" operation="lt" end="2030-01-01"/></rule>
    <nvpair id="rd1" name="resource-stickiness" value="100"/>
  </meta_attributes>
  <meta_attributes id="rd-plain">
    <nvpair id="rd2" name="migration-threshold" value="3"/>
  </meta_attributes>
</rsc_defaults>"##,
        );
        assert_eq!(
            imp.config.rsc_defaults,
            attrs(&[("migration-threshold", "3")])
        );
        assert_eq!(imp.notices.len(), 1, "{:?}", imp.notices);
        assert!(imp.notices[0]
            .place
            .contains("<meta_attributes id=\"rd-rule\">"));
        assert!(imp.notices[0].what.contains("conditional"));
    }

    #[test]
    fn nodes_keep_attributes_and_score_and_report_remote_nodes() {
        let imp = import(
            r##"<nodes>
  <node id="1" uname="n1" type="member" score="-200">
    <instance_attributes id="n1-ia">
      <nvpair id="n1s" name="standby" value="on"/>
      <nvpair id="n1r" name="rack" value="2"/>
    </instance_attributes>
  </node>
  <node id="2" uname="n2"/>
  <node id="r1" uname="remote1" type="remote"/>
</nodes>"##,
        );
        let nodes = &imp.config.nodes;
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].name, "n1");
        assert_eq!(nodes[0].score, Some(Score::new(-200)));
        assert_eq!(nodes[0].attrs, attrs(&[("standby", "on"), ("rack", "2")]));
        assert_eq!((nodes[1].id.as_str(), nodes[1].score), ("2", None));
        assert_eq!(imp.notices.len(), 1);
        assert!(imp.notices[0].what.contains("remote node \"remote1\""));
    }

    #[test]
    fn primitive_with_operations_maps_every_field() {
        let imp = import(
            r##"<op_defaults><meta_attributes id="od"><nvpair id="od1" name="timeout" value="30s"/></meta_attributes></op_defaults>
<resources>
  <primitive id="db" class="ocf" provider="heartbeat" type="mysql" description="the db">
    <instance_attributes id="db-ia"><nvpair id="db1" name="binary" value="/usr/bin/mysqld"/></instance_attributes>
    <meta_attributes id="db-ma"><nvpair id="db2" name="migration-threshold" value="2"/></meta_attributes>
    <operations>
      <op id="db-mon" name="monitor" interval="10s" timeout="20" role="Master" on-fail="fence" start-delay="5s">
        <instance_attributes id="db-mon-ia"><nvpair id="db3" name="OCF_CHECK_LEVEL" value="10"/></instance_attributes>
        <meta_attributes id="db-mon-ma"><nvpair id="db4" name="requires" value="fencing"/></meta_attributes>
      </op>
      <op id="db-mon2" name="monitor" interval="PT1M" role="Slave" enabled="false"/>
      <op id="db-start" name="start" interval="0"/>
    </operations>
  </primitive>
  <primitive id="fence" class="stonith" type="fence_ipmilan"/>
</resources>"##,
        );
        assert_eq!(imp.config.op_defaults, attrs(&[("timeout", "30s")]));
        let Resource::Primitive(p) = &imp.config.resources[0] else {
            panic!("expected a primitive");
        };
        assert_eq!(p.agent.to_string(), "ocf:heartbeat:mysql");
        assert_eq!(p.params, attrs(&[("binary", "/usr/bin/mysqld")]));
        assert_eq!(p.meta, attrs(&[("migration-threshold", "2")]));
        assert_eq!(
            p.ops[0],
            OpDef {
                id: "db-mon".into(),
                name: "monitor".into(),
                interval_ms: 10_000,
                timeout_ms: Some(20_000),
                role: Some(Role::Promoted),
                on_fail: Some(OnFail::Fence),
                enabled: true,
                attrs: attrs(&[
                    ("start-delay", "5s"),
                    ("OCF_CHECK_LEVEL", "10"),
                    ("requires", "fencing")
                ]),
            }
        );
        assert_eq!(
            (p.ops[1].interval_ms, p.ops[1].role, p.ops[1].enabled),
            (60_000, Some(Role::Unpromoted), false)
        );
        assert_eq!((p.ops[2].interval_ms, p.ops[2].timeout_ms), (0, None));
        let Resource::Primitive(f) = &imp.config.resources[1] else {
            panic!("expected a primitive");
        };
        assert_eq!(f.agent.to_string(), "stonith:fence_ipmilan");
        assert!(imp.notices.is_empty(), "{:?}", imp.notices);
    }

    #[test]
    fn groups_clones_and_legacy_master_elements() {
        let imp = import(
            r##"<resources>
  <group id="g">
    <instance_attributes id="g-ia"><nvpair id="g1" name="shared" value="yes"/></instance_attributes>
    <primitive id="g-a" class="ocf" provider="pacemaker" type="Dummy">
      <instance_attributes id="ga-ia"><nvpair id="g2" name="shared" value="no"/></instance_attributes>
    </primitive>
    <primitive id="g-b" class="ocf" provider="pacemaker" type="Dummy"/>
  </group>
  <clone id="c">
    <meta_attributes id="c-ma"><nvpair id="c1" name="promotable" value="true"/></meta_attributes>
    <primitive id="c-a" class="ocf" provider="pacemaker" type="Stateful"/>
  </clone>
  <clone id="cg"><group id="cg-g"><primitive id="cg-a" class="lsb" type="foo"/></group></clone>
  <master id="ms"><primitive id="ms-a" class="ocf" provider="pacemaker" type="Stateful"/></master>
  <bundle id="bun"/>
  <template id="tmpl" class="ocf" provider="pacemaker" type="Dummy"/>
</resources>"##,
        );
        let r = &imp.config.resources;
        assert_eq!(r.len(), 4);
        let Resource::Group(g) = &r[0] else {
            panic!("expected a group")
        };
        assert_eq!(g.members[0].params, attrs(&[("shared", "no")]));
        assert_eq!(g.members[1].params, attrs(&[("shared", "yes")]));
        let ids: Vec<&str> = r.iter().flat_map(|r| r.ids()).collect();
        assert_eq!(
            ids,
            ["g", "g-a", "g-b", "c", "c-a", "cg", "cg-g", "cg-a", "ms", "ms-a"]
        );
        let promotable: Vec<bool> = r[1..]
            .iter()
            .map(|r| matches!(r, Resource::Clone(c) if c.promotable))
            .collect();
        assert_eq!(promotable, [true, false, true]);
        let what: Vec<&str> = imp.notices.iter().map(|n| n.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "not supported: bundle is not imported",
                "not supported: template is not imported"
            ]
        );
    }

    #[test]
    fn location_with_node_score_and_role() {
        let imp = with_constraints(
            r##"<rsc_location id="l1" rsc="a" node="n1" score="-INFINITY" role="Promoted"/>"##,
        );
        assert_eq!(
            imp.config.constraints,
            [Constraint::Location(Location {
                id: "l1".into(),
                target: LocationTarget::Resource("a".into()),
                role: Some(Role::Promoted),
                how: LocationHow::Node {
                    node: "n1".into(),
                    score: Score::NEG_INFINITY
                },
                discovery: crate::Discovery::Always,
            })]
        );
    }

    #[test]
    fn location_rules_nest_and_keep_every_field() {
        let imp = with_constraints(
            r##"<rsc_location id="l1" rsc="a">
  <rule id="r1" score-attribute="pingd" boolean-op="or" role="Started">
    <expression id="e1" attribute="#uname" operation="eq" value="n1"/>
    <rule id="r1n" score="0">
      <expression id="e2" attribute="ram" operation="gte" value="4" type="integer"/>
      <expression id="e3" attribute="disk" operation="defined"/>
      <expression id="e4" attribute="site" operation="eq" value="loc" value-source="param"/>
    </rule>
  </rule>
  <rule id="r2" score="50"><expression id="e5" attribute="x" operation="not_defined"/></rule>
</rsc_location>"##,
        );
        let Constraint::Location(l) = &imp.config.constraints[0] else {
            panic!("expected a location")
        };
        let LocationHow::Rules(rules) = &l.how else {
            panic!("expected rules")
        };
        assert_eq!(rules.len(), 2);
        let r1 = &rules[0];
        assert_eq!(r1.score, None);
        assert_eq!(r1.score_attribute.as_deref(), Some("pingd"));
        assert_eq!((r1.bool_op, r1.role), (BoolOp::Or, Some(Role::Started)));
        let RuleExpr::Rule(nested) = &r1.exprs[1] else {
            panic!("expected a nested rule")
        };
        assert_eq!(nested.bool_op, BoolOp::And);
        assert_eq!(
            nested.exprs[0],
            RuleExpr::Attr(AttrExpr {
                id: "e2".into(),
                attribute: "ram".into(),
                op: ExprOp::Gte,
                value: Some("4".into()),
                value_type: Some(ValueType::Integer),
                value_source: ValueSource::Literal,
            })
        );
        let RuleExpr::Attr(e4) = &nested.exprs[2] else {
            panic!("expected an expression")
        };
        assert_eq!(e4.value_source, ValueSource::Param);
        assert_eq!(rules[1].score, Some(Score::new(50)));
    }

    #[test]
    fn date_rules_import_and_date_specs_are_skipped_with_a_notice() {
        let imp = with_constraints(
            r##"<rsc_location id="l1" rsc="a">
  <rule id="r-date" score="INFINITY"><date_expression id="d" operation="gt" start="2020-01-01"/></rule>
  <rule id="r-ok" score="10"><expression id="e" attribute="#uname" operation="eq" value="n1"/></rule>
</rsc_location>
<rsc_location id="l2" rsc="b">
  <rule id="r2" score="10"><rule id="r2n"><date_expression id="d2" operation="date_spec"><date_spec id="ds" hours="9-17"/></date_expression></rule></rule>
</rsc_location>"##,
        );
        assert_eq!(imp.config.constraints.len(), 1, "{:?}", imp.notices);
        let Constraint::Location(l) = &imp.config.constraints[0] else {
            panic!("expected a location")
        };
        let LocationHow::Rules(rules) = &l.how else {
            panic!("expected rules")
        };
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[0].exprs,
            vec![RuleExpr::Date(DateExpr {
                id: "d".into(),
                op: DateOp::Gt,
                start: Some(1_577_836_800),
                end: None,
            })]
        );
        let places: Vec<&str> = imp.notices.iter().map(|n| n.place.as_str()).collect();
        assert_eq!(places.len(), 2, "{:?}", imp.notices);
        assert!(places[0].contains("<date_spec id=\"ds\">"), "{places:?}");
        assert!(places[1].contains("<rsc_location id=\"l2\">"), "{places:?}");
    }

    #[test]
    fn location_sets_discovery_and_unsupported_location_forms() {
        let imp = with_constraints(
            r##"<rsc_location id="l1" node="n1" score="5">
  <resource_set id="s1" role="Promoted"><resource_ref id="a"/><resource_ref id="b"/></resource_set>
</rsc_location>
<rsc_location id="l2" rsc-pattern="^a" node="n1" score="5"/>
<rsc_location id="l3" rsc="a" node="n1" score="5" resource-discovery="never"/>
<rsc_location id="l4" rsc="a" node="n1" score="5" resource-discovery="sometimes"/>"##,
        );
        assert_eq!(imp.config.constraints.len(), 2);
        let Constraint::Location(l3) = &imp.config.constraints[1] else {
            panic!("expected a location")
        };
        assert_eq!(l3.discovery, crate::Discovery::Never);
        let Constraint::Location(l) = &imp.config.constraints[0] else {
            panic!("expected a location")
        };
        let LocationTarget::Sets(sets) = &l.target else {
            panic!("expected sets")
        };
        assert_eq!(sets[0].resources, ["a", "b"]);
        assert_eq!(sets[0].role, Some(Role::Promoted));
        assert_eq!(imp.notices.len(), 2);
        assert!(imp.notices[0].what.contains("rsc-pattern"));
        assert!(
            imp.notices[1].what.contains("resource-discovery")
                && imp.notices[1].place.contains("l4"),
            "{:?}",
            imp.notices
        );
    }

    #[test]
    fn colocations_pairs_sets_roles_and_default_score() {
        let imp = with_constraints(
            r##"<rsc_colocation id="c1" rsc="a" with-rsc="b" score="INFINITY" rsc-role="Slave" with-rsc-role="Promoted"/>
<rsc_colocation id="c2" rsc="b" with-rsc="a"/>
<rsc_colocation id="c3" score="-100">
  <resource_set id="s1" sequential="false" role="Started"><resource_ref id="a"/></resource_set>
  <resource_set id="s2" score="7"><resource_ref id="b"/></resource_set>
</rsc_colocation>
<rsc_colocation id="c4" rsc="a" with-rsc="b" score="10" node-attribute="rack"/>"##,
        );
        let c = &imp.config.constraints;
        assert_eq!(
            c[0],
            Constraint::Colocation(Colocation::Pair {
                id: "c1".into(),
                score: Score::INFINITY,
                rsc: "a".into(),
                rsc_role: Some(Role::Unpromoted),
                with_rsc: "b".into(),
                with_rsc_role: Some(Role::Promoted),
            })
        );
        assert!(
            matches!(&c[1], Constraint::Colocation(Colocation::Pair { score, .. }) if *score == Score::ZERO)
        );
        let Constraint::Colocation(Colocation::Sets { score, sets, .. }) = &c[2] else {
            panic!("expected a set colocation")
        };
        assert_eq!(*score, Score::new(-100));
        assert_eq!(
            (sets[0].sequential, sets[0].role, sets[0].score),
            (false, Some(Role::Started), None)
        );
        assert_eq!(
            (sets[1].sequential, sets[1].score),
            (true, Some(Score::new(7)))
        );
        assert_eq!(c.len(), 4);
        assert_eq!(imp.notices.len(), 1);
        assert!(imp.notices[0].what.contains("node-attribute"));
    }

    #[test]
    fn orders_kinds_legacy_scores_and_sets() {
        let imp = with_constraints(
            r##"<rsc_order id="o1" first="a" then="b" first-action="promote" then-action="start" kind="Optional" symmetrical="false" require-all="false"/>
<rsc_order id="o2" first="a" then="b" score="0"/>
<rsc_order id="o3" first="a" then="b" score="INFINITY"/>
<rsc_order id="o4" first="a" then="b" kind="foo"/>
<rsc_order id="o5" kind="Serialize">
  <resource_set id="s1" sequential="false" require-all="false" action="stop"><resource_ref id="a"/><resource_ref id="b"/></resource_set>
  <resource_set id="s2" kind="Optional"><resource_ref id="b"/></resource_set>
</rsc_order>"##,
        );
        let c = &imp.config.constraints;
        assert_eq!(
            c[0],
            Constraint::Order(Order::Pair {
                id: "o1".into(),
                kind: OrderKind::Optional,
                symmetrical: Some(false),
                first: "a".into(),
                first_action: Some(Action::Promote),
                then: "b".into(),
                then_action: Some(Action::Start),
                require_all: false,
            })
        );
        let kinds: Vec<OrderKind> = c
            .iter()
            .map(|c| match c {
                Constraint::Order(Order::Pair { kind, .. } | Order::Sets { kind, .. }) => *kind,
                _ => panic!("expected an order"),
            })
            .collect();
        use OrderKind::*;
        assert_eq!(kinds, [Optional, Optional, Mandatory, Mandatory, Serialize]);
        let Constraint::Order(Order::Sets { sets, .. }) = &c[4] else {
            panic!("expected a set order")
        };
        assert_eq!(
            (sets[0].sequential, sets[0].require_all, sets[0].action),
            (false, false, Some(Action::Stop))
        );
        assert_eq!(sets[1].kind, Some(OrderKind::Optional));
        assert_eq!(imp.notices.len(), 1);
        assert!(imp.notices[0].place.contains("<rsc_order id=\"o4\">"));
    }

    #[test]
    fn constraints_on_unknown_resources_are_ignored_with_a_notice() {
        let imp = with_constraints(
            r##"<rsc_order id="o1" first="a" then="ghost"/>
<rsc_colocation id="c1" score="5"><resource_set id="s"><resource_ref id="a"/><resource_ref id="nope"/></resource_set></rsc_colocation>
<rsc_ticket id="t1" rsc="a" ticket="T"/>
<rsc_location id="l1" rsc="a" node="n1" score="1"/>"##,
        );
        assert_eq!(imp.config.constraints.len(), 1);
        assert_eq!(imp.config.constraints[0].id(), "l1");
        let what: Vec<&str> = imp.notices.iter().map(|n| n.what.as_str()).collect();
        assert!(
            what[0].starts_with("unknown resource: \"ghost\""),
            "{what:?}"
        );
        assert!(
            what[1].starts_with("unknown resource: \"nope\""),
            "{what:?}"
        );
        assert!(what[2].contains("ticket"), "{what:?}");
    }

    const STATUS_NODES: &str =
        r##"<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>"##;

    #[test]
    fn status_node_states_transient_attributes_and_history() {
        let text = cib(
            r##"have-quorum="1" dc-uuid="1" execution-date="1700000000""##,
            STATUS_NODES,
            r##"<node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
  <transient_attributes id="1">
    <instance_attributes id="ta-1">
      <nvpair id="t1" name="fail-count-a#monitor_10000" value="3"/>
      <nvpair id="t2" name="fail-count-a#monitor_10000" value="4"/>
    </instance_attributes>
    <instance_attributes id="ta-2">
      <nvpair id="t3" name="master-a" value="10"/>
      <nvpair id="t4" name="fail-count-a#monitor_10000" value="5"/>
    </instance_attributes>
  </transient_attributes>
  <lrm id="1"><lrm_resources>
    <lrm_resource id="a" class="ocf" provider="pacemaker" type="Dummy">
      <lrm_rsc_op id="a_last_0" operation="start" call-id="12" rc-code="1" op-status="0" interval="0"
        last-rc-change="1699999990" last-run="1699999980" exec-time="25" exit-reason="boom" on_node="n1"
        op-digest="abc" op-restart-digest="def"
        transition-key="4:7:0:0f2b" transition-magic="0:1;4:7:0:0f2b"/>
      <lrm_rsc_op id="a_monitor_10000" operation="monitor" call-id="13" rc-code="8" op-status="0" interval="10000"
        transition-magic="0:8;5:7:8:0f2b"/>
    </lrm_resource>
  </lrm_resources></lrm>
</node_state>
<node_state id="2" uname="n2" in_ccm="false" crmd="offline" join="down" expected="down"/>"##,
        );
        let imp = parse_cib(&text, "t.xml").unwrap_or_else(|e| panic!("{e}"));
        let st = &imp.status;
        assert!(st.have_quorum);
        assert_eq!(st.dc.as_deref(), Some("1"));
        assert_eq!(st.now, Some(1_700_000_000));
        assert_eq!(st.nodes.len(), 2);
        let n1 = &st.nodes[0];
        assert_eq!(
            (
                n1.in_ccm.as_deref(),
                n1.crmd.as_deref(),
                n1.join.as_deref(),
                n1.expected.as_deref()
            ),
            (Some("true"), Some("online"), Some("member"), Some("member"))
        );
        // Transient sets overwrite: the first set in the document is applied last.
        assert_eq!(
            n1.attrs,
            attrs(&[("fail-count-a#monitor_10000", "4"), ("master-a", "10")])
        );
        let h = &n1.resources[0];
        assert_eq!(
            (h.id.as_str(), h.class.as_str(), h.kind.as_str()),
            ("a", "ocf", "Dummy")
        );
        assert_eq!(h.provider.as_deref(), Some("pacemaker"));
        assert_eq!(
            h.ops[0],
            OpRecord {
                id: "a_last_0".into(),
                operation: "start".into(),
                call_id: 12,
                rc: 1,
                op_status: 0,
                interval_ms: 0,
                target_rc: Some(0),
                last_rc_change: Some(1_699_999_990),
                last_run: Some(1_699_999_980),
                exec_time_ms: Some(25),
                exit_reason: Some("boom".into()),
                on_node: Some("n1".into()),
                op_digest: Some("abc".into()),
                op_restart_digest: Some("def".into()),
                op_force_restart: None,
                op_secure_params: None,
                op_secure_digest: None,
                feature_set: None,
                transition_key: Some("4:7:0:0f2b".into()),
                transition_magic: Some("0:1;4:7:0:0f2b".into()),
            }
        );
        assert_eq!(
            (h.ops[1].interval_ms, h.ops[1].rc, h.ops[1].target_rc),
            (10_000, 8, Some(8))
        );
        assert!(st.nodes[1].resources.is_empty());
        assert!(imp.notices.is_empty(), "{:?}", imp.notices);
    }

    #[test]
    fn quorum_is_false_unless_the_cib_says_so() {
        let imp = parse_cib(&cib("", STATUS_NODES, ""), "t.xml").unwrap_or_else(|e| panic!("{e}"));
        assert!(!imp.status.have_quorum);
        let imp = parse_cib(&cib(r##"have-quorum="false""##, STATUS_NODES, ""), "t.xml")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!imp.status.have_quorum);
        assert_eq!(imp.status.now, None);
    }

    #[test]
    fn node_states_that_pacemaker_ignores_are_reported() {
        let text = cib(
            "",
            STATUS_NODES,
            r##"<node_state uname="n1" crmd="online"/>
<node_state id="9" uname="stranger" crmd="online"/>
<node_state id="7" uname="N2" crmd="online"/>
<node_state id="2" uname="n2" crmd="offline"/>"##,
        );
        let imp = parse_cib(&text, "t.xml").unwrap_or_else(|e| panic!("{e}"));
        // The third matches the configured n2 by name (ignoring case) and takes its id;
        // the fourth is a second state for n2.
        assert_eq!(imp.status.nodes.len(), 1);
        let n2 = &imp.status.nodes[0];
        assert_eq!((n2.id.as_str(), n2.name.as_str()), ("2", "n2"));
        assert_eq!(n2.crmd.as_deref(), Some("online"));
        assert_eq!(imp.notices.len(), 3);
        assert!(imp.notices[2].what.contains("already has a node_state"));
        assert!(imp.notices[0].place.starts_with("t.xml:6:1: <node_state>"));
        assert!(imp.notices[1]
            .what
            .contains("\"stranger\" is not in the configuration"));
    }

    #[test]
    fn unsupported_sections_and_unknown_elements_are_reported() {
        let imp = import(
            r##"<acls/><alerts/><fencing-topology/><tags/><frobnicate/>
<resources><primitive id="a" class="ocf" provider="pacemaker" type="Dummy"><utilization id="u"/><weird/></primitive></resources>"##,
        );
        let what: Vec<&str> = imp.notices.iter().map(|n| n.what.as_str()).collect();
        // An empty fencing topology is imported (as no levels), without a notice.
        assert_eq!(what.len(), 6, "{what:?}");
        assert!(imp.config.fencing_levels.is_empty());
        assert!(what[3].contains("<frobnicate> inside <configuration>"));
        assert!(what[4].contains("utilization"));
        assert!(what[5].contains("<weird> inside <primitive>"));
    }

    /// Levels are read as Pacemaker's fencer reads them: the target by its precedence,
    /// the devices split at commas; a level the fencer ignores is left out with a
    /// notice, and malformed required attributes are problems.
    #[test]
    fn fencing_topology_levels_are_imported() {
        let imp = import(
            r##"<nodes><node id="1" uname="n1"/></nodes>
<resources><primitive id="f1" class="stonith" type="fence_xvm"/><primitive id="f2" class="stonith" type="fence_xvm"/></resources>
<fencing-topology>
  <fencing-level id="l1" target="n1" index="1" devices="f1"/>
  <fencing-level id="l2" target="n1" index="2" devices="f1,f2"/>
  <fencing-level id="l3" target-pattern="^n[0-9]$" index="1" devices="f2"/>
  <fencing-level id="l4" target-attribute="rack" target-value="r1" index="3" devices="f2"/>
  <fencing-level id="l5" target="n1" target-pattern="n.*" index="4" devices="f2"/>
  <fencing-level id="l6" target-attribute="rack" index="1" devices="f2"/>
  <fencing-level id="l7" target="n1" index="10" devices="f2"/>
  <fencing-level id="l8" target="n1" index="5" devices="f2" color="red"/>
  <level/>
</fencing-topology>"##,
        );
        let levels: Vec<(&str, &FencingTarget, u32, Vec<&str>)> = imp
            .config
            .fencing_levels
            .iter()
            .map(|l| {
                let devices = l.devices.iter().map(String::as_str).collect();
                (l.id.as_str(), &l.target, l.index, devices)
            })
            .collect();
        let n1 = FencingTarget::Node("n1".into());
        assert_eq!(
            levels,
            [
                ("l1", &n1, 1, vec!["f1"]),
                ("l2", &n1, 2, vec!["f1", "f2"]),
                (
                    "l3",
                    &FencingTarget::Pattern("^n[0-9]$".into()),
                    1,
                    vec!["f2"]
                ),
                (
                    "l4",
                    &FencingTarget::Attribute {
                        name: "rack".into(),
                        value: "r1".into()
                    },
                    3,
                    vec!["f2"]
                ),
                ("l5", &n1, 4, vec!["f2"]),
                ("l8", &n1, 5, vec!["f2"]),
            ]
        );
        let notices: Vec<String> = imp.notices.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            notices,
            [
                "t.xml:10:3: <fencing-level id=\"l5\">: ignored: target-pattern beside target, as Pacemaker's fencer uses target only",
                "t.xml:11:3: <fencing-level id=\"l6\">: ignored: no target (target, target-pattern, or target-attribute with target-value), as Pacemaker's fencer ignores the level",
                "t.xml:12:3: <fencing-level id=\"l7\">: ignored: index 10 is not a level (1 to 9), as Pacemaker's fencer ignores the level",
                "t.xml:13:3: <fencing-level id=\"l8\">: unknown attribute: color=\"red\" is ignored",
                "t.xml:14:3: <level>: unknown element: <level> inside <fencing-topology> is not imported",
            ]
        );
        assert_eq!(crate::validate::validate(&imp.config), Ok(vec![]));

        let text = cib(
            "",
            r##"<fencing-topology>
<fencing-level id="a" target="n1" devices="f1"/>
<fencing-level id="b" target="n1" index="one" devices="f1"/>
</fencing-topology>"##,
            "",
        );
        let found: Vec<String> = problems(&text).iter().map(|p| p.to_string()).collect();
        assert_eq!(
            found,
            [
                "HALO-E020 t.xml:4:1: <fencing-level id=\"a\">: the required attribute 'index' is missing",
                "HALO-E022 t.xml:5:1: <fencing-level id=\"b\">: index=\"one\" is not a valid integer",
            ]
        );
    }

    #[test]
    fn unknown_attributes_on_constraints_are_reported() {
        let imp = with_constraints(
            r##"<rsc_colocation id="c1" rsc="a" with-rsc="b" score="5" score-attribute-mangle="x"/>"##,
        );
        assert_eq!(imp.config.constraints.len(), 1);
        assert_eq!(imp.notices.len(), 1);
        assert_eq!(
            imp.notices[0].what,
            "unknown attribute: score-attribute-mangle=\"x\" is ignored"
        );
    }

    #[test]
    fn malformed_xml_names_line_and_column() {
        let err = parse_cib("<cib>\n  <configuration>\n  </cib>\n", "bad.xml").unwrap_err();
        let ModelError::Syntax { place, .. } = &err else {
            panic!("expected a syntax error, got {err:?}")
        };
        assert_eq!(place, "bad.xml:3:3");
        assert!(err
            .to_string()
            .starts_with("HALO-E001 bad.xml:3:3: malformed XML"));
    }

    #[test]
    fn invalid_score_names_the_constraint_and_line() {
        let text = cib(
            "",
            &format!(
                "{TWO_DUMMIES}\n<constraints>\n<rsc_location id=\"l1\" rsc=\"a\" node=\"n1\" score=\"abc\"/>\n</constraints>"
            ),
            "",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, "HALO-E021");
        assert_eq!(p[0].place, "t.xml:8:1: <rsc_location id=\"l1\">");
        assert!(p[0].reason.contains("'abc'"), "{}", p[0].reason);
    }

    #[test]
    fn missing_required_attributes_name_the_element() {
        let text = cib(
            "",
            r##"<resources>
  <primitive id="a" class="ocf" provider="pacemaker"/>
  <primitive id="b" class="ocf" type="Dummy"/>
</resources>"##,
            "",
        );
        let p = problems(&text);
        let shown: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "HALO-E020 t.xml:4:3: <primitive id=\"a\">: the required attribute 'type' is missing",
                "HALO-E020 t.xml:5:3: <primitive id=\"b\">: an ocf primitive needs the attribute 'provider'",
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = cib(
            "",
            r##"<resources>
  <primitive id="a" class="ocf" provider="pacemaker" type="Dummy">
    <instance_attributes id="ia"><nvpair id-ref="nowhere"/></instance_attributes>
    <operations><op id="a-mon" name="monitor" interval="often"/></operations>
  </primitive>
  <primitive id="a" class="ocf" provider="pacemaker" type="Dummy"/>
</resources>
<constraints>
  <rsc_colocation id="c1" rsc="a" with-rsc="a" score="1" rsc-role="Boss"/>
  <rsc_order id="o1" first="a" then="a" symmetrical="maybe"/>
  <rsc_location id="l1" rsc="a"><rule id="r" score="1"><expression id="e" attribute="x" operation="like" value="y"/></rule></rsc_location>
</constraints>"##,
            "",
        );
        let p = problems(&text);
        let codes: Vec<&str> = p.iter().map(|p| p.code).collect();
        assert_eq!(
            codes,
            [
                "HALO-E023",
                "HALO-E022",
                "HALO-E024",
                "HALO-E022",
                "HALO-E022",
                "HALO-E022"
            ],
            "{p:#?}"
        );
        assert!(p[0].place.contains("<nvpair id-ref=\"nowhere\">"));
        assert!(p[1].reason.contains("interval=\"often\""));
        assert!(
            p[2].place.starts_with("t.xml:8:3: <primitive id=\"a\">"),
            "{}",
            p[2]
        );
        assert!(p[3].place.contains("<rsc_colocation id=\"c1\">"));
        assert!(p[5].place.contains("<expression id=\"e\">"));
    }

    #[test]
    fn wrong_root_element_is_an_error() {
        let p = problems("<configuration/>");
        assert_eq!(p[0].code, "HALO-E024");
        assert!(p[0].place.starts_with("t.xml:1:1: <configuration>"));
    }
}
