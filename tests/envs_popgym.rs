//! POPGym: spaces and random-policy statistics against the original package
//! (`../shared/fixtures/popgym-random-policy.json`), oracle / perfect-memory policies, and
//! determinism of the vectoriser.

use std::path::PathBuf;

use memoraxc::check::env_table;
use memoraxc::envs::popgym::Difficulty::{self, Easy, Hard, Medium};
use memoraxc::envs::popgym::cards::{
    Autoencode, Concentration, CountRecall, RepeatFirst, RepeatPrevious,
};
use memoraxc::envs::popgym::control::MultiarmedBandit;
use memoraxc::envs::popgym::games::{Battleship, MineSweeper};
use memoraxc::envs::popgym::labyrinth::Labyrinth;
use memoraxc::envs::rng::Rng;
use memoraxc::envs::{self, Action, Actions, Env, StepBatch, baseline};
use serde_json::Value;

const ALL: [Difficulty; 3] = [Easy, Medium, Hard];

fn fixture() -> Value {
    let p = match std::env::var_os("MX_POPGYM_FIXTURE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/popgym-random-policy.json"),
    };
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

#[test]
fn spaces_equal_fixture() {
    let fx = fixture();
    for (name, v) in fx["envs"].as_object().unwrap() {
        let info = env_table::lookup(&format!("popgym::{name}"))
            .unwrap_or_else(|| panic!("{name} unknown"));
        assert_eq!(
            info.obs_space,
            v["observation_space"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.action_space_text,
            v["action_space"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn random_policy_matches_fixture() {
    let fx = fixture();
    let mut failures = Vec::new();
    for (name, v) in fx["envs"].as_object().unwrap() {
        if !["Easy", "Medium", "Hard"].iter().any(|d| name.ends_with(d)) {
            continue; // bare names are aliases of one of the variants
        }
        let id = format!("popgym::{name}");
        let s = baseline::random(&id, 500, 0).unwrap();
        let f = |k: &str| v[k].as_f64().unwrap();
        let n_f = f("episodes");
        let tol = 4.0 * (f("random_return_sem").powi(2) + s.return_sem.powi(2)).sqrt();
        if (s.return_mean - f("random_return_mean")).abs() > tol {
            failures.push(format!(
                "{name}: return {:.4} vs {:.4} (tol {tol:.4})",
                s.return_mean,
                f("random_return_mean")
            ));
        }
        let (lmin, lmax) = (f("episode_length_min"), f("episode_length_max"));
        let max_steps = env_table::lookup(&id).unwrap().max_steps.unwrap() as u32;
        if lmin == lmax && s.length_min == s.length_max {
            // Structurally fixed length: must be identical.
            if s.length_min as f64 != lmin || s.length_mean != f("episode_length_mean") {
                failures.push(format!("{name}: length {} vs {lmin}", s.length_min));
            }
        } else {
            // Variable length (early termination): same mean within 4 standard errors (the
            // spread is floored at one step, so rare early wins do not make it zero).
            let sem = s.length_std.max(1.0) * (1.0 / s.episodes as f64 + 1.0 / n_f).sqrt();
            let off = (s.length_mean - f("episode_length_mean")).abs();
            if off > 4.0 * sem || s.length_max > max_steps || s.length_min < 1 {
                failures.push(format!(
                    "{name}: length mean {:.3} vs {:.3}",
                    s.length_mean,
                    f("episode_length_mean")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Run one episode of a single env under `policy`; returns (return, length).
fn episode<E: Env>(
    env: &mut E,
    seed: u64,
    mut policy: impl FnMut(&E, &mut Rng) -> u32,
) -> (f64, usize) {
    let mut rng = Rng::new(seed);
    let mut prng = Rng::new(seed ^ 0xABCD);
    let mut obs = vec![0.0; env.obs_dim()];
    env.reset(&mut rng, &mut obs);
    let (mut ret, mut len) = (0.0, 0);
    loop {
        let a = policy(env, &mut prng);
        let o = env.step(Action::Discrete(a), &mut rng, &mut obs);
        ret += o.reward as f64;
        len += 1;
        if o.terminated || o.truncated {
            return (ret, len);
        }
        assert!(len < 100_000, "episode does not end");
    }
}

fn assert_one(what: &str, (ret, _): (f64, usize)) {
    assert!((ret - 1.0).abs() < 1e-4, "{what}: return {ret}");
}

#[test]
fn perfect_memory_policies_score_one() {
    for d in ALL {
        for seed in 0..5 {
            let mut e = RepeatPrevious::new(d);
            assert_one(
                "RepeatPrevious",
                episode(&mut e, seed, |e, _| e.target().unwrap_or(0) as u32),
            );
            let mut e = RepeatFirst::new(d);
            assert_one(
                "RepeatFirst",
                episode(&mut e, seed, |e, _| e.first() as u32),
            );
            let mut e = CountRecall::new(d);
            assert_one("CountRecall", episode(&mut e, seed, |e, _| e.answer()));
            let mut e = Autoencode::new(d);
            let (r, len) = episode(&mut e, seed, |e, _| e.expected().unwrap_or(0) as u32);
            assert_one("Autoencode", (r, len));
            assert_eq!(len, 2 * 52 * d.pick([1, 2, 3]) - 1);
        }
    }
}

#[test]
fn hidden_state_oracles_score_one() {
    for d in ALL {
        for seed in 0..5 {
            let mut e = MineSweeper::new(d);
            let mut next = 0usize;
            assert_one(
                "MineSweeper",
                episode(&mut e, seed, |e, _| {
                    while e.is_mine(next) {
                        next += 1;
                    }
                    next += 1;
                    (next - 1) as u32
                }),
            );
            let mut e = Battleship::new(d);
            let mut next = 0usize;
            assert_one(
                "Battleship",
                episode(&mut e, seed, |e, _| {
                    while !e.is_ship(next) {
                        next += 1;
                    }
                    next += 1;
                    (next - 1) as u32
                }),
            );
            let mut e = Concentration::new(d);
            let mut plan: Vec<u32> = Vec::new();
            assert_one(
                "Concentration",
                episode(&mut e, seed, |e, _| {
                    if plan.is_empty() {
                        let t = e.types();
                        let mut used = vec![false; t.len()];
                        for p in 0..t.len() {
                            if used[p] {
                                continue;
                            }
                            let q = (p + 1..t.len())
                                .find(|&q| !used[q] && t[q] == t[p])
                                .unwrap();
                            used[p] = true;
                            used[q] = true;
                            plan.extend([q as u32, p as u32]);
                        }
                        plan.reverse();
                    }
                    plan.pop().unwrap()
                }),
            );
        }
    }
}

#[test]
fn bandit_oracle_matches_analytic_value() {
    for (d, want) in [(Easy, 0.818), (Medium, 0.905), (Hard, 0.935)] {
        let mut total = 0.0;
        let n = 200;
        for seed in 0..n {
            let mut e = MultiarmedBandit::new(d);
            let best = |e: &MultiarmedBandit, _: &mut Rng| {
                let p = e.probabilities();
                (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap() as u32
            };
            total += episode(&mut e, seed, best).0;
        }
        let mean = total / n as f64;
        assert!((mean - want).abs() < 0.03, "{d:?}: {mean} vs {want}");
    }
}

#[test]
fn labyrinth_escape_shortest_path_reaches_exit() {
    for d in ALL {
        let mut e = Labyrinth::new(d, false);
        let mut rng = Rng::new(1);
        let mut obs = vec![0.0; e.obs_dim()];
        e.reset(&mut rng, &mut obs);
        let g = (e.grid().len() as f64).sqrt() as usize;
        // BFS from the goal gives the next move everywhere.
        let goal = e.grid().iter().position(|&v| v == 3).unwrap();
        let mut dist = vec![usize::MAX; g * g];
        dist[goal] = 0;
        let mut queue = std::collections::VecDeque::from([goal]);
        while let Some(p) = queue.pop_front() {
            let (y, x) = (p / g, p % g);
            for (ny, nx) in [
                (y.wrapping_sub(1), x),
                (y + 1, x),
                (y, x.wrapping_sub(1)),
                (y, x + 1),
            ] {
                if ny < g && nx < g && e.grid()[ny * g + nx] != 1 && dist[ny * g + nx] == usize::MAX
                {
                    dist[ny * g + nx] = dist[p] + 1;
                    queue.push_back(ny * g + nx);
                }
            }
        }
        let (y, x) = e.position();
        let steps = dist[y * g + x];
        assert!(steps < usize::MAX, "exit unreachable");
        let mut ret = 0.0;
        for i in 0..steps {
            let (y, x) = e.position();
            let moves = [
                (0u32, y, x.wrapping_sub(1)),
                (1, y, x + 1),
                (2, y.wrapping_sub(1), x),
                (3, y + 1, x),
            ];
            let a = moves
                .iter()
                .find(|(_, ny, nx)| *ny < g && *nx < g && dist[ny * g + nx] == dist[y * g + x] - 1)
                .unwrap()
                .0;
            let o = e.step(Action::Discrete(a), &mut rng, &mut obs);
            ret += o.reward as f64;
            assert_eq!(o.terminated, i + 1 == steps);
        }
        assert!((ret - (1.0 - steps as f64 / 1024.0)).abs() < 1e-4);
    }
}

fn trajectory(id: &str, n: usize, which: usize, steps: usize) -> Vec<f32> {
    let mut env = envs::make(id, n).unwrap();
    let info = env.info().clone();
    // multi-agent ids fold their agents into the rows
    let n = n * info.agents;
    let mut out = StepBatch::new(n, info.obs_dim);
    env.reset(42, &mut out);
    let d = info.obs_dim;
    let mut trace = out.obs[which * d..(which + 1) * d].to_vec();
    let mut policy: Vec<Rng> = (0..n).map(|i| Rng::for_index(7, i as u64, 1)).collect();
    for _ in 0..steps {
        let acts = match &info.action {
            memoraxc::check::ir::ActionSpace::Discrete(k) => {
                Actions::Discrete(policy.iter_mut().map(|r| r.below(*k as u32)).collect())
            }
            memoraxc::check::ir::ActionSpace::Box { .. } => Actions::Continuous(
                policy
                    .iter_mut()
                    .map(|r| r.uniform_f32(-1.0, 1.0))
                    .collect(),
            ),
        };
        env.step(&acts, &mut out);
        trace.extend_from_slice(&out.obs[which * d..(which + 1) * d]);
        trace.extend([out.reward[which], f32::from(u8::from(out.start[which]))]);
    }
    trace
}

#[test]
fn deterministic_and_independent_of_batch_size() {
    for info in env_table::all() {
        let id = &info.id;
        let a = trajectory(id, 3, 2, 300);
        assert_eq!(a, trajectory(id, 3, 2, 300), "{id}: not deterministic");
        assert_eq!(
            a,
            trajectory(id, 8, 2, 300),
            "{id}: depends on the number of envs"
        );
    }
}

#[test]
fn auto_reset_sets_start_and_final_obs() {
    let mut env = envs::make("popgym::RepeatFirstEasy", 2).unwrap();
    let mut out = StepBatch::new(2, 4);
    env.reset(0, &mut out);
    assert!(out.start.iter().all(|&s| s));
    for t in 1..=51 {
        env.step(&Actions::Discrete(vec![0, 1]), &mut out);
        assert_eq!(out.start[0], t == 51);
        assert_eq!(out.terminated[0], t == 51);
    }
    assert_eq!(out.episode_length, vec![51, 51]);
    assert!((out.final_obs[..4].iter().sum::<f32>() - 1.0).abs() < 1e-6);
}
