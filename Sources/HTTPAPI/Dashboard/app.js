// Fieldwatch dashboard: plain JavaScript over the JSON API, no request to any other host.
"use strict";

const state = { token: null, me: null, timers: [] };
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

/** A link may carry the token once (`#/board?token=fw_…`, as `make demo` prints it): keep it, then drop it from the address. */
function readToken() {
  const m = location.hash.match(/[?&#]token=([^&]+)/);
  if (m) {
    // A link must not silently swap who is signed in (a link sent by someone else would make
    // this browser act as them): replacing a different stored token is asked first.
    const offered = decodeURIComponent(m[1]), current = localStorage.getItem("fieldwatch.token");
    if (!current || current === offered
        || confirm("This link signs you in with another token, replacing the sign-in kept in this browser. Sign in with the link's token?")) {
      localStorage.setItem("fieldwatch.token", offered);
      state.me = null;
    }
    const rest = location.hash.replace(/[?&]?#?token=[^&]+/, "").replace(/^#?$/, "#/board");
    history.replaceState(null, "", location.pathname + (rest.startsWith("#") ? rest : "#" + rest));
  }
  return localStorage.getItem("fieldwatch.token");
}

async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + state.token };
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) { signOut(); }
    throw new Error(body?.error?.message || response.statusText);
  }
  return body;
}

function signOut() {
  localStorage.removeItem("fieldwatch.token");
  state.token = null;
  render();
}

/** Runs `fn` now and every `period` ms while the page is shown; a failure shows in the banner (and the console). */
function every(period, fn) {
  const run = () => Promise.resolve().then(fn).then(() => { $("#banner").hidden = true; }, showError);
  run();
  state.timers.push(setInterval(run, period));
}
function showError(e) {
  console.error(e);
  const banner = $("#banner");
  banner.textContent = e.message || String(e);
  banner.hidden = false;
}
function clearTimers() { state.timers.forEach(clearInterval); state.timers = []; }

// ---- time and clocks

