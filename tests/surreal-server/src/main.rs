//! The `surreal` server, built from the `surrealdb-server` library, for the store test suite.
#![recursion_limit = "256"]

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_server::core::CommunityComposer())
}
