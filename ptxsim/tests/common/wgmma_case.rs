//! The host side of a one-warpgroup wgmma case, shared by tests/wgmma.rs and sparse24's
//! `wgmma-probes` example (which runs the same cases on ptxsim and on a GPU): random
//! small-integer operands, laid out in shared memory as the PTX ISA's canonical layouts
//! say (K-major: (mn/8)·SBO + (k/8)·LBO + (mn%8)·16 + (k%8)·2 unswizzled,
//! (mn/8)·SBO + (mn%8)·W + 2k swizzled; MN-major: (k/8)·LBO + (k%8)·16 + (mn/8)·SBO +
//! (mn%8)·2 unswizzled, (mn/E)·LBO + (mn%E)·2 + (k/8)·SBO + (k%8)·W swizzled, E = W/2;
//! Swizzle<B,4,3> on the address), the A fragment and metadata registers (HARDWARE.md), C,
//! and the expected D in the accumulator layout.
#![allow(dead_code)]

use rand::{rngs::StdRng, Rng};

/// A shared-memory matrix layout: swizzle span in bytes (0: none) and major-ness.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub swz: u64,
    pub mn_major: bool,
    pub lbo: u64,
    pub sbo: u64,
    /// elements of the tile along K in one K-major swizzled row (the instruction reads
    /// K elements from `koff`)
    pub koff: u64,
}

impl Layout {
    /// Byte address (relative to the matrix's base) of element (mn, k), swizzled.
    pub fn addr(&self, mn: u64, k: u64) -> u64 {
        let k = k + self.koff;
        let a = match (self.swz, self.mn_major) {
            (0, false) => (mn / 8) * self.sbo + (k / 8) * self.lbo + (mn % 8) * 16 + (k % 8) * 2,
            (w, false) => (mn / 8) * self.sbo + (mn % 8) * w + 2 * k,
            (0, true) => (k / 8) * self.lbo + (k % 8) * 16 + (mn / 8) * self.sbo + (mn % 8) * 2,
            (w, true) => {
                let e = w / 2;
                (mn / e) * self.lbo + (mn % e) * 2 + (k / 8) * self.sbo + (k % 8) * w
            }
        };
        // Swizzle<B,4,3>: the 16-byte chunk index XOR the row of the 8-row pattern
        let bits = match self.swz {
            0 => return a,
            32 => 1,
            64 => 2,
            _ => 3,
        };
        a ^ (((a >> 7) & ((1 << bits) - 1)) << 4)
    }
    /// The 64-bit descriptor for a matrix at relative address `base` (the kernel adds the
    /// shared address of its buffer >> 4).
    pub fn desc(&self, base: u64) -> u64 {
        let mode: u64 = match self.swz {
            0 => 0,
            128 => 1,
            64 => 2,
            _ => 3,
        };
        // a K step inside a swizzled K-major row moves the start address along the row
        let start = base + 2 * self.koff;
        (start >> 4) | ((self.lbo >> 4) << 16) | ((self.sbo >> 4) << 32) | (mode << 62)
    }
    /// A layout for an MN × K tile (K elements read by the instruction).
    pub fn new(swz: u64, mn_major: bool, mn: u64, k: u64, rng: &mut StdRng) -> Layout {
        match (swz, mn_major) {
            (0, _) => {
                // core matrices of 128 bytes: K-direction neighbours adjacent (LBO = 128),
                // or MN-direction neighbours adjacent (SBO = 128)
                if rng.gen_bool(0.5) {
                    Layout {
                        swz,
                        mn_major,
                        lbo: 128,
                        sbo: 128 * (k / 8),
                        koff: 0,
                    }
                } else {
                    Layout {
                        swz,
                        mn_major,
                        lbo: 128 * mn.div_ceil(8),
                        sbo: 128,
                        koff: 0,
                    }
                }
            }
            (w, false) => {
                // a tile of W/2 elements along K; the instruction reads K of them from koff
                let koff = rng.gen_range(0..=(w / 2 - k) / 8) * 8;
                Layout {
                    swz,
                    mn_major,
                    lbo: 16,
                    sbo: 8 * w,
                    koff,
                }
            }
            (w, true) => {
                // atoms of 8 K-rows × W bytes (W/2 MN elements): along K at SBO, along MN
                // at LBO, after all K atoms
                Layout {
                    swz,
                    mn_major,
                    lbo: 8 * w * (k / 8),
                    sbo: 8 * w,
                    koff: 0,
                }
            }
        }
    }
    /// Bytes the layout spans for an MN × K tile.
    pub fn span(&self, mn: u64, k: u64) -> u64 {
        let mut hi = 0;
        for i in 0..mn {
            for j in 0..k {
                hi = hi.max(self.addr(i, j) + 2);
            }
        }
        hi
    }
}

