//! `regexp_like(text, pattern)` for the local engine: DataFusion's own, except that a constant
//! pattern is compiled once and kept. DataFusion compiles it again for every batch; a lake's
//! hourly file is a batch of ~1,400 rows, and the security reports match nine patterns of
//! dozens of alternatives each, so compiling (and warming each regex's lazy DFA again) took
//! much of their time.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use regex::Regex;

/// `regexp_like`, to register over DataFusion's.
pub fn regexp_like() -> ScalarUDF {
    ScalarUDF::new_from_impl(CachedRegexpLike {
        builtin: datafusion::functions::regex::regexp_like(),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CachedRegexpLike {
    /// DataFusion's: its signature, and the cases this does not take (flags, patterns from a
    /// column).
    builtin: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for CachedRegexpLike {
    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn signature(&self) -> &Signature {
        self.builtin.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.builtin.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [ColumnarValue::Array(values), ColumnarValue::Scalar(
            ScalarValue::Utf8(pattern)
            | ScalarValue::LargeUtf8(pattern)
            | ScalarValue::Utf8View(pattern),
        )] = args.args.as_slice()
        {
            let matched = match pattern {
                None => Some(BooleanArray::new_null(values.len())),
                Some(pattern) => is_match(values, &*compiled(pattern)?),
            };
            if let Some(matched) = matched {
                return Ok(ColumnarValue::Array(Arc::new(matched) as ArrayRef));
            }
        }
        self.builtin.invoke_with_args(args)
    }
}

/// Whether each of `values` matches `regex` (NULL for NULL), as DataFusion's kernel answers;
/// `None` for values that are not text (DataFusion's own then answers).
fn is_match(values: &ArrayRef, regex: &Regex) -> Option<BooleanArray> {
    let matches = |value: Option<&str>| value.map(|value| regex.is_match(value));
    match values.data_type() {
        DataType::Utf8 => Some(values.as_string::<i32>().iter().map(matches).collect()),
        DataType::LargeUtf8 => Some(values.as_string::<i64>().iter().map(matches).collect()),
        DataType::Utf8View => Some(values.as_string_view().iter().map(matches).collect()),
        _ => None,
    }
}

/// `pattern` compiled, from the process's patterns when it was compiled before.
fn compiled(pattern: &str) -> Result<Arc<Regex>> {
    /// Patterns kept: the shipped reports have nine; a shell's ad-hoc ones beyond this start
    /// the cache afresh rather than grow it without end.
    const KEPT: usize = 64;
    static COMPILED: LazyLock<Mutex<HashMap<String, Arc<Regex>>>> = LazyLock::new(Mutex::default);
    let mut compiled = COMPILED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(regex) = compiled.get(pattern) {
        return Ok(Arc::clone(regex));
    }
    let regex = Regex::new(pattern).map_err(|e| {
        DataFusionError::Execution(format!("regexp_like: the pattern does not compile: {e}"))
    })?;
    if compiled.len() >= KEPT {
        compiled.clear();
    }
    // (shared, not cloned: a clone would start with empty search caches of its own)
    let regex = Arc::new(regex);
    compiled.insert(pattern.to_string(), Arc::clone(&regex));
    Ok(regex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// Both functions over the same rows (text, NULLs, a NULL pattern, flags, a pattern from a
    /// column) give the same answers.
    #[tokio::test]
    async fn answers_as_datafusions_own() {
        let sql = "SELECT regexp_like(v, '(a|%61)b+$') AS a, regexp_like(v, NULL) AS b, \
                   regexp_like(v, 'X', 'i') AS c, regexp_like(v, p) AS d, \
                   regexp_like(arrow_cast(v, 'Utf8View'), '^x') AS e \
                   FROM (VALUES ('abb', 'b$'), ('%61b', 'z'), (NULL, 'a'), ('xab', NULL)) AS t(v, p)";
        let answer = |ours: bool| async move {
            let context = SessionContext::new();
            if ours {
                context.register_udf(regexp_like());
            }
            let batches = context.sql(sql).await.unwrap().collect().await.unwrap();
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string()
        };
        let (theirs, ours) = (answer(false).await, answer(true).await);
        assert_eq!(ours, theirs);
        // ('%61b': the `(a|%61)` branch; 'xab': NULL pattern and column, flags, a view)
        assert!(
            ours.contains("| true |   | false | false | false |"),
            "{ours}"
        );
        assert!(
            ours.contains("| true |   | true  |       | true  |"),
            "{ours}"
        );
    }

    #[test]
    fn a_bad_pattern_is_an_error_naming_it() {
        let error = compiled("(unclosed").unwrap_err().to_string();
        assert!(error.contains("does not compile"), "{error}");
    }
}
