//! Replay buffers for off-policy algorithms.
//!
//! - [`sum_tree::SumTree`]: proportional sampling in `O(log n)` with exact probabilities.
//! - [`sequence::SequenceReplay`]: per-environment rings of steps, each stored with the
//!   recurrent carry *before* the step, sampled as fixed-length windows that never cross a
//!   ring's write head; uniform or prioritized; windows start anywhere or only at episode starts.
//! - [`transition::Replay`]: uniform single-transition replay (DQN).
//! - [`carry_rows`]: flattening carries to per-environment host rows and back.

pub mod carry_rows;
pub mod sequence;
pub mod sum_tree;
pub mod transition;
