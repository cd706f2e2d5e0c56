use super::*;
use crate::testing::PgCluster;

fn target() -> Target {
    Target {
        project: "payment".into(),
        env: "prod".into(),
        path: "DATABASE_URL".into(),
        attempt: 1,
    }
}

fn config(admin_url: &str, roles: &[&str], format: ValueFormat, generator: &str) -> PostgresConfig {
    PostgresConfig {
        admin_url: Zeroizing::new(admin_url.to_owned()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        format,
        generator: generator.parse().expect("a valid generator"),
    }
}

fn rotator(admin_url: &str, roles: &[&str], format: ValueFormat) -> PostgresRotator {
    PostgresRotator::new(config(admin_url, roles, format, "password:32")).expect("a valid configuration")
}

fn config_error_of(config: PostgresConfig) -> String {
    match PostgresRotator::new(config) {
        Err(Error::Config(message)) => message,
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(_) => panic!("expected a configuration error"),
    }
}

const ADMIN: &str = "postgres://admin:Adm1n-S3cret@db.example:6543/app?sslmode=require";

// ---- pure logic ----

#[test]
fn configuration_is_checked_field_by_field() {
    let cases: &[(&[&str], ValueFormat, &str, &str)] = &[
        (&[], ValueFormat::Url, "password:32", "roles:"),
        (&["a", "b", "c"], ValueFormat::Url, "password:32", "roles:"),
        (&["a", "a"], ValueFormat::Url, "password:32", "roles:"),
        (&[""], ValueFormat::Url, "password:32", "roles:"),
        (&["a", "b"], ValueFormat::Password, "password:32", "format:"),
        (&["a"], ValueFormat::Url, "ed25519", "generator:"),
    ];
    for (roles, format, generator, field) in cases {
        let message = config_error_of(config(ADMIN, roles, *format, generator));
        assert!(message.starts_with(field), "{roles:?}: {message}");
    }
}

#[test]
fn value_formats_round_trip() {
    for format in [ValueFormat::Url, ValueFormat::Password] {
        assert_eq!(format.as_str().parse::<ValueFormat>().unwrap(), format);
        let json = serde_json::to_string(&format).unwrap();
        assert_eq!(json, format!("\"{format}\""));
        assert_eq!(serde_json::from_str::<ValueFormat>(&json).unwrap(), format);
    }
    assert!(matches!("uri".parse::<ValueFormat>(), Err(Error::Config(m)) if m.starts_with("format:")));
}

#[test]
fn a_bad_admin_url_is_named_without_echoing_its_password() {
    for url in [
        "mysql://admin:Adm1n-S3cret@db/app",
        "postgres://admin:Adm1n-S3cret@db:99999999/app",
        "postgres:///app?user=admin&password=Adm1n-S3cret",
        "not a url Adm1n-S3cret",
    ] {
        let message = config_error_of(config(url, &["app"], ValueFormat::Url, "password:32"));
        assert!(message.starts_with("admin_url"), "{message}");
        assert!(!message.contains("Adm1n-S3cret"), "{message}");
    }
}

#[test]
fn debug_output_hides_the_admin_url() {
    let config = config(ADMIN, &["app"], ValueFormat::Url, "password:32");
    assert!(!format!("{config:?}").contains("Adm1n-S3cret"));
    let rotator = PostgresRotator::new(config).unwrap();
    assert!(!format!("{rotator:?}").contains("Adm1n-S3cret"));
}

#[test]
fn value_urls_keep_the_location_and_percent_encode_the_credentials() {
    let rotator = rotator(
        "postgresql://admin:Adm1n-S3cret@[::1]:6543/app%20db?sslmode=require&user=admin&password=x&application_name=svc",
        &["app"],
        ValueFormat::Url,
    );
    let password = "p%4:@/?#[]' \"\\&=+!*,;~-._é";
    let role = "odd role:@/";
    let value = rotator.value_url(role, password);
    assert!(
        value.starts_with("postgresql://odd%20role%3A%40%2F:"),
        "{}",
        value.as_str()
    );
    assert!(
        value.ends_with("@[::1]:6543/app%20db?sslmode=require&application_name=svc"),
        "{}",
        value.as_str()
    );
    let (user, decoded) = url_credentials(&value).expect("the value parses");
    assert_eq!(user, role);
    assert_eq!(decoded.as_str(), password);
    // sqlx reads it the same way.
    let options = PgConnectOptions::from_str(&value).expect("sqlx parses the value");
    assert_eq!(options.get_username(), role);
    assert_eq!(options.get_port(), 6543);
    assert_eq!(options.get_database(), Some("app db"));
}

#[tokio::test]
async fn create_picks_the_role_not_in_use() {
    let rotator = rotator(ADMIN, &["app_blue", "app_green"], ValueFormat::Url);
    let first = rotator.create(&target(), None).await.unwrap();
    assert_eq!(url_user(&first).as_deref(), Some("app_blue"));
    let second = rotator.create(&target(), Some(&first)).await.unwrap();
    assert_eq!(url_user(&second).as_deref(), Some("app_green"));
    let third = rotator.create(&target(), Some(&second)).await.unwrap();
    assert_eq!(url_user(&third).as_deref(), Some("app_blue"));
    // A current value that does not parse, or names another user: the first role.
    let other = rotator.create(&target(), Some("hunter2")).await.unwrap();
    assert_eq!(url_user(&other).as_deref(), Some("app_blue"));
    let admin = rotator.create(&target(), Some(ADMIN)).await.unwrap();
    assert_eq!(url_user(&admin).as_deref(), Some("app_blue"));
    assert!(first.ends_with("@db.example:6543/app?sslmode=require"));
}

#[tokio::test]
async fn create_in_password_format_returns_the_password_alone() {
    let rotator = rotator(ADMIN, &["app"], ValueFormat::Password);
    let value = rotator.create(&target(), None).await.unwrap();
    assert_eq!(value.len(), 32);
    assert!(!value.contains("://"));
}

#[tokio::test]
async fn set_refuses_a_value_for_a_role_that_is_not_configured() {
    let rotator = rotator(ADMIN, &["app_blue", "app_green"], ValueFormat::Url);
    let foreign = "postgres://admin:Pl4nted-Secret@db.example:6543/app";
    let err = rotator.set(&target(), None, foreign).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("not one of the configured roles"), "{message}");
    assert!(!message.contains("Pl4nted-Secret"), "{message}");
    let err = rotator.retire(&target(), foreign).await.unwrap_err();
    assert!(err.to_string().contains("nothing retired"), "{err}");
}

