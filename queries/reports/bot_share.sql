-- Requests and bytes from bots versus people.
SELECT
  is_bot,
  count(*) AS requests,
  coalesce(sum(bytes_sent), 0) AS bytes,
  round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_pct
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY is_bot
ORDER BY is_bot
