//! What a line does not say but a report wants: the client's country and network (autonomous
//! system number and organisation, from offline IP databases), the crawler a user agent belongs
//! to (from the crawler-user-agents list), and whether the request was for a static file.
//!
//! The data files come from registry packages, not from this repository
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
/// The IP-to-network tables in that folder, IPv4 and IPv6, as ip-location-db's `asn` package
/// ships them: `start,end,number,"organisation"` per range, addresses as numbers.
pub const ASN_FILES: [&str; 2] = ["asn-ipv4-num.csv", "asn-ipv6-num.csv"];

/// The enrichment data of a run. Loaded once and shared (`&'static`) by every decoder.
#[derive(Default)]
pub struct Enrichment {
    pub countries: Option<CountryDatabase>,
    pub networks: Option<AsnDatabase>,
    pub crawlers: Option<CrawlerList>,
}

impl std::fmt::Debug for Enrichment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrichment")
            .field("countries", &self.countries.is_some())
            .field("networks", &self.networks.as_ref().map(AsnDatabase::len))
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
    #[error("{path} is not an IP-to-network table: line {line}: {reason}")]
    AsnTable {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("{path} is not a crawler-user-agents list: {reason}")]
    CrawlerList { path: PathBuf, reason: String },
}

impl Enrichment {
    /// No data: no country, bots by the built-in rules only.
    pub fn none() -> &'static Self {
        static NONE: Enrichment = Enrichment {
            countries: None,
            networks: None,
            crawlers: None,
        };
        &NONE
    }

    /// The data in `dir`, with a warning for each file that could not be used. `None` (the
    /// setting unset) loads nothing and warns once that the columns will be null.
    pub fn load(dir: Option<&Path>) -> (Self, Vec<String>) {
        let Some(dir) = dir else {
            let warning = format!(
                "{ENRICHMENT_DIR_SETTING} is not set: country, asn and as_org are null and bots \
                 are found by the built-in rules only (scripts/fetch-enrichment-data fetches the \
                 data)"
            );
            return (Self::default(), vec![warning]);
        };
        let mut warnings = Vec::new();
        let countries = CountryDatabase::open(&dir.join(COUNTRY_DATABASE_FILE))
            .map_err(|error| warnings.push(format!("{error}; country is null")))
            .ok();
        let networks = AsnDatabase::open(&ASN_FILES.map(|file| dir.join(file)))
            .map_err(|error| warnings.push(format!("{error}; asn and as_org are null")))
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
                networks,
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

/// The network of an address: its autonomous system's number and the organisation that holds
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub asn: u32,
    pub organisation: &'static str,
}

/// Where a client is: its country and its network, each `None` when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOrigin {
    pub country: Option<CountryCode>,
    pub network: Option<Network>,
}

/// One range of addresses of an [`AsnDatabase`], inclusive at both ends.
#[derive(Debug, Clone, Copy)]
struct AsnRange<A> {
    start: A,
    end: A,
    asn: u32,
    /// Index into the database's organisations.
    organisation: u32,
}

/// An IP-to-network table (ip-location-db's `asn`, CC BY 4.0 by RouteViews, DB-IP and the NRO):
/// sorted ranges of addresses, each with an AS number and organisation, searched by bisection.
/// Read once at start-up from the package's CSV files (about 515,000 ranges).
pub struct AsnDatabase {
    v4: Vec<AsnRange<u32>>,
    v6: Vec<AsnRange<u128>>,
    organisations: Vec<Box<str>>,
}

impl AsnDatabase {
    /// The IPv4 and the IPv6 tables, in the package's numeric CSV form.
    pub fn open(paths: &[PathBuf; 2]) -> Result<Self, EnrichmentError> {
        let [v4, v6] = paths.each_ref().map(|path| read(path));
        Self::from_csv(&v4?, &v6?).map_err(|(table, line, reason)| EnrichmentError::AsnTable {
            path: paths[table].clone(),
            line,
            reason,
        })
    }

