//! The environment table the checker uses: ids, aliases, observation and action spaces.
//! (Owned by the environments work; `envs::registry` must agree with it — tested.)
//!
//! # Ids
//! - `gymnax::CartPole-v1`, `gymnax::Acrobot-v1`, `gymnax::MountainCar-v0`,
//!   `gymnax::MountainCarContinuous-v0`, `gymnax::Pendulum-v1` (gymnax dynamics).
//! - `popgym::<Task><Easy|Medium|Hard>` for the 16 POPGym 1.0.7 tasks. The bare task name
//!   (`popgym::Battleship`) is accepted as an alias of the variant that POPGym's default
//!   constructor builds (Easy for most tasks, Medium for Battleship, Hard for Concentration).
//!
//! - `minigrid::<Task>` grid worlds (MiniGrid 2.x semantics, egocentric 7×7 view):
//!   `Empty-5x5`, `Empty-Random-5x5`, `Empty-6x6`, `Empty-Random-6x6`, `Empty-8x8`,
//!   `Empty-16x16`, `FourRooms`, `DoorKey-5x5|6x6|8x8|16x16`, `MemoryS7|S9|S11|S13`,
//!   `MemoryS13Random`, `MemoryS17Random`. MiniGrid's own ids (`MiniGrid-Empty-5x5-v0`, with or
//!   without the `minigrid::` prefix) and the `-v0` suffix are accepted as aliases.
//!   Observation `Box(0, 255, (7, 7, 3), uint8)`: an image (see [`image_shape`]).
//! - `mpe::SimpleSpread-{2,3}` and `marl::CueRecall-{2,3}`: native multi-agent tasks
//!   (`agents > 1`; spaces are per agent, see `envs::multiagent`).
//!
//! # Observation encoding (the flat `f32` vector every environment emits)
//! - `Box` parts: the floats as they are.
//! - `Discrete(n)` parts: one-hot of width `n`.
//! - `MultiDiscrete([n1 n2 ...])` parts: one-hot per component, concatenated (`n1 + n2 + ...`).
//! - `Tuple(...)` parts: the encodings of the parts, concatenated in order.
//!
//! # Actions
//! - `Discrete(n)`: the action index as is.
//! - `MultiDiscrete([H W])`: flattened row-major to one `Discrete(H * W)`; action `a` means
//!   `(a / W, a % W)`, exactly like POPGym's `DiscreteAction` wrapper (`np.unravel_index`).
//! - `Box`: continuous with the listed bounds (actions outside are clipped by the environment).
//!
//! # memorax `popjym::` aliases
//! Accepted (the task is the same as POPGym's; popjym only differs in bookkeeping such as
//! `done` vs `truncated` or an extra zero-reward step): `StatelessCartPole*`,
//! `NoisyStatelessCartPole*`, `StatelessPendulum*`, `NoisyStatelessPendulum*`,
//! `MultiArmedBandit*`, `HigherLower*`, `RepeatFirst*`, `Battleship*`, `Concentration*`,
//! `Minesweeper*` (each with Easy/Medium/Hard), mapped to the POPGym task of the same meaning.
//!
//! Not accepted, because popjym's task differs (see [`popjym_difference`]): `Autoencode*`
//! (popjym's observation is all zeros while watching, so its task is unsolvable),
//! `CountRecall*` (action space `Discrete(2)` and a count that excludes the current card),
//! `RepeatPrevious*` (target is `k` steps back instead of `k - 1`), and
//! `NoisyStatelessMetaCartPole` (no POPGym counterpart).

use super::ir::{ActionSpace, EnvInfo};

/// The three POPGym difficulty suffixes, in order.
pub const DIFFICULTIES: [&str; 3] = ["Easy", "Medium", "Hard"];