pub fn f16_bits(v: i32) -> u16 {
    half::f16::from_f32(v as f32).to_bits()
}
pub fn bf16_bits(v: i32) -> u16 {
    half::bf16::from_f32(v as f32).to_bits()
}

#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub n: u64,
    pub bf16: bool,
    /// Some(selector): .sp
    pub sp: Option<u32>,
    /// A through a descriptor with this layout (swizzle, MN-major); None: registers
    pub a_smem: Option<(u64, bool)>,
    pub b: (u64, bool),
    pub scale_d: bool,
    pub neg_a: bool,
    pub neg_b: bool,
}

pub const BASE: Case = Case {
    n: 16,
    bf16: true,
    sp: None,
    a_smem: None,
    b: (0, false),
    scale_d: true,
    neg_a: false,
    neg_b: false,
};

/// A case's operands as the kernels take them, and the expected D.
pub struct HostData {
    pub img: Vec<u8>,
    pub adesc: u64,
    pub bdesc: u64,
    pub areg: Vec<u32>,
    pub meta: Vec<u32>,
    pub cin: Vec<f32>,
    pub want: Vec<f32>,
    /// the wgmma instruction of the case (registers as tests/wgmma.rs's kernels name them)
    pub wgmma: String,
}

/// The legal 2:4 codes (HARDWARE.md).
pub const CODES: [u32; 6] = [0x4, 0x8, 0xC, 0x9, 0xD, 0xE];

