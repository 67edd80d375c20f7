//! Statement files (issue 12): a fixed trade day of payments, partial refunds, a failed trade
//! and trades across midnight (Asia/Shanghai) made into `TRADE_BILL` / `SETTLE_BILL` zips per
//! merchant and per service provider; the CSV bytes pinned by golden files under
//! `tests/golden/` (set `NKPAY_UPDATE_GOLDEN=1` to rewrite them after a deliberate change);
//! reruns byte-identical and the same bytes on SQLite and PostgreSQL; `filequery` through the
//! signed merchant API with its signed links (altered or expired → 403); the console listing.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use nkpay_core::state::{RefundStatus, TradeStatus};
use nkpay_core::trade_type::{ChannelKind, TradeType};
use nkpay_engine::Actor;
use nkpay_store::entity::{channel_account, refund, trade};
use nkpay_store::kinds::AdminRole;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{MER_A, MER_B, MER_BARE, MER_OTHER, OTHER_SP, Platform, SP};

const FILEQUERY: &str = "/v2/trade/check/filequery";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).expect("date")
}

/// An Asia/Shanghai wall time on 2026-11-`d` as UTC.
fn sh(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2026, 11, d, h, m, s)
        .single()
        .expect("time")
        .with_timezone(&Utc)
}

struct T {
    seq: &'static str,
    mer: &'static str,
    kind: TradeType,
    amount: i64,
    fee: i64,
    status: TradeStatus,
    created: DateTime<Utc>,
    paid: Option<DateTime<Utc>>,
    remark: Option<&'static str>,
}

async fn insert_trade(p: &Platform, accounts: &BTreeMap<&'static str, i64>, t: &T) {
    let channel = t.kind.channel();
    let sys_id = if t.mer == MER_OTHER { OTHER_SP } else { SP };
    let account = accounts[if channel == ChannelKind::Wechat {
        "wechat"
    } else {
        "alipay"
    }];
    trade::ActiveModel {
        nkp_seq_id: Set(t.seq.to_owned()),
        sys_id: Set(sys_id.to_owned()),
        mer_id: Set(t.mer.to_owned()),
        req_date: Set(t
            .created
            .with_timezone(&Shanghai)
            .format("%Y%m%d")
            .to_string()),
        req_seq_id: Set(format!("req{}", t.seq)),
        trade_type: Set(t.kind),
        channel: Set(channel),
        channel_account_id: Set(account),
        trans_amt: Set(t.amount),
        status: Set(t.status),
        goods_desc: Set("咖啡".to_owned()),
        remark: Set(t.remark.map(str::to_owned)),
        party_order_id: Set(t.paid.map(|_| format!("4200{}", t.seq))),
        fee_amt: Set(t.fee),
        refunded_amt: Set(0),
        refund_in_flight_amt: Set(0),
        time_expire: Set(t.created + TimeDelta::hours(2)),
        end_time: Set(t.paid),
        query_attempts: Set(0),
        request_hash: Set("h".to_owned()),
        created_at: Set(t.created),
        updated_at: Set(t.paid.unwrap_or(t.created)),
        version: Set(0),
        ..Default::default()
    }
    .insert(p.db.conn())
    .await
    .unwrap_or_else(|e| panic!("{}: trade {}: {e}", p.label, t.seq));
}

