//! The root README shows this crate's README snippet as `rust,ignore` (sparse24's
//! own doctests, which run the root README, have no candle); the copy here is the
//! one compiled and run (as a doctest of the crate). They must not drift apart.

/// The first fenced block of `text` that opens with `fence`.
fn block<'a>(text: &'a str, fence: &str) -> &'a str {
    let start = text.find(fence).expect("no such fenced block") + fence.len();
    let body = &text[start..];
    &body[..body.find("\n```").expect("unclosed fence") + 1]
}

#[test]
fn root_readme_shows_the_tested_snippet() {
    let ours = include_str!("../README.md");
    let root = include_str!("../../../README.md");
    let section = &root[root
        .find("## Using sparse24 from candle")
        .expect("section missing")..];
    assert_eq!(block(section, "```rust,ignore\n"), block(ours, "```rust\n"));
}
