"""CRL benchmarks as a script with sections; every number is measured side by side in one run.

Sections
  mlp   MLP forward+backward and one training epoch (MSE + Adam over 40,000 rows; separate
        calls, one fused mse_step per batch, one train_epoch call), batch 256,
        widths [10, 100, 100, 10], leaky-ReLU, float32, one thread: fastcrl (C++) vs the NumPy
        reference (fastcrl.reference.nn) vs PyTorch CPU (when importable).
  ivae  IVAE fit time and MCC per seed vs NonstationaryICA and the raw observations on the iVAE
        benchmark (40 segments x 1,000 rows, Gaussian sources with segment variances U(0.5, 3),
        invertible leaky-ReLU(0.2) MLP mixing).
  epoch  One IVAE training epoch (minibatches of ELBO gradient + Adam), the step-by-step loop driven
        from Python vs the whole epoch in one kernel call (the default), interleaved rounds, all
        cores.
  linear  LinearInterventionalCRL on linear-Gaussian latent SCMs with linear mixing and one hard
        single-node intervention per latent (unknown targets): MCC, latent SHD (up to the learned
        order) and fit time, from exact population covariances and from 50,000 samples/env.

Timing (mlp): the implementations take turns round by round (``--rounds``, default 7) and each
reports its best round, so that bursts of load on a shared machine hit all of them alike.

Run:  python benchmarks/bench_crl.py                       # all sections, defaults below
      python benchmarks/bench_crl.py mlp
      python benchmarks/bench_crl.py ivae --seeds 0 1 2 3 4 --layers 2 --latents 5
      python benchmarks/bench_crl.py ivae --ivae-args "posterior='diagonal', init='random'"
      python benchmarks/bench_crl.py epoch --rounds 5
      python benchmarks/bench_crl.py linear --linear-seeds 20
"""

from __future__ import annotations

import argparse
import os
import time

# One thread for the NumPy reference's BLAS too (must be set before NumPy loads OpenBLAS).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import fastcrl  # noqa: E402
import numpy as np  # noqa: E402
from fastcrl import nn  # noqa: E402
from fastcrl.reference import nn as ref  # noqa: E402

SIZES = [10, 100, 100, 10]
BATCH = 256
EPOCH_ROWS = 40_000
DTYPE = np.float32


def _best_interleaved(cases: dict, rounds: int) -> dict[str, float]:
    """Best mean seconds per call of each ``name: (fn, calls per round)``, the cases taking turns
    round by round, so that a burst of load on this shared machine hits all of them alike."""
    for fn, _ in cases.values():
        fn()
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, (fn, number) in cases.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / number)
    return best


