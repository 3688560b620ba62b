//! User agents: woothee's classification behind a bounded cache, plus the bot rule.
//!
//! woothee costs 1–4 µs per string, the rest of a line's parse well under half a microsecond;
//! real logs repeat a few hundred user agents per ten thousand lines, so a cache keeps the
//! classification off the hot path.

use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;

use crate::enrich::{product_at, CrawlerList};
use crate::line::{Escapes, Text};

/// Substrings (compared in lower case) that mark automated clients woothee does not put in its
/// `crawler` category. The one list of them: `is_bot` everywhere comes from here.
pub const BOT_TOKENS: &[&str] = &[
    "bot",
    "spider",
    "crawl",
    "slurp",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "java/",
    "libwww-perl",
    "apache-httpclient",
    "okhttp",
    "scrapy",
    "headlesschrome",
    "facebookexternalhit",
    "nikto",
    "masscan",
    "zgrab",
    "nmap",
    "sqlmap",
];

/// woothee's OS for a Windows of a version it does not know (its dataset's `Win`).
const WINDOWS_UNKNOWN_VERSION: &str = "Windows UNKNOWN Ver";

/// woothee's category for crawlers.
const CRAWLER_CATEGORY: &str = "crawler";
/// woothee's name for a crawler it does not know by name.
const WOOTHEE_GENERIC_CRAWLER: &str = "misc crawler";

/// What the lake stores about a user agent: woothee's values, the bot flag and the bot's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgentInfo {
    pub name: Box<str>,
    pub category: Box<str>,
    pub version: Box<str>,
    pub os: Box<str>,
    pub os_version: Box<str>,
    pub vendor: Box<str>,
    pub is_bot: bool,
    /// For a bot, the product it names itself by (`Googlebot`, `curl`); `None` for people.
    pub bot_name: Option<Box<str>>,
}

/// Classifies one user agent without any cache or crawler list (see [`classify_with`]).
pub fn classify(user_agent: Option<&str>) -> UserAgentInfo {
    classify_with(user_agent, None)
}

/// Classifies one user agent without any cache. A missing user agent (`None`, logged as `-`)
/// gets woothee's `UNKNOWN` values. A bot is what the crawler list matches, what woothee calls
/// a crawler, or what holds one of [`BOT_TOKENS`]; its name is found in that order.
pub fn classify_with(user_agent: Option<&str>, crawlers: Option<&CrawlerList>) -> UserAgentInfo {
    let ua = user_agent.unwrap_or("");
    // `new()`, not `Default`: woothee's derived `Default` has empty strings, while its own
    // "nothing matched" value is `UNKNOWN` everywhere.
    #[allow(clippy::unwrap_or_default)]
    let mut result = woothee::parser::Parser::new()
        .parse(ua)
        .unwrap_or_else(woothee::parser::WootheeResult::new);
    // woothee's reference implementations give an agent on a Windows they cannot name
    // (`Windows NT 5.2`, a bare `Windows NT`) the dataset's `Win` entry: `Windows UNKNOWN Ver`,
    // a pc. The Rust crate (0.13) gives it no OS and no category. (Found by the re-count of
    // scripts/recount.py, which classifies with woothee's Python implementation.)
    if result.os == woothee::woothee::VALUE_UNKNOWN
        && result.category == woothee::woothee::VALUE_UNKNOWN
        && ua.contains("Windows")
        && !ua.contains("Xbox")
    {
        result.os = WINDOWS_UNKNOWN_VERSION;
        result.category = "pc";
    }
    let listed = crawlers.and_then(|list| list.crawler(ua));
    let woothee_crawler = result.category == CRAWLER_CATEGORY;
    let token = bot_token_at(ua);
    let is_bot = listed.is_some() || woothee_crawler || token.is_some();
    // woothee's name when it is the crawler's own, not its generic `misc crawler`.
    let woothee_name = (woothee_crawler
        && result.name != woothee::woothee::VALUE_UNKNOWN
        && result.name != WOOTHEE_GENERIC_CRAWLER)
        .then(|| result.name.to_owned());
    let bot_name = is_bot
        .then(|| {
            [
                listed,
                woothee_name,
                token.map(|at| product_at(ua, at).to_owned()),
                // an agent that is its own product (`UniversalFeedParser/4.2 …`)
                Some(product_at(ua, 0).to_owned()).filter(|name| name != "Mozilla"),
                Some(result.name.to_owned()),
            ]
            .into_iter()
            .flatten()
            .find(|name| !name.is_empty())
        })
        .flatten()
        .map(String::into_boxed_str);
    UserAgentInfo {
        is_bot,
        bot_name,
        name: result.name.into(),
        category: result.category.into(),
        version: result.version.into(),
        os: result.os.into(),
        os_version: result.os_version.as_ref().into(),
        vendor: result.vendor.into(),
    }
}

