//! Apache `vhost_combined`, and nginx formats that put `$host` first.

use super::clf::{ClfLayout, ClfParser};
use super::{LineFormat, ParseLine};
use crate::line::AccessLine;
use crate::reject::RejectReason;

/// `host[:port]` before the `combined` fields.
#[derive(Debug, Clone, Default)]
pub struct VhostCombined {
    clf: ClfParser,
}

impl LineFormat for VhostCombined {
    const NAME: &'static str = "vhost_combined";
    const SUMMARY: &'static str = "Apache `vhost_combined`, nginx `$host` first";
    const EXAMPLE: &'static str = r#"shop.example.com:443 203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/2.0" 200 5 "-" "curl/8.5.0""#;

    fn new() -> Self {
        Self::default()
    }
}

impl ParseLine for VhostCombined {
    #[inline]
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        self.clf.parse(line, Some(ClfLayout::VHOST_COMBINED))
    }
}
