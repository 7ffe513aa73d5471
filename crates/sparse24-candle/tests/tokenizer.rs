//! WordPiece against Hugging Face `tokenizers` (the library that made the fixture ids,
//! here as a dev-dependency) on random text drawn from the characters where BERT
//! tokenisation has rules: case, accents and combining marks, punctuation and
//! symbols, CJK, whitespace and control/format/private-use characters, special
//! tokens inside text, `##`, long words. Needs the model's tokenizer.json (see
//! tests/minilm.rs for where it is looked up).

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use sparse24_candle::WordPiece;

/// tokenizer.json, or None (after saying so) when missing outside CI.
fn tokenizer_json() -> Option<PathBuf> {
    let mut c = Vec::new();
    if let Some(d) = std::env::var_os("SPARSE24_MINILM_DIR") {
        c.push(PathBuf::from(d).join("model/tokenizer.json"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        c.push(PathBuf::from(home).join(".cache/sparse24/minilm/model/tokenizer.json"));
    }
    c.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/minilm/model/tokenizer.json"),
    );
    if let Some(p) = c.iter().find(|p| p.is_file()) {
        return Some(p.clone());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and model not found (looked for {c:?})");
    }
    eprintln!("skipped: model not found (looked for {c:?})");
    None
}

/// Both tokenizers, loaded once for all cases.
fn tokenizers() -> Option<&'static (WordPiece, tokenizers::Tokenizer)> {
    static BOTH: OnceLock<Option<(WordPiece, tokenizers::Tokenizer)>> = OnceLock::new();
    BOTH.get_or_init(|| {
        let path = tokenizer_json()?;
        let mut theirs = tokenizers::Tokenizer::from_file(&path).unwrap();
        theirs.with_padding(None);
        Some((WordPiece::from_file(&path).unwrap(), theirs))
    })
    .as_ref()
}

/// Pieces of text: single characters of every class, and whole words.
fn piece() -> impl Strategy<Value = String> {
    let chars: Vec<char> = concat!(
        "abcxyzABCXYZ0189 ",
        ".,;:!?'\"()[]{}<>-_/\\@#$%^&*+=~`|",
        "éèêëÉñÑüÜåÅçßøæœıİǄǅǆ",
        "\u{301}\u{308}\u{327}",
        "東京日本語中文한국어カタカナ",
        "αβγΑΒΓжЖщ",
        "¡¿«»–—…‘’“”€£¥©®°±×÷∑≥∞",
        "🙂🚀👍🏽",
        "\t\n\r\u{a0}\u{2003}\u{3000}",
        "\u{0}\u{7}\u{1b}\u{ad}\u{200b}\u{200d}\u{feff}\u{e000}\u{fffd}",
    )
    .chars()
    .collect();
    let words = [
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "[PAD]",
        "[UNK]",
        "##",
        "##ing",
        "unaffable",
        "playing",
        "tokenisation",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "Straße",
        "naïve",
        "CAFÉ",
        "don't",
        "U.S.A.",
        "3.14159",
        "e-mail",
    ];
    prop_oneof![
        4 => prop::sample::select(chars).prop_map(String::from),
        1 => prop::sample::select(words.to_vec()).prop_map(String::from),
        1 => "[a-z]{90,110}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn wordpiece_matches_hf_tokenizers(parts in prop::collection::vec(piece(), 0..40)) {
        let Some((ours, theirs)) = tokenizers() else { return Ok(()) };
        let text: String = parts.concat();
        let expected = theirs.encode(text.as_str(), true).unwrap().get_ids().to_vec();
        prop_assert_eq!(ours.encode(&text), expected, "text {:?}", text);
    }
}
