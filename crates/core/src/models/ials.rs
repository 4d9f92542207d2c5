//! Implicit alternating least squares, iALS (Hu, Koren & Volinsky 2008, "Collaborative filtering
//! for implicit feedback datasets").
//!
//! Objective, over every (user, item) pair, observed or not:
//! `Σ_{u,i} c_ui (p_ui − x_uᵀy_i)² + Σ_u λ_u |x_u|² + Σ_i λ_i |y_i|²`, with preference `p_ui = 1`
//! and confidence `c_ui = 1 + α·w_ui` for an observed weight `w > 0` (a negative weight, e.g. a
//! dislike weighted below 0, is `p = 0` with confidence `1 + α|w|`; weight 0 is no information),
//! and `p = 0, c = 1` for every unobserved pair. Alternating exact minimisation: with the item
//! vectors fixed, each user's vector solves `(YᵀY + λ_u I + Yᵀ(C_u − I)Y) x_u = YᵀC_u p_u`, and
//! symmetrically for items. `YᵀY` is computed once per half-step (faer GEMM), so a row costs
//! `O(k² + n_u k)` rather than `O(n_items k)`.
//!
//! Solvers: [`IalsSolver::Cg`] runs `cg_steps` steps of conjugate gradient per row, warm-started
//! from the row's current vector (Takács, Pilászy & Tikk 2011, "Applications of the conjugate
//! gradient method for implicit feedback collaborative filtering"); 3 steps per half-step match
//! the exact solve's accuracy at a fraction of its cost. [`IalsSolver::Cholesky`] builds the
//! `k × k` system and solves it exactly (faer's Cholesky), `O(n_u k² + k³)` per row.
//!
//! Regularisation: `λ_u = reg` by default; with `reg_exponent = ν > 0` it scales with the row's
//! total confidence mass, `λ_u = reg · (n_items + α Σ_i w_ui)^ν` (and `λ_i` likewise over users),
//! the frequency-scaled regularisation of Rendle, Krichene, Zhang & Koren 2021 ("Revisiting the
//! performance of iALS on item recommendation benchmarks"), whose `|I_u| + α₀|I|` this is in
//! confidence-weighted form.
//!
//! Rows are solved in parallel on rayon, each from fixed data only, so the model depends on the
//! data and the seed, never on the thread count. The hot loop (SIMD kernels over contiguous
//! factor rows) allocates nothing per row. Rows with no interactions get zero vectors: an item
//! nobody touched scores 0 for everyone. Fold-in of an unseen user is the user half-step for that
//! one row (see [`super::latent`]), solved exactly.

use pulp::Simd;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::latent::{FoldIn, Latent, LatentModel};
use super::simd::{accumulate, axpy, dot, gram, sym_matvec};
use crate::data::{Interactions, Row};
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{FitContext, FitError, ModelParams, ParamError, Progress};
use crate::rng;

const MODEL: &str = "ials";

/// Rows solved per rayon task (scratch buffers are allocated once per task).
const ROWS_PER_TASK: usize = 16;

/// How each row's least-squares system is solved.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IalsSolver {
    /// `cg_steps` conjugate-gradient steps, warm-started (Takács et al. 2011).
    Cg,
    /// The exact solve by Cholesky factorisation.
    Cholesky,
}

/// Hyperparameters of [`IalsModel`]. Defaults: 64 factors, 15 iterations, CG with 3 steps (the
/// settings of `implicit`'s `AlternatingLeastSquares`), initial factors from N(0, 0.01²); `alpha`,
/// `reg` and `reg_exponent` as measured on MovieLens 100k (see `docs/benchmarks.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IalsParams {
    /// Latent dimension `k` (≥ 1).
    pub factors: usize,
    /// Alternating iterations, each a user and an item half-step (≥ 1).
    pub iterations: usize,
    /// Confidence scale `α` in `c = 1 + α·w` (finite, ≥ 0).
    pub alpha: f32,
    /// L2 penalty `λ` (finite, > 0).
    pub reg: f32,
    /// Frequency scaling `ν` of the penalty (finite, in [0, 2]; 0 = plain `λ`).
    pub reg_exponent: f32,
    /// Conjugate gradient or exact Cholesky.
    pub solver: IalsSolver,
    /// CG steps per row and half-step (≥ 1; ignored by Cholesky).
    pub cg_steps: usize,
    /// Standard deviation of the initial factors (finite, > 0).
    pub init_std: f32,
}

