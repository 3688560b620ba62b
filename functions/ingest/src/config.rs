//! The function's settings: environment variables only, read once at init.

use loglake_decode::DecoderOptions;
use loglake_parser::enrich::ENRICHMENT_DIR_SETTING;
use loglake_parser::{Enrichment, ExtraFields, IpAnonymization, LogFormat};

/// Every environment variable the function reads (README.md documents each; the template test
/// checks the template sets only these).
pub const ENV_VARS: [&str; 9] = [
    "FIREHOSE_STREAM_NAME",
    "LAKE_DEST",
    "REJECTS_STREAM_NAME",
    "LOG_FORMAT",
    "KEEP_EXTRA_FIELDS",
    "ANONYMIZE_IP",
    "ANONYMIZE_IP_KEY",
    "METRICS_NAMESPACE",
    ENRICHMENT_DIR_SETTING,
];

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the rows go: exactly one of `FIREHOSE_STREAM_NAME` and `LAKE_DEST` is set.
    pub output: Output,
    pub log_format: LogFormat,
    /// Fill `extra_fields` with the format's other fields.
    pub keep_extra_fields: bool,
    /// How client addresses are written (`ANONYMIZE_IP`, its key `ANONYMIZE_IP_KEY`).
    pub anonymize_ip: IpAnonymization,
    /// The country database and crawler list in the folder `LOGLAKE_ENRICHMENT_DIR` names
    /// (the template's layer); a file missing is a warning, and its columns are null.
    pub enrichment: &'static Enrichment,
    /// The CloudWatch namespace of the Embedded Metric Format lines.
    pub metrics_namespace: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`, the metrics' dimension.
    pub function_name: String,
}

/// The function's two wirings (the template's `Wiring` parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `FIREHOSE_STREAM_NAME`: JSON rows to Firehose, which converts them to Parquet. Rejects go
    /// to the `REJECTS_STREAM_NAME` stream, or are logged with their raw data when it is unset.
    Firehose {
        stream: String,
        rejects_stream: Option<String>,
    },
    /// `LAKE_DEST` (`s3://bucket/prefix/`): Parquet files written straight into the lake by the
    /// lake's writer, rejects as NDJSON beside them; no Firehose, so no per-GB charges.
    Lake(LakeDest),
}

/// An S3 lake: its bucket and the prefix its tables are under (empty, or ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeDest {
    pub bucket: String,
    pub prefix: String,
}

impl LakeDest {
    /// Reads `s3://bucket` or `s3://bucket/prefix`.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        (!bucket.is_empty()).then(|| Self {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }

    /// The object key of `relative` (a path in the lake, `/`-separated).
    pub fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "set one of FIREHOSE_STREAM_NAME (the Firehose stream that receives the parsed rows) \
         and LAKE_DEST (s3://bucket/prefix/ of the lake the function writes Parquet into){0}"
    )]
    Output(&'static str),
    #[error("LAKE_DEST: {0:?} is not s3://bucket/prefix/")]
    BadLakeDest(String),
    #[error("LOG_FORMAT: {0}")]
    BadLogFormat(String),
    #[error("KEEP_EXTRA_FIELDS: {0}")]
    BadKeepExtraFields(String),
    #[error("ANONYMIZE_IP: {0}")]
    BadAnonymizeIp(String),
}

