//! The plan of an audit: the distinct organisations, activities, transfers and reuses as the
//! rules see them, numbered once, and where each answer goes back in the register.

use std::collections::HashMap;
use std::sync::Arc;

use cedar_policy_core::ast::{Entity, EntityUID};
use cedar_policy_core::entities::{Entities, TCComputation};
use cedar_policy_core::extensions::Extensions;
use cedar_policy_core::validator::CoreSchema;
use rayon::prelude::*;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use super::entities::{
    self, ActivityFacts, OrganisationFacts, ReuseFacts, TextFacts, TextKey, uid,
};
use super::{AuditError, Finding, PolicyPack, Report, Severity};
use crate::model::{Activity, ActivitySource, Organisation, Register, Source};
use crate::vocabulary::{Kind, Vocabulary, fold};

/// Distinct values, numbered in order of first appearance.
/// Each value is kept once, in `items`; the index only holds positions, by hash.
pub(super) struct Interner<T> {
    by_hash: FxHashMap<u64, Vec<usize>>,
    pub items: Vec<T>,
}

impl<T: std::hash::Hash + Eq> Interner<T> {
    pub fn new() -> Self {
        Interner {
            by_hash: FxHashMap::default(),
            items: Vec::new(),
        }
    }

    pub fn intern(&mut self, item: T) -> usize {
        let Hashed { hash, item } = Hashed::of(item);
        let known = self.by_hash.get(&hash).into_iter().flatten();
        match known.copied().find(|i| self.items[*i] == item) {
            Some(i) => i,
            None => self.push(hash, item),
        }
    }

    /// Adds an item not interned yet: its number.
    fn push(&mut self, hash: u64, item: T) -> usize {
        self.items.push(item);
        let number = self.items.len() - 1;
        self.by_hash.entry(hash).or_default().push(number);
        number
    }
}

impl<T: std::hash::Hash + Eq + Send + Sync> Interner<T> {
    /// Interns every item, group after group, into an empty interner: the numbers `intern`
    /// would give one by one, the items compared on every core (a large register holds tens of
    /// thousands of activities, most of them alike). Numbers come back by group.
    pub fn of_all(groups: Vec<Vec<Hashed<T>>>) -> (Self, Vec<Vec<usize>>) {
        const SHARDS: usize = 64;
        let items: Vec<&Hashed<T>> = groups.iter().flatten().collect();
        // Equal items have equal hashes, hence the same shard.
        let mut shards: Vec<Vec<usize>> = vec![Vec::new(); SHARDS];
        for (i, item) in items.iter().enumerate() {
            shards[(item.hash >> 58) as usize].push(i);
        }
        let firsts: Vec<Vec<(usize, usize)>> = shards
            .par_iter()
            .map(|positions| {
                let mut seen: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
                positions
                    .iter()
                    .map(|&i| {
                        let earlier = seen.entry(items[i].hash).or_default();
                        match earlier.iter().find(|j| items[**j].item == items[i].item) {
                            Some(j) => (i, *j),
                            None => {
                                earlier.push(i);
                                (i, i)
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        // The position of the first item equal to each one.
        let mut first = vec![0; items.len()];
        for (i, j) in firsts.into_iter().flatten() {
            first[i] = j;
        }
        drop(items);
        let mut interner = Interner::new();
        let mut numbers: Vec<usize> = Vec::with_capacity(first.len());
        let numbered = groups
            .into_iter()
            .map(|group| {
                group
                    .into_iter()
                    .map(|Hashed { hash, item }| {
                        let i = numbers.len();
                        let number = if first[i] == i {
                            interner.push(hash, item)
                        } else {
                            numbers[first[i]]
                        };
                        numbers.push(number);
                        number
                    })
                    .collect()
            })
            .collect();
        (interner, numbered)
    }
}

/// An item with its hash.
pub(super) struct Hashed<T> {
    hash: u64,
    item: T,
}

impl<T: std::hash::Hash> Hashed<T> {
    pub fn of(item: T) -> Self {
        Hashed {
            hash: FxBuildHasher.hash_one(&item),
            item,
        }
    }
}

/// The requests an audit needs, and where each answer goes in the register.
pub(super) struct Plan<'a> {
    pub orgs: Interner<OrganisationFacts<'a>>,
    pub activities: Interner<ActivityFacts<'a>>,
    pub contacts: Interner<(usize, &'static str, String)>,
    pub transfers: Interner<(usize, &'a str, &'a str)>,
    pub reuses: Interner<(usize, usize, ReuseFacts<'a>)>,
    pub places: Vec<OrganisationPlace<'a>>,
    pub org_uids: Vec<EntityUID>,
    pub activity_uids: Vec<EntityUID>,
}

pub(super) struct OrganisationPlace<'a> {
    id: &'a str,
    facts: usize,
    contacts: Vec<usize>,
    activities: Vec<ActivityPlace<'a>>,
}

pub(super) struct ActivityPlace<'a> {
    id: &'a str,
    activity: &'a Activity,
    facts: usize,
    transfers: Vec<usize>,
    /// Per source (direct, or reached through other files) and new purpose.
    reuses: Vec<ReusePlace<'a>>,
}

pub(super) struct ReusePlace<'a> {
    /// The source activity's id.
    source: &'a str,
    request: usize,
    /// For a source reached through other files: the path of the data, source first.
    chain: Option<String>,
}

/// The activities each activity takes data from, as positions (organisation, activity) in
/// the register.
struct Sources<'a> {
    /// Per organisation, per activity: its direct sources.
    direct: Vec<Vec<Vec<Link<'a>>>>,
}

/// A direct source: its position, and the source entry that names it.
type Link<'a> = ((usize, usize), &'a ActivitySource);

/// A source of an activity: its position, the source entry through which its data came (for
/// a source reached through other files, the entry of the file that took from it), and the
/// path from the activity's direct source to it.
struct Hop<'a> {
    source: (usize, usize),
    entry: &'a ActivitySource,
    path: Vec<(usize, usize)>,
}

impl Hop<'_> {
    fn indirect(&self) -> bool {
        self.path.len() > 1
    }
}

