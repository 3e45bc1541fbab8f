//! The announcement frames, built byte by byte (pure).
//!
//! - Gratuitous ARP, as IPaddr2's `send_arp` and keepalived send it: an ARP *request*
//!   broadcast to ff:ff:ff:ff:ff:ff with sender IP = target IP = the VIP and sender
//!   hardware address = the interface's MAC. Receivers that already have an entry for
//!   the VIP replace its MAC (Linux does so even with `arp_accept=0`).
//! - Unsolicited neighbour advertisement (RFC 4861 §7.2.6), as IPaddr2's `send_ua`:
//!   to ff02::1 (33:33:00:00:00:01), hop limit 255, Override set, Solicited clear,
//!   Router only when the node forwards IPv6, with the target link-layer address option.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// Ethernet address of the IPv6 all-nodes group ff02::1.
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
/// IPv6 all-nodes link-local multicast address.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Length of the gratuitous ARP frame (padded to Ethernet's 60-byte minimum).
pub const GARP_LEN: usize = 60;
/// Length of the neighbour advertisement frame: 14 + 40 + 24 + 8.
pub const NA_LEN: usize = 86;

/// A gratuitous ARP request announcing that `ip` is at `mac`.
pub fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> [u8; GARP_LEN] {
    let mut f = [0u8; GARP_LEN];
    f[0..6].copy_from_slice(&BROADCAST_MAC);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol type: IPv4
    f[18] = 6; // hardware address length
    f[19] = 4; // protocol address length
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // operation: request
    f[22..28].copy_from_slice(&mac); // sender hardware address
    f[28..32].copy_from_slice(&ip.octets()); // sender protocol address
                                             // 32..38: target hardware address, zero (ignored in a request, RFC 5227)
    f[38..42].copy_from_slice(&ip.octets()); // target protocol address
    f
}

/// An unsolicited neighbour advertisement announcing that `ip` is at `mac`.
pub fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr, router: bool) -> [u8; NA_LEN] {
    let mut f = [0u8; NA_LEN];
    f[0..6].copy_from_slice(&ALL_NODES_MAC);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
    // IPv6 header.
    let ip6 = &mut f[14..54];
    ip6[0] = 0x60; // version 6, traffic class 0, flow label 0
    ip6[4..6].copy_from_slice(&32u16.to_be_bytes()); // payload length
    ip6[6] = 58; // next header: ICMPv6
    ip6[7] = 255; // hop limit (receivers drop NAs with any other)
    ip6[8..24].copy_from_slice(&ip.octets()); // source: the VIP itself
    ip6[24..40].copy_from_slice(&ALL_NODES.octets());
    // ICMPv6 neighbour advertisement.
    let icmp = &mut f[54..86];
    icmp[0] = 136; // type
    icmp[1] = 0; // code
    icmp[4] = 0x20 | if router { 0x80 } else { 0 }; // Override (+ Router)
    icmp[8..24].copy_from_slice(&ip.octets()); // target address
    icmp[24] = 2; // option: target link-layer address
    icmp[25] = 1; // option length in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac);
    let sum = icmpv6_checksum(ip, ALL_NODES, &f[54..86]);
    f[56..58].copy_from_slice(&sum.to_be_bytes());
    f
}

/// The ICMPv6 checksum of `msg` (with its checksum field zero) from `src` to `dst`:
/// the one's complement of the one's complement sum over the pseudo-header and `msg`.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x13, 0, 0, 0, 0x0b];

    #[test]
    fn garp_is_a_broadcast_request_with_spa_equal_tpa() {
        let ip = Ipv4Addr::new(10, 213, 0, 200);
        let f = gratuitous_arp(MAC, ip);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&f[22..28], &MAC);
        assert_eq!(&f[28..32], &[10, 213, 0, 200]);
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(&f[38..42], &[10, 213, 0, 200]);
        assert!(f[42..].iter().all(|&b| b == 0), "padding must be zero");
    }

    #[test]
    fn na_fields_and_checksum() {
        let ip: Ipv6Addr = "fd00:213::200".parse().expect("ip");
        let f = unsolicited_na(MAC, ip, false);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[14] >> 4, 6);
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), 32);
        assert_eq!((f[20], f[21]), (58, 255));
        assert_eq!(&f[22..38], &ip.octets());
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        assert_eq!((f[54], f[55]), (136, 0));
        assert_eq!(f[58], 0x20, "Override only: not Solicited, not Router");
        assert_eq!(&f[62..78], &ip.octets());
        assert_eq!(&f[78..86], &[2, 1, 0x02, 0x13, 0, 0, 0, 0x0b]);
        // A receiver's check: the sum over pseudo-header and message, checksum
        // included, is 0xffff, i.e. recomputing with the field filled gives 0.
        assert_eq!(icmpv6_checksum(ip, ALL_NODES, &f[54..86]), 0);
        assert_eq!(unsolicited_na(MAC, ip, true)[58], 0xa0);
    }

    #[test]
    fn checksum_matches_a_hand_computed_value() {
        // Sum of the pseudo-header of ::1 -> ::2 (length 4, next header 58) and the
        // message [0x80, 0x00, 0x00, 0x00]: 1 + 2 + 4 + 58 + 0x8000 = 0x8041.
        let src: Ipv6Addr = "::1".parse().expect("ip");
        let dst: Ipv6Addr = "::2".parse().expect("ip");
        assert_eq!(icmpv6_checksum(src, dst, &[0x80, 0, 0, 0]), !0x8041u16);
    }
}
