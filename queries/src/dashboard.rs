//! The shipped reports' results as one self-contained HTML page (`loglake report --html`): charts
//! drawn here as inline SVG, inline CSS, no script and nothing fetched, so the file opens offline
//! and can be mailed or kept in S3. Panels sit two to a row on a wide screen and one on a phone,
//! in the reader's light or dark theme (`prefers-color-scheme`).
//!
//! A report's shape picks its chart: rows keyed by `dt` and `hour` are time series (one small
//! chart per numeric column, or stacked bars when a text column splits the counts, as
//! `status_by_hour`'s status classes do); other reports are ranked lists (bars of their first
//! numeric column), with their table below. Every value from the logs (paths, referrers, agents)
//! is escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::{Cell, Report, ResultTable};

const CHART_WIDTH: f64 = 640.0;
const CHART_HEIGHT: f64 = 140.0;
/// Status classes and other series, in this order of colours.
const PALETTE: [&str; 6] = [
    "#2b6cb0", "#38a169", "#d69e2e", "#e53e3e", "#805ad5", "#718096",
];

/// The page for `panels` (each report with its result), titled with the lake and the date range;
/// `previous` holds the same period's predecessor's results of the overview's reports, for the
/// change against it (none: no change shown).
pub fn render(
    title: &str,
    panels: &[(&Report, &ResultTable)],
    previous: &[(&Report, &ResultTable)],
) -> String {
    let mut html = String::with_capacity(64 << 10);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n",
        title = escape(title)
    );
    overview(&mut html, panels, previous);
    for (report, table) in panels {
        let _ = write!(
            html,
            "<section class=\"panel\" id=\"{name}\"><h2>{description}</h2>",
            name = escape(report.name),
            description = escape(report.description())
        );
        if table.rows.is_empty() {
            html.push_str("<p class=\"empty\">No rows in this range.</p>");
        } else if let Some(keys) = time_columns(table) {
            time_series(&mut html, table, keys);
        } else {
            ranking(&mut html, table);
            table_html(&mut html, table);
        }
        html.push_str("</section>\n");
    }
    html.push_str("</body></html>\n");
    html
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#1a202c;max-width:1400px}\
h1{font-size:1.4em}.panel{display:inline-block;vertical-align:top;width:min(680px,100%);\
margin:0 1em 1.5em 0;overflow-x:auto}\
h2{font-size:1em;margin:.2em 0}h3{font-size:.85em;margin:.4em 0 0;color:#4a5568}\
svg{display:block;max-width:100%;height:auto}svg text{font-size:10px;fill:#4a5568}table{border-collapse:collapse;font-size:12px}\
td,th{padding:1px 6px;text-align:left;max-width:360px;overflow:hidden;text-overflow:ellipsis;\
white-space:nowrap}td.n{text-align:right}.empty,.note{color:#718096}.legend span{margin-right:1em}\
.overview{display:flex;flex-wrap:wrap;gap:.6em;margin:0 0 1.5em}.card{border:1px solid #e2e8f0;\
border-radius:6px;padding:.5em .9em;min-width:8em}.card b{display:block;font-size:1.5em}\
.card span,.card i{display:block;color:#4a5568;font-size:.85em}\
@media (max-width:700px){body{margin:1em}.panel{margin-right:0}}\
@media (prefers-color-scheme:dark){body{background:#171923;color:#e2e8f0}\
h3,.card span,.card i,.empty,.note{color:#a0aec0}svg text{fill:#a0aec0}.card{border-color:#4a5568}}";

/// How many leading columns say when (`dt`, or `dt` and `hour`), for a report over time.
fn time_columns(table: &ResultTable) -> Option<usize> {
    let column = |i: usize| table.columns.get(i).map(String::as_str);
    let keys = match (column(0), column(1)) {
        (Some("dt"), Some("hour")) => 2,
        (Some("dt"), _) => 1,
        _ => return None,
    };
    (table.columns.len() > keys).then_some(keys)
}

fn number(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Int(v) => Some(*v as f64),
        Cell::Float(v) if v.is_finite() => Some(*v),
        _ => None,
    }
}

/// A cell as a chart label or table cell: as the other renderings show it, null named.
fn label(cell: &Cell) -> String {
    match cell {
        Cell::Null => "(none)".into(),
        other => other.text(),
    }
}

/// `dt` (and `hour`: `keys` columns), then either numeric columns (a small line chart each) or
/// a text column and a count (stacked bars, one colour per value of the text column).
fn time_series(html: &mut String, table: &ResultTable, keys: usize) {
    let hour_of = |row: &[Cell]| match keys {
        1 => label(&row[0]),
        _ => format!("{} {:0>2}:00", label(&row[0]), label(&row[1])),
    };
    let split_by = (keys..table.columns.len())
        .find(|&c| table.rows.iter().any(|r| matches!(r[c], Cell::Text(_))));
    match split_by {
        Some(category) => {
            let value = (keys..table.columns.len()).find(|&c| c != category);
            let Some(value) = value else { return };
            let mut hours: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            for row in &table.rows {
                *hours
                    .entry(hour_of(row))
                    .or_default()
                    .entry(label(&row[category]))
                    .or_default() += number(&row[value]).unwrap_or(0.0);
            }
            stacked_bars(html, &table.columns[value], &hours);
        }
        None => {
            let hours: Vec<String> = table.rows.iter().map(|r| hour_of(r)).collect();
            for column in keys..table.columns.len() {
                let values: Vec<f64> = table
                    .rows
                    .iter()
                    .map(|r| number(&r[column]).unwrap_or(0.0))
                    .collect();
                line_chart(html, &table.columns[column], &hours, &values);
            }
        }
    }
}

fn line_chart(html: &mut String, name: &str, hours: &[String], values: &[f64]) {
    let max = values.iter().copied().fold(0.0, f64::max);
    let step = CHART_WIDTH / (values.len().max(2) - 1) as f64;
    let y = |v: f64| CHART_HEIGHT - 14.0 - (v / max.max(f64::MIN_POSITIVE)) * (CHART_HEIGHT - 28.0);
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| format!("{:.1},{:.1}", i as f64 * step, y(v)))
        .collect();
    let _ = write!(
        html,
        "<h3>{name}</h3><svg class=\"chart\" role=\"img\" aria-label=\"{name} per hour\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{points}\"/>\
         <text x=\"2\" y=\"10\">max {max}</text>\
         <text x=\"0\" y=\"{bottom}\">{first}</text>\
         <text x=\"{w}\" y=\"{bottom}\" text-anchor=\"end\">{last}</text></svg>",
        name = escape(name),
        w = CHART_WIDTH,
        h = CHART_HEIGHT,
        colour = PALETTE[0],
        points = points.join(" "),
        max = human(name, max),
        bottom = CHART_HEIGHT - 2.0,
        first = escape(hours.first().map_or("", String::as_str)),
        last = escape(hours.last().map_or("", String::as_str)),
    );
}

fn stacked_bars(html: &mut String, name: &str, hours: &BTreeMap<String, BTreeMap<String, f64>>) {
    let categories: Vec<&String> = hours
        .values()
        .flat_map(|c| c.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let colour = |category: &String| {
        let index = categories.iter().position(|c| *c == category).unwrap_or(0);
        PALETTE[index.min(PALETTE.len() - 1)]
    };
    let max = hours
        .values()
        .map(|c| c.values().sum::<f64>())
        .fold(0.0, f64::max);
    let width = CHART_WIDTH / hours.len().max(1) as f64;
    let scale = (CHART_HEIGHT - 28.0) / max.max(f64::MIN_POSITIVE);
    let _ = write!(
        html,
        "<h3>{name}</h3><svg class=\"chart\" role=\"img\" aria-label=\"{name} per hour\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
        name = escape(name),
        w = CHART_WIDTH,
        h = CHART_HEIGHT,
    );
    for (i, counts) in hours.values().enumerate() {
        let mut top = CHART_HEIGHT - 14.0;
        for category in &categories {
            let Some(&count) = counts.get(*category) else {
                continue;
            };
            let height = count * scale;
            top -= height;
            let _ = write!(
                html,
                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{}\"/>",
                i as f64 * width,
                (width - 0.5).max(0.5),
                colour(category)
            );
        }
    }
    let first = hours.keys().next().map_or("", String::as_str);
    let last = hours.keys().next_back().map_or("", String::as_str);
    let _ = write!(
        html,
        "<text x=\"2\" y=\"10\">max {max}</text><text x=\"0\" y=\"{bottom}\">{first}</text>\
         <text x=\"{w}\" y=\"{bottom}\" text-anchor=\"end\">{last}</text></svg><p class=\"legend\">",
        max = human(name, max),
        bottom = CHART_HEIGHT - 2.0,
        w = CHART_WIDTH,
        first = escape(first),
        last = escape(last),
    );
    for category in &categories {
        let _ = write!(
            html,
            "<span style=\"color:{}\">■ {}</span>",
            colour(category),
            escape(category)
        );
    }
    html.push_str("</p>");
}

/// Bars of the first numeric column, labelled by the first column, in the report's order.
fn ranking(html: &mut String, table: &ResultTable) {
    let Some(value) =
        (1..table.columns.len()).find(|&c| table.rows.iter().all(|r| number(&r[c]).is_some()))
    else {
        return;
    };
    let rows: Vec<(String, f64)> = table
        .rows
        .iter()
        .take(15)
        .map(|r| (label(&r[0]), number(&r[value]).unwrap_or(0.0)))
        .collect();
    let max = rows.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let bar_height = 16.0;
    let height = rows.len() as f64 * bar_height + 4.0;
    let _ = write!(
        html,
        "<svg class=\"chart\" role=\"img\" aria-label=\"{name}\" width=\"{w}\" height=\"{height}\" \
         viewBox=\"0 0 {w} {height}\">",
        name = escape(&table.columns[value]),
        w = CHART_WIDTH,
    );
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = i as f64 * bar_height + 2.0;
        let width = (v / max.max(f64::MIN_POSITIVE)) * (CHART_WIDTH - 320.0);
        let shown: String = name.chars().take(48).collect();
        let _ = write!(
            html,
            "<text x=\"236\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"240\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{bh}\" fill=\"{colour}\"/>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\">{value}</text>",
            ty = y + 11.0,
            label = escape(&shown),
            bh = bar_height - 3.0,
            colour = PALETTE[0],
            vx = 244.0 + width,
            value = human(&table.columns[value], *v),
        );
    }
    html.push_str("</svg>");
}

fn table_html(html: &mut String, table: &ResultTable) {
    html.push_str("<table><tr>");
    for column in &table.columns {
        let _ = write!(html, "<th>{}</th>", escape(column));
    }
    html.push_str("</tr>");
    for row in table.rows.iter().take(TABLE_ROWS) {
        html.push_str("<tr>");
        for cell in row {
            let class = if number(cell).is_some() {
                " class=\"n\""
            } else {
                ""
            };
            let _ = write!(html, "<td{class}>{}</td>", escape(&label(cell)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    if table.rows.len() > TABLE_ROWS {
        let _ = write!(
            html,
            "<p class=\"note\">The first {TABLE_ROWS} of {} rows; <code>loglake query</code> gives them all.</p>",
            table.rows.len()
        );
    }
}

/// Rows a panel's table shows: the page stays a page (the evidence reports hold up to 200).
const TABLE_ROWS: usize = 25;

/// The reports the overview's totals come from: run for the previous period too, to compare.
pub const OVERVIEW_REPORTS: [&str; 3] = ["traffic_by_day", "status_by_hour", "bot_share"];

/// One total of the overview: its value (for comparing), the value shown, and what it counts.
struct Total {
    value: f64,
    shown: String,
    what: String,
}

/// The range's totals, as GoAccess's page opens: requests, visitors, bandwidth, pages and static
/// files, 4xx and 5xx shares, bots' share. Read off the reports that hold them
/// (`traffic_by_day`, `status_by_hour`, `bot_share`); a total whose report did not run is left
/// out. Keyed for matching the previous period's.
fn totals(panels: &[(&Report, &ResultTable)]) -> Vec<(&'static str, Total)> {
    let table = |name: &str| {
        panels
            .iter()
            .find(|(report, _)| report.name == name)
            .map(|(_, table)| *table)
    };
    let sum =
        |table: &ResultTable, column: &str, filter: &dyn Fn(&[Cell]) -> bool| -> Option<f64> {
            let at = table.columns.iter().position(|c| c == column)?;
            Some(
                table
                    .rows
                    .iter()
                    .filter(|r| filter(r))
                    .filter_map(|r| number(&r[at]))
                    .sum(),
            )
        };
    let all = |_: &[Cell]| true;
    let total = |value: f64, shown: String, what: String| Total { value, shown, what };
    let mut totals = Vec::new();
    let Some(days) = table("traffic_by_day").filter(|t| !t.rows.is_empty()) else {
        return totals;
    };
    let (first, last) = (
        label(&days.rows[0][0]),
        label(&days.rows[days.rows.len() - 1][0]),
    );
    let range = if first == last {
        first
    } else {
        format!("{first} – {last}")
    };
    let count = days.rows.len() as f64;
    let days_text = match days.rows.len() {
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    };
    totals.push(("range", total(count, range, days_text)));
    let requests = sum(days, "requests", &all).unwrap_or(0.0);
    totals.push((
        "requests",
        total(requests, human_count(requests), "requests".into()),
    ));
    if let Some(visitors) = sum(days, "visitors", &all) {
        let what = "visitors (a day's, added up)".into();
        totals.push(("visitors", total(visitors, human_count(visitors), what)));
    }
    if let Some(bytes) = sum(days, "bytes", &all) {
        totals.push(("bytes", total(bytes, human_bytes(bytes), "sent".into())));
    }
    if let Some(pages) = sum(days, "page_requests", &all) {
        let what = format!("pages, {} static files", human_count(requests - pages));
        totals.push(("pages", total(pages, human_count(pages), what)));
    }
    if requests > 0.0 {
        if let Some(status) = table("status_by_hour") {
            for (key, class) in [("4xx", "4xx"), ("5xx", "5xx")] {
                let is_class = |row: &[Cell]| row.get(2).is_some_and(|c| label(c) == class);
                if let Some(n) = sum(status, "requests", &is_class) {
                    let what = format!("{class} ({})", human_count(n));
                    totals.push((key, total(100.0 * n / requests, percent(n, requests), what)));
                }
            }
        }
        if let Some(bots) = table("bot_share") {
            let is_bot = |row: &[Cell]| matches!(row.first(), Some(Cell::Bool(true)));
            if let Some(n) = sum(bots, "requests", &is_bot) {
                let share = 100.0 * n / requests;
                totals.push((
                    "bots",
                    total(share, percent(n, requests), "from bots".into()),
                ));
            }
        }
    }
    totals
}

/// The overview cards, each with its change against the previous period's total when there is
/// one (shares in percentage points, counts in percent).
fn overview(
    html: &mut String,
    panels: &[(&Report, &ResultTable)],
    previous: &[(&Report, &ResultTable)],
) {
    let now = totals(panels);
    if now.is_empty() {
        return;
    }
    let before = totals(previous);
    html.push_str("<div class=\"overview\">");
    for (key, total) in &now {
        let change = before
            .iter()
            .find(|(k, _)| k == key && *key != "range")
            .map(|(_, b)| b.value)
            .filter(|b| *b > 0.0 || ["4xx", "5xx", "bots"].contains(key))
            .map(|b| match ["4xx", "5xx", "bots"].contains(key) {
                true => format!("{:+.1} points", total.value - b),
                false => format!("{:+.1} %", 100.0 * (total.value - b) / b),
            });
        let change = change.map_or(String::new(), |c| {
            format!("<i>{} against the period before</i>", escape(&c))
        });
        let _ = write!(
            html,
            "<div class=\"card\"><b>{}</b><span>{}</span>{change}</div>",
            escape(&total.shown),
            escape(&total.what)
        );
    }
    html.push_str("</div>\n");
}

fn percent(part: f64, whole: f64) -> String {
    format!("{:.1} %", 100.0 * part / whole)
}

/// A chart's value of column `column`, in human units: bytes in binary units, other counts
/// shortened (the tables keep the exact values).
fn human(column: &str, v: f64) -> String {
    match column.contains("bytes") {
        true => human_bytes(v),
        false => human_count(v),
    }
}

/// A count as a person reads it: `950`, `1.2k`, `3.4M`.
fn human_count(v: f64) -> String {
    match v.abs() {
        a if a >= 1e9 => format!("{:.1}G", v / 1e9),
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e4 => format!("{:.1}k", v / 1e3),
        _ => format_number(v),
    }
}

/// Bytes in binary units: `812 B`, `7.7 GiB`.
fn human_bytes(v: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = v;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{} B", format_number(value)),
        _ => format!("{value:.1} {}", units[unit]),
    }
}

fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Text as HTML (element content and quoted attribute values alike).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report;

    fn table(columns: &[&str], rows: Vec<Vec<Cell>>) -> ResultTable {
        ResultTable {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }
    }

    fn text(v: &str) -> Cell {
        Cell::Text(v.into())
    }

    #[test]
    fn the_page_opens_with_the_ranges_totals_in_human_units() {
        let days = table(
            &["dt", "requests", "page_requests", "bytes", "visitors"],
            vec![
                vec![
                    text("2026-11-01"),
                    Cell::Int(9_000),
                    Cell::Int(6_000),
                    Cell::Int(8_241_848_220),
                    Cell::Int(700),
                ],
                vec![
                    text("2026-11-02"),
                    Cell::Int(3_000),
                    Cell::Int(2_000),
                    Cell::Int(0),
                    Cell::Int(300),
                ],
            ],
        );
        let status = table(
            &["dt", "hour", "status_class", "requests"],
            vec![
                vec![
                    text("2026-11-01"),
                    Cell::Int(0),
                    text("2xx"),
                    Cell::Int(11_400),
                ],
                vec![
                    text("2026-11-01"),
                    Cell::Int(0),
                    text("4xx"),
                    Cell::Int(480),
                ],
                vec![
                    text("2026-11-02"),
                    Cell::Int(3),
                    text("5xx"),
                    Cell::Int(120),
                ],
            ],
        );
        let bots = table(
            &["is_bot", "requests", "bytes", "share_pct"],
            vec![
                vec![
                    Cell::Bool(false),
                    Cell::Int(9_000),
                    Cell::Int(1),
                    Cell::Float(75.0),
                ],
                vec![
                    Cell::Bool(true),
                    Cell::Int(3_000),
                    Cell::Int(1),
                    Cell::Float(25.0),
                ],
            ],
        );
        let panels = [
            (report("traffic_by_day").unwrap(), &days),
            (report("status_by_hour").unwrap(), &status),
            (report("bot_share").unwrap(), &bots),
        ];
        let html = render("lake", &panels, &[]);
        let overview =
            &html[html.find("class=\"overview\"").unwrap()..html.find("<section").unwrap()];
        assert!(!overview.contains("against the period before"));
        for card in [
            "<b>2026-11-01 – 2026-11-02</b><span>2 days</span>",
            "<b>12.0k</b><span>requests</span>",
            "<b>1000</b><span>visitors (a day&#39;s, added up)</span>",
            "<b>7.7 GiB</b><span>sent</span>",
            "<b>8000</b><span>pages, 4000 static files</span>",
            "<b>4.0 %</b><span>4xx (480)</span>",
            "<b>1.0 %</b><span>5xx (120)</span>",
            "<b>25.0 %</b><span>from bots</span>",
        ] {
            assert!(overview.contains(card), "{card}: {overview}");
        }
        // Against a period before with 10,000 requests, 2 % 4xx and no 5xx or bots' rows.
        let days_before = table(
            &["dt", "requests", "page_requests", "bytes", "visitors"],
            vec![vec![
                text("2026-10-31"),
                Cell::Int(10_000),
                Cell::Int(8_000),
                Cell::Int(1),
                Cell::Int(800),
            ]],
        );
        let status_before = table(
            &["dt", "hour", "status_class", "requests"],
            vec![vec![
                text("2026-10-31"),
                Cell::Int(0),
                text("4xx"),
                Cell::Int(200),
            ]],
        );
        let previous = [
            (report("traffic_by_day").unwrap(), &days_before),
            (report("status_by_hour").unwrap(), &status_before),
        ];
        let compared = render("lake", &panels, &previous);
        for change in [
            "<b>12.0k</b><span>requests</span><i>+20.0 % against the period before</i>",
            "<b>1000</b><span>visitors (a day&#39;s, added up)</span><i>+25.0 % against",
            "<b>4.0 %</b><span>4xx (480)</span><i>+2.0 points against",
            "<b>25.0 %</b><span>from bots</span></div>",
        ] {
            assert!(compared.contains(change), "{change}");
        }
        assert!(
            !compared.contains("2 days</span><i>"),
            "the range is not compared"
        );
        assert_eq!(
            (human_count(950.0), human_count(3_400_000.0)),
            ("950".into(), "3.4M".into())
        );
        assert_eq!(
            (human_bytes(812.0), human_bytes(1536.0)),
            ("812 B".into(), "1.5 KiB".into())
        );
    }

    #[test]
    fn each_report_shape_gets_its_chart_and_log_text_is_escaped() {
        let traffic = table(
            &["dt", "hour", "requests", "bytes", "visitors"],
            vec![
                vec![
                    text("2026-11-01"),
                    Cell::Int(0),
                    Cell::Int(10),
                    Cell::Int(500),
                    Cell::Int(3),
                ],
                vec![
                    text("2026-11-01"),
                    Cell::Int(1),
                    Cell::Int(20),
                    Cell::Int(900),
                    Cell::Int(5),
                ],
            ],
        );
        let status = table(
            &["dt", "hour", "status_class", "requests"],
            vec![
                vec![text("2026-11-01"), Cell::Int(0), text("2xx"), Cell::Int(8)],
                vec![text("2026-11-01"), Cell::Int(0), text("4xx"), Cell::Int(2)],
                vec![text("2026-11-01"), Cell::Int(1), text("2xx"), Cell::Int(20)],
            ],
        );
        let paths = table(
            &["path", "requests"],
            vec![
                vec![text("/<script>alert(1)</script>"), Cell::Int(7)],
                vec![text("/\"quoted\"&'"), Cell::Int(3)],
            ],
        );
        let empty = table(&["path", "requests"], vec![]);
        let panels = [
            (report("traffic_by_hour").unwrap(), &traffic),
            (report("status_by_hour").unwrap(), &status),
            (report("top_paths").unwrap(), &paths),
            (report("top_404_paths").unwrap(), &empty),
        ];
        let html = render("lake <x>", &panels, &[]);

        assert!(html.starts_with("<!DOCTYPE html>"));
        // without traffic_by_day there are no totals to show
        assert!(!html.contains("class=\"overview\""));
        assert_eq!(html.matches("<section class=\"panel\"").count(), 4);
        // a line per numeric column of the time series, one stacked chart, one ranking
        assert_eq!(html.matches("<polyline").count(), 3);
        assert_eq!(
            html.matches("<rect").count(),
            3 + 2,
            "3 stacked segments, 2 bars"
        );
        assert!(html.contains(">■ 2xx</span>") && html.contains(">■ 4xx</span>"));
        assert!(html.contains("No rows in this range."));
        // the highest bar of the stacked chart is the busiest hour's total
        assert!(html.contains(">max 20</text>"));
        // nothing from the logs is markup, and nothing is fetched
        assert!(!html.contains("<script"));
        assert!(html.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("/&quot;quoted&quot;&amp;&#39;"));
        assert!(html.contains("<title>lake &lt;x&gt;</title>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
