//! The consent ledger's store: events, the chain head of each organisation, the current
//! answers (read model), the identities apart from the events, the signed tree heads and
//! the key that signs them. The ledger's rules are in `crate::consent`; this module only
//! keeps what they produce, each append in one transaction.

use base64::Engine as _;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::documents::{Shown, UPSERT_DOCUMENT};
use super::{Store, StoreError, check_errors, decode, retrying};
use crate::consent::merkle::{self, Frontier, Hash, Span, Subtrees, Tree};
use crate::consent::{
    self, ChainHead, Current, Draft, Event, EventKind, LedgerKey, State, TreeHead,
};

/// The lowest level of the tree whose subtrees are kept: below it, a subtree is hashed again
/// from its at most 64 events, which keeps one node for every 32 events.
const KEPT_LEVEL: u32 = 6;

/// The appends waiting for each organisation's chain, within one process.
pub(super) type Appending =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Chain>>>>;

/// One organisation's chain in this process: its turn, and the appends waiting for it. The
/// append that gets the turn writes every waiting one with the same document in one
/// transaction (one commit, one flush to disk), so that concurrent recordings share it.
#[derive(Default)]
pub(super) struct Chain {
    turn: tokio::sync::Mutex<()>,
    waiting: std::sync::Mutex<Vec<Pending>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Pending {
    id: u64,
    entries: Vec<Entry>,
    document: Document,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Event>, StoreError>>,
}

/// Takes an append out of the waiting list if its caller gave up before its turn.
struct Waiting<'c> {
    chain: &'c Chain,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiting = self.chain.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.retain(|p| p.id != self.id);
    }
}

/// The document version an append records, as bound in its transaction.
#[derive(Clone)]
struct Document {
    sha256: String,
    kind: String,
    activity: Option<String>,
    version: String,
    content: Value,
    rendering: Value,
}

impl Document {
    fn of(shown: &Shown<'_>) -> Result<Self, StoreError> {
        Ok(Document {
            sha256: shown.version.sha256.clone(),
            kind: shown.kind.to_owned(),
            activity: shown.activity.map(str::to_owned),
            version: shown.version.id.clone(),
            content: shown.content.clone(),
            rendering: serde_json::to_value(&shown.rendering).map_err(corrupt)?,
        })
    }
}

/// One event to append: what happened, who a new subject is, when.
#[derive(Debug, Clone)]
pub struct Entry {
    pub draft: Draft,
    pub identity: Option<Value>,
    pub at: Timestamp,
    /// The submission's idempotency key, when it comes from a form that may be sent twice.
    pub key: Option<String>,
    /// The scanned paper form itself, when uploaded (its hash is in the draft's evidence).
    pub scan: Option<Vec<u8>>,
}

/// The error an append raises when the chain moved since its head was read.
const MOVED: &str = "registre:chain-moved";
/// The error an append raises when a submission with its idempotency key is already recorded.
const DUPLICATE: &str = "registre:duplicate-submission";

/// A subject's last answer to one choice, and who they are.
#[derive(Debug, Clone)]
pub struct Answered {
    pub subject: String,
    pub choice: String,
    pub identity: Option<Value>,
    pub current: Current,
}

/// A slice of the subject ids, `from` included and `to` excluded (`None`: no bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRange {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl SubjectRange {
    /// Every subject id, in 256 ranges split at two hexadecimal digits: the ids registre
    /// makes are random hexadecimal, so each range holds about 1/256 of the subjects; any
    /// other id still falls in exactly one.
    pub fn all() -> impl Iterator<Item = SubjectRange> {
        let bounds = || (1..256u32).map(|b| Some(format!("{b:02x}")));
        std::iter::once(None)
            .chain(bounds())
            .zip(bounds().chain(std::iter::once(None)))
            .map(|(from, to)| SubjectRange { from, to })
    }
}