/// Format an integer vector the way numpy's `str(ndarray)` does (line width 75), as used in
/// gymnasium's `MultiDiscrete` repr: `MultiDiscrete([3 3 ... 3\n 3 3])`.
pub fn multi_discrete_text(nvec: &[usize]) -> String {
    let width = nvec.iter().map(|n| n.to_string().len()).max().unwrap_or(1);
    let mut out = String::from("MultiDiscrete(");
    let mut line = String::from("[");
    for (i, n) in nvec.iter().enumerate() {
        let word = format!("{n:>width$}");
        let last = i + 1 == nvec.len();
        let limit = if last { 73 } else { 74 };
        if i > 0 {
            if line.len() + 1 + word.len() > limit {
                out.push_str(&line);
                out.push('\n');
                line = String::from(" ");
            } else {
                line.push(' ');
            }
        }
        line.push_str(&word);
    }
    line.push(']');
    out.push_str(&line);
    out.push(')');
    out
}

fn discrete(id: String, obs_space: String, obs_dim: usize, n: usize, max: usize) -> EnvInfo {
    EnvInfo {
        id,
        obs_space,
        action_space_text: format!("Discrete({n})"),
        obs_dim,
        action: ActionSpace::Discrete(n),
        max_steps: Some(max),
        agents: 1,
    }
}

fn boxed(id: &str, obs_space: &str, obs_dim: usize, text: &str, lim: f32, max: usize) -> EnvInfo {
    EnvInfo {
        id: id.into(),
        obs_space: obs_space.into(),
        action_space_text: text.into(),
        obs_dim,
        action: ActionSpace::Box {
            dim: 1,
            low: vec![-lim],
            high: vec![lim],
        },
        max_steps: Some(max),
        agents: 1,
    }
}

fn grid_action(id: String, obs_space: String, obs_dim: usize, side: usize, max: usize) -> EnvInfo {
    let mut e = discrete(id, obs_space, obs_dim, side * side, max);
    e.action_space_text = multi_discrete_text(&[side, side]);
    e
}

const CARTPOLE_BOX: &str = "Box([-4.8        -0.41887903], [4.8        0.41887903], (2,), float32)";
const PENDULUM_BOX: &str = "Box(-1.0, 1.0, (2,), float32)";
const PENDULUM_ACT: &str = "Box(-2.0, 2.0, (1,), float32)";

/// The POPGym entries of one task at difficulty `d` (0 = Easy, 1 = Medium, 2 = Hard).
fn popgym_entry(task: &str, d: usize) -> EnvInfo {
    let id = format!("popgym::{task}{}", DIFFICULTIES[d]);
    let cards = |decks: usize| 52 * decks;
    match task {
        "RepeatPrevious" => {
            let n = cards([1, 2, 3][d]);
            discrete(id, "Discrete(4)".into(), 4, 4, n - 1)
        }
        "RepeatFirst" => {
            let n = cards([1, 8, 16][d]);
            discrete(id, "Discrete(4)".into(), 4, 4, n - 1)
        }
        "CountRecall" => {
            let (decks, kinds) = [(1, 2), (2, 4), (4, 13)][d];
            let n = cards(decks);
            let obs = multi_discrete_text(&[kinds, kinds]);
            discrete(id, obs, 2 * kinds, n / kinds + 1, n - 1)
        }
        "Autoencode" => {
            let n = cards([1, 2, 3][d]);
            let obs = "Tuple(Discrete(2), Discrete(4))".to_string();
            discrete(id, obs, 6, 4, 2 * n - 1)
        }
        "PositionOnlyCartPole" => discrete(id, CARTPOLE_BOX.into(), 2, 2, [200, 400, 600][d]),
        "VelocityOnlyCartPole" => {
            let obs = "Box(-inf, inf, (2,), float32)".to_string();
            discrete(id, obs, 2, 2, [200, 400, 600][d])
        }
        "NoisyPositionOnlyCartPole" => discrete(id, CARTPOLE_BOX.into(), 2, 2, 200),
        "PositionOnlyPendulum" => {
            boxed(&id, PENDULUM_BOX, 2, PENDULUM_ACT, 2.0, [200, 150, 100][d])
        }
        "NoisyPositionOnlyPendulum" => boxed(&id, PENDULUM_BOX, 2, PENDULUM_ACT, 2.0, 200),
        "MultiarmedBandit" => {
            let (k, t) = [(10, 200), (20, 400), (30, 600)][d];
            discrete(id, "Discrete(2)".into(), 2, k, t)
        }
        "HigherLower" => {
            let n = cards([1, 2, 3][d]);
            discrete(id, "Discrete(13)".into(), 13, 2, n - 1)
        }
        "Battleship" => {
            let b = [8, 10, 12][d];
            grid_action(id, "Discrete(2)".into(), 2, b, b * b)
        }
        "Concentration" => {
            let (n, values) = [(52, 3), (104, 3), (52, 14)][d];
            let obs = multi_discrete_text(&vec![values; n]);
            discrete(id, obs, n * values, n, concentration_steps(n))
        }
        "MineSweeper" => {
            let (side, mines) = [(4, 2), (6, 6), (8, 10)][d];
            let k = (mines + 1).min(10);
            let obs = format!("Discrete({k})");
            grid_action(id, obs, k, side, side * side - mines)
        }
        "LabyrinthEscape" | "LabyrinthExplore" => {
            let obs = multi_discrete_text(&[5; 10]);
            discrete(id, obs, 50, 4, 1023)
        }
        _ => unreachable!("unknown POPGym task {task}"),
    }
}

