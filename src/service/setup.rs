//! First start of a service: an empty database gets its first administrator and, unless
//! asked not to, the demo commune.

use jiff::Timestamp;

use jiff::SignedDuration;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Error, Recording, Registre, Result, on_pool_thread};
use crate::auth::{Actor, Grant, Role, User, hash_password, random_secret};
use crate::consent::Channel;

/// The first administrator's login, created on first start.
pub const FIRST_ADMIN: &str = "admin@registre.invalid";

/// What the first start did.
#[derive(Debug, Default)]
pub struct FirstStart {
    /// The first administrator's password, to show once, when the account was created now.
    pub admin_password: Option<String>,
    /// Whether the demo commune was loaded now.
    pub demo_loaded: bool,
}

/// Creates what an empty database lacks; a database already in use is left as it is.
pub async fn first_start(registre: &Registre, demo: bool) -> Result<FirstStart> {
    let (store, pack) = (&registre.store, &registre.pack);
    let now = Timestamp::now();
    // The key that signs the consent ledger's tree heads.
    store.ledger_key(now).await?;
    let mut done = FirstStart::default();
    if store.users().await?.is_empty() {
        let password = random_secret();
        let secret = password.clone();
        let hash = on_pool_thread(move || hash_password(&secret))
            .await?
            .map_err(|e| Error::Internal(e.to_string()))?;
        let admin = User {
            login: FIRST_ADMIN.to_owned(),
            name: "Administrateur".to_owned(),
            grants: vec![Grant {
                role: Role::Admin,
                organisation: None,
            }],
            disabled: false,
        };
        store.add_user(&admin, &hash, now).await?;
        store
            .security_event(
                "premier démarrage",
                "user.add",
                Some(FIRST_ADMIN),
                true,
                None,
            )
            .await?;
        done.admin_password = Some(password);
    }
    if demo && store.organisation_ids().await?.is_empty() {
        let register = crate::demo::demo_register(&pack.vocabulary, &pack.countries)
            .map_err(|e| Error::Internal(format!("registre de démonstration : {e}")))?;
        store
            .import(&register, "registre (démonstration)", now)
            .await?;
        demo_consents(registre, now).await?;
        done.demo_loaded = true;
    }
    Ok(done)
}

/// The commune of the demo and the agent at its counter.
const DEMO_COMMUNE: &str = "saint-aubin";
const DEMO_AGENT: &str = "accueil@saint-aubin.fr";

/// A few hundred consent events over the past year, so that every consent screen of the demo
/// has something to show: online and at the counter, for adults and for children (both
/// holders of parental authority), some declined, some withdrawn since.
async fn demo_consents(registre: &Registre, now: Timestamp) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let agent = Actor::command_line(DEMO_AGENT);
    let day = SignedDuration::from_hours(24);
    // (activity, minor, online answers, counter answers)
    let campaigns = [
        ("photos", true, 90, 40),
        ("lettre-information", false, 140, 20),
    ];
    let mut days_ago = 330i64;
    let mut given: Vec<(&str, String, String)> = Vec::new();
    for (activity, minor, online, counter) in campaigns {
        let choices: Vec<String> = registre
            .consent_form(DEMO_COMMUNE, activity)
            .await?
            .form
            .choice_ids()
            .map(str::to_owned)
            .collect();
        for (channel, count) in [(Channel::EnLigne, online), (Channel::Guichet, counter)] {
            let mut batch = Vec::with_capacity(count);
            for n in 0..count {
                let accepted: Vec<String> = choices
                    .iter()
                    .filter(|_| rng.random_bool(0.7))
                    .cloned()
                    .collect();
                let person = demo_person(&mut rng, n);
                let identity = if minor {
                    serde_json::json!({ "child": person.0, "name": person.1, "email": person.2 })
                } else {
                    serde_json::json!({ "name": person.1, "email": person.2 })
                };
                let at = now - day * i32::try_from(days_ago).unwrap_or(0);
                days_ago = (days_ago - i64::from(rng.random_bool(0.6))).max(40);
                batch.push((
                    Recording::answer(activity, accepted, identity, channel, minor),
                    at,
                ));
            }
            let actor = (channel != Channel::EnLigne).then_some(&agent);
            for event in registre.record_consents(actor, DEMO_COMMUNE, batch).await? {
                for answer in event.draft.answers.iter().filter(|a| a.accepted) {
                    given.push((activity, event.draft.subject.clone(), answer.choice.clone()));
                }
            }
        }
    }
    // Withdrawals in the last weeks, online with the private link or at the counter, one
    // every day or so.
    let mut withdrawn = 0i32;
    for (activity, _, _, _) in campaigns {
        for channel in [Channel::EnLigne, Channel::Guichet] {
            let batch: Vec<(Recording, Timestamp)> = given
                .iter()
                .enumerate()
                .filter(|(i, (a, _, _))| *a == activity && i % 9 == 4)
                .filter(|(i, _)| (i % 2 == 0) == (channel == Channel::EnLigne))
                .map(|(_, (_, subject, choice))| {
                    let minor = activity == "photos";
                    let recording = Recording::withdrawal(
                        activity,
                        vec![choice.clone()],
                        subject,
                        channel,
                        minor,
                    );
                    withdrawn += 1;
                    (recording, now - day * (36 - withdrawn).max(1))
                })
                .collect();
            let actor = (channel != Channel::EnLigne).then_some(&agent);
            registre.record_consents(actor, DEMO_COMMUNE, batch).await?;
        }
    }
    registre.store.sign_tree_head(DEMO_COMMUNE, now).await?;
    Ok(())
}

