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
    est = {
        "ges": fastcrl.GES(),
        "hc": fastcrl.HillClimb(random_state=0),
        "exact": fastcrl.ExactSearch(),
    }
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
    assert (
        cli.main(["discover", str(data), "--method", "dagma", "--score", "bic", "--out", out]) == 2
    )
    assert "score-based" in capsys.readouterr().err
    assert (
        cli.main(["discover", str(data), "--method", "hc", "--lambda1", "0.1", "--out", out]) == 2
    )
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


# ---------------------------------------------------------------- bad input: one line, exit 2


def _write_csv(path, X, names=None):
    names = names or [f"X{i}" for i in range(X.shape[1])]
    np.savetxt(path, X, delimiter=",", header=",".join(names), comments="", fmt="%.10g")
    return str(path)


def test_discover_numerical_error_is_a_one_line_error(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    X = np.c_[X, X @ [1.0, 2.0, -1.0]]  # the last column is a linear function of the others
    data = _write_csv(tmp_path / "collinear.csv", X)
    out = tmp_path / "g.json"
    assert cli.main(["discover", data, "--method", "exact", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastcrl discover: error: ") and "is zero" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_discover_memory_limit_option(tmp_path, capsys):
    rng = np.random.default_rng(0)
    wide = _write_csv(tmp_path / "wide.csv", rng.standard_normal((40, 30)))
    out = str(tmp_path / "g.json")
    # exact search on 30 variables needs ~137 GB: a MemoryError, reported with the option to use
    assert cli.main(["discover", wide, "--method", "exact", "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastcrl discover: error: exact search on 30 nodes needs about")
    assert "--memory-limit" in err
    # the option reaches the estimators
    small = _write_csv(tmp_path / "small.csv", rng.standard_normal((50, 3)))
    for method in ("ges", "hc", "exact"):
        argv = ["discover", small, "--method", method, "--memory-limit", "10B", "-o", out]
        assert cli.main(argv) == 2
        assert "memory_limit is 10 B (10 bytes)" in capsys.readouterr().err
        for limit in ("16GB", "none"):
            argv = ["discover", small, "--method", method, "--memory-limit", limit, "-o", out]
            assert cli.main(argv) == 0
    # a bad amount is an argument error; the option does not apply to the other methods
    with pytest.raises(SystemExit) as info:
        cli.main(["discover", small, "--method", "ges", "--memory-limit", "lots", "-o", out])
    assert info.value.code == 2
    assert "--memory-limit" in capsys.readouterr().err
    assert cli.main(["discover", small, "--method", "dagma", "--memory-limit", "1GB"]) == 2
    assert "--memory-limit applies to the score-based methods" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["discover", "--help"])
    assert "--memory-limit SIZE" in capsys.readouterr().out


def test_discover_csv_problems_are_named(tmp_path, capsys):
    out = str(tmp_path / "g.json")
    header_only = tmp_path / "header_only.csv"
    header_only.write_text("a,b,c\n")
    comments_only = tmp_path / "comments_only.csv"
    comments_only.write_text("a,b,c\n# nothing here\n")
    for path in (header_only, comments_only):
        assert cli.main(["discover", str(path), "-o", out]) == 2  # no loadtxt UserWarning
        assert f"{path}: no data rows after the header row" in capsys.readouterr().err
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("é,b\n1,2\n3,4\n".encode("latin-1"))
    assert cli.main(["discover", str(latin1), "-o", out]) == 2
    assert f"{latin1}: not UTF-8 text" in capsys.readouterr().err
    missing = tmp_path / "missing.csv"
    assert cli.main(["discover", str(missing), "-o", out]) == 2
    assert f"{missing}: No such file or directory" in capsys.readouterr().err
    assert cli.main(["discover", str(tmp_path), "-o", out]) == 2
    assert f"{tmp_path}: Is a directory" in capsys.readouterr().err
    for text, message in [
        (
            "0.5,1.5,2\n1,2,3\n",
            "is numbers, not column names; add a header row or pass --no-header",
        ),
        ("1,0,1\n1,2,3\n", "is numbers, not column names; add a header row or pass --no-header"),
        ("a,,c\n1,2,3\n", "header columns [1] have no name"),
        ("a,b,a\n1,2,3\n", "duplicate column names in the header: ['a']"),
    ]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        assert cli.main(["discover", str(bad), "-o", out]) == 2
        assert message in capsys.readouterr().err
    rows = "0.5,1.5\n1,2.5\n2,5\n3,5\n4,1\n"
    no_header = tmp_path / "no_header.csv"
    no_header.write_text(rows)
    assert (
        cli.main(["discover", str(no_header), "--no-header", "--method", "sortnregress", "-o", out])
        == 0
    )
    assert json.loads((tmp_path / "g.json").read_text())["nodes"] == ["X0", "X1"]
    years = tmp_path / "years.csv"
    years.write_text("2019,2020\n" + rows)  # distinct integer names stay names
    assert cli.main(["discover", str(years), "--method", "sortnregress", "-o", out]) == 0
    assert json.loads((tmp_path / "g.json").read_text())["nodes"] == ["2019", "2020"]
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('"x, left",b\n' + rows)  # a quoted name may hold the delimiter
    assert cli.main(["discover", str(quoted), "--method", "sortnregress", "-o", out]) == 0
    assert json.loads((tmp_path / "g.json").read_text())["nodes"] == ["x, left", "b"]
    ok = tmp_path / "ok.csv"
    ok.write_text("\ufeffa,b\n1,2\n2,5\n3,5\n4,1\n")  # a byte-order mark is not part of a name
    assert cli.main(["discover", str(ok), "--method", "sortnregress", "-o", out]) == 0
    assert json.loads((tmp_path / "g.json").read_text())["nodes"] == ["a", "b"]


def test_discover_checks_out_and_options_before_fitting(tmp_path, capsys):
    ok = tmp_path / "ok.csv"
    ok.write_text("a,b\n1,2\n2,5\n3,5\n4,1\n")
    nowhere = tmp_path / "no" / "such" / "g.json"
    assert cli.main(["discover", str(ok), "-o", str(nowhere)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["discover", str(ok), "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    out = str(tmp_path / "g.json")
    # options that a method would silently ignore
    argv = ["discover", str(ok), "--method", "sortnregress", "--w-threshold", "0.1", "-o", out]
    assert cli.main(argv) == 2
    assert "--w-threshold apply to notears and dagma" in capsys.readouterr().err
    argv = ["discover", str(ok), "--method", "dagma", "--penalty-discount", "2", "-o", out]
    assert cli.main(argv) == 2
    assert "--penalty-discount applies to the score-based" in capsys.readouterr().err
    argv = ["discover", str(ok), "--method", "ges", "--discrete", "--score", "bic", "-o", out]
    assert cli.main(argv) == 2
    assert "--discrete needs a discrete score" in capsys.readouterr().err
    kfile = tmp_path / "k.json"
    kfile.write_text("{bad")
    assert cli.main(["discover", str(ok), "--knowledge", str(kfile), "-o", out]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert cli.main(["discover", str(ok), "--knowledge", str(tmp_path / "no.json"), "-o", out]) == 2
    assert "no.json: No such file or directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["discover", str(ok), "--method", "unknown"])


def test_discover_out_of_memory_message():
    assert cli._error_message(MemoryError("std::bad_alloc")) == "out of memory (std::bad_alloc)"
    assert cli._error_message(MemoryError()) == "out of memory"


def test_discover_bootstrap_writes_edge_frequencies(dataset, tmp_path, capsys):
    import csv

    data, truth = dataset
    out = tmp_path / "graph.json"
    args = ["discover", str(data), "--method", "ges", "--out", str(out), "--bootstrap", "8"]
    assert cli.main([*args, "--seed", "1"]) == 0
    rows = list(csv.DictReader((tmp_path / "graph.bootstrap.csv").read_text().splitlines()))
    assert rows and set(rows[0]) == {"source", "target", "kind", "frequency"}
    freqs = [float(r["frequency"]) for r in rows]
    assert all(0 < f <= 1 for f in freqs) and freqs == sorted(freqs, reverse=True)
    assert {r["source"] for r in rows} <= set(truth["nodes"])
    assert "bootstrap: 8 refits" in capsys.readouterr().out
    first = (tmp_path / "graph.bootstrap.csv").read_text()
    assert cli.main([*args, "--seed", "1"]) == 0  # the same seed: the same file
    assert (tmp_path / "graph.bootstrap.csv").read_text() == first
    assert cli.main([*args[:-1], "0"]) == 2
    assert "--bootstrap must be >= 1" in capsys.readouterr().err
