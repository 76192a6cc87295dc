#!/usr/bin/env python3
"""Per-model table of the memory catalogue (issue 6): parameter count, CPU training throughput
and final return on POPGym RepeatPreviousEasy at a fixed budget, one seed.

Every model is the torso of the same PPO agent (examples/ppo_gru_repeat_previous.mx: 16 envs x
128 steps, mlp(64) encoder, separate actor and critic), swapped in with `--set torso=...`.

Usage (from the repository root, after `cargo build --release`):
    python3 benches/memory_models.py [--steps 200000] [--bin target/release/memoraxc]
Prints a Markdown table; raw results go to runs/memory_models/results.json.
"""
import argparse
import json
import os
import re
import subprocess
import sys

MODELS = [
    ("gru", "gru(64)"),
    ("lstm", "lstm(64)"),
    ("mingru", "mingru(64)"),
    ("lru", "residual(prenorm(lru(state = 64)))"),
    ("rtrl(lru)", "residual(prenorm(rtrl(lru(state = 32))))"),
    ("s5", "residual(prenorm(s5(state = 64)))"),
    ("rtu", "rtu(32)"),
    ("ffm", "ffm(memory = 32, context = 4)"),
    ("shm", "shm(64)"),
    ("mamba", "residual(prenorm(mamba()))"),
    ("slstm", "residual(prenorm(slstm(64)))"),
    ("mlstm", "residual(prenorm(mlstm(64)))"),
    ("linear_attention", "residual(prenorm(linear_attention(heads = 4, head_dim = 16)))"),
    ("gtrxl layer", "gated_residual(prenorm(segment_recurrence(attention(heads = 4, ctx = 64, pos = alibi), memory = 32)))"),
    ("moe(gru)", "moe(gru(64), experts = 4, top_k = 2)"),
    ("none (mlp)", "mlp(64)"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--bin", default="target/release/memoraxc")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--out", default="runs/memory_models")
    a = ap.parse_args()
    agent = "examples/ppo_gru_repeat_previous.mx"
    os.makedirs(a.out, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    rows = []
    for name, torso in MODELS:
        if only and name not in only:
            continue
        sets = ["--set", f"torso={torso}", "--set", f"train.steps={a.steps}",
                "--set", f"train.eval_every={a.steps}"]
        summ = subprocess.run([a.bin, "summary", agent] + sets, capture_output=True, text=True)
        m = re.search(r"total parameters: ([\d_]+)", summ.stdout)
        if summ.returncode != 0 or not m:
            print(f"{name}: summary failed:\n{summ.stdout}{summ.stderr}", file=sys.stderr)
            rows.append({"model": name, "torso": torso, "error": "check failed"})
            continue
        params = int(m.group(1).replace("_", ""))
        run = subprocess.run([a.bin, "train", agent, "--format", "json", "-q", "--out", a.out] + sets,
                             capture_output=True, text=True)
        res = None
        for line in reversed(run.stdout.splitlines()):
            try:
                res = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
        if run.returncode != 0 or res is None:
            print(f"{name}: training failed:\n{run.stderr[-2000:]}", file=sys.stderr)
            rows.append({"model": name, "torso": torso, "params": params, "error": "train failed"})
            continue
        row = {"model": name, "torso": torso, "params": params, "sps": res.get("sps"),
               "final_return": (res.get("final_eval") or {}).get("return_mean")}
        print(f"{name}: {row}", file=sys.stderr, flush=True)
        rows.append(row)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(f"| model | torso | params (actor + critic) | SPS | RepeatPreviousEasy return @ {a.steps} |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | `{r['torso']}` | {r.get('params', '')} | {r['error']} | |")
        else:
            print(f"| {r['model']} | `{r['torso']}` | {r['params']:,} | {r['sps']:.0f} | {r['final_return']:.3f} |")


if __name__ == "__main__":
    main()