async fn insert_refund(
    p: &Platform,
    seq: &str,
    org: &str,
    mer: &str,
    amount: i64,
    fee: i64,
    done: DateTime<Utc>,
) {
    refund::ActiveModel {
        nkp_seq_id: Set(seq.to_owned()),
        sys_id: Set(SP.to_owned()),
        mer_id: Set(mer.to_owned()),
        req_date: Set(done.with_timezone(&Shanghai).format("%Y%m%d").to_string()),
        req_seq_id: Set(format!("req{seq}")),
        org_nkp_seq_id: Set(org.to_owned()),
        channel: Set(ChannelKind::Alipay),
        ord_amt: Set(amount),
        status: Set(RefundStatus::Succeeded),
        party_refund_id: Set(Some(format!("5000{seq}"))),
        end_time: Set(Some(done)),
        query_attempts: Set(0),
        request_hash: Set("h".to_owned()),
        created_at: Set(done - TimeDelta::seconds(5)),
        updated_at: Set(done),
        version: Set(0),
        ..Default::default()
    }
    .insert(p.db.conn())
    .await
    .unwrap_or_else(|e| panic!("{}: refund {seq}: {e}", p.label));
    // The fee the refund returned (issue 12 "Fees": written when it succeeds), and the trade's
    // running refunded total, as refund finalizing keeps them.
    use sea_orm::ConnectionTrait;
    for sql in [
        format!("UPDATE refunds SET fee_amt = {fee} WHERE nkp_seq_id = '{seq}'"),
        format!(
            "UPDATE trades SET refunded_amt = refunded_amt + {amount} WHERE nkp_seq_id = '{org}'"
        ),
    ] {
        p.db.conn()
            .execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("{}: refund {seq}: {sql}: {e}", p.label));
    }
}

/// The day: 2026-11-20 (Asia/Shanghai), and what spills over into the 21st.
async fn seed_day(p: &Platform) {
    let accounts: BTreeMap<&'static str, i64> = channel_account::Entity::find()
        .all(p.db.conn())
        .await
        .expect("accounts")
        .into_iter()
        .map(|a| {
            let name = if a.channel == ChannelKind::Wechat {
                "wechat"
            } else {
                "alipay"
            };
            (name, a.id)
        })
        .collect();
    let trades = [
        // Paid mid-morning, with a fee.
        T {
            seq: "NKP20261120A0001",
            mer: MER_A,
            kind: TradeType::TJsapi,
            amount: 10000,
            fee: 60,
            status: TradeStatus::Succeeded,
            created: sh(20, 9, 59, 0),
            paid: Some(sh(20, 10, 0, 0)),
            remark: Some("午餐, \"两份\""),
        },
        // Paid, then refunded in part the same day and in part the next.
        T {
            seq: "NKP20261120A0002",
            mer: MER_A,
            kind: TradeType::ANative,
            amount: 5000,
            fee: 30,
            status: TradeStatus::Succeeded,
            created: sh(20, 11, 58, 0),
            paid: Some(sh(20, 12, 0, 0)),
            remark: None,
        },
        // Failed: not a row.
        T {
            seq: "NKP20261120A0003",
            mer: MER_A,
            kind: TradeType::TJsapi,
            amount: 700,
            fee: 0,
            status: TradeStatus::Failed,
            created: sh(20, 14, 0, 0),
            paid: None,
            remark: None,
        },
        // Created on the 19th, paid 30 s after midnight: the 20th's.
        T {
            seq: "NKP20261119A0004",
            mer: MER_A,
            kind: TradeType::TJsapi,
            amount: 1234,
            fee: 7,
            status: TradeStatus::Succeeded,
            created: sh(19, 23, 59, 30),
            paid: Some(sh(20, 0, 0, 30)),
            remark: None,
        },
        // Created on the 20th, paid 10 s after midnight: the 21st's.
        T {
            seq: "NKP20261120A0005",
            mer: MER_A,
            kind: TradeType::TJsapi,
            amount: 800,
            fee: 5,
            status: TradeStatus::Succeeded,
            created: sh(20, 23, 59, 50),
            paid: Some(sh(21, 0, 0, 10)),
            remark: None,
        },
        // Another merchant of the same service provider; a remark Excel would run.
        T {
            seq: "NKP20261120B0006",
            mer: MER_B,
            kind: TradeType::TMiniapp,
            amount: 2000,
            fee: 12,
            status: TradeStatus::Succeeded,
            created: sh(20, 14, 59, 0),
            paid: Some(sh(20, 15, 0, 0)),
            remark: Some("=SUM(A1:A9)"),
        },
        // Unpaid (closed): not a row.
        T {
            seq: "NKP20261120B0007",
            mer: MER_B,
            kind: TradeType::TJsapi,
            amount: 300,
            fee: 0,
            status: TradeStatus::Closed,
            created: sh(20, 16, 0, 0),
            paid: None,
            remark: None,
        },
        // The other service provider's merchant.
        T {
            seq: "NKP20261120C0008",
            mer: MER_OTHER,
            kind: TradeType::TJsapi,
            amount: 990,
            fee: 6,
            status: TradeStatus::Succeeded,
            created: sh(20, 17, 0, 0),
            paid: Some(sh(20, 17, 1, 0)),
            remark: None,
        },
    ];
    for t in &trades {
        insert_trade(p, &accounts, t).await;
    }
    insert_refund(
        p,
        "NKR20261120A0021",
        "NKP20261120A0002",
        MER_A,
        1000,
        6,
        sh(20, 13, 0, 0),
    )
    .await;
    insert_refund(
        p,
        "NKR20261121A0022",
        "NKP20261120A0002",
        MER_A,
        500,
        3,
        sh(21, 9, 0, 0),
    )
    .await;
}

