//! Enrichment columns as the decoder fills them, with the real data files when present (see
//! parser/tests/enrichment_data.rs) and without them.

use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use loglake_decode::{Decoder, DecoderOptions};
use loglake_parser::{Enrichment, IpAnonymization};

const LINES: &str = concat!(
    "8.8.8.8 - - [10/Oct/2020:13:55:36 +0000] \"GET /static/app.js HTTP/1.1\" 200 10 \"-\" \"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)\"\n",
    "10.0.0.7 - - [10/Oct/2020:13:55:37 +0000] \"GET /blog/ HTTP/1.1\" 200 20 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\"\n",
    "8.8.8.8 - - [10/Oct/2020:13:55:38 +0000] \"-\" 400 0 \"-\" \"-\"\n",
);

fn decode(enrichment: &'static Enrichment, anonymize_ip: IpAnonymization) -> RecordBatch {
    let options = DecoderOptions {
        anonymize_ip,
        enrichment,
        ..Default::default()
    };
    let mut decoder = Decoder::new("enrich.log", options);
    decoder.decode(LINES.as_bytes());
    decoder.finish(false);
    let batch = decoder.flush().unwrap();
    assert_eq!((batch.lines_in, batch.rejects.len()), (3, 0));
    batch.rows
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch[column].as_string::<i32>();
    (0..array.len())
        .map(|i| array.is_valid(i).then(|| array.value(i).to_owned()))
        .collect()
}

fn booleans(batch: &RecordBatch, column: &str) -> Vec<Option<bool>> {
    let array = batch[column].as_boolean();
    (0..array.len())
        .map(|i| array.is_valid(i).then(|| array.value(i)))
        .collect()
}

#[test]
fn without_data_country_is_null_and_the_rest_is_still_filled() {
    let batch = decode(Enrichment::none(), IpAnonymization::None);
    assert_eq!(strings(&batch, "country"), [None, None, None]);
    assert_eq!(
        booleans(&batch, "is_static"),
        [Some(true), Some(false), None]
    );
    assert_eq!(
        strings(&batch, "bot_name"),
        [Some("Googlebot".into()), None, None]
    );
}

#[test]
fn the_country_is_the_address_s_before_it_is_anonymised() {
    let dir = std::env::var_os("LOGLAKE_ENRICHMENT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../enrichment-data"));
    if !dir.join("country.mmdb").is_file() {
        assert!(
            std::env::var_os("LOGLAKE_REQUIRE_ENRICHMENT_DATA").is_none(),
            "no enrichment data in {}",
            dir.display()
        );
        return eprintln!("skipping: no enrichment data in {}", dir.display());
    }
    let enrichment = Enrichment::leaked(Some(&dir), |warning| panic!("{warning}"));
    let hash = IpAnonymization::from_setting(Some("hash"), Some("a sixteen-byte key")).unwrap();
    let batch = decode(enrichment, hash);
    // The hashed client is no address: its country was looked up before.
    let clients = strings(&batch, "client_ip");
    assert!(clients
        .iter()
        .all(|c| c.as_deref().unwrap().starts_with("ip-")));
    assert_eq!(
        strings(&batch, "country"),
        [Some("US".into()), None, Some("US".into())]
    );
}
