//! Durable Raft storage in one redb file: the log, the vote, and the state machine (whole
//! state written in the same file after each applied batch). Every write transaction is
//! committed with redb's default immediate durability (fsync) before Raft is told.

use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, RwLock};

use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, IOFlushed, LogState, RaftLogStorage, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftLogReader, RaftSnapshotBuilder};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::broadcast;

use crate::state::{ChangeResult, ClusterState, StateFile};
use crate::types::{
    Entry, LogId, Request, Response, Snapshot, SnapshotMeta, StoredMembership, TypeConfig, Vote,
};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SM: TableDefinition<&str, &[u8]> = TableDefinition::new("sm");

fn ioe<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> io::Error {
    move |e| io::Error::other(format!("raft store: {what}: {e}"))
}

fn enc<T: Serialize>(v: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(ioe("encode"))
}

fn dec<T: DeserializeOwned>(b: &[u8]) -> io::Result<T> {
    serde_json::from_slice(b).map_err(ioe("decode"))
}

/// Open (or create) the store file.
pub fn open_db(path: &Path) -> io::Result<Arc<Database>> {
    let db = Database::create(path)
        .map_err(|e| io::Error::other(format!("cannot open raft store {}: {e}", path.display())))?;
    // The state holds users' password hashes and tokens' hashes: the owner's alone,
    // whoever may traverse the state directory (the read-only `haclient` group).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    {
        let tx = db.begin_write().map_err(ioe("begin"))?;
        tx.open_table(LOG).map_err(ioe("open log"))?;
        tx.open_table(META).map_err(ioe("open meta"))?;
        tx.open_table(SM).map_err(ioe("open sm"))?;
        tx.commit().map_err(ioe("commit"))?;
    }
    Ok(Arc::new(db))
}

fn get_meta<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> io::Result<Option<T>> {
    let tx = db.begin_read().map_err(ioe("begin read"))?;
    let t = tx.open_table(table).map_err(ioe("open"))?;
    match t.get(key).map_err(ioe("get"))? {
        Some(v) => Ok(Some(dec(v.value())?)),
        None => Ok(None),
    }
}

fn put_meta<T: Serialize>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
    v: &T,
) -> io::Result<()> {
    let bytes = enc(v)?;
    let tx = db.begin_write().map_err(ioe("begin write"))?;
    {
        let mut t = tx.open_table(table).map_err(ioe("open"))?;
        t.insert(key, bytes.as_slice()).map_err(ioe("insert"))?;
    }
    tx.commit().map_err(ioe("commit"))
}

