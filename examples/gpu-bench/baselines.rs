//! The baselines, on the same inputs as sparse24: dense cuBLASLt and NVIDIA's
//! cuSPARSELt (its default plan, then its own searched plan).

use super::bench::{finish, Bench, Io, Outcome};
use super::cases::{check_output, padded_tokens, Host};
use super::device::{alloc, copy_dtod, dptr};
use super::error::{BenchError, Res};
use super::timing::time_op;
use cudarc::driver::{CudaSlice, CudaStream};
use sparse24::cuda::blaslt::{self, Layout, LtMatmul};
use sparse24::cusparselt::{self, SparseLtLinear};
use sparse24::{DType, Element};
use std::sync::Arc;

// ---------------------------------------------------------------- cuBLASLt dense

/// The dense baseline Y[tokens, out] = X · Wᵀ (TN, f32 compute) on the library's
/// cuBLASLt matmul: column-major view A = W as [in, out] (ld in), op T; B = X as
/// [in, tokens] (ld in); D = Y as [out, tokens] (ld out).
fn dense_lt(
    stream: &Arc<CudaStream>,
    dtype: DType,
    tokens: usize,
    out: usize,
    inn: usize,
) -> Res<LtMatmul> {
    if dtype == DType::F32 {
        return Err(BenchError::Unsupported("cuBLASLt baseline: f16/bf16 only"));
    }
    let l = |rows, cols| Layout {
        rows,
        cols,
        ld: rows,
    };
    Ok(LtMatmul::new(
        stream,
        dtype,
        true,
        l(inn, out),
        l(inn, tokens),
        l(out, tokens),
    )?)
}

pub fn cublaslt_available() -> Res<()> {
    if blaslt::present() {
        Ok(())
    } else {
        Err(BenchError::NotAvailable(
            "libcublasLt not found on the loader path",
        ))
    }
}

/// Whether cuSPARSELt refused the problem as posed (so it may take it padded).
fn refused(why: &str) -> bool {
    why.contains("NOT_SUPPORTED") || why.contains("INVALID_VALUE")
}

impl Bench {
    pub fn dense<T: Element>(&self, h: &Host<T>, io: &Io, w: &[CudaSlice<u8>]) -> Outcome {
        if let Err(e) = cublaslt_available() {
            return Outcome::NotAvailable(e.to_string());
        }
        let s = &self.stream;
        let run = || -> Res<Outcome> {
            let lt = dense_lt(s, T::DTYPE, h.tokens, h.out, h.inn)?;
            self.poison(io)?;
            lt.enqueue(s, dptr(s, &w[0]), dptr(s, &io.x[0]), dptr(s, &io.y[0]))?;
            s.synchronize()?;
            let err = check_output(s, &io.y[0], h)?;
            let bytes = h.out * h.inn * T::DTYPE.size() + io.x_bytes + io.y_bytes;
            let c = io.copies;
            let ptrs: Vec<(u64, u64, u64)> = (0..c)
                .map(|i| {
                    (
                        dptr(s, &w[i % w.len()]),
                        dptr(s, &io.x[i]),
                        dptr(s, &io.y[i]),
                    )
                })
                .collect();
            Ok(finish(s, T::DTYPE, err, bytes, String::new(), || {
                time_op(s, self.reps, self.target_ms, c, &mut |i| {
                    let (a, b, y) = ptrs[i % c];
                    Ok(lt.enqueue(s, a, b, y)?)
                })
            }))
        };
        run().unwrap_or_else(|e| {
            let _ = s.synchronize();
            Outcome::Failed(e.to_string())
        })
    }

    /// cuSPARSELt with its default plan, then after its own search.
    pub fn sparselt<T: Element>(
        &self,
        h: &Host<T>,
        io: &Io,
        w_dense: &CudaSlice<u8>,
    ) -> (Outcome, Outcome) {
        let lib = match cusparselt::library() {
            Ok(l) => l,
            Err(e) => return (Outcome::NotAvailable(e.clone()), Outcome::NotAvailable(e)),
        };
        let s = &self.stream;
        match self.sparselt_inner(lib, h, io, w_dense) {
            Ok(r) => r,
            Err(e) => {
                let _ = s.synchronize();
                (
                    Outcome::Failed(e.to_string()),
                    Outcome::Failed(e.to_string()),
                )
            }
        }
    }

