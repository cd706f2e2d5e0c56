//! End-to-end encrypted environments from the client's side (docs/e2e.md).
//!
//! It owns the client half of the protocol: asking an environment whom to
//! encrypt to ([`Client::e2e_status`]), encrypting values to those
//! recipients before they leave this process ([`Client::apply_changes_e2e`],
//! [`Client::put_secret_e2e`]), decrypting what comes back with the caller's
//! age identities ([`decrypt_secret`], [`decrypt_list`]), and changing the
//! recipient set by re-encrypting every retained value here and sending the
//! result as one atomic update ([`Client::e2e_set_recipients`]).
//!
//! It must never send a value of an end-to-end encrypted environment in
//! plaintext, never put a value (plain or encrypted) into an error, and
//! never read files: identities come in as bytes parsed by the caller
//! ([`Identities::parse`]).

use leash_core::api::{
    ChangeKind, ChangeRequest, ChangeResult, E2eResult, E2eRewrap, E2eStatus, E2eUpdate, E2eValues, SecretList,
    SecretValue, SecretWrite,
};
pub use leash_core::e2e::{DecryptFailure, Identities, Recipients};
use reqwest::Method;

use crate::failover::Retry;
use crate::projects::env_path;
use crate::{Client, Error};

const NO_BODY: Option<&()> = None;

/// Decrypts one end-to-end encrypted value, naming the path and its recipients on failure.
fn open(
    path: &str,
    ciphertext: &str,
    recipients: &[String],
    identities: Option<&Identities>,
) -> Result<zeroize::Zeroizing<String>, Error> {
    let Some(identities) = identities else {
        return Err(Error::E2eNoIdentity {
            path: path.to_owned(),
            recipients: recipients.to_vec(),
        });
    };
    identities.decrypt(ciphertext).map_err(|reason| Error::E2eDecrypt {
        path: path.to_owned(),
        identity: identities.name().to_owned(),
        recipients: recipients.to_vec(),
        reason,
    })
}

/// Replaces an end-to-end encrypted value by its plaintext (and clears its
/// `e2e_recipients`); ordinary values are left as they are.
pub fn decrypt_secret(secret: &mut SecretValue, identities: Option<&Identities>) -> Result<(), Error> {
    if let Some(recipients) = &secret.e2e_recipients {
        let plain = open(&secret.path, &secret.value, recipients, identities)?;
        secret.value = plain;
        secret.e2e_recipients = None;
    }
    Ok(())
}

/// Decrypts every end-to-end encrypted value of a listing, or none: on the
/// first failure the error is returned and the listing must not be used.
pub fn decrypt_list(list: &mut SecretList, identities: Option<&Identities>) -> Result<(), Error> {
    for secret in &mut list.secrets {
        if let (Some(recipients), Some(value)) = (&secret.e2e_recipients, &secret.value) {
            let plain = open(&secret.path, value, recipients, identities)?;
            secret.value = Some(plain);
            secret.e2e_recipients = None;
        }
    }
    Ok(())
}

/// Encrypts every `set` value of `request` to `recipients` and declares them.
fn seal_request(request: &ChangeRequest, recipients: &Recipients) -> Result<ChangeRequest, Error> {
    let mut sealed = request.clone();
    for op in &mut sealed.changes {
        if let ChangeKind::Set { value, .. } = &mut op.kind {
            let ciphertext = recipients.encrypt(value.as_bytes()).map_err(Error::E2e)?;
            zeroize::Zeroize::zeroize(value);
            *value = ciphertext;
        }
    }
    sealed.e2e_recipients = Some(recipients.to_strings());
    Ok(sealed)
}

impl Client {
    /// `GET .../e2e`: whether the environment is end-to-end encrypted, and to whom.
    pub async fn e2e_status(&self, project: &str, env: &str) -> Result<E2eStatus, Error> {
        let path = env_path(project, env)?.lit("e2e");
        self.call(Method::GET, &path, &[], NO_BODY).await
    }

    /// `GET .../e2e/values?all_versions=`: the retained values to re-encrypt (needs `admin`).
    pub async fn e2e_values(&self, project: &str, env: &str, all_versions: bool) -> Result<E2eValues, Error> {
        let path = env_path(project, env)?.lit("e2e").lit("values");
        let query = [("all_versions", all_versions.to_string())];
        self.call(Method::GET, &path, &query, NO_BODY).await
    }

