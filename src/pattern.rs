//! The six two-of-four patterns and their 2-bit index encoding: the one source of
//! truth for every kernel, layout and test (codes as in shared/HARDWARE.md).
//!
//! A group's 4-bit code holds the index of the first kept element in bits `[1:0]` and
//! of the second in bits `[3:2]`; indices are distinct and increasing, which is what
//! `mma.sp::ordered_metadata` requires. Sixteen consecutive columns of one row (four
//! groups) make one 16-bit metadata word, group j at bits `[4j+3:4j]`.

/// One of the six ways to keep two of four elements, in MaskLLM's candidate order
/// `1100`, `1010`, `1001`, `0110`, `0101`, `0011` (columns 0, 1, 2, 3 of the
/// group, left to right: 1 = kept).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// Keeps columns 0 and 1 (`1100`).
    P01,
    /// Keeps columns 0 and 2 (`1010`).
    P02,
    /// Keeps columns 0 and 3 (`1001`).
    P03,
    /// Keeps columns 1 and 2 (`0110`).
    P12,
    /// Keeps columns 1 and 3 (`0101`).
    P13,
    /// Keeps columns 2 and 3 (`0011`).
    P23,
}

/// Columns per group.
pub const GROUP: usize = 4;
/// Columns covered by one 16-bit metadata word.
pub const WORD_COLS: usize = 16;
/// Metadata word used for padding: every group keeps {0, 1} (code 0x4).
pub const PAD_WORD: u16 = 0x4444;

// The kernels' candidate order comes from crate::abi: a mismatch fails the build.
const _: () = {
    let mut i = 0;
    while i < Pattern::ALL.len() {
        assert!(Pattern::ALL[i].keep_bits() as u32 == crate::abi::CANDIDATE_KEEPS[i]);
        i += 1;
    }
    assert!(Pattern::ALL.len() == crate::abi::CANDIDATE_KEEPS.len());
};

impl Pattern {
    /// All six, in candidate order (the order of mask-sampling logits).
    pub const ALL: [Pattern; 6] = [
        Pattern::P01,
        Pattern::P02,
        Pattern::P03,
        Pattern::P12,
        Pattern::P13,
        Pattern::P23,
    ];

    /// Position in [`Pattern::ALL`].
    pub fn ordinal(self) -> usize {
        self as usize
    }

    /// The kept positions, ascending.
    pub const fn indices(self) -> [usize; 2] {
        match self {
            Pattern::P01 => [0, 1],
            Pattern::P02 => [0, 2],
            Pattern::P03 => [0, 3],
            Pattern::P12 => [1, 2],
            Pattern::P13 => [1, 3],
            Pattern::P23 => [2, 3],
        }
    }

    /// The 4-bit metadata code: first index in bits `[1:0]`, second in bits `[3:2]`.
    pub fn code(self) -> u8 {
        let [a, b] = self.indices();
        (a | (b << 2)) as u8
    }

    /// Inverse of [`Pattern::code`]; `None` for the ten illegal codes.
    pub fn from_code(code: u8) -> Option<Pattern> {
        match code {
            0x4 => Some(Pattern::P01),
            0x8 => Some(Pattern::P02),
            0xC => Some(Pattern::P03),
            0x9 => Some(Pattern::P12),
            0xD => Some(Pattern::P13),
            0xE => Some(Pattern::P23),
            _ => None,
        }
    }

    /// The pattern keeping positions `a < b`.
    pub fn from_indices(a: usize, b: usize) -> Option<Pattern> {
        if a < b && b < 4 {
            Pattern::from_code((a | b << 2) as u8)
        } else {
            None
        }
    }

    /// Bit i set when position i is kept (0b0011 for {0, 1}).
    pub const fn keep_bits(self) -> u8 {
        let [a, b] = self.indices();
        (1 << a) | (1 << b)
    }

    /// Whether position `i` (0..4) is kept.
    pub fn keeps(self, i: usize) -> bool {
        self.keep_bits() >> i & 1 == 1
    }

    /// The pattern with exactly these two bits set.
    pub fn from_keep_bits(bits: u8) -> Option<Pattern> {
        Pattern::ALL.into_iter().find(|p| p.keep_bits() == bits)
    }

    /// Number of positions this pattern shares with `other` (0, 1 or 2).
    pub fn overlap(self, other: Pattern) -> u32 {
        (self.keep_bits() & other.keep_bits()).count_ones()
    }

    /// The pattern that keeps the given (at most two) nonzero positions, filling up
    /// with the lowest zero positions. This is also the tie rule of magnitude
    /// pruning (lower index wins), so both agree on sparse input.
    pub fn covering(nonzero_bits: u8) -> Option<Pattern> {
        if nonzero_bits.count_ones() > 2 || nonzero_bits > 0xF {
            return None;
        }
        let mut bits = nonzero_bits;
        let mut i = 0;
        while bits.count_ones() < 2 {
            bits |= 1 << i & !nonzero_bits;
            i += 1;
        }
        Pattern::from_keep_bits(bits)
    }
}

/// Whether a 4-bit code is one of the six legal ones.
pub fn is_legal_code(code: u8) -> bool {
    Pattern::from_code(code).is_some()
}

/// Packs four group codes into one metadata word (group j at bits [4j+3:4j]).
pub fn pack_word(codes: [u8; 4]) -> u16 {
    codes
        .iter()
        .enumerate()
        .fold(0u16, |w, (j, &c)| w | ((c as u16 & 0xF) << (4 * j)))
}

/// The code of group `j` (0..4) of a metadata word.
pub fn word_code(word: u16, j: usize) -> u8 {
    ((word >> (4 * j)) & 0xF) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_hardware_table() {
        let codes: Vec<u8> = Pattern::ALL.iter().map(|p| p.code()).collect();
        assert_eq!(codes, vec![0x4, 0x8, 0xC, 0x9, 0xD, 0xE]);
        let legal: Vec<u8> = (0..16).filter(|&c| is_legal_code(c)).collect();
        assert_eq!(legal, vec![0x4, 0x8, 0x9, 0xC, 0xD, 0xE]);
        assert_eq!(pack_word([Pattern::P02.code(); 4]), 0x8888);
        assert_eq!(pack_word([Pattern::P23.code(); 4]), 0xEEEE);
        assert_eq!(pack_word([Pattern::P01.code(); 4]), PAD_WORD);
    }

    #[test]
    fn covering_fills_lowest_zero_positions() {
        assert_eq!(Pattern::covering(0), Some(Pattern::P01));
        assert_eq!(Pattern::covering(0b0100), Some(Pattern::P02));
        assert_eq!(Pattern::covering(0b0001), Some(Pattern::P01));
        assert_eq!(Pattern::covering(0b1000), Some(Pattern::P03));
        assert_eq!(Pattern::covering(0b1010), Some(Pattern::P13));
        assert_eq!(Pattern::covering(0b0111), None);
    }
}
