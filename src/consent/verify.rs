//! Verification of a ledger: every event's hash recomputed, every link to the previous event
//! and every place checked, the tree rebuilt, and the tree heads published before held
//! against it. The first event that does not match is named.

use std::fmt;

use super::event::{Event, GENESIS};
use super::head::{HeadError, TreeHead};
use super::merkle::{self, Tree};

/// What is wrong with the event at `position` of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its content no longer gives its hash: it was changed.
    Altered,
    /// It does not point to the event before it: one was changed, removed or inserted.
    Unlinked,
    /// It bears another place: events were removed, inserted or reordered.
    OutOfPlace { seq: u64 },
    /// It belongs to another organisation's chain.
    OtherOrganisation { organisation: String },
    /// It is missing, and every one after it, though the chain's head counts `stands`.
    Truncated { stands: u64 },
}

/// The first event of a chain that does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub position: u64,
    pub id: String,
    pub problem: Problem,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (position, id) = (self.position, &self.id);
        match &self.problem {
            Problem::Altered => write!(
                f,
                "l'événement n° {position} ({id}) a été modifié : son contenu ne donne plus son empreinte"
            ),
            Problem::Unlinked => write!(
                f,
                "l'événement n° {position} ({id}) ne suit plus le précédent : un événement a été modifié, supprimé ou inséré avant lui"
            ),
            Problem::OutOfPlace { seq } if *seq > position => write!(
                f,
                "l'événement n° {position} manque : le registre passe au n° {seq} ({id}) ; des événements ont été supprimés"
            ),
            Problem::OutOfPlace { seq } => write!(
                f,
                "l'événement n° {position} porte le n° {seq} ({id}) : des événements ont été insérés ou déplacés"
            ),
            Problem::OtherOrganisation { organisation } => write!(
                f,
                "l'événement n° {position} ({id}) appartient à l'organisme « {organisation} »"
            ),
            Problem::Truncated { stands } if *stands == position + 1 => write!(
                f,
                "l'événement n° {position}, le dernier, manque : la chaîne en compte {stands}"
            ),
            Problem::Truncated { stands } => write!(
                f,
                "les événements n° {position} à {} manquent : la chaîne en compte {stands}",
                stands - 1
            ),
        }
    }
}

/// The chain of `organisation`, events in their stored order: its tree when every event
/// matches, else the first that does not.
pub fn chain<'e>(
    organisation: &str,
    events: impl IntoIterator<Item = &'e Event>,
) -> Result<Tree, Broken> {
    let mut verifier = Verifier::new(organisation);
    for event in events {
        verifier.push(event)?;
    }
    verifier.finish(0)
}

/// A chain checked event after event, so that a long one is read a page at a time.
pub struct Verifier<'o> {
    organisation: &'o str,
    tree: Tree,
    prev: String,
}

impl<'o> Verifier<'o> {
    pub fn new(organisation: &'o str) -> Self {
        Verifier {
            organisation,
            tree: Tree::new(),
            prev: GENESIS.to_owned(),
        }
    }

    /// The number of events checked so far: the place the next one must bear.
    pub fn checked(&self) -> u64 {
        self.tree.size()
    }

    /// Checks the next event of the chain.
    pub fn push(&mut self, event: &Event) -> Result<(), Broken> {
        self.push_hashed(event, event.computed_hash())
    }

    /// [`Verifier::push`] with the event's hash computed beforehand (`computed_hash`, which
    /// needs nothing of the chain: long ledgers hash a page of events on every core).
    pub fn push_hashed(&mut self, event: &Event, hash: merkle::Hash) -> Result<(), Broken> {
        let position = self.tree.size();
        let broken = |problem| Broken {
            position,
            id: event.id(),
            problem,
        };
        if event.organisation != self.organisation {
            return Err(broken(Problem::OtherOrganisation {
                organisation: event.organisation.clone(),
            }));
        }
        if event.seq != position {
            return Err(broken(Problem::OutOfPlace { seq: event.seq }));
        }
        if hex::encode(hash) != event.hash {
            return Err(broken(Problem::Altered));
        }
        if event.prev != self.prev {
            return Err(broken(Problem::Unlinked));
        }
        self.tree.push(merkle::leaf_hash(&hash));
        self.prev.clone_from(&event.hash);
        Ok(())
    }

