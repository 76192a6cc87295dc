//! Previous action and previous reward as extra observation features (`embed_action`,
//! `embed_reward`): a wrapper that appends them to every observation of an inner [`VecEnv`].
//!
//! Row `i` of the wrapped observation is `[obs_i | a_{t-1} | r_{t-1}]`, where the action part is a
//! one-hot (discrete) or the action vector (continuous) of the step that produced `obs_i`, and both
//! parts are zero where `obs_i` starts an episode. The network splits the extras off again before
//! its encoder, so every algorithm stores and replays them with the observation for free.

use crate::check::ir::{ActionSpace, EnvInfo};

use super::{Actions, StepBatch, VecEnv};

/// Which previous-step inputs the network consumes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrevInputs {
    /// Append the previous action.
    pub action: bool,
    /// Append the previous reward.
    pub reward: bool,
}

impl PrevInputs {
    /// Width of the appended action part for an action space.
    pub fn action_width(&self, space: &ActionSpace) -> usize {
        match (self.action, space) {
            (false, _) => 0,
            (true, ActionSpace::Discrete(n)) => *n,
            (true, ActionSpace::Box { dim, .. }) => *dim,
        }
    }
    /// Total number of appended features.
    pub fn width(&self, space: &ActionSpace) -> usize {
        self.action_width(space) + usize::from(self.reward)
    }
    /// True when nothing is appended.
    pub fn is_empty(&self) -> bool {
        !self.action && !self.reward
    }
}

/// A [`VecEnv`] whose observations carry the previous action and reward.
pub struct WithPrevInputs {
    inner: Box<dyn VecEnv>,
    info: EnvInfo,
    inner_dim: usize,
    action_width: usize,
    reward: bool,
    scratch: StepBatch,
}

impl WithPrevInputs {
    /// Wrap `inner`; `prev` must not be empty.
    pub fn new(inner: Box<dyn VecEnv>, prev: PrevInputs) -> Self {
        let mut info = inner.info().clone();
        let inner_dim = info.obs_dim;
        let action_width = prev.action_width(&info.action);
        info.obs_dim += prev.width(&info.action);
        let scratch = StepBatch::new(inner.num_envs(), inner_dim);
        WithPrevInputs {
            inner,
            info,
            inner_dim,
            action_width,
            reward: prev.reward,
            scratch,
        }
    }

    /// Write the extras of row `i` into `row` (length = appended width).
    fn extras(&self, actions: Option<&Actions>, i: usize, reward: f32, row: &mut [f32]) {
        row.fill(0.0);
        if let Some(a) = actions {
            match a {
                Actions::Discrete(v) if self.action_width > 0 => {
                    row[v[i] as usize % self.action_width] = 1.0;
                }
                Actions::Continuous(v) if self.action_width > 0 => {
                    let w = self.action_width;
                    row[..w].copy_from_slice(&v[i * w..(i + 1) * w]);
                }
                _ => {}
            }
            if self.reward {
                row[self.action_width] = reward;
            }
        }
    }

    /// Copy the inner batch into `out`, appending extras (`actions` = the step just taken).
    fn widen(&self, actions: Option<&Actions>, out: &mut StepBatch) {
        let n = self.inner.num_envs();
        let (d, w) = (self.inner_dim, self.info.obs_dim);
        let s = &self.scratch;
        out.obs.resize(n * w, 0.0);
        out.final_obs.resize(n * w, 0.0);
        for i in 0..n {
            let r = s.reward[i];
            let (obs, fin) = (
                &mut out.obs[i * w..(i + 1) * w],
                &mut out.final_obs[i * w..(i + 1) * w],
            );
            obs[..d].copy_from_slice(&s.obs[i * d..(i + 1) * d]);
            fin[..d].copy_from_slice(&s.final_obs[i * d..(i + 1) * d]);
            // the true last observation of a finished episode still follows this step
            self.extras(actions, i, r, &mut fin[d..]);
            let shown = if s.start[i] { None } else { actions };
            self.extras(shown, i, r, &mut obs[d..]);
        }
        out.reward.clone_from(&s.reward);
        out.terminated.clone_from(&s.terminated);
        out.truncated.clone_from(&s.truncated);
        out.start.clone_from(&s.start);
        out.episode_return.clone_from(&s.episode_return);
        out.episode_length.clone_from(&s.episode_length);
    }
}

impl VecEnv for WithPrevInputs {
    fn info(&self) -> &EnvInfo {
        &self.info
    }
    fn num_envs(&self) -> usize {
        self.inner.num_envs()
    }
    fn reset(&mut self, seed: u64, out: &mut StepBatch) {
        let mut s = std::mem::take(&mut self.scratch);
        self.inner.reset(seed, &mut s);
        self.scratch = s;
        self.widen(None, out);
    }
    fn step(&mut self, actions: &Actions, out: &mut StepBatch) {
        let mut s = std::mem::take(&mut self.scratch);
        self.inner.step(actions, &mut s);
        self.scratch = s;
        self.widen(Some(actions), out);
    }
    fn save_state(&self) -> Vec<u8> {
        self.inner.save_state()
    }
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.inner.load_state(bytes)
    }
    fn take_metrics(&mut self) -> Vec<(String, f32)> {
        self.inner.take_metrics()
    }
    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_previous_action_and_reward_and_zeroes_them_at_starts() {
        let n = 3;
        let inner = crate::envs::make("popgym::RepeatPreviousEasy", n).unwrap();
        let (d, k) = (inner.info().obs_dim, 4);
        let prev = PrevInputs {
            action: true,
            reward: true,
        };
        let mut env = WithPrevInputs::new(inner, prev);
        assert_eq!(env.info().obs_dim, d + k + 1);
        let mut plain = crate::envs::make("popgym::RepeatPreviousEasy", n).unwrap();
        let (mut b, mut p) = (StepBatch::new(n, d + k + 1), StepBatch::new(n, d));
        env.reset(7, &mut b);
        plain.reset(7, &mut p);
        let w = d + k + 1;
        assert!(b.obs.chunks(w).all(|r| r[d..].iter().all(|&x| x == 0.0)));
        let mut starts = 0;
        for t in 0..200u32 {
            let a = Actions::Discrete((0..n as u32).map(|i| (t + i) % k as u32).collect());
            env.step(&a, &mut b);
            plain.step(&a, &mut p);
            for i in 0..n {
                let row = &b.obs[i * w..(i + 1) * w];
                assert_eq!(&row[..d], &p.obs[i * d..(i + 1) * d], "inner obs kept");
                if b.start[i] {
                    starts += 1;
                    assert!(row[d..].iter().all(|&x| x == 0.0), "zero at episode start");
                } else {
                    let Actions::Discrete(v) = &a else {
                        unreachable!()
                    };
                    for j in 0..k {
                        assert_eq!(row[d + j], f32::from(j as u32 == v[i]));
                    }
                    assert_eq!(row[d + k], p.reward[i]);
                }
            }
        }
        assert!(starts > 0, "episodes ended during the test");
    }
}
