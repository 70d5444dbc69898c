/* Try: classify a text; with explanations, the words highlighted by weight and the sentence view. */
"use strict";

(() => {
  const { api, el, show, fmt, pct, signed, utc, fail } = Console;
  let labels = [];

  async function start() {
    const info = await api("/v1/model");
    if (!info.ok) return fail(info, "The model description", "try-error");
    labels = info.data.labels;
    document.getElementById("model-line").textContent =
      "Model " + info.data.name + " · version " + info.data.version + " · labels " + labels.join(", ");
    document.getElementById("try-form").addEventListener("submit", classify);
    document.getElementById("text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) document.getElementById("try-form").requestSubmit();
    });
  }

  async function classify(event) {
    event.preventDefault();
    show("try-error", "");
    const text = document.getElementById("text").value;
    if (!text.trim()) return show("try-error", "Type or paste some text first.");
    const options = {};
    if (document.getElementById("explain").checked) options.explain = true;
    if (document.getElementById("sentences").checked) options.sentences = true;
    const button = document.getElementById("classify");
    button.disabled = true;
    let note = "";
    try {
      let result = await api("/v1/sentiment", { method: "POST", json: { text, ...options } });
      if (!result.ok && result.status === 422 && Object.keys(options).length && result.error.code === "invalid_request") {
        // A service without the explain/sentences options (issue 11) refuses the extra fields.
        result = await api("/v1/sentiment", { method: "POST", json: { text } });
        note = "This service does not offer explanations or the sentence view yet; showing the plain prediction.";
      }
      if (!result.ok) return fail(result, "Classifying", "try-error");
      render(text, result.data, options, note);
    } finally {
      button.disabled = false;
    }
  }

  function render(text, r, options, note) {
    document.getElementById("result").hidden = false;
    const badge = document.getElementById("label");
    badge.textContent = r.label;
    badge.className = "badge label-" + labelClass(r.label);
    document.getElementById("score").textContent = "probability " + pct(r.score, 1) +
      (r.polarity === undefined ? "" : " · polarity " + signed(r.polarity));
    const mixed = document.getElementById("mixed");
    mixed.hidden = !r.mixed;
    const bars = document.getElementById("probabilities");
    bars.replaceChildren();
    for (const [name, p] of Object.entries(r.probabilities)) {
      const fill = el("span", { class: "fill label-" + labelClass(name) });
      fill.style.width = (100 * p).toFixed(1) + "%";
      bars.append(el("div", { class: "bar" }, el("span", { class: "name", text: name }),
        el("span", { class: "track" }, fill), el("span", { class: "value", text: pct(p, 1) })));
    }
    document.getElementById("result-meta").textContent =
      (r.model ? r.model + " " : "model ") + r.model_version +
      (r.language ? " · read as " + r.language + (r.supported === false ? " (no model reads it: best effort)" : "") : "") +
      " · request " + r.request_id + " · tokens read " + r.tokens_used + " of " +
      r.tokens_total + (r.truncated ? " (truncated)" : "");

    const explanation = r.explanation;
    document.getElementById("explanation").hidden = !explanation;
    if (explanation) renderExplanation(text, r.label, explanation);
    const sentences = r.sentences;
    document.getElementById("sentence-view").hidden = !sentences;
    if (sentences) renderSentences(text, sentences);
    if (!note && ((options.explain && !explanation) || (options.sentences && !sentences)))
      note = "This service answered without the requested explanation or sentence view.";
    show("options-note", note);
    addHistory(text, r);
  }

  function labelClass(name) { return Console.labelClass(name, labels).slice("label-".length); }

  /* Each token as a span at its offsets in the original text, shaded by its signed weight. */
  function renderExplanation(text, label, explanation) {
    const tokens = [...explanation.tokens].sort((a, b) => a.start - b.start);
    const top = Math.max(1e-9, ...tokens.map((t) => Math.abs(t.weight)));
    const out = document.getElementById("highlighted");
    out.replaceChildren();
    let at = 0;
    for (const t of tokens) {
      if (t.start < at || t.end > text.length) continue;
      if (t.start > at) out.append(text.slice(at, t.start));
      const span = el("span", { class: "tok", title: t.text + ": " + t.weight.toFixed(4), "data-weight": t.weight });
      span.textContent = text.slice(t.start, t.end);
      const alpha = Math.min(1, Math.abs(t.weight) / top) * 0.75;
      span.style.backgroundColor = t.weight >= 0 ? `rgba(31, 136, 61, ${alpha.toFixed(3)})` : `rgba(207, 34, 46, ${alpha.toFixed(3)})`;
      out.append(span);
      at = t.end;
    }
    if (at < text.length) out.append(text.slice(at));
    document.getElementById("explanation-legend").textContent =
      "Green pushed toward “" + label + "”, red against it; darker = stronger (" + explanation.method + "). Hover a word for its weight.";
  }

  function renderSentences(text, sentences) {
    const list = document.getElementById("sentence-list");
    list.replaceChildren();
    for (const s of sentences) {
      list.append(el("li", { class: "sentence" },
        el("span", { class: "badge small label-" + labelClass(s.label), text: s.label + " " + pct(s.score, 0) }),
        s.polarity === undefined ? "" : el("span", { class: "muted small mono", text: " " + signed(s.polarity) }),
        " ", text.slice(s.start, s.end)));
    }
  }

  function addHistory(text, r) {
    document.getElementById("history-card").hidden = false;
    const body = document.querySelector("#history tbody");
    body.prepend(el("tr", {},
      el("td", { text: utc(new Date().toISOString()) }),
      el("td", { text: r.label }), el("td", { text: pct(r.score, 1) }),
      el("td", { class: "clip", text: text.length > 80 ? text.slice(0, 80) + "…" : text }),
      el("td", { class: "mono", text: r.request_id })));
    while (body.rows.length > 20) body.deleteRow(-1);
  }

  Console.init({ admin: false, start });
})();
