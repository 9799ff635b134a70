//! A rule pack: the Cedar schema, the rule files, the vocabulary and the country list, checked
//! together when loaded. A rule that does not type-check is refused with its file and line.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Effect, EntityUid, PolicyId, PolicySet, Schema, ValidationMode, Validator,
};
use include_dir::{Dir, include_dir};
use miette::Diagnostic;
use rayon::prelude::*;
use serde::Deserialize;

use super::finding::{KINDS, Severity};
use super::slice::Slicer;
use crate::vocabulary::{Countries, Vocabulary, Words};

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/policies");

/// The actions rules are written for (see `policies/schema.cedarschema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Declare,
    Review,
    Contact,
    Transfer,
    Reuse,
    ReuseUnjustified,
    ReuseTerms,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Declare,
        Action::Review,
        Action::Contact,
        Action::Transfer,
        Action::Reuse,
        Action::ReuseUnjustified,
        Action::ReuseTerms,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Declare => "declare",
            Action::Review => "review",
            Action::Contact => "contact",
            Action::Transfer => "transfer",
            Action::Reuse => "reuse",
            Action::ReuseUnjustified => "reuse_unjustified",
            Action::ReuseTerms => "reuse_terms",
        }
    }

    pub(super) fn uid(self) -> cedar_policy_core::ast::EntityUID {
        super::entities::uid("Action", self.name())
    }
}

/// One rule of the pack and the finding it produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// `true` for `forbid` rules, which produce findings; `permit` rules make a reuse lawful.
    pub forbids: bool,
    pub kind: String,
    pub severity: Severity,
    pub law: String,
    pub message: String,
    pub remedy: String,
    /// Where the rule is written.
    pub file: String,
    pub line: usize,
}

/// Name and version of a pack, carried by every report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
pub struct PackInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackFile {
    name: String,
    version: String,
    #[serde(default)]
    #[expect(dead_code, reason = "documentation for people reading the pack")]
    description: Option<String>,
}

/// A loaded, schema-validated rule pack.
#[derive(Debug)]
pub struct PolicyPack {
    pub info: PackInfo,
    pub vocabulary: Vocabulary,
    pub countries: Countries,
    /// Words of free text that reveal what ids may not say.
    pub words: Words,
    pub(super) schema: Schema,
    /// Each action's rules alone, so a request evaluates only the rules that can apply.
    pub(super) sets: HashMap<Action, PolicySet>,
    pub(super) slicer: Slicer,
    rules: BTreeMap<String, Rule>,
}

/// One problem in a rule pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackProblem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    /// The line of the file the problem is on, shown under the message.
    pub excerpt: Option<String>,
}

impl fmt::Display for PackProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let (Some(line), Some(excerpt)) = (self.line, &self.excerpt) {
            write!(f, "\n    {line:>4} | {excerpt}")?;
        }
        Ok(())
    }
}

/// Why a rule pack cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackError {
    /// A file is missing or unreadable.
    Unreadable(PackProblem),
    /// Rules, schema or vocabulary are invalid; every problem is listed.
    Invalid(Vec<PackProblem>),
}

