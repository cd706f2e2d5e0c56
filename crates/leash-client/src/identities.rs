//! Identity, group, policy and JWT-issuer management routes (`admin` on
//! `sys/identities`, `sys/groups`, `sys/policies` and `sys/auth`).
//!
//! It owns only the mapping of those routes to typed calls. Policy names are
//! checked with [`leash_core::policy::PolicyName`] before a request is sent;
//! identity, group and issuer names are left to the server (which owns their
//! rule) and only percent-encoded, after refusing the empty name, `.` and
//! `..` (which no URL can carry as one segment). It must never keep or log the passwords
//! and client secrets that pass through it.

use leash_core::api::{
    ClientCredentials, GroupInfo, GroupList, GroupWrite, IdentityCreate, IdentityCreated, IdentityInfo, IdentityList,
    IdentityUpdate, JwtIssuer, JwtIssuerList, PolicyCheck, PolicyCheckResult, PolicyInfo, PolicyList, PolicyWrite,
};
use leash_core::policy::PolicyName;
use reqwest::Method;

use crate::{ApiPath, Client, Error};

const NO_BODY: Option<&()> = None;

/// A name the server owns the rule of: only what no URL can carry as one
/// segment (empty, `.`, `..`) is refused here.
fn segment(kind: &'static str, name: &str) -> Result<String, Error> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::InvalidName(leash_core::Error::InvalidName {
            kind,
            value: name.to_owned(),
            reason: "empty, `.` and `..` are not names".to_owned(),
        }));
    }
    Ok(name.to_owned())
}

fn identity_path(name: &str) -> Result<ApiPath, Error> {
    Ok(ApiPath::api().lit("identities").seg(&segment("identity name", name)?))
}

fn group_path(name: &str) -> Result<ApiPath, Error> {
    Ok(ApiPath::api().lit("groups").seg(&segment("group name", name)?))
}

/// `/api/v1/policies/{name}`, with the name checked.
fn policy_path(name: &str) -> Result<ApiPath, Error> {
    let name = PolicyName::parse(name)?;
    Ok(ApiPath::api().lit("policies").seg(name.as_str()))
}

fn issuer_path(name: &str) -> Result<ApiPath, Error> {
    Ok(ApiPath::api()
        .lit("auth/jwt/issuers")
        .seg(&segment("JWT issuer name", name)?))
}

impl Client {
    /// `GET /api/v1/identities`.
    pub async fn list_identities(&self) -> Result<IdentityList, Error> {
        self.call(Method::GET, &ApiPath::api().lit("identities"), &[], NO_BODY)
            .await
    }

    /// `POST /api/v1/identities`: the answer holds a service's client secret,
    /// shown only this once. Every policy name is checked first.
    pub async fn create_identity(&self, request: &IdentityCreate) -> Result<IdentityCreated, Error> {
        check_policies(&request.policies)?;
        self.call(Method::POST, &ApiPath::api().lit("identities"), &[], Some(request))
            .await
    }

    /// `GET /api/v1/identities/{name}`.
    pub async fn get_identity(&self, name: &str) -> Result<IdentityInfo, Error> {
        self.call(Method::GET, &identity_path(name)?, &[], NO_BODY).await
    }

    /// `PATCH /api/v1/identities/{name}`: the fields that are `Some` are replaced.
    pub async fn update_identity(&self, name: &str, request: &IdentityUpdate) -> Result<IdentityInfo, Error> {
        if let Some(policies) = &request.policies {
            check_policies(policies)?;
        }
        self.call(Method::PATCH, &identity_path(name)?, &[], Some(request))
            .await
    }

