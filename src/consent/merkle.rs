//! The Merkle tree of a ledger, as RFC 9162 (Certificate Transparency 2.0) §2.1 defines it:
//! tree hashes, inclusion proofs and consistency proofs at any past size, and their
//! verification. Anyone holding a signed tree head can check with these functions alone that
//! an event is in the log, and that a later log only grew from the earlier one.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of a leaf: `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an inner node: `SHA-256(0x01 ‖ left ‖ right)`.
fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: the hash of nothing.
fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n` ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// A complete subtree: the leaves `index·2^level .. (index+1)·2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub level: u32,
    pub index: u64,
}

impl Span {
    /// The first leaf of the subtree and the one after its last.
    pub fn leaves(self) -> (u64, u64) {
        (self.index << self.level, (self.index + 1) << self.level)
    }
}

/// Where the hashes of complete subtrees come from: a whole tree in memory, or the few a
/// proof needs, read from the store.
pub trait Subtrees {
    /// The hash of the complete subtree `span`.
    fn subtree(&self, span: Span) -> Hash;
}

/// The tree hash of leaves `start..end` (RFC 9162 MTH), from complete subtrees.
fn range(nodes: &impl Subtrees, start: u64, end: u64) -> Hash {
    let n = end - start;
    if n == 0 {
        return empty_root();
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return nodes.subtree(Span {
            level: n.trailing_zeros(),
            index: start / n,
        });
    }
    let k = split(n);
    node_hash(
        &range(nodes, start, start + k),
        &range(nodes, start + k, end),
    )
}

/// RFC 9162 §2.1.3.1 PATH of leaf `index` in leaves `start..end`.
fn path(nodes: &impl Subtrees, index: u64, start: u64, end: u64, proof: &mut Vec<Hash>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        path(nodes, index, start, start + k, proof);
        proof.push(range(nodes, start + k, end));
    } else {
        path(nodes, index - k, start + k, end, proof);
        proof.push(range(nodes, start, start + k));
    }
}

/// RFC 9162 §2.1.4.1 SUBPROOF of the first `m` leaves of `start..end`.
fn subproof(
    nodes: &impl Subtrees,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    proof: &mut Vec<Hash>,
) {
    let n = end - start;
    if m == n {
        if !complete {
            proof.push(range(nodes, start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, start, start + k, complete, proof);
        proof.push(range(nodes, start + k, end));
    } else {
        subproof(nodes, m - k, start + k, end, false, proof);
        proof.push(range(nodes, start, start + k));
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from `nodes`.
pub fn inclusion_proof(nodes: &impl Subtrees, index: u64, size: u64) -> Vec<Hash> {
    let mut proof = Vec::new();
    path(nodes, index, 0, size, &mut proof);
    proof
}

/// The complete subtrees whose hashes the inclusion proof of leaf `index` in the tree of
/// `size` leaves is made of: what to read from the store to give it.
pub fn inclusion_spans(index: u64, size: u64) -> Vec<Span> {
    /// Notes what is asked instead of answering.
    struct Asked(std::cell::RefCell<Vec<Span>>);
    impl Subtrees for Asked {
        fn subtree(&self, span: Span) -> Hash {
            self.0.borrow_mut().push(span);
            [0; 32]
        }
    }
    let asked = Asked(std::cell::RefCell::new(Vec::new()));
    if index < size {
        inclusion_proof(&asked, index, size);
    }
    asked.0.into_inner()
}

/// A tree over leaf hashes, with the hash of every complete subtree kept, so that the root
/// and the proofs of any past size take a few dozen hashes instead of one per leaf.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[k][i]`: the hash of the complete subtree of leaves `i·2^k .. (i+1)·2^k`.
    levels: Vec<Vec<Hash>>,
}

impl Subtrees for Tree {
    fn subtree(&self, span: Span) -> Hash {
        self.levels[span.level as usize][span.index as usize]
    }
}

impl Tree {
    pub fn new() -> Self {
        Tree::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            // A node with an even number of nodes to its left has no sibling yet.
            if nodes.len() % 2 == 1 {
                return;
            }
            hash = node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            level += 1;
        }
    }

    /// Every complete subtree of `level` and above, in order of level then place.
    pub fn spans_from(&self, level: u32) -> impl Iterator<Item = (Span, Hash)> + '_ {
        self.levels
            .iter()
            .enumerate()
            .skip(level as usize)
            .flat_map(|(level, nodes)| {
                nodes.iter().enumerate().map(move |(index, hash)| {
                    let span = Span {
                        level: level as u32,
                        index: index as u64,
                    };
                    (span, *hash)
                })
            })
    }

    /// The root of the tree of the first `size` leaves; `None` past the current size.
    pub fn root(&self, size: u64) -> Option<Hash> {
        (size <= self.size()).then(|| range(self, 0, size))
    }

    /// The tree hash of the leaves `start..end`; `None` past the current size.
    pub fn range_hash(&self, start: u64, end: u64) -> Option<Hash> {
        (start <= end && end <= self.size()).then(|| range(self, start, end))
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves
    /// (RFC 9162 §2.1.3.1, PATH); `None` when the leaf is not in that tree.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        (index < size && size <= self.size()).then(|| inclusion_proof(self, index, size))
    }

    /// The proof that the tree of the first `old` leaves is a prefix of the tree of the
    /// first `new` (RFC 9162 §2.1.4.1, SUBPROOF); `None` unless 0 < `old` ≤ `new` ≤ size.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        (0 < old && old <= new && new <= self.size()).then(|| {
            let mut proof = Vec::new();
            subproof(self, old, 0, new, true, &mut proof);
            proof
        })
    }
}

