//! Fail counts per resource, node and operation (Pacemaker's `fail-count-RSC#OP_MS`).

use std::collections::BTreeMap;

use serde::Serialize;

/// What a fail count is kept for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FailKey {
    pub resource: String,
    pub node: String,
    pub operation: String,
    pub interval_ms: u64,
}

impl FailKey {
    /// The node attribute name Pacemaker uses: `fail-count-RSC#OP_INTERVAL`.
    pub fn attribute_name(&self) -> String {
        format!(
            "fail-count-{}#{}_{}",
            self.resource, self.operation, self.interval_ms
        )
    }
}

/// A count and when the last failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FailCount {
    pub count: u32,
    pub last_failure_ms: i64,
}

/// The fail counts of one node.
#[derive(Debug, Clone, Default)]
pub struct FailCounts {
    counts: BTreeMap<FailKey, FailCount>,
}

impl FailCounts {
    /// Count one failure; returns the new count.
    pub fn increment(&mut self, key: FailKey, now_ms: i64) -> FailCount {
        let e = self.counts.entry(key).or_insert(FailCount {
            count: 0,
            last_failure_ms: now_ms,
        });
        e.count = e.count.saturating_add(1);
        e.last_failure_ms = now_ms;
        *e
    }

    pub fn get(&self, key: &FailKey) -> Option<FailCount> {
        self.counts.get(key).copied()
    }

    /// The total over every operation of a resource (what migration-threshold uses).
    pub fn total(&self, resource: &str) -> u32 {
        self.counts
            .iter()
            .filter(|(k, _)| k.resource == resource)
            .map(|(_, v)| v.count)
            .fold(0u32, u32::saturating_add)
    }

    /// Forget the counts of one resource, or of all; returns how many were removed.
    pub fn clear(&mut self, resource: Option<&str>) -> usize {
        let before = self.counts.len();
        self.counts
            .retain(|k, _| resource.is_some_and(|r| k.resource != r));
        before - self.counts.len()
    }

    pub fn all(&self) -> Vec<(FailKey, FailCount)> {
        self.counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(r: &str, op: &str) -> FailKey {
        FailKey {
            resource: r.into(),
            node: "n1".into(),
            operation: op.into(),
            interval_ms: 0,
        }
    }

    #[test]
    fn counts_and_clears() {
        let mut f = FailCounts::default();
        f.increment(key("a", "start"), 1);
        let c = f.increment(key("a", "start"), 2);
        assert_eq!(c.count, 2);
        assert_eq!(c.last_failure_ms, 2);
        f.increment(key("a", "monitor"), 3);
        f.increment(key("b", "start"), 3);
        assert_eq!(f.total("a"), 3);
        assert_eq!(f.clear(Some("a")), 2);
        assert_eq!(f.total("a"), 0);
        assert_eq!(f.total("b"), 1);
        assert_eq!(f.clear(None), 1);
        assert_eq!(key("a", "start").attribute_name(), "fail-count-a#start_0");
    }
}
