//! The agent's parameters, named as `ocf:heartbeat:IPaddr2`'s so a configuration moves
//! over by changing only the agent name. Parsing is pure; every error names the
//! parameter, its value and the reason.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use crate::VipError;

/// Resource parameters, name → value (the same shape as the model's `Attrs`).
pub type Attrs = BTreeMap<String, String>;

/// IPaddr2's defaults: 5 announcements, 200 ms apart.
pub const DEFAULT_ARP_COUNT: u32 = 5;
/// See [`DEFAULT_ARP_COUNT`].
pub const DEFAULT_ARP_INTERVAL_MS: u64 = 200;
const MAX_ARP_COUNT: u32 = 1000;
const MAX_ARP_INTERVAL_MS: u64 = 60_000;
/// Longest `lifetime` accepted: one day. A lifetime protects against a halo that stopped
/// renewing, so a long one protects little; leave it unset for a permanent address.
pub const MAX_LIFETIME: Duration = Duration::from_secs(86_400);
/// Longest interface name or label (IFNAMSIZ - 1).
pub const IFNAMSIZ_MAX: usize = 15;

/// The IPv4 broadcast address to set with the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// IPaddr2's default: host bits set, none for /31 and /32.
    Auto,
    /// `+`: host bits set.
    Plus,
    /// `-`: host bits cleared.
    Minus,
    /// An explicit address.
    Addr(Ipv4Addr),
}

impl Broadcast {
    /// The broadcast address for `ip/prefix`, if any.
    pub fn resolve(self, ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
        let host_mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        let ip = u32::from(ip);
        match self {
            Broadcast::Auto if prefix >= 31 => None,
            Broadcast::Auto | Broadcast::Plus => Some(Ipv4Addr::from(ip | host_mask)),
            Broadcast::Minus => Some(Ipv4Addr::from(ip & !host_mask)),
            Broadcast::Addr(a) => Some(a),
        }
    }
}

/// Validated parameters of one virtual IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipParams {
    /// `ip`: the virtual address (required).
    pub ip: IpAddr,
    /// `cidr_netmask`: prefix length; when absent, the connected subnet's.
    pub cidr_netmask: Option<u8>,
    /// `nic`: the interface; when absent, found from the routing table.
    pub nic: Option<String>,
    /// `broadcast` (IPv4 only): `+`, `-` or an address.
    pub broadcast: Broadcast,
    /// `iflabel` (IPv4 only): the address gets the label `nic:iflabel`.
    pub iflabel: Option<String>,
    /// `arp_count`: announcements sent after start (0: none).
    pub arp_count: u32,
    /// `arp_interval`: time between announcements (ms in the parameter).
    pub arp_interval: Duration,
    /// `arp_count_refresh`: announcements sent at each monitor (IPaddr2's default 0).
    pub arp_count_refresh: u32,
    /// `nodad` (IPv6): add without duplicate address detection. halo's default is
    /// `true` (as keepalived does; DAD costs a second or more of failover); with
    /// `nodad=false` start waits for DAD and fails when another host has the address.
    pub nodad: bool,
    /// `noprefixroute`: do not create the subnet route for the address.
    pub noprefixroute: bool,
    /// `lifetime` (halo's own): the address is added with this kernel lifetime
    /// (`valid_lft` = `preferred_lft`) and must be renewed ([`crate::Vip::renew`]) before
    /// it runs out, or the kernel removes it by itself. `None`: permanent (`forever`).
    /// Kept as given; the kernel gets [`lifetime_secs`] of it.
    pub lifetime: Option<Duration>,
}

/// The kernel's lifetime for a `lifetime` parameter: whole seconds (the kernel's
/// granularity for `IFA_CACHEINFO`), rounded UP so the address never expires earlier
/// than asked, and at least 1 (0 would be invalid). `1500ms` → 2, `1ms` → 1, `2s` → 2.
pub fn lifetime_secs(lifetime: Duration) -> u32 {
    let secs = lifetime.as_secs() + u64::from(lifetime.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX - 1)
}

/// One parameter of halo:vip, for `meta-data` and help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamDoc {
    pub name: &'static str,
    pub required: bool,
    /// The default, as the parameter would be written ("" when none).
    pub default: &'static str,
    pub description: &'static str,
}

