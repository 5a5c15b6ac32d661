//! Secrets at rest: AES-256-GCM (ring) under a keyring of named 256-bit
//! keys. New values are sealed under the current key; a sealed value names
//! the key it was sealed under, so old values still open while keys rotate
//! (and `credentials::rekey` moves them to the current one). Each value is
//! bound to where it belongs by the associated data (`bound_to`: tenant,
//! shop, kind): a ciphertext copied into another shop's row does not open.
//! Every seal draws a fresh random 96-bit nonce.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// A key is 32 bytes (AES-256), written as standard base64.
pub const KEY_BYTES: usize = 32;
/// The longest key id: a short name such as `2026-12` or `k1`.
pub const MAX_KEY_ID: usize = 32;

/// A secret in memory: a token or a webhook secret. It never prints (its
/// `Debug` shows only that it is one), so it cannot reach a log by mistake;
/// it compares in constant time (a webhook secret or a signature must not
/// leak through timing) and is wiped from memory when dropped.
#[derive(Clone)]
pub struct Secret(zeroize::Zeroizing<String>);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(value.into()))
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A new random secret: 32 bytes from the system's source, as hex (a
/// webhook secret, a one-use state).
pub fn random_secret() -> Result<Secret, VaultError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| VaultError::Random)?;
    Ok(Secret::new(hex::encode(bytes)))
}

/// A sealed secret as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The key it was sealed under.
    pub key_id: String,
    pub nonce: Vec<u8>,
    /// The encrypted secret and its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("the vault has no keys: set POD__VAULT__KEYS to `id:base64-key` (32 bytes), current first")]
    NoKeys,
    #[error("vault key entry {entry}: {why}")]
    BadEntry { entry: usize, why: String },
    #[error("vault key {0:?} is listed twice")]
    DuplicateKey(String),
    #[error("sealed under key {0:?}, which the keyring does not hold (was it removed before `rekey`?)")]
    UnknownKey(String),
    #[error("the sealed value does not open: altered, or bound to another place")]
    Unopenable,
    #[error("the system's random source failed")]
    Random,
}

/// The keys secrets are sealed and opened with: the current one first.
/// A key's id names it for good: never give new key material an id that
/// was used before (values sealed under the old material would no longer
/// open, and nothing could tell them from values under the new).
pub struct Keyring {
    keys: Vec<(String, LessSafeKey)>,
    random: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("keys", &ids).finish()
    }
}

