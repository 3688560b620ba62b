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
    /// The input ended inside a line because the input itself was cut short (a truncated gzip).
    #[error("input truncated inside this line")]
    TruncatedInput,
}

impl RejectReason {
    /// Every reason, in a stable order (for reports and tests).
    pub const ALL: [RejectReason; 11] = [
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
        RejectReason::TruncatedInput,
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
            RejectReason::TruncatedInput => "truncated_input",
        }
    }
}
