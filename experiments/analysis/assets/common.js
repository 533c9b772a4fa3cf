// Shared by every page: unpack the inlined blocks, start plotly, sortable tables.
"use strict";

async function unpack(id) {
  // A <script type="application/gzip-base64"> block -> its text (see page.py).
  const b64 = document.getElementById(id).textContent.trim();
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

async function unpackJSON(id) {
  return JSON.parse(await unpack(id));
}

async function loadPlotly() {
  // Indirect eval runs plotly.js at global scope, where it defines window.Plotly.
  (0, eval)(await unpack("plotly-js"));
  return window.Plotly;
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function fmt(v) {
  // Numbers as tables show them: up to 4 significant digits.
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
  return String(v);
}

function showError(err) {
  // A failure is shown on the page and reported on the console (the browser test watches it).
  const box = document.getElementById("page-error");
  if (box) { box.hidden = false; box.textContent = "This page failed to draw: " + err; }
  console.error(err);
}

class DataTable {
  // A sortable (click a header), filterable (text box) table of columnar data.
  // columns: names; data: one array per column; rows shown: those of setRows() matching the text.
  constructor(container, columns, data, opts = {}) {
    this.columns = columns;
    this.data = data;
    this.rows = data.length ? data[0].map((_, i) => i) : [];
    this.sortCol = opts.sortCol ?? -1;
    this.sortDesc = opts.sortDesc ?? false;
    this.limit = opts.limit ?? 2000;
    this.onRowClick = opts.onRowClick ?? null;
    this.text = data.length ? data[0].map((_, i) => columns.map((_, c) => fmt(data[c][i])).join(" ").toLowerCase()) : [];
    container.innerHTML = "";
    const bar = document.createElement("div");
    bar.className = "table-bar";
    this.search = document.createElement("input");
    this.search.type = "search";
    this.search.placeholder = "filter rows (text)";
    this.search.addEventListener("input", () => this.render());
    this.count = document.createElement("span");
    this.count.className = "table-count";
    bar.append(this.search, this.count);
    const scroll = document.createElement("div");
    scroll.className = "table-scroll";
    this.table = document.createElement("table");
    scroll.append(this.table);
    container.append(bar, scroll);
    this.render();
  }

  setRows(rows) { this.rows = rows; this.render(); }

  shown() {
    const q = this.search.value.trim().toLowerCase();
    let rows = q ? this.rows.filter((i) => this.text[i].includes(q)) : this.rows.slice();
    if (this.sortCol >= 0) {
      const col = this.data[this.sortCol], sign = this.sortDesc ? -1 : 1;
      rows.sort((a, b) => {
        const x = col[a], y = col[b];
        if (x === y) return a - b;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * sign;
      });
    }
    return rows;
  }

  render() {
    const rows = this.shown();
    const head = this.columns.map((c, j) => {
      const mark = j === this.sortCol ? (this.sortDesc ? " ▼" : " ▲") : "";
      return `<th data-col="${j}">${esc(c)}${mark}</th>`;
    }).join("");
    const body = rows.slice(0, this.limit).map((i) =>
      `<tr data-row="${i}">` + this.columns.map((_, c) => `<td>${esc(fmt(this.data[c][i]))}</td>`).join("") + "</tr>").join("");
    this.table.innerHTML = `<thead><tr>${head}</tr></thead><tbody>${body}</tbody>`;
    this.count.textContent = `${rows.length} of ${this.data.length ? this.data[0].length : 0} rows` +
      (rows.length > this.limit ? ` (first ${this.limit} shown)` : "");
    this.table.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => {
      const j = +th.dataset.col;
      this.sortDesc = j === this.sortCol ? !this.sortDesc : false;
      this.sortCol = j;
      this.render();
    }));
    if (this.onRowClick) {
      this.table.querySelectorAll("tbody tr").forEach((tr) => tr.addEventListener("click", () => this.onRowClick(+tr.dataset.row)));
    }
  }
}

function markdownInline(text) {
  // `code` and **bold**, the only inline markup of the reports.
  return esc(text).replace(/`([^`]+)`/g, "<code>$1</code>").replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>");
}
