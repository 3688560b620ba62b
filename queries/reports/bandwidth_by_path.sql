-- The 50 paths that sent the most bytes.
SELECT
  path,
  count(*) AS requests,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ? AND path IS NOT NULL
GROUP BY path
ORDER BY bytes DESC, path
LIMIT 50
