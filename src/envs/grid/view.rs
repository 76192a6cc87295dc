//! The egocentric partial view (MiniGrid's `gen_obs`): a `V × V` window in front of the agent,
//! rotated so that the agent sits at the bottom centre facing up, with occlusion by walls and
//! shut doors (MiniGrid's `process_vis`), encoded as (object, colour, state) per cell.
//!
//! The flat observation is MiniGrid's `obs["image"]` array of shape `(V, V, 3)` flattened in
//! C order: index `(i * V + j) * 3 + channel`, where `i` is the view column (left → right) and
//! `j` the view row (far → near); the agent is at `(i, j) = (V / 2, V − 1)`.

use super::world::{Cell, World, dir_vec, obj};

/// Default view side (MiniGrid's `agent_view_size`).
pub const VIEW: usize = crate::check::env_table::MINIGRID_VIEW;

/// The view cells before encoding, indexed `[j][i]` → world cell, plus the visibility mask.
pub fn view_cells(w: &World, v: usize) -> (Vec<Cell>, Vec<bool>) {
    let (fx, fy) = dir_vec(w.dir);
    let (rx, ry) = (-fy, fx);
    let (ax, ay) = (w.pos.0 as i64, w.pos.1 as i64);
    let half = (v / 2) as i64;
    let mut cells = vec![Cell::WALL; v * v];
    for j in 0..v {
        let ahead = (v - 1 - j) as i64;
        for i in 0..v {
            let side = i as i64 - half;
            let x = ax + fx * ahead + rx * side;
            let y = ay + fy * ahead + ry * side;
            cells[j * v + i] = w.get_or_wall(x, y);
        }
    }
    let mask = visibility(&cells, v);
    (cells, mask)
}

/// MiniGrid's `process_vis`: light spreads from the agent row by row (near → far), sideways
/// and one row up, stopping at cells that cannot be seen behind.
pub fn visibility(cells: &[Cell], v: usize) -> Vec<bool> {
    let mut mask = vec![false; v * v];
    let idx = |i: usize, j: usize| j * v + i;
    mask[idx(v / 2, v - 1)] = true;
    for j in (0..v).rev() {
        for i in 0..v - 1 {
            if !mask[idx(i, j)] || !cells[idx(i, j)].see_behind() {
                continue;
            }
            mask[idx(i + 1, j)] = true;
            if j > 0 {
                mask[idx(i + 1, j - 1)] = true;
                mask[idx(i, j - 1)] = true;
            }
        }
        for i in (1..v).rev() {
            if !mask[idx(i, j)] || !cells[idx(i, j)].see_behind() {
                continue;
            }
            mask[idx(i - 1, j)] = true;
            if j > 0 {
                mask[idx(i - 1, j - 1)] = true;
                mask[idx(i, j - 1)] = true;
            }
        }
    }
    mask
}

/// Write the encoded `(V, V, 3)` view of `w` into `out` (length `3 V²`).
pub fn observe(w: &World, v: usize, out: &mut [f32]) {
    let (mut cells, mask) = view_cells(w, v);
    // the agent sees what it carries in its own cell
    cells[(v - 1) * v + v / 2] = w.carrying.unwrap_or(Cell::EMPTY);
    for i in 0..v {
        for j in 0..v {
            let o = (i * v + j) * 3;
            let c = if mask[j * v + i] {
                cells[j * v + i]
            } else {
                Cell::new(obj::UNSEEN, 0, 0)
            };
            out[o] = c.obj as f32;
            out[o + 1] = c.colour as f32;
            out[o + 2] = c.state as f32;
        }
    }
}