function span(ms) {
  const m = Math.floor(Math.abs(ms) / 60000), d = Math.floor(m / 1440), h = Math.floor(m / 60) % 24, s = Math.floor(Math.abs(ms) / 1000) % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${m % 60}m ${String(s).padStart(2, "0")}s`;
}

/** A live countdown element for a deadline: green, amber under a quarter of the target, red once breached. */
function countdown(deadline, targetText) {
  return `<span class="countdown" data-deadline="${esc(deadline)}" data-target="${esc(targetText || "")}"></span>`;
}

function tickCountdowns() {
  const now = Date.now();
  document.querySelectorAll(".countdown[data-deadline]").forEach((el) => {
    const left = Date.parse(el.dataset.deadline) - now;
    const target = parseTarget(el.dataset.target);
    el.textContent = left >= 0 ? `${span(left)} left` : `breached ${span(left)} ago`;
    el.className = "countdown " + (left < 0 ? "red" : target && left < target / 4 ? "amber" : "ok");
  });
}

function parseTarget(text) {
  if (!text) return null;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(n) * { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[unit];
  return ms || null;
}

/** A time for people: in the site's time zone when known (SLA deadlines are local business time). */
const when = (t, zone) => {
  if (!t) return "—";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return "—";
  try { return d.toLocaleString(undefined, zone ? { timeZone: zone, dateStyle: "medium", timeStyle: "short" } : {}) + (zone ? ` (${zone})` : ""); }
  catch (e) { return d.toLocaleString(); }
};
/** Milliseconds of an RFC 3339 time (every time the API sends is one). */
const ms = (t) => Date.parse(t);

/** How far ahead a forecast crossing is from now, with its band: "in 3h 30m (3h 10m – 4h 05m)"; "due now" once passed. */
function leadFromNow(f) {
  const now = Date.now(), c = ms(f.crossing_at) - now;
  if (!(c > 0)) return "due now";
  const e = ms(f.earliest) - now, l = f.latest ? ms(f.latest) - now : NaN;
  return `in ${span(c)} (${e > 0 ? span(e) : "now"} – ${Number.isFinite(l) ? span(l) : "later"})`;
}

/** Formats times of day in a zone (the site's), falling back to the browser's zone for an unknown one. */
function clockFormat(zone, withDay) {
  const options = withDay ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
                          : { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  try { return new Intl.DateTimeFormat(undefined, zone ? { ...options, timeZone: zone } : options); }
  catch (e) { return new Intl.DateTimeFormat(undefined, options); }
}

/** Round tick positions for a time span: about `n` ticks, on whole seconds, minutes or hours. */
function timeTicks(t0, t1, n = 6) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);
  const step = steps.find((s) => (t1 - t0) / s <= n) || 86400000 * Math.ceil((t1 - t0) / 86400000 / n);
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
  return ticks;
}

// ---- charts

function spark(samples, warning, critical) {
  if (!samples.length) return `<svg class="spark" viewBox="0 0 90 24"></svg>`;
  const values = samples.map((s) => s.value), lo = Math.min(...values), hi = Math.max(...values), range = hi - lo || 1;
  const points = samples.map((s, i) => `${((i / Math.max(1, samples.length - 1)) * 88 + 1).toFixed(1)},${(22 - ((s.value - lo) / range) * 20).toFixed(1)}`).join(" ");
  const hot = critical != null && values.some((v) => v >= critical) ? "var(--red)" : warning != null && values.some((v) => v >= warning) ? "var(--amber)" : "var(--accent)";
  return `<svg class="spark" viewBox="0 0 90 24" role="img" aria-label="sparkline"><polyline fill="none" stroke="${hot}" stroke-width="1.5" points="${points}"/></svg>`;
}

/** Points for a chart from the telemetry endpoint: raw samples, or rollup buckets (mean, with min–max). */
function seriesOf(telemetry) {
  if (telemetry.rollup) return telemetry.rollup.map((b) => ({ t: ms(b.ts), value: b.mean, min: b.min, max: b.max }));
  return (telemetry.samples || []).map((s) => ({ t: ms(s.ts), value: s.value }));
}

/**
 * A line chart the width of its panel: a time axis in the site's zone, warning and critical
 * lines, detection markers, and for a forecast the fitted trend carried on to the predicted
 * crossing with its earliest–latest band.
 * points: [{t, value, min?, max?}]; markers: [{t, label}]; forecast: the API's forecast object.
 */
function chart(points, { warning, critical, markers = [], unit = "", zone, forecast, from, to } = {}) {
  // Drawn at the panel's own width, so text keeps its size on a phone and on a wide screen.
  const W = Math.round(Math.max(300, Math.min(1400, ($("#main")?.clientWidth || 1000) - 32))), H = W < 600 ? 220 : 260, L = 52, R = 12, T = 18, B = 30;
  if (!points.length && !forecast) {
    return `<svg class="chart" viewBox="0 0 ${W} ${H}"><text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#66717d" font-size="14">no samples in this window</text></svg>`;
  }
  const future = forecast ? [ms(forecast.crossing_at), ms(forecast.earliest), forecast.latest ? ms(forecast.latest) : NaN].filter(Number.isFinite) : [];
  const times = points.map((p) => p.t).concat(markers.map((m) => m.t), future);
  let t0 = from ?? Math.min(...times), t1 = Math.max(to ?? -Infinity, ...times);
  if (!(t1 > t0)) t1 = t0 + 60000;
  const fitStart = forecast ? ms(forecast.window_start) : NaN, fitEnd = forecast ? ms(forecast.fitted_at) : NaN;
  const trendAt = (t) => forecast.level + forecast.slope_per_hour * (t - fitEnd) / 3600000;
  const values = points.flatMap((p) => [p.value, p.min ?? p.value, p.max ?? p.value])
    .concat([warning, critical, forecast?.limit].filter((v) => v != null && Number.isFinite(v)));
  if (forecast && Number.isFinite(fitStart)) values.push(trendAt(Math.max(fitStart, t0)));
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.06; lo -= pad; hi += pad;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R), y = (v) => H - B - ((v - lo) / (hi - lo)) * (H - T - B);
  const f = (n) => n.toFixed(1);
  const parts = [];
  // Axes: time ticks in the site's zone, and three value labels.
  const withDay = t1 - t0 > 20 * 3600000, format = clockFormat(zone, withDay);
  for (const t of timeTicks(t0, t1, Math.max(3, Math.floor(W / (withDay ? 170 : 110))))) {
    parts.push(`<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${T}" y2="${H - B}" stroke="#eef1f4"/>`,
      `<text class="tick" x="${f(x(t))}" y="${H - B + 16}" text-anchor="middle" font-size="12" fill="#66717d">${esc(format.format(new Date(t)))}</text>`);
  }
  // Value ticks at round numbers (1, 2 or 5 times a power of ten), about four of them.
  const raw = (hi - lo) / 4, power = 10 ** Math.floor(Math.log10(raw)), vstep = power * ([1, 2, 5, 10].find((m) => m * power >= raw) || 10);
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(vstep))));
  for (let v = Math.ceil(lo / vstep) * vstep; v <= hi; v += vstep) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="#f2f4f6"/>`,
      `<text x="${L - 6}" y="${f(y(v) + 4)}" text-anchor="end" font-size="12" fill="#66717d">${esc(v.toFixed(decimals))}</text>`);
  }
  parts.push(`<text x="${L}" y="12" font-size="12" fill="#66717d">${esc(unit)}${zone ? ` · times in ${esc(zone)}` : ""}</text>`);
  const limit = (v, color, name) => v == null ? "" :
    `<line class="limit ${name}" x1="${L}" x2="${W - R}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="${color}" stroke-dasharray="6 4"/>` +
    `<text x="${W - R - 4}" y="${f(y(v) - 4)}" text-anchor="end" font-size="12" fill="${color}">${name} ${esc(v)}</text>`;
  parts.push(limit(warning, "var(--amber)", "warning"), limit(critical, "var(--red)", "critical"));
  // Breaks in the line where telemetry stopped (more than five usual gaps).
  const gaps = points.slice(1).map((p, i) => p.t - points[i].t).sort((a, b) => a - b);
  const usual = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0, segments = [[]];
  points.forEach((p, i) => {
    if (i > 0 && usual > 0 && p.t - points[i - 1].t > Math.max(5 * usual, 30000)) segments.push([]);
    segments[segments.length - 1].push(p);
  });
  if (points.some((p) => p.min != null)) {
    for (const seg of segments.filter((s) => s.length > 1)) {
      const band = seg.map((p) => `${f(x(p.t))},${f(y(p.max))}`).concat(seg.slice().reverse().map((p) => `${f(x(p.t))},${f(y(p.min))}`)).join(" ");
      parts.push(`<polygon class="envelope" points="${band}" fill="var(--accent)" fill-opacity="0.12" stroke="none"/>`);
    }
  }
  for (const seg of segments.filter((s) => s.length)) {
    parts.push(`<polyline class="series" fill="none" stroke="var(--accent)" stroke-width="1.8" points="${seg.map((p) => `${f(x(p.t))},${f(y(p.value))}`).join(" ")}"/>`);
  }
  if (forecast) {
    const crossing = ms(forecast.crossing_at), earliest = ms(forecast.earliest), latest = forecast.latest ? ms(forecast.latest) : t1;
    const start = Math.max(fitStart, t0);
    parts.push(`<polygon class="forecast-band" points="${f(x(fitEnd))},${f(y(trendAt(fitEnd)))} ${f(x(earliest))},${f(y(forecast.limit))} ${f(x(latest))},${f(y(forecast.limit))}" fill="#00695c" fill-opacity="0.15"/>`,
      `<line class="forecast-trend" x1="${f(x(start))}" y1="${f(y(trendAt(start)))}" x2="${f(x(crossing))}" y2="${f(y(forecast.limit))}" stroke="#00695c" stroke-width="2" stroke-dasharray="8 4"/>`,
      `<circle cx="${f(x(crossing))}" cy="${f(y(forecast.limit))}" r="5" fill="#00695c"/>`,
      `<text x="${f(Math.min(x(crossing), W - R - 170))}" y="${f(y(forecast.limit) + 18)}" font-size="12" fill="#00695c">predicted ${esc(forecast.limit)} at ${esc(clockFormat(zone, false).format(new Date(crossing)))}</text>`);
    const now = Date.now();
    if (now > t0 && now < t1) parts.push(`<line x1="${f(x(now))}" x2="${f(x(now))}" y1="${T}" y2="${H - B}" stroke="#66717d" stroke-dasharray="2 3"/><text x="${f(x(now) + 3)}" y="${T + 10}" font-size="11" fill="#66717d">now</text>`);
  }
  for (const m of markers.filter((m) => m.t >= t0 && m.t <= t1)) {
    parts.push(`<line class="detection" x1="${f(x(m.t))}" x2="${f(x(m.t))}" y1="${T}" y2="${H - B}" stroke="var(--red)" stroke-width="2"><title>${esc(m.label || "detection")}</title></line>`);
  }
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="chart">${parts.join("")}</svg>`;
}

// ---- views

async function viewBoard(main) {
  main.innerHTML = `<h1>Open tickets</h1><div id="dead-letters"></div><div class="tiles" id="tiles"></div><div class="cards" id="board"></div>
    <h2>This month against the targets</h2><div class="tiles" id="kpi-tiles"></div>`;
  if (["admin", "supervisor"].includes(state.me.role)) {
    // Notifications a webhook refused too often: set aside so the rest go on; shown until resent.
    every(30000, async () => {
      const dead = await api("/api/v1/notifications/dead");
      const box = $("#dead-letters");
      if (!dead.length) { box.innerHTML = ""; return; }
      const where = [...new Set(dead.map((d) => d.destination.replace(/^webhook:/, "")))];
      box.innerHTML = `<div class="notice late" id="dead-notice">${dead.length} notification(s) could not be delivered to ${esc(where.join(", "))}
        after ${esc(Math.max(...dead.map((d) => d.attempts)))} attempts (last error: ${esc(dead[dead.length - 1].last_error || "?")}); the ones after them went on.
        <button class="secondary" id="retry-dead">Send them again</button></div>`;
      $("#retry-dead").addEventListener("click", async () => {
        await api("/api/v1/notifications/retry", { method: "POST", body: "{}" });
        box.innerHTML = "";
      });
    });
  }
  every(30000, async () => {
    const k = await api(`/api/v1/kpis?timezone=${encodeURIComponent(Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC")}`);
    $("#kpi-tiles").innerHTML = k.table.filter((r) => r.target || r.status === "met" || r.status === "missed").map((r) =>
      `<div class="tile kpi ${r.status === "missed" ? "red" : ""}" data-kpi="${esc(r.kpi)}"><div class="n">${esc(r.status === "not available" ? "n/a" : r.value)}</div>
       <div class="muted">${esc(r.kpi)}${r.target ? ` · target ${esc(r.target)}` : ""}</div>${r.status === "not available" ? `<div class="muted">${esc(r.value)}</div>` : ""}</div>`).join("");
  });
  every(5000, async () => {
    const items = await api("/api/v1/board");
    const count = (f) => items.filter(f).length;
    $("#tiles").innerHTML = [
      ["Open", items.length, ""], ["Urgent", count((i) => i.ticket.grade === "urgent"), "red"],
      ["Breached now", count((i) => i.share_left != null && i.share_left < 0), "red"],
      ["Escalated", count((i) => i.escalation === "supervisor" || i.escalation === "management"), "amber"],
      ["Unowned", count((i) => !i.ticket.owner), "amber"],
    ].map(([label, n, cls]) => `<div class="tile ${cls}"><div class="n">${n}</div><div class="muted">${label}</div></div>`).join("");
    $("#board").innerHTML = items.length === 0 ? `<p class="muted" id="empty">No open tickets.</p>` : items.map((i) => {
      const t = i.ticket, escalated = i.escalation === "supervisor" || i.escalation === "management";
      const clock = i.clocks.find((c) => c.kind === i.next_clock);
      return `<a class="card ticket ${escalated ? "escalated" : ""}" href="#/ticket/${t.id}" data-ticket="${t.id}">
        <span class="pill ${t.grade}">${t.grade}</span>
        <span class="title">#${t.id} ${esc(t.title)}${t.forecast ? ` <span class="pill forecast">limit ${esc(leadFromNow(t.forecast))}</span>` : ""}</span>
        <span>${i.next_deadline ? `${esc(i.next_clock.replace("_", " "))}: ${countdown(i.next_deadline, clock?.target)}` : `<span class="muted">${esc(t.status)}</span>`}</span>
        <span class="meta">${esc(t.fault_code)} · ${esc(t.device)} at ${esc(t.site)} · ${esc(t.status)}${t.paused ? " (paused)" : ""} · owner ${esc(t.owner || "none yet")}
          ${i.escalation ? `<span class="pill esc">escalated: ${esc(i.escalation)}</span>` : ""}</span></a>`;
    }).join("");
    tickCountdowns();
  });
  every(1000, tickCountdowns);
}

