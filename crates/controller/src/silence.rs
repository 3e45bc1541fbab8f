//! How long a lost node has surely been without contact with a quorate DC, judged from
//! what the reachable nodes last heard of it (the argument is in ARCHITECTURE.md, "Why
//! two nodes never run the same resource"). Pure: the DC's shell gathers the reports.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What one node last heard from the others, as the DC received it.
#[derive(Debug, Clone)]
pub struct Report {
    /// When the DC asked (reports asked before a node was lost say nothing of its end).
    pub asked: Instant,
    /// When the answer arrived.
    pub received: Instant,
    /// Per member, how long before answering the reporter last heard from it.
    pub ages: BTreeMap<String, Duration>,
}

impl Report {
    /// No later than this, on the DC's clock, the reporter last heard from `node`
    /// (`None`: not since it started). Its ages are read as if its clock ran fast.
    fn heard(&self, node: &str, drift: f64) -> Option<Instant> {
        let age = self.ages.get(node)?.mul_f64(1.0 - drift);
        Some(self.received.checked_sub(age).unwrap_or(self.received))
    }
}

/// What the DC knows when judging a lost node.
#[derive(Debug)]
pub struct View<'a> {
    /// Every member, and the voters among them.
    pub members: &'a BTreeSet<String>,
    pub voters: &'a BTreeSet<String>,
    /// Reports by reporter, this DC's own included.
    pub reports: &'a BTreeMap<String, Report>,
    /// When this node began acting as DC.
    pub acting_since: Instant,
    /// When this DC last heard from the lost node itself.
    pub own_heard: Option<Instant>,
    /// How long after a quorum acknowledged it a leader answers as quorate.
    pub dc_lease: Duration,
    pub drift: f64,
}

