//! The console's regeneration of statement files (issue 12), on SQLite and PostgreSQL:
//! `POST /admin/api/statements/generate` remakes a day (or a month) through the engine path of
//! `nkpay bill generate`, for platform admins and operators only, audited, bad input refused
//! naming the field; and a regeneration leaves no gap — while a day is remade its files stay
//! listed by `filequery` and every download opened meanwhile gives complete bytes, and a
//! download opened before the regeneration still gives the old file whole after it.

mod refunds_support;
mod support;

use chrono::{TimeDelta, Utc};
use futures::StreamExt;
use nkpay_core::trade_type::ChannelKind;
use nkpay_engine::admin_identity::Actor;
use nkpay_engine::statements::Download;
use nkpay_store::audit_log;
use nkpay_store::kinds::AdminRole;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{MER_A, Platform, fresh_id};

const GENERATE: &str = "/admin/api/statements/generate";
const FILEQUERY: &str = "/v2/trade/check/filequery";

async fn token(p: &Platform, role: AdminRole) -> (String, String) {
    let name = format!("st-{}", fresh_id());
    let token = p
        .engine
        .admin_identity()
        .create_token(
            &Actor::local("test"),
            &name,
            role,
            (role == AdminRole::AgentAdmin).then_some(support::SP),
        )
        .await
        .expect("token")
        .token
        .into_inner();
    (name, token)
}

async fn generate(p: &Platform, token: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{GENERATE}", p.base_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST generate");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, v)
}