/// The day seeded and its files made.
async fn seed_and_make_day(p: &Platform) {
    seed_day(p).await;
    p.engine
        .statements()
        .generate(day(20), Utc::now())
        .await
        .expect("generate");
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `bytes` with golden file `name`, or writes it under `NKPAY_UPDATE_GOLDEN=1`.
fn assert_golden(name: &str, bytes: &[u8], label: &str) {
    let path = golden_dir().join(name);
    if std::env::var("NKPAY_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, bytes).expect("write golden");
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "golden {}: {e} (NKPAY_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert!(
        want == bytes,
        "{label}: {name} differs from its golden file\n--- want\n{}\n--- got\n{}",
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(bytes)
    );
}

/// The zip's entries, by name.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).expect("entry");
        let mut content = Vec::new();
        f.read_to_end(&mut content).expect("read entry");
        out.insert(f.name().to_owned(), content);
    }
    out
}

async fn file_bytes(p: &Platform, file_id: &str) -> Vec<u8> {
    use futures::StreamExt;
    let d = p
        .engine
        .statements()
        .open(file_id)
        .await
        .expect("open")
        .unwrap_or_else(|| panic!("{}: no file {file_id}", p.label));
    let mut chunks = d.chunks;
    let mut out = Vec::new();
    while let Some(c) = chunks.next().await {
        out.extend(c.expect("chunk"));
    }
    out
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn a_day_makes_pinned_files_identical_on_rerun_and_on_both_databases() {
    let mut zips_by_db: Vec<BTreeMap<String, Vec<u8>>> = Vec::new();
    for p in Platform::all().await {
        seed_day(&p).await;
        let now = Utc::now();
        let report = p
            .engine
            .statements()
            .generate(day(20), now)
            .await
            .expect("generate");
        assert!(!report.partial, "{}", p.label);
        let mut ids: Vec<&str> = report.files.iter().map(|f| f.file_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [
                "20261120_6666000100000001_SETTLE_BILL",
                "20261120_6666000100000001_TRADE_BILL",
                "20261120_6666000100000002_SETTLE_BILL",
                "20261120_6666000100000002_TRADE_BILL",
                "20261120_6666000200000001_SETTLE_BILL",
                "20261120_6666000200000001_TRADE_BILL",
                "20261120_NKSP0001_SETTLE_BILL",
                "20261120_NKSP0001_TRADE_BILL",
                "20261120_NKSP0002_SETTLE_BILL",
                "20261120_NKSP0002_TRADE_BILL",
            ],
            "{}: merchants with rows and their service providers, nobody else",
            p.label
        );
        let mut zips = BTreeMap::new();
        for f in &report.files {
            let bytes = file_bytes(&p, &f.file_id).await;
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                f.sha256,
                "{}: recorded sha256 of {}",
                p.label,
                f.file_id
            );
            assert_eq!(bytes.len() as i64, f.size_bytes, "{}", p.label);
            zips.insert(f.file_id.clone(), bytes);
        }
        // The CSV bytes pinned.
        for (file_id, entry, golden) in [
            (
                "20261120_6666000100000001_TRADE_BILL",
                "20261120_6666000100000001_order_1.csv",
                "20261120_mer_a_trade_bill.csv",
            ),
            (
                "20261120_6666000100000001_SETTLE_BILL",
                "20261120_6666000100000001_settle_1.csv",
                "20261120_mer_a_settle_bill.csv",
            ),
            (
                "20261120_NKSP0001_TRADE_BILL",
                "20261120_NKSP0001_order_1.csv",
                "20261120_sp_trade_bill.csv",
            ),
            (
                "20261120_NKSP0001_SETTLE_BILL",
                "20261120_NKSP0001_settle_1.csv",
                "20261120_sp_settle_bill.csv",
            ),
        ] {
            let entries = unzip(&zips[file_id]);
            assert_eq!(
                entries.keys().collect::<Vec<_>>(),
                [entry],
                "{}: entries of {file_id}",
                p.label
            );
            assert_golden(golden, &entries[entry], p.label);
        }
        // A rerun of the closed day writes the same bytes.
        let again = p
            .engine
            .statements()
            .generate(day(20), Utc::now())
            .await
            .expect("rerun");
        for f in &again.files {
            assert_eq!(
                file_bytes(&p, &f.file_id).await,
                zips[&f.file_id],
                "{}: rerun of {}",
                p.label,
                f.file_id
            );
        }
        // The 21st: the trade paid after midnight and the second refund.
        let next = p
            .engine
            .statements()
            .generate(day(21), Utc::now())
            .await
            .expect("21st");
        let a21 = next
            .files
            .iter()
            .find(|f| f.file_id == "20261121_6666000100000001_TRADE_BILL")
            .expect("MER_A has rows on the 21st");
        let entries = unzip(&file_bytes(&p, &a21.file_id).await);
        assert_golden(
            "20261121_mer_a_trade_bill.csv",
            &entries["20261121_6666000100000001_order_1.csv"],
            p.label,
        );
        zips_by_db.push(zips);
        p.stop().await;
    }
    if let [sqlite, postgres] = zips_by_db.as_slice() {
        assert_eq!(sqlite, postgres, "the same zips on SQLite and PostgreSQL");
    }
}