def _torch(threads: int = 1):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def section_mlp(args) -> None:
    threads = args.mlp_threads
    fastcrl.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(EPOCH_ROWS, SIZES[0])).astype(DTYPE)
    Y = rng.normal(size=(EPOCH_ROWS, SIZES[-1])).astype(DTYPE)
    Xb, Yb = X[:BATCH].copy(), Y[:BATCH].copy()
    scale = DTYPE(2.0 / (BATCH * SIZES[-1]))
    torch = _torch(threads)
    rows = []

    # -- forward + backward on one batch --
    net = nn.MLP(SIZES, activation="leaky_relu", dtype=DTYPE, random_state=0)
    acts = net.activations

    def cpp_fb():
        out = net.forward(Xb)
        net.backward((out - Yb) * scale, need_grad_input=False)

    def ref_fb():
        out = ref.mlp_forward(net.params, Xb, SIZES, acts)
        ref.mlp_backward(net.params, Xb, SIZES, acts, (out - Yb) * scale)

    cases = {"fastcrl": (cpp_fb, 200), "reference": (ref_fb, 50)}
    if torch is not None:
        model = _torch_mlp(torch)
        Xt, Yt = torch.from_numpy(Xb), torch.from_numpy(Yb)

        def torch_fb():
            model.zero_grad(set_to_none=True)
            ((model(Xt) - Yt) ** 2).mean().backward()

        cases["torch"] = (torch_fb, 200)
    fb = _best_interleaved(cases, args.rounds)
    rows.append(("fwd+bwd, one batch", fb))

    # -- one epoch: shuffle, forward, MSE gradient, backward, Adam --
    def epoch_cpp():
        net = nn.MLP(SIZES, activation="leaky_relu", dtype=DTYPE, random_state=0)
        opt = nn.Adam(net.params, lr=1e-3)
        perm = np.random.default_rng(1).permutation(EPOCH_ROWS)
        for s in range(0, EPOCH_ROWS, BATCH):
            idx = perm[s : s + BATCH]
            xb, yb = X[idx], Y[idx]
            out = net.forward(xb)
            opt.step(net.backward((out - yb) * DTYPE(2.0 / out.size), need_grad_input=False)[0])

    def epoch_fused():
        net = nn.MLP(SIZES, activation="leaky_relu", dtype=DTYPE, random_state=0)
        opt = nn.Adam(net.params, lr=1e-3)
        perm = np.random.default_rng(1).permutation(EPOCH_ROWS)
        for s in range(0, EPOCH_ROWS, BATCH):
            net.mse_step(X, Y, opt, rows=perm[s : s + BATCH])

    def epoch_one_call():
        net = nn.MLP(SIZES, activation="leaky_relu", dtype=DTYPE, random_state=0)
        opt = nn.Adam(net.params, lr=1e-3)
        net.train_epoch(X, Y, opt, batch_size=BATCH, random_state=1)

    def epoch_ref():
        p = nn.MLP(SIZES, activation="leaky_relu", dtype=DTYPE, random_state=0).params.copy()
        m, v = np.zeros_like(p), np.zeros_like(p)
        perm = np.random.default_rng(1).permutation(EPOCH_ROWS)
        for t, s in enumerate(range(0, EPOCH_ROWS, BATCH), start=1):
            idx = perm[s : s + BATCH]
            xb, yb = X[idx], Y[idx]
            out = ref.mlp_forward(p, xb, SIZES, acts)
            g, _ = ref.mlp_backward(p, xb, SIZES, acts, (out - yb) * DTYPE(2.0 / out.size))
            p, m, v = ref.adam_update(p, g, m, v, t)

    cases = {
        "fastcrl": (epoch_cpp, 1), "fastcrl-fused": (epoch_fused, 1),
        "fastcrl-epoch": (epoch_one_call, 1), "reference": (epoch_ref, 1),
    }  # fmt: skip
    if torch is not None:
        Xt_all, Yt_all = torch.from_numpy(X), torch.from_numpy(Y)

        def epoch_torch():
            model = _torch_mlp(torch)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            perm = torch.from_numpy(np.random.default_rng(1).permutation(EPOCH_ROWS))
            for s in range(0, EPOCH_ROWS, BATCH):
                idx = perm[s : s + BATCH]
                opt.zero_grad(set_to_none=True)
                ((model(Xt_all[idx]) - Yt_all[idx]) ** 2).mean().backward()
                opt.step()

        cases["torch"] = (epoch_torch, 1)
    ep = _best_interleaved(cases, args.rounds)
    rows.append((f"train epoch ({EPOCH_ROWS} rows), separate calls", ep))
    rows.append((f"train epoch ({EPOCH_ROWS} rows), fused mse_step", {**ep, "fastcrl": ep["fastcrl-fused"]}))
    one_call = {**ep, "fastcrl": ep["fastcrl-epoch"]}
    rows.append((f"train epoch ({EPOCH_ROWS} rows), one train_epoch call", one_call))

    print(f"\n## mlp: widths {SIZES}, batch {BATCH}, float32, {threads} thread(s) each")
    print(
        "| case | fastcrl | reference (NumPy) | torch CPU | reference / fastcrl | torch / fastcrl |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        t = r.get("torch")
        print(
            f"| {name} | {r['fastcrl'] * 1e3:.3f} ms | {r['reference'] * 1e3:.3f} ms | "
            + (f"{t * 1e3:.3f} ms" if t else "n/a")
            + f" | {r['reference'] / r['fastcrl']:.2f}x | "
            + (f"{t / r['fastcrl']:.2f}x" if t else "n/a")
            + " |"
        )


def _torch_mlp(torch):
    torch.manual_seed(0)
    layers = []
    for i, (fi, fo) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        layers.append(torch.nn.Linear(fi, fo))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.LeakyReLU(0.01))
    return torch.nn.Sequential(*layers)


