//! `auto`, the default: each line read in whichever registered format it is.

use super::clf::ClfParser;
use super::{LineFormat, LineParser, LogFormat, ParseLine};
use crate::line::AccessLine;
use crate::reject::RejectReason;

/// Any layout of the CLF family (`combined`, `common`, `vhost_combined`, with extra fields), read
/// in one pass; a line the family cannot read is then tried in each format the registry marks
/// [`LineFormat::TRIED_BY_AUTO`], in registry order.
#[derive(Debug, Clone)]
pub struct Auto {
    clf: ClfParser,
    /// Parsers of the other families' formats.
    others: Vec<LineParser>,
    /// Which of `others` read the last line, when one did (for its `extra_fields`).
    last_other: Option<usize>,
}

impl LineFormat for Auto {
    const NAME: &'static str = "auto";
    const SUMMARY: &'static str = "recognise each line on its own";
    const EXAMPLE: &'static str =
        r#"203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#;

    fn new() -> Self {
        Self {
            clf: ClfParser::default(),
            others: LogFormat::ALL
                .iter()
                .filter(|format| format.tried_by_auto())
                .map(|&format| LineParser::new(format))
                .collect(),
            last_other: None,
        }
    }
}

impl ParseLine for Auto {
    #[inline]
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        self.last_other = None;
        match self.clf.parse(line, None) {
            Err(RejectReason::NoTimestamp) => self.parse_other_families(line),
            // A bracketed timestamp after two words is also an S3 server access log's: a line
            // the CLF family cannot read may be one (a real CLF line's reason stands).
            Err(reason) => self.parse_other_families(line).map_err(|_| reason),
            parsed => parsed,
        }
    }

    fn keep_extra_fields(&mut self) {
        self.others.iter_mut().for_each(ParseLine::keep_extra_fields);
    }

    #[inline]
    fn extra_fields(&self) -> Option<&[u8]> {
        self.others[self.last_other?].extra_fields()
    }
}

impl Auto {
    /// The first of the other families' formats that reads the line; when none does, the first
    /// reason that says more than "not this format" (the line has that format's shape but a
    /// broken field), else `no_timestamp`.
    #[cold]
    fn parse_other_families<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        if line.first() == Some(&b'#') {
            // A header line: every header-driven format reads it, so whichever one the lines
            // after it are in knows their fields.
            let mut is_header = false;
            for parser in &mut self.others {
                is_header |= matches!(parser.parse(line), Err(RejectReason::HeaderLine));
            }
            return Err(match is_header {
                true => RejectReason::HeaderLine,
                false => RejectReason::NoTimestamp,
            });
        }
        let mut reason = RejectReason::NoTimestamp;
        for (index, parser) in self.others.iter_mut().enumerate() {
            match parser.parse(line) {
                Ok(parsed) => {
                    self.last_other = Some(index);
                    return Ok(parsed);
                }
                Err(RejectReason::NoTimestamp | RejectReason::FormatMismatch) => {}
                Err(other) if reason == RejectReason::NoTimestamp => reason = other,
                Err(_) => {}
            }
        }
        Err(reason)
    }
}
