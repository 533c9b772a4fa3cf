// report.html: draws what dashboard.py computed. Views read one shared state
// (filters, selected cell, pooled panels, parcoords brush) and redraw on change.
"use strict";

// tab10, then its light companions (tab20): up to 20 runs get distinct colours.
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];
const DASH_MARK = {solid: "——", dot: "·····", dash: "– –"};
const PLOT_CONFIG = {displaylogo: false, responsive: true};

function rgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${alpha})`;
}

class Dashboard {
  constructor(Plotly, data) {
    this.P = Plotly;
    this.D = data;
    this.nRuns = data.runs.data.length ? data.runs.data[0].length : 0;
    this.checked = data.filters.map((f) => f.labels.map(() => true));
    this.pooled = false;
    this.selection = data.heatmap.best ? {facet: data.heatmap.best[0], row: data.heatmap.best[1], col: data.heatmap.best[2]} : null;
    this.brushed = null;  // run indexes inside the parcoords brush, null: no brush
    this.runId = data.runs.data[data.runs.columns.indexOf("run_id")];
  }

  start() {
    this.buildFilters();
    const facets = this.D.heatmap.facets;
    document.getElementById("facet-names").textContent = facets.join(", ");
    const pool = document.getElementById("pool-facets");
    // One panel: nothing to pool, so the option is not offered at all.
    pool.disabled = !facets.length;
    pool.closest("label").hidden = !facets.length;
    pool.addEventListener("change", () => {
      this.pooled = pool.checked;
      if (this.selection) this.selection.facet = this.pooled ? null : (this.selection.facet ?? 0);
      this.refresh();
    });
    this.runsTable = new DataTable(document.getElementById("runs-table"), this.D.runs.columns, this.D.runs.data,
      {onRowClick: (i) => this.selectRun(i), sortCol: this.D.runs.columns.indexOf("test_acc"), sortDesc: true});
    this.summaryTable = new DataTable(document.getElementById("summary-table"), this.D.summary.columns, this.D.summary.data,
      {sortCol: this.D.summary.columns.indexOf(this.D.rank_column || "acc_mean"), sortDesc: true});
    this.drawReport();
    this.refresh();
    document.body.dataset.ready = "1";  // the browser test waits for this
  }

  // ---------------------------------------------------------------- filters
  buildFilters() {
    const box = document.getElementById("filters");
    box.innerHTML = this.D.filters.map((f, i) => `<fieldset><legend>${esc(f.column)}</legend>` +
      f.labels.map((label, k) => `<label title="double-click: only this value"><input type="checkbox" id="filter-${esc(f.column)}-${k}" ` +
        `data-f="${i}" data-k="${k}" checked> ${esc(label)}</label>`).join(" ") + "</fieldset>").join("");
    box.querySelectorAll("input").forEach((input) => {
      input.addEventListener("change", () => { this.checked[+input.dataset.f][+input.dataset.k] = input.checked; this.refresh(); });
      input.parentElement.addEventListener("dblclick", (ev) => {
        ev.preventDefault();
        const f = +input.dataset.f;
        this.checked[f] = this.checked[f].map((_, k) => k === +input.dataset.k);
        this.syncFilters();
        this.refresh();
      });
    });
    document.getElementById("reset-filters").addEventListener("click", () => {
      this.checked = this.D.filters.map((f) => f.labels.map(() => true));
      this.syncFilters();
      this.refresh();
    });
  }

  syncFilters() {
    document.querySelectorAll("#filters input").forEach((input) => { input.checked = this.checked[+input.dataset.f][+input.dataset.k]; });
  }

  isVisible(i) {
    return this.D.filters.every((f, j) => this.checked[j][f.codes[i]]);
  }

  visibleRuns() {
    const out = [];
    for (let i = 0; i < this.nRuns; i++) if (this.isVisible(i)) out.push(i);
    return out;
  }

  refresh() {
    this.visible = this.visibleRuns();
    document.getElementById("visible-count").textContent = `${this.visible.length} of ${this.nRuns} runs shown.`;
    this.drawHeatmap();
    this.drawPanel();
    this.drawParcoords();
    this.updateTables();
  }

  // ---------------------------------------------------------------- heatmap
  drawHeatmap() {
    const H = this.D.heatmap, runs = this.visible;
    const status = this.D.runs.data[this.D.runs.columns.indexOf("status")];
    const acc = this.D.runs.data[this.D.runs.columns.indexOf("test_acc")];
    const nF = this.pooled ? 1 : H.facet_labels.length;
    const key = (f, r, c) => (f * H.rows.length + r) * H.cols.length + c;
    const sum = new Map(), cnt = new Map(), all = new Map();
    const rowsOn = new Set(), colsOn = new Set(), facetsOn = new Set();
    for (const i of runs) {
      const [f0, r, c] = H.run_cell[i], f = this.pooled ? 0 : f0, k = key(f, r, c);
      rowsOn.add(r); colsOn.add(c); facetsOn.add(f);
      all.set(k, (all.get(k) || 0) + 1);
      if (status[i] !== "failed" && acc[i] !== null) { sum.set(k, (sum.get(k) || 0) + acc[i]); cnt.set(k, (cnt.get(k) || 0) + 1); }
    }
    const rows = [...rowsOn].sort((a, b) => a - b), cols = [...colsOn].sort((a, b) => a - b);
    const facets = [...facetsOn].sort((a, b) => a - b);
    const per = Math.min(facets.length, 5) || 1, lines = Math.ceil(facets.length / per) || 1;
    const traces = [], layout = {margin: {l: 90, r: 70, t: 30, b: 50}, annotations: [], shapes: [],
      height: lines * (rows.length * 24 + 60 + 16 * (this.pooled ? 1 : H.facets.length)) + 60, plot_bgcolor: "#eee"};
    facets.forEach((f, j) => {
      const n = j + 1, px = j % per, py = Math.floor(j / per), gap = 0.012;
      const xa = "xaxis" + (n > 1 ? n : ""), ya = "yaxis" + (n > 1 ? n : "");
      const z = rows.map((r) => cols.map((c) => { const k = key(f, r, c); return cnt.get(k) ? sum.get(k) / cnt.get(k) : null; }));
      const counts = rows.map((r) => cols.map((c) => { const k = key(f, r, c); return `${cnt.get(k) || 0} finished of ${all.get(k) || 0} shown`; }));
      const facetLabel = this.pooled ? (H.facets.length ? `every ${H.facets.join(", ")}` : "") : H.facet_labels[f];
      traces.push({type: "heatmap", x: cols.map((c) => H.cols[c]), y: rows.map((r) => H.rows[r]), z, customdata: counts,
        meta: f, xaxis: "x" + (n > 1 ? n : ""), yaxis: "y" + (n > 1 ? n : ""), zmin: 0, zmax: 1, colorscale: "Viridis",
        showscale: j === 0, colorbar: {title: {text: "accuracy"}, len: 0.9}, xgap: 1, ygap: 1,
        texttemplate: "%{z:.2f}", textfont: {size: 10},
        hovertemplate: `${H.row}=%{y}<br>${H.col ?? ""}=%{x}<br>${esc(facetLabel)}<br>mean final test acc %{z:.3f}<br>%{customdata}<extra></extra>`});
      // each line of panels leaves room above for its (wrapped) titles and below for the x axis
      const head = (16 * Math.max(1, this.pooled ? 1 : H.facets.length) + 4) / layout.height, foot = 50 / layout.height;
      const x0 = px / per + gap, x1 = (px + 1) / per - gap, y1 = 1 - py / lines - head, y0 = 1 - (py + 1) / lines + foot;
      layout[xa] = {domain: [x0, x1], type: "category", title: {text: H.col ?? ""}, showticklabels: H.col !== null,
        anchor: "y" + (n > 1 ? n : "")};
      layout[ya] = {domain: [y0, y1], type: "category", autorange: "reversed", showticklabels: px === 0, automargin: true,
        anchor: "x" + (n > 1 ? n : "")};
      const wrapped = facetLabel.length > 28 ? facetLabel.split(", ").map(esc).join("<br>") : esc(facetLabel);
      if (facetLabel) layout.annotations.push({text: wrapped, x: (x0 + x1) / 2, y: y1, xref: "paper", yref: "paper", yanchor: "bottom", showarrow: false, font: {size: 12}});
      const s = this.selection;
      if (s && (this.pooled || s.facet === f) && rows.includes(s.row) && cols.includes(s.col)) {
        const xi = cols.indexOf(s.col), yi = rows.indexOf(s.row);
        layout.shapes.push({type: "rect", xref: "x" + (n > 1 ? n : ""), yref: "y" + (n > 1 ? n : ""), x0: xi - 0.5, x1: xi + 0.5,
          y0: yi - 0.5, y1: yi + 0.5, line: {color: "#e8142b", width: 3}});
      }
    });
    const gd = document.getElementById("heatmap");
    gd.dataset.rows = JSON.stringify(rows.map((r) => H.rows[r]));
    gd.dataset.cols = JSON.stringify(cols.map((c) => H.cols[c]));
    this.P.react(gd, traces, layout, PLOT_CONFIG);
    if (!gd.dataset.bound) {
      gd.dataset.bound = "1";
      gd.on("plotly_click", (ev) => {
        const p = ev.points[0];
        this.select({facet: this.pooled ? null : p.data.meta, row: H.rows.indexOf(p.y), col: H.cols.indexOf(String(p.x))});
      });
    }
  }

  select(selection) {
    this.selection = selection;
    this.drawHeatmap();
    this.drawPanel();
  }

  selectRun(i) {
    const [f, r, c] = this.D.heatmap.run_cell[i];
    this.select({facet: this.pooled ? null : f, row: r, col: c});
    document.getElementById("run-panel").scrollIntoView({behavior: "smooth"});
  }

  selectedRuns() {
    const s = this.selection, H = this.D.heatmap;
    if (!s) return [];
    return this.visible.filter((i) => {
      const [f, r, c] = H.run_cell[i];
      return r === s.row && c === s.col && (s.facet === null || f === s.facet);
    });
  }

  // -------------------------------------------------------------- run panel
  drawPanel() {
    const H = this.D.heatmap, runs = this.selectedRuns(), s = this.selection;
    const box = document.getElementById("panel-plots"), title = document.getElementById("cell-title");
    document.getElementById("run-panel").dataset.runs = runs.map((i) => this.runId[i]).join(",");
    if (!s) { title.textContent = "No cell selected."; box.innerHTML = ""; return; }
    const parts = [`${H.row}=${H.rows[s.row]}`];
    if (H.col) parts.push(`${H.col}=${H.cols[s.col]}`);
    if (s.facet !== null && H.facets.length) parts.push(H.facet_labels[s.facet]);
    else if (H.facets.length) parts.push(`every ${H.facets.join(", ")}`);
    title.textContent = `Cell ${parts.join(", ")}: ${runs.length} shown run${runs.length === 1 ? "" : "s"}` +
      (runs.length ? ` (${runs.map((i) => this.D.run_labels[i]).join("; ")}).` : ": change the filters or pick another cell.");
    // Non-layer panels share one figure; each per-layer panel gets its own.
    const groups = [this.D.panels.filter((p) => !p.per_layer), ...this.D.panels.filter((p) => p.per_layer).map((p) => [p])];
    const want = groups.filter((g) => g.length).length;
    if (box.children.length !== want) {
      box.innerHTML = "";
      for (let k = 0; k < want; k++) { const div = document.createElement("div"); div.className = "plot panel"; box.append(div); }
    }
    groups.filter((g) => g.length).forEach((group, k) => this.drawPanelFigure(box.children[k], group, runs, k === 0));
  }

  drawPanelFigure(gd, group, runs, legend) {
    const subplots = [];  // [panel, layer index or null]
    for (const p of group) {
      if (p.per_layer) this.D.layer_names.forEach((_, l) => subplots.push([p, l]));
      else subplots.push([p, null]);
    }
    const traces = [], n = subplots.length, layout = {margin: {l: 60, r: 20, t: 70, b: 40}, height: legend ? 280 + 24 * Math.ceil(runs.length / 4) : 260,
      annotations: [], showlegend: legend, legend: {orientation: "h", y: -0.3, yanchor: "top"}};
    const title = group.length === 1 ? group[0].title : group.map((p) => p.title).join(" | ");
    layout.title = {text: esc(title), font: {size: 14}, x: 0.01};
    subplots.forEach(([p, l], j) => {
      const ax = j ? String(j + 1) : "", x0 = j / n + 0.035, x1 = (j + 1) / n - 0.015;
      layout["xaxis" + ax] = {domain: [x0, x1], anchor: "y" + ax, title: {text: "epoch", standoff: 4}};
      layout["yaxis" + ax] = {anchor: "x" + ax, type: p.log ? "log" : "linear", title: {text: j === 0 || !p.per_layer ? p.y_title : ""},
        exponentformat: "e", ...(p.y_range ? {range: p.y_range} : {})};
      // the legend of line styles: fixed names, and per-run names (the update step) of the runs shown
      const names = p.series.flatMap((sr) => (sr.name_column
        ? [...new Set(runs.map((i) => this.D[sr.name_column][i]).filter(Boolean))] : [sr.name]).map((nm) => `${DASH_MARK[sr.dash]} ${nm}`));
      // per-layer panels: the layer names the subplot, the line styles go in the figure's title (once)
      const head = l === null ? names.join("  ") : this.D.layer_names[l];
      if (l !== null && j === 0) layout.title.text += `<br><span style="font-size:11px">${esc(names.join("   "))}</span>`;
      layout.annotations.push({text: esc(head), x: (x0 + x1) / 2, y: 1.02, xref: "paper", yref: "paper", yanchor: "bottom", showarrow: false, font: {size: 11}});
      runs.forEach((i, r) => {
        const color = COLORS[r % COLORS.length], label = this.D.run_labels[i];
        if (p.bands) this.bandTraces(i, l, color, ax).forEach((t) => traces.push(t));
        p.series.forEach((sr, si) => {
          const name = sr.name_column ? this.D[sr.name_column][i] : sr.name;
          if (!name) return;
          const [x, y] = this.seriesOf(sr.table, sr.column, i, l, p.log);
          traces.push({type: "scatter", mode: "lines", x, y, xaxis: "x" + ax, yaxis: "y" + ax, name: label, legendgroup: String(i),
            showlegend: legend && j === 0 && si === 0, line: {color, dash: sr.dash, width: 1.6},
            hovertemplate: `${esc(label)}<br>${esc(name)}<br>epoch %{x}: %{y:.4g}<extra></extra>`});
        });
      });
    });
    this.P.react(gd, traces, layout, PLOT_CONFIG);
  }

  seriesOf(table, column, i, layer, log) {
    const S = this.D.series, cols = S[table];
    let a, b;
    if (table === "epochs") { a = S.epoch_offsets[i]; b = S.epoch_offsets[i + 1]; }
    else { const k = i * this.D.layer_names.length + layer; a = S.layer_offsets[k]; b = S.layer_offsets[k + 1]; }
    const y = cols[column] ? cols[column].slice(a, b) : [];
    return [cols.epoch.slice(a, b), log ? y.map((v) => (v !== null && v > 0 ? v : null)) : y];
  }

  bandTraces(i, l, color, ax) {
    const edge = (col, fill, alpha) => {
      const [x, y] = this.seriesOf("layers", col, i, l, false);
      return {type: "scatter", mode: "lines", x, y, xaxis: "x" + ax, yaxis: "y" + ax, line: {width: 0, color}, showlegend: false,
        hoverinfo: "skip", fill: fill ? "tonexty" : "none", fillcolor: rgba(color, alpha), legendgroup: String(i)};
    };
    return [edge("z_p07", false), edge("z_p93", true, 0.12), edge("z_p16", false), edge("z_p84", true, 0.25)];
  }

  // --------------------------------------------------------- parcoords
  drawParcoords() {
    const P = this.D.parcoords, gd = document.getElementById("parcoords");
    const keep = [];
    P.run_index.forEach((run, j) => { if (this.isVisible(run)) keep.push(j); });
    this.parRuns = keep.map((j) => P.run_index[j]);
    const old = gd.data && gd.data[0] ? gd.data[0].dimensions : [];
    const dims = P.dimensions.map((d, k) => {
      const dim = {label: d.label, values: keep.map((j) => d.values[j])};
      if (d.ticktext.length) {
        dim.tickvals = d.ticktext.map((_, t) => t);
        dim.ticktext = d.ticktext;
        dim.range = [-0.3, d.ticktext.length - 0.7];
      }
      if (/accuracy|dead/.test(d.label)) dim.range = [0, 1];
      if (old[k] && old[k].constraintrange) dim.constraintrange = old[k].constraintrange;
      return dim;
    });
    const note = document.getElementById("parcoords-note");
    note.textContent = P.left_out ? `${P.left_out} run(s) without a final accuracy or dead fraction are not drawn.` : "";
    this.P.react(gd, [{type: "parcoords", dimensions: dims,
      line: {color: keep.map((j) => P.color[j]), colorscale: "Viridis", cmin: 0, cmax: 1, showscale: true,
        colorbar: {title: {text: "accuracy"}}}}], {margin: {l: 80, r: 80, t: 60, b: 30}, height: 420}, PLOT_CONFIG);
    if (!gd.dataset.bound) {
      gd.dataset.bound = "1";
      gd.on("plotly_restyle", () => { this.readBrush(); this.updateTables(); });
    }
    this.readBrush();
  }

  readBrush() {
    const gd = document.getElementById("parcoords"), dims = gd.data[0].dimensions;
    const active = dims.map((d, k) => [k, d.constraintrange]).filter(([, c]) => c && c.length);
    if (!active.length) { this.brushed = null; return; }
    const inside = (v, c) => (Array.isArray(c[0]) ? c : [c]).some(([lo, hi]) => v >= lo && v <= hi);
    this.brushed = new Set(this.parRuns.filter((_, j) => active.every(([k, c]) => inside(dims[k].values[j], c))));
  }

  // ------------------------------------------------------------ tables
  updateTables() {
    this.runsTable.setRows(this.visible.filter((i) => !this.brushed || this.brushed.has(i)));
    const D = this.D, n = D.summary.data.length ? D.summary.data[0].length : 0, rows = [];
    for (let i = 0; i < n; i++) {
      if (D.filters.every((f, j) => !f.summary_codes || this.checked[j][f.summary_codes[i]])) rows.push(i);
    }
    this.summaryTable.setRows(rows);
  }

  drawReport() {
    document.getElementById("findings").innerHTML = this.D.findings.map((s) => `<li>${markdownInline(s)}</li>`).join("") ||
      "<li>(report.md has no findings)</li>";
    const dg = this.D.diagnosis, box = document.getElementById("diagnosis");
    if (!dg) return;
    let h = "<h3>Diagnosis of the ablation (diagnosis.md)</h3><ul>" + dg.findings.map((s) => `<li>${markdownInline(s)}</li>`).join("") + "</ul>";
    if (dg.table) {
      h += `<p class="note">${markdownInline(dg.note)}</p><div class="table-scroll"><table><thead><tr>` +
        dg.table.header.map((c) => `<th>${markdownInline(c)}</th>`).join("") + "</tr></thead><tbody>" +
        dg.table.rows.map((r) => "<tr>" + r.map((c) => `<td>${markdownInline(c)}</td>`).join("") + "</tr>").join("") + "</tbody></table></div>";
    }
    box.innerHTML = h;
  }
}

(async function main() {
  try {
    const [Plotly, data] = await Promise.all([loadPlotly(), unpackJSON("page-data")]);
    window.dashboard = new Dashboard(Plotly, data);
    window.dashboard.start();
  } catch (err) {
    showError(err && err.stack ? err.stack : err);
  }
})();
