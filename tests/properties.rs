//! Properties over any input: the loader never panics, and the YAML writer always writes what
//! the reader reads back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use proptest::prelude::*;
use registre::model::{SourceFormat, load_str};
use serde_json::{Map, Value};

const DEMO: &str = include_str!("../examples/commune-demo.yaml");

fn load_any(text: &str, format: SourceFormat) {
    let pack = common::pack();
    // Either outcome is fine; a panic fails the property.
    let _ = load_str(text, format, &pack.vocabulary, &pack.countries);
}

/// Small edits of a valid register: the closest inputs to real mistakes.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    SwapLines(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let pieces = prop::sample::select(vec![
        ":",
        " ",
        "-",
        "\n",
        "  ",
        "[",
        "]",
        "{",
        "}",
        "\"",
        "'",
        "&a",
        "*a",
        "!!str ",
        "null",
        "~",
        "P1X",
        "#",
        "\t",
        "é",
        "🦀",
        "{{x}}",
        "<script>",
        "permanent",
        "0x1F",
        "1e400",
        "yes",
    ]);
    prop_oneof![
        (any::<usize>(), pieces).prop_map(|(i, s)| Edit::Insert(i, s.to_owned())),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_owned();
    for e in edits {
        let at = |i: usize, t: &str| {
            let mut i = i % (t.len() + 1);
            while !t.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        match e {
            Edit::Insert(i, s) => {
                let i = at(*i, &text);
                text.insert_str(i, s);
            }
            Edit::Delete(i, n) => {
                let start = at(*i, &text);
                let end = at(start + n, &text).max(start);
                text.replace_range(start..end, "");
            }
            Edit::SwapLines(a, b) => {
                let mut lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let (a, b) = (a % lines.len(), b % lines.len());
                    lines.swap(a, b);
                }
                text = lines.join("\n");
            }
        }
    }
    text
}

/// Trees of the kinds a register holds: text (any Unicode), whole numbers, booleans, null.
fn tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::String),
        "[a-z0-9 ,:#\\-\\[\\]{}'\"!&*|>%@`?]{0,12}".prop_map(Value::String),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,8}|.{0,6}", inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn loader_never_panics_on_any_text(text in any::<String>()) {
        load_any(&text, SourceFormat::Yaml);
        load_any(&text, SourceFormat::Json);
    }

    #[test]
    fn loader_never_panics_on_edited_registers(edits in prop::collection::vec(edit(), 1..6)) {
        let text = apply(DEMO, &edits);
        load_any(&text, SourceFormat::Yaml);
    }

    #[test]
    fn yaml_writer_output_reads_back_the_same(value in tree()) {
        let root = Value::Object([("root".to_owned(), value)].into_iter().collect());
        let text = registre::yaml::to_string(&root);
        let back = registre::yaml::parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&root), "written:\n{}", text);
    }
}

#[test]
fn deep_nesting_and_huge_lines_are_refused_or_read_without_panic() {
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    load_any(&deep, SourceFormat::Yaml);
    load_any(&deep, SourceFormat::Json);
    let long = format!(
        "format: registre/v1\norganisations:\n  - id: x\n    name: {}\n    kind: commune\n",
        "é".repeat(1_000_000)
    );
    load_any(&long, SourceFormat::Yaml);

    // Block-style nesting, read where the web service reads uploads: a thread with a small
    // stack.
    let block = format!(
        "format: registre/v1\norganisations:\n{}x\n",
        "- ".repeat(100_000)
    );
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            load_any(&block, SourceFormat::Yaml);
            let error = registre::yaml::parse(&block).unwrap_err();
            assert!(error.message.contains("imbrication"), "{}", error.message);
        })
        .unwrap()
        .join()
        .unwrap();
}