/// Concentration's episode limit: `ceil(2N - N / (2N - 1))` for `N` cards.
pub fn concentration_steps(n: usize) -> usize {
    let n = n as f64;
    (2.0 * n - n / (2.0 * n - 1.0)).ceil() as usize
}

/// The 16 POPGym task names, in display order.
pub const POPGYM_TASKS: [&str; 16] = [
    "RepeatPrevious",
    "RepeatFirst",
    "CountRecall",
    "Autoencode",
    "PositionOnlyCartPole",
    "VelocityOnlyCartPole",
    "NoisyPositionOnlyCartPole",
    "PositionOnlyPendulum",
    "NoisyPositionOnlyPendulum",
    "MultiarmedBandit",
    "HigherLower",
    "Battleship",
    "Concentration",
    "MineSweeper",
    "LabyrinthEscape",
    "LabyrinthExplore",
];

/// All canonical ids, in display order.
pub fn all() -> Vec<EnvInfo> {
    let mut v = vec![
        discrete("gymnax::CartPole-v1".into(), "Box(4)".into(), 4, 2, 500),
        discrete("gymnax::Acrobot-v1".into(), "Box(6)".into(), 6, 3, 500),
        discrete("gymnax::MountainCar-v0".into(), "Box(2)".into(), 2, 3, 200),
        boxed(
            "gymnax::MountainCarContinuous-v0",
            "Box(2)",
            2,
            "Box(-1.0, 1.0, (1,), float32)",
            1.0,
            999,
        ),
        boxed("gymnax::Pendulum-v1", "Box(3)", 3, PENDULUM_ACT, 2.0, 200),
    ];
    for task in POPGYM_TASKS {
        for d in 0..3 {
            v.push(popgym_entry(task, d));
        }
    }
    for (task, max) in MINIGRID_TASKS {
        let side = MINIGRID_VIEW;
        let obs = format!("Box(0, 255, ({side}, {side}, 3), uint8)");
        let id = format!("minigrid::{task}");
        v.push(discrete(id, obs, side * side * 3, 7, max));
    }
    v.extend(multiagent_entries());
    v
}

/// Side of the grid worlds' egocentric view.
pub const MINIGRID_VIEW: usize = 7;

/// Grid-world task names under `minigrid::` with their episode limits (MiniGrid defaults:
/// Empty 4·N², DoorKey 10·N², Memory 5·N², FourRooms 100), in display order.
pub const MINIGRID_TASKS: [(&str, usize); 17] = [
    ("Empty-5x5", 100),
    ("Empty-Random-5x5", 100),
    ("Empty-6x6", 144),
    ("Empty-Random-6x6", 144),
    ("Empty-8x8", 256),
    ("Empty-16x16", 1024),
    ("FourRooms", 100),
    ("DoorKey-5x5", 250),
    ("DoorKey-6x6", 360),
    ("DoorKey-8x8", 640),
    ("DoorKey-16x16", 2560),
    ("MemoryS7", 245),
    ("MemoryS9", 405),
    ("MemoryS11", 605),
    ("MemoryS13", 845),
    ("MemoryS13Random", 845),
    ("MemoryS17Random", 1445),
];

