//! The only place that talks to rtnetlink (pinned versions; its API changes often).
//! Everything above this module sees plain types: [`Link`], [`Addr`], [`NewAddr`],
//! [`ConnectedRoute`].

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use futures_util::TryStreamExt;
use netlink_packet_route::{
    address::{
        AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
        CacheInfo,
    },
    link::{LinkAttribute, LinkFlags, LinkLayerType, LinkMessage},
    route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType},
    AddressFamily,
};
use rtnetlink::{AddressMessageBuilder, Handle, RouteMessageBuilder};

use crate::{findif::ConnectedRoute, VipError, HALO_IFA_PROTO};

/// An interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub lower_up: bool,
    /// The MAC address, for Ethernet-like links.
    pub mac: Option<[u8; 6]>,
}

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
    /// IFA_PROTO: who added it (halo's is [`HALO_IFA_PROTO`]).
    pub proto: Option<u8>,
    pub flags: AddressFlags,
    /// IFA_CACHEINFO's remaining valid lifetime in seconds; `None` when permanent.
    pub valid_lft: Option<u32>,
    /// IFA_CACHEINFO's remaining preferred lifetime in seconds; `None` when forever.
    pub preferred_lft: Option<u32>,
    /// IFA_CACHEINFO's creation stamp (hundredths of a second since boot): tells a
    /// renewed address from one created anew.
    pub created: Option<u32>,
}

impl Addr {
    /// Whether halo added this address.
    pub fn is_halo(&self) -> bool {
        self.proto == Some(HALO_IFA_PROTO)
    }
    /// IPv6 duplicate address detection still running.
    pub fn tentative(&self) -> bool {
        self.flags.contains(AddressFlags::Tentative)
    }
    /// IPv6 duplicate address detection found another holder.
    pub fn dad_failed(&self) -> bool {
        self.flags.contains(AddressFlags::Dadfailed)
    }
    /// The remaining valid lifetime; `None` when permanent.
    pub fn valid_for(&self) -> Option<Duration> {
        self.valid_lft.map(|s| Duration::from_secs(u64::from(s)))
    }
    /// The remaining preferred lifetime; `None` when forever.
    pub fn preferred_for(&self) -> Option<Duration> {
        self.preferred_lft
            .map(|s| Duration::from_secs(u64::from(s)))
    }
}

/// The kernel's "forever" in IFA_CACHEINFO.
const INFINITY_LIFE_TIME: u32 = u32::MAX;

/// IFA_CACHEINFO for a lifetime of `secs` (valid = preferred).
fn cache_info(secs: u32) -> CacheInfo {
    let mut ci = CacheInfo::default();
    ci.ifa_valid = secs;
    ci.ifa_preferred = secs;
    ci
}

/// The address flags a RTM_NEWADDR may set (the kernel ignores the others, which it
/// manages itself: permanent, deprecated, tentative...).
fn settable_flags(f: AddressFlags) -> AddressFlags {
    f & (AddressFlags::Nodad
        | AddressFlags::Homeaddress
        | AddressFlags::Managetempaddr
        | AddressFlags::Noprefixroute
        | AddressFlags::Mcautojoin
        | AddressFlags::Optimistic)
}

/// An address to add.
#[derive(Debug, Clone)]
pub struct NewAddr {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
    pub nodad: bool,
    pub noprefixroute: bool,
    /// Kernel lifetime in seconds (valid = preferred, >= 1); `None`: permanent.
    pub lifetime_secs: Option<u32>,
}

/// The errno of a netlink error reply, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn nl_error(op: String, e: rtnetlink::Error) -> VipError {
    match errno(&e) {
        Some(libc::EPERM) | Some(libc::EACCES) => VipError::Permission { op },
        Some(n) => VipError::Netlink {
            op,
            source: io::Error::from_raw_os_error(n),
        },
        None => VipError::Netlink {
            op,
            source: io::Error::other(e.to_string()),
        },
    }
}

/// A netlink route connection; its I/O task is stopped on drop.
pub struct Nl {
    handle: Handle,
    conn: tokio::task::JoinHandle<()>,
}

