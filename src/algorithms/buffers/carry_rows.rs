//! Carries as per-environment host rows: every leaf `[B, n]` contributes `n` floats to each
//! environment's row, depth first, so a row can be stored next to a transition and a batch of
//! rows rebuilt into a carry of the same tree.

use burn::prelude::*;

use crate::algorithms::common::{host, tensor};
use crate::runtime::carry::Carry;

/// Leaf widths of a carry, depth first.
pub fn widths(carry: &Carry) -> Vec<usize> {
    carry.shapes().iter().map(|s| s[1]).collect()
}

/// `[B, floats_per_env]` row-major host copy of a carry with `b` rows.
pub fn to_rows(carry: &Carry, b: usize) -> Vec<f32> {
    let mut leaves: Vec<(usize, Vec<f32>)> = Vec::new();
    collect(carry, &mut leaves);
    let width: usize = leaves.iter().map(|l| l.0).sum();
    let mut out = vec![0.0; b * width];
    let mut off = 0;
    for (n, data) in &leaves {
        for r in 0..b {
            out[r * width + off..r * width + off + n].copy_from_slice(&data[r * n..(r + 1) * n]);
        }
        off += n;
    }
    out
}

fn collect(carry: &Carry, out: &mut Vec<(usize, Vec<f32>)>) {
    match carry {
        Carry::Unit => {}
        Carry::Leaf(ts) => {
            for t in ts {
                out.push((t.dims()[1], host(t.clone())));
            }
        }
        Carry::Tuple(cs) => cs.iter().for_each(|c| collect(c, out)),
    }
}

/// Rebuild a carry with the tree of `like` from `rows` (`[B, floats_per_env]` row-major).
pub fn from_rows(like: &Carry, rows: &[f32], b: usize, device: &Device) -> Carry {
    let width = like.floats_per_env();
    let mut off = 0;
    build(like, rows, b, width, &mut off, device)
}

fn build(
    like: &Carry,
    rows: &[f32],
    b: usize,
    width: usize,
    off: &mut usize,
    device: &Device,
) -> Carry {
    match like {
        Carry::Unit => Carry::Unit,
        Carry::Leaf(ts) => Carry::Leaf(
            ts.iter()
                .map(|t| {
                    let n = t.dims()[1];
                    let mut data = Vec::with_capacity(b * n);
                    for r in 0..b {
                        data.extend_from_slice(&rows[r * width + *off..r * width + *off + n]);
                    }
                    *off += n;
                    tensor(data, [b, n], device)
                })
                .collect(),
        ),
        Carry::Tuple(cs) => Carry::Tuple(
            cs.iter()
                .map(|c| build(c, rows, b, width, off, device))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_a_nested_carry() {
        let dev = Device::flex();
        let c = Carry::Tuple(vec![
            Carry::Unit,
            Carry::Leaf(vec![
                tensor(vec![1., 2., 3., 4.], [2, 2], &dev),
                tensor(vec![5., 6.], [2, 1], &dev),
            ]),
        ]);
        let rows = to_rows(&c, 2);
        assert_eq!(rows, vec![1., 2., 5., 3., 4., 6.]);
        let back = from_rows(&c, &rows, 2, &dev);
        assert_eq!(to_rows(&back, 2), rows);
        assert_eq!(back.shapes(), c.shapes());
        assert_eq!(widths(&c), vec![2, 1]);
    }
}
