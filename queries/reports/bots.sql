-- The 50 busiest bots by name.
-- bot_name is the crawler list's, woothee's or the automation token's product name.
SELECT
  coalesce(bot_name, ua_name) AS bot,
  count(*) AS requests,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM access_logs
WHERE dt BETWEEN ? AND ? AND is_bot
GROUP BY coalesce(bot_name, ua_name)
ORDER BY requests DESC, bot
LIMIT 50
