//! The external-environment bridge: environments living in subprocesses that speak the binary
//! protocol of `docs/bridge.md` over stdin/stdout (the Python Gymnasium adapter in
//! `bridge/python/`, or any program that implements it).
//!
//! Ids: `gym::<Gymnasium id>` runs `$MEMORAXC_PYTHON -m memoraxc_bridge <id>` (default
//! interpreter `python3`); `external::<command line>` runs the command as given (the `.mx` form
//! `external("cmd")` is the same id). Knobs (environment variables, performance only — results do
//! not depend on them): `MEMORAXC_BRIDGE_PROCESSES` (processes per batch, default 1) and
//! `MEMORAXC_BRIDGE_TIMEOUT` (seconds to wait for any reply, default 60).

pub mod process;
pub mod protocol;
pub mod vec;

use std::time::Duration;

use crate::check::ir::EnvInfo;
use process::Worker;

pub use vec::BridgeEnv;

/// Prefix of Gymnasium ids.
pub const GYM: &str = "gym::";
/// Prefix of arbitrary adapter commands.
pub const EXTERNAL: &str = "external::";

/// True when `id` names a bridged environment.
pub fn is_bridge_id(id: &str) -> bool {
    id.starts_with(GYM) || id.starts_with(EXTERNAL)
}

/// The command line that serves `id`.
pub fn command(id: &str) -> Result<Vec<String>, String> {
    if let Some(name) = id.strip_prefix(GYM) {
        if name.trim().is_empty() {
            return Err("`gym::` needs a Gymnasium id, e.g. `gym::CartPole-v1`".into());
        }
        let python = std::env::var("MEMORAXC_PYTHON").unwrap_or_else(|_| "python3".into());
        return Ok(vec![
            python,
            "-m".into(),
            "memoraxc_bridge".into(),
            name.to_string(),
        ]);
    }
    if let Some(cmd) = id.strip_prefix(EXTERNAL) {
        return process::split_command(cmd);
    }
    Err(format!("`{id}` is not a bridge id"))
}

/// Seconds to wait for any reply (`MEMORAXC_BRIDGE_TIMEOUT`, default 60).
pub fn timeout() -> Duration {
    let secs = std::env::var("MEMORAXC_BRIDGE_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(60.0);
    Duration::from_secs_f64(secs)
}

/// Processes per batch (`MEMORAXC_BRIDGE_PROCESSES`, default 1), at most one per environment.
pub fn processes(num_envs: usize) -> usize {
    std::env::var("MEMORAXC_BRIDGE_PROCESSES")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, num_envs.max(1))
}

/// Start one process, handshake for `n` environments, and return it with the spaces.
pub(crate) fn connect(
    id: &str,
    n: usize,
    label: String,
) -> Result<(Worker, protocol::Spaces), String> {
    let argv = command(id)?;
    let mut w = Worker::spawn(&argv, label)?;
    w.send(protocol::HELLO, &protocol::hello(n))?;
    let body = w.recv(protocol::SPACES, timeout())?;
    let spaces = protocol::decode_spaces(&body).map_err(|e| format!("{id}: handshake: {e}"))?;
    if spaces.num_envs as usize != n {
        return Err(format!(
            "{id}: handshake: asked for {n} environments, the adapter made {}",
            spaces.num_envs
        ));
    }
    Ok((w, spaces))
}

/// The checker-facing description of a bridged id, from a one-environment handshake.
pub fn spaces(id: &str) -> Result<EnvInfo, String> {
    let (_worker, s) = connect(id, 1, format!("`{id}`"))?;
    Ok(info_from(id, &s))
}

/// An [`EnvInfo`] from handshake spaces.
pub fn info_from(id: &str, s: &protocol::Spaces) -> EnvInfo {
    EnvInfo {
        id: id.to_string(),
        obs_space: s.obs_text.clone(),
        action_space_text: s.action_text.clone(),
        obs_dim: s.obs_dim,
        action: s.action.clone(),
        max_steps: s.max_steps,
        agents: 1,
    }
}
