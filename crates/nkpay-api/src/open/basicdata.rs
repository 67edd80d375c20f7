//! Merchant onboarding (进件) on the Dougong v2 wire (issue 11; dg-sdk 2.0.28's
//! `V2MerchantBasicdata{Ent,Indv,Query,StatusQuery}Request` field names are the contract):
//!
//! - `POST /v2/merchant/basicdata/ent` and `/indv`: every field checked by its real rule, each
//!   refusal `10000000` naming the field and the rule (USCC per GB 32100-2015, resident ID per
//!   GB 11643-1999 — a lower-case `x` is `X` —, the other certificate types' formats, mainland
//!   mobile, e-mail, `yyyyMMdd` dates and their order, validity type 1 = long-term with an empty
//!   end date, `mcc`, `district_id`, lengths; `card_info` a JSON object or a string holding one:
//!   `card_type` 0 corporate account — digits ≤ 32, no Luhn, `branch_code` required — / 1 the
//!   legal person's card / 2 another person's card — 13–19 digits with a Luhn check digit,
//!   `cert_type` + `cert_no` of the holder required for 2). Picture fields are file ids, stored
//!   as given. Reply: `huifu_id` (the new `mer_id`), `apply_no`, `apply_status` P.
//! - `POST /v2/merchant/basicdata/query` (`huifu_id`): the merchant in detail, personal values
//!   masked, with its businesses and bound appids.
//! - `POST /v2/merchant/basicdata/status/query` (`huifu_id`, `apply_no` optional): the
//!   application's `apply_status` Y/P/N/F and `audit_desc`.
//!
//! The rules that need the clock or the database (who may apply, replays, `req_date` today)
//! are in nkpay-engine's `merchants`.

use chrono::NaiveDate;
use nkpay_core::bank_account::{CardType, validate_card_no};
use nkpay_core::business_codes::{validate_district_id, validate_mcc};
use nkpay_core::cert_no::{CertType, validate_cert_no};
use nkpay_core::contact::{validate_email, validate_mobile};
use nkpay_core::resp_code::RespCode;
use nkpay_core::secret::Secret;
use nkpay_core::uscc::validate_uscc;
use nkpay_core::validity::{parse_date, validate_validity};
use nkpay_engine::merchants::{
    ApplicationView, Applied, Apply, MerchantDetail, PersonalField, PersonalKind,
};
use nkpay_engine::{Caller, Engine};
use nkpay_store::kinds::MerchantKind;
use serde_json::{Map, Value};
use std::marker::PhantomData;

use super::fields::Fields;
use super::reply::{Refusal, Reply};
use super::{CallerCall, OpenCall, Scoped};

/// Longest `reg_name` (and `card_name`), in characters.
pub const NAME_MAX_CHARS: usize = 128;
/// Longest `short_name` / `receipt_name`, in characters.
pub const SHORT_NAME_MAX_CHARS: usize = 64;
/// Longest address (`detail_addr`, `reg_detail`, `legal_addr`), in characters.
pub const ADDRESS_MAX_CHARS: usize = 256;
/// Longest picture file id (ASCII letters, digits, `-`, `_`).
pub const FILE_ID_MAX: usize = 64;
/// Longest `async_return_url`.
pub const URL_MAX: usize = 512;

/// `scene_type` values (Dougong 经营场景): online, offline, both.
pub const SCENE_TYPES: &[&str] = &["ONLINE", "OFFLINE", "ALL"];

/// Which application an endpoint takes.
pub trait ApplicationKind {
    /// Enterprise or individual.
    const KIND: MerchantKind;
}

/// `/ent`.
pub struct Ent;
/// `/indv`.
pub struct Indv;

impl ApplicationKind for Ent {
    const KIND: MerchantKind = MerchantKind::Ent;
}

impl ApplicationKind for Indv {
    const KIND: MerchantKind = MerchantKind::Indv;
}

/// An application endpoint for merchants of kind `K`.
pub struct ApplyMerchant<K>(PhantomData<K>);