#[tokio::test]
async fn alternating_set_refuses_to_reuse_the_current_role() {
    let rotator = rotator(ADMIN, &["app_blue", "app_green"], ValueFormat::Url);
    let current = rotator.value_url("app_blue", "old-password");
    let pending = rotator.value_url("app_blue", "new-password");
    let err = rotator.set(&target(), Some(&current), &pending).await.unwrap_err();
    assert!(err.to_string().contains("must switch roles"), "{err}");
}

// ---- against a real PostgreSQL with password authentication ----

async fn roles(cluster: &PgCluster, names: &[&str]) {
    for name in names {
        cluster
            .exec(&format!("CREATE ROLE \"{name}\" LOGIN PASSWORD 'initial-{name}'"))
            .await;
    }
}

#[tokio::test]
async fn single_role_new_password_logs_in_and_the_old_one_fails() {
    let cluster = PgCluster::start().await;
    roles(&cluster, &["app"]).await;
    let old = cluster.url("app", "initial-app");
    assert!(PgCluster::can_login(&old).await);

    let rotator = rotator(&cluster.admin_url(), &["app"], ValueFormat::Url);
    let pending = rotator.create(&target(), Some(&old)).await.unwrap();
    rotator.set(&target(), Some(&old), &pending).await.unwrap();
    rotator.test(&target(), &pending).await.unwrap();
    rotator.promote(&target(), &pending).await.unwrap();

    assert!(PgCluster::can_login(&pending).await, "the new password logs in");
    assert!(!PgCluster::can_login(&old).await, "the old password fails");
    rotator.retire(&target(), &old).await.unwrap();
    assert!(PgCluster::can_login(&pending).await, "retire leaves the one role alone");
}

