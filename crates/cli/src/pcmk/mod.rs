//! Pacemaker's command-line tools, as resource agents call them.
//!
//! Standard resource agents run unchanged under halo, and they call Pacemaker's tools
//! (`crm_attribute`, `crm_master`, `attrd_updater`, `crm_node`, `crm_resource`,
//! `cibadmin`, `crm_mon`). The `halo` binary answers to those names when it is run
//! through a link of that name (dispatch on the file name of argv[0], as busybox does),
//! with the options, output formats and exit codes of Pacemaker 2.1 as far as agents
//! use them. Every tool talks to the local daemon through its control socket
//! (`HALO_STATE_DIR`, default `/var/lib/halo`).
//!
//! - `opts`: GLib-style option parsing (what Pacemaker's tools use).
//! - `attrs`: `crm_attribute`, `crm_master`, `attrd_updater` (node attributes,
//!   promotion scores, cluster properties).
//! - `node`: `crm_node`; `resource`: `crm_resource`; `mon`: `crm_mon`;
//!   `cib`: the CIB document and `cibadmin --query [--xpath]`.
//! - `view`: the cluster as the scheduler reads it (the working set after unpacking the
//!   recorded status), which `crm_mon`, `crm_resource` and `cibadmin` show.
//! - `links`: the links under these names (`halo pcmk-links`, and the daemon's own).

pub mod attrs;
pub mod cib;
pub mod links;
pub mod mon;
pub mod node;
pub mod opts;
pub mod resource;
pub mod view;
pub mod xml;

use std::path::{Path, PathBuf};
use std::time::Duration;

use halo_api::{Client, ClientError};
use halo_consensus::{Change, ChangeResult, ClusterState, StatusReport, StoredConfig};

/// The tools `halo` answers to.
pub const TOOLS: &[&str] = &[
    "crm_attribute",
    "crm_master",
    "attrd_updater",
    "crm_node",
    "crm_resource",
    "cibadmin",
    "crm_mon",
];

/// The Pacemaker release whose tools these imitate.
pub const PACEMAKER_VERSION: &str = "2.1.5";

/// The tool `argv0` names, if any (only its file name counts).
pub fn tool_name(argv0: &std::ffi::OsStr) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    TOOLS.iter().copied().find(|t| *t == name)
}

/// Pacemaker's exit codes (`crm_exit_t`) that the tools return.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const UNIMPLEMENT_FEATURE: i32 = 3;
    pub const USAGE: i32 = 64;
    pub const NOHOST: i32 = 68;
    pub const SOFTWARE: i32 = 70;
    pub const CONFIG: i32 = 78;
    pub const DISCONNECT: i32 = 102;
    pub const NOSUCH: i32 = 105;
    pub const QUORUM: i32 = 106;
    pub const TIMEOUT: i32 = 124;
}

/// Why a tool failed: the exit code and the message (printed as `TOOL: MESSAGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub code: i32,
    pub msg: String,
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Fail {}

impl Fail {
    pub fn new(code: i32, msg: impl Into<String>) -> Fail {
        Fail {
            code,
            msg: msg.into(),
        }
    }

    pub fn usage(msg: impl Into<String>) -> Fail {
        Fail::new(exit::USAGE, msg)
    }
}

pub type Res<T> = Result<T, Fail>;

/// Run `tool` with its arguments (without argv[0]); returns the process exit code.
pub fn run(tool: &str, args: Vec<String>) -> i32 {
    let result = match tool {
        "crm_attribute" => attrs::crm_attribute(&args),
        "crm_master" => attrs::crm_master(&args),
        "attrd_updater" => attrs::attrd_updater(&args),
        "crm_node" => node::crm_node(&args),
        "crm_resource" => resource::crm_resource(&args),
        "cibadmin" => cib::cibadmin(&args),
        "crm_mon" => mon::crm_mon(&args),
        other => Err(Fail::new(
            exit::SOFTWARE,
            format!("{other} is not a tool halo provides"),
        )),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            // crm_node and cibadmin print their own prefix (as Pacemaker's do).
            if f.msg.starts_with("error: ") || tool == "cibadmin" {
                eprintln!("{}", f.msg);
            } else {
                eprintln!("{tool}: {}", f.msg);
            }
            f.code
        }
    }
}

/// `--version` of every tool.
pub fn print_version() {
    println!(
        "Pacemaker {PACEMAKER_VERSION} (halo {} compatibility tools)",
        env!("CARGO_PKG_VERSION")
    );
    println!("Written by the halo developers, imitating the Pacemaker project's tools");
}