impl Config {
    /// Reads the settings through `var` (the process environment in `main`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let output = match (set("FIREHOSE_STREAM_NAME"), set("LAKE_DEST")) {
            (Some(stream), None) => Output::Firehose {
                stream,
                rejects_stream: set("REJECTS_STREAM_NAME"),
            },
            (None, Some(dest)) => {
                Output::Lake(LakeDest::parse(&dest).ok_or(ConfigError::BadLakeDest(dest))?)
            }
            (None, None) => return Err(ConfigError::Output("")),
            (Some(_), Some(_)) => return Err(ConfigError::Output(", not both")),
        };
        let log_format = LogFormat::from_setting(set("LOG_FORMAT").as_deref())
            .map_err(ConfigError::BadLogFormat)?;
        Ok(Self {
            output,
            log_format,
            keep_extra_fields: ExtraFields::from_setting(set("KEEP_EXTRA_FIELDS").as_deref())
                .map_err(ConfigError::BadKeepExtraFields)?,
            anonymize_ip: IpAnonymization::from_setting(
                set("ANONYMIZE_IP").as_deref(),
                set("ANONYMIZE_IP_KEY").as_deref(),
            )
            .map_err(ConfigError::BadAnonymizeIp)?,
            enrichment: Enrichment::leaked(
                set(ENRICHMENT_DIR_SETTING)
                    .as_deref()
                    .map(std::path::Path::new),
                |warning| tracing::warn!(warning, "enrichment data"),
            ),
            metrics_namespace: set("METRICS_NAMESPACE").unwrap_or_else(|| "loglake".into()),
            function_name: set("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "ingest".into()),
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// How lines are parsed and written.
    pub fn decoder_options(&self) -> DecoderOptions {
        DecoderOptions {
            format: self.log_format,
            keep_extra_fields: self.keep_extra_fields,
            anonymize_ip: self.anonymize_ip,
            enrichment: self.enrichment,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn one_output_is_required() {
        let error = config(&[("REJECTS_STREAM_NAME", "r")]).unwrap_err();
        assert_eq!(error, ConfigError::Output(""));
        assert!(error
            .to_string()
            .contains("set one of FIREHOSE_STREAM_NAME"));
        assert!(config(&[("FIREHOSE_STREAM_NAME", " ")]).is_err());
        let both = config(&[("FIREHOSE_STREAM_NAME", "rows"), ("LAKE_DEST", "s3://l/")]);
        assert!(both.unwrap_err().to_string().ends_with("not both"));
        let bad = config(&[("LAKE_DEST", "lake/")]).unwrap_err();
        assert_eq!(
            bad.to_string(),
            r#"LAKE_DEST: "lake/" is not s3://bucket/prefix/"#
        );
    }

    #[test]
    fn the_lake_destination_is_a_bucket_and_a_prefix() {
        let lake = |text| match config(&[("LAKE_DEST", text)]).unwrap().output {
            Output::Lake(dest) => (dest.bucket.clone(), dest.key("access_logs/x")),
            other => panic!("{other:?}"),
        };
        assert_eq!(lake("s3://lake"), ("lake".into(), "access_logs/x".into()));
        assert_eq!(lake("s3://lake/"), ("lake".into(), "access_logs/x".into()));
        assert_eq!(
            lake("s3://lake/web/prod/"),
            ("lake".into(), "web/prod/access_logs/x".into())
        );
        assert!(config(&[("LAKE_DEST", "s3:///x")]).is_err());
    }

    #[test]
    fn defaults_and_overrides() {
        let minimal = config(&[("FIREHOSE_STREAM_NAME", "rows")]).unwrap();
        let no_rejects_stream = Output::Firehose {
            stream: "rows".into(),
            rejects_stream: None,
        };
        assert_eq!(minimal.output, no_rejects_stream);
        assert_eq!(minimal.log_format, LogFormat::Auto);
        assert_eq!(minimal.metrics_namespace, "loglake");
        assert!(!minimal.keep_extra_fields);
        assert_eq!(minimal.anonymize_ip, IpAnonymization::None);
        let full = config(&[
            ("FIREHOSE_STREAM_NAME", "rows"),
            ("REJECTS_STREAM_NAME", "bad"),
            ("LOG_FORMAT", "common"),
            ("KEEP_EXTRA_FIELDS", "true"),
            ("ANONYMIZE_IP", "truncate16"),
            ("METRICS_NAMESPACE", "web"),
            ("AWS_LAMBDA_FUNCTION_NAME", "loglake-ingest"),
        ])
        .unwrap();
        assert!(
            matches!(full.output, Output::Firehose { rejects_stream: Some(s), .. } if s == "bad")
        );
        assert_eq!(full.log_format, LogFormat::Common);
        assert_eq!(full.function_name, "loglake-ingest");
        assert!(full.keep_extra_fields);
        assert_eq!(
            full.anonymize_ip,
            IpAnonymization::Truncate { ipv4_prefix: 16 }
        );
        let no_key = config(&[("FIREHOSE_STREAM_NAME", "rows"), ("ANONYMIZE_IP", "hash")]);
        assert!(
            matches!(no_key, Err(ConfigError::BadAnonymizeIp(m)) if m.contains("ANONYMIZE_IP_KEY"))
        );
        let bad = config(&[
            ("FIREHOSE_STREAM_NAME", "rows"),
            ("KEEP_EXTRA_FIELDS", "yes"),
        ]);
        assert!(matches!(bad, Err(ConfigError::BadKeepExtraFields(m)) if m.contains("\"yes\"")));
        let bad = config(&[("FIREHOSE_STREAM_NAME", "rows"), ("LOG_FORMAT", "jsonl")]);
        assert!(matches!(bad, Err(ConfigError::BadLogFormat(m)) if m.contains("\"jsonl\"")));
        // the server's own format string, compiled when the function starts
        let spec = r#"apache:%h %t \"%r\" %>s %D"#;
        let custom = config(&[("FIREHOSE_STREAM_NAME", "rows"), ("LOG_FORMAT", spec)]).unwrap();
        assert_eq!(custom.log_format.name(), spec);
        let bad = config(&[
            ("FIREHOSE_STREAM_NAME", "rows"),
            ("LOG_FORMAT", "nginx:$status"),
        ]);
        assert!(matches!(bad, Err(ConfigError::BadLogFormat(m)) if m.contains("no time")));
    }
}