    /// [`Verifier::push_hashed`] for an event the store files at place `filed`: a place
    /// changed in the store shows, even where the event itself is intact.
    pub fn push_filed(
        &mut self,
        event: &Event,
        hash: merkle::Hash,
        filed: u64,
    ) -> Result<(), Broken> {
        if filed != event.seq {
            return Err(Broken {
                position: self.tree.size(),
                id: event.id(),
                problem: Problem::OutOfPlace { seq: filed },
            });
        }
        self.push_hashed(event, hash)
    }

    /// The tree of every event checked, when they are at least the `stands` events the
    /// chain's head counted before the reading began; else where the missing ones start.
    pub fn finish(self, stands: u64) -> Result<Tree, Broken> {
        let position = self.tree.size();
        if position < stands {
            return Err(Broken {
                position,
                id: String::new(),
                problem: Problem::Truncated { stands },
            });
        }
        Ok(self.tree)
    }
}

/// What is wrong with the tree the store keeps beside the events (the subtrees and the right
/// edge receipts are proven from): proofs made from it would not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeFault {
    #[error("le bord de l'arbre enregistré (taille {size}) ne correspond pas aux événements")]
    Frontier { size: u64 },
    #[error("le sous-arbre des événements n° {} à {} enregistré ne correspond pas aux événements", .0.leaves().0, .0.leaves().1 - 1)]
    Altered(merkle::Span),
    #[error("le sous-arbre des événements n° {} à {} manque à l'arbre enregistré", .0.leaves().0, .0.leaves().1 - 1)]
    Missing(merkle::Span),
    #[error("l'arbre enregistré couvre des événements n° {} et suivants que la chaîne n'a pas", .0.leaves().0)]
    Beyond(merkle::Span),
}

/// Why a published tree head does not fit the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadMismatch {
    #[error("{0}")]
    Untrusted(#[from] HeadError),
    #[error("la tête d'arbre du {time} est celle d'un autre organisme")]
    OtherOrganisation { time: String },
    #[error(
        "la tête d'arbre du {time} compte {size} événements ; le registre n'en a que {held} : des événements ont été supprimés"
    )]
    Shorter { time: String, size: u64, held: u64 },
    #[error(
        "les {size} premiers événements ne donnent plus la racine publiée le {time} : le passé du registre a été réécrit"
    )]
    Rewritten { time: String, size: u64 },
    #[error(
        "la tête d'arbre du {new_time} ({new_size} événements) ne prolonge pas celle du {old_time} ({old_size} événements) : la preuve de cohérence ne tient pas"
    )]
    NotGrown {
        old_time: String,
        old_size: u64,
        new_time: String,
        new_size: u64,
    },
}

/// Checks a tree head noted earlier against the ledger's tree: signed by `public_key`, and
/// its root that of the ledger's first `size` events.
pub fn head(
    organisation: &str,
    tree: &Tree,
    head: &TreeHead,
    public_key: &str,
) -> Result<(), HeadMismatch> {
    let root = head.verified_root(public_key)?;
    let time = head.time.clone();
    if head.organisation != organisation {
        return Err(HeadMismatch::OtherOrganisation { time });
    }
    match tree.root(head.size) {
        None => Err(HeadMismatch::Shorter {
            time,
            size: head.size,
            held: tree.size(),
        }),
        Some(held) if held != root => Err(HeadMismatch::Rewritten {
            time,
            size: head.size,
        }),
        Some(_) => Ok(()),
    }
}

/// Checks that the log only grew between two tree heads: both signed by `public_key`, and the
/// consistency proof the ledger's tree gives from `older` to `newer` (RFC 9162 §2.1.4) ties
/// their two roots.
pub fn grew(
    tree: &Tree,
    older: &TreeHead,
    newer: &TreeHead,
    public_key: &str,
) -> Result<(), HeadMismatch> {
    let (old_root, new_root) = (
        older.verified_root(public_key)?,
        newer.verified_root(public_key)?,
    );
    let holds = tree
        .consistency_proof(older.size, newer.size)
        // The empty tree is a prefix of every tree, with an empty proof.
        .or_else(|| (older.size == 0 && newer.size <= tree.size()).then(Vec::new))
        .is_some_and(|proof| {
            super::merkle::verify_consistency(older.size, &old_root, newer.size, &new_root, &proof)
        });
    if holds {
        return Ok(());
    }
    Err(HeadMismatch::NotGrown {
        old_time: older.time.clone(),
        old_size: older.size,
        new_time: newer.time.clone(),
        new_size: newer.size,
    })
}
