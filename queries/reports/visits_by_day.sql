-- Visits a day (a visitor's requests, client and user agent, with no gap over 30 minutes): pages per visit, visit length, bounce rate.
WITH marked AS (
  SELECT
    client_ip,
    coalesce(user_agent, '') AS agent,
    ts,
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
    is_static,
    sum(starts_visit) OVER (PARTITION BY client_ip, agent ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS visit
  FROM marked
),
visits AS (
  SELECT
    CAST(CAST(min(ts) AS DATE) AS VARCHAR) AS dt,
    to_unixtime(max(ts)) - to_unixtime(min(ts)) AS seconds,
    sum(CASE WHEN is_static THEN 0 ELSE 1 END) AS pages
  FROM numbered
  GROUP BY client_ip, agent, visit
)
SELECT
  dt,
  count(*) AS visits,
  round(1.0 * sum(pages) / count(*), 2) AS pages_per_visit,
  round(1.0 * sum(seconds) / count(*), 1) AS avg_visit_seconds,
  round(100.0 * sum(CASE WHEN pages <= 1 THEN 1 ELSE 0 END) / count(*), 2) AS bounce_rate_pct
FROM visits
GROUP BY dt
ORDER BY dt
