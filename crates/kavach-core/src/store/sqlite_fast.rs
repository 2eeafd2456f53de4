//! SQLite's hot path on rusqlite: point reads on pooled connections, and one writer thread that
//! group-commits audit rows. sqlx's SQLite driver runs every query through a worker thread and costs
//! several times the CPU per read (see reference/napi-floor.md); this sits behind the same store.
//!
//! Durability: a caller learns its decision only after the transaction holding its audit row has
//! committed. When nothing else is in flight, `try_inline` commits on the caller's own thread
//! instead (no thread hop), which is what makes a single call cheap.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::agents::authz::{AuditRow, AuthRow, Decision, PendingAudit, HOUR_MS};
use crate::config::Durability;
use crate::error::{KavachError, Result};

const MAX_BATCH: usize = 1024;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

struct WriteJob {
    audit: PendingAudit,
    done: tokio::sync::oneshot::Sender<Result<Decision>>,
}

// Moved once through the channel; boxing the job would add an allocation per call.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Write(WriteJob),
    /// Inline commits do not checkpoint on the caller's thread; they ask the writer to.
    Checkpoint,
}

/// Inline commits between two checkpoint requests (each adds about two WAL frames).
const INLINE_COMMITS_PER_CHECKPOINT: usize = 256;

/// The rusqlite side of a SQLite store.
pub struct SqliteFast {
    path: PathBuf,
    durability: Durability,
    readers: Mutex<Vec<Connection>>,
    sender: Mutex<Option<mpsc::Sender<Msg>>>,
    /// Jobs queued or being committed by the writer, plus 1 while an inline commit runs.
    pending: Arc<AtomicUsize>,
    inline_commits: AtomicUsize,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn open(path: &Path, durability: Durability) -> Result<Connection> {
    // Another process may be creating the file or switching it to WAL: wait that out.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match open_once(path, durability) {
            Err(KavachError::Busy) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn open_once(path: &Path, durability: Durability) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        },
    )?;
    // Pages of the main file are read through a memory map rather than a read() per page.
    conn.pragma_update(None, "mmap_size", 256i64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Whether the database file this connection has open is still the one at its path: false once the
/// file was deleted or renamed (or replaced) under the running process. In WAL mode SQLite itself
/// goes on writing into the unlinked file, so every write would be lost without a word; this asks
/// SQLite's own check (`SQLITE_FCNTL_HAS_MOVED`: one stat of the path against the open file).
///
/// `db` must be a live `sqlite3*` handle that no other thread uses during the call.
pub(crate) fn file_has_moved(db: *mut rusqlite::ffi::sqlite3) -> bool {
    let mut moved: std::os::raw::c_int = 0;
    // SAFETY: `db` is a live connection handle owned by the caller for the duration of the call
    // (rusqlite's `Connection::handle`, or sqlx's locked handle); "main" is a NUL-terminated
    // schema name, and HAS_MOVED writes one int through the pointer, which outlives the call.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            db,
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_HAS_MOVED,
            (&mut moved as *mut std::os::raw::c_int).cast(),
        )
    };
    rc == rusqlite::ffi::SQLITE_OK && moved != 0
}

/// DB_UNAVAILABLE: the file was moved or deleted (SQLITE_READONLY_DBMOVED's message).
pub(crate) fn moved_error() -> KavachError {
    KavachError::from(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY_DBMOVED),
        None,
    ))
}

/// `moved_error()` when `conn`'s file is no longer the one at its path.
fn check_file(conn: &Connection) -> Result<()> {
    // SAFETY of the handle: `conn` is borrowed for the call, and a rusqlite Connection is never
    // shared between threads at once.
    if file_has_moved(unsafe { conn.handle() }) {
        return Err(moved_error());
    }
    Ok(())
}

const SELECT_BY_HASH: &str =
    "SELECT id, owner_id, status, expires_at, permissions, delegated FROM kavach_agents WHERE token_hash = ?1";
const SELECT_BY_ID: &str =
    "SELECT id, owner_id, status, expires_at, permissions, delegated FROM kavach_agents WHERE id = ?1";
