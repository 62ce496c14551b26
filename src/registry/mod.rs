//! The registry database: SQLite (a file under the data directory) as the embedded default.
//!
//! Every table kyso keeps (certification registers, archive outbox, authority, audit log) lives
//! here, created by the numbered migrations in `migrations/`. Each migration runs once, in its
//! own transaction, and is recorded by name in `schema_migrations`, so features developed apart
//! can add their own files without fighting over a single version counter.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;

/// Why the registry could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The database directory could not be created.
    #[error("cannot create registry directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("registry database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A migration failed; the database is left at the previous migration.
    #[error("registry migration {name} failed: {source}")]
    Migration {
        /// The migration's file name.
        name: &'static str,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The registry was brought to a schema this kyso does not know (a newer kyso migrated it):
    /// writing to it with older rules could leave records the newer version reads wrongly.
    #[error(
        "registry was upgraded by a newer kyso (migration {0} is unknown to this one); run the newer kyso"
    )]
    Newer(String),
}

/// One schema migration: a name (sorted order is apply order) and its SQL.
struct Migration {
    name: &'static str,
    sql: &'static str,
}

/// The migrations, in the order they apply. Add new files at the end.
const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        name: "0002_issuing",
        sql: include_str!("../../migrations/0002_issuing.sql"),
    },
    Migration {
        name: "0003_archive",
        sql: include_str!("../../migrations/0003_archive.sql"),
    },
    Migration {
        name: "0004_authority",
        sql: include_str!("../../migrations/0004_authority.sql"),
    },
    Migration {
        name: "0005_app",
        sql: include_str!("../../migrations/0005_app.sql"),
    },
    Migration {
        name: "0006_users",
        sql: include_str!("../../migrations/0006_users.sql"),
    },
    Migration {
        name: "0007_ltv",
        sql: include_str!("../../migrations/0007_ltv.sql"),
    },
    Migration {
        name: "0009_ltv_renewal",
        sql: include_str!("../../migrations/0009_ltv_renewal.sql"),
    },
    Migration {
        name: "0008_form_keys",
        sql: include_str!("../../migrations/0008_form_keys.sql"),
    },
    Migration {
        name: "0010_hot_path_indexes",
        sql: include_str!("../../migrations/0010_hot_path_indexes.sql"),
    },
];

mod audit;
mod authority;
mod documents;
mod ltv;
mod outbox;
mod pending;
#[cfg(test)]
pub(crate) mod statements;
pub mod users;

/// Statements run through each connection's cache of prepared statements. Parsing and planning
/// took about a third of SQLite's CPU on the issue + sign path (perf, `bench/serve.sh`): the
/// statements kyso makes are short, and a pooled connection serves thousands of requests.
pub(crate) trait Cached {
    /// `Connection::execute`, with the statement prepared once per connection.
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// `Connection::query_row`, with the statement prepared once per connection.
    fn one<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn one<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Prepared statements kept per connection: more than the distinct statements of the busiest
/// use case (sign: authority, register, outbox, audit), so none is evicted and re-parsed.
const STATEMENT_CACHE: usize = 128;

/// The registry as the domain stores see it: one connection, inside a unit of work or outside
/// one (reads). Every domain store trait is implemented for `Db`, and only code under
/// `registry` sees the SQLite connection inside it.
#[derive(Clone, Copy)]
pub struct Db<'a> {
    conn: &'a Connection,
}

impl<'a> Db<'a> {
    /// Whether the registry answers a query (readiness probes).
    pub fn ping(self) -> Result<(), crate::store::StoreError> {
        self.conn
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }

    /// The SQLite connection, for the store implementations in this module's children.
    pub(in crate::registry) fn conn(self) -> &'a Connection {
        self.conn
    }
}

impl From<rusqlite::Error> for crate::store::StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use crate::store::{StoreError, StoreErrorKind};
        let kind = match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                rusqlite::ErrorCode::ConstraintViolation => StoreErrorKind::Constraint,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    StoreErrorKind::Busy
                }
                _ => StoreErrorKind::Other,
            },
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnType(..) => StoreErrorKind::Corrupt,
            _ => StoreErrorKind::Other,
        };
        StoreError::new(kind, e.to_string())
    }
}

impl From<RegistryError> for crate::store::StoreError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Sqlite(e) => e.into(),
            other => crate::store::StoreError::new(
                crate::store::StoreErrorKind::Other,
                other.to_string(),
            ),
        }
    }
}

/// How long a writer waits for SQLite's write lock before the unit of work fails as busy.
const WRITER_PATIENCE: Duration = Duration::from_secs(30);

