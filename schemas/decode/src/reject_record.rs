//! A reject's JSON form, as the rejects output, the rejects stream and the functions' logs carry
//! it. `raw` is lossless: the line as text when it is UTF-8, else base64 (`raw_encoding` says
//! which).

use base64::Engine;
use serde::Serialize;

use crate::decoder::Reject;

/// The JSON form of a reject.
#[derive(Debug, Serialize)]
pub struct RejectRecord<'a> {
    pub source: &'a str,
    pub source_line: i64,
    pub reason: &'static str,
    pub raw: std::borrow::Cow<'a, str>,
    /// `text` or `base64`.
    pub raw_encoding: &'static str,
    /// The line's full length in bytes; more than `raw` holds when the line was too long.
    pub raw_len: u64,
}

impl<'a> From<&'a Reject> for RejectRecord<'a> {
    fn from(reject: &'a Reject) -> Self {
        let (raw, raw_encoding) = match std::str::from_utf8(&reject.raw) {
            Ok(text) => (text.into(), "text"),
            Err(_) => (
                base64::engine::general_purpose::STANDARD
                    .encode(&reject.raw)
                    .into(),
                "base64",
            ),
        };
        RejectRecord {
            source: &reject.source,
            source_line: reject.source_line,
            reason: reject.reason.as_str(),
            raw,
            raw_encoding,
            raw_len: reject.raw_len,
        }
    }
}

impl RejectRecord<'_> {
    /// The rejects output as a structured log line (`WARN`, one field per key), for the
    /// functions when no rejects stream is configured: the raw data stays in the logs.
    pub fn log(&self) {
        tracing::warn!(
            source = self.source,
            source_line = self.source_line,
            reason = self.reason,
            raw = %self.raw,
            raw_encoding = self.raw_encoding,
            raw_len = self.raw_len,
            "rejected line"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglake_parser::RejectReason;
    use loglake_schema::REJECT_FIELDS;

    #[test]
    fn the_json_keys_are_the_reject_fields_in_order() {
        let reject = Reject {
            source: "s".into(),
            source_line: 1,
            reason: RejectReason::NoTimestamp,
            raw: b"x".to_vec(),
            raw_len: 1,
        };
        let json = serde_json::to_string(&RejectRecord::from(&reject)).unwrap();
        let positions: Vec<usize> = REJECT_FIELDS
            .iter()
            .map(|f| json.find(&format!("\"{f}\":")).expect(f))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert_eq!(json.matches("\":").count(), REJECT_FIELDS.len());
    }
}
