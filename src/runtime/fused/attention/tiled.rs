//! The attention's host passes on the register tiles of [`super::tiles`], for x86-64 CPUs with
//! AVX2 and FMA and heads 8, 16, 24 or 32 wide (other calls take the `gemm` passes).
//!
//! Per batch row and head, the keys (forward) or values (backward) are transposed once into a
//! `[D, L]` buffer for the score tiles. Within a query block, each group of
//! [`GROUP`](super::plan::GROUP) rows multiplies only the key columns its own rows see: under
//! PPO-GTrXL's sliding windows (64 memory rows and 129 steps per query) a block of 32 queries
//! spans 255 columns where each query sees 193, a group of 4 spans 199. The other products read
//! keys, values and queries where they lie.

use super::super::math::transpose8;
use super::plan::{Block, GROUP, Group};
use super::tiles::{KeyRows, cols, rows_times, scores};
use super::{AttentionGrads, AttentionTape, Dims, Inputs, PARTS, PartDims, Windows};
use super::{pieces, spare_probabilities};
use crate::runtime::fused::softmax::{softmax_grad_window, softmax_segments};

/// Whether the tiles take heads `dh` wide on this CPU.
pub(super) fn suits(dh: usize) -> bool {
    dh.is_multiple_of(8) && (8..=32).contains(&dh) && super::super::math::has_avx2_fma()
}

/// Forward as [`super::forward_host`] does it: the output and the compact probabilities.
pub(super) fn forward(
    dp: (Dims, &[PartDims; PARTS]),
    w: &Windows,
    blocks: &[Block],
    x: &Inputs<'_>,
) -> (Vec<f32>, Vec<f32>) {
    match dp.0.dh() / 8 {
        1 => forward_nv::<1>(dp, w, blocks, x),
        2 => forward_nv::<2>(dp, w, blocks, x),
        3 => forward_nv::<3>(dp, w, blocks, x),
        _ => forward_nv::<4>(dp, w, blocks, x),
    }
}

/// Backward as [`super::backward_host`] does it.
pub(super) fn backward(
    tape: &AttentionTape,
    dout: &[f32],
    need: ([bool; PARTS], [bool; PARTS]),
) -> AttentionGrads {
    match tape.d.dh() / 8 {
        1 => backward_nv::<1>(tape, dout, need),
        2 => backward_nv::<2>(tape, dout, need),
        3 => backward_nv::<3>(tape, dout, need),
        _ => backward_nv::<4>(tape, dout, need),
    }
}

/// The blocks of batch row `bi`.
fn row_blocks(blocks: &[Block], d: Dims, bi: usize) -> &[Block] {
    let per_row = blocks.len() / d.b.max(1);
    &blocks[bi * per_row..(bi + 1) * per_row]
}

fn forward_nv<const NV: usize>(
    (d, parts): (Dims, &[PartDims; PARTS]),
    w: &Windows,
    blocks: &[Block],
    x: &Inputs<'_>,
) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(d.dh(), 8 * NV, "attention tiles: head width");
    let l = w.l;
    let total: usize = d.h * blocks.iter().map(|b| b.rows() * b.width).sum::<usize>();
    let mut out = vec![0.0f32; d.t * d.b * d.f];
    let mut p = spare_probabilities(total);
    let (mut kt, mut s, mut kb, mut runs) = (vec![0.0f32; d.dh() * l], vec![], vec![], vec![]);
    let rs = d.b * d.f;
    let mut at = 0;
    for bi in 0..d.b {
        for hi in 0..d.h {
            transpose_keys::<NV>(&mut kt, l, (d, parts), &x.k, (bi, hi));
            for blk in row_blocks(blocks, d, bi) {
                let (n, wd) = (blk.rows(), blk.width);
                kb.clear();
                for (_, run) in blk.compact_runs() {
                    kb.extend(w.kpos[run.0..run.1].iter().map(|&x| w.slopes[hi] * x));
                }
                s.resize(GROUP * wd, 0.0);
                // group by group, so that its scores and probabilities are still in L1 when
                // the softmax and the product with the values read them
                for g in &blk.groups {
                    let q = &x.q[d.query_at(bi, hi, blk.i0 + g.r0)..];
                    for &(cc, kc, len) in &g.keys {
                        let dst = (&mut s[cc..], wd);
                        group_scores::<NV>((q, rs), (&kt[kc..], l), dst, g, len, d.scale());
                    }
                    let rows = g.r1 - g.r0;
                    let pg = &mut p[at + g.r0 * wd..at + g.r1 * wd];
                    softmax_segments(&s[..rows * wd], pg, wd, &kb, &blk.segs[g.r0..g.r1]);
                    key_rows(&mut runs, g, (d, parts), &x.v, (bi, hi));
                    let o = &mut out[d.query_at(bi, hi, blk.i0 + g.r0)..];
                    group_rows_times::<NV>((pg, wd), &runs, (o, rs), g, 1.0);
                }
                at += n * wd;
            }
        }
    }
    (out, p)
}

