//! A small native multi-agent suite for `ippo`/`irppo`: an MPE-style cooperative navigation task
//! ([`spread::SimpleSpread`]) and a cooperative memory task ([`recall::CueRecall`]).
//!
//! # Batch layout (agents folded into the batch)
//! A batch of `n` copies of an `N`-agent environment is a [`VecEnv`] with `n * N` rows: row
//! `i * N + k` is agent `k` of environment copy `i`. Every per-row field of [`StepBatch`] is per
//! agent (observation, reward, flags), so a learner that treats rows as independent columns
//! trains one shared parameter set for all agents with one carry per agent. All agents of a copy
//! end their episodes together; `episode_return` holds the *team* return (the episode sum of the
//! mean reward over agents) on every row of the copy, so counting rows `k = 0` only gives team
//! statistics.

pub mod recall;
pub mod spread;
mod vectorized;

pub use vectorized::{MultiEnv, MultiOutcome, MultiVectorized};
