//! `loglake report --alerts`: an hour of the lake (or of Athena's table) held to the alert
//! thresholds, the crossed ones printed and, given a topic, published to SNS — what the report
//! function does every hour on AWS ([`loglake_queries::alerts`]).

use anyhow::{bail, Context};
use loglake_queries::alerts::{
    evaluate, notification, publish, window_sql, Thresholds, Window, WindowCounts,
};

use crate::query::{run_sql, Engine};

/// The alert options of `loglake report`.
#[derive(clap::Args)]
pub struct AlertArgs {
    /// Hold an hour to the thresholds below instead of writing the page.
    #[arg(long)]
    pub alerts: bool,
    /// The hour (UTC, YYYY-MM-DDTHH); default: the lake's last hour (on Athena: the last complete
    /// hour).
    #[arg(long, requires = "alerts")]
    pub hour: Option<String>,
    /// Alert when at least this percentage of the hour's requests was answered 5xx.
    #[arg(long, requires = "alerts")]
    pub alert_5xx_rate_pct: Option<f64>,
    /// Alert when the hour's errors are at least this many times those of the same hour a week
    /// before.
    #[arg(long, requires = "alerts")]
    pub alert_error_spike_ratio: Option<f64>,
    /// Alert when at least this many of the hour's requests look like attacks.
    #[arg(long, requires = "alerts")]
    pub alert_detections: Option<u64>,
    /// Publish the alerts to this SNS topic (the stack's `AlarmTopicArn`).
    #[arg(long, requires = "alerts")]
    pub alert_topic: Option<String>,
}

/// Checks the hour; returns what to print.
pub fn run(args: &AlertArgs, engine: &Engine) -> anyhow::Result<String> {
    let thresholds = Thresholds {
        server_error_rate_pct: args.alert_5xx_rate_pct,
        error_spike_ratio: args.alert_error_spike_ratio,
        detections: args.alert_detections,
    };
    if !thresholds.any() {
        bail!("--alerts needs a threshold: --alert-5xx-rate-pct, --alert-error-spike-ratio or --alert-detections");
    }
    let window = match (&args.hour, engine) {
        (Some(hour), _) => match Window::parse(hour) {
            Some(window) => window,
            None => bail!("--hour {hour:?} is not an hour (YYYY-MM-DDTHH)"),
        },
        (None, Engine::Local { .. }) => last_hour_of(engine)?,
        (None, Engine::Athena(_)) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            Window::at(now.as_secs() as i64 - 3_600)
        }
    };
    let table = run_sql(engine, &window_sql(&window)).context("counting the hour")?;
    let counts = WindowCounts::from_table(&table).context("the hour's counts")?;
    let alerts = evaluate(&counts, &thresholds);
    let mut out = format!(
        "{window}: {} requests, {} answered 5xx, {} errors ({} the same hour a week before), {} that look like attacks\n",
        counts.requests, counts.server_errors, counts.errors, counts.errors_week_before, counts.detections
    );
    if alerts.is_empty() {
        out.push_str("no threshold crossed\n");
        return Ok(out);
    }
    for alert in &alerts {
        out.push_str(&format!("ALERT {}: {}\n", alert.kind, alert.message));
    }
    if let Some(topic) = &args.alert_topic {
        let source = match engine {
            Engine::Local { lake, .. } => lake.display().to_string(),
            Engine::Athena(target) => format!("Athena {}.access_logs", target.database),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let id = runtime.block_on(async {
            let sns = aws_sdk_sns::Client::new(&aws_config::load_from_env().await);
            publish(&sns, topic, notification(&source, &window, &alerts)).await
        });
        out.push_str(&format!(
            "published to {topic}: message {}\n",
            id.map_err(anyhow::Error::msg)?
        ));
    }
    Ok(out)
}

/// The lake's last hour with rows.
fn last_hour_of(engine: &Engine) -> anyhow::Result<Window> {
    let sql =
        "SELECT dt, hour FROM access_logs GROUP BY dt, hour ORDER BY dt DESC, hour DESC LIMIT 1";
    let table = run_sql(engine, sql)?;
    let row = table.rows.first().context("the lake has no rows")?;
    let hour = format!("{}T{:0>2}", row[0].text(), row[1].text());
    Window::parse(&hour).with_context(|| format!("the lake's last hour {hour:?}"))
}