/// The parameters halo:vip implements (IPaddr2's names and defaults, except `nodad`).
pub const PARAMETERS: &[ParamDoc] = &[
    ParamDoc { name: "ip", required: true, default: "", description: "The virtual IPv4 or IPv6 address." },
    ParamDoc { name: "cidr_netmask", required: false, default: "", description: "Prefix length (24, 64) or IPv4 dotted netmask; default: that of the connected subnet containing ip." },
    ParamDoc { name: "nic", required: false, default: "", description: "Interface to add the address to; default: the one whose connected subnet contains ip." },
    ParamDoc { name: "broadcast", required: false, default: "", description: "IPv4 broadcast address, or + (host bits set) or - (host bits clear); default: +, none for /31 and /32." },
    ParamDoc { name: "iflabel", required: false, default: "", description: "IPv4 only: label the address nic:iflabel (at most 15 bytes in all)." },
    ParamDoc { name: "arp_count", required: false, default: "5", description: "Gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6) sent after start; 0 sends none." },
    ParamDoc { name: "arp_interval", required: false, default: "200", description: "Milliseconds between two announcements." },
    ParamDoc { name: "arp_count_refresh", required: false, default: "0", description: "Announcements sent at each monitor." },
    ParamDoc { name: "nodad", required: false, default: "true", description: "IPv6: add without duplicate address detection (IPaddr2's default is false; halo's is true, as keepalived, for fast failover). With false, start waits for DAD and fails if another host has the address." },
    ParamDoc { name: "noprefixroute", required: false, default: "false", description: "Do not create the subnet route for the address." },
    ParamDoc { name: "lifetime", required: false, default: "", description: "halo only: add the address with this kernel lifetime (valid_lft = preferred_lft), e.g. 2s or 1500ms (rounded up to whole seconds, at least 1 s; at most 1 day), which the holder must renew; if halo stops renewing (killed, stopped, wedged) the kernel removes the address by itself. Unset or forever: permanent." },
];

/// Parameters halo:vip implements.
const KNOWN: &[&str] = &[
    "ip",
    "cidr_netmask",
    "nic",
    "broadcast",
    "iflabel",
    "arp_count",
    "arp_interval",
    "arp_count_refresh",
    "nodad",
    "noprefixroute",
    "lifetime",
];

/// IPaddr2 parameters that only tune how IPaddr2 itself works (which program sends the
/// ARPs, in the background or not): accepted and ignored.
const IGNORED: &[&str] = &[
    "arp_bg",
    "arp_sender",
    "send_arp_opts",
    "run_arping",
    "flush_routes",
    "lvs_ipv6_addrlabel",
    "lvs_ipv6_addrlabel_value",
];

/// IPaddr2 features halo:vip does not implement: accepted only at their default.
const UNSUPPORTED: &[(&str, &[&str], &str)] = &[
    (
        "lvs_support",
        &["false", "no", "0", "off", ""],
        "LVS direct-routing support is not implemented; keep ocf:heartbeat:IPaddr2",
    ),
    (
        "mac",
        &[""],
        "cluster-IP MAC addresses are not implemented; keep ocf:heartbeat:IPaddr2",
    ),
    (
        "clusterip_hash",
        &[""],
        "CLUSTERIP load sharing is not implemented; keep ocf:heartbeat:IPaddr2",
    ),
    (
        "unique_clone_address",
        &["false", "no", "0", "off", ""],
        "unique clone addresses are not implemented; keep ocf:heartbeat:IPaddr2",
    ),
    (
        "network_namespace",
        &[""],
        "run halo in that namespace instead",
    ),
    (
        "preferred_lft",
        &["forever", ""],
        "the preferred lifetime is always the valid one (forever, or halo's lifetime=)",
    ),
];

fn bad(name: &str, value: &str, reason: impl Into<String>) -> VipError {
    VipError::BadParam {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// OCF-style boolean (IPaddr2's `ocf_is_true` words, plus their negatives).
fn parse_bool(name: &str, value: &str) -> Result<bool, VipError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" | "y" => Ok(true),
        "0" | "no" | "false" | "off" | "n" => Ok(false),
        _ => Err(bad(name, value, "not a boolean (use true or false)")),
    }
}

