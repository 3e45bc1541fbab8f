//! The `halo:vip` agent: start / stop / monitor of one virtual IP, with OCF return codes.
//!
//! Invariants:
//! - start never takes over an address that exists without halo's mark (a node's own
//!   address, or one added by hand): refused with `ERR_CONFIGURED`;
//! - stop removes only addresses carrying halo's mark ([`crate::HALO_IFA_PROTO`]);
//! - start and stop are idempotent (start of a held VIP re-announces it; stop of an
//!   absent VIP succeeds);
//! - announcements stop as soon as the address is gone (stop cancels them, and each
//!   repeat checks the address is still there), so a node that gave the VIP up never
//!   claims it again;
//! - with a `lifetime`, the address is added with that kernel lifetime and the kernel
//!   removes it by itself unless the holder renews it in time ([`Vip::renew`], while it
//!   holds its lease): a halo that is killed, stopped or wedged stops renewing, and the
//!   VIP goes. Renewal only refreshes halo's existing address: it never adds one back,
//!   never announces, and refuses an address that is not halo's.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use crate::{
    announce::RawSender,
    findif::{find_route, ConnectedRoute},
    netlink::{Addr, Link, NewAddr, Nl},
    packet,
    params::lifetime_secs,
    Attrs, VipError, VipParams,
};

/// OCF resource-agent return codes (the subset a VIP agent uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OcfRc {
    Success = 0,
    ErrGeneric = 1,
    ErrArgs = 2,
    ErrUnimplemented = 3,
    ErrPerm = 4,
    ErrInstalled = 5,
    ErrConfigured = 6,
    NotRunning = 7,
}

impl OcfRc {
    /// The numeric exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The outcome of an agent operation: the OCF code and, for failures (or a success
/// with a warning), a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcfResult {
    pub rc: OcfRc,
    pub reason: Option<String>,
}

impl OcfResult {
    fn new(rc: OcfRc, reason: Option<String>) -> OcfResult {
        OcfResult { rc, reason }
    }
    fn from_error(e: &VipError) -> OcfResult {
        OcfResult::new(e.ocf_rc(), Some(e.to_string()))
    }
}

/// Whether start returns after the first announcement (the rest follow in a background
/// task, as IPaddr2's `arp_bg`) or after the last one (for a short-lived CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceMode {
    Background,
    Wait,
}

/// What [`Vip::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartReport {
    pub ifname: String,
    pub prefix: u8,
    /// False when halo already held the address there (start is idempotent).
    pub added: bool,
    /// Announcements sent before returning.
    pub announced: u32,
    /// A problem that did not stop the address from being added (e.g. no raw socket).
    pub warning: Option<String>,
}

/// What [`Vip::state`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VipState {
    /// Held and usable. `valid_lft`: the kernel's remaining lifetime (whole seconds,
    /// rounded down by the kernel); `None` when permanent.
    Running {
        ifname: String,
        prefix: u8,
        valid_lft: Option<Duration>,
    },
    Stopped,
    Failed(String),
}

/// An address halo holds on this node (see [`list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaloAddress {
    pub ip: IpAddr,
    pub prefix: u8,
    pub ifname: String,
    pub label: Option<String>,
    /// Interface administratively up.
    pub up: bool,
    /// Interface has carrier.
    pub carrier: bool,
    /// IPv6 duplicate address detection still running.
    pub tentative: bool,
    /// IPv6 duplicate address detection failed.
    pub dad_failed: bool,
    /// The kernel's remaining valid lifetime (whole seconds, rounded down by the
    /// kernel: 0 means less than a second left); `None` when permanent.
    pub valid_lft: Option<Duration>,
    /// The kernel's remaining preferred lifetime; `None` when forever.
    pub preferred_lft: Option<Duration>,
}

/// What [`Vip::renew`] / [`renew`] did: the address was there, halo's, and now has
/// `lifetime` left again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    pub ip: IpAddr,
    pub prefix: u8,
    pub ifname: String,
    /// The lifetime the kernel got (the requested one rounded up to whole seconds,
    /// at least 1 s: see [`crate::params::lifetime_secs`]).
    pub lifetime: Duration,
}

/// One virtual IP, as configured. Holds no state between operations: every operation
/// reads the kernel's, so any `Vip` built from the same parameters manages the same
/// address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    params: VipParams,
}

/// How long start waits for IPv6 duplicate address detection (IPaddr2: 10 × 1 s).
const DAD_WAIT: Duration = Duration::from_secs(10);
const DAD_POLL: Duration = Duration::from_millis(50);

