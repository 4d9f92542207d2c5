//! Small dense helpers shared by the factor models: a SIMD-friendly dot product and the ridge
//! regression that folds an unseen user into a trained factor model.
//!
//! Ridge regression (Hoerl & Kennard 1970) with an optional intercept column:
//! for rows `(z_j, t_j)` it finds `x = [b; w]` minimising `Σ_j (t_j − b − z_jᵀw)² + λ(b² + |w|²)`
//! by solving the normal equations `(Σ_j ẑ_j ẑ_jᵀ + λI) x = Σ_j ẑ_j t_j` with `ẑ_j = [1; z_j]`
//! through a Cholesky factorisation (faer). This is the closed form of one ALS half-step
//! (Hu, Koren & Volinsky 2008; Zhou et al. 2008, "Large-scale parallel collaborative filtering
//! for the Netflix prize"), used here for one user against fixed item factors.

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

/// Lanes of the dot product's accumulator: two SSE or one AVX register of f32, so the loop
/// vectorises on any x86-64 target without `target-cpu` flags.
const LANES: usize = 8;

/// Why a ridge system could not be solved.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LinalgError {
    /// A feature row does not have the system's dimension.
    #[error("feature row has length {got}, expected {expected}")]
    DimensionMismatch {
        /// The system's feature dimension.
        expected: usize,
        /// The row's length.
        got: usize,
    },
    /// The normal equations are not positive definite (λ = 0 with too few or collinear rows,
    /// or non-finite input), so Cholesky failed.
    #[error("the normal equations are not positive definite")]
    NotPositiveDefinite,
}

/// `Σ a_k b_k` over the common length, accumulated in eight independent partial sums so the
/// compiler can keep them in vector registers (the order of additions is fixed, so the result
/// is deterministic).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    // Pairwise (tree) reduction of the lanes: fixed order, short dependency chains.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0] + tail
}

/// Euclidean norm of `a`.
#[inline(always)]
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// Solves the ridge regression of the module doc for `rows` of `(z_j, t_j)` with `z_j` of length
/// `dim`. With `intercept` the result is `[b, w_1..w_dim]` (length `dim + 1`, `b` penalised
/// like the weights, as the biases are in SGD training); without it, `w` alone (length `dim`).
///
/// The normal equations are built and solved in f64, so results do not depend on summation
/// order beyond f64 rounding. Errors: a row of the wrong length, or a system that is not
/// positive definite (only possible with `lambda == 0` or non-finite data).
pub fn ridge_solve<'a>(
    rows: impl IntoIterator<Item = (&'a [f32], f32)>,
    dim: usize,
    intercept: bool,
    lambda: f64,
) -> Result<Vec<f32>, LinalgError> {
    let off = usize::from(intercept);
    let d = dim + off;
    let mut a = Mat::<f64>::zeros(d, d);
    let mut rhs = Mat::<f64>::zeros(d, 1);
    let mut z = vec![0f64; d];
    for (row, t) in rows {
        if row.len() != dim {
            return Err(LinalgError::DimensionMismatch { expected: dim, got: row.len() });
        }
        if intercept {
            z[0] = 1.0;
        }
        for (zk, &r) in z[off..].iter_mut().zip(row) {
            *zk = f64::from(r);
        }
        let t = f64::from(t);
        // Lower triangle only: the factorisation reads `Side::Lower`.
        for c in 0..d {
            rhs[(c, 0)] += z[c] * t;
            for r in c..d {
                a[(r, c)] += z[r] * z[c];
            }
        }
    }
    for k in 0..d {
        a[(k, k)] += lambda;
    }
    let llt = a.llt(Side::Lower).map_err(|_| LinalgError::NotPositiveDefinite)?;
    let x = llt.solve(&rhs);
    let out: Vec<f32> = (0..d).map(|k| x[(k, 0)] as f32).collect();
    if out.iter().all(|v| v.is_finite()) { Ok(out) } else { Err(LinalgError::NotPositiveDefinite) }
}