const INSERT_AUDIT: &str = "INSERT INTO kavach_audit_logs (id, agent_id, user_id, action, resource, parameters, result, code, reason, rate_key, ip, duration_us, created_at, delegation_chain) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
const COUNT_RATE: &str = "SELECT COUNT(*) FROM kavach_audit_logs WHERE agent_id = ?1 AND rate_key = ?2 AND result = 'allowed' AND created_at > ?3";

fn read_agent(conn: &Connection, sql: &str, key: &str) -> Result<Option<AuthRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt
        .query_row([key], |r| {
            Ok(AuthRow {
                id: r.get(0)?,
                owner_id: r.get(1)?,
                status: r.get(2)?,
                expires_at: r.get(3)?,
                permissions: r.get(4)?,
                delegated: r.get::<_, i64>(5)? != 0,
            })
        })
        .optional()?)
}

fn insert(conn: &Connection, row: &AuditRow) -> Result<()> {
    let mut stmt = conn.prepare_cached(INSERT_AUDIT)?;
    stmt.execute(params![
        row.id,
        row.agent_id,
        row.user_id,
        row.action,
        row.resource,
        row.parameters,
        row.result(),
        row.code,
        row.reason,
        row.rate_key,
        row.ip,
        row.duration_us,
        row.created_at,
        row.delegation_chain,
    ])?;
    Ok(())
}

/// The inline decision: the agent's read, the rate count (if any) and the audit row's insert in
/// one deferred transaction, so the shared-memory locks of WAL mode are taken once rather than once
/// for the read and again for the write (two `fcntl` calls fewer per decision). The write upgrades
/// the read snapshot: if another connection committed in between, SQLite refuses it
/// (`SQLITE_BUSY_SNAPSHOT`), nothing is written, and the caller takes the queued path, so a rate
/// count read here is still exact when the row goes in.
fn decide_and_write(
    conn: &Connection,
    decide: impl FnOnce(&Connection) -> Result<Option<PendingAudit>>,
    unaudited: Decision,
) -> Result<Decision> {
    if !conn.is_autocommit() {
        // A transaction left open by an earlier failure: end it before starting ours.
        conn.prepare_cached("ROLLBACK")?.execute([])?;
    }
    conn.prepare_cached("BEGIN")?.execute([])?;
    let run = || -> Result<Decision> {
        match decide(conn)? {
            None => Ok(unaudited),
            Some(mut audit) => {
                check_file(conn)?;
                if !audit.rate.is_empty() {
                    let (agent, since) =
                        (audit.row.agent_id.clone(), audit.row.created_at - HOUR_MS);
                    audit.settle(|key| {
                        let mut stmt = conn.prepare_cached(COUNT_RATE)?;
                        Ok(stmt.query_row(params![agent, key, since], |r| r.get::<_, i64>(0))?)
                    })?;
                }
                insert(conn, &audit.row)?;
                Ok(audit.row.decision())
            }
        }
    };
    let out = run().and_then(|d| {
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(d)
    });
    if out.is_err() && !conn.is_autocommit() {
        let _ = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut s| s.execute([]));
    }
    out
}

