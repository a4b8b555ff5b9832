//! Where random values come from (tags, branches, cnonces, backoff jitter).
//! Injected so the state machine's tests are deterministic.

pub trait Entropy: Send {
    fn next_u64(&mut self) -> u64;
}

/// The operating system's randomness, for real use.
#[derive(Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn next_u64(&mut self) -> u64 {
        rand::random()
    }
}

/// A fixed-seed generator (SplitMix64) for tests.
#[derive(Debug)]
pub struct SeededEntropy(pub u64);

impl Entropy for SeededEntropy {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `len` lowercase letters and digits.
pub(crate) fn token(e: &mut dyn Entropy, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut bits = e.next_u64();
    for i in 0..len {
        if i % 10 == 9 {
            bits = e.next_u64();
        }
        let idx = (bits % ALPHABET.len() as u64) as usize;
        bits /= ALPHABET.len() as u64;
        out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'x')));
    }
    out
}
