//! Access review routes (`read` on `sys/access`): who holds a capability on a
//! path, what one identity may do, and the whole system's report. It owns only the mapping of those routes
//! to typed calls; the answers are metadata and carry no value or token.

use leash_core::api::{AccessReport, ReportQuery, WhatCan, WhatCanQuery, WhoCan};
use reqwest::Method;

use crate::{ApiPath, Client, Error};

const NO_BODY: Option<&()> = None;

impl Client {
    /// `GET /api/v1/access/who-can?path=&capability=`: every identity and live
    /// token holding `capability` on `path` (`project/env/path`), with the rule.
    pub async fn who_can(&self, path: &str, capability: &str) -> Result<WhoCan, Error> {
        let query = [("path", path.to_owned()), ("capability", capability.to_owned())];
        self.call(Method::GET, &ApiPath::api().lit("access/who-can"), &query, NO_BODY)
            .await
    }

    /// `GET /api/v1/access/what-can/{identity}?project=&env=`: every
    /// capability `identity` holds on the secrets that exist, with the rule.
    pub async fn what_can(&self, identity: &str, filter: &WhatCanQuery) -> Result<WhatCan, Error> {
        if identity.is_empty() || identity == "." || identity == ".." {
            return Err(Error::InvalidName(leash_core::Error::InvalidName {
                kind: "identity name",
                value: identity.to_owned(),
                reason: "empty, `.` and `..` are not names".to_owned(),
            }));
        }
        let mut query = Vec::new();
        if let Some(project) = &filter.project {
            query.push(("project", project.clone()));
        }
        if let Some(env) = &filter.env {
            query.push(("env", env.clone()));
        }
        let path = ApiPath::api().lit("access/what-can").seg(identity);
        self.call(Method::GET, &path, &query, NO_BODY).await
    }

    /// `GET /api/v1/access/report?unused_days=`: the access matrix and the findings.
    pub async fn access_report(&self, query: &ReportQuery) -> Result<AccessReport, Error> {
        let mut params = Vec::new();
        if let Some(days) = query.unused_days {
            params.push(("unused_days", days.to_string()));
        }
        self.call(Method::GET, &ApiPath::api().lit("access/report"), &params, NO_BODY)
            .await
    }
}