fn parse_u64(name: &str, value: &str, max: u64, unit: &str) -> Result<u64, VipError> {
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| bad(name, value, format!("not a whole number of {unit}")))?;
    if n > max {
        return Err(bad(name, value, format!("at most {max} {unit}")));
    }
    Ok(n)
}

/// `lifetime`: a whole number with a unit, `ms`, `s` or `m` (`2s`, `1500ms`), or
/// `forever` (a permanent address, as when unset).
fn parse_lifetime(value: &str) -> Result<Option<Duration>, VipError> {
    const NAME: &str = "lifetime";
    let v = value.trim();
    if v.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let how = "a duration is a whole number with a unit: 2s, 1500ms, 1m (or forever)";
    if digits.is_empty() {
        return Err(bad(NAME, value, format!("not a duration; {how}")));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| bad(NAME, value, format!("number too large; {how}")))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" | "sec" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "" => {
            return Err(bad(
                NAME,
                value,
                format!("no unit (seconds or milliseconds?); {how}"),
            ))
        }
        other => return Err(bad(NAME, value, format!("unknown unit {other:?}; {how}"))),
    };
    if d.is_zero() {
        return Err(bad(
            NAME,
            value,
            "must be more than 0 (the kernel would remove the address at once); \
             leave it unset or use forever for a permanent address",
        ));
    }
    if d > MAX_LIFETIME {
        return Err(bad(
            NAME,
            value,
            format!(
                "at most {}s; leave it unset or use forever for a permanent address",
                MAX_LIFETIME.as_secs()
            ),
        ));
    }
    Ok(Some(d))
}

fn parse_ip(value: &str) -> Result<IpAddr, VipError> {
    let v = value.trim();
    if v.contains('/') {
        return Err(bad(
            "ip",
            value,
            "give the address without a prefix; the prefix length goes in cidr_netmask",
        ));
    }
    let ip: IpAddr = v
        .parse()
        .map_err(|_| bad("ip", value, "not an IPv4 or IPv6 address"))?;
    let refuse = |why: &str| Err(bad("ip", value, why.to_string()));
    match ip {
        IpAddr::V4(a) if a.is_unspecified() => refuse("the unspecified address cannot be a VIP"),
        IpAddr::V4(a) if a.is_loopback() => refuse("a loopback address cannot be a VIP"),
        IpAddr::V4(a) if a.is_multicast() || a.is_broadcast() => {
            refuse("a multicast or broadcast address cannot be a VIP")
        }
        IpAddr::V6(a) if a.is_unspecified() || a.is_loopback() => {
            refuse("the unspecified or loopback address cannot be a VIP")
        }
        IpAddr::V6(a) if a.is_multicast() => refuse("a multicast address cannot be a VIP"),
        IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => {
            refuse("a link-local IPv6 address cannot be a VIP (it needs a scope)")
        }
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => {
            refuse("an IPv4-mapped IPv6 address cannot be a VIP; give the IPv4 address")
        }
        ip => Ok(ip),
    }
}

/// `cidr_netmask`: a prefix length (`24`, `64`) or, for IPv4, a dotted mask
/// (`255.255.255.0`, contiguous).
fn parse_netmask(ip: IpAddr, value: &str) -> Result<u8, VipError> {
    let v = value.trim();
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    if let Ok(n) = v.parse::<u8>() {
        if n == 0 || n > max {
            return Err(bad(
                "cidr_netmask",
                value,
                format!("a prefix length for {ip} must be 1 to {max}"),
            ));
        }
        return Ok(n);
    }
    if ip.is_ipv4() {
        if let Ok(mask) = v.parse::<Ipv4Addr>() {
            let m = u32::from(mask);
            let ones = m.leading_ones();
            if m.checked_shl(ones).unwrap_or(0) != 0 || ones == 0 {
                return Err(bad(
                    "cidr_netmask",
                    value,
                    "not a contiguous netmask (ones then zeros, e.g. 255.255.255.0)",
                ));
            }
            return Ok(ones as u8);
        }
    }
    Err(bad(
        "cidr_netmask",
        value,
        format!(
            "not a prefix length (1 to {max}){}",
            if ip.is_ipv4() {
                " or a dotted netmask"
            } else {
                ""
            }
        ),
    ))
}

fn valid_ifname_chars(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':')
}

