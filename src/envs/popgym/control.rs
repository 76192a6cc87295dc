//! POPGym control tasks on gymnasium physics (f64): PositionOnly/VelocityOnly/NoisyPositionOnly
//! CartPole, PositionOnly/NoisyPositionOnly Pendulum, and MultiarmedBandit.

use super::Difficulty;
use crate::envs::rng::Rng;
use crate::envs::vec::{Action, Env, Outcome, one_hot};

/// What a POPGym CartPole variant shows.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CartPoleView {
    /// `[x, theta]`.
    Position,
    /// `[x_dot, theta_dot]` (POPGym shows `[x, theta]` on reset; kept).
    Velocity,
    /// `[x, theta]` plus N(0, sigma^2), clipped to the observation bounds.
    NoisyPosition(f64),
}

/// POPGym CartPole variants (gymnasium CartPole-v1 physics, reward `1 / T_max` per step).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PopCartPole {
    view: CartPoleView,
    max_steps: u32,
    steps: u32,
    s: [f64; 4],
}

const THETA_LIMIT: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;

impl PopCartPole {
    /// A variant with its POPGym episode limit.
    pub fn new(view: CartPoleView, max_steps: u32) -> Self {
        PopCartPole {
            view,
            max_steps,
            steps: 0,
            s: [0.0; 4],
        }
    }

    /// PositionOnlyCartPole (T = 200 / 400 / 600).
    pub fn position_only(d: Difficulty) -> Self {
        Self::new(CartPoleView::Position, d.pick([200, 400, 600]))
    }

    /// VelocityOnlyCartPole (T = 200 / 400 / 600).
    pub fn velocity_only(d: Difficulty) -> Self {
        Self::new(CartPoleView::Velocity, d.pick([200, 400, 600]))
    }

    /// NoisyPositionOnlyCartPole (sigma = 0.1 / 0.2 / 0.3, T = 200).
    pub fn noisy_position_only(d: Difficulty) -> Self {
        Self::new(CartPoleView::NoisyPosition(d.pick([0.1, 0.2, 0.3])), 200)
    }

    /// The hidden state `[x, x_dot, theta, theta_dot]`.
    pub fn state(&self) -> [f64; 4] {
        self.s
    }

    fn write(&self, obs: &mut [f32], rng: &mut Rng, reset: bool) {
        let [x, xd, th, thd] = self.s;
        match self.view {
            CartPoleView::Velocity if !reset => {
                obs[0] = xd as f32;
                obs[1] = thd as f32;
            }
            CartPoleView::NoisyPosition(sigma) => {
                let n0 = (rng.normal() * sigma) as f32;
                let n1 = (rng.normal() * sigma) as f32;
                let hi = [4.8f32, (THETA_LIMIT * 2.0) as f32];
                obs[0] = (x as f32 + n0).clamp(-hi[0], hi[0]);
                obs[1] = (th as f32 + n1).clamp(-hi[1], hi[1]);
            }
            _ => {
                obs[0] = x as f32;
                obs[1] = th as f32;
            }
        }
    }
}

impl Env for PopCartPole {
    fn obs_dim(&self) -> usize {
        2
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        for v in &mut self.s {
            *v = rng.uniform_f64(-0.05, 0.05);
        }
        self.steps = 0;
        self.write(obs, rng, true);
    }
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let (g, masspole, total_mass, length, pml, tau) = (9.8, 0.1, 1.1, 0.5, 0.05, 0.02);
        let [x, x_dot, theta, theta_dot] = self.s;
        let force = if action.index() == 1 { 10.0 } else { -10.0 };
        let (sin, cos) = theta.sin_cos();
        let temp = (force + pml * theta_dot * theta_dot * sin) / total_mass;
        let thetaacc =
            (g * sin - cos * temp) / (length * (4.0 / 3.0 - masspole * cos * cos / total_mass));
        let xacc = temp - pml * thetaacc * cos / total_mass;
        self.s = [
            x + tau * x_dot,
            x_dot + tau * xacc,
            theta + tau * theta_dot,
            theta_dot + tau * thetaacc,
        ];
        self.steps += 1;
        let [x, _, th, _] = self.s;
        let terminated = !(-2.4..=2.4).contains(&x) || !(-THETA_LIMIT..=THETA_LIMIT).contains(&th);
        self.write(obs, rng, false);
        Outcome {
            reward: (1.0 / self.max_steps as f64) as f32,
            terminated,
            truncated: self.steps >= self.max_steps,
        }
    }
}

