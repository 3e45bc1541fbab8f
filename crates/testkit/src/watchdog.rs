//! An emulated watchdog device, for machines without `/dev/watchdog`: a FIFO that a
//! daemon feeds (`halo daemon --watchdog FIFO`). When nothing arrives for longer than
//! the timeout, the node is "reset" as a hardware watchdog would: every process of its
//! network namespace is SIGKILLed and its volatile state (a directory) is removed.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::netns::{kill_ns_processes, Host, NetError};

/// One node's emulated device; stops watching when dropped.
pub struct FifoWatchdog {
    path: PathBuf,
    /// Last write to the FIFO; `None` until it is first fed after (re)arming.
    fed: Arc<Mutex<Option<Instant>>>,
    reset: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl FifoWatchdog {
    /// Makes the FIFO at `path` and watches it: once fed, a silence longer than
    /// `timeout` resets `host` and removes `volatile`.
    pub fn start(
        path: PathBuf,
        host: &Host,
        volatile: PathBuf,
        timeout: Duration,
    ) -> Result<FifoWatchdog, NetError> {
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| NetError(format!("mkfifo {}: {e}", path.display())))?;
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| NetError(format!("{}: {e}", path.display())))?;
        let wd = FifoWatchdog {
            path,
            fed: Arc::default(),
            reset: Arc::default(),
            stop: Arc::default(),
        };
        let (fed, reset, stop) = (wd.fed.clone(), wd.reset.clone(), wd.stop.clone());
        let netns = host.netns().to_string();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while !stop.load(Ordering::SeqCst) {
                if fifo.read(&mut buf).is_ok_and(|n| n > 0) {
                    *fed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                }
                let last = *fed.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_some_and(|t| t.elapsed() > timeout) {
                    kill_ns_processes(&netns);
                    let _ = std::fs::remove_dir_all(&volatile);
                    *fed.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    reset.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Ok(wd)
    }

    /// The FIFO, to give to the daemon.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forgets past feeding and resets: the node is about to boot again.
    pub fn rearm(&self) {
        *self.fed.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.reset.store(false, Ordering::SeqCst);
    }

    /// Whether the device has reset the node since it was last armed.
    pub fn was_reset(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }
}

impl Drop for FifoWatchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