impl<'a> Sources<'a> {
    fn of(register: &'a Register) -> Self {
        let by_id: HashMap<&str, (usize, &Organisation)> = register
            .organisations
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.as_str(), (i, o)))
            .collect();
        let direct = register
            .organisations
            .par_iter()
            .map(|org| {
                org.activities()
                    .iter()
                    .map(|activity| {
                        activity
                            .sources()
                            .iter()
                            .filter_map(|source| {
                                let Source::Activity(source) = source else {
                                    return None;
                                };
                                let holder = source.organisation.as_deref().unwrap_or(&org.id);
                                // Dangling sources are refused when the register is loaded.
                                let (k, holder) = by_id.get(holder)?;
                                let l = holder
                                    .activities()
                                    .iter()
                                    .position(|a| a.id == source.activity)?;
                                Some(((*k, l), source))
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Sources { direct }
    }

    /// The activities some other activity takes data from.
    fn feeding(&self) -> FxHashSet<(usize, usize)> {
        self.direct
            .iter()
            .flatten()
            .flatten()
            .map(|(source, _)| *source)
            .collect()
    }

    /// Every activity `me` takes data from, directly or through other files, each once by
    /// its shortest path: the regime of a source follows its data (LEGAL §4). A cycle of
    /// files feeding each other is walked once.
    fn trace(&self, me: (usize, usize)) -> Vec<Hop<'a>> {
        let mut seen: FxHashSet<(usize, usize)> = FxHashSet::default();
        seen.insert(me);
        let mut hops: Vec<Hop<'a>> = Vec::new();
        for (source, entry) in &self.direct[me.0][me.1] {
            if seen.insert(*source) {
                hops.push(Hop {
                    source: *source,
                    entry,
                    path: vec![*source],
                });
            }
        }
        let mut next = 0;
        while next < hops.len() {
            let (at, path) = (hops[next].source, hops[next].path.clone());
            next += 1;
            for (source, entry) in &self.direct[at.0][at.1] {
                if seen.insert(*source) {
                    let mut longer = path.clone();
                    longer.push(*source);
                    hops.push(Hop {
                        source: *source,
                        entry,
                        path: longer,
                    });
                }
            }
        }
        hops
    }
}

/// A reuse an activity asks about: the request, the source activity's id, and for a source
/// reached through other files the path of the data.
type AskedReuse<'a> = (
    Hashed<(usize, usize, ReuseFacts<'a>)>,
    &'a str,
    Option<String>,
);

/// Where the answer to a reuse goes: the source activity's id and, for a source reached
/// through other files, the path of the data.
type ReuseAt<'a> = (&'a str, Option<String>);

/// What the reuses of an activity are worked out from.
struct ReuseContext<'p, 'a> {
    register: &'a Register,
    sources: &'p Sources<'a>,
    natures: &'p [Vec<&'a str>],
    /// The distinct facts of each activity, by position.
    numbered: &'p [Vec<usize>],
    vocabulary: &'a Vocabulary,
}

impl<'a> ReuseContext<'_, 'a> {
    /// Per source (direct, or reached through other files) and new purpose of the activity
    /// at `(i, j)`.
    fn reuses(&self, (i, j): (usize, usize)) -> Vec<AskedReuse<'a>> {
        let register = self.register;
        let org = &register.organisations[i];
        let activity = &org.activities()[j];
        let me = self.numbered[i][j];
        let public_body = self.vocabulary.is_public_body(&org.kind);
        let mut reuses = Vec::new();
        for hop in self.sources.trace((i, j)) {
            let (k, l) = hop.source;
            let holder = &register.organisations[k];
            let source_activity = &holder.activities()[l];
            let chain = hop.indirect().then(|| {
                let names: Vec<String> = hop
                    .path
                    .iter()
                    .rev()
                    .map(|(k, l)| {
                        let holder = &register.organisations[*k];
                        let id = &holder.activities()[*l].id;
                        if *k == i {
                            format!("« {id} »")
                        } else {
                            format!("« {id} » ({})", holder.id)
                        }
                    })
                    .collect();
                names.join(" → ")
            });
            // A processor's data are its controller's: not a disclosure to a third party
            // (art. 4.10, 28).
            let same_controller =
                k == i || acts_for(activity, holder) || acts_for(source_activity, org);
            for purpose in activity.purposes() {
                let facts = ReuseFacts::of(
                    purpose,
                    hop.entry,
                    source_activity,
                    same_controller,
                    public_body,
                    hop.indirect(),
                    (self.natures[k].clone(), self.natures[i].clone()),
                    activity,
                    self.vocabulary,
                );
                reuses.push((
                    Hashed::of((me, self.numbered[k][l], facts)),
                    source_activity.id.as_str(),
                    chain.clone(),
                ));
            }
        }
        reuses
    }
}