/// The operands of case `c` on random small integers (exact in f32), laid out by [`Layout`].
pub fn host_data(c: Case, rng: &mut StdRng) -> HostData {
    let k: u64 = if c.sp.is_some() { 32 } else { 16 };
    let ka = 16u64;
    let n = c.n;
    let enc = |v: i32| if c.bf16 { bf16_bits(v) } else { f16_bits(v) };
    // logical A (64 × k) from stored values + metadata
    let mut a_st = vec![[0i32; 16]; 64];
    let mut a_log = vec![vec![0i32; k as usize]; 64];
    let mut words = vec![[0u32; 2]; 64]; // 16-bit metadata words per row
    for r in 0..64 {
        for x in a_st[r].iter_mut() {
            *x = rng.gen_range(-3..=3);
        }
        if c.sp.is_some() {
            for grp in 0..8 {
                let code = CODES[rng.gen_range(0..6)];
                words[r][grp / 4] |= code << (4 * (grp % 4));
                a_log[r][4 * grp + (code & 3) as usize] = a_st[r][2 * grp];
                a_log[r][4 * grp + (code >> 2) as usize] = a_st[r][2 * grp + 1];
            }
        } else {
            a_log[r][..16].copy_from_slice(&a_st[r]);
        }
    }
    let b: Vec<Vec<i32>> = (0..k)
        .map(|_| (0..n).map(|_| rng.gen_range(-3..=3)).collect())
        .collect();
    let cm: Vec<Vec<i32>> = (0..64)
        .map(|_| (0..n).map(|_| rng.gen_range(-20..=20)).collect())
        .collect();
    let (sa, sb) = (if c.neg_a { -1 } else { 1 }, if c.neg_b { -1 } else { 1 });
    let mut want = vec![0f32; 128 * (n as usize / 2)];
    let mut cin = vec![0f32; want.len()];
    let nd = n as usize / 2;
    for t in 0..128usize {
        let (w, l) = (t / 32, t % 32);
        let (g, q) = (l / 4, l % 4);
        for i in 0..nd {
            let row = 16 * w + g + 8 * ((i >> 1) & 1);
            let col = 8 * (i >> 2) + 2 * q + (i & 1);
            let mut acc = if c.scale_d { cm[row][col] } else { 0 };
            for kk in 0..k as usize {
                acc += sa * sb * a_log[row][kk] * b[kk][col];
            }
            want[t * nd + i] = acc as f32;
            cin[t * nd + i] = cm[row][col] as f32;
        }
    }
    // A registers (rows 16w.. as an m16n8k16 A fragment of the stored tile) and metadata
    let mut areg = vec![0u32; 128 * 4];
    let mut meta = vec![0u32; 128];
    for t in 0..128usize {
        let (w, l) = (t / 32, t % 32);
        let (g, q) = (l / 4, l % 4);
        for i in 0..4 {
            let row = 16 * w + g + 8 * (i & 1);
            let col = 2 * q + 8 * (i >> 1);
            areg[4 * t + i] = enc(a_st[row][col]) as u32 | (enc(a_st[row][col + 1]) as u32) << 16;
        }
        if let Some(sel) = c.sp {
            // lanes t%4 in {2 sel, 2 sel + 1} carry the metadata; the others hold a
            // different legal pattern the hardware ignores
            let r0 = 16 * w + g;
            meta[t] = if q / 2 == sel as usize {
                words[r0][q % 2] | words[r0 + 8][q % 2] << 16
            } else {
                0xEEEE_EEEE
            };
        }
    }
    // shared-memory image: A at 0 (if from smem), B after it (1024-aligned)
    let mut img = vec![0u8; 0];
    let put = |img: &mut Vec<u8>, at: u64, v: u16| {
        let at = at as usize;
        if img.len() < at + 2 {
            img.resize(at + 2, 0);
        }
        img[at..at + 2].copy_from_slice(&v.to_le_bytes());
    };
    let mut adesc = 0;
    let mut bbase = 0;
    if let Some((swz, mnm)) = c.a_smem {
        let lay = Layout::new(swz, mnm, 64, ka, rng);
        // fill the whole span so that the layout's unused bytes are initialised
        let span = lay.span(64, ka);
        img.resize(span as usize, 0);
        for r in 0..64 {
            for j in 0..ka {
                put(&mut img, lay.addr(r, j), enc(a_st[r as usize][j as usize]));
            }
        }
        adesc = lay.desc(0);
        bbase = span.div_ceil(1024) * 1024;
    }
    let (swz, mnm) = c.b;
    let lay = Layout::new(swz, mnm, n, k, rng);
    let span = lay.span(n, k);
    img.resize((bbase + span) as usize, 0);
    for kk in 0..k {
        for j in 0..n {
            put(
                &mut img,
                bbase + lay.addr(j, kk),
                enc(b[kk as usize][j as usize]),
            );
        }
    }
    let bdesc = lay.desc(bbase);
    img.resize(img.len().div_ceil(16) * 16, 0);
    let ty = if c.bf16 { "bf16" } else { "f16" };
    let d: Vec<String> = (0..nd).map(|i| format!("%f{i}")).collect();
    let a = if c.a_smem.is_some() {
        "%rd5"
    } else {
        "{%r10, %r11, %r12, %r13}"
    };
    let sp = if c.sp.is_some() { ".sp" } else { "" };
    let meta_ops = match c.sp {
        Some(sel) => format!(" %r14, {sel},"),
        None => String::new(),
    };
    let trans = match c.a_smem {
        Some((_, ta)) => format!("{}, {}", ta as u32, c.b.1 as u32),
        None => format!("{}", c.b.1 as u32),
    };
    let wgmma = format!(
        "\twgmma.mma_async{sp}.sync.aligned.m64n{n}k{k}.f32.{ty}.{ty} {{{}}}, {a}, %rd6,{meta_ops} %p2, {}, {}, {trans};\n",
        d.join(", "),
        if c.neg_a { -1 } else { 1 },
        if c.neg_b { -1 } else { 1 },
    );
    HostData {
        img,
        adesc,
        bdesc,
        areg,
        meta,
        cin,
        want,
        wgmma,
    }
}