/// The daemon's state directory: `HALO_STATE_DIR`, or `/var/lib/halo`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("HALO_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/halo"))
}

/// The node an agent runs for, as Pacemaker's tools find it (`pcmk__node_attr_target`):
/// for no name, `auto` or `localhost`, the node the cluster passed the agent
/// (`OCF_RESKEY_CRM_meta_on_node`, or with `container-attribute-target=host` the
/// physical host); `None` when the caller must ask the cluster.
pub fn node_attr_target(name: Option<&str>) -> Option<String> {
    match name {
        None | Some("auto") | Some("localhost") => {}
        Some(n) if n.eq_ignore_ascii_case("auto") || n.eq_ignore_ascii_case("localhost") => {}
        Some(_) => return None,
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let target = env("OCF_RESKEY_CRM_meta_container_attribute_target");
    if let Some(host) = env("OCF_RESKEY_CRM_meta_physical_host") {
        if target.is_some_and(|t| t.eq_ignore_ascii_case("host")) {
            return Some(host);
        }
    }
    env("OCF_RESKEY_CRM_meta_on_node")
}

/// The node a tool acts on: `name` unless it is absent, `auto` or `localhost`; then the
/// agent's node ([`node_attr_target`]), or else this node.
pub fn target_node(ctx: &Ctx, name: Option<&str>) -> Res<String> {
    if let Some(t) = node_attr_target(name) {
        return Ok(t);
    }
    match name {
        Some(n) if !n.eq_ignore_ascii_case("auto") && !n.eq_ignore_ascii_case("localhost") => {
            Ok(n.to_string())
        }
        _ => local_node(ctx),
    }
}

/// A connection to the local daemon, for one tool run.
pub struct Ctx {
    client: Client,
    rt: tokio::runtime::Runtime,
}

impl Ctx {
    pub fn new() -> Res<Ctx> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Fail::new(exit::ERROR, format!("cannot start: {e}")))?;
        // Agents wait for these tools inside their own timeouts: never hang for long.
        let client = Client::new(&state_dir()).with_timeout(Duration::from_secs(60));
        Ok(Ctx { client, rt })
    }

    /// This node's view of the membership: its name, quorum, the DC, who is online.
    pub fn status(&self) -> Res<StatusReport> {
        self.rt.block_on(self.client.status()).map_err(client_fail)
    }

    /// The replicated state as the cluster committed it, when this node is in the
    /// quorate partition (a read through the leader: a node that just started may not
    /// have caught up, and agents decide from these answers whether to bootstrap a new
    /// Galera or RabbitMQ cluster or to join the running one); else, or if that read
    /// fails, this node's own copy (like Pacemaker's local CIB replica).
    pub fn state(&self) -> Res<ClusterState> {
        let quorate = self.status()?.quorate;
        let v = self
            .rt
            .block_on(self.client.current_state(quorate))
            .map_err(client_fail)?;
        serde_json::from_value(v).map_err(|e| {
            Fail::new(
                exit::ERROR,
                format!("unreadable state from the daemon: {e}"),
            )
        })
    }

    /// Propose a change and wait until it is committed.
    pub fn propose(&self, change: Change) -> Res<()> {
        settle(self.rt.block_on(self.client.propose(change)))
    }

    /// An `attrd_updater` request to this node's daemon (dampened or written at once).
    pub fn attr_update(&self, update: &halo_controller::attrd::AttrUpdate) -> Res<()> {
        self.rt
            .block_on(self.client.attr_update(update))
            .map_err(client_fail)
    }

    /// The attribute values this node's daemon holds back for their delay.
    pub fn attrs_pending(&self) -> Res<Vec<halo_controller::attrd::PendingAttr>> {
        self.rt
            .block_on(self.client.attrs_pending())
            .map_err(client_fail)
    }

    /// Edit the configuration (read from this node's copy, written as a whole).
    ///
    /// As the CIB applies a modification where it stands: when another change came in
    /// between (HALO-E154, the configuration changed since it was read), the edit is
    /// made again on the configuration as it is now. An edit that changes nothing is
    /// not written (agents set their permanent attributes on every monitor).
    pub fn edit_config(
        &self,
        state: &ClusterState,
        f: impl Fn(&mut halo_model::Config),
    ) -> Res<()> {
        let mut state = state.clone();
        for _ in 0..EDIT_ATTEMPTS {
            let before = config_of(&state)?;
            let mut cfg = before.clone();
            f(&mut cfg);
            if cfg == before {
                return Ok(());
            }
            let config = StoredConfig::from_model(&cfg)
                .map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
            let reply = self.rt.block_on(self.client.propose(Change::SetConfig {
                config,
                if_unchanged: Some(state.config.clone()),
            }));
            let conflict = match &reply {
                Err(ClientError::Api(w)) => w.code == "HALO-E154",
                Ok(r) => {
                    matches!(&r.result, ChangeResult::Refused { code, .. } if code == "HALO-E154")
                }
                Err(_) => false,
            };
            if conflict {
                state = self.state()?;
                continue;
            }
            return settle(reply);
        }
        Err(Fail::new(
            exit::ERROR,
            format!("HALO-E154 the configuration kept changing: the edit was tried {EDIT_ATTEMPTS} times"),
        ))
    }
}