/** A step for the telemetry rollup that gives a chart about 300 points over `spanMs`. */
function rollupStep(spanMs) {
  const seconds = Math.max(1, Math.round(spanMs / 300 / 1000));
  return seconds >= 60 ? `${Math.round(seconds / 60)}m` : `${seconds}s`;
}

/** One sensor's telemetry over [from, to], rolled up to chart resolution. */
function telemetry(device, sensor, from, to) {
  const q = `sensor=${encodeURIComponent(sensor)}&from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
  return api(`/api/v1/devices/${encodeURIComponent(device)}/telemetry?${q}&step=${rollupStep(to - from)}`);
}

const detailKeys = ["reason", "owner", "description", "evidence", "level", "summary", "note", "from", "to", "score", "comment"];

async function viewTicket(main, id) {
  const d = await api(`/api/v1/tickets/${id}`);
  const t = d.ticket, zone = t.time_zone;
  const device = (await api(`/api/v1/devices?site=${encodeURIComponent(t.site)}`)).find((x) => x.id === t.device);
  const limits = (sensor) => device?.sensors.find((s) => s.key === sensor) || {};
  // One chart per sensor that fired: its latest evidence, every detection on that sensor marked.
  const sensors = [...new Set(d.detections.filter((x) => x.evidence.length).map((x) => x.sensor))];
  const evidence = sensors.map((sensor) => {
    const on = d.detections.filter((x) => x.sensor === sensor), last = on.filter((x) => x.evidence.length).pop();
    const l = limits(sensor);
    return `<figure class="evidence" data-sensor="${esc(sensor)}"><figcaption>${esc(sensor)}: ${esc(last.summary)}</figcaption>` +
      chart(last.evidence.map((s) => ({ t: ms(s.ts), value: s.value })), {
        warning: l.warning, critical: l.critical ?? last.limit, unit: last.unit, zone,
        markers: on.map((x) => ({ t: ms(x.detected_at), label: `${x.transition} ${x.severity}: ${x.summary}` })) }) + `</figure>`;
  });
  main.innerHTML = `
    <p><a href="#/board">← tickets</a></p>
    <h1><span class="pill ${esc(t.grade)}">${esc(t.grade)}</span> #${t.id} ${esc(t.title)}</h1>
    <p>${esc(t.fault_code)} on <a href="#/device/${encodeURIComponent(t.device)}">${esc(t.device)}</a> at ${esc(t.site)} · ${esc(t.source.replace("_", " "))}
       · status <strong id="status">${esc(t.status)}</strong>${t.paused ? " (paused)" : ""} · owner ${esc(t.owner || "none yet")} · <span id="assignee">${t.assignee ? `engineer ${esc(t.assignee)}` : "no engineer sent yet"}</span>
       · ${t.occurrences} occurrence(s) · opened ${when(t.opened_at, zone)}</p>
    ${t.complaint_of ? `<p id="complaint-of" class="notice">A complaint about <a href="#/ticket/${t.complaint_of}">ticket #${t.complaint_of}</a>:
       the customer rated its repair 2 or less. It closes only when a supervisor has resolved it with the customer.</p>` : ""}
    ${t.cancel_reason ? `<p class="muted" id="cancel-reason">Cancelled: ${esc(t.cancel_reason)}</p>` : ""}
    ${t.forecast ? `<p id="forecast" class="forecast">Predicted to reach ${esc(t.forecast.limit)} ${esc(t.unit || "")} ${esc(leadFromNow(t.forecast))}:
       ${when(t.forecast.crossing_at, zone)} (earliest ${when(t.forecast.earliest, zone)}${t.forecast.latest ? `, latest ${when(t.forecast.latest, zone)}` : ""});
       trend ${t.forecast.slope_per_hour.toPrecision(3)} ${esc(t.unit || "")}/h fitted on ${t.forecast.points} points from ${when(t.forecast.window_start, zone)}
       to ${when(t.forecast.fitted_at, zone)} (then ${esc(t.forecast.lead)}).</p>
       <figure id="trend"><figcaption>${esc(t.sensor || "")}: the trend and where it leads</figcaption><div id="trend-chart">${chart([], { forecast: t.forecast, unit: t.unit, zone })}</div></figure>` : ""}
    <h2>SLA clocks</h2>
    <table id="clocks"><tr><th>clock</th><th>target</th><th>deadline</th><th>state</th></tr>${d.clocks.map((c) => `
      <tr><td>${esc(c.kind.replace("_", " "))}</td><td>${esc(c.target)} (${esc(c.calendar)})</td><td>${when(c.deadline, zone)}</td>
      <td>${c.state === "running" && c.deadline ? countdown(c.deadline, c.target) : esc(c.state) + (c.met_at ? ` ${when(c.met_at, zone)}${c.breached ? " — late" : ""}` : "")}</td></tr>`).join("")}</table>
    <div class="actions" id="actions">${(d.allowed_actions || []).map((a) => `<button data-action="${esc(a)}" class="${a === "cancel" ? "secondary" : ""}">${esc(a)}</button>`).join("")}</div>
    <p class="error" id="action-error"></p>
    ${(t.status === "resolved" || t.status === "closed") && state.me.role === "customer" ? `
      <form class="stack" id="rating-form"><label>How satisfied are you with the repair?
        <select name="score">${[5, 4, 3, 2, 1].map((n) => `<option value="${n}">${"★".repeat(n)} ${n}</option>`).join("")}</select></label>
        <label>Anything to add? <textarea name="comment" rows="2"></textarea></label><button>Rate</button>
        ${d.ratings.length ? `<p class="muted">You rated it ${d.ratings[d.ratings.length - 1].score}/5.</p>` : ""}</form>` : ""}
    ${fieldWork(d)}
    <div id="cases"></div>
    ${evidence.length ? `<h2>Evidence</h2><div id="evidence">${evidence.join("")}</div>` : ""}
    ${d.solutions.length ? `<h2>Solutions</h2><ul id="solutions">${d.solutions.map((s) => `<li>${esc(s.status)}: ${esc(s.diagnosis)} → ${esc(s.planned_work)}${s.estimated_cost != null ? ` (est. ${esc(s.estimated_cost)})` : ""} · ${esc(s.proposed_by)}, ${when(s.proposed_at, zone)}</li>`).join("")}</ul>` : ""}
    ${d.ratings.length ? `<h2>Ratings</h2><ul id="ratings">${d.ratings.map((r) => `<li>${"★".repeat(r.score)} ${r.score}/5 ${esc(r.comment)} · ${when(r.at, zone)}</li>`).join("")}</ul>` : ""}
    ${d.pauses.length ? `<h2>Pauses</h2><ul id="pauses">${d.pauses.map((p) => `<li>${when(p.started_at, zone)} – ${p.ended_at ? when(p.ended_at, zone) : "now"}: ${esc(p.reason)} (${esc(p.evidence)})</li>`).join("")}</ul>` : ""}
    ${d.escalations.length ? `<h2>Escalations</h2><ul id="escalations">${d.escalations.map((e) => `<li>${when(e.fired_at, zone)}: ${esc(e.clock.replace("_", " "))} → ${esc(e.level)}</li>`).join("")}</ul>` : ""}
    <h2>Timeline</h2><ol class="timeline" id="timeline">${d.timeline.map((a) => `<li>${when(a.at, zone)} — <strong>${esc(a.actor)}</strong> ${esc(a.action)}
      ${a.detail && a.detail.late_logged ? `<span class="late late-logged" title="received ${esc(when(a.detail.received_at, zone))}">late-logged: ${esc(a.detail.late_logged)}</span>` : ""}
      <span class="muted">${esc(Object.entries(a.detail || {}).filter(([k]) => detailKeys.includes(k)).map(([k, v]) => `${k}: ${v}`).join("; "))}</span></li>`).join("")}</ol>`;
  if (t.forecast && t.sensor) {
    // The fitted window up to now from the rings and history, carried on to the predicted crossing.
    const from = Math.min(ms(t.forecast.window_start), Date.now() - 3600000), to = Date.now();
    // A device taken out of the inventory since has no telemetry: its stored evidence stands in.
    const series = device ? seriesOf(await telemetry(t.device, t.sensor, from, to))
      : d.detections.filter((x) => x.sensor === t.sensor).flatMap((x) => x.evidence).map((s) => ({ t: ms(s.ts), value: s.value }));
    const l = limits(t.sensor);
    $("#trend-chart").innerHTML = chart(series, { warning: l.warning, critical: l.critical, unit: t.unit, zone, forecast: t.forecast, from,
      markers: d.detections.filter((x) => x.sensor === t.sensor).map((x) => ({ t: ms(x.detected_at), label: x.summary })) });
  }
  wireFieldWork(main, d, () => viewTicket(main, id));
  if (state.me.role !== "customer") {
    // Past repairs like this one: what fixed it, with which parts, how long it took.
    const similar = await api(`/api/v1/tickets/${id}/cases`).catch(() => ({ cases: [] }));
    $("#cases").innerHTML = similar.cases.length === 0 ? "" : `<h2>Similar past cases</h2><ul id="case-list">${similar.cases.map((c) =>
      `<li data-case="${c.id}"><strong>${c.ticket ? `<a href="#/ticket/${c.ticket}">#${c.ticket}</a> ` : ""}${esc(c.title)}</strong>
        ${c.fix ? `— ${esc(c.fix)}` : ""}${c.parts ? ` · bring ${esc(c.parts)}` : ""}${c.labour_hours != null ? ` · ${esc(c.labour_hours)} h` : ""}
        ${c.outcome ? ` · ${esc(c.outcome)}` : ""}${c.lesson ? `<div>lesson: ${esc(c.lesson)}</div>` : ""}<div class="muted">${esc(c.why)}</div></li>`).join("")}</ul>`;
  }
  $("#rating-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    try {
      const r = await api(`/api/v1/tickets/${id}/rating`, { method: "POST", body: JSON.stringify({ score: Number(f.get("score")), comment: f.get("comment") }) });
      $("#action-error").textContent = r.complaint ? `Thank you. We are sorry: complaint #${r.complaint.id} is open and a supervisor will call you.` : "Thank you for your rating.";
    } catch (e) { $("#action-error").textContent = e.message; }
  });
  main.querySelectorAll("button[data-action]").forEach((b) => b.addEventListener("click", async () => {
    const action = b.dataset.action, body = {};
    if (["cancel", "reopen"].includes(action) || action === "resolve") body.reason = prompt(`Reason for ${action}:`) || undefined;
    if (action === "pause") { body.pause_reason = prompt("Pause reason (waiting_for_customer, site_access_refused, customer_owned_part):"); body.evidence = prompt("Evidence:"); }
    try { await api(`/api/v1/tickets/${id}/actions/${action}`, { method: "POST", body: JSON.stringify(body) }); viewTicket(main, id); }
    catch (e) { $("#action-error").textContent = e.message; }
  }));
  every(1000, tickCountdowns);
}

