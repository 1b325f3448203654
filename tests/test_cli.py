import json
import subprocess
import sys

import numpy as np
import pytest
from fastcrl import cli
from fastcrl.metrics import count_accuracy


def test_info_json(capsys):
    assert cli.main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "blas" in info and "cuda" in info


def test_simulate_writes_csv_and_true_graph(tmp_path, capsys):
    out = tmp_path / "data.csv"
    assert cli.main(["simulate", "-d", "6", "-n", "300", "--seed", "3", "--out", str(out)]) == 0
    X = np.loadtxt(out, delimiter=",", skiprows=1)
    assert X.shape == (300, 6)
    assert out.read_text().splitlines()[0] == "X0,X1,X2,X3,X4,X5"
    truth = json.loads((tmp_path / "data.graph.json").read_text())
    assert truth["nodes"] == [f"X{i}" for i in range(6)]
    assert len(truth["edges"]) == 12  # ER-2: 2 * d edges
    # Same seed, same data.
    out2 = tmp_path / "again.csv"
    cli.main(["simulate", "-d", "6", "-n", "300", "--seed", "3", "--out", str(out2)])
    np.testing.assert_array_equal(np.loadtxt(out2, delimiter=",", skiprows=1), X)


def test_demo_prints_table_and_writes_graphs(tmp_path, capsys):
    assert cli.main(["demo", "-d", "10", "-n", "500", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "method" in out and "SHD" in out and "sortnregress" in out
    for name in ("truth.json", "sortnregress.json", "sortnregress.dot"):
        assert (tmp_path / name).exists()
    learned = json.loads((tmp_path / "sortnregress.json").read_text())
    truth = json.loads((tmp_path / "truth.json").read_text())
    d = len(truth["nodes"])
    A_true, A_est = np.zeros((d, d), int), np.zeros((d, d), int)
    index = {n: i for i, n in enumerate(truth["nodes"])}
    for src, dst, *_ in truth["edges"]:
        A_true[index[src], index[dst]] = 1
    for src, dst, *_ in learned["edges"]:
        A_est[index[src], index[dst]] = 1
    # The printed SHD is the SHD of the written graph.
    shd = count_accuracy(A_true, A_est)["shd"]
    row = next(line for line in out.splitlines() if line.startswith("sortnregress "))
    assert int(row.split()[1]) == shd
    assert "digraph" in (tmp_path / "sortnregress.dot").read_text()


def test_demo_unknown_method(tmp_path, capsys):
    assert cli.main(["demo", "--methods", "nope", "--out-dir", str(tmp_path)]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert cli.main(["simulate", "-d", "0", "--out", str(tmp_path / "x.csv")]) == 2
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--graph", "tree"])


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "fastcrl", "info"], capture_output=True, text=True, check=True
    )
    assert "blas" in out.stdout


def test_module_entry_point_reports_errors_without_a_traceback(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    X = np.c_[X, X[:, 0] - X[:, 1]]
    data = tmp_path / "collinear.csv"
    np.savetxt(data, X, delimiter=",", header="a,b,c", comments="")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastcrl",
            "discover",
            str(data),
            "--method",
            "exact",
            "-o",
            str(tmp_path / "g.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("fastcrl discover: error:") and "Traceback" not in out.stderr