impl Vip {
    /// Builds a VIP from IPaddr2-named parameters (see [`VipParams::from_attrs`]).
    pub fn from_params(attrs: &Attrs) -> Result<Vip, VipError> {
        VipParams::from_attrs(attrs).map(Vip::new)
    }

    /// Builds a VIP from parsed parameters.
    pub fn new(params: VipParams) -> Vip {
        Vip { params }
    }

    /// The parameters.
    pub fn params(&self) -> &VipParams {
        &self.params
    }

    /// OCF start: add the address, announce it (in the background after the first).
    pub async fn start(&self) -> OcfResult {
        match self.add(AnnounceMode::Background).await {
            Ok(r) => OcfResult::new(OcfRc::Success, r.warning),
            Err(e) => OcfResult::from_error(&e),
        }
    }

    /// OCF stop: remove halo's address; refuse (`ERR_CONFIGURED`) to remove one halo
    /// did not add.
    pub async fn stop(&self) -> OcfResult {
        match self.remove().await {
            Ok(_) => OcfResult::new(OcfRc::Success, None),
            Err(e) => OcfResult::from_error(&e),
        }
    }

    /// OCF monitor: `SUCCESS` when halo's address is on an interface that is up with
    /// carrier, `NOT_RUNNING` when absent, `ERR_GENERIC` when present but unusable,
    /// `ERR_CONFIGURED` when the address is on this node without halo's mark. Sends
    /// `arp_count_refresh` announcements when running.
    pub async fn monitor(&self) -> OcfResult {
        match self.state().await {
            Ok(VipState::Running { .. }) => OcfResult::new(OcfRc::Success, None),
            Ok(VipState::Stopped) => OcfResult::new(OcfRc::NotRunning, None),
            Ok(VipState::Failed(why)) => OcfResult::new(OcfRc::ErrGeneric, Some(why)),
            Err(e) => OcfResult::from_error(&e),
        }
    }

    /// Adds the address (marked as halo's, with the kernel lifetime `lifetime` when
    /// set) and announces it. When halo already holds it, its lifetime is set to the
    /// configured one (renewed, or made permanent) and it is announced again.
    pub async fn add(&self, mode: AnnounceMode) -> Result<StartReport, VipError> {
        let p = &self.params;
        let ip = p.ip;
        let nl = Nl::open()?;
        let links = nl.links().await?;
        let (link, prefix) = self.resolve(&nl, &links).await?;
        let label = match ip {
            IpAddr::V4(_) => p.label_for(&link.name)?,
            IpAddr::V6(_) => None,
        };

        let existing = nl.addresses(Some(ip)).await?;
        check_ours(&existing, &links, "take it over")?;
        if let Some(other) = existing.iter().find(|a| a.index != link.index) {
            return Err(VipError::HeldElsewhere {
                ip,
                held_on: link_name(&links, other.index),
                wanted: link.name.clone(),
            });
        }
        let added = if existing.is_empty() {
            let broadcast = match ip {
                IpAddr::V4(v4) => p.broadcast.resolve(v4, prefix),
                IpAddr::V6(_) => None,
            };
            nl.add(&NewAddr {
                index: link.index,
                ip,
                prefix,
                broadcast,
                label,
                nodad: p.nodad,
                noprefixroute: p.noprefixroute,
                lifetime_secs: p.lifetime.map(lifetime_secs),
            })
            .await?
        } else {
            // Held already (start is idempotent): give it the configured lifetime.
            let held = &existing[0];
            let want = p.lifetime.map(lifetime_secs);
            if want.is_some() || held.valid_lft.is_some() {
                nl.set_lifetime(held, want).await?;
            }
            false
        };

        // Check the mark stuck (IFA_PROTO needs Linux 5.18) and, on EEXIST, that the
        // address someone added in the meantime is halo's.
        let now = nl.addresses(Some(ip)).await?;
        let Some(mine) = now.iter().find(|a| a.index == link.index) else {
            return Err(VipError::Netlink {
                op: format!("add {ip}/{prefix} on {}", link.name),
                source: std::io::Error::other("the address vanished right after being added"),
            });
        };
        if added && mine.proto.is_none() {
            nl.del(mine).await?;
            return Err(VipError::NoProtoSupport { ip });
        }
        check_ours(&now, &links, "take it over")?;
        if added {
            tracing::info!(%ip, prefix, ifname = %link.name, "VIP added");
        } else {
            tracing::info!(%ip, ifname = %link.name, "VIP already held; announcing again");
        }

        if ip.is_ipv6() && !p.nodad {
            wait_dad(&nl, &link, mine).await?;
        }

        let (announced, warning) = announce(nl, &link, ip, p.arp_count, p.arp_interval, mode).await;
        Ok(StartReport {
            ifname: link.name,
            prefix,
            added,
            announced,
            warning,
        })
    }