/// The enterprise application endpoint.
pub type ApplyEnt = ApplyMerchant<Ent>;
/// The individual application endpoint.
pub type ApplyIndv = ApplyMerchant<Indv>;

impl<K: ApplicationKind> CallerCall for ApplyMerchant<K> {
    type Request = Apply;

    fn read(f: &Fields<'_>) -> Result<Apply, Refusal> {
        read_application(f, K::KIND, today())
    }

    async fn run(
        engine: &Engine,
        caller: Caller,
        request: Apply,
    ) -> Result<Map<String, Value>, Refusal> {
        let applied = engine.merchants().apply(&caller, request).await?;
        Ok(applied_reply(&applied))
    }
}

/// Today in Asia/Shanghai (UTC+8, no daylight saving since 1991): certificates' birth dates,
/// validity begin dates and founding dates may not be later.
fn today() -> NaiveDate {
    let now = chrono::Utc::now();
    chrono::FixedOffset::east_opt(8 * 3600)
        .map(|tz| now.with_timezone(&tz).date_naive())
        .unwrap_or_else(|| now.date_naive())
}

/// The reply to an application: `huifu_id`, `apply_no`, `apply_status` (P).
pub fn applied_reply(a: &Applied) -> Map<String, Value> {
    let mut d = Reply::with_code(
        RespCode::Success,
        "进件申请已受理: the application is pending review",
    );
    d.set("req_date", &a.req_date)
        .set("req_seq_id", &a.req_seq_id)
        .set("huifu_id", &a.mer_id)
        .set("apply_no", &a.apply_no)
        .set("apply_status", a.status.as_str());
    d.into_map()
}

/// The application being read: checked fields go into `details` or `personal`.
struct Reading<'a, 'f> {
    f: &'a Fields<'f>,
    details: Map<String, Value>,
    personal: Vec<PersonalField>,
}

impl<'a, 'f> Reading<'a, 'f> {
    fn keep(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.details
                .insert(key.to_owned(), Value::String(v.to_owned()));
        }
    }

    /// A required text of at most `max` characters, kept.
    fn text(&mut self, key: &str, max: usize) -> Result<&'f str, Refusal> {
        let v = self.f.required(key)?;
        self.f.text(key, max)?;
        self.keep(key, Some(v));
        Ok(v)
    }

    /// An optional text of at most `max` characters, kept.
    fn opt_text(&mut self, key: &str, max: usize) -> Result<Option<&'f str>, Refusal> {
        let v = self.f.text(key, max)?;
        self.keep(key, v);
        Ok(v)
    }

    /// An optional picture file id, kept as given.
    fn file_id(&mut self, key: &str) -> Result<(), Refusal> {
        if let Some(v) = self.f.optional(key)? {
            super::fields::check_id(key, v, FILE_ID_MAX)?;
            self.keep(key, Some(v));
        }
        Ok(())
    }

    fn secret(&mut self, field: &str, kind: PersonalKind, value: String) {
        self.personal.push(PersonalField {
            field: field.to_owned(),
            kind,
            value: Secret::new(value),
        });
    }
}

