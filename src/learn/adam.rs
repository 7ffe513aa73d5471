//! Adam on f32 logits with f64 moments (deterministic: elementwise only).

use super::config::AdamConfig;

/// Moment estimates of one parameter vector.
#[derive(Clone, Debug)]
pub struct Adam {
    cfg: AdamConfig,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    /// Adam over `len` parameters, its moments at zero.
    pub fn new(cfg: AdamConfig, len: usize) -> Adam {
        Adam {
            cfg,
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    /// One descent step of `params` along `grad` (bias-corrected moments).
    pub fn step(&mut self, params: &mut [f32], grad: &[f64]) {
        self.t = self.t.saturating_add(1);
        let (b1, b2) = (self.cfg.beta1 as f64, self.cfg.beta2 as f64);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        let (lr, eps) = (self.cfg.lr as f64, self.cfg.eps as f64);
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let update = lr * (*m / c1) / ((*v / c2).sqrt() + eps);
            *p = (*p as f64 - update) as f32;
        }
    }
}
