//! The Common Log Format (CLF), Apache's `common`.

use super::clf::{ClfLayout, ClfParser};
use super::{LineFormat, ParseLine};
use crate::line::AccessLine;
use crate::reject::RejectReason;

/// `client ident user [time] "request" status bytes`.
#[derive(Debug, Clone, Default)]
pub struct Common {
    clf: ClfParser,
}

impl LineFormat for Common {
    const NAME: &'static str = "common";
    const SUMMARY: &'static str = "Common Log Format (CLF)";
    const EXAMPLE: &'static str =
        r#"203.0.113.9 - frank [10/Oct/2026:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326"#;

    fn new() -> Self {
        Self::default()
    }
}

impl ParseLine for Common {
    #[inline]
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        self.clf.parse(line, Some(ClfLayout::COMMON))
    }
}