async function viewSites(main) {
  main.innerHTML = `<h1>Sites and devices</h1><div class="sites" id="sites"></div>`;
  const sites = await api("/api/v1/sites");
  every(10000, async () => {
    const devices = await api("/api/v1/devices");
    const to = Date.now(), from = to - 15 * 60000;
    const html = await Promise.all(sites.map(async (s) => {
      const rows = await Promise.all(devices.filter((d) => d.site === s.id).map(async (d) => {
        const sensors = await Promise.all(d.sensors.map(async (x) => {
          const t = x.latest ? seriesOf(await telemetry(d.id, x.key, from, to)) : [];
          return `<span>${esc(x.key)}</span><span>${x.latest ? `${esc(Number(x.latest.value.toFixed(2)))} ${esc(x.unit)}` : "—"}</span>${spark(t, x.warning, x.critical)}`;
        }));
        return `<a class="device" href="#/device/${encodeURIComponent(d.id)}" data-device="${esc(d.id)}"><span class="dot ${esc(d.status)}"></span><strong>${esc(d.name || d.id)}</strong>
          <span class="muted">${esc(d.profile)} · ${esc(d.status)}${d.open_tickets ? ` · ${d.open_tickets} open ticket(s)` : ""}</span>
          <div class="sensors">${sensors.join("")}</div></a>`;
      }));
      return `<section class="site" data-site="${esc(s.id)}"><h2>${esc(s.name)}</h2><p class="muted">${esc(s.customer)} (${esc(s.tier)}) · ${esc(s.timezone)} · ${s.open_tickets} open ticket(s)</p>${rows.join("")}</section>`;
    }));
    $("#sites").innerHTML = html.join("");
  });
}

const windows = { "1h": 3600000, "6h": 6 * 3600000, "24h": 24 * 3600000 };

