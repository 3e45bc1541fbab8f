//! Live migration (`allow-migrate=true`): a resource that moves is migrated
//! (migrate_to on its node, migrate_from on the new one) instead of stopped and
//! started, as long as nothing it is ordered with forbids it (Pacemaker's
//! `pcmk_sched_migration.c`). Partial migrations found in history are not modelled yet.

use crate::actions::{
    self, Graph, Task, FLAG_APPLY_FIRST_NON_MIGRATABLE, FLAG_IMPLIES_FIRST_MIGRATABLE,
    FLAG_OPTIONAL, FLAG_PSEUDO_LEFT,
};
use crate::cluster::{Cluster, NodeId, RscId};
use crate::constraints::RscOrder;

/// Whether `r` can migrate from `current` (Pacemaker's `pcmk__rsc_can_migrate`).
pub fn can_migrate(cl: &Cluster, r: RscId, current: Option<NodeId>) -> bool {
    let rsc = &cl.rscs[r];
    let clean = |n: Option<NodeId>| n.is_some_and(|n| !cl.nodes[n].unclean);
    rsc.allow_migrate && rsc.managed && !rsc.failed && clean(current) && clean(rsc.allocated_to)
}

/// Create the migration actions of a moving resource and order them: probe ->
/// migrate_to -> migrate_from -> stop (on the old node) and start (a pseudo-action on
/// the new node while the migration can run).
pub fn create_actions(cl: &mut Cluster, g: &mut Graph, r: RscId, current: NodeId) {
    let Some(target) = cl.rscs[r].allocated_to else {
        return;
    };
    let start = actions::custom_action(cl, g, r, Task::Start, Some(target), true);
    let stop = actions::custom_action(cl, g, r, Task::Stop, Some(current), true);
    let to = actions::custom_action(cl, g, r, Task::MigrateTo, Some(current), true);
    let from = actions::custom_action(cl, g, r, Task::MigrateFrom, Some(target), true);
    for a in [start, stop, to, from] {
        g.acts[a].migrate_runnable = true;
    }
    g.acts[start].pseudo = true;
    let mut order = |first_task, then_task, flags| {
        cl.orders.push(RscOrder::new(
            "migration",
            r,
            first_task,
            r,
            then_task,
            flags,
        ))
    };
    order(Task::Monitor, Task::MigrateTo, FLAG_OPTIONAL);
    order(
        Task::MigrateTo,
        Task::MigrateFrom,
        FLAG_OPTIONAL | FLAG_IMPLIES_FIRST_MIGRATABLE,
    );
    order(
        Task::MigrateFrom,
        Task::Stop,
        FLAG_OPTIONAL | FLAG_IMPLIES_FIRST_MIGRATABLE,
    );
    order(
        Task::MigrateFrom,
        Task::Start,
        FLAG_OPTIONAL | FLAG_IMPLIES_FIRST_MIGRATABLE | FLAG_PSEUDO_LEFT,
    );
}

/// Orderings between unrelated resources, one of them migratable, apply to the
/// migration as well (Pacemaker's `pcmk__order_migration_equivalents`): each
/// equivalent follows the ordering it comes from.
pub fn order_equivalents(cl: &mut Cluster) {
    let mut out = Vec::with_capacity(cl.orders.len());
    for o in std::mem::take(&mut cl.orders) {
        let extra = equivalents(cl, &o);
        out.push(o);
        out.extend(extra);
    }
    cl.orders = out;
}

fn equivalents(cl: &Cluster, o: &RscOrder) -> Vec<RscOrder> {
    let (first, then) = (o.first, o.then);
    if o.first_action.is_some()
        || o.then_action.is_some()
        || first == then
        || cl.is_ancestor(first, then)
        || cl.is_ancestor(then, first)
    {
        return Vec::new();
    }
    let first_migratable = cl.rscs[first].allow_migrate;
    let then_migratable = cl.rscs[then].allow_migrate;
    if !first_migratable && !then_migratable {
        return Vec::new();
    }
    let new = |first_task, then_task, flags| {
        RscOrder::new(o.id.clone(), first, first_task, then, then_task, flags)
    };
    let mut v = Vec::new();
    let non_migratable = if first_migratable {
        FLAG_OPTIONAL | FLAG_APPLY_FIRST_NON_MIGRATABLE
    } else {
        FLAG_OPTIONAL
    };
    match (o.first_task, o.then_task) {
        (Task::Start, Task::Start) => {
            if first_migratable && then_migratable {
                v.push(new(Task::MigrateFrom, Task::MigrateTo, FLAG_OPTIONAL));
            }
            if then_migratable {
                v.push(new(Task::Start, Task::MigrateTo, non_migratable));
            }
        }
        (Task::Stop, Task::Stop) if then_migratable => {
            v.push(new(Task::Stop, Task::MigrateTo, non_migratable));
        }
        (Task::Promote, Task::Start) if then_migratable => {
            v.push(new(Task::Promote, Task::MigrateTo, FLAG_OPTIONAL));
        }
        (Task::Demote, Task::Stop) if then_migratable => {
            v.push(new(Task::Demote, Task::MigrateTo, FLAG_OPTIONAL));
        }
        _ => {}
    }
    v
}
