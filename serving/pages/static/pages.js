// Shared by every page: reading the data endpoints, building elements (text only, never
// HTML from data), numbers as people read them, tables and small SVG charts. No library:
// the pages must work with no network beyond the service itself.
"use strict";

const LS = (() => {
  const SVG = "http://www.w3.org/2000/svg";

  /** GET a data endpoint; a 401 sends the browser to the login form and back here. */
  async function api(path) {
    const answer = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (answer.status === 401) {
      location.assign("/pages/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new Error("not logged in");
    }
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error || answer.statusText);
    return body;
  }

  /** An element: attributes (on* never), then children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    return fill(node, attrs, children);
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    return fill(node, attrs, children);
  }

  function fill(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const missing = "–";
  const isNum = (x) => typeof x === "number" && Number.isFinite(x);
  const num = (x, digits = 0) =>
    isNum(x) ? x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : missing;
  const pct = (x, digits = 1) => (isNum(x) ? num(100 * x, digits) + "%" : missing);
  const pln = (x) => (isNum(x) ? num(x) + " PLN" : missing);
  const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 16) + " UTC" : missing);
  const day = (iso) => (iso ? iso.slice(0, 10) : missing);
  const interval = (r, digits = 1) => (r && isNum(r.low) ? `[${pct(r.low, digits)}, ${pct(r.high, digits)}]` : "");

  /** A figure whose exact value tests and scripts can read (data-value). */
  function figure(key, label, shown, value) {
    return el("div", { class: "figure", "data-figure": key, "data-value": value },
      el("span", { class: "label" }, label), el("span", { class: "value" }, shown));
  }

  /** A table: columns are {label, cell(row) → text or node, num?: right-aligned}. */
  function table(columns, rows, attrs) {
    const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null }, c.header || c.label)));
    const body = rows.map((row) =>
      el("tr", {}, columns.map((c) => el("td", { class: c.num ? "num" : null }, c.cell(row)))));
    return el("table", attrs || {}, el("thead", {}, head), el("tbody", {}, body));
  }

  /** Horizontal bars with an interval whisker each; the numbers are in each bar's tooltip. */
  function bars(items, opts = {}) {
    const width = 640, label = 240, row = 22, right = 70;
    const top = Math.max(...items.map((i) => (isNum(i.high) ? i.high : i.value)), 1e-9);
    const max = opts.max || top;
    const x = (v) => label + ((width - label - right) * v) / max;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${items.length * row + 4}`, class: "chart", role: "img", "aria-label": opts.title || "" });
    items.forEach((item, i) => {
      const y = i * row + 2;
      const group = svg("g", {}, svg("title", {}, item.title || `${item.label}: ${item.text}`));
      group.append(
        svg("text", { x: label - 6, y: y + 14, "text-anchor": "end", class: "axis" }, item.label),
        svg("rect", { x: label, y: y + 3, width: Math.max(0, x(item.value) - label), height: row - 8, class: item.kind || "bar" }),
        svg("text", { x: width - 4, y: y + 14, "text-anchor": "end", class: "axis" }, item.text));
      if (isNum(item.low) && isNum(item.high)) {
        group.append(svg("line", { x1: x(item.low), x2: x(item.high), y1: y + row / 2, y2: y + row / 2, class: "whisker" }));
      }
      chart.append(group);
    });
    return chart;
  }

  /** Lines over a shared x axis: series are {name, points: [[x, y]], kind}. */
  function lines(series, opts = {}) {
    const width = 560, height = 220, pad = 36;
    const xs = series.flatMap((s) => s.points.map((p) => p[0]));
    const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(isNum);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const y1 = opts.yMax || Math.max(...ys, 1e-9);
    const sx = (v) => pad + ((width - 2 * pad) * (v - x0)) / (x1 - x0 || 1);
    const sy = (v) => height - pad - ((height - 2 * pad) * v) / y1;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": opts.title || "" });
    chart.append(
      svg("line", { x1: pad, x2: width - pad, y1: height - pad, y2: height - pad, class: "frame" }),
      svg("line", { x1: pad, x2: pad, y1: pad / 2, y2: height - pad, class: "frame" }),
      svg("text", { x: pad, y: height - 8, class: "axis" }, opts.xFmt ? opts.xFmt(x0) : x0),
      svg("text", { x: width - pad, y: height - 8, "text-anchor": "end", class: "axis" }, opts.xFmt ? opts.xFmt(x1) : x1),
      svg("text", { x: 4, y: pad / 2 + 4, class: "axis" }, opts.yFmt ? opts.yFmt(y1) : y1));
    series.forEach((s, k) => {
      const points = s.points.filter((p) => isNum(p[1]));
      const d = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
      chart.append(svg("path", { d, class: `line line${k}` }, svg("title", {}, s.name)));
      points.forEach((p) => {
        if (!opts.dots) return;
        chart.append(svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, class: `dot line${k}` },
          svg("title", {}, `${s.name}: ${opts.xFmt ? opts.xFmt(p[0]) : p[0]} → ${opts.yFmt ? opts.yFmt(p[1]) : p[1]}`)));
      });
    });
    const legend = el("p", { class: "legend" }, series.map((s, k) => el("span", { class: `key line${k}` }, s.name)));
    return el("figure", {}, chart, legend);
  }

  function section(title, ...children) {
    return el("section", {}, el("h2", {}, title), ...children);
  }

  /** Draw a page: `render(data)` returns its nodes; errors are shown, not swallowed. */
  async function show(path, render) {
    const main = document.getElementById("main");
    try {
      const data = await api(path);
      main.replaceChildren(...render(data).filter(Boolean));
      main.setAttribute("data-ready", "true");
    } catch (error) {
      main.replaceChildren(el("p", { class: "error", role: "alert" }, String(error.message || error)));
      main.setAttribute("data-ready", "error");
    }
  }

  /** A lead id as a link to its trail. */
  const leadLink = (id) => el("a", { href: "/pages/lead/" + encodeURIComponent(id), class: "lead" }, id);

  return { api, el, svg, num, pct, pln, when, day, interval, figure, table, bars, lines, section, show, leadLink, isNum };
})();

// The header's "open lead" box goes straight to the lead's page.
document.addEventListener("DOMContentLoaded", () => {
  const find = document.getElementById("find");
  if (!find) return;
  find.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = document.getElementById("find-id").value.trim();
    if (id) location.assign("/pages/lead/" + encodeURIComponent(id));
  });
});
