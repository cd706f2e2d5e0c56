//! End-to-end encrypted environments at the HTTP API: what the server
//! accepts, refuses, serves and records for values it cannot read.

mod common;

use age::secrecy::ExposeSecret;
use common::*;
use leash_core::e2e::{Identities, Recipients};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ENV: &str = "/api/v1/projects/p/envs/e";

struct Key {
    recipient: String,
    identity: Identities,
}

fn key() -> Key {
    let id = age::x25519::Identity::generate();
    let text = format!("{}\n", id.to_string().expose_secret());
    Key {
        recipient: id.to_public().to_string(),
        identity: Identities::parse(text.as_bytes(), "test identity").unwrap(),
    }
}

fn set_of(keys: &[&Key]) -> Recipients {
    Recipients::parse(keys.iter().map(|k| k.recipient.as_str())).unwrap()
}

/// Enables e2e on p/e for `keys` through the values/update protocol.
async fn enable(t: &TestServer, keys: &[&Key]) -> Value {
    let (status, values) = t.get(&format!("{ENV}/e2e/values")).await;
    assert_eq!(status, StatusCode::OK, "{values}");
    let set = set_of(keys);
    let rewrapped: Vec<Value> = values["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            json!({"path": v["path"], "version": v["version"],
                   "value": set.encrypt(v["value"].as_str().unwrap().as_bytes()).unwrap()})
        })
        .collect();
    let (status, body) = t
        .put(
            &format!("{ENV}/e2e"),
            json!({"recipients": set.to_strings(), "cas": values["revision"], "values": rewrapped}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn put_sealed(
    t: &TestServer,
    path: &str,
    set: &Recipients,
    declared: &[String],
    plain: &str,
) -> (StatusCode, Value) {
    t.put(
        &format!("{ENV}/secrets/{path}"),
        json!({"value": set.encrypt(plain.as_bytes()).unwrap(), "e2e_recipients": declared}),
    )
    .await
}

#[tokio::test]
async fn plaintext_writes_to_an_e2e_environment_are_refused_and_nothing_is_written() {
    let t = dev().await;
    t.project_env("p", "e").await;
    let alice = key();
    enable(&t, &[&alice]).await;
    let revision = t.get(&format!("{ENV}/e2e")).await.1["revision"].as_i64().unwrap();

    let (status, body) = t
        .put(&format!("{ENV}/secrets/OTHER"), json!({"value": "plain-text-attempt"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "e2e_required");
    assert!(!body.to_string().contains("plain-text-attempt"), "{body}");
    let (status, body) = t
        .post(
            &format!("{ENV}/changes"),
            json!({"changes": [{"path": "OTHER", "op": "set", "value": "plain-text-attempt"}]}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("e2e_required"))
    );
    // declaring the recipients does not make plaintext acceptable
    let (status, body) = t
        .put(
            &format!("{ENV}/secrets/OTHER"),
            json!({"value": "plain-text-attempt", "e2e_recipients": [alice.recipient]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_ciphertext");
    assert!(!body.to_string().contains("plain-text-attempt"), "{body}");

    assert_eq!(t.value("OTHER").await.0, StatusCode::NOT_FOUND);
    let status = t.get(&format!("{ENV}/e2e")).await.1;
    assert_eq!(status["revision"].as_i64().unwrap(), revision, "no revision was made");
}

#[tokio::test]
async fn ciphertexts_must_fit_the_current_recipient_set() {
    let t = dev().await;
    t.project_env("p", "e").await;
    let (alice, bob, carol) = (key(), key(), key());
    enable(&t, &[&alice, &bob]).await;
    let both = set_of(&[&alice, &bob]);
    let declared = both.to_strings();

    let (status, body) = put_sealed(&t, "K", &both, &declared, "v1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // encrypted to one recipient only: the stanza count does not match
    let (status, body) = put_sealed(&t, "K", &set_of(&[&alice]), &declared, "v2").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_ciphertext"))
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("1 recipient(s)"),
        "{body}"
    );
    // declared for another set (the writer's view is stale)
    let stale = set_of(&[&alice, &carol]);
    let (status, body) = put_sealed(&t, "K", &stale, &stale.to_strings(), "v2").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("e2e_recipients_changed"))
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&bob.recipient),
        "names the set: {body}"
    );
    // not armored at all / passphrase-free binary junk
    for junk in [
        "-----BEGIN AGE ENCRYPTED FILE-----\n!!\n-----END AGE ENCRYPTED FILE-----\n",
        "age-encryption.org/v1",
    ] {
        let (status, body) = t
            .put(
                &format!("{ENV}/secrets/K"),
                json!({"value": junk, "e2e_recipients": declared}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }

    // reads serve the ciphertext, marked with its recipients; it decrypts client-side
    let (status, body) = t.value("K").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], 1);
    assert_eq!(body["e2e_recipients"], json!(declared));
    let ciphertext = body["value"].as_str().unwrap();
    assert!(ciphertext.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert_eq!(alice.identity.decrypt(ciphertext).unwrap().as_str(), "v1");
    assert_eq!(bob.identity.decrypt(ciphertext).unwrap().as_str(), "v1");
    let (_, list) = t.get(&format!("{ENV}/secrets?include_values=true")).await;
    assert_eq!(list["secrets"][0]["e2e_recipients"], json!(declared));
    // the environment shows its recipients (for rotation and clients)
    let (_, envs) = t.get("/api/v1/projects/p/envs").await;
    assert_eq!(envs["envs"][0]["e2e_recipients"], json!(declared));

    // a rollback copies ciphertext; it still decrypts
    put_sealed(&t, "K", &both, &declared, "v2").await;
    let revision = t.get(&format!("{ENV}/e2e")).await.1["revision"].as_i64().unwrap();
    let (status, body) = t.post(&format!("{ENV}/rollback"), json!({"to": revision - 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = t.value("K").await;
    assert_eq!(body["version"], 3);
    assert_eq!(
        alice
            .identity
            .decrypt(body["value"].as_str().unwrap())
            .unwrap()
            .as_str(),
        "v1"
    );
}

#[tokio::test]
async fn a_recipient_change_is_one_atomic_cas_checked_change() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("A", "plain-a1").await;
    t.set("A", "plain-a2").await;
    t.set("B", "plain-b1").await;
    let (alice, bob) = (key(), key());
    let result = enable(&t, &[&alice]).await;
    // current values were re-encrypted; the older plaintext version was destroyed
    assert_eq!(
        (result["rewrapped"].as_i64(), result["destroyed"].as_i64()),
        (Some(2), Some(1))
    );
    let (status, body) = t.get(&format!("{ENV}/secrets/A?version=1")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::GONE, Some("destroyed"))
    );

    let (_, values) = t.get(&format!("{ENV}/e2e/values?all_versions=true")).await;
    let next = set_of(&[&bob]);
    let rewrap = |v: &Value| {
        let plain = alice.identity.decrypt(v["value"].as_str().unwrap()).unwrap();
        json!({"path": v["path"], "version": v["version"], "value": next.encrypt(plain.as_bytes()).unwrap()})
    };
    let all: Vec<Value> = values["values"].as_array().unwrap().iter().map(rewrap).collect();
    // leaving out a current version is refused, and changes nothing
    let (status, body) = t
        .put(
            &format!("{ENV}/e2e"),
            json!({"recipients": next.to_strings(), "cas": values["revision"], "values": &all[..1]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // a write in between moves the revision: the update is refused
    put_sealed(&t, "C", &set_of(&[&alice]), std::slice::from_ref(&alice.recipient), "c").await;
    let (status, body) = t
        .put(
            &format!("{ENV}/e2e"),
            json!({"recipients": next.to_strings(), "cas": values["revision"], "values": all}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("cas_mismatch"))
    );
    let (_, a) = t.value("A").await;
    assert_eq!(
        alice.identity.decrypt(a["value"].as_str().unwrap()).unwrap().as_str(),
        "plain-a2"
    );

    // done right: every value now opens for bob only
    let (_, values) = t.get(&format!("{ENV}/e2e/values")).await;
    let all: Vec<Value> = values["values"].as_array().unwrap().iter().map(rewrap).collect();
    let (status, body) = t
        .put(
            &format!("{ENV}/e2e"),
            json!({"recipients": next.to_strings(), "cas": values["revision"], "values": all}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for path in ["A", "B", "C"] {
        let (_, v) = t.value(path).await;
        let ciphertext = v["value"].as_str().unwrap();
        assert!(alice.identity.decrypt(ciphertext).is_err(), "{path}");
        assert!(bob.identity.decrypt(ciphertext).is_ok(), "{path}");
        assert_eq!(v["e2e_recipients"], json!([bob.recipient]));
    }

    // turning e2e off is refused while age ciphertext is retained
    let (status, body) = t.call(Method::DELETE, &format!("{ENV}/e2e"), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("e2e_versions_retained"))
    );
    for path in ["A", "B", "C"] {
        t.post(&format!("{ENV}/destroy/{path}"), json!({})).await;
    }
    let (status, body) = t.call(Method::DELETE, &format!("{ENV}/e2e"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(t.get(&format!("{ENV}/e2e")).await.1["enabled"], false);
    t.set("PLAIN", "ordinary again").await;
}

#[tokio::test]
async fn e2e_routes_need_the_right_capabilities() {
    let t = dev().await;
    t.project_env("p", "e").await;
    let alice = key();
    enable(&t, &[&alice]).await;
    let policy = |caps: &str| format!("[[allow]]\npath = \"p/e/**\"\ncapabilities = [{caps}]\n");
    for (name, caps) in [("writer", "\"write\""), ("reader", "\"read\", \"list\"")] {
        let (status, body) = t
            .put(&format!("/api/v1/policies/{name}"), json!({"policy": policy(caps)}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let token = |policy: &'static str| {
        let t = &t;
        async move {
            let (_, body) = t.post("/api/v1/auth/token/create", json!({"policies": [policy]})).await;
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let (writer, reader) = (token("writer").await, token("reader").await);
    // writers must learn whom to encrypt to; so may readers
    for who in [&writer, &reader] {
        let (status, body) = t.call_as(who, Method::GET, &format!("{ENV}/e2e"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["recipients"], json!([alice.recipient]));
    }
    // changing recipients or reading every value needs admin on the environment
    for who in [&writer, &reader] {
        let (status, _) = t.call_as(who, Method::GET, &format!("{ENV}/e2e/values"), None).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{status}"
        );
        let (status, _) = t
            .call_as(
                who,
                Method::PUT,
                &format!("{ENV}/e2e"),
                Some(json!({"recipients": [alice.recipient], "cas": 0})),
            )
            .await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{status}"
        );
        let (status, _) = t.call_as(who, Method::DELETE, &format!("{ENV}/e2e"), None).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{status}"
        );
    }
    // bad recipients are refused by name
    let (status, body) = t
        .put(&format!("{ENV}/e2e"), json!({"recipients": ["age1nope"], "cas": 1}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_recipient"))
    );
}

#[tokio::test]
async fn server_side_rotation_is_refused_for_an_e2e_environment_with_the_reason() {
    let t = dev().await;
    t.project_env("p", "e").await;
    t.set("KEY", "before-e2e").await;
    let a = key();
    enable(&t, &[&a]).await;
    let (status, body) = t
        .post(&format!("{ENV}/rotate/KEY"), json!({"generator": "password:32"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "e2e_environment");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("end-to-end encrypted"),
        "{body}"
    );
    let (status, body) = t.put(&format!("{ENV}/rotation/KEY"), json!({"every": "30d"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "e2e_environment");
    // Nothing changed: the value is still the one encrypted at enable time.
    let (_, value) = t.value("KEY").await;
    assert_eq!(value["version"], 1, "{value}");
    assert_eq!(t.get(&format!("{ENV}/rotation/KEY")).await.1["policy"], Value::Null);
}
