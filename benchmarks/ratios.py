"""Print a table of per-group timing ratios from a pytest-benchmark JSON file.

Each benchmark's name ends in ``[<impl>-...]`` or its parametrisation holds ``impl``; within a group the
first implementation listed in --baseline (default: reference) is the denominator.

    python benchmarks/ratios.py results.json [--baseline reference] [--stat median] [--units]

--units prints impl / baseline instead (e.g. a kernel's time in dgemm-times with --baseline dgemm).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json_file")
    ap.add_argument("--baseline", default="reference")
    ap.add_argument("--stat", default="median", choices=["min", "median", "mean"])
    ap.add_argument("--units", action="store_true", help="print impl / baseline (times in baseline units)")
    args = ap.parse_args()
    with open(args.json_file) as f:
        data = json.load(f)
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for b in data["benchmarks"]:
        impl = (b.get("params") or {}).get("impl") or b["name"]
        groups[b["group"] or b["name"]][impl] = b["stats"][args.stat]
    print(f"machine: {data['machine_info'].get('cpu', {}).get('brand_raw', '?')}, "
          f"{data['machine_info'].get('cpu', {}).get('count', '?')} cores; {data['datetime']}")
    ratio_name = f"impl / {args.baseline}" if args.units else f"{args.baseline} / impl"
    print(f"| group | impl | {args.stat} time | {ratio_name} |")
    print("|---|---|---|---|")
    for group, impls in groups.items():
        base = impls.get(args.baseline)
        for impl, t in impls.items():
            if not base:
                ratio = "-"
            else:
                ratio = f"{t / base:.2f}" if args.units else f"{base / t:.1f}x"
            print(f"| {group} | {impl} | {_fmt(t)} | {ratio} |")


def _fmt(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


if __name__ == "__main__":
    main()
