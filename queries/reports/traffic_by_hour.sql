-- Requests, bytes and unique visitors (client + user agent) per hour.
SELECT
  dt,
  hour,
  count(*) AS requests,
  coalesce(sum(bytes_sent), 0) AS bytes,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '')) AS visitors
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY dt, hour
ORDER BY dt, hour
