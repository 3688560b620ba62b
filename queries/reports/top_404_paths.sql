-- The 50 paths most often answered 404 Not Found.
SELECT
  path,
  count(*) AS requests
FROM access_logs
WHERE dt BETWEEN ? AND ? AND status = 404 AND path IS NOT NULL
GROUP BY path
ORDER BY requests DESC, path
LIMIT 50