impl Drop for Nl {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl Nl {
    /// Opens a connection in the calling thread's network namespace.
    pub fn open() -> Result<Nl, VipError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|source| VipError::Io {
            op: "open a netlink socket".into(),
            source,
        })?;
        Ok(Nl {
            handle,
            conn: tokio::spawn(conn),
        })
    }

    /// All interfaces.
    pub async fn links(&self) -> Result<Vec<Link>, VipError> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_error("list interfaces".into(), e))?;
        Ok(msgs.iter().map(link_from).collect())
    }

    /// Addresses of all interfaces (of one address only, when `ip` is given).
    pub async fn addresses(&self, ip: Option<IpAddr>) -> Result<Vec<Addr>, VipError> {
        let mut req = self.handle.address().get();
        if let Some(ip) = ip {
            req = req.set_address_filter(ip);
        }
        let msgs: Vec<AddressMessage> = req
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_error("list addresses".into(), e))?;
        Ok(msgs.iter().filter_map(addr_from).collect())
    }

    /// Connected routes of the main table for `ip`'s family, with interface names.
    pub async fn connected_routes(&self, ip: IpAddr) -> Result<Vec<ConnectedRoute>, VipError> {
        let query = match ip {
            IpAddr::V4(_) => RouteMessageBuilder::<Ipv4Addr>::new().build(),
            IpAddr::V6(_) => RouteMessageBuilder::<Ipv6Addr>::new().build(),
        };
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(query)
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_error("list routes".into(), e))?;
        let links = self.links().await?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                let mut r = connected_from(m)?;
                r.ifname = links.iter().find(|l| l.index == r.ifindex)?.name.clone();
                Some(r)
            })
            .collect())
    }

    /// Adds an address marked as halo's. Ok(false) when it already existed (EEXIST).
    pub async fn add(&self, a: &NewAddr) -> Result<bool, VipError> {
        let mut msg = match a.ip {
            IpAddr::V4(ip) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(a.index)
                .address(ip, a.prefix)
                .build(),
            IpAddr::V6(ip) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(a.index)
                .address(ip, a.prefix)
                .build(),
        };
        msg.attributes
            .retain(|at| !matches!(at, AddressAttribute::Broadcast(_)));
        if let Some(b) = a.broadcast {
            msg.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let Some(l) = &a.label {
            msg.attributes.push(AddressAttribute::Label(l.clone()));
        }
        let mut flags = AddressFlags::empty();
        if a.nodad && a.ip.is_ipv6() {
            flags |= AddressFlags::Nodad;
            msg.header.flags |= AddressHeaderFlags::Nodad;
        }
        if a.noprefixroute {
            flags |= AddressFlags::Noprefixroute;
        }
        if !flags.is_empty() {
            msg.attributes.push(AddressAttribute::Flags(flags));
        }
        if let Some(secs) = a.lifetime_secs {
            msg.attributes
                .push(AddressAttribute::CacheInfo(cache_info(secs)));
        }
        msg.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::Other(
                HALO_IFA_PROTO,
            )));
        let mut req = self.handle.address().add(a.index, a.ip, a.prefix);
        *req.message_mut() = msg;
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(nl_error(format!("add {}/{}", a.ip, a.prefix), e)),
        }
    }

    /// Sets a new lifetime (`secs`, valid = preferred; `None`: permanent) on an existing
    /// address of halo's, through RTM_NEWADDR with NLM_F_REPLACE: the kernel keeps the
    /// address (no removal, no duplicate address detection, no announcement) and
    /// updates its lifetime. The message repeats what the kernel would otherwise
    /// overwrite on replace: halo's protocol mark and the address flags.
    ///
    /// Caution: the kernel creates the address when it does not exist, NLM_F_CREATE or
    /// not (net/ipv4/devinet.c and net/ipv6/addrconf.c: "userspace already relies on not
    /// having to provide this"), so the caller checks it existed (and, after, that it
    /// was not created anew: [`Addr::created`]).
    pub async fn set_lifetime(&self, a: &Addr, secs: Option<u32>) -> Result<(), VipError> {
        let mut msg = match a.ip {
            IpAddr::V4(ip) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(a.index)
                .address(ip, a.prefix)
                .build(),
            IpAddr::V6(ip) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(a.index)
                .address(ip, a.prefix)
                .build(),
        };
        // On IPv4 the kernel keeps the existing broadcast and label; only lifetime,
        // protocol and metric are replaced.
        msg.attributes
            .retain(|at| !matches!(at, AddressAttribute::Broadcast(_)));
        let flags = settable_flags(a.flags);
        if flags.contains(AddressFlags::Nodad) {
            msg.header.flags |= AddressHeaderFlags::Nodad;
        }
        // IPv6 replaces the flags with these: keep nodad, noprefixroute...
        msg.attributes.push(AddressAttribute::Flags(flags));
        msg.attributes.push(AddressAttribute::CacheInfo(cache_info(
            secs.unwrap_or(INFINITY_LIFE_TIME),
        )));
        msg.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::Other(
                a.proto.unwrap_or(HALO_IFA_PROTO),
            )));
        let mut req = self.handle.address().add(a.index, a.ip, a.prefix).replace();
        *req.message_mut() = msg;
        req.execute()
            .await
            .map_err(|e| nl_error(format!("renew the lifetime of {}/{}", a.ip, a.prefix), e))
    }

    /// Deletes an address. Ok(false) when it was already gone.
    pub async fn del(&self, a: &Addr) -> Result<bool, VipError> {
        let msg = match a.ip {
            IpAddr::V4(ip) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(a.index)
                .address(ip, a.prefix)
                .build(),
            IpAddr::V6(ip) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(a.index)
                .address(ip, a.prefix)
                .build(),
        };
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT)) => {
                Ok(false)
            }
            Err(e) => Err(nl_error(format!("delete {}/{}", a.ip, a.prefix), e)),
        }
    }
}

