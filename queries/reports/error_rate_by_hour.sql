-- Share of requests answered with a 4xx or a 5xx, per hour.
SELECT
  dt,
  hour,
  count(*) AS requests,
  count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS client_errors,
  count(*) FILTER (WHERE status >= 500) AS server_errors,
  round(100.0 * count(*) FILTER (WHERE status >= 400) / count(*), 2) AS error_rate_pct
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY dt, hour
ORDER BY dt, hour