impl Keyring {
    /// From `id:base64-key` entries separated by commas, the current key
    /// first (`2026-12:…,2026-06:…`): the form `POD__VAULT__KEYS` takes.
    pub fn parse(spec: &str) -> Result<Self, VaultError> {
        let mut keys: Vec<(String, LessSafeKey)> = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let entry_no = i + 1;
            let bad = |why: &str| VaultError::BadEntry { entry: entry_no, why: why.to_owned() };
            let (id, key) = entry.split_once(':').ok_or_else(|| bad("write it as `id:base64-key`"))?;
            let id = id.trim();
            if id.is_empty()
                || id.len() > MAX_KEY_ID
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(bad(&format!("the id must be 1–{MAX_KEY_ID} of A–Z, a–z, 0–9, `-`, `_`, `.`")));
            }
            let bytes = STANDARD.decode(key.trim()).map_err(|_| bad("the key is not base64"))?;
            if bytes.len() != KEY_BYTES {
                return Err(bad(&format!("the key is {} bytes; AES-256 takes {KEY_BYTES}", bytes.len())));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(VaultError::DuplicateKey(id.to_owned()));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| bad("not an AES-256 key"))?;
            keys.push((id.to_owned(), LessSafeKey::new(unbound)));
        }
        if keys.is_empty() {
            return Err(VaultError::NoKeys);
        }
        Ok(Self { keys, random: SystemRandom::new() })
    }

    /// A new random key as an entry for [`Keyring::parse`].
    pub fn new_entry(id: &str) -> Result<String, VaultError> {
        let mut key = [0u8; KEY_BYTES];
        SystemRandom::new().fill(&mut key).map_err(|_| VaultError::Random)?;
        Ok(format!("{id}:{}", STANDARD.encode(key)))
    }

    /// The ids of the keys other than the current one.
    pub fn older(&self) -> Vec<String> {
        self.keys.iter().skip(1).map(|(id, _)| id.clone()).collect()
    }

    /// Whether the keyring holds the key `id`.
    pub fn holds(&self, id: &str) -> bool {
        self.keys.iter().any(|(known, _)| known == id)
    }

    /// The id new secrets are sealed under.
    pub fn current(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `secret` under the current key, bound to `bound_to`.
    pub fn seal(&self, secret: &Secret, bound_to: &str) -> Result<Sealed, VaultError> {
        let (key_id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let mut ciphertext = secret.expose().as_bytes().to_vec();
        // `ciphertext` holds the plain text until it is sealed in place.
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(bound_to.as_bytes()),
            &mut ciphertext,
        )
        .map_err(|_| VaultError::Unopenable)?;
        Ok(Sealed { key_id: key_id.clone(), nonce: nonce.to_vec(), ciphertext })
    }

    /// Opens a sealed secret that was bound to `bound_to`.
    pub fn open(&self, sealed: &Sealed, bound_to: &str) -> Result<Secret, VaultError> {
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| *id == sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey(sealed.key_id.clone()))?;
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| VaultError::Unopenable)?;
        let mut in_out = sealed.ciphertext.clone();
        let plain = key
            .open_in_place(nonce, Aad::from(bound_to.as_bytes()), &mut in_out)
            .map_err(|_| VaultError::Unopenable)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Unopenable);
        zeroize::Zeroize::zeroize(&mut in_out);
        text.map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[&str]) -> (Keyring, Vec<String>) {
        let entries: Vec<String> = ids.iter().map(|id| Keyring::new_entry(id).unwrap()).collect();
        (Keyring::parse(&entries.join(",")).unwrap(), entries)
    }

    #[test]
    fn a_sealed_secret_opens_where_it_is_bound_and_nowhere_else() {
        let (keys, _) = ring(&["k1"]);
        let token = Secret::new("etsy-access-token-123");
        let sealed = keys.seal(&token, "acme/shop-1/access_token").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"etsy-"), "the store never holds the text");
        assert_eq!(keys.open(&sealed, "acme/shop-1/access_token").unwrap(), token);
        assert_eq!(keys.open(&sealed, "beta/shop-1/access_token"), Err(VaultError::Unopenable));
        assert_eq!(keys.open(&sealed, "acme/shop-1/refresh_token"), Err(VaultError::Unopenable));
    }

    #[test]
    fn an_altered_value_does_not_open() {
        let (keys, _) = ring(&["k1"]);
        let sealed = keys.seal(&Secret::new("t"), "here").unwrap();
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(keys.open(&flipped, "here"), Err(VaultError::Unopenable));
        let mut short_nonce = sealed.clone();
        short_nonce.nonce.pop();
        assert_eq!(keys.open(&short_nonce, "here"), Err(VaultError::Unopenable));
        let mut other_key = sealed;
        other_key.key_id = "k9".into();
        assert_eq!(keys.open(&other_key, "here"), Err(VaultError::UnknownKey("k9".into())));
    }

    #[test]
    fn each_seal_draws_a_new_nonce() {
        let (keys, _) = ring(&["k1"]);
        let a = keys.seal(&Secret::new("same"), "here").unwrap();
        let b = keys.seal(&Secret::new("same"), "here").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn after_a_rotation_new_secrets_take_the_new_key_and_old_ones_still_open() {
        let (old, entries) = ring(&["2026-06"]);
        let sealed = old.seal(&Secret::new("old token"), "here").unwrap();
        let newer = Keyring::new_entry("2026-12").unwrap();
        let rotated = Keyring::parse(&format!("{newer},{}", entries[0])).unwrap();
        assert_eq!(rotated.current(), "2026-12");
        assert_eq!(rotated.open(&sealed, "here").unwrap().expose(), "old token");
        assert_eq!(rotated.seal(&Secret::new("x"), "here").unwrap().key_id, "2026-12");
    }

    #[test]
    fn a_keyring_that_is_not_right_is_refused_naming_the_entry() {
        let good = Keyring::new_entry("k1").unwrap();
        let short = format!("k2:{}", STANDARD.encode([7u8; 16]));
        let cases: [(String, VaultError); 6] = [
            ("".into(), VaultError::NoKeys),
            (" , ".into(), VaultError::NoKeys),
            ("k1".into(), VaultError::BadEntry { entry: 1, why: "write it as `id:base64-key`".into() }),
            (
                format!("{good},{short}"),
                VaultError::BadEntry { entry: 2, why: "the key is 16 bytes; AES-256 takes 32".into() },
            ),
            (format!("{good},k2:not base64!"), VaultError::BadEntry { entry: 2, why: "the key is not base64".into() }),
            (format!("{good},{good}"), VaultError::DuplicateKey("k1".into())),
        ];
        for (spec, error) in cases {
            assert_eq!(Keyring::parse(&spec).map(|_| ()), Err(error), "{spec:?}");
        }
        let bad_id = format!("k\u{0}1:{}", STANDARD.encode([7u8; 32]));
        assert!(matches!(Keyring::parse(&bad_id), Err(VaultError::BadEntry { entry: 1, .. })));
    }

    #[test]
    fn secrets_compare_by_their_whole_text() {
        assert_eq!(Secret::new("whsec_abc"), Secret::new("whsec_abc"));
        assert_ne!(Secret::new("whsec_abc"), Secret::new("whsec_abd"));
        assert_ne!(Secret::new("whsec_abc"), Secret::new("whsec_ab"));
    }

    #[test]
    fn neither_a_secret_nor_a_key_prints() {
        let (keys, entries) = ring(&["k1"]);
        let key_text = entries[0].split_once(':').unwrap().1.to_owned();
        let shown = format!("{:?} {:?}", Secret::new("hunter2"), keys);
        assert!(!shown.contains("hunter2") && !shown.contains(&key_text), "{shown}");
        assert!(shown.contains("k1"), "the key ids show: {shown}");
    }
}
