//! The `k=v&k=v` string WeChat Pay and Alipay both sign: non-empty values only, keys in byte
//! order (a `BTreeMap<String, _>` iterates that way), values raw — no URL-encoding.

use std::collections::BTreeMap;

/// Joins every pair whose value is non-empty and whose key is not in `skip`.
pub(crate) fn join_sorted_pairs(params: &BTreeMap<String, String>, skip: &[&str]) -> String {
    let mut out = String::new();
    for (k, v) in params {
        if v.is_empty() || skip.contains(&k.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}
