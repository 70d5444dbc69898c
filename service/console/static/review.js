/* Review: the least confident recent predictions; one click confirms or corrects (POST /v1/feedback). */
"use strict";

(() => {
  const { api, el, show, fmt, pct, utc, fail } = Console;
  let labels = [];

  async function start() {
    const info = await api("/v1/model");
    if (!info.ok) return fail(info, "The model description", "review-error");
    labels = info.data.labels;
    document.getElementById("f-label").append(...labels.map((l) => el("option", { value: l, text: l })));
    document.getElementById("review-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    await load();
  }

  function sinceOf(value) {
    const hours = { "1h": 1, "24h": 24, "7d": 168 }[value];
    return hours ? new Date(Date.now() - hours * 3600e3).toISOString() : null;
  }

  async function load() {
    const params = new URLSearchParams({ limit: document.getElementById("f-limit").value });
    const filters = { label: "f-label", model_version: "f-version", client_key_id: "f-key" };
    for (const [name, id] of Object.entries(filters)) {
      const v = document.getElementById(id).value.trim();
      if (v) params.set(name, v);
    }
    const since = sinceOf(document.getElementById("f-since").value);
    if (since) params.set("since", since);
    const result = await api("/v1/review?" + params);
    const queue = document.getElementById("queue");
    if (!result.ok) {
      queue.replaceChildren();
      show("review-empty", "");
      show("text-note", "");
      return fail(result, "Review", "review-error");
    }
    show("review-error", "");
    const { items, text_logged: textLogged } = result.data;
    show("text-note", textLogged ? "" :
      "Texts are not shown: this service logs only a SHA-256 hash of each text (or nothing), as " +
      "SENTIMENT_LOG_TEXT=hash|none asks, so the text cannot be read back. Confirm or correct by request id; " +
      "the hash lets you match a text that you still have.");
    show("review-empty", items.length ? "" :
      "Nothing to review with these filters. Send predictions from the Try page, or widen the filters " +
      "(label, version, key, a longer time).");
    queue.replaceChildren(...items.map(card));
  }

  function card(item) {
    const status = el("span", { class: "status", text: item.feedback_label ? "reviewed: " + item.feedback_label : "not reviewed" });
    const node = el("article", { class: "item card" + (item.feedback_label ? " reviewed" : ""),
      "data-request-id": item.request_id, "data-item-index": item.item_index });
    const text = item.text != null ? el("p", { class: "text", text: item.text })
      : el("p", { class: "text hidden-text", text: "text not logged · sha256 " + (item.text_sha256 || "—").slice(0, 16) + "…" });
    const buttons = labels.map((l) => el("button", {
      type: "button", class: l === item.label ? "confirm" : "correct", "data-label": l,
      text: l === item.label ? "✓ Confirm " + l : "Correct → " + l,
      onclick: () => send(item, l, node, status),
    }));
    node.append(
      el("div", { class: "row spread" },
        el("span", {}, el("span", { class: "badge label-" + labelClass(item.label), text: item.label }),
          " " + pct(item.score, 1)),
        el("span", { class: "muted small", text: utc(item.created_at) })),
      text,
      el("p", { class: "muted small mono", text: "request " + item.request_id + (item.item_index ? " #" + item.item_index : "") +
        " · model " + item.model_version + " · key " + (item.client_key_id || "none") }),
      el("div", { class: "row" }, ...buttons, status));
    return node;
  }

  async function send(item, label, node, status) {
    for (const b of node.querySelectorAll("button")) b.disabled = true;
    const result = await api("/v1/feedback", { method: "POST",
      json: { request_id: item.request_id, item_index: item.item_index, label } });
    for (const b of node.querySelectorAll("button")) b.disabled = false;
    if (!result.ok) {
      status.textContent = "not saved: " + Console.explain(result, "Feedback");
      status.className = "status error";
      return;
    }
    item.feedback_label = result.data.label;
    node.classList.add("reviewed");
    status.className = "status saved";
    status.textContent = "saved: " + result.data.label + (result.data.label === result.data.predicted_label ? " (confirmed)" : " (corrected)") +
      " at " + utc(result.data.updated_at);
  }

  function labelClass(name) { return Console.labelClass(name, labels).slice("label-".length); }

  Console.init({ admin: true, start });
})();
