// Model health: the champion against the challenger on their backtests (the registry), and
// the newest `leadscore monitor` result kept in the store with its alert state.
"use strict";

(() => {
  const { el, num, pct, when, day, interval, figure, table, bars, lines, section, isNum } = LS;
  const fixed = (x, digits = 3) => (isNum(x) ? x.toFixed(digits) : "–");

  function models(m, serving) {
    const aliases = ["champion", "challenger"].filter((a) => m[a]);
    if (!aliases.length) return [section("Models", el("p", { class: "empty" }, "No model in the registry yet: run `leadscore train`."))];
    const version = (a) => `conversion v${m[a].conversion_version} · velocity v${m[a].velocity_version ?? "–"}`;
    const rows = Object.entries(m.labels).map(([key, label]) => ({ key, label }));
    const now = serving ? `Serving now: conversion v${serving.conversion.version} · velocity v${serving.velocity.version}.` : "No model loaded yet (see /readyz).";
    const folds = aliases.flatMap((a) => m[a].folds.filter((f) => isNum(f.auc)).map((f) => ({
      label: `${a} fold ${f.fold}`, value: f.auc, low: f.low, high: f.high, kind: a === "champion" ? "bar" : "bar other",
      text: fixed(f.auc), title: `${a}, fold ${f.fold}: AUC ${fixed(f.auc)} [${fixed(f.low)}, ${fixed(f.high)}], logistic baseline ${fixed(f.baseline)}`,
    })));
    return [
      el("p", { id: "serving" }, now),
      el("div", { class: "figures" }, aliases.map((a) => figure(a, a, version(a), m[a].conversion_version))),
      section("Backtests (pooled, out of fold)", table([
        { label: "figure", cell: (r) => r.label },
        ...aliases.map((a) => ({ label: `${a} (${version(a)})`, num: true, cell: (r) => fixed(m[a].metrics[r.key]) })),
      ], rows, { class: "backtests" })),
      folds.length ? section("AUC by backtest period (95% intervals)", bars(folds, { title: "AUC by fold", max: 1 })) : null,
    ];
  }

  function alert(report) {
    const f = report.body;
    const state = f.breaches.length ? "breach" : "healthy";
    return [
      el("p", { class: "asof", "data-as-of": f.as_of }, `Monitor run as of ${when(f.as_of)} · made ${when(report.created_at)} by leadscore monitor`),
      el("p", { class: `alert ${state}`, id: "alert", "data-state": state, role: "status" },
        state === "healthy" ? "Healthy: no breach." : `${f.breaches.length} breach${f.breaches.length > 1 ? "es" : ""}:`),
      f.breaches.length ? el("ul", { class: "breaches" }, f.breaches.map((b) => el("li", {}, `${b.check}: ${b.subject} (${b.period}): ${b.message}`))) : null,
    ];
  }

  function drift(f) {
    return section("Drift by period (PSI against the training reference)",
      lines([
        { name: "score PSI", points: f.periods.map((p, i) => [i, p.score_psi]) },
        { name: "largest feature PSI", points: f.periods.map((p, i) => [i, p.max_feature_psi]) },
      ], { title: "PSI by period", dots: true, xFmt: (i) => day(f.periods[i] && f.periods[i].start), yFmt: (y) => fixed(y, 2) }),
      table([
        { label: "period from", cell: (p) => day(p.start) },
        { label: "leads scored", num: true, cell: (p) => num(p.rows) },
        { label: "score PSI", num: true, cell: (p) => fixed(p.score_psi) },
        { label: "largest feature PSIs", cell: (p) => Object.entries(p.top_features).slice(0, 3).map(([k, v]) => `${k} ${fixed(v, 2)}`).join(", ") },
      ], f.periods, { class: "drift" }));
  }

  function calibration(f) {
    const judged = f.periods.filter((p) => p.calibration);
    const rows = judged.map((p) => ({ start: p.start, matured: p.matured, auc: p.auc, ece: p.ece, ...p.calibration }));
    return section("Calibration by period: predicted against observed P(SQL)",
      judged.length ? lines([
        { name: "predicted", points: judged.map((p, i) => [i, p.calibration.predicted]) },
        { name: "observed", points: judged.map((p, i) => [i, p.calibration.observed.rate]) },
      ], { title: "calibration by period", dots: true, xFmt: (i) => day(judged[i] && judged[i].start), yFmt: (y) => pct(y, 1) }) : el("p", {}, "No period with matured labels yet."),
      table([
        { label: "period from", cell: (r) => day(r.start) },
        { label: "labelled", num: true, cell: (r) => num(r.labelled) },
        { label: "predicted", num: true, cell: (r) => pct(r.predicted, 2) },
        { label: "observed", num: true, cell: (r) => `${pct(r.observed.rate, 2)} ${interval(r.observed, 2)}` },
        { label: "AUC", num: true, cell: (r) => fixed(r.auc) },
        { label: "matured", cell: (r) => (r.matured ? "yes" : "not yet") },
      ], rows, { class: "calibration" }),
      f.by_source.length ? el("details", {}, el("summary", {}, `by source, period from ${day(f.calibration_period)}`), table([
        { label: "source", cell: (c) => c.group },
        { label: "labelled", num: true, cell: (c) => num(c.labelled) },
        { label: "predicted", num: true, cell: (c) => pct(c.predicted, 2) },
        { label: "observed", num: true, cell: (c) => `${pct(c.observed.rate, 2)} ${interval(c.observed, 2)}` },
      ], f.by_source)) : null);
  }

  function rule(f) {
    const r = f.rule;
    if (!r) return section("Model against the rule", el("p", {}, "Not judged yet: no matured leads routed by the tiers."));
    return section("Model against the rule",
      bars([
        { label: "model's sales picks", value: r.model.rate, low: r.model.low, high: r.model.high, text: pct(r.model.rate), title: `${num(r.routed)} leads the tiers sent to sales: ${pct(r.model.rate)} ${interval(r.model)} reached SQL` },
        { label: r.best_rule || "best rule", value: r.rule_sql_rate, kind: "bar other", text: pct(r.rule_sql_rate) },
      ], { title: "SQL rate of the model's picks against the best rule", max: 1 }));
  }

  function dataHealth(f) {
    const h = f.health;
    if (!h) return null;
    const unseen = Object.entries(h.unseen).map(([k, v]) => `${k}: ${Object.keys(v).length} unseen values`);
    return section(`Data health, period from ${day(h.period)}`,
      el("p", {}, `${num(h.new_leads)} new leads, source mix PSI ${fixed(h.source_psi)}; ${num(h.events)} events, ${pct(h.unknown_event_share)} of unknown types` +
        `${h.stopped_event_types.length ? "; stopped: " + h.stopped_event_types.join(", ") : ""}${unseen.length ? "; " + unseen.join(", ") : ""}.`));
  }

  LS.show("/pages/api/health", (h) => {
    const monitor = h.monitor
      ? [...alert(h.monitor), drift(h.monitor.body), calibration(h.monitor.body), rule(h.monitor.body), dataHealth(h.monitor.body)]
      : [el("p", { class: "empty", id: "alert", "data-state": "none" }, "No monitor result in the store yet. Run `leadscore monitor --data <store URL>` (the store this service uses).")];
    return [el("h1", {}, "Model health"), ...models(h.models, h.serving), el("h2", {}, "Monitoring"), ...monitor];
  });
})();
