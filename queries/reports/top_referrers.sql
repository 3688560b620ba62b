-- The 50 most frequent external referring sites (the referrer's host differs from the request's).
SELECT
  split_part(referrer, '/', 3) AS referrer_host,
  count(*) AS requests
FROM access_logs
WHERE dt BETWEEN ? AND ?
  AND referrer LIKE 'http%://%'
  AND split_part(referrer, '/', 3) <> coalesce(vhost, '')
GROUP BY split_part(referrer, '/', 3)
ORDER BY requests DESC, referrer_host
LIMIT 50
