//! An example for every command, shown at the end of its `--help` (and man page). The
//! tests parse each one with halo's own command line, so none can drift from it.

/// `(command path without "halo", example lines)`.
pub const EXAMPLES: &[(&str, &[&str])] = &[
    ("", &["halo demo", "halo status", "halo resource create web ocf:heartbeat:apache --clone"]),
    ("agent", &["halo agent run ocf:heartbeat:Dummy start"]),
    ("agent check", &["halo agent check ocf:heartbeat:Dummy"]),
    ("agent run", &["halo agent run ocf:heartbeat:IPaddr2 monitor ip=192.0.2.10 cidr_netmask=24"]),
    ("bench", &["halo bench sched --resources 200 --nodes 16"]),
    ("bench sched", &["halo bench sched --resources 200 --nodes 16"]),
    ("cluster", &["halo cluster init --name openstack", "halo cluster history"]),
    (
        "cluster auth",
        &[
            "halo cluster auth controller1 controller2 controller3 -u hacluster",
            "halo cluster auth n1 addr=192.0.2.11 n2 addr=192.0.2.12:2224 -u hacluster",
        ],
    ),
    ("cluster certs", &["halo cluster certs show", "halo cluster certs rotate"]),
    ("cluster certs show", &["halo cluster certs show"]),
    ("cluster certs rotate", &["halo cluster certs rotate", "halo cluster certs rotate --new-ca"]),
    ("cluster deauth", &["halo cluster deauth controller3", "halo cluster deauth --all"]),
    ("cluster enable", &["halo cluster enable --all"]),
    ("cluster disable", &["halo cluster disable"]),
    ("cluster history", &["halo cluster history --limit 50"]),
    ("cluster init", &["halo cluster init --name openstack"]),
    ("cluster join", &["halo cluster join 192.0.2.11:7000 --token-file token.txt", "halo cluster join 192.0.2.11:7000 < token.txt"]),
    ("cluster leave", &["halo cluster leave"]),
    ("cluster remove", &["halo cluster remove controller3"]),
    (
        "cluster setup",
        &[
            "halo cluster setup --name openstack controller1 controller2 controller3",
            "halo cluster setup --name openstack --out /tmp/bundles n1=192.0.2.11:7000 n2=192.0.2.12:7000 n3=192.0.2.13:7000",
        ],
    ),
    ("cluster start", &["halo cluster start", "halo cluster start --all"]),
    ("cluster stop", &["halo cluster stop", "halo cluster stop --all"]),
    ("cluster token", &["halo cluster token --ttl 1h", "halo cluster token --uses 3 --ttl 30m > token.txt"]),
    ("cluster token list", &["halo cluster token list"]),
    ("cluster token revoke", &["halo cluster token revoke 3f2a9c01d4e5b6a7"]),
    ("completion", &["halo completion bash > /etc/bash_completion.d/halo"]),
    ("config", &["halo config show > cluster.toml", "halo config apply cluster.toml --dry-run"]),
    (
        "config apply",
        &["halo config apply cluster.toml --dry-run", "halo config apply cluster.toml", "halo config apply cluster.toml --force"],
    ),
    ("config show", &["halo config show > cluster.toml"]),
    ("config edit", &["EDITOR=nano halo config edit"]),
    ("config history", &["halo config history --limit 10"]),
    ("config diff", &["halo config diff 41", "halo config diff 41 45"]),
    ("config rollback", &["halo config rollback 41 --dry-run", "halo config rollback 41"]),
    ("config export", &["halo config export --format xml > cib.xml", "crm_simulate -x cib.xml -S"]),
    ("config import", &["cibadmin --query > cib.xml", "halo config import cib.xml --dry-run"]),
    ("constraint", &["halo constraint list", "halo constraint colocation add lb-haproxy-clone with vip"]),
    ("constraint colocation", &["halo constraint colocation add lb-haproxy-clone with vip"]),
    (
        "constraint colocation add",
        &["halo constraint colocation add lb-haproxy-clone with vip", "halo constraint colocation add vip_management with vip_public 500"],
    ),
    ("constraint colocation set", &["halo constraint colocation set vip_public vip_management setoptions score=INFINITY"]),
    ("constraint list", &["halo constraint list --json"]),
    (
        "constraint location",
        &[
            "halo constraint location vip prefers controller1=100 controller2=50",
            "halo constraint location db avoids controller3",
            "halo constraint location db rule score=-INFINITY pingd lt integer 1 or not_defined pingd",
        ],
    ),
    (
        "constraint order",
        &[
            "halo constraint order start vip then lb-haproxy-clone kind=Optional",
            "halo constraint order set galera-clone rabbitmq-clone set keystone-clone setoptions kind=Mandatory",
        ],
    ),
    ("constraint ref", &["halo constraint ref vip"]),
    ("constraint remove", &["halo constraint remove order-vip-lb-haproxy-clone-Optional"]),
    ("daemon", &["halo daemon --name controller1 --listen 192.0.2.11:7000"]),
    ("demo", &["halo demo", "halo demo --state-dir /tmp/halo-demo --nodes 5"]),
    ("lb", &["halo lb check -f /etc/haproxy/haproxy.cfg"]),
    ("lb check", &["halo lb check -f /etc/haproxy/haproxy.cfg"]),
    ("lb import", &["halo lb import /etc/haproxy/haproxy.cfg -o lb.toml"]),
    ("lb reload", &["halo lb reload -p /run/halo-lb.pid"]),
    ("lb run", &["halo lb run -f /etc/haproxy/haproxy.cfg --foreground"]),
    ("man", &["halo man /usr/local/share/man/man1"]),
    ("node", &["halo node standby controller2", "halo node unstandby --all"]),
    ("node attribute", &["halo node attribute controller1 rack=r1 ssd=yes"]),
    ("node maintenance", &["halo node maintenance controller3"]),
    ("node standby", &["halo node standby controller2"]),
    ("node unmaintenance", &["halo node unmaintenance controller3"]),
    ("node unstandby", &["halo node unstandby --all"]),
    ("pcmk-links", &["halo pcmk-links /usr/local/sbin", "halo pcmk-links --haproxy /usr/local/sbin"]),
    ("property", &["halo property set stonith-enabled=false no-quorum-policy=ignore", "halo property list --all"]),
    ("property describe", &["halo property describe no-quorum-policy"]),
    ("property list", &["halo property list --all"]),
    ("property set", &["halo property set stonith-enabled=false no-quorum-policy=ignore cluster-recheck-interval=5min"]),
    ("property unset", &["halo property unset no-quorum-policy"]),
    ("resource", &["halo resource", "halo resource create vip ocf:heartbeat:IPaddr2 ip=192.0.2.100 cidr_netmask=24"]),
    ("resource agents", &["halo resource agents ocf:heartbeat"]),
    ("resource ban", &["halo resource ban vip controller3"]),
    ("resource cleanup", &["halo resource cleanup vip", "halo resource cleanup vip --node controller2"]),
    ("resource clear", &["halo resource clear vip"]),
    ("resource clone", &["halo resource clone memcached interleave=true"]),
    (
        "resource create",
        &[
            "halo resource create vip ocf:heartbeat:IPaddr2 ip=192.0.2.100 cidr_netmask=24 op monitor interval=30s",
            "halo resource create lb-haproxy systemd:haproxy --clone",
        ],
    ),
    ("resource debug-monitor", &["halo resource debug-monitor -c cluster.toml vip"]),
    ("resource debug-start", &["halo resource debug-start -c cluster.toml vip"]),
    ("resource debug-stop", &["halo resource debug-stop -c cluster.toml vip"]),
    ("resource defaults", &["halo resource defaults resource-stickiness=100"]),
    ("resource delete", &["halo resource delete vip"]),
    ("resource describe", &["halo resource describe ocf:heartbeat:IPaddr2"]),
    ("resource disable", &["halo resource disable vip"]),
    ("resource enable", &["halo resource enable vip"]),
    ("resource failcount", &["halo resource failcount show vip"]),
    ("resource failcount show", &["halo resource failcount show vip --node controller2"]),
    ("resource group", &["halo resource group add web vip lb"]),
    ("resource group add", &["halo resource group add web vip lb --before app"]),
    ("resource group remove", &["halo resource group remove web lb"]),
    ("resource meta", &["halo resource meta vip migration-threshold=3 failure-timeout=60s"]),
    ("resource move", &["halo resource move vip controller2", "halo resource move vip controller2 --lifetime 1h"]),
    ("resource op", &["halo resource op add vip monitor interval=10s timeout=20s"]),
    ("resource op add", &["halo resource op add vip monitor interval=10s timeout=20s"]),
    ("resource op defaults", &["halo resource op defaults timeout=60s"]),
    ("resource op remove", &["halo resource op remove vip monitor"]),
    ("resource promotable", &["halo resource promotable galera promoted-max=1"]),
    ("resource restart", &["halo resource restart lb-haproxy-clone --wait 120"]),
    ("resource show", &["halo resource show vip"]),
    ("resource unclone", &["halo resource unclone memcached-clone"]),
    ("resource update", &["halo resource update vip cidr_netmask=25"]),
    ("simulate", &["halo simulate -x cib.xml --show-scores"]),
    ("status", &["halo status", "halo status --watch", "halo status resources", "halo status --json"]),
    ("user", &["halo user list", "echo 'a-long-password' | halo user add alice --role operator"]),
    ("user add", &["halo user add hacluster --role admin < password.txt"]),
    ("user passwd", &["halo user passwd alice"]),
    ("user role", &["halo user role alice read"]),
    ("user del", &["halo user del alice"]),
    ("user list", &["halo user list --json"]),
    ("user token", &["halo user token", "halo user token monitoring --ttl 30d"]),
    ("user tokens", &["halo user tokens"]),
    ("user revoke", &["halo user revoke 4c1e0a9b7d2f"]),
    ("user whoami", &["halo user whoami --host controller2"]),
    ("stonith", &["halo stonith create ipmi-c1 fence_ipmilan ip=192.0.2.201 username=admin password=secret pcmk_host_list=controller1"]),
    (
        "stonith create",
        &["halo stonith create ipmi-c1 fence_ipmilan ip=192.0.2.201 username=admin password=secret pcmk_host_list=controller1"],
    ),
    ("stonith delete", &["halo stonith delete ipmi-c1"]),
    ("stonith fence", &["halo stonith fence controller3", "halo stonith fence controller3 --off"]),
    ("stonith history", &["halo stonith history controller3"]),
    ("stonith level", &["halo stonith level add 1 controller1 ipmi-c1"]),
    ("stonith level add", &["halo stonith level add 1 controller1 ipmi-c1"]),
    ("stonith level remove", &["halo stonith level remove 1 controller1"]),
    ("stonith list", &["halo stonith list"]),
    ("stonith update", &["halo stonith update ipmi-c1 ip=192.0.2.202"]),
    ("vip", &["halo vip add 192.0.2.100/24 --nic eth0"]),
    ("vip add", &["halo vip add 192.0.2.100/24 --nic eth0"]),
    ("vip del", &["halo vip del 192.0.2.100/24 --nic eth0"]),
    ("vip show", &["halo vip show --json"]),
    ("why", &["halo why vip"]),
];

