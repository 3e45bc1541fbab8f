//! Test-only support for halo. Never a dependency of product code.
//!
//! - [`netns`]: a small network of hosts in Linux network namespaces (veth pairs on a
//!   bridge in a private "switch" namespace), with faults: cut a host off, partition,
//!   loss/delay (tc netem), heal, kill a host's processes.
//! - [`cluster`]: real `halo daemon` processes on loopback, started, stopped, killed and
//!   restarted, driven through the real CLI.
//! - [`systemd`]: a private systemd (PID 1 of its own namespaces) for `systemd:` resources
//!   where systemd is not the machine's init.
//! - [`http`]: a minimal HTTP server answering with its name.
//! - [`watchdog`]: an emulated watchdog device (a FIFO) that resets a host's namespace.

pub mod cluster;
pub mod http;
pub mod netns;
pub mod systemd;
pub mod watchdog;

/// Whether `path` (a program or agent of the Debian package `package`) is installed.
/// When it is not, prints a visible `SKIP:` line and returns false: the test must then
/// return at once. With `HALO_TEST_NO_SKIP=1` (as in CI, which installs every package
/// the tests use) a missing file fails the test instead.
pub fn installed(path: &str, package: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    assert!(
        std::env::var_os("HALO_TEST_NO_SKIP").is_none(),
        "{path} is missing (Debian package {package})"
    );
    eprintln!("SKIP: {path} is missing (install Debian's {package})");
    false
}
