//! Intrinsic rewards for on-policy agents (`intrinsic = rnd(...)` / `icm(...)`).
//!
//! The modules' networks are IR blocks: the agent's own encoder (as written in the `.mx`
//! program, with fresh parameters) followed by `mlp`/`linear` blocks, lowered like any
//! network ([`nets`]). Each rollout the algorithm hands over its transitions; the module adds
//! `coef · r_int` to the rewards before advantages are computed, then trains its networks on
//! the same transitions with its own optimizer (built from the agent's `optimizer` slot).
//!
//! - **RND** (Burda et al. 2018): a frozen random target `encoder -> linear(features)` and a
//!   predictor `encoder -> mlp(features) -> linear(features)` on the next observation,
//!   normalised by running mean/std and clipped to ±5. `r_int` = mean squared prediction error
//!   divided by the running std of its discounted sum. Loss `loss/rnd`, on a random quarter of
//!   every minibatch (the paper's update proportion 0.25).
//! - **ICM** (Pathak et al. 2017): features `φ = encoder -> linear(features)`; inverse model
//!   `[φ(s), φ(s')] → a` (cross-entropy), forward model `[φ(s), onehot(a)] → φ(s')` (MSE against
//!   the detached target). `r_int` = forward error (mean over features). Loss
//!   `β · forward + (1 − β) · inverse`; logged `loss/icm_forward`, `loss/icm_inverse`.
//!
//! Logged each iteration: `intrinsic/reward_mean`, `intrinsic/reward_std` (after scaling).

pub mod nets;
pub mod norm;

use std::collections::BTreeMap;

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::activation::log_softmax;

use crate::check::ir::{self, ActionSpace};
use crate::envs::StepBatch;

use super::AlgoError;
use super::common::{Optim, Rng64, host, permutation, tensor};
use nets::Body;
use norm::{RewardScale, RunningMeanStd};

/// Trainable networks of an intrinsic module.
#[derive(Module, Debug)]
pub struct IntrinsicNets {
    /// RND predictor, or ICM feature map φ.
    pub main: Body,
    /// ICM forward model (empty for RND).
    pub forward_model: Vec<Body>,
    /// ICM inverse model (empty for RND).
    pub inverse_model: Vec<Body>,
}

/// Which module.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Rnd,
    Icm { beta: f32 },
}

/// Serialisable state beyond the networks' parameters.
#[derive(serde::Serialize, serde::Deserialize)]
struct IntrinsicState {
    nets: Vec<u8>,
    target: Vec<u8>,
    optimizer: Vec<u8>,
    obs_rms: RunningMeanStd,
    rew_scale: RewardScale,
    rng: [u64; 4],
}

/// An intrinsic reward module bound to an agent.
pub struct Intrinsic {
    kind: Kind,
    coef: f32,
    nets: Option<IntrinsicNets>,
    target: Option<Body>,
    optim: Optim,
    obs_rms: RunningMeanStd,
    rew_scale: RewardScale,
    next_obs: Vec<f32>,
    obs_dim: usize,
    actions: usize,
    epochs: usize,
    minibatches: usize,
    rng: Rng64,
    device: Device,
    plain: Device,
}

impl Intrinsic {
    /// Build the agent's intrinsic module, if it declares one. `n` is the number of envs.
    pub fn new(
        agent: &ir::Agent,
        n: usize,
        epochs: usize,
        minibatches: usize,
        device: &Device,
    ) -> Result<Option<Self>, AlgoError> {
        let Some((name, args, _)) = &agent.intrinsic else {
            return Ok(None);
        };
        let f = |k: &str, d: f64| args.get(k).and_then(ir::Value::as_f64).unwrap_or(d);
        let features = f("features", 64.0) as usize;
        let coef = f("coef", 0.01) as f32;
        let obs_dim = agent.env.obs_dim;
        let enc = agent
            .networks
            .first()
            .map(|n| n.encoder.clone())
            .unwrap_or_else(|| crate::lower::ir_builder::identity(obs_dim));
        let cfg = |e: String| AlgoError::Config(format!("intrinsic module: {e}"));
        let plain = device.clone().inner();
        let (kind, nets, target, actions) = match name.as_str() {
            "rnd" => {
                let main = Body::new(&nets::predictor(&enc, features), device).map_err(cfg)?;
                let target = Body::new(&nets::embedding(&enc, features), &plain).map_err(cfg)?;
                let nets = IntrinsicNets {
                    main,
                    forward_model: vec![],
                    inverse_model: vec![],
                };
                (Kind::Rnd, nets, Some(target), 0)
            }
            "icm" => {
                let ActionSpace::Discrete(a) = agent.env.action else {
                    return Err(cfg("icm needs discrete actions".into()));
                };
                let beta = f("beta", 0.2) as f32;
                let main = Body::new(&nets::embedding(&enc, features), device).map_err(cfg)?;
                let fwd = Body::new(&nets::head(features + a, features, features), device)
                    .map_err(cfg)?;
                let inv = Body::new(&nets::head(2 * features, features, a), device).map_err(cfg)?;
                let nets = IntrinsicNets {
                    main,
                    forward_model: vec![fwd],
                    inverse_model: vec![inv],
                };
                (Kind::Icm { beta }, nets, None, a)
            }
            other => return Err(cfg(format!("unknown module `{other}`"))),
        };
        let gamma = agent
            .hparams
            .get("gamma")
            .and_then(ir::Value::as_f64)
            .unwrap_or(0.99);
        Ok(Some(Intrinsic {
            kind,
            coef,
            nets: Some(nets),
            target,
            optim: Optim::new(&agent.optimizer, &agent.optimizer_args),
            obs_rms: RunningMeanStd::new(obs_dim),
            rew_scale: RewardScale::new(n, gamma),
            next_obs: Vec::new(),
            obs_dim,
            actions,
            epochs: epochs.max(1),
            minibatches: minibatches.max(1),
            rng: Rng64::new(agent.train.seed, 7),
            device: device.clone(),
            plain,
        }))
    }