impl Registre {
    /// `count` answers to `activity`'s form from new, made-up people, online, in batches of
    /// one transaction each: large ledgers for load tests. `progress` hears the number
    /// recorded after each batch.
    pub async fn synthetic_consents(
        &self,
        org: &str,
        activity: &str,
        count: usize,
        seed: u64,
        mut progress: impl FnMut(usize),
    ) -> Result<usize> {
        const BATCH: usize = 1_000;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let computed = self.consent_form(org, activity).await?;
        let form = &computed.form;
        let minor = computed
            .activity()
            .consent
            .as_ref()
            .and_then(|c| c.parental_consent)
            .is_some();
        let choices: Vec<String> = form.choice_ids().map(str::to_owned).collect();
        let mut done = 0;
        while done < count {
            let size = BATCH.min(count - done);
            let batch = (0..size)
                .map(|n| {
                    let mut accepted: Vec<String> = choices
                        .iter()
                        .filter(|_| rng.random_bool(0.6))
                        .cloned()
                        .collect();
                    if accepted.is_empty() {
                        accepted.extend(choices.first().cloned());
                    }
                    let person = demo_person(&mut rng, done + n);
                    let identity = serde_json::json!({ "name": person.1, "email": person.2 });
                    let recording =
                        Recording::answer(activity, accepted, identity, Channel::EnLigne, minor);
                    (recording, Timestamp::now())
                })
                .collect();
            self.record_consents(None, org, batch).await?;
            done += size;
            progress(done);
        }
        Ok(done)
    }
}

/// A made-up family: the child's first name, the parent's full name, an address.
fn demo_person(rng: &mut ChaCha8Rng, n: usize) -> (String, String, String) {
    const FIRST: [&str; 12] = [
        "Camille", "Léa", "Hugo", "Chloé", "Louis", "Inès", "Jules", "Manon", "Gabriel", "Zoé",
        "Nathan", "Élise",
    ];
    const LAST: [&str; 12] = [
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
        "Moreau", "Simon", "Laurent",
    ];
    let child = FIRST[rng.random_range(0..FIRST.len())];
    let parent = FIRST[rng.random_range(0..FIRST.len())];
    let last = LAST[rng.random_range(0..LAST.len())];
    let email = format!(
        "{}.{}{n}@exemple.fr",
        deunicode::deunicode(parent).to_lowercase(),
        deunicode::deunicode(last).to_lowercase()
    );
    (format!("{child} {last}"), format!("{parent} {last}"), email)
}
