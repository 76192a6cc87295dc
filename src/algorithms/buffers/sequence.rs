//! Sequence replay: one ring of steps per environment; each step keeps the observation, the true
//! next observation, action, reward, end flags, the episode-start flag of the observation and the
//! recurrent carry *before* the step, so a window replays from exactly the state the actor had.
//!
//! A window of `window` consecutive steps of one ring is valid when all its steps are written and
//! it does not reach past the ring's write head (so it never mixes the newest and the oldest
//! data). Starts are anywhere (burn-in recomputes the carry) or, as an option, only at episode
//! starts. Sampling is proportional to `priority^alpha` through a [`SumTree`] (uniform: every
//! valid start weighs 1) and returns the true probability of every draw for importance weights.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::sum_tree::SumTree;

/// One vector step of `n` environments, row-major per environment.
pub struct StepRecord<'a> {
    /// Observations the actor acted on, `n * obs_dim`.
    pub obs: &'a [f32],
    /// True next observations (the final one where an episode ended), `n * obs_dim`.
    pub next_obs: &'a [f32],
    /// Actions taken, `n * act_dim` (discrete actions as their index).
    pub actions: &'a [f32],
    /// Rewards, `n`.
    pub reward: &'a [f32],
    /// The step ended the episode in a terminal state, `n`.
    pub terminated: &'a [bool],
    /// The step hit the time limit, `n`.
    pub truncated: &'a [bool],
    /// `obs` is the first observation of an episode, `n`.
    pub start: &'a [bool],
    /// Carry before the step, `n * carry_dim`.
    pub carry: &'a [f32],
}

/// Sizes of a [`SequenceReplay`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// Environments (rings).
    pub rows: usize,
    /// Steps per ring.
    pub row_cap: usize,
    /// Steps per sampled window.
    pub window: usize,
    /// Observation width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// Carry floats per environment.
    pub carry_dim: usize,
}

/// How windows are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Proportional prioritized sampling (otherwise uniform over valid starts).
    pub prioritized: bool,
    /// Priority exponent (`alpha`).
    pub alpha: f64,
    /// Windows start only at episode starts.
    pub episode_starts: bool,
}

/// A batch of windows, time-major `[window, batch, ..]`.
#[derive(Clone, Debug)]
pub struct Windows {
    /// Sampled start slots (for [`SequenceReplay::set_priorities`]).
    pub slots: Vec<usize>,
    /// Probability with which each window was drawn.
    pub probs: Vec<f64>,
    /// Number of valid starts when sampling.
    pub valid: usize,
    /// Observations `[W, B, obs_dim]`.
    pub obs: Vec<f32>,
    /// True next observations `[W, B, obs_dim]`.
    pub next_obs: Vec<f32>,
    /// Actions `[W, B, act_dim]`.
    pub actions: Vec<f32>,
    /// Rewards `[W, B]`.
    pub reward: Vec<f32>,
    /// Terminal flags `[W, B]`.
    pub terminated: Vec<bool>,
    /// Truncation flags `[W, B]`.
    pub truncated: Vec<bool>,
    /// Episode-start flags `[W, B]`.
    pub start: Vec<bool>,
    /// Carry before the first step of each window, `[B, carry_dim]`.
    pub carry: Vec<f32>,
}

/// Per-environment rings of steps with stored carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceReplay {
    layout: Layout,
    sampling: Sampling,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<f32>,
    reward: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    start: Vec<bool>,
    carry: Vec<f32>,
    len: Vec<usize>,
    head: Vec<usize>,
    tree: SumTree,
    max_priority: f64,
    valid: usize,
}

impl SequenceReplay {
    /// An empty buffer; `capacity` steps are split evenly over `layout.rows` rings
    /// (`layout.row_cap` is derived and must leave room for one window).
    pub fn new(layout: Layout, sampling: Sampling) -> Self {
        let Layout {
            rows,
            row_cap,
            obs_dim,
            act_dim,
            carry_dim,
            ..
        } = layout;
        let n = rows * row_cap;
        SequenceReplay {
            layout,
            sampling,
            obs: vec![0.0; n * obs_dim],
            next_obs: vec![0.0; n * obs_dim],
            actions: vec![0.0; n * act_dim],
            reward: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            start: vec![false; n],
            carry: vec![0.0; n * carry_dim],
            len: vec![0; rows],
            head: vec![0; rows],
            tree: SumTree::new(n),
            max_priority: 1.0,
            valid: 0,
        }
    }

    /// The buffer's sizes.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Number of window starts that can be sampled now.
    pub fn valid_starts(&self) -> usize {
        self.valid
    }

