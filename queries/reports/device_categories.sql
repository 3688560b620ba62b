-- Requests per device category (pc, smartphone, mobilephone, crawler, appliance, misc, UNKNOWN).
SELECT
  ua_category,
  count(*) AS requests,
  round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_pct
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY ua_category
ORDER BY requests DESC, ua_category
