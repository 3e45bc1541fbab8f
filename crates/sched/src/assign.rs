//! Assigning resources to nodes: allowed-node scores, colocation, stickiness,
//! load spreading (Pacemaker's assignment semantics).

use std::cmp::Ordering;

use halo_model::{Role, Score, INFINITY};

use crate::cluster::{Cluster, NodeId, RscId, Variant};

/// Pacemaker marks a node unusable during merging with this sentinel.
const INFINITY_HACK: i64 = INFINITY * -100;

fn add(a: i64, b: i64) -> i64 {
    Score::new(a).plus(Score::new(b)).value()
}

/// Node table: score per node, `None` when the node is not in the table.
pub type Table = Vec<Option<i64>>;

impl Cluster {
    fn any_available(&self, t: &Table) -> bool {
        t.iter()
            .enumerate()
            .any(|(n, w)| matches!(w, Some(w) if *w >= 0) && self.nodes[n].available())
    }

    /// Nodes of a table sorted best first (Pacemaker's `pcmk__sort_nodes`).
    pub fn sort_nodes(&self, t: &Table, active: Option<NodeId>) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = (0..t.len()).filter(|&n| t[n].is_some()).collect();
        v.sort_by(|&a, &b| self.cmp_nodes(t, a, b, active));
        v
    }

    fn cmp_nodes(&self, t: &Table, a: NodeId, b: NodeId, active: Option<NodeId>) -> Ordering {
        let wa = if self.nodes[a].available() {
            t[a].unwrap_or(-INFINITY)
        } else {
            -INFINITY
        };
        let wb = if self.nodes[b].available() {
            t[b].unwrap_or(-INFINITY)
        } else {
            -INFINITY
        };
        wb.cmp(&wa)
            .then_with(|| {
                self.nodes[a]
                    .num_resources
                    .cmp(&self.nodes[b].num_resources)
            })
            .then_with(|| match active {
                Some(x) if x == a => Ordering::Less,
                Some(x) if x == b => Ordering::Greater,
                _ => Ordering::Equal,
            })
            .then_with(|| self.nodes[a].name.cmp(&self.nodes[b].name))
    }

    /// The node a resource is currently active on (first of `running_on`).
    pub fn current_node(&self, r: RscId) -> Option<NodeId> {
        if self.rscs[r].variant == Variant::Primitive {
            return self.rscs[r].running_on.first().copied();
        }
        self.primitives(r)
            .into_iter()
            .find_map(|p| self.rscs[p].running_on.first().copied())
    }

    /// Running anywhere (for groups/clones: any primitive below).
    pub fn is_running(&self, r: RscId) -> bool {
        self.current_node(r).is_some()
    }

    // ----- assignment ---------------------------------------------------------------

    /// Assign `r` (any variant) and return its node if it has exactly one.
    pub fn assign(&mut self, r: RscId, prefer: Option<NodeId>) -> Option<NodeId> {
        match self.rscs[r].variant {
            Variant::Primitive => self.assign_primitive(r, prefer),
            Variant::Group => self.assign_group(r, prefer),
            Variant::Clone => {
                crate::clone::assign_clone(self, r, prefer);
                None
            }
        }
    }

    fn assign_group(&mut self, r: RscId, prefer: Option<NodeId>) -> Option<NodeId> {
        if !self.rscs[r].provisional {
            return self.rscs[r].allocated_to;
        }
        if self.rscs[r].allocating {
            return None;
        }
        let members = self.rscs[r].children.clone();
        if members.is_empty() {
            self.rscs[r].provisional = false;
            return None;
        }
        self.rscs[r].allocating = true;
        let first = members[0];
        self.rscs[r].role = self.rscs[first].role;
        self.expand_group_colocations(r);
        let mut first_node = None;
        for &m in &members {
            let n = self.assign(m, prefer);
            if first_node.is_none() {
                first_node = n;
            }
        }
        self.rscs[r].next_role = self.rscs[first].next_role;
        self.rscs[r].allocating = false;
        self.rscs[r].provisional = false;
        self.rscs[r].allocated_to = first_node;
        first_node
    }

    /// "group with X" becomes "first member with X"; "X with group" becomes
    /// "X with last member".
    fn expand_group_colocations(&mut self, g: RscId) {
        let members = self.rscs[g].children.clone();
        let Some(&first) = members.first() else {
            return;
        };
        let this_with = std::mem::take(&mut self.rscs[g].this_with);
        for &c in &this_with {
            self.add_this_with(first, c);
        }
        let mut any_unmanaged = !self.rscs[first].managed;
        for &m in &members[1..] {
            if any_unmanaged {
                for &c in &this_with {
                    if self.colocs[c].score >= INFINITY {
                        self.add_this_with(m, c);
                    }
                }
            } else if !self.rscs[m].managed {
                any_unmanaged = true;
            }
        }
        let last = *members.last().unwrap_or(&first);
        let with_this = std::mem::take(&mut self.rscs[g].with_this);
        for c in with_this {
            self.add_with_this(last, c);
        }
    }

    pub fn add_this_with(&mut self, r: RscId, c: usize) {
        let mut list = std::mem::take(&mut self.rscs[r].this_with);
        list.push(c);
        let cl: &Cluster = self;
        list.sort_by(|&a, &b| cl.cmp_coloc_rsc(cl.colocs[a].primary, cl.colocs[b].primary));
        self.rscs[r].this_with = list;
    }

    pub fn add_with_this(&mut self, r: RscId, c: usize) {
        let mut list = std::mem::take(&mut self.rscs[r].with_this);
        list.push(c);
        let cl: &Cluster = self;
        list.sort_by(|&a, &b| cl.cmp_coloc_rsc(cl.colocs[a].dependent, cl.colocs[b].dependent));
        self.rscs[r].with_this = list;
    }

    /// Priority desc, clones before groups before primitives, promotable first, id.
    fn cmp_coloc_rsc(&self, a: RscId, b: RscId) -> Ordering {
        let ra = &self.rscs[a];
        let rb = &self.rscs[b];
        let var = |v: Variant| match v {
            Variant::Primitive => 0,
            Variant::Group => 1,
            Variant::Clone => 2,
        };
        rb.priority
            .cmp(&ra.priority)
            .then_with(|| var(rb.variant).cmp(&var(ra.variant)))
            .then_with(|| {
                if ra.variant == Variant::Clone {
                    rb.promotable.cmp(&ra.promotable)
                } else {
                    Ordering::Equal
                }
            })
            .then_with(|| ra.id.cmp(&rb.id))
    }

    fn assign_primitive(&mut self, r: RscId, prefer: Option<NodeId>) -> Option<NodeId> {
        if let Some(p) = self.rscs[r].parent {
            if !self.rscs[p].allocating {
                self.assign(p, prefer);
            }
        }
        if !self.rscs[r].provisional {
            return self.rscs[r].allocated_to;
        }
        if self.rscs[r].allocating {
            return None;
        }
        self.rscs[r].allocating = true;

        let this_with = self.rscs[r].this_with.clone();
        for c in this_with {
            self.apply_this_with(r, c);
        }
        let with_this = self.rscs[r].with_this.clone();
        for c in with_this {
            self.apply_with_this(r, c);
        }

        if self.rscs[r].next_role == Some(Role::Stopped) {
            self.add_location(r, None, -INFINITY, "target-role");
        } else if let (Some(next), false, crate::cluster::NoQuorumPolicy::Freeze) = (
            self.rscs[r].next_role,
            self.opts.have_quorum,
            self.opts.no_quorum_policy,
        ) {
            if next > self.rscs[r].role {
                self.rscs[r].next_role = Some(self.rscs[r].role);
            }
        }

        if self.opts.stonith_enabled && !self.have_stonith_resource {
            self.rscs[r].managed = false;
        }

        if !self.rscs[r].managed {
            let role = self.rscs[r].role;
            self.rscs[r].next_role = Some(role);
            let to = self.current_node(r);
            self.finalize(r, to, true);
        } else if self.rscs[r].provisional {
            self.assign_best_node(r, prefer);
        }
        self.rscs[r].allocating = false;
        self.rscs[r].allocated_to
    }

    fn assign_best_node(&mut self, r: RscId, prefer: Option<NodeId>) -> bool {
        let current = self.current_node(r);
        let nodes = self.sort_nodes(&self.rscs[r].allowed, current);
        let best = nodes.first().copied();
        let mut chosen = None;
        if let (Some(p), Some(b)) = (prefer, best) {
            if let Some(w) = self.rscs[r].allowed[p] {
                let bw = self.rscs[r].allowed[b].unwrap_or(-INFINITY);
                if w >= bw && w >= 0 && self.nodes[p].available() {
                    chosen = Some(p);
                }
            }
        }
        if chosen.is_none() {
            if let Some(b) = best {
                chosen = Some(b);
                let bw = self.rscs[r].allowed[b].unwrap_or(-INFINITY);
                let unique_instance = self.rscs[r]
                    .parent
                    .map(|p| self.rscs[p].variant == Variant::Clone && self.rscs[p].unique)
                    .unwrap_or(false);
                if !unique_instance && bw > 0 && self.nodes[b].available() {
                    if let Some(run) = current {
                        if self.nodes[run].available() {
                            for &n in &nodes[1..] {
                                if self.rscs[r].allowed[n] != Some(bw) {
                                    break;
                                }
                                if n == run {
                                    chosen = Some(n);
                                }
                            }
                        }
                    }
                }
            }
        }
        self.finalize(r, chosen, false)
    }

    /// Pacemaker's `pcmk__finalize_assignment`.
    pub fn finalize(&mut self, r: RscId, chosen: Option<NodeId>, force: bool) -> bool {
        let mut chosen = chosen;
        if !force {
            if let Some(c) = chosen {
                let w = self.rscs[r].allowed[c].unwrap_or(-INFINITY);
                if w < 0 || !self.nodes[c].available() {
                    self.rscs[r].next_role = Some(Role::Stopped);
                    self.rscs[r].next_role_reason = Some("node availability".into());
                    chosen = None;
                }
            }
        }
        self.unassign(r);
        self.rscs[r].provisional = false;
        match chosen {
            None => {
                if self.rscs[r].next_role != Some(Role::Stopped) {
                    self.rscs[r].next_role = Some(Role::Stopped);
                    self.rscs[r].next_role_reason = Some("unable to allocate".into());
                }
                false
            }
            Some(c) => {
                self.rscs[r].allocated_to = Some(c);
                self.nodes[c].num_resources += 1;
                true
            }
        }
    }

    pub fn unassign(&mut self, r: RscId) {
        if let Some(old) = self.rscs[r].allocated_to.take() {
            self.rscs[r].provisional = true;
            self.nodes[old].num_resources = self.nodes[old].num_resources.saturating_sub(1);
        }
    }

    fn apply_this_with(&mut self, r: RscId, c: usize) {
        let co = self.colocs[c].clone();
        let archive = if co.dependent_role >= Some(Role::Promoted)
            || (co.score < 0 && co.score > -INFINITY)
        {
            Some(self.rscs[r].allowed.clone())
        } else {
            None
        };
        self.assign(co.primary, None);
        self.apply_coloc_score(r, co.primary, c, true);
        if let Some(a) = archive {
            if !self.any_available(&self.rscs[r].allowed) {
                self.rscs[r].allowed = a;
            }
        }
    }

    fn apply_with_this(&mut self, r: RscId, c: usize) {
        let co = self.colocs[c].clone();
        if !self.coloc_has_influence(c, None) {
            return;
        }
        let factor = co.score as f64 / INFINITY as f64;
        let mut table = Some(self.rscs[r].allowed.clone());
        self.add_colocated_node_scores(co.dependent, &mut table, factor, Flags::ACTIVE);
        if let Some(t) = table {
            self.rscs[r].allowed = t;
        }
    }

    pub fn coloc_has_influence(&self, c: usize, rsc: Option<RscId>) -> bool {
        let co = &self.colocs[c];
        let rsc = rsc.unwrap_or(co.primary);
        co.influence || !self.is_running(rsc)
    }

    /// Apply a colocation to the dependent's scores, dispatching on the variants.
    pub fn apply_coloc_score(&mut self, dependent: RscId, primary: RscId, c: usize, for_dep: bool) {
        if for_dep {
            match self.rscs[dependent].variant {
                Variant::Group => {
                    if let Some(&first) = self.rscs[dependent].children.first() {
                        self.apply_coloc_score(first, primary, c, true);
                    }
                    return;
                }
                Variant::Clone => {
                    crate::clone::clone_with(self, dependent, primary, c);
                    return;
                }
                Variant::Primitive => {}
            }
        }
        // On behalf of the primary.
        match self.rscs[primary].variant {
            Variant::Group => {
                if self.rscs[primary].provisional {
                    return;
                }
                let kids = &self.rscs[primary].children;
                let member = if self.colocs[c].score >= INFINITY {
                    kids.last().copied()
                } else {
                    kids.first().copied()
                };
                if let Some(m) = member {
                    self.apply_coloc_score(dependent, m, c, false);
                }
            }
            Variant::Clone => crate::clone::with_clone(self, dependent, primary, c),
            Variant::Primitive => match self.coloc_affects(dependent, primary, c, false) {
                Affects::Location => self.apply_coloc_to_weights(dependent, primary, c),
                Affects::Role => self.apply_coloc_to_priority(dependent, primary, c),
                Affects::Nothing => {}
            },
        }
    }

    pub fn coloc_affects(&self, dep: RscId, pri: RscId, c: usize, preview: bool) -> Affects {
        let co = &self.colocs[c];
        let d = &self.rscs[dep];
        let p = &self.rscs[pri];
        if !preview && p.provisional {
            return Affects::Nothing;
        }
        if co.dependent_role >= Some(Role::Unpromoted)
            && d.parent.map(|x| self.rscs[x].promotable).unwrap_or(false)
            && !d.provisional
        {
            return Affects::Role;
        }
        if !preview && !d.provisional {
            return Affects::Nothing;
        }
        if co.score > 0 {
            if co.dependent_role.is_some() && co.dependent_role != d.next_role {
                return Affects::Nothing;
            }
            if co.primary_role.is_some() && co.primary_role != p.next_role {
                return Affects::Nothing;
            }
        }
        if co.score < 0 {
            if co.dependent_role.is_some() && co.dependent_role == d.next_role {
                return Affects::Nothing;
            }
            if co.primary_role.is_some() && co.primary_role == p.next_role {
                return Affects::Nothing;
            }
        }
        Affects::Location
    }

    pub fn apply_coloc_to_weights(&mut self, dep: RscId, pri: RscId, c: usize) {
        let score = self.colocs[c].score;
        let target = self.rscs[pri].allocated_to;
        if target.is_none() && score < 0 {
            return;
        }
        let mut work = self.rscs[dep].allowed.clone();
        for (n, slot) in work.iter_mut().enumerate() {
            let Some(w) = *slot else { continue };
            match target {
                None => *slot = Some(add(-score, w)),
                Some(t) if t == n => {
                    if score < INFINITY {
                        *slot = Some(add(score, w));
                    }
                }
                Some(_) => {
                    if score >= INFINITY {
                        *slot = Some(add(-score, w));
                    }
                }
            }
        }
        if score <= -INFINITY || score >= INFINITY || self.any_available(&work) {
            let why = format!(
                "colocation {} with {} ({})",
                self.colocs[c].id,
                self.rscs[pri].id,
                crate::cluster::fmt_score(score)
            );
            self.rscs[dep].notes.push(why);
            self.rscs[dep].allowed = work;
        }
    }

    pub fn apply_coloc_to_priority(&mut self, dep: RscId, pri: RscId, c: usize) {
        let (Some(pn), Some(dn)) = (self.rscs[pri].allocated_to, self.rscs[dep].allocated_to)
        else {
            return;
        };
        let co = self.colocs[c].clone();
        if pn != dn {
            if co.score >= INFINITY && co.dependent_role == Some(Role::Promoted) {
                self.rscs[dep].priority = -INFINITY;
            }
            return;
        }
        if co.primary_role.is_some() && co.primary_role != self.rscs[pri].next_role {
            return;
        }
        let mult = if co.dependent_role == Some(Role::Unpromoted) {
            -1
        } else {
            1
        };
        self.rscs[dep].priority = add(mult * co.score, self.rscs[dep].priority);
    }

    fn best_score_matching(&self, r: RscId, node: NodeId) -> i64 {
        // With the default node attribute (#uname) only the node itself matches.
        match self.rscs[r].allowed[node] {
            Some(w) if self.nodes[node].available() => w.max(-INFINITY),
            _ => -INFINITY,
        }
    }

    fn add_node_scores_matching(
        &self,
        work: &mut Table,
        r: RscId,
        factor: f64,
        only_positive: bool,
    ) {
        for (n, slot) in work.iter_mut().enumerate() {
            let Some(cur) = *slot else { continue };
            let score = self.best_score_matching(r, n);
            if factor < 0.0 && score < 0 {
                continue;
            }
            if cur == INFINITY_HACK {
                continue;
            }
            let wf = factor * score as f64;
            let mut weight = if wf < 0.0 {
                (wf - 0.5) as i64
            } else {
                (wf + 0.5) as i64
            };
            if weight == 0 && score != 0 {
                if factor > 0.0 {
                    weight = 1;
                } else if factor < 0.0 {
                    weight = -1;
                }
            }
            let new = add(weight, cur);
            if only_positive && new < 0 && cur > 0 {
                *slot = Some(INFINITY_HACK);
                continue;
            }
            if only_positive && new < 0 && cur == 0 {
                continue;
            }
            *slot = Some(new);
        }
    }

    /// Pacemaker's `pcmk__add_colocated_node_scores`: fold the preferences of `r` (and,
    /// recursively, of resources colocated with it) into `nodes`, attenuated by `factor`.
    pub fn add_colocated_node_scores(
        &mut self,
        r: RscId,
        nodes: &mut Option<Table>,
        factor: f64,
        flags: Flags,
    ) {
        if self.rscs[r].merging {
            return;
        }
        self.rscs[r].merging = true;
        let work: Option<Table> = if self.rscs[r].variant == Variant::Group {
            let kids = self.rscs[r].children.clone();
            if kids.is_empty() {
                None
            } else {
                let member = if nodes.is_none() {
                    *kids.last().unwrap_or(&kids[0])
                } else {
                    kids[0]
                };
                let mut w = nodes.clone();
                self.add_colocated_node_scores(member, &mut w, factor, flags);
                w
            }
        } else if let Some(t) = nodes.as_ref() {
            let mut w = t.clone();
            self.add_node_scores_matching(&mut w, r, factor, flags.nonnegative);
            Some(w)
        } else {
            Some(self.rscs[r].allowed.clone())
        };
        let Some(mut work) = work else {
            self.rscs[r].merging = false;
            return;
        };
        if self.any_available(&work) {
            let multiplier = if factor < 0.0 { -1.0 } else { 1.0 };
            let list: Vec<usize> = if flags.this_with {
                self.rscs[r].this_with.clone()
            } else if self.rscs[r].variant == Variant::Group {
                let last = *self.rscs[r].children.last().unwrap_or(&r);
                self.rscs[last].with_this.clone()
            } else {
                self.rscs[r].with_this.clone()
            };
            for c in list {
                let other = if flags.this_with {
                    self.colocs[c].primary
                } else if !self.coloc_has_influence(c, None) {
                    continue;
                } else {
                    self.colocs[c].dependent
                };
                let f = multiplier * self.colocs[c].score as f64 / INFINITY as f64;
                let mut w = Some(work.clone());
                let mut fl = flags;
                fl.active = true;
                self.add_colocated_node_scores(other, &mut w, f, fl);
                if let Some(w) = w {
                    work = w;
                }
            }
        } else if flags.active {
            self.rscs[r].merging = false;
            return;
        }
        if flags.nonnegative {
            for w in work.iter_mut().flatten() {
                if *w == INFINITY_HACK {
                    *w = 1;
                }
            }
        }
        *nodes = Some(work);
        self.rscs[r].merging = false;
    }
}

/// What a colocation does to the dependent at this point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affects {
    Nothing,
    Location,
    Role,
}

/// Selection flags for merging colocated scores.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub this_with: bool,
    pub active: bool,
    pub nonnegative: bool,
}

impl Flags {
    pub const ACTIVE: Flags = Flags {
        this_with: false,
        active: true,
        nonnegative: false,
    };
}