    /// Removes halo's address. Ok(false) when it was not there. Refuses (after removing
    /// any copy of halo's) when the address exists without halo's mark.
    pub async fn remove(&self) -> Result<bool, VipError> {
        let ip = self.params.ip;
        cancel_announcements(ip);
        let nl = Nl::open()?;
        let existing = nl.addresses(Some(ip)).await?;
        let links = nl.links().await?;
        let mut removed = false;
        for a in existing.iter().filter(|a| a.is_halo()) {
            removed |= nl.del(a).await?;
            tracing::info!(%ip, ifname = %link_name(&links, a.index), "VIP removed");
        }
        check_ours(&existing, &links, "remove it")?;
        Ok(removed)
    }

    /// Where the VIP stands on this node (see [`Vip::monitor`]).
    pub async fn state(&self) -> Result<VipState, VipError> {
        let p = &self.params;
        let nl = Nl::open()?;
        let existing = nl.addresses(Some(p.ip)).await?;
        let links = nl.links().await?;
        check_ours(&existing, &links, "manage it")?;
        let Some(a) = existing.first() else {
            return Ok(VipState::Stopped);
        };
        let Some(link) = links.iter().find(|l| l.index == a.index) else {
            return Ok(VipState::Stopped);
        };
        let failed = |why: String| Ok(VipState::Failed(format!("{}: {why}", p.ip)));
        if let Some(nic) = &p.nic {
            if &link.name != nic {
                return failed(format!("held on {}, but nic={nic}", link.name));
            }
        }
        if !link.up {
            return failed(format!("interface {} is down", link.name));
        }
        if !link.lower_up {
            return failed(format!("interface {} has no carrier", link.name));
        }
        if a.dad_failed() {
            return failed(format!(
                "duplicate address detected on {} (another host uses it)",
                link.name
            ));
        }
        if a.tentative() {
            return failed(format!("still tentative on {} (DAD running)", link.name));
        }
        if p.arp_count_refresh > 0 {
            announce(
                nl,
                link,
                p.ip,
                p.arp_count_refresh,
                p.arp_interval,
                AnnounceMode::Background,
            )
            .await;
        }
        Ok(VipState::Running {
            ifname: link.name.clone(),
            prefix: a.prefix,
            valid_lft: a.valid_for(),
        })
    }

    /// Renews the kernel lifetime of halo's address to the configured `lifetime`
    /// (see [`renew`]). The holder calls it while it holds its lease, well within the
    /// lifetime (e.g. every third of it). Refused when the VIP has no `lifetime`
    /// (a permanent address needs no renewal).
    pub async fn renew(&self) -> Result<Renewal, VipError> {
        let lifetime = self.params.lifetime.ok_or(VipError::MissingParam {
            name: "lifetime",
            hint: "renewal needs a lifetime (e.g. lifetime=2s); without one the address \
                   is permanent and needs no renewal",
        })?;
        renew(self.params.ip, lifetime).await
    }

    /// The interface and prefix length for the address: `nic` and `cidr_netmask` when
    /// given, otherwise from the connected route containing the address.
    async fn resolve(&self, nl: &Nl, links: &[Link]) -> Result<(Link, u8), VipError> {
        let p = &self.params;
        let by_name = |nic: &str| {
            links
                .iter()
                .find(|l| l.name == nic)
                .cloned()
                .ok_or_else(|| VipError::UnknownNic {
                    nic: nic.to_string(),
                })
        };
        match (&p.nic, p.cidr_netmask) {
            (Some(nic), Some(prefix)) => Ok((by_name(nic)?, prefix)),
            (Some(nic), None) => {
                let link = by_name(nic)?;
                let routes = nl.connected_routes(p.ip).await?;
                let r =
                    find_route(p.ip, &routes, Some(nic)).ok_or_else(|| VipError::NoNetmask {
                        ip: p.ip,
                        nic: nic.clone(),
                    })?;
                Ok((link, r.prefix))
            }
            (None, mask) => {
                let routes = nl.connected_routes(p.ip).await?;
                let r = find_route(p.ip, &routes, None).ok_or_else(|| VipError::NoInterface {
                    ip: p.ip,
                    subnets: describe(&routes),
                })?;
                let link = links
                    .iter()
                    .find(|l| l.index == r.ifindex)
                    .cloned()
                    .ok_or_else(|| VipError::UnknownNic {
                        nic: r.ifname.clone(),
                    })?;
                Ok((link, mask.unwrap_or(r.prefix)))
            }
        }
    }
}

