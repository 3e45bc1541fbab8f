//! The CIB importer against Pacemaker's own scheduler regression inputs
//! (`<repo>/../shared/pacemaker-scheduler/cases/*.xml`).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use halo_model::cib::constraint_resources;
use halo_model::{parse_cib, validate, CibImport, Config, FencingTarget, Resource};

fn corpus_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/pacemaker-scheduler/cases"
    ))
    .to_path_buf()
}

/// The tier of each case (MANIFEST.tsv beside the cases: name, tier, ...).
fn tiers() -> BTreeMap<String, String> {
    let manifest = corpus_dir().join("../MANIFEST.tsv");
    let text = fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split('\t');
            Some((cols.next()?.to_string(), cols.next()?.to_string()))
        })
        .collect()
}

fn cases() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    files
}

/// The kind of a notice: the element it is about and the category before the first ':'.
fn notice_kind(place: &str, what: &str) -> String {
    let element = place
        .rsplit_once('<')
        .map(|(_, e)| e.split([' ', '>']).next().unwrap_or(""))
        .unwrap_or("");
    let category = what.split(':').next().unwrap_or(what);
    format!("<{element}> {category}")
}

/// Every constraint names only resources that exist in the imported configuration.
fn assert_constraints_resolve(name: &str, config: &Config) {
    let ids: HashSet<&str> = config.all_resource_ids().into_iter().collect();
    for c in &config.constraints {
        for r in constraint_resources(c) {
            assert!(
                ids.contains(r),
                "{name}: constraint {} names unknown resource {r}",
                c.id()
            );
        }
    }
}

/// Every recorded node state belongs to a configured node.
fn assert_states_match_nodes(name: &str, imp: &CibImport) {
    for s in &imp.status.nodes {
        assert!(
            imp.config
                .nodes
                .iter()
                .any(|n| n.id == s.id || n.name == s.name),
            "{name}: node_state {} ({}) matches no configured node",
            s.id,
            s.name
        );
    }
}

/// Every case of the corpus imports without error; constraints and node states refer to
/// things that exist; every constraint or resource left out is reported by a notice.
#[test]
fn cib_corpus_every_case_imports() {
    let files = cases();
    assert!(
        files.len() >= 300,
        "expected the whole corpus, found {} cases",
        files.len()
    );
    let mut failures = Vec::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut totals = (0, 0, 0, 0);
    for path in &files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = fs::read_to_string(path).expect("corpus file readable");
        let imp = match parse_cib(&text, &format!("{name}.xml")) {
            Ok(imp) => imp,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        assert_constraints_resolve(&name, &imp.config);
        assert_states_match_nodes(&name, &imp);
        let in_xml = text.matches("<rsc_location").count()
            + text.matches("<rsc_colocation").count()
            + text.matches("<rsc_order").count()
            + text.matches("<rsc_ticket").count();
        let reported = imp
            .notices
            .iter()
            .filter(|n| {
                [
                    "<rsc_location",
                    "<rsc_colocation",
                    "<rsc_order",
                    "<rsc_ticket",
                ]
                .iter()
                .any(|t| n.place.contains(t))
                    && !n.what.starts_with("not supported: resource-discovery")
                    && !n.what.starts_with("unknown node")
                    && !n.what.starts_with("not supported: node-attribute")
                    && !n.what.starts_with("not supported: influence")
                    && !n.what.starts_with("unknown value")
                    && !n.what.starts_with("ignored: the deprecated")
            })
            .count();
        assert!(
            imp.config.constraints.len() + reported >= in_xml,
            "{name}: {in_xml} constraints in the XML, {} imported and only {reported} reported",
            imp.config.constraints.len()
        );
        totals.0 += 1;
        totals.1 += imp.config.all_resource_ids().len();
        totals.2 += imp.config.constraints.len();
        totals.3 += imp
            .status
            .nodes
            .iter()
            .map(|n| n.resources.len())
            .sum::<usize>();
        for n in &imp.notices {
            *kinds.entry(notice_kind(&n.place, &n.what)).or_default() += 1;
        }
        // Resources that were left out are reported.
        let in_xml = text.matches("<primitive").count();
        let imported = imp
            .config
            .resources
            .iter()
            .map(count_primitives)
            .sum::<usize>();
        assert!(
            imported == in_xml || !imp.notices.is_empty(),
            "{name}: {in_xml} primitives in the XML, {imported} imported, nothing reported"
        );
    }
    println!(
        "imported {} cases: {} resources, {} constraints, {} resource histories",
        totals.0, totals.1, totals.2, totals.3
    );
    println!("notices by kind:");
    for (kind, count) in &kinds {
        println!("  {count:5}  {kind}");
    }
    assert!(
        failures.is_empty(),
        "import failed:\n{}",
        failures.join("\n")
    );
}

