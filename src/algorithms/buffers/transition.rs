//! Uniform transition replay (DQN): single `(obs, action, reward, next_obs, terminal)` tuples
//! in a ring, overwriting the oldest.

/// Uniform replay of single transitions, stored on the host.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Replay {
    /// Observations, `cap * dim`.
    pub obs: Vec<f32>,
    /// True next observations, `cap * dim`.
    pub next_obs: Vec<f32>,
    /// Actions.
    pub actions: Vec<u32>,
    /// Rewards.
    pub rewards: Vec<f32>,
    /// Terminal (not truncated) flags.
    pub terminal: Vec<bool>,
    /// Observation width.
    pub dim: usize,
    /// Capacity in transitions.
    pub cap: usize,
    /// Stored transitions.
    pub len: usize,
    /// Next write position.
    pub head: usize,
}

impl Replay {
    /// A buffer for `cap` transitions of `dim`-wide observations.
    pub fn new(cap: usize, dim: usize) -> Self {
        Replay {
            obs: vec![0.0; cap * dim],
            next_obs: vec![0.0; cap * dim],
            actions: vec![0; cap],
            rewards: vec![0.0; cap],
            terminal: vec![false; cap],
            dim,
            cap,
            len: 0,
            head: 0,
        }
    }
    /// Append one transition (overwriting the oldest when full).
    pub fn push(
        &mut self,
        obs: &[f32],
        action: u32,
        reward: f32,
        next_obs: &[f32],
        terminal: bool,
    ) {
        let (i, d) = (self.head, self.dim);
        self.obs[i * d..(i + 1) * d].copy_from_slice(obs);
        self.next_obs[i * d..(i + 1) * d].copy_from_slice(next_obs);
        self.actions[i] = action;
        self.rewards[i] = reward;
        self.terminal[i] = terminal;
        self.head = (self.head + 1) % self.cap;
        self.len = (self.len + 1).min(self.cap);
    }
    /// Number of stored transitions.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
