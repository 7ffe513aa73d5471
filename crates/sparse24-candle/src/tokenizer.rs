//! [`WordPiece`]: the BERT uncased tokenizer read from a Hugging Face
//! `tokenizer.json` (WordPiece model, BertNormalizer, BertPreTokenizer, `[CLS] … [SEP]`
//! template), written to give the ids Hugging Face `tokenizers` gives (tested on a
//! fixture made with it, tests/fixtures/make-fixture.py) without its dependencies.
//!
//! The steps, in `tokenizers`' order: added (special) tokens are split out of the raw
//! text first; the rest is cleaned (control and format characters dropped, whitespace
//! made a space), CJK ideographs padded with spaces, accents stripped (NFD, then
//! nonspacing marks dropped), lowercased; split on whitespace and around every
//! punctuation character; each word split greedily into the longest vocabulary
//! pieces (`##` for continuations; `[UNK]` for a word with no split or longer than
//! the limit); truncated to the maximum length with `[CLS]` and `[SEP]` added.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// A BERT WordPiece tokenizer (see the module documentation).
#[derive(Clone, Debug)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    /// Special tokens matched in the raw text, longest first.
    added: Vec<(String, u32)>,
    unk: u32,
    cls: u32,
    sep: u32,
    prefix: String,
    max_word_chars: usize,
    /// Ids per sequence, `[CLS]` and `[SEP]` included.
    max_len: usize,
    clean_text: bool,
    chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

fn bad(what: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("tokenizer.json: {what}"))
}

/// `v[key]` as a bool, `default` when absent or null.
fn flag(v: &Value, key: &str, default: bool) -> candle_core::Result<bool> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(format!("{key} is {other}, expected a bool"))),
    }
}

