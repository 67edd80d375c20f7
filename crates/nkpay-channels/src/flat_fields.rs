//! Both channels deliver some messages as flat name → text maps (WeChat XML, Alipay notify
//! forms). This reads such a map into a typed wire struct; absent names become `None`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

pub(crate) fn typed<T: DeserializeOwned>(fields: &BTreeMap<String, String>) -> Result<T, String> {
    let object = fields
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| format!("field missing or malformed: {e}"))
}