/// The right edge of a tree: the hash of each complete subtree its leaves split into,
/// largest first (one per bit set in its size). Enough to append to the tree, and to give its
/// root, without its leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Frontier::default()
    }

    /// The frontier of a tree of `size` leaves; `None` unless there is one hash per bit set.
    pub fn of(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash; gives each complete subtree it completes, the leaf first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(Span, Hash)> {
        let place = self.size;
        let mut hash = leaf;
        let mut completed = vec![(
            Span {
                level: 0,
                index: place,
            },
            hash,
        )];
        let mut level = 0;
        // Each bit set from the lowest is a subtree of that level waiting for its sibling.
        while (self.size >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            completed.push((
                Span {
                    level,
                    index: place >> level,
                },
                hash,
            ));
        }
        self.hashes.push(hash);
        self.size += 1;
        completed
    }

    /// The root of the tree (RFC 9162 MTH).
    pub fn root(&self) -> Hash {
        let mut hashes = self.hashes.iter().rev();
        let Some(last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// Whether `proof` shows the leaf `leaf` at `index` in the tree of `size` leaves whose root
/// is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut hash = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            hash = node_hash(p, &hash);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            hash = node_hash(&hash, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && hash == *root
}

/// Whether `proof` shows that the tree of `old` leaves with root `old_root` is a prefix of
/// the tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    old_root: &Hash,
    new: u64,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        // The empty tree is a prefix of every tree.
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the Certificate Transparency test vectors.
    const LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];

    /// Their roots at sizes 1 to 8.
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn tree(n: usize) -> Tree {
        let mut tree = Tree::new();
        for i in 0..n {
            tree.push(leaf_hash(&(i as u64).to_be_bytes()));
        }
        tree
    }

    /// MTH as RFC 9162 writes it, straight from the leaves: the oracle of the tree's shortcuts.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_are_those_of_the_certificate_transparency_vectors() {
        let mut tree = Tree::new();
        assert_eq!(
            hex::encode(tree.root(0).unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for leaf in LEAVES {
            tree.push(leaf_hash(leaf));
        }
        for (size, root) in ROOTS.iter().enumerate() {
            assert_eq!(hex::encode(tree.root(size as u64 + 1).unwrap()), *root);
        }
        assert_eq!(tree.root(9), None);
    }

    #[test]
    fn inclusion_proofs_are_those_of_the_vectors() {
        let mut tree = Tree::new();
        for leaf in LEAVES {
            tree.push(leaf_hash(leaf));
        }
        let proof: Vec<String> = tree
            .inclusion_proof(0, 8)
            .unwrap()
            .iter()
            .map(hex::encode)
            .collect();
        assert_eq!(
            proof,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(tree.inclusion_proof(0, 1).unwrap(), Vec::<Hash>::new());
        assert_eq!(tree.inclusion_proof(8, 8), None);
    }

    #[test]
    fn every_root_matches_the_definition() {
        let tree = tree(70);
        let leaves = &tree.levels[0];
        for size in 0..=70 {
            assert_eq!(
                tree.root(size as u64).unwrap(),
                reference_root(&leaves[..size]),
                "size {size}"
            );
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_no_other_leaf_or_place_does() {
        let tree = tree(40);
        for size in 1..=40u64 {
            let root = tree.root(size).unwrap();
            for index in 0..size {
                let leaf = tree.levels[0][index as usize];
                let proof = tree.inclusion_proof(index, size).unwrap();
                assert!(verify_inclusion(&leaf, index, size, &proof, &root));
                let other = tree.levels[0][((index + 1) % 40) as usize];
                assert!(!verify_inclusion(&other, index, size, &proof, &root));
                if size > 1 {
                    let elsewhere = (index + 1) % size;
                    assert!(!verify_inclusion(&leaf, elsewhere, size, &proof, &root));
                }
            }
        }
    }

    #[test]
    fn a_frontier_gives_the_root_and_the_subtrees_of_the_whole_tree() {
        let tree = tree(70);
        let mut frontier = Frontier::new();
        let mut completed = Vec::new();
        for (size, leaf) in tree.levels[0].iter().enumerate() {
            assert_eq!(
                frontier.root(),
                tree.root(size as u64).unwrap(),
                "size {size}"
            );
            completed.extend(frontier.push(*leaf));
        }
        assert_eq!(frontier.root(), tree.root(70).unwrap());
        // Each complete subtree once, with the tree's hash.
        completed.sort();
        let all: Vec<(Span, Hash)> = tree.spans_from(0).collect();
        assert_eq!(completed, all);
        let again = Frontier::of(70, frontier.hashes().to_vec()).unwrap();
        assert_eq!(again, frontier);
        assert_eq!(Frontier::of(71, frontier.hashes().to_vec()), None);
    }

    #[test]
    fn a_proof_from_the_subtrees_it_names_is_the_proof_from_the_whole_tree() {
        struct Only(std::collections::HashMap<Span, Hash>);
        impl Subtrees for Only {
            fn subtree(&self, span: Span) -> Hash {
                self.0[&span]
            }
        }
        let tree = tree(45);
        for size in 1..=45u64 {
            for index in 0..size {
                let spans = inclusion_spans(index, size);
                let only = Only(spans.iter().map(|s| (*s, tree.subtree(*s))).collect());
                assert_eq!(
                    Some(inclusion_proof(&only, index, size)),
                    tree.inclusion_proof(index, size)
                );
            }
        }
        assert!(inclusion_spans(5, 5).is_empty());
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_rewritten_past_does_not() {
        let tree = tree(40);
        let mut rewritten = tree.clone();
        rewritten.levels = Vec::new();
        for i in 0..40u64 {
            // The same log with its 4th leaf changed.
            let data = if i == 3 { 999u64 } else { i };
            rewritten.push(leaf_hash(&data.to_be_bytes()));
        }
        for new in 1..=40u64 {
            let new_root = tree.root(new).unwrap();
            for old in 1..=new {
                let old_root = tree.root(old).unwrap();
                let proof = tree.consistency_proof(old, new).unwrap();
                assert!(verify_consistency(old, &old_root, new, &new_root, &proof));
                if old < new {
                    assert!(!verify_consistency(old, &new_root, new, &new_root, &proof));
                }
                if old > 3 {
                    // A head noted before the rewrite does not fit the rewritten log.
                    let forged = rewritten.consistency_proof(old, new).unwrap();
                    let forged_root = rewritten.root(new).unwrap();
                    assert!(!verify_consistency(
                        old,
                        &old_root,
                        new,
                        &forged_root,
                        &forged
                    ));
                }
            }
        }
        assert!(verify_consistency(
            0,
            &empty_root(),
            5,
            &tree.root(5).unwrap(),
            &[]
        ));
        assert_eq!(tree.consistency_proof(0, 5), None);
        assert_eq!(tree.consistency_proof(6, 5), None);
    }
}
