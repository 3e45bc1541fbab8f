//! A private systemd, for machines where systemd is not PID 1 (containers, CI): systemd
//! booted as PID 1 of its own PID, mount and UTS namespaces, with a private `/run`, to
//! a target that pulls in nothing. `systemctl` reaches it from processes inside its
//! namespaces ([`Systemd::nsenter`]); the units a test installs go to its
//! `/run/systemd/system`. The network and the rest of the file system are shared with
//! the host, but for what [`Own`] gives it. Dropping it kills the namespace's every
//! process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::cluster::poll;
use crate::netns::Host;

const SYSTEMD: &str = "/lib/systemd/systemd";

/// The script that runs inside the new namespaces before systemd: a private `/run` and
/// a unit path of that `/run/systemd/system` alone, holding an empty target to boot to
/// and empty stand-ins for the targets every service depends on. systemd then knows no
/// unit of the machine: a service's default dependencies would otherwise pull in
/// `sysinit.target` and with it the machine's boot (`systemd-tmpfiles-setup` empties the
/// shared `/tmp`). Services write nowhere (no journald runs). `/etc/systemd/system`
/// is private too, so that `systemctl enable` inside never changes the machine's.
/// (In two parts: what [`Own`] adds goes in between, once the private `/run` is there.)
const BOOT_RUN: &str = "set -e\nmount -t tmpfs -o mode=755 tmpfs /run\n";
const BOOT: &str = "mkdir -p /etc/systemd/system\n\
    mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system\n\
    mkdir -p /run/systemd/system\n\
    cd /run/systemd/system\n\
    printf '[Unit]\\nDescription=halo test target\\n' > halo-test.target\n\
    for t in sysinit.target basic.target shutdown.target system.slice; do\n\
      printf '[Unit]\\nDescription=%s, empty\\nDefaultDependencies=no\\n' $t > $t\n\
    done\n\
    cd /\n\
    exec env container=halo-test SYSTEMD_UNIT_PATH=/run/systemd/system \"$0\" --system \
      --unit=halo-test.target --show-status=0 \
      --default-standard-output=null --default-standard-error=null\n";

/// What a booted systemd's host has of its own besides its network: a host name (its
/// own UTS namespace always; the machine's name unless set) and files or directories
/// bound over the shared ones (`(what, where)`, e.g. a per-host `/var/lib/rabbitmq` or
/// `/etc/hosts`), seen by everything that runs inside.
#[derive(Debug, Default, Clone)]
pub struct Own {
    pub hostname: Option<String>,
    pub binds: Vec<(PathBuf, PathBuf)>,
}

/// `s` as one shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One private systemd.
pub struct Systemd {
    unshare: Child,
    /// systemd's pid, as the host sees it.
    pid: u32,
}

/// Whether a private systemd can boot here. When it cannot, prints a visible `SKIP:`
/// line with the reason and returns false (the test must then return at once); with
/// `HALO_TEST_NO_SKIP=1` (as in CI, which runs as root) that is a failure instead.
pub fn available() -> bool {
    let why = if
    // SAFETY: geteuid(2) only reads the caller's credentials.
    unsafe { libc::geteuid() } != 0 {
        "booting a private systemd needs root (new PID and mount namespaces)".to_string()
    } else if !Path::new(SYSTEMD).exists() {
        format!("{SYSTEMD} is missing (Debian package systemd)")
    } else {
        return true;
    };
    assert!(std::env::var_os("HALO_TEST_NO_SKIP").is_none(), "{why}");
    eprintln!("SKIP: {why}");
    false
}

impl Systemd {
    /// Boots a private systemd and waits until it runs.
    pub fn boot() -> Result<Systemd, String> {
        Systemd::boot_with(Command::new("unshare"), &Own::default())
    }

    /// Boots a private systemd inside a test host's network namespace: what it runs
    /// (and what runs through [`Systemd::nsenter`]) has that host's network.
    pub fn boot_in(host: &Host) -> Result<Systemd, String> {
        Systemd::boot_as(host, &Own::default())
    }

    /// As [`Systemd::boot_in`], the host made more of a machine of its own: its host
    /// name and the files it does not share (see [`Own`]).
    pub fn boot_as(host: &Host, own: &Own) -> Result<Systemd, String> {
        Systemd::boot_with(host.command("unshare"), own)
    }