    /// The tables from their text; an error names the table (0: IPv4), the line and what is
    /// wrong with it.
    pub fn from_csv(v4: &[u8], v6: &[u8]) -> Result<Self, (usize, usize, &'static str)> {
        let mut organisations = Organisations::default();
        let v4 = read_ranges(v4, &mut organisations).map_err(|(line, why)| (0, line, why))?;
        let v6 = read_ranges(v6, &mut organisations).map_err(|(line, why)| (1, line, why))?;
        Ok(Self {
            v4,
            v6,
            organisations: organisations.names,
        })
    }

    /// How many ranges the tables hold.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The network of an address; `None` outside every range, and for addresses that are not
    /// on the internet (private, documentation, … as for the country).
    pub fn network(&'static self, address: IpAddr) -> Option<Network> {
        if !is_global(address) {
            return None;
        }
        let (asn, organisation) = match address {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4))?,
            IpAddr::V6(v6) => find(&self.v6, u128::from(v6))?,
        };
        Some(Network {
            asn,
            organisation: &self.organisations[organisation as usize],
        })
    }
}

/// The AS number and organisation index of the range holding `address`.
fn find<A: Ord + Copy>(ranges: &[AsnRange<A>], address: A) -> Option<(u32, u32)> {
    let after = ranges.partition_point(|range| range.start <= address);
    let range = ranges.get(after.checked_sub(1)?)?;
    (address <= range.end).then_some((range.asn, range.organisation))
}

/// The ranges of one numeric CSV table, sorted; an error is the line number and why.
fn read_ranges<'t, A: Number>(
    text: &'t [u8],
    organisations: &mut Organisations<'t>,
) -> Result<Vec<AsnRange<A>>, (usize, &'static str)> {
    let mut ranges = Vec::with_capacity(text.len() / 40);
    for (number, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let bad = |why| (number + 1, why);
        let mut fields = line.splitn(4, |&b| b == b',');
        let mut next = || fields.next().ok_or(bad("fewer than four fields"));
        let start = A::parse(next()?).ok_or(bad("the range start is not a number"))?;
        let end = A::parse(next()?).ok_or(bad("the range end is not a number"))?;
        let asn = u32::parse(next()?).ok_or(bad("the AS number is not a number"))?;
        let written = next()?;
        if start > end {
            return Err(bad("the range ends before it starts"));
        }
        let organisation = organisations.intern(written).map_err(bad)?;
        ranges.push(AsnRange {
            start,
            end,
            asn,
            organisation,
        });
    }
    ranges.sort_unstable_by_key(|range| range.start);
    Ok(ranges)
}

/// The organisation names of the tables being read, each kept once.
#[derive(Default)]
struct Organisations<'t> {
    names: Vec<Box<str>>,
    /// By the name as written (quoted or not): each distinct one is decoded once.
    index: HashMap<&'t [u8], u32>,
}

impl<'t> Organisations<'t> {
    fn intern(&mut self, written: &'t [u8]) -> Result<u32, &'static str> {
        if let Some(&at) = self.index.get(written) {
            return Ok(at);
        }
        let text = std::str::from_utf8(written).map_err(|_| "the name is not UTF-8")?;
        // A name with a comma or a quote is quoted, its quotes doubled.
        let name = match text.strip_prefix('"') {
            Some(quoted) => (quoted
                .strip_suffix('"')
                .ok_or("a quoted name is not closed")?)
            .replace("\"\"", "\""),
            None => text.to_owned(),
        };
        let at = self.names.len() as u32;
        self.names.push(name.into_boxed_str());
        self.index.insert(written, at);
        Ok(at)
    }
}

/// An unsigned number written in decimal digits, as the tables write addresses and AS numbers.
trait Number: Ord + Copy {
    fn parse(digits: &[u8]) -> Option<Self>;
}

macro_rules! decimal {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn parse(digits: &[u8]) -> Option<Self> {
                if digits.is_empty() {
                    return None;
                }
                digits.iter().try_fold(0 as $t, |value, &d| {
                    let digit = d.wrapping_sub(b'0');
                    (digit < 10).then_some(())?;
                    value.checked_mul(10)?.checked_add(<$t>::from(digit))
                })
            }
        }
    )*};
}
decimal!(u32, u128);

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