/// Reads an ent or indv application's `data`.
pub fn read_application(
    f: &Fields<'_>,
    kind: MerchantKind,
    today: NaiveDate,
) -> Result<Apply, Refusal> {
    let request = f.write_request()?;
    let mut r = Reading {
        f,
        details: Map::new(),
        personal: Vec::new(),
    };
    let upper_huifu_id = f.required("upper_huifu_id")?;
    super::fields::check_id("upper_huifu_id", upper_huifu_id, 32)?;
    let reg_name = r.text("reg_name", NAME_MAX_CHARS)?.to_owned();
    let short_name = match kind {
        MerchantKind::Ent => Some(r.text("short_name", SHORT_NAME_MAX_CHARS)?),
        MerchantKind::Indv => r.opt_text("short_name", SHORT_NAME_MAX_CHARS)?,
    }
    .map(str::to_owned);
    let mcc = r.text("mcc", 4)?;
    validate_mcc(mcc).map_err(|e| Refusal::invalid("mcc", e.to_string()))?;
    let scene_type = r.text("scene_type", 8)?;
    if !SCENE_TYPES.contains(&scene_type) {
        return Err(Refusal::invalid(
            "scene_type",
            format!("must be one of {}", SCENE_TYPES.join(", ")),
        ));
    }
    let district_id = r.text("district_id", 6)?;
    validate_district_id(district_id)
        .map_err(|e| Refusal::invalid("district_id", e.to_string()))?;
    if scene_type == "ONLINE" {
        r.opt_text("detail_addr", ADDRESS_MAX_CHARS)?;
    } else {
        r.text("detail_addr", ADDRESS_MAX_CHARS)?;
    }
    let legal_cert_type = match kind {
        MerchantKind::Ent => {
            r.text("legal_name", NAME_MAX_CHARS)?;
            let code = r.text("legal_cert_type", 2)?;
            CertType::parse(code).map_err(|e| Refusal::invalid("legal_cert_type", e.to_string()))?
        }
        // The individual is `reg_name` with a resident ID card (dg-sdk's indv class has no
        // legal_name or legal_cert_type).
        MerchantKind::Indv => CertType::ResidentId,
    };
    let cert_no = f.required("legal_cert_no")?;
    let cert_no = validate_cert_no(legal_cert_type, cert_no, today)
        .map_err(|e| Refusal::invalid("legal_cert_no", e.to_string()))?;
    r.secret("legal_cert_no", PersonalKind::CertNo, cert_no);
    validity(
        &mut r,
        "legal_cert_validity_type",
        "legal_cert_begin_date",
        "legal_cert_end_date",
        today,
    )?;
    r.opt_text("legal_addr", ADDRESS_MAX_CHARS)?;
    let mobile = f.required("contact_mobile_no")?;
    validate_mobile(mobile).map_err(|e| Refusal::invalid("contact_mobile_no", e.to_string()))?;
    r.secret("contact_mobile_no", PersonalKind::Mobile, mobile.to_owned());
    let email = match kind {
        MerchantKind::Ent => Some(f.required("contact_email")?),
        MerchantKind::Indv => f.optional("contact_email")?,
    };
    if let Some(email) = email {
        validate_email(email).map_err(|e| Refusal::invalid("contact_email", e.to_string()))?;
        r.secret("contact_email", PersonalKind::Email, email.to_owned());
    }
    r.opt_text("contact_name", NAME_MAX_CHARS)?;
    if kind == MerchantKind::Ent {
        let license_code = r.text("license_code", 18)?;
        validate_uscc(license_code).map_err(|e| Refusal::invalid("license_code", e.to_string()))?;
        validity(
            &mut r,
            "license_validity_type",
            "license_begin_date",
            "license_end_date",
            today,
        )?;
        r.opt_text("receipt_name", SHORT_NAME_MAX_CHARS)?;
        if let Some(t) = r.opt_text("ent_type", 2)?
            && !t.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Refusal::invalid(
                "ent_type",
                "must be 1 or 2 digits (Dougong 公司类型)",
            ));
        }
        if let Some(t) = r.opt_text("busi_type", 1)?
            && !matches!(t, "1" | "2")
        {
            return Err(Refusal::invalid(
                "busi_type",
                "must be 1 (physical) or 2 (virtual)",
            ));
        }
        if let Some(d) = r.opt_text("found_date", 8)? {
            match parse_date(d) {
                Some(day) if day <= today => {}
                _ => {
                    return Err(Refusal::invalid(
                        "found_date",
                        "must be a date yyyyMMdd not after today (Asia/Shanghai)",
                    ));
                }
            }
        }
        if let Some(c) = r.opt_text("reg_capital", 20)?
            && nkpay_core::money::Money::parse_yuan(c).is_err()
        {
            return Err(Refusal::invalid(
                "reg_capital",
                "must be yuan with exactly two decimals (e.g. 100.00)",
            ));
        }
        if let Some(d) = r.opt_text("reg_district_id", 6)? {
            validate_district_id(d)
                .map_err(|e| Refusal::invalid("reg_district_id", e.to_string()))?;
        }
        r.opt_text("reg_detail", ADDRESS_MAX_CHARS)?;
        r.opt_text("login_name", 64)?;
        for pic in [
            "license_pic",
            "reg_acct_pic",
            "settle_cert_back_pic",
            "settle_cert_front_pic",
            "auth_entrust_pic",
        ] {
            r.file_id(pic)?;
        }
    }
    r.opt_text("mer_icp", 64)?;
    if let Some(h) = f.optional("head_huifu_id")? {
        super::fields::check_id("head_huifu_id", h, 32)?;
        r.keep("head_huifu_id", Some(h));
    }
    for pic in [
        "legal_cert_back_pic",
        "legal_cert_front_pic",
        "settle_card_front_pic",
        "store_header_pic",
        "store_indoor_pic",
        "store_cashier_desk_pic",
    ] {
        r.file_id(pic)?;
    }
    card_info(&mut r, kind, legal_cert_type, today)?;
    // Dougong writes its notify URLs `virgo://http(s)://…`; the prefix is dropped.
    let async_return_url = f.http_url("async_return_url", URL_MAX)?.map(str::to_owned);
    Ok(Apply {
        request,
        kind,
        upper_huifu_id: upper_huifu_id.to_owned(),
        reg_name,
        short_name,
        async_return_url,
        details: r.details,
        personal: r.personal,
    })
}