impl VipParams {
    /// Parses and validates IPaddr2-named parameters. Unknown names are an error;
    /// IPaddr2's tuning parameters (`arp_bg`, `arp_sender`, ...) are ignored with a
    /// warning; unimplemented IPaddr2 features are refused unless at their default.
    /// Keys starting with `CRM_meta_` (Pacemaker meta attributes) are skipped.
    pub fn from_attrs(attrs: &Attrs) -> Result<VipParams, VipError> {
        for (name, value) in attrs {
            if KNOWN.contains(&name.as_str()) || name.starts_with("CRM_meta_") {
                continue;
            }
            if IGNORED.contains(&name.as_str()) {
                tracing::warn!(parameter = %name, %value, "IPaddr2 parameter ignored by halo:vip");
                continue;
            }
            if let Some((_, defaults, hint)) = UNSUPPORTED.iter().find(|(n, _, _)| n == name) {
                if defaults.contains(&value.trim().to_ascii_lowercase().as_str()) {
                    continue;
                }
                return Err(VipError::Unsupported {
                    name: name.clone(),
                    value: value.clone(),
                    hint,
                });
            }
            return Err(VipError::UnknownParam {
                name: name.clone(),
                known: KNOWN.join(", "),
            });
        }
        let get = |k: &str| attrs.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

        let ip_raw = get("ip").ok_or(VipError::MissingParam {
            name: "ip",
            hint: "give the virtual IP address, e.g. ip=192.0.2.10",
        })?;
        let ip = parse_ip(ip_raw)?;
        let cidr_netmask = get("cidr_netmask")
            .map(|v| parse_netmask(ip, v))
            .transpose()?;

        let nic = match get("nic") {
            None => None,
            Some(n) if n.contains(':') => {
                return Err(bad(
                    "nic",
                    n,
                    "interface aliases (eth0:1) are not interfaces; give nic=eth0 iflabel=1",
                ))
            }
            Some(n) if !valid_ifname_chars(n) || n.len() > IFNAMSIZ_MAX => {
                return Err(bad(
                    "nic",
                    n,
                    "not an interface name (1 to 15 visible characters, no '/' or ':')",
                ))
            }
            Some(n) => Some(n.to_string()),
        };

        let broadcast = match get("broadcast") {
            None => Broadcast::Auto,
            Some(b) if ip.is_ipv6() => {
                return Err(bad(
                    "broadcast",
                    b,
                    "IPv6 has no broadcast address; remove it",
                ))
            }
            Some("+") => Broadcast::Plus,
            Some("-") => Broadcast::Minus,
            Some(b) => Broadcast::Addr(
                b.parse()
                    .map_err(|_| bad("broadcast", b, "not an IPv4 address, '+' or '-'"))?,
            ),
        };

        let iflabel = match get("iflabel") {
            None => None,
            Some(l) if ip.is_ipv6() => {
                return Err(bad("iflabel", l, "labels exist only for IPv4 addresses"))
            }
            Some(l) if !valid_ifname_chars(l) => {
                return Err(bad(
                    "iflabel",
                    l,
                    "not a label (visible characters, no '/' or ':')",
                ))
            }
            Some(l) => {
                if let Some(n) = &nic {
                    let full = format!("{n}:{l}");
                    if full.len() > IFNAMSIZ_MAX {
                        return Err(VipError::LabelTooLong { label: full });
                    }
                }
                Some(l.to_string())
            }
        };

        let count = |name: &str, default: u32| -> Result<u32, VipError> {
            get(name).map_or(Ok(default), |v| {
                parse_u64(name, v, u64::from(MAX_ARP_COUNT), "packets").map(|n| n as u32)
            })
        };
        let arp_count = count("arp_count", DEFAULT_ARP_COUNT)?;
        let arp_count_refresh = count("arp_count_refresh", 0)?;
        let arp_interval = Duration::from_millis(
            get("arp_interval").map_or(Ok(DEFAULT_ARP_INTERVAL_MS), |v| {
                parse_u64("arp_interval", v, MAX_ARP_INTERVAL_MS, "milliseconds")
            })?,
        );
        let nodad = get("nodad").map_or(Ok(true), |v| parse_bool("nodad", v))?;
        let noprefixroute =
            get("noprefixroute").map_or(Ok(false), |v| parse_bool("noprefixroute", v))?;
        let lifetime = get("lifetime").map_or(Ok(None), parse_lifetime)?;

        Ok(VipParams {
            ip,
            cidr_netmask,
            nic,
            broadcast,
            iflabel,
            arp_count,
            arp_interval,
            arp_count_refresh,
            nodad,
            noprefixroute,
            lifetime,
        })
    }

