//! A vectorised `exp` for the softmax of the output layer, which takes one per logit (the
//! catalog times the targets per epoch): Cephes' `expf` (range reduction by `ln 2` in two parts,
//! a degree-6 polynomial, the power of two built in the exponent bits), relative error about
//! 2·10⁻⁷ on `[-87, 88]`, to which inputs are clamped. Lanes and tail use the same arithmetic.

use pulp::Simd;

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// `1.5·2²³ + 127`: adding it rounds to an integer `n` and leaves `n + 127` in the low bits.
const MAGIC: f32 = 12_583_039.0;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];

#[inline(always)]
fn exp_lanes<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let x = simd.min_f32s(simd.max_f32s(x, simd.splat_f32s(-87.0)), simd.splat_f32s(88.0));
    let j = simd.mul_add_f32s(x, simd.splat_f32s(LOG2E), simd.splat_f32s(MAGIC));
    let n = simd.sub_f32s(j, simd.splat_f32s(MAGIC));
    let r = simd.mul_add_f32s(n, simd.splat_f32s(-LN2_HI), x);
    let r = simd.mul_add_f32s(n, simd.splat_f32s(-LN2_LO), r);
    let mut p = simd.splat_f32s(P[0]);
    for c in &P[1..] {
        p = simd.mul_add_f32s(p, r, simd.splat_f32s(*c));
    }
    let r2 = simd.mul_f32s(r, r);
    let e = simd.add_f32s(simd.mul_add_f32s(p, r2, r), simd.splat_f32s(1.0));
    let bits = simd.wrapping_dyn_shl_u32s(simd.transmute_u32s_f32s(j), simd.splat_u32s(23));
    simd.mul_f32s(e, simd.transmute_f32s_u32s(bits))
}

#[inline(always)]
fn exp_one(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let j = x.mul_add(LOG2E, MAGIC);
    let n = j - MAGIC;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let p = P[1..].iter().fold(P[0], |p, &c| p.mul_add(r, c));
    let e = p.mul_add(r * r, r) + 1.0;
    e * f32::from_bits(j.to_bits().wrapping_shl(23))
}

/// `xs[i] ← exp(xs[i] − shift)`; returns their sum.
pub(crate) fn exp_shifted(xs: &mut [f32], shift: f32) -> f32 {
    struct Op<'a>(&'a mut [f32], f32);
    impl pulp::WithSimd for Op<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> f32 {
            let shift = self.1;
            let (head, tail) = S::as_mut_simd_f32s(self.0);
            let sv = simd.splat_f32s(shift);
            let mut acc = simd.splat_f32s(0.0);
            for v in head {
                let e = exp_lanes(simd, simd.sub_f32s(*v, sv));
                acc = simd.add_f32s(acc, e);
                *v = e;
            }
            let mut sum = simd.reduce_sum_f32s(acc);
            for v in tail {
                *v = exp_one(*v - shift);
                sum += *v;
            }
            sum
        }
    }
    pulp::Arch::new().dispatch(Op(xs, shift))
}

/// The largest of `xs` (−∞ for none).
pub(crate) fn max(xs: &[f32]) -> f32 {
    struct Op<'a>(&'a [f32]);
    impl pulp::WithSimd for Op<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> f32 {
            let (head, tail) = S::as_simd_f32s(self.0);
            let mut m = simd.splat_f32s(f32::NEG_INFINITY);
            for v in head {
                m = simd.max_f32s(m, *v);
            }
            tail.iter().fold(simd.reduce_max_f32s(m), |a, &b| a.max(b))
        }
    }
    pulp::Arch::new().dispatch(Op(xs))
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_library_exp() {
        // A softmax's range after the shift by the maximum: [-100, 0].
        let mut xs: Vec<f32> = (-2000..=60).map(|k| k as f32 * 0.05).collect();
        let want: Vec<f64> = xs.iter().map(|&x| f64::from(x - 3.0).exp()).collect();
        let sum = super::exp_shifted(&mut xs, 3.0);
        for (got, want) in xs.iter().zip(&want) {
            let floor = (-87f64).exp();
            if *want > floor {
                assert!((f64::from(*got) - want).abs() <= 1e-6 * want, "{got} vs {want}");
            }
        }
        let total: f64 = want.iter().sum();
        assert!((f64::from(sum) - total).abs() <= 1e-5 * total);
        assert_eq!(super::max(&[1.0, 5.0, -2.0, 4.0, 3.0, 0.0, 9.0, 1.0, 2.0]), 9.0);
    }
}
