//! Grid-world tests: layouts, view geometry, occlusion, scripted solutions, random returns,
//! determinism and state round trips.

use std::collections::VecDeque;

use super::world::{Cell, World, act, colour, door, obj};
use super::*;
use crate::envs::rng::Rng;
use crate::envs::vec::Env;

fn env(name: &str, seed: u64) -> (GridEnv, Vec<f32>) {
    let mut e = GridEnv::new(parse(name).unwrap());
    let mut obs = vec![0.0; OBS_DIM];
    e.reset(&mut Rng::new(seed), &mut obs);
    (e, obs)
}

fn count(w: &World, o: u8) -> usize {
    w.cells.iter().filter(|c| c.obj == o).count()
}

fn find(w: &World, o: u8) -> Vec<(usize, usize)> {
    let mut v = vec![];
    for y in 0..w.height {
        for x in 0..w.width {
            if w.get(x, y).obj == o {
                v.push((x, y));
            }
        }
    }
    v
}

fn border_walled(w: &World) -> bool {
    (0..w.width).all(|x| w.get(x, 0) == Cell::WALL && w.get(x, w.height - 1) == Cell::WALL)
        && (0..w.height).all(|y| w.get(0, y) == Cell::WALL && w.get(w.width - 1, y) == Cell::WALL)
}

/// Cells reachable from the agent by walking over overlappable cells (doors and keys count as
/// passable when `doors`: the key is picked up on the way).
fn reachable(w: &World, doors: bool) -> Vec<bool> {
    let mut seen = vec![false; w.width * w.height];
    let mut q = VecDeque::from([w.pos]);
    seen[w.pos.1 * w.width + w.pos.0] = true;
    while let Some((x, y)) = q.pop_front() {
        for (dx, dy) in [(1i64, 0i64), (-1, 0), (0, 1), (0, -1)] {
            let (nx, ny) = ((x as i64 + dx) as usize, (y as i64 + dy) as usize);
            let c = w.get(nx, ny);
            let ok = c.can_overlap() || (doors && matches!(c.obj, obj::DOOR | obj::KEY));
            if ok && !seen[ny * w.width + nx] {
                seen[ny * w.width + nx] = true;
                q.push_back((nx, ny));
            }
        }
    }
    seen
}

