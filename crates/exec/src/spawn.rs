//! Running one agent process: its own process group, a clean environment, bounded
//! capture of stdout/stderr, a timeout that kills the whole group, and reaping.
//!
//! Rules this module keeps (see the pitfalls in the research notes):
//! * the child is always waited for (`Child::wait`), on every path, so no zombie is
//!   left by the executor; a guard kills the group if the future is dropped midway;
//! * only specific pids are ever waited for, never `waitpid(-1)`, so tokio's own child
//!   reaping is not disturbed;
//! * after a normal exit the group is left alone: daemons started by an agent must
//!   survive it. The group is killed only on timeout (or if the operation is dropped);
//! * output is read until the agent exits, then drained without waiting for EOF, since
//!   a daemon started by the agent may hold the pipe open for ever.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::time::Instant;

/// What to run.
pub(crate) struct ProcSpec<'a> {
    pub program: &'a Path,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub timeout: Duration,
    pub output_cap: usize,
    pub subreaper: bool,
    /// What the agent reads on its standard input (fence agents read their
    /// arguments there); `None`: `/dev/null`. The pipe is closed once everything is
    /// written, or when the agent exits, whichever comes first.
    pub stdin: Option<&'a [u8]>,
}

/// How the process ended.
#[derive(Debug)]
pub(crate) enum ProcEnd {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    SpawnFailed(io::Error),
}

/// The end, the kept output and the exit reason found on stderr.
#[derive(Debug)]
pub(crate) struct ProcOutcome {
    pub end: ProcEnd,
    pub stdout: String,
    pub stderr: String,
    pub exit_reason: Option<String>,
    pub pid: Option<u32>,
}

/// The last `cap` bytes of a stream.
struct Tail {
    buf: Vec<u8>,
    cap: usize,
}

impl Tail {
    fn new(cap: usize) -> Tail {
        Tail {
            buf: Vec::new(),
            cap: cap.max(1),
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        // Trim in batches so that a flood of output costs amortised O(1) per byte.
        if self.buf.len() > self.cap * 2 {
            let cut = self.buf.len() - self.cap;
            self.buf.drain(..cut);
        }
    }

    fn finish(mut self) -> String {
        if self.buf.len() > self.cap {
            let cut = self.buf.len() - self.cap;
            self.buf.drain(..cut);
        }
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// The prefix `ocf_exit_reason` puts before its message on stderr.
pub const EXIT_REASON_PREFIX: &[u8] = b"ocf-exit-reason:";
const MAX_LINE: usize = 4096;
const MAX_REASON: usize = 512;

/// Finds `ocf-exit-reason:` lines in a stream; the last one wins.
#[derive(Default)]
struct ReasonScanner {
    line: Vec<u8>,
    reason: Option<String>,
}

impl ReasonScanner {
    fn push(&mut self, mut data: &[u8]) {
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            self.extend(&data[..pos]);
            self.end_line();
            data = &data[pos + 1..];
        }
        self.extend(data);
    }

    fn extend(&mut self, part: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn end_line(&mut self) {
        if let Some(rest) = self.line.strip_prefix(EXIT_REASON_PREFIX) {
            let text = String::from_utf8_lossy(rest);
            let mut text = text.trim().to_string();
            if text.len() > MAX_REASON {
                let mut cut = MAX_REASON;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            if !text.is_empty() {
                self.reason = Some(text);
            }
        }
        self.line.clear();
    }

    fn finish(mut self) -> Option<String> {
        if !self.line.is_empty() {
            self.end_line();
        }
        self.reason
    }
}

/// Kills the process group when dropped while armed (an operation abandoned midway).
struct GroupGuard {
    pgid: i32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        }
    }
}

/// One process as seen in /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
}

/// Read `/proc/PID/stat` (state, parent, process group).
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything: skip past the last ')'.
    let after = &text[text.rfind(')')? + 1..];
    let mut f = after.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some(ProcInfo {
        pid,
        state,
        ppid,
        pgrp,
    })
}

/// Every process (including zombies) whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<ProcInfo> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_info)
        .filter(|p| p.pgrp == pgid)
        .collect()
}

