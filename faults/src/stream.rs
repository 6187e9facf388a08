//! Per-link random streams for the interposer.
//!
//! Each (node, peer, side) gets its own ChaCha8 stream derived from the run's
//! seed, so the decisions on one link depend only on the seed and on that
//! link's own traffic, never on what other links carried in between.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use workloads::NodeId;

/// The splitmix64 increment (the golden ratio in 64-bit fixed point).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Which side of a node a stream decides for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    /// Messages the node sends to the peer.
    Send = 0,
    /// Messages the node receives from the peer.
    Receive = 1,
    /// The node's own processing (peer = the node itself): slow rules.
    Process = 2,
}

/// The splitmix64 output function: a bijective avalanche mix of 64 bits.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The RNG stream node `me` uses for its `side` of the link with `peer`.
pub(crate) fn link_rng(seed: u64, me: NodeId, peer: NodeId, side: Side) -> ChaCha8Rng {
    // Absorb each word through a full mix so nearby tuples give unrelated keys.
    let mut state = mix64(seed.wrapping_add(GOLDEN));
    for word in [u64::from(me.0), u64::from(peer.0), side as u64] {
        state = mix64(state ^ word.wrapping_add(GOLDEN));
    }
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        state = state.wrapping_add(GOLDEN);
        chunk.copy_from_slice(&mix64(state).to_le_bytes());
    }
    let mut rng = ChaCha8Rng::from_seed(key);
    // The stream number is injective in the tuple: distinct links never share
    // a keystream even if two derived keys collided.
    rng.set_stream((u64::from(me.0) << 32) | (u64::from(peer.0) << 16) | side as u64);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    fn first(seed: u64, me: u16, peer: u16, side: Side) -> u64 {
        link_rng(seed, NodeId(me), NodeId(peer), side).next_u64()
    }

    #[test]
    fn same_tuple_gives_same_stream() {
        assert_eq!(first(7, 1, 2, Side::Send), first(7, 1, 2, Side::Send));
    }

    #[test]
    fn every_component_of_the_tuple_changes_the_stream() {
        let base = first(7, 1, 2, Side::Send);
        assert_ne!(base, first(8, 1, 2, Side::Send));
        assert_ne!(base, first(7, 2, 1, Side::Send));
        assert_ne!(base, first(7, 1, 3, Side::Send));
        assert_ne!(base, first(7, 1, 2, Side::Receive));
    }

    #[test]
    fn mix_is_not_the_identity_and_spreads_small_inputs() {
        assert_ne!(mix64(1), 1);
        // Consecutive inputs should differ in about half their bits.
        let flipped = (mix64(1) ^ mix64(2)).count_ones();
        assert!((16..=48).contains(&flipped), "{flipped} bits differ");
    }
}