    /// `DELETE /api/v1/identities/{name}`: its tokens are revoked too.
    pub async fn delete_identity(&self, name: &str) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &identity_path(name)?, NO_BODY).await
    }

    /// `POST /api/v1/identities/{name}/secret`: a new client secret (shown
    /// once); the old one stops working.
    pub async fn rotate_client_secret(&self, name: &str) -> Result<ClientCredentials, Error> {
        let path = identity_path(name)?.lit("secret");
        self.call(Method::POST, &path, &[], NO_BODY).await
    }

    /// `POST /api/v1/identities/{name}/revoke-tokens`: every token of the identity stops working.
    pub async fn revoke_identity_tokens(&self, name: &str) -> Result<(), Error> {
        let path = identity_path(name)?.lit("revoke-tokens");
        self.call_empty(Method::POST, &path, NO_BODY).await
    }

    /// `GET /api/v1/groups`.
    pub async fn list_groups(&self) -> Result<GroupList, Error> {
        self.call(Method::GET, &ApiPath::api().lit("groups"), &[], NO_BODY)
            .await
    }

    /// `POST /api/v1/groups`.
    pub async fn create_group(&self, request: &GroupWrite) -> Result<GroupInfo, Error> {
        check_policies(&request.policies)?;
        self.call(Method::POST, &ApiPath::api().lit("groups"), &[], Some(request))
            .await
    }

    /// `GET /api/v1/groups/{name}`.
    pub async fn get_group(&self, name: &str) -> Result<GroupInfo, Error> {
        self.call(Method::GET, &group_path(name)?, &[], NO_BODY).await
    }

    /// `PUT /api/v1/groups/{name}`: replaces the group's policies and members
    /// (`request.name` is ignored).
    pub async fn put_group(&self, name: &str, request: &GroupWrite) -> Result<GroupInfo, Error> {
        check_policies(&request.policies)?;
        self.call(Method::PUT, &group_path(name)?, &[], Some(request)).await
    }

    /// `DELETE /api/v1/groups/{name}`.
    pub async fn delete_group(&self, name: &str) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &group_path(name)?, NO_BODY).await
    }

    /// `GET /api/v1/policies`: the names.
    pub async fn list_policies(&self) -> Result<PolicyList, Error> {
        self.call(Method::GET, &ApiPath::api().lit("policies"), &[], NO_BODY)
            .await
    }

    /// `PUT /api/v1/policies/{name}`: creates or replaces a policy. A bad
    /// document is refused with a 400 naming the rule and the problem.
    pub async fn write_policy(&self, name: &str, request: &PolicyWrite) -> Result<PolicyInfo, Error> {
        self.call(Method::PUT, &policy_path(name)?, &[], Some(request)).await
    }

    /// `GET /api/v1/policies/{name}`: the TOML document as written.
    pub async fn read_policy(&self, name: &str) -> Result<PolicyInfo, Error> {
        self.call(Method::GET, &policy_path(name)?, &[], NO_BODY).await
    }

    /// `DELETE /api/v1/policies/{name}`.
    pub async fn delete_policy(&self, name: &str) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &policy_path(name)?, NO_BODY).await
    }

    /// `POST /api/v1/policies/check`: would an identity be allowed a
    /// capability on a path, and which rule decides.
    pub async fn check_policy(&self, request: &PolicyCheck) -> Result<PolicyCheckResult, Error> {
        let path = ApiPath::api().lit("policies/check");
        self.call(Method::POST, &path, &[], Some(request)).await
    }

    /// `GET /api/v1/auth/jwt/issuers`.
    pub async fn list_jwt_issuers(&self) -> Result<JwtIssuerList, Error> {
        let path = ApiPath::api().lit("auth/jwt/issuers");
        self.call(Method::GET, &path, &[], NO_BODY).await
    }

    /// `PUT /api/v1/auth/jwt/issuers/{name}`: creates or replaces an issuer.
    pub async fn write_jwt_issuer(&self, name: &str, issuer: &JwtIssuer) -> Result<JwtIssuer, Error> {
        self.call(Method::PUT, &issuer_path(name)?, &[], Some(issuer)).await
    }

    /// `DELETE /api/v1/auth/jwt/issuers/{name}`.
    pub async fn delete_jwt_issuer(&self, name: &str) -> Result<(), Error> {
        self.call_empty(Method::DELETE, &issuer_path(name)?, NO_BODY).await
    }
}

fn check_policies(names: &[String]) -> Result<(), Error> {
    for name in names {
        PolicyName::parse(name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_and_policy_names_checked() {
        assert_eq!(
            identity_path("alice@example.com").unwrap().as_str(),
            "/api/v1/identities/alice%40example.com"
        );
        assert_eq!(group_path("a/b").unwrap().as_str(), "/api/v1/groups/a%2Fb");
        for bad in ["", ".", ".."] {
            assert!(matches!(identity_path(bad), Err(Error::InvalidName(_))), "{bad:?}");
            assert!(matches!(group_path(bad), Err(Error::InvalidName(_))), "{bad:?}");
            assert!(matches!(issuer_path(bad), Err(Error::InvalidName(_))), "{bad:?}");
        }
        assert_eq!(
            policy_path("payment-service").unwrap().as_str(),
            "/api/v1/policies/payment-service"
        );
        assert!(matches!(policy_path("a b"), Err(Error::InvalidName(_))));
        assert!(matches!(
            check_policies(&["ok".into(), "../x".into()]),
            Err(Error::InvalidName(_))
        ));
        assert_eq!(
            issuer_path("github").unwrap().as_str(),
            "/api/v1/auth/jwt/issuers/github"
        );
    }
}