#[tokio::test]
async fn filequery_hands_out_signed_links_that_refuse_tampering_and_expiry() {
    for p in Platform::all().await {
        seed_and_make_day(&p).await;
        let ask = |huifu: &str, file_date: &str, bill: Option<&str>| {
            let mut d = json!({
                "req_date": support::today(),
                "req_seq_id": support::fresh_id(),
                "huifu_id": huifu,
                "file_date": file_date,
            });
            if let Some(b) = bill {
                d["bill_type"] = json!(b);
            }
            d
        };
        // A merchant's file, asked by its service provider: file_date = trade day + 1.
        let r = p.sp.call(FILEQUERY, ask(MER_A, "20261121", None)).await;
        assert_eq!(r.code(), "00000000", "{}: {:?}", p.label, r.data);
        assert_eq!(
            (r.get("file_date"), r.get("data_date"), r.get("bill_type")),
            ("20261121", "20261120", "TRADE_BILL"),
            "{}",
            p.label
        );
        let files = r.data["file_details"].as_array().expect("file_details");
        assert_eq!(files.len(), 1, "{}: {:?}", p.label, r.data);
        let f = &files[0];
        assert_eq!(f["file_name"], "20261120_6666000100000001_TRADE_BILL.zip");
        assert_eq!(f["huifu_id"], MER_A);
        assert_eq!(f["data_date"], "20261120");
        assert_eq!(f["file_date"], "20261121");
        assert_eq!(r.data["task_details"][0]["task_stat"], "S", "{}", p.label);
        let url = f["download_url"].as_str().expect("url").to_owned();
        let (status, body) = get(&url).await;
        assert_eq!(status, 200, "{}: {url}", p.label);
        assert_eq!(
            body,
            file_bytes(&p, "20261120_6666000100000001_TRADE_BILL").await,
            "{}: the link downloads the zip",
            p.label
        );
        assert_eq!(
            hex::encode(Sha256::digest(&body)),
            f["sha256"].as_str().unwrap_or_default()
        );

        // Altered: another file id, a later expiry, a changed signature; or none at all.
        let other = url.replace(
            "20261120_6666000100000001_TRADE_BILL",
            "20261120_6666000100000002_TRADE_BILL",
        );
        let (expires, sign) = {
            let parsed = url::Url::parse(&url).expect("url");
            let q: BTreeMap<_, _> = parsed.query_pairs().into_owned().collect();
            (
                q["expires"].parse::<i64>().expect("expires"),
                q["sign"].clone(),
            )
        };
        let later = url.replace(
            &format!("expires={expires}"),
            &format!("expires={}", expires + 3600),
        );
        let mut flipped = sign.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let bad_sign = url.replace(&sign, &String::from_utf8(flipped).expect("hex"));
        let bare = url.split('?').next().expect("path").to_owned();
        for tampered in [other, later, bad_sign, bare] {
            assert_eq!(get(&tampered).await.0, 403, "{}: {tampered}", p.label);
        }
        // Expired: a link signed two hours ago with the one-hour lifetime.
        let old = p.engine.statements().signed_link(
            "20261120_6666000100000001_TRADE_BILL",
            Utc::now() - TimeDelta::hours(2),
        );
        assert_eq!(get(&old).await.0, 403, "{}: expired link", p.label);

        // The service provider's own combined file, and its settlement bill.
        let r =
            p.sp.call(FILEQUERY, ask(SP, "20261121", Some("SETTLE_BILL")))
                .await;
        assert_eq!(r.code(), "00000000", "{}: {:?}", p.label, r.data);
        assert_eq!(
            r.data["file_details"][0]["file_name"],
            "20261120_NKSP0001_SETTLE_BILL.zip"
        );
        // A merchant calling for itself.
        let r = p.mer_b.call(FILEQUERY, ask(MER_B, "20261121", None)).await;
        assert_eq!(r.data["file_details"].as_array().map(Vec::len), Some(1));
        // A merchant with no trades that day: done, no file.
        let r = p.sp.call(FILEQUERY, ask(MER_BARE, "20261121", None)).await;
        assert_eq!(r.code(), "00000000", "{}: {:?}", p.label, r.data);
        // An empty list is left out of the reply, as every empty value is (API.md).
        assert!(
            r.data.get("file_details").is_none_or(|f| f == &json!([])),
            "{}: {:?}",
            p.label,
            r.data
        );
        assert_eq!(r.data["task_details"][0]["task_stat"], "S");
        // A day never run: I.
        let r = p.sp.call(FILEQUERY, ask(MER_A, "20261102", None)).await;
        assert_eq!(r.data["task_details"][0]["task_stat"], "I", "{}", p.label);
        // Another service provider's merchant, or another provider's combined file: refused.
        let r = p
            .other_sp
            .call(FILEQUERY, ask(MER_A, "20261121", None))
            .await;
        assert_eq!(r.code(), "22000000", "{}: {:?}", p.label, r.data);
        let r = p.other_sp.call(FILEQUERY, ask(SP, "20261121", None)).await;
        assert_eq!(r.code(), "22000000", "{}: {:?}", p.label, r.data);
        // Bad fields, named.
        let r = p.sp.call(FILEQUERY, ask(MER_A, "2026-11-21", None)).await;
        assert_eq!(r.code(), "10000000");
        assert!(r.desc().contains("file_date"), "{}", r.desc());
        let r =
            p.sp.call(FILEQUERY, ask(MER_A, "20261121", Some("DAILY")))
                .await;
        assert!(r.desc().contains("bill_type"), "{}", r.desc());
        let r =
            p.sp.call(FILEQUERY, ask(MER_A, "20261102", Some("TRADE_BILL_MONTH")))
                .await;
        assert!(r.desc().contains("file_date"), "{}", r.desc());
        p.stop().await;
    }
}

