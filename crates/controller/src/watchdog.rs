//! The watchdog (sbd's approach): while the node is healthy the guard writes to a
//! watchdog device; when halo is killed, hung or cut off with resources it could not
//! stop, the writes stop and the device resets the node.
//!
//! The guard writes only while its last contact with a quorate DC is recent enough that
//! a reset by the device would still come before the lease the DC waits out (contact
//! age ≤ node lease − watchdog timeout), or while the node runs nothing. The guard
//! itself stops resources earlier (at its own lease), so a node whose stops end in time
//! is fed again and not reset. A real device
//! (`/dev/watchdog`) gets its timeout by `WDIOC_SETTIMEOUT` (whole seconds, rounded
//! up) and is disarmed on a clean exit by the magic character `V`; any other path (a
//! FIFO that a test reads) only receives the writes.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, libc::c_int);

/// Why the watchdog cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    #[error("HALO-E170 watchdog {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HALO-E171 watchdog {path}: cannot set its timeout to {secs} s: {source}")]
    Timeout {
        path: String,
        secs: i32,
        #[source]
        source: nix::Error,
    },
}

/// An open watchdog.
pub struct Watchdog {
    path: PathBuf,
    file: Option<File>,
    device: bool,
    timeout: Duration,
}

impl Watchdog {
    /// Open the watchdog at `path` with `timeout`. A FIFO without a reader yet is opened
    /// again at the next write.
    pub fn open(path: &Path, timeout: Duration) -> Result<Watchdog, WatchdogError> {
        let device = std::fs::metadata(path)
            .map(|m| m.file_type().is_char_device())
            .unwrap_or(false);
        let mut wd = Watchdog {
            path: path.to_path_buf(),
            file: None,
            device,
            timeout,
        };
        if device {
            let file = wd.open_file()?;
            let mut secs = timeout.as_secs_f64().ceil().max(1.0) as libc::c_int;
            // SAFETY: WDIOC_SETTIMEOUT reads and writes one int through the pointer,
            // which points to a live local for the duration of the call.
            unsafe { wdioc_settimeout(std::os::fd::AsRawFd::as_raw_fd(&file), &mut secs) }
                .map_err(|source| WatchdogError::Timeout {
                    path: path.display().to_string(),
                    secs,
                    source,
                })?;
            wd.timeout = Duration::from_secs(secs.max(1) as u64);
            wd.file = Some(file);
        }
        Ok(wd)
    }

    fn open_file(&self) -> Result<File, WatchdogError> {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&self.path)
            .map_err(|source| WatchdogError::Open {
                path: self.path.display().to_string(),
                source,
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The timeout in effect (a device's, rounded up to whole seconds).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Keep the node alive for another timeout.
    pub fn pet(&mut self) {
        if self.file.is_none() {
            self.file = self.open_file().ok();
        }
        if let Some(f) = &mut self.file {
            if f.write_all(b"1").is_err() && !self.device {
                // The reader of a FIFO went away: reopen at the next write.
                self.file = None;
            }
        }
    }

    /// Disarm a device on a clean exit (the magic close).
    pub fn disarm(mut self) {
        if let Some(f) = &mut self.file {
            let _ = f.write_all(b"V");
        }
    }
}
