-- Requests and bytes per virtual host (lines that logged one).
SELECT
  vhost,
  count(*) AS requests,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ? AND vhost IS NOT NULL
GROUP BY vhost
ORDER BY requests DESC, vhost
LIMIT 50
