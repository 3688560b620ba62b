-- Requests per operating system, with each one's share in percent.
SELECT
  ua_os,
  count(*) AS requests,
  round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_pct
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY ua_os
ORDER BY requests DESC, ua_os
