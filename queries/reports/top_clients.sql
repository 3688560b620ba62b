-- The 50 client addresses with the most requests.
SELECT
  client_ip,
  count(*) AS requests,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY client_ip
ORDER BY requests DESC, client_ip
LIMIT 50
