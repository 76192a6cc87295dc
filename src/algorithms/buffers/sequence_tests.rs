use super::*;
use crate::algorithms::common::Rng64;
use std::collections::BTreeMap;

fn layout(rows: usize, row_cap: usize, window: usize) -> Layout {
    Layout {
        rows,
        row_cap,
        window,
        obs_dim: 1,
        act_dim: 1,
        carry_dim: 2,
    }
}

fn uniform() -> Sampling {
    Sampling {
        prioritized: false,
        alpha: 1.0,
        episode_starts: false,
    }
}

/// Push step `t` to every row: obs = 100·row + t, carry = (obs, -obs), start every 4th step.
fn push(buf: &mut SequenceReplay, t: usize) {
    let rows = buf.layout().rows;
    let obs: Vec<f32> = (0..rows).map(|r| (100 * r + t) as f32).collect();
    let next: Vec<f32> = obs.iter().map(|o| o + 1.0).collect();
    let carry: Vec<f32> = obs.iter().flat_map(|&o| [o, -o]).collect();
    let start = vec![t.is_multiple_of(4); rows];
    buf.push(&StepRecord {
        obs: &obs,
        next_obs: &next,
        actions: &obs,
        reward: &obs,
        terminated: &vec![false; rows],
        truncated: &vec![false; rows],
        start: &start,
        carry: &carry,
    });
}

#[test]
fn windows_never_cross_the_write_head() {
    let mut buf = SequenceReplay::new(layout(2, 6, 3), uniform());
    let mut rng = Rng64::new(1, 0);
    push(&mut buf, 0);
    push(&mut buf, 1);
    assert_eq!(buf.valid_starts(), 0);
    assert!(buf.sample(4, &mut rng).is_none());
    for t in 2..8 {
        push(&mut buf, t);
    }
    // each ring holds steps 2..=7; starts 2, 3, 4, 5 are valid, 6 and 7 would cross the head
    assert_eq!(buf.valid_starts(), 8);
    let mut firsts = BTreeMap::new();
    for _ in 0..200 {
        let w = buf.sample(4, &mut rng).expect("valid windows");
        for b in 0..4 {
            let first = w.obs[b];
            for t in 1..3 {
                assert_eq!(w.obs[t * 4 + b], first + t as f32, "window is consecutive");
            }
            *firsts.entry(first as i64 % 100).or_insert(0) += 1;
        }
    }
    assert_eq!(firsts.keys().copied().collect::<Vec<_>>(), vec![2, 3, 4, 5]);
}

#[test]
fn stored_carry_is_the_one_before_the_first_step() {
    let mut buf = SequenceReplay::new(layout(3, 8, 4), uniform());
    let mut rng = Rng64::new(2, 0);
    for t in 0..13 {
        push(&mut buf, t);
    }
    let w = buf.sample(16, &mut rng).expect("windows");
    for b in 0..16 {
        let first = w.obs[b];
        assert_eq!(w.carry[2 * b], first);
        assert_eq!(w.carry[2 * b + 1], -first);
        assert_eq!(w.next_obs[b], first + 1.0);
        assert_eq!(w.start[b], (first as usize % 100).is_multiple_of(4));
    }
}

#[test]
fn episode_start_windows_only_begin_at_starts() {
    let s = Sampling {
        episode_starts: true,
        ..uniform()
    };
    let mut buf = SequenceReplay::new(layout(1, 16, 3), s);
    let mut rng = Rng64::new(3, 0);
    for t in 0..16 {
        push(&mut buf, t);
    }
    // starts at 0, 4, 8, 12; 12 + 3 <= 16 so all four are valid
    assert_eq!(buf.valid_starts(), 4);
    let w = buf.sample(64, &mut rng).expect("windows");
    assert!(w.start[..64].iter().all(|&s| s));
}

#[test]
fn prioritized_probabilities_are_the_sampling_frequencies() {
    let s = Sampling {
        prioritized: true,
        alpha: 0.5,
        episode_starts: false,
    };
    let mut buf = SequenceReplay::new(layout(1, 8, 2), s);
    let mut rng = Rng64::new(4, 0);
    for t in 0..8 {
        push(&mut buf, t);
    }
    assert_eq!(buf.valid_starts(), 7);
    // give start t the raw priority (t + 1)^2, so the leaf is t + 1 under alpha = 0.5
    let slots: Vec<usize> = (0..7).collect();
    let pr: Vec<f64> = (0..7).map(|t| ((t + 1) * (t + 1)) as f64).collect();
    buf.set_priorities(&slots, &pr);
    let total: f64 = (1..=7).map(|x| x as f64).sum();
    let mut counts = [0usize; 7];
    let n = 40_000;
    for _ in 0..n / 8 {
        let w = buf.sample(8, &mut rng).expect("windows");
        for (slot, p) in w.slots.iter().zip(&w.probs) {
            assert!((p - (slot + 1) as f64 / total).abs() < 1e-12);
            counts[*slot] += 1;
        }
    }
    for (slot, c) in counts.iter().enumerate() {
        let want = (slot + 1) as f64 / total;
        let got = *c as f64 / n as f64;
        let se = (want * (1.0 - want) / n as f64).sqrt();
        assert!(
            (got - want).abs() < 5.0 * se,
            "slot {slot}: {got} vs {want}"
        );
    }
    // new windows enter at the largest priority seen (49^0.5 = 7); slot 0 was overwritten
    push(&mut buf, 8);
    let total_after: f64 = (2..=7).map(|x| x as f64).sum::<f64>() + 7.0;
    let w = buf.sample(256, &mut rng).expect("windows");
    for (slot, p) in w.slots.iter().zip(&w.probs) {
        assert_ne!(*slot, 0);
        let leaf = if *slot == 7 { 7.0 } else { (*slot + 1) as f64 };
        assert!((p - leaf / total_after).abs() < 1e-12);
    }
    assert!(w.slots.contains(&7));
    assert_eq!(
        buf.valid_starts(),
        7,
        "slot 0 was overwritten, slot 7 became valid"
    );
}

#[test]
fn importance_weights_follow_n_p_to_the_minus_beta() {
    let w = importance_weights(&[0.1, 0.2, 0.4], 10, 0.5);
    // (10·p)^-0.5 = 1, 0.7071, 0.5; normalised by the max (1)
    assert!((w[0] - 1.0).abs() < 1e-6);
    assert!((w[1] - 0.5f32.sqrt()).abs() < 1e-6);
    assert!((w[2] - 0.5).abs() < 1e-6);
}
