//! The log formats: one file each, and the registry (`formats!` below) that lists them.
//!
//! A format is a type implementing [`LineFormat`]: its name (what `--format`, `LOG_FORMAT` and the
//! backfill's `format` accept), a one-line summary and an example line (README.md lists them and a
//! test parses each example), and `parse`, which turns one line into an [`AccessLine`] or says
//! why it cannot. The registry generates [`LogFormat`], the plain name of a format that options
//! carry around, and [`LineParser`], a parser of the chosen format: an enum, so the per-line call
//! is a `match`, not a virtual call, and each arm inlines its format's parser. Code that knows its
//! format at compile time can use the format's type directly (the [`Decoder`] is generic over it).
//!
//! Adding a format that fits the `access_logs` columns: write `format/NAME.rs` with a type
//! implementing [`LineFormat`], and add one line to the `formats!` table below. Besides the
//! registered formats, [`LogFormat::Custom`] is one compiled at run time from the server's own
//! format string (`nginx:…`, `apache:…`; see [`custom`]), and [`LogFormat::CloudFrontRealtime`]
//! one laid out from a CloudFront real-time log configuration's fields (see
//! [`cloudfront_realtime`]).
//!
//! [`Decoder`]: https://docs.rs/loglake-decode (the `Decoder` of the `loglake-decode` crate)

use std::str::FromStr;
use std::sync::Mutex;

use crate::line::AccessLine;
use crate::reject::RejectReason;

pub mod clf;
pub mod cloudfront_realtime;
pub mod custom;

use cloudfront_realtime::{RealtimeLayout, RealtimeParser};
use custom::{CustomFormat, CustomParser};

/// Formats laid out at run time from a setting (a custom format string, a real-time log
/// configuration's fields): each distinct setting is built once and lives as long as the process
/// (a process is given one, or a few in a long-running backfill).
pub(crate) struct BuiltOnce<T: 'static>(Mutex<Vec<&'static T>>);

impl<T> BuiltOnce<T> {
    pub(crate) const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// The format built from `spec` (`spec_of` tells a built one's setting), built by `build`
    /// on its first use.
    pub(crate) fn get<E>(
        &self,
        spec: &str,
        spec_of: impl Fn(&T) -> &str,
        build: impl FnOnce() -> Result<T, E>,
    ) -> Result<&'static T, E> {
        let mut built = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(format) = built.iter().find(|format| spec_of(format) == spec) {
            return Ok(format);
        }
        let format: &'static T = Box::leak(Box::new(build()?));
        built.push(format);
        Ok(format)
    }
}

/// Something that turns lines into [`AccessLine`]s: every format's parser, and [`LineParser`],
/// which is any of them.
pub trait ParseLine: Send {
    /// Parses one line, without its line ending. A parser may remember what earlier lines told
    /// it (a cached timestamp minute, a header naming the fields).
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason>;

    /// Makes the parser keep the fields no column holds, for [`ParseLine::extra_fields`]. Off
    /// until called, for its cost (see [`crate::ExtraFields`]).
    fn keep_extra_fields(&mut self) {}

    /// The fields of the line last parsed into a row that no column holds, as a JSON object for
    /// the `extra_fields` column (see [`crate::ExtraFields`]), when they are kept. Always `None`
    /// for formats whose fields all fill columns, the CLF family's.
    #[inline]
    fn extra_fields(&self) -> Option<&[u8]> {
        None
    }
}

/// One log format: its parser, and what the registry tells users about it.
pub trait LineFormat: ParseLine + Sized {
    /// The name users give: `--format NAME`, `LOG_FORMAT=NAME`.
    const NAME: &'static str;
    /// What the format is, in a few words, for `--help` and README.md.
    const SUMMARY: &'static str;
    /// A line of this format (a test parses it).
    const EXAMPLE: &'static str;
    /// Whether `auto` tries this format on a line that is not of the CLF family (the family
    /// `auto` reads itself, in any of its layouts).
    const TRIED_BY_AUTO: bool = false;

    /// A parser with nothing seen yet.
    fn new() -> Self;
}