fn backward_nv<const NV: usize>(
    tape: &AttentionTape,
    dout: &[f32],
    (need_k, need_v): ([bool; PARTS], [bool; PARTS]),
) -> AttentionGrads {
    let (d, parts) = (tape.d, &tape.parts);
    assert_eq!(d.dh(), 8 * NV, "attention tiles: head width");
    let q = super::f32s(&tape.q);
    let (k, v) = (
        tape.k.each_ref().map(super::f32s),
        tape.v.each_ref().map(super::f32s),
    );
    let l: usize = parts.iter().map(|p| p.len).sum();
    let mut dq = vec![0.0f32; d.t * d.b * d.f];
    let zeros = |p: usize, need: bool| need.then(|| vec![0.0f32; d.b * parts[p].len * d.f]);
    let mut dk: [Option<Vec<f32>>; PARTS] = std::array::from_fn(|p| zeros(p, need_k[p]));
    let mut dv: [Option<Vec<f32>>; PARTS] = std::array::from_fn(|p| zeros(p, need_v[p]));
    let (mut vt, mut ds, mut runs) = (vec![0.0f32; d.dh() * l], vec![], vec![]);
    let rs = d.b * d.f;
    let mut at = 0;
    for bi in 0..d.b {
        for hi in 0..d.h {
            transpose_keys::<NV>(&mut vt, l, (d, parts), &v, (bi, hi));
            for blk in row_blocks(&tape.blocks, d, bi) {
                let (n, wd) = (blk.rows(), blk.width);
                let pb = &tape.p[at..at + n * wd];
                ds.resize(n * wd, 0.0);
                let rows_at = |r: usize| d.query_at(bi, hi, blk.i0 + r);
                // per group: dP = dO Vᵀ over its columns, dS = P ⊙ (dP − rowsum(dP ⊙ P)) (0
                // elsewhere), dQ = dS K / √d
                for g in &blk.groups {
                    let dob = &dout[rows_at(g.r0)..];
                    for &(cc, kc, len) in &g.keys {
                        let dst = &mut ds[g.r0 * wd + cc..];
                        group_scores::<NV>((dob, rs), (&vt[kc..], l), (dst, wd), g, len, 1.0);
                    }
                    let (r0, r1) = (g.r0 * wd, g.r1 * wd);
                    let segs = &blk.segs[g.r0..g.r1];
                    softmax_grad_window(&pb[r0..r1], &mut ds[r0..r1], wd, segs, &g.union);
                    key_rows(&mut runs, g, (d, parts), &k, (bi, hi));
                    let dst = (&mut dq[rows_at(g.r0)..], rs);
                    group_rows_times::<NV>((&ds[r0..r1], wd), &runs, dst, g, d.scale());
                }
                // dK = dSᵀ Q / √d, dV = Pᵀ dO, for the parts that take them
                for (o, run) in blk.compact_runs() {
                    for (o2, pi, local) in pieces(parts, run) {
                        let (dk, dv) = (&mut dk[pi], &mut dv[pi]);
                        if dk.is_none() && dv.is_none() {
                            continue;
                        }
                        let part = &parts[pi];
                        let mut c = 0;
                        while c < local.1 - local.0 {
                            let cw = tile_cols::<NV>().min(local.1 - local.0 - c);
                            let cc = o + o2 + c;
                            let (q0, q1) = touching_rows(&blk.groups, (cc, cc + cw));
                            let key_at = part.at(&d, bi, hi, local.0 + c);
                            let dst_rs = part.rs(&d);
                            if q0 < q1 {
                                let m = q1 - q0;
                                if let Some(dk) = dk {
                                    let src = (&ds[q0 * wd + cc..], wd);
                                    let a = (&q[rows_at(q0)..], rs);
                                    let dst = (&mut dk[key_at..], dst_rs);
                                    group_cols::<NV>(src, a, m, dst, cw, d.scale());
                                }
                                if let Some(dv) = dv {
                                    let src = (&pb[q0 * wd + cc..], wd);
                                    let a = (&dout[rows_at(q0)..], rs);
                                    group_cols::<NV>(
                                        src,
                                        a,
                                        m,
                                        (&mut dv[key_at..], dst_rs),
                                        cw,
                                        1.0,
                                    );
                                }
                            }
                            c += cw;
                        }
                    }
                }
                at += n * wd;
            }
        }
    }
    (dq, dk, dv)
}