    /// Steps stored over all rings.
    pub fn len(&self) -> usize {
        self.len.iter().sum()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Write one vector step (one step per ring), overwriting each ring's oldest step when full.
    pub fn push(&mut self, s: &StepRecord) {
        let Layout {
            rows,
            row_cap,
            window,
            obs_dim: d,
            act_dim: aw,
            carry_dim: cf,
        } = self.layout;
        for r in 0..rows {
            let h = self.head[r];
            let i = r * row_cap + h;
            self.obs[i * d..(i + 1) * d].copy_from_slice(&s.obs[r * d..(r + 1) * d]);
            self.next_obs[i * d..(i + 1) * d].copy_from_slice(&s.next_obs[r * d..(r + 1) * d]);
            self.actions[i * aw..(i + 1) * aw].copy_from_slice(&s.actions[r * aw..(r + 1) * aw]);
            self.carry[i * cf..(i + 1) * cf].copy_from_slice(&s.carry[r * cf..(r + 1) * cf]);
            self.reward[i] = s.reward[r];
            self.terminated[i] = s.terminated[r];
            self.truncated[i] = s.truncated[r];
            self.start[i] = s.start[r];
            // the overwritten step's window now reaches past the write head
            self.set_leaf(i, 0.0);
            self.head[r] = (h + 1) % row_cap;
            self.len[r] = (self.len[r] + 1).min(row_cap);
            if self.len[r] >= window {
                // the window ending at the step just written becomes valid
                let k = r * row_cap + (self.head[r] + row_cap - window) % row_cap;
                if !self.sampling.episode_starts || self.start[k] {
                    let p = if self.sampling.prioritized {
                        self.max_priority.powf(self.sampling.alpha)
                    } else {
                        1.0
                    };
                    self.set_leaf(k, p);
                }
            }
        }
    }

    fn set_leaf(&mut self, i: usize, v: f64) {
        let was = self.tree.get(i) > 0.0;
        self.tree.set(i, v);
        let is = self.tree.get(i) > 0.0;
        self.valid = self.valid + is as usize - was as usize;
    }

    /// Draw `batch` windows independently in proportion to their priorities; `None` while no
    /// window is valid.
    pub fn sample(&self, batch: usize, rng: &mut impl Rng) -> Option<Windows> {
        let total = self.tree.total();
        if self.valid == 0 || total <= 0.0 {
            return None;
        }
        let Layout {
            row_cap,
            window: w,
            obs_dim: d,
            act_dim: aw,
            carry_dim: cf,
            ..
        } = self.layout;
        let mut out = Windows {
            slots: Vec::with_capacity(batch),
            probs: Vec::with_capacity(batch),
            valid: self.valid,
            obs: vec![0.0; w * batch * d],
            next_obs: vec![0.0; w * batch * d],
            actions: vec![0.0; w * batch * aw],
            reward: vec![0.0; w * batch],
            terminated: vec![false; w * batch],
            truncated: vec![false; w * batch],
            start: vec![false; w * batch],
            carry: Vec::with_capacity(batch * cf),
        };
        for b in 0..batch {
            let slot = self.tree.find(rng.random::<f64>() * total);
            out.slots.push(slot);
            out.probs.push(self.tree.get(slot) / total);
            let (row, pos) = (slot / row_cap, slot % row_cap);
            out.carry
                .extend_from_slice(&self.carry[slot * cf..(slot + 1) * cf]);
            for t in 0..w {
                let i = row * row_cap + (pos + t) % row_cap;
                let o = t * batch + b;
                out.obs[o * d..(o + 1) * d].copy_from_slice(&self.obs[i * d..(i + 1) * d]);
                out.next_obs[o * d..(o + 1) * d]
                    .copy_from_slice(&self.next_obs[i * d..(i + 1) * d]);
                out.actions[o * aw..(o + 1) * aw]
                    .copy_from_slice(&self.actions[i * aw..(i + 1) * aw]);
                out.reward[o] = self.reward[i];
                out.terminated[o] = self.terminated[i];
                out.truncated[o] = self.truncated[i];
                out.start[o] = self.start[i];
            }
        }
        Some(out)
    }

    /// Set the priorities of sampled windows (raw, before the exponent). Windows overwritten
    /// since sampling keep priority 0. No effect on a uniform buffer.
    pub fn set_priorities(&mut self, slots: &[usize], priorities: &[f64]) {
        if !self.sampling.prioritized {
            return;
        }
        for (&s, &p) in slots.iter().zip(priorities) {
            let p = p.max(1e-6);
            self.max_priority = self.max_priority.max(p);
            if self.tree.get(s) > 0.0 {
                self.set_leaf(s, p.powf(self.sampling.alpha));
            }
        }
    }

    /// The stored carry row of `slot` (the carry before that step).
    pub fn carry_at(&self, slot: usize) -> &[f32] {
        let cf = self.layout.carry_dim;
        &self.carry[slot * cf..(slot + 1) * cf]
    }

    /// Check the internal sizes (after restoring from a checkpoint) against `layout`.
    pub fn fits(&self, layout: Layout) -> bool {
        let n = layout.rows * layout.row_cap;
        self.layout == layout
            && self.obs.len() == n * layout.obs_dim
            && self.next_obs.len() == n * layout.obs_dim
            && self.actions.len() == n * layout.act_dim
            && self.carry.len() == n * layout.carry_dim
            && [
                self.reward.len(),
                self.terminated.len(),
                self.truncated.len(),
                self.start.len(),
            ]
            .iter()
            .all(|&l| l == n)
            && self.len.len() == layout.rows
            && self.head.len() == layout.rows
            && self.len.iter().all(|&l| l <= layout.row_cap)
            && self.head.iter().all(|&h| h < layout.row_cap)
            && self.tree.capacity() == n
    }
}

/// Importance weights `(N·P)^-beta`, normalised by their maximum over the batch.
pub fn importance_weights(probs: &[f64], valid: usize, beta: f64) -> Vec<f32> {
    let w: Vec<f64> = probs
        .iter()
        .map(|p| (valid as f64 * p).max(1e-12).powf(-beta))
        .collect();
    let m = w.iter().cloned().fold(0.0, f64::max).max(1e-12);
    w.iter().map(|x| (x / m) as f32).collect()
}

#[cfg(test)]
#[path = "sequence_tests.rs"]
mod tests;
