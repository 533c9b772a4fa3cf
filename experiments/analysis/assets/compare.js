// compare.html: draws what compare.py computed.
"use strict";

function drawCompare(Plotly, D) {
  document.getElementById("keys").innerHTML = D.keys.length
    ? "<table><thead><tr><th>key</th><th>A</th><th>B</th><th></th></tr></thead><tbody>" + D.keys.map((k) =>
      `<tr><td>${esc(k.key)}</td><td>${esc(k.a)}</td><td>${esc(k.b)}</td><td>${k.treatment ? "the change (cells matched without it)" : "grid differs"}</td></tr>`).join("") + "</tbody></table>"
    : "<p>None: both sweeps have the same settings.</p>";
  document.getElementById("summary").innerHTML = D.summary.map((s) => `<li>${markdownInline(s)}</li>`).join("");
  const col = (name) => D.cells.data[D.cells.columns.indexOf(name)];
  const accA = col("acc_a"), accB = col("acc_b"), diff = col("diff"), lo = col("ci_low"), hi = col("ci_high");
  const n = accA.length, idx = [...Array(n).keys()];
  const order = idx.slice().sort((i, j) => (diff[j] ?? -9) - (diff[i] ?? -9));
  const text = idx.map((i) => `${esc(D.labels[i])}<br>${col("outcome_a")[i]} → ${col("outcome_b")[i]}`);
  const traces = [
    {type: "scatter", mode: "markers", x: accA, y: accB, text, name: "cells", marker: {color: diff, colorscale: "RdBu", cmid: 0, size: 7, showscale: true,
      colorbar: {title: {text: "B − A"}, x: 0.42, len: 0.8},
      line: {width: 0.5, color: "#333"}}, hovertemplate: "%{text}<br>A %{x:.3f}, B %{y:.3f}<extra></extra>"},
    {type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], line: {color: "#888", dash: "dot"}, hoverinfo: "skip", name: "A = B"},
    {type: "scatter", mode: "markers", x: order.map((_, k) => k), y: order.map((i) => diff[i]), xaxis: "x2", yaxis: "y2",
      text: order.map((i) => text[i]), name: "B − A",
      error_y: {type: "data", symmetric: false, array: order.map((i) => (hi[i] === null ? 0 : hi[i] - diff[i])),
        arrayminus: order.map((i) => (lo[i] === null ? 0 : diff[i] - lo[i])), thickness: 1, width: 0, color: "#999"},
      marker: {size: 5, color: "#333"}, hovertemplate: "%{text}<br>B − A %{y:+.3f}<extra></extra>"},
  ];
  const layout = {height: 440, showlegend: false, margin: {l: 60, r: 20, t: 30, b: 50},
    xaxis: {domain: [0, 0.38], title: {text: `accuracy A (${D.name_a})`}, range: [0, 1.02]},
    yaxis: {title: {text: `accuracy B (${D.name_b})`}, range: [0, 1.02]},
    xaxis2: {domain: [0.5, 1], title: {text: "shared cells, sorted by B − A"}, anchor: "y2"},
    yaxis2: {anchor: "x2", title: {text: "B − A (95% interval)"}, zeroline: true, zerolinecolor: "#444"}};
  Plotly.react(document.getElementById("scatter"), traces, layout, {displaylogo: false, responsive: true});
  new DataTable(document.getElementById("cells-table"), D.cells.columns, D.cells.data, {sortCol: D.cells.columns.indexOf("diff"), sortDesc: true});
  document.body.dataset.ready = "1";
}

(async function main() {
  try {
    const [Plotly, data] = await Promise.all([loadPlotly(), unpackJSON("page-data")]);
    drawCompare(Plotly, data);
  } catch (err) {
    showError(err && err.stack ? err.stack : err);
  }
})();