#[derive(Deserialize)]
struct StoredHead {
    next: u64,
    prev: String,
    frontier: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct StoredNode {
    level: u32,
    index: u64,
    hash: String,
}

/// The subtrees a proof needs, as read from the store.
#[derive(Default)]
struct Known(std::collections::HashMap<Span, Hash>);

impl Subtrees for Known {
    fn subtree(&self, span: Span) -> Hash {
        // A missing one gives a proof that does not verify, which the caller refuses.
        self.0.get(&span).copied().unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct StoredKey {
    seed: String,
}

#[derive(Deserialize)]
struct StoredState {
    kind: EventKind,
    accepted: bool,
    seq: u64,
    at: String,
    scope: String,
    minor: bool,
    holders: usize,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A hash as stored, hexadecimal.
fn hash_of(hex: &str) -> Result<Hash, StoreError> {
    hex::decode(hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(format!("empreinte illisible « {hex} »")))
}

/// The leaf of the tree for an event's hash.
fn leaf_of(event_hash: &str) -> Result<Hash, StoreError> {
    Ok(merkle::leaf_hash(&hash_of(event_hash)?))
}

/// The records of the subtrees in `completed` that the store keeps.
fn kept_nodes(organisation: &str, completed: Vec<(Span, Hash)>) -> impl Iterator<Item = Value> {
    let organisation = organisation.to_owned();
    completed
        .into_iter()
        .filter(|(span, _)| span.level >= KEPT_LEVEL)
        .map(move |(span, hash)| {
            json!({
                "key": [organisation, span.level, span.index],
                "content": { "level": span.level, "index": span.index, "hash": hex::encode(hash) },
            })
        })
}

fn frontier_hexes(frontier: &Frontier) -> Vec<String> {
    frontier.hashes().iter().map(hex::encode).collect()
}

impl Store {
    /// The key that signs tree heads: created the first time it is asked for.
    pub async fn ledger_key(&self, now: Timestamp) -> Result<LedgerKey, StoreError> {
        if let Some(key) = self.stored_ledger_key().await? {
            return Ok(key);
        }
        let key = LedgerKey::generate();
        let created = self
            .db
            .query("CREATE ledger_key:current CONTENT { seed: $seed, public: $public, created_at: <datetime>$at };")
            .bind(("seed", hex::encode(key.seed())))
            .bind(("public", key.public_hex()))
            .bind(("at", now.to_string()))
            .await
            .and_then(|r| r.check());
        match created {
            Ok(_) => Ok(key),
            // Another server created it first: theirs is the key.
            Err(_) => self.stored_ledger_key().await?.ok_or_else(|| {
                StoreError::Database("clé du registre des consentements introuvable".to_owned())
            }),
        }
    }

    async fn stored_ledger_key(&self) -> Result<Option<LedgerKey>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT seed FROM ledger_key:current")
            .await?
            .take(0)?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let stored: StoredKey = decode(row)?;
        let seed: [u8; 32] = hex::decode(&stored.seed)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("clé du registre des consentements illisible"))?;
        Ok(Some(LedgerKey::from_seed(&seed)))
    }

    /// Where `organisation`'s chain stands.
    pub async fn chain_head(&self, organisation: &str) -> Result<ChainHead, StoreError> {
        Ok(self.chain_state(organisation).await?.0)
    }

    /// Where `organisation`'s chain stands, and the right edge of its tree; the tree of a
    /// chain written before it was kept is built first.
    async fn chain_state(&self, organisation: &str) -> Result<(ChainHead, Frontier), StoreError> {
        if let Some(state) = self.stored_chain_state(organisation).await? {
            return Ok(state);
        }
        self.rebuild_consent_tree(organisation).await?;
        self.stored_chain_state(organisation)
            .await?
            .ok_or_else(|| corrupt("arbre du registre des consentements introuvable"))
    }

    /// The chain's head and frontier as stored; `None` for a chain without its tree.
    async fn stored_chain_state(
        &self,
        organisation: &str,
    ) -> Result<Option<(ChainHead, Frontier)>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT next, prev, frontier FROM type::record('consent_chain', $org)")
            .bind(("org", organisation.to_owned()))
            .await?
            .take(0)?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(Some((ChainHead::default(), Frontier::new())));
        };
        let stored: StoredHead = decode(row)?;
        let Some(hexes) = stored.frontier else {
            return Ok(None);
        };
        let hashes = hexes.iter().map(|h| hash_of(h)).collect::<Result<_, _>>()?;
        let frontier = Frontier::of(stored.next, hashes)
            .ok_or_else(|| corrupt("bord de l'arbre du registre des consentements illisible"))?;
        let head = ChainHead {
            next: stored.next,
            prev: stored.prev,
        };
        Ok(Some((head, frontier)))
    }

