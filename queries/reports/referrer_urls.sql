-- The 50 most frequent referrer URLs, as logged, with their visitors.
SELECT
  referrer,
  count(*) AS requests,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '') || '|' || dt) AS visitors
FROM access_logs
WHERE dt BETWEEN ? AND ? AND referrer IS NOT NULL
GROUP BY referrer
ORDER BY requests DESC, referrer
LIMIT 50
