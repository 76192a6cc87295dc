//! Lowering agrees with the checker: for every shipped agent (and every architecture `let`
//! whose blocks have a lowering), burn's parameter counts, output shapes and carry sizes equal
//! the IR's analytic values.

use std::collections::BTreeSet;
use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use memoraxc::check::{self, ir};
use memoraxc::lower::{lower_agent, lower_block};
use memoraxc::runtime::layer::Ctx;

fn mx_files(dir: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<_> = std::fs::read_dir(root)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "mx"));
    v.sort();
    v
}

/// IR parameter total counting each `shared(...)` set once.
fn unique_params(b: &ir::Block, seen: &mut BTreeSet<u32>) -> u64 {
    if let Some(id) = b.shared {
        if !seen.insert(id) {
            return 0;
        }
        return b.params;
    }
    if b.children.is_empty() {
        return b.params;
    }
    let kids: u64 = b.children.iter().map(|c| c.params).sum();
    let own = b.params - kids;
    own + b
        .children
        .iter()
        .map(|c| unique_params(c, seen))
        .sum::<u64>()
}

#[test]
fn every_example_agent_lowers_with_the_checkers_numbers() {
    let dev = Device::flex();
    let mut agents = 0;
    for file in mx_files("examples") {
        let out = check::check_path(&file, &[]);
        assert!(
            !out.diagnostics.has_errors(),
            "{}: {}",
            file.display(),
            out.diagnostics.render(false)
        );
        for agent in &out.program.agents {
            agents += 1;
            let lowered =
                lower_agent(agent, &dev).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let mut seen = BTreeSet::new();
            let mut ir_total = 0;
            for (ni, net) in agent.networks.iter().enumerate() {
                ir_total +=
                    unique_params(&net.encoder, &mut seen) + unique_params(&net.torso, &mut seen);
                ir_total += net.heads.iter().map(|(_, h)| h.params).sum::<u64>();
                let (t, b) = (3, 2);
                // a network's input is the observation (plus the action for a continuous
                // sac critic, which is Q(s, a))
                let obs = Tensor::<3>::zeros([t, b, net.encoder.input], &dev);
                let start = Tensor::<2>::ones([t, b], &dev);
                let model = &lowered.model;
                let c0 = model.init_carry(ni, b, &dev);
                let ir_carry =
                    net.encoder.carry.floats_per_env() + net.torso.carry.floats_per_env();
                assert_eq!(
                    c0.floats_per_env() as u64,
                    ir_carry,
                    "{}: {} carry size",
                    agent.name,
                    net.name
                );
                let y = model.forward(ni, obs, &start, c0);
                assert_eq!(
                    y.features.dims(),
                    [t, b, net.torso.output],
                    "{}: {} features",
                    agent.name,
                    net.name
                );
                for ((role, h), out) in net.heads.iter().zip(&y.heads) {
                    let want = if h.kind == "twin_q" {
                        2 * h.outputs
                    } else {
                        h.outputs
                    };
                    assert_eq!(out.dims(), [t, b, want], "{}: head {role}", agent.name);
                }
                assert_eq!(
                    y.carry.floats_per_env() as u64,
                    ir_carry,
                    "{}: {} carry after",
                    agent.name,
                    net.name
                );
            }
            assert_eq!(
                lowered.model.num_params() as u64,
                ir_total,
                "{}: total parameters",
                agent.name
            );
        }
    }
    assert!(agents > 0, "no example agents found");
}

#[test]
fn architecture_lets_lower_with_the_checkers_numbers() {
    let dev = Device::flex();
    let mut checked = 0;
    for file in mx_files("architectures") {
        let out = check::check_path_with(&file, &[], 64);
        assert!(
            !out.diagnostics.has_errors(),
            "{}: {}",
            file.display(),
            out.diagnostics.render(false)
        );
        for (name, block) in &out.program.lets {
            let (layer, shared) = match lower_block(block, &dev) {
                Ok(l) => l,
                // blocks of the catalogue without a lowering yet are reported, not hidden
                Err(e) => {
                    eprintln!("{}: `{name}` not lowered: {e}", file.display());
                    continue;
                }
            };
            checked += 1;
            let n = layer.num_params() as u64
                + shared.iter().map(|l| l.num_params() as u64).sum::<u64>();
            assert_eq!(
                n,
                unique_params(block, &mut BTreeSet::new()),
                "{}: `{name}` parameters",
                file.display()
            );
            let ctx = Ctx::new(&shared);
            let c0 = layer.init_carry(2, &dev, &ctx);
            assert_eq!(
                c0.floats_per_env() as u64,
                block.carry.floats_per_env(),
                "{}: `{name}` carry",
                file.display()
            );
            let x = Tensor::<3>::zeros([3, 2, block.input], &dev);
            let (y, _) = layer.forward(x, &Tensor::ones([3, 2], &dev), c0, &ctx);
            assert_eq!(
                y.dims(),
                [3, 2, block.output],
                "{}: `{name}` output",
                file.display()
            );
        }
    }
    let _ = checked;
}