/// A validity period: type `0`/`1` (required when a begin date is given; without one, a period
/// with no end date is long-term), begin date, end date; kept.
fn validity(
    r: &mut Reading<'_, '_>,
    type_key: &str,
    begin_key: &str,
    end_key: &str,
    today: NaiveDate,
) -> Result<(), Refusal> {
    let begin = r.f.required(begin_key)?;
    let end = r.f.optional(end_key)?.unwrap_or("");
    let validity_type =
        r.f.optional(type_key)?
            .unwrap_or(if end.is_empty() { "1" } else { "0" });
    let checked = validate_validity(validity_type, begin, end).map_err(|e| {
        use nkpay_core::validity::ValidityError::*;
        let field = match &e {
            UnknownType(_) => type_key,
            Date(d) if d == begin => begin_key,
            Date(_) | EndDateOnLongTerm | MissingEndDate | Order { .. } => end_key,
        };
        Refusal::invalid(r.f.name(field), e.to_string())
    })?;
    if checked.begin > today {
        return Err(Refusal::invalid(
            r.f.name(begin_key),
            "must not be after today (Asia/Shanghai)",
        ));
    }
    r.keep(type_key, Some(validity_type));
    r.keep(begin_key, Some(begin));
    r.keep(end_key, Some(end).filter(|e| !e.is_empty()));
    Ok(())
}

