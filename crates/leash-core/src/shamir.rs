//! Splitting the unseal key with Shamir's secret sharing.
//!
//! The arithmetic is `vsss-rs`'s byte-wise GF(256) Shamir scheme; this module
//! only checks parameters and encodes shares for people to copy. A share is
//! printed as hex of `identifier | 32 share bytes | CRC-32 of those`, so a
//! mistyped share is refused at once. A share from another server, or too few
//! shares, still combines to a wrong key: the caller detects that when the
//! AEAD-encrypted root key fails to open.
//!
//! With a threshold of 1 (allowed only with one share), the share is the key itself.

use vsss_rs::Gf256;
use zeroize::Zeroizing;

use crate::Error;
use crate::crypto::Key256;

/// Most shares one init may produce.
pub const MAX_SHARES: u8 = 16;

/// Splits `key` into `shares` shares, any `threshold` of which rebuild it.
pub fn split(key: &Key256, shares: u8, threshold: u8) -> Result<Vec<Zeroizing<String>>, Error> {
    check_params(shares, threshold)?;
    let raw: Vec<Zeroizing<Vec<u8>>> = if threshold == 1 {
        let mut only = Zeroizing::new(vec![1u8]);
        only.extend_from_slice(key.expose_secret());
        vec![only]
    } else {
        Gf256::split_bytes(threshold as usize, shares as usize, key.expose_secret(), rand::rng())
            .map_err(|e| Error::ShamirParams(format!("{e:?}")))?
            .into_iter()
            .map(Zeroizing::new)
            .collect()
    };
    Ok(raw.iter().map(|share| encode(share)).collect())
}

/// Rebuilds the key from at least `threshold` shares (as printed by [`split`]).
pub fn combine(shares: &[Zeroizing<String>], threshold: u8) -> Result<Key256, Error> {
    let decoded: Vec<Zeroizing<Vec<u8>>> = shares.iter().map(|s| decode(s)).collect::<Result<_, _>>()?;
    if threshold == 1 {
        let first = decoded
            .first()
            .ok_or_else(|| Error::InvalidShare("no share given".into()))?;
        return Key256::from_slice(&first[1..]);
    }
    let plain: Vec<Vec<u8>> = decoded.iter().map(|s| s.to_vec()).collect();
    let combined =
        Gf256::combine_bytes(&plain).map_err(|e| Error::InvalidShare(format!("shares do not combine: {e:?}")));
    let mut plain = plain;
    plain.iter_mut().for_each(zeroize::Zeroize::zeroize);
    let key = Zeroizing::new(combined?);
    Key256::from_slice(&key)
}

/// Checks the share count and threshold an operator asked for.
pub fn check_params(shares: u8, threshold: u8) -> Result<(), Error> {
    if shares == 0 || shares > MAX_SHARES {
        return Err(Error::ShamirParams(format!(
            "shares must be between 1 and {MAX_SHARES}, got {shares}"
        )));
    }
    if threshold == 0 || threshold > shares {
        return Err(Error::ShamirParams(format!(
            "threshold must be between 1 and the number of shares ({shares}), got {threshold}"
        )));
    }
    if threshold == 1 && shares > 1 {
        return Err(Error::ShamirParams(
            "a threshold of 1 with several shares would make every share the whole key; use --shares 1 --threshold 1 or a threshold of at least 2".into(),
        ));
    }
    Ok(())
}

/// The identifier (1-based) a share carries, after checking its encoding.
pub fn share_identifier(share: &str) -> Result<u8, Error> {
    Ok(decode(share)?[0])
}

fn encode(share: &[u8]) -> Zeroizing<String> {
    let mut bytes = Zeroizing::new(share.to_vec());
    bytes.extend_from_slice(&crc32fast::hash(share).to_be_bytes());
    Zeroizing::new(hex::encode(&*bytes))
}

fn decode(share: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bytes = Zeroizing::new(
        hex::decode(share.trim())
            .map_err(|_| Error::InvalidShare("not a hex string as printed by `leash operator init`".into()))?,
    );
    if bytes.len() != 1 + 32 + 4 {
        return Err(Error::InvalidShare(format!(
            "expected {} hex characters, got {}",
            (1 + 32 + 4) * 2,
            share.trim().len()
        )));
    }
    let (body, crc) = bytes.split_at(33);
    if crc32fast::hash(body).to_be_bytes() != crc {
        return Err(Error::InvalidShare(
            "checksum mismatch: the share was mistyped or cut".into(),
        ));
    }
    Ok(Zeroizing::new(body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_subset_rebuilds_the_key() {
        let key = Key256::generate();
        let shares = split(&key, 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        for combo in [[0, 1, 2], [0, 2, 4], [4, 3, 1]] {
            let picked: Vec<_> = combo.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(combine(&picked, 3).unwrap().expose_secret(), key.expose_secret());
        }
        let two: Vec<_> = shares[..2].to_vec();
        let wrong = combine(&two, 3).map(|k| k.expose_secret() == key.expose_secret());
        assert_ne!(wrong, Ok(true), "two of three shares must not rebuild the key");
    }

    #[test]
    fn single_share_mode() {
        let key = Key256::generate();
        let shares = split(&key, 1, 1).unwrap();
        assert_eq!(combine(&shares, 1).unwrap().expose_secret(), key.expose_secret());
    }

    #[test]
    fn bad_params_and_shares_are_named() {
        assert!(
            split(&Key256::generate(), 3, 4)
                .unwrap_err()
                .to_string()
                .contains("threshold")
        );
        assert!(split(&Key256::generate(), 0, 0).is_err());
        assert!(split(&Key256::generate(), 3, 1).is_err());
        assert!(share_identifier("zz").unwrap_err().to_string().contains("hex"));
        let share = split(&Key256::generate(), 2, 2).unwrap().remove(0);
        let mut typo = share.to_string();
        let last = typo.pop().unwrap();
        typo.push(if last == '0' { '1' } else { '0' });
        assert!(share_identifier(&typo).unwrap_err().to_string().contains("checksum"));
        assert_eq!(share_identifier(&share).unwrap(), share_identifier(&share).unwrap());
    }
}
