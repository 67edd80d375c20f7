//! Fuzz target `yuan` (docs/fuzzing.md): yuan amounts as merchants and channels write them,
//! from the committed corpus `fuzz/corpus/yuan` mutated, and random text. Properties: no panic;
//! an accepted string is exactly the canonical text of its amount (round trip); a refusal names
//! the rule.

#[path = "../../../fuzz/fuzzing.rs"]
#[allow(dead_code)]
mod fuzzing;

use nkpay_core::money::Money;
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    fuzzing::seeds(&fuzzing::corpus_dir(env!("CARGO_MANIFEST_DIR"), "yuan"))
}

proptest! {
    #![proptest_config(fuzzing::config())]

    #[test]
    fn fuzz_yuan(text in fuzzing::text_inputs(seeds())) {
        match Money::parse_yuan(&text) {
            Ok(m) => {
                prop_assert_eq!(m.to_yuan(), text.clone());
                prop_assert_eq!(Money::parse_yuan(&m.to_yuan()).ok(), Some(m));
            }
            Err(e) => prop_assert!(e.to_string().contains("yuan"), "{}", e),
        }
    }
}
