//! Scalar building blocks shared by the fused kernels: branch-free activations and lane-split
//! reductions (max, sum, dot) that the compiler can vectorise, thin wrappers over the `gemm`
//! crate for row-major matrices, and a helper macro that compiles a kernel a second time with
//! AVX2 + FMA enabled and picks it at run time.

/// Defines `$name` as a safe entry point that runs `$imp` compiled with AVX2 + FMA when the CPU
/// has them (checked at run time), and the portable build of `$imp` otherwise. `$imp` should be
/// `#[inline(always)]` (as should its helpers) so that its body is generated inside each variant.
macro_rules! simd_entry {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) => $imp:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                fn with_avx2($($arg: $ty),*) {
                    $imp($($arg),*)
                }
                if $crate::runtime::fused::math::has_avx2_fma() {
                    // SAFETY: the CPU supports every feature `with_avx2` was compiled for.
                    unsafe { with_avx2($($arg),*) };
                    return;
                }
            }
            $imp($($arg),*)
        }
    };
}
pub(crate) use simd_entry;

/// Whether this CPU has AVX2 and FMA, which every hand-vectorised kernel here needs (false off
/// x86-64).
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The mask of lanes `0..len` (`len < 8`) of an AVX2 vector, for the last partial vector of a
/// row. Callers run with AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn lane_mask(len: usize) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    // SAFETY: plain register arithmetic (callers run with AVX2).
    unsafe {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(len as i32), lanes)
    }
}

/// The sum of the eight lanes of `v`.
///
/// # Safety
/// The CPU has AVX2 (register-only intrinsics compiled for the caller's target features).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn hsum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    // SAFETY: register-only intrinsics; the caller's target features.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }
}

/// `t[e·ldt + j] = x[j·xrs + e]` for `j < 8`, `e < 8·NV`: eight rows transposed, as
/// `NV` 8 × 8 register transposes.
///
/// # Safety
/// AVX2; `x` readable at `j·xrs + e`, `t` writable at `e·ldt + j`, not overlapping `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn transpose8<const NV: usize>(
    x: *const f32,
    xrs: usize,
    t: *mut f32,
    ldt: usize,
) {
    // SAFETY (all pointer arithmetic and accesses below): inside the views of the contract.
    unsafe {
        use std::arch::x86_64::*;
        const L: usize = 8;
        for v in 0..NV {
            let mut r = [_mm256_setzero_ps(); 8];
            for (j, r) in r.iter_mut().enumerate() {
                *r = _mm256_loadu_ps(x.add(j * xrs + v * L));
            }
            let u = [
                _mm256_unpacklo_ps(r[0], r[1]),
                _mm256_unpackhi_ps(r[0], r[1]),
                _mm256_unpacklo_ps(r[2], r[3]),
                _mm256_unpackhi_ps(r[2], r[3]),
                _mm256_unpacklo_ps(r[4], r[5]),
                _mm256_unpackhi_ps(r[4], r[5]),
                _mm256_unpacklo_ps(r[6], r[7]),
                _mm256_unpackhi_ps(r[6], r[7]),
            ];
            let w = [
                _mm256_shuffle_ps::<0x44>(u[0], u[2]),
                _mm256_shuffle_ps::<0xEE>(u[0], u[2]),
                _mm256_shuffle_ps::<0x44>(u[1], u[3]),
                _mm256_shuffle_ps::<0xEE>(u[1], u[3]),
                _mm256_shuffle_ps::<0x44>(u[4], u[6]),
                _mm256_shuffle_ps::<0xEE>(u[4], u[6]),
                _mm256_shuffle_ps::<0x44>(u[5], u[7]),
                _mm256_shuffle_ps::<0xEE>(u[5], u[7]),
            ];
            for e in 0..4 {
                let lo = _mm256_permute2f128_ps::<0x20>(w[e], w[e + 4]);
                let hi = _mm256_permute2f128_ps::<0x31>(w[e], w[e + 4]);
                _mm256_storeu_ps(t.add((v * L + e) * ldt), lo);
                _mm256_storeu_ps(t.add((v * L + e + 4) * ldt), hi);
            }
        }
    }
}

/// Lanes of the partial reductions (lets the compiler keep them in vector registers: float
/// reductions are not reassociated otherwise).
const LANES: usize = 8;

/// The largest element (−∞ for an empty slice).
#[inline(always)]
pub(crate) fn row_max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    let mut m = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in tail {
        m = m.max(v);
    }
    m
}

/// Dot product of two equally long slices.
#[inline(always)]
pub(crate) fn row_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ta.iter().zip(tb) {
        s += x * y;
    }
    s
}

