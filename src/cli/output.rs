//! Everything a command prints goes through here, so that a closed output never crashes kyso.
//!
//! `println!` panics when the write fails, and the Rust runtime ignores SIGPIPE, so a reader that
//! leaves early (`kyso officials list | head -1`, `kyso verify … | head`) turned into a panic, a
//! backtrace and exit 101; a command that was interrupted there (issuing, signing) stopped halfway
//! through its own work because of who was, or was not, reading its report.
//!
//! What a broken pipe does here, and why it differs from ripgrep's choice: ripgrep's output *is* its
//! work, so on EPIPE it stops and exits 0. A kyso command's output is a report on work it does to
//! the register, the audit log and the archive. So when the reader of standard output has gone
//! ([`io::ErrorKind::BrokenPipe`]), kyso stops writing to it (the rest of the report is discarded,
//! silently) but finishes the command, and exits with the command's own status: `verify` still
//! returns its verdict code (0–4) to a `set -o pipefail` script, `issue` still records and writes
//! its file and exits 0. Other write failures (a full disk behind `> file`, `/dev/full`) mean that
//! output somebody asked to keep was lost: those are errors, returned to the caller with context.
//!
//! Standard error is the last place kyso can report anything, so a failure to write there is
//! ignored ([`errln!`]); `eprintln!` would panic on it.
//!
//! Global state: one flag, set once the reader of standard output has gone; nothing is written to
//! standard output after that.

use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

/// Set when a write to standard output met a closed pipe: the reader is gone for good.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to standard output and flushes at once, so that a failure surfaces here (with `?`) and
/// not in the runtime's final flush at exit, which would drop it unseen.
///
/// A closed pipe is not an error (see the module documentation): the text is discarded, as is all
/// later output. Use [`out!`] and [`outln!`] rather than calling this directly.
pub fn write_stdout(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            Err(e).context("không ghi được ra đầu ra chuẩn / cannot write to standard output")
        }
    }
}

/// Writes to standard error, ignoring failure: there is nowhere left to report it.
pub fn write_stderr(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// `print!` through [`write_stdout`]; evaluates to `anyhow::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` through [`write_stdout`]; evaluates to `anyhow::Result<()>`.
macro_rules! outln {
    () => {
        $crate::cli::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (see [`write_stderr`]).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};
