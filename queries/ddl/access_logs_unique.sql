-- access_logs without the copies an at-least-once delivery leaves: a row written twice (Kinesis
-- redelivered its record after Firehose had taken it) has the same source and source_line, so
-- one of each is kept. Filters on dt reach the table: dt is part of the window's partition.
CREATE OR REPLACE VIEW access_logs_unique AS
SELECT
  ts, client_ip, country, asn, as_org, remote_user, method, path, query,
  is_static, protocol, status, bytes_sent, referrer, user_agent,
  ua_name, ua_category, ua_version, ua_os, ua_os_version, ua_vendor,
  is_bot, bot_name, request_time_ms, vhost, extra_fields, source,
  source_line, dt, hour
FROM (
  SELECT *, row_number() OVER (PARTITION BY dt, source, source_line ORDER BY ts) AS delivery
  FROM access_logs
)
WHERE delivery = 1