/// Every byte of a download.
async fn read_all(d: Download) -> Vec<u8> {
    let mut chunks = d.chunks;
    let mut out = Vec::new();
    while let Some(c) = chunks.next().await {
        out.extend(c.expect("chunk"));
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn today_shanghai() -> chrono::NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_regenerate_a_day_or_month_audited_and_bad_input_names_the_field() {
    for p in Platform::all().await {
        let label = p.label;
        p.paid_trade(ChannelKind::Wechat, "0.21").await;
        let today = today_shanghai().format("%Y%m%d").to_string();
        let month = today_shanghai().format("%Y%m").to_string();

        // Finance reads statements but writes nothing; read-only and agent admins neither.
        for role in [
            AdminRole::Finance,
            AdminRole::ReadOnly,
            AdminRole::AgentAdmin,
        ] {
            let (_, t) = token(&p, role).await;
            let (status, body) = generate(&p, &t, json!({"date": today})).await;
            assert_eq!(status, 403, "{label}: {role:?}: {body}");
        }

        let (name, operator) = token(&p, AdminRole::Operator).await;
        let (status, report) = generate(&p, &operator, json!({"date": today})).await;
        assert_eq!(status, 200, "{label}: {report}");
        assert_eq!(report["data_date"], today.as_str(), "{label}");
        assert_eq!(report["partial"], true, "{label}: today has not closed");
        let files = report["files"].as_array().expect("files");
        let trade_bill = format!("{today}_{MER_A}_TRADE_BILL");
        let first_sha = files
            .iter()
            .find(|f| f["file_id"] == trade_bill.as_str())
            .unwrap_or_else(|| panic!("{label}: no {trade_bill} in {report}"))["sha256"]
            .clone();

        // A second regeneration: audited with each file's hash before and after.
        let (status, again) = generate(&p, &operator, json!({"date": today})).await;
        assert_eq!(status, 200, "{label}: {again}");
        let audit = audit_log::page(p.db.conn(), i64::MAX, 1000)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.action == "statement.generate" && e.actor == format!("token:{name}"))
            .collect::<Vec<_>>();
        assert_eq!(audit.len(), 2, "{label}: {audit:?}");
        // Newest first: the second regeneration.
        assert_eq!(audit[0].target, format!("statements:{today}"));
        let entry = audit[0].detail["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["file_id"] == trade_bill.as_str())
            .cloned()
            .expect("the trade bill audited");
        assert_eq!(entry["sha256"]["before"], first_sha, "{label}: {entry}");
        assert_eq!(
            entry["sha256"]["after"],
            again["files"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["file_id"] == trade_bill.as_str()))
                .expect("file")["sha256"],
            "{label}"
        );

        // The month's bills, by a platform admin.
        let (_, admin) = token(&p, AdminRole::PlatformAdmin).await;
        let (status, report) = generate(&p, &admin, json!({"month": month})).await;
        assert_eq!(status, 200, "{label}: {report}");
        assert_eq!(report["data_date"], format!("{month}01"), "{label}");
        let names: Vec<&str> = report["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter_map(|f| f["file_name"].as_str())
            .collect();
        assert!(
            names.contains(&format!("{month}_{MER_A}_TRADE_BILL_MONTH.zip").as_str()),
            "{label}: {names:?}"
        );

        // Bad input, each refusal naming its field.
        let tomorrow = (today_shanghai() + TimeDelta::days(1))
            .format("%Y%m%d")
            .to_string();
        let next_month = (today_shanghai() + TimeDelta::days(40))
            .format("%Y%m")
            .to_string();
        for (body, field) in [
            (json!({"date": "2026-11-20"}), "date"),
            (json!({"date": "20261131"}), "date"),
            (json!({"date": tomorrow}), "date"),
            (json!({"month": "202613"}), "month"),
            (json!({"month": "2026111"}), "month"),
            (json!({"month": next_month}), "month"),
            (json!({"date": today, "month": month}), "month"),
            (json!({}), "date"),
        ] {
            let (status, reply) = generate(&p, &operator, body.clone()).await;
            assert_eq!(status, 400, "{label}: {body}: {reply}");
            assert_eq!(reply["field"], field, "{label}: {body}: {reply}");
        }
        let (status, reply) = generate(&p, &operator, json!({"day": today})).await;
        assert_eq!(status, 400, "{label}: an unknown field: {reply}");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_regenerated_day_stays_listed_and_downloads_whole_throughout() {
    for p in Platform::all().await {
        let label = p.label;
        let today = today_shanghai();
        let statements = p.engine.statements();
        p.paid_trade(ChannelKind::Wechat, "0.31").await;
        statements
            .generate(today, Utc::now())
            .await
            .expect("first generation");
        let file_id = format!("{}_{MER_A}_TRADE_BILL", today.format("%Y%m%d"));
        let old = statements
            .open(&file_id)
            .await
            .expect("open")
            .expect("the file");
        let old_sha = old.file.sha256.clone().expect("sha256");
        // A download opened now, read only after the day has been remade.
        let opened_before = statements
            .open(&file_id)
            .await
            .expect("open")
            .expect("the file");
        assert_eq!(sha256_hex(&read_all(old).await), old_sha, "{label}");

        // A new trade, then the day remade while downloads and filequery keep asking.
        p.paid_trade(ChannelKind::Wechat, "0.32").await;
        let engine = p.engine.clone();
        let remake = tokio::spawn(async move {
            engine
                .statements()
                .generate(today, Utc::now())
                .await
                .expect("regeneration")
        });
        let file_date = (today + TimeDelta::days(1)).format("%Y%m%d").to_string();
        let mut looks = 0;
        let mut hashes_seen = std::collections::BTreeSet::new();
        loop {
            let done = remake.is_finished();
            let d = statements
                .open(&file_id)
                .await
                .expect("open")
                .unwrap_or_else(|| panic!("{label}: the file vanished during regeneration"));
            let want = d.file.sha256.clone().expect("sha256");
            let got = sha256_hex(&read_all(d).await);
            assert_eq!(
                got, want,
                "{label}: a download opened during regeneration is whole"
            );
            hashes_seen.insert(got);
            let r =
                p.sp.call(
                    FILEQUERY,
                    json!({
                        "req_date": support::today(),
                        "req_seq_id": fresh_id(),
                        "huifu_id": MER_A,
                        "file_date": file_date,
                    }),
                )
                .await;
            assert_eq!(r.code(), "00000000", "{label}: {:?}", r.data);
            assert_eq!(
                r.data["file_details"].as_array().map(Vec::len),
                Some(1),
                "{label}: filequery lists the file throughout: {:?}",
                r.data
            );
            looks += 1;
            if done {
                break;
            }
        }
        let report = remake.await.expect("task");
        let new_sha = report
            .files
            .iter()
            .find(|f| f.file_id == file_id)
            .expect("remade")
            .sha256
            .clone();
        assert_ne!(new_sha, old_sha, "{label}: the new trade changed the file");
        assert!(
            hashes_seen.iter().all(|h| *h == old_sha || *h == new_sha),
            "{label}: only the old or the new file was ever served: {hashes_seen:?}"
        );
        assert!(hashes_seen.contains(&new_sha), "{label}: {looks} looks");
        // Opened before, read after: the old file, whole.
        assert_eq!(
            sha256_hex(&read_all(opened_before).await),
            old_sha,
            "{label}: a download under way keeps the bytes it started with"
        );
        // Once the grace period has passed, the replaced bytes are removed; the file stays.
        let later = Utc::now()
            + TimeDelta::from_std(nkpay_engine::statements::contents::DETACHED_GRACE)
                .expect("grace")
            + TimeDelta::minutes(1);
        assert!(
            statements.purge_detached(later).await.expect("purge") >= 1,
            "{label}"
        );
        let d = statements
            .open(&file_id)
            .await
            .expect("open")
            .expect("the file");
        assert_eq!(sha256_hex(&read_all(d).await), new_sha, "{label}");
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_page_on_the_server_with_offset_and_total() {
    for p in Platform::all().await {
        let label = p.label;
        p.paid_trade(ChannelKind::Wechat, "0.21").await;
        let today = today_shanghai().format("%Y%m%d").to_string();
        let (_, admin) = token(&p, AdminRole::PlatformAdmin).await;
        let (status, report) = generate(&p, &admin, json!({"date": today})).await;
        assert_eq!(status, 200, "{label}: {report}");
        let list = |query: String| {
            let (p, admin) = (&p, &admin);
            async move {
                let resp = reqwest::Client::new()
                    .get(format!("{}/admin/api/statements?{query}", p.base_url))
                    .bearer_auth(admin)
                    .send()
                    .await
                    .expect("GET statements");
                let status = resp.status().as_u16();
                let text = resp.text().await.expect("body");
                let v: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                (status, v)
            }
        };
        let ids = |v: &Value| -> Vec<String> {
            v["files"]
                .as_array()
                .expect("files")
                .iter()
                .map(|f| f["file_id"].as_str().expect("file_id").to_owned())
                .collect()
        };
        let (status, all) = list("limit=1000".into()).await;
        assert_eq!(status, 200, "{label}: {all}");
        let every = ids(&all);
        assert!(every.len() >= 3, "{label}: {all}");
        assert_eq!(all["total"], json!(every.len()), "{label}");
        let (_, first) = list("limit=2".into()).await;
        let (_, second) = list("limit=2&offset=2".into()).await;
        assert_eq!(first["total"], json!(every.len()), "{label}");
        assert_eq!(second["total"], json!(every.len()), "{label}");
        let (a, b) = (ids(&first), ids(&second));
        assert_eq!(a, every[..2], "{label}");
        assert_eq!(b, every[2..every.len().min(4)], "{label}");
        assert!(a.iter().all(|id| !b.contains(id)), "{label}");

        let (status, body) = list("offset=-3".into()).await;
        assert_eq!(status, 400, "{label}: {body}");
        assert_eq!(body["field"], "offset", "{label}: {body}");
    }
}
