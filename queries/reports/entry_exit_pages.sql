-- The 50 pages most visits start on (entries), with how many end there (exits); a visit as in visits_by_day.
WITH marked AS (
  SELECT
    client_ip,
    coalesce(user_agent, '') AS agent,
    ts,
    source,
    source_line,
    path,
    coalesce(is_static, false) AS is_static,
    CASE
      WHEN to_unixtime(ts) - to_unixtime(lag(ts) OVER (PARTITION BY client_ip, coalesce(user_agent, '') ORDER BY ts)) <= 1800 THEN 0
      ELSE 1
    END AS starts_visit
  FROM access_logs
  WHERE dt BETWEEN ? AND ?
),
numbered AS (
  SELECT
    client_ip,
    agent,
    ts,
    source,
    source_line,
    path,
    is_static,
    sum(starts_visit) OVER (PARTITION BY client_ip, agent ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS visit
  FROM marked
),
pages AS (
  SELECT
    path,
    row_number() OVER (PARTITION BY client_ip, agent, visit ORDER BY ts, source, source_line) AS from_start,
    row_number() OVER (PARTITION BY client_ip, agent, visit ORDER BY ts DESC, source DESC, source_line DESC) AS from_end
  FROM numbered
  WHERE NOT is_static AND path IS NOT NULL
)
SELECT
  path,
  sum(CASE WHEN from_start = 1 THEN 1 ELSE 0 END) AS entries,
  sum(CASE WHEN from_end = 1 THEN 1 ELSE 0 END) AS exits
FROM pages
GROUP BY path
HAVING sum(CASE WHEN from_start = 1 THEN 1 ELSE 0 END) > 0 OR sum(CASE WHEN from_end = 1 THEN 1 ELSE 0 END) > 0
ORDER BY entries DESC, exits DESC, path
LIMIT 50
