//! G.711 µ-law and A-law (ITU-T G.711), computed without lookup tables.
//!
//! The algorithms follow the classic reference implementation (Sun Microsystems' public
//! domain `g711.c`): µ-law works on 14-bit magnitudes with a bias of 33, A-law on 13-bit
//! magnitudes; the segment is the position of the highest set bit.

const SIGN_BIT: u8 = 0x80;
const QUANT_MASK: u8 = 0x0F;
const SEG_SHIFT: u8 = 4;
const SEG_MASK: u8 = 0x70;
const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;

/// Smallest segment `s` (0..8) with `value <= (first_end << s) - 1`, or 8 if none.
fn segment(value: i32, first_end: i32) -> u8 {
    let mut seg = 0u8;
    while seg < 8 && value > (first_end << seg) - 1 {
        seg += 1;
    }
    seg
}

/// Encodes one 16-bit linear sample to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 2;
    let mask: u8 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    if pcm > ULAW_CLIP {
        pcm = ULAW_CLIP;
    }
    pcm += ULAW_BIAS >> 2;
    let seg = segment(pcm, 0x40);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let uval = (seg << 4) | ((pcm >> (seg + 1)) as u8 & QUANT_MASK);
    uval ^ mask
}

/// Decodes one µ-law byte to a 16-bit linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let mut t = (((u & QUANT_MASK) as i32) << 3) + ULAW_BIAS;
    t <<= (u & SEG_MASK) >> SEG_SHIFT;
    let v = if u & SIGN_BIT != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    };
    v as i16
}

/// Encodes one 16-bit linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = segment(pcm, 0x20);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut aval = seg << SEG_SHIFT;
    if seg < 2 {
        aval |= (pcm >> 1) as u8 & QUANT_MASK;
    } else {
        aval |= (pcm >> seg) as u8 & QUANT_MASK;
    }
    aval ^ mask
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & QUANT_MASK) as i32) << 4;
    let seg = (a & SEG_MASK) >> SEG_SHIFT;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    let v = if a & SIGN_BIT != 0 { t } else { -t };
    v as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7E);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        // Segment boundaries of the reference implementation.
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(ulaw_to_linear(0xCE), 988);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-8), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xAA);
        assert_eq!(linear_to_alaw(-32768), 0x2A);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(alaw_to_linear(0xFA), 1008);
    }

    #[test]
    fn round_trip_error_is_within_the_quantisation_step() {
        for x in (-32768i32..=32767).step_by(7) {
            let x = x as i16;
            let u = ulaw_to_linear(linear_to_ulaw(x)) as i32;
            let a = alaw_to_linear(linear_to_alaw(x)) as i32;
            let mag = (x as i32).abs();
            // Step is 2^(seg+3) for µ-law (2^(seg+4)/2 error) — bounded by ~3 % + a small floor.
            assert!((u - x as i32).abs() <= mag / 16 + 16, "ulaw {x} -> {u}");
            assert!((a - x as i32).abs() <= mag / 16 + 16, "alaw {x} -> {a}");
        }
    }

    #[test]
    fn every_code_survives_decode_encode() {
        for b in 0..=255u8 {
            let u = linear_to_ulaw(ulaw_to_linear(b));
            // 0x7F and 0xFF both decode to 0 (negative and positive zero).
            if b != 0x7F {
                assert_eq!(u, b, "ulaw code {b:#x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "alaw code {b:#x}");
        }
    }
}