/// True when the user agent contains one of [`BOT_TOKENS`], ignoring case.
pub fn has_bot_token(user_agent: &str) -> bool {
    bot_token_at(user_agent).is_some()
}

/// Where the first of [`BOT_TOKENS`] (in the list's order) is in the user agent, ignoring case.
fn bot_token_at(user_agent: &str) -> Option<usize> {
    let lower = user_agent.to_ascii_lowercase();
    BOT_TOKENS.iter().find_map(|token| lower.find(token))
}

/// A bounded user-agent cache with two generations: lookups hit the current generation, fall
/// back to the previous one, and only then run woothee. When the current generation is full it
/// becomes the previous one, so the strings in use survive while stale ones age out, at a cost
/// of one map move instead of per-entry recency bookkeeping.
///
/// It stores `V`, made once per distinct agent ([`CachedUserAgent`]): the classification itself,
/// or whatever a writer derives from the agent and its classification (say, their columns
/// already rendered as JSON).
pub struct UserAgentCache<V = UserAgentInfo> {
    /// By the agent's bytes as logged: the escapes its value undid, and the value.
    current: HashMap<Box<[u8]>, (Escapes, V)>,
    previous: HashMap<Box<[u8]>, (Escapes, V)>,
    generation_capacity: usize,
    misses: u64,
    crawlers: Option<&'static CrawlerList>,
}

/// What a [`UserAgentCache`] keeps per distinct agent, made from the agent unescaped (empty
/// for a missing agent) and its classification.
pub trait CachedUserAgent {
    fn new(agent: &[u8], info: UserAgentInfo) -> Self;
}

impl CachedUserAgent for UserAgentInfo {
    fn new(_agent: &[u8], info: UserAgentInfo) -> Self {
        info
    }
}

/// The cache's value for an agent it has not seen: classified (counted as a miss) and made
/// from the agent unescaped.
fn made<V: CachedUserAgent>(
    user_agent: Option<Text<'_>>,
    crawlers: Option<&CrawlerList>,
    misses: &mut u64,
) -> (Escapes, V) {
    *misses += 1;
    let unescaped = user_agent.map(|agent| agent.unescaped());
    let info = classify_with(
        unescaped.as_deref().map(String::from_utf8_lossy).as_deref(),
        crawlers,
    );
    let escapes = user_agent.map_or(Escapes::None, |agent| agent.escapes);
    (
        escapes,
        V::new(unescaped.as_deref().unwrap_or_default(), info),
    )
}

impl<V: CachedUserAgent> Default for UserAgentCache<V> {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_GENERATION_CAPACITY)
    }
}

impl<V: CachedUserAgent> UserAgentCache<V> {
    /// Entries per generation: far above the few hundred distinct agents in a typical hour of
    /// traffic, and small (about 1 MB) next to a batch.
    pub const DEFAULT_GENERATION_CAPACITY: usize = 4_096;