    fn boot_with(mut unshare: Command, own: &Own) -> Result<Systemd, String> {
        // Once the private /run is there: the host name, also in an /etc/hostname of
        // its own (systemd sets the name from that file as it boots), then the binds.
        let mut own_lines = String::new();
        if let Some(name) = &own.hostname {
            let name = quote(name);
            own_lines.push_str(&format!(
                "hostname {name}\nprintf '%s\\n' {name} > /run/hostname\n\
                 mount --bind /run/hostname /etc/hostname\n"
            ));
        }
        for (from, to) in &own.binds {
            own_lines.push_str(&format!(
                "mount --bind {} {}\n",
                quote(&from.display().to_string()),
                quote(&to.display().to_string())
            ));
        }
        let script = format!("{BOOT_RUN}{own_lines}{BOOT}");
        let unshare = unshare
            .args([
                "--pid",
                "--fork",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "--mount-proc",
                "sh",
                "-c",
                &script,
                SYSTEMD,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        let mut sd = Systemd { unshare, pid: 0 };
        // unshare forks the namespace's PID 1 (sh, then systemd by exec).
        sd.pid = poll(Duration::from_secs(10), || {
            std::fs::read_to_string(&children)
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .ok_or("unshare forked no PID 1")?;
        let running = poll(Duration::from_secs(30), || {
            let out = sd.systemctl(&["is-system-running"]).ok()?;
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            matches!(state.as_str(), "running" | "degraded").then_some(())
        });
        running.ok_or("the private systemd did not reach a running state")?;
        // Never let it see the machine's units (see BOOT).
        let fragment =
            sd.systemctl(&["show", "-p", "FragmentPath", "--value", "sysinit.target"])?;
        let fragment = String::from_utf8_lossy(&fragment.stdout).trim().to_string();
        if fragment != "/run/systemd/system/sysinit.target" {
            return Err(format!(
                "the private systemd loads sysinit.target from {fragment:?}, not from its own /run"
            ));
        }
        Ok(sd)
    }

    /// The command prefix that runs a program inside this systemd's PID, mount and
    /// network namespaces (`systemctl` reaches systemd only from there). The program is a child
    /// of `nsenter`: signals sent to `nsenter` do not reach it.
    pub fn nsenter(&self) -> Vec<String> {
        [
            "nsenter",
            "-t",
            &self.pid.to_string(),
            "--mount",
            "--uts",
            "--pid",
            "--net",
            "--",
        ]
        .map(String::from)
        .to_vec()
    }

    /// A command that runs `program` inside this systemd's namespaces.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let enter = self.nsenter();
        let mut cmd = Command::new(&enter[0]);
        cmd.args(&enter[1..]).arg(program);
        cmd
    }

    /// Runs `systemctl ARGS` against this systemd.
    pub fn systemctl(&self, args: &[&str]) -> Result<Output, String> {
        self.run("systemctl", args)
    }

    /// A unit's `ActiveState` (`active`, `inactive`, `failed`, ...).
    pub fn active_state(&self, unit: &str) -> String {
        self.systemctl(&["show", "-p", "ActiveState", "--value", unit])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| e)
    }

    /// This systemd's file system root as the host reaches it (`/proc/PID/root`): its
    /// private `/run` is `root().join("run")`.
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid))
    }

    /// Runs `program ARGS` inside this systemd's namespaces.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{program}: {e}"))
    }

    /// The unit directory of this systemd, as the host reaches it.
    pub fn unit_dir(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root/run/systemd/system", self.pid))
    }

    /// Installs unit file `name` (or a drop-in, `UNIT.d/NAME.conf`) with `text` and has
    /// systemd load it.
    pub fn install(&self, name: &str, text: &str) -> Result<(), String> {
        let path = self.unit_dir().join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        let out = self.systemctl(&["daemon-reload"])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "daemon-reload: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        // Killing a PID namespace's init kills every process in it.
        if self.pid != 0 {
            // SAFETY: kill(2) on a pid we started; no memory is involved.
            unsafe {
                libc::kill(self.pid as i32, libc::SIGKILL);
            }
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}
