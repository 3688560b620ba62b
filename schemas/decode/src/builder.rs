//! Parsed lines → rows: the [`RowBuilder`] a [`crate::Decoder`] appends to, and the one for
//! columns of an Arrow `RecordBatch` in the file schema.

use std::borrow::Cow;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int16Builder, Int64Builder, RecordBatch,
    StringArray, TimestampMicrosecondBuilder,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use loglake_parser::enrich::is_static_path;
use loglake_parser::{AccessLine, CachedUserAgent, ClientOrigin, Text, UserAgentInfo};
use loglake_schema::file_schema;

/// Where a [`crate::Decoder`] puts the lines it parses: Arrow columns for the lake
/// ([`AccessLogBatchBuilder`]), JSON objects for Firehose (`loglake_stream::JsonRowsBuilder`).
pub trait RowBuilder {
    /// What the decoder's user-agent cache keeps per distinct agent for this builder.
    type UserAgent: CachedUserAgent;
    /// The rows appended since the last [`RowBuilder::finish`].
    type Rows;

    fn with_capacity(rows: usize) -> Self;

    /// Appends one row parsed from `raw_line`, with its parser's `extra_fields` and where its
    /// client is. `Err(LossyUtf8)` still appends the row, and tells the caller that some
    /// field was not UTF-8.
    #[allow(clippy::too_many_arguments)]
    fn append(
        &mut self,
        raw_line: &[u8],
        line: &AccessLine<'_>,
        extra_fields: Option<&[u8]>,
        origin: ClientOrigin,
        ua: &Self::UserAgent,
        source: &str,
        source_line: i64,
    ) -> Result<(), LossyUtf8>;

    /// Rows appended since the last [`RowBuilder::finish`].
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the rows should be taken now, whatever the decoder's `batch_size`.
    fn is_full(&self) -> bool {
        false
    }

    /// Takes the rows appended so far, leaving the builder empty.
    fn finish(&mut self) -> Self::Rows;

    /// Gives back rows the caller is done with, for their buffers to be reused.
    fn recycle(&mut self, _rows: Self::Rows) {}
}

/// The Arrow builder of a column of each Athena type.
macro_rules! column_builder {
    (string) => {
        StringColumn
    };
    (timestamp) => {
        TimestampMicrosecondBuilder
    };
    (smallint) => {
        Int16Builder
    };
    (bigint) => {
        Int64Builder
    };
    (double) => {
        Float64Builder
    };
    (boolean) => {
        BooleanBuilder
    };
    (string, $rows:expr, $bytes:expr) => {
        StringColumn::with_capacity($rows, $bytes)
    };
    (timestamp, $rows:expr, $bytes:expr) => {
        TimestampMicrosecondBuilder::with_capacity($rows).with_timezone("UTC")
    };
    ($athena:ident, $rows:expr, $bytes:expr) => {
        <column_builder!($athena)>::with_capacity($rows)
    };
}

/// [`AccessLogBatchBuilder`]: one builder per column of [`loglake_schema::with_access_log_columns`],
/// in its order.
macro_rules! batch_builder {
    ($($name:ident: $athena:ident, $null:ident, [$($storage:ident)*], $json:ident;)*) => {
        /// Appends parsed lines column by column. Invalid UTF-8 inside a field is decoded
        /// lossily (and reported by `append`), since Arrow and Parquet strings must be UTF-8.
        pub struct AccessLogBatchBuilder {
            $($name: column_builder!($athena),)*
        }

        impl AccessLogBatchBuilder {
            /// Builders sized by `string_bytes(column name)`, so appends never regrow (and copy)
            /// them.
            fn with_string_bytes(rows: usize, string_bytes: impl Fn(&str) -> usize) -> Self {
                Self {
                    $($name: column_builder!($athena, rows, string_bytes(stringify!($name))),)*
                }
            }

            /// Each column's array, in table order.
            fn finish_columns(&mut self) -> Vec<ArrayRef> {
                vec![$(std::sync::Arc::new(self.$name.finish()) as ArrayRef,)*]
            }
        }
    };
}

loglake_schema::with_access_log_columns!(batch_builder);

/// The raw bytes of a field were not valid UTF-8 and were decoded lossily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossyUtf8;

/// A value up to this long is appended as a copy of this many bytes that start with it (then
/// cut back to its length): a copy of constant size is a few vector moves, where a copy of the
/// value's own length is a call to `memcpy`, of which a line had thirteen. 32 bytes hold most
/// short fields and user-agent values; the measurements, and the window sizes tried, are in
/// benches/README.md, "Measurements behind the code".
const WINDOW_BYTES: usize = 32;