async function viewDevice(main, id) {
  const devices = await api("/api/v1/devices");
  const d = devices.find((x) => x.id === id);
  if (!d) { main.innerHTML = `<p class="error">No device ${esc(id)} that you may see.</p>`; return; }
  const site = (await api("/api/v1/sites")).find((s) => s.id === d.site), zone = site?.timezone;
  const tickets = await api(`/api/v1/tickets?device=${encodeURIComponent(id)}&status=all&limit=20`);
  const details = await Promise.all(tickets.slice(0, 10).map((t) => api(`/api/v1/tickets/${t.id}`)));
  const detections = details.flatMap((x) => x.detections.map((y) => ({ ...y, ticket: x.ticket.id })));
  // A forecast is drawn on its own sensor: the newest open forecast ticket of each sensor.
  const forecasts = {};
  for (const x of details) if (x.ticket.forecast && x.ticket.sensor && !["closed", "cancelled"].includes(x.ticket.status)) forecasts[x.ticket.sensor] ??= x.ticket.forecast;
  state.window = state.window in windows ? state.window : "1h";
  main.innerHTML = `<p><a href="#/sites">← sites</a></p><h1><span class="dot ${esc(d.status)}"></span>${esc(d.name || d.id)}</h1>
    <p class="muted">${esc(d.profile)} at ${esc(site?.name || d.site)} · last seen ${when(d.last_seen, zone)} · detections marked in red on the sensor that fired</p>
    <div class="actions" id="window">${Object.keys(windows).map((w) => `<button class="${w === state.window ? "" : "secondary"}" data-window="${w}">${w}</button>`).join("")}</div>
    <div id="charts"></div>
    <h2>Tickets</h2><ul>${tickets.map((t) => `<li><a href="#/ticket/${t.id}">#${t.id}</a> ${esc(t.grade)} ${esc(t.status)} — ${esc(t.title)}</li>`).join("") || "<li class=muted>none</li>"}</ul>`;
  main.querySelectorAll("button[data-window]").forEach((b) => b.addEventListener("click", () => { state.window = b.dataset.window; render(); }));
  every(10000, async () => {
    const to = Date.now(), from = to - windows[state.window];
    const charts = await Promise.all(d.sensors.map(async (x) => {
      const t = await telemetry(id, x.key, from, to);
      const markers = detections.filter((y) => y.sensor === x.key).map((y) => ({ t: ms(y.detected_at), label: `#${y.ticket} ${y.summary}` }));
      return `<figure class="sensor-chart" data-sensor="${esc(x.key)}"><figcaption>${esc(x.key)} <span class="muted">(${t.count} samples)</span></figcaption>` +
        chart(seriesOf(t), { warning: t.warning, critical: t.critical, markers, unit: t.unit, zone, forecast: forecasts[x.key], from, to }) + `</figure>`;
    }));
    $("#charts").innerHTML = charts.join("");
  });
}

