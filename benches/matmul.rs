//! The dense products of a PPO-GTrXL minibatch (256 rows, width 64, FFN 256) through
//! `memoraxc`'s product (AVX2 register tiles reading the operands in place) against the `gemm`
//! crate (which packs both operands on every call), single-threaded. Each shape in its three
//! layouts: `x · W` (forward), `dy · Wᵀ` (input gradient), `xᵀ · dy` (weight gradient).
//!
//! `cargo bench --bench matmul` (set `CARGO_TARGET_DIR` as usual).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use memoraxc::runtime::fused::matrix_product;

/// `(rows, in, out)` of the minibatch's products: 64 → 64 projections, the FFN's 64 → 256 and
/// 256 → 64, keys and values over memory + steps (384 rows), one rollout step (8 rows).
const SHAPES: [(usize, usize, usize); 5] = [
    (256, 64, 64),
    (256, 64, 256),
    (256, 256, 64),
    (384, 64, 64),
    (8, 64, 64),
];

/// Deterministic values in [−1, 1).
fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 37 + seed * 11) % 101) as f32 / 50.5 - 1.0)
        .collect()
}

/// `a · b` through the `gemm` crate, as the fused ops called it before the register tiles.
fn with_gemm(
    a: &[f32],
    (m, k): (usize, usize),
    (ars, acs): (isize, isize),
    b: &[f32],
    n: usize,
    (brs, bcs): (isize, isize),
) -> Vec<f32> {
    let mut out = vec![0.0f32; m * n];
    // SAFETY: the views lie inside `a` and `b` (every shape below is built to fit) and `out`
    // holds the m × n result.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            acs,
            ars,
            b.as_ptr(),
            bcs,
            brs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    out
}

fn products(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (rows, fin, fout) in SHAPES {
        let x = values(rows * fin, 1);
        let w = values(fin * fout, 2);
        let dy = values(rows * fout, 3);
        // (name, a, [m, k], a strides, b, n, b strides)
        type Case<'a> = (
            &'a str,
            &'a [f32],
            (usize, usize),
            (isize, isize),
            &'a [f32],
            usize,
            (isize, isize),
        );
        let cases: [Case; 3] = [
            (
                "x·W",
                &x,
                (rows, fin),
                (fin as isize, 1),
                &w,
                fout,
                (fout as isize, 1),
            ),
            (
                "dy·Wt",
                &dy,
                (rows, fout),
                (fout as isize, 1),
                &w,
                fin,
                (1, fout as isize),
            ),
            (
                "xt·dy",
                &x,
                (fin, rows),
                (1, fin as isize),
                &dy,
                fout,
                (fout as isize, 1),
            ),
        ];
        for (name, a, mk, sa, b, n, sb) in cases {
            let ours = matrix_product(a, mk, sa, b, n, sb);
            let theirs = with_gemm(a, mk, sa, b, n, sb);
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            assert!(
                worst < 1e-3,
                "{name} {rows}x{fin}x{fout}: products differ by {worst}"
            );
            let id = format!("{rows}x{fin}x{fout} {name}");
            g.bench_function(format!("{id} tiles"), |bench| {
                bench.iter(|| black_box(matrix_product(a, mk, sa, b, n, sb)))
            });
            g.bench_function(format!("{id} gemm"), |bench| {
                bench.iter(|| black_box(with_gemm(a, mk, sa, b, n, sb)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, products);
criterion_main!(benches);