impl Default for IalsParams {
    fn default() -> Self {
        Self {
            factors: 64,
            iterations: 15,
            alpha: 1.0,
            reg: 35.0,
            reg_exponent: 0.0,
            solver: IalsSolver::Cg,
            cg_steps: 3,
            init_std: 0.01,
        }
    }
}

impl IalsParams {
    fn fold(&self) -> FoldIn {
        FoldIn { alpha: self.alpha, reg: self.reg, exponent: self.reg_exponent }
    }
}

impl ModelParams for IalsParams {
    type Model = IalsModel;

    fn validate(&self) -> Result<(), ParamError> {
        let err = |field, reason: &str| Err(ParamError::new(MODEL, field, reason));
        if self.factors == 0 {
            return err("factors", "must be at least 1");
        }
        if self.iterations == 0 {
            return err("iterations", "must be at least 1");
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return err("alpha", "must be a finite number ≥ 0");
        }
        if !(self.reg.is_finite() && self.reg > 0.0) {
            return err("reg", "must be a finite number > 0");
        }
        if !(self.reg_exponent.is_finite() && (0.0..=2.0).contains(&self.reg_exponent)) {
            return err("reg_exponent", "must be in [0, 2]");
        }
        if self.cg_steps == 0 {
            return err("cg_steps", "must be at least 1");
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            return err("init_std", "must be a finite number > 0");
        }
        Ok(())
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<IalsModel, FitError> {
        self.validate()?;
        if data.nnz() == 0 {
            return Err(FitError::EmptyData { model: MODEL });
        }
        let k = self.factors;
        let normal =
            Normal::new(0.0, self.init_std).map_err(|e| ParamError::new(MODEL, "init_std", e.to_string()))?;
        let mut rng = rng::seeded(ctx.seed);
        let mut init = |rows: usize| -> Vec<f32> { (0..rows * k).map(|_| normal.sample(&mut rng)).collect() };
        let users = init(data.n_users());
        let items = init(data.n_items());
        let mut model = IalsModel { latent: Latent::new(k, users, items, Vec::new()), fold: self.fold() };
        let step = HalfStep { k, fold: self.fold(), solver: self.solver, cg_steps: self.cg_steps };
        for it in 1..=self.iterations {
            let latent = &mut model.latent;
            step.run(&mut latent.users, &latent.items, data, |d, u| d.user(UserIdx(u as u32)));
            step.run(&mut latent.items, &latent.users, data, |d, i| d.item(ItemIdx(i as u32)));
            let progress = Progress { model: MODEL, done: it, total: self.iterations, loss: None };
            if ctx.observer.wants_checkpoints() {
                model.latent.finish();
            }
            if ctx.checkpoint(progress, &model) {
                break;
            }
        }
        model.latent.finish();
        Ok(model)
    }
}

/// The constants of one half-step.
#[derive(Copy, Clone)]
struct HalfStep {
    k: usize,
    fold: FoldIn,
    solver: IalsSolver,
    cg_steps: usize,
}

impl HalfStep {
    /// Solves every row of `solve` (`n × k`) against the fixed `fixed` factors, row `r`'s data
    /// being `row_of(data, r)`.
    fn run(
        &self,
        solve: &mut [f32],
        fixed: &[f32],
        data: &Interactions,
        row_of: for<'d> fn(&'d Interactions, usize) -> Row<'d>,
    ) {
        let k = self.k;
        let g = gram(fixed, k);
        solve.par_chunks_mut(ROWS_PER_TASK * k).enumerate().for_each(|(c, chunk)| {
            let mut scratch = Scratch::new(k, self.solver);
            let first = c * ROWS_PER_TASK;
            let task =
                Task { step: *self, chunk, first, fixed, gram: &g, data, row_of, scratch: &mut scratch };
            pulp::Arch::new().dispatch(task);
        });
    }
}

/// Per-task buffers: CG vectors, the row's coefficients, and the Cholesky system.
struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    /// `(column, c − 1, c·p)` of the row's informative entries.
    entries: Vec<(u32, f32, f32)>,
    /// Per entry: `(c − 1)·(y·v)` of the current product.
    t: Vec<f32>,
    /// The row's `y_j`, copied contiguously (see [`GATHER`]).
    gathered: Vec<f32>,
    /// `k × k` system (column-major) and its factorisation workspace, for Cholesky.
    system: Vec<f32>,
    stack: faer::dyn_stack::MemBuffer,
}

