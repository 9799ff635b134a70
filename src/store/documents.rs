//! Document versions: each notice, consent form or public page as it was shown, kept so that
//! a consent can be proved against the exact text the person read.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Store, StoreError, decode};

/// A version of a document, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DocumentVersion {
    /// `notice`, `consent-form`, `privacy-page` or `public-register`.
    pub kind: String,
    pub organisation: String,
    pub activity: Option<String>,
    /// The short id printed on the document.
    pub version: String,
    /// SHA-256 of the document's content (its model in JSON).
    pub sha256: String,
    /// When it was first shown (RFC 3339).
    pub first_seen: String,
    /// Each file served from it.
    pub renderings: Vec<Rendering>,
    /// What the document says: its model, from which it can be rendered again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
}

/// A file made from a version: its format (`pdf`, `html`, `html-page-2` …) and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rendering {
    pub format: String,
    pub sha256: String,
}

/// A document shown, to record: what it says and the file made from it.
pub struct Shown<'a> {
    pub kind: &'a str,
    pub organisation: &'a str,
    pub activity: Option<&'a str>,
    pub version: &'a crate::notice::Version,
    pub content: &'a Value,
    pub rendering: Rendering,
}

/// Records a document version the first time it is shown (keeping its first date) and adds
/// the file made from it; also part of the transaction that records a consent to it.
pub(super) const UPSERT_DOCUMENT: &str = "UPSERT type::record('document_version', $sha) SET
     kind = $kind, organisation = $org, activity = $doc_activity OR NONE,
     version = $version, sha256 = $sha, content = $content,
     first_seen = first_seen ?? <datetime>$at,
     renderings = array::union(renderings ?? [], [$rendering]),
     retired = NONE;";

impl Store {
    /// Records that a document was shown: the version is created the first time and keeps
    /// its first date; each distinct file made from it is added. One statement on one
    /// record: two servers showing a new version at once may conflict, and the loser records
    /// it on the next view.
    pub async fn record_document(
        &self,
        shown: Shown<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.db
            .query(UPSERT_DOCUMENT)
            .bind(("sha", shown.version.sha256.clone()))
            .bind(("kind", shown.kind.to_owned()))
            .bind(("org", shown.organisation.to_owned()))
            .bind(("doc_activity", shown.activity.map(str::to_owned)))
            .bind(("version", shown.version.id.clone()))
            .bind(("content", shown.content.clone()))
            .bind(("at", now.to_string()))
            .bind((
                "rendering",
                serde_json::to_value(&shown.rendering)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ))
            .await
            .and_then(|r| r.check())?;
        Ok(())
    }
    /// The versions of an organisation's documents, newest first, without their content.
    pub async fn document_versions(
        &self,
        organisation: &str,
    ) -> Result<Vec<DocumentVersion>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT kind, organisation, activity, version, sha256, <string> first_seen AS first_seen,
                        renderings, first_seen AS t
                 FROM document_version WHERE organisation = $org AND retired != true ORDER BY t DESC",
            )
            .bind(("org", organisation.to_owned()))
            .await?
            .take(0)?;
        rows.into_iter().map(decode).collect()
    }

    /// One version with its content, by its full hash or its short id.
    pub async fn document_version(
        &self,
        organisation: &str,
        version: &str,
    ) -> Result<Option<DocumentVersion>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT kind, organisation, activity, version, sha256, <string> first_seen AS first_seen,
                        renderings, content
                 FROM document_version WHERE organisation = $org AND retired != true
                   AND (sha256 = $v OR version = $v) LIMIT 1",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("v", version.to_owned()))
            .await?
            .take(0)?;
        rows.into_iter().next().map(decode).transpose()
    }
}
