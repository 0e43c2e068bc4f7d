//! A latency histogram in fixed memory: log-linear buckets (HdrHistogram's layout) over whole
//! microseconds. Values below [`SUB`] have a bucket each; above, every power of two is split into
//! [`SUB`]/2 equal buckets, so a bucket is never wider than 1/32 of its values (≤ 3.2 % error).

use crate::util::Latency;

/// Buckets in the first (linear) group; each later group holds `SUB / 2`.
pub const SUB: usize = 64;
const SUB_BITS: u32 = SUB.trailing_zeros();
const HALF: usize = SUB / 2;
/// Groups after the first: enough for any `u32` value.
const GROUPS: usize = (u32::BITS - SUB_BITS) as usize;
/// Every bucket.
pub const BUCKETS: usize = SUB + GROUPS * HALF;

/// Counts of latencies (µs), with the exact sum and maximum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    n: u64,
    sum: u64,
    max: u32,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            n: 0,
            sum: 0,
            max: 0,
        }
    }
}

/// The bucket of `v`.
fn index(v: u32) -> usize {
    if (v as usize) < SUB {
        return v as usize;
    }
    // v ≥ 64: its top bit is bit `b` ≥ 6; keep the 5 bits below it.
    let b = u32::BITS - 1 - v.leading_zeros();
    let group = (b - SUB_BITS) as usize;
    let sub = ((v >> (b - (SUB_BITS - 1))) as usize) & (HALF - 1);
    SUB + group * HALF + sub
}

/// The largest value of bucket `i`.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let group = ((i - SUB) / HALF) as u32;
    let sub = ((i - SUB) % HALF) as u64;
    let shift = group + 1;
    ((HALF as u64 + sub + 1) << shift) - 1
}

impl Histogram {
    /// Counts one latency.
    pub fn record(&mut self, us: u32) {
        self.counts[index(us)] += 1;
        self.n += 1;
        self.sum += u64::from(us);
        self.max = self.max.max(us);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.n += other.n;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// Latencies counted.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The smallest bucket bound at or below which a fraction `q` of the values lie (never
    /// above the maximum seen).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((self.n as f64 * q).ceil() as u64).clamp(1, self.n);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(u64::from(self.max));
            }
        }
        u64::from(self.max)
    }

    /// Mean, p50, p99, p99.9 and max.
    pub fn summary(&self) -> Latency {
        if self.n == 0 {
            return Latency::default();
        }
        Latency {
            mean: self.sum as f64 / self.n as f64,
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            max: u64::from(self.max),
        }
    }

    /// The cumulative distribution: for every non-empty bucket, its upper bound (µs, capped at
    /// the maximum) and the fraction of values at or below it. The last point is (max, 1).
    pub fn cdf(&self) -> Vec<(u64, f64)> {
        let mut out = Vec::new();
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            seen += c;
            out.push((
                upper(i).min(u64::from(self.max)),
                seen as f64 / self.n as f64,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        assert_eq!(index(0), 0);
        assert_eq!(index(63), 63);
        assert_eq!(index(64), 64);
        assert_eq!(index(65), 64);
        assert_eq!(index(66), 65);
        assert_eq!(index(127), 95);
        assert_eq!(index(128), 96);
        assert_eq!(index(u32::MAX), BUCKETS - 1);
        let mut last = 0;
        for v in (0..200_000u32).chain([u32::MAX - 1, u32::MAX]) {
            let i = index(v);
            assert!(i >= last, "{v}");
            assert!(u64::from(v) <= upper(i), "{v} above bucket {i}");
            // Bucket width stays within 1/32 of the value.
            if i >= SUB {
                assert!(upper(i) - u64::from(v) <= u64::from(v) / 32, "{v}");
            }
            last = i;
        }
        assert_eq!(upper(BUCKETS - 1), u64::from(u32::MAX));
    }

    #[test]
    fn percentiles_within_bucket_error() {
        let mut h = Histogram::default();
        for v in (1..=1000u32).rev() {
            h.record(v);
        }
        let l = h.summary();
        assert_eq!(l.max, 1000);
        assert!((l.mean - 500.5).abs() < 1e-9);
        for (got, want) in [(l.p50, 500u64), (l.p99, 990), (l.p999, 999)] {
            assert!(got >= want && got <= want + want / 32, "{got} vs {want}");
        }
        assert_eq!(Histogram::default().summary(), Latency::default());
    }

    #[test]
    fn cdf_is_monotone_and_ends_at_one() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        for v in [5u32, 5, 70, 3000] {
            a.record(v);
        }
        b.record(100_000);
        a.merge(&b);
        let cdf = a.cdf();
        assert_eq!(cdf.len(), 4);
        assert_eq!(cdf[0], (5, 0.4));
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        assert_eq!(*cdf.last().unwrap(), (100_000, 1.0));
        assert_eq!(a.len(), 5);
    }
}
