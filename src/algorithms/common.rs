//! Pieces every algorithm uses: optimizers and schedules, global-norm clipping, host/tensor
//! conversion, action distributions on the host, episode statistics.

use burn::prelude::*;
use rand::Rng;

pub use super::optim::{LrSchedule, Optim};

/// Host `Vec<f32>` → tensor of shape `dims` on `device`.
pub fn tensor<const D: usize>(data: Vec<f32>, dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, dims), device)
}

/// Tensor → host `Vec<f32>` (row-major).
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor data")
}

/// Bool flags as 1.0 / 0.0.
pub fn flag_values(flags: &[bool]) -> Vec<f32> {
    flags.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect()
}

/// `[B]` bool flags → `[1, B]` float tensor.
pub fn flags(flags: &[bool], device: &Device) -> Tensor<2> {
    tensor(flag_values(flags), [1, flags.len()], device)
}

/// Sample from a categorical given logits; returns (action, log-probability).
pub fn sample_categorical(logits: &[f32], rng: &mut impl Rng) -> (u32, f32) {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let z: f32 = logits.iter().map(|l| (l - m).exp()).sum();
    let lz = m + z.ln();
    let u: f32 = rng.random::<f32>() * z;
    let mut acc = 0.0;
    let mut a = logits.len() - 1;
    for (i, l) in logits.iter().enumerate() {
        acc += (l - m).exp();
        if u < acc {
            a = i;
            break;
        }
    }
    (a as u32, logits[a] - lz)
}

/// Index of the largest value.
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// A standard normal sample (Box–Muller).
pub fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(1e-12);
    let u2: f32 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Running statistics of finished episodes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpisodeStats {
    /// Returns of episodes finished since the last `take`.
    pub returns: Vec<f32>,
    /// Lengths of episodes finished since the last `take`.
    pub lengths: Vec<u32>,
}

impl EpisodeStats {
    /// Record the episodes that ended in a step batch.
    pub fn record(&mut self, batch: &crate::envs::StepBatch) {
        for i in 0..batch.reward.len() {
            if batch.terminated[i] || batch.truncated[i] {
                self.returns.push(batch.episode_return[i]);
                self.lengths.push(batch.episode_length[i]);
            }
        }
    }
    /// Record the team episodes that ended in a multi-agent step batch (rows = copies × `agents`;
    /// one entry per copy, read from its agent-0 row, which holds the team return).
    pub fn record_team(&mut self, batch: &crate::envs::StepBatch, agents: usize) {
        for i in (0..batch.reward.len()).step_by(agents.max(1)) {
            if batch.terminated[i] || batch.truncated[i] {
                self.returns.push(batch.episode_return[i]);
                self.lengths.push(batch.episode_length[i]);
            }
        }
    }
    /// Mean return and mean length, if any episode ended; clears the record.
    pub fn take(&mut self) -> Option<(f32, f32, usize)> {
        if self.returns.is_empty() {
            return None;
        }
        let n = self.returns.len();
        let r = self.returns.iter().sum::<f32>() / n as f32;
        let l = self.lengths.iter().map(|&x| x as f32).sum::<f32>() / n as f32;
        self.returns.clear();
        self.lengths.clear();
        Some((r, l, n))
    }
}

/// A small, fast, serialisable RNG (xoshiro256++ seeded through SplitMix64).
///
/// Its whole state is four words, so checkpoints restore it exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng64 {
    /// Internal state.
    pub s: [u64; 4],
}

impl Rng64 {
    /// Seed deterministically from `seed` and a stream id.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut x = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng64 {
            s: [next(), next(), next(), next()],
        }
    }
}

impl rand::RngCore for Rng64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Gather columns `cols` of a `[t, b, f]` row-major array into `[t, cols.len(), f]`.
pub fn gather_cols(data: &[f32], t: usize, b: usize, f: usize, cols: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(t * cols.len() * f);
    for ti in 0..t {
        for &c in cols {
            let at = (ti * b + c) * f;
            out.extend_from_slice(&data[at..at + f]);
        }
    }
    out
}

/// Shuffle `0..n` in place with Fisher–Yates.
pub fn permutation(n: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// The agent's vectorised environments, with the previous action/reward appended to
/// observations where `model` embeds them.
pub fn make_env(
    id: &str,
    n: usize,
    model: &crate::runtime::net::AgentModel,
) -> Result<Box<dyn crate::envs::VecEnv>, super::AlgoError> {
    let (action, reward) = model.prev_inputs();
    let prev = crate::envs::prev::PrevInputs { action, reward };
    crate::envs::make_with(id, n, prev).map_err(super::AlgoError::Config)
}

/// Sum of two optional auxiliary losses.
pub fn add_aux(a: Option<Tensor<1>>, b: Option<Tensor<1>>) -> Option<Tensor<1>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// `loss` plus the blocks' auxiliary losses (e.g. the `moe` router balance loss), if any.
pub fn with_aux(loss: Tensor<1>, aux: Option<Tensor<1>>) -> Tensor<1> {
    match aux {
        Some(a) => loss + a,
        None => loss,
    }
}

/// Vector steps (of `num_envs` environments) between two gradient rounds of an off-policy
/// algorithm that trains every `train_frequency` environment steps (at least one).
pub fn vector_steps_per_round(train_frequency: u64, num_envs: usize) -> u64 {
    (train_frequency / num_envs as u64).max(1)
}

/// Every float parameter value of `model`, in visit order (for comparing models in tests).
#[cfg(test)]
pub(crate) fn param_values<M: burn::module::Module>(model: &M) -> Vec<f32> {
    struct All(Vec<f32>);
    impl burn::module::ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            self.0.extend(host(p.val()));
        }
    }
    let mut all = All(Vec::new());
    model.visit(&mut all);
    all.0
}
