//! Keeping people's addresses out of the lake: a client's address truncated to its network, or
//! replaced by a keyed hash, before anything is written (rows, rejects, their logs).
//!
//! - `truncate`: IPv4 to its /24 (`truncate16`: its /16), IPv6 to its /48, the rest zeros:
//!   `203.0.113.0`, `2001:db8:7::`. Reports by network still work; a person is not singled out.
//! - `hash`: HMAC-SHA-256 of the address under a secret key, its first 64 bits in hex:
//!   `ip-5c0e3a4f9b1d2e77`. The same client gives the same token (visitors can be counted), and
//!   without the key no one can tell which address it was, even by trying all 2^32 of IPv4.
//!
//! The client column is rewritten whole. A value that is not an address (a host name the server
//! looked up) is not a network either: truncated it becomes `-`, hashed it is hashed. `-` and
//! `unix:` sockets are nobody's address and stay. Free text that may hold addresses (a reject's
//! raw line, the `extra_fields` of a load balancer or CDN: forwarded-for lists, targets) has every
//! IPv4 and IPv6 address in it rewritten the same way, ports kept.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;
use hmac::{Hmac, KeyInit, Mac};
use memchr::memchr2;
use sha2::Sha256;

/// How client addresses are written, chosen once for a run (see the module documentation).
/// Its `Debug` form never shows the key: settings structs holding it may be logged.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub enum IpAnonymization {
    /// As logged.
    #[default]
    None,
    /// IPv4 to its first `ipv4_prefix` bits (24 or 16), IPv6 to its first 48.
    Truncate { ipv4_prefix: u8 },
    /// A keyed hash; the key lives as long as the process (it is read once, at start-up).
    Hash { key: &'static [u8] },
}

impl std::fmt::Debug for IpAnonymization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Truncate { ipv4_prefix } => {
                write!(f, "Truncate {{ ipv4_prefix: {ipv4_prefix} }}")
            }
            Self::Hash { key } => write!(f, "Hash {{ key: <{} bytes, not shown> }}", key.len()),
        }
    }
}

impl IpAnonymization {
    /// The mode a setting names (`--anonymize-ip`, `ANONYMIZE_IP`): `none` (or unset), `truncate`
    /// (IPv4 /24), `truncate16` (IPv4 /16) or `hash`, which needs `key` (`ANONYMIZE_IP_KEY`, at
    /// least 16 bytes).
    pub fn from_setting(mode: Option<&str>, key: Option<&str>) -> Result<Self, String> {
        match mode.map(str::trim).unwrap_or_default() {
            "" | "none" => Ok(Self::None),
            "truncate" => Ok(Self::Truncate { ipv4_prefix: 24 }),
            "truncate16" => Ok(Self::Truncate { ipv4_prefix: 16 }),
            "hash" => match key.filter(|key| key.len() >= 16) {
                Some(key) => Ok(Self::Hash {
                    key: Box::leak(key.as_bytes().into()),
                }),
                None => {
                    Err("hash needs a secret key of at least 16 bytes (ANONYMIZE_IP_KEY)".into())
                }
            },
            other => Err(format!(
                "{other:?} is not none, truncate, truncate16 or hash"
            )),
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Self::None
    }

    /// The client column's value for `client` as logged, written to `out` (cleared first).
    pub fn client(&self, client: &[u8], out: &mut Vec<u8>) {
        out.clear();
        if self.is_none() || client == b"-" || client.starts_with(b"unix:") {
            return out.extend_from_slice(client);
        }
        match (parse_address(client), self) {
            (Some(address), _) => self.write_address(address, out),
            (None, Self::Hash { key }) => write_hash(key, client, out),
            (None, _) => out.push(b'-'),
        }
    }

    /// `text` with every IPv4 and IPv6 address in it rewritten (a port after one is kept);
    /// borrowed when it holds none. An address is found when it is set off from the text
    /// around it as logs write them (by spaces, quotes, commas, `=`, a `:` before it, a port or
    /// a full stop after it); an IPv6 address run together with hex letters is not.
    pub fn scrub<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        self.scrub_cached(text, &mut ClientCache::default())
    }

