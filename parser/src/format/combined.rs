//! Apache and nginx `combined`, the servers' default access log.

use super::clf::{ClfLayout, ClfParser};
use super::{LineFormat, ParseLine};
use crate::line::AccessLine;
use crate::reject::RejectReason;

/// `client ident user [time] "request" status bytes "referrer" "user agent"`, optionally followed
/// by extra fields (nginx `$request_time`, Apache `%D`, a quoted X-Forwarded-For).
#[derive(Debug, Clone, Default)]
pub struct Combined {
    clf: ClfParser,
}

impl LineFormat for Combined {
    const NAME: &'static str = "combined";
    const SUMMARY: &'static str = "Apache and nginx default";
    const EXAMPLE: &'static str = r#"203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "https://ref/" "Mozilla/5.0 …""#;

    fn new() -> Self {
        Self::default()
    }
}

impl ParseLine for Combined {
    #[inline]
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        self.clf.parse(line, Some(ClfLayout::COMBINED))
    }
}
