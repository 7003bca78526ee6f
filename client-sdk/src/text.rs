//! Text indices across platforms: automerge counts Unicode code points (Rust `char`s), while
//! JavaScript, Kotlin and Swift strings index UTF-16 code units.

/// Converts a UTF-16 index (JS string index) into automerge's code-point index within `text`.
/// Indices past the end or inside a surrogate pair fail.
pub fn utf16_to_char_index(text: &str, utf16: usize) -> Option<usize> {
    let mut units = 0;
    for (chars, c) in text.chars().enumerate() {
        if units == utf16 {
            return Some(chars);
        }
        units += c.len_utf16();
        if units > utf16 {
            return None;
        }
    }
    (units == utf16).then(|| text.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_indices_become_code_point_indices() {
        assert_eq!(utf16_to_char_index("abc", 0), Some(0));
        assert_eq!(utf16_to_char_index("abc", 3), Some(3));
        assert_eq!(utf16_to_char_index("abc", 4), None);
        // "😀" is two UTF-16 units and one code point.
        assert_eq!(utf16_to_char_index("a😀b", 1), Some(1));
        assert_eq!(utf16_to_char_index("a😀b", 2), None);
        assert_eq!(utf16_to_char_index("a😀b", 3), Some(2));
        assert_eq!(utf16_to_char_index("a😀b", 4), Some(3));
    }
}