    /// [`IpAnonymization::scrub`], each address rewritten through `cache`: the same few
    /// addresses (load-balancer targets, proxies) come back on line after line, and rewriting
    /// one (formatting it, or a keyed hash) costs more than finding it.
    pub fn scrub_cached<'a>(&self, text: &'a [u8], cache: &mut ClientCache) -> Cow<'a, [u8]> {
        if self.is_none() {
            return Cow::Borrowed(text);
        }
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut rewrite = |start: usize, end: usize| {
            let out = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
            out.extend_from_slice(&text[copied..start]);
            out.extend_from_slice(cache.client(*self, &text[start..end]));
            copied = end;
        };
        // Every address has a `.` or a `:`: jump from one to the next (memchr), and read the run of
        // address bytes around it. Text without either is passed over at memchr's speed.
        let mut at = 0;
        while let Some(found) = memchr2(b'.', b':', &text[at..]) {
            let separator = at + found;
            let before = text[at..separator]
                .iter()
                .rev()
                .take_while(|&&b| is_address_byte(b))
                .count();
            let end = separator
                + text[separator..]
                    .iter()
                    .position(|&b| !is_address_byte(b))
                    .unwrap_or(text.len() - separator);
            let mut start = separator - before;
            // The hex digits of a JSON escape (`\u0000`, `\b`, `\f`) are not part of an
            // address, and rewriting them would break the JSON of `extra_fields`.
            start += escape_digits_before(text, start).min(end - start);
            let run = &text[start..end];
            // Most runs are numbers, times and hex ids: only one with two colons can hold an
            // IPv6 address, and only one with three dots an IPv4 address.
            let (dots, colons) = run.iter().fold((0, 0), |(dots, colons), &b| {
                (
                    dots + usize::from(b == b'.'),
                    colons + usize::from(b == b':'),
                )
            });
            match (colons >= 2).then(|| ipv6_in(run)).flatten() {
                Some((from, to)) => rewrite(start + from, start + to),
                // IPv4 addresses anywhere in the run: after a `:` (`client:1.2.3.4`), before a
                // port or a full stop, after hex letters
                None if dots >= 3 => {
                    let mut from = 0;
                    while from < run.len() {
                        match ipv4_at(run, from) {
                            Some(len) => {
                                rewrite(start + from, start + from + len);
                                from += len;
                            }
                            None => from += 1,
                        }
                    }
                }
                None => {}
            }
            at = end;
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut out) => {
                out.extend_from_slice(&text[copied..]);
                Cow::Owned(out)
            }
        }
    }

    fn write_address(&self, address: IpAddr, out: &mut Vec<u8>) {
        use std::io::Write;
        let written = match (self, address) {
            (Self::None, address) => write!(out, "{address}"),
            (Self::Truncate { ipv4_prefix }, IpAddr::V4(v4)) => {
                let mask = u32::MAX << (32 - u32::from(*ipv4_prefix));
                write!(out, "{}", Ipv4Addr::from(u32::from(v4) & mask))
            }
            (Self::Truncate { .. }, IpAddr::V6(v6)) => {
                let mask = u128::MAX << (128 - 48);
                write!(out, "{}", Ipv6Addr::from(u128::from(v6) & mask))
            }
            (Self::Hash { key }, address) => {
                write_hash(key, address.to_string().as_bytes(), out);
                Ok(())
            }
        };
        written.expect("writing to a Vec cannot fail");
    }
}

/// Clients already anonymised, by their text as logged: a log's clients repeat (a 10,000-line
/// log has a few thousand), and a lookup costs a tenth of parsing an address, a hundredth of
/// hashing one. Its `Debug` form shows only its size: its keys are addresses as logged.
#[derive(Default)]
pub struct ClientCache {
    written: HashMap<Box<[u8]>, Box<[u8]>>,
}

impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientCache {{ {} clients }}", self.written.len())
    }
}

