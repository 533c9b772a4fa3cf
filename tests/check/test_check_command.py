"""``python -m experiments check``: verdicts on the examples and on planted
bugs, weight finding, and usage errors (exit 2, one line, nothing on stdout)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NETS = Path(__file__).with_name("nets.py")


def check(capsys, target, *options):
    """(exit status, JSON report or None, stderr) of one in-process check."""
    rc = cli.main(["check", str(target), "--json", "--samples", "4", *options])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if out else None), err


def verdicts(report):
    return [layer["verdict"] for layer in report["layers"]]


def hypotheses(report):
    return [layer["hypothesis"] for layer in report["layers"]]


BOOK_RULE = "is not multiplied by the derivative of the layer above"
FLIPPED = "climbs the loss"


# ------------------------------------------------------------------ examples

def test_book_sigmoid_hidden_layer_is_descent_not_gradient(capsys):
    rc, r, _ = check(capsys, f"{EXAMPLES}/book_sigmoid.py:neuralNetwork", "--args", "(30, 12, 10, 0.3)")
    assert rc == 1
    assert verdicts(r) == ["descent, not the gradient", "gradient"]
    assert BOOK_RULE in r["layers"][0]["hypothesis"]
    assert r["learning_rate"] == pytest.approx(0.3, rel=1e-4)
    assert r["storage"] == "n_out x n_in" and r["sizes"] == [30, 12, 10]
    assert [l["name"] for l in r["layers"]] == ["wih", "who"]


def test_question_network_fails_below_the_output_the_book_rule_explains_it(capsys):
    rc, r, _ = check(capsys, f"{EXAMPLES}/question_relu.py:neuralNetwork", "--args", "(40, 20, 16, 10, 0.1)")
    assert rc == 1
    assert r["layers"][-1]["verdict"] == "gradient"
    assert r["layers"][0]["verdict"] != "gradient"
    assert BOOK_RULE in r["layers"][0]["hypothesis"]
    assert "book rule" in r["layers"][0]["hypotheses_tested"]


def test_question_network_with_exact_backprop_passes(capsys):
    rc, r, _ = check(capsys, f"{EXAMPLES}/question_exact.py:neuralNetwork", "--args", "(40, 20, 16, 10, 0.1)")
    assert rc == 0
    assert all(v in ("gradient", "no gradient, no step") for v in verdicts(r))
    assert "gradient" in verdicts(r)
    assert hypotheses(r) == [None, None, None]


def test_sign_bug_is_not_a_descent_direction_and_a_flipped_sign(capsys):
    rc, r, _ = check(capsys, f"{EXAMPLES}/sign_bug.py:neuralNetwork", "--args", "(40, 20, 16, 10, 0.1)")
    assert rc == 1
    assert verdicts(r)[2] == "gradient"
    for layer in r["layers"][:2]:
        assert layer["verdict"] == "not a descent direction"
        assert layer["cosine_min"] < -0.999
        assert FLIPPED in layer["hypothesis"] and BOOK_RULE not in layer["hypothesis"]


# ------------------------------------------------------------ other networks

@pytest.mark.parametrize("sizes", [[12, 8, 5], [12, 9, 8, 7, 5]], ids=["3-layer", "5-layer"])
def test_exact_passes_and_book_rule_is_found_at_any_depth(capsys, sizes):
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", f"({sizes}, 0.2)")
    assert rc == 0 and verdicts(r) == ["gradient"] * (len(sizes) - 1)
    assert [l["name"] for l in r["layers"]] == [f"W[{i}]" for i in range(len(sizes) - 1)]
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", f"({sizes}, 0.2, 'book')")
    assert rc == 1 and r["layers"][-1]["verdict"] == "gradient"
    for layer in r["layers"][:-1]:
        assert layer["verdict"] != "gradient" and BOOK_RULE in layer["hypothesis"]


def test_weights_stored_n_in_x_n_out(capsys):
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", "{'sizes': [12, 8, 5], 'storage': 'n_in x n_out'}")
    assert rc == 0 and r["storage"] == "n_in x n_out" and r["sizes"] == [12, 8, 5]
    assert [l["shape"] for l in r["layers"]] == [[12, 8], [8, 5]]
    rc, r, _ = check(capsys, f"{NETS}:Net",
                     "--args", "{'sizes': [12, 8, 5], 'storage': 'n_in x n_out', 'rule': 'book'}")
    assert rc == 1 and BOOK_RULE in r["layers"][0]["hypothesis"]


def test_softmax_cross_entropy_network(capsys):
    args = "{'sizes': [12, 8, 4], 'output': 'softmax', 'lr': 0.05}"
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", args, "--loss", "ce")
    assert rc == 0 and r["loss"] == "ce" and r["learning_rate"] == pytest.approx(0.05, rel=1e-4)
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", args, "--loss", "mse")  # y - t is not the mse gradient
    assert rc == 1


def test_float32_network(capsys):
    # differenced as float64 copies: in float32 the first layer's gradient is below the rounding noise
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", "{'sizes': [784, 200, 100, 10], 'dtype': 'float32'}")
    assert rc == 0 and verdicts(r) == ["gradient"] * 3


def test_transposed_update_of_a_square_layer(capsys):
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", "{'sizes': [10, 8, 8, 4], 'transpose_layer': 2}")
    assert rc == 1 and verdicts(r)[0] == "gradient" and verdicts(r)[2] == "gradient"
    assert "transposed" in r["layers"][1]["hypothesis"]


def test_flipped_output_layer_still_measures_the_learning_rate(capsys):
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", "{'sizes': [10, 8, 4], 'flip_layer': 2, 'lr': 0.3}")
    assert rc == 1 and verdicts(r) == ["gradient", "not a descent direction"]
    assert r["learning_rate"] == pytest.approx(0.3, rel=1e-4)
    assert FLIPPED in r["layers"][1]["hypothesis"]


def test_dead_output_layer(capsys):
    # book rule: the layers below keep moving although the loss no longer depends on them
    rc, r, _ = check(capsys, f"{NETS}:DeadOutputNet", "--args", "([10, 8, 6, 4], 0.1, 'book')")
    assert rc == 1 and verdicts(r) == ["no gradient", "no gradient", "no gradient, no step"]
    rc, r, _ = check(capsys, f"{NETS}:DeadOutputNet", "--args", "([10, 8, 6, 4], 0.1, 'exact')")
    assert rc == 0 and verdicts(r) == ["no gradient, no step"] * 3
    assert r["learning_rate"] is None


def test_biases_are_not_weights_and_the_book_rule_is_not_claimed_untested(capsys):
    rc, r, _ = check(capsys, f"{NETS}:Net", "--args", "{'sizes': [10, 8, 6, 4], 'bias': True, 'rule': 'book'}")
    assert rc == 1 and r["sizes"] == [10, 8, 6, 4]
    assert "book rule" not in r["layers"][0]["hypotheses_tested"]  # the forward pass has biases
    assert r["layers"][0]["hypothesis"] is None


def test_attributes_in_reverse_order_with_column_biases(capsys):
    rc, r, _ = check(capsys, f"{NETS}:ReversedAttributes", "--args", "(9, 7, 3, 0.5)")
    assert rc == 0 and [l["name"] for l in r["layers"]] == ["wih", "who"] and r["sizes"] == [9, 7, 3]


def test_weights_named_explicitly(capsys):
    rc, r, _ = check(capsys, f"{NETS}:ReversedAttributes", "--args", "(9, 7, 3, 0.5)", "--weights", "wih,who")
    assert rc == 0 and r["sizes"] == [9, 7, 3]


def test_what_the_class_prints_stays_off_stdout(capsys):
    rc, r, _ = check(capsys, f"{NETS}:Noisy", "--args", "([6, 5, 3],)")
    assert rc == 0 and r["class"] == "Noisy"  # json.loads would have failed on the prints


def test_text_output_table_and_paragraph(capsys):
    rc = cli.main(["check", f"{EXAMPLES}/book_sigmoid.py:neuralNetwork", "--args", "(20, 8, 4, 0.1)",
                   "--samples", "3"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "verdict" in out.splitlines()[3] and "cosine median" in out.splitlines()[3]
    paragraph = " ".join(out.split())
    assert "1 of 2 layers does not step along the negative gradient" in paragraph
    assert "the book's rule" in paragraph and "learning rate 0.1 " in paragraph


def test_same_seed_same_report_other_seed_other_samples(capsys):
    target, args = f"{EXAMPLES}/book_sigmoid.py:neuralNetwork", ("--args", "(20, 8, 4, 0.1)")
    a = check(capsys, target, *args, "--seed", "3")[1]
    b = check(capsys, target, *args, "--seed", "3")[1]
    c = check(capsys, target, *args, "--seed", "4")[1]
    assert a == b and a["layers"][0]["cosine_median"] != c["layers"][0]["cosine_median"]


# -------------------------------------------------------------- usage errors

USAGE_ERRORS = {
    "class raises in train": ([f"{NETS}:RaisesInTrain", "--args", "([6, 5, 3],)"],
                              "RaisesInTrain.train(inputs, targets) raised ValueError: shapes (10,1) and (12,1)"),
    "file without the class": ([f"{NETS}:Missing"], "has no class 'Missing'; classes defined there: "),
    "no such file": (["nowhere/net.py:Net"], "no such file"),
    "not FILE:CLASS": ([str(NETS)], "expected FILE.py:CLASS"),
    "bad --args literal": ([f"{NETS}:Net", "--args", "(6, 5"], "is not a Python literal"),
    "--args that would run code": ([f"{NETS}:Net", "--args", "__import__('os').getcwd()"], "is not a Python literal"),
    "wrong arguments": ([f"{NETS}:Net", "--args", "(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)"],
                        "Net(1, 2, 3, 4, 5, 6, 7, 8, 9, 10) raised TypeError"),
    "no weights": ([f"{NETS}:NoWeights"], "no 2-D float ndarray attributes"),
    "no train method": ([f"{NETS}:NoTrain"], "no method 'train'; the book's protocol is"),
    "other query name": ([f"{NETS}:Net", "--args", "([6, 5, 3],)", "--query", "predict"], "no method 'predict'"),
    "unknown --weights": ([f"{NETS}:ReversedAttributes", "--args", "(9, 7, 3, 0.5)", "--weights", "wih,w2"],
                          "has no 2-D float array 'w2'"),
    "--weights that do not chain": ([f"{NETS}:ReversedAttributes", "--args", "(9, 7, 3, 0.5)",
                                     "--weights", "who,who"], "do not chain"),
    "bad --loss": ([f"{NETS}:Net", "--loss", "hinge"], "invalid choice: 'hinge'"),
    "bad --samples": ([f"{NETS}:Net", "--samples", "0"], "--samples: 0 is not valid"),
    "bad --seed": ([f"{NETS}:Net", "--seed", "-1"], "--seed: -1 is not valid"),
}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_error_is_one_line_exit_2_nothing_on_stdout(capsys, case, as_json):
    argv, message = USAGE_ERRORS[case]
    argv = ["check", *argv] + (["--json"] if as_json else [])
    with pytest.raises(SystemExit) if case == "bad --loss" else _no_raise() as exc:
        rc = cli.main(argv)
    rc = exc.value.code if case == "bad --loss" else rc
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


class _no_raise:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_bad_args_never_import_the_file(tmp_path, capsys):
    marker = tmp_path / "imported"
    net = tmp_path / "net.py"
    net.write_text(f"open({str(marker)!r}, 'w').close()\nclass Net:\n    pass\n")
    assert cli.main(["check", f"{net}:Net", "--args", "(1,"]) == 2
    assert not marker.exists()


def test_a_script_that_exits_or_raises_on_import(tmp_path, capsys):
    for body, message in (("import sys\nsys.exit(3)\n", "raised SystemExit: 3"),
                          ("import no_such_module_here\n", "raised ModuleNotFoundError")):
        net = tmp_path / "net.py"
        net.write_text(body)
        assert cli.main(["check", f"{net}:Net"]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and message in err


def test_command_line_no_traceback_when_user_code_raises():
    cmd = [sys.executable, "-m", "experiments", "check", f"{NETS}:RaisesInTrain", "--args", "([6, 5, 3],)", "--json"]
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
