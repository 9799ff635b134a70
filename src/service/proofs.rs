//! What proves a person's consents: the receipt of one answer as a printable PDF, the proof
//! bundle of all of a person's answers (JSON and PDF: every event, the form versions they
//! saw, the inclusion proofs against one signed tree head) and the scanned paper forms.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::{Error, Registre, Result};
use crate::auth::{Actor, Need, unknown_organisation};
use crate::consent::merkle::{self, Hash};
use crate::consent::{Event, TreeHead};
use crate::notice::{Papers, Proven};
use crate::store::DocumentVersion;

/// Everything that proves a person's consents, to give to them or to show a judge.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProofBundle {
    pub organisation: String,
    pub subject: String,
    /// Who the person is, unless erased.
    pub identity: Option<Value>,
    /// Each event about the person, with its inclusion proof in the tree of `head`.
    pub events: Vec<ProvenEvent>,
    /// Each form version the events name, with its content: the text the person saw.
    pub documents: Vec<DocumentVersion>,
    pub head: TreeHead,
    /// The organisation's public key, to check `head`'s signature.
    pub public_key: String,
    pub created: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProvenEvent {
    pub event: Event,
    /// The hashes (hexadecimal) that lead from the event's leaf to the root of `head`.
    pub inclusion: Vec<String>,
}