/// `card_info`: the settlement account (a JSON object, or a string holding one).
fn card_info(
    r: &mut Reading<'_, '_>,
    kind: MerchantKind,
    legal_cert_type: CertType,
    today: NaiveDate,
) -> Result<(), Refusal> {
    let obj =
        r.f.object("card_info")?
            .ok_or_else(|| Refusal::missing("card_info"))?;
    let c = r.f.nested(&obj, "card_info.");
    let mut kept = Map::new();
    let mut keep = |key: &str, v: &str| {
        kept.insert(key.to_owned(), Value::String(v.to_owned()));
    };
    let card_type: CardType = c.required("card_type")?.parse().map_err(
        |e: nkpay_core::bank_account::BankAccountError| {
            Refusal::invalid("card_info.card_type", e.to_string())
        },
    )?;
    if kind == MerchantKind::Indv && card_type == CardType::Corporate {
        return Err(Refusal::invalid(
            "card_info.card_type",
            "an individual merchant settles to a personal card: 1 (its own) or 2 (another person's)",
        ));
    }
    keep("card_type", card_type.code());
    let card_name = c.required("card_name")?;
    c.text("card_name", NAME_MAX_CHARS)?;
    keep("card_name", card_name);
    let card_no = c.required("card_no")?;
    validate_card_no(card_type, card_no)
        .map_err(|e| Refusal::invalid("card_info.card_no", e.to_string()))?;
    for key in ["prov_id", "area_id"] {
        if let Some(v) = c.optional(key)? {
            validate_district_id(v)
                .map_err(|e| Refusal::invalid(format!("card_info.{key}"), e.to_string()))?;
            keep(key, v);
        }
    }
    match (card_type, c.optional("branch_code")?) {
        (CardType::Corporate, None) => return Err(Refusal::missing("card_info.branch_code")),
        (_, Some(b)) => {
            if !(b.len() == 12 && b.bytes().all(|x| x.is_ascii_digit())) {
                return Err(Refusal::invalid(
                    "card_info.branch_code",
                    "must be the 12-digit bank branch code (联行号)",
                ));
            }
            keep("branch_code", b);
        }
        (_, None) => {}
    }
    if let Some(b) = c.text("bank_code", 16)? {
        keep("bank_code", b);
    }
    // The holder's certificate: required for another person's card; for the legal person's
    // card it is the legal person's own (legal_cert_type).
    let holder_type = match (card_type, c.optional("cert_type")?) {
        (CardType::OtherPerson, None) => return Err(Refusal::missing("card_info.cert_type")),
        (_, Some(code)) => Some(
            CertType::parse(code)
                .map_err(|e| Refusal::invalid("card_info.cert_type", e.to_string()))?,
        ),
        (CardType::LegalPerson, None) => Some(legal_cert_type),
        (CardType::Corporate, None) => None,
    };
    let holder_no = c.optional("cert_no")?;
    let mut secrets = vec![(
        "card_info.card_no",
        PersonalKind::AccountNo,
        card_no.to_owned(),
    )];
    match (holder_type, holder_no) {
        (Some(_), None) if card_type == CardType::OtherPerson => {
            return Err(Refusal::missing("card_info.cert_no"));
        }
        (Some(t), Some(no)) => {
            let no = validate_cert_no(t, no, today)
                .map_err(|e| Refusal::invalid("card_info.cert_no", e.to_string()))?;
            keep("cert_type", t.code());
            secrets.push(("card_info.cert_no", PersonalKind::CertNo, no));
        }
        (None, Some(_)) => {
            return Err(Refusal::invalid(
                "card_info.cert_no",
                "a corporate account has no holder certificate: give card_info.cert_type with it, or leave it out",
            ));
        }
        _ => {}
    }
    if c.optional("cert_begin_date")?.is_some() {
        let mut nested = Reading {
            f: &c,
            details: Map::new(),
            personal: Vec::new(),
        };
        validity(
            &mut nested,
            "cert_validity_type",
            "cert_begin_date",
            "cert_end_date",
            today,
        )?;
        kept.extend(nested.details);
    }
    if let Some(mp) = c.optional("mp")? {
        validate_mobile(mp).map_err(|e| Refusal::invalid("card_info.mp", e.to_string()))?;
        secrets.push(("card_info.mp", PersonalKind::Mobile, mp.to_owned()));
    }
    r.details
        .insert("card_info".to_owned(), Value::Object(kept));
    for (field, kind, value) in secrets {
        r.secret(field, kind, value);
    }
    Ok(())
}

/// The merchant detail endpoint.
pub struct Query;

impl OpenCall for Query {
    type Request = ();

    fn read(f: &Fields<'_>) -> Result<(), Refusal> {
        f.request_id()?;
        Ok(())
    }

    async fn run(s: Scoped<'_>, _: ()) -> Result<Map<String, Value>, Refusal> {
        let detail = s.engine.merchants().detail(&s.scope).await?;
        Ok(detail_reply(&detail))
    }
}

