-- The 50 pages most visits start on (entries), with how many end there (exits); a visit as in visits_by_day.
WITH requests AS (
  SELECT client_ip, coalesce(user_agent, '') AS agent, ts, source, source_line, path, coalesce(is_static, false) AS is_static
  FROM access_logs
  WHERE dt BETWEEN ? AND ?
),
marked AS (
  SELECT
    *,
    CASE
      WHEN to_unixtime(ts) - to_unixtime(lag(ts) OVER (PARTITION BY client_ip, agent ORDER BY ts, source, source_line)) <= 1800 THEN 0
      ELSE 1
    END AS starts_visit
  FROM requests
),
numbered AS (
  SELECT
    *,
    sum(starts_visit) OVER (PARTITION BY client_ip, agent ORDER BY ts, source, source_line ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS visit
  FROM marked
),
pages AS (
  SELECT
    path,
    visit,
    lag(visit) OVER (PARTITION BY client_ip, agent ORDER BY ts, source, source_line) AS visit_before,
    lead(visit) OVER (PARTITION BY client_ip, agent ORDER BY ts, source, source_line) AS visit_after
  FROM numbered
  WHERE NOT is_static AND path IS NOT NULL
)
SELECT
  path,
  sum(CASE WHEN visit_before IS NULL OR visit_before <> visit THEN 1 ELSE 0 END) AS entries,
  sum(CASE WHEN visit_after IS NULL OR visit_after <> visit THEN 1 ELSE 0 END) AS exits
FROM pages
GROUP BY path
HAVING sum(CASE WHEN visit_before IS NULL OR visit_before <> visit THEN 1 ELSE 0 END) > 0 OR sum(CASE WHEN visit_after IS NULL OR visit_after <> visit THEN 1 ELSE 0 END) > 0
ORDER BY entries DESC, exits DESC, path
LIMIT 50
