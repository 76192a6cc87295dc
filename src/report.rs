//! Reports derived from the IR: summary tables, the architecture hash, expansion.