/// Settles and inserts every row in one `BEGIN IMMEDIATE ... COMMIT`.
fn commit_batch<'a>(
    conn: &Connection,
    audits: impl Iterator<Item = &'a mut PendingAudit>,
) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let run = || -> Result<()> {
        for a in audits {
            let (agent, since) = (a.row.agent_id.clone(), a.row.created_at - HOUR_MS);
            a.settle(|key| {
                let mut stmt = conn.prepare_cached(COUNT_RATE)?;
                Ok(stmt.query_row(params![agent, key, since], |r| r.get::<_, i64>(0))?)
            })?;
            insert(conn, &a.row)?;
        }
        Ok(())
    };
    match run() {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Msg>,
    pending: Arc<AtomicUsize>,
    path: PathBuf,
    durability: Durability,
) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    let mut checkpoint = false;
    while let Ok(first) = rx.recv() {
        match first {
            Msg::Write(job) => batch.push(job),
            Msg::Checkpoint => checkpoint = true,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Write(job)) => batch.push(job),
                Ok(Msg::Checkpoint) => checkpoint = true,
                Err(_) => break,
            }
        }
        if std::mem::take(&mut checkpoint) {
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
        }
        if batch.is_empty() {
            continue;
        }
        // A file deleted or replaced under the process: reopen the path (the file put back, or a
        // restored copy), else fail the batch as DB_UNAVAILABLE rather than commit into the void.
        let result = match check_file(&conn) {
            Ok(()) => Ok(()),
            Err(moved) => match open(&path, durability) {
                Ok(fresh) => {
                    conn = fresh;
                    Ok(())
                }
                Err(_) => Err(moved),
            },
        }
        .and_then(|()| commit_batch(&conn, batch.iter_mut().map(|j| &mut j.audit)));
        let n = batch.len();
        match result {
            Ok(()) => {
                pending.fetch_sub(n, Ordering::AcqRel);
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(job.audit.row.decision()));
                }
            }
            Err(e) => {
                pending.fetch_sub(n, Ordering::AcqRel);
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(e.for_each_caller()));
                }
            }
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
}

impl SqliteFast {
    /// Opens the writer thread and the first reader. The schema must already exist.
    pub fn start(path: &Path, durability: Durability) -> Result<Self> {
        let writer_conn = open(path, durability)?;
        let reader = open(path, durability)?;
        reader.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (tx, rx) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let p = pending.clone();
        let handle = std::thread::Builder::new()
            .name("kavach-audit-writer".into())
            .spawn({
                let (path, durability) = (path.to_owned(), durability);
                move || writer_loop(writer_conn, rx, p, path, durability)
            })
            .map_err(|_| KavachError::Internal("could not start the audit writer thread".into()))?;
        Ok(Self {
            path: path.to_owned(),
            durability,
            readers: Mutex::new(vec![reader]),
            sender: Mutex::new(Some(tx)),
            pending,
            inline_commits: AtomicUsize::new(0),
            writer: Mutex::new(Some(handle)),
        })
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self.readers.lock().pop() {
            Some(c) => c,
            None => {
                let c = open(&self.path, self.durability)?;
                c.pragma_update(None, "wal_autocheckpoint", 0)?;
                c
            }
        };
        let out = f(&conn);
        // A connection whose file has moved is dropped: the next one opens the path again.
        if matches!(&out, Err(KavachError::DbUnavailable(_))) {
            return out;
        }
        let mut pool = self.readers.lock();
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    /// Runs `f` on a pooled reader connection of this thread (a plugin's inline read).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_reader(f)
    }

    pub fn agent_by_hash(&self, hash: &str) -> Result<Option<AuthRow>> {
        self.with_reader(|c| read_agent(c, SELECT_BY_HASH, hash))
    }

    pub fn agent_by_id(&self, id: &str) -> Result<Option<AuthRow>> {
        self.with_reader(|c| read_agent(c, SELECT_BY_ID, id))
    }

    /// Queues an audit row for the writer and waits for its commit.
    pub async fn commit(&self, audit: PendingAudit) -> Result<Decision> {
        let (done, wait) = tokio::sync::oneshot::channel();
        {
            let sender = self.sender.lock();
            let Some(tx) = sender.as_ref() else {
                return Err(KavachError::Closed);
            };
            self.pending.fetch_add(1, Ordering::AcqRel);
            if tx.send(Msg::Write(WriteJob { audit, done })).is_err() {
                self.pending.fetch_sub(1, Ordering::AcqRel);
                return Err(KavachError::Closed);
            }
        }
        wait.await
            .map_err(|_| KavachError::Internal("the audit writer stopped".into()))?
    }

