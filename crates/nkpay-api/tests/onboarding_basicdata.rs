//! Merchant onboarding (进件) over real HTTP on the real router, on SQLite and PostgreSQL
//! (issue 11): ent and indv accepted `P` with a new 16-digit `huifu_id` and an `apply_no`, the
//! same request replayed with the first answer and other content refused `20000000`; a table
//! of invalid samples per field (made up), each refused `10000000` naming the field; the scope
//! matrix (agent A, agent B, merchant self, other merchant × ent / indv / query /
//! status-query); query and status-query replies masked; and no full ID, card, mobile or
//! e-mail in any reply or captured log line.

mod onboarding_support;
mod support;

use onboarding_support::*;
use serde_json::{Value, json};
use support::{MER_A, MER_B, OTHER_SP, Platform, SP, fresh_id};

fn with(mut data: Value, key: &str, value: &str) -> Value {
    if value == "<absent>" {
        data.as_object_mut().expect("object").remove(key);
    } else {
        data[key] = value.into();
    }
    data
}

fn with_card(data: Value, key: &str, value: &str) -> Value {
    let mut card: Value =
        serde_json::from_str(data["card_info"].as_str().expect("card_info")).expect("JSON");
    if value == "<absent>" {
        card.as_object_mut().expect("object").remove(key);
    } else {
        card[key] = value.into();
    }
    with(data, "card_info", &card.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ent_and_indv_are_pending_with_a_new_huifu_id_and_replay_the_first_answer() {
    for p in Platform::all().await {
        for (path, data) in [(ENT, ent_data(SP, None)), (INDV, indv_data(SP, None))] {
            let r = p.sp.call(path, data.clone()).await;
            assert_eq!(r.code(), "00000000", "{} {path}: {:?}", p.label, r.data);
            let huifu_id = r.get("huifu_id").to_owned();
            assert_eq!(huifu_id.len(), 16, "{}", p.label);
            assert!(huifu_id.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(r.get("apply_status"), "P");
            assert!(!r.get("apply_no").is_empty());

            let again = p.sp.call(path, data.clone()).await;
            assert_eq!(again.code(), "00000000", "{}", p.label);
            assert_eq!(again.get("huifu_id"), huifu_id);
            assert_eq!(again.get("apply_no"), r.get("apply_no"));

            let other = with(data.clone(), "reg_name", "另一个名字");
            let dup = p.sp.call(path, other).await;
            assert_eq!(dup.code(), "20000000", "{}: {:?}", p.label, dup.data);

            // The merchant exists, pending: it may not trade yet.
            let m = nkpay_store::merchants::find_merchant(p.db.conn(), &huifu_id)
                .await
                .expect("db")
                .expect("merchant");
            assert_eq!(m.apply_status, nkpay_store::kinds::ApplyStatus::Pending);
            assert_eq!(m.sys_id, SP);
        }
        // The application's personal data is sealed at rest: not in any stored column.
        let rows = nkpay_store::merchant_applications::list(p.db.conn(), &Default::default(), 100)
            .await
            .expect("list");
        for row in rows {
            for v in full_personal_values() {
                assert!(!row.details.contains(&v), "{}: {v} in details", p.label);
                assert!(!row.personal_sealed.contains(&v), "{}", p.label);
            }
        }
        let yesterday = (chrono::Utc::now() - chrono::Duration::days(3))
            .format("%Y%m%d")
            .to_string();
        let old = with(ent_data(SP, None), "req_date", &yesterday);
        let r = p.sp.call(ENT, old).await;
        assert_eq!(r.code(), "10000000");
        assert!(r.desc().starts_with("req_date"), "{}", r.desc());
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_is_refused_by_name_with_its_rule() {
    let bad_uscc = {
        let mut u = uscc();
        let last = if u.ends_with('0') { '1' } else { '0' };
        u.pop();
        u.push(last);
        u
    };
    let bad_id = {
        let mut id = resident_id("01123");
        let last = if id.ends_with('0') { '1' } else { '0' };
        id.pop();
        id.push(last);
        id
    };
    let bad_card = {
        let good = card_no(CARD_PREFIX);
        let last = good
            .chars()
            .last()
            .and_then(|c| c.to_digit(10))
            .unwrap_or(0);
        format!("{}{}", &good[..15], (last + 1) % 10)
    };
    // (path, field changed, value, field the refusal must name)
    let ent_cases: Vec<(&str, &str, String, &str)> = vec![
        ("top", "license_code", bad_uscc.clone(), "license_code"),
        (
            "top",
            "license_code",
            "91310000MA1FL0T1I".into(),
            "license_code",
        ),
        ("top", "license_code", "9131".into(), "license_code"),
        ("top", "legal_cert_no", bad_id.clone(), "legal_cert_no"),
        (
            "top",
            "legal_cert_no",
            "11010519901301123X".into(),
            "legal_cert_no",
        ),
        ("top", "legal_cert_type", "12".into(), "legal_cert_type"),
        (
            "top",
            "contact_mobile_no",
            "12800138000".into(),
            "contact_mobile_no",
        ),
        (
            "top",
            "contact_mobile_no",
            "1380013800".into(),
            "contact_mobile_no",
        ),
        (
            "top",
            "contact_email",
            "owner.example.com".into(),
            "contact_email",
        ),
        ("top", "contact_email", "<absent>".into(), "contact_email"),
        ("top", "mcc", "58".into(), "mcc"),
        ("top", "district_id", "990000".into(), "district_id"),
        ("top", "scene_type", "SHOP".into(), "scene_type"),
        ("top", "detail_addr", "<absent>".into(), "detail_addr"),
        (
            "top",
            "license_end_date",
            "20300101".into(),
            "license_end_date",
        ),
        (
            "top",
            "legal_cert_end_date",
            "20190101".into(),
            "legal_cert_end_date",
        ),
        (
            "top",
            "legal_cert_end_date",
            "<absent>".into(),
            "legal_cert_end_date",
        ),
        (
            "top",
            "legal_cert_begin_date",
            "20200230".into(),
            "legal_cert_begin_date",
        ),
        (
            "top",
            "license_validity_type",
            "2".into(),
            "license_validity_type",
        ),
        ("top", "found_date", "20991231".into(), "found_date"),
        ("top", "reg_capital", "100".into(), "reg_capital"),
        ("top", "reg_name", "<absent>".into(), "reg_name"),
        ("top", "reg_name", "名".repeat(129), "reg_name"),
        ("top", "short_name", "<absent>".into(), "short_name"),
        ("top", "license_pic", "not a file id!".into(), "license_pic"),
        ("top", "card_info", "[1]".into(), "card_info"),
        ("top", "card_info", "<absent>".into(), "card_info"),
        ("card", "card_type", "3".into(), "card_info.card_type"),
        (
            "card",
            "card_no",
            "31000000000000000000000000000000001".into(),
            "card_info.card_no",
        ),
        ("card", "card_no", "3100-0000".into(), "card_info.card_no"),
        (
            "card",
            "branch_code",
            "<absent>".into(),
            "card_info.branch_code",
        ),
        (
            "card",
            "branch_code",
            "1022".into(),
            "card_info.branch_code",
        ),
        ("card", "area_id", "31".into(), "card_info.area_id"),
        (
            "card",
            "card_name",
            "<absent>".into(),
            "card_info.card_name",
        ),
    ];
    let indv_cases: Vec<(&str, &str, String, &str)> = vec![
        ("top", "legal_cert_no", bad_id.clone(), "legal_cert_no"),
        ("top", "legal_cert_no", "<absent>".into(), "legal_cert_no"),
        ("top", "contact_email", "a@b".into(), "contact_email"),
        ("card", "card_no", bad_card.clone(), "card_info.card_no"),
        (
            "card",
            "card_no",
            "622202000012".into(),
            "card_info.card_no",
        ),
        ("card", "card_type", "0".into(), "card_info.card_type"),
        ("card", "cert_no", "<absent>".into(), "card_info.cert_no"),
        ("card", "cert_no", bad_id.clone(), "card_info.cert_no"),
        (
            "card",
            "cert_type",
            "<absent>".into(),
            "card_info.cert_type",
        ),
        ("card", "mp", "1390013900".into(), "card_info.mp"),
    ];
    for p in Platform::all().await {
        for (path, cases, make) in [
            (ENT, &ent_cases, ent_data as fn(&str, Option<&str>) -> Value),
            (
                INDV,
                &indv_cases,
                indv_data as fn(&str, Option<&str>) -> Value,
            ),
        ] {
            for (place, key, value, named) in cases.iter() {
                let data = make(SP, None);
                let data = if *place == "card" {
                    with_card(data, key, value)
                } else {
                    with(data, key, value)
                };
                let r = p.sp.call(path, data).await;
                assert_eq!(
                    r.code(),
                    "10000000",
                    "{} {path} {key}={value:?} accepted: {:?}",
                    p.label,
                    r.data
                );
                let desc = r.desc();
                assert!(
                    desc.starts_with(&format!("{named}格式错误"))
                        || desc.starts_with(&format!("{named}不能为空")),
                    "{} {path} {key}={value:?}: {desc}",
                    p.label
                );
            }
        }
        // What the rules must not refuse: a corporate account failing Luhn (corporate
        // accounts have no check digit), long-term validity with no end date, a lower-case x.
        let ok = p.sp.call(ENT, ent_data(SP, None)).await;
        assert_eq!(ok.code(), "00000000", "{}: {:?}", p.label, ok.data);
        let ok = p.sp.call(INDV, indv_data(SP, None)).await;
        assert_eq!(ok.code(), "00000000", "{}: {:?}", p.label, ok.data);
        let personal_card = with_card(
            with_card(ent_data(SP, None), "card_type", "1"),
            "card_no",
            &card_no(CARD_PREFIX),
        );
        let ok = p.sp.call(ENT, personal_card).await;
        assert_eq!(ok.code(), "00000000", "{}: {:?}", p.label, ok.data);
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_matrix_agent_a_agent_b_merchant_self_other_merchant() {
    for p in Platform::all().await {
        let ent = p.sp.call(ENT, ent_data(SP, None)).await;
        let indv = p.sp.call(INDV, indv_data(SP, None)).await;
        let ent_id = ent.get("huifu_id").to_owned();
        let indv_id = indv.get("huifu_id").to_owned();
        let ent_apply = ent.get("apply_no").to_owned();

        // Applying: only a service provider, only under itself.
        for (who, client, upper) in [
            ("agent B under A", &p.other_sp, SP),
            ("merchant B", &p.mer_b, SP),
            ("merchant B under itself", &p.mer_b, MER_B),
        ] {
            for (path, make) in [
                (ENT, ent_data as fn(&str, Option<&str>) -> Value),
                (INDV, indv_data),
            ] {
                let r = client.call(path, make(upper, None)).await;
                assert_eq!(
                    r.code(),
                    "22000000",
                    "{} {who} {path}: {:?}",
                    p.label,
                    r.data
                );
            }
        }
        let own = p.other_sp.call(INDV, indv_data(OTHER_SP, None)).await;
        assert_eq!(own.code(), "00000000", "{}: agent B under itself", p.label);

        let query = |huifu_id: &str| json!({"req_date": support::today(), "req_seq_id": fresh_id(), "huifu_id": huifu_id});
        let status = |huifu_id: &str, apply_no: &str| json!({"req_date": support::today(), "req_seq_id": fresh_id(), "huifu_id": huifu_id, "apply_no": apply_no});
        // (who, client, huifu_id, allowed)
        for (who, client, huifu_id, allowed) in [
            ("agent A, its ent", &p.sp, ent_id.as_str(), true),
            ("agent A, its indv", &p.sp, indv_id.as_str(), true),
            ("agent B, A's ent", &p.other_sp, ent_id.as_str(), false),
            ("agent B, unknown", &p.other_sp, "6666999999999999", false),
            ("merchant B, itself", &p.mer_b, MER_B, true),
            ("merchant B, merchant A", &p.mer_b, MER_A, false),
            ("merchant B, A's ent", &p.mer_b, ent_id.as_str(), false),
        ] {
            let r = client.call(QUERY, query(huifu_id)).await;
            let want = if allowed { "00000000" } else { "22000000" };
            assert_eq!(r.code(), want, "{} query {who}: {:?}", p.label, r.data);
            if allowed {
                assert_eq!(r.get("huifu_id"), huifu_id);
            }
        }
        // A seeded, open merchant: its businesses with their states.
        let r = p.sp.call(QUERY, query(MER_A)).await;
        assert_eq!(r.code(), "00000000", "{}: {:?}", p.label, r.data);
        assert_eq!(r.get("apply_status"), "Y");
        assert_eq!(r.get("wx_busi_stat"), "S", "{}: {:?}", p.label, r.data);
        let busi: Value = serde_json::from_str(r.get("busi_list")).expect("busi_list JSON");
        assert!(
            busi.as_array()
                .is_some_and(|l| l.iter().any(|b| b["channel"] == "wechat")),
            "{busi}"
        );
        let r = p.sp.call(STATUS, status(&ent_id, &ent_apply)).await;
        assert_eq!(r.code(), "00000000", "{}: {:?}", p.label, r.data);
        assert_eq!(r.get("apply_status"), "P");
        assert_eq!(r.get("apply_no"), ent_apply);
        let r = p.other_sp.call(STATUS, status(&ent_id, &ent_apply)).await;
        assert_eq!(r.code(), "22000000", "{}", p.label);
        let r = p.mer_b.call(STATUS, status(&ent_id, &ent_apply)).await;
        assert_eq!(r.code(), "22000000", "{}", p.label);
        // Another merchant's apply_no under one's own huifu_id is not found either.
        let r = p.sp.call(STATUS, status(&indv_id, &ent_apply)).await;
        assert_eq!(r.code(), "22000000", "{}", p.label);
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_and_log_lines_carry_no_full_personal_value() {
    capture_logs();
    for p in Platform::all().await {
        let mut bodies = Vec::new();
        for (path, data) in [(ENT, ent_data(SP, None)), (INDV, indv_data(SP, None))] {
            let r = p.sp.call(path, data).await;
            assert_eq!(r.code(), "00000000", "{}", p.label);
            let huifu_id = r.get("huifu_id").to_owned();
            let q = p
                .sp
                .call(
                    QUERY,
                    json!({"req_date": support::today(), "req_seq_id": fresh_id(), "huifu_id": huifu_id}),
                )
                .await;
            assert_eq!(q.code(), "00000000", "{}: {:?}", p.label, q.data);
            // Masked values are there, to show the field exists.
            assert!(q.get("contact_mobile_no").contains("****"), "{:?}", q.data);
            assert!(q.get("legal_cert_no").contains("****"), "{:?}", q.data);
            assert!(q.get("card_info").contains("card_no"), "{:?}", q.data);
            bodies.push(serde_json::to_string(&r.data).expect("json"));
            bodies.push(serde_json::to_string(&q.data).expect("json"));
        }
        // A refusal does not echo the value either.
        let mut bad = ent_data(SP, None);
        bad["contact_mobile_no"] = "12800138000".into();
        let r = p.sp.call(ENT, bad).await;
        bodies.push(serde_json::to_string(&r.data).expect("json"));
        let logs = captured_logs();
        // The capture works: the applications were logged (masked ids only).
        assert!(
            logs.contains("merchant application received"),
            "{}: {logs}",
            p.label
        );
        for v in full_personal_values() {
            for b in &bodies {
                assert!(!b.contains(&v), "{}: {v} in reply {b}", p.label);
            }
            assert!(!logs.contains(&v), "{}: {v} in the logs", p.label);
        }
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_make_one_merchant_and_get_one_answer() {
    for p in Platform::all().await {
        let data = indv_data(SP, None);
        let calls = (0..4).map(|_| p.sp.call(INDV, data.clone()));
        let replies = futures::future::join_all(calls).await;
        let first = replies[0].get("huifu_id").to_owned();
        for r in &replies {
            assert_eq!(r.code(), "00000000", "{}: {:?}", p.label, r.data);
            assert_eq!(r.get("huifu_id"), first, "{}", p.label);
            assert_eq!(r.get("apply_no"), replies[0].get("apply_no"));
        }
        let ours = nkpay_store::merchants::list_merchants(
            p.db.conn(),
            &nkpay_store::merchants::MerchantFilter {
                sys_id: Some(SP.to_owned()),
                apply_status: Some(nkpay_store::kinds::ApplyStatus::Pending),
                ..Default::default()
            },
            100,
        )
        .await
        .expect("list");
        assert_eq!(ours.len(), 1, "{}: {ours:?}", p.label);
        p.stop().await;
    }
}