def section_ivae(args) -> None:
    from fastcrl.crl import IVAE, NonstationaryICA
    from fastcrl.datasets import make_nonstationary_sources
    from fastcrl.metrics import mcc

    # the OMP_NUM_THREADS=1 set above for the mlp section would otherwise pin IVAE to one core
    fastcrl.set_num_threads(args.threads or os.cpu_count() or 1)
    extra = eval(f"dict({args.ivae_args})") if args.ivae_args else {}  # noqa: S307 - CLI convenience
    print(
        f"\n## ivae: d={args.latents}, {args.layers}-layer leaky-ReLU(0.2) mixing, "
        f"{args.segments} segments x {args.per_segment}, threads={fastcrl.get_num_threads()}, "
        f"IVAE({', '.join(f'{k}={v!r}' for k, v in extra.items())})"
    )
    print(f"load before: {os.getloadavg()}")
    print("| seed | MCC raw x | MCC ICA | MCC IVAE | IVAE - ICA | fit s | epochs (best) |")
    print("|---|---|---|---|---|---|---|")
    res = []
    for seed in args.seeds:
        data = make_nonstationary_sources(
            args.segments, args.per_segment, args.latents, n_layers=args.layers, random_state=seed
        )
        raw = mcc(data.Z, data.X) if data.X.shape[1] == data.Z.shape[1] else float("nan")
        ica = mcc(data.Z, NonstationaryICA().fit(data.X, data.env).transform(data.X))
        t0 = time.perf_counter()
        model = IVAE(random_state=seed, **extra).fit(data.X, data.env)
        elapsed = time.perf_counter() - t0
        m = mcc(data.Z, model.transform(data.X, data.env))
        res.append((raw, ica, m, elapsed))
        print(
            f"| {seed} | {raw:.3f} | {ica:.3f} | {m:.3f} | {m - ica:+.3f} | {elapsed:.1f} | "
            f"{model.n_iter_} ({model.best_epoch_}) |",
            flush=True,
        )
    a = np.array(res)
    med = np.median(a, axis=0)
    print(
        f"| median | {med[0]:.3f} | {med[1]:.3f} | {med[2]:.3f} | {med[2] - med[1]:+.3f} | "
        f"{med[3]:.1f} | |"
    )
    print(f"| min | {a[:, 0].min():.3f} | {a[:, 1].min():.3f} | {a[:, 2].min():.3f} | | "
          f"{a[:, 3].max():.1f} (max) | |")  # fmt: skip
    print(f"load after: {os.getloadavg()}")


def _linear_run(d: int, D: int, seed: int, population: bool) -> tuple[float, int, float]:
    """(MCC, latent SHD up to the learned order, fit seconds) of one fit."""
    from fastcrl.crl import LinearInterventionalCRL
    from fastcrl.datasets import make_linear_interventional
    from fastcrl.metrics import mcc, shd_up_to_permutation

    data = make_linear_interventional(d, D, 50_000, population=population, random_state=seed)
    t0 = time.perf_counter()
    if population:
        est = LinearInterventionalCRL().fit(covariances=data.covariances)
    else:
        est = LinearInterventionalCRL().fit(data.X, data.env)
    elapsed = time.perf_counter() - t0
    if population:
        # no samples to correlate: how close encoder . mixing is to a scaled permutation
        P = np.abs(est.encoder_ @ data.mixing.matrix)
        score = float((P.max(axis=0) / np.linalg.norm(P, axis=0)).mean())
        matching = P.argmax(axis=0)
    else:
        # correlation on fresh observational samples from the same latent SCM
        rng = np.random.default_rng(seed + 1000)
        E = rng.standard_normal((20_000, d)) * data.source_scales[0]
        Z = E @ np.linalg.inv(np.eye(d) - data.latent_weights)
        score, matching = mcc(Z, est.transform(Z @ data.mixing.matrix.T), return_matching=True)
    truth = (data.latent_weights != 0).astype(int)
    return score, shd_up_to_permutation(truth, est.latent_adjacency_, matching=matching), elapsed


