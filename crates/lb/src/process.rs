//! What HAProxy's process directives do: `daemon`, `pidfile`, `chroot`, `user`/`uid`,
//! `group`/`gid`, `ulimit-n`. Called by the command line before the engine starts
//! (while the process has a single thread).

use crate::config::Global;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("HALO-E120 {what}: {source}")]
    Sys {
        what: String,
        source: std::io::Error,
    },
    #[error("HALO-E121 unknown {kind} `{name}` (from the `{kind}` directive)")]
    Unknown { kind: &'static str, name: String },
}

fn sys(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ProcessError {
    let what = what.into();
    move |source| ProcessError::Sys { what, source }
}

fn last(what: &str) -> ProcessError {
    ProcessError::Sys {
        what: what.to_string(),
        source: std::io::Error::last_os_error(),
    }
}

/// Raises the open-file limit to what `maxconn` needs (two sockets per session), or to
/// `ulimit-n`, within what the system allows.
pub fn raise_nofile(g: &Global) {
    let want = g.ulimit_n.unwrap_or(g.maxconn as u64 * 2 + 256);
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return;
        }
        if rl.rlim_cur >= want {
            return;
        }
        let mut n = libc::rlimit {
            rlim_cur: want,
            rlim_max: rl.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &n) != 0 {
            n = libc::rlimit {
                rlim_cur: rl.rlim_max.min(want),
                rlim_max: rl.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &n);
        }
    }
}

/// Forks into the background: the parent exits, the child continues in a new session
/// with standard input/output on /dev/null.
pub fn daemonize() -> Result<(), ProcessError> {
    // SAFETY: called while the process has a single thread, before any runtime starts.
    unsafe {
        match libc::fork() {
            -1 => return Err(last("fork")),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::setsid() < 0 {
            return Err(last("setsid"));
        }
        let null = CString::new("/dev/null").unwrap_or_default();
        let fd = libc::open(null.as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

pub fn write_pidfile(p: &Path) -> Result<(), ProcessError> {
    std::fs::write(p, format!("{}\n", std::process::id()))
        .map_err(sys(format!("cannot write pidfile {}", p.display())))
}

/// A handle on the configuration file that still works after `chroot`: the directory
/// is kept open and the file is opened relative to it.
pub struct ConfigFile {
    dir: OwnedFd,
    name: CString,
    pub display: PathBuf,
}

impl ConfigFile {
    pub fn open(path: &Path) -> Result<ConfigFile, ProcessError> {
        let abs =
            std::fs::canonicalize(path).map_err(sys(format!("cannot open {}", path.display())))?;
        let dir = abs.parent().unwrap_or(Path::new("/"));
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let f = std::fs::File::open(dir).map_err(sys(format!("cannot open {}", dir.display())))?;
        let name = CString::new(name).map_err(|_| ProcessError::Sys {
            what: "bad file name".into(),
            source: std::io::Error::other("NUL in name"),
        })?;
        Ok(ConfigFile {
            dir: f.into(),
            name,
            display: path.to_path_buf(),
        })
    }

    pub fn read(&self) -> std::io::Result<String> {
        // SAFETY: openat on a directory descriptor we own with a NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                self.name.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by openat and is owned by nobody else.
        let file = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut &file, &mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// chroot, then drop to the configured group and user.
pub fn confine(g: &Global) -> Result<(), ProcessError> {
    let gid = match (&g.group, g.gid) {
        (Some(name), _) => Some(lookup_group(name)?),
        (None, Some(id)) => Some(id),
        _ => None,
    };
    let uid = match (&g.user, g.uid) {
        (Some(name), _) => Some(lookup_user(name)?),
        (None, Some(id)) => Some(id),
        _ => None,
    };
    if let Some(dir) = &g.chroot {
        let c = CString::new(dir.as_os_str().to_string_lossy().as_bytes()).map_err(|_| {
            ProcessError::Unknown {
                kind: "chroot",
                name: dir.display().to_string(),
            }
        })?;
        // SAFETY: plain syscalls with a NUL-terminated path.
        unsafe {
            if libc::chroot(c.as_ptr()) != 0 {
                return Err(last(&format!("chroot {}", dir.display())));
            }
            let root = CString::new("/").unwrap_or_default();
            if libc::chdir(root.as_ptr()) != 0 {
                return Err(last("chdir /"));
            }
        }
    }
    // SAFETY: plain syscalls; done while single-threaded.
    unsafe {
        if let Some(gid) = gid {
            if libc::setgroups(0, std::ptr::null()) != 0 && libc::geteuid() == 0 {
                return Err(last("setgroups"));
            }
            if libc::setgid(gid) != 0 {
                return Err(last(&format!("setgid {gid}")));
            }
        }
        if let Some(uid) = uid {
            if libc::setuid(uid) != 0 {
                return Err(last(&format!("setuid {uid}")));
            }
        }
    }
    Ok(())
}

pub(crate) fn lookup_user(name: &str) -> Result<u32, ProcessError> {
    let c = CString::new(name).map_err(|_| ProcessError::Unknown {
        kind: "user",
        name: name.into(),
    })?;
    // SAFETY: getpwnam returns a pointer to static storage or NULL; read immediately.
    let p = unsafe { libc::getpwnam(c.as_ptr()) };
    if p.is_null() {
        return Err(ProcessError::Unknown {
            kind: "user",
            name: name.into(),
        });
    }
    // SAFETY: non-null pointer returned by getpwnam.
    Ok(unsafe { (*p).pw_uid })
}

pub(crate) fn lookup_group(name: &str) -> Result<u32, ProcessError> {
    let c = CString::new(name).map_err(|_| ProcessError::Unknown {
        kind: "group",
        name: name.into(),
    })?;
    // SAFETY: getgrnam returns a pointer to static storage or NULL; read immediately.
    let p = unsafe { libc::getgrnam(c.as_ptr()) };
    if p.is_null() {
        return Err(ProcessError::Unknown {
            kind: "group",
            name: name.into(),
        });
    }
    // SAFETY: non-null pointer returned by getgrnam.
    Ok(unsafe { (*p).gr_gid })
}