impl Scratch {
    fn new(k: usize, solver: IalsSolver) -> Self {
        use faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch;
        let (system, req) = match solver {
            IalsSolver::Cg => (Vec::new(), faer::dyn_stack::StackReq::EMPTY),
            IalsSolver::Cholesky => {
                (vec![0f32; k * k], cholesky_in_place_scratch::<f32>(k, faer::Par::Seq, Default::default()))
            }
        };
        Self {
            r: vec![0.0; k],
            p: vec![0.0; k],
            ap: vec![0.0; k],
            entries: Vec::new(),
            t: Vec::new(),
            gathered: Vec::new(),
            system,
            stack: faer::dyn_stack::MemBuffer::new(req),
        }
    }
}

/// One rayon task: a chunk of consecutive rows, solved inside one SIMD dispatch.
struct Task<'a> {
    step: HalfStep,
    chunk: &'a mut [f32],
    first: usize,
    fixed: &'a [f32],
    gram: &'a [f32],
    data: &'a Interactions,
    row_of: for<'d> fn(&'d Interactions, usize) -> Row<'d>,
    scratch: &'a mut Scratch,
}

impl pulp::WithSimd for Task<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Task { step, chunk, first, fixed, gram, data, row_of, scratch } = self;
        let (k, n_other) = (step.k, fixed.len() / step.k);
        for (off, x) in chunk.chunks_exact_mut(k).enumerate() {
            let row = row_of(data, first + off);
            scratch.entries.clear();
            let mut sum_w = 0f32;
            for (col, w) in row.iter() {
                if let Some((c, p)) = step.fold.confidence(w) {
                    scratch.entries.push((col, c - 1.0, c * p));
                    sum_w += w.abs();
                }
            }
            if scratch.entries.is_empty() {
                x.fill(0.0);
                continue;
            }
            let system = System { rows: Rows::Fixed(fixed), gram, lambda: step.fold.lambda(n_other, sum_w) };
            match step.solver {
                IalsSolver::Cg => cg(simd, x, &system, step.cg_steps, scratch),
                IalsSolver::Cholesky => cholesky(simd, x, &system, scratch),
            }
        }
    }
}

/// The operands of one row's system `A = G + λI + Σ (c − 1) y yᵀ`.
#[derive(Copy, Clone)]
struct System<'a> {
    rows: Rows<'a>,
    gram: &'a [f32],
    lambda: f32,
}

/// Where a row's fixed-side vectors `y_j` are read from.
#[derive(Copy, Clone)]
enum Rows<'a> {
    /// The fixed factor matrix, by column index.
    Fixed(&'a [f32]),
    /// A contiguous copy, by entry position (see [`GATHER`]).
    Gathered(&'a [f32]),
}

/// Rows with at least `GATHER.start` and fewer than `GATHER.end` entries copy their `y_j` into a
/// contiguous buffer on the first CG pass, so the other passes stream it instead of chasing
/// scattered rows again (the item half-step of a large matrix reads user vectors from all over
/// memory). Capped at 65,536 rows (16 MiB at 64 factors) per task, and only done when the fixed
/// factors are larger than [`GATHER_FIXED_BYTES`]: a cache-resident matrix gains nothing.
const GATHER: std::ops::Range<usize> = 64..1 << 16;

/// See [`GATHER`]: 8 MiB, a few times the per-core L2.
const GATHER_FIXED_BYTES: usize = 8 << 20;

impl<'a> System<'a> {
    #[inline(always)]
    fn y(&self, j: usize, col: u32, k: usize) -> &'a [f32] {
        match self.rows {
            Rows::Fixed(f) => &f[col as usize * k..(col as usize + 1) * k],
            Rows::Gathered(g) => &g[j * k..(j + 1) * k],
        }
    }

    /// `out = A v`: all the row's dot products first (independent, so they overlap), then one
    /// register-blocked pass that adds `Σ t_j y_j` and `G v`.
    #[inline(always)]
    fn apply<S: Simd>(
        &self,
        simd: S,
        v: &[f32],
        entries: &[(u32, f32, f32)],
        t: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let k = v.len();
        // Plain loops, not closures: a closure is not compiled with the caller's target features,
        // so SIMD inside one would fall back to out-of-line intrinsics.
        t.clear();
        for (j, &(col, cm1, _)) in entries.iter().enumerate() {
            t.push(cm1 * dot(simd, self.y(j, col, k), v));
        }
        for (o, x) in out.iter_mut().zip(v) {
            *o = self.lambda * x;
        }
        sym_matvec(simd, self.gram, v, out);
        accumulate(simd, entries.len(), |j| self.y(j, entries[j].0, k), t, out);
    }
}