/// `t[e·l + c] = x[key c of head hi, batch row bi][e]`: every key (or value) of one head,
/// transposed to `[D, L]`, eight keys at a time.
fn transpose_keys<const NV: usize>(
    t: &mut [f32],
    l: usize,
    (d, parts): (Dims, &[PartDims; PARTS]),
    xs: &[&[f32]; PARTS],
    (bi, hi): (usize, usize),
) {
    let dh = d.dh();
    assert!(t.len() >= dh * l, "attention tiles: transposed keys buffer");
    for (part, x) in parts.iter().zip(xs) {
        if part.len == 0 {
            continue;
        }
        let rs = part.rs(&d);
        assert!(
            part.start + part.len <= l && fits(x.len(), part.len, rs, part.at(&d, bi, hi, 0) + dh),
            "attention tiles: keys outside their part"
        );
        let mut c = 0;
        while c + 8 <= part.len {
            let src = x[part.at(&d, bi, hi, c)..].as_ptr();
            // SAFETY: the CPU has AVX2 (`suits`); rows c..c+8 of the part lie in `x` and
            // columns start+c..start+c+8 of the dh rows in `t` (asserted above).
            unsafe { transpose8::<NV>(src, rs, t[part.start + c..].as_mut_ptr(), l) };
            c += 8;
        }
        for c in c..part.len {
            let row = &x[part.at(&d, bi, hi, c)..][..dh];
            for (e, &v) in row.iter().enumerate() {
                t[e * l + part.start + c] = v;
            }
        }
    }
}

/// The key rows behind group `g`'s columns, read where they lie in each part.
fn key_rows(
    runs: &mut Vec<KeyRows>,
    g: &Group,
    (d, parts): (Dims, &[PartDims; PARTS]),
    xs: &[&[f32]; PARTS],
    (bi, hi): (usize, usize),
) {
    runs.clear();
    for &(cc, kc, len) in &g.keys {
        for (o2, pi, (c0, c1)) in pieces(parts, (kc, kc + len)) {
            let part = &parts[pi];
            let (first, rs) = (part.at(&d, bi, hi, c0), part.rs(&d));
            assert!(
                first + (c1 - c0 - 1) * rs + d.dh() <= xs[pi].len(),
                "attention tiles: key rows outside their part"
            );
            runs.push(KeyRows {
                c: cc + o2,
                x: xs[pi][first..].as_ptr(),
                rs,
                len: c1 - c0,
            });
        }
    }
}

/// Rows `[q0, q1)` of the groups that see some compact column in `cols` (empty if none).
fn touching_rows(groups: &[Group], cols: (usize, usize)) -> (usize, usize) {
    let mut touching = groups.iter().filter(|g| g.touches(cols));
    match touching.next() {
        None => (0, 0),
        Some(first) => (first.r0, touching.next_back().map_or(first.r1, |g| g.r1)),
    }
}

/// Whether a strided view of `rows` rows of `cols` values at stride `rs` lies in `len` values.
fn fits(len: usize, rows: usize, rs: usize, cols: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * rs + cols <= len
}

