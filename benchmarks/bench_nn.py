"""MLP training step: C++ kernels vs the NumPy reference (and PyTorch CPU when importable).

One step = forward + MSE gradient + backward (+ Adam), batch 256, widths [10, 100, 100, 10],
leaky-ReLU, float32 (PyTorch's default dtype).  Data and models are built outside the timed region.

Run:  python -m pytest benchmarks/bench_nn.py --benchmark-json=nn.json
      python benchmarks/ratios.py nn.json
"""

import numpy as np
import pytest

from fastcrl import nn
from fastcrl.reference import nn as ref

SIZES = [10, 100, 100, 10]
BATCH = 256
DTYPE = np.float32


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(0)
    return r.normal(size=(BATCH, SIZES[0])).astype(DTYPE), r.normal(size=(BATCH, SIZES[-1])).astype(DTYPE)


def cpp_step(net, opt, X, Y):
    out = net.forward(X)
    grad_out = (out - Y) * DTYPE(2.0 / out.size)
    opt.step(net.backward(grad_out, need_grad_input=False)[0])


@pytest.mark.parametrize("impl", ["reference", "cpp"])
def test_forward_backward(benchmark, data, impl):
    benchmark.group = f"mlp fwd+bwd batch={BATCH} widths={SIZES}"
    X, Y = data
    net = nn.MLP(SIZES, activation="leaky_relu", dtype=DTYPE, random_state=0)
    acts = net.activations
    if impl == "reference":

        def step():
            out = ref.mlp_forward(net.params, X, SIZES, acts)
            return ref.mlp_backward(net.params, X, SIZES, acts, (out - Y) * DTYPE(2.0 / out.size))

    else:

        def step():
            out = net.forward(X)
            return net.backward((out - Y) * DTYPE(2.0 / out.size))

    benchmark.pedantic(step, rounds=200, iterations=5, warmup_rounds=10)


@pytest.mark.parametrize("impl", ["reference", "cpp", "torch"])
def test_train_step(benchmark, data, impl):
    benchmark.group = f"mlp train step (fwd+bwd+Adam) batch={BATCH} widths={SIZES}"
    X, Y = data
    if impl == "torch":
        torch = pytest.importorskip("torch")
        layers = []
        for i, (fi, fo) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
            layers.append(torch.nn.Linear(fi, fo))
            if i < len(SIZES) - 2:
                layers.append(torch.nn.LeakyReLU(0.01))
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)

        def step():
            opt.zero_grad()
            loss = ((model(Xt) - Yt) ** 2).mean()
            loss.backward()
            opt.step()

    elif impl == "cpp":
        net = nn.MLP(SIZES, activation="leaky_relu", dtype=DTYPE, random_state=0)
        opt = nn.Adam(net.params, lr=1e-3)

        def step():
            cpp_step(net, opt, X, Y)

    else:
        net = nn.MLP(SIZES, activation="leaky_relu", dtype=DTYPE, random_state=0)
        params, m, v = net.params.copy(), np.zeros_like(net.params), np.zeros_like(net.params)
        state = {"t": 0, "p": params, "m": m, "v": v}
        acts = net.activations

        def step():
            out = ref.mlp_forward(state["p"], X, SIZES, acts)
            g, _ = ref.mlp_backward(state["p"], X, SIZES, acts, (out - Y) * DTYPE(2.0 / out.size))
            state["t"] += 1
            state["p"], state["m"], state["v"] = ref.adam_update(
                state["p"], g, state["m"], state["v"], state["t"]
            )

    benchmark.pedantic(step, rounds=200, iterations=5, warmup_rounds=10)
