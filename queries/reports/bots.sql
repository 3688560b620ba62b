-- The 50 busiest bots by name.
SELECT
  ua_name,
  count(*) AS requests
FROM access_logs
WHERE dt BETWEEN ? AND ? AND is_bot
GROUP BY ua_name
ORDER BY requests DESC, ua_name
LIMIT 50