async function viewMonth(main) {
  const now = new Date(), month = state.month || `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const k = await api(`/api/v1/kpis?month=${encodeURIComponent(month)}&timezone=${encodeURIComponent(zone)}`);
  const pct = (v) => v == null ? "—" : `${Math.round(v * 100)} %`;
  const bars = (rows) => {
    const top = Math.max(1, ...rows.map((r) => r.count));
    return rows.slice(0, 8).map((r) => `<div class="bar"><span>${esc(r.key)}</span><span class="track"><span style="width:${(100 * r.count / top).toFixed(0)}%"></span></span><span>${r.count}</span></div>`).join("") || `<p class="muted">none</p>`;
  };
  main.innerHTML = `<h1>Monthly service report</h1>
    <form class="inline" id="month-form"><label>Month <input type="month" name="month" value="${esc(month)}"></label><button>Show</button></form>
    <p class="muted">${esc(k.month)} in ${esc(k.timezone)} · ${k.kpis.tickets} ticket(s), ${k.kpis.resolved} resolved · definitions ${esc(k.kpis.definitions)}
      · ${esc(when(k.kpis.from))} to ${esc(when(k.kpis.to))}</p>
    <table id="kpis"><tr><th>KPI</th><th>value</th><th>target</th><th>status</th></tr>${k.table.map((r) =>
      `<tr class="${esc(r.status.replace(" ", "-"))}"><td>${esc(r.kpi)}</td><td>${esc(r.value)}</td><td>${esc(r.target)}</td><td>${esc(r.status)}</td></tr>`).join("")}</table>
    <h2>Top faults by equipment model</h2><div class="bars" id="top-faults">${bars(k.kpis.top_faults)}</div>
    <h2>Staff ranking</h2><table id="ranking"><tr><th>who</th><th>owned</th><th>resolved</th><th>SLA met</th></tr>${k.kpis.engineers.slice(0, 10).map((e) =>
      `<tr><td>${esc(e.name)}</td><td>${e.owned}</td><td>${e.resolved}</td><td>${pct(e.sla_compliance)}</td></tr>`).join("") || `<tr><td colspan="4" class="muted">nobody owned a ticket this month</td></tr>`}</table>`;
  if (["admin", "supervisor", "dispatcher"].includes(state.me.role)) {
    const c = await api(`/api/v1/costs?month=${encodeURIComponent(month)}&timezone=${encodeURIComponent(zone)}`);
    const money = (x) => x.toFixed(2), t = c.totals;
    main.insertAdjacentHTML("beforeend", `<h2>Costs: who pays</h2><p class="muted" id="cost-totals">${t.labour_hours} labour hour(s) · warranty ${money(t.warranty)} ·
      contract ${money(t.contract)} · billable ${money(t.billable)}${t.unpriced_lines ? ` · ${t.unpriced_lines} part line(s) not priced yet (no parts catalogue)` : ""}</p>
      <table id="costs"><tr><th>equipment model</th><th>warranty</th><th>contract</th><th>billable</th><th>hours</th></tr>${c.by_model.map((g) =>
        `<tr><td>${esc(g.key)}</td><td>${money(g.warranty)}</td><td>${money(g.contract)}</td><td>${money(g.billable)}</td><td>${g.labour_hours}</td></tr>`).join("")
        || `<tr><td colspan="5" class="muted">no finished visit this month</td></tr>`}</table>`);
  }
  $("#month-form").addEventListener("submit", (event) => { event.preventDefault(); state.month = new FormData(event.target).get("month"); render(); });
}

const fieldRoles = ["admin", "supervisor", "dispatcher", "engineer"];
const notFixedReasons = ["missing_part", "missing_skill", "no_access", "misdiagnosis", "needs_follow_up"];

/** A ticket's visits and remote assistance, with the forms the signed-in person may use now. */
function fieldWork(d) {
  const t = d.ticket, me = state.me, staff = fieldRoles.includes(me.role);
  const open = d.visits.find((v) => !v.finished_at && (v.engineer === me.subject || me.role !== "engineer"));
  const rows = d.visits.map((v) => `<tr data-visit="${v.id}"><td>#${v.id} ${esc(v.engineer)}</td><td>${when(v.started_at, t.time_zone)}</td>
    <td>${esc({ at_site: "at the site", away: "away from the site", accepted: `accepted by ${v.accepted_by}`, checked_in: "checked in" }[v.check_in] || v.check_in)}${v.distance_m != null ? ` (${v.distance_m} m)` : ""}</td>
    <td>${v.outcome ? `${esc(v.outcome.replace("_", " "))}${v.reason ? `: ${esc(v.reason.replace(/_/g, " "))}` : ""}` : "in progress"}</td>
    <td>${esc(v.work || "")}${v.labour_hours != null ? ` · ${v.labour_hours} h` : ""}${v.parts ? ` · ${esc(v.parts)}` : ""}</td>
    <td>${v.check_in === "away" && ["admin", "supervisor"].includes(me.role) ? `<button class="secondary accept-visit" data-visit="${v.id}">Accept check-in</button>` : ""}</td></tr>`).join("");
  const remote = d.remote_assists.map((r) => `<li>${when(r.at, t.time_zone)} ${esc(r.actor)}: checked ${esc(r.checked)}; told ${esc(r.instructions)} — <strong>${esc(r.outcome.replace("_", " "))}</strong></li>`).join("");
  const canVisit = staff && ["dispatched", "on_site"].includes(t.status) && !open;
  const canRemote = staff && ["contacted", "dispatched", "on_site"].includes(t.status) && !t.paused;
  if (!rows && !remote && !canVisit && !canRemote && !open) return "";
  return `<h2>Field work</h2>
    ${rows ? `<table id="visits"><tr><th>visit</th><th>check-in</th><th>where</th><th>outcome</th><th>work</th><th></th></tr>${rows}</table>` : ""}
    ${remote ? `<ul id="remote-assists">${remote}</ul>` : ""}
    <div class="actions">${canVisit ? `<button id="check-in">Check in here</button>` : ""}</div>
    ${open ? `<form class="stack" id="finish-form" data-visit="${open.id}"><strong>Finish visit #${open.id}</strong>
      <label>Outcome <select name="outcome"><option value="fixed">fixed</option><option value="not_fixed">not fixed</option></select></label>
      <label>Why not fixed <select name="reason"><option value="">—</option>${notFixedReasons.map((r) => `<option value="${r}">${r.replace(/_/g, " ")}</option>`).join("")}</select></label>
      <label>Work done <textarea name="work" rows="2" required></textarea></label>
      <label>Labour hours <input name="labour_hours" type="number" min="0" max="72" step="0.25" value="1" required></label>
      <label>Parts used <input name="parts" placeholder="SKF-6309-2Z:1, GREASE-LGHP2-0.4KG:1"></label><button>Finish visit</button></form>` : ""}
    ${canRemote ? `<details><summary>Record remote assistance</summary><form class="stack" id="remote-form">
      <label>What was checked <input name="checked" required placeholder="live telemetry with the operator"></label>
      <label>What the customer was told <input name="instructions" required></label>
      <label>Outcome <select name="outcome"><option value="not_fixed">not fixed</option><option value="fixed">fixed remotely</option></select></label>
      <button>Record</button></form></details>` : ""}
    <p class="error" id="field-error"></p>`;
}

function wireFieldWork(main, d, reload) {
  const fail = (e) => { $("#field-error").textContent = e.message; };
  const post = async (path, body) => { try { await api(path, { method: "POST", body: JSON.stringify(body) }); reload(); } catch (e) { fail(e); } };
  $("#check-in")?.addEventListener("click", () => {
    const send = (coords) => post(`/api/v1/tickets/${d.ticket.id}/visits`, coords ? { latitude: coords.latitude, longitude: coords.longitude } : {});
    if (!navigator.geolocation) return send(null);
    navigator.geolocation.getCurrentPosition((p) => send(p.coords), () => send(null), { timeout: 10000 });
  });
  $("#finish-form")?.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    post(`/api/v1/visits/${event.target.dataset.visit}/finish`, { outcome: f.get("outcome"), reason: f.get("reason") || undefined, work: f.get("work"),
      labour_hours: Number(f.get("labour_hours")), parts: f.get("parts") || undefined });
  });
  $("#remote-form")?.addEventListener("submit", (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    post(`/api/v1/tickets/${d.ticket.id}/remote`, { checked: f.get("checked"), instructions: f.get("instructions"), outcome: f.get("outcome") });
  });
  main.querySelectorAll("button.accept-visit").forEach((b) => b.addEventListener("click", () => post(`/api/v1/visits/${b.dataset.visit}/accept`, {})));
}

/** The dispatcher's board: tickets nobody is sent to yet with their best three candidates, the team's loads, and a plan of sites and people. */
/** Spare parts: what to order now (the forecast of demand over each part's lead time), then stock per part and location. */
async function viewParts(main) {
  main.innerHTML = `<h1>Spare parts</h1><h2>To order</h2><div id="orders"></div><h2>Stock</h2><div class="wide"><table id="parts-table"></table></div>`;
  every(30000, async () => {
    const p = await api("/api/v1/parts");
    $("#orders").innerHTML = p.orders.length === 0 ? `<p class="muted" id="nothing-to-order">Nothing to order: every part's stock covers its expected demand and safety stock.</p>`
      : `<ul id="order-list">${p.orders.map((o) => `<li data-part="${esc(o.part)}"><strong>${esc(o.quantity)} × ${esc(o.part)}</strong> to ${esc(o.location)}
          ${o.vip ? `<span class="pill urgent">VIP waiting</span>` : ""}<div class="muted">${esc(o.why)}</div></li>`).join("")}</ul>`;
    $("#parts-table").innerHTML = p.parts.length === 0 ? `<tr><td class="muted">No stock recorded: <code>fieldwatch parts import FILE</code> loads the catalogue and the counts.</td></tr>`
      : `<tr><th>part</th><th>location</th><th>on hand</th><th>reserved</th><th>available</th><th>expected demand</th><th>reorder point</th><th>warnings</th></tr>`
        + p.parts.map((r) => `<tr data-part="${esc(r.part)}" class="${r.warnings.length ? "warn" : ""}"><td>${esc(r.part)}</td><td>${esc(r.location)} <span class="muted">${esc(r.kind.replace("_", " "))}</span></td>
          <td>${r.on_hand}</td><td>${r.reserved}</td><td>${r.available}</td><td>${r.predicted_demand == null ? "—" : esc(r.predicted_demand.toFixed(1))}</td>
          <td>${esc(Number(r.reorder_point).toFixed(1))}</td><td class="${r.warnings.length ? "late" : ""}">${esc(r.warnings.join("; "))}</td></tr>`).join("");
  });
}

