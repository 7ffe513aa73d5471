//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
//! SC'11), the counter-based generator of mask sampling. kernels/philox.cuh is the
//! same function on the GPU; both produce the same 32-bit words bit for bit, so the
//! CPU reference regenerates exactly the noise a kernel drew.
//!
//! Stream layout (shared/DESIGN.md, "Philox"): key = (seed_lo, seed_hi), counter =
//! (group_lo, group_hi, step, block); blocks 0 and 1 give eight words per group of
//! four weights, of which the first six are used (one per candidate pattern).

/// Multipliers and Weyl key increments of Philox4x32 (Random123's constants).
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The `step` counter word used by [`crate::mask::init_logits_from_prior`], so that
/// initial logits never share a stream with training steps (which count up from 0).
pub const INIT_STEP: u32 = u32::MAX;

fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let p0 = M0 as u64 * c[0] as u64;
    let p1 = M1 as u64 * c[2] as u64;
    [
        (p1 >> 32) as u32 ^ c[1] ^ k[0],
        p1 as u32,
        (p0 >> 32) as u32 ^ c[3] ^ k[1],
        p0 as u32,
    ]
}

/// Philox4x32 with ten rounds: the key is bumped before every round but the first.
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (ctr, key);
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        c = round(c, k);
    }
    c
}

/// The eight words of one group: blocks 0 and 1 of its counter.
pub fn group_words(seed: u64, group: u64, step: u32) -> [u32; 8] {
    let key = [seed as u32, (seed >> 32) as u32];
    let ctr = |block| [group as u32, (group >> 32) as u32, step, block];
    let a = philox4x32_10(ctr(0), key);
    let b = philox4x32_10(ctr(1), key);
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
}

/// u = ((x >> 8) + 0.5)·2⁻²⁴, strictly inside (0, 1) (exact in f64).
pub fn uniform(x: u32) -> f64 {
    ((x >> 8) as f64 + 0.5) * (-24f64).exp2()
}

/// −ln u for [`uniform`]`(x)`. For u > ½ it goes through ln(1 − v) with v = 1 − u
/// (exact), the same split the kernel makes: in f32 u itself is not exact there.
pub fn neg_ln_uniform(x: u32) -> f64 {
    let k = x >> 8;
    if k < 1 << 23 {
        -uniform(x).ln()
    } else {
        let v = ((0x00FF_FFFF - k) as f64 + 0.5) * (-24f64).exp2();
        -(-v).ln_1p()
    }
}

/// Standard Gumbel noise g = −ln(−ln u).
pub fn gumbel(x: u32) -> f64 {
    -neg_ln_uniform(x).ln()
}

/// The six Gumbel noises of a group (one per candidate, in [`crate::Pattern::ALL`] order).
pub fn gumbel6(seed: u64, group: u64, step: u32) -> [f64; 6] {
    let w = group_words(seed, group, step);
    std::array::from_fn(|i| gumbel(w[i]))
}

/// Six standard normals of a group by Box–Muller on word pairs (0,1), (2,3), (4,5):
/// r = √(−2 ln u_a), z_a = r·cos 2πu_b, z_b = r·sin 2πu_b.
pub fn normal6(seed: u64, group: u64, step: u32) -> [f64; 6] {
    let w = group_words(seed, group, step);
    let mut z = [0f64; 6];
    for p in 0..3 {
        let r = (2.0 * neg_ln_uniform(w[2 * p])).sqrt();
        let (s, c) = (std::f64::consts::TAU * uniform(w[2 * p + 1])).sin_cos();
        z[2 * p] = r * c;
        z[2 * p + 1] = r * s;
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_stays_inside_open_interval() {
        assert!(uniform(0) > 0.0 && uniform(u32::MAX) < 1.0);
        assert!(gumbel(0).is_finite() && gumbel(u32::MAX).is_finite());
        // The split of neg_ln_uniform is continuous across its seam.
        let (a, b) = (neg_ln_uniform((1 << 31) - 256), neg_ln_uniform(1 << 31));
        assert!(a > b && a - b < 1e-6);
    }
}