    /// Runs `decide` and commits its row on this thread, if nothing else is being written right now.
    /// `None` means "busy: take the queued path" (and nothing was read or written).
    pub fn try_inline(
        &self,
        decide: impl FnOnce(&Connection) -> Result<Option<PendingAudit>>,
        unaudited: Decision,
    ) -> Option<Result<Decision>> {
        if self.durability == Durability::Full {
            return None; // an fsync per call would block the caller's event loop.
        }
        if self.sender.lock().is_none() {
            return Some(Err(KavachError::Closed));
        }
        if self
            .pending
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return None;
        }
        let result = self.with_reader(|conn| {
            // Never wait for a lock on the caller's thread: if another process is writing, give up
            // at once (nothing was written) and let the queued path wait instead.
            conn.busy_timeout(Duration::ZERO)?;
            let out = decide_and_write(conn, decide, unaudited);
            conn.busy_timeout(BUSY_TIMEOUT)?;
            out
        });
        self.pending.fetch_sub(1, Ordering::AcqRel);
        if matches!(result, Err(KavachError::Busy)) {
            return None;
        }
        if self.inline_commits.fetch_add(1, Ordering::Relaxed) % INLINE_COMMITS_PER_CHECKPOINT
            == INLINE_COMMITS_PER_CHECKPOINT - 1
        {
            if let Some(tx) = self.sender.lock().as_ref() {
                let _ = tx.send(Msg::Checkpoint);
            }
        }
        Some(result)
    }

    /// Reads an agent on the given connection (for `try_inline`).
    pub fn read_by_hash(conn: &Connection, hash: &str) -> Result<Option<AuthRow>> {
        read_agent(conn, SELECT_BY_HASH, hash)
    }
    pub fn read_by_id(conn: &Connection, id: &str) -> Result<Option<AuthRow>> {
        read_agent(conn, SELECT_BY_ID, id)
    }

    /// Stops the writer after it has committed everything queued.
    pub fn shutdown(&self) {
        self.sender.lock().take();
        if let Some(h) = self.writer.lock().take() {
            let _ = h.join();
        }
        self.readers.lock().clear();
    }
}

impl Drop for SqliteFast {
    fn drop(&mut self) {
        self.shutdown();
    }
}

const SELECT_SESSION: &str = "SELECT s.id, s.user_id, s.expires_at, s.ip_address, s.user_agent, s.created_at, s.updated_at, \
     u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at, \
     s.impersonated_by, u.role, u.banned, u.ban_reason, u.ban_expires, s.active_organization_id, \
     u.username, u.display_username, u.phone_number, u.phone_number_verified, u.is_anonymous, u.additional_fields \
     FROM kavach_session s JOIN kavach_user u ON u.id = s.user_id WHERE s.token = ?1";

impl SqliteFast {
    /// The session stored under `hashed` and its user, read on a pooled connection of this thread.
    pub fn session_by_stored(
        &self,
        hashed: &str,
    ) -> Result<
        Option<(
            crate::accounts::human::Session,
            crate::accounts::human::User,
        )>,
    > {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(SELECT_SESSION)?;
            Ok(stmt
                .query_row([hashed], |r| {
                    Ok((
                        crate::accounts::human::Session {
                            id: r.get(0)?,
                            user_id: r.get(1)?,
                            expires_at: r.get(2)?,
                            ip_address: r.get(3)?,
                            user_agent: r.get(4)?,
                            created_at: r.get(5)?,
                            updated_at: r.get(6)?,
                            impersonated_by: r.get(14)?,
                            active_organization_id: r.get(19)?,
                        },
                        crate::accounts::human::User {
                            id: r.get(7)?,
                            email: r.get(8)?,
                            name: r.get(9)?,
                            email_verified: r.get(10)?,
                            image: r.get(11)?,
                            created_at: r.get(12)?,
                            updated_at: r.get(13)?,
                            role: r.get(15)?,
                            banned: r.get(16)?,
                            ban_reason: r.get(17)?,
                            ban_expires: r.get(18)?,
                            username: r.get(20)?,
                            display_username: r.get(21)?,
                            phone_number: r.get(22)?,
                            phone_number_verified: r.get(23)?,
                            is_anonymous: r.get(24)?,
                            additional: crate::accounts::human::parse_additional(r.get(25)?),
                        },
                    ))
                })
                .optional()?)
        })
    }
}
