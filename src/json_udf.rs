//! `json_extract_scalar(json, path)` for the local engine, as Athena (Trino) has it: the value at
//! a one-level JSONPath (`$.name` or `$["name-with-dashes"]`) of a JSON object, as text; NULL for
//! a missing key, a non-scalar or JSON null, or text that is no JSON object. The reports that
//! read `extra_fields` use it, so they run on both engines as written.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use loglake_queries::json_path::extract_scalar;

pub fn json_extract_scalar() -> ScalarUDF {
    create_udf(
        "json_extract_scalar",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (documents, paths) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
            let mut out = StringBuilder::with_capacity(documents.len(), 0);
            for row in 0..documents.len() {
                let value = (!documents.is_null(row) && !paths.is_null(row))
                    .then(|| extract_scalar(documents.value(row), paths.value(row)))
                    .flatten();
                out.append_option(value);
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
        }),
    )
}