#[tokio::test]
async fn password_format_rotates_and_tests_through_the_admin_location() {
    let cluster = PgCluster::start().await;
    roles(&cluster, &["app"]).await;
    let rotator = rotator(&cluster.admin_url(), &["app"], ValueFormat::Password);
    let pending = rotator.create(&target(), Some("initial-app")).await.unwrap();
    rotator.set(&target(), Some("initial-app"), &pending).await.unwrap();
    rotator.test(&target(), &pending).await.unwrap();
    assert!(PgCluster::can_login(&cluster.url("app", &pending)).await);
    assert!(!PgCluster::can_login(&cluster.url("app", "initial-app")).await);
    // A wrong password fails the test step.
    let err = rotator.test(&target(), "Wr0ng-Planted").await.unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("test step failed"), "{message}");
    assert!(message.contains("password authentication failed"), "{message}");
    assert!(!message.contains("Wr0ng-Planted"), "{message}");
}

#[tokio::test]
async fn alternating_users_keep_the_previous_credential_until_retire() {
    let cluster = PgCluster::start().await;
    roles(&cluster, &["app_blue", "app_green"]).await;
    let rotator = rotator(&cluster.admin_url(), &["app_blue", "app_green"], ValueFormat::Url);
    let current = cluster.url("app_blue", "initial-app_blue");

    let pending = rotator.create(&target(), Some(&current)).await.unwrap();
    assert_eq!(url_user(&pending).as_deref(), Some("app_green"));
    rotator.set(&target(), Some(&current), &pending).await.unwrap();
    rotator.test(&target(), &pending).await.unwrap();
    rotator.promote(&target(), &pending).await.unwrap();

    assert!(PgCluster::can_login(&pending).await, "the new credential works");
    assert!(
        PgCluster::can_login(&current).await,
        "the previous one works during the grace period"
    );
    rotator.retire(&target(), &current).await.unwrap();
    assert!(
        !PgCluster::can_login(&current).await,
        "the previous one fails after retire"
    );
    assert!(PgCluster::can_login(&pending).await, "the new one still works");
    // Retire is safe to run again.
    rotator.retire(&target(), &current).await.unwrap();
    assert!(PgCluster::can_login(&pending).await);
}

#[tokio::test]
async fn alternating_users_never_leave_a_moment_without_a_valid_credential() {
    let cluster = PgCluster::start().await;
    roles(&cluster, &["app_blue", "app_green"]).await;
    let rotator = rotator(&cluster.admin_url(), &["app_blue", "app_green"], ValueFormat::Url);
    let mut current = cluster.url("app_blue", "initial-app_blue");
    let mut previous: Option<Zeroizing<String>> = None;
    let mut users = Vec::new();
    for attempt in 1..=5 {
        let target = Target { attempt, ..target() };
        assert!(
            PgCluster::can_login(&current).await,
            "rotation {attempt}: before create"
        );
        let pending = rotator.create(&target, Some(&current)).await.unwrap();
        assert!(PgCluster::can_login(&current).await, "rotation {attempt}: after create");
        rotator.set(&target, Some(&current), &pending).await.unwrap();
        assert!(PgCluster::can_login(&current).await, "rotation {attempt}: after set");
        rotator.test(&target, &pending).await.unwrap();
        assert!(PgCluster::can_login(&current).await, "rotation {attempt}: after test");
        rotator.promote(&target, &pending).await.unwrap();
        // The server now serves `pending` as current: both work.
        assert!(
            PgCluster::can_login(&pending).await,
            "rotation {attempt}: after promote (new)"
        );
        assert!(
            PgCluster::can_login(&current).await,
            "rotation {attempt}: after promote (grace)"
        );
        rotator.retire(&target, &current).await.unwrap();
        assert!(PgCluster::can_login(&pending).await, "rotation {attempt}: after retire");
        assert!(
            !PgCluster::can_login(&current).await,
            "rotation {attempt}: retired credential still works"
        );
        if let Some(previous) = &previous {
            assert!(!PgCluster::can_login(previous).await);
        }
        users.push(url_user(&pending).unwrap());
        previous = Some(Zeroizing::new(std::mem::take(&mut current)));
        current = pending.to_string();
    }
    assert_eq!(users, ["app_green", "app_blue", "app_green", "app_blue", "app_green"]);
}

