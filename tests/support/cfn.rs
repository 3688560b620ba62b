//! Reading template.yaml as a deployed stack would see it: parameters at their defaults (or the
//! value a test sets), conditions evaluated, `!If` branches chosen. Shared by the tests that check
//! the template against the code and those that run its wirings through the stand-ins.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

pub fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Resources of a type, by logical id.
pub fn resources<'a>(template: &'a Value, kind: &str) -> BTreeMap<&'a str, &'a Value> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str().unwrap(), &r["Properties"]))
        .collect()
}

/// A value as a deployed stack would see it, approximately: `!Ref` of a parameter is its
/// default, of a resource its logical id; `!Sub` substitutes `x` for every variable.
pub fn render(template: &Value, value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Tagged(tagged) if tagged.tag == "!Ref" => {
            let name = tagged.value.as_str().unwrap();
            match &template["Parameters"][name]["Default"] {
                Value::Null => name.to_string(),
                default => render(template, default),
            }
        }
        Value::Tagged(tagged) if tagged.tag == "!Sub" => {
            let text = match &tagged.value {
                Value::Sequence(parts) => parts[0].as_str().unwrap(),
                other => other.as_str().unwrap(),
            };
            let mut out = String::new();
            let mut rest = text;
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                out.push('x');
                rest = &rest[start + rest[start..].find('}').unwrap() + 1..];
            }
            out + rest
        }
        Value::Tagged(tagged) if tagged.tag == "!If" => {
            let [condition, then, otherwise] = tagged.value.as_sequence().unwrap().as_slice()
            else {
                panic!("!If takes three values");
            };
            let holds = evaluate(
                template,
                &template["Conditions"][condition.as_str().unwrap()],
            );
            render(template, if holds { then } else { otherwise })
        }
        other => panic!("cannot render {other:?}"),
    }
}

/// A condition as a deployed stack with the parameters' defaults would evaluate it
/// (`!Equals`, `!Not`, `!Or` and `!Condition`: what the template uses).
pub fn evaluate(template: &Value, condition: &Value) -> bool {
    let Value::Tagged(tagged) = condition else {
        panic!("a condition: {condition:?}");
    };
    if tagged.tag == "!Condition" {
        let name = tagged.value.as_str().unwrap();
        return evaluate(template, &template["Conditions"][name]);
    }
    let operands = tagged.value.as_sequence().unwrap();
    match tagged.tag.to_string().as_str() {
        "!Equals" => render(template, &operands[0]) == render(template, &operands[1]),
        "!Not" => !evaluate(template, &operands[0]),
        "!Or" => operands.iter().any(|o| evaluate(template, o)),
        other => panic!("cannot evaluate {other}"),
    }
}

/// The value an `!If` takes with the parameters' defaults, or the value itself.
pub fn render_if_else<'a>(template: &Value, value: &'a Value) -> Option<&'a Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!If" => {
            let branches = tagged.value.as_sequence().unwrap();
            let holds = evaluate(
                template,
                &template["Conditions"][branches[0].as_str().unwrap()],
            );
            let chosen = if holds { &branches[1] } else { &branches[2] };
            match chosen {
                Value::Tagged(t) if t.tag == "!Ref" && t.value == "AWS::NoValue" => None,
                other => Some(other),
            }
        }
        Value::Null => None,
        other => Some(other),
    }
}

/// The template with one parameter's default changed, as a stack deployed with that value.
pub fn template_with(parameter: &str, value: &str) -> Value {
    let mut template = template();
    assert!(
        template["Parameters"][parameter].is_mapping(),
        "{parameter}"
    );
    template["Parameters"][parameter]["Default"] = Value::String(value.to_string());
    template
}