    /// Builds the kept subtrees and the frontier of `organisation`'s chain from its events as
    /// stored (a chain recorded before the tree was kept).
    async fn rebuild_consent_tree(&self, organisation: &str) -> Result<(), StoreError> {
        const PAGE: u64 = 5_000;
        let mut frontier = Frontier::new();
        loop {
            let from = frontier.size();
            let hashes: Vec<String> = self
                .db
                .query("SELECT VALUE hash FROM consent_event:[$org, $from]..[$org, $to]")
                .bind(("org", organisation.to_owned()))
                .bind(("from", from))
                .bind(("to", from + PAGE))
                .await?
                .take(0)?;
            let mut nodes = Vec::new();
            for hash in &hashes {
                nodes.extend(kept_nodes(organisation, frontier.push(leaf_of(hash)?)));
            }
            self.db
                .query("FOR $n IN $nodes { UPSERT type::record('consent_node', $n.key) CONTENT $n.content; };")
                .bind(("nodes", Value::Array(nodes)))
                .await
                .and_then(|r| r.check())?;
            if (hashes.len() as u64) < PAGE {
                break;
            }
        }
        let stored = frontier_hexes(&frontier);
        // Only where the chain still stands where it was read.
        self.db
            .query(
                "BEGIN TRANSACTION;
                 IF (SELECT VALUE next FROM ONLY type::record('consent_chain', $org)) != $size {
                     THROW $moved };
                 UPDATE type::record('consent_chain', $org) SET frontier = $frontier;
                 COMMIT TRANSACTION;",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("size", frontier.size()))
            .bind(("frontier", stored))
            .bind(("moved", MOVED))
            .await
            .and_then(|r| r.check())
            .map_err(|e| StoreError::Retryable(e.to_string()))?;
        Ok(())
    }

    /// The size and root of `organisation`'s tree as it stands.
    pub async fn tree_root(&self, organisation: &str) -> Result<(u64, Hash), StoreError> {
        let (_, frontier) = self.chain_state(organisation).await?;
        Ok((frontier.size(), frontier.root()))
    }

    /// The inclusion proof of event `index` in the tree of the first `size` events, from the
    /// kept subtrees and the events of at most two blocks of 64. Not checked here: the caller
    /// holds it against the head it gives it with.
    pub async fn inclusion_proof(
        &self,
        organisation: &str,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        let spans = merkle::inclusion_spans(index, size);
        let (kept, small): (Vec<Span>, Vec<Span>) =
            spans.into_iter().partition(|s| s.level >= KEPT_LEVEL);
        let mut known = Known::default();
        let keys: Vec<Value> = kept
            .iter()
            .map(|s| json!([organisation, s.level, s.index]))
            .collect();
        let hashes: Vec<Option<String>> = self
            .db
            .query("RETURN $keys.map(|$k| type::record('consent_node', $k).hash)")
            .bind(("keys", Value::Array(keys)))
            .await?
            .take(0)?;
        for (span, hash) in kept.iter().zip(hashes) {
            if let Some(hash) = hash {
                known.0.insert(*span, hash_of(&hash)?);
            }
        }
        let mut blocks: Vec<u64> = small
            .iter()
            .map(|s| s.index >> (KEPT_LEVEL - s.level))
            .collect();
        blocks.dedup();
        for block in blocks {
            let from = block << KEPT_LEVEL;
            let to = size.min((block + 1) << KEPT_LEVEL);
            let hashes: Vec<String> = self
                .db
                .query("SELECT VALUE hash FROM consent_event:[$org, $from]..[$org, $to]")
                .bind(("org", organisation.to_owned()))
                .bind(("from", from))
                .bind(("to", to))
                .await?
                .take(0)?;
            let mut tree = Tree::new();
            for hash in &hashes {
                tree.push(leaf_of(hash)?);
            }
            for span in small
                .iter()
                .filter(|s| s.index >> (KEPT_LEVEL - s.level) == block)
            {
                let (start, end) = span.leaves();
                if let Some(hash) = tree.range_hash(start - from, end - from) {
                    known.0.insert(*span, hash);
                }
            }
        }
        Ok(merkle::inclusion_proof(&known, index, size))
    }

    /// The first kept subtree of `organisation`'s tree, or its frontier, that does not
    /// match `tree` (recomputed from the events): proofs made from it would not verify.
    pub async fn tree_fault(
        &self,
        organisation: &str,
        tree: &Tree,
    ) -> Result<Option<consent::verify::TreeFault>, StoreError> {
        use consent::verify::TreeFault;
        let (_, frontier) = self.chain_state(organisation).await?;
        if frontier.size() < tree.size() || tree.root(frontier.size()) != Some(frontier.root()) {
            return Ok(Some(TreeFault::Frontier {
                size: frontier.size(),
            }));
        }
        let rows: Vec<Value> = self
            .db
            .query("SELECT level, index, hash FROM consent_node:[$org, 0, 0]..[$org, 64, 0]")
            .bind(("org", organisation.to_owned()))
            .await?
            .take(0)?;
        let mut stored = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let node: StoredNode = decode(row)?;
            let span = Span {
                level: node.level,
                index: node.index,
            };
            stored.insert(span, hash_of(&node.hash)?);
        }
        for (span, hash) in tree.spans_from(KEPT_LEVEL) {
            match stored.remove(&span) {
                Some(kept) if kept == hash => {}
                Some(_) => return Ok(Some(TreeFault::Altered(span))),
                None => return Ok(Some(TreeFault::Missing(span))),
            }
        }
        // What is left covers events the chain does not hold.
        Ok(stored.into_keys().min().map(TreeFault::Beyond))
    }

    /// Appends `draft` to `organisation`'s chain, with the version of the document the person
    /// saw and the current answers it gives, all in one transaction: the event is stored
    /// with everything it refers to, or not at all. Two servers appending at once never fork
    /// the chain: the one that finds it moved tries again on the new head.
    ///
    /// `identity` is who a new subject is (name, e-mail…): kept apart from the event, in the
    /// same transaction.
    pub async fn record_consent(
        &self,
        organisation: &str,
        draft: &Draft,
        shown: &Shown<'_>,
        identity: Option<&Value>,
        now: Timestamp,
    ) -> Result<Event, StoreError> {
        let entry = Entry {
            draft: draft.clone(),
            identity: identity.cloned(),
            at: now,
            key: None,
            scan: None,
        };
        let mut events = self
            .append_consents(organisation, vec![entry], shown)
            .await?;
        events
            .pop()
            .ok_or_else(|| StoreError::Database("aucun événement enregistré".to_owned()))
    }

