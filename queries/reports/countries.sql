-- Requests, visitors and bytes by the client's country.
-- '-': no IP database was loaded, or it does not place the address (a private one, say).
SELECT
  coalesce(country, '-') AS client_country,
  count(*) AS requests,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '') || '|' || dt) AS visitors,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY coalesce(country, '-')
ORDER BY requests DESC, client_country
LIMIT 50
