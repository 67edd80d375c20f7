//! `POST /v2/trade/check/filequery` (API.md "filequery"; dg-sdk `V2TradeCheckFilequeryRequest`):
//! the statement files of `huifu_id` produced on `file_date`, with signed download links.
//!
//! Request `data`: `req_date` + `req_seq_id` (the request's own id), `huifu_id` (a merchant
//! the caller may act for, or a service provider's own `sys_id` for its combined file; `mer_id`
//! is accepted as its alias), `file_date` (`yyyyMMdd`, the day the file is produced: the trade
//! day + 1; monthly bills: the 1st of the next month), optional `bill_type` (`TRADE_BILL`
//! default, `SETTLE_BILL`, `TRADE_BILL_MONTH`, `SETTLE_BILL_MONTH`).
//!
//! Reply `data`: `resp_code`, `resp_desc`, `req_date`, `req_seq_id`, `huifu_id`, `file_date`,
//! `data_date`, `bill_type`, `file_details` (an array of objects: `file_id`, `file_name`,
//! `file_date`, `data_date`, `bill_type`, `huifu_id`, `download_url`, `file_size`, `sha256`,
//! `partial` "Y"/"N") and `task_details` (an array: `task_stat` I/P/S/F, `bill_type`,
//! `file_date`, `data_date`, `task_start_time`, `task_end_time` `yyyyMMddHHmmss`
//! Asia/Shanghai). `S` with no file: no trades that day. Refusals: `10000000` naming the field,
//! `22000000` for a `huifu_id` the caller may not see.

use chrono::{NaiveDate, Utc};
use nkpay_core::resp_code::RespCode;
use nkpay_engine::request::RequestId;
use nkpay_engine::shanghai_time;
use nkpay_engine::statements::{BillType, FileDetail, FileQueryAnswer};
use nkpay_engine::{Caller, Engine};
use serde_json::{Map, Value, json};

use super::CallerCall;
use super::fields::{Fields, date};
use super::reply::{Refusal, Reply};

/// The filequery endpoint.
pub struct FileQuery;

/// A read filequery request.
#[derive(Debug, Clone)]
pub struct FileQueryRequest {
    /// The request's own id.
    pub id: RequestId,
    /// Whose files.
    pub huifu_id: String,
    /// Production day.
    pub file_date: NaiveDate,
    /// Bill type, when given.
    pub bill_type: Option<BillType>,
}

impl CallerCall for FileQuery {
    type Request = FileQueryRequest;

    fn read(f: &Fields<'_>) -> Result<FileQueryRequest, Refusal> {
        let id = f.request_id()?;
        let huifu_id = f
            .aliased_id("huifu_id", "mer_id", 32)?
            .ok_or_else(|| Refusal::missing("huifu_id"))?;
        let file_date = date(f.required("file_date")?, "file_date")?;
        let bill_type = match f.optional("bill_type")? {
            None => None,
            Some(b) => Some(BillType::parse(b).ok_or_else(|| {
                Refusal::invalid(
                    "bill_type",
                    "must be TRADE_BILL, SETTLE_BILL, TRADE_BILL_MONTH or SETTLE_BILL_MONTH",
                )
            })?),
        };
        Ok(FileQueryRequest {
            id,
            huifu_id: huifu_id.to_owned(),
            file_date,
            bill_type,
        })
    }

    async fn run(
        engine: &Engine,
        caller: Caller,
        r: FileQueryRequest,
    ) -> Result<Map<String, Value>, Refusal> {
        let answer = engine
            .statements()
            .filequery(&caller, &r.huifu_id, r.file_date, r.bill_type, Utc::now())
            .await?;
        Ok(render(&r, &answer))
    }
}

/// A statement file as `file_details[]` (and the console) describe it: `file_id`,
/// `file_name`, `file_date`, `data_date`, `bill_type`, `huifu_id`, `download_url`, `file_size`
/// (bytes, a string), `sha256`, `partial` ("Y" / "N").
pub fn file_json(f: &FileDetail) -> Map<String, Value> {
    let value = json!({
        "file_id": f.file_id,
        "file_name": f.file_name,
        "file_date": f.file_date,
        "data_date": f.data_date,
        "bill_type": f.bill_type,
        "huifu_id": f.huifu_id,
        "download_url": f.download_url,
        "file_size": f.size_bytes.to_string(),
        "sha256": f.sha256,
        "partial": if f.partial { "Y" } else { "N" },
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn render(r: &FileQueryRequest, answer: &FileQueryAnswer) -> Map<String, Value> {
    let mut d = Reply::with_code(RespCode::Success, "查询成功");
    d.set("req_date", r.id.req_date.format("%Y%m%d").to_string())
        .set("req_seq_id", &r.id.req_seq_id)
        .set("huifu_id", &r.huifu_id)
        .set("file_date", r.file_date.format("%Y%m%d").to_string());
    if let Some(task) = answer.task_details.first() {
        d.set("data_date", &task.data_date)
            .set("bill_type", &task.bill_type);
    }
    let mut data = d.into_map();
    let files: Vec<Value> = answer
        .file_details
        .iter()
        .map(|f| Value::Object(file_json(f)))
        .collect();
    let tasks: Vec<Value> = answer
        .task_details
        .iter()
        .map(|t| {
            let mut task = Map::new();
            task.insert("task_stat".into(), Value::from(t.task_stat));
            task.insert("bill_type".into(), Value::from(t.bill_type.as_str()));
            task.insert("file_date".into(), Value::from(t.file_date.as_str()));
            task.insert("data_date".into(), Value::from(t.data_date.as_str()));
            if let Some(s) = t.start_time {
                task.insert(
                    "task_start_time".into(),
                    Value::from(shanghai_time::format_date_time(s)),
                );
            }
            if let Some(e) = t.end_time {
                task.insert(
                    "task_end_time".into(),
                    Value::from(shanghai_time::format_date_time(e)),
                );
            }
            Value::Object(task)
        })
        .collect();
    data.insert("file_details".into(), Value::Array(files));
    data.insert("task_details".into(), Value::Array(tasks));
    data
}