impl ClientCache {
    /// Entries kept before the cache starts over (a few MB at most).
    const CAPACITY: usize = 1 << 16;

    /// `client` anonymised by `mode` (as [`IpAnonymization::client`] writes it).
    pub fn client(&mut self, mode: IpAnonymization, client: &[u8]) -> &[u8] {
        if self.written.len() >= Self::CAPACITY {
            self.written.clear();
        }
        self.written.entry_ref(client).or_insert_with(|| {
            let mut out = Vec::new();
            mode.client(client, &mut out);
            out.into()
        })
    }
}

/// `ip-` and the first 64 bits of HMAC-SHA-256(key, value), in hex.
fn write_hash(key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(value);
    let digest = mac.finalize().into_bytes();
    out.extend_from_slice(b"ip-");
    for byte in &digest[..8] {
        out.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
    }
}

/// How many bytes from `at`, a run of address bytes, belong to a JSON escape that begins before
/// it: 4 after `\u`, 1 for the `b` of `\b` and the `f` of `\f`, else 0. A `\` starts an escape
/// when an odd number of them come in a row.
fn escape_digits_before(text: &[u8], at: usize) -> usize {
    let backslashes_before = |end: usize| {
        let before = &text[..end];
        before.iter().rev().take_while(|&&b| b == b'\\').count()
    };
    match text[..at] {
        [.., b'\\', b'u'] if backslashes_before(at - 1) % 2 == 1 => 4,
        [.., b'\\'] if matches!(text[at], b'b' | b'f') && backslashes_before(at) % 2 == 1 => 1,
        _ => 0,
    }
}

/// Hex digits, `.` and `:`: the bytes an address is written with (a table: this test runs on
/// every byte scrubbed).
fn is_address_byte(b: u8) -> bool {
    const TABLE: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let byte = b as u8;
            table[b] = byte.is_ascii_hexdigit() || byte == b'.' || byte == b':';
            b += 1;
        }
        table
    };
    TABLE[usize::from(b)]
}

/// A whole field that is an address (IPv4-mapped IPv6 read as the IPv4 it maps).
fn parse_address(text: &[u8]) -> Option<IpAddr> {
    let address: IpAddr = std::str::from_utf8(text).ok()?.parse().ok()?;
    Some(match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    })
}

/// Where in a run of address bytes (with two colons at least: the caller counts them) an IPv6
/// address is, without a `.` after it or a single `:` before it (`client:2001:db8::1`). Times (`13:55:36`) do not parse as one.
fn ipv6_in(run: &[u8]) -> Option<(usize, usize)> {
    let end = run.len() - run.iter().rev().take_while(|&&b| b == b'.').count();
    let start = usize::from(run.starts_with(b":") && !run.starts_with(b"::"));
    let text = std::str::from_utf8(&run[start..end]).ok()?;
    text.parse::<Ipv6Addr>().ok()?;
    Some((start, end))
}

