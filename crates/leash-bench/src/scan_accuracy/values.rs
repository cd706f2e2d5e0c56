//! Random values in each provider's published format, and the small
//! encoders they need (base64, base62 CRC-32). Nothing here is a real
//! credential: every value is drawn from a seeded generator at run time.

/// xorshift64*: deterministic for a seed, plenty for test data.
pub struct Rng(u64);

pub const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const HEX: &[u8] = b"0123456789abcdef";
pub const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub const BASE32_LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
pub const DIGITS: &[u8] = b"0123456789";
pub const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const BECH32_UPPER: &[u8] = b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn s(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[self.below(alphabet.len())] as char).collect()
    }
    /// Like `s`, but never ends on `-`, `_`, `+` or `/` (a token's last character is a word character).
    pub fn word_end(&mut self, alphabet: &[u8], n: usize) -> String {
        let mut v = self.s(alphabet, n.saturating_sub(1));
        v.push_str(&self.s(ALNUM, 1));
        v
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    pub fn uuid(&mut self) -> String {
        let h = self.s(HEX, 32);
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }
}

pub fn base64(data: &[u8], alphabet: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn base62(mut n: u32, width: usize) -> String {
    let mut v = Vec::new();
    while n > 0 {
        v.push(ALNUM[(n % 62) as usize]);
        n /= 62;
    }
    while v.len() < width {
        v.push(b'0');
    }
    v.reverse();
    String::from_utf8(v).expect("base62 digits are ASCII")
}

/// GitHub's token format (and npm's): prefix, 30 random base62 characters,
/// their CRC-32 in 6 base62 characters (GitHub engineering blog, 2021).
pub fn github_style(rng: &mut Rng, prefix: &str) -> String {
    let body = rng.s(ALNUM, 30);
    format!("{prefix}{body}{}", base62(crc32(body.as_bytes()), 6))
}

/// A PyPI API token: `pypi-` + base64url of a macaroon v2 (binary format,
/// as libmacaroons and pymacaroons define it) with location `pypi.org`.
pub fn pypi(rng: &mut Rng) -> String {
    let mut m = vec![0x02, 0x01, 0x08];
    m.extend_from_slice(b"pypi.org");
    m.extend_from_slice(&[0x02, 0x20]);
    m.extend_from_slice(&rng.bytes(32));
    m.push(0x00);
    let caveat = format!(
        r#"{{"version": 1, "permissions": {{"projects": ["{}"]}}}}"#,
        rng.s(b"abcdefghijklmnop", 8)
    );
    m.extend_from_slice(&[0x02, caveat.len() as u8]);
    m.extend_from_slice(caveat.as_bytes());
    m.push(0x00);
    m.push(0x00);
    m.extend_from_slice(&[0x06, 0x20]);
    m.extend_from_slice(&rng.bytes(32));
    format!("pypi-{}", base64(&m, B64URL, false))
}

/// A JWT (HS256) with a plausible payload and a random signature.
pub fn jwt(rng: &mut Rng) -> String {
    let header = base64(br#"{"alg":"HS256","typ":"JWT"}"#, B64URL, false);
    let payload = format!(
        r#"{{"sub":"{}","role":"service","iat":17{}}}"#,
        rng.s(ALNUM, 10),
        rng.s(DIGITS, 8)
    );
    format!(
        "{header}.{}.{}",
        base64(payload.as_bytes(), B64URL, false),
        base64(&rng.bytes(32), B64URL, false)
    )
}

/// A Discord bot token: base64 of the bot's snowflake id, a timestamp part, an HMAC part.
pub fn discord(rng: &mut Rng) -> String {
    let id = format!("1{}", rng.s(DIGITS, 17));
    format!(
        "{}.{}.{}",
        base64(id.as_bytes(), B64, false),
        rng.word_end(B64URL, 6),
        rng.word_end(B64URL, 38)
    )
}

/// A PEM body of `n` random bytes, 64 characters per line.
pub fn pem_body(rng: &mut Rng, n: usize, first: &[u8]) -> Vec<String> {
    let mut data = first.to_vec();
    data.extend(rng.bytes(n));
    base64(&data, B64, true)
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).expect("base64 is ASCII"))
        .collect()
}

/// A private key in PEM armour, `label` being e.g. `RSA PRIVATE KEY`.
pub fn pem(rng: &mut Rng, label: &str) -> String {
    let (n, magic): (usize, &[u8]) = match label {
        "OPENSSH PRIVATE KEY" => (380, b"openssh-key-v1\0\0\0\0\x04none"),
        "EC PRIVATE KEY" => (110, b"\x30\x77\x02\x01\x01\x04\x20"),
        "RSA PRIVATE KEY" => (1180, b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00"),
        _ => (
            1200,
            b"\x30\x82\x04\xbe\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01",
        ),
    };
    let body = pem_body(rng, n, magic);
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----", body.join("\n"))
}

/// A password a person chose (several styles people actually use).
pub fn human_password(rng: &mut Rng) -> String {
    const WORDS: &[&str] = &[
        "Harbor", "Summer", "Dragon", "Monkey", "Bluebird", "Pepper", "Maple", "Tiger", "Rocket", "Violet", "Falcon",
        "Sunset", "Anchor", "Cobalt", "Juniper", "Marble",
    ];
    let w1 = *rng.pick(WORDS);
    let w2 = rng.pick(WORDS).to_ascii_lowercase();
    let sym = *rng.pick(&["!", "#", "$", "@", "%", "&", "*", "?"]);
    match rng.below(6) {
        0 => format!("{w1}{}{sym}", rng.s(DIGITS, 4)),
        1 => format!(
            "{}-{w2}-{}",
            w1.replacen('a', "4", 1).replacen('o', "0", 1),
            rng.s(DIGITS, 2)
        ),
        2 => format!("{w1}{sym}{w2}{}", rng.s(DIGITS, 2)),
        // `openssl rand -base64 12`
        3 => base64(&rng.bytes(12), B64, true),
        // A password manager's output.
        4 => rng.s(
            b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%&*+-=?@^_",
            20,
        ),
        _ => format!(
            "{}{sym}{}",
            w1.to_ascii_lowercase().replacen('e', "3", 2),
            rng.s(DIGITS, 3)
        ),
    }
}