/// One probe: a kernel of tests/kernels/wgmma.cu, its case, the seed of its operands, and
/// the layout fact a GPU run of it confirms or refutes.
pub struct Probe {
    pub kernel: &'static str,
    pub case: Case,
    pub seed: u64,
    pub fact: String,
    /// the pipelined probe runs its wgmma this many times (1: the others)
    pub repeat: u32,
}

impl Probe {
    /// The kernel's last parameter: scale-d, or the pipelined probe's iteration count.
    pub fn last_param(&self) -> i32 {
        if self.repeat > 1 {
            self.repeat as i32
        } else {
            self.case.scale_d as i32
        }
    }
    /// D the probe must produce: C + repeat · A·B (or A·B when scale-d is false).
    pub fn expected(&self, want: &[f32], cin: &[f32]) -> Vec<f32> {
        if self.repeat <= 1 {
            return want.to_vec();
        }
        want.iter()
            .zip(cin)
            .map(|(w, c)| c + self.repeat as f32 * (w - c))
            .collect()
    }
}

/// Every probe, one axis at a time.
pub fn probes() -> Vec<Probe> {
    let mut v = Vec::new();
    let mut add = |kernel: &'static str, case: Case, seed: u64, fact: String| {
        v.push(Probe {
            kernel,
            case,
            seed,
            fact,
            repeat: 1,
        })
    };
    for sel in [0, 1] {
        add(
            if sel == 0 { "probe_sp_rs_n8_sel0" } else { "probe_sp_rs_n8_sel1" },
            Case { n: 8, sp: Some(sel), ..BASE },
            70 + sel as u64,
            format!(".sp m64n8k32, A and metadata from registers, selector {sel}, K-major unswizzled B (the H200-confirmed baseline)"),
        );
    }
    add(
        "probe_dense_rs_n128",
        Case { n: 128, ..BASE },
        72,
        "dense m64n128k16, A from registers: the A fragment and the N = 128 accumulator layout"
            .into(),
    );
    for (i, swz) in [0u64, 32, 64, 128].into_iter().enumerate() {
        let k = Case {
            n: 64,
            a_smem: Some((swz, false)),
            b: (swz, false),
            ..BASE
        };
        add(
            "probe_dense_ss_n64_t00",
            k,
            80 + i as u64,
            format!("K-major A and B through descriptors, swizzle {swz} (0 = none): LBO/SBO meaning, swizzle pattern, K step inside the atom"),
        );
        add(
            "probe_dense_ss_n64_t11",
            Case {
                a_smem: Some((swz, true)),
                b: (swz, true),
                ..k
            },
            90 + i as u64,
            format!("MN-major (transposed) A and B, swizzle {swz}: LBO/SBO meaning for MN-major"),
        );
    }
    add(
        "probe_dense_ss_n256",
        Case {
            n: 256,
            a_smem: Some((0, false)),
            b: (32, false),
            scale_d: false,
            ..BASE
        },
        99,
        "dense m64n256k16: the N = 256 accumulator layout, scale-d false".into(),
    );
    for (i, swz) in [0u64, 64, 128].into_iter().enumerate() {
        add(
            "probe_sp_ss_n64",
            Case { n: 64, sp: Some(0), a_smem: Some((swz, false)), b: (swz, false), ..BASE },
            100 + i as u64,
            format!(".sp m64n64k32, compressed A and B through descriptors, swizzle {swz}: compressed A as a dense 64x16 tile, B's K = 32"),
        );
    }
    v.push(Probe {
        kernel: "probe_dense_ss_n64_pipelined",
        case: Case { n: 64, a_smem: Some((128, false)), b: (128, false), ..BASE },
        seed: 110,
        fact: "nvcc's mainloop shape: fence, wgmma, commit, wait_group 1 as separate statements, 6 wgmmas chained on in-flight accumulators".into(),
        repeat: 6,
    });
    v
}
