//! The token text format, re-implemented from its documentation in `src/token_text.rs`:
//! `<prefix>_<id: 22><secret: 44><check: 6>`, base62 in blocks of 11 digits per 8 bytes
//! (big-endian), and a CRC-32 (IEEE) of everything before the check digits.
//!
//! The tests use it to take tokens apart (to search for their secrets in every form) and to
//! forge well-formed tokens with chosen ids and secrets (to reach the hash comparison).

pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const BODY_LEN: usize = 22 + 44 + 6;

fn encode_u64(mut v: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
}

fn decode_u64(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            _ => c - b'a' + 36,
        };
        acc.wrapping_mul(62).wrapping_add(u64::from(d))
    })
}

/// Every 8 bytes as 11 base62 digits.
pub fn base62(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() / 8 * 11];
    for (chunk, digits) in bytes.chunks_exact(8).zip(out.chunks_exact_mut(11)) {
        encode_u64(u64::from_be_bytes(chunk.try_into().unwrap()), digits);
    }
    String::from_utf8(out).unwrap()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A well-formed token text with the given id and secret.
pub fn forge(prefix: &str, id: &[u8; 16], secret: &[u8; 32]) -> String {
    let mut s = format!("{prefix}_{}{}", base62(id), base62(secret));
    let mut check = [0u8; 6];
    encode_u64(u64::from(crc32(s.as_bytes())), &mut check);
    s.push_str(std::str::from_utf8(&check).unwrap());
    s
}

/// The parts of a token text.
pub struct Parts<'a> {
    pub prefix: &'a str,
    pub id_text: &'a str,
    pub secret_text: &'a str,
    pub id: [u8; 16],
    pub secret: [u8; 32],
}

pub fn parts(token: &str) -> Parts<'_> {
    let body_at = token.len() - BODY_LEN;
    let id_text = &token[body_at..body_at + 22];
    let secret_text = &token[body_at + 22..body_at + 66];
    let mut id = [0u8; 16];
    for (i, block) in id_text.as_bytes().chunks(11).enumerate() {
        id[i * 8..i * 8 + 8].copy_from_slice(&decode_u64(block).to_be_bytes());
    }
    let mut secret = [0u8; 32];
    for (i, block) in secret_text.as_bytes().chunks(11).enumerate() {
        secret[i * 8..i * 8 + 8].copy_from_slice(&decode_u64(block).to_be_bytes());
    }
    Parts {
        prefix: &token[..body_at - 1],
        id_text,
        secret_text,
        id,
        secret,
    }
}
