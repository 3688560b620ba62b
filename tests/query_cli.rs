//! `loglake query` end to end on a lake the real binary wrote: listing, formats, the date range,
//! and clear errors.

#[path = "../functions/ingest/tests/support/http.rs"]
mod http;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use http::{aws_json, aws_standin, http};
use loglake_queries::dashboard::{HOUR_DETAIL_REPORT, OVERVIEW_REPORTS};
use serde_json::{json, Value};

fn loglake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(args)
        .output()
        .expect("run loglake")
}

fn sample_lake(dir: &Path) -> String {
    let lake = dir.join("lake");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/access.log");
    let output = loglake(&[
        "ingest",
        "--out",
        lake.to_str().unwrap(),
        sample.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    lake.to_str().unwrap().to_string()
}

fn json(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Value>(&output.stdout)
        .expect("one JSON array")
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn reports_run_on_the_local_lake_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    let rows = json(&loglake(&[
        "query",
        "traffic_by_hour",
        "--lake",
        &lake,
        "--format",
        "json",
    ]));
    let requests: i64 = rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
    assert_eq!(requests, 1999, "every row of the sample, once");
    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in ["dt", "hour", "requests", "bytes", "visitors"] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }

    // the range is inclusive and prunes by dt
    let day = json(&loglake(&[
        "query",
        "traffic_by_hour",
        "--lake",
        &lake,
        "--format",
        "json",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-01",
    ]));
    assert!(day.iter().all(|r| r["dt"] == "2026-11-01"));
    assert!(!day.is_empty() && day.len() < rows.len());

    let csv = loglake(&[
        "query",
        "status_by_hour",
        "--lake",
        &lake,
        "--format",
        "csv",
    ]);
    let text = String::from_utf8(csv.stdout).unwrap();
    assert_eq!(text.lines().next(), Some("dt,hour,status_class,requests"));

    let table = loglake(&["query", "top_paths", "--lake", &lake]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.starts_with("path "));
    assert!(text.trim_end().ends_with("rows)"));
}

#[test]
fn unique_counts_a_redelivered_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    // One hour's file delivered a second time, as Firehose writes the rows of a Kinesis record
    // that was redelivered after it had taken them.
    let hour = std::fs::read_dir(Path::new(&lake).join("access_logs"))
        .unwrap()
        .map(|dt| {
            std::fs::read_dir(dt.unwrap().path())
                .unwrap()
                .next()
                .unwrap()
        })
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_dir(&hour)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&file, hour.join("redelivered.parquet")).unwrap();

    let requests = |unique: bool| -> i64 {
        let mut args = vec![
            "query",
            "traffic_by_hour",
            "--lake",
            &lake,
            "--format",
            "json",
        ];
        args.extend(unique.then_some("--unique"));
        let rows = json(&loglake(&args));
        rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum()
    };
    assert!(requests(false) > 1999, "the copy is read as more rows");
    assert_eq!(requests(true), 1999, "every line of the sample, once");

    // The page reads the lake into memory once, only the columns its reports name: the view's
    // own columns too when it reads the view.
    let page = dir.path().join("unique.html");
    let output = loglake(&[
        "report",
        "--lake",
        &lake,
        "--unique",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let card = |what: &str| format!("<b>{what}</b><span>requests</span>");
    assert!(html.contains(&card("1999")), "the page reads the view");
}

/// `loglake report --html`: one page, a panel per shipped report, each drawn (or saying it has no
/// rows), self-contained and small.
#[test]
fn the_html_report_has_a_chart_for_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    let page = dir.path().join("report.html");
    let output = loglake(&["report", "--lake", &lake, "--html", page.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Every report is a panel but the hours' details, which go in `traffic_by_hour`'s tooltips.
    let panels: Vec<&loglake_queries::Report> = (loglake_queries::REPORTS.iter())
        .filter(|r| r.name != HOUR_DETAIL_REPORT)
        .collect();
    let names: Vec<&str> = panels.iter().map(|r| r.name).collect();
    // The whole range first; the range picker's days follow (the sample spans two).
    let (whole, days) = html
        .split_once("<div class=\"period\"")
        .expect("a day to pick");
    assert!(days.starts_with(" id=\"w-") || days.starts_with(" id=\"d-"));
    assert!(html.contains("<nav class=\"periods\">"));
    for (report, section) in panels.iter().zip(whole.split("<section").skip(1)) {
        let name = report.name;
        assert!(
            section.starts_with(&format!(" class=\"panel\" id=\"all-{name}\"")),
            "{name}: {}",
            &section[..80.min(section.len())]
        );
        // The sample's CLF lines fill no `extra_fields`: the reports over it say they have no rows.
        match report.sql.contains("extra_fields") {
            true => assert!(section.contains("No rows in this range."), "{name}"),
            false => assert!(section.contains("<svg"), "{name} has no chart"),
        }
    }
    assert_eq!(whole.matches("<section").count(), names.len());
    // An hour's tooltip on the requests chart lists its top paths as `loglake query` gives them.
    let details = json(&loglake(&[
        "query",
        HOUR_DETAIL_REPORT,
        "--lake",
        &lake,
        "--format",
        "json",
    ]));
    let first = &details[0];
    let (dt, hour) = (
        first["dt"].as_str().unwrap(),
        first["hour"].as_i64().unwrap(),
    );
    let top: Vec<String> = (details.iter())
        .filter(|r| r["dt"] == first["dt"] && r["hour"] == first["hour"])
        .map(|r| format!("\n{}: {}", r["path"].as_str().unwrap(), r["requests"]))
        .collect();
    assert!((1..=5).contains(&top.len()));
    let traffic = whole.split("id=\"all-traffic_by_hour\"").nth(1).unwrap();
    let tip = traffic
        .split(&format!("<title>{dt} {hour:02}:00: "))
        .nth(1)
        .expect("the hour's tooltip")
        .split("</title>")
        .next()
        .unwrap();
    assert!(tip.ends_with(&top.concat()), "{tip:?} lists {top:?}");
    assert!(traffic.contains("<pre class=\"detail\" hidden></pre>"));
    // Nothing loaded from elsewhere (log text may hold URLs: a user agent's, a referrer): one
    // script, the page's own, under a policy that forbids fetching.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("content=\"default-src 'none';"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(html.len() < 1 << 20, "{} bytes", html.len());
    // A range with no rows says so instead of drawing empty charts.
    let output = loglake(&[
        "report",
        "--lake",
        &lake,
        "--html",
        page.to_str().unwrap(),
        "--from",
        "2001-01-01",
        "--to",
        "2001-01-02",
    ]);
    assert!(output.status.success());
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("No rows in this range.").count(), names.len());
}

#[test]
fn list_and_errors() {
    let listing = String::from_utf8(loglake(&["query", "--list"]).stdout).unwrap();
    for name in [
        "traffic_by_hour",
        "status_by_hour",
        "top_paths",
        "browsers",
        "bots",
    ] {
        assert!(listing.lines().any(|l| l.starts_with(name)), "{name}");
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    for (args, message) in [
        (
            vec!["query", "nope", "--lake", &lake],
            "unknown report \"nope\"",
        ),
        (
            vec![
                "query",
                "top_paths",
                "--lake",
                &lake,
                "--from",
                "2026-02-30",
            ],
            "is not a date",
        ),
        (
            vec!["query", "top_paths", "--lake", "/nonexistent/lake"],
            "no lake at /nonexistent/lake/access_logs",
        ),
    ] {
        let output = loglake(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
    // --athena needs its workgroup and database: a usage error
    assert_eq!(
        loglake(&["query", "bots", "--athena"]).status.code(),
        Some(2)
    );
}

/// `report --html --athena`: every report goes to Athena (the stand-in, over the wire), and its
/// answers become the page, with the range picker's days queried there too: the stand-in answers
/// every query with the same two days of rows, so `traffic_by_day` names two days to pick, and
/// each day's reports (and the day before's overview) must be asked for with that day.
#[test]
fn the_html_report_runs_every_report_on_athena() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let column = |name: &str, kind: &str| {
        json!({"Name": name, "Type": kind, "CatalogName": "hive", "SchemaName": "loglake",
               "TableName": "access_logs", "Label": name, "Precision": 0, "Scale": 0,
               "Nullable": "UNKNOWN", "CaseSensitive": false})
    };
    let cell = |value: &str| json!({ "VarCharValue": value });
    let rows = json!({
        "rows": [
            {"Data": [cell("dt"), cell("hour"), cell("requests"), cell("bytes"), cell("visitors")]},
            {"Data": [cell("2026-11-01"), cell("0"), cell("120"), cell("4096"), cell("7")]},
            {"Data": [cell("2026-11-02"), cell("1"), cell("80"), cell("2048"), cell("5")]}
        ],
        "column_info": [column("dt", "varchar"), column("hour", "integer"),
                        column("requests", "bigint"), column("bytes", "bigint"),
                        column("visitors", "bigint")]
    });
    // Each period: every report, and the overview's over the period before.
    let per_period = loglake_queries::REPORTS.len() + OVERVIEW_REPORTS.len();
    let periods = 3; // the two days, and the two-day range
                     // moto hands queued results to queries in the order they are run, one each.
    let canned = json!({
        "account_id": "123456789012",
        "region": "us-east-1",
        "results": vec![rows; per_period * periods],
    });
    let (status, body) = http(
        "POST",
        &format!("{endpoint}/moto-api/static/athena/query-results"),
        canned.to_string().as_bytes(),
    );
    assert!(status < 300, "{}", String::from_utf8_lossy(&body));
    // a database of this run's own, to tell its queries from the other tests'
    let database = format!("loglake_page_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("athena.html");
    let output = loglake(&[
        "report",
        "--athena",
        "--workgroup",
        "primary",
        "--database",
        &database,
        "--output",
        "s3://results/athena/",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-02",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(&format!(
        "<title>loglake: Athena {database}.access_logs (2026-11-01 to 2026-11-02)"
    )));
    assert!(html.contains("<nav class=\"periods\">"), "no range picker");
    for day in ["2026-11-01", "2026-11-02"] {
        assert!(
            html.contains(&format!("href=\"#d-{day}\"")),
            "{day} not offered"
        );
    }
    assert!(
        html.contains("2026-11-02 01:00"),
        "the canned hours are not drawn"
    );

    // The queries Athena was asked, by their (from, to) parameters.
    let athena = |target: &str, body: Value| {
        aws_json(
            &endpoint,
            "athena",
            &format!("AmazonAthena.{target}"),
            &body,
        )
    };
    let ids = athena("ListQueryExecutions", json!({"WorkGroup": "primary"}));
    let mut asked: BTreeMap<(String, String), usize> = BTreeMap::new();
    for id in ids["QueryExecutionIds"].as_array().unwrap() {
        let execution =
            &athena("GetQueryExecution", json!({"QueryExecutionId": id}))["QueryExecution"];
        if execution["QueryExecutionContext"]["Database"] != database.as_str() {
            continue;
        }
        let parameters = &execution["ExecutionParameters"];
        let day = |at: usize| {
            parameters[at]
                .as_str()
                .unwrap()
                .trim_matches('\'')
                .to_string()
        };
        *asked.entry((day(0), day(1))).or_default() += 1;
    }
    let (reports, overview) = (loglake_queries::REPORTS.len(), OVERVIEW_REPORTS.len());
    let range = |from: &str, to: &str| (from.to_string(), to.to_string());
    let expected = BTreeMap::from([
        (range("2026-11-01", "2026-11-02"), reports),
        (range("2026-10-30", "2026-10-31"), overview),
        (range("2026-11-02", "2026-11-02"), reports),
        (range("2026-11-01", "2026-11-01"), reports + overview),
        (range("2026-10-31", "2026-10-31"), overview),
    ]);
    assert_eq!(asked, expected);
}

/// A shorter visit gap splits visits: never fewer visits, and more on the sample, whose visitors
/// come back after minutes.
#[test]
fn the_visit_gap_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    let visits = |gap: &str| -> u64 {
        let output = loglake(&[
            "query",
            "visits_by_day",
            "--lake",
            &lake,
            "--format",
            "json",
            "--visit-gap-minutes",
            gap,
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        json(&output)
            .iter()
            .map(|day| day["visits"].as_u64().unwrap())
            .sum()
    };
    let (minute, half_hour, day) = (visits("1"), visits("30"), visits("1440"));
    assert!(
        minute > half_hour && half_hour > day,
        "{minute} {half_hour} {day}"
    );
    let zero = loglake(&[
        "query",
        "visits_by_day",
        "--lake",
        &lake,
        "--visit-gap-minutes",
        "0",
    ]);
    assert!(!zero.status.success());
}

/// The security reports name every attack line of CrowdSec's hub tests
/// (queries/tests/data/detections/, one file per detection) with its detection, and nothing in
/// ordinary traffic that looks like them.
#[test]
fn the_security_reports_find_each_attack_and_nothing_ordinary() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/tests/data/detections");
    let dir = tempfile::tempdir().unwrap();
    let mut all_lines = 0;
    let mut attack_logs = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        let lake = dir.path().join(&name);
        let ingested = loglake(&[
            "ingest",
            "--json",
            "--out",
            lake.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        let summary: Value = serde_json::from_slice(&ingested.stdout).unwrap();
        assert_eq!(summary["rejected"], 0, "{name}");
        let lines = summary["rows_out"].as_u64().unwrap();
        let rows = json(&loglake(&[
            "query",
            "security_detections",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "json",
        ]));
        if name == "benign" {
            assert!(rows.is_empty(), "ordinary requests detected: {rows:?}");
            continue;
        }
        assert_eq!(
            rows.len() as u64,
            lines,
            "{name}: every line detected: {rows:?}"
        );
        for row in &rows {
            assert_eq!(row["detection"], name.as_str(), "{row}");
            assert!(
                row["client_ip"].is_string() && row["ts"].is_string(),
                "{row}"
            );
        }
        all_lines += lines;
        attack_logs.push(path);
    }
    assert_eq!(attack_logs.len(), 7);
    let lake = dir.path().join("all");
    let mut args = vec![
        "ingest".to_string(),
        "--out".into(),
        lake.to_str().unwrap().into(),
    ];
    args.extend(attack_logs.iter().map(|p| p.to_str().unwrap().to_string()));
    assert!(
        loglake(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .status
            .success()
    );
    let summary = json(&loglake(&[
        "query",
        "security_summary",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(summary.len(), 7);
    let total: u64 = summary
        .iter()
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, all_lines);
}

/// The reports over `extra_fields` (CloudFront's cache result, content type and TLS, kept with
/// `--extra-fields`) match a plain split of the real CloudFront logs, their `#Fields:` header
/// naming the columns (the standard order without one).
#[test]
fn cache_status_and_tls_match_a_split_of_real_cloudfront_logs() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/access/cloudfront");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        return;
    };
    let logs: Vec<std::path::PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    let standard = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher";
    let mut cache: BTreeMap<String, u64> = BTreeMap::new();
    let mut tls: BTreeMap<(String, String), u64> = BTreeMap::new();
    for log in &logs {
        let mut names: Vec<String> = standard.split(' ').map(str::to_owned).collect();
        for line in std::fs::read_to_string(log).unwrap().lines() {
            if let Some(fields) = line.strip_prefix("#Fields: ") {
                names = fields.split(' ').map(str::to_owned).collect();
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let values: Vec<&str> = line.split('\t').collect();
            let value = |name: &str| {
                let at = names.iter().position(|n| n == name)?;
                values.get(at).filter(|v| **v != "-").map(|v| v.to_string())
            };
            if let Some(result) = value("x-edge-result-type") {
                *cache.entry(result).or_default() += 1;
            }
            if let (Some(protocol), Some(cipher)) = (value("ssl-protocol"), value("ssl-cipher")) {
                *tls.entry((protocol, cipher)).or_default() += 1;
            }
        }
    }
    assert!(!cache.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut args = vec![
        "ingest",
        "--format",
        "cloudfront",
        "--extra-fields",
        "--out",
        lake.to_str().unwrap(),
    ];
    args.extend(logs.iter().map(|p| p.to_str().unwrap()));
    assert!(loglake(&args).status.success());
    let lake = lake.to_str().unwrap();
    let got: BTreeMap<String, u64> = json(&loglake(&[
        "query",
        "cache_status",
        "--lake",
        lake,
        "--format",
        "json",
    ]))
    .iter()
    .map(|r| {
        (
            r["cache_status"].as_str().unwrap().to_string(),
            r["requests"].as_u64().unwrap(),
        )
    })
    .collect();
    assert_eq!(got, cache);
    let got: BTreeMap<(String, String), u64> = json(&loglake(&[
        "query",
        "tls_versions",
        "--lake",
        lake,
        "--format",
        "json",
    ]))
    .iter()
    .map(|r| {
        let text = |c: &str| r[c].as_str().unwrap().to_string();
        (
            (text("tls_protocol"), text("tls_cipher")),
            r["requests"].as_u64().unwrap(),
        )
    })
    .collect();
    assert_eq!(got, tls);
}

/// A bounded range's page compares its totals with the period just before (the sample's second
/// day against its first); the whole lake's has nothing before it to compare with, while its
/// picker's days do.
#[test]
fn the_page_compares_a_day_with_the_day_before() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    let page = dir.path().join("day.html");
    let page = page.to_str().unwrap();
    let day = [
        "report",
        "--lake",
        &lake,
        "--html",
        page,
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-02",
    ];
    assert!(loglake(&day).status.success());
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        html.contains("<span>requests</span><i>"),
        "a change for the requests card"
    );
    assert!(html.contains(" against the period before</i>"));
    assert!(loglake(&["report", "--lake", &lake, "--html", page])
        .status
        .success());
    // (the picker's days after it are compared with the days before them)
    let html = std::fs::read_to_string(page).unwrap();
    let whole = html.split("<div class=\"period\"").next().unwrap();
    assert!(!whole.contains("against the period before"));
    let last_day = html
        .split("<div class=\"period\" id=\"d-2026-11-02\"")
        .nth(1)
        .unwrap();
    assert!(last_day.contains("<span>requests</span><i>"));
}

/// In a zone half an hour off UTC (Kolkata, UTC+5:30), an hourly file's requests fall on two
/// local days from 18:30 UTC: each day the page's picker offers counts that day's requests, as
/// counted from the log's text (and as `loglake query traffic_by_day --tz` counts them).
#[test]
fn the_pages_days_in_a_half_hour_zone_count_their_own_requests() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/access.log"))
            .unwrap();
    let mut by_day: BTreeMap<String, u64> = BTreeMap::new();
    for line in text.lines() {
        let Some(stamp) = line.split('[').nth(1) else {
            continue;
        };
        let field = |at: std::ops::Range<usize>| stamp[at].parse::<i64>().unwrap();
        // minutes since 2026-10-31 00:00 UTC, then in Kolkata
        let day = match &stamp[3..6] {
            "Oct" => field(0..2) - 31,
            "Nov" => field(0..2),
            _ => continue,
        };
        let local = day * 1440 + field(12..14) * 60 + field(15..17) + 330;
        let date = match local.div_euclid(1440) {
            0 => "2026-10-31".to_string(),
            n => format!("2026-11-{n:02}"),
        };
        *by_day.entry(date).or_default() += 1;
    }
    assert!(by_day.len() >= 3, "{by_day:?}");

    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    let zone = ["--tz", "Asia/Kolkata"];
    let output = loglake(
        &[
            &[
                "query",
                "traffic_by_day",
                "--lake",
                &lake,
                "--format",
                "json",
            ][..],
            &zone,
        ]
        .concat(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let queried: BTreeMap<String, u64> = (rows.iter())
        .map(|row| {
            (
                row["dt"].as_str().unwrap().to_string(),
                row["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(queried, by_day);

    let page = dir.path().join("kolkata.html");
    let page = page.to_str().unwrap();
    let output = loglake(&[&["report", "--lake", &lake, "--html", page][..], &zone].concat());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(page).unwrap();
    let mut picked = 0;
    for period in html.split("<div class=\"period\" id=\"d-").skip(1) {
        let day = &period[..10];
        let card = period.split("</b><span>requests</span>").next().unwrap();
        let requests = card.rsplit("<b>").next().unwrap().replace(',', "");
        assert_eq!(
            requests.parse::<u64>().ok(),
            by_day.get(day).copied(),
            "{day}"
        );
        picked += 1;
    }
    assert_eq!(
        picked,
        by_day.len().min(3),
        "the last three days are offered"
    );
}

/// The sample's requests by `(day, hour)` in Los Angeles, counted from the log's text: UTC-7
/// until 2026-11-01 09:00 UTC, when summer time ends (the first Sunday of November at 2:00
/// local), UTC-8 after. The sample's days are 2026-10-31 to 2026-11-02.
fn sample_by_los_angeles_hour() -> BTreeMap<(String, i64), i64> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/access.log"))
            .unwrap();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(stamp) = line.split('[').nth(1) else {
            continue;
        };
        let (Ok(day), Ok(hour)) = (stamp[0..2].parse::<i64>(), stamp[12..14].parse::<i64>()) else {
            continue;
        };
        // hours since 2026-10-31 00:00 UTC
        let utc = match &stamp[3..6] {
            "Oct" => (day - 31) * 24 + hour,
            "Nov" => (day) * 24 + hour,
            _ => continue,
        };
        let local = utc - if utc < 24 + 9 { 7 } else { 8 };
        let date = match local.div_euclid(24) {
            -1 => "2026-10-30".to_string(),
            0 => "2026-10-31".to_string(),
            n => format!("2026-11-{n:02}"),
        };
        *counts.entry((date, local.rem_euclid(24))).or_insert(0) += 1;
    }
    counts
}

#[test]
fn with_tz_the_reports_count_the_zones_days_and_hours() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path());
    let expected = sample_by_los_angeles_hour();
    let zoned = |report: &str, extra: &[&str]| {
        let mut args = vec![
            "query",
            report,
            "--lake",
            &lake,
            "--tz",
            "America/Los_Angeles",
        ];
        args.extend(["--format", "json"]);
        args.extend(extra);
        json(&loglake(&args))
    };
    let mut by_day: BTreeMap<String, i64> = BTreeMap::new();
    for ((date, _), n) in &expected {
        *by_day.entry(date.clone()).or_insert(0) += n;
    }
    let days: BTreeMap<String, i64> = zoned("traffic_by_day", &[])
        .iter()
        .map(|row| {
            (
                row["dt"].as_str().unwrap().to_string(),
                row["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(days, by_day);
    // 01:00–01:59 happens twice on 2026-11-01 there (summer time, then standard time)
    let hours: BTreeMap<(String, i64), i64> = zoned(
        "traffic_by_hour",
        &["--from", "2026-11-01", "--to", "2026-11-01"],
    )
    .iter()
    .map(|row| {
        let key = (
            row["dt"].as_str().unwrap().to_string(),
            row["hour"].as_i64().unwrap(),
        );
        (key, row["requests"].as_i64().unwrap())
    })
    .collect();
    let expected_day: BTreeMap<(String, i64), i64> = (expected.iter())
        .filter(|((date, _), _)| date == "2026-11-01")
        .map(|(key, n)| (key.clone(), *n))
        .collect();
    assert_eq!(hours, expected_day);
    let sample =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/access.log"))
            .unwrap();
    let utc_hours = ["[01/Nov/2026:08:", "[01/Nov/2026:09:"];
    let twice = utc_hours
        .iter()
        .map(|h| sample.matches(h).count() as i64)
        .sum::<i64>();
    assert_eq!(hours[&("2026-11-01".to_string(), 1)], twice);

    // The lake's UTC folders are still pruned: Tokyo's last day reads only its UTC days.
    let read_mb = |extra: &[&str]| -> f64 {
        let mut args = vec![
            "query",
            "traffic_by_day",
            "--lake",
            &lake,
            "--tz",
            "Asia/Tokyo",
        ];
        args.extend(extra);
        let output = loglake(&args);
        let note = String::from_utf8_lossy(&output.stderr).to_string();
        let read = note.split("read ").nth(1).expect(&note);
        read.split(' ').next().unwrap().parse().unwrap()
    };
    assert!(read_mb(&["--from", "2026-11-03", "--to", "2026-11-03"]) < read_mb(&[]));

    // The page's range picker offers Tokyo's days, the last one after the lake's last UTC day.
    let page = dir.path().join("tokyo.html");
    let page = page.to_str().unwrap();
    let output = loglake(&[
        "report",
        "--lake",
        &lake,
        "--html",
        page,
        "--tz",
        "Asia/Tokyo",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("(every day, Asia/Tokyo)</title>"));
    assert!(html.contains("<div class=\"period\" id=\"d-2026-11-03\""));
    let output = loglake(&[
        "query",
        "top_paths",
        "--lake",
        &lake,
        "--tz",
        "Mars/Olympus",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Mars/Olympus"));
}
