//! The labelled kinds: secrets to plant (each in its provider's published
//! format) and hard negatives (things that look like secrets and are not).
//!
//! A layout is a small file (or a few lines inserted into a real file) with
//! `{S}` where the value goes; `{K}` is the kind's variable name
//! (`STRIPE_SECRET_KEY`), `{k}` its snake case, `{kc}` camel case, `{kd}`
//! dotted. The line holding `{S}` (and, for multi-line values, the lines
//! after it) is the labelled location.

use super::values::{self, Rng};

/// Where a layout puts its text.
#[derive(Clone, Copy)]
pub enum Place {
    /// A new file; the string is the file name's suffix (`.env`, `.yaml`, `Dockerfile`).
    File(&'static str),
    /// Lines inserted into an existing source file with this extension.
    Insert(&'static str),
}

pub struct Layout {
    pub place: Place,
    pub template: &'static str,
}

const fn file(suffix: &'static str, template: &'static str) -> Layout {
    Layout {
        place: Place::File(suffix),
        template,
    }
}

const fn insert(ext: &'static str, template: &'static str) -> Layout {
    Layout {
        place: Place::Insert(ext),
        template,
    }
}

/// The layouts a named credential appears in across real repositories.
pub const KEYED: &[Layout] = &[
    file(
        ".env",
        "# production settings\nAPP_ENV=production\nLOG_LEVEL=info\n{K}={S}\nPORT=8080\n",
    ),
    file(
        ".yaml",
        "service:\n  name: billing\n  region: eu-west-1\n  {k}: \"{S}\"\n  timeout: 30s\n",
    ),
    file(
        ".json",
        "{\n  \"name\": \"billing\",\n  \"{kc}\": \"{S}\",\n  \"retries\": 3\n}\n",
    ),
    file(
        ".sh",
        "#!/bin/sh\nset -eu\nexport {K}=\"{S}\"\nexec ./bin/server \"$@\"\n",
    ),
    file(".py", "import os\n\nDEBUG = False\n{K} = \"{S}\"\nTIMEOUT = 30\n"),
    file(
        ".js",
        "module.exports = {\n  region: 'us-east-1',\n  {kc}: '{S}',\n  retries: 3,\n};\n",
    ),
    insert("rs", "const {K}: &str = \"{S}\";"),
    file(".toml", "[service]\nname = \"billing\"\n{k} = \"{S}\"\nworkers = 4\n"),
    file(
        "Dockerfile",
        "FROM alpine:3.20\nWORKDIR /app\nENV {K}={S}\nCMD [\"./server\"]\n",
    ),
    file(
        ".yml",
        "name: deploy\non: [push]\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    env:\n      {K}: {S}\n    steps:\n      - run: ./deploy.sh\n",
    ),
    file(
        ".yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: billing\ntype: Opaque\nstringData:\n  {K}: \"{S}\"\n",
    ),
    file(
        "_config.go",
        "package config\n\nconst (\n\tregion = \"eu-west-1\"\n\t{kc} = \"{S}\"\n)\n",
    ),
    file(".properties", "app.name=billing\napp.port=8080\n{kd}={S}\n"),
    file(
        ".tf",
        "provider \"billing\" {\n  region = \"eu-west-1\"\n  {k} = \"{S}\"\n}\n",
    ),
];

/// One kind of planted secret.
pub struct Kind {
    pub id: &'static str,
    /// The variable name people give it.
    pub key: &'static str,
    pub value: fn(&mut Rng) -> String,
    /// Layouts that carry no telling name (a bare token in code or a URL); tried alongside [`KEYED`].
    pub bare: Vec<Layout>,
    /// When set, only `bare` layouts are used (the value needs its own syntax).
    pub bare_only: bool,
}

const fn keyed(id: &'static str, key: &'static str, value: fn(&mut Rng) -> String) -> Kind {
    Kind {
        id,
        key,
        value,
        bare: Vec::new(),
        bare_only: false,
    }
}

fn with_bare(id: &'static str, key: &'static str, value: fn(&mut Rng) -> String, bare: Vec<Layout>) -> Kind {
    Kind {
        id,
        key,
        value,
        bare,
        bare_only: false,
    }
}

fn only(id: &'static str, key: &'static str, value: fn(&mut Rng) -> String, bare: Vec<Layout>) -> Kind {
    Kind {
        id,
        key,
        value,
        bare,
        bare_only: true,
    }
}

fn bearer() -> Vec<Layout> {
    vec![
        file(
            ".sh",
            "#!/bin/sh\ncurl -fsS https://api.internal/v1/items \\\n  -H \"Authorization: Bearer {S}\"\n",
        ),
        file(
            ".md",
            "# Release notes\n\nRun the smoke test:\n\n    http GET https://api.internal/health 'Authorization:Bearer {S}'\n",
        ),
    ]
}

pub fn kinds() -> Vec<Kind> {
    use values::*;
    vec![
        with_bare(
            "aws-access-key-id",
            "AWS_ACCESS_KEY_ID",
            |r| format!("AKIA{}", r.s(BASE32, 16)),
            vec![file(
                "credentials",
                "[default]\nregion = us-east-1\naws_access_key_id = {S}\n",
            )],
        ),
        keyed("aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", |r| {
            r.word_end(B64, 40)
        }),
        with_bare(
            "aws-session-token",
            "AWS_SESSION_TOKEN",
            |r| match r.below(2) {
                0 => format!("IQoJb3JpZ2luX2Vj{}", r.word_end(B64, 600)),
                _ => format!("FwoGZXIvYXdzE{}", r.word_end(B64, 320)),
            },
            vec![file(
                ".json",
                "{\n  \"Credentials\": {\n    \"AccessKeyId\": \"ASIAEXAMPLEKEYID\",\n    \"SessionToken\": \"{S}\",\n    \"Expiration\": \"2026-12-03T13:00:00Z\"\n  }\n}\n",
            )],
        ),
        with_bare("github-pat", "GITHUB_TOKEN", |r| github_style(r, "ghp_"), bearer()),
        keyed("github-oauth", "GH_OAUTH_TOKEN", |r| github_style(r, "gho_")),
        keyed("github-fine-grained-pat", "GITHUB_PAT", |r| {
            format!("github_pat_{}_{}", r.s(ALNUM, 22), r.s(ALNUM, 59))
        }),
        keyed("gitlab-pat", "GITLAB_TOKEN", |r| {
            format!("glpat-{}", r.word_end(B64URL, 20))
        }),
        keyed("gitlab-runner-token", "RUNNER_TOKEN", |r| {
            format!("glrt-{}", r.word_end(B64URL, 20))
        }),
        keyed("npm-token", "NPM_TOKEN", |r| github_style(r, "npm_")),
        with_bare(
            "pypi-upload-token",
            "TWINE_PASSWORD",
            pypi,
            vec![file(
                ".pypirc",
                "[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = {S}\n",
            )],
        ),
        keyed("docker-hub-pat", "DOCKERHUB_TOKEN", |r| {
            format!("dckr_pat_{}", r.word_end(B64URL, 27))
        }),
        with_bare(
            "slack-bot-token",
            "SLACK_BOT_TOKEN",
            |r| format!("xoxb-{}-{}-{}", r.s(DIGITS, 12), r.s(DIGITS, 13), r.s(ALNUM, 24)),
            bearer(),
        ),
        only(
            "slack-webhook",
            "SLACK_WEBHOOK_URL",
            |r| {
                format!(
                    "https://hooks.slack.com/services/T{}/B{}/{}",
                    r.s(UPPER_DIGITS, 10),
                    r.s(UPPER_DIGITS, 10),
                    r.s(ALNUM, 24)
                )
            },
            vec![
                file(".env", "SLACK_WEBHOOK_URL={S}\n"),
                file(
                    ".py",
                    "import requests\n\nrequests.post(\"{S}\", json={\"text\": \"deployed\"})\n",
                ),
            ],
        ),
        keyed("stripe-secret-key", "STRIPE_SECRET_KEY", |r| {
            format!("sk_live_{}", r.s(ALNUM, 99))
        }),
        keyed("stripe-restricted-key", "STRIPE_API_KEY", |r| {
            format!("rk_live_{}", r.s(ALNUM, 24))
        }),
        keyed("stripe-webhook-secret", "STRIPE_WEBHOOK_SECRET", |r| {
            format!("whsec_{}", r.s(ALNUM, 32))
        }),
        keyed("openai-api-key", "OPENAI_API_KEY", |r| {
            format!("sk-proj-{}T3BlbkFJ{}", r.s(B64URL, 74), r.word_end(B64URL, 74))
        }),
        keyed("anthropic-api-key", "ANTHROPIC_API_KEY", |r| {
            format!("sk-ant-api03-{}AA", r.s(B64URL, 93))
        }),
        keyed("huggingface-token", "HF_TOKEN", |r| format!("hf_{}", r.s(ALPHA, 34))),
        with_bare(
            "google-api-key",
            "GOOGLE_API_KEY",
            |r| format!("AIza{}", r.word_end(B64URL, 35)),
            vec![file(
                ".html",
                "<script async src=\"https://maps.googleapis.com/maps/api/js?key={S}&callback=initMap\"></script>\n",
            )],
        ),
        only(
            "gcp-service-account",
            "GOOGLE_CREDENTIALS",
            |r| {
                let key = pem(r, "PRIVATE KEY").replace('\n', "\\n");
                format!(
                    "\"private_key_id\": \"{}\",\n  \"private_key\": \"{key}\\n\",",
                    r.s(HEX, 40)
                )
            },
            vec![file(
                "-sa.json",
                "{\n  \"type\": \"service_account\",\n  \"project_id\": \"billing-prod\",\n  {S}\n  \"client_email\": \"deploy@billing-prod.iam.gserviceaccount.com\"\n}\n",
            )],
        ),
        only(
            "private-key-rsa",
            "",
            |r| pem(r, "RSA PRIVATE KEY"),
            vec![file(".pem", "{S}\n"), file(".key", "{S}\n")],
        ),
        only(
            "private-key-openssh",
            "",
            |r| pem(r, "OPENSSH PRIVATE KEY"),
            vec![
                file("id_ed25519", "{S}\n"),
                file(
                    ".yaml",
                    "deploy:\n  host: bastion.internal\n  ssh_key: |\n    {S}\n  user: deploy\n",
                ),
            ],
        ),
        only(
            "private-key-openssh-escaped",
            "",
            |r| pem(r, "OPENSSH PRIVATE KEY").replace('\n', "\\n"),
            vec![
                file(
                    ".json",
                    "{\n  \"host\": \"bastion.internal\",\n  \"sshKey\": \"{S}\\n\"\n}\n",
                ),
                file(".env", "DEPLOY_SSH_KEY=\"{S}\\n\"\n"),
            ],
        ),
        only(
            "private-key-ec",
            "",
            |r| pem(r, "EC PRIVATE KEY"),
            vec![file(".pem", "{S}\n")],
        ),
        only(
            "private-key-pkcs8",
            "",
            |r| pem(r, "PRIVATE KEY"),
            vec![file(".pem", "{S}\n"), insert("rs", "const TLS_KEY: &str = \"{S}\";")],
        ),
        keyed("age-secret-key", "AGE_KEY", |r| {
            format!("AGE-SECRET-KEY-1{}", r.s(BECH32_UPPER, 58))
        }),
        keyed("sendgrid-api-key", "SENDGRID_API_KEY", |r| {
            format!("SG.{}.{}", r.word_end(B64URL, 22), r.word_end(B64URL, 43))
        }),
        keyed("twilio-api-key", "TWILIO_API_KEY", |r| format!("SK{}", r.s(HEX, 32))),
        keyed("twilio-auth-token", "TWILIO_AUTH_TOKEN", |r| r.s(HEX, 32)),
        keyed("mailgun-api-key", "MAILGUN_API_KEY", |r| {
            format!("key-{}", r.s(HEX, 32))
        }),
        keyed("mailchimp-api-key", "MAILCHIMP_API_KEY", |r| {
            format!("{}-us{}", r.s(HEX, 32), 1 + r.below(20))
        }),
        with_bare(
            "discord-bot-token",
            "DISCORD_BOT_TOKEN",
            discord,
            vec![
                file(
                    ".py",
                    "import discord\n\nclient = discord.Client(intents=discord.Intents.default())\nclient.run(\"{S}\")\n",
                ),
                file(
                    ".js",
                    "const { Client } = require('discord.js');\nconst client = new Client({ intents: [] });\nclient.login('{S}');\n",
                ),
            ],
        ),
        only(
            "discord-webhook",
            "",
            |r| {
                format!(
                    "https://discord.com/api/webhooks/1{}/{}",
                    r.s(DIGITS, 17),
                    r.word_end(B64URL, 68)
                )
            },
            vec![file(".env", "ALERTS_WEBHOOK={S}\n")],
        ),
        keyed("telegram-bot-token", "TELEGRAM_BOT_TOKEN", |r| {
            format!("{}{}:AA{}", 1 + r.below(8), r.s(DIGITS, 8), r.word_end(B64URL, 33))
        }),
        keyed("azure-devops-pat", "AZURE_DEVOPS_PAT", |r| r.s(BASE32_LOWER, 52)),
        keyed("azure-devops-pat-new", "AZURE_DEVOPS_EXT_PAT", |r| {
            format!("{}JQQJ99{}AZDO{}", r.s(ALNUM, 52), r.s(ALNUM, 18), r.s(ALNUM, 4))
        }),
        keyed("azure-openai-key", "AZURE_OPENAI_API_KEY", |r| r.s(HEX, 32)),
        only(
            "azure-storage-connection-string",
            "",
            |r| {
                format!(
                    "DefaultEndpointsProtocol=https;AccountName=billing{};AccountKey={}==;EndpointSuffix=core.windows.net",
                    r.s(DIGITS, 3),
                    r.s(B64, 86)
                )
            },
            vec![file(
                ".json",
                "{\n  \"ConnectionStrings\": {\n    \"Storage\": \"{S}\"\n  }\n}\n",
            )],
        ),
        with_bare(
            "algolia-admin-key",
            "ALGOLIA_ADMIN_KEY",
            |r| r.s(HEX, 32),
            vec![file(
                ".yml",
                "algolia:\n  application_id: {APPID}\n  admin_api_key: {S}\n  index: products\n",
            )],
        ),
        keyed("shopify-access-token", "SHOPIFY_ACCESS_TOKEN", |r| {
            format!("shpat_{}", r.s(HEX, 32))
        }),
        keyed("digitalocean-token", "DIGITALOCEAN_TOKEN", |r| {
            format!("dop_v1_{}", r.s(HEX, 64))
        }),
        keyed("heroku-api-key", "HEROKU_API_KEY", |r| {
            format!("HRKU-AA{}", r.word_end(B64URL, 58))
        }),
        keyed("vault-token", "VAULT_TOKEN", |r| {
            format!("hvs.{}", r.word_end(B64URL, 91))
        }),
        keyed("databricks-token", "DATABRICKS_TOKEN", |r| {
            format!("dapi{}", r.s(HEX, 32))
        }),
        keyed("datadog-api-key", "DD_API_KEY", |r| r.s(HEX, 32)),
        keyed("new-relic-user-key", "NEW_RELIC_API_KEY", |r| {
            format!("NRAK-{}", r.s(UPPER_DIGITS, 27))
        }),
        keyed("grafana-service-account", "GRAFANA_TOKEN", |r| {
            format!("glsa_{}_{}", r.s(ALNUM, 32), r.s(HEX, 8))
        }),
        keyed("linear-api-key", "LINEAR_API_KEY", |r| {
            format!("lin_api_{}", r.s(ALNUM, 40))
        }),
        keyed("postman-api-key", "POSTMAN_API_KEY", |r| {
            format!("PMAK-{}-{}", r.s(HEX, 24), r.s(HEX, 34))
        }),
        keyed("doppler-token", "DOPPLER_TOKEN", |r| {
            format!("dp.st.prd.{}", r.s(ALNUM, 43))
        }),
        keyed("terraform-cloud-token", "TFE_TOKEN", |r| {
            format!("{}.atlasv1.{}", r.s(ALNUM, 14), r.word_end(B64URL, 67))
        }),
        keyed("planetscale-token", "PLANETSCALE_TOKEN", |r| {
            format!("pscale_tkn_{}", r.s(ALNUM, 43))
        }),
        keyed("supabase-token", "SUPABASE_ACCESS_TOKEN", |r| {
            format!("sbp_{}", r.s(HEX, 40))
        }),
        with_bare("jwt-bearer", "API_JWT", jwt, bearer()),
        keyed("generic-api-key", "ACME_API_KEY", |r| r.s(ALNUM, 32)),
        keyed("generic-client-secret", "OAUTH_CLIENT_SECRET", |r| {
            r.word_end(B64URL, 40)
        }),
        // Passwords in configuration and connection strings.
        only(
            "password-yaml",
            "",
            human_password,
            vec![
                file(
                    ".yaml",
                    "spring:\n  datasource:\n    url: jdbc:postgresql://db.internal:5432/billing\n    username: billing\n    password: {S}\n",
                ),
                file(
                    "-compose.yml",
                    "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: billing\n      POSTGRES_PASSWORD: \"{S}\"\n",
                ),
            ],
        ),
        only(
            "password-ini",
            "",
            human_password,
            vec![
                file(
                    ".ini",
                    "[database]\nhost = db.internal\nuser = billing\npassword = {S}\n",
                ),
                file(".cfg", "[smtp]\nserver = mail.internal\nlogin = alerts\npass = {S}\n"),
            ],
        ),
        only(
            "password-properties",
            "",
            human_password,
            vec![file(
                ".properties",
                "db.url=jdbc:mysql://db.internal/billing\ndb.user=billing\ndb.password={S}\n",
            )],
        ),
        only(
            "password-toml",
            "",
            human_password,
            vec![file(
                ".toml",
                "[database]\nhost = \"db.internal\"\nuser = \"billing\"\npassword = \"{S}\"\n",
            )],
        ),
        only(
            "password-env",
            "",
            human_password,
            vec![file(".env", "DB_HOST=db.internal\nDB_USER=billing\nDB_PASSWORD={S}\n")],
        ),
        only(
            "password-json",
            "",
            human_password,
            vec![file(
                ".json",
                "{\n  \"host\": \"db.internal\",\n  \"user\": \"billing\",\n  \"password\": \"{S}\"\n}\n",
            )],
        ),
        only(
            "password-cli",
            "",
            human_password,
            vec![
                file(
                    ".sh",
                    "#!/bin/sh\nmysqldump -h db.internal -u billing --password='{S}' billing > dump.sql\n",
                ),
                file(
                    ".sh",
                    "#!/bin/sh\nPGPASSWORD='{S}' psql -h db.internal -U billing -c 'select 1'\n",
                ),
            ],
        ),
        only(
            "password-code",
            "",
            human_password,
            vec![
                file(
                    ".py",
                    "import psycopg2\n\nconn = psycopg2.connect(host=\"db.internal\", user=\"billing\", password=\"{S}\")\n",
                ),
                insert("rs", "let password = \"{S}\";"),
            ],
        ),
        only(
            "password-netrc",
            "",
            human_password,
            vec![file(".netrc", "machine git.internal\n  login deploy\n  password {S}\n")],
        ),
        only(
            "password-xml",
            "",
            human_password,
            vec![file(
                ".xml",
                "<settings>\n  <servers>\n    <server>\n      <id>internal</id>\n      <username>deploy</username>\n      <password>{S}</password>\n    </server>\n  </servers>\n</settings>\n",
            )],
        ),
        only(
            "connection-string-postgres",
            "",
            |r| format!("postgres://billing:{}@db.internal:5432/billing", r.s(ALNUM, 20)),
            vec![
                file(".env", "DATABASE_URL={S}\n"),
                insert("rs", "const DATABASE_URL: &str = \"{S}\";"),
            ],
        ),
        only(
            "connection-string-mysql",
            "",
            |r| {
                format!(
                    "mysql://app:{}@mysql.internal:3306/app",
                    human_password(r).replace(['@', '/', '#', '?', '%'], "x")
                )
            },
            vec![file(".yaml", "database:\n  url: {S}\n")],
        ),
        only(
            "connection-string-mongodb",
            "",
            |r| {
                format!(
                    "mongodb+srv://svc:{}@cluster0.{}.mongodb.net/app",
                    r.s(ALNUM, 24),
                    r.s(b"abcdefghijklmnopqrstuvwxyz0123456789", 5)
                )
            },
            vec![file(".js", "const uri = \"{S}\";\n")],
        ),
        only(
            "connection-string-redis",
            "",
            |r| format!("redis://:{}@cache.internal:6379/0", r.s(ALNUM, 18)),
            vec![file(".yaml", "cache:\n  url: {S}\n")],
        ),
        only(
            "connection-string-amqp",
            "",
            |r| format!("amqps://orders:{}@mq.internal:5671/prod", r.s(ALNUM, 16)),
            vec![file(".env", "BROKER_URL={S}\n")],
        ),
        only(
            "connection-string-jdbc",
            "",
            |r| {
                format!(
                    "jdbc:sqlserver://db.internal:1433;databaseName=billing;user=billing;password={}",
                    r.s(ALNUM, 16)
                )
            },
            vec![file(".properties", "spring.datasource.url={S}\n")],
        ),
        only(
            "connection-string-ado",
            "",
            |r| {
                format!(
                    "Server=tcp:db.internal,1433;Database=billing;User ID=billing;Password={};Encrypt=true",
                    human_password(r).replace([';', '"', '\''], "x")
                )
            },
            vec![file(
                ".json",
                "{\n  \"ConnectionStrings\": {\n    \"Default\": \"{S}\"\n  }\n}\n",
            )],
        ),
    ]
}

/// One kind of hard negative: text that looks like a secret and is not one.
pub struct Negative {
    pub id: &'static str,
    pub layouts: Vec<Layout>,
    pub value: fn(&mut Rng) -> String,
}

fn neg(id: &'static str, value: fn(&mut Rng) -> String, layouts: Vec<Layout>) -> Negative {
    Negative { id, layouts, value }
}

/// Credentials providers publish in their documentation; assembled here at
/// run time so that this source file holds none of them.
fn published_examples() -> Vec<String> {
    vec![
        [
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ",
            ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        ]
        .concat(),
        ["sk_", "test_", "4eC39HqLyjWDarjtT1zdp7dc"].concat(),
        ["AKIA", "IOSFODNN7", "EXAMPLE"].concat(),
        ["wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY"].concat(),
    ]
}

pub fn negatives() -> Vec<Negative> {
    use values::*;
    vec![
        neg(
            "stripe-publishable-key",
            |r| format!("pk_live_{}", r.s(ALNUM, 99)),
            vec![
                file(".js", "const stripe = Stripe('{S}');\n"),
                file(".env", "STRIPE_PUBLISHABLE_KEY={S}\n"),
                file(".env", "NEXT_PUBLIC_STRIPE_KEY={S}\n"),
            ],
        ),
        neg(
            "stripe-publishable-test-key",
            |r| format!("pk_test_{}", r.s(ALNUM, 24)),
            vec![file(".ts", "export const stripePublishableKey = '{S}';\n")],
        ),
        neg(
            "env-reference",
            |_| String::new(),
            vec![
                file(".ts", "export const apiKey = process.env.API_KEY ?? '';{S}\n"),
                file(".py", "import os\n\nAPI_KEY = os.environ[\"API_KEY\"]{S}\n"),
                file(".py", "SECRET_KEY = os.getenv(\"DJANGO_SECRET_KEY\"){S}\n"),
                file(".go", "package main\n\nvar apiToken = os.Getenv(\"API_TOKEN\"){S}\n"),
            ],
        ),
        neg(
            "shell-reference",
            |_| String::new(),
            vec![
                file(".ts", "const password = '${DB_PASSWORD}';{S}\n"),
                file(".env", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app{S}\n"),
                file(".yml", "env:\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}{S}\n"),
            ],
        ),
        neg(
            "template-reference",
            |_| String::new(),
            vec![
                file(".yaml", "db:\n  password: {{ .Values.db.password }}{S}\n  user: app\n"),
                file(".yml", "mysql_password: \"{{ vault_mysql_password }}\"{S}\n"),
                file(
                    ".yaml",
                    "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db\n        key: password{S}\n",
                ),
            ],
        ),
        neg(
            "placeholder",
            |_| String::new(),
            vec![
                file(
                    ".md",
                    "Set `password = <your-password-here>` and `api_key = changeme` before you start.{S}\n",
                ),
                file(
                    ".env",
                    "API_KEY=your_api_key_here{S}\nSTRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\n",
                ),
                file(".yaml", "password: \"********\"{S}\ntoken: REPLACE_ME\n"),
                file(".ini", "[db]\npassword = changeit{S}\n"),
            ],
        ),
        neg(
            "uuid",
            |r| r.uuid(),
            vec![
                file(".ts", "const requestId = '{S}';\n"),
                file(".json", "{\n  \"idempotency_key\": \"{S}\"\n}\n"),
                file(".yaml", "tenant_id: {S}\nclient_id: {S}\n"),
            ],
        ),
        neg(
            "hash",
            |r| r.s(HEX, 64),
            vec![
                file(".toml", "[[package]]\nname = \"serde\"\nchecksum = \"{S}\"\n"),
                file(".yaml", "image:\n  digest: sha256:{S}\n"),
                file(".json", "{\n  \"sha256\": \"{S}\"\n}\n"),
            ],
        ),
        neg(
            "git-commit",
            |r| r.s(HEX, 40),
            vec![
                file(
                    ".toml",
                    "[dependencies]\nfoo = { git = \"https://github.com/acme/foo\", rev = \"{S}\" }\n",
                ),
                file(".yml", "steps:\n  - uses: actions/checkout@{S}\n"),
            ],
        ),
        neg(
            "subresource-integrity",
            |r| format!("sha384-{}", r.s(B64, 64)),
            vec![file(
                ".html",
                "<script src=\"https://cdn.example.net/lib.js\" integrity=\"{S}\" crossorigin=\"anonymous\"></script>\n",
            )],
        ),
        neg(
            "password-hash",
            |r| {
                format!(
                    "$2b$12${}",
                    r.s(b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 53)
                )
            },
            vec![
                file(".yaml", "users:\n  - name: admin\n    password_hash: \"{S}\"\n"),
                file(
                    ".sql",
                    "INSERT INTO users (name, password_digest) VALUES ('admin', '{S}');\n",
                ),
            ],
        ),
        neg(
            "published-example",
            |r| published_examples()[r.below(4)].clone(),
            vec![
                file(
                    ".md",
                    "Example from the provider's documentation:\n\n    token = \"{S}\"\n",
                ),
                file(".py", "# docs example\nAPI_KEY = \"{S}\"\n"),
            ],
        ),
        neg(
            "public-identifier",
            |r| {
                format!(
                    "{}-{}.apps.googleusercontent.com",
                    r.s(DIGITS, 12),
                    r.s(b"abcdefghijklmnopqrstuvwxyz0123456789", 32)
                )
            },
            vec![file(".env", "GOOGLE_CLIENT_ID={S}\n")],
        ),
        neg(
            "mapbox-public-token",
            |r| format!("pk.eyJ1Ijoi{}.{}", r.s(ALNUM, 40), r.s(B64URL, 22)),
            vec![file(".js", "mapboxgl.accessToken = '{S}';\n")],
        ),
        neg(
            "algolia-search-key",
            |r| r.s(HEX, 32),
            vec![file(".env", "ALGOLIA_APP_ID=ABCDEF1234\nALGOLIA_SEARCH_API_KEY={S}\n")],
        ),
        neg(
            "code-expression",
            |_| String::new(),
            vec![
                file(
                    ".py",
                    "password = request.form['password']{S}\ntoken = generate_token(user)\n",
                ),
                insert("rs", "let token = auth::issue_token(&claims)?;{S}"),
                file(
                    ".ts",
                    "interface Login {\n  username: string;\n  password: string;{S}\n}\n",
                ),
                file(".java", "String password = System.getenv(\"DB_PASSWORD\");{S}\n"),
            ],
        ),
        neg(
            "local-default",
            |_| String::new(),
            vec![
                file(
                    "-compose.yml",
                    "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: postgres{S}\n",
                ),
                file(
                    ".env",
                    "DATABASE_URL=postgres://postgres:postgres@localhost:5432/dev{S}\n",
                ),
            ],
        ),
        neg(
            "base64-data",
            |r| base64(&r.bytes(90), B64, true),
            vec![file(".css", ".logo { background: url(data:image/png;base64,{S}); }\n")],
        ),
    ]
}