/// The merchant in detail: its own fields, its application's (masked; nested objects such as
/// `card_info` as JSON strings, as Dougong writes them), then [`businesses_reply`].
pub fn detail_reply(d: &MerchantDetail) -> Map<String, Value> {
    let m = &d.merchant;
    let mut r = Reply::with_code(RespCode::Success, RespCode::Success.default_desc());
    if let Some(app) = &d.application {
        for (key, value) in &app.details {
            match value {
                Value::String(s) => r.set(key, s.as_str()),
                other => r.set(key, other.to_string()),
            };
        }
        r.set("apply_no", &app.apply_no);
    }
    r.set("huifu_id", &m.mer_id)
        .set("upper_huifu_id", &m.sys_id)
        .set("reg_name", &m.name)
        .set_opt("short_name", m.short_name.as_deref())
        .set("merchant_kind", m.kind.as_str())
        .set("apply_status", m.apply_status.as_str())
        .set("frozen", if m.frozen_at.is_some() { "Y" } else { "N" })
        .set_opt("frozen_reason", m.frozen_reason.as_deref());
    let mut data = r.into_map();
    businesses_reply(d, &mut data);
    data
}

/// The merchant's businesses' states (`wx_busi_stat`, `ali_busi_stat`: P/S/F, as busi/open
/// answers them), and its businesses, bound appids and WeChat bindings, each a JSON string:
/// `busi_list` (`[{"channel", "state", "state_reason", "sub_mch_id", "fee_rate_bp",
/// "status"}]`), `appid_list` (`[{"appid", "kind"}]`), `bind_list` (`[{"kind", "value",
/// "state", "err_code", "err_msg"}]`). Per-business fields belong in
/// `MerchantDetail::businesses_json` (nkpay-engine `merchants`).
pub fn businesses_reply(d: &MerchantDetail, data: &mut Map<String, Value>) {
    for b in &d.businesses {
        let key = match b.channel {
            nkpay_core::trade_type::ChannelKind::Wechat => "wx_busi_stat",
            nkpay_core::trade_type::ChannelKind::Alipay => "ali_busi_stat",
        };
        data.insert(key.into(), Value::String(b.state.as_str().to_owned()));
    }
    data.insert(
        "busi_list".into(),
        Value::String(Value::Array(d.businesses_json()).to_string()),
    );
    data.insert(
        "appid_list".into(),
        Value::String(Value::Array(d.appids_json()).to_string()),
    );
    data.insert(
        "bind_list".into(),
        Value::String(Value::Array(d.bindings_json()).to_string()),
    );
}

/// The application state endpoint.
pub struct StatusQuery;

impl OpenCall for StatusQuery {
    type Request = Option<String>;

    fn read(f: &Fields<'_>) -> Result<Option<String>, Refusal> {
        f.request_id()?;
        let apply_no = f.optional("apply_no")?;
        if let Some(no) = apply_no {
            super::fields::check_id("apply_no", no, 32)?;
        }
        Ok(apply_no.map(str::to_owned))
    }

    async fn run(s: Scoped<'_>, apply_no: Option<String>) -> Result<Map<String, Value>, Refusal> {
        let app = s
            .engine
            .merchants()
            .application_of(&s.scope, apply_no.as_deref())
            .await?;
        let detail = s.engine.merchants().detail(&s.scope).await?;
        Ok(status_reply(&app, &detail))
    }
}

/// An application's state: `apply_no`, `huifu_id`, `apply_status`, `audit_desc` (the reason
/// of a rejection), and the businesses as in [`businesses_reply`].
pub fn status_reply(app: &ApplicationView, d: &MerchantDetail) -> Map<String, Value> {
    let mut r = Reply::with_code(RespCode::Success, RespCode::Success.default_desc());
    r.set("apply_no", &app.apply_no)
        .set("huifu_id", &app.mer_id)
        .set("apply_status", app.status.as_str())
        .set_opt("audit_desc", app.reason.as_deref())
        .set("apply_req_date", &app.req_date)
        .set("apply_req_seq_id", &app.req_seq_id);
    let mut data = r.into_map();
    businesses_reply(d, &mut data);
    data
}
