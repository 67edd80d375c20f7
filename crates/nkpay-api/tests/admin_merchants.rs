//! The platform's review of merchant applications through `/admin/api`, over real HTTP on the
//! real router, on SQLite and PostgreSQL (issue 11 "Review"): the queue of pending
//! applications (masked), approve and reject (a reason required) with their audit rows and the
//! signed `MERCHANT_AUDIT` notification received by a local receiver; a pending merchant's
//! `jspay` refused `22000000`; each role's reach (operator reviews, finance and read-only
//! read, an agent admin reads only its own provider's merchants, reveal is the platform
//! admin's, audited without the value); freeze → `jspay` `22000000` saying frozen while a
//! refund of an earlier payment is still accepted; unfreeze → `jspay` again.

mod onboarding_support;
mod support;

use nkpay_crypto::merchant_notify::verify_notify;
use nkpay_store::audit_log;
use nkpay_store::kinds::AdminRole;
use onboarding_support::*;
use serde_json::{Value, json};
use support::{MER_A, OTHER_SP, Platform, SP, fresh_id, today};

const JSPAY: &str = "/v2/trade/payment/jspay";
const REFUND: &str = "/v2/trade/payment/scanpay/refund";

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn audit_actions(p: &Platform) -> Vec<Value> {
    audit_log::page(p.db.conn(), i64::MAX, 200)
        .await
        .expect("audit")
        .into_iter()
        .map(|row| {
            json!({
                "action": row.action,
                "actor": row.actor,
                "target": row.target,
                "address": row.address,
                "detail": row.detail,
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_are_audited_and_notified_signed() {
    for p in Platform::all().await {
        let receiver = Receiver::start().await;
        let operator = token(&p, AdminRole::Operator, None).await;
        let ent = p.sp.call(ENT, ent_data(SP, Some(&receiver.url))).await;
        assert_eq!(ent.code(), "00000000", "{}: {:?}", p.label, ent.data);
        let indv = p.sp.call(INDV, indv_data(SP, Some(&receiver.url))).await;
        let (ent_id, ent_apply) = (
            ent.get("huifu_id").to_owned(),
            ent.get("apply_no").to_owned(),
        );
        let (indv_id, indv_apply) = (
            indv.get("huifu_id").to_owned(),
            indv.get("apply_no").to_owned(),
        );

        // Pending: it may not trade.
        let r =
            p.sp.call(JSPAY, p.jspay_data(&ent_id, "A_NATIVE", json!({})))
                .await;
        assert_eq!(r.code(), "22000000", "{}: {:?}", p.label, r.data);
        assert!(r.desc().contains("审核"), "{}", r.desc());

        let (status, body) = admin(
            &p,
            "GET",
            "/admin/api/applications?status=P",
            &operator,
            None,
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        let queue = json_of(&body);
        let nos: Vec<&str> = queue["applications"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|a| a["apply_no"].as_str())
            .collect();
        assert!(nos.contains(&ent_apply.as_str()) && nos.contains(&indv_apply.as_str()));
        for v in full_personal_values() {
            assert!(!body.contains(&v), "{}: {v} in the queue", p.label);
        }

        let finance = token(&p, AdminRole::Finance, None).await;
        let path = format!("/admin/api/applications/{ent_apply}/approve");
        let (status, _) = admin(&p, "POST", &path, &finance, None).await;
        assert_eq!(status, 403, "{}: finance may not approve", p.label);
        let (status, body) = admin(&p, "POST", &path, &operator, None).await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        assert_eq!(json_of(&body)["apply_status"], "Y");
        let (status, body) = admin(&p, "POST", &path, &operator, None).await;
        assert_eq!(status, 400, "{}: approved twice", p.label);
        assert!(body.contains("apply_no"), "{body}");

        let reject = format!("/admin/api/applications/{indv_apply}/reject");
        let (status, body) = admin(&p, "POST", &reject, &operator, Some(json!({}))).await;
        assert_eq!(status, 400, "{}: a rejection needs a reason", p.label);
        assert!(body.contains("reason"), "{body}");
        let (status, body) = admin(
            &p,
            "POST",
            &reject,
            &operator,
            Some(json!({"reason": "营业执照照片不清晰"})),
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        assert_eq!(json_of(&body)["apply_status"], "N");

        // Both results reach the receiver, signed with the platform key.
        for (apply_no, huifu_id, audit_status) in
            [(&ent_apply, &ent_id, "Y"), (&indv_apply, &indv_id, "N")]
        {
            let (data, sign) = receiver.wait_for(&p, &[apply_no.as_str()]).await;
            verify_notify(&data, &sign, &p.signer.newest().public_key())
                .unwrap_or_else(|e| panic!("{}: unsigned notification {e}: {data}", p.label));
            let v = json_of(&data);
            assert_eq!(v["notify_type"], "MERCHANT_AUDIT");
            assert_eq!(v["audit_status"], audit_status);
            assert_eq!(v["huifu_id"], huifu_id.as_str());
            assert_eq!(v["apply_no"], apply_no.as_str());
            assert_eq!(v["req_date"], today());
            assert!(v["req_seq_id"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(v["audit_desc"].as_str().is_some_and(|s| !s.is_empty()));
        }
        let (_, sign) = receiver.wait_for(&p, &[indv_apply.as_str()]).await;
        assert!(!sign.is_empty());

        // The status query says the same.
        let q = p
            .sp
            .call(
                STATUS,
                json!({"req_date": today(), "req_seq_id": fresh_id(), "huifu_id": indv_id, "apply_no": indv_apply}),
            )
            .await;
        assert_eq!(q.get("apply_status"), "N");
        assert_eq!(q.get("audit_desc"), "营业执照照片不清晰");

        let audits = audit_actions(&p).await;
        let approve = audits
            .iter()
            .find(|a| a["action"] == "merchant_application.approve")
            .expect("approve audited");
        assert_eq!(approve["detail"]["before"]["apply_status"], "P");
        assert_eq!(approve["detail"]["after"]["apply_status"], "Y");
        assert!(
            approve["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("token:"))
        );
        assert!(
            approve["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1"))
        );
        assert!(
            audits
                .iter()
                .any(|a| a["action"] == "merchant_application.reject"
                    && a["detail"]["after"]["reason"] == "营业执照照片不清晰")
        );
        receiver.stop().await;
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reads_what_it_may_and_reveal_is_audited_without_the_value() {
    for p in Platform::all().await {
        let ent = p.sp.call(ENT, ent_data(SP, None)).await;
        let ent_id = ent.get("huifu_id").to_owned();
        let other = p.other_sp.call(INDV, indv_data(OTHER_SP, None)).await;
        let other_id = other.get("huifu_id").to_owned();
        let admin_token = token(&p, AdminRole::PlatformAdmin, None).await;
        let agent_a = token(&p, AdminRole::AgentAdmin, Some(SP)).await;
        let read_only = token(&p, AdminRole::ReadOnly, None).await;
        let operator = token(&p, AdminRole::Operator, None).await;

        let (status, body) = admin(&p, "GET", "/admin/api/merchants", &read_only, None).await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        assert!(body.contains(&ent_id) && body.contains(&other_id));
        let (status, body) = admin(
            &p,
            "GET",
            "/admin/api/merchants?status=P&kind=ent",
            &agent_a,
            None,
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        let list = json_of(&body);
        let ids: Vec<&str> = list["merchants"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|m| m["mer_id"].as_str())
            .collect();
        assert!(ids.contains(&ent_id.as_str()), "{}: {body}", p.label);
        assert!(
            !ids.contains(&other_id.as_str()),
            "{}: agent A sees B's merchant",
            p.label
        );
        let (status, _) = admin(
            &p,
            "GET",
            &format!("/admin/api/merchants/{other_id}"),
            &agent_a,
            None,
        )
        .await;
        assert_eq!(status, 404, "{}: another provider's merchant", p.label);
        let (status, body) = admin(
            &p,
            "GET",
            &format!("/admin/api/merchants/{ent_id}"),
            &agent_a,
            None,
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        let detail = json_of(&body);
        assert_eq!(detail["merchant"]["apply_status"], "P");
        assert!(
            detail["application"]["details"]["legal_cert_no"]
                .as_str()
                .is_some_and(|v| v.contains('*'))
        );
        for v in full_personal_values() {
            assert!(!body.contains(&v), "{}: {v} in the detail", p.label);
        }
        let (status, _) = admin(
            &p,
            "POST",
            &format!("/admin/api/applications/{}/approve", ent.get("apply_no")),
            &agent_a,
            None,
        )
        .await;
        assert_eq!(status, 403, "{}: an agent admin does not review", p.label);

        let reveal = format!("/admin/api/merchants/{ent_id}/reveal");
        for who in [&operator, &agent_a, &read_only] {
            let (status, _) = admin(
                &p,
                "POST",
                &reveal,
                who,
                Some(json!({"field": "legal_cert_no"})),
            )
            .await;
            assert_eq!(status, 403, "{}", p.label);
        }
        let (status, body) = admin(
            &p,
            "POST",
            &reveal,
            &admin_token,
            Some(json!({"field": "nope"})),
        )
        .await;
        assert_eq!(status, 400, "{}", p.label);
        assert!(body.contains("field"), "{body}");
        let (status, body) = admin(
            &p,
            "POST",
            &reveal,
            &admin_token,
            Some(json!({"field": "legal_cert_no"})),
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        assert_eq!(json_of(&body)["value"], resident_id("01123"));
        let audits = audit_actions(&p).await;
        let row = audits
            .iter()
            .find(|a| a["action"] == "merchant.reveal")
            .expect("reveal audited");
        assert_eq!(row["detail"]["field"], "legal_cert_no");
        assert!(
            !row.to_string().contains(&resident_id("01123")),
            "{}: value audited",
            p.label
        );
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_merchant_cannot_take_payments_but_its_refunds_still_go() {
    for p in Platform::all().await {
        let operator = token(&p, AdminRole::Operator, None).await;
        let data = p.jspay_data(MER_A, "A_NATIVE", json!({ "trans_amt": "1.00" }));
        let (req_date, req_seq_id) = (
            data["req_date"].as_str().unwrap_or_default().to_owned(),
            data["req_seq_id"].as_str().unwrap_or_default().to_owned(),
        );
        let r = p.sp.call(JSPAY, data).await;
        assert_eq!(r.code(), "00000100", "{}: {:?}", p.label, r.data);
        p.pay_alipay(r.get("qr_code")).await;
        p.wait_final(r.get("nkp_seq_id")).await;

        let freeze = format!("/admin/api/merchants/{MER_A}/freeze");
        let (status, body) = admin(&p, "POST", &freeze, &operator, Some(json!({}))).await;
        assert_eq!(status, 400, "{}: freezing needs a reason", p.label);
        assert!(body.contains("reason"), "{body}");
        let (status, body) = admin(
            &p,
            "POST",
            &freeze,
            &operator,
            Some(json!({"reason": "风险排查"})),
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        assert_eq!(json_of(&body)["frozen"], true);

        let r =
            p.sp.call(JSPAY, p.jspay_data(MER_A, "A_NATIVE", json!({})))
                .await;
        assert_eq!(r.code(), "22000000", "{}: {:?}", p.label, r.data);
        assert!(r.desc().contains("frozen"), "{}", r.desc());
        let refund =
            p.sp.call(
                REFUND,
                json!({
                    "req_date": today(),
                    "req_seq_id": fresh_id(),
                    "huifu_id": MER_A,
                    "ord_amt": "0.50",
                    "org_req_date": req_date,
                    "org_req_seq_id": req_seq_id,
                }),
            )
            .await;
        assert!(
            ["00000000", "00000100"].contains(&refund.code()),
            "{}: refund of a frozen merchant refused: {:?}",
            p.label,
            refund.data
        );

        let unfreeze = format!("/admin/api/merchants/{MER_A}/unfreeze");
        let (status, body) = admin(&p, "POST", &unfreeze, &operator, None).await;
        assert_eq!(status, 200, "{}: {body}", p.label);
        let (status, _) = admin(&p, "POST", &unfreeze, &operator, None).await;
        assert_eq!(status, 400, "{}: not frozen any more", p.label);
        let r =
            p.sp.call(JSPAY, p.jspay_data(MER_A, "A_NATIVE", json!({})))
                .await;
        assert_eq!(r.code(), "00000100", "{}: {:?}", p.label, r.data);

        let audits = audit_actions(&p).await;
        let frozen = audits
            .iter()
            .find(|a| a["action"] == "merchant.freeze")
            .expect("freeze audited");
        assert_eq!(frozen["detail"]["before"]["frozen"], false);
        assert_eq!(frozen["detail"]["after"]["reason"], "风险排查");
        assert!(audits.iter().any(|a| a["action"] == "merchant.unfreeze"));
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_page_on_the_server_with_offset_and_total() {
    for p in Platform::all().await {
        let admin_token = token(&p, AdminRole::PlatformAdmin, None).await;
        for _ in 0..3 {
            let ent = p.sp.call(ENT, ent_data(SP, None)).await;
            assert_eq!(ent.code(), "00000000", "{}: {:?}", p.label, ent.data);
        }
        let get = |path: String| {
            let (p, t) = (&p, &admin_token);
            async move {
                let (status, body) = admin(p, "GET", &path, t, None).await;
                assert_eq!(status, 200, "{}: {path}: {body}", p.label);
                json_of(&body)
            }
        };
        let ids = |page: &Value| -> Vec<String> {
            page["merchants"]
                .as_array()
                .expect("merchants")
                .iter()
                .map(|m| m["mer_id"].as_str().expect("mer_id").to_owned())
                .collect()
        };
        let all = get("/admin/api/merchants?limit=500".into()).await;
        let every = ids(&all);
        assert!(every.len() >= 3, "{}: {all}", p.label);
        assert_eq!(all["total"], json!(every.len()), "{}", p.label);
        let first = get("/admin/api/merchants?limit=2".into()).await;
        let second = get("/admin/api/merchants?limit=2&offset=2".into()).await;
        assert_eq!(first["total"], json!(every.len()), "{}", p.label);
        assert_eq!(second["total"], json!(every.len()), "{}", p.label);
        assert_eq!(second["offset"], json!(2), "{}", p.label);
        let (a, b) = (ids(&first), ids(&second));
        assert_eq!(a, every[..2], "{}", p.label);
        assert_eq!(b, every[2..every.len().min(4)], "{}", p.label);
        assert!(a.iter().all(|id| !b.contains(id)), "{}", p.label);

        let (status, body) = admin(
            &p,
            "GET",
            "/admin/api/merchants?offset=-1",
            &admin_token,
            None,
        )
        .await;
        assert_eq!(status, 400, "{}: {body}", p.label);
        assert!(body.contains("offset"), "{}: {body}", p.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_page_on_the_server_with_offset_and_total() {
    for p in Platform::all().await {
        let admin_token = token(&p, AdminRole::PlatformAdmin, None).await;
        for _ in 0..3 {
            let ent = p.sp.call(ENT, ent_data(SP, None)).await;
            assert_eq!(ent.code(), "00000000", "{}: {:?}", p.label, ent.data);
        }
        let get = |path: &'static str| {
            let (p, t) = (&p, &admin_token);
            async move {
                let (status, body) = admin(p, "GET", path, t, None).await;
                assert_eq!(status, 200, "{}: {path}: {body}", p.label);
                json_of(&body)
            }
        };
        let ids = |page: &Value| -> Vec<String> {
            page["applications"]
                .as_array()
                .expect("applications")
                .iter()
                .map(|a| a["apply_no"].as_str().expect("apply_no").to_owned())
                .collect()
        };
        let all = get("/admin/api/applications?limit=500").await;
        let every = ids(&all);
        assert!(every.len() >= 3, "{}: {all}", p.label);
        assert_eq!(all["total"], json!(every.len()), "{}", p.label);
        let first = get("/admin/api/applications?limit=2").await;
        let second = get("/admin/api/applications?limit=2&offset=2").await;
        assert_eq!(first["total"], json!(every.len()), "{}", p.label);
        assert_eq!(second["total"], json!(every.len()), "{}", p.label);
        let (a, b) = (ids(&first), ids(&second));
        assert_eq!(a, every[..2], "{}", p.label);
        assert_eq!(b, every[2..every.len().min(4)], "{}", p.label);
        assert!(a.iter().all(|id| !b.contains(id)), "{}", p.label);

        let (status, body) = admin(
            &p,
            "GET",
            "/admin/api/applications?offset=x",
            &admin_token,
            None,
        )
        .await;
        assert_eq!(status, 400, "{}: {body}", p.label);
        assert!(body.contains("offset"), "{}: {body}", p.label);
    }
}