/// The registry: every format, in the order `--help`, README.md and `auto` list them. Each line
/// is `Variant => module::Type`, the module being the format's file; the first is the default.
macro_rules! formats {
    ($($variant:ident => $module:ident::$type:ident,)+) => {
        $(pub mod $module;)+

        /// The name of a log format, as options and settings carry it (see [`LineParser`] for
        /// a parser of it): a registered format, or a custom one compiled from the server's own
        /// format string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum LogFormat {
            $($variant,)+
            Custom(&'static CustomFormat),
            /// CloudFront real-time logs with the fields their configuration chose.
            CloudFrontRealtime(&'static RealtimeLayout),
        }

        impl LogFormat {
            /// Every format, in registry order.
            pub const ALL: &'static [LogFormat] = &[$(LogFormat::$variant),+];

            /// The name users give; a custom format's is its format string (`nginx:…`).
            pub fn name(self) -> &'static str {
                match self {
                    $(LogFormat::$variant => <$module::$type as LineFormat>::NAME,)+
                    LogFormat::Custom(format) => format.spec(),
                    LogFormat::CloudFrontRealtime(layout) => layout.spec(),
                }
            }

            pub fn summary(self) -> &'static str {
                match self {
                    $(LogFormat::$variant => <$module::$type as LineFormat>::SUMMARY,)+
                    LogFormat::Custom(_) => "the server's own log_format or LogFormat string",
                    LogFormat::CloudFrontRealtime(_) => "Amazon CloudFront real-time logs",
                }
            }

            pub fn example(self) -> &'static str {
                match self {
                    $(LogFormat::$variant => <$module::$type as LineFormat>::EXAMPLE,)+
                    LogFormat::Custom(_) | LogFormat::CloudFrontRealtime(_) => "",
                }
            }

            /// Whether `auto` tries this format on lines outside the CLF family.
            pub fn tried_by_auto(self) -> bool {
                match self {
                    $(LogFormat::$variant => <$module::$type as LineFormat>::TRIED_BY_AUTO,)+
                    LogFormat::Custom(_) | LogFormat::CloudFrontRealtime(_) => false,
                }
            }
        }

        /// A parser of one of the registry's formats, chosen at run time.
        #[derive(Debug, Clone)]
        pub enum LineParser {
            $($variant($module::$type),)+
            Custom(CustomParser<'static>),
            CloudFrontRealtime(RealtimeParser),
        }

        impl LineParser {
            pub fn new(format: LogFormat) -> Self {
                match format {
                    $(LogFormat::$variant => LineParser::$variant(LineFormat::new()),)+
                    LogFormat::Custom(format) => LineParser::Custom(CustomParser::new(format)),
                    LogFormat::CloudFrontRealtime(layout) => {
                        LineParser::CloudFrontRealtime(RealtimeParser::new(layout))
                    }
                }
            }
        }

        impl ParseLine for LineParser {
            #[inline]
            fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
                match self {
                    $(LineParser::$variant(parser) => parser.parse(line),)+
                    LineParser::Custom(parser) => parser.parse(line),
                    LineParser::CloudFrontRealtime(parser) => parser.parse(line),
                }
            }

            fn keep_extra_fields(&mut self) {
                match self {
                    $(LineParser::$variant(parser) => parser.keep_extra_fields(),)+
                    LineParser::Custom(parser) => parser.keep_extra_fields(),
                    LineParser::CloudFrontRealtime(parser) => parser.keep_extra_fields(),
                }
            }

            #[inline]
            fn extra_fields(&self) -> Option<&[u8]> {
                match self {
                    $(LineParser::$variant(parser) => parser.extra_fields(),)+
                    LineParser::Custom(parser) => parser.extra_fields(),
                    LineParser::CloudFrontRealtime(parser) => parser.extra_fields(),
                }
            }
        }
    };
}

formats! {
    Auto => auto::Auto,
    Combined => combined::Combined,
    Common => common::Common,
    VhostCombined => vhost_combined::VhostCombined,
    ElbClassic => elb_classic::ElbClassic,
    Alb => alb::Alb,
    CloudFront => cloudfront::CloudFront,
    W3c => w3c::W3c,
    S3Access => s3_access::S3Access,
    Json => json_access::JsonAccess,
}

