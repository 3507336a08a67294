//! Timing: a dudect-style constant-time report for verify. Two classes of inputs are measured in
//! a random interleaving, and Welch's t statistic compares their timings, on all measurements and
//! on measurements cropped at several percentiles (dudect's way of removing the slow tail). By
//! the dudect convention, |t| below 4.5 is no evidence of a timing difference; above 10 it is a
//! clear one.
//!
//! * right id, wrong secret differing in its first byte versus in its last byte (a secret
//!   compared byte by byte with an early exit would show here);
//! * unknown id versus known id with a wrong secret (whether timing tells which ids exist).
//!
//! A calibration row measures a deliberately leaky comparison: if the harness cannot see that
//! leak, the test fails, because then the report means nothing. The verify rows only report:
//! timing on a shared 2-core CI machine, in a debug build, is too noisy to gate on.
//!
//! `TESSERA_RELIABILITY_LONG=1` measures 20 times more.

mod reliability;

use std::hint::black_box;
use std::time::Instant;

use reliability::forge;
use reliability::{scale, seed, Rng};
use tessera::{IssueRequest, Options, Outcome, Rejection, Store};

/// Welch's t statistic of two samples.
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let stats = |x: &[f64]| {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
        (n, m, v)
    };
    let (na, ma, va) = stats(a);
    let (nb, mb, vb) = stats(b);
    (ma - mb) / (va / na + vb / nb).sqrt()
}

struct Row {
    name: &'static str,
    n: [usize; 2],
    medians: [f64; 2],
    /// (crop percentile, t)
    ts: Vec<(f64, f64)>,
}

impl Row {
    fn max_t(&self) -> f64 {
        self.ts.iter().map(|(_, t)| t.abs()).fold(0.0, f64::max)
    }

    fn verdict(&self) -> &'static str {
        match self.max_t() {
            t if t < 4.5 => "no evidence of a timing difference",
            t if t < 10.0 => "possible timing difference",
            _ => "timing difference",
        }
    }
}

/// Measures `f(class)` `n` times in a random interleaving of the two classes (nanoseconds).
fn measure(name: &'static str, n: usize, rng: &mut Rng, mut f: impl FnMut(usize)) -> Row {
    for i in 0..n / 10 {
        f(i % 2);
    }
    let mut samples: [Vec<f64>; 2] = [Vec::with_capacity(n / 2), Vec::with_capacity(n / 2)];
    for _ in 0..n {
        let class = rng.index(2);
        let t0 = Instant::now();
        f(class);
        samples[class].push(t0.elapsed().as_nanos() as f64);
    }
    let mut all: Vec<f64> = samples.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let mut ts = Vec::new();
    for crop in [100.0, 99.0, 95.0, 90.0, 75.0, 50.0] {
        let limit = reliability::percentile(&all, crop);
        let a: Vec<f64> = samples[0].iter().copied().filter(|&x| x <= limit).collect();
        let b: Vec<f64> = samples[1].iter().copied().filter(|&x| x <= limit).collect();
        if a.len() > 10 && b.len() > 10 {
            ts.push((crop, welch_t(&a, &b)));
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        reliability::percentile(&v, 50.0)
    };
    Row {
        name,
        n: [samples[0].len(), samples[1].len()],
        medians: [median(&samples[0]), median(&samples[1])],
        ts,
    }
}

#[test]
fn verify_timing_report() {
    let n = scale(20_000, 400_000);
    let mut rng = Rng::new(seed("timing"));
    let store = Store::in_memory(Options::new()).unwrap();
    // A store with some content, so lookups walk a real tree.
    let mut texts = Vec::new();
    for i in 0..2_000 {
        let t = store
            .issue(&IssueRequest::session(format!("user{}", i % 100)))
            .unwrap();
        texts.push(t.token.into_string());
    }
    let target = forge::parts(&texts[1000]);
    let forge_secret = |byte: usize| {
        let mut s = target.secret;
        s[byte] ^= 0x01;
        forge::forge(target.prefix, &target.id, &s)
    };
    let early = forge_secret(0);
    let late = forge_secret(31);
    let mut unknown_id = target.id;
    unknown_id[5] ^= 0x10;
    let unknown = forge::forge(target.prefix, &unknown_id, &target.secret);
    for (t, want) in [
        (&early, Rejection::BadSecret),
        (&late, Rejection::BadSecret),
        (&unknown, Rejection::Unknown),
    ] {
        assert_eq!(store.verify(t).unwrap(), Outcome::Invalid(want));
    }

    let mut rows = Vec::new();
    let inputs = [early.as_str(), late.as_str()];
    rows.push(measure(
        "verify: wrong secret, first vs last byte differs",
        n,
        &mut rng,
        |c| {
            let _ = black_box(store.verify(black_box(inputs[c])).unwrap());
        },
    ));
    let inputs = [unknown.as_str(), early.as_str()];
    rows.push(measure(
        "verify: unknown id vs known id (wrong secret)",
        n,
        &mut rng,
        |c| {
            let _ = black_box(store.verify(black_box(inputs[c])).unwrap());
        },
    ));
    // Calibration: an early-exit comparison of 4 KiB that differs at byte 0 or at byte 4000.
    let reference = vec![7u8; 4096];
    let mut differ = [reference.clone(), reference.clone()];
    differ[0][0] = 8;
    differ[1][4000] = 8;
    let calibration = measure(
        "calibration: early-exit compare, 4 KiB, first vs late byte differs",
        n,
        &mut rng,
        |c| {
            let a = black_box(&differ[c]);
            let mut equal = true;
            for (x, y) in a.iter().zip(&reference) {
                if x != y {
                    equal = false;
                    break;
                }
            }
            black_box(equal);
        },
    );

    eprintln!("timing (dudect-style Welch t; |t| < 4.5: no evidence, > 10: clear difference):");
    for r in rows.iter().chain(std::iter::once(&calibration)) {
        eprintln!(
            "  {}: n = {}+{}, medians {:.0} / {:.0} ns, t = {} -> max |t| = {:.2}: {}",
            r.name,
            r.n[0],
            r.n[1],
            r.medians[0],
            r.medians[1],
            r.ts.iter()
                .map(|(p, t)| format!("{t:.2} (p{p:.0})"))
                .collect::<Vec<_>>()
                .join(", "),
            r.max_t(),
            r.verdict()
        );
    }
    eprintln!(
        "  (report only: timings on a shared machine in a debug build are too noisy to gate on; \
         the calibration row must show its leak)"
    );
    // When two classes differ strongly, a low crop can hold too few samples of the slower class
    // to compute t (it is then left out); the full sample and most crops must have one.
    for r in &rows {
        let finite = r.ts.iter().filter(|(_, t)| t.is_finite()).count();
        assert!(
            finite >= 4
                && r.ts
                    .first()
                    .is_some_and(|(p, t)| *p == 100.0 && t.is_finite()),
            "{}: the report could not be produced ({finite} of 6 crops have a t statistic)",
            r.name
        );
    }
    assert!(
        calibration.max_t() > 10.0,
        "the harness does not see a deliberate leak (max |t| {:.2}): the report means nothing",
        calibration.max_t()
    );
}
