//! Storage of the register service: SurrealDB through its `Any` engine, chosen by one URL
//! (`surrealkv://DIR` on disk by default, `mem://` in tests, `ws://HOST:PORT` for a server,
//! which can run on TiKV). The only module that speaks SurrealDB.
//!
//! Organisations and activities are kept as documents of the `registre/v1` shape, and every
//! change goes with a record of it (who, when, before, after) in the same transaction, so the
//! register can be rebuilt as it stood on any date.

mod access;
mod consents;
mod documents;
mod history;
mod records;
mod sessions;
mod users;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use surrealdb::Surreal;
use surrealdb::engine::any::{self, Any};
use surrealdb::opt::auth::Root;
use thiserror::Error;

pub use access::{EVENT_RETENTION_DAYS, Event, Token};
pub use consents::{Answered, Entry, SubjectRange};
pub use documents::{DocumentVersion, Rendering, Shown};
pub use history::{Change, FieldChange, Operation};
pub use records::{Dependent, SourceLink, WriteMode, Written};

use crate::model::{Activity, Organisation, Register};

/// The namespace and database registre uses on a server.
const NAMESPACE: &str = "registre";
const DATABASE: &str = "registre";

/// Schema migrations, applied in order, each once, each in one transaction.
pub const MIGRATIONS: [(&str, &str); 10] = [
    (
        "001-register",
        include_str!("store/schema/001-register.surql"),
    ),
    ("002-users", include_str!("store/schema/002-users.surql")),
    ("003-access", include_str!("store/schema/003-access.surql")),
    (
        "004-documents",
        include_str!("store/schema/004-documents.surql"),
    ),
    ("005-shared", include_str!("store/schema/005-shared.surql")),
    (
        "006-consent",
        include_str!("store/schema/006-consent.surql"),
    ),
    (
        "007-consent-links",
        include_str!("store/schema/007-consent-links.surql"),
    ),
    (
        "008-consent-evidence",
        include_str!("store/schema/008-consent-evidence.surql"),
    ),
    (
        "009-consent-tree",
        include_str!("store/schema/009-consent-tree.surql"),
    ),
    (
        "010-consent-event-text",
        include_str!("store/schema/010-consent-event-text.surql"),
    ),
];

/// A problem of the database, never of the register (registers are checked before storing).
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("base de données injoignable à `{url}` : {message}")]
    Connect { url: String, message: String },
    #[error("la migration `{name}` du schéma a échoué, rien n'a été modifié : {message}")]
    Migration { name: String, message: String },
    #[error("erreur de la base de données : {0}")]
    Database(String),
    #[error("donnée illisible dans la base : {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    /// Other activities take data from what a write would delete.
    #[error("{what} est la source de données d'autres activités")]
    InUse {
        what: String,
        dependents: Vec<Dependent>,
    },
    #[error("{0}")]
    NotFound(String),
    /// Another transaction wrote the same records first; the write can be tried again.
    #[error("écriture concurrente : {0}")]
    Retryable(String),
    /// Still in conflict with other writes after [`WRITE_TRIES`] tries.
    #[error("base de données occupée par des écritures concurrentes : {0}")]
    Busy(String),
}

impl From<surrealdb::Error> for StoreError {
    fn from(e: surrealdb::Error) -> Self {
        if is_retryable(&e) {
            StoreError::Retryable(e.to_string())
        } else {
            StoreError::Database(e.to_string())
        }
    }
}

/// Whether SurrealDB refused a transaction only because another one committed first.
fn is_retryable(e: &surrealdb::Error) -> bool {
    e.query_details() == Some(&surrealdb::types::QueryError::TransactionConflict)
        || e.to_string().contains("can be retried")
}

