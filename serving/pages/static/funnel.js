// The funnel page: the newest `leadscore funnel` report kept in the store, as charts whose
// numbers are in their tooltips and in the tables beside them.
"use strict";

(() => {
  const { el, num, pct, pln, when, interval, figure, table, bars, lines, section } = LS;

  const rateBar = (label, rate, kind) => ({
    label, value: rate.rate, low: rate.low, high: rate.high, kind,
    text: pct(rate.rate),
    title: `${label}: ${pct(rate.rate, 2)} ${interval(rate, 2)} — ${num(rate.hits)} of ${num(rate.total)}`,
  });

  function headline(f) {
    const e = f.economics;
    const steps = f.steps.map((s, i) => figure(`step${i}`, s.name, `${pct(s.rate.rate)} ${interval(s.rate)}`, s.rate.rate));
    return el("div", { class: "figures" },
      figure("leads", "leads", num(f.leads), f.leads),
      ...steps,
      figure("clv_pln", "customer lifetime value", pln(e.clv_pln), e.clv_pln),
      figure("allowable_acquisition_cost_pln", "a customer may cost", pln(e.allowable_acquisition_cost_pln), e.allowable_acquisition_cost_pln),
      figure("value_per_lead_pln", "value of a lead", pln(e.value_per_lead_pln), e.value_per_lead_pln),
      figure("allowable_cost_per_lead_pln", "a lead may cost", pln(e.allowable_cost_per_lead_pln), e.allowable_cost_per_lead_pln),
      figure("km_median_days", "median days to contract (Kaplan-Meier)", num(f.velocity.km_median_days), f.velocity.km_median_days));
  }

  function stages(f) {
    const rows = [...f.steps, ...f.webinar];
    return section("Stage conversion (95% intervals)",
      bars(rows.map((s) => rateBar(s.name, s.rate)), { title: "stage conversion", max: 1 }),
      table([
        { label: "step", cell: (s) => s.name },
        { label: "rate", num: true, cell: (s) => pct(s.rate.rate, 2) },
        { label: "interval", num: true, cell: (s) => interval(s.rate, 2) },
        { label: "of", num: true, cell: (s) => `${num(s.rate.hits)} / ${num(s.rate.total)}` },
      ], rows, { class: "steps" }));
  }

  function sources(f) {
    return section("By source: conversion and what a lead may cost",
      bars(f.sources.map((s) => rateBar(s.group.key, s.group.contract)), { title: "lead to contract by source" }),
      table([
        { label: "source", cell: (s) => s.group.key },
        { label: "leads", num: true, cell: (s) => num(s.group.leads) },
        { label: "SQL", num: true, cell: (s) => `${pct(s.group.sql.rate)} ${interval(s.group.sql)}` },
        { label: "contract", num: true, cell: (s) => `${pct(s.group.contract.rate)} ${interval(s.group.contract)}` },
        { label: "CLV", num: true, cell: (s) => pln(s.clv_pln) },
        { label: "value / lead", num: true, cell: (s) => pln(s.value_per_lead_pln) },
        { label: "may cost / lead", num: true, cell: (s) => pln(s.allowable_cost_per_lead_pln) },
        { label: "costs / lead", num: true, cell: (s) => pln(s.cost_per_lead_pln) },
        { label: "pays for itself", cell: (s) => (s.pays_for_itself === null ? "–" : s.pays_for_itself ? "yes" : "no") },
      ], f.sources, { class: "sources" }));
  }

  function partners(f) {
    const p = f.partners;
    if (!p) return section("By partner", el("p", {}, "No partner column in the data."));
    const columns = [
      { label: "partner", cell: (g) => g.key },
      { label: "leads", num: true, cell: (g) => num(g.leads) },
      { label: "SQL", num: true, cell: (g) => `${pct(g.sql.rate)} ${interval(g.sql)}` },
      { label: "contract", num: true, cell: (g) => `${pct(g.contract.rate)} ${interval(g.contract)}` },
    ];
    return section(`By partner (${num(p.ranked)} of ${num(p.partners)} with ≥ ${p.min_leads} leads ranked by the interval's ${p.rank_by.replace("_", " ")})`,
      el("div", { class: "pair" },
        el("div", {}, el("h3", {}, "top"), bars(p.top.map((g) => rateBar(g.key, g.sql)), { title: "top partners, SQL rate" }), table(columns, p.top, { class: "partners-top" })),
        el("div", {}, el("h3", {}, "bottom"), bars(p.bottom.map((g) => rateBar(g.key, g.sql, "bar low")), { title: "bottom partners, SQL rate" }), table(columns, p.bottom, { class: "partners-bottom" }))));
  }

  function velocity(f) {
    const v = f.velocity;
    const keep = (share) => v.curve_days.map((d, i) => [d, share[i]]).filter((_, i) => i % 3 === 0 || i === v.curve_days.length - 1);
    return section("Velocity: days from SQL to contract",
      el("p", {}, `${num(v.signed)} signed, ${num(v.open)} still open (censored). Median ${num(v.km_median_days)} days (Kaplan-Meier; ${num(v.km_q1_days)}–${num(v.km_q3_days)}), ${num(v.median_days)} among the signed only.`),
      lines([
        { name: "signed by day (Kaplan-Meier, open deals censored)", points: keep(v.km_share_signed) },
        { name: "signed by day, signed deals only", points: keep(v.signed_only_share) },
      ], { title: "share signed by days since SQL", xFmt: (d) => `${d} d`, yFmt: (y) => pct(y, 0), yMax: 1 }));
  }

  function cohorts(f) {
    return section("Monthly cohorts",
      lines([
        { name: "SQL rate", points: f.cohorts.map((g, i) => [i, g.sql.rate]) },
        { name: "contract rate", points: f.cohorts.map((g, i) => [i, g.contract.rate]) },
      ], { title: "conversion by monthly cohort", dots: true, xFmt: (i) => (f.cohorts[i] ? f.cohorts[i].key : i), yFmt: (y) => pct(y) }));
  }

  function nurture(f) {
    const n = f.nurture;
    return section("Nurture pool",
      el("p", {}, `${num(n.pool)} leads (${pct(n.share_of_leads)} of all), median age ${num(n.age_median_days)} days; nurtured leads signed ${pct(n.nurtured_signed.rate)} ${interval(n.nurtured_signed)}, recycled ones ${pct(n.recycled_signed.rate)} ${interval(n.recycled_signed)}.`),
      bars(n.age_buckets.map(([label, count]) => ({ label, value: count, text: num(count) })), { title: "nurture pool by age" }));
  }

  function routing(f) {
    const r = f.model_routing;
    if (!r) return null;
    const all = [r.model, r.random, ...r.rules];
    return section(`Model routing: ${num(r.capacity_per_day)} leads a day to sales, backtest periods from ${LS.day(r.period_from)}`,
      bars(all.map((c) => ({ label: c.strategy, value: c.sql_share, text: pct(c.sql_share), kind: c === r.model ? "bar" : "bar other", title: `${c.strategy}: ${pct(c.sql_share)} of ${num(r.sqls)} SQLs, ${pct(c.contract_share)} of ${num(r.contracts)} contracts` })), { title: "share of SQLs caught", max: 1 }));
  }

  LS.show("/pages/api/funnel", ({ report }) => {
    if (!report) {
      return [el("h1", {}, "Funnel"), el("p", { class: "empty" }, "No funnel report in the store yet. Run `leadscore funnel --data <store URL>` (the store this service uses) to make one.")];
    }
    const f = report.body;
    return [
      el("h1", {}, "Funnel"),
      el("p", { class: "asof", "data-as-of": f.as_of }, `Data as of ${when(f.as_of)} · report made ${when(report.created_at)} by leadscore funnel`),
      headline(f), stages(f), sources(f), partners(f), velocity(f), cohorts(f), nurture(f), routing(f),
      ...f.notes.map((note) => el("p", { class: "note" }, "note: " + note)),
    ];
  });
})();