    /// Appends several events made from the same document version, in order, in one
    /// transaction (a recording, demo data, a campaign of paper forms). Appends that wait for
    /// the chain meanwhile are written with it, each keeping its own answer: when the
    /// transaction of all fails, each is tried alone, so one refused append never refuses
    /// another.
    pub async fn append_consents(
        &self,
        organisation: &str,
        entries: Vec<Entry>,
        shown: &Shown<'_>,
    ) -> Result<Vec<Event>, StoreError> {
        let chain = {
            let mut chains = self.appending.lock().unwrap_or_else(|e| e.into_inner());
            chains.entry(organisation.to_owned()).or_default().clone()
        };
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        let id = chain
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        chain
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Pending {
                id,
                entries,
                document: Document::of(shown)?,
                reply,
            });
        let _waiting = Waiting { chain: &chain, id };
        let turn = chain.turn.lock().await;
        // The append that had the turn before may have written this one.
        if let Ok(done) = answer.try_recv() {
            return done;
        }
        let mut batch: Vec<Pending> =
            std::mem::take(&mut *chain.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        while !batch.is_empty() {
            let sha = batch[0].document.sha256.clone();
            let (same, rest): (Vec<Pending>, Vec<Pending>) =
                batch.into_iter().partition(|p| p.document.sha256 == sha);
            batch = rest;
            self.append_together(organisation, same).await;
        }
        drop(turn);
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Database("écriture abandonnée".to_owned())))
    }

    /// Writes `appends` (one document) in one transaction, or each alone when that fails.
    async fn append_together(&self, organisation: &str, appends: Vec<Pending>) {
        let document = appends[0].document.clone();
        let entries: Vec<&Entry> = appends.iter().flat_map(|p| &p.entries).collect();
        let together = retrying(|| self.append_once(organisation, &entries, &document)).await;
        match together {
            Ok(mut events) => {
                for pending in appends.into_iter().rev() {
                    let own = events.split_off(events.len() - pending.entries.len());
                    let _ = pending.reply.send(Ok(own));
                }
            }
            Err(error) if appends.len() == 1 => {
                if let Some(pending) = appends.into_iter().next() {
                    let _ = pending.reply.send(Err(error));
                }
            }
            Err(_) => {
                for pending in appends {
                    let entries: Vec<&Entry> = pending.entries.iter().collect();
                    let alone =
                        retrying(|| self.append_once(organisation, &entries, &pending.document))
                            .await;
                    let _ = pending.reply.send(alone);
                }
            }
        }
    }

    async fn append_once(
        &self,
        organisation: &str,
        entries: &[&Entry],
        document: &Document,
    ) -> Result<Vec<Event>, StoreError> {
        let (start, mut frontier) = self.chain_state(organisation).await?;
        let mut head = start.clone();
        let mut events = Vec::with_capacity(entries.len());
        let mut rows = Vec::with_capacity(entries.len());
        let mut nodes = Vec::new();
        let mut state = State::new();
        for entry in entries {
            let (event, next) = head.append(organisation, entry.at, entry.draft.clone());
            head = next;
            state.apply(&event);
            nodes.extend(kept_nodes(
                organisation,
                frontier.push(leaf_of(&event.hash)?),
            ));
            let mut row = json!({
                "key": [organisation, event.seq],
                "subject_key": [organisation, event.draft.subject],
                "content": {
                    "organisation": organisation,
                    "seq": event.seq,
                    "activity": event.draft.activity,
                    "subject": event.draft.subject,
                    "hash": event.hash,
                    "event": serde_json::to_string(&event).map_err(corrupt)?,
                },
            });
            // Absent, not null: SurrealQL tells NONE from NULL.
            if let Some(identity) = &entry.identity {
                row["identity"] = identity.clone();
            }
            if let Some(key) = &entry.key {
                row["submission"] = json!([organisation, key]);
            }
            if let (Some(scan), Some(evidence)) = (&entry.scan, &event.draft.evidence) {
                row["scan"] = json!({
                    "key": [organisation, evidence.sha256],
                    "media_type": evidence.media_type,
                    "content": base64::engine::general_purpose::STANDARD.encode(scan),
                });
            }
            rows.push(row);
            events.push(event);
        }
        let states: Vec<Value> = state
            .iter()
            .map(|(activity, subject, choice, current)| {
                json!({
                    "key": [organisation, activity, subject, choice],
                    "content": state_doc(organisation, activity, subject, choice, current),
                })
            })
            .collect();
        let statements = format!(
            "BEGIN TRANSACTION;
             LET $head = (SELECT next, prev FROM type::record('consent_chain', $org))[0];
             IF ($head.next ?? 0) != $seq OR ($head.prev ?? $genesis) != $prev {{ THROW $moved }};
             FOR $e IN $events {{
                 IF $e.identity != NONE {{
                     CREATE type::record('consent_subject', $e.subject_key) CONTENT {{
                         organisation: $org, identity: $e.identity, created_at: <datetime>$at }};
                 }};
                 CREATE type::record('consent_event', $e.key) CONTENT $e.content;
                 IF $e.submission != NONE {{
                     IF (SELECT VALUE seq FROM ONLY type::record('consent_submission', $e.submission)) != NONE {{
                         THROW $duplicate
                     }};
                     CREATE type::record('consent_submission', $e.submission) CONTENT {{ seq: $e.content.seq }};
                 }};
                 IF $e.scan != NONE {{
                     UPSERT type::record('consent_evidence', $e.scan.key) CONTENT {{
                         organisation: $org, subject: $e.content.subject,
                         media_type: $e.scan.media_type,
                         content: encoding::base64::decode($e.scan.content),
                         created_at: <datetime>$at }};
                 }};
             }};
             UPSERT type::record('consent_chain', $org) CONTENT {{ next: $next, prev: $last, frontier: $frontier }};
             FOR $n IN $nodes {{ UPSERT type::record('consent_node', $n.key) CONTENT $n.content; }};
             {UPSERT_DOCUMENT}
             FOR $s IN $states {{ UPSERT type::record('consent_state', $s.key) CONTENT $s.content; }};
             COMMIT TRANSACTION;"
        );
        let at = entries.last().map_or_else(Timestamp::now, |e| e.at);
        let mut response = self
            .db
            .query(statements)
            .bind(("org", organisation.to_owned()))
            .bind(("seq", start.next))
            .bind(("prev", start.prev.clone()))
            .bind(("genesis", consent::GENESIS))
            .bind(("moved", MOVED))
            .bind(("duplicate", DUPLICATE))
            .bind(("events", Value::Array(rows)))
            .bind(("next", head.next))
            .bind(("last", head.prev.clone()))
            .bind(("states", Value::Array(states)))
            .bind(("frontier", frontier_hexes(&frontier)))
            .bind(("nodes", Value::Array(nodes)))
            .bind(("sha", document.sha256.clone()))
            .bind(("kind", document.kind.clone()))
            .bind(("doc_activity", document.activity.clone()))
            .bind(("version", document.version.clone()))
            .bind(("content", document.content.clone()))
            .bind(("at", at.to_string()))
            .bind(("rendering", document.rendering.clone()))
            .await
            .map_err(StoreError::from)?;
        match check_errors(&mut response) {
            Err(StoreError::Database(message)) if message.contains(MOVED) => {
                Err(StoreError::Retryable(message))
            }
            Err(StoreError::Database(message)) if message.contains(DUPLICATE) => Err(
                StoreError::Conflict("envoi déjà enregistré (même clé d'idempotence)".to_owned()),
            ),
            // Two appends on the same head: one creates the event, the other finds it there.
            Err(StoreError::Database(message)) if message.contains("already exists") => {
                Err(StoreError::Retryable(message))
            }
            other => other.map(|()| events),
        }
    }

    /// Who `subject` is: `None` when unknown, `Some(None)` once erased.
    pub async fn consent_subject(
        &self,
        organisation: &str,
        subject: &str,
    ) -> Result<Option<Option<Value>>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT identity FROM type::record('consent_subject', [$org, $subject])")
            .bind(("org", organisation.to_owned()))
            .bind(("subject", subject.to_owned()))
            .await?
            .take(0)?;
        Ok(rows
            .into_iter()
            .next()
            .map(|row| row.get("identity").filter(|v| !v.is_null()).cloned()))
    }

    /// The event a form submission with this idempotency key already recorded.
    pub async fn submission(
        &self,
        organisation: &str,
        key: &str,
    ) -> Result<Option<Event>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT VALUE seq FROM type::record('consent_submission', [$org, $key])")
            .bind(("org", organisation.to_owned()))
            .bind(("key", key.to_owned()))
            .await?
            .take(0)?;
        match rows.into_iter().next().and_then(|v| v.as_u64()) {
            Some(seq) => self.consent_event(organisation, seq).await,
            None => Ok(None),
        }
    }

    /// Keeps the hash of a private management link to `subject`'s consents.
    pub async fn add_consent_link(
        &self,
        organisation: &str,
        subject: &str,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.db
            .query(
                "CREATE type::record('consent_link', $hash) CONTENT {
                     organisation: $org, subject: $subject, created_at: <datetime>$at };",
            )
            .bind(("hash", token_hash.to_owned()))
            .bind(("org", organisation.to_owned()))
            .bind(("subject", subject.to_owned()))
            .bind(("at", now.to_string()))
            .await
            .and_then(|r| r.check())?;
        Ok(())
    }

    /// The subject a management link of `organisation` opens, by the link's hash.
    pub async fn consent_link(
        &self,
        organisation: &str,
        token_hash: &str,
    ) -> Result<Option<String>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT VALUE subject FROM type::record('consent_link', $hash) WHERE organisation = $org")
            .bind(("hash", token_hash.to_owned()))
            .bind(("org", organisation.to_owned()))
            .await?
            .take(0)?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|v| v.as_str().map(str::to_owned)))
    }

    /// Erases who `subject` is (RGPD art. 17, or the end of the retention period): the events
    /// keep their opaque id only, and the chain still verifies.
    pub async fn erase_consent_subject(
        &self,
        organisation: &str,
        subject: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut response = self
            .db
            .query(
                "LET $found = (SELECT VALUE id FROM type::record('consent_subject', [$org, $subject]));
                 IF array::len($found) = 0 { THROW $missing };
                 UPDATE type::record('consent_subject', [$org, $subject]) SET identity = NONE, erased_at = <datetime>$at;
                 DELETE consent_link WHERE organisation = $org AND subject = $subject;
                 DELETE consent_evidence WHERE organisation = $org AND subject = $subject;",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("subject", subject.to_owned()))
            .bind(("missing", "registre:missing"))
            .bind(("at", now.to_string()))
            .await?;
        match check_errors(&mut response) {
            Err(StoreError::Database(m)) if m.contains("registre:missing") => Err(
                StoreError::NotFound(format!("personne `{subject}` introuvable")),
            ),
            other => other,
        }
    }

    /// Every event of `organisation`'s chain, in their stored order.
    pub async fn consent_events(&self, organisation: &str) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT VALUE event FROM consent_event WHERE organisation = $org ORDER BY seq")
            .bind(("org", organisation.to_owned()))
            .await?
            .take(0)?;
        rows.into_iter().map(decode_event).collect()
    }

    /// The event at `seq` of `organisation`'s chain.
    pub async fn consent_event(
        &self,
        organisation: &str,
        seq: u64,
    ) -> Result<Option<Event>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT VALUE event FROM consent_event WHERE organisation = $org AND seq = $seq")
            .bind(("org", organisation.to_owned()))
            .bind(("seq", seq))
            .await?
            .take(0)?;
        rows.into_iter().next().map(decode_event).transpose()
    }

    /// The events about `subject`, oldest first.
    pub async fn subject_events(
        &self,
        organisation: &str,
        subject: &str,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT VALUE event FROM consent_event WHERE organisation = $org AND subject = $subject ORDER BY seq",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("subject", subject.to_owned()))
            .await?
            .take(0)?;
        rows.into_iter().map(decode_event).collect()
    }

    /// The last answer of `subject` to `choice` of `activity`, from the read model.
    pub async fn consent_current(
        &self,
        organisation: &str,
        activity: &str,
        subject: &str,
        choice: &str,
    ) -> Result<Option<Current>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT * FROM type::record('consent_state', [$org, $activity, $subject, $choice])",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("activity", activity.to_owned()))
            .bind(("subject", subject.to_owned()))
            .bind(("choice", choice.to_owned()))
            .await?
            .take(0)?;
        rows.into_iter()
            .next()
            .map(|row| current_of(organisation, row))
            .transpose()
    }

    /// The last answers of many subjects to `choice` of `activity`, by subject.
    pub async fn consent_currents(
        &self,
        organisation: &str,
        activity: &str,
        choice: &str,
        subjects: &[String],
    ) -> Result<std::collections::HashMap<String, Current>, StoreError> {
        // A large batch in parts read at once: the embedded engine then uses every core.
        const PART: usize = 1_000;
        let keys = |part: &[String]| -> Vec<surrealdb::types::RecordId> {
            part.iter()
                .map(|s| {
                    let key = vec![
                        organisation.to_owned(),
                        activity.to_owned(),
                        s.clone(),
                        choice.to_owned(),
                    ];
                    surrealdb::types::RecordId::new(
                        "consent_state",
                        surrealdb::types::Array::from(key),
                    )
                })
                .collect()
        };
        let mut rows: Vec<Vec<Value>> = Vec::new();
        if subjects.len() <= PART {
            rows.push(read_states(self.db.clone(), keys(subjects)).await?);
        } else {
            let mut parts = tokio::task::JoinSet::new();
            for part in subjects.chunks(PART) {
                parts.spawn(read_states(self.db.clone(), keys(part)));
            }
            while let Some(part) = parts.join_next().await {
                rows.push(part.map_err(|e| StoreError::Database(e.to_string()))??);
            }
        }
        let mut currents = std::collections::HashMap::with_capacity(subjects.len());
        for row in rows.into_iter().flatten() {
            let subject = row
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            currents.insert(subject, current_of(organisation, row)?);
        }
        Ok(currents)
    }

    /// Rebuilds `organisation`'s read model from its events; gives the number of answers.
    pub async fn rebuild_consent_state(&self, organisation: &str) -> Result<usize, StoreError> {
        let events = self.consent_events(organisation).await?;
        let state = State::of(&events);
        let states: Vec<Value> = state
            .iter()
            .map(|(activity, subject, choice, current)| {
                json!({
                    "key": [organisation, activity, subject, choice],
                    "content": state_doc(organisation, activity, subject, choice, current),
                })
            })
            .collect();
        let count = states.len();
        let mut response = self
            .db
            .query(
                "BEGIN TRANSACTION;
                 DELETE consent_state WHERE organisation = $org;
                 FOR $s IN $states { UPSERT type::record('consent_state', $s.key) CONTENT $s.content; };
                 COMMIT TRANSACTION;",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("states", Value::Array(states)))
            .await?;
        check_errors(&mut response)?;
        Ok(count)
    }

    /// Every current answer of `organisation`, as the read model holds them.
    pub async fn consent_states(&self, organisation: &str) -> Result<Vec<Value>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT activity, subject, choice, kind, accepted, seq, at, scope, minor, holders
                 FROM consent_state WHERE organisation = $org ORDER BY activity, subject, choice",
            )
            .bind(("org", organisation.to_owned()))
            .await?
            .take(0)?;
        Ok(rows)
    }

    /// A scanned paper form kept for `organisation`, by its SHA-256: its media type and bytes.
    pub async fn consent_evidence(
        &self,
        organisation: &str,
        sha256: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query(
                "SELECT media_type, encoding::base64::encode(content) AS content
                 FROM type::record('consent_evidence', [$org, $sha])",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("sha", sha256.to_owned()))
            .await?
            .take(0)?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let text = |name: &str| row.get(name).and_then(Value::as_str).unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text("content"))
            .map_err(corrupt)?;
        Ok(Some((text("media_type").to_owned(), bytes)))
    }

    /// The last answers to `activity` of the subjects whose ids fall in `range`, by subject
    /// then choice; with who each subject is when `identities` (`None` once erased). A
    /// bounded read of the records' keys: the embedded engine reads a record range to its end
    /// whatever a LIMIT says, so an activity is read a [`SubjectRange`] at a time.
    pub async fn activity_currents(
        &self,
        organisation: &str,
        activity: &str,
        range: &SubjectRange,
        identities: bool,
    ) -> Result<Vec<Answered>, StoreError> {
        let identity = if identities {
            ", type::record('consent_subject', [organisation, subject]).identity AS identity"
        } else {
            ""
        };
        let from = if range.from.is_some() {
            "$from"
        } else {
            "NONE"
        };
        let to = if range.to.is_some() { "$to" } else { "{}" };
        let rows: Vec<Value> = self
            .db
            .query(format!(
                "SELECT subject, choice, kind, accepted, seq, at, scope, minor, holders{identity}
                 FROM consent_state:[$org, $activity, {from}]..[$org, $activity, {to}]"
            ))
            .bind(("org", organisation.to_owned()))
            .bind(("activity", activity.to_owned()))
            .bind(("from", range.from.clone().unwrap_or_default()))
            .bind(("to", range.to.clone().unwrap_or_default()))
            .await?
            .take(0)?;
        rows.into_iter()
            .map(|mut row| {
                let text = |name: &str| {
                    row.get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let (subject, choice) = (text("subject"), text("choice"));
                let identity = row
                    .as_object_mut()
                    .and_then(|o| o.remove("identity"))
                    .filter(|v| !v.is_null());
                Ok(Answered {
                    subject,
                    choice,
                    identity,
                    current: current_of(organisation, row)?,
                })
            })
            .collect()
    }

    /// Verifies `organisation`'s chain as stored, a page of events at a time (memory stays
    /// bounded however long the chain); its tree when every event matches. Each page is
    /// decoded and hashed on every core while the next one is read.
    pub async fn verify_consents(
        &self,
        organisation: &str,
    ) -> Result<Result<Tree, consent::verify::Broken>, StoreError> {
        const PAGE: usize = 10_000;
        // Read first: events appended while verifying come after it.
        let stands = self.chain_head(organisation).await?.next;
        let mut verifier = consent::verify::Verifier::new(organisation);
        let mut from = 0;
        let mut rows = self.event_page(organisation, from, PAGE).await?;
        loop {
            from += PAGE as u64;
            // A full page, or places the head counts not read yet: there is more to read.
            let more = rows.len() == PAGE || from < stands;
            let hashing = tokio::task::spawn_blocking(move || {
                use rayon::prelude::*;
                rows.into_par_iter()
                    .map(|mut row| {
                        let filed = row.get("seq").and_then(Value::as_u64).unwrap_or(u64::MAX);
                        let stored = row.get_mut("event").map(Value::take).unwrap_or_default();
                        let event = decode_event(stored)?;
                        let hash = event.computed_hash();
                        Ok((event, hash, filed))
                    })
                    .collect::<Result<Vec<(Event, consent::merkle::Hash, u64)>, StoreError>>()
            });
            let next = async {
                if more {
                    self.event_page(organisation, from, PAGE).await.map(Some)
                } else {
                    Ok(None)
                }
            };
            let (hashed, next) = tokio::join!(hashing, next);
            let hashed = hashed.map_err(|e| StoreError::Database(e.to_string()))??;
            for (event, hash, filed) in &hashed {
                if let Err(broken) = verifier.push_filed(event, *hash, *filed) {
                    return Ok(Err(broken));
                }
            }
            match next? {
                Some(page) => rows = page,
                None => return Ok(verifier.finish(stands)),
            }
        }
    }

    /// The events of `organisation` stored at the `page` places from `from`, by place: read
    /// by the records' own keys, not through an index, so that what is missing shows. The
    /// two halves are read at once: the embedded engine decodes each on a core of its own.
    async fn event_page(
        &self,
        organisation: &str,
        from: u64,
        page: usize,
    ) -> Result<Vec<Value>, StoreError> {
        let half = from + page as u64 / 2;
        let org = organisation.to_owned();
        let first = tokio::spawn(read_events(self.db.clone(), org.clone(), from, half));
        let second = tokio::spawn(read_events(self.db.clone(), org, half, from + page as u64));
        let joined = |part: Result<_, tokio::task::JoinError>| {
            part.map_err(|e| StoreError::Database(e.to_string()))?
        };
        let (first, second) = tokio::join!(first, second);
        let mut rows: Vec<Value> = joined(first)?;
        rows.extend(joined(second)?);
        Ok(rows)
    }

    /// Signs and keeps the head of `organisation`'s tree as it stands.
    pub async fn sign_tree_head(
        &self,
        organisation: &str,
        now: Timestamp,
    ) -> Result<TreeHead, StoreError> {
        let key = self.ledger_key(now).await?;
        // The root kept as events were appended: what was recorded, whatever became of the
        // events since (verification holds them against it).
        let (size, root) = self.tree_root(organisation).await?;
        let head = key.sign(organisation, size, &root, now);
        self.db
            .query(
                "UPSERT type::record('consent_head', [$org, $size]) CONTENT {
                     organisation: $org, size: $size, head: $head, signed_at: <datetime>$at };",
            )
            .bind(("org", organisation.to_owned()))
            .bind(("size", size))
            .bind(("head", serde_json::to_value(&head).map_err(corrupt)?))
            .bind(("at", now.to_string()))
            .await
            .and_then(|r| r.check())?;
        Ok(head)
    }

    /// The tree heads signed for `organisation`, oldest first.
    pub async fn tree_heads(&self, organisation: &str) -> Result<Vec<TreeHead>, StoreError> {
        let rows: Vec<Value> = self
            .db
            .query("SELECT VALUE head FROM consent_head WHERE organisation = $org ORDER BY size")
            .bind(("org", organisation.to_owned()))
            .await?
            .take(0)?;
        rows.into_iter().map(decode).collect()
    }
}

