"""`fastcrl discover data.csv --method ... --out graph.json`."""

import json

import numpy as np
import pytest

from fastcrl import cli
from fastcrl.metrics import count_accuracy


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("discover") / "data.csv"
    assert cli.main(["simulate", "-d", "6", "-n", "500", "--seed", "2", "--out", str(path)]) == 0
    truth = json.loads(path.with_suffix(".graph.json").read_text())
    return path, truth


def _adjacency(graph, nodes):
    index = {n: i for i, n in enumerate(nodes)}
    A = np.zeros((len(nodes), len(nodes)), int)
    for src, dst, *_ in graph["edges"]:
        A[index[src], index[dst]] = 1
    return A


@pytest.mark.parametrize("method", ["notears", "dagma", "sortnregress"])
def test_discover_writes_graph_json(dataset, tmp_path, capsys, method):
    data, truth = dataset
    out = tmp_path / "graph.json"
    assert cli.main(["discover", str(data), "--method", method, "--out", str(out)]) == 0
    graph = json.loads(out.read_text())
    assert graph["nodes"] == truth["nodes"]
    A = _adjacency(graph, graph["nodes"])
    assert count_accuracy(_adjacency(truth, truth["nodes"]), A)["shd"] <= 4
    assert method in capsys.readouterr().out


def test_discover_knowledge_and_lambda(dataset, tmp_path):
    data, truth = dataset
    src, dst = truth["edges"][0][:2]
    kfile = tmp_path / "k.json"
    kfile.write_text(json.dumps({"nodes": truth["nodes"], "forbidden": [[src, dst]]}))
    out = tmp_path / "g.json"
    assert (
        cli.main(
            [
                "discover",
                str(data),
                "--method",
                "dagma",
                "--lambda1",
                "0.05",
                "--knowledge",
                str(kfile),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    edges = {(e[0], e[1]) for e in json.loads(out.read_text())["edges"]}
    assert (src, dst) not in edges


def test_discover_errors(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\nx,3\n")
    assert cli.main(["discover", str(bad), "--out", str(tmp_path / "g.json")]) == 2
    assert "error" in capsys.readouterr().err
    ok = tmp_path / "ok.csv"
    ok.write_text("a,b\n1,2\n2,5\n3,5\n")
    assert cli.main(["discover", str(ok), "--method", "sortnregress", "--lambda1", "0.1"]) == 2
    assert cli.main(["discover", str(tmp_path / "missing.csv")]) == 2
    assert cli.main(["discover", str(ok), "--method", "sortnregress", "--device", "cuda"]) == 2
    assert "--device cuda applies to" in capsys.readouterr().err


def test_discover_device_cuda_without_a_gpu_says_why(dataset, tmp_path, capsys):
    from fastcrl import _backend

    if _backend._cuda is not None:
        pytest.skip("this build has the CUDA extension (the GPU tests cover --device cuda)")
    data, _ = dataset
    out = tmp_path / "g.json"
    argv = ["discover", str(data), "--method", "ges", "--device", "cuda", "-o", str(out)]
    assert cli.main(argv) == 2
    assert "CUDA" in capsys.readouterr().err and not out.exists()


# ---------------------------------------------------------------- score-based searches


@pytest.fixture(scope="module")
def discrete_csv(tmp_path_factory):
    from fastcrl.simulate import simulate_dag, simulate_discrete_bn

    B = simulate_dag(6, 6, random_state=0)
    X, _ = simulate_discrete_bn(B, 3000, cardinalities=3, random_state=0)
    path = tmp_path_factory.mktemp("discrete") / "disc.csv"
    header = ",".join(f"V{i}" for i in range(6))
    np.savetxt(path, X, delimiter=",", header=header, comments="", fmt="%d")
    return path, B


def _cpdag_of(A):
    from fastcrl.graph import dag_to_cpdag

    return dag_to_cpdag(A)


def _graph_matrix(graph):
    """Adjacency of a graph JSON; undirected edges set both entries."""
    nodes = graph["nodes"]
    index = {n: i for i, n in enumerate(nodes)}
    A = np.zeros((len(nodes), len(nodes)), int)
    for src, dst, mark in graph["edges"]:
        A[index[src], index[dst]] = 1
        if mark != "->":
            A[index[dst], index[src]] = 1
    return A


@pytest.mark.parametrize("method", ["ges", "hc", "exact"])
def test_discover_score_based(dataset, tmp_path, capsys, method):
    import fastcrl

    data, truth = dataset
    out = tmp_path / f"{method}.json"
    assert cli.main(["discover", str(data), "--method", method, "--out", str(out)]) == 0
    graph = json.loads(out.read_text())
    assert graph["kind"] == ("dag" if method == "hc" else "cpdag")
    assert graph["nodes"] == truth["nodes"]
    assert method in capsys.readouterr().out
    # the same graph as the Python API on the same data, and at least the true DAG's BIC
    X = np.loadtxt(data, delimiter=",", skiprows=1)
    est = {"ges": fastcrl.GES(), "hc": fastcrl.HillClimb(random_state=0), "exact": fastcrl.ExactSearch()}
    fitted = est[method].fit(X)
    np.testing.assert_array_equal(_graph_matrix(graph), fitted.graph_.to_adjacency() != 0)
    score = fastcrl.scores.GaussianBIC(X)
    assert fitted.score_ >= score.score(_adjacency(truth, truth["nodes"])) - 1e-9


@pytest.mark.parametrize("method", ["ges", "hc", "exact"])
def test_discover_discrete_detected_and_declared(discrete_csv, tmp_path, method):
    from fastcrl.metrics import shd

    data, B = discrete_csv
    graphs = []
    for extra in ([], ["--discrete"], ["--score", "bdeu"]):
        out = tmp_path / f"{method}{len(extra)}.json"
        assert cli.main(["discover", str(data), "--method", method, "--out", str(out), *extra]) == 0
        graphs.append(_graph_matrix(json.loads(out.read_text())))
    # detection picks BDeu, the same as declaring it
    np.testing.assert_array_equal(graphs[0], graphs[1])
    np.testing.assert_array_equal(graphs[0], graphs[2])
    assert shd(_cpdag_of(B), _cpdag_of(graphs[0]) if method == "hc" else graphs[0]) <= 4


def test_discover_score_option_errors(dataset, discrete_csv, tmp_path, capsys):
    data, _ = dataset
    out = str(tmp_path / "g.json")
    assert cli.main(["discover", str(data), "--method", "dagma", "--score", "bic", "--out", out]) == 2
    assert "score-based" in capsys.readouterr().err
    assert cli.main(["discover", str(data), "--method", "hc", "--lambda1", "0.1", "--out", out]) == 2
    assert "lambda1" in capsys.readouterr().err
    # continuous data declared discrete
    assert cli.main(["discover", str(data), "--method", "hc", "--discrete", "--out", out]) == 2
    assert "category codes" in capsys.readouterr().err
    # a cap on the parents is honoured
    ddata, _ = discrete_csv
    assert (
        cli.main(["discover", str(ddata), "--method", "exact", "--max-parents", "1", "--out", out])
        == 0
    )
    A = _graph_matrix(json.loads((tmp_path / "g.json").read_text()))
    assert (np.triu(A | A.T).sum(axis=0) <= 6).all()
