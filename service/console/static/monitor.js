/* Monitor: the /v1/stats figures over a chosen window as charts (Chart.js), drift flagged. */
"use strict";

(() => {
  const { api, el, show, fmt, pct, utc, fail } = Console;
  const REFRESH_MS = 15000;
  const charts = {};
  const knownVersions = new Set();
  let timer = null;
  let loading = false;
  let again = false; // a choice made while a load ran: load once more with it when that one ends
  let modelLabels = [];

  const COLORS = ["#1f6feb", "#cf222e", "#1f883d", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#57606a"];
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

  let models = [];

  async function start() {
    const listed = await api("/v1/models");
    models = listed.ok ? listed.data.models || [] : [];
    const picker = document.getElementById("model");
    picker.append(...models.map((m) => el("option", { value: m.name, text: m.name + (m.default ? " (default)" : "") })));
    const chosen = models.find((m) => m.default) || models[0];
    if (chosen) picker.value = chosen.name;
    pickModel();
    document.getElementById("monitor-form").addEventListener("submit", (e) => { e.preventDefault(); load(e); });
    picker.addEventListener("change", () => { pickModel(); load(new Event("change")); });
    for (const id of ["window", "version"]) document.getElementById(id).addEventListener("change", load);
    document.getElementById("promote").addEventListener("click", () => candidateCall("POST", "/promote", "Promote"));
    document.getElementById("stop-candidate").addEventListener("click", () => candidateCall("DELETE", "", "Stop"));
    document.getElementById("auto").addEventListener("change", schedule);
    await load(new Event("start"));
  }

  /* A model's own versions and labels: the version list starts again from the model picked. */
  function pickModel() {
    const m = models.find((x) => x.name === document.getElementById("model").value);
    modelLabels = m ? m.labels || [] : [];
    knownVersions.clear();
    const select = document.getElementById("version");
    select.replaceChildren(el("option", { value: "", text: "all" }));
    if (m) addVersion(m.version);
  }

  function model() { return document.getElementById("model").value; }

  function addVersion(v) {
    if (!v || knownVersions.has(v)) return;
    knownVersions.add(v);
    document.getElementById("version").append(el("option", { value: v, text: v }));
  }

  function schedule() {
    clearInterval(timer);
    if (document.getElementById("auto").checked) timer = setInterval(() => load(), REFRESH_MS);
  }

  async function load(event) {
    // The timer skips a hidden tab: no queries on the log for a page nobody is looking at.
    if (event === undefined && document.hidden) return;
    if (loading) { again = again || event !== undefined; return; }
    loading = true;
    try {
      const params = new URLSearchParams({ window: document.getElementById("window").value });
      const version = document.getElementById("version").value;
      if (version) params.set("model_version", version);
      if (model()) params.set("model", model());
      const result = await api("/v1/stats?" + params);
      if (!result.ok) {
        clearInterval(timer);
        document.getElementById("monitor-body").hidden = true;
        return fail(result, "Monitor", "monitor-error");
      }
      show("monitor-error", "");
      document.getElementById("monitor-body").hidden = false;
      render(result.data);
      await loadCompare();
      schedule();
    } finally {
      loading = false;
      if (again) { again = false; load(new Event("again")); }
    }
  }

  function render(s) {
    const w = s.window || {};
    document.getElementById("window-line").textContent =
      "From " + utc(w.start) + " to " + utc(w.end) + " · interval " + duration(w.interval_s) +
      " · model " + (w.model_version || "all versions") + " · updated " + utc(new Date().toISOString());
    for (const v of s.feedback?.by_version || []) addVersion(v.model_version);
    renderDrift(s.drift);
    renderTiles(s);
    const total = s.requests?.total || 0;
    show("monitor-empty", total ? "" :
      "No predictions in this window. Send some from the Try page (or POST /v1/sentiment), or choose a longer window.");

    const series = s.requests?.series || [];
    chart("chart-requests", "bar", series.map((p) => tick(p.t, w.interval_s)), [
      { label: "requests", data: series.map((p) => p.count), backgroundColor: COLORS[0] },
      { label: "errors", data: series.map((p) => p.errors), backgroundColor: COLORS[1] },
    ], { scales: { x: { stacked: false, title: { display: true, text: "interval start (UTC)" } }, y: { beginAtZero: true, ticks: { precision: 0 } } } });

    const labels = Object.entries(s.labels || {});
    chart("chart-labels", "bar", labels.map(([k]) => k), [
      { label: "predictions", data: labels.map(([, v]) => v), backgroundColor: labels.map(([k]) => labelColor(k)) },
    ], { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } });

    histogram("chart-scores", s.score_histogram, "predictions", COLORS[4], 2);
    histogram("chart-length", s.text_length, "texts", COLORS[6], 0);
    histogram("chart-unknown", s.unknown_token_rate, "texts", COLORS[3], 2);
    histogram("chart-batch", s.batch_size, "texts", COLORS[2], 0);

    const lat = s.latency_ms || {}, queue = s.queue_wait_ms || {};
    const keys = ["p50", "p90", "p99", "max"];
    chart("chart-latency", "bar", keys, [
      { label: "latency", data: keys.map((k) => lat[k] ?? null), backgroundColor: COLORS[0] },
      { label: "queue wait", data: keys.map((k) => queue[k] ?? null), backgroundColor: COLORS[7] },
    ], { scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } } });

    renderErrors(s.errors_by_code || {});
    renderCounts("languages-table", "language", s.languages || {},
      "No text was read by language in this window (no served model states its language).");
    renderFeedback(s.feedback);
  }

  function renderTiles(s) {
    const total = s.requests?.total || 0, errors = s.requests?.errors || 0;
    const tiles = [
      ["Requests", fmt(total, 0), "texts served in the window"],
      ["Errors", fmt(errors, 0), total ? pct(errors / total) + " of requests" : "no requests"],
      ["Latency p50", fmt(s.latency_ms?.p50, 1) + " ms", "p99 " + fmt(s.latency_ms?.p99, 1) + " ms · max " + fmt(s.latency_ms?.max, 1) + " ms"],
      ["Queue wait p99", fmt(s.queue_wait_ms?.p99, 1) + " ms", "p50 " + fmt(s.queue_wait_ms?.p50, 1) + " ms"],
      ["Mean batch size", fmt(s.batch_size?.mean, 1), "texts per forward pass"],
      ["Unknown-token rate", s.unknown_token_rate?.mean == null ? "—" : pct(s.unknown_token_rate.mean), "mean share of words not in the vocabulary"],
      ["Feedback", fmt(s.feedback?.count || 0, 0), "reviewed predictions"],
      ["Accuracy", s.feedback?.accuracy == null ? "—" : pct(s.feedback.accuracy), "of reviewed predictions"],
    ];
    const box = document.getElementById("tiles");
    box.replaceChildren(...tiles.map(([name, value, hint]) =>
      el("div", { class: "tile", "data-tile": name },
        el("div", { class: "tile-name", text: name }), el("div", { class: "tile-value", text: value }),
        el("div", { class: "tile-hint", text: hint }))));
  }

  function renderDrift(d) {
    const box = document.getElementById("drift");
    box.replaceChildren();
    if (!d) { box.hidden = true; return; }
    box.hidden = false;
    box.className = "card drift " + (d.drift ? "alert" : "ok");
    const ref = d.reference || {};
    box.append(el("h2", { text: d.drift ? "Drift detected" : "No drift detected" }),
      el("p", { class: "small", text: (d.method || "") + ", drift at ≥ " + d.threshold + " · reference " +
        utc(ref.start) + " to " + utc(ref.end) + " vs the window above" }));
    const rows = Object.entries(d.features || {}).map(([name, f]) =>
      el("tr", { class: f.drift ? "drifted" : "" },
        el("td", { text: name.replaceAll("_", " ") }),
        el("td", { text: f.distance == null ? "not enough data" : fmt(f.distance, 3) }),
        el("td", { text: f.drift ? "DRIFT" : "ok" }),
        el("td", { text: fmt(f.reference_rows, 0) + " / " + fmt(f.current_rows, 0) })));
    box.append(el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, el("th", { text: "feature" }), el("th", { text: "distance" }),
        el("th", { text: "state" }), el("th", { text: "rows (reference / current)" }))),
      el("tbody", {}, ...rows))));
  }

  function renderCounts(id, heading, counts, empty) {
    const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
    const box = document.getElementById(id);
    if (!entries.length) { box.replaceChildren(el("p", { class: "empty", text: empty })); return; }
    box.replaceChildren(el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: heading }), el("th", { text: "count" }))),
      el("tbody", {}, ...entries.map(([c, n]) => el("tr", {}, el("td", { class: "mono", text: c }), el("td", { text: fmt(n, 0) }))))));
  }

  function renderErrors(byCode) {
    renderCounts("errors-table", "code", byCode, "No errors in this window.");
  }

  function renderFeedback(f) {
    const box = document.getElementById("feedback");
    if (!f || !f.count) {
      box.replaceChildren(el("p", { class: "empty", text:
        "No feedback in this window yet. Confirm or correct predictions on the Review page (or POST /v1/feedback) and accuracy appears here." }));
      return;
    }
    const parts = [el("p", {}, "Accuracy ", el("strong", { id: "accuracy", text: pct(f.accuracy) }),
      " over " + fmt(f.count, 0) + " reviewed predictions.")];
    for (const v of f.by_version || []) {
      const classes = Object.entries(v.per_class || {});
      parts.push(el("h3", { text: "Model " + v.model_version + ": accuracy " + pct(v.accuracy) + " (" + fmt(v.count, 0) + ")" }));
      parts.push(el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, el("th", { text: "label" }), el("th", { text: "precision" }), el("th", { text: "recall" }), el("th", { text: "support" }))),
        el("tbody", {}, ...classes.map(([name, c]) => el("tr", {}, el("td", { text: name }), el("td", { text: pct(c.precision) }),
          el("td", { text: pct(c.recall) }), el("td", { text: fmt(c.support, 0) })))))));
      const cm = v.confusion;
      if (cm && cm.labels) {
        parts.push(el("div", { class: "table-wrap" }, el("table", { class: "confusion" },
          el("caption", { text: "Confusion matrix: rows = reviewed label, columns = predicted label" }),
          el("thead", {}, el("tr", {}, el("th", { text: "" }), ...cm.labels.map((l) => el("th", { text: "pred " + l })))),
          el("tbody", {}, ...cm.matrix.map((row, i) => el("tr", {}, el("th", { text: cm.labels[i] }),
            ...row.map((n, j) => el("td", { class: i === j ? "diag" : n ? "off" : "", text: fmt(n, 0) }))))))));
      }
    }
    box.replaceChildren(...parts);
  }

  /* The compare panel: the model's candidate (if any) against it, over the same window. */
  async function loadCompare() {
    if (!model()) return;
    const base = "/v1/models/" + encodeURIComponent(model());
    const [state, figures] = await Promise.all([
      api(base + "/candidate"),
      api(base + "/compare?" + new URLSearchParams({ window: document.getElementById("window").value, limit: "10" })),
    ]);
    if (!state.ok || !figures.ok) return show("compare-error", Console.explain(state.ok ? figures : state, "Compare"));
    show("compare-error", "");
    renderCompare(state.data, figures.data);
  }

  function renderCompare(state, c) {
    const cand = state.candidate;
    document.getElementById("promote").hidden = !cand;
    document.getElementById("stop-candidate").hidden = !cand;
    document.getElementById("candidate-line").textContent = cand
      ? "Candidate " + cand.version + " (" + cand.model_dir + ") · shadow " + cand.shadow_percent + "% · canary " +
        cand.canary_percent + "% · model serves " + state.serving_version
      : "No candidate runs for model " + state.model + (state.error ? " (" + state.error + ")" : "") +
        ". Start one with PUT /v1/models/" + state.model + "/candidate.";
    const box = document.getElementById("compare");
    const a = c.agreement || {};
    if (!a.pairs && !(c.latency_ms?.canary?.count)) {
      box.replaceChildren(el("p", { class: "empty", text: "No shadow or canary rows in this window." }));
      return;
    }
    const lat = c.latency_ms || {}, both = c.feedback?.on_both || {}, served = c.feedback?.served || {};
    const row = (name, ...cells) => el("tr", {}, el("th", { text: name }), ...cells.map((x) => el("td", { text: x })));
    const parts = [
      el("p", {}, "Agreement ", el("strong", { id: "agreement", text: pct(a.rate) }),
        " on " + fmt(a.pairs || 0, 0) + " texts both scored" + (c.candidate_version ? " (candidate " + c.candidate_version + ")" : "") + "."),
      el("div", { class: "table-wrap" }, el("table", { id: "compare-table" },
        el("thead", {}, el("tr", {}, el("th", { text: "" }), el("th", { text: "primary" }), el("th", { text: "candidate" }))),
        el("tbody", {},
          row("latency p50 / p99 (ms)", fmt(lat.primary?.p50, 1) + " / " + fmt(lat.primary?.p99, 1),
            "shadow " + fmt(lat.shadow?.p50, 1) + " / " + fmt(lat.shadow?.p99, 1) +
            (lat.canary?.count ? " · canary " + fmt(lat.canary.p50, 1) + " / " + fmt(lat.canary.p99, 1) : "")),
          row("accuracy on feedback both scored (" + fmt(both.count || 0, 0) + ")", pct(both.primary_accuracy), pct(both.candidate_accuracy)),
          row("accuracy of answers sent", pct(served.primary?.accuracy) + " (" + fmt(served.primary?.count || 0, 0) + ")",
            "canary " + pct(served.canary?.accuracy) + " (" + fmt(served.canary?.count || 0, 0) + ")")))),
      el("div", { class: "table-wrap" }, el("table", {},
        el("caption", { text: "Agreement by the model's label" }),
        el("thead", {}, el("tr", {}, el("th", { text: "label" }), el("th", { text: "texts" }), el("th", { text: "agreement" }))),
        el("tbody", {}, ...Object.entries(a.by_label || {}).map(([label, g]) =>
          el("tr", {}, el("td", { text: label }), el("td", { text: fmt(g.pairs, 0) }), el("td", { text: pct(g.rate) })))))),
    ];
    const worst = c.disagreements || [];
    if (worst.length) {
      parts.push(el("div", { class: "table-wrap" }, el("table", { id: "disagreements" },
        el("caption", { text: "Most confident disagreements (to review)" }),
        el("thead", {}, el("tr", {}, el("th", { text: "text" }), el("th", { text: "primary" }), el("th", { text: "candidate" }))),
        el("tbody", {}, ...worst.map((d) => el("tr", {},
          el("td", { text: d.text ?? "(text not logged) " + d.request_id }),
          el("td", { text: d.primary.label + " " + fmt(d.primary.score, 2) }),
          el("td", { text: d.candidate.label + " " + fmt(d.candidate.score, 2) })))))));
    }
    box.replaceChildren(...parts);
  }

  async function candidateCall(method, suffix, what) {
    const result = await api("/v1/models/" + encodeURIComponent(model()) + "/candidate" + suffix, { method });
    if (!result.ok) return show("compare-error", Console.explain(result, what));
    await loadCompare();
  }

  function histogram(id, h, what, color, digits) {
    if (!h || !h.edges) return chart(id, "bar", [], []);
    const names = h.counts.map((_, i) => fmt(h.edges[i], digits) + "–" + fmt(h.edges[i + 1], digits));
    chart(id, "bar", names, [{ label: what, data: h.counts, backgroundColor: color }],
      { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
  }

  function chart(id, type, labels, datasets, options = {}) {
    const existing = charts[id];
    if (existing && existing.config.type === type) {
      existing.data.labels = labels;
      existing.data.datasets = datasets;
      existing.update("none");
      return;
    }
    if (existing) existing.destroy();
    charts[id] = new Chart(document.getElementById(id), { type, data: { labels, datasets }, options });
  }

  /* The model's label order, so a label keeps its colour in every window (and matches Try and Review). */
  function labelColor(name) { return Console.labelColor(name, modelLabels); }

  function tick(t, intervalS) {
    const iso = new Date(t).toISOString();
    return intervalS >= 86400 ? iso.slice(5, 10) : intervalS >= 3600 ? iso.slice(5, 10) + " " + iso.slice(11, 16) : iso.slice(11, 16);
  }

  function duration(s) {
    if (!s) return "—";
    return s % 86400 === 0 ? s / 86400 + " d" : s % 3600 === 0 ? s / 3600 + " h" : s % 60 === 0 ? s / 60 + " min" : s + " s";
  }

  Console.init({ admin: true, start });
})();
