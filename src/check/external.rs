//! Bridged environments in the checker (`gym::<id>`, `external::<cmd>`, `external("cmd")`).
//!
//! Their spaces are only known by asking the subprocess. The checker does not depend on the
//! runtime: whoever drives it (the CLI) installs a [`Resolver`] that performs the bridge
//! handshake; without one, a bridged id is an `MX0215` error. Answers are cached per id, so
//! `check` then `train` in one process asks once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::ir::EnvInfo;
use crate::syntax::ast::{Expr, ExprKind};

/// Maps a bridged id to its spaces (or the reason it could not).
pub type Resolver = dyn Fn(&str) -> Result<EnvInfo, String> + Send + Sync;

static RESOLVER: RwLock<Option<Arc<Resolver>>> = RwLock::new(None);
static CACHE: Mutex<Option<HashMap<String, Result<EnvInfo, String>>>> = Mutex::new(None);

/// Install the resolver used for every later check in this process.
pub fn install(r: Arc<Resolver>) {
    *RESOLVER.write().expect("resolver lock") = Some(r);
    *CACHE.lock().expect("cache lock") = None;
}

/// True for ids served by the bridge.
pub fn is_external(id: &str) -> bool {
    id.starts_with("gym::") || id.starts_with("external::")
}

/// The spaces of a bridged id, through the installed resolver (cached).
pub fn resolve(id: &str) -> Result<EnvInfo, String> {
    if let Some(hit) = CACHE
        .lock()
        .expect("cache lock")
        .as_ref()
        .and_then(|c| c.get(id))
    {
        return hit.clone();
    }
    let r = RESOLVER.read().expect("resolver lock").clone();
    let answer = match r {
        Some(r) => r(id),
        None => Err("this checker has no environment bridge to ask for the spaces".to_string()),
    };
    CACHE
        .lock()
        .expect("cache lock")
        .get_or_insert_with(HashMap::new)
        .insert(id.to_string(), answer.clone());
    answer
}

/// `external("cmd ...")` as an id: `Some(Ok("external::cmd ..."))`; `Some(Err(why))` for a
/// malformed call; `None` when `e` is not such a call.
pub fn call_id(e: &Expr) -> Option<Result<String, String>> {
    let ExprKind::Call(name, args) = &e.kind else {
        return None;
    };
    if name.name != "external" {
        return None;
    }
    Some(match args.as_slice() {
        [a] if a.name.is_none() => match &a.value.kind {
            ExprKind::Str(cmd) if !cmd.trim().is_empty() => Ok(format!("external::{cmd}")),
            _ => Err("`external` takes the command line as a string".into()),
        },
        _ => Err("`external` takes exactly one argument: the command line string".into()),
    })
}
