//! R2D2 targets: the invertible value rescaling `h` and n-step returns over replayed windows.

/// The `epsilon` of the value rescaling (Pohlen et al.).
pub const RESCALE_EPS: f32 = 1e-3;

/// `h(x) = sign(x)·(sqrt(|x| + 1) − 1) + ε·x`.
pub fn h(x: f32) -> f32 {
    x.signum() * ((x.abs() + 1.0).sqrt() - 1.0) + RESCALE_EPS * x
}

/// The inverse of [`h`].
pub fn h_inv(x: f32) -> f32 {
    let e = RESCALE_EPS;
    let r = ((1.0 + 4.0 * e * (x.abs() + 1.0 + e)).sqrt() - 1.0) / (2.0 * e);
    x.signum() * (r * r - 1.0)
}

/// A `[W, B]` replayed window as the n-step computation sees it (time-major).
pub struct Window<'a> {
    /// Batch size `B`.
    pub batch: usize,
    /// Rewards `[W, B]`.
    pub reward: &'a [f32],
    /// The step ended its episode (terminated or truncated), `[W, B]`.
    pub done: &'a [bool],
    /// Bootstrap value of the observation at each position, `[W, B]` (raw scale).
    pub value: &'a [f32],
    /// Where an episode ended at a position, the value to bootstrap from its true final
    /// observation (time limits of carry-free networks), `[W, B]`; `None` = no bootstrap.
    pub end_value: &'a [Option<f32>],
}

/// n-step returns for positions `from..from + len`: rewards up to `n` steps ahead, cut at the
/// end of an episode (bootstrapping from `end_value` there), else `γ^n · value[t + n]`.
/// The window must hold at least `from + len + n` steps. Result `[len, B]`.
pub fn n_step(win: &Window, from: usize, len: usize, n: usize, gamma: f32) -> Vec<f32> {
    let b = win.batch;
    let mut out = Vec::with_capacity(len * b);
    for t in from..from + len {
        for j in 0..b {
            let mut g = 0.0;
            let mut disc = 1.0;
            let mut ended = false;
            for k in 0..n {
                let i = (t + k) * b + j;
                g += disc * win.reward[i];
                disc *= gamma;
                if win.done[i] {
                    if let Some(v) = win.end_value[i] {
                        g += disc * v;
                    }
                    ended = true;
                    break;
                }
            }
            if !ended {
                g += disc * win.value[(t + n) * b + j];
            }
            out.push(g);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaling_inverts() {
        for x in [-500.0f32, -3.0, -0.2, 0.0, 0.7, 12.0, 1000.0] {
            let y = h_inv(h(x));
            assert!((y - x).abs() <= 1e-3 * x.abs().max(1.0), "{x} -> {y}");
        }
        assert!((h(3.0) - (1.0 + 3e-3)).abs() < 1e-6);
        assert!(h(-8.0) < 0.0);
    }

    #[test]
    fn n_step_cuts_at_episode_ends() {
        // one env, W = 6: rewards 1..6, episode ends after position 2
        let reward = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let done = [false, false, true, false, false, false];
        let value = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0];
        let none = [None; 6];
        let w = Window {
            batch: 1,
            reward: &reward,
            done: &done,
            value: &value,
            end_value: &none,
        };
        let g = n_step(&w, 0, 3, 2, 0.5);
        // t=0: 1 + 0.5·2 + 0.25·30; t=1: 2 + 0.5·3 (ends); t=2: 3 (ends)
        assert_eq!(g, vec![1.0 + 1.0 + 7.5, 2.0 + 1.5, 3.0]);
        let mut ev = none;
        ev[2] = Some(8.0);
        let w2 = Window {
            end_value: &ev,
            ..w
        };
        let g2 = n_step(&w2, 1, 1, 3, 0.5);
        assert_eq!(g2, vec![2.0 + 1.5 + 0.25 * 8.0]);
        // t = 3 with n = 2 bootstraps from position 5
        assert_eq!(n_step(&w, 3, 1, 2, 0.5), vec![4.0 + 2.5 + 0.25 * 60.0]);
    }
}
