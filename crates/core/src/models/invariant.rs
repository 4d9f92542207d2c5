//! What a decoded model must satisfy before it may serve.
//!
//! A stored model is outside data: the bytes may be corrupt, or written by another version, and
//! postcard decodes whatever lengths and numbers they hold. Every model checks, after decoding,
//! the shapes its methods index by (vector lengths against its user and item counts, sparse rows
//! against the axis they index, neighbour lists against the entities they list), the values
//! that would panic a call (`clamp` ranges) and the sizes that would make one call allocate or
//! loop without bound (latent dimensions, fold-in epochs). A model that passes answers every
//! in-range question of [`crate::Recommender`] without panicking; its scores may still be
//! non-finite, as a fit that diverged legitimately leaves them.

/// Why a decoded model cannot serve.
pub(crate) type Check = Result<(), String>;

/// Largest latent dimension a model may claim: fold-in allocates `k × k`.
pub(crate) const MAX_DIM: usize = 4096;

/// Most fold-in epochs (or sampled negatives per positive) a model may claim: fold-in runs them
/// on a request's thread.
pub(crate) const MAX_FOLD_STEPS: usize = 10_000;

/// `Ok` when `cond` holds, else `what()`.
pub(crate) fn ensure(cond: bool, what: impl FnOnce() -> String) -> Check {
    if cond { Ok(()) } else { Err(what()) }
}

/// `field` has `want` entries.
pub(crate) fn len(field: &str, got: usize, want: usize) -> Check {
    ensure(got == want, || format!("{field} has {got} entries, not {want}"))
}

/// `field` has `want` entries, or none (optional state).
pub(crate) fn len_or_empty(field: &str, got: usize, want: usize) -> Check {
    ensure(got == want || got == 0, || format!("{field} has {got} entries, not {want} or 0"))
}

/// A latent dimension: `1..=MAX_DIM`.
pub(crate) fn dim(field: &str, k: usize) -> Check {
    ensure((1..=MAX_DIM).contains(&k), || format!("{field} is {k}, not 1..={MAX_DIM}"))
}

/// A count of fold-in steps: at most [`MAX_FOLD_STEPS`].
pub(crate) fn steps(field: &str, n: usize) -> Check {
    ensure(n <= MAX_FOLD_STEPS, || format!("{field} is {n}, more than {MAX_FOLD_STEPS}"))
}

/// `rows × k` vectors, row-major: the length is a multiple of `k`; the number of rows.
pub(crate) fn rows_of(field: &str, got: usize, k: usize) -> Result<usize, String> {
    ensure(k > 0 && got.is_multiple_of(k), || format!("{field} has {got} entries, not a multiple of {k}"))?;
    Ok(got / k)
}

/// `rows × k` entries exactly (no overflow).
pub(crate) fn matrix(field: &str, got: usize, rows: usize, k: usize) -> Check {
    let want = rows.checked_mul(k).ok_or_else(|| format!("{field}: {rows} × {k} overflows"))?;
    len(field, got, want)
}

/// A clipping range `clamp` accepts: neither end NaN, `lo ≤ hi`.
pub(crate) fn range(field: &str, (lo, hi): (f32, f32)) -> Check {
    ensure(lo <= hi, || format!("{field} ({lo}, {hi}) is not a range"))
}
