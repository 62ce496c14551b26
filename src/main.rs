//! The `kyso` command. Argument parsing and exit codes live in [`cli`]; the work is in the library.

mod cli;

/// mimalloc rather than the system allocator: see Cargo.toml for the measurement.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