    /// The address label for `ifname` (`ifname:iflabel`), if `iflabel` is set.
    pub fn label_for(&self, ifname: &str) -> Result<Option<String>, VipError> {
        let Some(l) = &self.iflabel else {
            return Ok(None);
        };
        let full = format!("{ifname}:{l}");
        if full.len() > IFNAMSIZ_MAX {
            return Err(VipError::LabelTooLong { label: full });
        }
        Ok(Some(full))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match VipParams::from_attrs(&attrs(pairs)) {
            Ok(p) => panic!("expected an error for {pairs:?}, got {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_ipaddr2s() {
        let p = VipParams::from_attrs(&attrs(&[("ip", "192.0.2.10")])).expect("valid");
        assert_eq!(p.ip, "192.0.2.10".parse::<IpAddr>().expect("ip"));
        assert_eq!(p.cidr_netmask, None);
        assert_eq!(p.nic, None);
        assert_eq!(p.arp_count, 5);
        assert_eq!(p.arp_interval, Duration::from_millis(200));
        assert_eq!(p.arp_count_refresh, 0);
        assert!(p.nodad);
        assert!(!p.noprefixroute);
        assert_eq!(p.broadcast, Broadcast::Auto);
        assert_eq!(p.lifetime, None, "permanent unless asked");
    }

    #[test]
    fn lifetime_values_and_kernel_rounding() {
        let lt = |v: &str| {
            VipParams::from_attrs(&attrs(&[("ip", "192.0.2.10"), ("lifetime", v)]))
                .unwrap_or_else(|e| panic!("{v}: {e}"))
                .lifetime
        };
        assert_eq!(lt("2s"), Some(Duration::from_secs(2)));
        assert_eq!(lt(" 1500ms "), Some(Duration::from_millis(1500)));
        assert_eq!(lt("1m"), Some(Duration::from_secs(60)));
        assert_eq!(lt("forever"), None);
        assert_eq!(lt(""), None);
        for (d, secs) in [
            (Duration::from_millis(1), 1),
            (Duration::from_millis(999), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_millis(1500), 2),
            (Duration::from_secs(2), 2),
            (MAX_LIFETIME, 86_400),
        ] {
            assert_eq!(lifetime_secs(d), secs, "{d:?}");
        }
    }

    #[test]
    fn bad_lifetimes_are_refused_clearly() {
        for (v, why) in [
            ("2", "no unit"),
            ("abc", "not a duration"),
            ("-1s", "not a duration"),
            ("1.5s", "unknown unit"),
            ("2h", "unknown unit"),
            ("0s", "more than 0"),
            ("0ms", "more than 0"),
            ("86401s", "at most 86400s"),
            ("99999999999999999999s", "too large"),
        ] {
            let e = err(&[("ip", "10.0.0.1"), ("lifetime", v)]);
            assert!(
                e.starts_with("HALO-E502 parameter lifetime=") && e.contains(why),
                "{v}: {e}"
            );
        }
    }

    #[test]
    fn full_ipaddr2_configuration() {
        let p = VipParams::from_attrs(&attrs(&[
            ("ip", "10.0.0.10"),
            ("cidr_netmask", "255.255.255.0"),
            ("nic", "eth0"),
            ("broadcast", "10.0.0.255"),
            ("iflabel", "vip"),
            ("arp_count", "3"),
            ("arp_interval", "50"),
            ("arp_bg", "true"),
            ("lvs_support", "false"),
            ("CRM_meta_timeout", "20000"),
        ]))
        .expect("valid");
        assert_eq!(p.cidr_netmask, Some(24));
        assert_eq!(p.nic.as_deref(), Some("eth0"));
        assert_eq!(p.broadcast, Broadcast::Addr(Ipv4Addr::new(10, 0, 0, 255)));
        assert_eq!(
            p.label_for("eth0").expect("label").as_deref(),
            Some("eth0:vip")
        );
        assert_eq!(p.arp_count, 3);
        assert_eq!(p.arp_interval, Duration::from_millis(50));
    }

    #[test]
    fn ipv6_with_prefix() {
        let p = VipParams::from_attrs(&attrs(&[("ip", "fd00::10"), ("cidr_netmask", "64")]))
            .expect("valid");
        assert_eq!(p.cidr_netmask, Some(64));
        assert!(p.ip.is_ipv6());
    }

    #[test]
    fn invalid_netmasks_are_refused_clearly() {
        for (ip, mask) in [
            ("10.0.0.1", "33"),
            ("10.0.0.1", "0"),
            ("10.0.0.1", "255.0.255.0"),
            ("10.0.0.1", "0.0.0.0"),
            ("10.0.0.1", "abc"),
            ("fd00::1", "129"),
            ("fd00::1", "255.255.255.0"),
        ] {
            let e = err(&[("ip", ip), ("cidr_netmask", mask)]);
            assert!(
                e.contains("HALO-E502") && e.contains("cidr_netmask") && e.contains(mask),
                "{ip}/{mask}: {e}"
            );
        }
    }

    #[test]
    fn bad_addresses_are_refused_clearly() {
        assert!(err(&[]).contains("parameter ip: missing"));
        for ip in [
            "10.0.0.300",
            "10.0.0.1/24",
            "0.0.0.0",
            "127.0.0.5",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "ff02::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "vip.example",
        ] {
            let e = err(&[("ip", ip)]);
            assert!(e.contains("parameter ip=") && e.contains(ip), "{ip}: {e}");
        }
    }

    #[test]
    fn other_bad_parameters() {
        let e = err(&[("ip", "10.0.0.1"), ("nic", "eth0:1")]);
        assert!(e.contains("iflabel"), "{e}");
        let e = err(&[("ip", "10.0.0.1"), ("nic", "a-very-long-interface-name")]);
        assert!(e.contains("parameter nic="), "{e}");
        let e = err(&[("ip", "fd00::1"), ("broadcast", "+")]);
        assert!(e.contains("IPv6 has no broadcast"), "{e}");
        let e = err(&[("ip", "fd00::1"), ("iflabel", "x")]);
        assert!(e.contains("only for IPv4"), "{e}");
        let e = err(&[
            ("ip", "10.0.0.1"),
            ("nic", "eth0"),
            ("iflabel", "waytoolong12"),
        ]);
        assert!(e.contains("HALO-E513"), "{e}");
        let e = err(&[("ip", "10.0.0.1"), ("arp_count", "-1")]);
        assert!(e.contains("parameter arp_count="), "{e}");
        let e = err(&[("ip", "10.0.0.1"), ("arp_interval", "999999")]);
        assert!(e.contains("at most"), "{e}");
        let e = err(&[("ip", "10.0.0.1"), ("nodad", "maybe")]);
        assert!(e.contains("not a boolean"), "{e}");
        let e = err(&[("ip", "10.0.0.1"), ("colour", "blue")]);
        assert!(e.contains("HALO-E503") && e.contains("colour"), "{e}");
        let e = err(&[("ip", "10.0.0.1"), ("lvs_support", "true")]);
        assert!(e.contains("HALO-E504") && e.contains("lvs_support"), "{e}");
    }

    #[test]
    fn documented_parameters_are_exactly_the_known_ones() {
        let documented: Vec<&str> = PARAMETERS.iter().map(|p| p.name).collect();
        assert_eq!(documented, KNOWN);
    }

    #[test]
    fn broadcast_resolution() {
        let ip = Ipv4Addr::new(10, 1, 2, 3);
        assert_eq!(
            Broadcast::Auto.resolve(ip, 24),
            Some(Ipv4Addr::new(10, 1, 2, 255))
        );
        assert_eq!(Broadcast::Auto.resolve(ip, 31), None);
        assert_eq!(Broadcast::Auto.resolve(ip, 32), None);
        assert_eq!(
            Broadcast::Plus.resolve(ip, 16),
            Some(Ipv4Addr::new(10, 1, 255, 255))
        );
        assert_eq!(
            Broadcast::Minus.resolve(ip, 16),
            Some(Ipv4Addr::new(10, 1, 0, 0))
        );
        assert_eq!(Broadcast::Plus.resolve(ip, 32), Some(ip));
    }
}
