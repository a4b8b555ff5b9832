//! The local conference mix, one 20 ms frame at a time: each remote party hears
//! the local microphone and every other party but not themselves; the local
//! speaker plays every remote party. Sums saturate instead of wrapping. Nothing
//! is allocated per frame: the caller owns every buffer.

use crate::frame::{Frame, FRAME_SAMPLES};

/// Mixes one frame. `remotes[i]` is what party `i` sent us; `to_remotes[i]`
/// receives what party `i` must hear. Extra entries of the longer of the two
/// slices are left alone.
pub fn mix(local: &Frame, remotes: &[Frame], to_remotes: &mut [Frame], to_speaker: &mut Frame) {
    // The sum of everyone, once, in 32 bits (no overflow for up to 65 536 parties).
    let mut everyone = [0i32; FRAME_SAMPLES];
    for (n, sum) in everyone.iter_mut().enumerate() {
        *sum = local[n] as i32 + remotes.iter().map(|r| r[n] as i32).sum::<i32>();
    }
    for (n, out) in to_speaker.iter_mut().enumerate() {
        *out = saturate(everyone[n] - local[n] as i32);
    }
    for (remote, out) in remotes.iter().zip(to_remotes.iter_mut()) {
        for n in 0..FRAME_SAMPLES {
            out[n] = saturate(everyone[n] - remote[n] as i32);
        }
    }
}

fn saturate(v: i32) -> i16 {
    v.clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::SILENCE;

    fn flat(v: i16) -> Frame {
        [v; FRAME_SAMPLES]
    }

    #[test]
    fn each_party_hears_everyone_but_themselves_and_the_speaker_every_remote() {
        let local = flat(1);
        let remotes = [flat(10), flat(100), flat(1000)];
        let mut outs = [SILENCE; 3];
        let mut speaker = SILENCE;
        mix(&local, &remotes, &mut outs, &mut speaker);
        assert_eq!(outs[0], flat(1 + 100 + 1000));
        assert_eq!(outs[1], flat(1 + 10 + 1000));
        assert_eq!(outs[2], flat(1 + 10 + 100));
        assert_eq!(speaker, flat(10 + 100 + 1000), "we do not hear ourselves");
    }

    #[test]
    fn two_parties_hear_each_other_and_us_sample_by_sample() {
        let mut local = SILENCE;
        let (mut a, mut b) = (SILENCE, SILENCE);
        for n in 0..FRAME_SAMPLES {
            local[n] = n as i16;
            a[n] = -(n as i16);
            b[n] = 3 * n as i16;
        }
        let mut outs = [SILENCE; 2];
        let mut speaker = SILENCE;
        mix(&local, &[a, b], &mut outs, &mut speaker);
        for n in 0..FRAME_SAMPLES {
            assert_eq!(outs[0][n], local[n] + b[n]);
            assert_eq!(outs[1][n], local[n] + a[n]);
            assert_eq!(speaker[n], a[n] + b[n]);
        }
    }

    #[test]
    fn loud_sums_clip_instead_of_wrapping() {
        let mut outs = [SILENCE; 2];
        let mut speaker = SILENCE;
        mix(&flat(30_000), &[flat(30_000), flat(-32_768)], &mut outs, &mut speaker);
        assert_eq!(outs[0], flat(-2_768));
        assert_eq!(outs[1], flat(i16::MAX), "30 000 + 30 000 clips");
        mix(&flat(-30_000), &[flat(-30_000), flat(0)], &mut outs, &mut speaker);
        assert_eq!(outs[1], flat(i16::MIN));
    }

    #[test]
    fn mismatched_slices_and_no_parties_are_harmless() {
        let mut speaker = flat(7);
        mix(&flat(5), &[], &mut [], &mut speaker);
        assert_eq!(speaker, SILENCE, "nobody to hear");
        let mut outs = [flat(9); 3];
        mix(&flat(1), &[flat(2)], &mut outs, &mut speaker);
        assert_eq!((outs[0], outs[1]), (flat(1), flat(9)), "only the first is a party");
    }
}