/// The length of the IPv4 address (four decimal numbers joined by dots) starting at `from`, when
/// no digit comes right before it or right after it (nor a `.` and a digit).
fn ipv4_at(text: &[u8], from: usize) -> Option<usize> {
    let digit_at = |i: usize| text.get(i).is_some_and(u8::is_ascii_digit);
    if from > 0 && (digit_at(from - 1) || text[from - 1] == b'.') {
        return None;
    }
    let mut end = from;
    for part in 0..4 {
        if part > 0 {
            (text.get(end) == Some(&b'.')).then_some(())?;
            end += 1;
        }
        let digits = (end..end + 3).take_while(|&i| digit_at(i)).count();
        (digits > 0).then_some(())?;
        end += digits;
    }
    if digit_at(end) || (text.get(end) == Some(&b'.') && digit_at(end + 1)) {
        return None;
    }
    std::str::from_utf8(&text[from..end])
        .ok()?
        .parse::<Ipv4Addr>()
        .ok()?;
    Some(end - from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// An address anywhere in printable text, set off from what could be part of it (hex
        /// digits, `:`, `.`), does not survive.
        #[test]
        fn no_address_in_text_survives(
            prefix in "([ -~]{0,20}[^0-9a-fA-F.:])?",
            octets in any::<[u8; 3]>(),
            last in 1u8..,
            suffix in "([^0-9a-fA-F.:][ -~]{0,20})?",
            v6 in any::<bool>(),
        ) {
            let [a, b, c] = octets;
            let address = match v6 {
                false => format!("{a}.{b}.{c}.{last}"),
                true => format!("2001:db8:{a:x}:{b:x}::{c:x}{last:02x}"),
            };
            let text = format!("{prefix}{address}{suffix}");
            let mode = IpAnonymization::Truncate { ipv4_prefix: 24 };
            let scrubbed = String::from_utf8(mode.scrub(text.as_bytes()).into_owned()).unwrap();
            prop_assert!(!scrubbed.contains(&address), "{} -> {}", text, scrubbed);
        }
    }

    #[test]
    fn json_escapes_next_to_an_address_stay_whole() {
        let slash24 = IpAnonymization::Truncate { ipv4_prefix: 24 };
        let scrub = |text: &str| String::from_utf8(slash24.scrub(text.as_bytes()).into_owned());
        // Found by the fuzz target `decode_lines`: `\u0000::1` lost its `0000`.
        let json = r#"{"a":"[\u0000::1]:80 \u00001.2.3.4 \bdb8::1 \fe80::1 \\2001:db8::1"}"#;
        let scrubbed = scrub(json).unwrap();
        assert_eq!(
            scrubbed,
            r#"{"a":"[\u0000::]:80 \u00001.2.3.0 \bdb8:: \fe80:: \\2001:db8::"}"#
        );
        serde_json::from_str::<serde_json::Value>(&scrubbed).unwrap();
    }

    fn client(mode: IpAnonymization, value: &str) -> String {
        let mut out = Vec::new();
        mode.client(value.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    const KEY: &str = "a key of sixteen bytes or more";

    #[test]
    fn settings_name_the_modes() {
        let setting = |mode, key| IpAnonymization::from_setting(mode, key);
        assert_eq!(setting(None, None), Ok(IpAnonymization::None));
        assert_eq!(setting(Some("none"), None), Ok(IpAnonymization::None));
        assert_eq!(
            setting(Some(" truncate "), None),
            Ok(IpAnonymization::Truncate { ipv4_prefix: 24 })
        );
        assert_eq!(
            setting(Some("truncate16"), None),
            Ok(IpAnonymization::Truncate { ipv4_prefix: 16 })
        );
        assert!(setting(Some("hash"), None)
            .unwrap_err()
            .contains("ANONYMIZE_IP_KEY"));
        assert!(setting(Some("hash"), Some("short")).is_err());
        assert!(matches!(
            setting(Some("hash"), Some(KEY)),
            Ok(IpAnonymization::Hash { .. })
        ));
        assert!(setting(Some("mask"), None)
            .unwrap_err()
            .contains("\"mask\""));
    }

    #[test]
    fn truncation_keeps_the_network() {
        let slash24 = IpAnonymization::Truncate { ipv4_prefix: 24 };
        let slash16 = IpAnonymization::Truncate { ipv4_prefix: 16 };
        assert_eq!(client(slash24, "203.0.113.9"), "203.0.113.0");
        assert_eq!(client(slash16, "203.0.113.9"), "203.0.0.0");
        assert_eq!(client(slash24, "2001:db8:7:1:2:3:4:5"), "2001:db8:7::");
        assert_eq!(client(slash24, "::ffff:198.51.100.7"), "198.51.100.0");
        // nobody's address, and a name that is no network
        assert_eq!(client(slash24, "-"), "-");
        assert_eq!(client(slash24, "unix:"), "unix:");
        assert_eq!(client(slash24, "c-73-22-1-5.example.net"), "-");
        assert_eq!(client(IpAnonymization::None, "203.0.113.9"), "203.0.113.9");
    }

    #[test]
    fn neither_the_key_nor_an_address_is_shown_in_debug_output() {
        let hash = IpAnonymization::from_setting(Some("hash"), Some(KEY)).unwrap();
        let mut cache = ClientCache::default();
        cache.client(hash, b"203.0.113.9");
        let shown = format!("{hash:?} {cache:?}");
        assert!(
            !shown.contains(KEY) && !shown.contains("203.0.113"),
            "{shown}"
        );
        assert_eq!(
            shown,
            "Hash { key: <30 bytes, not shown> } ClientCache { 1 clients }"
        );
    }

    #[test]
    fn hashes_are_keyed_and_stable() {
        let hash = IpAnonymization::from_setting(Some("hash"), Some(KEY)).unwrap();
        let other =
            IpAnonymization::from_setting(Some("hash"), Some("another key, as long")).unwrap();
        let token = client(hash, "203.0.113.9");
        assert_eq!(token.len(), "ip-".len() + 16);
        assert!(token.starts_with("ip-"));
        assert_eq!(client(hash, "203.0.113.9"), token);
        // the same address however it is written
        assert_eq!(client(hash, "::ffff:203.0.113.9"), token);
        assert_ne!(client(hash, "203.0.113.10"), token);
        assert_ne!(client(other, "203.0.113.9"), token);
        assert!(client(hash, "host.example.net").starts_with("ip-"));
        assert_eq!(client(hash, "-"), "-");
    }

    #[test]
    fn the_cache_gives_what_the_mode_writes() {
        for mode in [
            IpAnonymization::Truncate { ipv4_prefix: 24 },
            IpAnonymization::None,
        ] {
            let mut cache = ClientCache::default();
            for value in [
                "203.0.113.9",
                "-",
                "203.0.113.9",
                "2001:db8::1",
                "name.example",
            ] {
                assert_eq!(
                    cache.client(mode, value.as_bytes()),
                    client(mode, value).as_bytes()
                );
            }
        }
        // full, it starts over rather than grow
        let mut cache = ClientCache::default();
        let mode = IpAnonymization::Truncate { ipv4_prefix: 16 };
        for i in 0..ClientCache::CAPACITY + 10 {
            let value = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            assert_eq!(
                cache.client(mode, value.as_bytes()),
                client(mode, &value).as_bytes()
            );
        }
        assert!(cache.written.len() <= ClientCache::CAPACITY);
    }

    #[test]
    fn every_address_in_free_text_is_rewritten() {
        let slash24 = IpAnonymization::Truncate { ipv4_prefix: 24 };
        let scrub =
            |text: &str| String::from_utf8(slash24.scrub(text.as_bytes()).into_owned()).unwrap();
        assert_eq!(
            scrub(
                r#"{"x-forwarded-for":"198.51.100.7, 2001:db8:7:1::9","target_port":"10.0.3.4:8080"}"#
            ),
            r#"{"x-forwarded-for":"198.51.100.0, 2001:db8:7::","target_port":"10.0.3.0:8080"}"#
        );
        assert_eq!(
            scrub("h2 2026-10-10T13:55:36.094015Z app/lb 203.0.113.9:51234 - 0.001"),
            "h2 2026-10-10T13:55:36.094015Z app/lb 203.0.113.0:51234 - 0.001"
        );
        assert_eq!(
            scrub("from client:203.0.113.9. then ab198.51.100.7 and client:2001:db8:7:1::9."),
            "from client:203.0.113.0. then ab198.51.100.0 and client:2001:db8:7::."
        );
        assert_eq!(
            scrub("::ffff:198.51.100.7 1.2.3.4.5 999.1.1.1"),
            "198.51.100.0 1.2.3.4.5 999.1.1.1"
        );
        // no address: borrowed, untouched (times, versions, hex ids)
        let plain = "13:55:36 Chrome/120.0.6099.130 deadbeef";
        assert!(matches!(slash24.scrub(plain.as_bytes()), Cow::Borrowed(_)));
        assert!(matches!(
            IpAnonymization::None.scrub(b"1.2.3.4"),
            Cow::Borrowed(_)
        ));
    }
}
