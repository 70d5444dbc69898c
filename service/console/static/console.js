/* The console's shared part: the key (this tab only), API calls, UTC times, small DOM helpers. */
"use strict";

const Console = (() => {
  // sessionStorage lives as long as the tab; the key never goes to localStorage, cookies or a URL.
  const STORE = "sentiment-console-key";
  const body = document.body;
  const needsKey = { prediction: body.dataset.apiKeys === "1", admin: body.dataset.adminKeys === "1" };

  function key() { return sessionStorage.getItem(STORE); }

  async function api(path, { method = "GET", json } = {}) {
    const headers = { Accept: "application/json" };
    const k = key();
    if (k) headers["X-API-Key"] = k;
    if (json !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: json === undefined ? undefined : JSON.stringify(json),
        cache: "no-store", credentials: "omit", redirect: "error",
      });
    } catch (err) {
      return { ok: false, status: 0, data: null, error: { code: "network", message: "the service did not answer: " + err.message } };
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    const error = response.ok ? null : (data && data.error) || { code: "http_" + response.status, message: response.statusText };
    return { ok: response.ok, status: response.status, data, error, path: path.split("?")[0] };
  }

  /* What an API error means to the person looking at the page. */
  function explain(result, what) {
    const e = result.error || {};
    if (result.status === 401) return "This needs a key: sign in again.";
    if (result.status === 403 && /admin routes are off/.test(e.message || ""))
      return what + " needs admin routes, which are off on this service: start it with SENTIMENT_ADMIN_KEYS set.";
    if (result.status === 403 && /not an admin key/.test(e.message || ""))
      return what + " needs an admin key; this tab is signed in with a prediction key. Sign out and sign in with a key from SENTIMENT_ADMIN_KEYS.";
    if (result.status === 404 && (e.code === "not_found" || !e.code))
      return what + " is not available: this service has no " + result.path + " route (its back end is not installed in this build).";
    return (e.message || "request failed") + " (HTTP " + result.status + (e.code ? ", " + e.code : "") + ")";
  }

  /* Show a failed call: a refused key brings the sign-in form back; anything else, a message. */
  function fail(result, what, errorId) {
    const message = explain(result, what);
    const adminOff = result.status === 403 && /admin routes are off/.test((result.error || {}).message || "");
    if ((result.status === 401 || result.status === 403) && !adminOff && (needsKey.prediction || needsKey.admin)) {
      Console.rejectKey(message);
    } else {
      show(errorId, message);
    }
  }

  function utc(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function show(id, message) {
    const node = document.getElementById(id);
    node.textContent = message || "";
    node.hidden = !message;
  }

  function fmt(x, digits = 2) {
    if (x === null || x === undefined || Number.isNaN(x)) return "—";
    return Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  function pct(x, digits = 1) { return x === null || x === undefined ? "—" : (100 * x).toFixed(digits) + "%"; }

  /* A label's colour, the same on every page and for any label set: negative red, positive green,
     neutral grey; any other label (a user's own) one of the other colours by its place in `labels`. */
  const LABEL_COLORS = { neg: "#cf222e", pos: "#1f883d", neu: "#6e7781" };
  const OTHER_COLORS = ["#1f6feb", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#953800"];
  function labelKind(name, labels) {
    if (/neg/i.test(name)) return "neg";
    if (/pos/i.test(name)) return "pos";
    if (/neu/i.test(name)) return "neu";
    return "c" + (Math.max(labels.indexOf(name), 0) % OTHER_COLORS.length);
  }
  function labelClass(name, labels) { return "label-" + labelKind(name, labels); }
  function labelColor(name, labels) {
    const kind = labelKind(name, labels);
    return LABEL_COLORS[kind] || OTHER_COLORS[Number(kind.slice(1))];
  }
  /* Polarity as the answer gives it: signed, two decimals ("+0.83", "−0.41"). */
  function signed(x) { return x === null || x === undefined ? "—" : (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(2); }

  /* Run `start` once a key is present, or at once when this page needs none. */
  function init({ admin, start }) {
    const needed = admin ? needsKey.admin : needsKey.prediction;
    const loginBox = document.getElementById("login");
    const page = document.getElementById("page");
    const who = document.getElementById("who");

    function signedIn() {
      loginBox.hidden = true;
      page.hidden = false;
      who.hidden = !key();
      document.getElementById("who-text").textContent = key() ? "signed in (key kept in this tab)" : "";
      start();
    }

    function askForKey(message) {
      sessionStorage.removeItem(STORE);
      page.hidden = true;
      who.hidden = true;
      loginBox.hidden = false;
      document.getElementById("login-why").textContent = admin
        ? "This page needs an admin key (one of SENTIMENT_ADMIN_KEYS)."
        : "This service needs an API key (one of SENTIMENT_API_KEYS or SENTIMENT_ADMIN_KEYS).";
      show("login-error", message || "");
      document.getElementById("key").focus();
    }

    document.getElementById("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = document.getElementById("key");
      const value = input.value.trim();
      input.value = "";
      if (!value) return;
      sessionStorage.setItem(STORE, value);
      signedIn();
    });
    document.getElementById("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(STORE);
      location.reload();
    });
    Console.rejectKey = (message) => askForKey(message);
    if (needed && !key()) askForKey();
    else signedIn();
  }

  return { api, explain, fail, utc, el, show, fmt, pct, signed, labelClass, labelColor, init, key, rejectKey: () => {} };
})();
