"""The report as a table and one paragraph, or as one JSON object.

Every sentence is built from the measured report; nothing is pre-written
beyond the templates.
"""
from __future__ import annotations

import json
import math
import textwrap
from typing import Any

from .checker import ENTRIES_PER_LAYER, LayerReport, Report
from .probe import INPUT_RANGE

PARAGRAPH_WIDTH = 100
COLUMNS = ("layer", "weights", "shape", "verdict", "samples by class", "cosine median", "cosine min",
           "|dW|/(lr|g|)", "entries")


def _num(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _shares(layer: LayerReport) -> str:
    return "; ".join(f"{share:.0%} {name}" for name, share in layer.summary.shares.items())


def _shape(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def _table(report: Report) -> list[str]:
    rows = [COLUMNS] + [
        (str(l.layer), l.name, _shape(l.shape), l.summary.verdict, _shares(l), _num(l.summary.cosine_median),
         _num(l.summary.cosine_min), _num(l.summary.norm_ratio, 3), f"{l.entries} of {l.shape[0] * l.shape[1]}")
        for l in report.layers
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _count(share: float, n: int) -> int:
    return round(share * n)


def _name(layer: LayerReport, top: int) -> str:
    return ("the output layer" if layer.layer == top else f"layer {layer.layer}") + f" ({layer.name})"


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def _all_gradient(layer: LayerReport) -> bool:
    return layer.summary.shares == {"gradient": 1.0}


def _layer_sentences(layer: LayerReport, n: int, top: int) -> str:
    head = _capital(_name(layer, top))
    s = layer.summary
    parts = [f'"{name}" on {_count(share, n)}' for name, share in s.shares.items()]
    text = f"{head}: {', '.join(parts[:-1]) + ' and ' + parts[-1] if len(parts) > 1 else parts[0]} of {n} samples"
    if s.cosine_median is not None:
        text += f" (cosine with the negative gradient: median {s.cosine_median:.4f}, worst {s.cosine_min:.4f})"
    text += "."
    if s.gradient_step:
        return text + " Where it passes no gradient it takes no step, as gradient descent would."
    fitting = layer.fitting
    rejected = [h for h in layer.hypotheses if h.tested and not h.fits]
    off = layer.hypotheses[0].samples if layer.hypotheses else 0
    for h in fitting:
        text += f" Tested, and it fits each of the {off} samples where the step is not a gradient step: {h.claim}."
    if rejected:
        text += f" Tested and rejected: {', '.join(h.name for h in rejected)}."
    untested = [h for h in layer.hypotheses if not h.tested]
    if untested:
        text += " Not tested: " + "; ".join(f"{h.name} ({h.why_untested})" for h in untested) + "."
    return text


def text(report: Report) -> str:
    """The table, then one paragraph."""
    w = report.weights
    n = len(report.samples)
    chain = " -> ".join(f"{l.name} {_shape(l.shape)}" for l in report.layers)
    lr = report.learning_rate
    lines = [
        f"{report.cls} in {report.file}: {len(report.layers)} weight layers, "
        f"{'-'.join(map(str, w.sizes))}, stored {w.storage} ({chain})",
        f"loss {report.loss.name}: {report.loss.formula}; {n} samples; learning rate "
        + (f"{lr.value:.6g} ({lr.source})" if lr.value is not None else f"unknown ({lr.source})"),
        "",
        *_table(report),
        "",
    ]
    top = len(report.layers)
    exact = [_name(l, top) for l in reversed(report.layers) if _all_gradient(l)]
    bad = [l for l in report.layers if not l.summary.gradient_step]
    sentences = []
    if len(exact) == top:
        sentences.append("Every layer steps along the negative gradient on every sample.")
    elif exact:
        names = ", ".join(exact[:-1]) + " and " + exact[-1] if len(exact) > 1 else exact[0]
        sentences.append(f"{_capital(names)} {'steps' if len(exact) == 1 else 'step'} along the negative "
                         "gradient on every sample.")
    sentences += [_layer_sentences(l, n, top) for l in reversed(report.layers) if not _all_gradient(l)]
    if bad:
        sentences.append(f"{len(bad)} of {top} layers {'does' if len(bad) == 1 else 'do'} not step along the "
                         "negative gradient on every sample.")
    large = [l for l in report.layers if l.entries < l.shape[0] * l.shape[1]]
    method = ("Gradients are central finite differences of the loss of query's output"
              + (f"; layers with more than {ENTRIES_PER_LAYER} entries are compared on {ENTRIES_PER_LAYER} "
                 f"entries drawn at random ({', '.join(l.name for l in large)})" if large else "")
              + f". Inputs are uniform in [{INPUT_RANGE[0]}, {INPUT_RANGE[1]}], targets one-hot of a random class "
              + ("with " + " and ".join(sorted({s.style for s in report.samples})) + " values"))
    sentences.append(method + ".")
    if report.forward is not None:
        sentences.append(f"query's outputs are reproduced by {report.forward.hidden.name} hidden layers and a "
                         f"{report.forward.output.name} output without biases (used by the book-rule hypothesis).")
    lines.append(textwrap.fill(" ".join(sentences), PARAGRAPH_WIDTH))
    return "\n".join(lines)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def to_json(report: Report) -> dict[str, Any]:
    """One object: ``{"file", "class", "loss", "learning_rate", "samples", "layers": [...]}`` and a few more."""
    return {
        "file": report.file,
        "class": report.cls,
        "loss": report.loss.name,
        "learning_rate": _finite(report.learning_rate.value),
        "learning_rate_source": report.learning_rate.source,
        "samples": len(report.samples),
        "storage": report.weights.storage,
        "sizes": list(report.weights.sizes),
        "gradient_step": report.passed,
        "layers": [
            {
                "layer": l.layer,
                "name": l.name,
                "shape": list(l.shape),
                "verdict": l.summary.verdict,
                "shares": l.summary.shares,
                "cosine_median": _finite(l.summary.cosine_median),
                "cosine_min": _finite(l.summary.cosine_min),
                "norm_ratio": _finite(l.summary.norm_ratio),
                "hypothesis": "; ".join(h.claim for h in l.fitting) or None,
                "hypotheses_tested": [h.name for h in l.hypotheses if h.tested],
                "entries": l.entries,
            }
            for l in report.layers
        ],
    }


def json_text(report: Report) -> str:
    return json.dumps(to_json(report), indent=2, allow_nan=False)