#[tokio::test]
async fn today_is_made_partial_and_a_future_day_is_refused() {
    for p in Platform::all().await {
        let now = Utc::now();
        let today = now.with_timezone(&Shanghai).date_naive();
        let report = p
            .engine
            .statements()
            .generate(today, now)
            .await
            .expect("today");
        assert!(report.partial, "{}", p.label);
        let err = p
            .engine
            .statements()
            .generate(today.succ_opt().expect("tomorrow"), now)
            .await
            .expect_err("tomorrow has not begun");
        assert!(err.to_string().contains("date"), "{err}");
        let file_date = today
            .succ_opt()
            .expect("tomorrow")
            .format("%Y%m%d")
            .to_string();
        let r =
            p.sp.call(
                FILEQUERY,
                json!({"req_date": support::today(), "req_seq_id": support::fresh_id(),
                       "huifu_id": MER_A, "file_date": file_date}),
            )
            .await;
        assert_eq!(
            r.data["task_details"][0]["task_stat"], "P",
            "{}: a partial day is still in progress",
            p.label
        );
        p.stop().await;
    }
}

#[tokio::test]
async fn the_console_lists_and_downloads_files_an_agent_admin_only_its_own() {
    for p in Platform::all().await {
        seed_and_make_day(&p).await;
        let identity = p.engine.admin_identity();
        let finance = identity
            .create_token(&Actor::local("test"), "fin", AdminRole::Finance, None)
            .await
            .expect("token")
            .token
            .into_inner();
        let agent = identity
            .create_token(
                &Actor::local("test"),
                "agent2",
                AdminRole::AgentAdmin,
                Some(OTHER_SP),
            )
            .await
            .expect("token")
            .token
            .into_inner();
        let http = reqwest::Client::new();
        let list = |token: String, query: &'static str| {
            let http = http.clone();
            let url = format!("{}/admin/api/statements{query}", p.base_url);
            async move {
                let r = http.get(url).bearer_auth(token).send().await.expect("GET");
                (r.status().as_u16(), r.json::<Value>().await.expect("json"))
            }
        };
        let (status, body) =
            list(finance.clone(), "?data_date=20261120&bill_type=TRADE_BILL").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["files"].as_array().map(Vec::len), Some(5), "{body}");
        let (status, body) = list(agent.clone(), "?data_date=20261120").await;
        assert_eq!(status, 200, "{body}");
        let owners: Vec<&str> = body["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter_map(|f| f["huifu_id"].as_str())
            .collect();
        assert!(
            owners.iter().all(|o| *o == OTHER_SP || *o == MER_OTHER) && owners.len() == 4,
            "{}: an agent admin sees only its own: {owners:?}",
            p.label
        );
        let (status, body) = list(finance.clone(), "?data_date=2026-11-20").await;
        assert_eq!((status, body["field"].as_str()), (400, Some("data_date")));
        let download = |token: String, id: &'static str| {
            let http = http.clone();
            let url = format!("{}/admin/api/statements/{id}/download", p.base_url);
            async move {
                let r = http.get(url).bearer_auth(token).send().await.expect("GET");
                (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
            }
        };
        let (status, body) = download(finance, "20261120_NKSP0001_TRADE_BILL").await;
        assert_eq!(status, 200);
        assert_eq!(body, file_bytes(&p, "20261120_NKSP0001_TRADE_BILL").await);
        let (status, _) = download(agent, "20261120_NKSP0001_TRADE_BILL").await;
        assert_eq!(status, 404, "{}: another provider's file", p.label);
        p.stop().await;
    }
}

