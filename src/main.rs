//! The `kyso` command. Argument parsing and exit codes live in [`cli`]; the work is in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
