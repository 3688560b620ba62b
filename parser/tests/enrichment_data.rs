//! The enrichment against the real data files that scripts/fetch-enrichment-data downloads (the
//! test script fetches them and sets `LOGLAKE_ENRICHMENT_DIR`; `LOGLAKE_REQUIRE_ENRICHMENT_DATA=1`
//! makes their absence a failure rather than a skip).

use std::path::PathBuf;

use loglake_parser::enrich::{
    client_address, AsnDatabase, CountryDatabase, CrawlerList, ASN_FILES,
};
use loglake_parser::{classify_with, Enrichment};
use serde::Deserialize;

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LOGLAKE_ENRICHMENT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../enrichment-data"));
    if dir.join("country.mmdb").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("LOGLAKE_REQUIRE_ENRICHMENT_DATA").is_none(),
        "no enrichment data in {}: run scripts/fetch-enrichment-data",
        dir.display()
    );
    eprintln!("skipping: no enrichment data in {}", dir.display());
    None
}

#[test]
fn the_country_database_places_public_addresses_and_not_private_ones() {
    let Some(dir) = data_dir() else { return };
    let database = CountryDatabase::open(&dir.join("country.mmdb")).unwrap();
    let country = |client: &str| {
        client_address(client.as_bytes())
            .and_then(|address| database.country(address))
            .map(|code| code.as_str().to_owned())
    };
    // Addresses whose owners' countries are public knowledge: Google's and Cloudflare's
    // resolvers, the Dutch RIPE NCC's own network.
    assert_eq!(country("8.8.8.8").as_deref(), Some("US"));
    assert_eq!(country("8.8.8.8:53").as_deref(), Some("US"));
    assert_eq!(country("193.0.6.139").as_deref(), Some("NL"));
    assert_eq!(country("2001:4860:4860::8888").as_deref(), Some("US"));
    for nowhere in [
        "10.1.2.3",
        "192.168.0.1",
        "127.0.0.1",
        "::1",
        "-",
        "not an address",
    ] {
        assert_eq!(country(nowhere), None, "{nowhere}");
    }
}

#[derive(Deserialize)]
struct Crawler {
    pattern: String,
    #[serde(default)]
    instances: Vec<String>,
}

#[test]
fn every_example_of_the_crawler_list_is_a_named_bot() {
    let Some(dir) = data_dir() else { return };
    let path = dir.join("crawler-user-agents.json");
    let list = CrawlerList::open(&path).unwrap();
    let crawlers: Vec<Crawler> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(list.len() > 500, "{} patterns", list.len());
    assert!(
        list.skipped() * 100 < crawlers.len(),
        "{} skipped",
        list.skipped()
    );
    let mut examples = 0;
    for crawler in &crawlers {
        for example in &crawler.instances {
            let info = classify_with(Some(example), Some(&list));
            assert!(info.is_bot, "{example} (pattern {})", crawler.pattern);
            let name = info.bot_name.unwrap_or_default();
            assert!(!name.is_empty() && name.len() <= 64, "{example}: {name:?}");
            examples += 1;
        }
    }
    assert!(examples > 1_000, "{examples} examples");
}

#[test]
fn the_folder_loads_without_warnings() {
    let Some(dir) = data_dir() else { return };
    let (enrichment, warnings) = Enrichment::load(Some(&dir));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(enrichment.countries.is_some() && enrichment.crawlers.is_some());
    assert!(enrichment.networks.is_some());
}

#[test]
fn the_network_tables_place_public_addresses_and_agree_with_cloudfront() {
    let Some(dir) = data_dir() else { return };
    let started = std::time::Instant::now();
    let database = AsnDatabase::open(&ASN_FILES.map(|file| dir.join(file))).unwrap();
    eprintln!("{} ranges read in {:?}", database.len(), started.elapsed());
    assert!(database.len() > 400_000, "{}", database.len());
    let database: &'static AsnDatabase = Box::leak(Box::new(database));
    let network = |client: &str| {
        client_address(client.as_bytes())
            .and_then(|address| database.network(address))
            .map(|network| (network.asn, network.organisation))
    };
    // Public resolvers' networks, IPv4 and IPv6 (a name with a comma is quoted in the table).
    assert_eq!(network("8.8.8.8"), Some((15169, "Google LLC")));
    assert_eq!(
        network("[2001:4860:4860::8888]:53"),
        Some((15169, "Google LLC"))
    );
    assert_eq!(network("1.1.1.1"), Some((13335, "Cloudflare, Inc.")));
    // CloudFront's own lookup in the real-time records of parser/tests/data/cloudfront_realtime
    // (their `asn` field) names the same networks for the same clients.
    assert_eq!(network("91.48.244.135").map(|n| n.0), Some(3320));
    assert_eq!(
        network("2600:1700:2328:7f60:fc5c:8867:7522:1bef").map(|n| n.0),
        Some(7018)
    );
    for nowhere in [
        "10.1.2.3",
        "192.168.0.1",
        "127.0.0.1",
        "::1",
        "-",
        "not an address",
    ] {
        assert_eq!(network(nowhere), None, "{nowhere}");
    }
}
