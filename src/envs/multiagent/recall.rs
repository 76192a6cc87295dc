//! `marl::CueRecall-N`: a cooperative memory task. Each of `N` agents sees a private cue (one of
//! [`CUES`] symbols) only in the first observation of an episode; for the following
//! [`RECALL_STEPS`] steps every agent must report its own cue, and the team is rewarded for the
//! fraction of agents that report correctly.
//!
//! - Actions (per agent, `Discrete(4)`): the reported cue. The action taken on the first
//!   observation (while the cue is visible) is not scored.
//! - Observation (per agent, `4 + 1 + N` floats): the cue one-hot (all zero after the first
//!   step), a recall flag (1 after the first step), the agent's index one-hot.
//! - Reward (shared): `(1 / RECALL_STEPS) · (correct agents / N)` on each recall step, so a
//!   perfect team earns 1 per episode. After the first step the observation carries no
//!   information about the cue, so any memoryless policy (random included) earns `1 / 4` in
//!   expectation; remembering the cue earns 1.
//! - Episodes end (terminated) after `1 + RECALL_STEPS` steps.

use super::vectorized::{MultiEnv, MultiOutcome};
use crate::envs::rng::Rng;
use crate::envs::vec::one_hot;

/// Number of distinct cues (the action space size).
pub const CUES: usize = 4;
/// Scored recall steps after the cue step.
pub const RECALL_STEPS: u32 = 8;

/// One copy of the cue-recall task with `n` agents.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CueRecall {
    n: usize,
    cues: Vec<u8>,
    t: u32,
}

impl CueRecall {
    /// `n` agents.
    pub fn new(n: usize) -> Self {
        CueRecall {
            n,
            cues: vec![0; n],
            t: 0,
        }
    }

    /// Each agent's private cue of the current episode.
    pub fn cues(&self) -> &[u8] {
        &self.cues
    }

    fn observe(&self, obs: &mut [f32]) {
        let d = self.obs_dim();
        for i in 0..self.n {
            let row = &mut obs[i * d..(i + 1) * d];
            row.fill(0.0);
            if self.t == 0 {
                row[self.cues[i] as usize] = 1.0;
            } else {
                row[CUES] = 1.0;
            }
            one_hot(&mut row[CUES + 1..], i);
        }
    }
}

impl MultiEnv for CueRecall {
    fn agents(&self) -> usize {
        self.n
    }
    fn obs_dim(&self) -> usize {
        CUES + 1 + self.n
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        for c in &mut self.cues {
            *c = rng.below(CUES as u32) as u8;
        }
        self.t = 0;
        self.observe(obs);
    }
    fn step(
        &mut self,
        actions: &[u32],
        _rng: &mut Rng,
        obs: &mut [f32],
        rewards: &mut [f32],
    ) -> MultiOutcome {
        let r = if self.t == 0 {
            0.0
        } else {
            let correct = actions
                .iter()
                .zip(&self.cues)
                .filter(|(a, c)| **a == **c as u32)
                .count();
            correct as f32 / (self.n as f32 * RECALL_STEPS as f32)
        };
        rewards.fill(r);
        self.t += 1;
        self.observe(obs);
        MultiOutcome {
            terminated: self.t > RECALL_STEPS,
            truncated: false,
        }
    }
}
