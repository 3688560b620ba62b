-- Requests that look like attacks, by kind (queries/detections.json): how many, from how many clients, first and last seen.
WITH checked AS (
  SELECT
    ts,
    client_ip,
    CASE
      WHEN regexp_like(lower(coalesce(path, '') || coalesce('?' || query, '')), '(\$|%24)(\{|%7b)(jndi|lower:|upper:|env:|sys:|date:|base64:|::-)') OR regexp_like(lower(user_agent), '(\$|%24)(\{|%7b)(jndi|lower:|upper:|env:|sys:|date:|base64:|::-)') OR regexp_like(lower(referrer), '(\$|%24)(\{|%7b)(jndi|lower:|upper:|env:|sys:|date:|base64:|::-)') THEN 'log4shell'
      WHEN regexp_like(lower(coalesce(path, '') || coalesce('?' || query, '')), 'information_schema|union(%20|%09|%0a|\+|\s|/\*[^*]*\*/)+(all(%20|\+|\s)+)?select|(%2c|,)null(%2c|,)null|(benchmark|load_file|substring|substr|selectchar|chr|pg_sleep|sleep|distinct|upper|hex|md5|concat|extractvalue|updatexml)(%28|\()|(%27|'')(%20|\+|\s)*(or|and)(%20|\+|\s)+(%27|'')?[0-9a-z]+(%27|'')?(%20|\+|\s)*(=|%3d)|@@version|xp_cmdshell|waitfor(%20|\+|\s)+delay') THEN 'sql_injection'
      WHEN regexp_like(lower(coalesce(path, '') || coalesce('?' || query, '')), '(%3c|<)(%2f|/)?(script|img|svg|iframe|body|input|table|object|embed|style|meta|frameset|div|br|p|a|link|form|details|video|audio|marquee|base)(%20|\+|\s|%3e|>|/|%2f|$)|javascript(%3a|:)|(alert|prompt|confirm)(%28|\(|`|%60)|on(error|load|mouseover|focus|click)(%20|\+|\s)*(%3d|=)|document\.cookie') THEN 'xss'
      WHEN regexp_like(lower(coalesce(path, '') || coalesce('?' || query, '')), '(\.|%2e|%252e)(\.|%2e|%252e)(/|\\|%2f|%5c|%252f|%255c)|(/|%2f|%252f)etc(/|%2f|%252f)(passwd|shadow|group|hosts)|c:(/|\\|%2f|%5c)|win\.ini|boot\.ini|/proc/self/|(/|%2f)windows(/|%2f|\\|%5c)system32') THEN 'path_traversal'
      WHEN regexp_like(lower(user_agent), 'nikto|sqlmap|nmap scripting engine|masscan|zgrab|nuclei|wpscan|dirbuster|gobuster|dirb/|acunetix|netsparker|openvas|w3af|arachni|whatweb|fuzz faster u fool|feroxbuster|jaeles|zmeu|morfeus|hydra/|nessus') THEN 'scanner_agent'
      WHEN regexp_like(lower(path), '/\.(env|git|svn|hg|cvs|bzr|aws|ssh|docker|kube|npmrc|bash_history|bashrc|zsh_history|profile|htpasswd|htaccess|ds_store|idea|vscode|cache|config|forward|mysql_history|pgpass)|/(wp-config\.php|database\.yml|credentials|id_rsa|id_dsa)(\.|~|$)|\.(bak|old|orig|swp|sql)$|/server-status|/phpinfo\.php') THEN 'sensitive_file'
      WHEN status BETWEEN 400 AND 499 AND (regexp_like(lower(path), '/wp-(admin|login|content|includes|json)|/xmlrpc\.php|/wlwmanifest\.xml|/phpmyadmin|/pma/|/myadmin|/adminer|/administrator/|/cgi-bin/|/vendor/phpunit|/actuator|/solr/admin|/manager/html|/jmx-console|/hnap1|/boaform|/owa/|/autodiscover|/ecp/|/shell\.php|/cmd\.php|/eval-stdin\.php')) THEN 'cms_probe'
    END AS detection
  FROM access_logs
  WHERE dt BETWEEN ? AND ?
)
SELECT
  detection,
  count(*) AS requests,
  count(DISTINCT client_ip) AS clients,
  min(ts) AS first_seen,
  max(ts) AS last_seen
FROM checked
WHERE detection IS NOT NULL
GROUP BY detection
ORDER BY requests DESC, detection
