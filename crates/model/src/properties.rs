//! Pacemaker's cluster properties as halo takes them: those halo acts on, with their
//! default and meaning, and those it accepts without effect, with the reason (shown by
//! `halo property describe`, noted by validation when one is set).

/// What setting a property does in halo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// halo acts on it: its meaning.
    Honoured(&'static str),
    /// Accepted and kept, without effect: why.
    NoEffect(&'static str),
    /// Information about the cluster, without effect in Pacemaker either.
    Informational(&'static str),
}

/// One cluster property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    /// Pacemaker's default (what applies when the property is not set).
    pub default: &'static str,
    pub effect: Effect,
}

const fn honoured(name: &'static str, default: &'static str, meaning: &'static str) -> Property {
    Property {
        name,
        default,
        effect: Effect::Honoured(meaning),
    }
}

const fn no_effect(name: &'static str, default: &'static str, why: &'static str) -> Property {
    Property {
        name,
        default,
        effect: Effect::NoEffect(why),
    }
}

const WRITTEN_BY_PACEMAKER: &str = "Pacemaker writes it itself";
const MEMBERSHIP: &str = "Pacemaker's membership timing: halo's DC is its Raft leader, whose \
    timing is fixed (see the guard lease in `halo status`)";
const NOT_YET: &str = "not implemented yet";
const NO_SCHEDULER_FILES: &str = "halo saves no scheduler inputs (Pacemaker's pe-*.bz2 files); \
    `halo simulate` replays a CIB from `cibadmin --query`";

const fn informational(name: &'static str, default: &'static str, what: &'static str) -> Property {
    Property {
        name,
        default,
        effect: Effect::Informational(what),
    }
}

/// Every cluster property halo knows, by name.
pub const PROPERTIES: &[Property] = &[
    honoured(
        "batch-limit",
        "0",
        "the most actions the DC has running at once across the cluster (0: no limit)",
    ),
    honoured(
        "cluster-recheck-interval",
        "15min",
        "how often the DC plans again when nothing changed (failure-timeout, time-based rules)",
    ),
    honoured(
        "concurrent-fencing",
        "false",
        "fence several nodes at once rather than one after another",
    ),
    honoured(
        "enable-startup-probes",
        "true",
        "probe a node that joins for every resource, to learn what already runs there",
    ),
    honoured(
        "maintenance-mode",
        "false",
        "leave every resource alone: nothing is started, stopped, recovered or monitored",
    ),
    honoured(
        "migration-limit",
        "-1",
        "the most live migrations a node runs at once (-1: no limit)",
    ),
    honoured(
        "no-quorum-policy",
        "stop",
        "what a node cut off from the majority does with its resources: stop, freeze, \
         demote (promoted instances; the rest stops), ignore (keep running), suicide \
         (stop, and be reset by the watchdog)",
    ),
    honoured(
        "standby-drain-time",
        "2s",
        "halo's own: how long the load balancers have to take new sessions away from a \
         node put in standby before the cluster stops what runs there (0: at once)",
    ),
    honoured(
        "start-failure-is-fatal",
        "true",
        "a failed start bans the resource from that node until cleanup (fail count INFINITY)",
    ),
    honoured(
        "startup-fencing",
        "true",
        "fence nodes not seen since the cluster started before recovering what they may run",
    ),
    honoured(
        "stonith-action",
        "reboot",
        "what fencing does to a node: reboot or off",
    ),
    honoured(
        "stonith-enabled",
        "true",
        "fence failed nodes and failed stops; false: recover without fencing (lost nodes \
         are still waited out by their lease)",
    ),
    honoured(
        "stonith-timeout",
        "60s",
        "how long one fencing action may take",
    ),
    honoured(
        "stop-orphan-actions",
        "true",
        "cancel recurring operations that are no longer configured",
    ),
    honoured(
        "stop-orphan-resources",
        "true",
        "stop resources that are no longer configured",
    ),
    honoured(
        "symmetric-cluster",
        "true",
        "resources may run on any node (false: only where a location constraint allows)",
    ),
    informational("cluster-infrastructure", "", WRITTEN_BY_PACEMAKER),
    no_effect(
        "cluster-ipc-limit",
        "500",
        "Pacemaker's IPC buffer size; halo has no such IPC",
    ),
    informational(
        "cluster-name",
        "",
        "halo's own cluster name is the one `halo cluster init --name` gave",
    ),
    no_effect("dc-deadtime", "20s", MEMBERSHIP),
    informational("dc-version", "", WRITTEN_BY_PACEMAKER),
    no_effect(
        "default-action-timeout",
        "20s",
        "deprecated by Pacemaker: use `halo resource op defaults timeout=...`",
    ),
    no_effect(
        "default-resource-stickiness",
        "0",
        "deprecated by Pacemaker: use `halo resource defaults resource-stickiness=...`",
    ),
    no_effect("election-timeout", "2min", MEMBERSHIP),
    no_effect(
        "enable-acl",
        "false",
        "halo has no ACLs (users and roles come with its remote API)",
    ),
    no_effect("fence-reaction", "stop", NOT_YET),
    informational("have-watchdog", "false", WRITTEN_BY_PACEMAKER),
    no_effect(
        "is-managed-default",
        "true",
        "deprecated by Pacemaker: use `halo resource defaults is-managed=...`",
    ),
    no_effect("join-finalization-timeout", "30min", MEMBERSHIP),
    no_effect("join-integration-timeout", "3min", MEMBERSHIP),
    informational("last-lrm-refresh", "", WRITTEN_BY_PACEMAKER),
    no_effect("load-threshold", "80%", NOT_YET),
    no_effect("node-action-limit", "0", NOT_YET),
    no_effect("node-health-base", "0", NOT_YET),
    no_effect("node-health-green", "0", NOT_YET),
    no_effect("node-health-red", "-INFINITY", NOT_YET),
    no_effect("node-health-strategy", "none", NOT_YET),
    no_effect("node-health-yellow", "0", NOT_YET),
    no_effect(
        "notification-agent",
        "",
        "Pacemaker's legacy alerts; halo has no alerts yet",
    ),
    no_effect(
        "notification-recipient",
        "",
        "Pacemaker's legacy alerts; halo has no alerts yet",
    ),
    no_effect("pe-error-series-max", "-1", NO_SCHEDULER_FILES),
    no_effect("pe-input-series-max", "4000", NO_SCHEDULER_FILES),
    no_effect("pe-warn-series-max", "5000", NO_SCHEDULER_FILES),
    no_effect("placement-strategy", "default", NOT_YET),
    no_effect(
        "priority-fencing-delay",
        "0",
        "it delays fencing from a partition without a majority, and halo never fences from one",
    ),
    no_effect(
        "remove-after-stop",
        "false",
        "deprecated by Pacemaker; not implemented",
    ),
    no_effect("shutdown-escalation", "20min", MEMBERSHIP),
    no_effect("shutdown-lock", "false", NOT_YET),
    no_effect("shutdown-lock-limit", "0", NOT_YET),
    no_effect("stonith-max-attempts", "10", NOT_YET),
    no_effect("stop-all-resources", "false", NOT_YET),
    no_effect(
        "stonith-watchdog-timeout",
        "0",
        "halo's watchdog is given to the daemon (`halo daemon --watchdog`, \
         `--watchdog-timeout`)",
    ),
    no_effect("transition-delay", "0s", NOT_YET),
];

/// The property named `name`, if halo knows it.
pub fn property(name: &str) -> Option<&'static Property> {
    PROPERTIES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{property_type, validate};
    use crate::Config;

    /// Every property of the catalogue has a type validation knows, and its default is
    /// a value validation accepts; the names are sorted within each part and unique.
    #[test]
    fn catalogue_agrees_with_validation() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PROPERTIES {
            assert!(seen.insert(p.name), "{} twice", p.name);
            assert!(property_type(p.name).is_some(), "{}: no type", p.name);
            if p.default.is_empty() || p.default.ends_with('%') {
                continue;
            }
            let mut cfg = Config::default();
            cfg.properties
                .insert(p.name.to_string(), p.default.to_string());
            assert!(validate(&cfg).is_ok(), "{}={} refused", p.name, p.default);
        }
    }
}
