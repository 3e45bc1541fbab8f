//! Agent meta-data: the OCF `<resource-agent>` XML, parsed with roxmltree, and the
//! equivalent description synthesized for LSB scripts, systemd units and builtins.

use serde::Serialize;

use halo_model::Attrs;

use crate::duration::{format_duration, parse_duration};
use crate::error::ExecError;

/// What an agent says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentMetadata {
    pub name: String,
    pub version: Option<String>,
    pub shortdesc: String,
    pub longdesc: String,
    pub parameters: Vec<ParamMeta>,
    pub actions: Vec<ActionMeta>,
}

/// One instance parameter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParamMeta {
    pub name: String,
    pub shortdesc: String,
    pub longdesc: String,
    pub required: bool,
    pub unique: bool,
    pub reloadable: bool,
    pub deprecated: bool,
    /// `string`, `integer`, `boolean`, `select`, ...
    pub content_type: String,
    pub default: Option<String>,
    /// Allowed values of a `select` parameter.
    pub options: Vec<String>,
}

/// One advertised action with its suggested timeout and interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActionMeta {
    pub name: String,
    pub timeout_ms: Option<u64>,
    pub interval_ms: Option<u64>,
    pub depth: Option<String>,
    pub role: Option<String>,
}

impl ActionMeta {
    /// An action a builtin agent advertises: its timeout and, for monitors, interval.
    pub fn new(name: &str, timeout_ms: u64, interval_ms: Option<u64>) -> ActionMeta {
        ActionMeta {
            name: name.into(),
            timeout_ms: Some(timeout_ms),
            interval_ms,
            depth: None,
            role: None,
        }
    }
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(node: Option<roxmltree::Node>) -> String {
    node.map(|n| {
        n.descendants()
            .filter(|d| d.is_text())
            .filter_map(|d| d.text())
            .collect::<String>()
    })
    .map(|s| s.trim().to_string())
    .unwrap_or_default()
}

/// Prefer the English description when several languages are given.
fn desc(node: roxmltree::Node, name: &str) -> String {
    let all: Vec<_> = node
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == name)
        .collect();
    let pick = all
        .iter()
        .find(|n| n.attribute("lang").is_none_or(|l| l.starts_with("en")))
        .or(all.first())
        .copied();
    text_of(pick)
}