impl WordPiece {
    /// Reads a `tokenizer.json`.
    pub fn from_file(path: impl AsRef<Path>) -> candle_core::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| candle_core::Error::Msg(format!("reading {}: {e}", path.display())))?;
        Self::from_json(&text)
    }

    /// Parses the text of a `tokenizer.json`; anything but a BERT WordPiece tokenizer
    /// is an error.
    pub fn from_json(text: &str) -> candle_core::Result<Self> {
        let json: Value = serde_json::from_str(text).map_err(bad)?;
        let model = &json["model"];
        if model["type"] != "WordPiece" {
            return Err(bad(format!(
                "model type {}, expected WordPiece",
                model["type"]
            )));
        }
        let vocab_json = model["vocab"]
            .as_object()
            .ok_or_else(|| bad("model.vocab is not an object"))?;
        let mut vocab = HashMap::with_capacity(vocab_json.len());
        for (piece, id) in vocab_json {
            let id = id
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| bad(format!("vocab id of {piece:?} is {id}")))?;
            vocab.insert(piece.clone(), id);
        }
        let id_of = |tok: &str| -> candle_core::Result<u32> {
            vocab
                .get(tok)
                .copied()
                .ok_or_else(|| bad(format!("{tok} is not in the vocabulary")))
        };
        let unk = id_of(model["unk_token"].as_str().unwrap_or("[UNK]"))?;
        let (cls, sep) = (id_of("[CLS]")?, id_of("[SEP]")?);
        let prefix = model["continuing_subword_prefix"]
            .as_str()
            .unwrap_or("##")
            .to_string();
        let max_word_chars = model["max_input_chars_per_word"].as_u64().unwrap_or(100);
        let max_len = match &json["truncation"] {
            Value::Null => 512,
            t => t["max_length"]
                .as_u64()
                .ok_or_else(|| bad("truncation.max_length is not a number"))?,
        };
        let max_len = usize::try_from(max_len).map_err(bad)?;
        if max_len < 2 {
            return Err(bad(format!(
                "truncation.max_length {max_len} leaves no room for [CLS] and [SEP]"
            )));
        }
        let norm = &json["normalizer"];
        if !norm.is_null() && norm["type"] != "BertNormalizer" {
            return Err(bad(format!(
                "normalizer {}, expected BertNormalizer",
                norm["type"]
            )));
        }
        let lowercase = flag(norm, "lowercase", true)?;
        let mut added = Vec::new();
        if let Some(list) = json["added_tokens"].as_array() {
            for t in list {
                let (Some(content), Some(id)) = (t["content"].as_str(), t["id"].as_u64()) else {
                    return Err(bad(format!("added token {t} has no content or id")));
                };
                if !content.is_empty() {
                    added.push((content.to_string(), u32::try_from(id).map_err(bad)?));
                }
            }
        }
        added.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        Ok(WordPiece {
            vocab,
            added,
            unk,
            cls,
            sep,
            prefix,
            max_word_chars: usize::try_from(max_word_chars).map_err(bad)?,
            max_len,
            clean_text: flag(norm, "clean_text", true)?,
            chinese_chars: flag(norm, "handle_chinese_chars", true)?,
            // tokenizers: strip_accents unset (null) follows lowercase.
            strip_accents: flag(norm, "strip_accents", lowercase)?,
            lowercase,
        })
    }

    /// The ids of `text`: `[CLS]`, the pieces (truncated to fit), `[SEP]`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest added token, the longest at that position.
            let hit = self
                .added
                .iter()
                .filter_map(|(c, id)| rest.find(c.as_str()).map(|at| (at, c.len(), *id)))
                .min_by_key(|&(at, len, _)| (at, std::cmp::Reverse(len)));
            match hit {
                Some((at, len, id)) => {
                    self.encode_plain(&rest[..at], &mut ids);
                    ids.push(id);
                    rest = &rest[at + len..];
                }
                None => {
                    self.encode_plain(rest, &mut ids);
                    rest = "";
                }
            }
        }
        ids.truncate(self.max_len - 2);
        let mut out = Vec::with_capacity(ids.len() + 2);
        out.push(self.cls);
        out.extend(ids);
        out.push(self.sep);
        out
    }

    /// Normalises, splits into words and appends each word's pieces.
    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) {
        let normal = self.normalize(text);
        let mut word = String::new();
        for c in normal.chars() {
            if c.is_whitespace() {
                self.push_word(&mut word, ids);
            } else if is_punctuation(c) {
                self.push_word(&mut word, ids);
                word.push(c);
                self.push_word(&mut word, ids);
            } else {
                word.push(c);
            }
        }
        self.push_word(&mut word, ids);
    }

    /// BertNormalizer: clean, pad CJK, strip accents, lowercase.
    fn normalize(&self, text: &str) -> String {
        let mut s = String::with_capacity(text.len());
        for c in text.chars() {
            if self.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_control(c) {
                    continue;
                }
                if is_whitespace(c) {
                    s.push(' ');
                    continue;
                }
            }
            if self.chinese_chars && is_cjk(c) {
                s.push(' ');
                s.push(c);
                s.push(' ');
            } else {
                s.push(c);
            }
        }
        if self.strip_accents {
            s = s.nfd().filter(|c| !c.is_mark_nonspacing()).collect();
        }
        if self.lowercase {
            s = s.to_lowercase();
        }
        s
    }

    /// Appends the pieces of `word` (then empties it).
    fn push_word(&self, word: &mut String, ids: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        let start = ids.len();
        if word.chars().count() > self.max_word_chars || !self.pieces(word, ids) {
            ids.truncate(start);
            ids.push(self.unk);
        }
        word.clear();
    }

    /// Greedy longest-match-first split; false when some part matches no piece.
    fn pieces(&self, word: &str, ids: &mut Vec<u32>) -> bool {
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while end > start {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.prefix);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some(id);
                    break;
                }
                // The previous character boundary.
                end = word[..end]
                    .char_indices()
                    .next_back()
                    .map_or(start, |(i, _)| i);
            }
            match found {
                Some(id) => ids.push(id),
                None => return false,
            }
            start = end;
        }
        true
    }
}

/// tokenizers' BERT whitespace: tab, newline, carriage return and Unicode
/// White_Space.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// tokenizers' control test: categories Cc, Cf and Co (unicode_categories' `is_other`,
/// what tokenizers calls) except tab,
/// newline and carriage return, which count as whitespace.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// ASCII punctuation (which includes symbols such as `$`, `+`, `^`) or any Unicode
/// punctuation category.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The CJK Unified Ideographs blocks BERT pads with spaces.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}
