//! Errors of the vip crate: each names the object (parameter, address, interface), the
//! reason, and what to do; each maps to an OCF return code.

use std::{io, net::IpAddr};

use crate::agent::OcfRc;

/// Why a VIP operation failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum VipError {
    /// A required parameter is absent.
    #[error("HALO-E501 parameter {name}: missing; {hint}")]
    MissingParam {
        name: &'static str,
        hint: &'static str,
    },
    /// A parameter has a value halo cannot use.
    #[error("HALO-E502 parameter {name}={value:?}: {reason}")]
    BadParam {
        name: String,
        value: String,
        reason: String,
    },
    /// A parameter that neither halo:vip nor IPaddr2 knows.
    #[error("HALO-E503 parameter {name}: unknown to halo:vip (known: {known})")]
    UnknownParam { name: String, known: String },
    /// An IPaddr2 feature halo:vip does not implement, set to a non-default value.
    #[error("HALO-E504 parameter {name}={value:?}: not supported by halo:vip; {hint}")]
    Unsupported {
        name: String,
        value: String,
        hint: &'static str,
    },
    /// No `nic` given and no connected subnet contains the address.
    #[error(
        "HALO-E510 {ip}: no interface of this node has a connected subnet containing it \
         (connected subnets: {subnets}); give nic= and cidr_netmask=, or configure the subnet"
    )]
    NoInterface { ip: IpAddr, subnets: String },
    /// The `nic` does not exist on this node.
    #[error("HALO-E511 nic={nic}: no such interface on this node")]
    UnknownNic { nic: String },
    /// `nic` given, `cidr_netmask` not, and no connected subnet on `nic` contains the IP.
    #[error(
        "HALO-E512 {ip}: cidr_netmask not given and no connected subnet on {nic} contains it; \
         give cidr_netmask="
    )]
    NoNetmask { ip: IpAddr, nic: String },
    /// `nic:iflabel` is longer than an interface label may be.
    #[error("HALO-E513 iflabel: label {label:?} is longer than 15 bytes; use a shorter iflabel")]
    LabelTooLong { label: String },
    /// The address exists on this node but halo did not add it (e.g. the node's own).
    #[error(
        "HALO-E520 {ip} is an address of this node on {ifname} that halo did not add; \
         refusing to {action} (a VIP must be an address that no node owns; \
         an address added by hand is removed with `ip address del`)"
    )]
    NotOurs {
        ip: IpAddr,
        ifname: String,
        action: &'static str,
    },
    /// halo already holds the address, but on another interface than the one asked for.
    #[error("HALO-E521 {ip} is already held by halo on {held_on}, not on {wanted}; stop it first")]
    HeldElsewhere {
        ip: IpAddr,
        held_on: String,
        wanted: String,
    },
    /// Renewal of an address halo does not hold (any more) on this node: its lifetime
    /// ran out, or it was removed. Renewal never adds an address back.
    #[error(
        "HALO-E522 {ip}: not held by halo on this node (its lifetime ran out or it was \
         removed); refusing to renew it (only start adds and announces it again)"
    )]
    NotHeld { ip: IpAddr },
    /// IPv6 duplicate address detection found another holder.
    #[error(
        "HALO-E530 {ip} on {ifname}: duplicate address detected (another host on the link \
         uses it); the address was removed"
    )]
    DadFailed { ip: IpAddr, ifname: String },
    /// IPv6 duplicate address detection did not finish in time.
    #[error(
        "HALO-E531 {ip} on {ifname}: duplicate address detection did not finish within \
         {secs} s (is the link up?); the address was removed"
    )]
    DadTimeout {
        ip: IpAddr,
        ifname: String,
        secs: u64,
    },
    /// The kernel dropped halo's address mark (IFA_PROTO needs Linux 5.18 or later).
    #[error(
        "HALO-E532 {ip}: this kernel does not keep the address protocol (IFA_PROTO, \
         Linux >= 5.18), so halo cannot mark the address as its own; it was removed again"
    )]
    NoProtoSupport { ip: IpAddr },
    /// The kernel refused for lack of privilege.
    #[error("HALO-E541 {op}: permission denied; needs CAP_NET_ADMIN (run as root)")]
    Permission { op: String },
    /// Another netlink failure.
    #[error("HALO-E540 {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: io::Error,
    },
    /// A failure outside netlink (socket, runtime).
    #[error("HALO-E550 {op}: {source}")]
    Io {
        op: String,
        #[source]
        source: io::Error,
    },
}

impl VipError {
    /// The OCF return code an agent reports for this error.
    ///
    /// Configuration errors (bad parameters, a VIP that is a node's own address) are
    /// `ERR_CONFIGURED`: they hold on every node. A node that cannot host the address
    /// (no interface for its subnet, no such `nic`, an old kernel) is `ERR_INSTALLED`,
    /// so only that node is excluded. Permission is `ERR_PERM`; a renewal of an address
    /// that is gone `NOT_RUNNING`; the rest `ERR_GENERIC`.
    pub fn ocf_rc(&self) -> OcfRc {
        use VipError::*;
        match self {
            MissingParam { .. }
            | BadParam { .. }
            | UnknownParam { .. }
            | Unsupported { .. }
            | NoNetmask { .. }
            | LabelTooLong { .. }
            | NotOurs { .. } => OcfRc::ErrConfigured,
            NoInterface { .. } | UnknownNic { .. } | NoProtoSupport { .. } => OcfRc::ErrInstalled,
            Permission { .. } => OcfRc::ErrPerm,
            NotHeld { .. } => OcfRc::NotRunning,
            HeldElsewhere { .. }
            | DadFailed { .. }
            | DadTimeout { .. }
            | Netlink { .. }
            | Io { .. } => OcfRc::ErrGeneric,
        }
    }
}
