//! template.yaml cannot drift from the code: the Glue tables are the Arrow schema and the rejects
//! output, the named queries are queries/reports/*.sql, every function's code and binary exist,
//! and each function's environment is what its code reads (and is enough to start it).

use std::collections::BTreeMap;
use std::path::Path;

mod support;

use loglake_queries::{DDL, REPORTS};
use loglake_schema::{COLUMNS, REJECT_FIELDS};
use serde_yaml::Value;
use support::cfn::*;
use support::jq_python;

fn name_type_list(list: &Value) -> Vec<(String, String)> {
    list.as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().to_string(),
                c["Type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn glue_table<'a>(template: &'a Value, name: &str) -> &'a Value {
    resources(template, "AWS::Glue::Table")
        .into_values()
        .map(|p| &p["TableInput"])
        .find(|t| t["Name"] == name)
        .unwrap_or_else(|| panic!("no Glue table {name}"))
}

#[test]
fn glue_access_logs_columns_are_the_arrow_schema() {
    let template = template();
    let table = glue_table(&template, loglake_schema::TABLE_NAME);
    let expected = |partition: bool| -> Vec<(String, String)> {
        COLUMNS
            .iter()
            .filter(|c| c.partition == partition)
            .map(|c| (c.name.to_string(), c.athena_type.to_string()))
            .collect()
    };
    assert_eq!(
        name_type_list(&table["StorageDescriptor"]["Columns"]),
        expected(false)
    );
    assert_eq!(name_type_list(&table["PartitionKeys"]), expected(true));
    // Firehose's prefix and Athena's projection use the same partition names and layout as the
    // local lake (`dt=YYYY-MM-DD/hour=HH`).
    let template_path = render(&template, &table["Parameters"]["storage.location.template"]);
    assert!(
        template_path.ends_with("/access_logs/dt=x/hour=x/"),
        "{template_path}"
    );
    assert_eq!(table["Parameters"]["projection.hour.digits"], "2");
}

#[test]
fn glue_rejects_columns_are_the_rejects_output() {
    let template = template();
    let table = glue_table(&template, "rejects");
    let columns: Vec<String> = name_type_list(&table["StorageDescriptor"]["Columns"])
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(columns, REJECT_FIELDS);
    assert_eq!(
        name_type_list(&table["PartitionKeys"]),
        [("dt".to_string(), "string".to_string())]
    );
}

/// The named queries are the reports and the views, each its file's text.
#[test]
fn named_queries_are_the_report_files() {
    let template = template();
    let named: BTreeMap<String, String> = resources(&template, "AWS::Athena::NamedQuery")
        .into_values()
        .map(|q| {
            (
                q["Name"].as_str().unwrap().to_string(),
                q["QueryString"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let views = DDL
        .iter()
        .filter(|(_, sql)| sql.contains("CREATE OR REPLACE VIEW"));
    let reports: BTreeMap<String, String> = REPORTS
        .iter()
        .map(|r| (r.name, r.sql))
        .chain(views.copied())
        .map(|(name, sql)| (name.to_string(), sql.to_string()))
        .collect();
    assert_eq!(
        named.keys().collect::<Vec<_>>(),
        reports.keys().collect::<Vec<_>>()
    );
    for (name, sql) in &reports {
        assert_eq!(&named[name], sql, "NamedQuery {name} differs from its file");
    }
}

#[test]
fn functions_point_at_their_crates_and_set_what_their_code_reads() {
    let template = template();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let functions = resources(&template, "AWS::Serverless::Function");
    assert_eq!(
        functions.keys().copied().collect::<Vec<_>>(),
        [
            "AwsLogsFunction",
            "BackfillFunction",
            "FirehoseTransformFunction",
            "IngestFunction",
            "ReportFunction"
        ]
    );
    for (id, properties) in functions {
        let code_uri = properties["CodeUri"].as_str().unwrap();
        let manifest = std::fs::read_to_string(root.join(code_uri).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{id}: CodeUri {code_uri} has no Cargo.toml: {e}"));
        let binary = template["Resources"][id]["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        assert_eq!(
            template["Resources"][id]["Metadata"]["BuildMethod"],
            "rust-cargolambda"
        );
        assert!(
            manifest.contains(&format!("[[bin]]\nname = \"{binary}\"")),
            "{id}: {code_uri} has no binary {binary}"
        );

        let env = function_env(&template, properties);
        let read_by_code: &[&str] = match binary {
            "ingest" => &loglake_ingest::config::ENV_VARS,
            "report" => &loglake_report::ENV_VARS,
            "firehose-transform" => &loglake_firehose_transform::ENV_VARS,
            "backfill" => &loglake_backfill_function::ENV_VARS,
            other => panic!("{other}: unknown function"),
        };
        for name in env.keys() {
            // RUST_LOG is read by the tracing subscriber every function installs.
            assert!(
                name == "RUST_LOG" || read_by_code.contains(&name.as_str()),
                "{id} sets {name}, which its code does not read"
            );
        }
        // The settings are enough to start the function: its own config accepts them.
        let var = |name: &str| env.get(name).cloned();
        match binary {
            // (each wiring's settings: the_ingest_wirings_set_their_output_and_have_only_their_resources)
            "ingest" => {
                loglake_ingest::Config::from_vars(var).unwrap();
            }
            "report" => {
                loglake_report::Config::from_vars(var).unwrap();
            }
            "firehose-transform" => {
                let format = var(loglake_firehose_transform::LOG_FORMAT_VAR).unwrap();
                format.parse::<loglake_parser::LogFormat>().unwrap();
            }
            // A batch brings its settings; a function fed S3 notifications needs them all.
            "backfill" if env.contains_key(loglake_backfill_function::LAKE_DEST_VAR) => {
                loglake_backfill_function::NotificationSettings::from_vars(var).unwrap();
            }
            _ => {}
        }
    }
}

#[test]
fn the_hash_key_comes_from_secrets_manager_when_a_secret_is_named() {
    let mut template = template();
    let functions = |template: &Value| {
        let functions = resources(template, "AWS::Serverless::Function");
        (functions.values())
            .filter_map(|f| f["Environment"]["Variables"].get("ANONYMIZE_IP_KEY"))
            .map(|key| render(template, key))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        functions(&template),
        ["", "", "", ""],
        "by default, the NoEcho parameter's"
    );
    template["Parameters"]["AnonymizeIpKeySecret"]["Default"] = "loglake/ip-key".into();
    let resolved = "{{resolve:secretsmanager:x:SecretString}}";
    assert_eq!(functions(&template), [resolved; 4]);
}

#[test]
fn the_ingest_event_source_reports_partial_failures() {
    let template = template();
    let ingest = &template["Resources"]["IngestFunction"]["Properties"];
    let stream = &ingest["Events"]["Stream"];
    assert_eq!(stream["Type"], "Kinesis");
    let properties = &stream["Properties"];
    assert_eq!(
        properties["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert_eq!(properties["BisectBatchOnFunctionError"], true);
    assert!(matches!(
        properties["DestinationConfig"]["OnFailure"]["Destination"],
        Value::Tagged(_)
    ));
}

#[test]
fn the_log_format_parameter_allows_exactly_the_registered_formats_and_configured_ones() {
    let template = template();
    let parameter = &template["Parameters"]["LogFormat"];
    let registered: Vec<&str> = loglake_parser::LogFormat::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    let pattern = format!(
        "^({}|(nginx|apache):.+|{realtime}(:.+)?)$",
        registered.join("|"),
        realtime = loglake_parser::format::cloudfront_realtime::PREFIX
    );
    assert_eq!(parameter["AllowedPattern"].as_str(), Some(pattern.as_str()));
    assert_eq!(
        parameter["Default"].as_str(),
        Some(loglake_parser::LogFormat::default().name())
    );
}

#[test]
fn delivered_aws_logs_are_read_as_they_arrive_by_the_backfill_code() {
    let template = template_with("AwsLogsBucketName", "aws-logs");
    let resource = &template["Resources"]["AwsLogsFunction"];
    let function = &resource["Properties"];
    assert_eq!(function["CodeUri"], "functions/backfill");
    // S3's Object Created events of the bucket, through EventBridge (the stack's bucket sends
    // them), undeliverable ones kept.
    let event = &function["Events"]["Delivered"];
    assert_eq!(event["Type"], "EventBridgeRule");
    let pattern = &event["Properties"]["Pattern"];
    assert_eq!(pattern["detail-type"][0], "Object Created");
    let bucket = render_if_else(&template, &pattern["detail"]["bucket"]["name"][0]).unwrap();
    assert_eq!(render(&template, bucket), "aws-logs");
    let bucket_config = &template["Resources"]["AwsLogsBucket"]["Properties"];
    assert_eq!(
        bucket_config["NotificationConfiguration"]["EventBridgeConfiguration"]
            ["EventBridgeEnabled"],
        true
    );
    assert_eq!(
        event["Properties"]["DeadLetterConfig"]["Arn"],
        template["Resources"]["AwsLogsFunction"]["Properties"]["EventInvokeConfig"]
            ["DestinationConfig"]["OnFailure"]["Destination"]
    );
    // What Lambda could not read after its retries is kept.
    let on_failure = &function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    // The choices of format are formats the registry has.
    let formats = &template["Parameters"]["AwsLogsFormat"]["AllowedValues"];
    for format in formats.as_sequence().unwrap() {
        format
            .as_str()
            .unwrap()
            .parse::<loglake_parser::LogFormat>()
            .unwrap();
    }
    assert_eq!(resource["Condition"], "ReadAwsLogs");
    assert!(exists(&template, "AwsLogsFunction") && exists(&template, "AwsLogsBucket"));
}

/// An existing bucket (another account's, say) instead of a new one: no bucket or bucket policy
/// is created, the rule matches that bucket's events and the function may read its objects.
#[test]
fn delivered_aws_logs_are_read_from_an_existing_bucket() {
    let template = template_with("AwsLogsExistingBucket", "their-alb-logs");
    assert!(exists(&template, "AwsLogsFunction") && exists(&template, "AwsLogsFailures"));
    assert!(!exists(&template, "AwsLogsBucket") && !exists(&template, "AwsLogsBucketPolicy"));
    let pattern = &template["Resources"]["AwsLogsFunction"]["Properties"]["Events"]["Delivered"]
        ["Properties"]["Pattern"];
    let bucket = render_if_else(&template, &pattern["detail"]["bucket"]["name"][0]).unwrap();
    assert_eq!(render(&template, bucket), "their-alb-logs");
    let role = serde_yaml::to_string(&template["Resources"]["BackfillRole"]).unwrap();
    assert!(role.contains("AwsLogsExistingBucket"), "{role}");
    // Not both: a new bucket and an existing one.
    let rule = &template["Rules"]["OneAwsLogsBucket"]["Assertions"][0]["Assert"];
    let rendered = serde_yaml::to_string(rule).unwrap();
    assert!(rendered.contains("AwsLogsBucketName") && rendered.contains("AwsLogsExistingBucket"));
}

/// A function's environment variables as a deployed stack would set them (a variable whose
/// `!If` gives `AWS::NoValue` is not set).
fn function_env(template: &Value, properties: &Value) -> BTreeMap<String, String> {
    properties["Environment"]["Variables"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| {
            let value = render_if_else(template, value)?;
            Some((name.as_str().unwrap().to_string(), render(template, value)))
        })
        .collect()
}

/// Whether a resource exists in a stack deployed with the template's defaults.
fn exists(template: &Value, id: &str) -> bool {
    match template["Resources"][id]["Condition"].as_str() {
        Some(condition) => evaluate(template, &template["Conditions"][condition]),
        None => true,
    }
}

/// The ingest function's output as a stack deployed with `Wiring=wiring` sets it, and the actions
/// its role is granted.
fn ingest_wiring(wiring: &str) -> (Value, loglake_ingest::Output, Vec<String>) {
    let template = template_with("Wiring", wiring);
    let function = &template["Resources"]["IngestFunction"]["Properties"];
    let env = function_env(&template, function);
    let config = loglake_ingest::Config::from_vars(|name| env.get(name).cloned()).unwrap();
    let statements = template["Resources"]["IngestRole"]["Properties"]["Policies"][0]
        ["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    let granted: Vec<String> = statements
        .iter()
        .filter_map(|statement| render_if_else(&template, statement))
        .flat_map(|statement| match &statement["Action"] {
            Value::Sequence(actions) => actions.clone(),
            action => vec![action.clone()],
        })
        .map(|action| action.as_str().unwrap().to_string())
        .collect();
    (template, config.output, granted)
}

/// `Wiring=LambdaWritesParquet` (the default): the ingest function writes the lake itself, so
/// the stack has no delivery stream, the function's settings name the lake, and its role may put
/// objects there (and nothing of Firehose's). `Wiring=LambdaIngest`: rows and rejects go to their
/// delivery streams, which the role may write to.
#[test]
fn the_ingest_wirings_set_their_output_and_have_only_their_resources() {
    assert_eq!(
        template()["Parameters"]["Wiring"]["Default"],
        "LambdaWritesParquet"
    );
    let (template, output, granted) = ingest_wiring("LambdaWritesParquet");
    let active: Vec<&str> = template["Resources"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|id| id.as_str().unwrap())
        .filter(|id| exists(&template, id))
        .collect();
    // (cfn-lint, in scripts/test, fails on a reference to a resource a condition leaves out.)
    for id in &active {
        let kind = template["Resources"][*id]["Type"].as_str().unwrap();
        assert!(!kind.contains("KinesisFirehose"), "{id} is {kind}");
    }
    assert!(active.contains(&"IngestFunction"));
    assert_eq!(
        output,
        loglake_ingest::Output::Lake(loglake_ingest::LakeDest {
            bucket: "x".into(),
            prefix: String::new(),
        })
    );
    assert!(granted.contains(&"s3:PutObject".to_string()), "{granted:?}");
    assert!(
        !granted.iter().any(|a| a.starts_with("firehose:")),
        "{granted:?}"
    );

    let (_, output, granted) = ingest_wiring("LambdaIngest");
    assert!(
        matches!(
            output,
            loglake_ingest::Output::Firehose {
                rejects_stream: Some(_),
                ..
            }
        ),
        "rejects go to their stream: {output:?}"
    );
    assert!(granted.contains(&"firehose:PutRecordBatch".to_string()));
    assert!(
        !granted.contains(&"s3:PutObject".to_string()),
        "{granted:?}"
    );
}

#[test]
fn the_schedule_compacts_the_lake_through_the_backfill_code() {
    let template = template();
    let function = &template["Resources"]["BackfillFunction"]["Properties"];
    let event = &function["Events"]["Compaction"];
    assert_eq!(event["Type"], "Schedule");
    // The schedule's input is an event the function reads as a compaction of an S3 lake.
    let input = render(&template, &event["Properties"]["Input"]);
    let event: loglake_backfill_function::BackfillEvent = serde_json::from_str(&input).unwrap();
    let loglake_backfill_function::BackfillEvent::Compact(event) = event else {
        panic!("{input} is not read as a compaction");
    };
    let (lake, options) = event.compact.plan(0).unwrap();
    assert_eq!(lake.to_string(), "s3://x/");
    assert_eq!(options.target_bytes, 128 << 20);
    // Failed runs are kept, whether Lambda or EventBridge gave up.
    let dead_letters = &function["Events"]["Compaction"]["Properties"]["DeadLetterConfig"];
    assert!(dead_letters.get("Arn").is_some());
    let on_failure = &function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
}

/// Least privilege, for every role: actions are named (no `*`, no `service:*`), resources are
/// named (`*` only under a condition that narrows it, as `kms:ViaService` does), and the only
/// managed policy is the basic one that lets a function write its own logs.
#[test]
fn iam_roles_grant_named_actions_on_named_resources() {
    let template = template();
    let roles = resources(&template, "AWS::IAM::Role");
    assert!(roles.len() >= 6, "{:?}", roles.keys());
    let mut statements = 0;
    for (role, properties) in &roles {
        for arn in properties["ManagedPolicyArns"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let arn = render(&template, arn);
            assert!(
                arn.ends_with(":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
                "{role}: {arn}"
            );
        }
        for policy in properties["Policies"].as_sequence().into_iter().flatten() {
            for statement in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
                // `!If [condition, statement, !Ref AWS::NoValue]`: the statement when it applies
                let statement = match statement {
                    Value::Tagged(tagged) if tagged.tag == "!If" => &tagged.value[1],
                    other => other,
                };
                assert_eq!(statement["Effect"], "Allow", "{role}");
                let actions = match &statement["Action"] {
                    Value::Sequence(actions) => actions.iter().collect(),
                    action => vec![action],
                };
                for action in actions {
                    let action = action.as_str().unwrap();
                    assert!(!action.contains('*'), "{role}: {action}");
                }
                if statement["Resource"] == "*" {
                    assert!(
                        statement["Condition"].is_mapping(),
                        "{role}: `*` without a condition"
                    );
                }
                statements += 1;
            }
        }
    }
    assert!(statements >= 20, "{statements}");
}

/// Encryption at rest everywhere data stays, and in transit for every bucket (SECURITY.md): each
/// bucket encrypted, public access blocked and non-TLS requests denied by its policy; the stream,
/// queues and topic encrypted; Athena results encrypted; a delivery stream that is not fed by the
/// (encrypted) stream encrypts itself.
#[test]
fn data_is_encrypted_at_rest_and_buckets_refuse_plain_http() {
    let template = template();
    let buckets = resources(&template, "AWS::S3::Bucket");
    assert!(!buckets.is_empty());
    let policies = resources(&template, "AWS::S3::BucketPolicy");
    for (id, bucket) in &buckets {
        let rule = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
        assert_eq!(
            rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256",
            "{id}"
        );
        let block = &bucket["PublicAccessBlockConfiguration"];
        for setting in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(block[setting], true, "{id}: {setting}");
        }
        // its policy: a Deny of s3:* to anyone when aws:SecureTransport is false
        let denies_plain_http = policies.values().any(|policy| {
            render(&template, &policy["Bucket"]) == *id
                && (policy["PolicyDocument"]["Statement"]
                    .as_sequence()
                    .unwrap()
                    .iter())
                .any(|s| {
                    s["Effect"] == "Deny"
                        && s["Action"] == "s3:*"
                        && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
                })
        });
        assert!(denies_plain_http, "{id}: no policy denies plain HTTP");
    }
    for (id, stream) in resources(&template, "AWS::Kinesis::Stream") {
        assert_eq!(stream["StreamEncryption"]["EncryptionType"], "KMS", "{id}");
    }
    for (id, queue) in resources(&template, "AWS::SQS::Queue") {
        assert_eq!(queue["SqsManagedSseEnabled"], true, "{id}");
    }
    for (id, topic) in resources(&template, "AWS::SNS::Topic") {
        assert!(topic["KmsMasterKeyId"].is_string(), "{id}");
    }
    for (id, workgroup) in resources(&template, "AWS::Athena::WorkGroup") {
        let results = &workgroup["WorkGroupConfiguration"]["ResultConfiguration"];
        assert_eq!(
            results["EncryptionConfiguration"]["EncryptionOption"], "SSE_S3",
            "{id}"
        );
    }
    for (id, delivery) in resources(&template, "AWS::KinesisFirehose::DeliveryStream") {
        // either its own key, or (reading the stream) the stream's KMS encryption
        let own = render_if_else(
            &template,
            &delivery["DeliveryStreamEncryptionConfigurationInput"],
        );
        let reads_stream = !delivery["KinesisStreamSourceConfiguration"].is_null();
        assert!(
            own.is_some_and(|own| own["KeyType"] == "AWS_OWNED_CMK") || reads_stream,
            "{id}"
        );
    }
}

/// Firehose's JSON SerDe maps each row's short keys back to the columns: its mapping is exactly
/// the keys declared with the columns (schemas/src/schema.rs). With the stream crate's test that
/// every JSON row is its Arrow row rendered under those keys, the Parquet Firehose writes has
/// every column.
#[test]
fn firehose_maps_the_rows_json_keys_back_to_every_column() {
    let template = template();
    let delivery = &template["Resources"]["DeliveryStream"]["Properties"];
    let serde = &delivery["ExtendedS3DestinationConfiguration"]
        ["DataFormatConversionConfiguration"]["InputFormatConfiguration"]["Deserializer"]
        ["OpenXJsonSerDe"];
    let mapping: BTreeMap<&str, &str> = serde["ColumnToJsonKeyMappings"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(column, key)| (column.as_str().unwrap(), key.as_str().unwrap()))
        .collect();
    let declared: BTreeMap<&str, &str> = (COLUMNS.iter())
        .filter(|c| !c.partition && c.json_key != c.name)
        .map(|c| (c.name, c.json_key))
        .collect();
    assert_eq!(mapping, declared);
}

fn s3_destination(template: &Value) -> &Value {
    &template["Resources"]["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
}

/// Rows do not carry `dt` and `hour`: Firehose's partitioning query takes them from `ts`. The
/// template's query, run by jq (PyPI `jq`, in scripts/test's venv) on JSON rows the `ingest`
/// code writes, must give each row the directory the local lake writer gives it.
#[test]
fn the_partitioning_query_files_each_row_where_the_lake_writer_would() {
    let template = template();
    let destination = s3_destination(&template);
    assert_eq!(
        render(&template, &destination["Prefix"]),
        "access_logs/dt=!{partitionKeyFromQuery:dt}/hour=!{partitionKeyFromQuery:hour}/"
    );
    let processing = render_if_else(&template, &destination["ProcessingConfiguration"]).unwrap();
    let processors = render_if_else(&template, &processing["Processors"]).unwrap();
    let extraction = (processors.as_sequence().unwrap().iter())
        .find(|p| p["Type"] == "MetadataExtraction")
        .expect("a metadata extraction processor");
    let parameter = |name: &str| {
        let parameters = extraction["Parameters"].as_sequence().unwrap();
        let found = parameters.iter().find(|p| p["ParameterName"] == name);
        found.unwrap()["ParameterValue"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(parameter("JsonParsingEngine"), "JQ-1.6");
    let query = parameter("MetadataExtractionQuery");

    // Hours 0, 9, 10 and 23, a day and a year boundary, and a zone offset.
    let log = concat!(
        "10.0.0.1 - - [31/Dec/2025:23:59:59 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n",
        "10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n",
        "10.0.0.1 - - [01/Jan/2026:11:30:00 +0200] \"GET / HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n",
        "10.0.0.1 - - [01/Jan/2026:10:59:59 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n",
    );
    let mut decoder = loglake_decode::Decoder::<loglake_stream::JsonRowsBuilder>::with_row_builder(
        "rows.log",
        loglake_decode::DecoderOptions::default(),
    );
    decoder.decode(log.as_bytes());
    decoder.finish(true);
    let rows = decoder.flush().unwrap().rows;
    assert_eq!(rows.len(), 4);
    let expected: Vec<String> = (rows.iter())
        .map(|(_, hour)| {
            let dir = loglake_lake::lake::partition_dir(hour);
            let parts: Vec<_> = dir
                .iter()
                .map(|p| p.to_str().unwrap().to_string())
                .collect();
            format!("{}/{}", parts[parts.len() - 2], parts[parts.len() - 1])
        })
        .collect();
    assert_eq!(expected[1], "dt=2026-01-01/hour=00");

    let Some(python) = jq_python() else {
        return;
    };
    let script = r#"
import jq, sys
query = jq.compile(sys.argv[1])
for row in sys.stdin:
    keys = query.input_text(row).first()
    print(f"dt={keys['dt']}/hour={keys['hour']}")
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script, &query])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ndjson = rows.into_ndjson();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &ndjson).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "jq failed on {query}");
    let filed: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(filed, expected, "{query}");
}

/// Partitioning by arrival time: no dynamic partitioning (no per-GB charge) and no processor;
/// objects are filed by Firehose's clock in the lake's own layout.
#[test]
fn arrival_time_partitioning_needs_no_dynamic_partitioning() {
    let template = template_with("Partitioning", "ArrivalTime");
    let destination = s3_destination(&template);
    assert_eq!(
        render(&template, &destination["Prefix"]),
        "access_logs/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    );
    for setting in [
        "DynamicPartitioningConfiguration",
        "ProcessingConfiguration",
    ] {
        assert!(
            render_if_else(&template, &destination[setting]).is_none(),
            "{setting}"
        );
    }
    // Firehose reading the stream itself partitions with the transform's keys either way.
    let mut reads_stream = template_with("Wiring", "FirehoseReadsStream");
    reads_stream["Parameters"]["Partitioning"]["Default"] = "ArrivalTime".into();
    let destination = s3_destination(&reads_stream);
    assert!(render(&reads_stream, &destination["Prefix"]).contains("partitionKeyFromLambda"));
    let dynamic = render_if_else(
        &reads_stream,
        &destination["DynamicPartitioningConfiguration"],
    );
    assert_eq!(dynamic.unwrap()["Enabled"], true);
}

/// Every function that reads the enrichment folder has the layer that holds it, pointed at where
/// Lambda puts a layer's files; the layer is the folder the fetch script fills.
#[test]
fn functions_that_enrich_get_the_enrichment_layer() {
    let template = template();
    let layers = resources(&template, "AWS::Serverless::LayerVersion");
    let layer = layers["EnrichmentLayer"];
    assert_eq!(layer["ContentUri"].as_str(), Some("enrichment-data/"));
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-enrichment-data"),
    )
    .unwrap();
    assert!(script.contains("/../enrichment-data"));
    for file in [
        loglake_parser::enrich::COUNTRY_DATABASE_FILE,
        loglake_parser::enrich::CRAWLER_LIST_FILE,
    ] {
        assert!(script.contains(&format!("\"$out/{file}\"")), "{file}");
    }
    let mut enriching = 0;
    for (id, properties) in resources(&template, "AWS::Serverless::Function") {
        let env = function_env(&template, properties);
        let layers = properties["Layers"].as_sequence();
        match env.get(loglake_parser::enrich::ENRICHMENT_DIR_SETTING) {
            Some(dir) => {
                assert_eq!(dir, "/opt", "{id}");
                let layers = layers.unwrap_or_else(|| panic!("{id} has no layers"));
                assert!(
                    matches!(&layers[0], Value::Tagged(t) if t.tag == "!Ref" && t.value == "EnrichmentLayer"),
                    "{id}: {layers:?}"
                );
                enriching += 1;
            }
            None => assert!(layers.is_none(), "{id} has a layer it does not read"),
        }
    }
    assert_eq!(
        enriching, 4,
        "ingest, firehose-transform, backfill and the AWS logs reader"
    );
}

/// Nothing waits unseen: every failure queue of every wiring has an alarm on its depth that
/// exists whenever the queue does, and so do the failures that do not fail an invocation (the
/// ingest function's redeliveries, Firehose's conversion and transform failures).
#[test]
fn every_failure_queue_and_silent_failure_has_an_alarm() {
    let alarmed = |template: &Value, metric: &str, dimension: &str| -> Vec<String> {
        (resources(template, "AWS::CloudWatch::Alarm").into_iter())
            .filter(|(id, alarm)| alarm["MetricName"] == metric && exists(template, id))
            .map(|(_, alarm)| {
                let value = &alarm["Dimensions"][0]["Value"];
                assert_eq!(alarm["Dimensions"][0]["Name"], dimension);
                match value {
                    Value::Tagged(t) if t.tag == "!GetAtt" => t
                        .value
                        .as_str()
                        .unwrap()
                        .split('.')
                        .next()
                        .unwrap()
                        .to_string(),
                    Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().unwrap().to_string(),
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    };
    for wiring in ["LambdaWritesParquet", "LambdaIngest", "FirehoseReadsStream"] {
        let mut template = template_with("Wiring", wiring);
        template["Parameters"]["AwsLogsBucketName"]["Default"] = "aws-logs".into();
        let queues = alarmed(&template, "ApproximateNumberOfMessagesVisible", "QueueName");
        for (id, _) in resources(&template, "AWS::SQS::Queue") {
            if exists(&template, id) {
                assert!(
                    queues.contains(&id.to_string()),
                    "{wiring}: no alarm on {id}"
                );
            }
        }
        let ingest = exists(&template, "IngestFunction");
        let redeliveries = alarmed(&template, "RecordsRedelivered", "FunctionName");
        assert_eq!(
            redeliveries,
            ingest
                .then(|| "IngestFunction".to_string())
                .into_iter()
                .collect::<Vec<_>>(),
            "{wiring}"
        );
        let firehose = exists(&template, "DeliveryStream");
        let conversion = alarmed(&template, "FailedConversion.Records", "DeliveryStreamName");
        assert_eq!(conversion.len(), usize::from(firehose), "{wiring}");
        let transform = alarmed(&template, "ExecuteProcessing.Success", "DeliveryStreamName");
        assert_eq!(
            transform.len(),
            usize::from(wiring == "FirehoseReadsStream"),
            "{wiring}"
        );
    }
}

/// The ingest trigger starts at the oldest record the stream holds: records written while it is
/// created (or re-created) are read, not skipped.
#[test]
fn the_ingest_trigger_reads_from_the_oldest_record() {
    let template = template();
    let stream = &template["Resources"]["IngestFunction"]["Properties"]["Events"]["Stream"];
    assert_eq!(stream["Properties"]["StartingPosition"], "TRIM_HORIZON");
}

/// The stream keeps records for the retention parameter, and the trigger retries a batch for as
/// long (no age limit of its own cuts it shorter).
#[test]
fn failed_batches_stay_readable_for_the_retention_parameter() {
    let template = template_with("StreamRetentionHours", "72");
    let retention = &template["Resources"]["LogStream"]["Properties"]["RetentionPeriodHours"];
    assert_eq!(render(&template, retention), "72");
    let stream = &template["Resources"]["IngestFunction"]["Properties"]["Events"]["Stream"];
    assert_eq!(stream["Properties"]["MaximumRecordAgeInSeconds"], -1);
}

/// Load balancers can write their logs into the AWS logs bucket in every region: the regions
/// with an Elastic Load Balancing account (us-east-1's is 127311923021) grant it, the others the
/// log delivery service, and the condition choosing between them names exactly the mapping's
/// regions (so the policy's `!FindInMap` never looks up a region it lacks).
#[test]
fn load_balancer_log_delivery_is_granted_in_every_region() {
    let mut template = template_with("AwsLogsBucketName", "aws-logs");
    let accounts = template["Mappings"]["ElbLogDeliveryAccount"].clone();
    assert_eq!(accounts["us-east-1"]["Account"], "127311923021");
    let regions: Vec<&str> = (accounts.as_mapping().unwrap().keys())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(regions.len() >= 20);
    for region in regions
        .iter()
        .copied()
        .chain(["ap-southeast-5", "mx-central-1"])
    {
        // `!Ref AWS::Region` renders the default of a parameter of that name.
        template["Parameters"]["AWS::Region"] =
            serde_yaml::from_str(&format!("Default: {region}")).unwrap();
        let regional = evaluate(&template, &template["Conditions"]["ElbAccountRegion"]);
        assert_eq!(regional, regions.contains(&region), "{region}");
        let statements = &template["Resources"]["AwsLogsBucketPolicy"]["Properties"]
            ["PolicyDocument"]["Statement"];
        let delivery = (statements.as_sequence().unwrap().iter())
            .find(|s| s["Sid"] == "LoadBalancerLogDelivery")
            .unwrap();
        let principal = render_if_else(&template, &delivery["Principal"]).unwrap();
        if regional {
            assert!(
                matches!(&principal["AWS"], Value::Tagged(t) if t.tag == "!Sub"),
                "{region}: {principal:?}"
            );
        } else {
            assert_eq!(
                principal["Service"], "logdelivery.elasticloadbalancing.amazonaws.com",
                "{region}"
            );
        }
    }
}

/// Every alarm notifies a topic CloudWatch can publish to: encrypted with a customer managed key
/// whose policy lets CloudWatch use it (the AWS managed alias/aws/sns does not, and its policy
/// cannot be changed: Amazon SNS Developer Guide, "Key management").
#[test]
fn alarms_notify_a_topic_cloudwatch_may_publish_to() {
    let template = template();
    let target = |value: &Value| match value {
        Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() > 10);
    for (id, alarm) in alarms {
        let actions = alarm["AlarmActions"].as_sequence().unwrap();
        for action in actions {
            let topic = target(action);
            let key =
                target(&template["Resources"][topic.as_str()]["Properties"]["KmsMasterKeyId"]);
            let key = &template["Resources"][key.as_str()];
            assert_eq!(
                key["Type"], "AWS::KMS::Key",
                "{id}: {topic} is not under a customer managed key"
            );
            let statements = key["Properties"]["KeyPolicy"]["Statement"]
                .as_sequence()
                .unwrap();
            let cloudwatch = statements
                .iter()
                .find(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
                .expect("a statement for CloudWatch");
            let actions: Vec<&str> = (cloudwatch["Action"].as_sequence().unwrap().iter())
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(actions, ["kms:Decrypt", "kms:GenerateDataKey"]);
        }
    }
    // The report function publishes alerts there too, and is allowed to.
    let env = function_env(
        &template,
        &template["Resources"]["ReportFunction"]["Properties"],
    );
    assert_eq!(env["ALERT_TOPIC_ARN"], "AlarmTopic");
}
