//! Choosing the interface for a VIP from the routing table, as IPaddr2's `findif` does:
//! the interface whose connected subnet (a main-table route without gateway) contains
//! the address, the most specific one winning. Pure: the routes come from the caller.

use std::net::IpAddr;

/// A connected route: `dst/prefix dev ifname` without a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedRoute {
    pub ifindex: u32,
    pub ifname: String,
    pub dst: IpAddr,
    pub prefix: u8,
    pub metric: u32,
}

impl std::fmt::Display for ConnectedRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} dev {}", self.dst, self.prefix, self.ifname)
    }
}

/// Whether `ip` lies in `net/prefix` (false across address families).
pub fn contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// The route whose subnet contains `ip` (only routes on `nic` when given): longest
/// prefix first, then lowest metric, then lowest interface index. Default routes
/// (prefix 0) never match: they are not connected subnets.
pub fn find_route<'a>(
    ip: IpAddr,
    routes: &'a [ConnectedRoute],
    nic: Option<&str>,
) -> Option<&'a ConnectedRoute> {
    routes
        .iter()
        .filter(|r| r.prefix > 0 && contains(r.dst, r.prefix, ip))
        .filter(|r| nic.is_none_or(|n| r.ifname == n))
        .min_by_key(|r| (std::cmp::Reverse(r.prefix), r.metric, r.ifindex))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(ifindex: u32, ifname: &str, net: &str, metric: u32) -> ConnectedRoute {
        let (dst, prefix) = net.split_once('/').expect("net/prefix");
        ConnectedRoute {
            ifindex,
            ifname: ifname.into(),
            dst: dst.parse().expect("dst"),
            prefix: prefix.parse().expect("prefix"),
            metric,
        }
    }

    #[test]
    fn contains_checks_the_prefix_bits() {
        let net: IpAddr = "10.1.0.0".parse().expect("ip");
        assert!(contains(net, 16, "10.1.200.3".parse().expect("ip")));
        assert!(!contains(net, 16, "10.2.0.1".parse().expect("ip")));
        assert!(contains(net, 0, "192.0.2.1".parse().expect("ip")));
        let net6: IpAddr = "fd00:1::".parse().expect("ip");
        assert!(contains(net6, 64, "fd00:1::99".parse().expect("ip")));
        assert!(!contains(net6, 64, "fd00:2::99".parse().expect("ip")));
        assert!(!contains(net6, 64, "10.1.0.1".parse().expect("ip")));
    }

    #[test]
    fn most_specific_connected_subnet_wins() {
        let routes = vec![
            route(2, "eth0", "10.0.0.0/16", 100),
            route(3, "eth1", "10.0.5.0/24", 100),
            route(4, "eth2", "0.0.0.0/0", 0),
            route(2, "eth0", "fd00::/64", 256),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            find_route(ip("10.0.5.9"), &routes, None).map(|r| r.ifindex),
            Some(3)
        );
        assert_eq!(
            find_route(ip("10.0.6.9"), &routes, None).map(|r| r.ifindex),
            Some(2)
        );
        assert_eq!(find_route(ip("192.0.2.1"), &routes, None), None);
        assert_eq!(
            find_route(ip("fd00::5"), &routes, None).map(|r| r.prefix),
            Some(64)
        );
        // With nic, only that interface's subnets count.
        let r = find_route(ip("10.0.5.9"), &routes, Some("eth0")).expect("eth0 route");
        assert_eq!((r.ifindex, r.prefix), (2, 16));
        assert_eq!(find_route(ip("10.0.5.9"), &routes, Some("eth9")), None);
    }

    #[test]
    fn ties_break_by_metric_then_index() {
        let routes = vec![
            route(5, "b", "10.0.0.0/24", 200),
            route(7, "c", "10.0.0.0/24", 100),
            route(6, "a", "10.0.0.0/24", 100),
        ];
        let r = find_route("10.0.0.1".parse().expect("ip"), &routes, None).expect("route");
        assert_eq!(r.ifname, "a");
    }
}
