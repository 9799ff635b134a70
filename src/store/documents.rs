//! Document versions: each notice, consent form or public page as it was shown, kept so that
//! a consent can be proved against the exact text the person read.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Store, StoreError, decode};

/// A version of a document, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// SHA-256 of each file served from it, by format (`html`, `pdf` …).
    pub renderings: serde_json::Map<String, Value>,
    /// What the document says: its model, from which it can be rendered again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
}

/// The formats whose files are hashed; fixed, so that they can name a field.
pub const RENDERING_FORMATS: [&str; 5] = ["html", "pdf", "text", "mention", "json"];

impl Store {
    /// Records that `content` was rendered as `format` with bytes hashing to `rendering`:
    /// the version is created the first time, and keeps its first date.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_document(
        &self,
        kind: &str,
        organisation: &str,
        activity: Option<&str>,
        version: &crate::notice::Version,
        content: &Value,
        format: &str,
        rendering: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let format = RENDERING_FORMATS
            .into_iter()
            .find(|f| *f == format)
            .ok_or_else(|| StoreError::Database(format!("format `{format}` inconnu")))?;
        // `format` is one of the constants above, never caller text.
        let query = format!(
            "IF (SELECT VALUE id FROM type::record('document_version', $sha))[0] = NONE {{
                 CREATE type::record('document_version', $sha) CONTENT {{
                     kind: $kind, organisation: $org, activity: $activity OR NONE, version: $version,
                     sha256: $sha, content: $content, first_seen: <datetime>$at, renderings: {{}}
                 }};
             }};
             UPDATE type::record('document_version', $sha) SET renderings.{format} = $rendering;"
        );
        self.db
            .query(query)
            .bind(("sha", version.sha256.clone()))
            .bind(("kind", kind.to_owned()))
            .bind(("org", organisation.to_owned()))
            .bind(("activity", activity.map(str::to_owned)))
            .bind(("version", version.id.clone()))
            .bind(("content", content.clone()))
            .bind(("at", now.to_string()))
            .bind(("rendering", rendering.to_owned()))
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
                 FROM document_version WHERE organisation = $org ORDER BY t DESC",
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
                 FROM document_version WHERE organisation = $org AND (sha256 = $v OR version = $v) LIMIT 1",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("v", version.to_owned()))
            .await?
            .take(0)?;
        rows.into_iter().next().map(decode).transpose()
    }
}