async function viewDispatch(main) {
  main.innerHTML = `<h1>Dispatch</h1><div class="dispatch"><section><h2>Waiting for an engineer</h2><div id="unassigned" class="cards"></div></section>
    <section><h2>Plan</h2><div id="plan"></div><h2>Team</h2><table id="team"></table><h2>Parts running low</h2><div id="parts-low"></div></section></div>
    <p class="error" id="dispatch-error"></p>`;
  const refresh = async () => {
    const [board, team, sites, parts] = await Promise.all([api("/api/v1/board"), api("/api/v1/team"), api("/api/v1/sites"), api("/api/v1/parts")]);
    // The zero-stock warning fires before a part runs out: expected demand over its lead time counts the forecasts.
    $("#parts-low").innerHTML = parts.orders.length === 0 ? `<p class="muted" id="parts-ok">Every part's stock covers its expected demand.</p>`
      : `<ul id="parts-orders">${parts.orders.map((o) => `<li data-part="${esc(o.part)}"><strong>${esc(o.part)}</strong>: order ${esc(o.quantity)} to ${esc(o.location)}${o.vip ? ` <span class="pill urgent">VIP waiting</span>` : ""}
        <div class="muted">${esc(o.why)}</div></li>`).join("")}</ul>`;
    const waiting = board.filter((i) => !i.ticket.assignee && i.ticket.status !== "resolved");
    const suggestions = await Promise.all(waiting.map((i) => api(`/api/v1/tickets/${i.ticket.id}/dispatch`).catch((e) => ({ error: e.message, candidates: [], excluded: [] }))));
    $("#unassigned").innerHTML = waiting.length === 0 ? `<p class="muted" id="none-waiting">Every open ticket has an engineer.</p>` : waiting.map((i, n) => {
      const t = i.ticket, s = suggestions[n];
      return `<div class="card dispatch-card" data-ticket="${t.id}"><span class="pill ${esc(t.grade)}">${esc(t.grade)}</span>
        <span class="title"><a href="#/ticket/${t.id}">#${t.id}</a> ${esc(t.title)}</span>
        <span>${i.next_deadline ? `${esc(i.next_clock.replace("_", " "))}: ${countdown(i.next_deadline, i.clocks.find((c) => c.kind === i.next_clock)?.target)}` : ""}</span>
        <div class="meta">${esc(t.site)} · needs ${esc(s.skills?.length ? s.skills.join(", ") : "no particular trade")}${s.parts?.length ? ` · bring ${esc(s.parts.join(", "))}` : ""}${s.error ? ` · <span class="error">${esc(s.error)}</span>` : ""}
          <ol class="candidates">${s.candidates.slice(0, 3).map((c) => `<li class="candidate" data-engineer="${esc(c.engineer)}">
            <strong>${esc(c.partner ? `partner ${c.name}` : c.name)}</strong> · ETA ${c.eta_minutes} min · ${c.distance_km} km
            ${c.sla_slack_minutes == null ? "" : c.sla_slack_minutes >= 0 ? `· <span class="ok">${span(c.sla_slack_minutes * 60000)} to spare</span>` : `· <span class="late">${span(-c.sla_slack_minutes * 60000)} late</span>`}
            · ${c.workload} job(s) ${c.partner ? "" : `<button class="assign" data-ticket="${t.id}" data-engineer="${esc(c.engineer)}">Assign</button>`}
            <div class="muted">${esc(c.reasons.join(" · "))}</div></li>`).join("") || `<li class="muted">nobody can take it: ${esc(s.excluded.map((x) => `${x.engineer} ${x.why}`).join("; "))}</li>`}</ol></div></div>`;
    }).join("");
    $("#team").innerHTML = `<tr><th>engineer</th><th>skills</th><th>jobs</th><th>last position</th></tr>` + team.engineers.filter((e) => e.role === "engineer").map((e) =>
      `<tr data-engineer="${esc(e.id)}"><td>${esc(e.name)} <span class="muted">${esc(e.id)}</span></td>
       <td>${e.skills.map((s) => `<span class="${s.valid ? "" : "expired"}" title="${s.certificate_until ? `certificate until ${esc(s.certificate_until)}` : ""}">${esc(s.skill)}</span>`).join(", ")}</td>
       <td>${e.open_jobs.length}/${e.max_jobs}</td><td>${e.position_at ? when(e.position_at) : "home base"}</td></tr>`).join("");
    $("#plan").innerHTML = plan(sites, team, board);
    main.querySelectorAll("button.assign").forEach((b) => b.addEventListener("click", async () => {
      try { await api(`/api/v1/tickets/${b.dataset.ticket}/assign`, { method: "POST", body: JSON.stringify({ engineer: b.dataset.engineer }) }); await refresh(); }
      catch (e) { $("#dispatch-error").textContent = e.message; }
    }));
    tickCountdowns();
  };
  every(15000, refresh);
  every(1000, tickCountdowns);
}

/** Sites, service points and engineers on a plain plan of their coordinates (no map tiles: nothing leaves the gateway). */
function plan(sites, team, board) {
  const people = team.engineers.filter((e) => e.role === "engineer").map((e) => ({ ...e, at: e.position || e.home }));
  const points = sites.map((s) => [s.latitude, s.longitude]).concat(team.service_points.map((p) => [p.position.latitude, p.position.longitude]), people.map((e) => [e.at.latitude, e.at.longitude]));
  if (!points.length) return `<p class="muted">No sites or engineers yet.</p>`;
  const W = Math.round(Math.max(280, Math.min(640, ($("#plan")?.clientWidth || 480)))), H = Math.round(W * 0.7), P = 28;
  const lats = points.map((p) => p[0]), lons = points.map((p) => p[1]);
  let [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const midLat = (la0 + la1) / 2, k = Math.cos(midLat * Math.PI / 180);
  const spanX = Math.max((lo1 - lo0) * k, 0.02), spanY = Math.max(la1 - la0, 0.02), scale = Math.min((W - 2 * P) / spanX, (H - 2 * P) / spanY);
  const x = (lon) => P + ((lon - lo0) * k) * scale + ((W - 2 * P) - spanX * scale) / 2, y = (lat) => H - P - (lat - la0) * scale - ((H - 2 * P) - spanY * scale) / 2;
  const open = (site) => board.filter((i) => i.ticket.site === site).length;
  const parts = [];
  for (const p of team.service_points) {
    const r = p.radius_km / 111.195 * scale;
    parts.push(`<circle class="coverage" cx="${x(p.position.longitude).toFixed(1)}" cy="${y(p.position.latitude).toFixed(1)}" r="${r.toFixed(1)}" fill="${p.partner ? "#6a1b9a" : "var(--accent)"}" fill-opacity="0.06" stroke="${p.partner ? "#6a1b9a" : "var(--accent)"}" stroke-opacity="0.3"/>`,
      `<rect x="${(x(p.position.longitude) - 4).toFixed(1)}" y="${(y(p.position.latitude) - 4).toFixed(1)}" width="8" height="8" fill="${p.partner ? "#6a1b9a" : "var(--accent)"}"><title>${esc(p.name)}</title></rect>`);
  }
  for (const s of sites) {
    const n = open(s.id);
    parts.push(`<circle class="site" data-site="${esc(s.id)}" cx="${x(s.longitude).toFixed(1)}" cy="${y(s.latitude).toFixed(1)}" r="${6 + Math.min(n, 5)}" fill="${n ? "var(--red)" : "var(--ok)"}"><title>${esc(s.name)}: ${n} open</title></circle>`,
      `<text x="${(x(s.longitude) + 10).toFixed(1)}" y="${(y(s.latitude) + 4).toFixed(1)}" font-size="11">${esc(s.name)}</text>`);
  }
  for (const e of people) {
    parts.push(`<circle class="engineer" data-engineer="${esc(e.id)}" cx="${x(e.at.longitude).toFixed(1)}" cy="${y(e.at.latitude).toFixed(1)}" r="5" fill="#fff" stroke="#14212e" stroke-width="2"><title>${esc(e.name)}: ${e.open_jobs.length}/${e.max_jobs} jobs</title></circle>`,
      `<text x="${(x(e.at.longitude) + 8).toFixed(1)}" y="${(y(e.at.latitude) - 6).toFixed(1)}" font-size="10" fill="#14212e">${esc(e.name)}</text>`);
  }
  return `<svg class="plan" viewBox="0 0 ${W} ${H}" role="img" aria-label="plan of sites and engineers">${parts.join("")}</svg>
    <p class="muted">● site (red: open tickets) · ○ engineer (last position or home) · ■ service point with its coverage (purple: partner)</p>`;
}

/** An engineer's phone: my jobs in deadline order, a navigation link, my position. */
async function viewJobs(main) {
  const [board, sites] = await Promise.all([api("/api/v1/board"), api("/api/v1/sites")]);
  const mine = board.filter((i) => i.ticket.assignee === state.me.subject || i.ticket.owner === state.me.subject);
  main.innerHTML = `<h1>My jobs</h1><div class="cards" id="jobs">${mine.map((i) => {
      const t = i.ticket, s = sites.find((x) => x.id === t.site);
      return `<div class="card job" data-ticket="${t.id}"><span class="pill ${esc(t.grade)}">${esc(t.grade)}</span>
        <span class="title"><a href="#/ticket/${t.id}">#${t.id}</a> ${esc(t.title)}</span>
        <span>${i.next_deadline ? `${esc(i.next_clock.replace("_", " "))}: ${countdown(i.next_deadline, i.clocks.find((c) => c.kind === i.next_clock)?.target)}` : esc(t.status)}</span>
        <span class="meta">${esc(s?.name || t.site)} · ${esc(t.status)}${t.assignee === state.me.subject ? " · sent to you" : " · you own it"}
          ${s ? ` · <a class="navigate" href="geo:${s.latitude},${s.longitude}?q=${s.latitude},${s.longitude}(${encodeURIComponent(s.name)})">navigate</a>` : ""}</span></div>`;
    }).join("") || `<p class="muted" id="no-jobs">No jobs for you right now.</p>`}</div>
    <p><button id="send-position">Send my position</button> <span class="muted" id="position-status">Dispatch measures travel from your last position.</span></p>`;
  $("#send-position").addEventListener("click", () => {
    if (!navigator.geolocation) { $("#position-status").textContent = "This browser cannot tell where you are."; return; }
    navigator.geolocation.getCurrentPosition(async (p) => {
      try {
        await api(`/api/v1/engineers/${encodeURIComponent(state.me.subject)}/position`, { method: "POST", body: JSON.stringify({ latitude: p.coords.latitude, longitude: p.coords.longitude }) });
        $("#position-status").textContent = `Sent: ${p.coords.latitude.toFixed(4)}, ${p.coords.longitude.toFixed(4)}.`;
      } catch (e) { $("#position-status").textContent = e.message; }
    }, (e) => { $("#position-status").textContent = `No position: ${e.message}`; });
  });
  every(1000, tickCountdowns);
}

async function viewReport(main) {
  const devices = await api("/api/v1/devices");
  main.innerHTML = `<h1>Report a fault</h1>
    <form class="stack" id="report-form">
      <label>Equipment <select name="device" required>${devices.map((d) => `<option value="${esc(d.id)}">${esc(d.name || d.id)} (${esc(d.site)})</option>`).join("")}</select></label>
      <label>What is wrong? <textarea name="description" rows="3" required placeholder="e.g. the pump is loud and the motor is hot"></textarea></label>
      <label>How did the customer reach us? <select name="channel"><option value="online">online</option><option value="phone">phone</option><option value="email">e-mail</option></select></label>
      <label><span><input type="checkbox" name="stopped"> The equipment has stopped</span></label>
      <button type="submit">Send</button>
      <p class="error" id="report-error"></p>
    </form><div id="report-result"></div>`;
  $("#report-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    try {
      const r = await api("/api/v1/tickets", { method: "POST", body: JSON.stringify({
        device: f.get("device"), description: f.get("description"), channel: f.get("channel"), stopped: f.get("stopped") === "on" }) });
      $("#report-result").innerHTML = `<p class="notice">${r.linked ? "Added to the ticket already open for this equipment:" : "Ticket opened:"}
        <a href="#/ticket/${r.ticket.id}">#${r.ticket.id}</a> (${esc(r.ticket.grade)}). We will contact you within ${esc(r.clocks.find((c) => c.kind === "first_contact")?.target || "the agreed time")}.</p>`;
    } catch (e) { $("#report-error").textContent = e.message; }
  });
}