    /// Record the true next observations of one vector step (`final_obs` where an episode
    /// ended, the observation otherwise).
    pub fn observe(&mut self, batch: &StepBatch) {
        let f = self.obs_dim;
        for i in 0..batch.reward.len() {
            let src = if batch.terminated[i] || batch.truncated[i] {
                &batch.final_obs
            } else {
                &batch.obs
            };
            self.next_obs.extend_from_slice(&src[i * f..(i + 1) * f]);
        }
    }

    /// RND inputs: next observations normalised by the running statistics.
    fn rnd_inputs(&self) -> Vec<f32> {
        let mut x = self.next_obs.clone();
        self.obs_rms.normalize(&mut x, 5.0);
        x
    }

    /// One-hot rows of discrete actions.
    fn one_hot(&self, actions: &[f32], idx: &[usize]) -> Vec<f32> {
        let a = self.actions;
        let mut v = vec![0.0; idx.len() * a];
        for (r, &i) in idx.iter().enumerate() {
            v[r * a + (actions[i] as usize).min(a - 1)] = 1.0;
        }
        v
    }

    /// Per-sample intrinsic rewards (no gradient) for the recorded transitions.
    fn rewards(&self, obs: &[f32], actions: &[f32]) -> Vec<f32> {
        let f = self.obs_dim;
        let m = self.next_obs.len() / f;
        let nets = self.nets.as_ref().expect("intrinsic nets present").valid();
        let dev = &self.plain;
        let mut out = Vec::with_capacity(m);
        let chunk = 1024;
        let inputs = match self.kind {
            Kind::Rnd => self.rnd_inputs(),
            Kind::Icm { .. } => self.next_obs.clone(),
        };
        for s in (0..m).step_by(chunk) {
            let e = (s + chunk).min(m);
            let k = e - s;
            let next = tensor(inputs[s * f..e * f].to_vec(), [k, f], dev);
            let err: Tensor<2> = match self.kind {
                Kind::Rnd => {
                    let t = self
                        .target
                        .as_ref()
                        .expect("rnd target")
                        .forward(next.clone());
                    (nets.main.forward(next) - t).square()
                }
                Kind::Icm { .. } => {
                    let phi = nets
                        .main
                        .forward(tensor(obs[s * f..e * f].to_vec(), [k, f], dev));
                    let phi_next = nets.main.forward(next);
                    let idx: Vec<usize> = (s..e).collect();
                    let oh = tensor(self.one_hot(actions, &idx), [k, self.actions], dev);
                    let pred = nets.forward_model[0].forward(Tensor::cat(vec![phi, oh], 1));
                    (pred - phi_next).square()
                }
            };
            out.extend(host(err.mean_dim(1)));
        }
        out
    }

    /// Add `coef · r_int` to the time-major rollout rewards `[T, N]`; `obs` and `actions` are
    /// the rollout's observations and actions in the same order as the recorded transitions.
    pub fn add_rewards(
        &mut self,
        obs: &[f32],
        actions: &[f32],
        rewards: &mut [f32],
    ) -> BTreeMap<String, f32> {
        if self.kind == Kind::Rnd {
            self.obs_rms.update(&self.next_obs);
        }
        let mut r = self.rewards(obs, actions);
        if self.kind == Kind::Rnd {
            self.rew_scale.scale(&mut r);
        }
        for (x, ri) in rewards.iter_mut().zip(&r) {
            *x += self.coef * ri;
        }
        let n = r.len().max(1) as f32;
        let mean = r.iter().sum::<f32>() / n;
        let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n;
        BTreeMap::from([
            ("intrinsic/reward_mean".to_string(), mean),
            ("intrinsic/reward_std".to_string(), var.sqrt()),
        ])
    }