#[tokio::test]
async fn the_job_makes_the_closed_day_once_across_nodes_and_waits_for_the_lock() {
    use nkpay_engine::statements::job;
    for p in Platform::all().await {
        seed_day(&p).await;
        // 00:30 on the 21st: the 20th has closed but its time (01:00) has not come.
        let early = sh(21, 0, 30, 0);
        assert_eq!(job::due_day(&p.engine, early), day(19), "{}", p.label);
        let now = sh(21, 1, 30, 0);
        assert_eq!(job::due_day(&p.engine, now), day(20), "{}", p.label);
        let second = p.second_engine(2);

        if p.label == "postgres" {
            // Another holder of the lock: the job waits its turn and makes nothing.
            let holder = p.hold_advisory_lock(job::LOCK_KEY).await;
            assert_eq!(
                job::run_due_once(&p.engine, now).await.expect("round"),
                [],
                "{}: the lock is held elsewhere",
                p.label
            );
            assert!(
                p.engine
                    .statements()
                    .list(&Actor::local("test"), Default::default(), now)
                    .await
                    .expect("list")
                    .is_empty()
            );
            holder.rollback().await.expect("release");
            // Two nodes at once: exactly one makes the day.
            let (a, b) = tokio::join!(
                job::run_due_once(&p.engine, now),
                job::run_due_once(&second, now)
            );
            let made = [a.expect("node 1"), b.expect("node 2")]
                .into_iter()
                .filter(|reports| !reports.is_empty())
                .count();
            assert_eq!(made, 1, "{}: one node made the day", p.label);
        } else {
            let reports = job::run_due_once(&p.engine, now).await.expect("round");
            // The 20th (ten files) and October, the last closed month (no trades, no files).
            assert_eq!(
                reports
                    .iter()
                    .map(|r| (r.data_date, r.files.len()))
                    .collect::<Vec<_>>(),
                [
                    (day(20), 10),
                    (NaiveDate::from_ymd_opt(2026, 10, 1).expect("date"), 0)
                ],
                "{}",
                p.label
            );
        }
        // Made: every later round, on any node, leaves it alone.
        assert_eq!(job::run_due_once(&second, now).await.expect("again"), []);
        assert_eq!(job::run_due_once(&p.engine, now).await.expect("again"), []);
        p.stop().await;
    }
}

