-- The access_logs table over the Parquet lake. Partition projection finds every dt/hour
-- partition without MSCK REPAIR or crawlers. Replace LAKE_BUCKET (and the start date) first.
CREATE EXTERNAL TABLE IF NOT EXISTS access_logs (
  `ts` timestamp,
  `client_ip` string,
  `country` string,
  `asn` bigint,
  `as_org` string,
  `remote_user` string,
  `method` string,
  `path` string,
  `query` string,
  `is_static` boolean,
  `protocol` string,
  `status` smallint,
  `bytes_sent` bigint,
  `referrer` string,
  `user_agent` string,
  `ua_name` string,
  `ua_category` string,
  `ua_version` string,
  `ua_os` string,
  `ua_os_version` string,
  `ua_vendor` string,
  `is_bot` boolean,
  `bot_name` string,
  `request_time_ms` double,
  `vhost` string,
  `extra_fields` string,
  `source` string,
  `source_line` bigint
)
PARTITIONED BY (`dt` string, `hour` int)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/access_logs/'
TBLPROPERTIES (
  'parquet.compression' = 'ZSTD',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2024-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = 's3://LAKE_BUCKET/access_logs/dt=${dt}/hour=${hour}/'
)