impl Default for LogFormat {
    fn default() -> Self {
        LogFormat::ALL[0]
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogFormat {
    type Err = String;

    /// A format by its name, as `--format`, `LOG_FORMAT` and the backfill's `format` give it
    /// (surrounding whitespace ignored), or a custom format string (`nginx:…`, `apache:…`),
    /// compiled here.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name = name.trim();
        if CustomFormat::is_custom(name) {
            return CustomFormat::get(name)
                .map(LogFormat::Custom)
                .map_err(|error| format!("log format {name:?}: {error}"));
        }
        if RealtimeLayout::is_realtime(name) {
            return RealtimeLayout::get(name)
                .map(LogFormat::CloudFrontRealtime)
                .map_err(|error| format!("log format {name:?}: {error}"));
        }
        LogFormat::ALL
            .iter()
            .copied()
            .find(|format| format.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = LogFormat::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown log format {name:?} (expected one of: {}, nginx:… / apache:… \
                     with the server's format string, or cloudfront_realtime:FIELDS)",
                    names.join(", ")
                )
            })
    }
}

impl LogFormat {
    /// The format a setting names (`LOG_FORMAT`, the backfill's `format`): unset or blank is the
    /// default, anything else must be a registered name or a custom format string.
    pub fn from_setting(value: Option<&str>) -> Result<Self, String> {
        match value {
            Some(name) if !name.trim().is_empty() => name.parse(),
            _ => Ok(Self::default()),
        }
    }
}

/// Parses one line (without its line ending) in the given format. For many lines, a
/// [`LineParser`] is faster.
pub fn parse_line(line: &[u8], format: LogFormat) -> Result<AccessLine<'_>, RejectReason> {
    LineParser::new(format).parse(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_parses_its_example_and_names_round_trip() {
        for &format in LogFormat::ALL {
            assert_eq!(format.name().parse::<LogFormat>(), Ok(format));
            assert!(!format.summary().is_empty(), "{format}");
            let parsed = parse_line(format.example().as_bytes(), format);
            assert!(parsed.is_ok(), "{format}: {parsed:?}");
            // `auto` reads every format's example too.
            let parsed = parse_line(format.example().as_bytes(), LogFormat::Auto);
            assert!(parsed.is_ok(), "auto on the {format} example: {parsed:?}");
        }
        assert_eq!(LogFormat::default(), LogFormat::Auto);
    }

    /// The `extra_fields` object of the line `parser` last read, parsed back.
    pub(crate) fn extra_fields(
        parser: &impl ParseLine,
    ) -> serde_json::Map<String, serde_json::Value> {
        let json = parser.extra_fields().expect("extra fields");
        serde_json::from_slice(json).expect("a JSON object")
    }

    #[test]
    fn formats_other_than_clf_keep_their_other_fields() {
        for &format in LogFormat::ALL {
            let mut parser = LineParser::new(format);
            parser.keep_extra_fields();
            parser.parse(format.example().as_bytes()).unwrap();
            match format {
                LogFormat::Auto
                | LogFormat::Combined
                | LogFormat::Common
                | LogFormat::VhostCombined => {
                    assert_eq!(parser.extra_fields(), None, "{format}")
                }
                _ => {
                    let fields = extra_fields(&parser);
                    assert!(fields.len() >= 4, "{format}: {fields:?}");
                    for (key, value) in &fields {
                        // no column's field again, no `-`
                        assert!(
                            !["date", "time", "c-ip", "cs-method", "sc-status"]
                                .contains(&key.as_str()),
                            "{format}: {key}"
                        );
                        let value = value.as_str().unwrap();
                        assert!(!value.is_empty() && value != "-", "{format}: {key}");
                    }
                }
            }
        }
        // `auto` hands out the fields of the format that read the line, and none after a CLF line
        let mut auto = LineParser::new(LogFormat::Auto);
        auto.keep_extra_fields();
        auto.parse(alb::Alb::EXAMPLE.as_bytes()).unwrap();
        assert_eq!(extra_fields(&auto)["type"], "h2");
        auto.parse(combined::Combined::EXAMPLE.as_bytes()).unwrap();
        assert_eq!(auto.extra_fields(), None);
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let error = "jsonl".parse::<LogFormat>().unwrap_err();
        assert!(error.contains("\"jsonl\""), "{error}");
        for &format in LogFormat::ALL {
            assert!(error.contains(format.name()), "{error}");
        }
        assert_eq!(" combined\n".parse(), Ok(LogFormat::Combined));
        assert_eq!(LogFormat::from_setting(None), Ok(LogFormat::Auto));
        assert_eq!(LogFormat::from_setting(Some(" ")), Ok(LogFormat::Auto));
        assert_eq!(
            LogFormat::from_setting(Some("common")),
            Ok(LogFormat::Common)
        );
        assert!(LogFormat::from_setting(Some("jsonl")).is_err());
    }
}
