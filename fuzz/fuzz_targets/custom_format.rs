//! The custom-format compiler (nginx `log_format`, Apache `LogFormat`) on any format string, and
//! the compiled parser on any lines: an error or a parser, a row or a reject, never a panic; the
//! fields kept are JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loglake_fuzz::assert_json_object;
use loglake_parser::format::custom::{CustomFormat, CustomParser};
use loglake_parser::ParseLine;

fuzz_target!(|data: &[u8]| {
    let [dialect, rest @ ..] = data else {
        return;
    };
    let (spec, lines) = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (&rest[..end], &rest[end + 1..]),
        None => (rest, &[][..]),
    };
    let dialect = if dialect & 1 == 0 {
        "nginx:"
    } else {
        "apache:"
    };
    let spec = format!("{dialect}{}", String::from_utf8_lossy(spec));
    let Ok(format) = CustomFormat::compile(&spec) else {
        return;
    };
    assert_eq!(format.spec(), spec);
    let mut parser = CustomParser::new(&format);
    parser.keep_extra_fields();
    for line in lines.split(|&b| b == b'\n') {
        let Ok(parsed) = parser.parse(line) else {
            continue;
        };
        for text in [
            parsed.path,
            parsed.query,
            parsed.referrer,
            parsed.user_agent,
        ] {
            let _ = text.map(|text| text.unescaped());
        }
        // Bytes as logged, UTF-8 or not: the decoder makes the row valid UTF-8 (lossily).
        if let Some(json) = parser.extra_fields() {
            assert_json_object(String::from_utf8_lossy(json).as_bytes());
        }
    }
});
