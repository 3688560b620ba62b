-- Clients that drew 20 or more 4xx answers within one minute (a scanner's or a brute force's burst), with an example.
SELECT
  client_ip,
  date_trunc('minute', ts) AS minute,
  count(*) AS errors_4xx,
  min(path) AS example_path,
  min(user_agent) AS example_user_agent
FROM access_logs
WHERE dt BETWEEN ? AND ? AND status BETWEEN 400 AND 499
GROUP BY client_ip, date_trunc('minute', ts)
HAVING count(*) >= 20
ORDER BY errors_4xx DESC, minute, client_ip
LIMIT 100