/// SQLite's busy handler: called while another connection holds the write lock, with the
/// number of calls so far; `true` tries again.
///
/// SQLite's own handler (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries,
/// for a lock that a unit of work holds a few hundred microseconds: under a burst of issue and
/// sign requests, writers slept far longer than they waited (strace under `bench/serve.sh`:
/// hundreds of such sleeps a second, with cores idle). This one tries again every 100 µs for
/// the first 20 ms, then every millisecond, up to [`WRITER_PATIENCE`].
fn wait_for_writer(calls: i32) -> bool {
    const QUICK: i32 = 200;
    let calls = calls.max(0);
    let (pause, waited) = if calls < QUICK {
        (
            Duration::from_micros(100),
            Duration::from_micros(100) * calls as u32,
        )
    } else {
        (
            Duration::from_millis(1),
            Duration::from_micros(100) * QUICK as u32
                + Duration::from_millis(1) * (calls - QUICK) as u32,
        )
    };
    if waited >= WRITER_PATIENCE {
        return false;
    }
    std::thread::sleep(pause);
    true
}

/// An open registry database.
///
/// A registry taken from a [`Pool`] goes back to it when dropped, so that a service answering
/// thousands of requests a second does not open (and parse the schema of) a new connection for
/// each: opening costs far more than the one or two queries most requests make.
pub struct Registry {
    /// Always `Some` until `drop` hands the connection back to its pool.
    conn: Option<Connection>,
    wal: bool,
    pool: Option<Arc<PoolInner>>,
}

/// Connections to one registry file, kept open between uses.
///
/// Cheap to clone (all clones share the idle connections). At most `max_idle` connections are
/// kept; more may be open at once under load, and those are closed when returned.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    path: PathBuf,
    idle: Mutex<Vec<(Connection, bool)>>,
    max_idle: usize,
    flush: GroupFlush,
}

/// One fsync of the write-ahead log for every commit made before it started.
///
/// In WAL mode with `synchronous = FULL`, SQLite fsyncs the log inside each commit, while it
/// holds the write lock: concurrent writers then queue behind one another's fsyncs, and a burst
/// of requests runs at one fsync per commit. Committing with `synchronous = NORMAL` writes the
/// same frames without the fsync, still atomically; the commit is then made durable by fsyncing
/// the log file outside the lock. A caller takes a ticket after its commit returned and waits
/// until a flush that started after its ticket has finished; one caller at a time runs the
/// flush, for everyone waiting, so N concurrent commits cost one fsync instead of N.
///
/// Frames moved into the database by a checkpoint are safe too: SQLite fsyncs the log before
/// each checkpoint and the database after it, and deletes the log only after a full checkpoint.
struct GroupFlush {
    wal_path: PathBuf,
    state: Mutex<FlushState>,
    done: Condvar,
}

#[derive(Default)]
struct FlushState {
    /// Tickets handed out (commits waiting to be durable).
    issued: u64,
    /// Every ticket up to this one is durable.
    flushed: u64,
    /// A caller is fsyncing now.
    running: bool,
}

impl GroupFlush {
    fn new(db: &Path) -> GroupFlush {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        GroupFlush {
            wal_path: PathBuf::from(wal),
            state: Mutex::new(FlushState::default()),
            done: Condvar::new(),
        }
    }

