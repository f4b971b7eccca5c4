//! Model-based test of the engine: random sequences of stream, group and
//! list operations, with the engine reopened and its journal compacted at
//! random points, must give the same replies as the plain in-memory model
//! of `tests/model` (which the `engine_model` fuzz target runs too).
//!
//! Cases: `PROPTEST_CASES` (default 64).

mod model;

use model::Op;
use proptest::prelude::*;

use brook::engine::keyspace::{Engine, EngineConfig};
use brook::{LogConfig, StoreConfig};

fn op() -> impl Strategy<Value = Op> {
    let id = (0u64..40, 0u64..3);
    prop_oneof![
        6 => (any::<bool>(), 0u64..3, 0u64..3, 1u8..4, any::<u8>())
            .prop_map(|(auto, dms, seq, nf, v)| Op::Add { auto, dms, seq, nf, v }),
        2 => prop::collection::vec(id.clone(), 1..4).prop_map(Op::Del),
        3 => (0usize..20).prop_map(Op::DelNth),
        1 => (0u64..12).prop_map(Op::TrimLen),
        1 => (0u64..40).prop_map(Op::TrimMin),
        2 => (0u64..40, 0u64..40, prop::option::of(0usize..6)).prop_map(|(a, b, c)| Op::Range(a, b, c)),
        1 => (0u64..40, 0u64..40, prop::option::of(0usize..6)).prop_map(|(a, b, c)| Op::RevRange(a, b, c)),
        1 => (0u8..2, any::<bool>()).prop_map(|(g, last)| Op::Create(g, last)),
        3 => (0u8..2, 0u8..3, prop::option::of(1usize..5), any::<bool>())
            .prop_map(|(g, c, n, noack)| Op::ReadNew(g, c, n, noack)),
        1 => (0u8..2, 0u8..3, 0u64..40).prop_map(|(g, c, a)| Op::ReadPending(g, c, a)),
        2 => (0u8..2, prop::collection::vec(id.clone(), 1..4)).prop_map(|(g, ids)| Op::Ack(g, ids)),
        1 => (0u8..2).prop_map(Op::Summary),
        1 => (0u8..2, 0u8..3, prop::collection::vec(id, 1..4)).prop_map(|(g, c, ids)| Op::Claim(g, c, ids)),
        1 => (0u8..2, 0u8..3, 0u64..40, 1u64..4).prop_map(|(g, c, s, n)| Op::AutoClaim(g, c, s, n)),
        1 => Just(Op::Tick),
        1 => (0u64..16384).prop_map(Op::Retain),
        1 => Just(Op::Reopen),
        2 => (0u8..2, any::<bool>(), 1u8..4, any::<u8>())
            .prop_map(|(list, tail, n, v)| Op::Push { list, tail, n, v }),
        2 => (0u8..2, any::<bool>(), 1u8..4).prop_map(|(list, tail, count)| Op::Pop { list, tail, count }),
        1 => (0u8..2, 0u8..2, any::<bool>(), any::<bool>())
            .prop_map(|(from, to, from_tail, to_tail)| Op::LMove { from, to, from_tail, to_tail }),
        1 => Just(Op::Compact),
    ]
}

fn small_engine(dir: &std::path::Path) -> Engine {
    let cfg = EngineConfig {
        store: StoreConfig {
            log: LogConfig {
                segment_bytes: 4096,
                ..LogConfig::default()
            },
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    };
    Engine::open(dir, cfg).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        model::run(ops, &|| small_engine(dir.path())).map_err(TestCaseError::fail)?;
    }
}
