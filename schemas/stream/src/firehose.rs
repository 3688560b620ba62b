//! Packing JSON rows into Firehose `PutRecordBatch` requests.
//!
//! Firehose bills each record in 5 KB steps and caps a record at 1,000 KiB, a request at 500
//! records and 4 MiB, and its deaggregation (which dynamic partitioning by event time needs) at 500
//! JSON objects a record. So rows are packed newline-separated into records as large as allowed,
//! and records into requests. Each record remembers which input records (Kinesis records, by index)
//! its rows came from, so a record Firehose finally refuses can be traced back to the first input
//! record to redeliver.

/// Largest Firehose record (1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 1_000 * 1024;
/// Most records in one `PutRecordBatch`.
pub const MAX_RECORDS_PER_REQUEST: usize = 500;
/// Largest `PutRecordBatch` request body (the sum of its records).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Most rows in one record: "Record deaggregation by JSON or by delimiter is capped at 500 per
/// record" (Firehose Developer Guide, "Apply dynamic partitioning to aggregated data"), and
/// deaggregation runs first, before any transform or partitioning. Records of the
/// arrival-time wiring, which is not deaggregated, keep the cap too: at ~540 bytes a row a record
/// is still ~270 KB, and the 5 KB billing step wastes under 2 % of it.
pub const MAX_ROWS_PER_RECORD: usize = 500;

/// One Firehose record: whole rows, each ending in `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedRecord {
    pub data: Vec<u8>,
    pub rows: usize,
    /// The lowest index of the input records whose rows are in `data`.
    pub first_input: usize,
}

/// Records for one `PutRecordBatch` call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutRequest {
    pub records: Vec<PackedRecord>,
    pub bytes: usize,
}

/// Packs rows (in input order) into records and requests within Firehose's limits.
#[derive(Debug, Default)]
pub struct RecordPacker {
    requests: Vec<PutRequest>,
    current: Option<PackedRecord>,
}

/// A row longer than a whole Firehose record; it cannot be sent and must be rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("row of {0} bytes exceeds the Firehose record limit")]
pub struct RowTooLarge(pub usize);

impl RecordPacker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one JSON row that came from input record `input`.
    pub fn push_row(&mut self, input: usize, row: &[u8]) -> Result<(), RowTooLarge> {
        let needed = row.len() + 1;
        if needed > MAX_RECORD_BYTES {
            return Err(RowTooLarge(row.len()));
        }
        if self.current.as_ref().is_some_and(|r| {
            r.data.len() + needed > MAX_RECORD_BYTES || r.rows == MAX_ROWS_PER_RECORD
        }) {
            self.close_record();
        }
        let record = self.current.get_or_insert_with(|| PackedRecord {
            // Full size at once: growing it would copy each record's megabyte several times.
            data: Vec::with_capacity(MAX_RECORD_BYTES),
            rows: 0,
            first_input: input,
        });
        record.data.extend_from_slice(row);
        record.data.push(b'\n');
        record.rows += 1;
        record.first_input = record.first_input.min(input);
        Ok(())
    }

    /// Adds `rows` rows already newline-terminated in `text` (from input `first_input` on) as a
    /// record of their own, without copying them.
    pub fn push_record(
        &mut self,
        rows: usize,
        first_input: usize,
        text: Vec<u8>,
    ) -> Result<(), RowTooLarge> {
        if text.len() > MAX_RECORD_BYTES {
            return Err(RowTooLarge(text.len()));
        }
        assert!(rows <= MAX_ROWS_PER_RECORD, "{rows} rows in one record");
        if !text.is_empty() {
            self.close_record();
            self.current = Some(PackedRecord {
                data: text,
                rows,
                first_input,
            });
            self.close_record();
        }
        Ok(())
    }

    fn close_record(&mut self) {
        let Some(record) = self.current.take() else {
            return;
        };
        let fits = self.requests.last().is_some_and(|r| {
            r.records.len() < MAX_RECORDS_PER_REQUEST
                && r.bytes + record.data.len() <= MAX_REQUEST_BYTES
        });
        if !fits {
            self.requests.push(PutRequest::default());
        }
        let request = self.requests.last_mut().expect("pushed above");
        request.bytes += record.data.len();
        request.records.push(record);
    }

    /// The requests to send, in order.
    pub fn finish(mut self) -> Vec<PutRequest> {
        self.close_record();
        self.requests
    }
}

