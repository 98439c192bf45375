/* A small SVG line chart (no library): two series over dates, grid, axis labels, a point per
   day (a single day is still drawn) and a native tooltip per point. */
"use strict";

window.LineChart = (function () {
  const NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    const exp = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * exp >= value) return step * exp;
    return 10 * exp;
  }

  function fmt(n) { return Number(n).toLocaleString("en-US"); }

  function shortDate(iso) {
    const [, m, d] = iso.split("-");
    return ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][Number(m) - 1] + " " + Number(d);
  }

  function draw(container, points) {
    container.textContent = "";
    const width = Math.max(container.clientWidth, 320), height = Math.max(container.clientHeight, 200);
    const pad = { left: 52, right: 16, top: 12, bottom: 28 };
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Daily pageviews and visitors" }, container);
    const innerW = width - pad.left - pad.right, innerH = height - pad.top - pad.bottom;
    if (!points.length) {
      el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, svg).textContent = "No days in this range";
      return;
    }
    const top = niceMax(Math.max(...points.map(p => Math.max(p.pageviews, p.visitors))));
    const x = i => pad.left + (points.length === 1 ? innerW / 2 : (i * innerW) / (points.length - 1));
    const y = v => pad.top + innerH - (v / top) * innerH;
    const grid = el("g", { class: "grid" }, svg), axis = el("g", { class: "axis" }, svg);
    for (let k = 0; k <= 4; k++) {
      const v = (top * k) / 4;
      el("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }, grid);
      el("text", { x: pad.left - 8, y: y(v) + 4, "text-anchor": "end" }, axis).textContent = fmt(Math.round(v));
    }
    const every = Math.max(1, Math.ceil(points.length / Math.floor(innerW / 70)));
    points.forEach((p, i) => {
      const last = points.length - 1;
      if ((i % every === 0 && last - i >= every) || i === last) {  // the last day's too, a full step after the one before
        el("text", { x: x(i), y: height - 8, "text-anchor": "middle" }, axis).textContent = shortDate(p.date);
      }
    });
    const path = key => points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
    if (points.length > 1) {
      el("path", { class: "area", d: `${path("pageviews")} L${x(points.length - 1)},${y(0)} L${x(0)},${y(0)} Z` }, svg);
    }
    el("path", { class: "line-pv", d: path("pageviews") }, svg);
    el("path", { class: "line-vis", d: path("visitors") }, svg);
    const radius = points.length > 60 ? 2 : 3.2;
    points.forEach((p, i) => {
      const g = el("g", { "data-testid": "trend-point", "data-date": p.date, "data-pageviews": p.pageviews }, svg);
      el("circle", { class: "pt-vis", cx: x(i), cy: y(p.visitors), r: radius - 0.6 }, g);
      el("circle", { class: "pt-pv", cx: x(i), cy: y(p.pageviews), r: radius }, g);
      el("title", {}, g).textContent = `${p.date}: ${fmt(p.pageviews)} pageviews, ${fmt(p.visitors)} visitors, ${fmt(p.sessions)} sessions`;
    });
  }

  return { draw };
})();