/// Fails with every statement error of `response`: [`StoreError::Retryable`] when one is a
/// conflict (in a transaction the other statements then only say they were not executed).
fn check_errors(response: &mut surrealdb::IndexedResults) -> Result<(), StoreError> {
    let errors = response.take_errors();
    if errors.is_empty() {
        return Ok(());
    }
    let message = errors
        .values()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ; ");
    if errors.values().any(is_retryable) {
        Err(StoreError::Retryable(message))
    } else {
        Err(StoreError::Database(message))
    }
}

/// Tries of a write that keeps meeting concurrent transactions on the same records.
pub const WRITE_TRIES: u32 = 8;

/// Runs `write` again while it fails on a retryable conflict, waiting a little longer and at
/// a random offset each time (so that writers who collided do not collide again); past
/// [`WRITE_TRIES`], [`StoreError::Busy`].
pub(crate) async fn retrying<T, F, Fut>(mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(StoreError::Retryable(message)) => {
                if attempt >= WRITE_TRIES {
                    return Err(StoreError::Busy(message));
                }
                let jitter = u64::from_le_bytes(crate::auth::random_bytes::<8>())
                    % (20 * u64::from(attempt));
                let wait = 10 * u64::from(attempt) + jitter;
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A server account, for `ws://` URLs.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"…")
            .finish()
    }
}

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
}

/// How much of the change log a reader gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Past {
    /// The history of the organisations that exist now, since they were created: what their
    /// own readers may see.
    Current,
    /// Deleted organisations too, and earlier organisations of the same id (administrators).
    Everything,
}

/// The statements and variables of one transaction, built piece by piece.
#[derive(Default)]
struct Plan {
    statements: String,
    vars: BTreeMap<String, Value>,
}

impl Plan {
    /// Binds `value` as `$prefix_name`; gives the name to write in a statement.
    fn var(&mut self, prefix: &str, name: &str, value: Value) -> String {
        let name = format!("{prefix}_{name}");
        let reference = format!("${name}");
        self.vars.insert(name, value);
        reference
    }

    fn push(&mut self, statement: String) {
        self.statements.push_str(&statement);
    }
}

/// The register database.
#[derive(Clone)]
pub struct Store {
    db: Surreal<Any>,
    /// One append at a time per organisation's consent chain within this process: they
    /// would only conflict on the chain head. Other processes on the same database still
    /// meet in the transaction, which is retried.
    appending: consents::Appending,
    /// What waits for the embedded engine to close.
    closing: Closing,
}

/// Waits, once every handle on the database is dropped, for the embedded engine to have
/// closed: written to its files what it held in memory and released its directory. A
/// process that exits before then leaves its recent writes in the engine's log only, to be
/// replayed at the next start (seconds per gigabyte), and the engine loses the write that
/// last switched its memory table (README, « Arrêt du service et base embarquée »). Nothing
/// to wait for on other engines.
#[derive(Debug, Clone)]
pub struct Closing {
    /// The lock file of the embedded engine's directory, held while it is open.
    lock: Option<std::path::PathBuf>,
}

impl Closing {
    fn of(url: &str) -> Self {
        let lock = url
            .strip_prefix("surrealkv://")
            .map(|rest| rest.split_once('?').map_or(rest, |(path, _)| path))
            .filter(|path| !path.is_empty())
            .map(|path| std::path::Path::new(path).join("LOCK"));
        Closing { lock }
    }

