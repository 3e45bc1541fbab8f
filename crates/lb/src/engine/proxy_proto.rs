//! The PROXY protocol (HAProxy's, versions 1 and 2): the header sent to a server
//! before anything else (`server ... send-proxy|send-proxy-v2`), telling it which
//! client the connection is for.

use crate::config::ProxyProto;
use std::net::{IpAddr, SocketAddr};

/// Version 2's signature.
const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// Both addresses of one family: as they are when both are IPv4, else as IPv6 (an
/// IPv4 address mapped).
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    match (src.ip().to_canonical(), dst.ip().to_canonical()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            SocketAddr::new(s.into(), src.port()),
            SocketAddr::new(d.into(), dst.port()),
        ),
        _ => (v6(src), v6(dst)),
    }
}

/// The header for a connection made for the client at `src` that connected to `dst`;
/// without a client (a health check), version 1's `UNKNOWN` and version 2's `LOCAL`.
pub fn header(v: ProxyProto, client: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    let client = client.map(|(s, d)| same_family(s, d));
    match v {
        ProxyProto::V1 => match client {
            None => b"PROXY UNKNOWN\r\n".to_vec(),
            Some((s, d)) => format!(
                "PROXY {} {} {} {} {}\r\n",
                if s.is_ipv4() { "TCP4" } else { "TCP6" },
                s.ip(),
                d.ip(),
                s.port(),
                d.port()
            )
            .into_bytes(),
        },
        ProxyProto::V2 => {
            let mut h = V2_SIG.to_vec();
            let Some((s, d)) = client else {
                // LOCAL, unspecified family, no address.
                h.extend_from_slice(&[0x20, 0x00, 0, 0]);
                return h;
            };
            let mut addrs = Vec::with_capacity(36);
            let fam = match (s.ip(), d.ip()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    addrs.extend_from_slice(&a.octets());
                    addrs.extend_from_slice(&b.octets());
                    0x11
                }
                (a, b) => {
                    let six = |ip: IpAddr| match ip {
                        IpAddr::V6(x) => x.octets(),
                        IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
                    };
                    addrs.extend_from_slice(&six(a));
                    addrs.extend_from_slice(&six(b));
                    0x21
                }
            };
            addrs.extend_from_slice(&s.port().to_be_bytes());
            addrs.extend_from_slice(&d.port().to_be_bytes());
            // PROXY command over TCP.
            h.push(0x21);
            h.push(fam);
            h.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
            h.extend_from_slice(&addrs);
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_as_the_protocol_defines_them() {
        let c = Some((
            "192.0.2.1:56324".parse().unwrap(),
            "198.51.100.7:443".parse().unwrap(),
        ));
        assert_eq!(
            header(ProxyProto::V1, c),
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"
        );
        assert_eq!(header(ProxyProto::V1, None), b"PROXY UNKNOWN\r\n");
        let v2 = header(ProxyProto::V2, c);
        assert_eq!(&v2[..12], V2_SIG);
        assert_eq!(&v2[12..16], &[0x21, 0x11, 0, 12]);
        assert_eq!(&v2[16..20], &[192, 0, 2, 1]);
        assert_eq!(&v2[24..28], &[0xdc, 0x04, 0x01, 0xbb]);
        assert_eq!(header(ProxyProto::V2, None)[12..], [0x20, 0, 0, 0]);
        // Mixed families: both as IPv6.
        let m = Some((
            "192.0.2.1:1".parse().unwrap(),
            "[2001:db8::1]:2".parse().unwrap(),
        ));
        assert_eq!(
            header(ProxyProto::V1, m),
            b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 1 2\r\n"
        );
        assert_eq!(header(ProxyProto::V2, m)[13], 0x21);
        assert_eq!(header(ProxyProto::V2, m).len(), 16 + 36);
    }
}
