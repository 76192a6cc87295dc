//! A binary sum tree over non-negative priorities: set a leaf, read the total, and find the
//! leaf whose cumulative-sum interval holds a value, all in `O(log n)`.

use serde::{Deserialize, Serialize};

/// Sum tree with `capacity` leaves (internally padded to a power of two).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SumTree {
    nodes: Vec<f64>,
    leaves: usize,
    capacity: usize,
}

impl SumTree {
    /// A tree of `capacity` zero leaves.
    pub fn new(capacity: usize) -> Self {
        let leaves = capacity.max(1).next_power_of_two();
        SumTree {
            nodes: vec![0.0; 2 * leaves],
            leaves,
            capacity,
        }
    }

    /// Number of addressable leaves.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Set leaf `i` to `value` (negative or non-finite values count as 0).
    pub fn set(&mut self, i: usize, value: f64) {
        assert!(i < self.capacity, "sum tree index {i} out of range");
        let v = if value.is_finite() && value > 0.0 {
            value
        } else {
            0.0
        };
        let mut k = i + self.leaves;
        self.nodes[k] = v;
        while k > 1 {
            k /= 2;
            self.nodes[k] = self.nodes[2 * k] + self.nodes[2 * k + 1];
        }
    }

    /// Value of leaf `i`.
    pub fn get(&self, i: usize) -> f64 {
        self.nodes[i + self.leaves]
    }

    /// Sum of all leaves.
    pub fn total(&self) -> f64 {
        self.nodes[1]
    }

    /// The leaf `i` with `prefix(i) <= u < prefix(i) + value(i)`, for `u` in `[0, total)`.
    ///
    /// Never returns a zero leaf while the total is positive (rounding is clamped to the last
    /// non-zero leaf on the path).
    pub fn find(&self, u: f64) -> usize {
        let mut u = u.clamp(0.0, self.total());
        let mut k = 1;
        while k < self.leaves {
            let left = self.nodes[2 * k];
            if u < left || self.nodes[2 * k + 1] <= 0.0 {
                k *= 2;
            } else {
                u -= left;
                k = 2 * k + 1;
            }
        }
        k - self.leaves
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::common::Rng64;
    use rand::Rng;

    #[test]
    fn total_and_find_follow_the_prefix_sums() {
        let mut t = SumTree::new(5);
        for (i, v) in [1.0, 0.0, 2.0, 3.0, 4.0].iter().enumerate() {
            t.set(i, *v);
        }
        assert_eq!(t.total(), 10.0);
        assert_eq!(t.find(0.0), 0);
        assert_eq!(t.find(0.999), 0);
        assert_eq!(t.find(1.0), 2);
        assert_eq!(t.find(2.999), 2);
        assert_eq!(t.find(3.0), 3);
        assert_eq!(t.find(6.0), 4);
        assert_eq!(t.find(9.999_999), 4);
        assert_eq!(t.find(10.0), 4);
        t.set(4, 0.0);
        assert_eq!(t.total(), 6.0);
        assert_eq!(t.find(6.0), 3, "rounding never lands on a zero leaf");
    }

    #[test]
    fn empirical_frequencies_match_probabilities() {
        let p = [0.5, 3.0, 0.0, 1.5, 5.0, 0.25, 0.0, 1.75];
        let mut t = SumTree::new(p.len());
        for (i, v) in p.iter().enumerate() {
            t.set(i, *v);
        }
        let mut rng = Rng64::new(7, 0);
        let n = 200_000;
        let mut counts = [0usize; 8];
        for _ in 0..n {
            counts[t.find(rng.random::<f64>() * t.total())] += 1;
        }
        let total: f64 = p.iter().sum();
        for i in 0..p.len() {
            let want = p[i] / total;
            let got = counts[i] as f64 / n as f64;
            // 5 standard errors of a binomial proportion
            let se = (want * (1.0 - want) / n as f64).sqrt();
            assert!(
                (got - want).abs() <= 5.0 * se + 1e-9,
                "leaf {i}: {got} vs {want}"
            );
        }
        assert_eq!(counts[2] + counts[6], 0);
    }
}