/// `cmd` (at `path`) and its subcommands with their examples after their help.
pub fn attach(mut cmd: clap::Command, path: &str) -> clap::Command {
    if let Some((_, lines)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        let text: Vec<String> = lines.iter().map(|l| format!("  {l}")).collect();
        cmd = cmd.after_help(format!("Examples:\n{}", text.join("\n")));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(name, |s| attach(s, &sub_path));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::EXAMPLES;
    use crate::Cli;

    /// Every command's path, but the help subcommands and hidden ones.
    fn paths(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        out.push(path.to_string());
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let p = if path.is_empty() {
                sub.get_name().to_string()
            } else {
                format!("{path} {}", sub.get_name())
            };
            paths(sub, &p, out);
        }
    }

    /// Every command has an example, every example is of a command that exists, and
    /// halo's command line takes each one as it is written.
    #[test]
    fn every_command_has_an_example_that_parses() {
        let mut all = Vec::new();
        paths(&Cli::command(), "", &mut all);
        for p in &all {
            assert!(
                EXAMPLES.iter().any(|(e, _)| e == p),
                "`halo {p}` has no example"
            );
        }
        for (p, lines) in EXAMPLES {
            assert!(
                all.iter().any(|a| a == p),
                "example for unknown command `halo {p}`"
            );
            for line in *lines {
                // Environment assignments first; other programs' lines are context.
                let words: Vec<String> = line
                    .split_whitespace()
                    .skip_while(|w| w.contains('='))
                    .take_while(|w| *w != ">" && *w != "<")
                    .map(|w| w.trim_matches('"').to_string())
                    .collect();
                if words.first().map(String::as_str) != Some("halo") {
                    continue;
                }
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!("example `{line}` does not parse: {e}");
                }
            }
        }
    }
}