    fn sparselt_inner<T: Element>(
        &self,
        lib: &'static cusparselt::CuSparseLt,
        h: &Host<T>,
        io: &Io,
        w_dense: &CudaSlice<u8>,
    ) -> Res<(Outcome, Outcome)> {
        let s = &self.stream;
        let first = self.sparselt_tokens(lib, h, io, w_dense, h.tokens);
        let padded = padded_tokens(h.tokens);
        let rejected = |o: &Outcome| match o {
            Outcome::Failed(w) => refused(w),
            _ => false,
        };
        match first {
            // PyTorch pads the dense input to 16 rows for cuSPARSELt; do the same
            // when the library refuses the token count as it is.
            Err(e) if padded != h.tokens && refused(&e.to_string()) => {
                let _ = s.synchronize();
                self.sparselt_tokens(lib, h, io, w_dense, padded)
            }
            Ok((d, sr)) if padded != h.tokens && (rejected(&d) || rejected(&sr)) => {
                let _ = s.synchronize();
                self.sparselt_tokens(lib, h, io, w_dense, padded)
            }
            r => r,
        }
    }

    /// cuSPARSELt run as a problem of `tokens` rows (≥ h.tokens: padded with zero rows
    /// of X; only the first h.tokens rows of Y are checked; FLOPs count h.tokens).
    fn sparselt_tokens<T: Element>(
        &self,
        lib: &'static cusparselt::CuSparseLt,
        h: &Host<T>,
        io: &Io,
        w_dense: &CudaSlice<u8>,
        tokens: usize,
    ) -> Res<(Outcome, Outcome)> {
        let s = &self.stream;
        let pad_note = if tokens != h.tokens {
            format!(" (run as {tokens} tokens, zero-padded like PyTorch)")
        } else {
            String::new()
        };
        let mut m = SparseLtLinear::new(lib, T::DTYPE, tokens, h.out, h.inn)?;
        let dense_bytes = h.out * h.inn * T::DTYPE.size();
        // Its own prune (strip, magnitude) of our already 2:4 weight, its own check.
        let pruned = alloc(s, dense_bytes)?;
        m.prune(dptr(s, w_dense), dptr(s, &pruned), s)?;
        let valid = alloc(s, 4)?;
        m.prune_check(dptr(s, &pruned), dptr(s, &valid), s)?;
        let v = s.clone_dtoh(&valid)?;
        if v != [0, 0, 0, 0] {
            return Err(BenchError::PruneCheck(v));
        }
        let (csize, cbuf) = m.compressed_size()?;
        let scratch = alloc(s, cbuf)?;
        let comp0 = alloc(s, csize)?;
        m.compress(
            dptr(s, &pruned),
            dptr(s, &comp0),
            if cbuf > 0 { dptr(s, &scratch) } else { 0 },
            s,
        )?;
        drop(pruned);
        let mut comp = vec![comp0];
        for _ in 1..io.copies {
            let c = alloc(s, csize)?;
            copy_dtod(s, dptr(s, &c), dptr(s, &comp[0]), csize)?;
            comp.push(c);
        }
        let bytes = csize + io.x_bytes + io.y_bytes;
        let c = io.copies;
        let ptrs: Vec<(u64, u64, u64)> = (0..c)
            .map(|i| (dptr(s, &comp[i]), dptr(s, &io.x[i]), dptr(s, &io.y[i])))
            .collect();
        let measure = |m: &mut SparseLtLinear, label: &str| -> Res<Outcome> {
            let wsz = m.workspace_size()?;
            let ws = alloc(s, wsz)?;
            let wp = if wsz > 0 { dptr(s, &ws) } else { 0 };
            self.poison(io)?;
            let (a, b, y) = ptrs[0];
            m.matmul(a, b, y, wp, s)?;
            s.synchronize()?;
            let err = check_output(s, &io.y[0], h)?;
            let note = format!(
                "{label} alg={} ws={}B{pad_note}",
                m.algorithm_id()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|e| e.to_string()),
                wsz
            );
            Ok(finish(s, T::DTYPE, err, bytes, note, || {
                time_op(s, self.reps, self.target_ms, c, &mut |i| {
                    let (a, b, y) = ptrs[i % c];
                    Ok(m.matmul(a, b, y, wp, s)?)
                })
            }))
        };
        let failed = |e: BenchError| Outcome::Failed(e.to_string());
        let default = measure(&mut m, "default").unwrap_or_else(failed);
        let searched = (|| {
            let (a, b, y) = ptrs[0];
            // Room for the split-K configurations the search tries.
            let wsz = m.workspace_size()?.max(64 << 20);
            let ws = alloc(s, wsz)?;
            m.search(a, b, y, dptr(s, &ws), s)?;
            s.synchronize()?;
            measure(&mut m, "searched")
        })()
        .unwrap_or_else(failed);
        Ok((default, searched))
    }
}
