//! The shipped reports' results as one self-contained HTML page (`loglake report --html`): charts
//! drawn here as inline SVG, inline CSS and one small inline script, nothing fetched (the page's
//! Content-Security-Policy forbids it), so the file opens offline and can be mailed or kept in S3.
//! Panels sit two to a row on a wide screen and one on a phone, in the reader's light or dark
//! theme (`prefers-color-scheme`).
//!
//! A report's shape picks its chart: rows keyed by `dt` and `hour` are time series (one small
//! chart per numeric column, or stacked bars when a text column splits the counts, as
//! `status_by_hour`'s status classes do); other reports are ranked lists (bars of their first
//! numeric column), with their table below. Charts have axes with ticks and gridlines in human
//! units, a legend when there is more than one series, and each point's or bar's exact value as
//! its tooltip (an SVG `<title>`: no script needed). Tables carry each count's share of the range's
//! total; the script sorts them by any column and pages through long ones, and without it every
//! row is shown. Every value from the logs (paths, referrers, agents) is escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::{Cell, Report, ResultTable};

const CHART_WIDTH: f64 = 640.0;
const CHART_HEIGHT: f64 = 140.0;
/// Status classes and other series, in this order of colours.
const PALETTE: [&str; 6] = [
    "#2b6cb0", "#38a169", "#d69e2e", "#e53e3e", "#805ad5", "#718096",
];

/// One period of the page: every panel for it, and the overview's reports for the period of the
/// same length just before it (empty: no change shown).
pub struct Period<'a> {
    /// Its part of the page's address (`#all`, `#d-2026-11-01`): a plain word.
    pub id: String,
    /// What the range picker calls it.
    pub label: String,
    pub panels: Vec<(&'a Report, &'a ResultTable)>,
    pub previous: Vec<(&'a Report, &'a ResultTable)>,
}

/// The page for `panels` (each report with its result), titled with the lake and the date range;
/// `previous` holds the same period's predecessor's results of the overview's reports, for the
/// change against it (none: no change shown).
pub fn render(
    title: &str,
    panels: &[(&Report, &ResultTable)],
    previous: &[(&Report, &ResultTable)],
) -> String {
    let period = Period {
        id: "all".into(),
        label: "the whole range".into(),
        panels: panels.to_vec(),
        previous: previous.to_vec(),
    };
    render_periods(title, &[period])
}

/// The page with several periods (the first shown at first): a range picker of links, and each
/// period's overview and panels, shown when its link is followed (the address's `#…`: CSS
/// `:target`, no script needed). One period: no picker.
pub fn render_periods(title: &str, periods: &[Period<'_>]) -> String {
    let mut html = String::with_capacity(64 << 10);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n",
        title = escape(title)
    );
    if periods.len() > 1 {
        html.push_str("<nav class=\"periods\"><span>Show:</span>");
        for period in periods {
            let _ = write!(
                html,
                "<a href=\"#{id}\">{label}</a>",
                id = escape(&period.id),
                label = escape(&period.label)
            );
        }
        html.push_str("</nav>\n");
    }
    for (at, period) in periods.iter().enumerate() {
        let _ = write!(
            html,
            "<div class=\"period{first}\" id=\"{id}\"><h2 class=\"showing\">{label}</h2>",
            first = if at == 0 { " first" } else { "" },
            id = escape(&period.id),
            label = escape(&period.label),
        );
        // The picker's periods keep the page small: their tables hold the first rows only.
        let rows = match at {
            0 => usize::MAX,
            _ => TABLE_ROWS,
        };
        period_html(&mut html, period, rows);
        html.push_str("</div>\n");
    }
    let _ = writeln!(html, "<script>{SCRIPT}</script></body></html>");
    html
}

/// A period's overview and panels, their tables holding at most `rows` rows.
fn period_html(html: &mut String, period: &Period<'_>, rows: usize) {
    let now = totals(&period.panels);
    overview(html, &now, &period.previous);
    let whole = |key: &str| now.iter().find(|(k, _)| *k == key).map(|(_, t)| t.value);
    let range = RangeTotals {
        requests: whole("requests"),
        bytes: whole("bytes"),
    };
    let details = hour_details(&period.panels);
    html.push_str("<div class=\"panels\">\n");
    for (report, table) in &period.panels {
        if report.name == HOUR_DETAIL_REPORT {
            continue;
        }
        let _ = write!(
            html,
            "<section class=\"panel\" id=\"{period}-{name}\"><h2>{description}</h2>",
            period = escape(&period.id),
            name = escape(report.name),
            description = escape(report.description())
        );
        if table.rows.is_empty() {
            html.push_str("<p class=\"empty\">No rows in this range.</p>");
        } else if let Some(keys) = time_columns(table) {
            let details = (report.name == "traffic_by_hour").then_some(&details);
            time_series(html, table, keys, details);
        } else {
            ranking(html, table);
            table_html(html, table, &range, rows);
        }
        html.push_str("</section>\n");
    }
    html.push_str("</div>");
}