/// Agent counts of the native multi-agent tasks (`mpe::SimpleSpread-N`, `marl::CueRecall-N`).
pub const MULTIAGENT_SIZES: [(&str, usize); 4] = [
    ("mpe::SimpleSpread-", 2),
    ("mpe::SimpleSpread-", 3),
    ("marl::CueRecall-", 2),
    ("marl::CueRecall-", 3),
];

/// The multi-agent entries: spaces are per agent, `agents` gives the count (agents are folded
/// into the batch: `n` environments have `n * agents` rows).
fn multiagent_entries() -> Vec<EnvInfo> {
    MULTIAGENT_SIZES
        .iter()
        .map(|&(prefix, n)| {
            let (obs_dim, actions, max) = if prefix.starts_with("mpe::") {
                (4 + 2 * n + 2 * (n - 1), 5, 25)
            } else {
                (4 + 1 + n, 4, 9)
            };
            let mut e = discrete(
                format!("{prefix}{n}"),
                format!("Box({obs_dim})"),
                obs_dim,
                actions,
                max,
            );
            e.agents = n;
            e
        })
        .collect()
}

/// Image shape `(height, width, channels)` of an environment whose observation is an image
/// (the flat observation is that array in C order); `None` for vector observations.
pub fn image_shape(id: &str) -> Option<(usize, usize, usize)> {
    let id = canonical(id)?;
    id.starts_with("minigrid::")
        .then_some((MINIGRID_VIEW, MINIGRID_VIEW, 3))
}

/// The difficulty POPGym's default constructor (the bare class name) builds for a task.
fn default_difficulty(task: &str) -> &'static str {
    match task {
        "Battleship" => "Medium",
        "Concentration" => "Hard",
        _ => "Easy",
    }
}

/// memorax/popjym task names accepted as aliases, with the POPGym task they mean.
pub const POPJYM_ALIASES: [(&str, &str); 10] = [
    ("StatelessCartPole", "PositionOnlyCartPole"),
    ("NoisyStatelessCartPole", "NoisyPositionOnlyCartPole"),
    ("StatelessPendulum", "PositionOnlyPendulum"),
    ("NoisyStatelessPendulum", "NoisyPositionOnlyPendulum"),
    ("MultiArmedBandit", "MultiarmedBandit"),
    ("HigherLower", "HigherLower"),
    ("RepeatFirst", "RepeatFirst"),
    ("Battleship", "Battleship"),
    ("Concentration", "Concentration"),
    ("Minesweeper", "MineSweeper"),
];

/// Why a popjym task is not accepted as an alias (its task differs from POPGym's).
pub fn popjym_difference(id: &str) -> Option<&'static str> {
    let name = id.strip_prefix("popjym::")?;
    let table: [(&str, &str); 4] = [
        (
            "Autoencode",
            "popjym's Autoencode shows all-zero observations while watching (unsolvable); use popgym::Autoencode*",
        ),
        (
            "CountRecall",
            "popjym's CountRecall has action space Discrete(2) and excludes the current card; use popgym::CountRecall*",
        ),
        (
            "RepeatPrevious",
            "popjym's RepeatPrevious asks for the card k steps back (POPGym: k-1); use popgym::RepeatPrevious*",
        ),
        (
            "NoisyStatelessMetaCartPole",
            "popjym's meta-CartPole has no POPGym counterpart",
        ),
    ];
    table
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map(|(_, why)| *why)
}

/// Resolve an alias to its canonical id (returns canonical ids unchanged when known).
pub fn canonical(id: &str) -> Option<String> {
    if all().iter().any(|e| e.id == id) {
        return Some(id.to_string());
    }
    if let Some(name) = minigrid_alias(id) {
        return Some(name);
    }
    if let Some(name) = id.strip_prefix("popgym::") {
        if POPGYM_TASKS.contains(&name) {
            return Some(format!("popgym::{name}{}", default_difficulty(name)));
        }
        return None;
    }
    let name = id.strip_prefix("popjym::")?;
    for (alias, task) in POPJYM_ALIASES {
        if let Some(diff) = name.strip_prefix(alias)
            && DIFFICULTIES.contains(&diff)
        {
            return Some(format!("popgym::{task}{diff}"));
        }
    }
    None
}

