-- Requests, visitors and bytes by hour of the day (UTC), over the whole range.
SELECT
  hour,
  count(*) AS requests,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '') || '|' || dt) AS visitors,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY hour
ORDER BY hour
