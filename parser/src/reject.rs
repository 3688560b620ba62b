//! Why a line did not become a row. The snake_case names are a public contract: they appear in
//! the rejects output, the `--json` summary and the metrics.

/// The reason a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum RejectReason {
    /// A line with nothing on it (or only whitespace).
    #[error("empty line")]
    EmptyLine,
    /// Longer than the line limit; the raw text kept in the rejects output is cut at the limit.
    #[error("line longer than the line limit")]
    LineTooLong,
    /// No `[dd/Mon/yyyy:HH:MM:SS +zzzz]` where an access log has it: usually another log
    /// (an error log, an SSL request log) mixed into the file.
    #[error("no access-log timestamp found")]
    NoTimestamp,
    /// The bracketed timestamp is not a real instant (Feb 30, hour 25, offset beyond ±14h).
    #[error("invalid timestamp")]
    BadTimestamp,
    /// The client, identity and user fields before the timestamp do not have an access log's shape.
    #[error("unrecognised fields before the timestamp")]
    BadPrefix,
    /// The quoted request is missing or its closing quote is missing.
    #[error("missing or unterminated quoted request")]
    BadRequest,
    /// The status is not a three-digit number.
    #[error("invalid status code")]
    BadStatus,
    /// The response size is neither `-` nor a number.
    #[error("invalid response size")]
    BadBytes,
    /// The quoted referrer or user agent is malformed (e.g. an unterminated quote).
    #[error("malformed referrer or user-agent field")]
    BadQuotedField,
    /// The line is an access log line, but not of the format that was asked for.
    #[error("line does not match the requested format")]
    FormatMismatch,
    /// A header or comment line of a format that has them (CloudFront's and W3C's `#Version:`,
    /// `#Fields:`): read for what it says about the lines after it, and accounted here.
    #[error("a header line of the log format")]
    HeaderLine,
    /// More fields than the format's header names (W3C): the header does not describe the line.
    #[error("more fields than the header names")]
    FieldCount,
    /// A line of a JSON log that is not one well-formed JSON object.
    #[error("not a well-formed JSON object")]
    BadJson,
    /// A JSON line that is no request's record: a server's runtime log line written to the same
    /// output (Caddy's), or an object without an access log's time and client.
    #[error("a JSON line that is no access record")]
    NotAccessRecord,
    /// The input ended inside a line because the input itself was cut short (a truncated gzip).
    #[error("input truncated inside this line")]
    TruncatedInput,
    // Record-level reasons: a whole stream record (Kinesis, Firehose) whose payload could not be
    // decoded. Its reject carries the record's bytes and `source_line` 0.
    /// The record's gzip data is corrupt or cut short.
    #[error("gzip data is corrupt or truncated")]
    BadGzip,
    /// The record's gzip data inflates beyond the payload limit (a gzip bomb).
    #[error("gzip data inflates beyond the payload limit")]
    GzipTooLarge,
    /// A gzip JSON record that is not a valid CloudWatch Logs subscription message.
    #[error("malformed CloudWatch Logs envelope")]
    BadCloudWatchEnvelope,
    /// A KPL aggregate whose protobuf is malformed.
    #[error("malformed KPL aggregate")]
    BadKplAggregate,
    /// A record framed by `loglake ship` whose header line is malformed.
    #[error("malformed loglake ship header")]
    BadShipHeader,
    /// A KPL aggregate whose MD5 trailer does not match its protobuf.
    #[error("KPL aggregate fails its MD5 check")]
    KplChecksumMismatch,
    /// The record's data in the event is not valid base64.
    #[error("record data is not valid base64")]
    BadBase64,
}

impl RejectReason {
    /// Every reason, in a stable order (for reports and tests).
    pub const ALL: [RejectReason; 22] = [
        RejectReason::EmptyLine,
        RejectReason::LineTooLong,
        RejectReason::NoTimestamp,
        RejectReason::BadTimestamp,
        RejectReason::BadPrefix,
        RejectReason::BadRequest,
        RejectReason::BadStatus,
        RejectReason::BadBytes,
        RejectReason::BadQuotedField,
        RejectReason::FormatMismatch,
        RejectReason::HeaderLine,
        RejectReason::FieldCount,
        RejectReason::BadJson,
        RejectReason::NotAccessRecord,
        RejectReason::TruncatedInput,
        RejectReason::BadGzip,
        RejectReason::GzipTooLarge,
        RejectReason::BadCloudWatchEnvelope,
        RejectReason::BadKplAggregate,
        RejectReason::BadShipHeader,
        RejectReason::KplChecksumMismatch,
        RejectReason::BadBase64,
    ];

    /// The stable machine name, e.g. `no_timestamp`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::EmptyLine => "empty_line",
            RejectReason::LineTooLong => "line_too_long",
            RejectReason::NoTimestamp => "no_timestamp",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::BadPrefix => "bad_prefix",
            RejectReason::BadRequest => "bad_request",
            RejectReason::BadStatus => "bad_status",
            RejectReason::BadBytes => "bad_bytes",
            RejectReason::BadQuotedField => "bad_quoted_field",
            RejectReason::FormatMismatch => "format_mismatch",
            RejectReason::HeaderLine => "header_line",
            RejectReason::FieldCount => "field_count",
            RejectReason::BadJson => "bad_json",
            RejectReason::NotAccessRecord => "not_access_record",
            RejectReason::TruncatedInput => "truncated_input",
            RejectReason::BadGzip => "bad_gzip",
            RejectReason::GzipTooLarge => "gzip_too_large",
            RejectReason::BadCloudWatchEnvelope => "bad_cloudwatch_envelope",
            RejectReason::BadKplAggregate => "bad_kpl_aggregate",
            RejectReason::BadShipHeader => "bad_ship_header",
            RejectReason::KplChecksumMismatch => "kpl_checksum_mismatch",
            RejectReason::BadBase64 => "bad_base64",
        }
    }
}
