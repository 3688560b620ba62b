-- Requests, page requests, bytes and visitors per day.
-- A visitor is a client address with one user agent on one UTC day, as GoAccess counts them; page
-- requests are those not for a static file (is_static).
SELECT
  dt,
  count(*) AS requests,
  sum(CASE WHEN is_static THEN 0 ELSE 1 END) AS page_requests,
  coalesce(sum(bytes_sent), 0) AS bytes,
  approx_distinct(client_ip || '|' || coalesce(user_agent, '')) AS visitors
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY dt
ORDER BY dt