    /// Returns once everything committed before the call is on disk.
    fn flush(&self) -> std::io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.issued += 1;
        let ticket = st.issued;
        loop {
            if st.flushed >= ticket {
                return Ok(());
            }
            if !st.running {
                st.running = true;
                let target = st.issued;
                drop(st);
                let result = self.fsync_log();
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.running = false;
                if result.is_ok() {
                    st.flushed = st.flushed.max(target);
                }
                self.done.notify_all();
                // A failed flush fails its own caller; the others try again themselves.
                result?;
                continue;
            }
            st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn fsync_log(&self) -> std::io::Result<()> {
        match std::fs::File::open(&self.wal_path) {
            Ok(f) => f.sync_data(),
            // No log: the last connection closed after a full checkpoint, which SQLite syncs.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Pool {
    /// A pool of connections to the registry at `path`, keeping at most `max_idle` of them open
    /// while unused. The schema is brought up to date by the first connection opened.
    pub fn new(path: &Path, max_idle: usize) -> Pool {
        Pool {
            inner: Arc::new(PoolInner {
                path: path.to_path_buf(),
                idle: Mutex::new(Vec::new()),
                max_idle,
                flush: GroupFlush::new(path),
            }),
        }
    }

    /// An idle connection, or a new one when none is idle.
    pub fn get(&self) -> Result<Registry, RegistryError> {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let mut registry = match idle {
            Some((conn, wal)) => Registry {
                conn: Some(conn),
                wal,
                pool: None,
            },
            None => Registry::open(&self.inner.path)?,
        };
        registry.pool = Some(self.inner.clone());
        Ok(registry)
    }

    /// How many connections wait idle (tests).
    pub fn idle(&self) -> usize {
        self.inner.idle.lock().map_or(0, |v| v.len())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let (Some(pool), Some(conn)) = (self.pool.take(), self.conn.take()) else {
            return;
        };
        // A connection left inside a transaction (a use case that failed between BEGIN and
        // COMMIT without a guard) is closed, which rolls it back, rather than handed on.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < pool.max_idle {
            idle.push((conn, self.wal));
        }
    }
}

impl Registry {
    /// Opens (creating if needed) the registry at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Registry, RegistryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| RegistryError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// Opens a private in-memory registry (unit tests of code that needs one).
    pub fn open_in_memory() -> Result<Registry, RegistryError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Registry, RegistryError> {
        #[cfg(test)]
        conn.trace_v2(
            rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
            Some(statements::record),
        );
        // WAL lets readers (status, verify pages) run beside the writer; concurrent writers
        // (other requests, other processes) wait for the write lock instead of failing at once.
        conn.busy_handler(Some(wait_for_writer))?;
        // SQLite answers with the mode it actually took: a file system without shared memory
        // (some network shares) keeps the rollback journal, where commits must each be durable.
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        let wal = mode.eq_ignore_ascii_case("wal");
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mut registry = Registry {
            conn: Some(conn),
            wal,
            pool: None,
        };
        registry.migrate()?;
        Ok(registry)
    }

    fn migrate(&mut self) -> Result<(), RegistryError> {
        self.connection().execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 name TEXT PRIMARY KEY,
                 applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             )",
        )?;
        // Every open of a up-to-date registry (each request of the service opens one) finds
        // all migrations applied with one read, without taking the write lock.
        let applied: i64 =
            self.connection()
                .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?;
        if usize::try_from(applied).is_ok_and(|n| n == MIGRATIONS.len())
            && MIGRATIONS.iter().all(|m| {
                self.connection()
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE name = ?1)",
                        [m.name],
                        |r| r.get::<_, bool>(0),
                    )
                    .unwrap_or(false)
            })
        {
            return Ok(());
        }
        let applied_names: Vec<String> = self
            .connection()
            .prepare("SELECT name FROM schema_migrations ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if let Some(unknown) = applied_names
            .into_iter()
            .find(|n| !MIGRATIONS.iter().any(|m| m.name == n))
        {
            return Err(RegistryError::Newer(unknown));
        }
        for m in MIGRATIONS {
            let tx = self
                .connection_mut()
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let done: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE name = ?1)",
                [m.name],
                |r| r.get(0),
            )?;
            if !done {
                tx.execute_batch(m.sql)
                    .map_err(|source| RegistryError::Migration {
                        name: m.name,
                        source,
                    })?;
                tx.execute("INSERT INTO schema_migrations(name) VALUES (?1)", [m.name])?;
            }
            tx.commit()?;
        }
        Ok(())
    }

    /// The names of the migrations applied, in order.
    pub fn applied_migrations(&self) -> Result<Vec<String>, RegistryError> {
        let mut st = self
            .connection()
            .prepare("SELECT name FROM schema_migrations ORDER BY name")?;
        let names = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(names)
    }

    /// The registry for reads outside a unit of work (each statement sees the latest commit).
    pub fn db(&self) -> Db<'_> {
        Db {
            conn: self.connection(),
        }
    }

    /// Runs `f` as one unit of work: everything it changes through the [`Db`] it is given (a
    /// register entry, its audit entry, its outbox row) is committed together, durably, or not
    /// at all when `f` fails. The write lock is taken at the start, so two units of work never
    /// decide from the same state.
    pub fn unit_of_work<T, E>(&mut self, f: impl FnOnce(Db<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<crate::store::StoreError>,
    {
        Self::run_transaction(self.connection_mut(), f)
    }

    fn run_transaction<T, E>(
        conn: &mut Connection,
        f: impl FnOnce(Db<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<crate::store::StoreError>,
    {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| E::from(e.into()))?;
        let value = f(Db { conn: &tx })?;
        tx.commit().map_err(|e| E::from(e.into()))?;
        Ok(value)
    }

    /// Runs `f` with the connection at `synchronous = NORMAL` (the commit writes the log
    /// without fsyncing it), then puts it back at FULL. If FULL cannot be restored the error is
    /// returned (later commits on it would not be durable) and the connection is not handed
    /// back to its pool.
    fn run_relaxed<T, E>(&mut self, f: impl FnOnce(Db<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<crate::store::StoreError>,
    {
        let conn = self.connection_mut();
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| E::from(e.into()))?;
        let committed = Self::run_transaction(conn, f);
        if let Err(e) = conn.pragma_update(None, "synchronous", "FULL") {
            self.pool = None;
            return Err(E::from(e.into()));
        }
        committed
    }

    /// [`Registry::unit_of_work`] for the busy paths of the service (issuing, signing): the
    /// commit shares its fsync with the commits of other requests made at the same moment (see
    /// [`GroupFlush`]). When it returns `Ok`, the unit of work survives a crash or a power cut,
    /// exactly as a commit with `synchronous = FULL` would. Outside WAL mode, or on a
    /// connection not taken from a [`Pool`], it is a plain durable commit.
    pub fn unit_of_work_grouped<T, E>(
        &mut self,
        f: impl FnOnce(Db<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<crate::store::StoreError>,
    {
        let Some(pool) = self.pool.clone().filter(|_| self.wal) else {
            return self.unit_of_work(f);
        };
        let value = self.run_relaxed(f)?;
        // After the write lock is released: the next unit of work begins while this one's log
        // is fsynced, and the fsync covers every commit made before it started.
        pool.flush.flush().map_err(|e| {
            E::from(crate::store::StoreError::new(
                crate::store::StoreErrorKind::Other,
                format!("cannot make the commit durable: {e}"),
            ))
        })?;
        Ok(value)
    }

    /// [`Registry::unit_of_work`] committed without waiting for the disk (`synchronous =
    /// NORMAL`), for a unit of work that a later durable commit on the same registry makes
    /// durable (issuing's numbering, see [`crate::issuing`]). In WAL mode such a commit is still
    /// atomic and survives a crash of the process (the log is in the OS cache); a power cut
    /// before the next fsync of the log may lose it, and everything committed after it, whole.
    /// Outside WAL mode it is a plain durable commit.
    pub fn unit_of_work_relaxed<T, E>(
        &mut self,
        f: impl FnOnce(Db<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<crate::store::StoreError>,
    {
        if !self.wal {
            return self.unit_of_work(f);
        }
        self.run_relaxed(f)
    }

    /// The underlying connection, for the store implementations in this module's children.
    fn connection(&self) -> &Connection {
        match &self.conn {
            Some(c) => c,
            // Taken only by `drop`, after which no method can run.
            None => unreachable!("registry connection used after drop"),
        }
    }

    /// The underlying connection, mutably (transactions).
    fn connection_mut(&mut self) -> &mut Connection {
        match &mut self.conn {
            Some(c) => c,
            None => unreachable!("registry connection used after drop"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry that a newer kyso migrated is refused, not written with older rules.
    #[test]
    fn a_registry_migrated_by_a_newer_kyso_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite3");
        let reg = Registry::open(&path).unwrap();
        reg.connection()
            .execute(
                "INSERT INTO schema_migrations(name) VALUES ('9999_from_the_future')",
                [],
            )
            .unwrap();
        drop(reg);
        match Registry::open(&path) {
            Err(RegistryError::Newer(name)) => assert_eq!(name, "9999_from_the_future"),
            Err(e) => panic!("refused for another reason: {e}"),
            Ok(_) => panic!("a registry from a newer kyso was opened"),
        }
    }

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite3");
        let first = Registry::open(&path).unwrap().applied_migrations().unwrap();
        let second = Registry::open(&path).unwrap().applied_migrations().unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), MIGRATIONS.len());
    }

    #[test]
    fn pool_reuses_connections_and_drops_ones_left_in_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::new(&dir.path().join("r.sqlite3"), 2);
        {
            let a = pool.get().unwrap();
            let b = pool.get().unwrap();
            let c = pool.get().unwrap();
            a.connection()
                .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
                .unwrap();
            assert_eq!(
                c.connection()
                    .query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
                    .unwrap(),
                1
            );
            drop(b);
        }
        assert_eq!(pool.idle(), 2, "at most max_idle are kept");
        let open = pool.get().unwrap();
        open.connection().execute_batch("BEGIN").unwrap();
        drop(open);
        assert_eq!(
            pool.idle(),
            1,
            "a connection inside a transaction is not reused"
        );
        let next = pool.get().unwrap();
        assert!(next.connection().is_autocommit());
    }

    #[test]
    fn grouped_commits_are_visible_and_leave_the_connection_at_full() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::new(&dir.path().join("r.sqlite3"), 4);
        pool.get()
            .unwrap()
            .connection()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        std::thread::scope(|s| {
            for i in 0..8 {
                let pool = pool.clone();
                s.spawn(move || {
                    let mut r = pool.get().unwrap();
                    r.unit_of_work_grouped(|db| {
                        db.conn().execute("INSERT INTO t VALUES (?1)", [i])?;
                        Ok::<_, crate::store::StoreError>(())
                    })
                    .unwrap();
                    let sync: i64 = r
                        .connection()
                        .query_row("PRAGMA synchronous", [], |row| row.get(0))
                        .unwrap();
                    assert_eq!(sync, 2, "FULL again after the commit");
                });
            }
        });
        let mut r = pool.get().unwrap();
        let n: i64 = r
            .connection()
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(n, 8);
        // A failing transaction is rolled back and changes nothing.
        let e: Result<(), crate::store::StoreError> = r.unit_of_work_grouped(|db| {
            db.conn().execute("INSERT INTO t VALUES (99)", [])?;
            db.conn().execute("INSERT INTO nowhere VALUES (1)", [])?;
            Ok(())
        });
        assert!(e.is_err());
        let n: i64 = r
            .connection()
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(n, 8);
    }

    /// Documents issued before migration 0010 wait in the queues they would have been in.
    #[test]
    fn documents_issued_before_the_queue_column_wait_for_the_field_they_lack() {
        let conn = Connection::open_in_memory().unwrap();
        for m in MIGRATIONS.iter().filter(|m| m.name < "0010") {
            conn.execute_batch(m.sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO registers VALUES (1, 'X', 2026, 'CT', 1, 1, 4, 't', NULL);
             INSERT INTO documents (id, kind, template_version, register_id, commune_code, year,
                 type_code, number, data, status, created_at, issued_on)
             VALUES ('a', 'k', '1', 1, 'X', 2026, 'CT', 1, '{}', 'issued', 't', 'd'),
                    ('b', 'k', '1', 1, 'X', 2026, 'CT', 2, '{}', 'issued', 't', 'd'),
                    ('c', 'k', '1', 1, 'X', 2026, 'CT', 3, '{}', 'issued', 't', 'd'),
                    ('d', 'k', '1', 1, 'X', 2026, 'CT', 4, '{}', 'pending', 't', 'd');
             INSERT INTO document_versions (sha256, document_id, stage, size, field, created_at)
             VALUES (printf('%064d', 1), 'b', 'signed', 1, 'ChuKyLanhDao', 't'),
                    (printf('%064d', 2), 'c', 'signed', 1, 'ChuKyLanhDao', 't'),
                    (printf('%064d', 3), 'c', 'signed', 1, 'DauCoQuan', 't');",
        )
        .unwrap();
        let m = MIGRATIONS
            .iter()
            .find(|m| m.name.starts_with("0010"))
            .unwrap();
        conn.execute_batch(m.sql).unwrap();
        let awaited: Vec<(String, Option<String>)> = conn
            .prepare("SELECT id, awaiting_field FROM documents ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let field = |f: &str| Some(f.to_owned());
        assert_eq!(
            awaited,
            vec![
                ("a".into(), field(crate::issuing::OFFICIAL_FIELD)),
                ("b".into(), field(crate::issuing::SEAL_FIELD)),
                ("c".into(), None),
                ("d".into(), None),
            ]
        );
    }

    /// The registry is the one place that holds SQL (so that a PostgreSQL registry can be a
    /// second implementation of the domain modules' store traits): no other source file names
    /// SQLite or writes a statement.
    #[test]
    fn no_sql_outside_the_registry() {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let markers = [
            "rusqlite",
            "SELECT ",
            "INSERT INTO",
            "DELETE FROM",
            "CREATE TABLE",
            "BEGIN IMMEDIATE",
            "ON CONFLICT",
        ];
        let mut found = Vec::new();
        for file in files
            .iter()
            .filter(|f| !f.starts_with(src.join("registry")))
        {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let update = line.contains("UPDATE ") && line.contains(" SET ");
                if update || markers.iter().any(|m| line.contains(m)) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "SQL outside src/registry:\n{}",
            found.join("\n")
        );
    }
}
