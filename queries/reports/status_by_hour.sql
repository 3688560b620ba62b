-- Requests per status class (2xx, 3xx, 4xx, 5xx) per hour.
SELECT
  dt,
  hour,
  CAST(status / 100 AS varchar) || 'xx' AS status_class,
  count(*) AS requests
FROM access_logs
WHERE dt BETWEEN ? AND ?
GROUP BY dt, hour, CAST(status / 100 AS varchar) || 'xx'
ORDER BY dt, hour, status_class