/// The first input record to redeliver when `undelivered` records could not be sent: Kinesis
/// redelivers from there (`batchItemFailures`), so nothing after it is lost. Rows of that input
/// record that did reach Firehose in another record are sent again (at-least-once).
pub fn first_input_to_redeliver<'a>(
    undelivered: impl IntoIterator<Item = &'a PackedRecord>,
) -> Option<usize> {
    undelivered.into_iter().map(|r| r.first_input).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize, len: usize) -> Vec<u8> {
        let mut row = format!("{{\"i\":{i},\"pad\":\"").into_bytes();
        row.resize(len - 2, b'x');
        row.extend_from_slice(b"\"}");
        row
    }

    #[test]
    fn packs_rows_within_every_limit_and_keeps_them_all_in_order() {
        let mut packer = RecordPacker::new();
        let mut sent = Vec::new();
        for i in 0..30_000 {
            let r = row(i, 200 + (i * 37) % 900);
            packer.push_row(i / 10, &r).unwrap();
            sent.push(r);
        }
        let requests = packer.finish();
        assert!(requests.len() > 1);
        let mut received = Vec::new();
        for request in &requests {
            assert!(request.records.len() <= MAX_RECORDS_PER_REQUEST);
            assert!(request.bytes <= MAX_REQUEST_BYTES);
            assert_eq!(
                request.bytes,
                request.records.iter().map(|r| r.data.len()).sum::<usize>()
            );
            for record in &request.records {
                assert!(record.data.len() <= MAX_RECORD_BYTES);
                assert!(record.rows <= MAX_ROWS_PER_RECORD);
                let rows: Vec<&[u8]> = record.data.split(|&b| b == b'\n').collect();
                assert_eq!(rows.last(), Some(&&b""[..]));
                assert_eq!(rows.len() - 1, record.rows);
                received.extend(rows[..rows.len() - 1].iter().map(|r| r.to_vec()));
            }
        }
        assert_eq!(received, sent);
        // records are as large as the limits allow: Firehose bills in 5 KB steps
        let records: usize = requests.iter().map(|r| r.records.len()).sum();
        let by_bytes = sent.iter().map(|r| r.len() + 1).sum::<usize>() / (900 * 1024);
        let by_rows = sent.len() / MAX_ROWS_PER_RECORD;
        assert!(records <= by_bytes.max(by_rows) + 2);
    }

    #[test]
    fn a_whole_record_goes_in_as_it_is_between_rows_in_order() {
        let mut packer = RecordPacker::new();
        packer.push_row(0, b"{\"a\":1}").unwrap();
        let text = b"{\"b\":2}\n{\"c\":3}\n".to_vec();
        let at = text.as_ptr();
        packer.push_record(2, 1, text).unwrap();
        packer.push_record(0, 2, Vec::new()).unwrap();
        packer.push_row(3, b"{\"d\":4}").unwrap();
        let too_large = vec![b' '; MAX_RECORD_BYTES + 1];
        assert_eq!(
            packer.push_record(1, 4, too_large),
            Err(RowTooLarge(MAX_RECORD_BYTES + 1))
        );
        let requests = packer.finish();
        let records = &requests[0].records;
        let summary: Vec<(&[u8], usize, usize)> = records
            .iter()
            .map(|r| (&r.data[..], r.rows, r.first_input))
            .collect();
        assert_eq!(
            summary,
            [
                (&b"{\"a\":1}\n"[..], 1, 0),
                (&b"{\"b\":2}\n{\"c\":3}\n"[..], 2, 1),
                (&b"{\"d\":4}\n"[..], 1, 3)
            ]
        );
        assert_eq!(records[1].data.as_ptr(), at, "not copied");
        assert_eq!(requests[0].bytes, 8 + 16 + 8);
    }

    #[test]
    fn requests_stay_under_4_mib() {
        let mut packer = RecordPacker::new();
        // rows just over half a record: one row per record
        for i in 0..1_200 {
            packer
                .push_row(i, &row(i, MAX_RECORD_BYTES / 2 + 10))
                .unwrap();
        }
        let requests = packer.finish();
        assert!(requests.iter().all(|r| r.bytes <= MAX_REQUEST_BYTES));
        assert_eq!(
            requests.iter().map(|r| r.records.len()).sum::<usize>(),
            1_200
        );
        // 4 MiB / ~512 KiB: 8 records per request
        assert_eq!(requests[0].records.len(), 8);
    }

    #[test]
    fn redelivery_starts_at_the_earliest_undelivered_input() {
        let mut packer = RecordPacker::new();
        // 150 rows an input: 500-row records split some inputs in two
        for i in 0..20_000 {
            packer.push_row(i / 150, &row(i, 600)).unwrap();
        }
        let requests = packer.finish();
        let records: Vec<&PackedRecord> = requests.iter().flat_map(|r| &r.records).collect();
        assert!(records.len() > 4);
        assert_eq!(
            first_input_to_redeliver(records[2..].iter().copied()),
            Some(records[2].first_input)
        );
        assert_eq!(
            first_input_to_redeliver([records[3], records[1]]),
            Some(records[1].first_input)
        );
        assert_eq!(first_input_to_redeliver(std::iter::empty()), None);
        // first_input is the input of the record's first row (rows arrive in input order)
        for record in &records {
            let first_row: serde_json::Value =
                serde_json::from_slice(record.data.split(|&b| b == b'\n').next().unwrap()).unwrap();
            assert_eq!(
                record.first_input,
                first_row["i"].as_u64().unwrap() as usize / 150
            );
        }
        // some input record is split across two Firehose records: redelivery restarts at it
        assert!(records.windows(2).any(|w| {
            let last_of_first: serde_json::Value =
                serde_json::from_slice(w[0].data.split(|&b| b == b'\n').rev().nth(1).unwrap())
                    .unwrap();
            last_of_first["i"].as_u64().unwrap() as usize / 150 == w[1].first_input
        }));
    }

    #[test]
    fn an_oversized_row_is_refused() {
        let mut packer = RecordPacker::new();
        assert_eq!(
            packer.push_row(0, &vec![b'x'; MAX_RECORD_BYTES]),
            Err(RowTooLarge(MAX_RECORD_BYTES))
        );
        assert!(packer.finish().is_empty());
    }
}
