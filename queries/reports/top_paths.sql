-- The 50 most requested paths.
SELECT
  path,
  count(*) AS requests
FROM access_logs
WHERE dt BETWEEN ? AND ? AND path IS NOT NULL
GROUP BY path
ORDER BY requests DESC, path
LIMIT 50
