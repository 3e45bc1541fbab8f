//! Virtual IP addresses: the `halo:vip` agent (IPaddr2's job, natively).
//!
//! A [`Vip`] is built from IPaddr2-named parameters ([`Vip::from_params`]) and then
//! started, stopped and monitored. Start adds the address through netlink (marked as
//! halo's with the address protocol `IFA_PROTO` = [`HALO_IFA_PROTO`]), then announces it
//! with gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6) from an
//! `AF_PACKET` socket, `arp_count` times every `arp_interval` ms. Stop removes only an
//! address that carries halo's mark; the node's own addresses are refused.
//!
//! With the `lifetime` parameter the address gets a kernel lifetime (`valid_lft` =
//! `preferred_lft`, whole seconds) that the holder renews ([`Vip::renew`]) while it
//! holds its lease; if halo dies, is stopped or wedges, renewals stop and the kernel
//! itself removes the VIP. [`list`] shows each address's remaining lifetime.
//!
//! Layers: [`params`] (parse and validate, pure), [`findif`] (choose the interface from
//! the connected routes, pure), [`packet`] (build the frames, pure); `netlink` and
//! `announce` do the I/O; `agent` ties them together.

mod agent;
mod announce;
mod error;
pub mod findif;
mod netlink;
pub mod packet;
pub mod params;

pub use agent::{
    list, renew, AnnounceMode, HaloAddress, OcfRc, OcfResult, Renewal, StartReport, Vip, VipState,
};
pub use error::VipError;
pub use params::{Attrs, ParamDoc, VipParams, PARAMETERS};

/// The address protocol (`IFA_PROTO`, Linux >= 5.18) halo puts on every address it adds,
/// and the only addresses it will remove. Recent iproute2 shows it as `proto 0xa1`
/// (`proto halo` once named in `/etc/iproute2/rt_addrprotos`).
pub const HALO_IFA_PROTO: u8 = 0xa1;