/// An event as stored: the JSON text of its fields (one string for the engine to decode, a
/// fraction of the work of a tree of fields), or its fields themselves, as events were
/// written before migration 010.
fn decode_event(stored: Value) -> Result<Event, StoreError> {
    match stored {
        Value::String(text) => serde_json::from_str(&text).map_err(corrupt),
        fields => decode(fields),
    }
}

/// The events of `organisation` at the places from `from` to `to` (excluded).
async fn read_events(
    db: surrealdb::Surreal<surrealdb::engine::any::Any>,
    organisation: String,
    from: u64,
    to: u64,
) -> Result<Vec<Value>, StoreError> {
    Ok(db
        .query("SELECT seq, event FROM consent_event:[$org, $from]..[$org, $to]")
        .bind(("org", organisation))
        .bind(("from", from))
        .bind(("to", to))
        .await?
        .take(0)?)
}

/// The current answers at `keys` (consent_state:[organisation, activity, subject, choice]),
/// bound as record ids: the engine fetches them without evaluating an expression per key
/// (a third more checks a second than `$keys.map(|$k| type::record(…))`).
async fn read_states(
    db: surrealdb::Surreal<surrealdb::engine::any::Any>,
    keys: Vec<surrealdb::types::RecordId>,
) -> Result<Vec<Value>, StoreError> {
    Ok(db
        .query("SELECT subject, kind, accepted, seq, at, scope, minor, holders FROM $keys")
        .bind(("keys", keys))
        .await?
        .take(0)?)
}

fn current_of(organisation: &str, row: Value) -> Result<Current, StoreError> {
    let stored: StoredState = decode(row)?;
    Ok(Current {
        kind: stored.kind,
        accepted: stored.accepted,
        id: format!("{organisation}-{}", stored.seq),
        seq: stored.seq,
        at: stored.at.parse().map_err(corrupt)?,
        scope: stored.scope,
        minor: stored.minor,
        holders: stored.holders,
    })
}

fn state_doc(
    organisation: &str,
    activity: &str,
    subject: &str,
    choice: &str,
    current: &Current,
) -> Value {
    json!({
        "organisation": organisation,
        "activity": activity,
        "subject": subject,
        "choice": choice,
        "kind": current.kind.as_str(),
        "accepted": current.accepted,
        "seq": current.seq,
        "at": current.at.to_string(),
        "scope": current.scope,
        "minor": current.minor,
        "holders": current.holders,
    })
}
