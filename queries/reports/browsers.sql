-- Requests per browser (woothee's name), people and bots alike.
SELECT
  ua_name,
  count(*) AS requests
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY ua_name
ORDER BY requests DESC, ua_name
