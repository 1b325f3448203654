"""Tests for fastcrl.knowledge: semantics, every contradiction, binding, JSON, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastcrl.knowledge import Knowledge, ResolvedKnowledge, Violation

NAMES = ["a", "b", "c", "d", "e"]


def tiered() -> Knowledge:
    """a, b in tier 0; c in tier 1; d, e in no tier."""
    return Knowledge(names=NAMES).set_tiers([["a", "b"], ["c"]])


# ------------------------------------------------------------------------------------
# semantics
# ------------------------------------------------------------------------------------


def test_tier_semantics():
    k = tiered()
    assert k.is_allowed("a", "c") and not k.is_allowed("c", "a") and not k.is_allowed("c", "b")
    assert k.is_allowed("a", "b") and k.is_allowed("b", "a")  # same tier, allowed by default
    for u in NAMES:  # d is unconstrained
        assert k.is_allowed("d", u) == (u != "d")
        assert k.is_allowed(u, "d") == (u != "d")
    k.forbid_within_tier = True
    assert not k.is_allowed("a", "b") and not k.is_allowed("b", "a") and k.is_allowed("a", "c")


def test_forbid_is_directional_and_required():
    k = Knowledge(n_nodes=3).forbid(0, 1).require(2, 1)
    assert not k.is_allowed(0, 1) and k.is_allowed(1, 0)
    assert k.is_required(2, 1) and not k.is_required(1, 2)
    assert not k.is_allowed(2, 2)  # self-loops never
    assert k.required_edges() == [(2, 1)] and k.forbidden_edges() == [(0, 1)]


def test_masks_agree_with_is_allowed():
    k = tiered().forbid("d", "e").forbid("e", "a").require("a", "c").require("e", "d")
    F, R = k.forbidden_mask(), k.required_mask()
    assert F.dtype == bool and F.shape == (5, 5) and F.diagonal().all()
    for i in range(5):
        for j in range(5):
            assert F[i, j] == (not k.is_allowed(i, j))
            assert F[i, j] == (not k.is_allowed(NAMES[i], NAMES[j]))
            assert R[i, j] == k.is_required(i, j)
    assert not (F & R).any()
    expected = np.eye(5, dtype=bool)
    expected[2, [0, 1]] = True  # tier 1 -> tier 0
    expected[3, 4] = expected[4, 0] = True
    np.testing.assert_array_equal(F, expected)
    k.forbid_within_tier = True
    assert k.forbidden_mask()[0, 1] and k.forbidden_mask()[1, 0]


def test_unbound_indices_need_d():
    k = Knowledge().forbid(0, 2).set_tiers([[1], [0]])
    with pytest.raises(ValueError, match="does not know its nodes"):
        k.forbidden_mask()
    F = k.forbidden_mask(3)
    assert F[0, 2] and F[0, 1] and not F[1, 0] and not F[2, 0]
    with pytest.raises(ValueError, match="out of range for 2 nodes"):
        k.forbidden_mask(2)
    assert Knowledge(n_nodes=3).forbidden_mask(3).sum() == 3
    with pytest.raises(ValueError, match=r"d must equal this knowledge's n_nodes \(3\)"):
        Knowledge(n_nodes=3).forbidden_mask(4)


def test_add_tier_matches_set_tiers():
    a = Knowledge(names=NAMES).add_tier(["a", 1]).add_tier(["c"])
    assert a == tiered()
    assert a.tiers == [[0, 1], [2]]


# ------------------------------------------------------------------------------------
# contradictions: each type, eagerly and in validate()
# ------------------------------------------------------------------------------------


def test_required_and_forbidden():
    with pytest.raises(ValueError, match="cannot require 'a' -> 'b': it is explicitly forbidden"):
        Knowledge(names=NAMES).forbid("a", "b").require("a", "b")
    with pytest.raises(ValueError, match="cannot forbid 'a' -> 'b': it is required"):
        Knowledge(names=NAMES).require("a", "b").forbid("a", "b")
    # the opposite direction is fine
    k = Knowledge(names=NAMES).forbid("a", "b").require("b", "a")
    assert k.is_required("b", "a")


def test_required_against_tiers():
    with pytest.raises(ValueError, match="against the tier order"):
        tiered().require("c", "a")
    with pytest.raises(ValueError, match="tiers contradict the required edge 'c' -> 'a'"):
        Knowledge(names=NAMES).require("c", "a").set_tiers([["a"], ["c"]])
    k = Knowledge(names=NAMES).require("c", "a").add_tier(["a"])
    with pytest.raises(ValueError, match="earlier tier"):
        k.add_tier(["c"])
    assert k.tiers == [[0]]  # the failed add left the tiers unchanged


def test_required_within_forbidden_tier():
    with pytest.raises(ValueError, match="within tier 0"):
        tiered().set_tiers([["a", "b"]], forbid_within_tier=True).require("a", "b")
    k = tiered().require("a", "b")
    with pytest.raises(ValueError, match="required edge 'a' -> 'b' lies within tier 0"):
        k.forbid_within_tier = True
    assert k.forbid_within_tier is False
    with pytest.raises(ValueError, match="within tier 0"):
        k.set_tiers([["a", "b"]], forbid_within_tier=True)


def test_required_self_loop_and_cycles():
    with pytest.raises(ValueError, match="self-loop"):
        Knowledge(names=NAMES).require("a", "a")
    with pytest.raises(ValueError, match="cycle 'a' -> 'b' -> 'a'"):
        Knowledge(names=NAMES).require("a", "b").require("b", "a")
    with pytest.raises(ValueError, match="cycle 'a' -> 'b' -> 'c' -> 'a'"):
        Knowledge(names=NAMES).require("a", "b").require("b", "c").require("c", "a")
    Knowledge(names=NAMES).require("a", "b").require("b", "c").require("a", "c")  # a DAG is fine


def test_max_indegree():
    k = Knowledge(names=NAMES, max_indegree=1).require("a", "c")
    with pytest.raises(ValueError, match="'c' would have 2 required parents > max_indegree 1"):
        k.require("b", "c")
    k2 = Knowledge(names=NAMES).require("a", "c").require("b", "c")
    with pytest.raises(ValueError, match="max_indegree 1 is below the 2 required parents of 'c'"):
        k2.max_indegree = 1
    assert k2.max_indegree is None
    k2.max_indegree = 2
    with pytest.raises(ValueError, match="max_indegree must be >= 0"):
        k2.max_indegree = -1
    with pytest.raises(TypeError, match="max_indegree must be an integer"):
        k2.max_indegree = 1.5


def test_nodes_unknown_out_of_range_and_in_two_tiers():
    with pytest.raises(ValueError, match="unknown node name 'z' in dst"):
        Knowledge(names=NAMES).forbid("a", "z")
    with pytest.raises(ValueError, match="src index 5 is out of range for 5 nodes"):
        Knowledge(n_nodes=5).require(5, 0)
    with pytest.raises(ValueError, match="non-negative node index"):
        Knowledge().forbid(-1, 0)
    with pytest.raises(ValueError, match="appears in tiers 0 and 1"):
        Knowledge(names=NAMES).set_tiers([["a"], ["b", 0]])
    with pytest.raises(ValueError, match="appears twice in tier 0"):
        Knowledge(names=NAMES).add_tier(["a", "a"])
    k = Knowledge(names=NAMES).add_tier(["a"])
    with pytest.raises(ValueError, match="appears in tiers 0 and 1"):
        k.add_tier(["a"])
    with pytest.raises(TypeError, match="src must be a node name"):
        Knowledge().forbid(True, 1)
    with pytest.raises(TypeError, match="dst must be a node name"):
        Knowledge().forbid(0, 1.0)
    with pytest.raises(TypeError, match="tier 0 must be a list"):
        Knowledge().set_tiers(["ab"])


def test_contradiction_between_name_and_index_found_at_bind():
    k = Knowledge().forbid("a", "b").require(0, 1)  # not yet known to be the same edge
    with pytest.raises(ValueError, match="it is required|explicitly forbidden"):
        k.bind(["a", "b", "c"])
    k2 = Knowledge().set_tiers([["a"], [0]])
    with pytest.raises(ValueError, match="in tiers 0 and 1"):
        k2.resolve(["a", "b"])


def test_validate_reports_all_problems_of_a_hand_built_state():
    # validate() is the backstop for states that bypass the eager checks
    k = Knowledge(names=NAMES)
    k._required = {(0, 0): None, (0, 1): None, (1, 0): None}
    k._forbidden = {(0, 1): None}
    k._max_indegree = 0
    with pytest.raises(ValueError) as exc:
        k.validate()
    msg = str(exc.value)
    for part in ("self-loop", "explicitly forbidden", "cycle", "required parents > max_indegree 0"):
        assert part in msg


# ------------------------------------------------------------------------------------
# binding and resolving
# ------------------------------------------------------------------------------------


def test_bind_names_to_reordered_columns():
    k = tiered().forbid("d", "e").require("a", "c")
    cols = ["e", "c", "x", "a", "b", "d"]  # other order, one extra column
    rk = k.resolve(cols)
    assert isinstance(rk, ResolvedKnowledge) and rk.n_nodes == 6 and rk.names == tuple(cols)
    idx = {n: i for i, n in enumerate(cols)}
    F = rk.forbidden_mask()
    for u in NAMES:
        for v in NAMES:
            assert F[idx[u], idx[v]] == (not k.is_allowed(u, v))
    assert F[idx["x"]].sum() == F[:, idx["x"]].sum() == 1  # x is free: only the diagonal
    assert rk.required_edges() == [(idx["a"], idx["c"])]
    assert rk.tier_of.tolist() == [-1, 1, -1, 0, 0, -1]
    assert k.tiers == [[0, 1], [2]]  # self unchanged
    with pytest.raises(ValueError, match="lacks names used by this knowledge: \\['d'\\]"):
        k.bind(["a", "b", "c", "e"])


def test_bind_unnamed_and_by_count():
    k = Knowledge().forbid("b", "a").require(2, 0)
    bound = k.bind(["a", "b", "c"])
    assert bound.forbidden_edges() == [(1, 0)] and bound.required_edges() == [(2, 0)]
    assert k.forbidden_edges() == [("b", "a")]
    with pytest.raises(ValueError, match="cannot be resolved without the node names"):
        k.resolve(3)
    assert Knowledge().require(2, 0).resolve(3).required_mask()[2, 0]
    with pytest.raises(ValueError, match="this knowledge is for 3 nodes; got 4"):
        Knowledge(n_nodes=3).bind(4)
    with pytest.raises(ValueError, match="this knowledge is for 3 nodes; got 2 names"):
        Knowledge(n_nodes=3).bind(["a", "b"])
    with pytest.raises(ValueError, match="node names must be unique"):
        Knowledge().bind(["a", "a"])
    with pytest.raises(TypeError, match="nodes must be a list of names or an int"):
        Knowledge().bind("abc")


def test_resolved_is_cached_and_invalidated():
    k = tiered()
    r1 = k.resolve()
    assert k.resolve() is r1
    k.forbid("d", "a")
    r2 = k.resolve()
    assert r2 is not r1 and r2.forbidden_mask()[3, 0] and not r1.forbidden_mask()[3, 0]
    with pytest.raises(ValueError, match="read-only"):
        r2.tier_of[0] = 5


# ------------------------------------------------------------------------------------
# check_graph
# ------------------------------------------------------------------------------------


def test_check_graph_each_violation():
    k = tiered().require("a", "c").forbid("d", "e")
    k.max_indegree = 2
    A = np.zeros((5, 5))
    A[0, 2] = 1  # required present
    assert k.check_graph(A) == []
    A[3, 4] = 1  # forbidden
    A[2, 1] = 1  # against tiers
    A[0, 2] = 0
    A[2, 0] = 1  # required missing (reversed) and against tiers
    A[[0, 1], 3] = 1
    A[2, 3] = 1  # d has 3 parents
    v = k.check_graph(A)
    assert all(isinstance(x, Violation) for x in v)
    kinds = sorted((x.kind, x.src, x.dst) for x in v)
    assert kinds == [
        ("forbidden", 2, 0),
        ("forbidden", 2, 1),
        ("forbidden", 3, 4),
        ("max_indegree", None, 3),
        ("missing_required", 0, 2),
    ]
    assert str(v[-1]) == "node d has 3 parents > max_indegree 2"
    with pytest.raises(ValueError, match="violates the knowledge in 5 ways"):
        k.check_graph(A, strict=True)


def test_check_graph_undirected_edges():
    k = tiered()
    P = np.zeros((5, 5))
    P[0, 2] = P[2, 0] = 1  # a - c: can be oriented a -> c
    assert k.check_graph(P) == []
    k.forbid("a", "c")
    v = k.check_graph(P)
    assert [(x.kind, x.src, x.dst) for x in v] == [("forbidden", 0, 2)]
    assert "both directions" in v[0].message


def test_check_graph_consistent_with_masks():
    rng = np.random.default_rng(0)
    k = Knowledge(n_nodes=6).set_tiers([[0, 1], [2, 3]]).forbid(4, 5).require(0, 2)
    F, R = k.forbidden_mask(), k.required_mask()
    for _ in range(20):
        A = np.triu(rng.random((6, 6)) < 0.4, 1).astype(float)
        perm = rng.permutation(6)
        A = A[np.ix_(perm, perm)]
        v = k.check_graph(A)
        n_bad = int(((A != 0) & F).sum() + (R & (A == 0)).sum())
        assert len(v) == n_bad


def test_check_graph_bad_input():
    k = Knowledge(n_nodes=3)
    with pytest.raises(ValueError, match=r"A must have shape \(3, 3\)"):
        k.check_graph(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="A must be a square matrix"):
        k.check_graph(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="A contains NaN"):
        k.check_graph(np.full((3, 3), np.nan))
    assert Knowledge().forbid(0, 1).check_graph(np.array([[0, 1], [0, 0]]))[0].kind == "forbidden"
    v = Knowledge(n_nodes=2).check_graph(np.array([[0, 0], [0, 1]]))
    assert [(x.kind, x.src, x.dst) for x in v] == [("forbidden", 1, 1)]


# ------------------------------------------------------------------------------------
# dict / JSON
# ------------------------------------------------------------------------------------


def test_to_dict_content():
    k = tiered().forbid("d", "e").require("a", "c")
    k.max_indegree = 3
    assert k.to_dict() == {
        "nodes": NAMES,
        "n_nodes": None,
        "forbidden": [["d", "e"]],
        "required": [["a", "c"]],
        "tiers": [["a", "b"], ["c"]],
        "forbid_within_tier": False,
        "max_indegree": 3,
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: tiered().forbid("d", "e").require("a", "c").set_tiers([["a"], ["c"]], True),
        lambda: Knowledge(n_nodes=4, max_indegree=1).forbid(0, 3).require(1, 2).add_tier([3]),
        lambda: Knowledge().forbid("x", "y").require("y", 0),
        lambda: Knowledge(),
    ],
)
def test_json_round_trip(make, tmp_path):
    k = make()
    path = tmp_path / "knowledge.json"
    k.to_json(path)
    back = Knowledge.from_json(path)
    assert back == k and back.to_dict() == k.to_dict()
    assert json.loads(path.read_text()) == k.to_dict()
    assert Knowledge.from_dict(k.to_dict()) == k


def test_from_json_hand_written(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(
        json.dumps(
            {
                "nodes": ["age", "sex", "income"],
                "forbidden": [["income", 0]],
                "tiers": [["age", "sex"], ["income"]],
                "forbid_within_tier": True,
            }
        )
    )
    k = Knowledge.from_json(str(path))
    assert k.n_nodes == 3 and k.max_indegree is None
    assert not k.is_allowed("age", "sex") and k.is_allowed("sex", "income")


def test_from_dict_and_json_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"unknown knowledge keys \['forbiden'\]"):
        Knowledge.from_dict({"forbiden": [[0, 1]]})
    with pytest.raises(ValueError, match="must be a \\[src, dst\\] pair; got \\[0, 1, 2\\]"):
        Knowledge.from_dict({"required": [[0, 1, 2]]})
    with pytest.raises(ValueError, match="cannot require"):
        Knowledge.from_dict({"forbidden": [[0, 1]], "required": [[0, 1]]})
    with pytest.raises(TypeError, match="must be a dict"):
        Knowledge.from_dict([["a", "b"]])
    with pytest.raises(TypeError, match="forbid_within_tier must be a bool"):
        Knowledge.from_dict({"forbid_within_tier": "yes"})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json' is not valid JSON"):
        Knowledge.from_json(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"nodes": ["a"], "required": [["a", "b"]]}))
    with pytest.raises(ValueError, match="wrong.json'.*unknown node name 'b'"):
        Knowledge.from_json(wrong)
    with pytest.raises(FileNotFoundError):
        Knowledge.from_json(tmp_path / "missing.json")


# ------------------------------------------------------------------------------------
# constructor, repr, equality
# ------------------------------------------------------------------------------------


def test_constructor_bad_input():
    with pytest.raises(ValueError, match=r"names must have n_nodes \(3\) entries; got 2"):
        Knowledge(n_nodes=3, names=["a", "b"])
    with pytest.raises(ValueError, match="n_nodes must be >= 1"):
        Knowledge(n_nodes=0)
    with pytest.raises(TypeError, match="n_nodes must be an integer"):
        Knowledge(n_nodes="3")
    with pytest.raises(ValueError, match="duplicated: \\['a'\\]"):
        Knowledge(names=["a", "a"])
    with pytest.raises(TypeError, match="not a single string"):
        Knowledge(names="abc")


def test_repr_and_equality():
    k = tiered().forbid("d", "e").require("a", "c")
    r = repr(k)
    for part in ("n_nodes=5", "forbidden=1", "required=1", "tiers=2 [2,1]", "max_indegree=None"):
        assert part in r
    assert "required=1" in repr(k.resolve())
    same = Knowledge(names=NAMES).require("a", "c").forbid(3, 4).set_tiers([["b", "a"], ["c"]])
    assert same == k and k.copy() == k
    assert k != tiered()
    c = k.copy().forbid("e", "d")
    assert c != k and len(k.forbidden_edges()) == 1
