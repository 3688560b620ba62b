-- The 50 busiest authenticated users (HTTP authentication's remote user), with visitors and bytes.
SELECT
  remote_user,
  count(*) AS requests,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '') || '|' || dt) AS visitors,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ? AND remote_user IS NOT NULL
GROUP BY remote_user
ORDER BY requests DESC, remote_user
LIMIT 50
