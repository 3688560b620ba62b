-- Requests, visitors and bytes by cache result: CloudFront's x-edge-result-type, or a custom format's $upstream_cache_status (needs the extra fields kept).
SELECT
  cache_status,
  count(*) AS requests,
  approx_distinct(visitor) AS visitors,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM (
  SELECT
    coalesce(json_extract_scalar(extra_fields, '$["x-edge-result-type"]'), json_extract_scalar(extra_fields, '$.upstream_cache_status')) AS cache_status,
    client_ip || '|' || coalesce(user_agent, '') || '|' || dt AS visitor,
    bytes_sent
  FROM access_logs
  WHERE dt BETWEEN ? AND ? AND extra_fields IS NOT NULL
) AS logged
WHERE cache_status IS NOT NULL
GROUP BY cache_status
ORDER BY requests DESC, cache_status
