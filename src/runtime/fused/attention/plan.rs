//! The structured mask of the fused attention and its plan: which keys each query sees
//! ([`Windows`]) and, per block of [`QUERY_BLOCK`] queries, the key columns the block multiplies.

use super::super::softmax::Segments;

/// Which keys each query sees, and the ALiBi slopes: the structured form of a window mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Windows {
    /// Batch rows `B`.
    pub b: usize,
    /// Queries per batch row `T`.
    pub t: usize,
    /// Keys per batch row `L`.
    pub l: usize,
    /// Visible key ranges `[lo, hi)` of query `i` of batch row `bi`, at `bi · T + i`: ascending,
    /// non-overlapping, within `L`; an empty range is `(0, 0)`.
    pub ranges: Vec<Segments>,
    /// ALiBi slope per head (0: no positional bias); its length is the head count `H`.
    pub slopes: Vec<f32>,
    /// Position of each query on the timeline `[T]`.
    pub qpos: Vec<f32>,
    /// Position of each key on the timeline `[L]`.
    pub kpos: Vec<f32>,
}

impl Windows {
    /// Heads `H`.
    pub fn heads(&self) -> usize {
        self.slopes.len()
    }

    /// The dense additive bias `[B, H, T, L]` these windows stand for: `−slope · (qpos − kpos)`
    /// on visible keys, `−1e9` elsewhere (the reference path's mask).
    pub fn dense_bias(&self) -> Vec<f32> {
        let (t, l, h) = (self.t, self.l, self.heads());
        let mut bias = vec![-1.0e9f32; self.b * h * t * l];
        for bi in 0..self.b {
            for i in 0..t {
                for (hi, &slope) in self.slopes.iter().enumerate() {
                    let row = &mut bias[((bi * h + hi) * t + i) * l..][..l];
                    for &(lo, hi_) in &self.ranges[bi * t + i] {
                        for (j, x) in row.iter_mut().enumerate().take(hi_).skip(lo) {
                            *x = -slope * (self.qpos[i] - self.kpos[j]);
                        }
                    }
                }
            }
        }
        bias
    }

    /// Panics unless the ranges and positions fit `B`, `T`, `L` and every query sees a key.
    pub(super) fn validate(&self) {
        assert_eq!(
            self.ranges.len(),
            self.b * self.t,
            "windows: one entry per query"
        );
        assert_eq!(self.qpos.len(), self.t, "windows: one position per query");
        assert_eq!(self.kpos.len(), self.l, "windows: one position per key");
        for r in &self.ranges {
            let [(a0, a1), (b0, b1)] = *r;
            assert!(
                a0 <= a1 && b0 <= b1 && b1 <= self.l,
                "windows: range outside the keys"
            );
            assert!(
                a1 <= b0 || b0 == b1,
                "windows: ranges overlap or are out of order"
            );
            assert!(a1 > a0 || b1 > b0, "windows: a query sees no key");
        }
    }
}

/// Queries per block: each block of query rows multiplies only the key columns that some row of
/// the block can see.
pub(super) const QUERY_BLOCK: usize = 32;

/// Key runs closer than this are multiplied as one (one product instead of two).
const MERGE_GAP: usize = 16;

/// Query rows per group: within a block, the register tiles of the products follow each
/// group's own key columns ([`Group`]), not the whole block's.
pub(super) const GROUP: usize = 4;

/// A group's key ranges closer than this are multiplied as one.
const GROUP_GAP: usize = 8;

/// Rows `r0 .. r1` of a block (block-relative) and the key columns some row of them sees.
#[derive(Debug)]
pub(super) struct Group {
    pub(super) r0: usize,
    pub(super) r1: usize,
    /// The union of the rows' visible columns, in the block's compact coordinates (ascending).
    pub(super) union: Vec<(usize, usize)>,
    /// The same columns as `(compact column, key column, length)` pieces, one per block run.
    pub(super) keys: Vec<(usize, usize, usize)>,
}

impl Group {
    /// Whether some row of the group sees a compact column in `[c0, c1)`.
    pub(super) fn touches(&self, (c0, c1): (usize, usize)) -> bool {
        self.union.iter().any(|&(a, b)| a < c1 && c0 < b)
    }
}

/// One query block of one batch row: its rows, the key columns `runs` that some row sees, their
/// total `width` (the row length of the block's compact probabilities), each row's visible
/// columns in those compact coordinates, and its groups of [`GROUP`] rows.
#[derive(Debug)]
pub(super) struct Block {
    pub(super) i0: usize,
    i1: usize,
    runs: Vec<(usize, usize)>,
    pub(super) width: usize,
    pub(super) segs: Vec<Segments>,
    pub(super) groups: Vec<Group>,
}

impl Block {
    pub(super) fn rows(&self) -> usize {
        self.i1 - self.i0
    }

    /// The runs with their offsets in the compact columns.
    pub(super) fn compact_runs(&self) -> impl Iterator<Item = (usize, (usize, usize))> + '_ {
        self.runs.iter().scan(0, |o, &(c0, c1)| {
            let at = *o;
            *o += c1 - c0;
            Some((at, (c0, c1)))
        })
    }
}

