//! One organisation or one activity at a time: what the API reads and writes. Each write and
//! its change record go in one transaction, and a write never leaves the register unreadable
//! (an activity other activities take data from cannot be deleted).

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::{Store, StoreError, activity_doc, decode, organisation_doc, retrying};
use crate::model::{Activity, Organisation, Source};

/// Whether a write creates a record or replaces one that must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Update,
}

impl WriteMode {
    fn as_str(self) -> &'static str {
        match self {
            WriteMode::Create => "create",
            WriteMode::Update => "update",
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    /// The stored record already said exactly this: nothing written, nothing recorded.
    Unchanged,
}

/// An activity that takes data from another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    pub organisation: String,
    pub activity: String,
}

/// One activity (`user`) taking data from another (`source`).
pub struct SourceLink {
    pub source: Dependent,
    pub user: Dependent,
}

/// The error a transaction raises (`THROW`) when the record is not in the state the write
/// expects; told apart from database errors by this prefix.
const MISSING: &str = "registre:missing";
const EXISTS: &str = "registre:exists";

/// The outcome of a write transaction: the statement that threw tells why it failed (the
/// others only say that the transaction did).
fn written_or(
    result: Result<surrealdb::IndexedResults, surrealdb::Error>,
    what: &str,
) -> Result<(), StoreError> {
    let mut response = result.map_err(|e| write_error(e.to_string(), what))?;
    let errors = response.take_errors();
    if errors.is_empty() {
        return Ok(());
    }
    let messages: Vec<String> = errors.values().map(ToString::to_string).collect();
    Err(write_error(messages.join(" ; "), what))
}

fn write_error(message: String, what: &str) -> StoreError {
    if message.contains("can be retried") {
        StoreError::Retryable(message)
    } else if message.contains(MISSING) {
        StoreError::NotFound(format!("{what} introuvable"))
    } else if message.contains(EXISTS) {
        StoreError::Conflict(format!("{what} existe déjà"))
    } else {
        StoreError::Database(message)
    }
}

