//! `mpe::SimpleSpread-N`: MPE-style cooperative navigation. `N` agents must cover `N` landmarks
//! while avoiding each other.
//!
//! Physics as in the multi-agent particle environments: time step 0.1, velocity damping 0.25,
//! unit mass, action force scaled by a sensitivity of 5, soft contact forces between agents
//! (`force = 100 · softplus(-(d - d_min) / 0.001) · 0.001` along the centre line, agent radius
//! 0.15); landmarks do not collide. Positions are integrated after velocities (semi-implicit
//! Euler) and are unbounded.
//!
//! - Actions (per agent, `Discrete(5)`): 0 no-op, 1 left (−x), 2 right (+x), 3 down (−y), 4 up (+y).
//! - Observation (per agent, `2 + 2 + 2N + 2(N−1)` floats): own velocity, own position, every
//!   landmark's position relative to the agent, every other agent's position relative to it
//!   (in agent index order, skipping itself).
//! - Reward (shared by all agents): `−Σ_landmarks min_agents distance − number of colliding
//!   agent pairs`.
//! - Start: agents uniform in `[−1, 1]²`, landmarks uniform in `[−0.9, 0.9]²`, zero velocity.
//!   Episodes are truncated after 25 steps (no terminal states).

use super::vectorized::{MultiEnv, MultiOutcome};
use crate::envs::rng::Rng;

/// Episode length (truncation).
pub const HORIZON: u32 = 25;
/// Integration time step.
pub const DT: f32 = 0.1;
/// Velocity damping per step.
pub const DAMPING: f32 = 0.25;
/// Action force scale.
pub const SENSITIVITY: f32 = 5.0;
/// Agent radius.
pub const AGENT_SIZE: f32 = 0.15;
const CONTACT_FORCE: f32 = 100.0;
const CONTACT_MARGIN: f32 = 1e-3;

/// One copy of simple spread with `n` agents and `n` landmarks.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SimpleSpread {
    n: usize,
    pos: Vec<[f32; 2]>,
    vel: Vec<[f32; 2]>,
    landmarks: Vec<[f32; 2]>,
    t: u32,
}

