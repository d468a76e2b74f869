//! Interleaved rounds and their ratios, shared by the benches that compare
//! allocators (`overhead`, `service`).
//!
//! A shared machine drifts, so variants measured one after the other are
//! not comparable. Each round instead runs every variant once, back to back,
//! in an order that rotates from round to round, and each figure is divided
//! by its baseline's figure *of the same round*; the tables give the median
//! of those ratios with their min-max range.

/// Runs `measure(i)` for every variant `i < n`, once per round, the order
/// rotating between rounds. Returns each variant's figures, by round.
pub fn interleave(rounds: usize, n: usize, mut measure: impl FnMut(usize) -> f64) -> Vec<Vec<f64>> {
    let mut figures = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        let mut this_round = vec![0.0; n];
        for k in 0..n {
            let i = (round + k) % n;
            this_round[i] = measure(i);
        }
        for (f, x) in figures.iter_mut().zip(this_round) {
            f.push(x);
        }
    }
    figures
}

/// Each round's figure of `xs` divided by the same round's figure of `base`.
pub fn ratios(xs: &[f64], base: &[f64]) -> Vec<f64> {
    xs.iter().zip(base).map(|(x, b)| x / b).collect()
}

/// Median, min and max.
pub fn summary(xs: &[f64]) -> (f64, f64, f64) {
    (quantile(xs, 0.5), quantile(xs, 0.0), quantile(xs, 1.0))
}

/// The `q` quantile (0 to 1) of `xs`, by nearest rank.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    let rank = (q * xs.len() as f64).ceil() as usize;
    xs[rank.clamp(1, xs.len()) - 1]
}

/// The median ratio with its range, like "1.07 (1.02-1.11)"; the bare median
/// for a single round.
pub fn ratio_cell(ratios: &[f64]) -> String {
    let (med, lo, hi) = summary(ratios);
    if ratios.len() < 2 {
        return ratio(med);
    }
    format!("{} ({}-{})", ratio(med), ratio(lo), ratio(hi))
}

/// Two decimals below 10x, one above, like "1.07" and "12.4".
pub fn ratio(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

/// Criterion's own rule: `--test`, or no `--bench` (as `cargo test` runs a
/// bench).
pub fn test_mode(args: &[String]) -> bool {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--test") || !has("--bench")
}