impl std::error::Error for PackError {}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackError::Unreadable(p) => write!(f, "jeu de règles illisible : {p}"),
            PackError::Invalid(problems) => {
                write!(f, "jeu de règles invalide ({} erreur(s))", problems.len())?;
                for p in problems {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// The files of a pack, by path relative to its folder.
struct PackFiles(BTreeMap<String, String>);

impl PackFiles {
    fn get(&self, name: &str) -> Result<&str, PackError> {
        self.0.get(name).map(String::as_str).ok_or_else(|| {
            PackError::Unreadable(PackProblem {
                file: name.to_owned(),
                line: None,
                message: "fichier absent du jeu de règles".to_owned(),
                excerpt: None,
            })
        })
    }

    fn rule_files(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().filter(|(name, _)| name.ends_with(".cedar"))
    }
}

impl PolicyPack {
    /// The pack shipped with registre (`policies/`).
    pub fn builtin() -> Result<Self, PackError> {
        let mut files = BTreeMap::new();
        collect_builtin(&BUILTIN, &mut files);
        Self::from_files(PackFiles(files))
    }

    /// A pack from a folder laid out like `policies/`.
    pub fn from_dir(dir: &Path) -> Result<Self, PackError> {
        let mut files = BTreeMap::new();
        read_dir(dir, dir, &mut files)?;
        // Problems name files as the user knows them: under the folder given.
        let locate = |mut p: PackProblem| {
            p.file = dir.join(&p.file).display().to_string();
            p
        };
        Self::from_files(PackFiles(files)).map_err(|e| match e {
            PackError::Unreadable(p) => PackError::Unreadable(locate(p)),
            PackError::Invalid(problems) => {
                PackError::Invalid(problems.into_iter().map(locate).collect())
            }
        })
    }

    fn from_files(files: PackFiles) -> Result<Self, PackError> {
        // The data files, the schema and the rule files are read on every core: loading the
        // pack is most of the time of a small audit.
        let rule_files: Vec<(&String, &String)> = files.rule_files().collect();
        let (data, (schema, parsed)) = rayon::join(
            || Self::data_files(&files),
            || {
                rayon::join(
                    || Self::schema(&files),
                    || {
                        rule_files
                            .par_iter()
                            .map(|(name, text)| (*name, *text, PolicySet::from_str(text)))
                            .collect::<Vec<_>>()
                    },
                )
            },
        );
        let (info, vocabulary, countries, words) = data?;
        let schema = schema?;

        let mut problems = Vec::new();
        let mut all = PolicySet::new();
        let mut rules = BTreeMap::new();
        // Which file each rule comes from, to place validation errors.
        let mut origin: HashMap<String, (String, &str)> = HashMap::new();
        for (name, text, parsed) in parsed {
            let parsed = match parsed {
                Ok(set) => set,
                Err(e) => {
                    for d in e.iter() {
                        problems.push(PackProblem {
                            file: name.clone(),
                            line: first_line(d, text),
                            message: d.to_string(),
                            excerpt: None,
                        });
                    }
                    continue;
                }
            };
            for policy in parsed.policies() {
                let line = policy_line(policy, text);
                match rule_of(policy, name, line) {
                    Err(message) => problems.push(PackProblem {
                        file: name.clone(),
                        line: Some(line),
                        message,
                        excerpt: None,
                    }),
                    Ok(rule) => {
                        if let Some(previous) = rules.get(&rule.id).map(|r: &Rule| r.file.clone()) {
                            problems.push(PackProblem {
                                file: name.clone(),
                                line: Some(line),
                                message: format!(
                                    "l'identifiant de règle `{}` est déjà utilisé dans {previous}",
                                    rule.id
                                ),
                                excerpt: None,
                            });
                            continue;
                        }
                        let keyed = policy.new_id(PolicyId::new(&rule.id));
                        origin.insert(rule.id.clone(), (name.clone(), text.as_str()));
                        if let Err(e) = all.add(keyed) {
                            problems.push(PackProblem {
                                file: name.clone(),
                                line: Some(line),
                                message: e.to_string(),
                                excerpt: None,
                            });
                        }
                        rules.insert(rule.id.clone(), rule);
                    }
                }
            }
        }
        let validation = Validator::new(schema.clone()).validate(&all, ValidationMode::Strict);
        for error in validation.validation_errors() {
            let id = error.policy_id().to_string();
            let (file, line) = match origin.get(&id) {
                Some((file, text)) => (file.clone(), first_line(error, text)),
                None => (String::from("?"), None),
            };
            problems.push(PackProblem {
                file,
                line,
                message: format!("règle `{id}` : {error}"),
                excerpt: None,
            });
        }
        if !problems.is_empty() {
            problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            for problem in &mut problems {
                let text = files.0.get(&problem.file);
                problem.excerpt = problem
                    .line
                    .and_then(|l| text?.lines().nth(l.checked_sub(1)?))
                    .map(|l| l.trim_end().to_owned());
            }
            return Err(PackError::Invalid(problems));
        }
        let sets = split_by_action(&all);
        Ok(PolicyPack {
            info,
            vocabulary,
            countries,
            words,
            schema,
            slicer: Slicer::new(&sets),
            sets,
            rules,
        })
    }

    fn data_files(
        files: &PackFiles,
    ) -> Result<(PackInfo, Vocabulary, Countries, Words), PackError> {
        let info = pack_info(files.get("pack.yaml")?)?;
        let vocabulary = Vocabulary::from_yaml(files.get("vocabulary.yaml")?)
            .map_err(|e| invalid("vocabulary.yaml", None, e.to_string()))?;
        let countries = Countries::from_yaml(files.get("countries.yaml")?)
            .map_err(|e| invalid("countries.yaml", None, e.to_string()))?;
        let words = Words::from_yaml(files.get("words.yaml")?, &vocabulary)
            .map_err(|e| invalid("words.yaml", None, e.to_string()))?;
        Ok((info, vocabulary, countries, words))
    }

    fn schema(files: &PackFiles) -> Result<Schema, PackError> {
        let text = files.get("schema.cedarschema")?;
        let (schema, _warnings) = Schema::from_cedarschema_str(text)
            .map_err(|e| invalid("schema.cedarschema", first_line(&e, text), e.to_string()))?;
        Ok(schema)
    }

    /// Whether some rule names an organisation or an activity (`Organisation::"ville"`): the
    /// audit then cannot share answers between activities that look the same.
    pub fn names_entities(&self) -> bool {
        self.sets.values().flat_map(|set| set.policies()).any(|p| {
            let text = p.to_string();
            text.contains("Organisation::\"") || text.contains("Activity::\"")
        })
    }

    /// Evaluates every rule of an action for every request, without leaving out those whose
    /// membership guards cannot hold: slower, the same answers (used to check just that).
    pub fn without_slicing(mut self) -> Self {
        self.slicer = Slicer::unsliced(&self.sets);
        self
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.get(id)
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    /// Removes rules by id (a DPO disabling a built-in rule); unknown ids are returned.
    pub fn disable<'a>(&mut self, ids: &'a [String]) -> Vec<&'a str> {
        let unknown: Vec<&str> = ids
            .iter()
            .filter(|id| !self.rules.contains_key(id.as_str()))
            .map(String::as_str)
            .collect();
        if unknown.len() == ids.len() {
            // Nothing to leave out: the sets and their slicer stand as they are.
            return unknown;
        }
        for id in ids {
            self.rules.remove(id);
        }
        let mut kept = PolicySet::new();
        for set in self.sets.values() {
            for policy in set.policies() {
                if self.rules.contains_key(AsRef::<str>::as_ref(policy.id()))
                    && kept.policy(policy.id()).is_none()
                {
                    // Ids are unique in the pack: adding cannot fail.
                    let _ = kept.add(policy.clone());
                }
            }
        }
        self.sets = split_by_action(&kept);
        self.slicer = Slicer::new(&self.sets);
        unknown
    }
}

fn split_by_action(all: &PolicySet) -> HashMap<Action, PolicySet> {
    let mut sets: HashMap<Action, PolicySet> =
        Action::ALL.iter().map(|a| (*a, PolicySet::new())).collect();
    for policy in all.policies() {
        let applies = |action: Action| {
            let me = EntityUid::from(action.uid());
            match policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(uid) => uid == me,
                ActionConstraint::In(uids) => uids.contains(&me),
            }
        };
        for action in Action::ALL {
            if applies(action)
                && let Some(set) = sets.get_mut(&action)
            {
                // Ids are unique in the pack: adding cannot fail.
                let _ = set.add(policy.clone());
            }
        }
    }
    sets
}

