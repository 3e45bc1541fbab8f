//! File descriptors: alone in its test process so that the count is exact.

mod common;

use std::time::Duration;

use common::*;
use halo_exec::ExecStatus;

/// Timeouts, crashes, garbage output, 300 concurrent monitors, meta-data and a
/// supervised process leave exactly the file descriptors there were before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_file_descriptor_leaks() {
    let hang = "#!/bin/sh\n( sleep 1000 & sleep 1000 ) &\nsleep 1000\n";
    let crash = "#!/bin/sh\nkill -SEGV $$\n";
    let noisy = "#!/bin/sh\nhead -c 1000000 /dev/urandom\nexit 42\n";
    let dir = tempfile::tempdir().unwrap();
    let root = ocf_root_with(
        dir.path(),
        &[("Hang", hang), ("Crash", crash), ("Noisy", noisy)],
    );
    let env = Env::with(|c| c.ocf_root = root.clone());
    // Warm up lazily created resources (signal pipe, thread pool, reaper thread).
    env.exec
        .execute(env.req("w", "ocf:test:Crash", "monitor", &[]))
        .await;
    let before = open_fds();
    let r = env
        .exec
        .execute(
            env.req("h", "ocf:test:Hang", "start", &[])
                .with_timeout(Duration::from_millis(300)),
        )
        .await;
    assert_eq!(r.status, ExecStatus::Timeout);
    env.exec
        .execute(env.req("c", "ocf:test:Crash", "monitor", &[]))
        .await;
    env.exec
        .execute(env.req("n", "ocf:test:Noisy", "monitor", &[]))
        .await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..300 {
        let exec = env.exec.clone();
        let req = env.req(&format!("r{i}"), "ocf:heartbeat:Dummy", "monitor", &[]);
        set.spawn(async move { exec.execute(req).await });
    }
    while let Some(j) = set.join_next().await {
        let r = j.unwrap();
        assert_eq!(r.rc, 7, "{r:?}");
    }
    env.exec
        .metadata(&halo_exec::parse_agent("ocf:heartbeat:IPaddr2").unwrap())
        .await
        .unwrap();
    let p = [("command", "sleep 1000")];
    assert_eq!(
        env.exec
            .execute(env.req("p", "halo:process", "start", &p))
            .await
            .rc,
        0
    );
    assert_eq!(
        env.exec
            .execute(env.req("p", "halo:process", "stop", &p))
            .await
            .rc,
        0
    );
    assert_eq!(open_fds(), before, "file descriptors leaked");
    assert_eq!(zombies_after_reaping().await, Vec::<i32>::new());
}