    pub fn with_capacity(generation_capacity: usize) -> Self {
        Self {
            current: HashMap::with_capacity(generation_capacity),
            previous: HashMap::new(),
            generation_capacity: generation_capacity.max(1),
            misses: 0,
            crawlers: None,
        }
    }

    /// The cache classifying with the crawler list too (see [`classify_with`]).
    pub fn with_crawlers(mut self, crawlers: Option<&'static CrawlerList>) -> Self {
        self.crawlers = crawlers;
        self
    }

    /// The classification of `user_agent` (`None` for a missing agent). It is cached by its
    /// bytes as logged, so a hit costs no unescaping; the value is made from the agent
    /// unescaped, and remembers which escapes it undid: the same bytes logged by another format
    /// (`%20` is a space in CloudFront's, not in Apache's) are made again. Invalid UTF-8 is
    /// decoded lossily before classification.
    pub fn lookup(&mut self, user_agent: Option<Text<'_>>) -> &V {
        let (key, escapes) = user_agent.map_or((&[][..], Escapes::None), |a| (a.bytes, a.escapes));
        if self.current.len() >= self.generation_capacity && !self.current.contains_key(key) {
            self.previous = std::mem::take(&mut self.current);
            self.current.reserve(self.generation_capacity);
        }
        let (misses, crawlers) = (&mut self.misses, self.crawlers);
        let entry = match self.current.entry_ref(key) {
            EntryRef::Occupied(entry) => {
                let entry = entry.into_mut();
                if entry.0 != escapes {
                    *entry = made(user_agent, crawlers, misses);
                }
                entry
            }
            EntryRef::Vacant(entry) => {
                let value = match self.previous.remove(key) {
                    Some(value) if value.0 == escapes => value,
                    _ => made(user_agent, crawlers, misses),
                };
                entry.insert(value)
            }
        };
        &entry.1
    }

    /// Whether the cache classifies with `crawlers` (the same list, or none for none).
    pub fn classifies_with(&self, crawlers: Option<&CrawlerList>) -> bool {
        match (self.crawlers, crawlers) {
            (Some(ours), Some(theirs)) => std::ptr::eq(ours, theirs),
            (ours, theirs) => ours.is_none() && theirs.is_none(),
        }
    }

