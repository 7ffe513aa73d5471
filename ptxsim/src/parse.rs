//! Lexer and parser: PTX text to a raw syntax tree (names not yet resolved).

use crate::error::SimError;
use crate::limits::{Limit, Limits};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Num(String),
    Str(String),
    P(char),
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: u32,
}

fn perr(line: u32, msg: impl Into<String>) -> SimError {
    SimError::Parse {
        line,
        msg: msg.into(),
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$' || c == '%' || c == '.'
}
fn is_ident_cont(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.'
}

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, SimError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && i + 1 < chars.len() && chars[i + 1] == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && i + 1 < chars.len() && chars[i + 1] == '*' {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
            continue;
        }
        if c == '"' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token {
                tok: Tok::Str(s),
                line,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                s.push(chars[i]);
                i += 1;
            }
            out.push(Token {
                tok: Tok::Num(s),
                line,
            });
            continue;
        }
        if is_ident_start(c) {
            let mut s = String::new();
            s.push(c);
            i += 1;
            loop {
                if i < chars.len() && is_ident_cont(chars[i]) {
                    s.push(chars[i]);
                    i += 1;
                } else if i + 2 < chars.len()
                    && chars[i] == ':'
                    && chars[i + 1] == ':'
                    && is_ident_cont(chars[i + 2])
                {
                    s.push_str("::");
                    i += 2;
                } else {
                    break;
                }
            }
            out.push(Token {
                tok: Tok::Ident(s),
                line,
            });
            continue;
        }
        if "{}[]()<>,;:@!|+-=".contains(c) {
            out.push(Token {
                tok: Tok::P(c),
                line,
            });
            i += 1;
            continue;
        }
        return Err(perr(line, format!("unexpected character `{c}`")));
    }
    Ok(out)
}

/// An immediate as written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Imm {
    Int(i128),
    F32(u32),
    F64(u64),
    FDec(f64),
}

pub(crate) fn parse_num(s: &str, line: u32) -> Result<Imm, SimError> {
    let bad = || perr(line, format!("bad number `{s}`"));
    let lower = s.to_ascii_lowercase();
    if (lower.starts_with("0f")) && s.len() == 10 {
        return u32::from_str_radix(&s[2..], 16)
            .map(Imm::F32)
            .map_err(|_| bad());
    }
    if (lower.starts_with("0d")) && s.len() == 18 {
        return u64::from_str_radix(&s[2..], 16)
            .map(Imm::F64)
            .map_err(|_| bad());
    }
    let t = lower.trim_end_matches('u');
    // PTX integer literals are 64-bit: a longer one is an error, not a silent truncation
    let int = |r: Result<u128, std::num::ParseIntError>| match r {
        Ok(v) if v <= u64::MAX as u128 => Ok(Imm::Int(v as i128)),
        Ok(_) => Err(perr(
            line,
            format!("integer constant `{s}` does not fit in 64 bits"),
        )),
        Err(_) => Err(bad()),
    };
    if let Some(h) = t.strip_prefix("0x") {
        return int(u128::from_str_radix(h, 16));
    }
    if let Some(b) = t.strip_prefix("0b") {
        return int(u128::from_str_radix(b, 2));
    }
    if t.contains('.') || t.contains('e') {
        return t.parse::<f64>().map(Imm::FDec).map_err(|_| bad());
    }
    if t.len() > 1 && t.starts_with('0') {
        return int(u128::from_str_radix(&t[1..], 8));
    }
    int(t.parse::<u128>())
}

/// Whether an integer immediate fits a `bits`-wide operand, read as signed or unsigned
/// (ptxas accepts `-1` for a `.u32` as it accepts `0xffffffff`).
pub(crate) fn int_fits(v: i128, bits: u32) -> bool {
    let bits = bits.min(64);
    let lo = -(1i128 << (bits - 1));
    let hi = (1i128 << bits) - 1;
    (lo..=hi).contains(&v)
}

