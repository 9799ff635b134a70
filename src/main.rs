//! The `registre` command: parses arguments and hands over to the library.

use std::process::ExitCode;

use clap::Parser;


fn main() -> ExitCode {
    registre::cli::run(registre::cli::Cli::parse())
}
