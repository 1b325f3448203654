"""Memory and time estimates of GES and hill climbing against what a fit measures.

Each case runs in a fresh subprocess: it simulates ER-1 linear-Gaussian data (n = 1000), resets the
peak-RSS counter (Linux ``/proc/self/clear_refs``), fits, and reports the measured peak RSS above
the level before the fit and the wall time; then it asks the estimator for its estimate
(``estimate(X)``: memory, and time from a calibration with single-parent local scores on the same
data).

    python benchmarks/bench_estimates.py                      # the RESULTS.md table
    python benchmarks/bench_estimates.py --cases ges:1000 hc:300:2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import gc, json, sys, time
import fastcrl
from fastcrl.simulate import simulate_dag, simulate_linear_sem, simulate_weights

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

method, d, restarts, pd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
A = simulate_dag(d, d, random_state=0)
X = simulate_linear_sem(simulate_weights(A, random_state=0), 1000, random_state=0)
del A
gc.collect()
params = {"penalty_discount": pd}
if method == "ges":
    est = fastcrl.GES(score_params=params, restarts=restarts)
else:
    est = fastcrl.HillClimb(score_params=params, restarts=restarts, random_state=0)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
start = time.perf_counter()
est.fit(X)
seconds = time.perf_counter() - start
measured = status("VmHWM") - before
estimate = est.estimate(X)  # after the fit, so that its own allocations do not hide the fit's
print(json.dumps({
    "memory_estimate": estimate["memory_bytes"], "memory_measured": measured,
    "time_estimate": estimate["seconds"], "time_measured": seconds,
    "cache": est.score_object_.cache_info()["size"],
}))
"""


def run(method: str, d: int, restarts: int, penalty: float) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(d), str(restarts), str(penalty)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["ges:1000", "ges:2000", "ges:5000", "hc:300:0", "hc:1000:0", "hc:300:3"],
        help="method:d[:restarts] (restarts default 0)",
    )
    parser.add_argument("--penalty-discount", type=float, default=4.0)
    args = parser.parse_args()
    print(
        f"ER-1, n=1000, penalty_discount={args.penalty_discount:g}; memory: peak RSS above the "
        "level before fit"
    )
    print(
        "| method | d | restarts | memory est. | measured | est./measured | time est. | measured "
        "| est./measured | cached scores |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in args.cases:
        parts = case.split(":")
        method, d = parts[0], int(parts[1])
        restarts = int(parts[2]) if len(parts) > 2 else 0
        r = run(method, d, restarts, args.penalty_discount)
        name = "GES" if method == "ges" else "HillClimb"
        print(
            f"| {name} | {d} | {restarts} | {r['memory_estimate'] / 1e6:.0f} MB | "
            f"{r['memory_measured'] / 1e6:.0f} MB | "
            f"{r['memory_estimate'] / r['memory_measured']:.2f} | "
            f"{r['time_estimate']:.2f} s | {r['time_measured']:.2f} s | "
            f"{r['time_estimate'] / r['time_measured']:.2f} | {r['cache']:,} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
