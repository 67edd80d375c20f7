//! The database a console handler uses: the server's [`ApiState`](crate::ApiState) when the app
//! has one, else a bare `web::Data<Db>` (tests, tools that mount only the console API).

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use nkpay_store::Db;

use super::error::AdminError;
use crate::ApiState;

pub(crate) struct ConsoleDb(pub Db);

impl FromRequest for ConsoleDb {
    type Error = AdminError;
    type Future = Ready<Result<ConsoleDb, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let db = req
            .app_data::<web::Data<ApiState>>()
            .map(|s| s.db.clone())
            .or_else(|| req.app_data::<web::Data<Db>>().map(|d| d.get_ref().clone()));
        ready(db.map(ConsoleDb).ok_or_else(|| {
            tracing::error!("console API mounted without ApiState or Db app data");
            AdminError::Internal
        }))
    }
}
