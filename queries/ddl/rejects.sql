-- The rejects table: one JSON object per rejected line, as the rejects Firehose stream writes
-- them under rejects/dt=YYYY-MM-DD/ (the day they arrived). Replace LAKE_BUCKET first.
CREATE EXTERNAL TABLE IF NOT EXISTS rejects (
  `source` string,
  `source_line` bigint,
  `reason` string,
  `raw` string,
  `raw_encoding` string,
  `raw_len` bigint
)
PARTITIONED BY (`dt` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://LAKE_BUCKET/rejects/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://LAKE_BUCKET/rejects/dt=${dt}/'
)
