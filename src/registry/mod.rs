//! The registry database: SQLite (a file under the data directory) as the embedded default.
//!
//! Every table kyso keeps (certification registers, archive outbox, authority, audit log) lives
//! here, created by the numbered migrations in `migrations/`. Each migration runs once, in its
//! own transaction, and is recorded by name in `schema_migrations`, so features developed apart
//! can add their own files without fighting over a single version counter.

use std::path::Path;
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
];

pub mod users;

/// An open registry database.
pub struct Registry {
    conn: Connection,
    wal: bool,
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
        // WAL lets readers (status, verify pages) run beside the writer; a busy timeout makes
        // concurrent writers from several processes wait instead of failing at once.
        conn.busy_timeout(Duration::from_secs(30))?;
        // SQLite answers with the mode it actually took: a file system without shared memory
        // (some network shares) keeps the rollback journal, where commits must each be durable.
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        let wal = mode.eq_ignore_ascii_case("wal");
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut registry = Registry { conn, wal };
        registry.migrate()?;
        Ok(registry)
    }

    fn migrate(&mut self) -> Result<(), RegistryError> {
        self.conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 name TEXT PRIMARY KEY,
                 applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             )",
        )?;
        // Every open of a up-to-date registry (each request of the service opens one) finds
        // all migrations applied with one read, without taking the write lock.
        let applied: i64 =
            self.conn
                .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?;
        if usize::try_from(applied).is_ok_and(|n| n == MIGRATIONS.len())
            && MIGRATIONS.iter().all(|m| {
                self.conn
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
        for m in MIGRATIONS {
            let tx = self
                .conn
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
            .conn
            .prepare("SELECT name FROM schema_migrations ORDER BY name")?;
        let names = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(names)
    }

    /// Whether the database runs in write-ahead-log mode (it does unless the file system cannot
    /// share memory between processes). Only then may a commit skip its fsync and rely on a
    /// later durable commit (see `issuing`).
    pub fn is_wal(&self) -> bool {
        self.wal
    }

    /// The underlying connection, for the modules that own tables in the registry.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The underlying connection, mutably (transactions).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite3");
        let first = Registry::open(&path).unwrap().applied_migrations().unwrap();
        let second = Registry::open(&path).unwrap().applied_migrations().unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), MIGRATIONS.len());
    }
}
