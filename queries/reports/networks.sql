-- Requests, visitors and bytes by the client's network (autonomous system): a hosting network among the top ones is usually crawlers or scrapers.
-- '-': no network tables were loaded, or they do not place the address (a private one, say).
SELECT
  coalesce(CAST(asn AS varchar), '-') AS asn,
  coalesce(max(as_org), '-') AS as_org,
  count(*) AS requests,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '') || '|' || dt) AS visitors,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY coalesce(CAST(asn AS varchar), '-')
ORDER BY requests DESC, asn
LIMIT 50