/// Where clients are (country and network), by the client field as logged, cached: a client
/// sends many requests, and a database lookup (a tree walk and a record decode for the country, a
/// bisection for the network) costs several times a cache hit. Bounded: it starts over when
/// full.
#[derive(Default)]
pub struct OriginCache {
    by_client: HashMap<Box<[u8]>, ClientOrigin>,
}

impl OriginCache {
    /// Clients remembered before the cache starts over: far more than an hour's distinct
    /// clients in a batch, about 4 MB.
    const CAPACITY: usize = 65_536;

    /// The origin of `client` (the client field as logged: an address, with a port or not) in
    /// the databases `enrichment` has.
    pub fn origin(&mut self, enrichment: &'static Enrichment, client: &[u8]) -> ClientOrigin {
        if enrichment.countries.is_none() && enrichment.networks.is_none() {
            return ClientOrigin::default();
        }
        if let Some(origin) = self.by_client.get(client) {
            return *origin;
        }
        if self.by_client.len() >= Self::CAPACITY {
            self.by_client.clear();
        }
        let origin = match client_address(client) {
            Some(address) => ClientOrigin {
                country: (enrichment.countries.as_ref()).and_then(|db| db.country(address)),
                network: (enrichment.networks.as_ref()).and_then(|db| db.network(address)),
            },
            None => ClientOrigin::default(),
        };
        self.by_client.insert(client.into(), origin);
        origin
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
    fn network_tables_are_read_quoted_names_and_all_and_searched_by_range() {
        let v4 = b"16777216,16777471,13335,\"Cloudflare, Inc.\"\r\n\
                   134744064,134744319,15169,Google LLC\n\
                   16778240,16779263,38803,\"The \"\"Quoted\"\" Co\"\n";
        let v6 = b"42541956123669543792989124735067488256,42541956180599069564461627201156022271,15169,Google LLC\n";
        let database: &'static AsnDatabase =
            Box::leak(Box::new(AsnDatabase::from_csv(v4, v6).unwrap()));
        assert_eq!(database.len(), 4);
        let at = |address: &str| database.network(address.parse().unwrap());
        let google = Some(Network {
            asn: 15169,
            organisation: "Google LLC",
        });
        assert_eq!(at("8.8.8.8"), google);
        assert_eq!(at("8.8.8.255"), google); // the range's last address
        assert_eq!(at("8.8.9.0"), None); // just after it
        assert_eq!(at("2001:4860:4860::8888"), google);
        assert_eq!(at("1.0.0.1").unwrap().organisation, "Cloudflare, Inc.");
        assert_eq!(at("1.0.4.7").unwrap().organisation, "The \"Quoted\" Co"); // listed out of order
        assert_eq!(at("1.0.1.0"), None); // between ranges
        assert_eq!(at("0.255.255.255"), None); // before the first
        assert_eq!(at("10.0.0.1"), None); // not on the internet
                                          // the organisation names are kept once each
        assert_eq!(database.organisations.len(), 3);
    }

    #[test]
    fn a_table_that_is_not_one_is_refused_with_its_line() {
        let error = |v4: &[u8]| AsnDatabase::from_csv(v4, b"").err().unwrap();
        assert_eq!(
            error(b"1,2,3,A\nx,2,3,B\n"),
            (0, 2, "the range start is not a number")
        );
        assert_eq!(error(b"1,2,3\n").2, "fewer than four fields");
        assert_eq!(error(b"5,2,3,A\n").2, "the range ends before it starts");
        assert_eq!(error(b"1,2,3,\"A\n").2, "a quoted name is not closed");
        assert_eq!(
            error(b"1,4294967296,3,A\n").2,
            "the range end is not a number"
        );
        assert!(AsnDatabase::from_csv(b"", b"1,2,x,A").is_err());
    }

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
        assert!(enrichment.networks.is_none());
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains(COUNTRY_DATABASE_FILE) && warnings[0].contains("null"));
        assert!(warnings[1].contains(ASN_FILES[0]) && warnings[1].contains("as_org are null"));
        let (_, unset) = Enrichment::load(None);
        assert!(unset[0].contains(ENRICHMENT_DIR_SETTING));
        assert!(CountryDatabase::from_bytes(b"not a database".to_vec()).is_err());
    }
}
