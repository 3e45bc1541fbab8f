//! `halo vip add|del|show`: virtual IPs by hand, with the halo:vip agent's code (the
//! same marking, the same refusals, the same gratuitous ARP / NA announcements).

use std::collections::BTreeMap;

use anyhow::Context as _;
use halo_vip::{AnnounceMode, Vip};

/// Arguments of `halo vip`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: VipCommand,
}

#[derive(clap::Subcommand)]
pub enum VipCommand {
    /// Add a virtual IP on this node and announce it (gratuitous ARP / unsolicited NA).
    /// Without a prefix or --nic, the interface and prefix come from the connected
    /// subnet that contains the address.
    Add {
        /// The address, optionally with its prefix length: 192.0.2.10/24, fd00::10/64.
        #[arg(value_name = "IP[/PREFIX]")]
        address: String,
        /// The interface (default: found from the routing table).
        #[arg(long, value_name = "IFACE")]
        nic: Option<String>,
        /// IPv4 address label: the address is labelled IFACE:LABEL.
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
        /// Announcements to send (0: none).
        #[arg(long, value_name = "N", default_value_t = 5)]
        arp_count: u32,
        /// Milliseconds between announcements.
        #[arg(long, value_name = "MS", default_value_t = 200)]
        arp_interval: u64,
        /// IPv6: wait for duplicate address detection (and fail if another host has
        /// the address) instead of adding without it.
        #[arg(long)]
        dad: bool,
    },
    /// Remove a virtual IP that halo added; refuses addresses halo did not add.
    Del {
        /// The address (a prefix length, if given, is checked for validity only).
        #[arg(value_name = "IP[/PREFIX]")]
        address: String,
        /// The interface (for validation; halo's address is removed wherever it is).
        #[arg(long, value_name = "IFACE")]
        nic: Option<String>,
    },
    /// List the virtual IPs halo holds on this node.
    Show {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Splits `IP[/PREFIX]` into agent parameters.
fn address_params(address: &str, nic: Option<&str>) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    let (ip, prefix) = match address.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (address, None),
    };
    attrs.insert("ip".to_string(), ip.to_string());
    if let Some(p) = prefix {
        attrs.insert("cidr_netmask".to_string(), p.to_string());
    }
    if let Some(n) = nic {
        attrs.insert("nic".to_string(), n.to_string());
    }
    attrs
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        match args.command {
            VipCommand::Add {
                address,
                nic,
                label,
                arp_count,
                arp_interval,
                dad,
            } => {
                let mut attrs = address_params(&address, nic.as_deref());
                if let Some(l) = label {
                    attrs.insert("iflabel".into(), l);
                }
                attrs.insert("arp_count".into(), arp_count.to_string());
                attrs.insert("arp_interval".into(), arp_interval.to_string());
                attrs.insert("nodad".into(), (!dad).to_string());
                let vip = Vip::from_params(&attrs)?;
                let r = vip.add(AnnounceMode::Wait).await?;
                if let Some(w) = &r.warning {
                    eprintln!("halo: warning: {w}");
                }
                let ip = vip.params().ip;
                if r.added {
                    println!(
                        "added {ip}/{} on {} ({} announcement(s) sent)",
                        r.prefix, r.ifname, r.announced
                    );
                } else {
                    println!(
                        "{ip}/{} already held by halo on {}; announced again ({} sent)",
                        r.prefix, r.ifname, r.announced
                    );
                }
                Ok(())
            }
            VipCommand::Del { address, nic } => {
                let vip = Vip::from_params(&address_params(&address, nic.as_deref()))?;
                let ip = vip.params().ip;
                if vip.remove().await? {
                    println!("removed {ip}");
                } else {
                    println!("{ip} is not on this node; nothing to remove");
                }
                Ok(())
            }
            VipCommand::Show { json } => {
                let held = halo_vip::list().await?;
                let state = |h: &halo_vip::HaloAddress| {
                    if h.dad_failed {
                        "dadfailed"
                    } else if h.tentative {
                        "tentative"
                    } else if !h.up {
                        "down"
                    } else if !h.carrier {
                        "no-carrier"
                    } else {
                        "up"
                    }
                };
                if json {
                    let rows: Vec<serde_json::Value> = held
                        .iter()
                        .map(|h| {
                            serde_json::json!({
                                "address": h.ip.to_string(),
                                "prefix": h.prefix,
                                "interface": h.ifname,
                                "label": h.label,
                                "state": state(h),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                    return Ok(());
                }
                if held.is_empty() {
                    println!("no virtual IPs held by halo on this node");
                    return Ok(());
                }
                let rows: Vec<[String; 4]> = held
                    .iter()
                    .map(|h| {
                        [
                            format!("{}/{}", h.ip, h.prefix),
                            h.ifname.clone(),
                            h.label.clone().unwrap_or_else(|| "-".into()),
                            state(h).to_string(),
                        ]
                    })
                    .collect();
                let header = ["ADDRESS", "INTERFACE", "LABEL", "STATE"].map(String::from);
                let widths: Vec<usize> = (0..4)
                    .map(|i| {
                        rows.iter()
                            .chain(std::iter::once(&header))
                            .map(|r| r[i].len())
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                for r in std::iter::once(&header).chain(rows.iter()) {
                    println!(
                        "{:w0$}  {:w1$}  {:w2$}  {}",
                        r[0],
                        r[1],
                        r[2],
                        r[3],
                        w0 = widths[0],
                        w1 = widths[1],
                        w2 = widths[2]
                    );
                }
                Ok(())
            }
        }
    })
}