/// Sum of `f(v)` over the elements.
#[inline(always)]
pub(crate) fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Sum of the elements.
#[inline(always)]
pub(crate) fn row_sum(x: &[f32]) -> f32 {
    lane_sum(x, |v| v)
}

/// `exp(x)` for f32, branch-free (Cephes-style range reduction + degree-6 polynomial, ~2 ulp).
/// Inputs are clamped to the finite range of `exp` on f32.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer (|v| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = (p * r) * r + r + 1.0;
    // 2^n from its exponent bits. n + 127 lies in [1, 254] after the clamp; adding 2^23 puts that
    // integer in the low mantissa bits, which the shift moves into the exponent field.
    let scale = f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23);
    e * scale
}

/// Logistic sigmoid `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Hyperbolic tangent as `1 - 2 / (1 + e^{2x})` (absolute error ~1e-7).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp(2.0 * x))
}

/// Appends `f(x)` elementwise to `y`, without zero-filling the new elements first. A plain loop
/// over the spare capacity, so that it is compiled inside the caller's (AVX2) body (`Vec::extend`
/// is an out-of-line generic).
#[inline(always)]
pub(crate) fn extend_map(x: &[f32], y: &mut Vec<f32>, f: impl Fn(f32) -> f32) {
    y.reserve(x.len());
    let start = y.len();
    for (o, &v) in y.spare_capacity_mut()[..x.len()].iter_mut().zip(x) {
        o.write(f(v));
    }
    // SAFETY: the loop initialised the `x.len()` elements after `start`.
    unsafe { y.set_len(start + x.len()) };
}

/// Applies [`sigmoid`] in place.
#[inline(always)]
pub(crate) fn sigmoid_in_place(v: &mut [f32]) {
    for x in v {
        *x = sigmoid(*x);
    }
}

/// Applies [`tanh`] in place.
#[inline(always)]
pub(crate) fn tanh_in_place(v: &mut [f32]) {
    for x in v {
        *x = tanh(*x);
    }
}

/// A row-major or transposed view of a dense f32 matrix for [`matmul`].
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    /// The elements the view indexes into.
    pub(super) data: &'a [f32],
    /// Number of rows.
    pub(super) rows: usize,
    /// Number of columns.
    pub(super) cols: usize,
    /// Distance between consecutive rows' elements.
    pub(super) rs: isize,
    /// Distance between consecutive columns' elements.
    pub(super) cs: isize,
}

impl<'a> Mat<'a> {
    /// `data` holds a `rows × cols` row-major matrix.
    pub(crate) fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix buffer too small");
        Mat {
            data,
            rows,
            cols,
            rs: cols as isize,
            cs: 1,
        }
    }

    /// The transpose of the row-major `rows × cols` matrix in `data` (a `cols × rows` view).
    pub(crate) fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix buffer too small");
        Mat {
            data,
            rows: cols,
            cols: rows,
            rs: 1,
            cs: cols as isize,
        }
    }
}