/// The `Current cluster status` section of a summary: the node names, for each top-level
/// resource its id and the clone flags shown (`(promotable)`, `(unique)`), and the nodes
/// shown in standby.
fn current_status(summary: &str) -> Shown {
    let mut nodes = HashSet::new();
    let mut standby = HashSet::new();
    let mut resources = Vec::new();
    let section = summary
        .lines()
        .skip_while(|l| !l.starts_with("Current cluster status:"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '));
    for line in section {
        let Some(item) = line.strip_prefix("    * ") else {
            continue;
        };
        if let Some(rest) = item
            .strip_prefix("Online: [")
            .or_else(|| item.strip_prefix("OFFLINE: ["))
        {
            nodes.extend(
                rest.trim_end_matches(']')
                    .split_whitespace()
                    .map(String::from),
            );
        } else if let Some(rest) = item.strip_prefix("Node ") {
            if let Some((name, state)) = rest.split_once(':') {
                nodes.insert(name.to_string());
                if state.contains("standby") {
                    standby.insert(name.to_string());
                }
            }
        } else if let Some(rest) = item.strip_prefix("Resource Group: ") {
            let id = rest
                .trim_end_matches(':')
                .split_whitespace()
                .next()
                .unwrap_or("");
            resources.push((id.to_string(), false, false));
        } else if let Some(rest) = item.strip_prefix("Clone Set: ") {
            // "ID [CHILD] (promotable, unique, disabled):"
            let id = rest.split_whitespace().next().unwrap_or("").to_string();
            let flags = rest
                .rsplit_once('(')
                .filter(|_| rest.trim_end_matches(':').ends_with(')'))
                .map(|(_, f)| f.trim_end_matches(':').trim_end_matches(')'))
                .unwrap_or("");
            let flags: Vec<&str> = flags.split(", ").collect();
            resources.push((id, flags.contains(&"promotable"), flags.contains(&"unique")));
        } else if let Some((id, _)) = item.split_once('\t') {
            if !item.contains("ORPHANED") {
                resources.push((id.to_string(), false, false));
            }
        }
    }
    Shown {
        nodes,
        resources,
        standby,
    }
}

/// What crm_simulate shows of the current state.
struct Shown {
    nodes: HashSet<String>,
    /// (id, promotable, globally unique)
    resources: Vec<(String, bool, bool)>,
    standby: HashSet<String>,
}

/// The nodes, standby nodes and top-level resources (with promotable and globally-unique
/// flags) that crm_simulate shows for each case are those the importer produced: the
/// configuration and node attributes are read as Pacemaker reads them.
#[test]
fn cib_corpus_matches_crm_simulate_view_of_nodes_and_resources() {
    let mut mismatches = Vec::new();
    let tiers = tiers();
    let mut later = Vec::new();
    for path in cases() {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Tier 3 (templates, tags, bundles, remote nodes, ...) is imported only in part
        // so far: its differences are reported, not required to be none.
        let required = tiers.get(&name).is_none_or(|t| t != "3");
        let before = mismatches.len();
        let text = fs::read_to_string(&path).expect("corpus file readable");
        let summary = fs::read_to_string(path.with_extension("summary")).expect("summary readable");
        let Ok(imp) = parse_cib(&text, &name) else {
            continue; // reported by cib_corpus_every_case_imports
        };
        let Shown {
            nodes,
            resources,
            standby,
        } = current_status(&summary);
        // Standby as Pacemaker sees it: transient attributes override permanent ones.
        let ours: HashSet<String> = imp
            .config
            .nodes
            .iter()
            .filter(|n| {
                let transient = imp.status.nodes.iter().find(|s| s.id == n.id);
                let value = transient
                    .and_then(|s| s.attrs.get("standby"))
                    .or_else(|| n.attrs.get("standby"));
                value.is_some_and(|v| {
                    ["true", "on", "yes", "y", "1"].contains(&v.to_lowercase().as_str())
                })
            })
            .map(|n| n.name.clone())
            .collect();
        if ours != standby {
            mismatches.push(format!("{name}: standby nodes {ours:?} != {standby:?}"));
        }
        let ours: HashSet<String> = imp.config.nodes.iter().map(|n| n.name.clone()).collect();
        if ours != nodes {
            mismatches.push(format!("{name}: nodes {ours:?} != {nodes:?}"));
        }
        let ours: Vec<(String, bool, bool)> = imp
            .config
            .resources
            .iter()
            .map(|r| match r {
                Resource::Clone(c) => (
                    c.id.clone(),
                    c.promotable,
                    c.meta.get("globally-unique").is_some_and(|v| {
                        ["true", "on", "yes", "y", "1"].contains(&v.to_lowercase().as_str())
                    }) && unique_capable(&c.child),
                ),
                other => (other.id().to_string(), false, false),
            })
            .collect();
        let mut sorted_ours = ours.clone();
        sorted_ours.sort();
        let mut theirs = resources.clone();
        theirs.sort();
        if sorted_ours != theirs {
            mismatches.push(format!("{name}: resources {ours:?} != {resources:?}"));
        }
        if !required {
            later.extend(mismatches.drain(before..));
        }
    }
    if !later.is_empty() {
        eprintln!(
            "tier 3 cases whose view differs (not imported yet): {}",
            later.len()
        );
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Pacemaker makes a clone anonymous whatever its `globally-unique` says when a resource
/// in it has an agent class without unique instances (anything but OCF and stonith).
fn unique_capable(r: &Resource) -> bool {
    let capable = |class: &str| matches!(class, "ocf" | "stonith");
    match r {
        Resource::Primitive(p) => capable(&p.agent.class),
        Resource::Group(g) => g.members.iter().all(|m| capable(&m.agent.class)),
        Resource::Clone(c) => unique_capable(&c.child),
    }
}

fn count_primitives(r: &Resource) -> usize {
    match r {
        Resource::Primitive(_) => 1,
        Resource::Group(g) => g.members.len(),
        Resource::Clone(c) => count_primitives(&c.child),
    }
}

/// Cutting a CIB anywhere gives an error or a result, never a panic; a cut inside the
/// document is reported as malformed XML with a line and column.
#[test]
fn cib_corpus_truncated_inputs_never_panic() {
    for path in cases().iter().step_by(40) {
        let text = fs::read_to_string(path).expect("corpus file readable");
        let cuts = (1..text.len()).step_by((text.len() / 97).max(1));
        for cut in cuts.filter(|&c| text.is_char_boundary(c)) {
            let part = &text[..cut];
            if let Err(halo_model::ModelError::Syntax { place, .. }) = parse_cib(part, "cut.xml") {
                let mut it = place.rsplitn(3, ':');
                let col = it.next().and_then(|c| c.parse::<u32>().ok());
                let line = it.next().and_then(|l| l.parse::<u32>().ok());
                assert!(
                    col.is_some() && line.is_some(),
                    "{}: cut at {cut}: place without line:col: {place}",
                    path.display()
                );
            }
        }
    }
}

/// Every fencing level of the corpus is imported (none of them is one Pacemaker's
/// fencer ignores), names only configured fence devices, and validates; levels for
/// nodes halo does not import (remote nodes) are notices of validation.
#[test]
fn cib_corpus_fencing_topologies_import() {
    let mut cases_with_levels = 0;
    for path in cases() {
        let text = fs::read_to_string(&path).expect("corpus file readable");
        let in_xml = text.matches("<fencing-level ").count();
        if in_xml == 0 {
            continue;
        }
        cases_with_levels += 1;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let imp = parse_cib(&text, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(imp.config.fencing_levels.len(), in_xml, "{name}");
        assert!(
            !imp.notices.iter().any(|n| n.place.contains("<fencing")),
            "{name}: {:?}",
            imp.notices
        );
        if let Err(e) = validate(&imp.config) {
            panic!("{name}: {e}");
        }
    }
    assert_eq!(cases_with_levels, 18, "cases with fencing levels");

    // One case in detail: levels by node, two devices in order, a node attribute.
    let path = corpus_dir().join("colocation-vs-stickiness.xml");
    let text = fs::read_to_string(&path).expect("corpus file readable");
    let imp = parse_cib(&text, "colocation-vs-stickiness.xml").expect("imports");
    let levels = &imp.config.fencing_levels;
    assert_eq!(levels.len(), 16);
    let first = &levels[0];
    assert_eq!(first.id, "cts-rhel7-1.1");
    assert_eq!(first.target, FencingTarget::Node("rhel7-1".into()));
    assert_eq!(
        (first.index, first.devices.as_slice()),
        (1, &["FencingFail".to_string()][..])
    );
    let second = &levels[1];
    assert_eq!((second.id.as_str(), second.index), ("cts-rhel7-1.2", 2));
    assert_eq!(second.devices, ["Fencing"]);
    let both = levels
        .iter()
        .find(|l| l.id == "cts-rhel7-3.1")
        .expect("cts-rhel7-3.1");
    assert_eq!(both.devices, ["FencingPass", "Fencing"]);
    let last = levels.last().expect("levels");
    assert_eq!(last.id, "cts-fencing-levels-and.1");
    assert_eq!(
        last.target,
        FencingTarget::Attribute {
            name: "cts-fencing".into(),
            value: "levels-and".into()
        }
    );
    // The remote nodes are not imported: their levels are kept, with a notice each.
    let notices = validate(&imp.config).expect("valid");
    let remote: Vec<&str> = notices
        .iter()
        .filter(|n| n.place.starts_with("fencing-level"))
        .map(|n| n.what.as_str())
        .collect();
    assert_eq!(remote.len(), 8, "{remote:#?}");
    assert_eq!(
        remote[0],
        "node \"remote-rhel7-1\" is not configured; the level applies if it joins"
    );
}