/// `MiniGrid-Empty-5x5-v0`, `minigrid::MiniGrid-Empty-5x5-v0`, `minigrid::Empty-5x5-v0` →
/// `minigrid::Empty-5x5`.
fn minigrid_alias(id: &str) -> Option<String> {
    let name = id.strip_prefix("minigrid::").unwrap_or(id);
    let bare = name.strip_prefix("MiniGrid-");
    if bare.is_none() && !id.starts_with("minigrid::") {
        return None;
    }
    let name = bare.unwrap_or(name);
    let name = name.strip_suffix("-v0").unwrap_or(name);
    MINIGRID_TASKS
        .iter()
        .any(|(t, _)| *t == name)
        .then(|| format!("minigrid::{name}"))
}

/// Look up a canonical id or alias; the returned entry carries the canonical id.
pub fn lookup(id: &str) -> Option<EnvInfo> {
    let canon = canonical(id)?;
    all().into_iter().find(|e| e.id == canon)
}

/// Up to five known ids close to `id` (for did-you-mean diagnostics), best first.
pub fn suggest(id: &str) -> Vec<String> {
    let lower = id.to_lowercase();
    let tail = |s: &str| s.rsplit("::").next().unwrap_or(s).to_lowercase();
    let q = tail(id);
    let mut scored: Vec<(f64, String)> = all()
        .into_iter()
        .map(|e| {
            let t = tail(&e.id);
            let mut s = strsim::jaro_winkler(&q, &t)
                .max(strsim::jaro_winkler(&lower, &e.id.to_lowercase()));
            if !q.is_empty() && t.contains(&q) {
                s += 0.2;
            }
            (s, e.id)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored
        .into_iter()
        .filter(|(s, _)| *s >= 0.75)
        .take(5)
        .map(|(_, id)| id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_counted() {
        let ids: Vec<String> = all().into_iter().map(|e| e.id).collect();
        let set: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(
            ids.len(),
            5 + 16 * 3 + MINIGRID_TASKS.len() + MULTIAGENT_SIZES.len()
        );
        assert_eq!(set.len(), ids.len());
    }

    #[test]
    fn aliases_resolve() {
        let e = lookup("popjym::StatelessCartPoleEasy").unwrap();
        assert_eq!(e.id, "popgym::PositionOnlyCartPoleEasy");
        assert_eq!(
            lookup("popjym::MinesweeperHard").unwrap().id,
            "popgym::MineSweeperHard"
        );
        assert_eq!(
            lookup("popgym::Battleship").unwrap().id,
            "popgym::BattleshipMedium"
        );
        assert!(lookup("popjym::AutoencodeEasy").is_none());
        assert!(popjym_difference("popjym::CountRecallEasy").is_some());
        assert!(lookup("gymnax::CartPole-v2").is_none());
        for alias in [
            "MiniGrid-Empty-5x5-v0",
            "minigrid::MiniGrid-Empty-5x5-v0",
            "minigrid::Empty-5x5-v0",
        ] {
            assert_eq!(lookup(alias).unwrap().id, "minigrid::Empty-5x5", "{alias}");
        }
        assert!(lookup("minigrid::Empty-7x5").is_none());
        assert_eq!(image_shape("minigrid::FourRooms"), Some((7, 7, 3)));
        assert_eq!(image_shape("gymnax::CartPole-v1"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("gymnax::CartPole-v0")[0], "gymnax::CartPole-v1");
        assert!(suggest("popgym::RepeatPrevEasy").contains(&"popgym::RepeatPreviousEasy".into()));
        assert!(suggest("zzzzzzzzzzzz").is_empty());
    }

    #[test]
    fn numpy_text() {
        assert_eq!(multi_discrete_text(&[8, 8]), "MultiDiscrete([8 8])");
        let t = multi_discrete_text(&[14; 52]);
        assert_eq!(t.lines().count(), 3);
        assert!(t.starts_with("MultiDiscrete([14 14"));
    }
}
