//! The `auth` routes: logins (password, client id/secret, JWT) and tokens
//! (lookup, renew, revoke, create).
//!
//! It owns only the mapping of those routes to typed calls. Logins are open
//! routes: call them on a client without a token (a token it carries is sent
//! but not needed). It must never keep, log or put into an error the
//! passwords, client secrets, JWTs and tokens that pass through it; they
//! travel only in request and response bodies, never in a URL.

use leash_core::api::{
    ClientLogin, JwtLogin, TokenCreate, TokenCreated, TokenInfo, TokenRef, TokenRenew, UserpassLogin,
};
use reqwest::Method;

use crate::failover::Retry;
use crate::{ApiPath, Client, Error};

const NO_BODY: Option<&()> = None;

fn token_route(words: &'static str) -> ApiPath {
    ApiPath::api().lit("auth/token").lit(words)
}

impl Client {
    /// `POST /api/v1/auth/userpass/login` (open, rate-limited): a user's
    /// name and password for a new token.
    pub async fn login_userpass(&self, login: &UserpassLogin) -> Result<TokenCreated, Error> {
        let path = ApiPath::api().lit("auth/userpass/login");
        self.call_as(Retry::Read, Method::POST, &path, &[], Some(login)).await
    }

    /// `POST /api/v1/auth/client/login` (open, rate-limited): a service's
    /// client id and secret for a new token.
    pub async fn login_client(&self, login: &ClientLogin) -> Result<TokenCreated, Error> {
        let path = ApiPath::api().lit("auth/client/login");
        self.call_as(Retry::Read, Method::POST, &path, &[], Some(login)).await
    }

    /// `POST /api/v1/auth/jwt/login` (open, rate-limited): a signed JWT (a
    /// GitHub Actions or Kubernetes service-account token) for a new token
    /// of the service identity it is bound to.
    pub async fn login_jwt(&self, login: &JwtLogin) -> Result<TokenCreated, Error> {
        let path = ApiPath::api().lit("auth/jwt/login");
        self.call_as(Retry::Read, Method::POST, &path, &[], Some(login)).await
    }

    /// `GET /api/v1/auth/token/lookup-self`: who the client's token is.
    pub async fn lookup_self(&self) -> Result<TokenInfo, Error> {
        self.call(Method::GET, &token_route("lookup-self"), &[], NO_BODY).await
    }

    /// `POST /api/v1/auth/token/renew-self`: extends the client's token by
    /// `increment` (default: its TTL), never past its max TTL.
    pub async fn renew_self(&self, request: &TokenRenew) -> Result<TokenInfo, Error> {
        self.call(Method::POST, &token_route("renew-self"), &[], Some(request))
            .await
    }

    /// `POST /api/v1/auth/token/revoke-self`: the client's token stops working.
    pub async fn revoke_self(&self) -> Result<(), Error> {
        self.call_empty(Method::POST, &token_route("revoke-self"), NO_BODY)
            .await
    }

    /// `POST /api/v1/auth/token/create`: a token not tied to a login
    /// (`admin` on `sys/tokens`). Prefer service identities for services.
    pub async fn create_token(&self, request: &TokenCreate) -> Result<TokenCreated, Error> {
        self.call(Method::POST, &token_route("create"), &[], Some(request))
            .await
    }

    /// `POST /api/v1/auth/token/lookup`: another token, by value or accessor.
    pub async fn lookup_token(&self, token: &TokenRef) -> Result<TokenInfo, Error> {
        self.call_as(Retry::Read, Method::POST, &token_route("lookup"), &[], Some(token))
            .await
    }

    /// `POST /api/v1/auth/token/renew`: another token, by value or accessor,
    /// by `token.increment` (default: its TTL), never past its max TTL.
    pub async fn renew_token(&self, token: &TokenRef) -> Result<TokenInfo, Error> {
        self.call(Method::POST, &token_route("renew"), &[], Some(token)).await
    }

    /// `POST /api/v1/auth/token/revoke`: another token, by value or accessor.
    pub async fn revoke_token(&self, token: &TokenRef) -> Result<(), Error> {
        self.call_empty(Method::POST, &token_route("revoke"), Some(token)).await
    }
}