/// [`scores`] for the rows of group `g` against `n` keys: `a` the rows' queries (or `dO`),
/// `bt` the transposed keys from the first column, `s` the destination from the first column.
fn group_scores<const NV: usize>(
    (a, ars): (&[f32], usize),
    (bt, ldb): (&[f32], usize),
    (s, lds): (&mut [f32], usize),
    g: &Group,
    n: usize,
    alpha: f32,
) {
    let rows = g.r1 - g.r0;
    assert!(
        fits(a.len(), rows, ars, 8 * NV)
            && fits(bt.len(), 8 * NV, ldb, n)
            && fits(s.len(), rows, lds, n),
        "attention tiles: scores outside their buffers"
    );
    let (a, bt, s) = (a.as_ptr(), bt.as_ptr(), s.as_mut_ptr());
    let mut r = 0;
    // SAFETY: the CPU has AVX2 and FMA (`suits`); every view lies in its buffer (asserted).
    unsafe {
        while r < rows {
            let (a, s) = (a.add(r * ars), s.add(r * lds));
            if rows - r >= 4 {
                scores::<4, NV>(a, ars, bt, ldb, s, lds, n, alpha);
                r += 4;
            } else {
                scores::<1, NV>(a, ars, bt, ldb, s, lds, n, alpha);
                r += 1;
            }
        }
    }
}

/// [`rows_times`] for the rows of group `g`: `p` their probabilities (or `dS`) from the group's
/// first row, `runs` the key rows of their columns, `out` their output rows.
fn group_rows_times<const NV: usize>(
    (p, ldp): (&[f32], usize),
    runs: &[KeyRows],
    (out, ors): (&mut [f32], usize),
    g: &Group,
    alpha: f32,
) {
    let rows = g.r1 - g.r0;
    assert!(
        runs.iter().all(|k| fits(p.len(), rows, ldp, k.c + k.len))
            && fits(out.len(), rows, ors, 8 * NV),
        "attention tiles: row products outside their buffers"
    );
    let (p, out) = (p.as_ptr(), out.as_mut_ptr());
    let mut r = 0;
    // SAFETY: the CPU has AVX2 and FMA; `p` and `out` cover the rows (asserted) and each run's
    // key rows lie in their part (asserted by `key_rows`).
    unsafe {
        while r < rows {
            let (p, o) = (p.add(r * ldp), out.add(r * ors));
            match (rows - r, NV) {
                (4.., 1 | 2) => {
                    rows_times::<4, NV>(p, ldp, runs, o, ors, alpha);
                    r += 4;
                }
                (2.., _) => {
                    rows_times::<2, NV>(p, ldp, runs, o, ors, alpha);
                    r += 2;
                }
                _ => {
                    rows_times::<1, NV>(p, ldp, runs, o, ors, alpha);
                    r += 1;
                }
            }
        }
    }
}

/// Key columns per [`cols`] tile: 12 accumulators.
const fn tile_cols<const NV: usize>() -> usize {
    12 / NV
}

/// [`cols`] for `cw` (at most [`tile_cols`]) key columns over `m` rows: `p` the rows' weights
/// from the first column, `a` the rows' queries (or `dO`), `out` the first key row.
fn group_cols<const NV: usize>(
    (p, ldp): (&[f32], usize),
    (a, ars): (&[f32], usize),
    m: usize,
    (out, ors): (&mut [f32], usize),
    cw: usize,
    alpha: f32,
) {
    assert!(
        cw <= tile_cols::<NV>()
            && fits(p.len(), m, ldp, cw)
            && fits(a.len(), m, ars, 8 * NV)
            && fits(out.len(), cw, ors, 8 * NV),
        "attention tiles: column products outside their buffers"
    );
    let (p, a, out) = (p.as_ptr(), a.as_ptr(), out.as_mut_ptr());
    // SAFETY: the CPU has AVX2 and FMA; every view lies in its buffer (asserted).
    unsafe {
        if cw == tile_cols::<NV>() {
            match NV {
                1 => cols::<12, NV>(p, ldp, a, ars, m, out, ors, alpha),
                2 => cols::<6, NV>(p, ldp, a, ars, m, out, ors, alpha),
                3 => cols::<4, NV>(p, ldp, a, ars, m, out, ors, alpha),
                _ => cols::<3, NV>(p, ldp, a, ars, m, out, ors, alpha),
            }
        } else {
            for j in 0..cw {
                cols::<1, NV>(p.add(j), ldp, a, ars, m, out.add(j * ors), ors, alpha);
            }
        }
    }
}
