//! JSON strings, as the rows sent to Firehose and the `extra_fields` column write them: one
//! escaper, so both write the same bytes for the same value (those serde_json writes).

/// Whether `bytes` holds a `"`, a `\\` or a control character, eight bytes at a time and without
/// a branch per word: values are mostly text with nothing to escape.
pub fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let escaped = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    if bytes.len() < 8 {
        return bytes.iter().any(|&b| escaped(b));
    }
    // The high bit of some lane is set when a byte is below 0x20, a `"` or a `\\`. Borrows can
    // set higher lanes' bits too, but only after a real match: "any lane" is exact.
    let matches = |word: &[u8]| {
        let v = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let quote = v ^ (ONES * 0x22);
        let backslash = v ^ (ONES * 0x5c);
        (v.wrapping_sub(ONES * 0x20) & !v)
            | (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
    };
    let mut found = 0;
    for word in bytes.chunks_exact(8) {
        found |= matches(word);
    }
    // The last eight bytes, which overlap the last whole word when the length is not a multiple.
    found |= matches(&bytes[bytes.len() - 8..]);
    found & HIGH != 0
}

/// `value` as a JSON string literal, quotes included. Bytes that are not UTF-8 are copied as
/// they are: the caller decodes the result lossily, which keeps it valid JSON.
#[inline]
pub fn write_string(value: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    if needs_escape(value) {
        write_escaped(value, out);
    } else {
        out.extend_from_slice(value);
    }
    out.push(b'"');
}

/// Copies the text between the bytes to escape in runs, not byte by byte: `extra_fields` in a
/// Firehose row is JSON in a string, hundreds of bytes with a quote every few words.
fn write_escaped(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = value;
    while let Some(at) = (rest.iter()).position(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(&rest[..at]);
        match rest[at] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escape_check_agrees_with_a_byte_by_byte_one() {
        let slow = |b: &[u8]| b.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20);
        let alphabet: Vec<u8> = (0u8..=255).collect();
        for len in 0..24 {
            for (i, &special) in alphabet.iter().enumerate() {
                let mut bytes = vec![b'a'; len];
                if len > 0 {
                    bytes[i % len] = special;
                }
                assert_eq!(needs_escape(&bytes), slow(&bytes), "{bytes:?}");
            }
        }
        // bytes near the thresholds, in every lane
        for special in [
            0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff,
        ] {
            for lane in 0..16 {
                let mut bytes = vec![0xe9; 16];
                bytes[lane] = special;
                assert_eq!(needs_escape(&bytes), slow(&bytes), "{bytes:?}");
            }
        }
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut values: Vec<String> = (0u8..0x80).map(|b| format!("a{}b", b as char)).collect();
        values.extend(
            [
                "",
                "plain",
                "Zürich ✓",
                "\"quoted\" \\ back\\slash",
                "tab\tnew\nline",
            ]
            .map(String::from),
        );
        for value in values {
            let mut ours = Vec::new();
            write_string(value.as_bytes(), &mut ours);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&value).unwrap(),
                "{value:?}"
            );
        }
    }
}
