//! User agents: woothee's classification behind a bounded cache, plus the bot rule.
//!
//! woothee costs 1–4 µs per string, the rest of a line's parse well under half a microsecond;
//! real logs repeat a few hundred user agents per ten thousand lines, so a cache keeps the
//! classification off the hot path.

use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;

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

/// woothee's category for crawlers.
const CRAWLER_CATEGORY: &str = "crawler";

/// What the lake stores about a user agent: woothee's values and the bot flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgentInfo {
    pub name: Box<str>,
    pub category: Box<str>,
    pub version: Box<str>,
    pub os: Box<str>,
    pub os_version: Box<str>,
    pub vendor: Box<str>,
    pub is_bot: bool,
}

/// Classifies one user agent without any cache. A missing user agent (`None`, logged as `-`)
/// gets woothee's `UNKNOWN` values.
pub fn classify(user_agent: Option<&str>) -> UserAgentInfo {
    let ua = user_agent.unwrap_or("");
    // `new()`, not `Default`: woothee's derived `Default` has empty strings, while its own
    // "nothing matched" value is `UNKNOWN` everywhere.
    #[allow(clippy::unwrap_or_default)]
    let result = woothee::parser::Parser::new()
        .parse(ua)
        .unwrap_or_else(woothee::parser::WootheeResult::new);
    UserAgentInfo {
        is_bot: result.category == CRAWLER_CATEGORY || has_bot_token(ua),
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
    let lower = user_agent.to_ascii_lowercase();
    BOT_TOKENS.iter().any(|token| lower.contains(token))
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
fn made<V: CachedUserAgent>(user_agent: Option<Text<'_>>, misses: &mut u64) -> (Escapes, V) {
    *misses += 1;
    let unescaped = user_agent.map(|agent| agent.unescaped());
    let info = classify(unescaped.as_deref().map(String::from_utf8_lossy).as_deref());
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
        }
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
        let misses = &mut self.misses;
        let entry = match self.current.entry_ref(key) {
            EntryRef::Occupied(entry) => {
                let entry = entry.into_mut();
                if entry.0 != escapes {
                    *entry = made(user_agent, misses);
                }
                entry
            }
            EntryRef::Vacant(entry) => {
                let value = match self.previous.remove(key) {
                    Some(value) if value.0 == escapes => value,
                    _ => made(user_agent, misses),
                };
                entry.insert(value)
            }
        };
        &entry.1
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