/// `steps` of conjugate gradient on the row's system, warm-started from `x`.
#[inline(always)]
fn cg<S: Simd>(simd: S, x: &mut [f32], sys: &System<'_>, steps: usize, s: &mut Scratch) {
    let k = x.len();
    let Scratch { r, p, ap, entries, t, gathered, .. } = s;
    let mut sys = *sys;
    if GATHER.contains(&entries.len())
        && let Rows::Fixed(fixed) = sys.rows
        && size_of_val(fixed) > GATHER_FIXED_BYTES
    {
        gathered.clear();
        for &(col, _, _) in entries.iter() {
            gathered.extend_from_slice(&fixed[col as usize * k..(col as usize + 1) * k]);
        }
        sys.rows = Rows::Gathered(gathered);
    }
    // r = b − A x, with b = Σ c·p·y: one blocked pass with coefficients c·p − (c − 1)(y·x).
    t.clear();
    for (j, &(col, cm1, cp)) in entries.iter().enumerate() {
        t.push(cp - cm1 * dot(simd, sys.y(j, col, k), x));
    }
    for (rr, xx) in r.iter_mut().zip(x.iter()) {
        *rr = -sys.lambda * xx;
    }
    ap.fill(0.0);
    sym_matvec(simd, sys.gram, x, ap);
    for (rr, a) in r.iter_mut().zip(ap.iter()) {
        *rr -= a;
    }
    accumulate(simd, entries.len(), |j| sys.y(j, entries[j].0, k), t, r);
    p.copy_from_slice(r);
    let mut rs = dot(simd, r, r);
    for _ in 0..steps {
        if rs < 1e-20 {
            break;
        }
        sys.apply(simd, p, entries, t, ap);
        let pap = dot(simd, p, ap);
        // A positive definite system keeps pᵀAp > 0; anything else (NaN included) stops.
        if pap.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            break;
        }
        let a = rs / pap;
        axpy(simd, a, p, x);
        axpy(simd, -a, ap, r);
        let rs_new = dot(simd, r, r);
        let beta = rs_new / rs;
        for (pp, rr) in p.iter_mut().zip(r.iter()) {
            *pp = rr + beta * *pp;
        }
        rs = rs_new;
    }
}

/// The exact solve: build `A = G + λI + Σ (c − 1) y yᵀ` and `b = Σ c·p·y`, factor, solve.
#[inline(always)]
fn cholesky<S: Simd>(simd: S, x: &mut [f32], sys: &System<'_>, s: &mut Scratch) {
    use faer::linalg::cholesky::llt::{factor, solve};
    let k = x.len();
    let Scratch { r: b, system, entries, stack, .. } = s;
    system.copy_from_slice(sys.gram);
    b.fill(0.0);
    for (j, &(col, cm1, cp)) in entries.iter().enumerate() {
        let y = sys.y(j, col, k);
        for (q, column) in system.chunks_exact_mut(k).enumerate() {
            axpy(simd, cm1 * y[q], y, column);
        }
        axpy(simd, cp, y, b);
    }
    for d in 0..k {
        system[d * k + d] += sys.lambda;
    }
    let stack = faer::dyn_stack::MemStack::new(stack);
    let mut a = faer::MatMut::from_column_major_slice_mut(system, k, k);
    let ok =
        factor::cholesky_in_place(a.as_mut(), Default::default(), faer::Par::Seq, stack, Default::default());
    if ok.is_err() {
        // Only reachable with non-finite data: keep the previous vector.
        return;
    }
    let rhs = faer::MatMut::from_column_major_slice_mut(b, k, 1);
    solve::solve_in_place_with_conj(a.as_ref(), faer::Conj::No, rhs, faer::Par::Seq, stack);
    x.copy_from_slice(b);
}

/// A trained [`IalsParams`] model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IalsModel {
    latent: Latent,
    fold: FoldIn,
}

impl IalsModel {
    /// The shapes serving indexes by (see [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        self.latent.check()
    }
}

impl LatentModel for IalsModel {
    const NAME: &'static str = MODEL;

    fn latent(&self) -> &Latent {
        &self.latent
    }