/// After the group was sent SIGKILL: wait until its members other than the (unreaped)
/// leader are gone, reaping those reparented to us when we are a subreaper. The leader
/// is still a zombie here, so its pid, and thus the group id, cannot be reused meanwhile.
async fn sweep_group(pgid: i32, subreaper: bool) {
    let me = std::process::id() as i32;
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let members = group_members(pgid);
        let leader_dead = members
            .iter()
            .find(|p| p.pid == pgid)
            .is_none_or(|p| p.state == 'Z' || p.state == 'X');
        let mut pending = 0;
        for p in members.iter().filter(|p| p.pid != pgid) {
            if p.state == 'Z' {
                if subreaper && p.ppid == me {
                    // Safe: this pid is not one of tokio's children (only the leader is).
                    let _ = waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG));
                }
                // A zombie of another parent is that parent's to reap; one of ours that
                // is still the leader's child will be reparented to us when it exits.
                if subreaper && (p.ppid == me || p.ppid == pgid) {
                    pending += 1;
                }
            } else {
                pending += 1;
            }
        }
        if leader_dead && pending == 0 {
            return;
        }
        if Instant::now() >= give_up {
            tracing::warn!(
                pgid,
                pending,
                "processes of a killed agent group are still there after 5s"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

enum Stream {
    Out,
    Err,
}

struct Capture {
    out: Tail,
    err: Tail,
    reason: ReasonScanner,
    buf: Vec<u8>,
}

impl Capture {
    /// Read what is available now; returns false once the pipe is closed.
    fn drain(&mut self, rx: &pipe::Receiver, which: Stream) -> bool {
        loop {
            match rx.try_read(&mut self.buf) {
                Ok(0) => return false,
                Ok(n) => match which {
                    Stream::Out => self.out.push(&self.buf[..n]),
                    Stream::Err => {
                        self.err.push(&self.buf[..n]);
                        self.reason.push(&self.buf[..n]);
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }
}

fn outcome(end: ProcEnd, cap: Capture, pid: Option<u32>) -> ProcOutcome {
    ProcOutcome {
        end,
        stdout: cap.out.finish(),
        stderr: cap.err.finish(),
        exit_reason: cap.reason.finish(),
        pid,
    }
}

/// Run a process to completion or timeout. Never panics; every failure is an outcome.
pub(crate) async fn run_process(spec: ProcSpec<'_>) -> ProcOutcome {
    let mut cap = Capture {
        out: Tail::new(spec.output_cap),
        err: Tail::new(spec.output_cap),
        reason: ReasonScanner::default(),
        buf: vec![0u8; 16 * 1024],
    };
    let pipes = (|| -> io::Result<_> {
        let (out_tx, out_rx) = pipe::pipe()?;
        let (err_tx, err_rx) = pipe::pipe()?;
        Ok((
            out_tx.into_blocking_fd()?,
            out_rx,
            err_tx.into_blocking_fd()?,
            err_rx,
        ))
    })();
    let (out_w, out_rx, err_w, err_rx) = match pipes {
        Ok(p) => p,
        Err(e) => return outcome(ProcEnd::SpawnFailed(e), cap, None),
    };
    let mut cmd = tokio::process::Command::new(spec.program);
    cmd.args(spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(spec.cwd)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .process_group(0);
    // "Text file busy": the agent file is still open for writing somewhere, e.g. in a
    // process forked by another thread between its creation and its exec (a script
    // written a moment ago). That passes within milliseconds: try again a few times.
    let mut busy = 0;
    let spawned = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && busy < 50 => {
                busy += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => break other,
        }
    };
    // The command holds our copies of the pipes' write ends: close them now.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return outcome(ProcEnd::SpawnFailed(e), cap, None),
    };
    let pid = child.id();
    let Some(pgid) = pid.map(|p| p as i32) else {
        // Already reaped: cannot happen before the first wait, but never panic.
        return outcome(ProcEnd::SpawnFailed(io::Error::other("no pid")), cap, None);
    };
    track_group(pgid);
    let mut guard = GroupGuard { pgid, armed: true };
    let deadline = Instant::now() + spec.timeout;
    let (mut out_open, mut err_open) = (true, true);
    let mut input = match (spec.stdin, child.stdin.take()) {
        (Some(data), Some(pipe)) if !data.is_empty() => Some(Input { pipe, data }),
        // Nothing to write: dropping the pipe gives the agent end-of-file at once.
        _ => None,
    };
    let end = loop {
        tokio::select! {
            st = child.wait() => {
                break match st {
                    Ok(s) => exit_of(s),
                    Err(e) => ProcEnd::SpawnFailed(e),
                };
            }
            r = out_rx.readable(), if out_open => {
                out_open = r.is_ok() && cap.drain(&out_rx, Stream::Out);
            }
            r = err_rx.readable(), if err_open => {
                err_open = r.is_ok() && cap.drain(&err_rx, Stream::Err);
            }
            w = write_some(&mut input) => {
                match w {
                    Ok(n) if n > 0 => {
                        if let Some(i) = input.as_mut() {
                            i.data = i.data.get(n..).unwrap_or_default();
                            if i.data.is_empty() {
                                input = None;
                            }
                        }
                    }
                    // A closed pipe (the agent does not read) or an error: stop writing.
                    _ => input = None,
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                sweep_group(pgid, spec.subreaper).await;
                let _ = child.wait().await;
                break ProcEnd::TimedOut;
            }
        }
    };
    guard.armed = false;
    drop(input);
    // Everything the agent wrote before it exited is in the pipes now.
    if out_open {
        cap.drain(&out_rx, Stream::Out);
    }
    if err_open {
        cap.drain(&err_rx, Stream::Err);
    }
    outcome(end, cap, pid)
}

/// The part of the standard input still to be written.
struct Input<'a> {
    pipe: tokio::process::ChildStdin,
    data: &'a [u8],
}

/// Write some of the pending input; never completes when there is none.
async fn write_some(input: &mut Option<Input<'_>>) -> io::Result<usize> {
    use tokio::io::AsyncWriteExt;
    match input {
        Some(i) => i.pipe.write(i.data).await,
        None => std::future::pending().await,
    }
}

fn exit_of(s: std::process::ExitStatus) -> ProcEnd {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => ProcEnd::Exited(c),
        (None, Some(sig)) => ProcEnd::Signaled(sig),
        (None, None) => ProcEnd::Exited(-1),
    }
}

/// Process groups of agents started while this process is a subreaper. A pid number
/// is not reused while a process group of that number exists, so a group id here
/// always means one of our agents' groups.
static AGENT_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Become a child subreaper (see `ExecConfig::subreaper`), and start the thread that
/// reaps orphans of agents reparented to us.
pub(crate) fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
    if !SUBREAPER.swap(true, Ordering::SeqCst) {
        std::thread::Builder::new()
            .name("halo-exec-reaper".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_millis(200));
                reap_agent_orphans();
            })?;
    }
    Ok(())
}

pub(crate) fn track_group(pgid: i32) {
    if SUBREAPER.load(Ordering::Relaxed) {
        AGENT_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pgid);
    }
}