#[derive(Debug, Clone)]
pub(crate) enum RawOperand {
    Name(String),
    Imm(Imm),
    Not(String),
    PredPair(String, String),
    Vec(Vec<RawOperand>),
    Addr {
        base: Option<String>,
        off: i64,
    },
    List(Vec<RawOperand>),
    SymOff(String, i64),
    /// `[tmap, {c0, c1, ...}]`: a tensor-map address and tensor coordinates
    /// (cp.async.bulk.tensor).
    TensorAddr(String, Vec<RawOperand>),
}

#[derive(Debug, Clone)]
pub(crate) struct RawInst {
    pub guard: Option<(String, bool)>,
    pub opcode: String,
    pub operands: Vec<RawOperand>,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarSpace {
    Global,
    Const,
    Shared,
    Local,
    Param,
}

#[derive(Debug, Clone)]
pub(crate) struct VarDecl {
    pub space: VarSpace,
    pub align: u32,
    pub elem_bytes: u32,
    pub name: String,
    /// None: scalar; Some(None): `[]` unsized; Some(Some(n)): array of n.
    pub count: Option<Option<u64>>,
    pub init: Vec<Imm>,
    pub is_extern: bool,
    pub line: u32,
}

impl VarDecl {
    /// Size in bytes; None when it does not fit in a u64.
    pub fn size(&self) -> Option<u64> {
        match self.count {
            None => Some(self.elem_bytes as u64),
            Some(None) => Some(0),
            Some(Some(n)) => n.checked_mul(self.elem_bytes as u64),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Stmt {
    Label(String, u32),
    Inst(RawInst),
    Reg {
        #[allow(dead_code)]
        ty: String,
        names: Vec<String>,
        line: u32,
    },
    Var(VarDecl),
    Open,
    Close,
}

#[derive(Debug, Clone)]
pub(crate) struct RawFunc {
    pub name: String,
    pub is_entry: bool,
    pub params: Vec<VarDecl>,
    pub rets: Vec<VarDecl>,
    pub body: Option<Vec<Stmt>>,
    pub line: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RawModule {
    pub funcs: Vec<RawFunc>,
    pub vars: Vec<VarDecl>,
    /// The targets of the `.target` directive (`sm_80`, `sm_90a`, `debug`...).
    pub targets: Vec<String>,
}

struct P<'l> {
    t: Vec<Token>,
    i: usize,
    limits: &'l Limits,
    /// registers declared so far by the module, and by the function being parsed
    module_regs: u64,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|t| &t.tok)
    }
    fn line(&self) -> u32 {
        self.t
            .get(self.i)
            .or_else(|| self.t.last())
            .map(|t| t.line)
            .unwrap_or(0)
    }
    fn next(&mut self) -> Result<Tok, SimError> {
        let l = self.line();
        let t = self
            .t
            .get(self.i)
            .map(|t| t.tok.clone())
            .ok_or_else(|| perr(l, "unexpected end of input"))?;
        self.i += 1;
        Ok(t)
    }
    fn is_p(&self, c: char) -> bool {
        self.peek() == Some(&Tok::P(c))
    }
    fn eat_p(&mut self, c: char) -> bool {
        if self.is_p(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect_p(&mut self, c: char) -> Result<(), SimError> {
        if self.eat_p(c) {
            Ok(())
        } else {
            Err(perr(
                self.line(),
                format!("expected `{c}`, found {:?}", self.peek()),
            ))
        }
    }
    fn ident(&mut self) -> Result<String, SimError> {
        let l = self.line();
        match self.next()? {
            Tok::Ident(s) => Ok(s),
            t => Err(perr(l, format!("expected a name, found {t:?}"))),
        }
    }
    fn num_u64(&mut self) -> Result<u64, SimError> {
        let l = self.line();
        match self.next()? {
            Tok::Num(s) => match parse_num(&s, l)? {
                Imm::Int(v) if (0..=u64::MAX as i128).contains(&v) => Ok(v as u64),
                _ => Err(perr(l, format!("expected an integer, found `{s}`"))),
            },
            t => Err(perr(l, format!("expected a number, found {t:?}"))),
        }
    }
    fn peek_ident(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Ident(s)) => Some(s.as_str()),
            _ => None,
        }
    }
    /// Skip the remaining tokens on the current line.
    fn skip_line(&mut self, line: u32) {
        while self.i < self.t.len() && self.t[self.i].line == line {
            self.i += 1;
        }
    }
}

pub(crate) fn type_bytes(ty: &str) -> Option<u32> {
    Some(match ty {
        ".b8" | ".u8" | ".s8" => 1,
        ".b16" | ".u16" | ".s16" | ".f16" | ".bf16" => 2,
        ".b32" | ".u32" | ".s32" | ".f32" | ".f16x2" | ".bf16x2" | ".tf32" => 4,
        ".b64" | ".u64" | ".s64" | ".f64" => 8,
        ".b128" => 16,
        ".pred" => 1,
        _ => return None,
    })
}

fn space_of(s: &str) -> Option<VarSpace> {
    Some(match s {
        ".global" => VarSpace::Global,
        ".const" => VarSpace::Const,
        ".shared" => VarSpace::Shared,
        ".local" => VarSpace::Local,
        ".param" => VarSpace::Param,
        _ => return None,
    })
}

/// Parse a variable declaration after its state space token (already consumed).
fn parse_var(
    p: &mut P<'_>,
    space: VarSpace,
    is_extern: bool,
    line: u32,
) -> Result<VarDecl, SimError> {
    let mut align = 0u32;
    let mut elem_bytes = 0u32;
    let mut vec = 1u32;
    while let Some(s) = p.peek_ident() {
        if s == ".align" {
            p.i += 1;
            let a = p.num_u64()?;
            align = match u32::try_from(a) {
                Ok(a) if a.is_power_of_two() => a,
                _ => return Err(perr(line, format!(".align {a} is not a power of two"))),
            };
        } else if s == ".v2" || s == ".v4" || s == ".v8" {
            vec = s[2..].parse().unwrap_or(1);
            p.i += 1;
        } else if s == ".ptr" || s == ".global" || s == ".shared" || s == ".const" || s == ".local"
        {
            p.i += 1;
        } else if let Some(b) = type_bytes(s) {
            elem_bytes = b;
            p.i += 1;
        } else {
            break;
        }
    }
    if elem_bytes == 0 {
        return Err(perr(line, "variable declaration without a type"));
    }
    let scalar_bits = elem_bytes * 8;
    elem_bytes *= vec;
    let name = p.ident()?;
    let mut count = None;
    if p.eat_p('[') {
        if p.eat_p(']') {
            count = Some(None);
        } else {
            count = Some(Some(p.num_u64()?));
            p.expect_p(']')?;
        }
    }
    let mut init = Vec::new();
    if p.eat_p('=') {
        let braced = p.eat_p('{');
        loop {
            let l = p.line();
            let neg = p.eat_p('-');
            match p.next()? {
                Tok::Num(s) => {
                    let v = parse_num(&s, l)?;
                    if let Imm::Int(x) = v {
                        if !int_fits(if neg { -x } else { x }, scalar_bits) {
                            return Err(perr(
                                l,
                                format!(
                                    "initializer {}{s} does not fit in {scalar_bits} bits",
                                    if neg { "-" } else { "" }
                                ),
                            ));
                        }
                    }
                    init.push(if neg {
                        match v {
                            Imm::Int(x) => Imm::Int(-x),
                            Imm::FDec(x) => Imm::FDec(-x),
                            o => o,
                        }
                    } else {
                        v
                    });
                }
                t => {
                    return Err(perr(
                        l,
                        format!("unsupported initializer {t:?} (not supported yet)"),
                    ))
                }
            }
            if !p.eat_p(',') {
                break;
            }
        }
        if braced {
            p.expect_p('}')?;
        }
        let room = match count {
            None => 1,
            Some(None) => {
                // `a[] = {..}`: the initializer gives the length
                count = Some(Some(init.len() as u64 / vec as u64));
                u64::MAX
            }
            Some(Some(n)) => n.saturating_mul(vec as u64),
        };
        if init.len() as u64 > room {
            return Err(perr(
                line,
                format!(
                    "initializer of `{name}` has {} elements, more than its {room}",
                    init.len()
                ),
            ));
        }
    }
    if align == 0 {
        align = elem_bytes.max(1);
    }
    Ok(VarDecl {
        space,
        align,
        elem_bytes,
        name,
        count,
        init,
        is_extern,
        line,
    })
}

fn parse_param_list(p: &mut P<'_>) -> Result<Vec<VarDecl>, SimError> {
    let mut v = Vec::new();
    p.expect_p('(')?;
    if p.eat_p(')') {
        return Ok(v);
    }
    loop {
        let l = p.line();
        let s = p.ident()?;
        let space = match s.as_str() {
            ".param" => VarSpace::Param,
            ".reg" => VarSpace::Param,
            _ => return Err(perr(l, format!("expected .param, found `{s}`"))),
        };
        v.push(parse_var(p, space, false, l)?);
        if p.eat_p(')') {
            break;
        }
        p.expect_p(',')?;
    }
    Ok(v)
}

fn parse_operand(p: &mut P<'_>) -> Result<RawOperand, SimError> {
    let l = p.line();
    if p.eat_p('[') {
        let mut base = None;
        let mut off: i64 = 0;
        loop {
            if p.eat_p(']') {
                break;
            }
            let neg = if p.eat_p('-') {
                true
            } else {
                p.eat_p('+');
                p.eat_p('-')
            };
            match p.next()? {
                Tok::Ident(s) if p.is_p(',') => {
                    p.expect_p(',')?;
                    let RawOperand::Vec(coords) = parse_operand(p)? else {
                        return Err(perr(
                            l,
                            "expected `{coordinates}` after a tensor-map address",
                        ));
                    };
                    p.expect_p(']')?;
                    return Ok(RawOperand::TensorAddr(s, coords));
                }
                Tok::Ident(s) => base = Some(s),
                Tok::Num(s) => match parse_num(&s, l)? {
                    Imm::Int(v) => {
                        let v = v as i64;
                        off = off.wrapping_add(if neg { v.wrapping_neg() } else { v });
                    }
                    _ => return Err(perr(l, "bad address offset")),
                },
                t => return Err(perr(l, format!("bad address token {t:?}"))),
            }
        }
        return Ok(RawOperand::Addr { base, off });
    }
    if p.eat_p('{') {
        let mut v = Vec::new();
        if !p.eat_p('}') {
            loop {
                v.push(parse_operand(p)?);
                if p.eat_p('}') {
                    break;
                }
                p.expect_p(',')?;
            }
        }
        return Ok(RawOperand::Vec(v));
    }
    if p.eat_p('(') {
        let mut v = Vec::new();
        if !p.eat_p(')') {
            loop {
                v.push(parse_operand(p)?);
                if p.eat_p(')') {
                    break;
                }
                p.expect_p(',')?;
            }
        }
        return Ok(RawOperand::List(v));
    }
    if p.eat_p('!') {
        return Ok(RawOperand::Not(p.ident()?));
    }
    if p.eat_p('-') {
        let s = match p.next()? {
            Tok::Num(s) => s,
            t => return Err(perr(l, format!("expected number after `-`, found {t:?}"))),
        };
        return Ok(RawOperand::Imm(match parse_num(&s, l)? {
            Imm::Int(v) => Imm::Int(-v),
            Imm::FDec(v) => Imm::FDec(-v),
            Imm::F32(b) => Imm::F32(b ^ 0x8000_0000),
            Imm::F64(b) => Imm::F64(b ^ (1 << 63)),
        }));
    }
    match p.next()? {
        Tok::Num(s) => Ok(RawOperand::Imm(parse_num(&s, l)?)),
        Tok::Ident(s) => {
            if p.eat_p('|') {
                let q = p.ident()?;
                return Ok(RawOperand::PredPair(s, q));
            }
            if p.eat_p('+') {
                let off = p.num_u64()? as i64;
                return Ok(RawOperand::SymOff(s, off));
            }
            Ok(RawOperand::Name(s))
        }
        t => Err(perr(l, format!("unexpected operand token {t:?}"))),
    }
}

fn parse_body(p: &mut P<'_>) -> Result<Vec<Stmt>, SimError> {
    // the opening `{` was consumed
    let mut out = Vec::new();
    let mut depth = 1;
    let mut func_regs = 0u64;
    loop {
        let l = p.line();
        match p.peek().cloned() {
            None => return Err(perr(l, "unterminated function body")),
            Some(Tok::P('{')) => {
                p.i += 1;
                depth += 1;
                out.push(Stmt::Open);
            }
            Some(Tok::P('}')) => {
                p.i += 1;
                depth -= 1;
                if depth == 0 {
                    return Ok(out);
                }
                out.push(Stmt::Close);
            }
            Some(Tok::P('@')) => {
                p.i += 1;
                let neg = p.eat_p('!');
                let g = p.ident()?;
                let mut inst = parse_inst(p)?;
                inst.guard = Some((g, neg));
                out.push(Stmt::Inst(inst));
            }
            Some(Tok::Ident(s)) => {
                if s == ".reg" {
                    p.i += 1;
                    let mut ty = String::new();
                    while let Some(t) = p.peek_ident() {
                        if t.starts_with('.') {
                            if t != ".v2" && t != ".v4" {
                                ty = t.to_string();
                            }
                            p.i += 1;
                        } else {
                            break;
                        }
                    }
                    let mut names = Vec::new();
                    loop {
                        let n = p.ident()?;
                        if p.eat_p('<') {
                            let cnt = p.num_u64()?;
                            p.expect_p('>')?;
                            // checked before the names are made: `%r<10000000>` is 20 bytes
                            func_regs = p.limits.check(
                                Limit::RegistersPerFunction,
                                func_regs.checked_add(cnt),
                                Some(l),
                            )?;
                            p.module_regs = p.limits.check(
                                Limit::RegistersPerModule,
                                p.module_regs.checked_add(cnt),
                                Some(l),
                            )?;
                            for k in 0..cnt {
                                names.push(format!("{n}{k}"));
                            }
                        } else {
                            func_regs = p.limits.check(
                                Limit::RegistersPerFunction,
                                func_regs.checked_add(1),
                                Some(l),
                            )?;
                            p.module_regs = p.limits.check(
                                Limit::RegistersPerModule,
                                p.module_regs.checked_add(1),
                                Some(l),
                            )?;
                            names.push(n);
                        }
                        if !p.eat_p(',') {
                            break;
                        }
                    }
                    p.expect_p(';')?;
                    out.push(Stmt::Reg { ty, names, line: l });
                } else if let Some(sp) = space_of(&s) {
                    p.i += 1;
                    let v = parse_var(p, sp, false, l)?;
                    p.expect_p(';')?;
                    out.push(Stmt::Var(v));
                } else if s == ".extern" {
                    p.i += 1;
                    let sps = p.ident()?;
                    let sp = space_of(&sps).ok_or_else(|| perr(l, "bad .extern"))?;
                    let v = parse_var(p, sp, true, l)?;
                    p.expect_p(';')?;
                    out.push(Stmt::Var(v));
                } else if s == ".pragma" {
                    while !p.eat_p(';') {
                        p.next()?;
                    }
                } else if s == ".loc" || s == ".file" {
                    p.skip_line(l);
                } else if s.starts_with('.') {
                    return Err(perr(l, format!("unsupported directive `{s}` in body")));
                } else if p.t.get(p.i + 1).map(|t| &t.tok) == Some(&Tok::P(':')) {
                    p.i += 2;
                    out.push(Stmt::Label(s, l));
                } else {
                    out.push(Stmt::Inst(parse_inst(p)?));
                }
            }
            Some(t) => return Err(perr(l, format!("unexpected token {t:?} in body"))),
        }
    }
}

fn parse_inst(p: &mut P<'_>) -> Result<RawInst, SimError> {
    let line = p.line();
    let opcode = p.ident()?;
    let mut operands = Vec::new();
    if !p.eat_p(';') {
        loop {
            operands.push(parse_operand(p)?);
            if p.eat_p(';') {
                break;
            }
            p.expect_p(',')?;
        }
    }
    Ok(RawInst {
        guard: None,
        opcode,
        operands,
        line,
    })
}

pub(crate) fn parse_module(src: &str, limits: &Limits) -> Result<RawModule, SimError> {
    let t = lex(src)?;
    let mut p = P {
        t,
        i: 0,
        limits,
        module_regs: 0,
    };
    let mut m = RawModule::default();
    while let Some(tok) = p.peek().cloned() {
        let l = p.line();
        let s = match tok {
            Tok::Ident(s) => s,
            t => return Err(perr(l, format!("unexpected token {t:?} at module level"))),
        };
        match s.as_str() {
            ".version" | ".address_size" => {
                p.i += 1;
                p.next()?;
            }
            ".target" => {
                p.i += 1;
                m.targets.push(p.ident()?);
                while p.eat_p(',') {
                    m.targets.push(p.ident()?);
                }
            }
            ".file" | ".loc" => p.skip_line(l),
            ".section" => {
                // debug sections: skip the braced block
                p.i += 1;
                while !p.is_p('{') {
                    p.next()?;
                }
                let mut d = 0;
                loop {
                    match p.next()? {
                        Tok::P('{') => d += 1,
                        Tok::P('}') => {
                            d -= 1;
                            if d == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            ".visible" | ".weak" | ".common" => {
                p.i += 1;
            }
            ".extern" => {
                p.i += 1;
                let nx = p.peek_ident().unwrap_or("").to_string();
                if let Some(sp) = space_of(&nx) {
                    p.i += 1;
                    let v = parse_var(&mut p, sp, true, l)?;
                    p.expect_p(';')?;
                    m.vars.push(v);
                }
            }
            ".global" | ".const" | ".shared" => {
                p.i += 1;
                let sp = space_of(&s).ok_or_else(|| perr(l, "bad space"))?;
                let v = parse_var(&mut p, sp, false, l)?;
                p.expect_p(';')?;
                m.vars.push(v);
            }
            ".entry" | ".func" => {
                p.i += 1;
                let is_entry = s == ".entry";
                let mut rets = Vec::new();
                if !is_entry && p.is_p('(') {
                    rets = parse_param_list(&mut p)?;
                }
                let name = p.ident()?;
                let params = if p.is_p('(') {
                    parse_param_list(&mut p)?
                } else {
                    Vec::new()
                };
                // performance directives etc.
                let body;
                loop {
                    if p.eat_p(';') {
                        body = None;
                        break;
                    }
                    if p.eat_p('{') {
                        body = Some(parse_body(&mut p)?);
                        break;
                    }
                    if let Some(Tok::Ident(d)) = p.peek() {
                        if d == ".pragma" {
                            while !p.eat_p(';') {
                                p.next()?;
                            }
                            continue;
                        }
                    }
                    p.next()?;
                }
                m.funcs.push(RawFunc {
                    name,
                    is_entry,
                    params,
                    rets,
                    body,
                    line: l,
                });
            }
            _ => return Err(perr(l, format!("unexpected `{s}` at module level"))),
        }
    }
    Ok(m)
}
