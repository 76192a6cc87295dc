//! memoraxc: a declarative language and compiler for memory-augmented reinforcement learning.
//!
//! The pipeline is visible in the module tree:
//! `syntax` (grammar → AST with spans) → `check` (names, shapes, carries → diagnostics, IR) →
//! `report` (summary, hash, expand) / `lower` (IR → burn modules) → `runtime` (blocks, carries),
//! `algorithms`, `envs` → `train` (runs, logging, checkpoints) ← `cli`.
#![warn(missing_docs)]

pub mod algorithms;
pub mod check;
pub mod cli;
pub mod diag;
pub mod envs;
pub mod lower;
pub mod report;
pub mod runtime;
pub mod stats;
pub mod sweep;
pub mod syntax;
pub mod train;
