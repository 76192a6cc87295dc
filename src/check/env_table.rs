//! The environment table the checker uses: ids, aliases, observation and action spaces.
//! (Owned by the environments work; `envs::registry` must agree with it — tested.)

use super::ir::{ActionSpace, EnvInfo};

/// All canonical ids, in display order.
pub fn all() -> Vec<EnvInfo> {
    vec![EnvInfo {
        id: "gymnax::CartPole-v1".into(),
        obs_space: "Box(4)".into(),
        action_space_text: "Discrete(2)".into(),
        obs_dim: 4,
        action: ActionSpace::Discrete(2),
        max_steps: Some(500),
        agents: 1,
    }]
}

/// Look up a canonical id or alias.
pub fn lookup(id: &str) -> Option<EnvInfo> {
    all().into_iter().find(|e| e.id == id)
}