/// The page's one script: sorts a table by the column whose header is clicked (again: the other
/// way), and shows a long table's rows 25 at a time; a tapped hour's tooltip (its top paths) is
/// shown under its chart, for screens with no pointer to hover. Without it every row is shown.
const SCRIPT: &str = "for(const t of document.querySelectorAll('table.data')){\
const b=t.tBodies[0],more=t.nextElementSibling?.matches('button.more')?t.nextElementSibling:null;\
let shown=25;const page=()=>{[...b.rows].forEach((r,i)=>r.hidden=i>=shown);\
if(more)more.hidden=shown>=b.rows.length;};\
t.tHead.addEventListener('click',e=>{const h=e.target.closest('th');if(!h)return;\
const c=h.cellIndex,down=h.dataset.sort!=='down';\
for(const o of h.parentNode.cells)delete o.dataset.sort;h.dataset.sort=down?'down':'up';\
const key=r=>{const d=r.cells[c];return d.dataset.v!==undefined?Number(d.dataset.v):d.textContent;};\
const rows=[...b.rows].sort((x,y)=>{const p=key(x),q=key(y);const o=p<q?-1:p>q?1:0;return down?-o:o;});\
b.append(...rows);page();});\
if(more)more.addEventListener('click',()=>{shown+=25;page();});page();}\
document.addEventListener('click',e=>{const r=e.target.closest('rect.hit'),\
p=r?.closest('section')?.querySelector('pre.detail');if(p){p.textContent=r.textContent;p.hidden=false;}});";

/// What the page may do: its own inline style and the script above (by its hash), nothing else:
/// no request leaves it, whatever a log line holds.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     script-src 'sha256-38Yqa9QwgR8ZIkfpAL+6Te6cCqHg1iMo02z8Vs29L5w='";