/// What the decoder's user-agent cache keeps for [`AccessLogBatchBuilder`]: the classification,
/// and its six values each zero-padded to [`WINDOW_BYTES`], to be appended as windows.
pub struct PaddedUserAgent {
    info: UserAgentInfo,
    /// `ua_name`, `ua_category`, `ua_version`, `ua_os`, `ua_os_version`, `ua_vendor`.
    padded: [[u8; WINDOW_BYTES]; 6],
}

impl PaddedUserAgent {
    fn values(info: &UserAgentInfo) -> [&str; 6] {
        [
            &info.name,
            &info.category,
            &info.version,
            &info.os,
            &info.os_version,
            &info.vendor,
        ]
    }

    pub fn info(&self) -> &UserAgentInfo {
        &self.info
    }
}

impl CachedUserAgent for PaddedUserAgent {
    fn new(_agent: &[u8], info: UserAgentInfo) -> Self {
        let mut padded = [[0; WINDOW_BYTES]; 6];
        for (slot, value) in padded.iter_mut().zip(Self::values(&info)) {
            if let Some(slot) = slot.get_mut(..value.len()) {
                slot.copy_from_slice(value.as_bytes());
            }
        }
        Self { info, padded }
    }
}

impl RowBuilder for AccessLogBatchBuilder {
    type UserAgent = PaddedUserAgent;
    type Rows = RecordBatch;

    fn with_capacity(rows: usize) -> Self {
        Self::with_string_bytes(rows, |column| {
            rows * match column {
                "path" | "referrer" => 48,
                "user_agent" => 128,
                // two letters, or null; null for people
                "country" => 2,
                // null without the network tables; later batches are sized by what the last held
                "as_org" => 0,
                "bot_name" => 4,
                _ => 16,
            }
        })
    }

    fn len(&self) -> usize {
        self.source_line.values_slice().len()
    }

    fn append(
        &mut self,
        raw_line: &[u8],
        line: &AccessLine<'_>,
        extra_fields: Option<&[u8]>,
        origin: ClientOrigin,
        ua: &PaddedUserAgent,
        source: &str,
        source_line: i64,
    ) -> Result<(), LossyUtf8> {
        let text = LineText::new(raw_line);
        let mut valid = true;
        self.ts.append_value(line.ts_micros);
        valid &= text.append(&mut self.client_ip, Some(line.client));
        match origin.country {
            Some(country) => self.country.push(country.as_str()),
            None => self.country.push_null(),
        }
        let network = origin.network;
        self.asn
            .append_option(network.map(|network| i64::from(network.asn)));
        match network {
            Some(network) => self.as_org.push(network.organisation),
            None => self.as_org.push_null(),
        }
        valid &= text.append(&mut self.remote_user, line.remote_user);
        valid &= text.append(&mut self.method, line.method);
        valid &= text.append_unescaped(&mut self.path, line.path);
        valid &= text.append_unescaped(&mut self.query, line.query);
        self.is_static
            .append_option(line.path.map(|path| is_static_path(path.bytes)));
        valid &= text.append(&mut self.protocol, line.protocol);
        self.status.append_value(line.status);
        self.bytes_sent.append_option(line.bytes_sent);
        valid &= text.append_unescaped(&mut self.referrer, line.referrer);
        valid &= text.append_unescaped(&mut self.user_agent, line.user_agent);
        let values = PaddedUserAgent::values(&ua.info);
        self.ua_name.push_windowed(values[0], &ua.padded[0]);
        self.ua_category.push_windowed(values[1], &ua.padded[1]);
        self.ua_version.push_windowed(values[2], &ua.padded[2]);
        self.ua_os.push_windowed(values[3], &ua.padded[3]);
        self.ua_os_version.push_windowed(values[4], &ua.padded[4]);
        self.ua_vendor.push_windowed(values[5], &ua.padded[5]);
        self.is_bot.append_value(ua.info.is_bot);
        match ua.info.bot_name.as_deref() {
            Some(name) => self.bot_name.push(name),
            None => self.bot_name.push_null(),
        }
        self.request_time_ms.append_option(line.request_time_ms);
        valid &= text.append(&mut self.vhost, line.vhost);
        valid &= text.append(&mut self.extra_fields, extra_fields);
        self.source.push(source);
        self.source_line.append_value(source_line);
        if valid {
            Ok(())
        } else {
            Err(LossyUtf8)
        }
    }

