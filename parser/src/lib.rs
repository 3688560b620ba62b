//! Parsing for loglake: web access-log lines, their timestamps and their user agents, and the
//! Kinesis record payloads (gzip, CloudWatch Logs envelopes, KPL aggregates) they arrive in.
//!
//! Everything here works on bytes borrowed from the input and allocates nothing per line on the
//! hot path; turning parsed lines into Arrow batches is the `loglake-decode` crate's job.

pub mod anonymize;
pub mod enrich;
pub mod format;
pub mod json;
pub mod line;
pub mod payload;
pub mod reject;
pub mod timestamp;
pub mod useragent;

pub use anonymize::{ClientCache, IpAnonymization};
pub use enrich::{ClientOrigin, CountryCode, Enrichment, Network, OriginCache};
pub use format::{parse_line, LineFormat, LineParser, LogFormat, ParseLine};
pub use line::{AccessLine, Escapes, ExtraFields, Text};
pub use reject::RejectReason;
pub use timestamp::{
    format_rfc3339_micros, parse_clf_timestamp, parse_iso8601_utc, parse_utc_instant,
    write_rfc3339_micros, UtcHour,
};
pub use useragent::{
    classify, classify_with, has_bot_token, CachedUserAgent, UserAgentCache, UserAgentInfo,
    BOT_TOKENS,
};