fn link_from(m: &LinkMessage) -> Link {
    let mut name = String::new();
    let mut mac = None;
    for at in &m.attributes {
        match at {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(a) if a.len() == 6 => {
                let mut b = [0u8; 6];
                b.copy_from_slice(a);
                mac = Some(b);
            }
            _ => {}
        }
    }
    if m.header.link_layer_type != LinkLayerType::Ether {
        mac = None;
    }
    Link {
        index: m.header.index,
        name,
        up: m.header.flags.contains(LinkFlags::Up),
        lower_up: m.header.flags.contains(LinkFlags::LowerUp),
        mac,
    }
}

fn addr_from(m: &AddressMessage) -> Option<Addr> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut proto = None;
    let mut flags = None;
    let mut cache = None;
    for at in &m.attributes {
        match at {
            AddressAttribute::CacheInfo(c) => cache = Some(*c),
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Protocol(p) => proto = Some(u8::from(*p)),
            AddressAttribute::Flags(f) => flags = Some(*f),
            _ => {}
        }
    }
    // IFA_LOCAL is the address itself (IFA_ADDRESS is the peer on point-to-point links).
    let ip = local.or(address)?;
    let family_ok = matches!(
        (m.header.family, ip),
        (AddressFamily::Inet, IpAddr::V4(_)) | (AddressFamily::Inet6, IpAddr::V6(_))
    );
    family_ok.then(|| Addr {
        index: m.header.index,
        ip,
        prefix: m.header.prefix_len,
        label,
        proto,
        flags: flags
            .unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()))),
        valid_lft: cache
            .map(|c| c.ifa_valid)
            .filter(|&v| v != INFINITY_LIFE_TIME),
        preferred_lft: cache
            .map(|c| c.ifa_preferred)
            .filter(|&v| v != INFINITY_LIFE_TIME),
        created: cache.map(|c| c.cstamp),
    })
}

fn connected_from(m: &RouteMessage) -> Option<ConnectedRoute> {
    let h = &m.header;
    let mut table = u32::from(h.table);
    let (mut dst, mut oif, mut metric) = (None, None, 0);
    for at in &m.attributes {
        match at {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = Some(IpAddr::V4(*a)),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => dst = Some(IpAddr::V6(*a)),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(_) | RouteAttribute::Via(_) | RouteAttribute::MultiPath(_) => {
                return None
            }
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN)
        || h.kind != RouteType::Unicast
        || h.destination_prefix_length == 0
    {
        return None;
    }
    let dst = dst?;
    if let IpAddr::V6(a) = dst {
        if (a.segments()[0] & 0xffc0) == 0xfe80 {
            return None;
        }
    }
    Some(ConnectedRoute {
        ifindex: oif?,
        ifname: String::new(),
        dst,
        prefix: h.destination_prefix_length,
        metric,
    })
}