/// Renews the kernel lifetime of halo's address `ip` on this node to `lifetime`
/// (rounded up to whole seconds, at least 1 s: [`crate::params::lifetime_secs`]),
/// valid and preferred alike, in place: RTM_NEWADDR with NLM_F_REPLACE, so the address
/// stays (no removal, no duplicate address detection) and nothing is announced.
///
/// Refused, and nothing changed, when the address is on this node without halo's mark
/// ([`VipError::NotOurs`], HALO-E520), and when it is not on this node
/// ([`VipError::NotHeld`], HALO-E522: the lifetime ran out or it was removed; the
/// caller has lost the VIP and must not believe otherwise).
///
/// The kernel creates the address when a replace finds none, so an expiry between the
/// check and the replace would bring it back unannounced: renewal reads the address's
/// creation stamp before and after, and when it changed removes the new copy again
/// and answers `NotHeld`.
pub async fn renew(ip: IpAddr, lifetime: Duration) -> Result<Renewal, VipError> {
    let secs = lifetime_secs(lifetime);
    let nl = Nl::open()?;
    let links = nl.links().await?;
    let before = nl.addresses(Some(ip)).await?;
    check_ours(&before, &links, "renew it")?;
    let Some(held) = before.first() else {
        return Err(VipError::NotHeld { ip });
    };
    nl.set_lifetime(held, Some(secs)).await?;

    let after = nl.addresses(Some(ip)).await?;
    let now = after.iter().find(|a| a.index == held.index);
    match now {
        Some(a) if a.is_halo() && a.created == held.created => {}
        Some(a) if a.is_halo() => {
            // It expired between the check and the replace, and the replace created
            // it anew: take that copy away again.
            nl.del(a).await?;
            tracing::warn!(%ip, "VIP expired while being renewed; removed the copy the renewal re-created");
            return Err(VipError::NotHeld { ip });
        }
        Some(_) => check_ours(&after, &links, "renew it")?,
        None => return Err(VipError::NotHeld { ip }),
    }
    let ifname = link_name(&links, held.index);
    tracing::debug!(%ip, %ifname, secs, "VIP lifetime renewed");
    Ok(Renewal {
        ip,
        prefix: held.prefix,
        ifname,
        lifetime: Duration::from_secs(u64::from(secs)),
    })
}