    /// How many lookups ran woothee (for hit-rate reporting).
    pub fn misses(&self) -> u64 {
        self.misses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36";

    #[test]
    fn classifies_browsers_and_crawlers() {
        let chrome = classify(Some(CHROME));
        assert_eq!(&*chrome.name, "Chrome");
        assert_eq!(&*chrome.category, "pc");
        assert_eq!(&*chrome.os, "Windows 10");
        assert!(!chrome.is_bot);
        let google = classify(Some(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ));
        assert_eq!(&*google.category, "crawler");
        assert!(google.is_bot);
    }

    #[test]
    fn bots_are_named_by_their_product_and_people_are_not() {
        let name = |ua: &str| classify(Some(ua)).bot_name.map(String::from);
        assert_eq!(name(CHROME), None);
        assert_eq!(
            name("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
                .as_deref(),
            Some("Googlebot")
        );
        assert_eq!(name("curl/8.4.0").as_deref(), Some("curl"));
        assert_eq!(
            name("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)").as_deref(),
            Some("MJ12bot")
        );
        assert_eq!(
            name("UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/").as_deref(),
            Some("UniversalFeedParser")
        );
        let listed = CrawlerList::from_json(
            br#"[{"pattern": "bot"}, {"pattern": "Feedly"}, {"pattern": "[Yy]andex"}]"#,
        )
        .unwrap();
        let with_list = |ua: &str| classify_with(Some(ua), Some(&listed));
        let feedly =
            with_list("Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)");
        assert!(feedly.is_bot, "only the list knows it");
        assert_eq!(feedly.bot_name.as_deref(), Some("Feedly"));
        // the generic pattern matches the URL too, right of the name: the leftmost match names it
        let yandex = with_list("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)");
        assert_eq!(yandex.bot_name.as_deref(), Some("YandexBot"));
    }

    #[test]
    fn a_windows_of_an_unknown_version_is_a_pc_as_woothee_says() {
        for ua in [
            "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.2; SV1; .NET CLR 2.0.50727)",
            "Mozilla/5.0 (Windows NT 5.2; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.107 Safari/537.36",
            "Mozilla/1.22 (compatible; MSIE 2.0d; Windows NT)",
        ] {
            let info = classify(Some(ua));
            assert_eq!((&*info.os, &*info.category), ("Windows UNKNOWN Ver", "pc"), "{ua}");
        }
        let xbox = classify(Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
        ));
        assert_ne!(&*xbox.os, "Windows UNKNOWN Ver");
        assert_eq!(&*classify(Some(CHROME)).os, "Windows 10");
    }

    #[test]
    fn bot_tokens_catch_what_woothee_misses() {
        for ua in [
            "python-requests/2.31.0",
            "Go-http-client/1.1",
            "masscan/1.0 (https://github.com/robertdavidgraham/masscan)",
            "Mozilla/5.00 (Nikto/2.1.5) (Evasions:None) (Test:Port Check)",
        ] {
            assert!(classify(Some(ua)).is_bot, "{ua}");
        }
    }

    #[test]
    fn missing_and_unrecognised_agents_are_unknown() {
        for ua in [
            None,
            Some(""),
            Some("-"),
            Some("Go-http-client/1.1"),
            Some("x"),
        ] {
            let info = classify(ua);
            assert_eq!(&*info.name, "UNKNOWN");
            assert_eq!(&*info.category, "UNKNOWN");
            assert_eq!(&*info.os, "UNKNOWN");
            assert_eq!(info.is_bot, ua == Some("Go-http-client/1.1"));
        }
    }

    #[test]
    fn cache_is_bounded_and_agrees_with_woothee() {
        let mut cache = UserAgentCache::<UserAgentInfo>::with_capacity(2);
        let agents: Vec<String> = (0..10).map(|i| format!("{CHROME} v{i}")).collect();
        for round in 0..3 {
            for ua in &agents {
                let cached = cache.lookup(Some(Text::plain(ua.as_bytes()))).clone();
                assert_eq!(cached, classify(Some(ua)), "round {round}");
                assert!(cache.current.len() <= 2 && cache.previous.len() <= 2);
            }
        }
        let mut cache = UserAgentCache::<UserAgentInfo>::default();
        for _ in 0..100 {
            cache.lookup(Some(Text::plain(CHROME.as_bytes())));
            cache.lookup(None);
        }
        assert_eq!(cache.misses(), 2);
    }

    #[test]
    fn invalid_utf8_is_classified_lossily() {
        let mut cache = UserAgentCache::<UserAgentInfo>::default();
        let info = cache.lookup(Some(Text::plain(b"Mozilla/5.0 \xff\xfe bot")));
        assert!(info.is_bot);
    }

    #[test]
    fn the_same_bytes_with_other_escapes_are_another_agent() {
        struct Agent(Vec<u8>);
        impl CachedUserAgent for Agent {
            fn new(agent: &[u8], _: UserAgentInfo) -> Self {
                Agent(agent.to_vec())
            }
        }
        let mut cache = UserAgentCache::<Agent>::default();
        let logged = |escapes| {
            Some(Text {
                bytes: b"curl%2F8 \\\"x\\\"",
                escapes,
            })
        };
        for _ in 0..2 {
            assert_eq!(cache.lookup(logged(Escapes::None)).0, b"curl%2F8 \\\"x\\\"");
            assert_eq!(
                cache.lookup(logged(Escapes::Percent)).0,
                b"curl/8 \\\"x\\\""
            );
            assert_eq!(
                cache.lookup(logged(Escapes::Backslash)).0,
                b"curl%2F8 \"x\""
            );
        }
    }
}
