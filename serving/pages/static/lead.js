// A lead's trail: who brought it and every change of that, its stages and events, and every
// decision with the model versions and reasons — "who brought this lead and why was it
// routed there", in one place.
"use strict";

(() => {
  const { el, num, when, table, section, bars, figure } = LS;
  const id = decodeURIComponent(location.pathname.replace(/^\/pages\/lead\//, ""));

  const reasonList = (side) => el("ul", { class: "reasons" }, side.map((r) =>
    el("li", {}, `${r.feature} = ${r.value === null ? "never" : r.value} (${r.contribution > 0 ? "+" : ""}${r.contribution})`)));

  function who(lead) {
    return el("div", { class: "figures" },
      figure("source", "source", lead.source, lead.source),
      figure("partner_id", "partner who brought it", lead.partner_id || "none", lead.partner_id || ""),
      figure("owner_id", "owner", lead.owner_id || "none", lead.owner_id || ""),
      figure("created_at", "created", when(lead.created_at), lead.created_at));
  }

  function decisions(rows) {
    return section(`Decisions (${num(rows.length)}, newest first)`, rows.length ? table([
      { label: "scored", cell: (d) => when(d.scored_at) },
      { label: "as of", cell: (d) => when(d.as_of) },
      { label: "models", cell: (d) => el("span", { class: "models", title: `feature spec ${d.feature_spec}` }, `conversion v${d.conversion_version} · velocity v${d.velocity_version}`) },
      { label: "score", num: true, cell: (d) => num(d.score, 1) },
      { label: "tier", cell: (d) => d.tier },
      { label: "route", cell: (d) => [d.route.replace("_", " "), d.holdout ? el("span", { class: "badge quiet" }, "holdout") : null] },
      { label: "why this route", cell: (d) => d.route_reason },
      { label: "reasons up", cell: (d) => reasonList(d.reasons.up || []) },
      { label: "reasons down", cell: (d) => reasonList(d.reasons.down || []) },
      { label: "by", cell: (d) => d.caller },
    ], rows, { class: "decisions" }) : el("p", {}, "Never scored."));
  }

  LS.show("/pages/api/lead/" + encodeURIComponent(id), (t) => {
    const attributes = Object.entries(t.lead.attributes);
    return [
      el("h1", {}, "Lead ", el("span", { id: "lead-id" }, t.lead.lead_id)),
      who(t.lead),
      section("Who brought it: every change", table([
        { label: "when", cell: (a) => when(a.changed_at) },
        { label: "field", cell: (a) => a.field },
        { label: "value", cell: (a) => a.value ?? "none" },
        { label: "by", cell: (a) => a.changed_by },
      ], t.attribution, { class: "attribution" })),
      section("Stages", t.stages.length ? table([
        { label: "when", cell: (s) => when(s.ts) },
        { label: "stage", cell: (s) => s.stage },
        { label: "MRR", num: true, cell: (s) => (s.mrr ? num(s.mrr) + " PLN" : "") },
      ], t.stages, { class: "stages" }) : el("p", {}, "No stages yet.")),
      decisions(t.decisions),
      section(`Events (${num(t.events.total)})`,
        t.events.total ? bars(Object.entries(t.events.by_type).map(([kind, n]) => ({ label: kind, value: n, text: num(n) })), { title: "events by type" }) : el("p", {}, "No events."),
        t.events.latest.length ? el("details", {}, el("summary", {}, `the newest ${t.events.latest.length}`),
          table([{ label: "when", cell: (e) => when(e.ts) }, { label: "event", cell: (e) => e.event_type }], t.events.latest, { class: "events" })) : null),
      attributes.length ? section("Attributes", table([
        { label: "attribute", cell: ([k]) => k }, { label: "value", cell: ([, v]) => String(v) },
      ], attributes)) : null,
    ];
  });
})();
