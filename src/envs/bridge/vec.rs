//! [`BridgeEnv`]: a batch of bridged environments split over several processes, behind the same
//! [`VecEnv`] interface (auto-reset, `start` flags, `final_obs`, episode statistics) as native ones.

use std::ops::Range;
use std::time::Duration;

use super::process::Worker;
use super::protocol::{self, Cursor, TERMINATED, TRUNCATED};
use crate::check::ir::{ActionSpace, EnvInfo};
use crate::envs::rng::splitmix64;
use crate::envs::{Actions, StepBatch, VecEnv};

/// `n` bridged environments; environment `i` lives in the process whose range holds `i`.
pub struct BridgeEnv {
    info: EnvInfo,
    workers: Vec<(Worker, Range<usize>)>,
    n: usize,
    timeout: Duration,
    returns: Vec<f64>,
    lengths: Vec<u32>,
    seed: u64,
    failure: Option<String>,
    body: Vec<u8>,
}

/// The seed environment `i` is reset with (independent of how environments are split).
pub fn env_seed(seed: u64, i: usize) -> u64 {
    splitmix64(splitmix64(seed) ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 1
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    id: String,
    n: usize,
    seed: u64,
}

impl BridgeEnv {
    /// Start `processes` adapter processes holding `n` environments of `id` in total.
    pub fn new(id: &str, n: usize, processes: usize) -> Result<BridgeEnv, String> {
        let p = processes.clamp(1, n.max(1));
        let mut workers = Vec::with_capacity(p);
        let mut info = None;
        for k in 0..p {
            let range = (k * n / p)..((k + 1) * n / p);
            let label = format!("`{id}` (process {}/{p})", k + 1);
            let (w, s) = super::connect(id, range.len(), label)?;
            let i = super::info_from(id, &s);
            if let Some(first) = &info
                && first != &i
            {
                return Err(format!("{id}: processes disagree on the spaces"));
            }
            info = Some(i);
            workers.push((w, range));
        }
        let info = info.ok_or_else(|| format!("{id}: no environments requested"))?;
        Ok(BridgeEnv {
            info,
            workers,
            n,
            timeout: super::timeout(),
            returns: vec![0.0; n],
            lengths: vec![0; n],
            seed: 0,
            failure: None,
            body: Vec::new(),
        })
    }

    /// Change how long to wait for any reply (default: [`super::timeout`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn fail(&mut self, e: String, out: &mut StepBatch) {
        if self.failure.is_none() {
            self.failure = Some(e);
        }
        // a harmless batch: every environment restarts, no reward
        out.reward.fill(0.0);
        out.terminated.fill(false);
        out.truncated.fill(false);
        out.start.fill(true);
    }

    fn ensure(&self, out: &mut StepBatch) {
        if out.obs.len() != self.n * self.info.obs_dim || out.reward.len() != self.n {
            *out = StepBatch::new(self.n, self.info.obs_dim);
        }
    }

    fn do_reset(&mut self, seed: u64, out: &mut StepBatch) -> Result<(), String> {
        let d = self.info.obs_dim;
        for (w, r) in &mut self.workers {
            let mut body = Vec::with_capacity(r.len() * 8);
            for i in r.clone() {
                body.extend_from_slice(&env_seed(seed, i).to_le_bytes());
            }
            w.send(protocol::RESET, &body)?;
        }
        for (w, r) in &mut self.workers {
            let body = w.recv(protocol::RESET_OK, self.timeout)?;
            let mut c = Cursor::new(&body);
            c.f32s_into(r.len() * d, &mut out.obs[r.start * d..r.end * d])?;
            c.finish()?;
        }
        Ok(())
    }

    fn do_step(&mut self, actions: &Actions, out: &mut StepBatch) -> Result<(), String> {
        let d = self.info.obs_dim;
        let act_dim = match &self.info.action {
            ActionSpace::Discrete(_) => 1,
            ActionSpace::Box { dim, .. } => *dim,
        };
        for (w, r) in &mut self.workers {
            self.body.clear();
            match actions {
                Actions::Discrete(a) => {
                    for x in &a[r.clone()] {
                        self.body.extend_from_slice(&x.to_le_bytes());
                    }
                }
                Actions::Continuous(a) => {
                    for x in &a[r.start * act_dim..r.end * act_dim] {
                        self.body.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
            w.send(protocol::STEP, &self.body)?;
        }
        let mut flags = Vec::new();
        for (w, r) in &mut self.workers {
            let body = w.recv(protocol::STEP_OK, self.timeout)?;
            let k = r.len();
            let mut c = Cursor::new(&body);
            c.f32s_into(k * d, &mut out.obs[r.start * d..r.end * d])?;
            c.f32s_into(k, &mut out.reward[r.clone()])?;
            flags.clear();
            flags.extend_from_slice(c.take(k)?);
            c.f32s_into(k * d, &mut out.final_obs[r.start * d..r.end * d])?;
            c.finish()?;
            for (j, i) in r.clone().enumerate() {
                let terminated = flags[j] & TERMINATED != 0;
                let truncated = flags[j] & TRUNCATED != 0 && !terminated;
                self.returns[i] += out.reward[i] as f64;
                self.lengths[i] += 1;
                out.terminated[i] = terminated;
                out.truncated[i] = truncated;
                let done = terminated || truncated;
                out.start[i] = done;
                if done {
                    out.episode_return[i] = self.returns[i] as f32;
                    out.episode_length[i] = self.lengths[i];
                    self.returns[i] = 0.0;
                    self.lengths[i] = 0;
                }
            }
        }
        Ok(())
    }
}

impl VecEnv for BridgeEnv {
    fn info(&self) -> &EnvInfo {
        &self.info
    }

    fn num_envs(&self) -> usize {
        self.n
    }

    fn reset(&mut self, seed: u64, out: &mut StepBatch) {
        self.ensure(out);
        self.seed = seed;
        self.returns.fill(0.0);
        self.lengths.fill(0);
        out.mark_reset();
        if self.failure.is_some() {
            return;
        }
        if let Err(e) = self.do_reset(seed, out) {
            self.fail(e, out);
        }
    }

    fn step(&mut self, actions: &Actions, out: &mut StepBatch) {
        self.ensure(out);
        if self.failure.is_some() {
            self.fail(String::new(), out);
            return;
        }
        if let Err(e) = self.do_step(actions, out) {
            self.fail(e, out);
        }
    }

    fn save_state(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let snap = Snapshot {
            id: self.info.id.clone(),
            n: self.n,
            seed: self.seed,
        };
        ciborium::into_writer(&snap, &mut out).expect("bridge state serialises");
        out
    }

    /// External environments cannot be snapshotted: restoring checks the id and size, then
    /// restarts every episode with a fresh seed (documented in `docs/bridge.md`).
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let snap: Snapshot =
            ciborium::from_reader(bytes).map_err(|e| format!("corrupt environment state: {e}"))?;
        if snap.id != self.info.id || snap.n != self.n {
            return Err(format!(
                "environment state is for {} × `{}`, this run uses {} × `{}`",
                snap.n, snap.id, self.n, self.info.id
            ));
        }
        let mut scratch = StepBatch::new(self.n, self.info.obs_dim);
        self.reset(splitmix64(snap.seed ^ 0x5245_5355_4d45), &mut scratch);
        match &self.failure {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}
