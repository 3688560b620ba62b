-- The 50 most requested paths, with their visitors and bytes.
SELECT
  path,
  count(*) AS requests,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '') || '|' || dt) AS visitors,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ? AND path IS NOT NULL
GROUP BY path
ORDER BY requests DESC, path
LIMIT 50