fn truthy(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

fn duration_attr(node: roxmltree::Node, attr: &str, agent: &str) -> Result<Option<u64>, ExecError> {
    match node.attribute(attr) {
        None => Ok(None),
        Some(v) => match parse_duration(v) {
            Some(d) => Ok(Some(d.as_millis() as u64)),
            None => Err(ExecError::Metadata {
                agent: agent.to_string(),
                reason: format!(
                    "line {}: action {attr}=\"{v}\" is not a duration",
                    node.document().text_pos_at(node.range().start).row
                ),
            }),
        },
    }
}

impl AgentMetadata {
    /// Parse OCF meta-data XML. `agent` names the agent in errors.
    pub fn parse(xml: &str, agent: &str) -> Result<AgentMetadata, ExecError> {
        let err = |reason: String| ExecError::Metadata {
            agent: agent.to_string(),
            reason,
        };
        let opts = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(xml.trim_start(), opts)
            .map_err(|e| err(format!("not well-formed XML: {e}")))?;
        let root = doc.root_element();
        if root.tag_name().name() != "resource-agent" {
            return Err(err(format!(
                "the root element is <{}>, expected <resource-agent>",
                root.tag_name().name()
            )));
        }
        let mut md = AgentMetadata {
            name: root.attribute("name").unwrap_or_default().to_string(),
            version: root
                .attribute("version")
                .map(str::to_string)
                .or_else(|| child(root, "version").map(|v| text_of(Some(v)))),
            shortdesc: desc(root, "shortdesc"),
            longdesc: desc(root, "longdesc"),
            ..Default::default()
        };
        // Fence agents (fence-agents' fencing.py) give the short description as an
        // attribute of <resource-agent>.
        if md.shortdesc.is_empty() {
            if let Some(s) = root.attribute("shortdesc") {
                md.shortdesc = s.trim().to_string();
            }
        }
        if let Some(params) = child(root, "parameters") {
            for p in params
                .children()
                .filter(|c| c.is_element() && c.tag_name().name() == "parameter")
            {
                let name = p.attribute("name").unwrap_or_default().to_string();
                if name.is_empty() {
                    let row = doc.text_pos_at(p.range().start).row;
                    return Err(err(format!("line {row}: <parameter> without a name")));
                }
                let content = child(p, "content");
                md.parameters.push(ParamMeta {
                    name,
                    shortdesc: desc(p, "shortdesc"),
                    longdesc: desc(p, "longdesc"),
                    required: truthy(p.attribute("required")),
                    unique: truthy(p.attribute("unique")) || p.attribute("unique-group").is_some(),
                    reloadable: truthy(p.attribute("reloadable")),
                    deprecated: truthy(p.attribute("deprecated"))
                        || child(p, "deprecated").is_some(),
                    content_type: content
                        .and_then(|c| c.attribute("type"))
                        .unwrap_or("string")
                        .to_string(),
                    default: content
                        .and_then(|c| c.attribute("default"))
                        .map(str::to_string),
                    options: content
                        .map(|c| {
                            c.children()
                                .filter(|o| o.is_element() && o.tag_name().name() == "option")
                                .filter_map(|o| o.attribute("value").map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
        if let Some(actions) = child(root, "actions") {
            for a in actions
                .children()
                .filter(|c| c.is_element() && c.tag_name().name() == "action")
            {
                md.actions.push(ActionMeta {
                    name: a.attribute("name").unwrap_or_default().to_string(),
                    timeout_ms: duration_attr(a, "timeout", agent)?,
                    interval_ms: duration_attr(a, "interval", agent)?,
                    depth: a.attribute("depth").map(str::to_string),
                    role: a.attribute("role").map(str::to_string),
                });
            }
        }
        Ok(md)
    }

    /// Whether the agent advertises `action`.
    pub fn supports(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a.name == action)
    }

    /// The advertised timeout of `action` (for `monitor`, the entry with the same
    /// interval if there is one).
    pub fn timeout_for(&self, action: &str, interval_ms: u64) -> Option<std::time::Duration> {
        let mut candidates = self.actions.iter().filter(|a| a.name == action);
        let exact = candidates
            .clone()
            .find(|a| a.interval_ms.unwrap_or(0) == interval_ms);
        exact
            .or_else(|| candidates.next())
            .and_then(|a| a.timeout_ms)
            .map(std::time::Duration::from_millis)
    }

    /// Problems of a parameter set against this description: missing required
    /// parameters, unknown names, values outside a `select`'s options.
    pub fn check_params(&self, params: &Attrs) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.parameters {
            if p.required && !params.contains_key(&p.name) {
                out.push(format!("required parameter \"{}\" is missing", p.name));
            }
            if let Some(v) = params.get(&p.name) {
                if !p.options.is_empty() && !p.options.iter().any(|o| o == v) {
                    out.push(format!(
                        "parameter \"{}\" is \"{v}\", expected one of: {}",
                        p.name,
                        p.options.join(", ")
                    ));
                }
            }
        }
        for name in params.keys() {
            if !self.parameters.iter().any(|p| &p.name == name) {
                out.push(format!(
                    "parameter \"{name}\" is not known to {}",
                    self.name
                ));
            }
        }
        out
    }

    /// Render as OCF meta-data XML (what builtins print for `meta-data`).
    pub fn to_xml(&self) -> String {
        let mut s = String::new();
        s.push_str("<?xml version=\"1.0\"?>\n");
        s.push_str(&format!(
            "<resource-agent name=\"{}\" version=\"{}\">\n",
            esc(&self.name),
            esc(self.version.as_deref().unwrap_or("1.0"))
        ));
        s.push_str("  <version>1.1</version>\n");
        s.push_str(&format!(
            "  <longdesc lang=\"en\">{}</longdesc>\n  <shortdesc lang=\"en\">{}</shortdesc>\n",
            esc(&self.longdesc),
            esc(&self.shortdesc)
        ));
        s.push_str("  <parameters>\n");
        for p in &self.parameters {
            s.push_str(&format!(
                "    <parameter name=\"{}\" required=\"{}\" unique=\"{}\" reloadable=\"{}\">\n",
                esc(&p.name),
                p.required as u8,
                p.unique as u8,
                p.reloadable as u8
            ));
            if p.deprecated {
                s.push_str("      <deprecated/>\n");
            }
            s.push_str(&format!(
                "      <longdesc lang=\"en\">{}</longdesc>\n      <shortdesc lang=\"en\">{}</shortdesc>\n",
                esc(&p.longdesc),
                esc(&p.shortdesc)
            ));
            let default = p
                .default
                .as_ref()
                .map(|d| format!(" default=\"{}\"", esc(d)))
                .unwrap_or_default();
            if p.options.is_empty() {
                s.push_str(&format!(
                    "      <content type=\"{}\"{default}/>\n",
                    esc(&p.content_type)
                ));
            } else {
                s.push_str(&format!(
                    "      <content type=\"{}\"{default}>\n",
                    esc(&p.content_type)
                ));
                for o in &p.options {
                    s.push_str(&format!("        <option value=\"{}\"/>\n", esc(o)));
                }
                s.push_str("      </content>\n");
            }
            s.push_str("    </parameter>\n");
        }
        s.push_str("  </parameters>\n  <actions>\n");
        for a in &self.actions {
            s.push_str(&format!("    <action name=\"{}\"", esc(&a.name)));
            if let Some(t) = a.timeout_ms {
                s.push_str(&format!(
                    " timeout=\"{}\"",
                    format_duration(std::time::Duration::from_millis(t))
                ));
            }
            if let Some(i) = a.interval_ms {
                s.push_str(&format!(
                    " interval=\"{}\"",
                    format_duration(std::time::Duration::from_millis(i))
                ));
            }
            if let Some(d) = &a.depth {
                s.push_str(&format!(" depth=\"{}\"", esc(d)));
            }
            if let Some(r) = &a.role {
                s.push_str(&format!(" role=\"{}\"", esc(r)));
            }
            s.push_str("/>\n");
        }
        s.push_str("  </actions>\n</resource-agent>\n");
        s
    }

    /// Describe an LSB init script from its `### BEGIN INIT INFO` header.
    pub fn from_lsb_script(name: &str, script: &str) -> AgentMetadata {
        let mut short = String::new();
        let mut long = String::new();
        let mut in_header = false;
        let mut in_desc = false;
        for line in script.lines() {
            let l = line.trim_end();
            if l.starts_with("### BEGIN INIT INFO") {
                in_header = true;
                continue;
            }
            if l.starts_with("### END INIT INFO") {
                break;
            }
            if !in_header {
                continue;
            }
            if let Some(v) = l.strip_prefix("# Short-Description:") {
                short = v.trim().to_string();
                in_desc = false;
            } else if let Some(v) = l.strip_prefix("# Description:") {
                long = v.trim().to_string();
                in_desc = true;
            } else if in_desc && (l.starts_with("#\t") || l.starts_with("#  ")) {
                long.push(' ');
                long.push_str(l[1..].trim());
            } else {
                in_desc = false;
            }
        }
        let act = |n: &str, t: u64| ActionMeta {
            name: n.to_string(),
            timeout_ms: Some(t),
            ..Default::default()
        };
        AgentMetadata {
            name: name.to_string(),
            version: Some("1.0".into()),
            shortdesc: short,
            longdesc: long,
            parameters: Vec::new(),
            actions: vec![
                act("meta-data", 5000),
                act("start", 15000),
                act("stop", 15000),
                act("status", 15000),
                act("restart", 15000),
                act("force-reload", 15000),
                ActionMeta {
                    name: "monitor".into(),
                    timeout_ms: Some(15000),
                    interval_ms: Some(15000),
                    ..Default::default()
                },
            ],
        }
    }

    /// Describe a systemd unit (systemd units take no parameters).
    pub fn for_systemd_unit(unit: &str) -> AgentMetadata {
        let act = |n: &str, t: u64, i: Option<u64>| ActionMeta {
            name: n.to_string(),
            timeout_ms: Some(t),
            interval_ms: i,
            ..Default::default()
        };
        AgentMetadata {
            name: unit.to_string(),
            version: Some("1.0".into()),
            shortdesc: format!("systemd unit file for {unit}"),
            longdesc: format!("Cluster-controlled systemd unit {unit}"),
            parameters: Vec::new(),
            actions: vec![
                act("start", 100_000, None),
                act("stop", 100_000, None),
                act("status", 100_000, None),
                act("monitor", 100_000, Some(60_000)),
                act("meta-data", 5000, None),
            ],
        }
    }
}

/// Escape text for XML attribute values and content.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            _ => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Thing" version="2.0">
<version>1.1</version>
<longdesc lang="en">Long
 text.</longdesc>
<shortdesc lang="de">Ding</shortdesc>
<shortdesc lang="en">A thing</shortdesc>
<parameters>
<parameter name="ip" unique="1" required="1">
<longdesc lang="en">The address</longdesc>
<shortdesc lang="en">IP</shortdesc>
<content type="string"/>
</parameter>
<parameter name="mode" reloadable="1">
<deprecated/>
<shortdesc lang="en">Mode</shortdesc>
<content type="select" default="a"><option value="a"/><option value="b"/></content>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="monitor" timeout="10" interval="10s" depth="0"/>
<action name="monitor" timeout="30s" interval="20s" role="Promoted"/>
<action name="meta-data" timeout="5s"/>
</actions>
</resource-agent>"#;

    #[test]
    fn parses_ocf_metadata() {
        let m = AgentMetadata::parse(XML, "ocf:x:Thing").unwrap();
        assert_eq!(m.name, "Thing");
        assert_eq!(m.shortdesc, "A thing");
        assert_eq!(m.parameters.len(), 2);
        assert!(m.parameters[0].required && m.parameters[0].unique);
        let mode = &m.parameters[1];
        assert!(mode.reloadable && mode.deprecated);
        assert_eq!(mode.default.as_deref(), Some("a"));
        assert_eq!(mode.options, vec!["a", "b"]);
        assert_eq!(m.timeout_for("start", 0).unwrap().as_secs(), 20);
        assert_eq!(m.timeout_for("monitor", 20_000).unwrap().as_secs(), 30);
        assert_eq!(m.timeout_for("monitor", 0).unwrap().as_secs(), 10);
        assert!(m.supports("meta-data") && !m.supports("promote"));
    }

    #[test]
    fn checks_params() {
        let m = AgentMetadata::parse(XML, "ocf:x:Thing").unwrap();
        let mut p = Attrs::new();
        p.insert("mode".into(), "c".into());
        p.insert("bogus".into(), "1".into());
        let problems = m.check_params(&p);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("\"ip\" is missing"));
    }

    #[test]
    fn round_trips_through_xml() {
        let m = AgentMetadata::parse(XML, "ocf:x:Thing").unwrap();
        let again = AgentMetadata::parse(&m.to_xml(), "again").unwrap();
        assert_eq!(again.parameters, m.parameters);
        assert_eq!(again.actions, m.actions);
    }

    #[test]
    fn bad_xml_is_a_clear_error() {
        let e = AgentMetadata::parse("garbage <<", "ocf:x:y")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ocf:x:y") && e.contains("not well-formed"),
            "{e}"
        );
        let e = AgentMetadata::parse("<html/>", "ocf:x:y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("<html>"), "{e}");
        let bad = XML.replace("timeout=\"20s\"", "timeout=\"soon\"");
        let e = AgentMetadata::parse(&bad, "ocf:x:y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line ") && e.contains("soon"), "{e}");
    }

    #[test]
    fn lsb_header() {
        let script = "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: foo\n# Short-Description: Foo daemon\n# Description: Runs foo\n#  for tests.\n### END INIT INFO\n";
        let m = AgentMetadata::from_lsb_script("foo", script);
        assert_eq!(m.shortdesc, "Foo daemon");
        assert_eq!(m.longdesc, "Runs foo for tests.");
        assert!(m.supports("status"));
    }
}
