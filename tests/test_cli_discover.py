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