    /// `PUT .../e2e`: the low-level recipient update; see [`Client::e2e_set_recipients`].
    pub async fn e2e_update(&self, project: &str, env: &str, update: &E2eUpdate) -> Result<E2eResult, Error> {
        let path = env_path(project, env)?.lit("e2e");
        self.call_as(Retry::Cas, Method::PUT, &path, &[], Some(update)).await
    }

    /// `DELETE .../e2e?cas=`: turns end-to-end encryption off; refused (409
    /// `e2e_versions_retained`) while versions still hold age ciphertext.
    pub async fn e2e_disable(&self, project: &str, env: &str, cas: Option<i64>) -> Result<E2eResult, Error> {
        let path = env_path(project, env)?.lit("e2e");
        let query: Vec<_> = cas.map(|c| ("cas", c.to_string())).into_iter().collect();
        self.call_as(Retry::cas(cas), Method::DELETE, &path, &query, NO_BODY)
            .await
    }

    /// Makes `recipients` the environment's recipient set (enabling end-to-end
    /// encryption if it was off): every current value (with `all_versions`,
    /// every retained version) is fetched, decrypted here with `identities`
    /// when it is already end-to-end encrypted, encrypted to `recipients`, and
    /// sent back as one atomic update, with the revision the values were read
    /// at as its CAS. Versions not re-encrypted are destroyed by the server.
    pub async fn e2e_set_recipients(
        &self,
        project: &str,
        env: &str,
        recipients: &Recipients,
        identities: Option<&Identities>,
        all_versions: bool,
        message: Option<String>,
    ) -> Result<E2eResult, Error> {
        let mut stored = self.e2e_values(project, env, all_versions).await?;
        let old = stored.recipients.clone().unwrap_or_default();
        let mut values = Vec::with_capacity(stored.values.len());
        for item in &mut stored.values {
            let ciphertext = if item.e2e {
                let plain = open(&item.path, &item.value, &old, identities)?;
                recipients.encrypt(plain.as_bytes())
            } else {
                recipients.encrypt(item.value.as_bytes())
            }
            .map_err(Error::E2e)?;
            // Before the first enable these are plaintexts: wipe them once used.
            zeroize::Zeroize::zeroize(&mut item.value);
            values.push(E2eRewrap {
                path: item.path.clone(),
                version: item.version,
                value: ciphertext,
            });
        }
        let update = E2eUpdate {
            recipients: recipients.to_strings(),
            cas: stored.revision,
            values,
            message,
        };
        self.e2e_update(project, env, &update).await
    }

    /// Like [`Client::apply_changes`], but when the environment is end-to-end
    /// encrypted every `set` value is encrypted to its recipients first, so
    /// the server never receives it in plaintext. Retries once when the
    /// recipients change in between.
    pub async fn apply_changes_e2e(
        &self,
        project: &str,
        env: &str,
        request: &ChangeRequest,
    ) -> Result<ChangeResult, Error> {
        let has_set = request.changes.iter().any(|c| matches!(c.kind, ChangeKind::Set { .. }));
        if !has_set {
            return self.apply_changes(project, env, request).await;
        }
        let mut retried = false;
        loop {
            let status = self.e2e_status(project, env).await?;
            if !status.enabled {
                return self.apply_changes(project, env, request).await;
            }
            let recipients = Recipients::parse(&status.recipients).map_err(Error::E2e)?;
            let sealed = seal_request(request, &recipients)?;
            match self.apply_changes(project, env, &sealed).await {
                Err(e) if e.code() == Some("e2e_recipients_changed") && !retried => retried = true,
                other => return other,
            }
        }
    }

    /// Like [`Client::put_secret`], encrypting the value first when the
    /// environment is end-to-end encrypted (see [`Client::apply_changes_e2e`]).
    pub async fn put_secret_e2e(
        &self,
        project: &str,
        env: &str,
        path: &str,
        write: &SecretWrite,
    ) -> Result<ChangeResult, Error> {
        let status = self.e2e_status(project, env).await?;
        if !status.enabled {
            return self.put_secret(project, env, path, write).await;
        }
        let recipients = Recipients::parse(&status.recipients).map_err(Error::E2e)?;
        let sealed = SecretWrite {
            value: recipients.encrypt(write.value.as_bytes()).map_err(Error::E2e)?,
            description: write.description.clone(),
            cas: write.cas,
            e2e_recipients: Some(recipients.to_strings()),
        };
        self.put_secret(project, env, path, &sealed).await
    }
}
