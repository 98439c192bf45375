/* The dashboard: reads /api/v1/dashboard and /api/v1/websites with the API key kept in this
   tab's sessionStorage (from ?key= once, or the login form), and follows /api/v1/stream. Every
   text from the data is set with textContent, never as HTML. */
"use strict";

(function () {
  const STORE = "analytics.apiKey";
  const state = { timeframe: "30d", from: null, to: null, website: "all", source: null, data: null };
  const $ = id => document.getElementById(id);

  // A key in the URL is moved into sessionStorage and removed from the address bar and history.
  const url = new URL(window.location.href);
  if (url.searchParams.get("key")) {
    sessionStorage.setItem(STORE, url.searchParams.get("key"));
    url.searchParams.delete("key");
    history.replaceState(null, "", url.pathname + (url.search || ""));
  }
  const key = () => sessionStorage.getItem(STORE);

  function showError(message) {
    const box = $("error");
    box.className = "banner";
    box.textContent = message;
  }
  function showStale(message) {
    const box = $("error");
    box.className = "banner stale";
    box.dataset.stale = "true";
    box.textContent = message;
  }
  function clearError() { const box = $("error"); box.className = "banner hidden"; box.textContent = ""; delete box.dataset.stale; }

  async function api(path) {
    const response = await fetch(path, { headers: { "X-API-Key": key() || "" } });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (response.status === 401) { sessionStorage.removeItem(STORE); showLogin("That API key was not accepted."); throw new Error("unauthorized"); }
    if (!response.ok) {
      const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
      throw new Error(message);
    }
    return body;
  }

  function showLogin(message) {
    stopStream();
    $("dashboard").classList.add("hidden");
    $("login").classList.remove("hidden");
    if (message) showError(message);
  }

  function query() {
    const p = new URLSearchParams();
    if (state.timeframe === "custom") { p.set("from", state.from); p.set("to", state.to); }
    else p.set("timeframe", state.timeframe);
    if (state.website !== "all") p.set("website_id", state.website);
    return p;
  }

  const fmt = n => Number(n).toLocaleString("en-US");
  function duration(seconds) {
    const s = Math.round(seconds);
    return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
  }

  function changeText(card, kind) {
    if (kind === "points") {
      if (card.changePoints === null || card.changePoints === undefined) return ["no previous data", "flat"];
      const v = card.changePoints;
      // a lower bounce rate is the good direction
      return [`${v > 0 ? "+" : ""}${v.toFixed(1)} pts`, v === 0 ? "flat" : v < 0 ? "up" : "down"];
    }
    if (card.change === null || card.change === undefined) return ["no previous data", "flat"];
    const pct = card.change * 100;
    return [`${pct > 0 ? "▲ +" : pct < 0 ? "▼ " : ""}${pct.toFixed(1)}%`, pct === 0 ? "flat" : pct > 0 ? "up" : "down"];
  }

  function renderCards(cards) {
    const defs = [
      ["pageviews", "Pageviews", v => fmt(v), "relative", p => fmt(p)],
      ["visitors", "Visitors", v => fmt(v), "relative", p => fmt(p)],
      ["sessions", "Sessions", v => fmt(v), "relative", p => fmt(p)],
      ["bounceRate", "Bounce rate", v => `${(v * 100).toFixed(1)}%`, "points", p => `${(p * 100).toFixed(1)}%`],
      ["avgSessionDurationSeconds", "Avg. session", v => duration(v), "relative", p => duration(p)],
    ];
    const box = $("cards");
    box.textContent = "";
    for (const [name, label, show, kind, showPrev] of defs) {
      const card = cards[name];
      const div = document.createElement("div");
      div.className = "card";
      div.dataset.testid = `card-${name}`;
      div.setAttribute("data-testid", `card-${name}`);
      const l = document.createElement("div"); l.className = "label"; l.textContent = label;
      const v = document.createElement("div"); v.className = "value"; v.textContent = show(card.value);
      v.setAttribute("data-value", String(card.value));
      const [text, cls] = changeText(card, kind);
      const c = document.createElement("div"); c.className = `change ${cls}`; c.textContent = text;
      const prev = document.createElement("span"); prev.className = "prev"; prev.textContent = `vs ${showPrev(card.previous)}`;
      c.appendChild(prev);
      div.append(l, v, c);
      box.appendChild(div);
    }
  }

  function renderBars(id, items) {
    const box = $(id);
    box.textContent = "";
    if (!items.length) { const p = document.createElement("div"); p.className = "none"; p.textContent = "Nothing in this range"; box.appendChild(p); return; }
    const top = Math.max(...items.map(i => i.count), 1);
    for (const item of items) {
      const row = document.createElement("div"); row.className = "row";
      row.setAttribute("data-item", item.item); row.setAttribute("data-count", String(item.count));
      const fill = document.createElement("div"); fill.className = "fill"; fill.style.width = `${(100 * item.count) / top}%`;
      const name = document.createElement("span"); name.textContent = item.item; name.title = item.item;
      const n = document.createElement("span"); n.className = "n"; n.textContent = fmt(item.count);
      row.append(fill, name, n);
      box.appendChild(row);
    }
  }

  function render(payload) {
    const d = payload.data;
    state.data = d;
    $("login").classList.add("hidden");
    $("dashboard").classList.remove("hidden");
    if (payload.stale) showStale("The warehouse is unreachable: these numbers come from the cache and may be out of date.");
    else clearError();
    const last = new Date(Date.parse(d.to + "T00:00:00Z") - 86400000).toISOString().slice(0, 10);
    $("period").textContent = `${d.scope === "all" ? "All websites" : d.scope} · ${d.from} to ${last} (${d.days} days) · compared with ${d.previous.from} to ${new Date(Date.parse(d.previous.to + "T00:00:00Z") - 86400000).toISOString().slice(0, 10)}`;
    renderCards(d.cards);
    window.LineChart.draw($("chart"), d.trend);
    renderBars("events", Object.entries(d.eventsByType).map(([item, count]) => ({ item, count })));
    renderBars("pages", d.topPages);
    renderBars("referrers", d.topReferrers);
    $("foot").textContent = `Generated ${d.generatedAt}${payload.cached ? " · from cache" : ""}${payload.refreshedBy ? ` · refreshed by ${payload.refreshedBy}` : ""}`;
    document.body.dataset.loaded = "true";
  }

  function stopStream() {
    if (state.source) { state.source.close(); state.source = null; }
    const live = $("live"); live.className = "live off";
  }

  function startStream() {
    stopStream();
    if (!window.EventSource) return;
    const p = query(); p.set("key", key());
    const source = new EventSource(`/api/v1/stream?${p}`);
    state.source = source;
    source.addEventListener("open", () => { $("live").className = "live on"; });
    source.addEventListener("dashboard", event => {
      $("live").className = "live on";
      try { render(JSON.parse(event.data)); } catch (e) { showError(`Live update failed: ${e.message}`); }
    });
    source.addEventListener("error", () => { $("live").className = "live off"; });
  }

  async function load() {
    if (!key()) { showLogin(); return; }
    try {
      render(await api(`/api/v1/dashboard?${query()}`));
      startStream();
    } catch (e) {
      if (e.message !== "unauthorized") showError(`Could not load the dashboard: ${e.message}`);
    }
  }

  async function loadWebsites() {
    const sites = await api("/api/v1/websites");
    const select = $("website");
    select.textContent = "";
    const all = document.createElement("option"); all.value = "all"; all.textContent = "All websites";
    select.appendChild(all);
    for (const site of sites) {
      const o = document.createElement("option"); o.value = site.id;
      o.textContent = site.name && site.name !== site.id ? `${site.name} (${site.id})` : site.id;
      select.appendChild(o);
    }
    select.value = state.website;
  }

  document.querySelectorAll(".presets button").forEach(button => {
    button.addEventListener("click", () => {
      document.querySelectorAll(".presets button").forEach(b => b.classList.toggle("active", b === button));
      if (button.dataset.timeframe === "custom") {
        $("custom-range").classList.remove("hidden");
        if (state.data) { $("from").value = state.data.from; $("to").value = new Date(Date.parse(state.data.to + "T00:00:00Z") - 86400000).toISOString().slice(0, 10); }
        return;
      }
      $("custom-range").classList.add("hidden");
      state.timeframe = button.dataset.timeframe;
      load();
    });
  });
  $("custom-range").addEventListener("submit", event => {
    event.preventDefault();
    state.timeframe = "custom"; state.from = $("from").value; state.to = $("to").value;
    load();
  });
  $("website").addEventListener("change", event => { state.website = event.target.value; load(); });
  $("login").addEventListener("submit", async event => {
    event.preventDefault();
    sessionStorage.setItem(STORE, $("key-input").value.trim());
    clearError();
    try { await loadWebsites(); } catch (e) { return; }
    load();
  });

  if (!key()) showLogin();
  else loadWebsites().then(load, e => { if (e.message !== "unauthorized") showError(`Could not load the websites: ${e.message}`); });
})();