fn rule_of(policy: &cedar_policy::Policy, file: &str, line: usize) -> Result<Rule, String> {
    // Looking an annotation up by name parses the name: the few there are are read once.
    let annotations: Vec<(&str, &str)> = policy.annotations().collect();
    let get = |key: &str| {
        annotations
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    };
    let id = get("id").ok_or("règle sans annotation @id")?;
    let forbids = policy.effect() == Effect::Forbid;
    let missing = |key: &str| format!("la règle `{id}` n'a pas d'annotation @{key}");
    let law = get("law").ok_or_else(|| missing("law"))?;
    let message = get("message").ok_or_else(|| missing("message"))?;
    let (kind, severity, remedy) = if forbids {
        let kind = get("kind").ok_or_else(|| missing("kind"))?;
        if !KINDS.contains(&kind.as_str()) {
            return Err(format!(
                "la règle `{id}` a un @kind inconnu `{kind}` (voir spec/findings.md)"
            ));
        }
        let severity = get("severity").ok_or_else(|| missing("severity"))?;
        let severity = Severity::from_str(&severity).map_err(|()| {
            format!("la règle `{id}` a une @severity inconnue `{severity}` : critique, elevee, moyenne ou info")
        })?;
        (
            kind,
            severity,
            get("remedy").ok_or_else(|| missing("remedy"))?,
        )
    } else {
        (
            String::new(),
            Severity::Info,
            get("remedy").unwrap_or_default(),
        )
    };
    Ok(Rule {
        id,
        forbids,
        kind,
        severity,
        law,
        message,
        remedy,
        file: file.to_owned(),
        line,
    })
}

