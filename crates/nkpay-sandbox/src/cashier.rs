//! The cashier page for demos: plain HTML, no script. Open the Alipay `qr_code` link (opening it is
//! the scan) or `/sandbox/cashier?prepay_id=…`, then press Pay or Fail; the form posts back here
//! and settles the payment exactly as the payer API does.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::alipay::trade::{self as alipay_trade, DEMO_BUYER_ID};
use crate::payer::PayerError;
use crate::state::SandboxState;
use crate::wechat::order as wechat_order;
use crate::yuan::from_fen;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · nkpay sandbox cashier</title><style>\
body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}}\
.card{{border:1px solid #ddd;border-radius:8px;padding:1rem 1.25rem}}\
.amount{{font-size:2rem;font-weight:600;margin:.5rem 0}}\
dl{{display:grid;grid-template-columns:auto 1fr;gap:.25rem .75rem}}dt{{color:#666}}dd{{margin:0;word-break:break-all}}\
input[type=text]{{width:100%;box-sizing:border-box;padding:.4rem}}\
button{{font-size:1rem;padding:.5rem 1.25rem;margin:.75rem .5rem 0 0;border-radius:6px;border:1px solid #888;cursor:pointer}}\
.pay{{background:#1aad19;color:#fff;border-color:#1aad19}}.error{{color:#b00020}}\
footer{{color:#888;font-size:.8rem;margin-top:1.5rem}}</style></head><body>{body}\
<footer>nkpay sandbox — a simulator; no money moves.</footer></body></html>",
        title = escape(title)
    ))
}

fn error_page(e: &PayerError) -> HttpResponse {
    page(
        "Cannot pay",
        &format!(
            "<h1>Cannot pay</h1><p class=\"error\">{}</p><p><a href=\"/sandbox/cashier\">Back</a></p>",
            escape(&e.message)
        ),
    )
}

fn row(label: &str, value: &str) -> String {
    format!("<dt>{}</dt><dd>{}</dd>", escape(label), escape(value))
}

fn text(v: &serde_json::Value, k: &str) -> String {
    match v.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The Pay / Fail form for one prepay or QR code.
fn pay_form(kind: &str, id_field: &str, id: &str, payer_field: &str, payer: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/sandbox/cashier\">\
<input type=\"hidden\" name=\"kind\" value=\"{kind}\">\
<input type=\"hidden\" name=\"{id_field}\" value=\"{id}\">\
<label>{payer_field}<br><input type=\"text\" name=\"payer\" value=\"{payer}\"></label><br>\
<button class=\"pay\" name=\"result\" value=\"SUCCESS\">Pay</button>\
<button name=\"result\" value=\"FAIL\">Fail</button></form>",
        id = escape(id),
        payer = escape(payer),
    )
}

#[derive(Deserialize)]
pub(crate) struct CashierQuery {
    prepay_id: Option<String>,
    qr: Option<String>,
}

async fn show(state: web::Data<SandboxState>, q: web::Query<CashierQuery>) -> HttpResponse {
    if let Some(prepay_id) = q.prepay_id.as_deref().filter(|s| !s.is_empty()) {
        return match wechat_order::cashier_view(&state, prepay_id) {
            Ok(v) => {
                let fen = v.get("total_fee").and_then(|f| f.as_i64()).unwrap_or(0);
                page(
                    "WeChat Pay",
                    &format!(
                        "<h1>WeChat Pay</h1><div class=\"card\"><div class=\"amount\">¥{}</div><dl>{}{}{}{}</dl>{}</div>",
                        from_fen(fen),
                        row("Item", &text(&v, "body")),
                        row("Order", &text(&v, "out_trade_no")),
                        row("Sub-merchant", &text(&v, "sub_mch_id")),
                        row("State", &text(&v, "trade_state")),
                        pay_form(
                            "wechat",
                            "prepay_id",
                            prepay_id,
                            "openid",
                            &text(&v, "payer")
                        ),
                    ),
                )
            }
            Err(e) => error_page(&e),
        };
    }
    if let Some(qr) = q.qr.as_deref().filter(|s| !s.is_empty()) {
        return match alipay_trade::cashier_view(&state, qr) {
            Ok(v) => page(
                "Alipay",
                &format!(
                    "<h1>Alipay</h1><div class=\"card\"><div class=\"amount\">¥{}</div><dl>{}{}{}{}</dl>{}</div>",
                    escape(&text(&v, "total_amount")),
                    row("Item", &text(&v, "subject")),
                    row("Order", &text(&v, "out_trade_no")),
                    row("Trade", &text(&v, "trade_no")),
                    row("Status", &text(&v, "trade_status")),
                    pay_form("alipay", "qr", qr, "buyer_id", DEMO_BUYER_ID),
                ),
            ),
            Err(e) => error_page(&e),
        };
    }
    page(
        "Cashier",
        "<h1>Sandbox cashier</h1><div class=\"card\"><form method=\"get\" action=\"/sandbox/cashier\">\
<label>WeChat prepay_id<br><input type=\"text\" name=\"prepay_id\"></label><br>\
<button>Open</button></form><hr><form method=\"get\" action=\"/sandbox/cashier\">\
<label>Alipay qr_code<br><input type=\"text\" name=\"qr\"></label><br>\
<button>Scan</button></form></div>",
    )
}

#[derive(Deserialize)]
pub(crate) struct CashierForm {
    kind: String,
    prepay_id: Option<String>,
    qr: Option<String>,
    payer: Option<String>,
    result: String,
}

async fn settle(state: web::Data<SandboxState>, form: web::Form<CashierForm>) -> HttpResponse {
    let success = form.result == "SUCCESS";
    let payer = form.payer.as_deref().filter(|s| !s.is_empty());
    let outcome = match (form.kind.as_str(), &form.prepay_id, &form.qr) {
        ("wechat", Some(prepay_id), _) => wechat_order::pay(&state, prepay_id, payer, success),
        ("alipay", _, Some(qr)) => {
            alipay_trade::pay(&state, qr, payer.unwrap_or(DEMO_BUYER_ID), success)
        }
        _ => Err(PayerError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "the form needs kind=wechat with prepay_id, or kind=alipay with qr",
        )),
    };
    match outcome {
        Ok(v) => {
            let status = [text(&v, "trade_state"), text(&v, "trade_status")].concat();
            let headline = if success { "Paid" } else { "Payment failed" };
            page(
                headline,
                &format!(
                    "<h1>{headline}</h1><div class=\"card\"><dl>{}{}</dl><p>The merchant is being notified.</p></div>",
                    row("Order", &text(&v, "out_trade_no")),
                    row("Status", &status),
                ),
            )
        }
        Err(e) => error_page(&e),
    }
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/sandbox/cashier")
            .route(web::get().to(show))
            .route(web::post().to(settle)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_merchant_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