    /// The builder is left sized for a batch like this one.
    fn finish(&mut self) -> RecordBatch {
        let rows = self.len();
        let columns = self.finish_columns();
        let batch = RecordBatch::try_new(file_schema(), columns)
            .expect("builder columns follow the file schema");
        if rows > 0 {
            *self = Self::with_string_bytes(rows, |column| {
                let used = batch[column].as_string::<i32>().value_data().len();
                used + used / 4 + 1024
            });
        }
        batch
    }
}

/// A string column as the decoder appends to it: what arrow's `StringBuilder` does, with the
/// appends inlined (there, each of the sixteen per line was a call) and, in release builds, no
/// second check of the text when the column is finished (it only ever took `&str`s).
struct StringColumn {
    values: Vec<u8>,
    /// One more than the rows: the end of each value, after a leading 0.
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    /// Nulls pushed since the last value, appended to `nulls` at once: a column that is
    /// mostly null (`extra_fields` of the CLF formats) then costs an increment per row, not a
    /// bit written.
    pending_nulls: usize,
}

impl StringColumn {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            values: Vec::with_capacity(bytes),
            offsets,
            nulls: NullBufferBuilder::new(rows),
            pending_nulls: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, value: &str) {
        self.values.extend_from_slice(value.as_bytes());
        self.push_end();
        self.append_non_null();
    }

    /// Pushes `value` as a copy of `window`, which starts with `value`'s bytes (a
    /// [`PaddedUserAgent`] slot, or the line from where the field starts): see [`WINDOW_BYTES`].
    #[inline(always)]
    fn push_windowed(&mut self, value: &str, window: &[u8; WINDOW_BYTES]) {
        if value.len() > WINDOW_BYTES {
            return self.push(value);
        }
        debug_assert_eq!(&window[..value.len()], value.as_bytes());
        let end = self.values.len() + value.len();
        self.values.extend_from_slice(window);
        self.values.truncate(end);
        self.push_end();
        self.append_non_null();
    }

    #[inline(always)]
    fn push_null(&mut self) {
        self.push_end();
        self.pending_nulls += 1;
    }

    #[inline(always)]
    fn append_non_null(&mut self) {
        self.append_pending_nulls();
        self.nulls.append_non_null();
    }

    #[inline(always)]
    fn append_pending_nulls(&mut self) {
        if self.pending_nulls > 0 {
            self.nulls
                .append_n_nulls(std::mem::take(&mut self.pending_nulls));
        }
    }

    #[inline(always)]
    fn push_end(&mut self) {
        // Past 2 GiB of text in one batch this panics, as arrow's builder does; the decoder's
        // limits (by default 8,192 lines of at most 64 KiB) stay far below.
        let end = i32::try_from(self.values.len()).expect("a batch's strings fit i32 offsets");
        self.offsets.push(end);
    }

    fn finish(&mut self) -> StringArray {
        let offsets = ScalarBuffer::from(std::mem::replace(&mut self.offsets, vec![0]));
        let values = Buffer::from_vec(std::mem::take(&mut self.values));
        self.append_pending_nulls();
        let nulls = self.nulls.finish();
        if cfg!(debug_assertions) {
            // Checks what the release build takes on trust below: the tests run this way.
            return StringArray::new(OffsetBuffer::new(offsets), values, nulls);
        }
        // SAFETY: `push`, `push_windowed` and `push_null` are the only writers. Each appends a
        // whole `&str` (or nothing) to `values` (`push_windowed` the start of a window that its
        // callers take from where that `&str`'s bytes are: a `PaddedUserAgent` slot filled by
        // `PaddedUserAgent::new`, or the line's text at the field's offset) and then its length
        // to `offsets`, which starts at 0: the offsets never decrease, each falls on a
        // character boundary of valid UTF-8, the last is the length of `values`, and there is
        // one null bit per value. Checking all of that again costs more than the appends
        // themselves.
        unsafe { StringArray::new_unchecked(OffsetBuffer::new_unchecked(offsets), values, nulls) }
    }
}