impl<'a> Mat<'a> {
    /// A `rows × cols` view of `data` with element `(i, j)` at `i·rs + j·cs` (non-negative
    /// strides).
    pub(crate) fn strided(data: &'a [f32], rows: usize, cols: usize, rs: isize, cs: isize) -> Self {
        assert!(rs >= 0 && cs >= 0, "negative strides");
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * rs as usize + (cols - 1) * cs as usize;
            assert!(data.len() > last, "matrix buffer too small");
        }
        Mat {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// The transposed view.
    pub(crate) fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `dst = scale · a · b` (or `dst += scale · a · b` with `accumulate`), `dst` holding the
/// `a.rows × b.cols` result with row stride `dst_rs` and unit column stride; single-threaded.
pub(crate) fn matmul_strided(
    dst: &mut [f32],
    dst_rs: isize,
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
    scale: f32,
) {
    let (m, n) = (a.rows, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst_rs >= n as isize && dst.len() >= (m - 1) * dst_rs as usize + n,
        "matmul: destination too small"
    );
    // SAFETY: `dst` covers the m × n view (asserted), is initialised and exclusively borrowed.
    unsafe { matmul_raw(dst.as_mut_ptr(), dst_rs as usize, a, b, accumulate, scale) }
}

/// `a · b` as a new row-major `a.rows × b.cols` buffer, written once by the product (no zero
/// fill first); single-threaded.
pub(crate) fn product(a: Mat<'_>, b: Mat<'_>) -> Vec<f32> {
    let (m, n) = (a.rows, b.cols);
    let mut out = Vec::with_capacity(m * n);
    // SAFETY: the buffer holds m·n elements; without `accumulate` `matmul_raw` writes every one
    // of them and reads none, so all are initialised when the length is set.
    unsafe {
        matmul_raw(out.as_mut_ptr(), n.max(1), a, b, false, 1.0);
        out.set_len(m * n);
    }
    out
}

/// The product behind [`matmul_strided`] and [`product`].
///
/// # Safety
/// `dst` must be valid for writes (and, with `accumulate`, reads of initialised values) at
/// `i·dst_rs + j` for `i < a.rows`, `j < b.cols`, and must not overlap `a` or `b`. Without
/// `accumulate` every element of that view is written and none is read.
unsafe fn matmul_raw(
    dst: *mut f32,
    dst_rs: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
    scale: f32,
) {
    assert_eq!(a.cols, b.rows, "matmul: inner dimensions differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: row `i` of the destination view (caller's contract).
                unsafe { std::ptr::write_bytes(dst.add(i * dst_rs), 0, n) };
            }
        }
        return;
    }
    // SAFETY: the destination contract is this function's own.
    if unsafe { super::direct::product(dst, dst_rs, a, b, accumulate, scale) } {
        return;
    }
    // SAFETY: Mat's constructors keep every index the strides describe inside `a` and `b`; the
    // caller vouches for `dst`. `gemm` reads `dst` only when `read_dst` (= `accumulate`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs,
            a.rs,
            b.data.as_ptr(),
            b.cs,
            b.rs,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `dst (+)= a · b` with `dst` a row-major `a.rows × b.cols` buffer, single-threaded.
/// With `accumulate` the product is added to `dst`, otherwise `dst` is overwritten.
#[inline]
pub(crate) fn matmul(dst: &mut [f32], a: Mat<'_>, b: Mat<'_>, accumulate: bool) {
    let n = b.cols;
    matmul_strided(dst, n.max(1) as isize, a, b, accumulate, 1.0);
}

/// The transpose of the row-major `rows × cols` matrix `x`, row-major (`cols × rows`).
pub(crate) fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    assert_eq!(x.len(), rows * cols, "transpose: buffer is not rows × cols");
    let mut out = vec![0.0f32; rows * cols];
    for (i, row) in x.chunks_exact(cols).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out[j * rows + i] = v;
        }
    }
    out
}

#[inline(always)]
fn add_column_sums_impl(acc: &mut [f32], src: &[f32]) {
    for row in src.chunks_exact(acc.len()) {
        for (a, s) in acc.iter_mut().zip(row) {
            *a += *s;
        }
    }
}

#[inline(always)]
fn add_to_rows_impl(m: &mut [f32], v: &[f32]) {
    for row in m.chunks_exact_mut(v.len()) {
        for (x, c) in row.iter_mut().zip(v) {
            *x += *c;
        }
    }
}

simd_entry!(
    /// Adds the column sums of the row-major matrix `src` (rows of `acc.len()`) to `acc`.
    pub(crate) fn add_column_sums(acc: &mut [f32], src: &[f32]) => add_column_sums_impl
);
simd_entry!(
    /// Adds `v` to every row of the row-major matrix `m` (rows of `v.len()`): a bias.
    pub(crate) fn add_to_rows(m: &mut [f32], v: &[f32]) => add_to_rows_impl
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_match_std() {
        let mut worst = (0.0f32, 0.0f32, 0.0f32);
        for i in -4000..=4000 {
            let x = i as f32 * 0.01;
            let e = (exp(x) - x.exp()).abs() / x.exp();
            let s = (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs();
            let t = (tanh(x) - x.tanh()).abs();
            worst = (worst.0.max(e), worst.1.max(s), worst.2.max(t));
        }
        assert!(worst.0 < 1e-6, "exp rel err {}", worst.0);
        assert!(worst.1 < 1e-6, "sigmoid abs err {}", worst.1);
        assert!(worst.2 < 1e-6, "tanh abs err {}", worst.2);
        assert!((0.0..1e-30).contains(&sigmoid(-1e4)));
        assert!((sigmoid(1e4) - 1.0).abs() < 1e-7 && (tanh(-1e4) + 1.0).abs() < 1e-7);
    }

    #[test]
    fn matmul_plain_and_transposed() {
        // a: 2x3, b: 3x2
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut c = [1.0; 4];
        matmul(&mut c, Mat::rows(&a, 2, 3), Mat::rows(&b, 3, 2), false);
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
        matmul(&mut c, Mat::rows(&a, 2, 3), Mat::rows(&b, 3, 2), true);
        assert_eq!(c, [8.0, 10.0, 20.0, 22.0]);
        // aᵀ · a: 3x3
        let mut d = [0.0; 9];
        matmul(
            &mut d,
            Mat::transposed(&a, 2, 3),
            Mat::rows(&a, 2, 3),
            false,
        );
        assert_eq!(d, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
    }
}
