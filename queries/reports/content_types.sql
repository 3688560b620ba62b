-- Requests and bytes by response content type: CloudFront's sc-content-type, or a custom format's $sent_http_content_type (needs the extra fields kept).
SELECT
  content_type,
  count(*) AS requests,
  approx_distinct(visitor) AS visitors,
  coalesce(sum(bytes_sent), 0) AS bytes
FROM (
  SELECT
    coalesce(json_extract_scalar(extra_fields, '$["sc-content-type"]'), json_extract_scalar(extra_fields, '$.sent_http_content_type')) AS content_type,
    client_ip || '|' || coalesce(user_agent, '') || '|' || dt AS visitor,
    bytes_sent
  FROM access_logs
  WHERE dt BETWEEN ? AND ? AND extra_fields IS NOT NULL
) AS logged
WHERE content_type IS NOT NULL
GROUP BY content_type
ORDER BY requests DESC, content_type
LIMIT 50