#[tokio::test]
async fn a_missing_role_fails_set_clearly_and_changes_nothing() {
    let cluster = PgCluster::start().await;
    roles(&cluster, &["app"]).await;
    let rotator = rotator(&cluster.admin_url(), &["ghost"], ValueFormat::Url);
    let pending = rotator.create(&target(), None).await.unwrap();
    let (_, password) = url_credentials(&pending).unwrap();
    let err = rotator.set(&target(), None, &pending).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Step { step: Step::Set, .. }), "{message}");
    assert!(message.contains("\"ghost\""), "{message}");
    assert!(message.contains("the role does not exist"), "{message}");
    assert!(!message.contains(password.as_str()), "{message}");
    // Nothing changed: the role was not created, the other role still logs in.
    let mut conn = PgConnection::connect(&cluster.admin_url()).await.unwrap();
    let ghosts: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname = 'ghost'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(ghosts, 0);
    assert!(PgCluster::can_login(&cluster.url("app", "initial-app")).await);
}

#[tokio::test]
async fn passwords_with_symbols_and_odd_role_names_work() {
    let cluster = PgCluster::start().await;
    // A role name that needs identifier quoting (%I): upper case, space, quote.
    cluster
        .exec("CREATE ROLE \"App \"\"Svc\"\"\" LOGIN PASSWORD 'initial'")
        .await;
    let rotator = PostgresRotator::new(config(
        &cluster.admin_url(),
        &["App \"Svc\""],
        ValueFormat::Url,
        // Every symbol class character, many times over.
        "password:200:no-upper:no-lower:no-digits",
    ))
    .unwrap();
    for _ in 0..3 {
        let pending = rotator.create(&target(), None).await.unwrap();
        rotator.set(&target(), None, &pending).await.unwrap();
        rotator.test(&target(), &pending).await.unwrap();
        assert!(PgCluster::can_login(&pending).await);
    }
}

#[tokio::test]
async fn the_quoting_path_takes_quotes_and_backslashes_in_a_plaintext_password() {
    let cluster = PgCluster::start().await;
    roles(&cluster, &["app"]).await;
    let password = r#"it's "quoted" \ and '' doubled; DROP ROLE app; --"#;
    let options = PgConnectOptions::from_str(&cluster.admin_url()).unwrap();
    let conn = PgConnection::connect_with(&options).await.unwrap();
    alter_role(conn, "app", password).await.unwrap();
    assert!(PgCluster::can_login(&cluster.url("app", password)).await);
    assert!(!PgCluster::can_login(&cluster.url("app", "initial-app")).await);
}

#[tokio::test]
async fn errors_never_contain_the_password() {
    let cluster = PgCluster::start().await;
    roles(&cluster, &["app"]).await;
    let planted = "Pl4nted-S3cret-Value";

    // A refused statement (missing role) with the planted password.
    let missing = rotator(&cluster.admin_url(), &["nobody"], ValueFormat::Password);
    let err = missing.set(&target(), None, planted).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains(planted), "{err:?}");

    // A failed login with the planted password.
    let app = rotator(&cluster.admin_url(), &["app"], ValueFormat::Url);
    let value = app.value_url("app", planted);
    let err = app.test(&target(), &value).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains(planted), "{err:?}");

    // A wrong admin password.
    let wrong_admin = cluster.url("postgres", planted);
    let rotator = rotator(&wrong_admin, &["app"], ValueFormat::Url);
    let pending = rotator.create(&target(), None).await.unwrap();
    let err = rotator.set(&target(), None, &pending).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("as the admin role"), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains(planted), "{text}");
    let (_, new_password) = url_credentials(&pending).unwrap();
    assert!(!text.contains(new_password.as_str()), "{text}");
}

#[tokio::test]
async fn an_unreachable_server_is_reported() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let rotator = rotator(
        &format!("postgres://admin:Adm1n-S3cret@127.0.0.1:{port}/postgres"),
        &["app"],
        ValueFormat::Url,
    );
    let pending = rotator.create(&target(), None).await.unwrap();
    let err = rotator.set(&target(), None, &pending).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot reach the server"), "{text}");
    assert!(!text.contains("Adm1n-S3cret"), "{text}");
}
