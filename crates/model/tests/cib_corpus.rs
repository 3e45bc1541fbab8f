//! The CIB importer against Pacemaker's own scheduler regression inputs
//! (`<repo>/../shared/pacemaker-scheduler/cases/*.xml`).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use halo_model::cib::constraint_resources;
use halo_model::{parse_cib, CibImport, Config, Resource};

fn corpus_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/pacemaker-scheduler/cases"
    ))
    .to_path_buf()
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

fn count_primitives(r: &Resource) -> usize {
    match r {
        Resource::Primitive(_) => 1,
        Resource::Group(g) => g.members.len(),
        Resource::Clone(c) => count_primitives(&c.child),
    }
}