/// A scanned paper form, as received.
pub struct Scan {
    pub sha256: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Registre {
    /// A signed head of `org`'s tree covering its first `needed` events: the last one signed
    /// when it does, a new one otherwise.
    pub(super) async fn proving_head(
        &self,
        org: &str,
        needed: u64,
        now: Timestamp,
    ) -> Result<TreeHead> {
        let (size, _) = self.store.tree_root(org).await?;
        let last = self.store.tree_heads(org).await?.pop();
        Ok(match last {
            Some(head) if head.size >= needed && head.size <= size => head,
            _ => self.store.sign_tree_head(org, now).await?,
        })
    }

    /// The inclusion proof of `event` in the tree of `head`, checked against it: a proof that
    /// does not verify is never given (the ledger or its tree was altered).
    pub(super) async fn inclusion_of(&self, event: &Event, head: &TreeHead) -> Result<Vec<Hash>> {
        let proof = self
            .store
            .inclusion_proof(&event.organisation, event.seq, head.size)
            .await?;
        let leaf = hex::decode(&event.hash)
            .map(|hash| merkle::leaf_hash(&hash))
            .unwrap_or_default();
        let root: Hash = hex::decode(&head.root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .unwrap_or_default();
        if !merkle::verify_inclusion(&leaf, event.seq, head.size, &proof, &root) {
            return Err(Error::Internal(format!(
                "l'événement n° {} ne se prouve pas dans l'arbre de {} événements : vérifier le registre des consentements (registre consent verify)",
                event.seq, head.size
            )));
        }
        Ok(proof)
    }

    /// Event `seq` of `org`, or not found.
    pub(super) async fn stored_event(&self, org: &str, seq: u64) -> Result<Event> {
        self.store
            .consent_event(org, seq)
            .await?
            .ok_or_else(|| Error::NotFound(format!("événement n° {seq} introuvable")))
    }

    /// The receipt of event `seq` as a PDF to print or keep. `actor` is an agent of the
    /// organisation, or `None` for the person behind their private link.
    pub async fn consent_receipt_pdf(
        &self,
        actor: Option<&Actor>,
        org: &str,
        seq: u64,
        manage_url: Option<String>,
        now: Timestamp,
    ) -> Result<Vec<u8>> {
        if let Some(actor) = actor {
            actor.require(Need::Read, org)?;
        }
        let event = self.stored_event(org, seq).await?;
        let subject = event.draft.subject.clone();
        let bundle = self.bundle_of(org, &subject, vec![event], now).await?;
        self.papers(&bundle, manage_url.as_deref(), |papers| {
            papers.receipt_pdf()
        })
        .await
    }

    /// The proof bundle of `subject`: every event about them, the form versions they saw and
    /// the inclusion proofs.
    pub async fn proof_bundle(
        &self,
        actor: &Actor,
        org: &str,
        subject: &str,
        now: Timestamp,
    ) -> Result<ProofBundle> {
        actor.require(Need::Read, org)?;
        let events = self.store.subject_events(org, subject).await?;
        if events.is_empty() {
            return Err(Error::NotFound(format!("personne `{subject}` introuvable")));
        }
        self.bundle_of(org, subject, events, now).await
    }

    /// [`Registre::proof_bundle`] laid out for print.
    pub async fn proof_bundle_pdf(
        &self,
        actor: &Actor,
        org: &str,
        subject: &str,
        now: Timestamp,
    ) -> Result<Vec<u8>> {
        let bundle = self.proof_bundle(actor, org, subject, now).await?;
        self.papers(&bundle, None, |papers| papers.bundle_pdf(subject))
            .await
    }

    /// A scanned paper form of `org`, by its SHA-256 (as an event's evidence gives it).
    pub async fn consent_scan(&self, actor: &Actor, org: &str, sha256: &str) -> Result<Scan> {
        actor.require(Need::Read, org)?;
        let (media_type, bytes) =
            self.store
                .consent_evidence(org, sha256)
                .await?
                .ok_or_else(|| {
                    Error::NotFound(format!("formulaire numérisé `{sha256}` introuvable"))
                })?;
        Ok(Scan {
            sha256: crate::digest::sha256_hex(&bytes),
            media_type,
            bytes,
        })
    }

    async fn bundle_of(
        &self,
        org: &str,
        subject: &str,
        events: Vec<Event>,
        now: Timestamp,
    ) -> Result<ProofBundle> {
        let needed = events.iter().map(|e| e.seq + 1).max().unwrap_or(0);
        let head = self.proving_head(org, needed, now).await?;
        let mut documents: Vec<DocumentVersion> = Vec::new();
        for event in &events {
            let sha = &event.draft.document.sha256;
            if documents.iter().any(|d| &d.sha256 == sha) {
                continue;
            }
            if let Some(version) = self.store.document_version(org, sha).await? {
                documents.push(version);
            }
        }
        let mut proven = Vec::with_capacity(events.len());
        for event in events {
            let inclusion = self.inclusion_of(&event, &head).await?;
            proven.push(ProvenEvent {
                event,
                inclusion: inclusion.iter().map(hex::encode).collect(),
            });
        }
        Ok(ProofBundle {
            organisation: org.to_owned(),
            subject: subject.to_owned(),
            identity: self.store.consent_subject(org, subject).await?.flatten(),
            events: proven,
            documents,
            head,
            public_key: self.store.ledger_key(now).await?.public_hex(),
            created: now.to_string(),
        })
    }

    /// Lays `bundle` out with `write`, under the organisation's name.
    async fn papers(
        &self,
        bundle: &ProofBundle,
        manage_url: Option<&str>,
        write: impl FnOnce(&Papers<'_>) -> std::result::Result<Vec<u8>, crate::render::RenderError>,
    ) -> Result<Vec<u8>> {
        let organisation = self
            .store
            .organisation(&bundle.organisation)
            .await?
            .ok_or_else(|| unknown_organisation(&bundle.organisation))?;
        let proven: Vec<Proven<'_>> = bundle
            .events
            .iter()
            .map(|p| Proven {
                event: &p.event,
                inclusion: &p.inclusion,
            })
            .collect();
        let forms: Vec<(String, Value)> = bundle
            .documents
            .iter()
            .map(|d| (d.version.clone(), d.content.clone().unwrap_or_default()))
            .collect();
        let papers = Papers {
            organisation: &organisation.name,
            events: &proven,
            forms: &forms,
            head: &bundle.head,
            public_key: &bundle.public_key,
            manage_url,
        };
        write(&papers).map_err(|e| Error::Internal(e.to_string()))
    }
}