impl Store {
    /// The ids of every organisation, in register order.
    pub async fn organisation_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .db
            .query("SELECT VALUE slug FROM organisation ORDER BY position")
            .await?
            .take(0)?)
    }

    /// Every organisation without its activities, in register order: one query.
    pub async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        let docs: Vec<Value> = self
            .db
            .query("SELECT VALUE doc FROM organisation ORDER BY position")
            .await?
            .take(0)?;
        docs.into_iter().map(decode).collect()
    }

    /// One organisation, without its activities.
    pub async fn organisation(&self, id: &str) -> Result<Option<Organisation>, StoreError> {
        let docs: Vec<Value> = self
            .db
            .query("SELECT VALUE doc FROM type::record('organisation', $org)")
            .bind(("org", id.to_owned()))
            .await?
            .take(0)?;
        docs.into_iter().next().map(decode).transpose()
    }

    /// The activities of an organisation, in register order.
    pub async fn activities(&self, organisation: &str) -> Result<Vec<Activity>, StoreError> {
        let docs: Vec<Value> = self
            .db
            .query("SELECT VALUE doc FROM activity WHERE organisation = $org ORDER BY position")
            .bind(("org", organisation.to_owned()))
            .await?
            .take(0)?;
        docs.into_iter().map(decode).collect()
    }

    /// One activity.
    pub async fn activity(
        &self,
        organisation: &str,
        id: &str,
    ) -> Result<Option<Activity>, StoreError> {
        let docs: Vec<Value> = self
            .db
            .query("SELECT VALUE doc FROM type::record('activity', [$org, $slug])")
            .bind(("org", organisation.to_owned()))
            .bind(("slug", id.to_owned()))
            .await?
            .take(0)?;
        docs.into_iter().next().map(decode).transpose()
    }

    /// Creates or replaces an organisation's own fields (its activities are written apart).
    pub async fn save_organisation(
        &self,
        organisation: &Organisation,
        mode: WriteMode,
        author: &str,
        now: Timestamp,
    ) -> Result<Written, StoreError> {
        retrying(move || self.save_organisation_once(organisation, mode, author, now)).await
    }

    async fn save_organisation_once(
        &self,
        organisation: &Organisation,
        mode: WriteMode,
        author: &str,
        now: Timestamp,
    ) -> Result<Written, StoreError> {
        let doc = organisation_doc(organisation)?;
        let current = self.organisation(&organisation.id).await?;
        if let Some(current) = &current
            && mode == WriteMode::Update
            && organisation_doc(current)? == doc
        {
            return Ok(Written::Unchanged);
        }
        let result = self
            .db
            .query(
                "BEGIN TRANSACTION;
                 LET $current = (SELECT position, doc FROM type::record('organisation', $org))[0];
                 IF $mode = 'create' AND $current != NONE { THROW $exists };
                 IF $mode = 'update' AND $current = NONE { THROW $missing };
                 LET $position = $current.position ?? count(SELECT VALUE id FROM organisation);
                 UPSERT type::record('organisation', $org) CONTENT { slug: $org, position: $position, doc: $doc, updated_at: <datetime>$at };
                 CREATE change CONTENT { at: <datetime>$at, author: $author, organisation: $org, activity: NONE, operation: $mode, position: $position, before: $current.doc, after: $doc };
                 COMMIT TRANSACTION;",
            )
            .bind(("org", organisation.id.clone()))
            .bind(("doc", doc))
            .bind(("mode", mode.as_str()))
            .bind(("author", author.to_owned()))
            .bind(("at", now.to_string()))
            .bind(("missing", MISSING))
            .bind(("exists", EXISTS))
            .await;
        written_or(result, &format!("l'organisme `{}`", organisation.id))?;
        Ok(match mode {
            WriteMode::Create => Written::Created,
            WriteMode::Update => Written::Updated,
        })
    }

    /// Deletes an organisation and its activities, recording each deletion. Refused while
    /// another organisation's activities take data from it. The roles and API tokens on it
    /// end with it, and its history is retired: a new organisation of the same id starts
    /// with none of it (only administrators still read it).
    pub async fn delete_organisation(
        &self,
        id: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        retrying(move || self.delete_organisation_once(id, author, now)).await
    }

    async fn delete_organisation_once(
        &self,
        id: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let outside: Vec<Dependent> = self
            .dependents(id, None)
            .await?
            .into_iter()
            .filter(|d| d.organisation != id)
            .collect();
        refuse_if_used(&outside, &format!("l'organisme `{id}`"))?;
        let result = self
            .db
            .query(
                "BEGIN TRANSACTION;
                 LET $current = (SELECT doc FROM type::record('organisation', $org))[0];
                 IF $current = NONE { THROW $missing };
                 FOR $a IN (SELECT slug, doc FROM activity WHERE organisation = $org) {
                     CREATE change CONTENT { at: <datetime>$at, author: $author, organisation: $org, activity: $a.slug, operation: 'delete', position: NONE, before: $a.doc, after: NONE };
                 };
                 DELETE activity WHERE organisation = $org;
                 DELETE type::record('organisation', $org);
                 CREATE change CONTENT { at: <datetime>$at, author: $author, organisation: $org, activity: NONE, operation: 'delete', position: NONE, before: $current.doc, after: NONE };
                 UPDATE change SET retired = true WHERE organisation = $org;
                 UPDATE document_version SET retired = true WHERE organisation = $org;
                 UPDATE user SET grants = grants.filter(|$g| $g.organisation != $org), updated_at = <datetime>$at
                     WHERE $org IN grants.organisation;
                 UPDATE token SET revoked = true WHERE organisation = $org AND revoked = false;
                 COMMIT TRANSACTION;",
            )
            .bind(("org", id.to_owned()))
            .bind(("author", author.to_owned()))
            .bind(("at", now.to_string()))
            .bind(("missing", MISSING))
            .await;
        written_or(result, &format!("l'organisme `{id}`"))?;
        Ok(())
    }

    /// Creates or replaces one activity of an organisation. A new activity goes last.
    pub async fn save_activity(
        &self,
        organisation: &str,
        activity: &Activity,
        mode: WriteMode,
        author: &str,
        now: Timestamp,
    ) -> Result<Written, StoreError> {
        retrying(move || self.save_activity_once(organisation, activity, mode, author, now)).await
    }

    async fn save_activity_once(
        &self,
        organisation: &str,
        activity: &Activity,
        mode: WriteMode,
        author: &str,
        now: Timestamp,
    ) -> Result<Written, StoreError> {
        let doc = activity_doc(activity)?;
        if mode == WriteMode::Update
            && let Some(current) = self.activity(organisation, &activity.id).await?
            && activity_doc(&current)? == doc
        {
            return Ok(Written::Unchanged);
        }
        let what = format!("l'activité `{}` de `{organisation}`", activity.id);
        let result = self
            .db
            .query(
                "BEGIN TRANSACTION;
                 IF (SELECT VALUE id FROM type::record('organisation', $org))[0] = NONE { THROW $missing };
                 LET $current = (SELECT position, doc FROM type::record('activity', [$org, $slug]))[0];
                 IF $mode = 'create' AND $current != NONE { THROW $exists };
                 IF $mode = 'update' AND $current = NONE { THROW $missing };
                 LET $position = $current.position ?? $appended;
                 UPSERT type::record('activity', [$org, $slug]) CONTENT { organisation: $org, slug: $slug, position: $position, doc: $doc, updated_at: <datetime>$at };
                 CREATE change CONTENT { at: <datetime>$at, author: $author, organisation: $org, activity: $slug, operation: $mode, position: $position, before: $current.doc, after: $doc };
                 COMMIT TRANSACTION;",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("slug", activity.id.clone()))
            // A new activity goes after every other: positions need only be ordered, and
            // the time of writing orders them without reading the whole organisation.
            .bind(("appended", appended_position(now)))
            .bind(("doc", doc))
            .bind(("mode", mode.as_str()))
            .bind(("author", author.to_owned()))
            .bind(("at", now.to_string()))
            .bind(("missing", MISSING))
            .bind(("exists", EXISTS))
            .await;
        written_or(result, &what)?;
        Ok(match mode {
            WriteMode::Create => Written::Created,
            WriteMode::Update => Written::Updated,
        })
    }

    /// Deletes one activity, recording it. Refused while other activities take data from it.
    pub async fn delete_activity(
        &self,
        organisation: &str,
        id: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        retrying(move || self.delete_activity_once(organisation, id, author, now)).await
    }

    async fn delete_activity_once(
        &self,
        organisation: &str,
        id: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let what = format!("l'activité `{id}` de `{organisation}`");
        refuse_if_used(&self.dependents(organisation, Some(id)).await?, &what)?;
        let result = self
            .db
            .query(
                "BEGIN TRANSACTION;
                 LET $current = (SELECT doc FROM type::record('activity', [$org, $slug]))[0];
                 IF $current = NONE { THROW $missing };
                 DELETE type::record('activity', [$org, $slug]);
                 CREATE change CONTENT { at: <datetime>$at, author: $author, organisation: $org, activity: $slug, operation: 'delete', position: NONE, before: $current.doc, after: NONE };
                 COMMIT TRANSACTION;",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("slug", id.to_owned()))
            .bind(("author", author.to_owned()))
            .bind(("at", now.to_string()))
            .bind(("missing", MISSING))
            .await;
        written_or(result, &what)?;
        Ok(())
    }

    /// The activities that take data from `organisation`'s activity `activity` (any of its
    /// activities when `None`), outside the activity itself.
    pub async fn dependents(
        &self,
        organisation: &str,
        activity: Option<&str>,
    ) -> Result<Vec<Dependent>, StoreError> {
        Ok(self
            .source_links()
            .await?
            .into_iter()
            .filter(|link| {
                link.source.organisation == organisation
                    && activity.is_none_or(|a| a == link.source.activity)
                    && !(link.user.organisation == organisation
                        && Some(link.user.activity.as_str()) == activity)
            })
            .map(|link| link.user)
            .collect())
    }

    /// The (organisation, activity) ids of every activity.
    pub async fn activity_keys(&self) -> Result<Vec<(String, String)>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            organisation: String,
            slug: String,
        }
        let rows: Vec<Value> = self
            .db
            .query("SELECT organisation, slug FROM activity")
            .await?
            .take(0)?;
        rows.into_iter()
            .map(|r| decode::<Row>(r).map(|r| (r.organisation, r.slug)))
            .collect()
    }

    /// Every use of an activity's data by another activity.
    pub async fn source_links(&self) -> Result<Vec<SourceLink>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            organisation: String,
            slug: String,
            sources: Option<Vec<Value>>,
        }
        // Deletions are rare: every activity with sources is read and matched here.
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT organisation, slug, doc.sources AS sources FROM activity WHERE doc.sources != NONE",
            )
            .await?
            .take(0)?;
        let mut links = Vec::new();
        for row in rows {
            let row: Row = decode(row)?;
            for source in row.sources.unwrap_or_default() {
                if let Ok(Source::Activity(source)) = serde_json::from_value::<Source>(source) {
                    links.push(SourceLink {
                        source: Dependent {
                            organisation: source
                                .organisation
                                .unwrap_or_else(|| row.organisation.clone()),
                            activity: source.activity,
                        },
                        user: Dependent {
                            organisation: row.organisation.clone(),
                            activity: row.slug.clone(),
                        },
                    });
                }
            }
        }
        Ok(links)
    }

    /// An organisation with its activities.
    pub async fn organisation_with_activities(
        &self,
        id: &str,
    ) -> Result<Option<Organisation>, StoreError> {
        let Some(mut org) = self.organisation(id).await? else {
            return Ok(None);
        };
        let activities = self.activities(id).await?;
        if !activities.is_empty() || org.activities.is_some() {
            org.activities = Some(activities);
        }
        Ok(Some(org))
    }

    /// `organisation` first, then the organisations its activities take data from, directly
    /// or not, with their activities: what reading or auditing one organisation needs.
    pub async fn organisation_with_sources(
        &self,
        organisation: &str,
    ) -> Result<crate::model::Register, StoreError> {
        self.organisations_with_sources(&std::collections::BTreeSet::from(
            [organisation.to_owned()],
        ))
        .await
    }
}

/// The position of an activity appended at `now`: past any position an import gives
/// (imports number activities from 0), in order of writing.
fn appended_position(now: Timestamp) -> i64 {
    i64::try_from(now.as_nanosecond()).unwrap_or(i64::MAX)
}

/// Refuses a deletion while `dependents` take data from it: the caller's layer says which of
/// them the person asking may know of.
pub(super) fn refuse_if_used(dependents: &[Dependent], what: &str) -> Result<(), StoreError> {
    if dependents.is_empty() {
        return Ok(());
    }
    Err(StoreError::InUse {
        what: what.to_owned(),
        dependents: dependents.to_vec(),
    })
}