/// A line and, when it is valid UTF-8, its text: one UTF-8 check for the whole line instead of
/// one per field, whose text is then sliced from the line's.
pub struct LineText<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> LineText<'a> {
    pub fn new(line: &'a [u8]) -> Self {
        Self {
            bytes: line,
            text: simdutf8::basic::from_utf8(line).ok(),
        }
    }

    /// `field` (a slice of this line) as text, without validating it again.
    fn str_of(&self, field: &[u8]) -> Option<&'a str> {
        let offset = self.offset_of(field)?;
        self.text?.get(offset..offset + field.len())
    }

    /// Where `field` starts in the line, when it is a slice of it.
    fn offset_of(&self, field: &[u8]) -> Option<usize> {
        let offset = (field.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
        (offset <= self.bytes.len() && field.len() <= self.bytes.len() - offset).then_some(offset)
    }

    /// `field` as text, and the [`WINDOW_BYTES`] of the line from where it starts, when the
    /// line is text and has that many bytes there.
    fn windowed(&self, field: &[u8]) -> Option<(&'a str, &'a [u8; WINDOW_BYTES])> {
        let offset = self.offset_of(field)?;
        let text = self.text?.get(offset..offset + field.len())?;
        let window = self.bytes.get(offset..offset + WINDOW_BYTES)?;
        Some((text, window.try_into().ok()?))
    }

    /// A field as text, decoded lossily when it is not UTF-8 (then the flag is false).
    #[inline]
    pub fn text<'f>(&self, field: &'f [u8]) -> (Cow<'f, str>, bool)
    where
        'a: 'f,
    {
        if let Some(text) = self.str_of(field) {
            return (Cow::Borrowed(text), true);
        }
        match std::str::from_utf8(field) {
            Ok(text) => (Cow::Borrowed(text), true),
            Err(_) => (String::from_utf8_lossy(field), false),
        }
    }

    /// Appends a field as a string; false when it had to be decoded lossily.
    // Ten calls per line: inlined, with `Text::unescaped`, they cost no call overhead.
    #[inline(always)]
    fn append(&self, builder: &mut StringColumn, field: Option<&[u8]>) -> bool {
        let Some(field) = field else {
            builder.push_null();
            return true;
        };
        if let Some((text, window)) = self.windowed(field) {
            builder.push_windowed(text, window);
            return true;
        }
        let (text, valid) = self.text(field);
        builder.push(&text);
        valid
    }

    #[inline(always)]
    fn append_unescaped(&self, builder: &mut StringColumn, field: Option<Text<'_>>) -> bool {
        match field {
            None => self.append(builder, None),
            // Borrowed (the usual case) still points into the line, so `str_of` finds it.
            Some(text) => self.append(builder, Some(&text.unescaped())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn fields_anywhere_in_the_line_are_appended_as_themselves() {
        // Fields of every length around the window's, starting anywhere: near the end of the
        // line there is no whole window after them, and they are copied the usual way.
        let line = "203.0.113.9 - - \"GET /Zürich/✓?q=1 HTTP/1.1\" 200 \"Mozilla/5.0 (X11)\"";
        let text = LineText::new(line.as_bytes());
        let mut column = StringColumn::with_capacity(0, 0);
        let mut expected = Vec::new();
        for start in (0..line.len()).filter(|&i| line.is_char_boundary(i)) {
            for len in [0, 1, 7, WINDOW_BYTES - 1, WINDOW_BYTES, WINDOW_BYTES + 1] {
                let end = (start + len).min(line.len());
                if let Some(field) = line.get(start..end) {
                    assert!(text.append(&mut column, Some(field.as_bytes())));
                    expected.push(field);
                }
            }
        }
        let array = column.finish();
        array.to_data().validate_full().unwrap();
        assert_eq!(array, StringArray::from(expected));
    }

    #[test]
    fn a_padded_user_agent_s_values_are_appended_as_themselves() {
        let info = UserAgentInfo {
            name: "Chrome".into(),
            category: "".into(),
            version: "1.".repeat(20).into(),
            os: "Zürich ✓".into(),
            os_version: "v".repeat(WINDOW_BYTES).into(),
            vendor: "UNKNOWN".into(),
            is_bot: false,
            bot_name: None,
        };
        let ua = PaddedUserAgent::new(b"agent", info.clone());
        for (index, value) in PaddedUserAgent::values(&info).into_iter().enumerate() {
            let mut column = StringColumn::with_capacity(3, 0);
            column.push("before");
            column.push_windowed(value, &ua.padded[index]);
            column.push_windowed(value, &ua.padded[index]);
            let array = column.finish();
            array.to_data().validate_full().unwrap();
            assert_eq!(array, StringArray::from(vec!["before", value, value]));
        }
    }

    #[test]
    fn a_string_column_is_the_array_of_what_was_pushed_and_starts_over_after_finish() {
        let mut column = StringColumn::with_capacity(2, 4);
        let batches = [
            vec![
                Some("GET"),
                None,
                Some(""),
                Some("Zürich ✓"),
                Some("/a?b=c"),
            ],
            vec![None, None],
            vec![Some("only")],
        ];
        for values in &batches {
            for value in values {
                match value {
                    Some(value) => column.push(value),
                    None => column.push_null(),
                }
            }
            let array = column.finish();
            array.to_data().validate_full().unwrap();
            assert_eq!(array, StringArray::from(values.clone()));
        }
    }
}