/// `server.clock_offset_secs`: a node told it is one day later closes the day that is still
/// today on the real clock, once and complete (not partial), stamped on the shifted clock.
#[tokio::test]
async fn a_clock_offset_makes_the_job_close_the_day_the_shifted_clock_calls_yesterday() {
    use nkpay_engine::statements::job;
    let config = nkpay_engine::EngineConfig {
        clock_offset: TimeDelta::days(1),
        ..support::test_config()
    };
    for p in Platform::all_with(config).await {
        seed_day(&p).await;
        // 12:00 on the 20th in Shanghai: the 20th is today on the real clock, so without the
        // offset the job would want the 19th; shifted a day it is the 21st, past 01:00.
        let now = sh(20, 12, 0, 0);
        assert_eq!(job::due_day(&p.engine, now), day(19), "{}", p.label);
        let reports = job::run_due_once(&p.engine, now).await.expect("round");
        assert_eq!(
            reports
                .iter()
                .map(|r| (r.data_date, r.partial, r.files.len()))
                .collect::<Vec<_>>(),
            [
                (day(20), false, 10),
                (
                    NaiveDate::from_ymd_opt(2026, 10, 1).expect("date"),
                    false,
                    0
                )
            ],
            "{}",
            p.label
        );
        let run = nkpay_store::statements::find_run(p.db.conn(), "20261120", "daily")
            .await
            .expect("run")
            .expect("the 20th's run");
        assert_eq!(
            (run.task_stat.as_str(), run.partial),
            ("S", false),
            "{}",
            p.label
        );
        // Made once: the next round, still on the shifted clock, leaves it alone.
        assert_eq!(job::run_due_once(&p.engine, now).await.expect("again"), []);
        p.stop().await;
    }
}

