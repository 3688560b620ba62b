-- The 5 most requested paths of each hour: what a spike in traffic_by_hour was made of.
SELECT
  dt,
  hour,
  path,
  requests
FROM (
  SELECT
    dt,
    hour,
    path,
    requests,
    row_number() OVER (PARTITION BY dt, hour ORDER BY requests DESC, path) AS place
  FROM (
    SELECT
      dt,
      hour,
      path,
      count(*) AS requests
    FROM access_logs
    WHERE dt BETWEEN ? AND ? AND path IS NOT NULL
    GROUP BY dt, hour, path
  ) AS counted
) AS ranked
WHERE place <= 5
ORDER BY dt, hour, requests DESC, path
