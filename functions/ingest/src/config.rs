//! The function's settings: environment variables only, read once at init.

use loglake_parser::{ExtraFields, IpAnonymization, LogFormat};

/// Every environment variable the function reads (README.md documents each; the template test
/// checks the template sets only these).
pub const ENV_VARS: [&str; 7] = [
    "FIREHOSE_STREAM_NAME",
    "REJECTS_STREAM_NAME",
    "LOG_FORMAT",
    "KEEP_EXTRA_FIELDS",
    "ANONYMIZE_IP",
    "ANONYMIZE_IP_KEY",
    "METRICS_NAMESPACE",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Firehose stream that receives the rows (required).
    pub firehose_stream: String,
    /// The Firehose stream for rejects; when unset, rejects are logged with their raw data.
    pub rejects_stream: Option<String>,
    pub log_format: LogFormat,
    /// Fill `extra_fields` with the format's other fields.
    pub keep_extra_fields: bool,
    /// How client addresses are written (`ANONYMIZE_IP`, its key `ANONYMIZE_IP_KEY`).
    pub anonymize_ip: IpAnonymization,
    /// The CloudWatch namespace of the Embedded Metric Format lines.
    pub metrics_namespace: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`, the metrics' dimension.
    pub function_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: the name of the Firehose stream that receives the parsed rows")]
    MissingStream(&'static str),
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
        let firehose_stream = set("FIREHOSE_STREAM_NAME")
            .ok_or(ConfigError::MissingStream("FIREHOSE_STREAM_NAME"))?;
        let log_format = LogFormat::from_setting(set("LOG_FORMAT").as_deref())
            .map_err(ConfigError::BadLogFormat)?;
        Ok(Self {
            firehose_stream,
            rejects_stream: set("REJECTS_STREAM_NAME"),
            log_format,
            keep_extra_fields: ExtraFields::from_setting(set("KEEP_EXTRA_FIELDS").as_deref())
                .map_err(ConfigError::BadKeepExtraFields)?,
            anonymize_ip: IpAnonymization::from_setting(
                set("ANONYMIZE_IP").as_deref(),
                set("ANONYMIZE_IP_KEY").as_deref(),
            )
            .map_err(ConfigError::BadAnonymizeIp)?,
            metrics_namespace: set("METRICS_NAMESPACE").unwrap_or_else(|| "loglake".into()),
            function_name: set("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "ingest".into()),
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
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
    fn the_rows_stream_is_required() {
        let error = config(&[("REJECTS_STREAM_NAME", "r")]).unwrap_err();
        assert_eq!(error, ConfigError::MissingStream("FIREHOSE_STREAM_NAME"));
        assert!(error
            .to_string()
            .contains("FIREHOSE_STREAM_NAME is not set"));
        assert!(config(&[("FIREHOSE_STREAM_NAME", " ")]).is_err());
    }

    #[test]
    fn defaults_and_overrides() {
        let minimal = config(&[("FIREHOSE_STREAM_NAME", "rows")]).unwrap();
        assert_eq!(minimal.rejects_stream, None);
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
        assert_eq!(full.rejects_stream.as_deref(), Some("bad"));
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
        let bad = config(&[("FIREHOSE_STREAM_NAME", "rows"), ("LOG_FORMAT", "json")]);
        assert!(matches!(bad, Err(ConfigError::BadLogFormat(m)) if m.contains("\"json\"")));
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
