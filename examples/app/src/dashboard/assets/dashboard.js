// The scaling dashboard: asks for the admin token (kept in sessionStorage, this tab only),
// polls /api/admin/dashboard with it every few seconds, and draws what it gets: figures,
// SVG line charts of the last minutes, the policy's triggers, the autoscaler's view.
// Written by hand on purpose: a few small charts do not need a library, and the page
// loads nothing from outside the app.
"use strict";

(function () {
  const TOKEN_KEY = "clip-admin-token";
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = {
    indigo: "#4f46e5", teal: "#0d9488", amber: "#d97706", rose: "#e11d48",
    slate: "#64748b", sky: "#0284c7",
  };

  const $ = (id) => document.getElementById(id);
  const tokenForm = $("token-form");
  const tokenInput = $("token");
  const tokenError = $("token-error");
  const dash = $("dash");
  const live = $("live");
  const liveText = $("live-text");
  const forget = $("forget");

  let timer = null;
  let lastOk = null;
  let failing = null;

  // ---- formatting -------------------------------------------------------------------

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  function fixed(v, digits) {
    if (!isNum(v)) return "–";
    return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  // 3, 7.5, 0.25, 12.3, 1.2k, 45k, 1.5M: at most three significant digits, no trailing zeros.
  function short(v) {
    if (!isNum(v)) return "–";
    const trim = (x, digits) => String(Number(x.toFixed(digits)));
    const a = Math.abs(v);
    if (a >= 1e6) return trim(v / 1e6, 1) + "M";
    if (a >= 1e4) return trim(v / 1e3, 0) + "k";
    if (a >= 1e3) return trim(v / 1e3, 1) + "k";
    if (a >= 100) return trim(v, 0);
    return trim(v, a >= 10 ? 1 : 2);
  }
  function ms(v) {
    if (!isNum(v)) return "–";
    if (v >= 1000) return fixed(v / 1000, 2) + " s";
    return fixed(v, v >= 100 ? 0 : 1) + " ms";
  }
  function bytes(v) {
    if (!isNum(v)) return "–";
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return fixed(v, i === 0 ? 0 : 1) + " " + units[i];
  }
  function duration(seconds) {
    if (!isNum(seconds)) return "–";
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
    return Math.floor(seconds / 86400) + " d " + Math.floor((seconds % 86400) / 3600) + " h";
  }
  function clock(when) {
    const d = new Date(when);
    return Number.isNaN(d.getTime()) ? String(when) : d.toLocaleTimeString("en-GB");
  }
  // The policy's metric names as a person reads them.
  const METRICS = {
    cpu_percent: "CPU", memory_percent: "Memory", request_rate: "Request rate",
    queue_length: "Queue length", p95_response_time: "p95 response",
  };
  function words(s) {
    return String(s || "").replace(/([a-z])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase();
  }

  // Builds an element: el("span", {class: "x"}, "text", child, ...).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function setText(id, text) { $(id).textContent = text; }
  function pill(id, text, kind) {
    const p = $(id);
    p.textContent = text;
    p.dataset.kind = kind || "";
  }

  // ---- charts -----------------------------------------------------------------------

  // A value axis maximum a person reads easily: 1, 2, 2.5, 5 or 10 times a power of ten.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // Draws series [{name, color, points: [[t, v|null]], format}] over [t0, t1] into box `id`,
  // with dashed threshold lines [{value, label, color}].
  function lineChart(id, series, opts) {
    const box = $(id);
    const W = 420, H = 170, L = 36, R = 8, T = 10, B = 22;
    const t1 = opts.t1, t0 = opts.t0;
    let top = opts.floor || 0;
    for (const s of series) for (const [, v] of s.points) if (isNum(v) && v > top) top = v;
    for (const th of opts.thresholds || []) if (th.value > top && th.value <= (opts.cap || Infinity)) top = th.value;
    top = niceMax(opts.cap ? Math.min(top, opts.cap) : top);
    const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - Math.min(v, top) / top) * (H - T - B);

    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img" });
    const grid = svg("g", { class: "grid" });
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      grid.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      grid.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, short(v)));
    }
    // Ticks back from now: each minute over long windows, each 15 s over short ones.
    const step = t1 - t0 > 150000 ? 60000 : 15000;
    for (let i = 0; (t1 - i * step) >= t0 - 1; i++) {
      const back = i * step;
      const label = i === 0 ? "now" : step === 60000 ? `−${back / 60000} min` : `−${back / 1000} s`;
      grid.append(svg("text", { x: x(t1 - back), y: H - 5, "text-anchor": i === 0 ? "end" : "middle" }, label));
    }
    root.append(grid);
    for (const th of opts.thresholds || []) {
      if (!(th.value <= top)) continue;
      root.append(svg("line", { x1: L, x2: W - R, y1: y(th.value), y2: y(th.value), class: "threshold", stroke: th.color }));
      root.append(svg("text", { x: W - R - 4, y: y(th.value) - 5, "text-anchor": "end", class: "threshold-label", fill: th.color }, th.label));
    }
    const described = [];
    for (const s of series) {
      let d = "";
      let pen = false;
      for (const [t, v] of s.points) {
        if (!isNum(v)) { pen = false; continue; }
        d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1) + " ";
        pen = true;
      }
      if (s.area && d) {
        const pts = s.points.filter(([, v]) => isNum(v));
        if (pts.length > 1) {
          const first = pts[0][0], last = pts[pts.length - 1][0];
          root.append(svg("path", {
            d: `${d}L${x(last).toFixed(1)} ${y(0)} L${x(first).toFixed(1)} ${y(0)} Z`,
            fill: s.color, class: "area",
          }));
        }
      }
      if (d) root.append(svg("path", { d, stroke: s.color, class: "line" }));
      const latest = [...s.points].reverse().find(([, v]) => isNum(v));
      if (latest) root.append(svg("circle", { cx: x(latest[0]), cy: y(latest[1]), r: 3.5, fill: s.color }));
      described.push(`${s.name} ${latest ? s.format(latest[1]) : "not measured"}`);
    }
    root.setAttribute("aria-label", `${opts.title} over the last ${Math.round((t1 - t0) / 1000)} seconds; now: ${described.join(", ")}`);
    box.replaceChildren(root);

    $(id + "-legend").replaceChildren(...series.map((s) => {
      const latest = [...s.points].reverse().find(([, v]) => isNum(v));
      const swatch = el("span", { class: "swatch" });
      swatch.style.backgroundColor = s.color; // CSSOM: the page's CSP refuses style attributes
      return el("span", { class: "legend-item" }, swatch,
        s.name + " ", el("strong", {}, latest ? s.format(latest[1]) : "–"));
    }));
  }

  // ---- panels -----------------------------------------------------------------------

  function drawKpis(data, last) {
    const fleet = data.autoscaler && data.autoscaler.reachable ? data.autoscaler.status : null;
    const instances = fleet && fleet.instances;
    if (instances && isNum(instances.ready)) {
      setText("kpi-instances", String(instances.ready));
      const parts = [];
      if (instances.starting) parts.push(instances.starting + " starting");
      if (instances.draining) parts.push(instances.draining + " draining");
      if (isNum(instances.target) && instances.target !== instances.current) parts.push("target " + instances.target);
      setText("kpi-instances-sub", parts.join(" · ") || "ready, per the autoscaler");
    } else {
      setText("kpi-instances", "1");
      setText("kpi-instances-sub", "this instance only");
    }
    const s = last || {};
    setText("kpi-cpu", isNum(s.cpu_percent) ? fixed(s.cpu_percent, 1) + " %" : "–");
    setText("kpi-cpu-sub", `scale up above ${data.scaling.thresholds.cpu.up} %`);
    setText("kpi-memory", isNum(s.memory_percent) ? fixed(s.memory_percent, 1) + " %" : "–");
    setText("kpi-memory-sub", isNum(s.rss_bytes) ? bytes(s.rss_bytes) + " resident" : "");
    setText("kpi-rps", isNum(s.requests_per_second) ? short(s.requests_per_second) : "–");
    setText("kpi-rps-sub", `${data.instance.requests_in_flight} in flight of ${data.instance.max_concurrent_requests}`);
    setText("kpi-p95", isNum(s.p95_ms) ? ms(s.p95_ms) : "–");
    setText("kpi-p95-sub", isNum(s.p95_ms) ? `over ${data.sample_every_seconds} s` : "no request in the last sample");
    const pending = data.instance.jobs_pending;
    setText("kpi-queue", isNum(pending) ? String(pending) : "–");
    setText("kpi-queue-sub", `${data.instance.jobs_running} running here`);
  }

  function drawCharts(data) {
    const h = data.history || [];
    // The last five minutes, or what there is of them (at least one minute wide).
    const now = h.length ? h[h.length - 1].t : Date.now();
    const first = h.length ? h[0].t : now;
    const t0 = now - Math.min(5 * 60000, Math.max(60000, now - first));
    const pts = (key, scale) => h.filter((s) => s.t >= t0).map((s) => [s.t, isNum(s[key]) ? s[key] * (scale || 1) : null]);
    const th = data.scaling.thresholds;
    const pct = (v) => fixed(v, 1) + " %";
    const base = { t0, t1: now };
    lineChart("chart-cpu", [
      { name: "CPU", color: COLORS.indigo, points: pts("cpu_percent"), format: pct, area: true },
      { name: "Memory", color: COLORS.teal, points: pts("memory_percent"), format: pct },
    ], { ...base, title: "CPU and memory", floor: 10, cap: 100, thresholds: [
      { value: th.cpu.up, label: `CPU up ${th.cpu.up} %`, color: COLORS.indigo },
      { value: th.memory.up, label: `memory up ${th.memory.up} %`, color: COLORS.teal },
    ].filter((t) => t.value <= 100) });
    lineChart("chart-requests", [
      { name: "Requests/s", color: COLORS.sky, points: pts("requests_per_second"), format: short, area: true },
    ], { ...base, title: "Requests per second", floor: 5, thresholds: th.request_rate.enabled ? [
      { value: th.request_rate.up, label: `scale up ${th.request_rate.up}/s`, color: COLORS.rose },
    ] : [] });
    lineChart("chart-latency", [
      { name: "p95", color: COLORS.amber, points: pts("p95_ms"), format: ms, area: true },
    ], { ...base, title: "p95 response time", floor: 10, thresholds: th.p95_response_time.enabled ? [
      { value: th.p95_response_time.up * 1000, label: `scale up ${ms(th.p95_response_time.up * 1000)}`, color: COLORS.rose },
    ] : [] });
    const max = data.pool.stats.max_connections;
    lineChart("chart-pool", [
      { name: "In use", color: COLORS.indigo, points: pts("pool_in_use"), format: short, area: true },
      { name: "Idle", color: COLORS.teal, points: pts("pool_idle"), format: short },
      { name: "Waiting", color: COLORS.rose, points: pts("pool_waiting"), format: short },
    ], { ...base, title: "Database pool", floor: Math.min(4, max), thresholds: [
      { value: max, label: `max ${max}`, color: COLORS.slate },
    ] });
    lineChart("chart-jobs", [
      { name: "Waiting (fleet)", color: COLORS.amber, points: pts("jobs_pending"), format: short, area: true },
      { name: "Running here", color: COLORS.indigo, points: pts("jobs_running"), format: short },
    ], { ...base, title: "Job queue", floor: 4, thresholds: th.queue_length.enabled ? [
      { value: th.queue_length.up, label: `scale up ${th.queue_length.up}`, color: COLORS.rose },
    ] : [] });
    lineChart("chart-cdn", [
      { name: "Fetches/s", color: COLORS.sky, points: pts("cdn_requests_per_second"), format: short, area: true },
      { name: "Hit rate %", color: COLORS.teal, points: pts("cdn_hit_rate", 100), format: pct },
    ], { ...base, title: "CDN", floor: 5, thresholds: [] });
  }

  function drawAutoscaler(view) {
    const box = $("autoscaler");
    if (!view || !view.reachable) {
      pill("autoscaler-state", view && view.url ? "Not reachable" : "Not configured", view && view.url ? "bad" : "");
      box.replaceChildren(el("div", { class: "notice" },
        el("p", {}, el("strong", {}, view && view.url
          ? `The autoscaler does not answer at ${view.url}`
          : "No autoscaler is configured"),
          view && view.error ? `: ${view.error.replace(/ \(os error \d+\)$/, "")}.` : "."),
        el("p", {}, "The instance count shows this instance alone, and the scaling triggers below are this instance's own advisory verdict. Start the autoscaler (",
          el("code", {}, "clip-autoscaler"), ") or point ", el("code", {}, "AUTOSCALER_URL"), " at it to see the fleet.")));
      return;
    }
    const s = view.status || {};
    const role = s.role ? words(s.role) : "answering";
    pill("autoscaler-state", "Reachable · " + role, "ok");
    const inst = s.instances || {};
    const figures = el("div", { class: "fleet-figures" },
      ...[["Ready", inst.ready], ["Starting", inst.starting], ["Draining", inst.draining],
          ["Target", inst.target], ["Min", inst.min], ["Max", inst.max]]
        .map(([label, v]) => el("div", { class: "fleet-figure" },
          el("span", { class: "kpi-label" }, label), el("strong", {}, isNum(v) ? String(v) : "–"))));
    const decision = s.last_decision;
    const decisionBox = decision
      ? el("div", { class: "decision" },
          el("span", { class: "pill", "data-kind": decision.action === "hold" ? "" : "warn" }, words(decision.action || "decision")),
          el("p", {}, decision.summary || ""),
          el("p", { class: "meta" }, [decision.at ? "at " + clock(decision.at) : null,
            decision.rule ? "rule: " + words(decision.rule) : null,
            decision.applied === false ? "not applied" : null,
            decision.note].filter(Boolean).join(" · ")))
      : el("p", { class: "meta" }, "No decision yet.");
    const cool = s.cooldowns || {};
    const cooldowns = el("p", { class: "meta cooldowns" },
      ["scale_up", "scale_down"].filter((k) => cool[k]).map((k) =>
        `${words(k)} cooldown: ${cool[k].remaining_seconds > 0 ? duration(cool[k].remaining_seconds) + " left" : "ready"}`).join(" · "),
      s.override ? ` · override to ${s.override.target} (${s.override.reason}), ${duration(s.override.remaining_seconds)} left` : "");
    const list = Array.isArray(inst.list) && inst.list.length
      ? el("div", { class: "table-wrap" }, el("table", { class: "instances" },
          el("thead", {}, el("tr", {}, ["Instance", "State", "Scrape", "CPU", "Memory", "Req/s"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, inst.list.map((i) => el("tr", {},
            el("td", {}, el("code", {}, i.id)), el("td", {}, words(i.state)),
            el("td", { title: i.error || "" }, words(i.scrape)),
            el("td", {}, isNum(i.cpu_percent) ? fixed(i.cpu_percent, 1) + " %" : "–"),
            el("td", {}, isNum(i.memory_percent) ? fixed(i.memory_percent, 1) + " %" : "–"),
            el("td", {}, short(i.request_rate)))))))
      : null;
    box.replaceChildren(el("div", { class: "fleet" }, figures, decisionBox), cooldowns, list || "");
  }

  function drawVerdict(data) {
    const advice = data.scaling.advice;
    const latest = advice && advice.latest;
    if (!latest) {
      pill("verdict-action", "No verdict yet", "");
      return;
    }
    const action = latest.decision.action;
    pill("verdict-action", action === "ScaleUp" ? "Scale up" : action === "ScaleDown" ? "Scale down" : "Hold", action === "Hold" ? "" : "warn");
    setText("verdict-summary", latest.summary);
    const unit = { cpu_percent: "%", memory_percent: "%", request_rate: "/s", queue_length: "" };
    const show = (metric, v) => {
      if (!isNum(v)) return "–";
      if (metric === "p95_response_time") return ms(v * 1000);
      return short(v) + (unit[metric] ? " " + unit[metric] : "");
    };
    $("readings").replaceChildren(...latest.decision.reasons.readings.map((r) => el("tr", {},
      el("th", { scope: "row" }, METRICS[r.metric] || words(r.metric)),
      el("td", {}, show(r.metric, r.value)),
      el("td", {}, show(r.metric, r.up_threshold)),
      el("td", {}, show(r.metric, r.down_threshold)),
      el("td", {}, el("span", { class: "verdict", "data-verdict": String(r.verdict).toLowerCase() }, words(r.verdict))))));
    setText("verdict-note", `The policy applied to this instance's own figures, as if the fleet were ${advice.assumed_instances} instances like it; re-evaluated every ${advice.interval_seconds} s at ${clock(latest.at)}.`);
  }

  function drawEvents(data) {
    const items = [];
    const fleet = data.autoscaler && data.autoscaler.reachable && data.autoscaler.status;
    if (fleet && Array.isArray(fleet.events)) {
      for (const e of fleet.events) {
        items.push({ at: e.at, source: "fleet", title: `${words(e.action)}: ${e.from} → ${e.to}`, text: e.summary });
      }
    }
    for (const e of data.scaling.advice.events || []) {
      items.push({ at: e.at, source: "this instance", title: `verdict: ${words(e.decision.action)}`, text: e.summary });
    }
    items.sort((a, b) => new Date(b.at) - new Date(a.at));
    const list = $("events");
    if (items.length === 0) {
      list.replaceChildren(el("li", { class: "meta" }, "No scaling event yet: the verdict has held since start."));
      return;
    }
    list.replaceChildren(...items.slice(0, 12).map((e) => el("li", {},
      el("div", { class: "event-head" }, el("time", { datetime: e.at }, clock(e.at)),
        el("span", { class: "tag" }, e.source), el("strong", {}, e.title)),
      el("p", {}, e.text))));
  }

  function facts(id, rows) {
    $(id).replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function drawPool(pool) {
    const s = pool.stats;
    const status = String(pool.health.status || "").toLowerCase();
    const capital = (t) => t.charAt(0).toUpperCase() + t.slice(1);
    pill("pool-health", capital(words(pool.health.status || "unknown")), status === "healthy" ? "ok" : status === "degraded" ? "warn" : status ? "bad" : "");
    facts("pool-facts", [
      ["Connections", `${s.connections} open (${s.in_use} in use, ${s.idle} idle) of ${s.max_connections}`],
      ["Utilization", fixed(s.utilization * 100, 0) + " %"],
      ["Waiting", String(s.waiting)],
      ["Acquire wait", `avg ${ms(s.acquire_wait.avg_ms)} · p95 ${ms(s.acquire_wait.p95_ms)} · max ${ms(s.acquire_wait.max_ms)}`],
      ["Acquisitions", `${short(s.acquisitions)} (${short(s.timeouts)} timeouts, ${short(s.connect_failures)} connect failures)`],
      ["Queries", `${short(s.completed)} done, ${short(s.query_errors)} errors; ${short(s.shared_calls)} pipelined`],
      ["Verdict", pool.health.reason || "–"],
    ]);
  }

  function drawCdn(cdn) {
    const s = cdn.stats;
    if (!cdn.enabled || !cdn.base_url) pill("cdn-health", cdn.enabled ? "No CDN URL: origin serves" : "Off", "");
    else pill("cdn-health", cdn.healthy ? "Serving" : "Down: origin serves", cdn.healthy ? "ok" : "bad");
    const open = (s.breakers || []).filter(([, state]) => String(state).toLowerCase() !== "closed");
    facts("cdn-facts", [
      ["Base URL", cdn.base_url ? el("code", {}, cdn.base_url) : "none: pages link the origin"],
      ["Cache hit rate", `${fixed(s.hit_rate * 100, 1)} % of ${short(s.requests)} fetches`],
      ["Failed assets", `${short(s.failed_assets)} (${short(s.fallbacks_to_origin)} to origin, ${short(s.fallbacks_to_local)} to local)`],
      ["CDN failures", `${short(s.cdn_failures)} after ${short(s.retries)} retries`],
      ["Circuits", open.length ? open.map(([h, st]) => `${h}: ${words(st)}`).join(", ") : "all closed"],
      ["Preload", s.last_preload ? JSON.stringify(s.last_preload).slice(0, 80) : "none yet"],
      ["/img cache", `${short(cdn.image_cache.entries)} answers, ${bytes(cdn.image_cache.bytes)} of ${bytes(cdn.image_cache.max_bytes)}`],
    ]);
  }

  function draw(data) {
    const h = data.history || [];
    const last = h.length ? h[h.length - 1] : null;
    drawKpis(data, last);
    drawCharts(data);
    drawAutoscaler(data.autoscaler);
    drawVerdict(data);
    drawEvents(data);
    drawPool(data.pool);
    drawCdn(data.cdn);
    const i = data.instance;
    live.dataset.state = i.draining ? "draining" : "live";
    liveText.textContent = (i.draining ? "Draining" : "Live") + ` · up ${duration(i.uptime_seconds)} · updated ${clock(Date.now())}`;
  }

  // ---- polling and the token --------------------------------------------------------

  function showTokenForm(message) {
    clearTimeout(timer);
    timer = null;
    dash.hidden = true;
    tokenForm.hidden = false;
    forget.hidden = true;
    live.dataset.state = "";
    liveText.textContent = "Not connected";
    tokenError.textContent = message || "";
    tokenInput.focus();
  }

  async function poll() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) { showTokenForm(""); return; }
    let next = POLL_MS;
    try {
      const response = await fetch("/api/admin/dashboard", {
        headers: { authorization: "Bearer " + token, accept: "application/json" },
        cache: "no-store",
      });
      if (response.status === 401 || response.status === 403) {
        let detail = "";
        try { detail = (await response.json()).detail || ""; } catch (_) { /* not JSON */ }
        if (response.status === 401) sessionStorage.removeItem(TOKEN_KEY);
        showTokenForm(response.status === 401 ? "That token was refused. " + detail : detail);
        return;
      }
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const data = await response.json();
      tokenForm.hidden = true;
      dash.hidden = false;
      forget.hidden = false;
      lastOk = Date.now();
      failing = null;
      draw(data);
    } catch (error) {
      failing = error.message;
      next = POLL_MS * 2;
      live.dataset.state = "stale";
      liveText.textContent = `No update since ${lastOk ? clock(lastOk) : "opening"}: ${failing}; retrying`;
    }
    timer = setTimeout(poll, next);
  }

  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) { tokenError.textContent = "Enter the admin token."; return; }
    sessionStorage.setItem(TOKEN_KEY, token);
    tokenInput.value = "";
    tokenError.textContent = "";
    clearTimeout(timer);
    poll();
  });
  forget.addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenForm("");
  });

  if (sessionStorage.getItem(TOKEN_KEY)) {
    tokenForm.hidden = true;
    poll();
  } else {
    showTokenForm("");
  }
})();
