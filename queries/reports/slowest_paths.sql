-- The 50 slowest paths by 95th-percentile response time (lines that logged a request time).
SELECT
  path,
  count(*) AS requests,
  approx_percentile(request_time_ms, 0.5) AS p50_ms,
  approx_percentile(request_time_ms, 0.95) AS p95_ms,
  approx_percentile(request_time_ms, 0.99) AS p99_ms
FROM access_logs
WHERE dt BETWEEN ? AND ? AND request_time_ms IS NOT NULL AND path IS NOT NULL
GROUP BY path
ORDER BY p95_ms DESC, path
LIMIT 50