    /// Waits at most `within` for the engine to release its directory.
    pub async fn wait(self, within: std::time::Duration) -> Result<(), StoreError> {
        let Some(lock) = self.lock else {
            return Ok(());
        };
        let deadline = std::time::Instant::now() + within;
        loop {
            let file = match std::fs::File::open(&lock) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(StoreError::Database(format!("{} : {e}", lock.display()))),
            };
            match file.try_lock() {
                // Taken, so released by the engine; dropping the file releases it again.
                Ok(()) => return Ok(()),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StoreError::Database(format!("{} : {e}", lock.display())));
                }
            }
            if std::time::Instant::now() >= deadline {
                return Err(StoreError::Database(format!(
                    "la base embarquée n'est pas fermée après {} s : une connexion reste ouverte ; ses dernières écritures seront relues du journal au prochain démarrage",
                    within.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

#[derive(Deserialize)]
struct Stored {
    slug: String,
    position: i64,
    doc: Value,
}

#[derive(Deserialize)]
struct StoredActivity {
    organisation: String,
    position: i64,
    doc: Value,
}

impl Store {
    /// Connects, selects registre's namespace and database, and brings the schema up to date.
    pub async fn open(url: &str, credentials: Option<&Credentials>) -> Result<Self, StoreError> {
        Self::open_with(url, credentials, &MIGRATIONS).await
    }

    /// What waits for the engine to close once every handle on it (this store and its
    /// clones) is dropped.
    pub fn closing(&self) -> Closing {
        self.closing.clone()
    }

    /// The database itself: lets tests alter stored records as someone with database access
    /// could, to check that the consent ledger detects it.
    #[doc(hidden)]
    pub fn database(&self) -> &Surreal<Any> {
        &self.db
    }

    /// [`Store::open`] with other migrations: lets tests check that a failing one changes nothing.
    #[doc(hidden)]
    pub async fn open_with(
        url: &str,
        credentials: Option<&Credentials>,
        migrations: &[(&str, &str)],
    ) -> Result<Self, StoreError> {
        let connect_error = |e: surrealdb::Error| StoreError::Connect {
            url: url.to_owned(),
            message: e.to_string(),
        };
        let db = any::connect(url).await.map_err(connect_error)?;
        if let Some(c) = credentials {
            db.signin(Root {
                username: c.username.clone(),
                password: c.password.clone(),
            })
            .await
            .map_err(connect_error)?;
        }
        // A server may not have them yet; embedded engines accept this as well.
        let setup = format!(
            "DEFINE NAMESPACE IF NOT EXISTS {NAMESPACE}; USE NS {NAMESPACE}; DEFINE DATABASE IF NOT EXISTS {DATABASE};"
        );
        db.query(setup)
            .await
            .and_then(|r| r.check())
            .map_err(connect_error)?;
        db.use_ns(NAMESPACE)
            .use_db(DATABASE)
            .await
            .map_err(connect_error)?;
        let store = Store {
            db,
            appending: Default::default(),
            closing: Closing::of(url),
        };
        store.migrate(migrations).await?;
        Ok(store)
    }

    async fn migrate(&self, migrations: &[(&str, &str)]) -> Result<(), StoreError> {
        self.db
            .query(
                "DEFINE TABLE IF NOT EXISTS migration SCHEMAFULL;
                 DEFINE FIELD IF NOT EXISTS name ON migration TYPE string;
                 DEFINE FIELD IF NOT EXISTS applied_at ON migration TYPE datetime;",
            )
            .await
            .and_then(|r| r.check())?;
        let applied: Vec<String> = self
            .db
            .query("SELECT VALUE name FROM migration")
            .await?
            .take(0)?;
        for (name, statements) in migrations.iter().copied() {
            if applied.iter().any(|a| a == name) {
                continue;
            }
            let script = format!(
                "BEGIN TRANSACTION;\n{statements}\nCREATE migration SET name = $name, applied_at = time::now();\nCOMMIT TRANSACTION;"
            );
            self.db
                .query(script)
                .bind(("name", name))
                .await
                .and_then(|r| r.check())
                .map_err(|e| StoreError::Migration {
                    name: name.to_owned(),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Writes the whole database (schema, register, history, accounts) as a SurrealQL file.
    /// Embedded databases only: a SurrealDB server is backed up with its own tools.
    pub async fn backup(&self, path: &std::path::Path) -> Result<(), StoreError> {
        self.db.export(path).await.map_err(StoreError::from)
    }

    /// Loads a backup into this database, which should be new.
    pub async fn restore(&self, path: &std::path::Path) -> Result<(), StoreError> {
        self.db.import(path).await.map_err(StoreError::from)
    }

    /// Stores a register: each organisation replaces the one of the same id (activities it no
    /// longer lists are deleted), and every actual change is recorded under `author` at `now`.
    /// All or nothing: the whole file is written in one transaction.
    pub async fn import(
        &self,
        register: &Register,
        author: &str,
        now: Timestamp,
    ) -> Result<ImportSummary, StoreError> {
        retrying(move || self.import_once(register, author, now)).await
    }

    async fn import_once(
        &self,
        register: &Register,
        author: &str,
        now: Timestamp,
    ) -> Result<ImportSummary, StoreError> {
        self.check_deletions(register).await?;
        let mut summary = ImportSummary::default();
        let first_position = self.organisation_count().await?;
        // One transaction for the whole file, fed one organisation at a time: the statements
        // of a 28 000-activity register are never all in memory at once.
        let transaction = self.db.clone().begin().await?;
        for (i, org) in register.organisations.iter().enumerate() {
            let mut plan = Plan::default();
            let part = self
                .plan_organisation(&mut plan, "o", org, first_position + i)
                .await?;
            summary.created += part.created;
            summary.updated += part.updated;
            summary.deleted += part.deleted;
            summary.unchanged += part.unchanged;
            if plan.statements.is_empty() {
                continue;
            }
            plan.vars
                .insert("author".into(), Value::String(author.to_owned()));
            plan.vars
                .insert("at".into(), Value::String(now.to_string()));
            let vars = Value::Object(plan.vars.into_iter().collect());
            let sent = match transaction.query(plan.statements).bind(vars).await {
                Ok(mut response) => check_errors(&mut response),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = sent {
                // Nothing of the file is kept; the cancel's own failure changes nothing.
                let _ = transaction.cancel().await;
                return Err(e);
            }
        }
        transaction.commit().await?;
        Ok(summary)
    }

    /// Refuses an import that would delete an activity that an organisation outside the
    /// register still takes data from (inside it, the register's own checks apply).
    async fn check_deletions(&self, register: &Register) -> Result<(), StoreError> {
        let mut deleted = Vec::new();
        for org in &register.organisations {
            let (_, current) = self.current(&org.id).await?;
            let kept: std::collections::HashSet<&str> =
                org.activities().iter().map(|a| a.id.as_str()).collect();
            deleted.extend(
                current
                    .into_keys()
                    .filter(|id| !kept.contains(id.as_str()))
                    .map(|id| (org.id.clone(), id)),
            );
        }
        if deleted.is_empty() {
            return Ok(());
        }
        let in_file: std::collections::HashSet<&str> = register
            .organisations
            .iter()
            .map(|o| o.id.as_str())
            .collect();
        for link in self.source_links().await? {
            if in_file.contains(link.user.organisation.as_str()) {
                continue;
            }
            if let Some((org, id)) = deleted
                .iter()
                .find(|(o, a)| *o == link.source.organisation && *a == link.source.activity)
            {
                records::refuse_if_used(
                    std::slice::from_ref(&link.user),
                    &format!("l'activité `{id}` de `{org}`, absente du fichier importé,"),
                )?;
            }
        }
        Ok(())
    }

    async fn organisation_count(&self) -> Result<usize, StoreError> {
        let count: Option<i64> = self
            .db
            .query("RETURN count(SELECT VALUE id FROM organisation)")
            .await?
            .take(0)?;
        Ok(usize::try_from(count.unwrap_or(0)).unwrap_or(0))
    }

    /// Adds to `plan` what writing `org` changes, its variables named after `prefix`.
    async fn plan_organisation(
        &self,
        plan: &mut Plan,
        prefix: &str,
        org: &Organisation,
        position: usize,
    ) -> Result<ImportSummary, StoreError> {
        let (current_org, current_activities) = self.current(&org.id).await?;
        let org_doc = organisation_doc(org)?;
        let mut summary = ImportSummary::default();
        let id = plan.var(prefix, "org", Value::String(org.id.clone()));

        let org_position = current_org.as_ref().map_or(position as i64, |c| c.position);
        match &current_org {
            Some(c) if c.doc == org_doc => summary.unchanged += 1,
            existing => {
                let doc = plan.var(prefix, "doc", org_doc.clone());
                let at = plan.var(prefix, "position", Value::from(org_position));
                let before = plan.var(
                    prefix,
                    "before",
                    existing.as_ref().map_or(Value::Null, |c| c.doc.clone()),
                );
                let operation = if existing.is_some() {
                    summary.updated += 1;
                    "update"
                } else {
                    summary.created += 1;
                    "create"
                };
                plan.push(format!(
                    "UPSERT type::record('organisation', {id}) CONTENT {{ slug: {id}, position: {at}, doc: {doc}, updated_at: <datetime>$at }};\n\
                     CREATE change CONTENT {{ at: <datetime>$at, author: $author, organisation: {id}, activity: NONE, operation: '{operation}', position: {at}, before: {before} OR NONE, after: {doc} }};\n"
                ));
            }
        }

        let mut kept = std::collections::HashSet::new();
        for (j, activity) in org.activities().iter().enumerate() {
            kept.insert(activity.id.as_str());
            let doc = activity_doc(activity)?;
            let before = current_activities.get(&activity.id);
            let key = format!("{prefix}_a{j}");
            if let Some(b) = before.filter(|b| b.doc == doc) {
                // Only its place in the list moved (another activity came or went): the order
                // is kept, without recording a change of the activity itself.
                if b.position != j as i64 {
                    let slug = plan.var(&key, "slug", Value::String(activity.id.clone()));
                    let at = plan.var(&key, "position", Value::from(j as i64));
                    plan.push(format!(
                        "UPDATE type::record('activity', [{id}, {slug}]) SET position = {at};\n"
                    ));
                }
                summary.unchanged += 1;
                continue;
            }
            let operation = if before.is_some() {
                summary.updated += 1;
                "update"
            } else {
                summary.created += 1;
                "create"
            };
            let slug = plan.var(&key, "slug", Value::String(activity.id.clone()));
            let doc = plan.var(&key, "doc", doc);
            let at = plan.var(&key, "position", Value::from(j as i64));
            let before = plan.var(
                &key,
                "before",
                before.map_or(Value::Null, |b| b.doc.clone()),
            );
            plan.push(format!(
                "UPSERT type::record('activity', [{id}, {slug}]) CONTENT {{ organisation: {id}, slug: {slug}, position: {at}, doc: {doc}, updated_at: <datetime>$at }};\n\
                 CREATE change CONTENT {{ at: <datetime>$at, author: $author, organisation: {id}, activity: {slug}, operation: '{operation}', position: {at}, before: {before} OR NONE, after: {doc} }};\n"
            ));
        }
        for (k, (slug, gone)) in current_activities
            .iter()
            .filter(|(s, _)| !kept.contains(s.as_str()))
            .enumerate()
        {
            let key = format!("{prefix}_d{k}");
            let slug = plan.var(&key, "slug", Value::String(slug.clone()));
            let before = plan.var(&key, "before", gone.doc.clone());
            plan.push(format!(
                "DELETE type::record('activity', [{id}, {slug}]);\n\
                 CREATE change CONTENT {{ at: <datetime>$at, author: $author, organisation: {id}, activity: {slug}, operation: 'delete', position: NONE, before: {before}, after: NONE }};\n"
            ));
            summary.deleted += 1;
        }
        Ok(summary)
    }

    /// The stored organisation and its activities by id.
    async fn current(
        &self,
        org: &str,
    ) -> Result<(Option<Stored>, BTreeMap<String, Stored>), StoreError> {
        let mut response = self
            .db
            .query(
                "SELECT slug, position, doc FROM type::record('organisation', $org);
                 SELECT slug, position, doc FROM activity WHERE organisation = $org;",
            )
            .bind(("org", org.to_owned()))
            .await?;
        let organisation: Vec<Value> = response.take(0)?;
        let activities: Vec<Value> = response.take(1)?;
        let organisation = organisation
            .into_iter()
            .next()
            .map(decode::<Stored>)
            .transpose()?;
        let activities = activities
            .into_iter()
            .map(|v| decode::<Stored>(v).map(|s| (s.slug.clone(), s)))
            .collect::<Result<_, _>>()?;
        Ok((organisation, activities))
    }

    /// The register as stored now: every organisation, or `only` one with the organisations
    /// its activities take data from (so that the register reads and audits on its own), in
    /// register order.
    pub async fn register(&self, only: Option<&str>) -> Result<Register, StoreError> {
        let mut rows = match only {
            Some(org) => self.with_sources(&BTreeSet::from([org.to_owned()])).await?,
            None => self.organisations_where("true", &BTreeSet::new()).await?,
        };
        rows.sort_by_key(|(position, _)| *position);
        Ok(register_of(rows))
    }

    /// The organisations `roots` first, then those their activities take data from, directly
    /// or not: what reading or auditing them needs, and nothing else. One query per link of
    /// the longest chain of sources, whatever the number of organisations.
    pub async fn organisations_with_sources(
        &self,
        roots: &BTreeSet<String>,
    ) -> Result<Register, StoreError> {
        Ok(register_of(self.with_sources(roots).await?))
    }

    async fn with_sources(
        &self,
        roots: &BTreeSet<String>,
    ) -> Result<Vec<(i64, Organisation)>, StoreError> {
        let mut found = Vec::new();
        let mut loaded: BTreeSet<String> = BTreeSet::new();
        let mut wanted = roots.clone();
        while !wanted.is_empty() {
            let part = self.organisations_where("slug IN $ids", &wanted).await?;
            loaded.extend(wanted);
            wanted = source_organisations(part.iter().map(|(_, o)| o))
                .filter(|id| !loaded.contains(id))
                .collect();
            found.extend(part);
        }
        Ok(found)
    }

    /// The organisations matching `condition` (over `slug`, with `$ids` bound to `ids`), with
    /// their activities and positions, in register order.
    async fn organisations_where(
        &self,
        condition: &str,
        ids: &BTreeSet<String>,
    ) -> Result<Vec<(i64, Organisation)>, StoreError> {
        let activity_condition = condition.replace("slug", "organisation");
        let mut response = self
            .db
            .query(format!(
                "SELECT slug, position, doc FROM organisation WHERE {condition} ORDER BY position;
                 SELECT organisation, position, doc FROM activity WHERE {activity_condition} ORDER BY organisation, position;"
            ))
            .bind(("ids", ids.iter().cloned().collect::<Vec<_>>()))
            .await?;
        let organisations: Vec<Value> = response.take(0)?;
        let activities: Vec<Value> = response.take(1)?;
        let mut by_org: BTreeMap<String, Vec<(i64, Value)>> = BTreeMap::new();
        for a in activities {
            let a: StoredActivity = decode(a)?;
            by_org
                .entry(a.organisation)
                .or_default()
                .push((a.position, a.doc));
        }
        let rows = organisations
            .into_iter()
            .map(decode::<Stored>)
            .map(|row| row.map(|r| (r.position, r.slug, r.doc)))
            .collect::<Result<Vec<_>, _>>()?;
        assemble(rows, by_org)
    }

    /// The register as it stood at `at`, rebuilt from the change log: of the organisations
    /// that exist now, or, for [`Past::Everything`], of deleted ones too.
    pub async fn register_at(
        &self,
        only: Option<&str>,
        at: Timestamp,
        past: Past,
    ) -> Result<Register, StoreError> {
        let changes = self.changes(None, None, Some(at), past).await?;
        Ok(restrict(history::replay(&changes)?, only))
    }

    /// The changes of an organisation (or of one of its activities), oldest first.
    pub async fn history(
        &self,
        organisation: &str,
        activity: Option<&str>,
        past: Past,
    ) -> Result<Vec<Change>, StoreError> {
        self.changes(Some(organisation), Some(activity), None, past)
            .await
    }

    async fn changes(
        &self,
        organisation: Option<&str>,
        activity: Option<Option<&str>>,
        until: Option<Timestamp>,
        past: Past,
    ) -> Result<Vec<Change>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT <string> at AS at, author, organisation, activity, operation, position, before, after
                 FROM change
                 WHERE ($org = NONE OR organisation = $org)
                   AND ($filter_activity = false OR activity = $activity)
                   AND ($until = NONE OR at <= <datetime>$until)
                   AND ($retired OR retired != true)
                 ORDER BY at, id",
            )
            .bind(("retired", past == Past::Everything))
            .bind(("org", organisation.map(str::to_owned)))
            .bind(("filter_activity", activity.is_some()))
            .bind(("activity", activity.flatten().map(str::to_owned)))
            .bind(("until", until.map(|t| t.to_string())))
            .await?
            .take(0)?;
        rows.into_iter().map(history::Change::decode).collect()
    }
}

fn decode<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An organisation's document: all its fields but its activities, which are stored apart (an
/// empty list stays, so that a register written back has the fields it was read with).
fn organisation_doc(org: &Organisation) -> Result<Value, StoreError> {
    let mut org = org.clone();
    org.activities = org.activities.as_ref().map(|_| Vec::new());
    serde_json::to_value(org).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn activity_doc(activity: &Activity) -> Result<Value, StoreError> {
    serde_json::to_value(activity).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `only` one organisation and those its activities take data from, directly or not.
/// The other organisations the activities of `organisations` take data from (with repeats).
fn source_organisations<'a>(
    organisations: impl Iterator<Item = &'a Organisation>,
) -> impl Iterator<Item = String> {
    organisations
        .flat_map(|o| o.activities().iter().flat_map(|a| a.sources()))
        .filter_map(|s| match s {
            crate::model::Source::Activity(a) => a.organisation.clone(),
            _ => None,
        })
}

fn restrict(mut register: Register, only: Option<&str>) -> Register {
    let Some(only) = only else {
        return register;
    };
    let mut wanted = std::collections::BTreeSet::from([only.to_owned()]);
    loop {
        let sources: Vec<String> = source_organisations(
            register
                .organisations
                .iter()
                .filter(|o| wanted.contains(&o.id)),
        )
        .collect();
        let before = wanted.len();
        wanted.extend(sources);
        if wanted.len() == before {
            break;
        }
    }
    register.organisations.retain(|o| wanted.contains(&o.id));
    register
}

/// A register from organisation rows (position, id, document) and their activities.
fn assemble(
    mut organisations: Vec<(i64, String, Value)>,
    mut activities: BTreeMap<String, Vec<(i64, Value)>>,
) -> Result<Vec<(i64, Organisation)>, StoreError> {
    organisations.sort_by_key(|(position, _, _)| *position);
    let mut out = Vec::with_capacity(organisations.len());
    for (position, slug, doc) in organisations {
        let mut org: Organisation = decode(doc)?;
        let mut docs = activities.remove(&slug).unwrap_or_default();
        docs.sort_by_key(|(position, _)| *position);
        let list = docs
            .into_iter()
            .map(|(_, d)| decode::<Activity>(d))
            .collect::<Result<Vec<_>, _>>()?;
        if !list.is_empty() || org.activities.is_some() {
            org.activities = Some(list);
        }
        out.push((position, org));
    }
    Ok(out)
}

fn register_of(rows: Vec<(i64, Organisation)>) -> Register {
    Register {
        format: crate::model::FORMAT.to_owned(),
        organisations: rows.into_iter().map(|(_, o)| o).collect(),
    }
}