async function viewAsk(main) {
  const devices = await api("/api/v1/devices");
  main.innerHTML = `<h1>Ask</h1>
    <p class="muted">Questions such as "where is my ticket?", "when will the engineer arrive?" or "how do I reset the pump alarm?".
      Answers come from your tickets and our FAQ; when I am not sure, a person answers.</p>
    <div id="conversation"></div>
    <form class="stack" id="ask-form"><label>Your question <input name="question" required autocomplete="off"></label>
      <label id="device-pick" hidden>Which equipment? <select name="device"><option value="">—</option>
        ${devices.map((d) => `<option value="${esc(d.id)}">${esc(d.name || d.id)} (${esc(d.site)})</option>`).join("")}</select></label>
      <button>Ask</button><p class="error" id="ask-error"></p></form>`;
  $("#ask-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    try {
      const r = await api("/api/v1/assistant", { method: "POST", body: JSON.stringify({ question: f.get("question"), device: f.get("device") || undefined }) });
      const sources = r.sources.map((s) => s.kind === "ticket" ? `<a href="#/ticket/${esc(s.id)}">ticket #${esc(s.id)}</a>`
        : s.kind === "case" ? `past repair: ${esc(s.title)}` : `FAQ: ${esc(s.title)}`).join(", ");
      $("#conversation").insertAdjacentHTML("beforeend", `<div class="answer" data-intent="${esc(r.intent)}"><p><strong>You:</strong> ${esc(f.get("question"))}</p>
        <p class="notice">${esc(r.answer).replace(/\n/g, "<br>")}</p><p class="muted">Source: ${sources || "—"}</p></div>`);
      $("#device-pick").hidden = r.handover !== "needs_device";
      if (r.handover !== "needs_device") event.target.reset();
    } catch (e) { $("#ask-error").textContent = e.message; }
  });
}

function viewSignIn(main) {
  $("#nav").hidden = true;
  $("#who").textContent = "";
  main.innerHTML = `<h1>Sign in</h1><form class="stack" id="signin"><label>API token <input name="token" autocomplete="off" required placeholder="fw_…"></label>
    <p class="muted">Ask your administrator for a token (<code>fieldwatch tokens create</code>). It is kept in this browser only.</p><button>Sign in</button></form>`;
  $("#signin").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem("fieldwatch.token", new FormData(e.target).get("token").trim());
    render();
  });
}

async function render() {
  clearTimers();
  $("#banner").hidden = true;
  const main = $("#main");
  state.token = readToken();
  if (!state.token) return viewSignIn(main);
  try {
    state.me = state.me || await api("/api/v1/me");
  } catch (e) { return viewSignIn(main); }
  $("#nav").hidden = false;
  $("#who").innerHTML = `${esc(state.me.subject)} · ${esc(state.me.role)}${state.me.organisation ? ` · ${esc(state.me.organisation)}` : ""} <button class="secondary" id="signout">Sign out</button>`;
  $("#signout").addEventListener("click", () => { state.me = null; signOut(); });
  const [, view, arg] = (location.hash || "#/board").split("?")[0].split("/");
  document.querySelectorAll("nav a").forEach((a) => {
    a.classList.toggle("active", a.dataset.view === view);
    a.hidden = !!a.dataset.roles && !a.dataset.roles.split(" ").includes(state.me.role);
  });
  try {
    if (view === "ticket") await viewTicket(main, arg);
    else if (view === "sites") await viewSites(main);
    else if (view === "device") await viewDevice(main, decodeURIComponent(arg));
    else if (view === "report") await viewReport(main);
    else if (view === "ask") await viewAsk(main);
    else if (view === "month") await viewMonth(main);
    else if (view === "dispatch") await viewDispatch(main);
    else if (view === "parts") await viewParts(main);
    else if (view === "jobs") await viewJobs(main);
    else await viewBoard(main);
  } catch (e) { main.innerHTML = `<p class="error">${esc(e.message)}</p>`; }
}

window.addEventListener("hashchange", render);
render();