/// The weighted least-squares solve of implicit ALS for one row against fixed factors `Y`
/// (Hu, Koren & Volinsky 2008, eq. 4): `x = (YᵀY + λI + Σ_j (c_j − 1) y_j y_jᵀ)⁻¹ Σ_j c_j p_j y_j`
/// for `rows` of `(y_j, c_j, p_j)` (confidence `c_j ≥ 1`, preference `p_j` 0 or 1), with `gram`
/// the `dim × dim` row-major `YᵀY` over every row of `Y`. Built and solved in f64 by Cholesky
/// (faer); every unobserved row counts with confidence 1 and preference 0 through `gram`.
pub fn implicit_solve<'a>(
    gram: &[f32],
    rows: impl IntoIterator<Item = (&'a [f32], f32, f32)>,
    dim: usize,
    lambda: f64,
) -> Result<Vec<f32>, LinalgError> {
    if gram.len() != dim * dim {
        return Err(LinalgError::DimensionMismatch { expected: dim * dim, got: gram.len() });
    }
    let mut a = Mat::<f64>::from_fn(dim, dim, |r, c| f64::from(gram[r * dim + c]));
    let mut rhs = Mat::<f64>::zeros(dim, 1);
    for (y, c, p) in rows {
        if y.len() != dim {
            return Err(LinalgError::DimensionMismatch { expected: dim, got: y.len() });
        }
        let (c, p) = (f64::from(c), f64::from(p));
        for r in 0..dim {
            let yr = f64::from(y[r]);
            rhs[(r, 0)] += c * p * yr;
            for q in 0..=r {
                a[(r, q)] += (c - 1.0) * yr * f64::from(y[q]);
            }
        }
    }
    for k in 0..dim {
        a[(k, k)] += lambda;
    }
    let llt = a.llt(Side::Lower).map_err(|_| LinalgError::NotPositiveDefinite)?;
    let x = llt.solve(&rhs);
    let out: Vec<f32> = (0..dim).map(|k| x[(k, 0)] as f32).collect();
    if out.iter().all(|v| v.is_finite()) { Ok(out) } else { Err(LinalgError::NotPositiveDefinite) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_solve_matches_the_dense_weighted_least_squares() {
        // Y = [[1, 0], [0, 1], [1, 1]]; row 0 observed with c = 3, the rest unobserved (c = 1,
        // p = 0). Weighted LS: A = Σ c_j y_j y_jᵀ + λI = [[3+1, 1], [1, 2]] + I = [[5, 1], [1, 3]],
        // b = 3·[1, 0] ⇒ x = [3·3, −3] / 14 = [9/14, −3/14].
        let y = [1f32, 0.0, 0.0, 1.0, 1.0, 1.0];
        let gram = [2f32, 1.0, 1.0, 2.0];
        let x = implicit_solve(&gram, [(&y[0..2], 3.0, 1.0)], 2, 1.0).unwrap();
        assert!((x[0] - 9.0 / 14.0).abs() < 1e-6 && (x[1] + 3.0 / 14.0).abs() < 1e-6, "{x:?}");
        // A negative observation (p = 0, c = 3) pushes the score of its row down, not up.
        let x = implicit_solve(&gram, [(&y[0..2], 3.0, 0.0)], 2, 1.0).unwrap();
        assert_eq!(x, vec![0.0, 0.0]);
        assert!(implicit_solve(&gram[..3], [], 2, 1.0).is_err());
    }

    #[test]
    fn dot_matches_naive_sum_on_odd_lengths() {
        for n in [0usize, 1, 7, 8, 9, 20, 100, 101] {
            let a: Vec<f32> = (0..n).map(|k| (k as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|k| (k as f32 * 0.11).cos()).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            assert!((f64::from(dot(&a, &b)) - naive).abs() < 1e-4, "n = {n}");
        }
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
        // Unequal lengths use the common prefix.
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0, 1.0]), 3.0);
    }

    #[test]
    fn ridge_solve_matches_hand_solved_2x2() {
        // Rows on the line t = 1 + 2z: z = 0, 1, 2.
        let z = [[0f32], [1.0], [2.0]];
        let rows = || z.iter().map(|r| (&r[..], 1.0 + 2.0 * r[0]));
        // λ = 0: exact fit, [b, w] = [1, 2].
        let x = ridge_solve(rows(), 1, true, 0.0).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-5 && (x[1] - 2.0).abs() < 1e-5, "{x:?}");
        // λ = 1: [[4, 3], [3, 6]] x = [9, 13] ⇒ x = [(54 − 39)/15, (52 − 27)/15] = [1, 5/3].
        let x = ridge_solve(rows(), 1, true, 1.0).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-5 && (x[1] - 5.0 / 3.0).abs() < 1e-5, "{x:?}");
        // No intercept, λ = 1: (0 + 1 + 4 + 1) w = 0·1 + 1·3 + 2·5 ⇒ w = 13/6.
        let x = ridge_solve(rows(), 1, false, 1.0).unwrap();
        assert_eq!(x.len(), 1);
        assert!((x[0] - 13.0 / 6.0).abs() < 1e-5, "{x:?}");
    }

    #[test]
    fn ridge_solve_reports_bad_systems() {
        let row = [1f32, 2.0];
        // One row, two unknowns, no penalty: singular.
        assert_eq!(ridge_solve([(&row[..], 1.0)], 2, false, 0.0), Err(LinalgError::NotPositiveDefinite));
        assert_eq!(
            ridge_solve([(&row[..], 1.0)], 3, true, 1.0),
            Err(LinalgError::DimensionMismatch { expected: 3, got: 2 })
        );
        // No rows at all with a penalty: the zero vector.
        assert_eq!(ridge_solve(std::iter::empty(), 2, true, 0.5), Ok(vec![0.0; 3]));
    }
}
