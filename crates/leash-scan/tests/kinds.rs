//! The kinds issue 20 names, in the layouts users reported: each is found
//! (by the named rule) or rightly ignored. Values come from templates
//! expanded at run time, so this file holds no secret-shaped literal.

use leash_scan::engine::Origin;
use leash_scan::rules::expand_template;
use leash_scan::{Scanner, ScannerBuilder};

fn scanner() -> Scanner {
    ScannerBuilder::new().build()
}

/// Scans `template` (expanded with a few seeds) as the file `path`; `expected`
/// is the rule that must report it, or `None` for no finding at all.
fn check(scanner: &Scanner, path: &str, template: &str, expected: Option<&str>) -> Vec<String> {
    let mut failures = Vec::new();
    for seed in 1..=4u64 {
        let text = expand_template(template, seed);
        let origin = Origin {
            path: path.to_owned(),
            commit: None,
        };
        let found = scanner.scan(&origin, text.as_bytes(), 1);
        let ids: Vec<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
        let ok = match expected {
            Some(rule) => ids.contains(&rule),
            None => ids.is_empty(),
        };
        if !ok {
            failures.push(format!("{path} (seed {seed}): want {expected:?}, got {ids:?}:\n{text}"));
        }
    }
    failures
}

#[test]
fn named_kinds_are_found() {
    let s = scanner();
    let cases: &[(&str, &str, &str)] = &[
        (
            ".pypirc",
            "[pypi]\nusername = __token__\npassword = {{pypi}}\n",
            "pypi-upload-token",
        ),
        (
            ".pypirc",
            "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc{{b64url:70}}\n",
            "pypi-upload-token",
        ),
        (
            "ops/aws.env",
            "AWS_SESSION_TOKEN=FwoGZXIvYXdzE{{b64:300}}\n",
            "aws-session-token",
        ),
        (
            "creds.json",
            "{\"Token\": \"IQoJb3JpZ2luX2Vj{{b64:400}}\"}\n",
            "aws-session-token-prefixed",
        ),
        (
            "ci/azure.sh",
            "export AZURE_DEVOPS_PAT={{b32lower:52}}\n",
            "azure-devops-pat",
        ),
        (
            "ci/azure.sh",
            "export AZURE_DEVOPS_EXT_PAT={{alnum:52}}JQQJ99{{alnum:18}}AZDO{{alnum:4}}\n",
            "microsoft-identifiable-key",
        ),
        (".env", "AZURE_OPENAI_API_KEY={{hex:32}}\n", "azure-openai-key"),
        (
            "bot/discord.env",
            "DISCORD_BOT_TOKEN=MT{{alnum:22}}.{{b64url:6}}.{{b64url:38}}\n",
            "discord-bot-token",
        ),
        (
            "bot.py",
            "client.run(\"{{discord}}\")\n",
            "discord-bot-token-structured",
        ),
        (".env", "ALGOLIA_ADMIN_API_KEY={{hex:32}}\n", "algolia-admin-key"),
        (
            "_config.yml",
            "algolia:\n  application_id: {{upper:10}}\n  admin_api_key: {{hex:32}}\n",
            "algolia-admin-key-nested",
        ),
        (
            "app/cache.yaml",
            "cache:\n  url: redis://:{{alnum:18}}@cache.internal:6379/0\n",
            "connection-string-password",
        ),
        (
            ".env",
            "DATABASE_URL=postgres://app:{{alnum:20}}@db.internal/app\n",
            "connection-string-password",
        ),
        (
            ".env",
            "AMQP_URL=amqp://orders:{{alnum:16}}@mq:5672/\n",
            "connection-string-password",
        ),
        (
            "app.js",
            "const uri = \"mongodb://svc:{{alnum:24}}@mongo.internal:27017/app\";\n",
            "connection-string-password",
        ),
        (
            "app/db.properties",
            "db.user=payments\ndb.password=Wint3r-Harb0ur-{{digits:4}}!\n",
            "generic-password",
        ),
        (
            "config.yaml",
            "db:\n  username: app\n  password: {{human}}\n",
            "generic-password",
        ),
        (
            "setup.ini",
            "[db]\nuser = app\npassword = {{human}}\n",
            "generic-password",
        ),
        (
            "Settings.toml",
            "[db]\nuser = \"app\"\npassword = \"{{human}}\"\n",
            "generic-password",
        ),
        (".env", "DB_USER=app\nDB_PASSWORD={{human}}\n", "generic-password"),
        (
            "dump.sh",
            "mysqldump -u app --password='{{human}}' app\n",
            "generic-password",
        ),
        (
            "settings.xml",
            "<server>\n  <username>deploy</username>\n  <password>{{human}}</password>\n</server>\n",
            "generic-password-xml",
        ),
        (
            "id_ed25519",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{{b64:40}}\n{{b64:70}}\n{{b64:70}}\n-----END OPENSSH PRIVATE KEY-----\n",
            "private-key",
        ),
        (
            "deploy.yaml",
            "ssh_key: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    b3BlbnNzaC1rZXktdjEAAAAA{{b64:40}}\n    {{b64:70}}\n    -----END OPENSSH PRIVATE KEY-----\n",
            "private-key",
        ),
        (
            "key.json",
            "{\"sshKey\": \"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA{{b64:60}}\\n{{b64:70}}\\n-----END OPENSSH PRIVATE KEY-----\\n\"}\n",
            "private-key",
        ),
    ];
    let failures: Vec<String> = cases.iter().flat_map(|(p, t, r)| check(&s, p, t, Some(r))).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn look_alikes_are_ignored() {
    let s = scanner();
    let cases: &[(&str, &str)] = &[
        ("web/stripe.js", "const stripe = Stripe('pk_live_{{alnum:99}}');\n"),
        (".env", "STRIPE_PUBLISHABLE_KEY=pk_live_{{alnum:99}}\n"),
        ("web/keys.ts", "export const stripeKey = 'pk_test_{{alnum:24}}';\n"),
        ("web/config.ts", "export const apiKey = process.env.API_KEY ?? '';\n"),
        ("web/config.ts", "const password = '${DB_PASSWORD}';\n"),
        ("web/config.ts", "const requestId = '{{uuid}}';\n"),
        (".env", "API_KEY_ID={{uuid}}\n"),
        (
            "chart/values.yaml",
            "db:\n  password: {{ .Values.db.password }}\n  user: app\n",
        ),
        (
            "docs/example.md",
            "Set `password = <your-password-here>` and `api_key = changeme` before you start.\n",
        ),
        ("settings.py", "SECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\n"),
        ("deploy.yml", "env:\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n"),
        (
            "Cargo.toml",
            "foo = { git = \"https://example.net/foo\", rev = \"{{hex:40}}\" }\n",
        ),
        ("image.yaml", "digest: sha256:{{hex:64}}\n"),
        (
            "index.html",
            "<script src=\"lib.js\" integrity=\"sha384-{{b64:64}}\"></script>\n",
        ),
        ("users.yaml", "password_hash: \"$2b$12${{alnum:53}}\"\n"),
        (
            ".env",
            "GOOGLE_CLIENT_ID={{digits:12}}-{{lower:32}}.apps.googleusercontent.com\n",
        ),
        (".env", "ALGOLIA_SEARCH_API_KEY={{hex:32}}\n"),
        (
            "map.js",
            "mapboxgl.accessToken = 'pk.eyJ1Ijoi{{alnum:40}}.{{b64url:22}}';\n",
        ),
        (
            "login.ts",
            "interface Login {\n  username: string;\n  password: string;\n}\n",
        ),
        ("app.py", "password = request.form['password']\n"),
        ("docker-compose.yml", "environment:\n  POSTGRES_PASSWORD: postgres\n"),
        ("values.yaml", "password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n"),
        ("README.md", "Though users must pass something:\n"),
    ];
    let failures: Vec<String> = cases.iter().flat_map(|(p, t)| check(&s, p, t, None)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn published_examples_are_ignored() {
    let s = scanner();
    // jwt.io's example token and Stripe's documentation test key, assembled at run time.
    let jwt = [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ",
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ]
    .concat();
    let stripe = ["sk_", "test_", "4eC39HqLyjWDarjtT1zdp7dc"].concat();
    for text in [
        format!("Authorization: Bearer {jwt}\n"),
        format!("STRIPE_SECRET_KEY={stripe}\n"),
    ] {
        let f = check(&s, "docs/api.md", &text, None);
        assert!(f.is_empty(), "{}", f.join("\n"));
    }
}
