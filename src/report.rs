//! Reports derived from the IR: summary tables, the architecture hash, expansion.

pub mod expand;
pub mod summary;