/// The latest instant, on the DC's clock, at which `node` (lost since `lost_since`) may
/// have had contact with a quorate DC.
///
/// Without the others' word: its contact with this DC was no later than this DC last
/// heard from it, and any contact with an earlier DC came before this one began to act
/// (that DC's lease ended before this one was elected). With reports asked after the node
/// was lost from a majority of the voters: if it was a leader, the last heartbeat a quorum
/// acknowledged reached one of them; if it was answered by a leader that reports, that
/// leader heard its ping; if by one that does not report, that leader was quorate at most
/// `dc_lease` after its own last acknowledged heartbeat, which again reached a reporter.
/// Both bounds hold, so the earlier one is taken.
pub fn last_possible_contact(node: &str, lost_since: Instant, v: &View) -> Instant {
    let fallback = v
        .own_heard
        .map_or(v.acting_since, |h| h.max(v.acting_since));
    let usable: BTreeMap<&String, &Report> = v
        .reports
        .iter()
        .filter(|(_, r)| r.asked >= lost_since && r.asked >= v.acting_since)
        .collect();
    let reporting_voters = v.voters.iter().filter(|n| usable.contains_key(n)).count();
    if reporting_voters * 2 <= v.voters.len() {
        return fallback;
    }
    // The latest any reporter heard from `x`; unknown if one has not heard from it.
    let heard = |x: &str| -> Option<Instant> {
        usable
            .values()
            .map(|r| r.heard(x, v.drift))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    };
    let Some(mut bound) = heard(node) else {
        return fallback;
    };
    for other in v.members {
        if other == node || usable.contains_key(other) {
            continue;
        }
        let Some(h) = heard(other) else {
            return fallback;
        };
        bound = bound.max(h + v.dc_lease);
    }
    bound.min(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> BTreeSet<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn report(at: Instant, asked: Instant, ages: &[(&str, u64)]) -> Report {
        Report {
            asked,
            received: at,
            ages: ages
                .iter()
                .map(|(n, ms)| (n.to_string(), Duration::from_millis(*ms)))
                .collect(),
        }
    }

    /// A DC that took over from a dead leader `a` counts from when the others last
    /// heard `a`, not from its own election.
    #[test]
    fn reports_of_a_majority_bound_a_dead_leader() {
        let t0 = Instant::now();
        let members = names(&["a", "b", "c"]);
        let lost = t0 + Duration::from_millis(500);
        let acting = t0 + Duration::from_millis(900);
        let now = t0 + Duration::from_millis(1000);
        let mut reports = BTreeMap::new();
        // c (the DC) last heard a at t0+100, b at t0+120.
        reports.insert("c".to_string(), report(now, now, &[("a", 900), ("b", 10)]));
        reports.insert("b".to_string(), report(now, now, &[("a", 880), ("c", 10)]));
        let v = View {
            members: &members,
            voters: &members,
            reports: &reports,
            acting_since: acting,
            own_heard: Some(t0 + Duration::from_millis(100)),
            dc_lease: Duration::from_millis(150),
            drift: 0.0,
        };
        assert_eq!(
            last_possible_contact("a", lost, &v),
            t0 + Duration::from_millis(120)
        );
    }

    /// Without a majority of voters reporting, or with a report asked before the node
    /// was lost, only the DC's own knowledge counts.
    #[test]
    fn too_few_or_stale_reports_fall_back() {
        let t0 = Instant::now();
        let members = names(&["a", "b", "c", "d", "e"]);
        let lost = t0 + Duration::from_millis(500);
        let acting = t0 + Duration::from_millis(900);
        let now = t0 + Duration::from_millis(1000);
        let mut reports = BTreeMap::new();
        reports.insert("c".to_string(), report(now, now, &[("a", 900)]));
        reports.insert("b".to_string(), report(now, now, &[("a", 900)]));
        // d asked before a was lost: it does not count.
        reports.insert("d".to_string(), report(now, t0, &[("a", 900)]));
        let v = View {
            members: &members,
            voters: &members,
            reports: &reports,
            acting_since: acting,
            own_heard: Some(t0 + Duration::from_millis(100)),
            dc_lease: Duration::from_millis(150),
            drift: 0.0,
        };
        assert_eq!(last_possible_contact("a", lost, &v), acting);
    }

    /// A follower may have been answered by a leader that is silent too: its contact
    /// may come up to a lease after that leader was last heard.
    #[test]
    fn a_silent_leader_extends_the_bound_by_its_lease() {
        let t0 = Instant::now();
        let members = names(&["a", "b", "c", "d", "e"]);
        let lost = t0 + Duration::from_millis(500);
        let acting = t0 + Duration::from_millis(2000);
        let now = t0 + Duration::from_millis(2000);
        let mut reports = BTreeMap::new();
        for r in ["c", "d", "e"] {
            // a last heard at t0+100, b (also silent) at t0+300.
            reports.insert(r.to_string(), report(now, now, &[("a", 1900), ("b", 1700)]));
        }
        let v = View {
            members: &members,
            voters: &members,
            reports: &reports,
            acting_since: acting,
            own_heard: Some(t0 + Duration::from_millis(100)),
            dc_lease: Duration::from_millis(150),
            drift: 0.0,
        };
        assert_eq!(
            last_possible_contact("a", lost, &v),
            t0 + Duration::from_millis(450)
        );
        // A reporter that never heard from a node cannot bound it.
        let mut reports = reports.clone();
        reports.insert("e".to_string(), report(now, now, &[("b", 1700)]));
        let v = View {
            reports: &reports,
            ..v
        };
        assert_eq!(last_possible_contact("a", lost, &v), acting);
    }

    /// A reporter's ages are read as if its clock ran fast: the bound moves later.
    #[test]
    fn drift_moves_the_bound_later() {
        let t0 = Instant::now();
        let members = names(&["a", "b", "c"]);
        let now = t0 + Duration::from_millis(1000);
        let mut reports = BTreeMap::new();
        reports.insert("c".to_string(), report(now, now, &[("a", 1000)]));
        reports.insert("b".to_string(), report(now, now, &[("a", 1000)]));
        let v = View {
            members: &members,
            voters: &members,
            reports: &reports,
            acting_since: now,
            own_heard: Some(t0),
            dc_lease: Duration::from_millis(150),
            drift: 0.05,
        };
        assert_eq!(
            last_possible_contact("a", t0, &v),
            t0 + Duration::from_millis(50)
        );
    }
}