    fn fold_in(&self, history: &[(ItemIdx, f32)]) -> Vec<f32> {
        self.latent.fold_in(history, self.fold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};
    use crate::recommender::{FitError, Recommender};

    /// 30 users × 12 items in two blocks, with a few cross-block interactions.
    fn blocks() -> Interactions {
        let mut e = Vec::new();
        for u in 0..30u32 {
            let base = if u < 15 { 0 } else { 6 };
            for k in 0..4 {
                e.push(Interaction {
                    user: UserIdx(u),
                    item: ItemIdx(base + (u + k) % 6),
                    value: 1.0 + k as f32,
                    ts: 0,
                });
            }
            e.push(Interaction { user: UserIdx(u), item: ItemIdx((base + 6 + u) % 12), value: 1.0, ts: 0 });
        }
        Interactions::new(30, 12, Feedback::Implicit, e).unwrap()
    }

    #[test]
    fn conjugate_gradient_converges_to_the_exact_solve() {
        let data = blocks();
        let exact =
            IalsParams { factors: 6, reg: 0.5, solver: IalsSolver::Cholesky, ..IalsParams::default() };
        let cg = IalsParams { solver: IalsSolver::Cg, cg_steps: 6, ..exact.clone() };
        let a = exact.fit(&data, &FitContext::seeded(2)).unwrap();
        let b = cg.fit(&data, &FitContext::seeded(2)).unwrap();
        let (mut sa, mut sb) = ([0f32; 12], [0f32; 12]);
        for u in 0..30 {
            a.score_user(UserIdx(u), &mut sa).unwrap();
            b.score_user(UserIdx(u), &mut sb).unwrap();
            for (x, y) in sa.iter().zip(&sb) {
                assert!((x - y).abs() < 1e-3, "user {u}: {sa:?} vs {sb:?}");
            }
        }
    }

    #[test]
    fn fold_in_is_the_user_half_step_and_negative_weights_push_down() {
        let data = blocks();
        let p = IalsParams { factors: 6, reg: 0.5, solver: IalsSolver::Cholesky, ..IalsParams::default() };
        let m = p.fit(&data, &FitContext::seeded(2)).unwrap();
        // Fold-in is one more exact user half-step against the final item factors; after 15
        // iterations that barely moves a trained user (measured: at most 0.02 here).
        let (mut folded, mut trained) = ([0f32; 12], [0f32; 12]);
        let history: Vec<(ItemIdx, f32)> =
            data.user(UserIdx(3)).iter().map(|(i, v)| (ItemIdx(i), v)).collect();
        m.score_history(&history, &mut folded).unwrap();
        m.score_user(UserIdx(3), &mut trained).unwrap();
        for (x, y) in folded.iter().zip(&trained) {
            assert!((x - y).abs() < 0.05, "{folded:?} vs {trained:?}");
        }
        // A dislike (negative weight) lowers that item against no information at all.
        let mut base = history.clone();
        let mut plain = [0f32; 12];
        m.score_history(&base, &mut plain).unwrap();
        base.push((ItemIdx(1), -5.0));
        let mut disliked = [0f32; 12];
        m.score_history(&base, &mut disliked).unwrap();
        assert!(disliked[1] < plain[1], "{} vs {}", disliked[1], plain[1]);
        // Nobody touched an item: it scores 0 for everyone.
        let wide = Interactions::new(30, 13, Feedback::Implicit, data.iter().collect()).unwrap();
        let m = p.fit(&wide, &FitContext::seeded(2)).unwrap();
        m.score_user(UserIdx(0), &mut [0f32; 13]).unwrap();
        let mut s = [1f32; 13];
        m.score_user(UserIdx(0), &mut s).unwrap();
        assert_eq!(s[12], 0.0);
    }

    #[test]
    fn validation_names_the_field() {
        let ok = IalsParams::default();
        assert_eq!(ok.validate(), Ok(()));
        for (p, field) in [
            (IalsParams { factors: 0, ..ok.clone() }, "factors"),
            (IalsParams { iterations: 0, ..ok.clone() }, "iterations"),
            (IalsParams { alpha: -1.0, ..ok.clone() }, "alpha"),
            (IalsParams { reg: 0.0, ..ok.clone() }, "reg"),
            (IalsParams { reg_exponent: 3.0, ..ok.clone() }, "reg_exponent"),
            (IalsParams { cg_steps: 0, ..ok.clone() }, "cg_steps"),
            (IalsParams { init_std: f32::NAN, ..ok.clone() }, "init_std"),
        ] {
            assert_eq!(p.validate().unwrap_err().field, field);
        }
        let empty = Interactions::new(2, 2, Feedback::Implicit, vec![]).unwrap();
        assert_eq!(
            ok.fit(&empty, &FitContext::seeded(0)).unwrap_err(),
            FitError::EmptyData { model: "ials" }
        );
    }
}