/// Reap zombies reparented to us that belong to an agent's process group (never the
/// group leader, which is tokio's child), and forget groups that no longer exist.
/// Processes that left their agent's group (daemons calling setsid) are not touched:
/// they may be children of other parts of the program.
pub fn reap_agent_orphans() {
    let mut groups = AGENT_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    if groups.is_empty() {
        return;
    }
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    let mut seen = BTreeSet::new();
    for p in rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_info)
    {
        if !groups.contains(&p.pgrp) {
            continue;
        }
        seen.insert(p.pgrp);
        if p.state == 'Z' && p.ppid == me && p.pid != p.pgrp {
            let _ = waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG));
        }
    }
    groups.retain(|g| seen.contains(g));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail::new(4);
        for chunk in [&b"abc"[..], b"defgh", b"ij"] {
            t.push(chunk);
        }
        assert_eq!(t.finish(), "ghij");
    }

    #[test]
    fn scanner_finds_last_exit_reason_across_chunks() {
        let mut s = ReasonScanner::default();
        s.push(b"noise\nocf-exit-reas");
        s.push(b"on:first\nmore\nocf-exit-reason:  second one ");
        assert_eq!(s.finish().as_deref(), Some("second one"));
        let mut s = ReasonScanner::default();
        s.push(b"x ocf-exit-reason:not at start\n");
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn proc_info_reads_self() {
        let me = proc_info(std::process::id() as i32).unwrap();
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(me.ppid > 0);
    }
}
