//! Where a use case's file may be written. Output files are named by the person at the command
//! line (or a script); kyso's own data directory is never a valid target (writing a PDF over
//! `registry.sqlite3` destroyed the register), and an existing file is replaced only when asked
//! (`--force`).

use std::path::{Path, PathBuf};

use super::{AppError, error::Denial};

/// A checked output path: outside the data directory, and new unless replacing was asked for.
#[derive(Debug, Clone)]
pub struct OutputPath {
    path: PathBuf,
}

impl OutputPath {
    /// Checks `path` against `data_dir`. The check resolves symbolic links in the directory
    /// part, so `out/../kyso-data/x` and a link into the data directory are caught as well.
    pub fn check(path: &Path, data_dir: &Path, force: bool) -> Result<OutputPath, AppError> {
        let name = path.file_name().ok_or_else(|| {
            Denial::input(
                format!("{} không phải tên tệp", path.display()),
                format!("{} is not a file name", path.display()),
            )
        })?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let parent = parent
            .canonicalize()
            .map_err(|e| AppError::io(&parent, e))?;
        let target = parent.join(name);
        let inside = |dir: &Path| {
            dir.canonicalize()
                .map(|d| target.starts_with(&d))
                .unwrap_or(false)
        };
        if inside(data_dir) {
            return Err(Denial::input(
                format!(
                    "không ghi tệp vào thư mục dữ liệu của kyso ({})",
                    data_dir.display()
                ),
                format!(
                    "refusing to write {} inside kyso's data directory ({})",
                    path.display(),
                    data_dir.display()
                ),
            )
            .into());
        }
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => Err(Denial::input(
                format!("{} là một thư mục", path.display()),
                format!("{} is a directory", path.display()),
            )
            .into()),
            Ok(_) if !force => Err(Denial::input(
                format!("{} đã có; dùng --force để ghi đè", path.display()),
                format!("{} exists; use --force to replace it", path.display()),
            )
            .into()),
            _ => Ok(OutputPath { path: target }),
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` durably: a temporary file beside the target, synced, renamed into place,
    /// so the target is either unchanged or complete.
    pub fn write(&self, bytes: &[u8]) -> Result<(), AppError> {
        crate::archive::local::replace_durable(&self.path, bytes)
            .map_err(|e| AppError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_directory_and_existing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("registry.sqlite3"), b"db").unwrap();
        assert!(OutputPath::check(&data.join("registry.sqlite3"), &data, true).is_err());
        assert!(OutputPath::check(&data.join("new.pdf"), &data, false).is_err());
        let sneaky = dir.path().join("data/../data/x.pdf");
        assert!(OutputPath::check(&sneaky, &data, true).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&data, dir.path().join("link")).unwrap();
            assert!(OutputPath::check(&dir.path().join("link/x.pdf"), &data, true).is_err());
        }
        let existing = dir.path().join("out.pdf");
        std::fs::write(&existing, b"x").unwrap();
        assert!(OutputPath::check(&existing, &data, false).is_err());
        assert!(OutputPath::check(&existing, &data, true).is_ok());
        assert!(OutputPath::check(&dir.path().join("fresh.pdf"), &data, false).is_ok());
        assert!(OutputPath::check(&dir.path().join("no/such/dir.pdf"), &data, true).is_err());
    }
}