    /// Train the module's networks on the recorded transitions; clears them.
    pub fn update(
        &mut self,
        obs: &[f32],
        actions: &[f32],
        progress: f64,
        env_steps: u64,
    ) -> Result<BTreeMap<String, f32>, AlgoError> {
        let f = self.obs_dim;
        let m = self.next_obs.len() / f;
        let inputs = match self.kind {
            Kind::Rnd => self.rnd_inputs(),
            Kind::Icm { .. } => self.next_obs.clone(),
        };
        let mb = (m / self.minibatches).max(1);
        let mut sums: BTreeMap<String, f32> = BTreeMap::new();
        let mut count = 0.0f32;
        let mut nets = self.nets.take().expect("intrinsic nets present");
        for _ in 0..self.epochs {
            let perm = permutation(m, &mut self.rng);
            for idx in perm.chunks(mb) {
                // RND trains its predictor on a random quarter of each minibatch (the paper's
                // update proportion), so novelty fades slower than the policy changes
                let idx = match self.kind {
                    Kind::Rnd => &idx[..idx.len().div_ceil(4)],
                    Kind::Icm { .. } => idx,
                };
                let k = idx.len();
                let rows = |src: &[f32]| -> Vec<f32> {
                    let mut v = Vec::with_capacity(k * f);
                    for &i in idx {
                        v.extend_from_slice(&src[i * f..(i + 1) * f]);
                    }
                    v
                };
                let dev = &self.device;
                let next = tensor(rows(&inputs), [k, f], dev);
                let (loss, logged): (Tensor<1>, Vec<(&str, Tensor<1>)>) = match self.kind {
                    Kind::Rnd => {
                        let t = self.target.as_ref().expect("rnd target").forward(tensor(
                            rows(&inputs),
                            [k, f],
                            &self.plain,
                        ));
                        let t = Tensor::from_data(t.into_data(), dev);
                        let l = (nets.main.forward(next) - t).square().mean();
                        (l.clone(), vec![("loss/rnd", l)])
                    }
                    Kind::Icm { beta } => {
                        let phi = nets.main.forward(tensor(rows(obs), [k, f], dev));
                        let phi_next = nets.main.forward(next);
                        let oh = tensor(self.one_hot(actions, idx), [k, self.actions], dev);
                        let pred = nets.forward_model[0]
                            .forward(Tensor::cat(vec![phi.clone(), oh.clone()], 1));
                        let fwd = (pred - phi_next.clone().detach()).square().mean();
                        let logits =
                            nets.inverse_model[0].forward(Tensor::cat(vec![phi, phi_next], 1));
                        let inv = (log_softmax(logits, 1) * oh).sum_dim(1).mean().neg();
                        let l = fwd.clone().mul_scalar(beta) + inv.clone().mul_scalar(1.0 - beta);
                        (
                            l,
                            vec![("loss/icm_forward", fwd), ("loss/icm_inverse", inv)],
                        )
                    }
                };
                for (name, t) in logged {
                    let v = host(t.detach())[0];
                    if !v.is_finite() {
                        self.nets = Some(nets);
                        return Err(AlgoError::NonFinite(name.into(), v, env_steps));
                    }
                    *sums.entry(name.into()).or_default() += v;
                }
                let (n2, _) = self.optim.step(nets, loss, progress);
                nets = n2;
                count += 1.0;
            }
        }
        self.nets = Some(nets);
        self.next_obs.clear();
        Ok(sums
            .into_iter()
            .map(|(k, v)| (k, v / count.max(1.0)))
            .collect())
    }

    /// Snapshot (networks, frozen target, optimizer, normalisers, RNG) for checkpoints.
    pub fn save(&self) -> Result<Vec<u8>, String> {
        let bytes = |r: ModuleRecord| {
            r.into_bytes()
                .map(|b| b.to_vec())
                .map_err(|e| format!("{e:?}"))
        };
        let nets = self.nets.as_ref().ok_or("intrinsic nets missing")?;
        let st = IntrinsicState {
            nets: bytes(nets.clone().into_record())?,
            target: match &self.target {
                Some(t) => bytes(t.clone().into_record())?,
                None => vec![],
            },
            optimizer: self.optim.to_bytes(),
            obs_rms: self.obs_rms.clone(),
            rew_scale: self.rew_scale.clone(),
            rng: self.rng.s,
        };
        Ok(super::snapshot::encode(&st))
    }

    /// Restore a [`Intrinsic::save`] snapshot.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        let st: IntrinsicState = super::snapshot::decode(bytes)?;
        let rec = |b: Vec<u8>| {
            ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(b))
                .map_err(|e| format!("intrinsic state: {e:?}"))
        };
        let nets = self.nets.take().ok_or("intrinsic nets missing")?;
        self.nets = Some(
            nets.try_load_record(rec(st.nets)?)
                .map_err(|e| format!("intrinsic nets: {e:?}"))?,
        );
        if let Some(t) = self.target.take() {
            self.target = Some(
                t.try_load_record(rec(st.target)?)
                    .map_err(|e| format!("intrinsic target: {e:?}"))?,
            );
        }
        self.optim.load_bytes(st.optimizer)?;
        self.obs_rms = st.obs_rms;
        self.rew_scale = st.rew_scale;
        self.rng.s = st.rng;
        Ok(())
    }
}
