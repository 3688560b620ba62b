//! The one-level JSONPath of Athena's `json_extract_scalar` (`$.name`, `$["name-with-dashes"]`),
//! for the local engine's function of that name: the reports that read `extra_fields` run on both
//! engines as written.

use serde_json::Value;

/// The scalar at `path` of the object `json`, as text.
pub fn extract_scalar(json: &str, path: &str) -> Option<String> {
    let key = path
        .strip_prefix("$.")
        .or_else(|| path.strip_prefix("$[\"")?.strip_suffix("\"]"))?;
    let Value::Object(object) = serde_json::from_str(json).ok()? else {
        return None;
    };
    match object.get(key)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_by_either_path_form() {
        let json =
            r#"{"x-edge-result-type":"Hit","ssl_protocol":"TLSv1.2","n":3,"o":{"a":1},"z":null}"#;
        assert_eq!(
            extract_scalar(json, r#"$["x-edge-result-type"]"#).as_deref(),
            Some("Hit")
        );
        assert_eq!(
            extract_scalar(json, "$.ssl_protocol").as_deref(),
            Some("TLSv1.2")
        );
        assert_eq!(extract_scalar(json, "$.n").as_deref(), Some("3"));
        for missing in ["$.o", "$.z", "$.nope", "ssl_protocol"] {
            assert_eq!(extract_scalar(json, missing), None, "{missing}");
        }
        assert_eq!(extract_scalar("not json", "$.a"), None);
    }
}