/// POPGym Pendulum variants: gymnasium Pendulum-v1, obs `[cos th, sin th]`, reward mapped
/// affinely so that a motionless upright pendulum earns `1 / T` per step.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PopPendulum {
    sigma: Option<f64>,
    max_steps: u32,
    steps: u32,
    th: f64,
    thdot: f64,
}

impl PopPendulum {
    /// PositionOnlyPendulum (T = 200 / 150 / 100).
    pub fn position_only(d: Difficulty) -> Self {
        PopPendulum {
            sigma: None,
            max_steps: d.pick([200, 150, 100]),
            steps: 0,
            th: 0.0,
            thdot: 0.0,
        }
    }

    /// NoisyPositionOnlyPendulum (sigma = 0.1 / 0.2 / 0.3, T = 200).
    pub fn noisy_position_only(d: Difficulty) -> Self {
        PopPendulum {
            sigma: Some(d.pick([0.1, 0.2, 0.3])),
            max_steps: 200,
            steps: 0,
            th: 0.0,
            thdot: 0.0,
        }
    }

    fn write(&self, obs: &mut [f32], rng: &mut Rng) {
        let (s, c) = self.th.sin_cos();
        let (mut c, mut s) = (c as f32, s as f32);
        if let Some(sigma) = self.sigma {
            c = (c + (rng.normal() * sigma) as f32).clamp(-1.0, 1.0);
            s = (s + (rng.normal() * sigma) as f32).clamp(-1.0, 1.0);
        }
        obs[0] = c;
        obs[1] = s;
    }
}

impl Env for PopPendulum {
    fn obs_dim(&self) -> usize {
        2
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.th = rng.uniform_f64(-std::f64::consts::PI, std::f64::consts::PI);
        self.thdot = rng.uniform_f64(-1.0, 1.0);
        self.steps = 0;
        self.write(obs, rng);
    }
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        use std::f64::consts::PI;
        let u = (action.scalar() as f64).clamp(-2.0, 2.0);
        let thn = (self.th + PI).rem_euclid(2.0 * PI) - PI;
        let costs = thn * thn + 0.1 * self.thdot * self.thdot + 0.001 * u * u;
        let newthdot =
            (self.thdot + (3.0 * 10.0 / 2.0 * self.th.sin() + 3.0 * u) * 0.05).clamp(-8.0, 8.0);
        self.th += newthdot * 0.05;
        self.thdot = newthdot;
        self.steps += 1;
        self.write(obs, rng);
        let half = 16.273_604_4 / 2.0;
        let reward = ((-costs + half) / half) / self.max_steps as f64;
        Outcome {
            reward: reward as f32,
            terminated: false,
            truncated: self.steps >= self.max_steps,
        }
    }
}

/// MultiarmedBandit: arms pay out with hidden probabilities drawn at reset.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MultiarmedBandit {
    p: Vec<f32>,
    max_steps: u32,
    steps: u32,
}

impl MultiarmedBandit {
    /// (arms, steps) per difficulty: (10, 200), (20, 400), (30, 600).
    pub fn new(d: Difficulty) -> Self {
        let (k, t) = d.pick([(10, 200), (20, 400), (30, 600)]);
        MultiarmedBandit {
            p: vec![0.0; k],
            max_steps: t,
            steps: 0,
        }
    }

    /// The payout probabilities (for oracles).
    pub fn probabilities(&self) -> &[f32] {
        &self.p
    }
}

impl Env for MultiarmedBandit {
    fn obs_dim(&self) -> usize {
        2
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        for p in &mut self.p {
            *p = rng.f32();
        }
        self.steps = 0;
        one_hot(obs, 0);
    }
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let a = (action.index() as usize).min(self.p.len() - 1);
        let pay = rng.f32() < self.p[a];
        one_hot(obs, usize::from(pay));
        let scale = 1.0 / self.max_steps as f64;
        let truncated = self.steps + 1 >= self.max_steps;
        self.steps += 1;
        Outcome {
            reward: (if pay { scale } else { -scale }) as f32,
            terminated: false,
            truncated,
        }
    }
}