/// The rule ids each distinct request satisfied.
pub(super) struct Answers {
    pub review: Vec<Vec<String>>,
    pub contact: Vec<Vec<String>>,
    pub declare: Vec<Vec<String>>,
    pub transfer: Vec<Vec<String>>,
    pub reuse: Vec<Vec<String>>,
}

impl<'a> Plan<'a> {
    pub fn new(register: &'a Register, pack: &'a PolicyPack) -> Self {
        let named = pack.names_entities();
        let vocabulary = &pack.vocabulary;
        let mut plan = Plan {
            orgs: Interner::new(),
            activities: Interner::new(),
            contacts: Interner::new(),
            transfers: Interner::new(),
            reuses: Interner::new(),
            places: Vec::with_capacity(register.organisations.len()),
            org_uids: Vec::new(),
            activity_uids: Vec::new(),
        };
        let org_facts: Vec<usize> = register
            .organisations
            .iter()
            .map(|org| plan.orgs.intern(OrganisationFacts::of(org, pack, named)))
            .collect();
        let sources = Sources::of(register);
        let feeding = sources.feeding();
        // Each distinct free text is read once.
        let keys: Vec<Vec<Hashed<TextKey<'a>>>> = register
            .organisations
            .par_iter()
            .map(|org| {
                org.activities()
                    .iter()
                    .map(|a| Hashed::of(TextKey::of(a)))
                    .collect()
            })
            .collect();
        let (texts, text_of) = Interner::of_all(keys);
        let read: Vec<TextFacts<'a>> = texts
            .items
            .par_iter()
            .map(|key| TextFacts::of(key, pack))
            .collect();
        // Facts are computed in parallel, then numbered in file order.
        let activity_facts: Vec<Vec<Hashed<ActivityFacts<'a>>>> = register
            .organisations
            .par_iter()
            .enumerate()
            .zip(&org_facts)
            .map(|((i, org), facts)| {
                org.activities()
                    .iter()
                    .enumerate()
                    .map(|(j, a)| {
                        let text = &read[text_of[i][j]];
                        let source = feeding.contains(&(i, j));
                        Hashed::of(ActivityFacts::of(org, *facts, a, pack, named, source, text))
                    })
                    .collect()
            })
            .collect();
        // What each organisation is, by its kind and name.
        let natures: Vec<Vec<&'a str>> = register
            .organisations
            .iter()
            .map(|o| entities::organisation_natures(o, &pack.words))
            .collect();
        let (activities, numbered) = Interner::of_all(activity_facts);
        plan.activities = activities;
        // The reuses each activity asks about, worked out on every core, then numbered.
        let context = ReuseContext {
            register,
            sources: &sources,
            natures: &natures,
            numbered: &numbered,
            vocabulary,
        };
        let asked: Vec<Vec<Vec<AskedReuse<'a>>>> = (0..register.organisations.len())
            .into_par_iter()
            .map(|i| {
                (0..register.organisations[i].activities().len())
                    .map(|j| context.reuses((i, j)))
                    .collect()
            })
            .collect();
        // The requests are numbered all at once; where each goes stays in place.
        let mut requests = Vec::new();
        let mut asked: Vec<Vec<Vec<ReuseAt<'a>>>> = asked
            .into_iter()
            .map(|org| {
                org.into_iter()
                    .map(|reuses| {
                        reuses
                            .into_iter()
                            .map(|(request, source, chain)| {
                                requests.push(request);
                                (source, chain)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let (reuses, numbers) = Interner::of_all(vec![requests]);
        plan.reuses = reuses;
        let mut numbers = numbers.into_iter().flatten();
        for (i, org) in register.organisations.iter().enumerate() {
            let addresses = [
                ("organisation", org.email.as_deref()),
                ("dpo", org.dpo.as_ref().and_then(|d| d.email.as_deref())),
            ];
            let contacts = addresses
                .into_iter()
                .filter_map(|(holder, email)| Some((holder, entities::email_domain(email?)?)))
                .map(|(holder, domain)| plan.contacts.intern((org_facts[i], holder, domain)))
                .collect();
            let mut activities = Vec::with_capacity(org.activities().len());
            for (j, activity) in org.activities().iter().enumerate() {
                let me = numbered[i][j];
                let transfers = activity
                    .transfers()
                    .iter()
                    .map(|t| {
                        let safeguard = t.safeguard.as_deref().unwrap_or("aucune");
                        plan.transfers.intern((me, t.country.as_str(), safeguard))
                    })
                    .collect();
                let reuses = std::mem::take(&mut asked[i][j])
                    .into_iter()
                    .zip(&mut numbers)
                    .map(|((source, chain), request)| ReusePlace {
                        source,
                        request,
                        chain,
                    })
                    .collect();
                activities.push(ActivityPlace {
                    id: &activity.id,
                    activity,
                    facts: me,
                    transfers,
                    reuses,
                });
            }
            plan.places.push(OrganisationPlace {
                id: &org.id,
                facts: org_facts[i],
                contacts,
                activities,
            });
        }
        plan.org_uids = (0..plan.orgs.items.len())
            .map(|i| plan.org_uid(i))
            .collect();
        plan.activity_uids = (0..plan.activities.items.len())
            .map(|i| plan.activity_uid(i))
            .collect();
        plan
    }

    fn org_uid(&self, i: usize) -> EntityUID {
        match self.orgs.items[i].identity {
            Some(id) => uid("Organisation", id),
            None => uid("Organisation", &format!("#{i}")),
        }
    }

    fn activity_uid(&self, i: usize) -> EntityUID {
        match self.activities.items[i].identity() {
            Some((org, activity)) => uid("Activity", &format!("{org}/{activity}")),
            None => uid("Activity", &format!("#{i}")),
        }
    }

    /// The entities every store holds: the vocabulary and the organisations.
    pub(super) fn base_store(&self, pack: &PolicyPack) -> Result<Entities, AuditError> {
        let mut reference = entities::vocabulary_entities(&pack.vocabulary);
        reference.extend(
            self.orgs
                .items
                .iter()
                .zip(&self.org_uids)
                .map(|(facts, uid)| facts.to_entity(uid.clone())),
        );
        with_entities(pack, &Entities::new(), reference)
    }

    /// `base` with the entities of the activities `activities` (indexes of distinct activity
    /// facts).
    pub(super) fn store(
        &self,
        pack: &PolicyPack,
        base: &Entities,
        activities: &[usize],
    ) -> Result<Entities, AuditError> {
        let built = activities
            .par_iter()
            .map(|i| {
                let facts = &self.activities.items[*i];
                facts.to_entity(
                    self.activity_uids[*i].clone(),
                    self.org_uids[facts.organisation].clone(),
                    &pack.vocabulary,
                )
            })
            .collect();
        with_entities(pack, base, built)
    }

    pub fn report(&self, pack: &PolicyPack, answers: &Answers) -> Report {
        // Each organisation on any core, the findings back in register order.
        let findings = self
            .places
            .par_iter()
            .flat_map_iter(|org| org.findings(pack, answers))
            .collect();
        Report {
            policy_pack: pack.info.clone(),
            organisations: self.places.len(),
            activities: self.places.iter().map(|o| o.activities.len()).sum(),
            findings,
        }
    }
}

impl OrganisationPlace<'_> {
    /// The findings of the organisation and its activities, in register order.
    fn findings(&self, pack: &PolicyPack, answers: &Answers) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut here = Vec::new();
        let at = (self.id, None);
        emit(&mut here, pack, at, None, &answers.review[self.facts]);
        for c in &self.contacts {
            emit(&mut here, pack, at, None, &answers.contact[*c]);
        }
        settle(&mut here, &mut findings);
        for activity in &self.activities {
            let at = (self.id, Some(activity.id));
            let from = emit(&mut here, pack, at, None, &answers.declare[activity.facts]);
            for finding in &mut here[from..] {
                if finding.kind == "special_category.possible" {
                    finding
                        .message
                        .push_str(&revealing_words(activity.activity, pack));
                }
            }
            for t in &activity.transfers {
                emit(&mut here, pack, at, None, &answers.transfer[*t]);
            }
            for reuse in &activity.reuses {
                let from = emit(
                    &mut here,
                    pack,
                    at,
                    Some(reuse.source),
                    &answers.reuse[reuse.request],
                );
                if let Some(chain) = &reuse.chain {
                    for finding in &mut here[from..] {
                        finding.message.push_str(&format!(
                            " Les données y parviennent par d'autres fichiers : {chain} → « {} ».",
                            activity.id
                        ));
                    }
                }
            }
            settle(&mut here, &mut findings);
        }
        findings
    }
}

/// A copy of `base` with `entities` added. Entities carry all their ancestors (see
/// `entities::Ancestry`); debug builds (the tests) check that, and every entity against the
/// schema.
pub(super) fn with_entities(
    pack: &PolicyPack,
    base: &Entities,
    entities: Vec<Entity>,
) -> Result<Entities, AuditError> {
    let schema = cfg!(debug_assertions).then(|| CoreSchema::new(pack.schema.as_ref()));
    let closure = if cfg!(debug_assertions) {
        TCComputation::EnforceAlreadyComputed
    } else {
        TCComputation::AssumeAlreadyComputed
    };
    base.clone()
        .add_entities(
            entities.into_iter().map(Arc::new),
            schema.as_ref(),
            closure,
            Extensions::all_available(),
        )
        .map_err(|e| AuditError::Internal(e.to_string()))
}

/// Whether `activity` is carried out as a processor on behalf of `controller` (named by its
/// e-mail address or its name).
fn acts_for(activity: &Activity, controller: &Organisation) -> bool {
    let Some(on_behalf) = &activity.on_behalf_of else {
        return false;
    };
    let same_email = match (&on_behalf.email, &controller.email) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    activity.role() == crate::model::Role::Processor
        && (same_email || fold(&on_behalf.name) == fold(&controller.name))
}

/// « Mots relevés : … », the words of an activity's name and description that reveal a
/// special category it does not declare.
fn revealing_words(activity: &Activity, pack: &PolicyPack) -> String {
    let vocabulary = &pack.vocabulary;
    let declared = |id: &str| {
        activity
            .data_categories()
            .iter()
            .any(|c| vocabulary.is_within(Kind::DataCategory, c, id))
    };
    let words: Vec<String> = pack
        .words
        .special_categories(&[entities::own_words(
            &activity.name,
            activity.description.as_deref(),
        )])
        .into_iter()
        .filter(|(id, _)| !declared(id))
        .flat_map(|(_, words)| words.into_iter().map(|w| format!("« {w} »")))
        .collect();
    format!(" Mots relevés : {}.", words.join(", "))
}

/// The findings of the `forbid` rules among `rules`, at an organisation (and activity);
/// where they start in `out`.
fn emit(
    out: &mut Vec<Finding>,
    pack: &PolicyPack,
    at: (&str, Option<&str>),
    related: Option<&str>,
    rules: &[String],
) -> usize {
    let from = out.len();
    for rule in rules
        .iter()
        .filter_map(|id| pack.rule(id))
        .filter(|r| r.forbids)
    {
        out.push(Finding {
            rule: rule.id.clone(),
            kind: rule.kind.clone(),
            severity: rule.severity,
            organisation: at.0.to_owned(),
            activity: at.1.map(str::to_owned),
            related_activity: related.map(str::to_owned),
            law: rule.law.clone(),
            message: rule.message.clone(),
            remedy: rule.remedy.clone(),
        });
    }
    from
}

/// Moves the findings of one place to the report: most serious first, then by kind, rule and
/// source; a rule fires once per place and source, whatever the number of purposes.
fn settle(here: &mut Vec<Finding>, findings: &mut Vec<Finding>) {
    here.sort_by(|a, b| {
        (a.severity, &a.kind, &a.rule, &a.related_activity).cmp(&(
            b.severity,
            &b.kind,
            &b.rule,
            &b.related_activity,
        ))
    });
    here.dedup_by(|a, b| a.rule == b.rule && a.related_activity == b.related_activity);
    // An `info` note is moot where a finding of the same kind stands (a DPIA presumption set
    // aside while the CNIL list requires one).
    let serious: Vec<String> = here
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.kind.clone())
        .collect();
    here.retain(|f| f.severity != Severity::Info || !serious.contains(&f.kind));
    findings.append(here);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_all_at_once_gives_the_numbers_of_one_by_one() {
        // Groups of uneven sizes, items repeated within and across groups.
        let groups: Vec<Vec<String>> = (0..40)
            .map(|g| {
                (0..g % 7)
                    .map(|k| format!("activité-{}", (g * 13 + k * 7) % 23))
                    .collect()
            })
            .collect();
        let mut one_by_one = Interner::new();
        let expected: Vec<Vec<usize>> = groups
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|item| one_by_one.intern(item.clone()))
                    .collect()
            })
            .collect();
        let hashed = groups
            .into_iter()
            .map(|group| group.into_iter().map(Hashed::of).collect())
            .collect();
        let (all_at_once, numbers) = Interner::of_all(hashed);
        assert_eq!(numbers, expected);
        assert_eq!(all_at_once.items, one_by_one.items);
        assert_eq!(all_at_once.items.len(), 23);
    }
}
