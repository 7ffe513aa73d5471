//! The dense linear algebra the methods need, from faer: Cholesky factorisations,
//! the inverse of a symmetric positive-definite matrix, solves. The callers
//! parallelise over rows in fixed-size chunks and call faer sequentially, so a
//! result does not depend on the number of threads.

use crate::error::{Error, Result};
use faer::linalg::solvers::{DenseSolveCore, Solve};
use faer::{Mat, MatRef, Side};

/// A square row-major matrix as a faer matrix (symmetric inputs make the storage
/// order irrelevant, but the copy keeps it exact for any input).
pub(crate) fn square(a: &[f64], n: usize) -> Mat<f64> {
    Mat::from_fn(n, n, |i, j| a[i * n + j])
}

fn not_positive_definite(what: &'static str) -> Error {
    Error::InvalidArgument {
        what,
        why: "the matrix is not positive definite (raise the damping)".into(),
    }
}

/// U, upper triangular with `Uᵀ·U = H⁻¹`, for a symmetric positive-definite H: the factor SparseGPT reads its pruning costs (diagonal) and its update rows from.
pub(crate) fn inverse_upper_cholesky(h: &Mat<f64>) -> Result<Mat<f64>> {
    let inv = h
        .llt(Side::Lower)
        .map_err(|_| not_positive_definite("Hessian"))?
        .inverse();
    let l = inv
        .llt(Side::Lower)
        .map_err(|_| not_positive_definite("inverse Hessian"))?;
    Ok(l.L().transpose().to_owned())
}

/// Solves `A·x = b` for a symmetric positive-definite A (Cholesky), in place in `b`.
pub(crate) fn spd_solve(a: &Mat<f64>, b: &mut [f64]) -> Result<()> {
    let llt = a
        .llt(Side::Lower)
        .map_err(|_| not_positive_definite("refit system"))?;
    let x = llt.solve(MatRef::from_column_major_slice(b, b.len(), 1));
    for (i, v) in b.iter_mut().enumerate() {
        *v = x[(i, 0)];
    }
    Ok(())
}