/// The range's totals that the tables' shares are of.
struct RangeTotals {
    requests: Option<f64>,
    bytes: Option<f64>,
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#1a202c;max-width:1400px}\
h1{font-size:1.4em}.panels{display:grid;gap:1.5em 2em;\
grid-template-columns:repeat(auto-fill,minmax(min(600px,100%),1fr))}.panel{min-width:0;overflow-x:auto}\
h2{font-size:1em;margin:.2em 0}h3{font-size:.85em;margin:.4em 0 0;color:#4a5568}\
svg{display:block;max-width:100%;height:auto}svg text{font-size:10px;fill:#4a5568}table{border-collapse:collapse;font-size:12px}\
td,th{padding:1px 6px;text-align:left;max-width:360px;overflow:hidden;text-overflow:ellipsis;\
white-space:nowrap}td.n{text-align:right}.empty,.note{color:#718096}.legend span{margin-right:1em}\
.overview{display:flex;flex-wrap:wrap;gap:.6em;margin:0 0 1.5em}.card{border:1px solid #e2e8f0;\
border-radius:6px;padding:.5em .9em;min-width:8em}.card b{display:block;font-size:1.5em}\
.card span,.card i{display:block;color:#4a5568;font-size:.85em}\
nav.periods{display:flex;flex-wrap:wrap;gap:.3em .8em;margin:0 0 1em}\
.period{display:none}.period.first,.period:target{display:block}\
body:has(.period:target) .period.first:not(:target){display:none}\
h2.showing{font-size:1.1em;margin:0 0 .6em}line.grid{stroke:#edf2f7}line.axis{stroke:#a0aec0}rect.hit{fill:transparent;y:6px;height:118px}\
rect.hit:hover{fill:rgba(128,128,128,.15)}th{cursor:pointer;user-select:none}\
th[data-sort=down]::after{content:' ▼'}th[data-sort=up]::after{content:' ▲'}\
button.more{margin:.3em 0;font:inherit;font-size:12px}pre.detail{font-size:12px;margin:.3em 0;white-space:pre-wrap}\
@media (max-width:700px){body{margin:1em}}\
@media (prefers-color-scheme:dark){body{background:#171923;color:#e2e8f0}\
h3,.card span,.card i,.empty,.note{color:#a0aec0}svg text{fill:#a0aec0}.card{border-color:#4a5568}\
line.grid{stroke:#2d3748}line.axis{stroke:#4a5568}}";

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
fn time_series(
    html: &mut String,
    table: &ResultTable,
    keys: usize,
    details: Option<&BTreeMap<String, String>>,
) {
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
                // The hour's details go with its requests, the count they break down.
                let details = details.filter(|_| table.columns[column] == "requests");
                line_chart(html, &table.columns[column], &hours, &values, details);
            }
            if details.is_some_and(|d| !d.is_empty()) {
                html.push_str(
                    "<p class=\"note\">An hour's top paths: point at it (or tap it).</p>\
                     <pre class=\"detail\" hidden></pre>",
                );
            }
        }
    }
}

/// The plot area inside a time chart's axes: room for the value ticks on the left and the time
/// ticks below.
const PLOT_LEFT: f64 = 60.0;
const PLOT_TOP: f64 = 6.0;
const PLOT_BOTTOM: f64 = CHART_HEIGHT - 16.0;
const PLOT_RIGHT: f64 = CHART_WIDTH - 6.0;

/// Round values for an axis from 0 to at least `max`: 0, then a step of 1, 2 or 5 times a power
/// of ten, four or five ticks.
fn ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let rough = max / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| max / step <= 5.0)
        .unwrap_or(10.0 * power);
    let count = (max / step).ceil() as usize;
    (0..=count.max(1)).map(|i| i as f64 * step).collect()
}

/// Opens a time chart's `<svg>` and draws its axes: gridlines and labels at the value ticks
/// (returned, the last being the top of the scale) and up to five time labels along the bottom.
fn time_axes(html: &mut String, name: &str, times: &[&str], max: f64) -> f64 {
    // Bytes tick at round numbers of their binary unit (0, 256 MiB, 512 MiB…).
    let unit = match name.contains("bytes") {
        true => 1024f64.powi((max.max(1.0).log(1024.0).floor() as i32).clamp(0, 5)),
        false => 1.0,
    };
    let ticks: Vec<f64> = ticks(max / unit).into_iter().map(|t| t * unit).collect();
    let top = *ticks.last().unwrap_or(&1.0);
    let _ = write!(
        html,
        "<h3>{name}</h3><svg class=\"chart\" role=\"img\" aria-label=\"{name} over time\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
        name = escape(name),
        w = CHART_WIDTH,
        h = CHART_HEIGHT,
    );
    for tick in &ticks {
        let y = value_y(*tick, top);
        let _ = write!(
            html,
            "<line class=\"grid\" x1=\"{PLOT_LEFT}\" x2=\"{PLOT_RIGHT}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>",
            lx = PLOT_LEFT - 4.0,
            ty = y + 3.5,
            label = human(name, *tick).replace(".0 ", " "),
        );
    }
    let _ = write!(
        html,
        "<line class=\"axis\" x1=\"{PLOT_LEFT}\" x2=\"{PLOT_LEFT}\" y1=\"{PLOT_TOP}\" y2=\"{PLOT_BOTTOM}\"/>"
    );
    // A day's hours are told by their time; several days' by their date too.
    let one_day = times.first().map(|t| t.get(..10)) == times.last().map(|t| t.get(..10));
    let count = times.len();
    let labels = count.clamp(1, 5);
    for k in 0..labels {
        let i = match labels {
            1 => 0,
            _ => k * (count - 1) / (labels - 1),
        };
        let text = times[i];
        let shown = match (one_day, text.len()) {
            (true, 16) => &text[11..],
            (false, 16) => &text[5..],
            _ => text,
        };
        let anchor = match k {
            0 => "start",
            k if k + 1 == labels && labels > 1 => "end",
            _ => "middle",
        };
        let _ = write!(
            html,
            "<text x=\"{x:.1}\" y=\"{y}\" text-anchor=\"{anchor}\">{shown}</text>",
            x = slot_x(i, count) + slot_width(count) / 2.0,
            y = CHART_HEIGHT - 3.0,
            shown = escape(shown),
        );
    }
    top
}

/// Where a value is drawn on a scale from 0 to `top`.
fn value_y(value: f64, top: f64) -> f64 {
    PLOT_BOTTOM - (value / top.max(f64::MIN_POSITIVE)) * (PLOT_BOTTOM - PLOT_TOP)
}

/// The width of each of `count` time slots, and where the i-th starts.
fn slot_width(count: usize) -> f64 {
    (PLOT_RIGHT - PLOT_LEFT) / count.max(1) as f64
}

fn slot_x(i: usize, count: usize) -> f64 {
    PLOT_LEFT + i as f64 * slot_width(count)
}

/// A slot's tooltip target: the whole slot's height, so the pointer need not find the line (its
/// `y` and `height`, the plot's, are in [`STYLE`]: a month's hours are thousands of targets).
fn hover(html: &mut String, i: usize, count: usize, tip: &str) {
    let _ = write!(
        html,
        "<rect class=\"hit\" x=\"{x:.1}\" width=\"{w:.2}\"><title>{tip}</title></rect>",
        x = slot_x(i, count),
        w = slot_width(count),
        tip = escape(tip),
    );
}

fn line_chart(
    html: &mut String,
    name: &str,
    times: &[String],
    values: &[f64],
    details: Option<&BTreeMap<String, String>>,
) {
    let labels: Vec<&str> = times.iter().map(String::as_str).collect();
    let top = time_axes(
        html,
        name,
        &labels,
        values.iter().copied().fold(0.0, f64::max),
    );
    let count = values.len();
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let x = slot_x(i, count) + slot_width(count) / 2.0;
            format!("{x:.1},{:.1}", value_y(v, top))
        })
        .collect();
    let _ = write!(
        html,
        "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{points}\"/>",
        colour = PALETTE[0],
        points = points.join(" "),
    );
    // A few points (a week's days, a single day) are marked, or one alone would not show.
    if count <= 31 {
        for point in &points {
            let (x, y) = point.split_once(',').unwrap_or_default();
            let _ = write!(
                html,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"{}\"/>",
                PALETTE[0]
            );
        }
    }
    for (i, (time, value)) in times.iter().zip(values).enumerate() {
        let detail = details.and_then(|d| d.get(time)).map_or("", String::as_str);
        hover(
            html,
            i,
            count,
            &format!("{time}: {}{detail}", exact(*value)),
        );
    }
    html.push_str("</svg>");
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
    let times: Vec<&str> = hours.keys().map(String::as_str).collect();
    let top = time_axes(html, name, &times, max);
    let count = hours.len();
    let width = slot_width(count);
    for (i, (time, counts)) in hours.iter().enumerate() {
        let mut base = PLOT_BOTTOM;
        let mut tip = time.clone();
        for category in &categories {
            let Some(&value) = counts.get(*category) else {
                continue;
            };
            let height = PLOT_BOTTOM - value_y(value, top);
            base -= height;
            let _ = write!(
                html,
                "<rect x=\"{:.1}\" y=\"{base:.1}\" width=\"{:.2}\" height=\"{height:.1}\" fill=\"{}\"/>",
                slot_x(i, count),
                (width - 0.5).max(0.5),
                colour(category),
            );
            let _ = write!(tip, " · {category}: {}", exact(value));
        }
        // One tooltip per slot, with every category's value.
        hover(html, i, count, &tip);
    }
    html.push_str("</svg><p class=\"legend\">");
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
    // A row is named by its first column, and the second when that is text too (a network's
    // organisation after its number, a protocol after its method).
    let named_by_two = value > 1 && table.rows.iter().all(|r| matches!(r[1], Cell::Text(_)));
    let name = |r: &[Cell]| match named_by_two {
        true => format!("{} {}", label(&r[0]), label(&r[1])),
        false => label(&r[0]),
    };
    let rows: Vec<(String, f64)> = table
        .rows
        .iter()
        .take(15)
        .map(|r| (name(r), number(&r[value]).unwrap_or(0.0)))
        .collect();
    let max = rows.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let bar_height = 16.0;
    let height = rows.len() as f64 * bar_height + 4.0;
    let column = &table.columns[value];
    let _ = write!(
        html,
        "<svg class=\"chart\" role=\"img\" aria-label=\"{name}\" width=\"{w}\" height=\"{height}\" \
         viewBox=\"0 0 {w} {height}\">",
        name = escape(column),
        w = CHART_WIDTH,
    );
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = i as f64 * bar_height + 2.0;
        let width = (v / max.max(f64::MIN_POSITIVE)) * (CHART_WIDTH - 320.0);
        let shown: String = name.chars().take(48).collect();
        let _ = write!(
            html,
            "<text x=\"236\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"240\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{bh}\" fill=\"{colour}\">\
             <title>{tip}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\">{value}</text>",
            ty = y + 11.0,
            label = escape(&shown),
            bh = bar_height - 3.0,
            colour = PALETTE[0],
            tip = escape(&format!("{name}: {} {column}", exact(*v))),
            vx = 244.0 + width,
            value = human(column, *v),
        );
    }
    html.push_str("</svg>");
}

/// A report's rows: every row (the script shows 25 at a time), numbers sortable by their exact
/// value (`data-v`), and after each count of `requests` or `bytes` its share of the range's total
/// (unless the report has its own share column).
fn table_html(html: &mut String, table: &ResultTable, range: &RangeTotals, rows: usize) {
    let has_share = table
        .columns
        .iter()
        .any(|c| c.contains("share") || c.ends_with("_pct"));
    let share_of = |column: &str| match (has_share, column) {
        (false, "requests") => range.requests,
        (false, "bytes") => range.bytes,
        _ => None,
    };
    html.push_str("<table class=\"data\"><thead><tr>");
    for column in &table.columns {
        let _ = write!(html, "<th>{}</th>", escape(column));
        if share_of(column).is_some() {
            let _ = write!(html, "<th>% of {}</th>", escape(column));
        }
    }
    html.push_str("</tr></thead><tbody>");
    for row in table.rows.iter().take(rows) {
        html.push_str("<tr>");
        for (cell, column) in row.iter().zip(&table.columns) {
            match number(cell) {
                Some(v) => {
                    let _ = write!(html, "<td class=\"n\" data-v=\"{v}\">{}</td>", exact(v));
                    if let Some(whole) = share_of(column).filter(|w| *w > 0.0) {
                        let share = 100.0 * v / whole;
                        let _ = write!(html, "<td class=\"n\" data-v=\"{share}\">{share:.1}</td>");
                    } else if share_of(column).is_some() {
                        html.push_str("<td class=\"n\" data-v=\"0\"></td>");
                    }
                }
                None => {
                    let _ = write!(html, "<td>{}</td>", escape(&label(cell)));
                    if share_of(column).is_some() {
                        html.push_str("<td class=\"n\" data-v=\"0\"></td>");
                    }
                }
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    if table.rows.len() > rows {
        let _ = write!(
            html,
            "<p class=\"note\">The first {rows} of {} rows; the whole range's table, or \
             <code>loglake query</code> for this period, has them all.</p>",
            table.rows.len()
        );
    } else if table.rows.len() > TABLE_ROWS {
        let _ = write!(
            html,
            "<button class=\"more\" type=\"button\" hidden>Show {TABLE_ROWS} more of {} rows</button>",
            table.rows.len()
        );
    }
}

/// Rows a panel's table shows at first, and more at each click (the evidence reports hold up to
/// 200).
const TABLE_ROWS: usize = 25;

/// The report whose rows are the hours' details, each hour's top paths: not a panel of its own,
/// but the tooltip of `traffic_by_hour`'s requests for that hour (and, tapped, the text under the
/// chart).
pub const HOUR_DETAIL_REPORT: &str = "top_paths_by_hour";

/// The most hours whose details a period's page holds (a week's): a month's 720 hours are each
/// under a pixel wide, and their details would be ~100 KB of a page kept under 2 MB.
const DETAIL_HOURS: usize = 7 * 24;

/// Each hour's details (`YYYY-MM-DD HH:00` → a line a top path, `/path: 1,234`), from
/// [`HOUR_DETAIL_REPORT`]'s rows; none when the period has more than [`DETAIL_HOURS`] hours.
fn hour_details(panels: &[(&Report, &ResultTable)]) -> BTreeMap<String, String> {
    let Some((_, table)) = panels.iter().find(|(r, _)| r.name == HOUR_DETAIL_REPORT) else {
        return BTreeMap::new();
    };
    let at = |name: &str| table.columns.iter().position(|c| c == name);
    let (Some(dt), Some(hour), Some(path), Some(requests)) =
        (at("dt"), at("hour"), at("path"), at("requests"))
    else {
        return BTreeMap::new();
    };
    let mut details: BTreeMap<String, String> = BTreeMap::new();
    for row in &table.rows {
        let time = format!("{} {:0>2}:00", label(&row[dt]), label(&row[hour]));
        let count = number(&row[requests]).map_or_else(|| label(&row[requests]), exact);
        let lines = details.entry(time).or_default();
        let _ = write!(lines, "\n{}: {count}", label(&row[path]));
    }
    if details.len() > DETAIL_HOURS {
        details.clear();
    }
    details
}

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

/// The overview cards (`now`, the range's totals), each with its change against the previous
/// period's total when there is one (shares in percentage points, counts in percent).
fn overview(
    html: &mut String,
    now: &[(&'static str, Total)],
    previous: &[(&Report, &ResultTable)],
) {
    if now.is_empty() {
        return;
    }
    let before = totals(previous);
    html.push_str("<div class=\"overview\">");
    for (key, total) in now {
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

/// A value exactly, with thousands separators: `8,241,848,220`, `12.50`.
fn exact(v: f64) -> String {
    let text = format_number(v);
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let (sign, digits) = whole.strip_prefix('-').map_or(("", whole), |d| ("-", d));
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
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
            html.matches("<rect class=\"hit\"").count(),
            3 * 2 + 2,
            "a tooltip target per point of each line and per stacked hour"
        );
        assert_eq!(
            html.matches("<rect").count(),
            3 * 2 + 2 + 3 + 2,
            "and 3 stacked segments, 2 bars"
        );
        assert!(html.contains(">■ 2xx</span>") && html.contains(">■ 4xx</span>"));
        assert!(html.contains("No rows in this range."));
        // the value axis reaches the busiest hour's total: ticks 0, 5, …, 20
        assert!(html.contains(">20</text>") && html.contains(">0</text>"));
        // the exact values are the tooltips: a point's, a stacked segment's, a bar's
        assert!(html.contains("<title>2026-11-01 01:00: 900</title>"));
        assert!(html.contains("<title>2026-11-01 00:00 · 2xx: 8 · 4xx: 2</title>"));
        assert!(html.contains("<title>/&lt;script&gt;alert(1)&lt;/script&gt;: 7 requests</title>"));
        // nothing from the logs is markup, and nothing is fetched: the one script is the page's
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(html.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("/&quot;quoted&quot;&amp;&#39;"));
        assert!(html.contains("<title>lake &lt;x&gt;</title>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn the_pages_policy_allows_its_own_script_and_nothing_from_elsewhere() {
        use base64::Engine;
        use sha2::Digest;
        let hash = sha2::Sha256::digest(SCRIPT.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(hash);
        assert!(
            CONTENT_SECURITY_POLICY.contains(&format!("'sha256-{hash}'")),
            "the script changed: its hash is now sha256-{hash}"
        );
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none';"));
    }

    #[test]
    fn tables_hold_every_row_with_shares_of_the_ranges_totals() {
        let rows: Vec<Vec<Cell>> = (0..30)
            .map(|i| vec![text(&format!("/p{i}")), Cell::Int(30 - i), Cell::Int(1000)])
            .collect();
        let paths = table(&["path", "requests", "bytes"], rows);
        let range = RangeTotals {
            requests: Some(200.0),
            bytes: None,
        };
        let mut html = String::new();
        table_html(&mut html, &paths, &range, usize::MAX);
        assert_eq!(html.matches("<tr>").count(), 31, "a header and every row");
        assert!(html.contains("<th>requests</th><th>% of requests</th><th>bytes</th></tr>"));
        assert!(html.contains(
            "<td class=\"n\" data-v=\"30\">30</td><td class=\"n\" data-v=\"15\">15.0</td>"
        ));
        assert!(html.contains("<td class=\"n\" data-v=\"1000\">1,000</td>"));
        assert!(html.contains(
            "<button class=\"more\" type=\"button\" hidden>Show 25 more of 30 rows</button>"
        ));
        // a report with its own share column gets none added
        let shares = table(&["is_bot", "requests", "share_pct"], vec![]);
        let mut html = String::new();
        table_html(&mut html, &shares, &range, usize::MAX);
        assert!(!html.contains("% of"));
        // a picked period's table holds its first rows, and says so
        let mut html = String::new();
        table_html(&mut html, &paths, &range, 25);
        assert_eq!(html.matches("<tr>").count(), 26);
        assert!(html.contains("The first 25 of 30 rows"));
        assert_eq!(
            (exact(8_241_848_220.0), exact(-1234.5)),
            ("8,241,848,220".into(), "-1,234.50".into())
        );
        assert_eq!(ticks(20.0), [0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(ticks(7.0), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(0.0), [0.0, 1.0]);
        assert_eq!(ticks(1234.0).last(), Some(&1500.0));
        // the tooltip targets' height, set in the style, is the plot's
        let plot = format!("y:{PLOT_TOP}px;height:{}px", PLOT_BOTTOM - PLOT_TOP);
        assert!(STYLE.contains(&plot), "{plot}");
    }
}