/// The query blocks of every batch row, `[B][T / QUERY_BLOCK]` flattened.
pub(super) fn plan(w: &Windows) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for bi in 0..w.b {
        for i0 in (0..w.t).step_by(QUERY_BLOCK) {
            let i1 = (i0 + QUERY_BLOCK).min(w.t);
            let rows = &w.ranges[bi * w.t + i0..bi * w.t + i1];
            spans.clear();
            spans.extend(rows.iter().flatten().filter(|&&(a, b)| b > a).copied());
            spans.sort_unstable();
            let mut runs: Vec<(usize, usize)> = Vec::new();
            for &(a, b) in &spans {
                match runs.last_mut() {
                    Some(last) if a < last.1 + MERGE_GAP => last.1 = last.1.max(b),
                    _ => runs.push((a, b)),
                }
            }
            let mut starts = Vec::with_capacity(runs.len());
            let mut width = 0;
            for &(c0, c1) in &runs {
                starts.push(width);
                width += c1 - c0;
            }
            // a row's range lies inside one run: the last run starting at or before it
            let to_compact = |(a, b): (usize, usize)| {
                if a == b {
                    return (0, 0);
                }
                let r = runs.partition_point(|&(c0, _)| c0 <= a) - 1;
                let at = starts[r] + a - runs[r].0;
                (at, at + b - a)
            };
            let segs: Vec<Segments> = rows.iter().map(|r| r.map(to_compact)).collect();
            let groups = groups(&segs, &runs, &starts);
            blocks.push(Block {
                i0,
                i1,
                runs,
                width,
                segs,
                groups,
            });
        }
    }
    blocks
}

/// The groups of [`GROUP`] rows of a block whose rows see `segs` (compact coordinates), with
/// the block's key `runs` starting at compact columns `starts`.
fn groups(segs: &[Segments], runs: &[(usize, usize)], starts: &[usize]) -> Vec<Group> {
    let mut spans = Vec::with_capacity(2 * GROUP);
    (0..segs.len())
        .step_by(GROUP)
        .map(|r0| {
            let r1 = (r0 + GROUP).min(segs.len());
            spans.clear();
            spans.extend(segs[r0..r1].iter().flatten().filter(|&&(a, b)| b > a));
            spans.sort_unstable();
            let mut union: Vec<(usize, usize)> = Vec::with_capacity(2);
            for &(a, b) in &spans {
                match union.last_mut() {
                    Some(last) if a <= last.1 + GROUP_GAP => last.1 = last.1.max(b),
                    _ => union.push((a, b)),
                }
            }
            let mut keys = Vec::with_capacity(union.len());
            for &(a, b) in &union {
                for (&(c0, c1), &o) in runs.iter().zip(starts) {
                    let (lo, hi) = (a.max(o), b.min(o + c1 - c0));
                    if lo < hi {
                        keys.push((lo, c0 + lo - o, hi - lo));
                    }
                }
            }
            Group {
                r0,
                r1,
                union,
                keys,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_each_rows_window_in_compact_columns() {
        let w = Windows {
            b: 1,
            t: 3,
            l: 60,
            ranges: vec![[(0, 4), (40, 42)], [(1, 5), (41, 43)], [(0, 0), (42, 44)]],
            slopes: vec![0.0],
            qpos: vec![0.0; 3],
            kpos: vec![0.0; 60],
        };
        let blocks = plan(&w);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].runs, vec![(0, 5), (40, 44)]);
        assert_eq!(blocks[0].width, 9);
        assert_eq!(
            blocks[0].segs,
            vec![[(0, 4), (5, 7)], [(1, 5), (6, 8)], [(0, 0), (7, 9)]]
        );
        // one group of the three rows: their columns are close enough to be one range, which
        // covers both runs
        let [g] = &blocks[0].groups[..] else {
            panic!("one group")
        };
        assert_eq!((g.r0, g.r1), (0, 3));
        assert_eq!(g.union, vec![(0, 9)]);
        assert_eq!(g.keys, vec![(0, 0, 5), (5, 40, 4)]);
    }

    #[test]
    fn groups_of_four_rows_follow_their_own_columns() {
        // sliding windows of 3 keys over memory keys 0.. and new keys 50..: the block multiplies
        // 18 columns of each, a group of four rows 6 of each, as two ranges
        let t = 16;
        let w = Windows {
            b: 1,
            t,
            l: 70,
            ranges: (0..t).map(|i| [(i, i + 3), (50 + i, 53 + i)]).collect(),
            slopes: vec![0.0],
            qpos: vec![0.0; t],
            kpos: vec![0.0; 70],
        };
        let blocks = plan(&w);
        assert_eq!(blocks[0].runs, vec![(0, 18), (50, 68)]);
        let g = &blocks[0].groups;
        assert_eq!(g.len(), 4);
        assert_eq!((g[0].r0, g[0].r1), (0, 4));
        assert_eq!(g[0].union, vec![(0, 6), (18, 24)]);
        assert_eq!(g[0].keys, vec![(0, 0, 6), (18, 50, 6)]);
        assert_eq!((g[3].r0, g[3].r1), (12, 16));
        assert_eq!(g[3].union, vec![(12, 18), (30, 36)]);
        assert_eq!(g[3].keys, vec![(12, 12, 6), (30, 62, 6)]);
        assert!(g[3].touches((17, 19)) && !g[3].touches((18, 30)));
    }
}
