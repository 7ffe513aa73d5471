//! Modifier bookkeeping for the decoders: each `.modifier` of an opcode must be consumed.

use crate::ir::{Rnd, Space, Ty};

/// Modifier bookkeeping: every modifier must be consumed, or the instruction is unsupported.
pub(super) struct Mods {
    v: Vec<String>,
    pub(super) used: Vec<bool>,
}

impl Mods {
    pub(super) fn new(parts: &[&str]) -> Mods {
        Mods {
            v: parts.iter().map(|s| s.to_string()).collect(),
            used: vec![false; parts.len()],
        }
    }
    pub(super) fn has(&mut self, m: &str) -> bool {
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] && x == m {
                self.used[i] = true;
                return true;
            }
        }
        false
    }
    pub(super) fn one<'b>(&mut self, opts: &[&'b str]) -> Option<&'b str> {
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] {
                if let Some(o) = opts.iter().find(|o| **o == x.as_str()) {
                    self.used[i] = true;
                    return Some(o);
                }
            }
        }
        None
    }
    pub(super) fn prefixed(&mut self, p: &str) -> Option<String> {
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] && x.starts_with(p) {
                self.used[i] = true;
                return Some(x.clone());
            }
        }
        None
    }
    pub(super) fn types(&mut self) -> Vec<Ty> {
        let mut out = Vec::new();
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] {
                if let Some(t) = Ty::parse(x) {
                    self.used[i] = true;
                    out.push(t);
                }
            }
        }
        out
    }
    pub(super) fn ty(&mut self) -> Result<Ty, String> {
        let t = self.types();
        if t.len() == 1 {
            Ok(t[0])
        } else {
            Err(format!("expected one type, found {t:?}"))
        }
    }
    pub(super) fn rnd(&mut self) -> Option<Rnd> {
        self.one(&["rn", "rz", "rm", "rp"]).map(|r| match r {
            "rn" => Rnd::Rn,
            "rz" => Rnd::Rz,
            "rm" => Rnd::Rm,
            _ => Rnd::Rp,
        })
    }
    pub(super) fn finish(&self, opcode: &str) -> Result<(), String> {
        for (i, x) in self.v.iter().enumerate() {
            if !self.used[i] {
                return Err(format!("unknown modifier `.{x}` in `{opcode}`"));
            }
        }
        Ok(())
    }
    /// Memory-ordering and cache modifiers that do not change single-threaded semantics.
    /// Returns whether `.L2::cache_hint` was among them (then the instruction takes a
    /// trailing cache-policy operand: see `decode::mem::policy`).
    pub(super) fn eat_mem_hints(&mut self) -> Result<bool, String> {
        let hint = self.v.iter().any(|x| x == "L2::cache_hint");
        for (i, x) in self.v.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let ok = matches!(
                x.as_str(),
                "weak"
                    | "volatile"
                    | "relaxed"
                    | "acquire"
                    | "release"
                    | "acq_rel"
                    | "sc"
                    | "mmio"
                    | "cta"
                    | "gpu"
                    | "sys"
                    | "cluster"
                    | "ca"
                    | "cg"
                    | "cs"
                    | "lu"
                    | "cv"
                    | "wb"
                    | "wt"
                    | "nc"
                    | "L1::evict_normal"
                    | "L1::evict_unchanged"
                    | "L1::evict_first"
                    | "L1::evict_last"
                    | "L1::no_allocate"
                    | "L2::evict_normal"
                    | "L2::evict_first"
                    | "L2::evict_last"
                    | "L2::64B"
                    | "L2::128B"
                    | "L2::256B"
            );
            if ok || x == "L2::cache_hint" {
                self.used[i] = true;
            }
        }
        Ok(hint)
    }
    pub(super) fn space(&mut self) -> Space {
        match self.one(&[
            "global",
            "shared",
            "shared::cta",
            "shared::cluster",
            "local",
            "param",
            "param::entry",
            "param::func",
            "const",
        ]) {
            Some("global") => Space::Global,
            Some("shared") | Some("shared::cta") => Space::Shared,
            Some("shared::cluster") => Space::SharedCluster,
            Some("local") => Space::Local,
            Some("param") | Some("param::entry") | Some("param::func") => Space::Param,
            Some("const") => Space::Const,
            _ => Space::Generic,
        }
    }
}
