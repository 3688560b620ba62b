-- Requests by TLS protocol and cipher, as the load balancers, CloudFront and S3 log them (needs the extra fields kept).
SELECT
  tls_protocol,
  tls_cipher,
  count(*) AS requests,
  approx_distinct(visitor) AS visitors
FROM (
  SELECT
    coalesce(json_extract_scalar(extra_fields, '$.ssl_protocol'), json_extract_scalar(extra_fields, '$["ssl-protocol"]'), json_extract_scalar(extra_fields, '$.tls_version')) AS tls_protocol,
    coalesce(json_extract_scalar(extra_fields, '$.ssl_cipher'), json_extract_scalar(extra_fields, '$["ssl-cipher"]'), json_extract_scalar(extra_fields, '$.cipher_suite')) AS tls_cipher,
    client_ip || '|' || coalesce(user_agent, '') || '|' || dt AS visitor
  FROM access_logs
  WHERE dt BETWEEN ? AND ? AND extra_fields IS NOT NULL
) AS logged
WHERE tls_protocol IS NOT NULL OR tls_cipher IS NOT NULL
GROUP BY tls_protocol, tls_cipher
ORDER BY requests DESC, tls_protocol, tls_cipher
