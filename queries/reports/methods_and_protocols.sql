-- Requests, visitors and bytes by HTTP method and protocol ('-': not logged, or not HTTP).
SELECT
  coalesce(method, '-') AS method,
  coalesce(protocol, '-') AS protocol,
  count(*) AS requests,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '') || '|' || dt) AS visitors,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY coalesce(method, '-'), coalesce(protocol, '-')
ORDER BY requests DESC, method, protocol