/// Every address halo holds on this node.
pub async fn list() -> Result<Vec<HaloAddress>, VipError> {
    let nl = Nl::open()?;
    let links = nl.links().await?;
    let mut out: Vec<HaloAddress> = nl
        .addresses(None)
        .await?
        .into_iter()
        .filter(Addr::is_halo)
        .map(|a| {
            let link = links.iter().find(|l| l.index == a.index);
            HaloAddress {
                ip: a.ip,
                prefix: a.prefix,
                ifname: link.map_or_else(|| format!("if{}", a.index), |l| l.name.clone()),
                // The kernel labels every IPv4 address with the interface name.
                label: a.label.clone().filter(|l| Some(l) != link.map(|l| &l.name)),
                up: link.is_some_and(|l| l.up),
                carrier: link.is_some_and(|l| l.lower_up),
                tentative: a.tentative(),
                dad_failed: a.dad_failed(),
                valid_lft: a.valid_for(),
                preferred_lft: a.preferred_for(),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.ifname, a.ip).cmp(&(&b.ifname, b.ip)));
    Ok(out)
}

fn link_name(links: &[Link], index: u32) -> String {
    links
        .iter()
        .find(|l| l.index == index)
        .map_or_else(|| format!("if{index}"), |l| l.name.clone())
}

/// Refuses when any of these addresses lacks halo's mark.
fn check_ours(addrs: &[Addr], links: &[Link], action: &'static str) -> Result<(), VipError> {
    match addrs.iter().find(|a| !a.is_halo()) {
        Some(a) => Err(VipError::NotOurs {
            ip: a.ip,
            ifname: link_name(links, a.index),
            action,
        }),
        None => Ok(()),
    }
}

fn describe(routes: &[ConnectedRoute]) -> String {
    if routes.is_empty() {
        return "none".into();
    }
    routes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits until IPv6 DAD finishes; on failure or timeout removes the address.
async fn wait_dad(nl: &Nl, link: &Link, added: &Addr) -> Result<(), VipError> {
    let ip = added.ip;
    let start = tokio::time::Instant::now();
    loop {
        let now = nl.addresses(Some(ip)).await?;
        let Some(a) = now.iter().find(|a| a.index == link.index) else {
            return Err(VipError::DadFailed {
                ip,
                ifname: link.name.clone(),
            });
        };
        if a.dad_failed() {
            nl.del(a).await?;
            return Err(VipError::DadFailed {
                ip,
                ifname: link.name.clone(),
            });
        }
        if !a.tentative() {
            return Ok(());
        }
        if start.elapsed() >= DAD_WAIT {
            nl.del(a).await?;
            return Err(VipError::DadTimeout {
                ip,
                ifname: link.name.clone(),
                secs: DAD_WAIT.as_secs(),
            });
        }
        tokio::time::sleep(DAD_POLL).await;
    }
}

type AnnouncerKey = (String, IpAddr);

/// Background announcers, per (network namespace, address), so stop can cancel them.
fn announcers() -> &'static Mutex<HashMap<AnnouncerKey, tokio::task::AbortHandle>> {
    static MAP: OnceLock<Mutex<HashMap<AnnouncerKey, tokio::task::AbortHandle>>> = OnceLock::new();
    MAP.get_or_init(Default::default)
}

/// The calling thread's network namespace (`net:[inode]`).
fn netns_id() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn cancel_announcements(ip: IpAddr) {
    let key = (netns_id(), ip);
    if let Ok(mut map) = announcers().lock() {
        if let Some(h) = map.remove(&key) {
            h.abort();
        }
    }
}

/// Whether IPv6 forwarding is on for the interface (sets the NA's Router flag).
fn forwarding_v6(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .is_ok_and(|s| s.trim() == "1")
}

/// Sends `count` announcements of `ip` on `link`, `interval` apart: the first now, the
/// rest from a task (awaited in [`AnnounceMode::Wait`]) that stops as soon as the address
/// is no longer halo's on that link. Returns how many were sent before returning and a
/// warning when none could be.
async fn announce(
    nl: Nl,
    link: &Link,
    ip: IpAddr,
    count: u32,
    interval: Duration,
    mode: AnnounceMode,
) -> (u32, Option<String>) {
    if count == 0 {
        return (0, None);
    }
    let Some(mac) = link.mac else {
        let w = format!(
            "{ip}: {} has no Ethernet address; no gratuitous ARP/NA sent",
            link.name
        );
        tracing::warn!("{w}");
        return (0, Some(w));
    };
    let frame: Vec<u8> = match ip {
        IpAddr::V4(v4) => packet::gratuitous_arp(mac, v4).to_vec(),
        IpAddr::V6(v6) => packet::unsolicited_na(mac, v6, forwarding_v6(&link.name)).to_vec(),
    };
    let sender = match RawSender::open(link.index) {
        Ok(s) => s,
        Err(e) => {
            let w = format!(
                "{ip}: cannot open a raw socket on {} ({e}; needs CAP_NET_RAW); \
                 no gratuitous ARP/NA sent, clients may keep the old MAC for minutes",
                link.name
            );
            tracing::warn!("{w}");
            return (0, Some(w));
        }
    };
    if let Err(e) = sender.send(&frame) {
        let w = format!(
            "{ip}: sending the announcement on {} failed: {e}",
            link.name
        );
        tracing::warn!("{w}");
        return (0, Some(w));
    }
    tracing::debug!(%ip, ifname = %link.name, "announcement 1/{count} sent");
    if count == 1 {
        return (1, None);
    }
    let key = (netns_id(), ip);
    let ifindex = link.index;
    let ifname = link.name.clone();
    let sent = Arc::new(std::sync::atomic::AtomicU32::new(1));
    let sent_in_task = sent.clone();
    let task = tokio::spawn(async move {
        for n in 2..=count {
            tokio::time::sleep(interval).await;
            let still_ours = nl
                .addresses(Some(ip))
                .await
                .is_ok_and(|v| v.iter().any(|a| a.index == ifindex && a.is_halo()));
            if !still_ours {
                tracing::debug!(%ip, "address gone; announcements stopped");
                return;
            }
            if let Err(e) = sender.send(&frame) {
                tracing::warn!(%ip, %ifname, "announcement {n}/{count} failed: {e}");
                return;
            }
            sent_in_task.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(%ip, %ifname, "announcement {n}/{count} sent");
        }
    });
    if let Ok(mut map) = announcers().lock() {
        map.retain(|_, h| !h.is_finished());
        if let Some(old) = map.insert(key, task.abort_handle()) {
            old.abort();
        }
    }
    if mode == AnnounceMode::Wait {
        let _ = task.await;
    }
    (sent.load(std::sync::atomic::Ordering::Relaxed), None)
}