#[test]
fn table_and_parser_agree() {
    for (name, max) in crate::check::env_table::MINIGRID_TASKS {
        let t = parse(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(t.max_steps() as usize, max, "{name}");
    }
    assert!(parse("Empty-5x6").is_none());
    assert!(parse("MemoryS8").is_none());
}

#[test]
fn layouts_hold_their_invariants() {
    for seed in 0..50 {
        let (e, _) = env("Empty-8x8", seed);
        let w = e.world();
        assert!(border_walled(w));
        assert_eq!(find(w, obj::GOAL), vec![(6, 6)]);
        assert_eq!((w.pos, w.dir), ((1, 1), 0));
        assert_eq!(count(w, obj::WALL), 4 * 7);

        let (e, _) = env("FourRooms", seed);
        let w = e.world();
        assert!(border_walled(w));
        assert_eq!(count(w, obj::GOAL), 1);
        // 4 outer sides of 18 cells, inner cross of 2·19 − 1 cells minus 4 gaps
        assert_eq!(count(w, obj::WALL), 4 * 18 + (2 * 19 - 1 - 4) - 4);
        assert!(w.get(w.pos.0, w.pos.1).is_empty());
        let r = reachable(w, false);
        let free = w.cells.iter().filter(|c| c.can_overlap()).count();
        assert_eq!(r.iter().filter(|&&b| b).count(), free, "all rooms connect");

        let (e, _) = env("DoorKey-8x8", seed);
        let w = e.world();
        assert!(border_walled(w));
        let doors = find(w, obj::DOOR);
        let keys = find(w, obj::KEY);
        assert_eq!((doors.len(), keys.len()), (1, 1));
        let (split, dy) = doors[0];
        assert!((2..6).contains(&split) && (1..6).contains(&dy));
        assert_eq!(w.get(split, dy).state, door::LOCKED);
        assert_eq!(w.get(split, dy).colour, colour::YELLOW);
        assert!(keys[0].0 < split && w.pos.0 < split && keys[0] != w.pos);
        assert!(!reachable(w, false)[6 * 8 + 6], "goal is locked away");
        assert!(reachable(w, true)[6 * 8 + 6]);

        let (e, _) = env("MemoryS11", seed);
        let w = e.world();
        assert!(border_walled(w));
        let (succ, fail) = e.memory_targets().unwrap();
        assert_eq!(succ.0, fail.0);
        assert_eq!(succ.0, 11 - 2);
        let cue = w.get(1, 4).obj;
        assert!(cue == obj::KEY || cue == obj::BALL);
        // the matching object sits next to the success cell
        let above = w.get(succ.0, succ.1 - 1).obj;
        let below = w.get(succ.0, succ.1 + 1).obj;
        assert!(above == cue || below == cue);
        assert_eq!((w.pos.1, w.dir), (5, 0));
        assert!(reachable(w, false)[succ.1 * 11 + succ.0]);
    }
}

fn world_with(size: usize) -> World {
    let mut w = World::new(size, size, 100);
    w.clear();
    w
}

fn cell_at(obs: &[f32], i: usize, j: usize) -> (u8, u8, u8) {
    let o = (i * 7 + j) * 3;
    (obs[o] as u8, obs[o + 1] as u8, obs[o + 2] as u8)
}

#[test]
fn view_rotates_with_the_agent() {
    let mut w = world_with(15);
    let ball = Cell::new(obj::BALL, colour::RED, 0);
    w.set(9, 7, ball); // two cells east of the agent
    let mut obs = vec![0.0; OBS_DIM];
    // facing east: the ball is 2 ahead, straight on
    w.put_agent((7, 7), 0);
    view::observe(&w, 7, &mut obs);
    assert_eq!(cell_at(&obs, 3, 4), (obj::BALL, colour::RED, 0));
    assert_eq!(cell_at(&obs, 3, 6), (obj::EMPTY, 0, 0), "own cell");
    // facing north: east is to the right
    w.put_agent((7, 7), 3);
    view::observe(&w, 7, &mut obs);
    assert_eq!(cell_at(&obs, 5, 6), (obj::BALL, colour::RED, 0));
    // facing south: east is to the left
    w.put_agent((7, 7), 1);
    view::observe(&w, 7, &mut obs);
    assert_eq!(cell_at(&obs, 1, 6), (obj::BALL, colour::RED, 0));
    // facing west: behind, not visible anywhere
    w.put_agent((7, 7), 2);
    view::observe(&w, 7, &mut obs);
    let balls = (0..7)
        .flat_map(|i| (0..7).map(move |j| (i, j)))
        .filter(|&(i, j)| cell_at(&obs, i, j).0 == obj::BALL)
        .count();
    assert_eq!(balls, 0);
    // carried objects show in the agent's own cell
    w.carrying = Some(Cell::new(obj::KEY, colour::YELLOW, 0));
    view::observe(&w, 7, &mut obs);
    assert_eq!(cell_at(&obs, 3, 6), (obj::KEY, colour::YELLOW, 0));
}

#[test]
fn walls_and_shut_doors_occlude_and_outside_is_wall() {
    let mut w = world_with(15);
    for x in 1..14 {
        w.set(x, 5, Cell::WALL);
    }
    w.set(7, 3, Cell::GOAL);
    w.put_agent((7, 7), 3); // facing north; wall row 2 ahead, goal 4 ahead
    let mut obs = vec![0.0; OBS_DIM];
    view::observe(&w, 7, &mut obs);
    assert_eq!(cell_at(&obs, 3, 4).0, obj::WALL);
    assert_eq!(cell_at(&obs, 3, 2), (obj::UNSEEN, 0, 0), "goal hidden");
    for i in 0..7 {
        assert_eq!(cell_at(&obs, i, 0).0, obj::UNSEEN);
    }
    // open a door in the wall: the cells behind become visible
    w.set(7, 5, Cell::new(obj::DOOR, colour::YELLOW, door::OPEN));
    view::observe(&w, 7, &mut obs);
    assert_eq!(cell_at(&obs, 3, 2).0, obj::GOAL);
    w.set(7, 5, Cell::new(obj::DOOR, colour::YELLOW, door::CLOSED));
    view::observe(&w, 7, &mut obs);
    assert_eq!(
        cell_at(&obs, 3, 4),
        (obj::DOOR, colour::YELLOW, door::CLOSED)
    );
    assert_eq!(cell_at(&obs, 3, 2).0, obj::UNSEEN);
    // next to the border: cells outside the world read as walls
    let mut w = world_with(9);
    w.put_agent((1, 1), 2);
    view::observe(&w, 7, &mut obs);
    assert_eq!(cell_at(&obs, 3, 5).0, obj::WALL);
}

/// Shortest action sequence (turns and forward moves) until `done(world)` holds.
fn plan(w: &World, done: impl Fn(&World) -> bool) -> Vec<u32> {
    let key = |w: &World| (w.pos, w.dir);
    let mut seen = std::collections::HashSet::from([key(w)]);
    let mut q = VecDeque::from([(w.clone(), vec![])]);
    while let Some((s, path)) = q.pop_front() {
        if done(&s) {
            return path;
        }
        for a in [act::LEFT, act::RIGHT, act::FORWARD] {
            let mut n = s.clone();
            n.step(a);
            if seen.insert(key(&n)) {
                let mut p = path.clone();
                p.push(a);
                q.push_back((n, p));
            }
        }
    }
    panic!("no path");
}

/// Run a scripted solver; returns (return, terminated, steps).
fn solve(name: &str, seed: u64) -> (f32, bool, u32) {
    let (mut e, _) = env(name, seed);
    let mut rng = Rng::new(0);
    let mut obs = vec![0.0; OBS_DIM];
    let mut total = 0.0;
    let mut run = |e: &mut GridEnv, acts: &[u32], total: &mut f32| -> bool {
        for &a in acts {
            let o = e.step(Action::Discrete(a), &mut rng, &mut obs);
            *total += o.reward;
            if o.terminated || o.truncated {
                return o.terminated;
            }
        }
        false
    };
    let facing = |target: (usize, usize)| move |w: &World| w.front() == target;
    let task = e.task();
    let terminated = match task {
        Task::DoorKey { .. } => {
            let k = find(e.world(), obj::KEY)[0];
            let d = find(e.world(), obj::DOOR)[0];
            let goal = find(e.world(), obj::GOAL)[0];
            let p = plan(e.world(), facing(k));
            assert!(!run(&mut e, &p, &mut total));
            assert!(!run(&mut e, &[act::PICKUP], &mut total));
            let p = plan(e.world(), facing(d));
            assert!(!run(&mut e, &p, &mut total));
            assert!(!run(&mut e, &[act::TOGGLE], &mut total));
            assert_eq!(e.world().get(d.0, d.1).state, door::OPEN);
            let p = plan(e.world(), move |w| w.pos == goal);
            run(&mut e, &p, &mut total)
        }
        Task::Memory { .. } => {
            let (succ, _) = e.memory_targets().unwrap();
            let (_, fail) = e.memory_targets().unwrap();
            // walk to the cue first (a memory-less shortcut is impossible), then to the match
            let p = plan(e.world(), facing((1, task.size() / 2 - 1)));
            assert!(!run(&mut e, &p, &mut total));
            let p = plan(e.world(), move |w| w.pos == succ && w.pos != fail);
            run(&mut e, &p, &mut total)
        }
        _ => {
            let goal = find(e.world(), obj::GOAL)[0];
            let p = plan(e.world(), move |w| w.pos == goal);
            run(&mut e, &p, &mut total)
        }
    };
    (total, terminated, e.world().steps)
}

#[test]
fn scripted_policies_solve_every_task() {
    for (name, _) in crate::check::env_table::MINIGRID_TASKS {
        for seed in 0..5 {
            let (ret, terminated, steps) = solve(name, seed);
            let t = parse(name).unwrap();
            let expect = 1.0 - 0.9 * steps as f32 / t.max_steps() as f32;
            assert!(terminated, "{name} seed {seed}");
            assert!((ret - expect).abs() < 1e-6 && ret > 0.5, "{name}: {ret}");
        }
    }
    // Empty-5x5 optimum: 2 forward, turn, 2 forward = 5 steps
    let (ret, _, steps) = solve("Empty-5x5", 0);
    assert_eq!(steps, 5);
    assert!((ret - (1.0 - 0.9 * 5.0 / 100.0)).abs() < 1e-6);
}

#[test]
fn memory_failure_cell_ends_with_zero() {
    for seed in 0..10 {
        let (mut e, _) = env("MemoryS7", seed);
        let (_, fail) = e.memory_targets().unwrap();
        let p = plan(e.world(), move |w| w.pos == fail);
        let mut rng = Rng::new(0);
        let mut obs = vec![0.0; OBS_DIM];
        let mut last = Outcome::default();
        for a in p {
            last = e.step(Action::Discrete(a), &mut rng, &mut obs);
        }
        assert!(last.terminated && last.reward == 0.0);
    }
}

/// Mean return of a uniform random policy over `episodes` episodes.
fn random_return(id: &str, episodes: usize) -> (f32, f32) {
    let n = 8;
    let mut v = crate::envs::make(id, n).unwrap();
    let mut out = crate::envs::StepBatch::new(n, OBS_DIM);
    v.reset(3, &mut out);
    let mut rng = Rng::new(11);
    let (mut sum, mut done) = (0.0, 0);
    while done < episodes {
        let a = (0..n).map(|_| rng.below(7)).collect();
        v.step(&crate::envs::Actions::Discrete(a), &mut out);
        for i in 0..n {
            if out.terminated[i] || out.truncated[i] {
                sum += out.episode_return[i];
                done += 1;
            }
        }
    }
    let visited = v.take_metrics();
    assert_eq!(visited[0].0, "env/visited_cells");
    (sum / done as f32, visited[0].1)
}

#[test]
fn random_policy_returns() {
    // Empty-5x5: a random walk finds the goal in most of its 100 steps, but late
    let (r, visited) = random_return("minigrid::Empty-5x5", 400);
    assert!((0.2..0.8).contains(&r), "Empty-5x5 random return {r}");
    assert!((2.0..=9.0).contains(&visited), "{visited}");
    // DoorKey-8x8 and FourRooms: almost never solved by chance
    let (r, _) = random_return("minigrid::DoorKey-8x8", 40);
    assert!(r < 0.05, "DoorKey random return {r}");
    let (r, _) = random_return("minigrid::FourRooms", 200);
    assert!(r < 0.2, "FourRooms random return {r}");
    // MemoryS7: the random walk reaches either end cell with similar odds
    let (r, _) = random_return("minigrid::MemoryS7", 400);
    assert!(r < 0.5, "MemoryS7 random return {r}");
}

#[test]
fn same_seed_same_trajectory_and_state_round_trips() {
    let run = |seed: u64, snapshot_at: Option<usize>| {
        let n = 4;
        let mut v = crate::envs::make("minigrid::FourRooms", n).unwrap();
        let mut out = crate::envs::StepBatch::new(n, OBS_DIM);
        v.reset(seed, &mut out);
        let mut rng = Rng::new(5);
        let mut trace = out.obs.clone();
        for t in 0..300 {
            if Some(t) == snapshot_at {
                let bytes = v.save_state();
                let mut fresh = crate::envs::make("minigrid::FourRooms", n).unwrap();
                fresh.load_state(&bytes).unwrap();
                v = fresh;
            }
            let a = (0..n).map(|_| rng.below(7)).collect();
            v.step(&crate::envs::Actions::Discrete(a), &mut out);
            trace.extend_from_slice(&out.obs);
            trace.extend_from_slice(&out.reward);
        }
        trace
    };
    assert_eq!(run(1, None), run(1, None));
    assert_ne!(run(1, None), run(2, None));
    assert_eq!(run(1, None), run(1, Some(150)));
    let mut other = crate::envs::make("minigrid::Empty-5x5", 4).unwrap();
    let v = crate::envs::make("minigrid::FourRooms", 4).unwrap();
    assert!(other.load_state(&v.save_state()).is_err());
}
