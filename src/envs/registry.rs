//! Id → constructor table (ids and aliases as in `check::env_table`).

use super::VecEnv;
use super::classic;
use super::multiagent::{MultiEnv, MultiVectorized, recall::CueRecall, spread::SimpleSpread};
use super::popgym::DIFFICULTY_SUFFIXES;
use super::popgym::cards::{
    Autoencode, Concentration, CountRecall, HigherLower, RepeatFirst, RepeatPrevious,
};
use super::popgym::control::{MultiarmedBandit, PopCartPole, PopPendulum};
use super::popgym::games::{Battleship, MineSweeper};
use super::popgym::labyrinth::Labyrinth;
use super::vec::{Env, Vectorized};
use crate::check::env_table;

fn boxed<E: Env + serde::Serialize + serde::de::DeserializeOwned + 'static>(
    id: &str,
    n: usize,
    make: impl Fn() -> E,
) -> Box<dyn VecEnv> {
    let info = env_table::lookup(id).expect("registry id missing from env_table");
    Box::new(Vectorized::new(info, n, make))
}

fn multi<E: MultiEnv + serde::Serialize + serde::de::DeserializeOwned + 'static>(
    id: &str,
    n: usize,
    make: impl Fn() -> E,
) -> Box<dyn VecEnv> {
    let info = env_table::lookup(id).expect("registry id missing from env_table");
    Box::new(MultiVectorized::new(info, n, make))
}

/// Build `n` environments of `id` (canonical or alias); `None` for unknown ids. For a
/// multi-agent id the batch has `n * agents` rows (see `envs::multiagent`).
pub fn make(id: &str, n: usize) -> Option<Box<dyn VecEnv>> {
    let id = env_table::canonical(id)?;
    if let Some(k) = id.strip_prefix("mpe::SimpleSpread-") {
        let k: usize = k.parse().ok()?;
        return Some(multi(&id, n, || SimpleSpread::new(k)));
    }
    if let Some(k) = id.strip_prefix("marl::CueRecall-") {
        let k: usize = k.parse().ok()?;
        return Some(multi(&id, n, || CueRecall::new(k)));
    }
    if let Some(name) = id.strip_prefix("gymnax::") {
        return Some(match name {
            "CartPole-v1" => boxed(&id, n, classic::CartPole::default),
            "Acrobot-v1" => boxed(&id, n, classic::Acrobot::default),
            "MountainCar-v0" => boxed(&id, n, classic::MountainCar::default),
            "MountainCarContinuous-v0" => boxed(&id, n, classic::MountainCarContinuous::default),
            "Pendulum-v1" => boxed(&id, n, classic::Pendulum::default),
            _ => return None,
        });
    }
    if let Some(name) = id.strip_prefix("minigrid::") {
        let task = super::grid::parse(name)?;
        return Some(boxed(&id, n, move || super::grid::GridEnv::new(task)));
    }
    let name = id.strip_prefix("popgym::")?;
    let (task, d) = DIFFICULTY_SUFFIXES
        .iter()
        .find_map(|(suffix, d)| name.strip_suffix(suffix).map(|t| (t, *d)))?;
    Some(match task {
        "RepeatPrevious" => boxed(&id, n, || RepeatPrevious::new(d)),
        "RepeatFirst" => boxed(&id, n, || RepeatFirst::new(d)),
        "CountRecall" => boxed(&id, n, || CountRecall::new(d)),
        "Autoencode" => boxed(&id, n, || Autoencode::new(d)),
        "PositionOnlyCartPole" => boxed(&id, n, || PopCartPole::position_only(d)),
        "VelocityOnlyCartPole" => boxed(&id, n, || PopCartPole::velocity_only(d)),
        "NoisyPositionOnlyCartPole" => boxed(&id, n, || PopCartPole::noisy_position_only(d)),
        "PositionOnlyPendulum" => boxed(&id, n, || PopPendulum::position_only(d)),
        "NoisyPositionOnlyPendulum" => boxed(&id, n, || PopPendulum::noisy_position_only(d)),
        "MultiarmedBandit" => boxed(&id, n, || MultiarmedBandit::new(d)),
        "HigherLower" => boxed(&id, n, || HigherLower::new(d)),
        "Battleship" => boxed(&id, n, || Battleship::new(d)),
        "Concentration" => boxed(&id, n, || Concentration::new(d)),
        "MineSweeper" => boxed(&id, n, || MineSweeper::new(d)),
        "LabyrinthEscape" => boxed(&id, n, || Labyrinth::new(d, false)),
        "LabyrinthExplore" => boxed(&id, n, || Labyrinth::new(d, true)),
        _ => return None,
    })
}

/// Every canonical id the registry can build (equal to `env_table::all()`'s ids — tested).
pub fn ids() -> Vec<String> {
    env_table::all().into_iter().map(|e| e.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envs::{Actions, StepBatch};

    #[test]
    fn every_table_id_builds_and_agrees() {
        for info in env_table::all() {
            let mut env = make(&info.id, 3).unwrap_or_else(|| panic!("{} not buildable", info.id));
            assert_eq!(env.info(), &info);
            let rows = 3 * info.agents;
            assert_eq!(env.num_envs(), rows, "{}", info.id);
            let mut out = StepBatch::new(rows, info.obs_dim);
            env.reset(1, &mut out);
            assert_eq!(out.obs.len(), rows * info.obs_dim, "{}", info.id);
            let acts = match &info.action {
                crate::check::ir::ActionSpace::Discrete(_) => Actions::Discrete(vec![0; rows]),
                crate::check::ir::ActionSpace::Box { dim, .. } => {
                    Actions::Continuous(vec![0.0; rows * dim])
                }
            };
            for _ in 0..5 {
                env.step(&acts, &mut out);
            }
            assert!(out.obs.iter().all(|x| x.is_finite()), "{}", info.id);
        }
    }
}