/// The Raft log and vote.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    pub fn new(db: Arc<Database>) -> Self {
        LogStore { db }
    }

    /// Whether nothing was ever written (no vote, no log): a node that may be initialised.
    pub fn is_pristine(&self) -> io::Result<bool> {
        let vote: Option<Vote> = get_meta(&self.db, META, "vote")?;
        let tx = self.db.begin_read().map_err(ioe("begin read"))?;
        let t = tx.open_table(LOG).map_err(ioe("open"))?;
        let empty = t.first().map_err(ioe("first"))?.is_none();
        let purged: Option<LogId> = get_meta(&self.db, META, "last_purged")?;
        Ok(vote.is_none() && empty && purged.is_none())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let tx = self.db.begin_read().map_err(ioe("begin read"))?;
        let t = tx.open_table(LOG).map_err(ioe("open"))?;
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for item in t.range(start..).map_err(ioe("range"))? {
            let (k, v) = item.map_err(ioe("iter"))?;
            if !range.contains(&k.value()) {
                break;
            }
            out.push(dec(v.value())?);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        get_meta(&self.db, META, "vote")
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged: Option<LogId> = get_meta(&self.db, META, "last_purged")?;
        let tx = self.db.begin_read().map_err(ioe("begin read"))?;
        let t = tx.open_table(LOG).map_err(ioe("open"))?;
        let last = match t.last().map_err(ioe("last"))? {
            Some((_, v)) => {
                let e: Entry = dec(v.value())?;
                Some(e.log_id)
            }
            None => None,
        };
        let last_log_id = last.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        put_meta(&self.db, META, "vote", vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        put_meta(&self.db, META, "committed", &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(get_meta::<Option<LogId>>(&self.db, META, "committed")?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let res = (|| {
            let tx = self.db.begin_write().map_err(ioe("begin write"))?;
            {
                let mut t = tx.open_table(LOG).map_err(ioe("open"))?;
                for e in entries {
                    let bytes = enc(&e)?;
                    t.insert(e.log_id.index, bytes.as_slice())
                        .map_err(ioe("insert"))?;
                }
            }
            tx.commit().map_err(ioe("commit"))
        })();
        match res {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        let tx = self.db.begin_write().map_err(ioe("begin write"))?;
        {
            let mut t = tx.open_table(LOG).map_err(ioe("open"))?;
            t.retain_in(from.., |_, _| false).map_err(ioe("truncate"))?;
        }
        tx.commit().map_err(ioe("commit"))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let bytes = enc(&log_id)?;
        let tx = self.db.begin_write().map_err(ioe("begin write"))?;
        {
            let mut m = tx.open_table(META).map_err(ioe("open"))?;
            m.insert("last_purged", bytes.as_slice())
                .map_err(ioe("insert"))?;
            let mut t = tx.open_table(LOG).map_err(ioe("open"))?;
            t.retain_in(..=log_id.index, |_, _| false)
                .map_err(ioe("purge"))?;
        }
        tx.commit().map_err(ioe("commit"))
    }
}

/// An applied change, as broadcast to subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedChange {
    pub log_index: u64,
    pub epoch: u64,
    pub request: Request,
    pub result: ChangeResult,
}

/// What readers of the local state machine see.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub state: ClusterState,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

/// The state machine: the state in memory, persisted to redb after each applied batch.
#[derive(Clone)]
pub struct StateMachineStore {
    db: Arc<Database>,
    shared: Arc<RwLock<Applied>>,
    events: broadcast::Sender<AppliedChange>,
}

#[derive(Serialize, serde::Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: StateFile,
}

impl StateMachineStore {
    /// Load the state machine from the store (empty when new).
    pub fn load(db: Arc<Database>, events: broadcast::Sender<AppliedChange>) -> io::Result<Self> {
        let state: Option<StateFile> = get_meta(&db, SM, "state")?;
        let last_applied: Option<LogId> = get_meta::<Option<LogId>>(&db, SM, "applied")?.flatten();
        let membership: Option<StoredMembership> = get_meta(&db, SM, "membership")?;
        let applied = Applied {
            state: state.map(StateFile::into_state).unwrap_or_default(),
            last_applied,
            membership: membership.unwrap_or_default(),
        };
        Ok(StateMachineStore {
            db,
            shared: Arc::new(RwLock::new(applied)),
            events,
        })
    }

    /// A consistent copy of the local state.
    pub fn read(&self) -> Applied {
        match self.shared.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Run `f` on the local state without copying it.
    pub fn with<R>(&self, f: impl FnOnce(&Applied) -> R) -> R {
        match self.shared.read() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AppliedChange> {
        self.events.subscribe()
    }

    fn persist(&self, a: &Applied) -> io::Result<()> {
        let state = enc(&StateFile::V1(a.state.clone()))?;
        let applied = enc(&a.last_applied)?;
        let membership = enc(&a.membership)?;
        let tx = self.db.begin_write().map_err(ioe("begin write"))?;
        {
            let mut t = tx.open_table(SM).map_err(ioe("open"))?;
            t.insert("state", state.as_slice()).map_err(ioe("insert"))?;
            t.insert("applied", applied.as_slice())
                .map_err(ioe("insert"))?;
            t.insert("membership", membership.as_slice())
                .map_err(ioe("insert"))?;
        }
        tx.commit().map_err(ioe("commit"))
    }

    fn write_guard(&self) -> std::sync::RwLockWriteGuard<'_, Applied> {
        match self.shared.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = StateFile;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let a = self.read();
        let snap = Snapshot {
            meta: SnapshotMeta {
                last_log_id: a.last_applied,
                last_membership: a.membership.clone(),
            },
            snapshot: StateFile::V1(a.state),
        };
        put_meta(
            &self.db,
            SM,
            "snapshot",
            &StoredSnapshot {
                meta: snap.meta.clone(),
                data: snap.snapshot.clone(),
            },
        )?;
        Ok(snap)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = StateFile;
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let a = self.read();
        Ok((a.last_applied, a.membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut batch = Vec::new();
        while let Some(item) = entries.next().await {
            batch.push(item?);
        }
        let mut responders = Vec::new();
        let mut events = Vec::new();
        let snapshot_to_persist;
        {
            let mut g = self.write_guard();
            for (entry, responder) in batch {
                let index = entry.log_id.index;
                g.last_applied = Some(entry.log_id);
                let resp = match entry.payload {
                    EntryPayload::Blank => Response {
                        epoch: g.state.epoch,
                        result: ChangeResult::Ok,
                    },
                    EntryPayload::Membership(m) => {
                        g.membership = StoredMembership::new(Some(entry.log_id), m);
                        Response {
                            epoch: g.state.epoch,
                            result: ChangeResult::Ok,
                        }
                    }
                    EntryPayload::Normal(req) => {
                        let result = if req.v > crate::types::REQUEST_VERSION {
                            ChangeResult::Refused {
                                code: "HALO-E117".into(),
                                reason: format!(
                                    "log entry {index} has format version {}, newer than this build understands ({}); upgrade this node",
                                    req.v,
                                    crate::types::REQUEST_VERSION
                                ),
                            }
                        } else {
                            g.state.apply(&req, index)
                        };
                        events.push(AppliedChange {
                            log_index: index,
                            epoch: g.state.epoch,
                            request: req,
                            result: result.clone(),
                        });
                        Response {
                            epoch: g.state.epoch,
                            result,
                        }
                    }
                };
                if let Some(r) = responder {
                    responders.push((r, resp));
                }
            }
            snapshot_to_persist = g.clone();
        }
        self.persist(&snapshot_to_persist)?;
        for (r, resp) in responders {
            r.send(resp);
        }
        for e in events {
            // No subscriber is fine.
            let _ = self.events.send(e);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: StateFile,
    ) -> Result<(), io::Error> {
        let a = Applied {
            state: snapshot.clone().into_state(),
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        self.persist(&a)?;
        put_meta(
            &self.db,
            SM,
            "snapshot",
            &StoredSnapshot {
                meta: meta.clone(),
                data: snapshot,
            },
        )?;
        *self.write_guard() = a;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let s: Option<StoredSnapshot> = get_meta(&self.db, SM, "snapshot")?;
        Ok(s.map(|s| Snapshot {
            meta: s.meta,
            snapshot: s.data,
        }))
    }
}
