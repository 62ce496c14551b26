//! The local-disk store (the embedded default), and the durable file write it shares with the
//! outbox's staging directory and the CLI's output files.
//!
//! A write goes to a temporary file in the target directory, is fsynced, renamed over the final
//! name and the directory is fsynced, so after a crash the final name holds either nothing or
//! the whole document, never a prefix of it. Files are made read-only: the local disk cannot
//! enforce retention the way S3 Object Lock does, but it should not invite edits either.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    ArchiveStore, Bytes, Lock, LockOutcome, LockSupport, ObjectKey, PutReceipt, StoreError,
};

/// Temporary files start with this, so listings and cleanups can tell them apart.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `path` durably: temp file, fsync, rename, fsync of the directory (and of
/// any directory it had to create, so the new path itself survives a crash). The file is made
/// read-only.
pub fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no directory"))?;
    create_dir_durable(dir)?;
    write_via_temp(path, bytes, true, true)
}

/// Replaces (or creates) `path` with `bytes` the same way, leaving the file writable and creating
/// no directory: the CLI's output files, which a half-written file must never replace. The
/// directory's fsync is best effort here (some file systems refuse to open a directory), since
/// reporting a failure after the rename would say the file is missing when it is in place.
pub fn replace_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_via_temp(path, bytes, false, false)
}

fn write_via_temp(
    path: &Path,
    bytes: &[u8],
    read_only: bool,
    strict_dir_sync: bool,
) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        "{TEMP_PREFIX}{name}.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if read_only {
            let mut perms = f.metadata()?.permissions();
            perms.set_readonly(true);
            f.set_permissions(perms)?;
        }
        drop(f);
        fs::rename(&tmp, path)?;
        match sync_dir(dir) {
            Err(e) if strict_dir_sync => Err(e),
            _ => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` and its missing parents, fsyncing the parent of each directory it creates.
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Makes a directory's entries (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes a file and makes the removal durable.
pub fn remove_durable(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => path.parent().map_or(Ok(()), sync_dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A store in a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: PathBuf) -> LocalStore {
        LocalStore { root }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`. Keys are validated slugs, so this stays under the root.
    pub fn path_of(&self, key: &ObjectKey) -> PathBuf {
        key.as_str()
            .split('/')
            .fold(self.root.clone(), |p, c| p.join(c))
    }

    fn put_blocking(&self, key: &ObjectKey, bytes: &[u8]) -> Result<PutReceipt, StoreError> {
        key.check(bytes)?;
        let path = self.path_of(key);
        // Already there with the right bytes: a retry after a crash. Wrong bytes under a
        // content address can only be damage, and writing the right ones repairs it.
        if let Ok(existing) = fs::read(&path)
            && key.check(&existing).is_ok()
        {
            return Ok(PutReceipt {
                already_present: true,
                lock: LockOutcome::NotRequested,
            });
        }
        write_durable(&path, bytes).map_err(|e| io_err("write", &path, &e))?;
        Ok(PutReceipt {
            already_present: false,
            lock: LockOutcome::NotRequested,
        })
    }

    fn get_blocking(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let path = self.path_of(key);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound {
                    key: key.to_string(),
                }
            } else {
                io_err("read", &path, &e)
            }
        })?;
        key.check(&bytes)?;
        Ok(Bytes::from(bytes))
    }

    fn list_blocking(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        // Start at the deepest directory the prefix names, not at the root of the whole archive.
        let dir_part = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        let start = dir_part
            .split('/')
            .filter(|c| !c.is_empty())
            .fold(self.root.clone(), |p, c| p.join(c));
        let mut stack = vec![(start, dir_part.trim_matches('/').to_owned())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("list", &dir, &e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_err("list", &dir, &e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMP_PREFIX) {
                    continue;
                }
                let key = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                let meta = entry
                    .metadata()
                    .map_err(|e| io_err("list", &entry.path(), &e))?;
                if meta.is_dir() {
                    stack.push((entry.path(), key));
                } else if key.starts_with(prefix) {
                    out.push((key, meta.len()));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Removes the temporary files (`.tmp-…`) older than `grace` under `dir`, at any depth: what a
/// write interrupted by a crash leaves behind. A younger one may belong to a write in progress
/// in another process, so it stays. Returns how many were removed; unreadable directories are
/// skipped (this is tidying, never a reason to stop). Ages are seen from `now`.
pub fn remove_stale_temporaries(
    dir: &Path,
    grace: std::time::Duration,
    now: std::time::SystemTime,
) -> usize {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let stale = meta
                .modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= grace);
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                && stale
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

fn io_err(action: &'static str, path: &Path, e: &io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Runs blocking file work off the async executor (fsync can take milliseconds).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(StoreError::Io {
            action: "finish",
            path: PathBuf::new(),
            message: format!("file task failed: {e}"),
        })
    })
}

impl ArchiveStore for LocalStore {
    fn describe(&self) -> String {
        format!("local:{}", self.root.display())
    }

    fn remove_stale_temporaries(
        &self,
        grace: std::time::Duration,
        now: std::time::SystemTime,
    ) -> usize {
        remove_stale_temporaries(&self.root, grace, now)
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: &Bytes,
        _lock: Option<Lock>,
    ) -> Result<PutReceipt, StoreError> {
        let (this, key, bytes) = (self.clone(), key.clone(), bytes.clone());
        blocking(move || this.put_blocking(&key, &bytes)).await
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let (this, key) = (self.clone(), key.clone());
        blocking(move || this.get_blocking(&key)).await
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<u64>, StoreError> {
        let path = self.path_of(key);
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("stat", &path, &e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let (this, prefix) = (self.clone(), prefix.to_owned());
        blocking(move || this.list_blocking(&prefix)).await
    }

    async fn lock_support(&self) -> Result<LockSupport, StoreError> {
        Ok(LockSupport::Unavailable(
            "the local disk store cannot enforce retention (files are only made read-only); use an S3 bucket with Object Lock".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/c.pdf");
        write_durable(&p, b"one").unwrap();
        write_durable(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
