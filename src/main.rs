//! The `registre` command: parses arguments and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

// Reading a large register allocates millions of small strings from every core at once,
// where mimalloc is markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    registre::cli::run(registre::cli::Cli::parse())
}
