//! Reading a request's `data` fields: every value is a string (amounts too), an empty string is
//! the same as an absent field (the SDKs drop empties before signing), unknown fields are
//! ignored, and a wrongly typed field is refused by name.

use serde_json::{Map, Value};

use crate::error::EngineError;

/// A request's `data` (or a nested business object such as `wx_data`), named for messages.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// `""` for `data`, `"wx_data."` for a nested object.
    prefix: &'static str,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Fields { map, prefix: "" }
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The field's text; `None` when absent, `null` or `""`.
    pub fn optional(&self, key: &str) -> Result<Option<&'a str>, EngineError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(EngineError::invalid(self.name(key), "must be a string")),
        }
    }

    pub fn required(&self, key: &str) -> Result<&'a str, EngineError> {
        self.optional(key)?
            .ok_or_else(|| EngineError::missing(self.name(key)))
    }

    /// The first of `keys` present (`mer_id` with its alias `huifu_id`).
    pub fn required_any(&self, keys: &[&str]) -> Result<&'a str, EngineError> {
        for key in keys {
            if let Some(v) = self.optional(key)? {
                return Ok(v);
            }
        }
        Err(EngineError::missing(
            self.name(keys.first().copied().unwrap_or("?")),
        ))
    }

    /// A nested business object sent as a JSON object or as a string holding one (the SDKs
    /// send strings). Absent or empty gives `None`.
    pub fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, EngineError> {
        let not_object = || {
            EngineError::invalid(
                self.name(key),
                "must be a JSON object, or a string holding one",
            )
        };
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok((!m.is_empty()).then(|| m.clone())),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Ok((!m.is_empty()).then_some(m)),
                _ => Err(not_object()),
            },
            Some(_) => Err(not_object()),
        }
    }
}

/// Fields of a nested object, so messages name `wx_data.sub_appid`.
pub fn nested<'a>(map: &'a Map<String, Value>, prefix: &'static str) -> Fields<'a> {
    Fields { map, prefix }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn empty_and_null_read_as_absent_and_numbers_are_refused_by_name() {
        let m = map(json!({"a": "", "b": null, "c": "x", "d": 1}));
        let f = Fields::new(&m);
        assert_eq!(f.optional("a").unwrap(), None);
        assert_eq!(f.optional("b").unwrap(), None);
        assert_eq!(f.optional("c").unwrap(), Some("x"));
        assert_eq!(
            f.optional("d").unwrap_err().to_string(),
            "d格式错误: must be a string"
        );
        assert_eq!(f.required("a").unwrap_err().to_string(), "a不能为空");
    }

    #[test]
    fn nested_object_may_be_a_string_or_an_object() {
        let m = map(json!({
            "s": "{\"sub_appid\":\"wx1\"}",
            "o": {"sub_appid": "wx2"},
            "bad": "[1]",
            "n": 3
        }));
        let f = Fields::new(&m);
        assert_eq!(f.object("s").unwrap().unwrap()["sub_appid"], "wx1");
        assert_eq!(f.object("o").unwrap().unwrap()["sub_appid"], "wx2");
        assert!(
            f.object("bad")
                .unwrap_err()
                .to_string()
                .starts_with("bad格式错误")
        );
        assert!(f.object("n").is_err());
        assert!(f.object("absent").unwrap().is_none());
    }

    #[test]
    fn alias_is_read_when_the_main_name_is_absent() {
        let m = map(json!({"huifu_id": "6666000100000001"}));
        let f = Fields::new(&m);
        assert_eq!(
            f.required_any(&["mer_id", "huifu_id"]).unwrap(),
            "6666000100000001"
        );
        let none = map(json!({}));
        assert_eq!(
            Fields::new(&none)
                .required_any(&["mer_id", "huifu_id"])
                .unwrap_err()
                .to_string(),
            "mer_id不能为空"
        );
    }
}