def section_linear(args) -> None:
    fastcrl.set_num_threads(1)
    print(f"\n## linear: LinearInterventionalCRL, {args.linear_seeds} seeds per row, one thread")
    print(f"load before: {os.getloadavg()}")
    print("| d latents | D observed | statistics | MCC min | MCC median | SHD = 0 | median SHD | "
          "fit time median (max) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for d, D in ((5, 10), (10, 20)):
        for population in (True, False):
            runs = np.array([_linear_run(d, D, s, population) for s in range(args.linear_seeds)])
            label = "exact" if population else "50k samples/env"
            print(
                f"| {d} | {D} | {label} | {runs[:, 0].min():.6f} | {np.median(runs[:, 0]):.6f} | "
                f"{int((runs[:, 1] == 0).sum())}/{len(runs)} | {np.median(runs[:, 1]):g} | "
                f"{np.median(runs[:, 2]):.3f} s ({runs[:, 2].max():.3f} s) |",
                flush=True,
            )
    print(f"load after: {os.getloadavg()}")


def section_epoch(args) -> None:
    from fastcrl.crl import IVAE
    from fastcrl.datasets import make_nonstationary_sources

    fastcrl.set_num_threads(args.threads or os.cpu_count() or 1)
    print(f"\n## IVAE epoch, step loop vs fused epoch: threads={fastcrl.get_num_threads()}, "
          "float32, hidden (100, 100), full posterior; "
          f"best of {args.rounds} interleaved rounds")  # fmt: skip
    print(f"load before: {os.getloadavg()}")
    print("| setting | batch | steps s/epoch | fused s/epoch | steps / fused |")
    print("|---|---|---|---|---|")
    settings = ((40, 1000, 5, 256), (40, 1000, 5, 2048), (100, 1000, 10, 256), (1000, 100, 5, 256))
    for K, m, d, bs in settings:
        data = make_nonstationary_sources(K, m, d, random_state=0)
        model = IVAE(d, max_epochs=1, pretrain_epochs=0, batch_size=bs, early_stopping=False)
        model.fit(data.X, data.env)

        def epoch(fused: bool, model=model, data=data) -> None:
            IVAE._fused_cpu_epochs = fused
            model.partial_fit(data.X, data.env, epochs=1)

        best = _best_interleaved(
            {"steps": (lambda e=epoch: e(False), 1), "fused": (lambda e=epoch: e(True), 1)},
            args.rounds,
        )
        IVAE._fused_cpu_epochs = True
        print(f"| d={d}, {K} x {m:,} | {bs} | {best['steps']:.3f} | {best['fused']:.3f} | "
              f"{best['steps'] / best['fused']:.2f}x |", flush=True)  # fmt: skip
    print(f"load after: {os.getloadavg()}")


SECTIONS = {
    "mlp": section_mlp, "ivae": section_ivae, "epoch": section_epoch, "linear": section_linear,
}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("sections", nargs="*", choices=[*SECTIONS, []], default=list(SECTIONS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (mlp section)")
    ap.add_argument(
        "--mlp-threads", type=int, default=1, help="threads of fastcrl and PyTorch (mlp section)"
    )
    ap.add_argument("--latents", type=int, default=5)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--segments", type=int, default=40)
    ap.add_argument("--per-segment", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=0, help="IVAE threads (default: all cores)")
    ap.add_argument("--ivae-args", default="", help="extra IVAE keyword arguments, Python syntax")
    ap.add_argument("--linear-seeds", type=int, default=20, help="seeds per row (linear section)")
    args = ap.parse_args()
    for name in args.sections or list(SECTIONS):
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