/// The force of a discrete action.
pub fn action_force(a: u32) -> [f32; 2] {
    let u = match a {
        1 => [-1.0, 0.0],
        2 => [1.0, 0.0],
        3 => [0.0, -1.0],
        4 => [0.0, 1.0],
        _ => [0.0, 0.0],
    };
    [u[0] * SENSITIVITY, u[1] * SENSITIVITY]
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

impl SimpleSpread {
    /// `n` agents and `n` landmarks.
    pub fn new(n: usize) -> Self {
        SimpleSpread {
            n,
            pos: vec![[0.0; 2]; n],
            vel: vec![[0.0; 2]; n],
            landmarks: vec![[0.0; 2]; n],
            t: 0,
        }
    }

    /// Agent positions.
    pub fn positions(&self) -> &[[f32; 2]] {
        &self.pos
    }
    /// Agent velocities.
    pub fn velocities(&self) -> &[[f32; 2]] {
        &self.vel
    }
    /// Landmark positions.
    pub fn landmarks(&self) -> &[[f32; 2]] {
        &self.landmarks
    }

    /// Number of agent pairs closer than two radii.
    pub fn collisions(&self) -> usize {
        let mut c = 0;
        for i in 0..self.n {
            for j in i + 1..self.n {
                if dist(self.pos[i], self.pos[j]) < 2.0 * AGENT_SIZE {
                    c += 1;
                }
            }
        }
        c
    }

    /// The shared reward of the current configuration.
    pub fn reward(&self) -> f32 {
        let cover: f32 = self
            .landmarks
            .iter()
            .map(|&l| {
                self.pos
                    .iter()
                    .map(|&p| dist(p, l))
                    .fold(f32::INFINITY, f32::min)
            })
            .sum();
        -cover - self.collisions() as f32
    }

    fn contact_forces(&self, force: &mut [[f32; 2]]) {
        for i in 0..self.n {
            for j in i + 1..self.n {
                let dx = [
                    self.pos[i][0] - self.pos[j][0],
                    self.pos[i][1] - self.pos[j][1],
                ];
                let d = (dx[0] * dx[0] + dx[1] * dx[1]).sqrt().max(1e-6);
                let k = CONTACT_MARGIN;
                let z = -(d - 2.0 * AGENT_SIZE) / k;
                // softplus, stable for large |z|
                let pen = (if z > 30.0 { z } else { z.exp().ln_1p() }) * k;
                let f = CONTACT_FORCE * pen / d;
                for c in 0..2 {
                    force[i][c] += f * dx[c];
                    force[j][c] -= f * dx[c];
                }
            }
        }
    }

    fn observe(&self, obs: &mut [f32]) {
        let d = self.obs_dim();
        for i in 0..self.n {
            let row = &mut obs[i * d..(i + 1) * d];
            let p = self.pos[i];
            row[0..2].copy_from_slice(&self.vel[i]);
            row[2..4].copy_from_slice(&p);
            let mut at = 4;
            for l in &self.landmarks {
                row[at] = l[0] - p[0];
                row[at + 1] = l[1] - p[1];
                at += 2;
            }
            for (j, q) in self.pos.iter().enumerate() {
                if j != i {
                    row[at] = q[0] - p[0];
                    row[at + 1] = q[1] - p[1];
                    at += 2;
                }
            }
        }
    }

    /// Advance the physics by one step under per-agent forces (no reward, no observation).
    pub fn integrate(&mut self, actions: &[u32]) {
        let mut force: Vec<[f32; 2]> = actions.iter().map(|&a| action_force(a)).collect();
        self.contact_forces(&mut force);
        for ((v, p), f) in self.vel.iter_mut().zip(&mut self.pos).zip(&force) {
            for c in 0..2 {
                v[c] = v[c] * (1.0 - DAMPING) + f[c] * DT;
                p[c] += v[c] * DT;
            }
        }
    }
}

impl MultiEnv for SimpleSpread {
    fn agents(&self) -> usize {
        self.n
    }
    fn obs_dim(&self) -> usize {
        4 + 2 * self.n + 2 * (self.n - 1)
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        for p in &mut self.pos {
            *p = [rng.uniform_f32(-1.0, 1.0), rng.uniform_f32(-1.0, 1.0)];
        }
        for l in &mut self.landmarks {
            *l = [rng.uniform_f32(-0.9, 0.9), rng.uniform_f32(-0.9, 0.9)];
        }
        self.vel.iter_mut().for_each(|v| *v = [0.0; 2]);
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
        self.integrate(actions);
        self.t += 1;
        let r = self.reward();
        rewards.fill(r);
        self.observe(obs);
        MultiOutcome {
            terminated: false,
            truncated: self.t >= HORIZON,
        }
    }
}

/// A scripted policy: agent `k` heads for landmark `k` along the larger axis of the offset,
/// braking when its velocity already covers the remaining distance. Reads one agent's
/// observation row (the layout of [`SimpleSpread`]).
pub fn scripted_action(obs_row: &[f32], agent: usize) -> u32 {
    let (vx, vy) = (obs_row[0], obs_row[1]);
    let at = 4 + 2 * agent;
    let (dx, dy) = (obs_row[at], obs_row[at + 1]);
    // aim at where damping would leave us if we stopped pushing: offset minus coasting distance
    let coast = DT * (1.0 - DAMPING) / DAMPING;
    let (ex, ey) = (dx - vx * coast, dy - vy * coast);
    if ex.abs().max(ey.abs()) < 0.05 {
        0
    } else if ex.abs() >= ey.abs() {
        if ex > 0.0 { 2 } else { 1 }
    } else if ey > 0.0 {
        4
    } else {
        3
    }
}