/// The line of the `@id` annotation of a policy (1-based).
fn policy_line(policy: &cedar_policy::Policy, text: &str) -> usize {
    let offset = policy
        .annotations()
        .find(|(key, _)| *key == "id")
        .and_then(|(_, id)| text.find(&format!("@id(\"{id}\")")))
        .unwrap_or(0);
    line_at(text, offset)
}

fn first_line(diagnostic: &dyn Diagnostic, text: &str) -> Option<usize> {
    let label = diagnostic.labels()?.next()?;
    Some(line_at(text, label.offset()))
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn pack_info(text: &str) -> Result<PackInfo, PackError> {
    let value = crate::yaml::parse(text).map_err(|e| invalid("pack.yaml", e.line, e.message))?;
    let file: PackFile =
        serde_json::from_value(value).map_err(|e| invalid("pack.yaml", None, e.to_string()))?;
    Ok(PackInfo {
        name: file.name,
        version: file.version,
    })
}

fn invalid(file: &str, line: Option<usize>, message: String) -> PackError {
    PackError::Invalid(vec![PackProblem {
        file: file.to_owned(),
        line,
        message,
        excerpt: None,
    }])
}

fn collect_builtin(dir: &Dir<'_>, out: &mut BTreeMap<String, String>) {
    for file in dir.files() {
        if let Some(text) = file.contents_utf8() {
            out.insert(
                file.path().to_string_lossy().replace('\\', "/"),
                text.to_owned(),
            );
        }
    }
    for sub in dir.dirs() {
        collect_builtin(sub, out);
    }
}

fn read_dir(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<(), PackError> {
    let unreadable = |path: &Path, e: std::io::Error| {
        PackError::Unreadable(PackProblem {
            file: path.display().to_string(),
            line: None,
            message: e.to_string(),
            excerpt: None,
        })
    };
    let entries = std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| unreadable(dir, e))?.path();
        if path.is_dir() {
            read_dir(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let name = relative.to_string_lossy().replace('\\', "/");
            if name.ends_with(".cedar") || name.ends_with(".yaml") || name.ends_with(".cedarschema")
            {
                let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?;
                out.insert(name, text);
            }
        }
    }
    Ok(())
}
