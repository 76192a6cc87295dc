//! Rules for the replay-based algorithms `r2d2` and `sac`: replay windows must fit the buffer,
//! burn-in must be shorter than the trained sequence, update frequencies must be whole vector
//! steps, and `sac` needs separate actor and critic networks.

use super::eval::{Elab, EntryCall};
use super::ir::{self, CarryTy, Value};
use crate::diag::Diag;

fn has_carry(n: &ir::Network) -> bool {
    n.encoder.carry != CarryTy::Unit || n.torso.carry != CarryTy::Unit
}

/// Check an `r2d2` or `sac` agent.
pub(crate) fn check(el: &mut Elab<'_>, algo: &EntryCall, nets: &[ir::Network]) {
    let name = algo.entry.name;
    let h = &algo.args;
    let i = |k: &str, d: i64| h.get(k).and_then(Value::as_int).unwrap_or(d);
    let recurrent = nets.iter().any(has_carry);
    let (ne, buf, tf) = (
        i("num_envs", 1),
        i("buffer_size", 1),
        i("train_frequency", 1),
    );
    let (burn, seq) = (i("burn_in", 0), i("seq_len", 1));
    if name == "sac" && recurrent && burn >= seq && seq > 0 && burn > 0 {
        el.err(
            Diag::error(
                "MX0508",
                format!("burn_in ({burn}) must be shorter than seq_len ({seq})"),
                algo.arg_span("burn_in"),
                "burn-in",
            )
            .with_label(algo.arg_span("seq_len"), "sequence length")
            .with_help(format!("use burn_in < {seq}")),
        );
    }
    if ne > 0 && tf % ne != 0 {
        el.err(
            Diag::error(
                "MX0507",
                format!(
                    "train_frequency {tf} is not a multiple of num_envs {ne} ({tf} % {ne} = {})",
                    tf % ne
                ),
                algo.arg_span("train_frequency"),
                "train_frequency",
            )
            .with_label(algo.arg_span("num_envs"), format!("{ne} envs"))
            .with_help(format!("use train_frequency = {}", ((tf / ne).max(1)) * ne)),
        );
    }
    let window = match name {
        "r2d2" => burn + seq + i("n_step", 1),
        _ if recurrent => burn + seq + 1,
        _ => 1,
    };
    if ne > 0 && buf / ne < window {
        el.err(
            Diag::error(
                "MX0520",
                format!(
                    "the replay buffer holds {} steps per environment ({buf} / {ne}), fewer than one replayed window of {window}",
                    buf / ne
                ),
                algo.arg_span("buffer_size"),
                "buffer_size",
            )
            .with_label(algo.arg_span("num_envs"), format!("{ne} envs"))
            .with_help(format!("use buffer_size >= {}", window * ne)),
        );
    }
    if name != "sac" {
        return;
    }
    if nets.len() == 1 {
        el.err(
            Diag::error(
                "MX0521",
                "`sac` needs separate actor and critic networks",
                algo.span,
                "sac",
            )
            .with_help("write `actor = ...` and `critic = twin_q()` slots instead of `network = ... -> heads(...)`"),
        );
    }
}
