//! `halo:vip` run through the executor, in network namespaces (needs root).

mod common;

use common::*;
use halo_exec::rc::ocf;
use halo_testkit::netns::{require_netns, Net};

/// The executor starts, monitors and stops a virtual IP on a host; a second start is
/// idempotent and a stopped VIP reports "not running".
#[test]
fn vip_agent_through_the_executor() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a"]).expect("network");
    let rt = net.host("a").runtime().expect("runtime in host a");
    rt.run(async {
        let env = Env::new();
        let p = [
            ("ip", "10.213.0.200"),
            ("cidr_netmask", "24"),
            ("arp_count", "1"),
        ];
        let a = "halo:vip";
        let run = |action: &str| env.exec.execute(env.req("vip", a, action, &p));
        assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
        let r = run("start").await;
        assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
        assert_eq!(run("monitor").await.rc, ocf::SUCCESS);
        assert_eq!(run("start").await.rc, ocf::SUCCESS, "start is idempotent");
        assert_eq!(run("stop").await.rc, ocf::SUCCESS);
        assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
        assert_eq!(run("stop").await.rc, ocf::SUCCESS, "stop is idempotent");
        // Bad parameters are a configuration error, named.
        let bad = env
            .exec
            .execute(env.req(
                "vip",
                a,
                "start",
                &[("ip", "10.213.0.200"), ("cidr_netmask", "33")],
            ))
            .await;
        assert!(
            matches!(bad.rc, ocf::ERR_CONFIGURED | ocf::ERR_ARGS),
            "{bad:?}"
        );
        assert!(bad.exit_reason.unwrap_or_default().contains("33"));
    });
}
