// Tonight's list: the newest nightly rescore in the store, a page at a time. Sorting,
// filtering and paging are done by the service (the query string is the view, so a link or
// the back button returns to it); the CSV link exports every row of the same view.
"use strict";

(() => {
  const { el, num, pct, pln, when, table, leadLink, api } = LS;
  const main = document.getElementById("main");
  const ROUTE_LABELS = { active_sales: "sent to active sales", recycled: "recycled (nurturing → sales)", nurturing: "left in nurture", all: "all scored" };
  const SORTABLE = { score: "score", expected_value_pln: "expected value", tier: "tier", lead_id: "lead", source: "source", partner_id: "partner" };

  const view = () => new URLSearchParams(location.search);

  function go(changes) {
    const params = view();
    for (const [name, value] of Object.entries(changes)) {
      if (value === null || value === "") params.delete(name);
      else params.set(name, value);
    }
    if (!("page" in changes)) params.delete("page");
    history.pushState(null, "", "?" + params.toString());
    draw();
  }

  function reasons(row) {
    const up = (row.reasons && row.reasons.up) || [];
    if (!up.length) return "–";
    return el("ul", { class: "reasons" }, up.map((r) =>
      el("li", { title: `${r.feature} = ${r.value === null ? "never" : r.value}: +${r.contribution} log-odds` }, r.feature)));
  }

  function sortHeader(key) {
    const params = view();
    const current = (params.get("sort") || "score") === key;
    const descending = (params.get("order") || "desc") === "desc";
    const arrow = current ? (descending ? " ▼" : " ▲") : "";
    const button = el("button", { type: "button", class: "sort", "data-sort": key, "aria-sort": current ? (descending ? "descending" : "ascending") : null }, SORTABLE[key] + arrow);
    button.addEventListener("click", () => go({ sort: key, order: current && descending ? "asc" : "desc" }));
    return button;
  }

  function controls(data) {
    const params = view();
    const select = (name, label, options, labels) => {
      const node = el("select", { name, id: `f-${name}` },
        el("option", { value: "" }, "any"),
        options.map((o) => el("option", { value: o, selected: params.get(name) === o ? "selected" : null }, labels ? labels[o] : o)));
      if (name === "route") node.firstChild.remove();
      node.value = params.get(name) || (name === "route" ? "active_sales" : "");
      node.addEventListener("change", () => go({ [name]: node.value }));
      return el("label", {}, label + " ", node);
    };
    const csv = new URLSearchParams(params);
    csv.delete("page");
    csv.delete("per_page");
    return el("div", { class: "controls" },
      select("route", "show", data.routes, ROUTE_LABELS),
      select("tier", "tier", data.tiers),
      select("source", "source", data.choices.source),
      select("partner_id", "partner", data.choices.partner_id),
      el("a", { href: "/pages/api/tonight.csv?" + csv.toString(), class: "button", download: "", id: "csv" }, "Export CSV"));
  }

  function pager(data) {
    const page = data.page;
    const button = (label, target, enabled) => {
      const node = el("button", { type: "button", disabled: enabled ? null : "disabled" }, label);
      node.addEventListener("click", () => go({ page: String(target) }));
      return node;
    };
    return el("nav", { class: "pager", "aria-label": "pages" },
      button("← previous", page - 1, page > 1),
      el("span", {}, ` page ${num(page)} of ${num(Math.max(data.pages, 1))} · ${num(data.total)} leads `),
      button("next →", page + 1, page < data.pages));
  }

  function summary(run) {
    const by = run.by_route;
    const recycled = run.recycled === null ? "no earlier rescore in the store to compare with" : `${num(run.recycled)} recycled from nurturing since the run of ${when(run.previous_scored_at)}`;
    return el("p", { class: "asof", "data-as-of": run.as_of },
      `Rescore recorded ${when(run.scored_at)}, scores as of ${when(run.as_of)}: ${num(run.leads)} leads, ` +
      `${num(by.active_sales || 0)} sent to active sales, ${num(by.nurturing || 0)} left in nurture; ${recycled}.`);
  }

  function list(data) {
    const offset = (data.page - 1) * (Number(view().get("per_page")) || 50);
    const columns = [
      { label: "#", num: true, cell: (r) => num(offset + data.rows.indexOf(r) + 1) },
      { label: "lead", header: sortHeader("lead_id"), cell: (r) => leadLink(r.lead_id) },
      { label: "score", header: sortHeader("score"), num: true, cell: (r) => num(r.score, 1) },
      { label: "tier", header: sortHeader("tier"), cell: (r) => r.tier },
      { label: "expected value", header: sortHeader("expected_value_pln"), num: true, cell: (r) => pln(r.expected_value_pln) },
      { label: "route", cell: (r) => el("span", { title: r.route_reason }, r.route.replace("_", " "), r.recycled ? el("span", { class: "badge" }, "recycled") : null, r.holdout ? el("span", { class: "badge quiet" }, "holdout") : null) },
      { label: "top reasons", cell: reasons },
      { label: "source", header: sortHeader("source"), cell: (r) => r.source },
      { label: "partner", header: sortHeader("partner_id"), cell: (r) => r.partner_id || "–" },
      { label: "P(SQL 30 d)", num: true, cell: (r) => pct(r.probability) },
    ];
    return table(columns, data.rows, { class: "list", id: "tonight" });
  }

  async function draw() {
    try {
      const data = await api("/pages/api/tonight" + location.search);
      if (!data.run) {
        main.replaceChildren(el("h1", {}, "Tonight's list"), el("p", { class: "empty" }, "No rescore in the store yet. Run `leadscore rescore --data <store URL> --out DIR` (the store this service uses)."));
      } else {
        main.replaceChildren(el("h1", {}, "Tonight's list"), summary(data.run), controls(data), list(data), pager(data));
      }
      main.setAttribute("data-ready", "true");
    } catch (error) {
      main.replaceChildren(el("p", { class: "error", role: "alert" }, String(error.message || error)));
      main.setAttribute("data-ready", "error");
    }
  }

  window.addEventListener("popstate", draw);
  draw();
})();