/// What a proposal's reply means to a Pacemaker tool: done, or its failure.
fn settle(reply: Result<halo_api::proto::ProposeReply, ClientError>) -> Res<()> {
    match reply.map_err(client_fail)?.result {
        ChangeResult::Refused { code, reason } => {
            Err(Fail::new(exit::ERROR, format!("{code} {reason}")))
        }
        _ => Ok(()),
    }
}

/// How many times a configuration edit is tried while other changes keep coming in.
const EDIT_ATTEMPTS: usize = 20;

/// The configuration of a replicated state.
pub fn config_of(state: &ClusterState) -> Res<halo_model::Config> {
    state
        .config
        .to_model()
        .map_err(|e| Fail::new(exit::CONFIG, e.to_string()))
}

/// A daemon error as Pacemaker's tools report theirs: not reachable is "Transport
/// endpoint is not connected" (agents look for "not connected"), exit 102.
fn client_fail(e: ClientError) -> Fail {
    match &e {
        ClientError::Connect { .. } => Fail::new(
            exit::DISCONNECT,
            format!("Could not connect to the CIB: Transport endpoint is not connected ({e})"),
        ),
        ClientError::Timeout(_) => Fail::new(exit::TIMEOUT, e.to_string()),
        ClientError::Api(w) if w.code == "HALO-E102" => Fail::new(exit::QUORUM, e.to_string()),
        ClientError::Api(w) if w.code == "HALO-E134" => Fail::new(exit::TIMEOUT, e.to_string()),
        _ => Fail::new(exit::ERROR, e.to_string()),
    }
}

/// This node's name: what the daemon calls itself.
pub fn local_node(ctx: &Ctx) -> Res<String> {
    Ok(ctx.status()?.node)
}

/// A time as `ctime(3)` prints it in local time, without the newline
/// (`Tue Nov 14 22:13:20 2023`).
pub fn ctime(secs: i64) -> String {
    let tm = local_tm(secs);
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[tm.wday.rem_euclid(7) as usize],
        MONTHS[tm.mon.rem_euclid(12) as usize],
        tm.mday,
        tm.hour,
        tm.min,
        tm.sec,
        tm.year
    )
}

/// A time as Pacemaker's `crm_time_as_string` with date, time and zone
/// (`2023-11-14 22:13:20Z`, or `+01:00` east of UTC).
pub fn iso_time(secs: i64) -> String {
    let tm = local_tm(secs);
    let zone = if tm.gmtoff == 0 {
        "Z".to_string()
    } else {
        let sign = if tm.gmtoff < 0 { '-' } else { '+' };
        let off = tm.gmtoff.abs();
        format!("{sign}{:02}:{:02}", off / 3600, (off % 3600) / 60)
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{zone}",
        tm.year,
        tm.mon + 1,
        tm.mday,
        tm.hour,
        tm.min,
        tm.sec
    )
}

struct Tm {
    year: i64,
    mon: i64,
    mday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    wday: i64,
    gmtoff: i64,
}

fn local_tm(secs: i64) -> Tm {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: localtime_r reads `t` and writes only into `tm`, a zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return Tm {
            year: 1970,
            mon: 0,
            mday: 1,
            hour: 0,
            min: 0,
            sec: 0,
            wday: 4,
            gmtoff: 0,
        };
    }
    Tm {
        year: tm.tm_year as i64 + 1900,
        mon: tm.tm_mon as i64,
        mday: tm.tm_mday as i64,
        hour: tm.tm_hour as i64,
        min: tm.tm_min as i64,
        sec: tm.tm_sec as i64,
        wday: tm.tm_wday as i64,
        gmtoff: tm.tm_gmtoff as i64,
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