#[tokio::test]
async fn a_month_makes_pinned_daily_lines_and_merchant_totals() {
    for p in Platform::all().await {
        seed_day(&p).await;
        let december = Shanghai
            .with_ymd_and_hms(2026, 12, 2, 9, 0, 0)
            .single()
            .expect("time")
            .with_timezone(&Utc);
        let report = p
            .engine
            .statements()
            .generate_month(day(17), december)
            .await
            .expect("month");
        assert_eq!(report.data_date, day(1), "{}", p.label);
        assert!(!report.partial, "{}: November has closed", p.label);
        for (bill, entry, golden) in [
            (
                "TRADE_BILL_MONTH",
                "202611_NKSP0001_month_order_1.csv",
                "202611_sp_trade_bill_month.csv",
            ),
            (
                "SETTLE_BILL_MONTH",
                "202611_NKSP0001_month_settle_1.csv",
                "202611_sp_settle_bill_month.csv",
            ),
        ] {
            let id = format!("20261101_NKSP0001_{bill}");
            let made = report
                .files
                .iter()
                .find(|f| f.file_id == id)
                .unwrap_or_else(|| panic!("{}: no {id}", p.label));
            assert_eq!(made.file_name, format!("202611_NKSP0001_{bill}.zip"));
            let entries = unzip(&file_bytes(&p, &id).await);
            assert_golden(golden, &entries[entry], p.label);
        }
        // filequery: a monthly bill is produced on the 1st of the next month.
        let r =
            p.sp.call(
                FILEQUERY,
                json!({"req_date": support::today(), "req_seq_id": support::fresh_id(),
                       "huifu_id": SP, "file_date": "20261201", "bill_type": "SETTLE_BILL_MONTH"}),
            )
            .await;
        assert_eq!(r.code(), "00000000", "{}: {:?}", p.label, r.data);
        assert_eq!(r.get("data_date"), "20261101");
        assert_eq!(r.data["task_details"][0]["task_stat"], "S");
        assert_eq!(
            r.data["file_details"][0]["file_name"],
            "202611_NKSP0001_SETTLE_BILL_MONTH.zip"
        );
        p.stop().await;
    }
}

#[tokio::test]
async fn files_kept_in_a_shared_directory_are_served_the_same() {
    use nkpay_engine::statements::{StatementSettings, StatementStorage};
    let dir = std::env::temp_dir().join(format!(
        "nkpay-statements-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let config = nkpay_engine::EngineConfig {
        statements: StatementSettings {
            storage: StatementStorage::Directory(dir.clone()),
            ..StatementSettings::default()
        },
        ..support::test_config()
    };
    let mut sha_by_db = Vec::new();
    for p in Platform::all_with(config.clone()).await {
        seed_and_make_day(&p).await;
        let id = "20261120_6666000100000001_TRADE_BILL";
        let bytes = file_bytes(&p, id).await;
        // Each generation writes a fresh name (`<file_id>.<content key>.zip`); the row names it.
        let row = nkpay_store::statements::find_by_file_id(p.db.conn(), id)
            .await
            .expect("row")
            .expect("the file");
        assert!(
            row.path.starts_with(id) && row.path.ends_with(".zip"),
            "{}",
            row.path
        );
        let on_disk = std::fs::read(dir.join(&row.path)).expect("the file in the directory");
        assert_eq!(bytes, on_disk, "{}", p.label);
        let entries = unzip(&bytes);
        assert_golden(
            "20261120_mer_a_trade_bill.csv",
            &entries["20261120_6666000100000001_order_1.csv"],
            p.label,
        );
        let link = p.engine.statements().signed_link(id, Utc::now());
        assert_eq!(get(&link).await, (200, bytes.clone()), "{}", p.label);
        sha_by_db.push(hex::encode(Sha256::digest(&bytes)));
        p.stop().await;
    }
    assert!(sha_by_db.windows(2).all(|w| w[0] == w[1]));
    let _ = std::fs::remove_dir_all(&dir);
}
