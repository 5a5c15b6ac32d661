//! What each `pod` subcommand does, one module per group of them. `cli`
//! parses the command line and hands each command to its module here.

pub mod accounts;
pub mod dead_letters;
pub mod projections;
pub mod replay;
pub mod screening;
pub mod trends;
pub mod up;
pub mod vault;
pub mod workers;
