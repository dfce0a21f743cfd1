// Fieldwatch dashboard: plain JavaScript over the JSON API, no request to any other host.
"use strict";

const state = { token: null, me: null, timers: [] };
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

/** A link may carry the token once (`#/board?token=fw_…`, as `make demo` prints it): keep it, then drop it from the address. */
function readToken() {
  const m = location.hash.match(/[?&#]token=([^&]+)/);
  if (m) {
    localStorage.setItem("fieldwatch.token", decodeURIComponent(m[1]));
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

function every(ms, fn) { fn(); state.timers.push(setInterval(fn, ms)); }
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
  try { return new Date(t).toLocaleString(undefined, zone ? { timeZone: zone, dateStyle: "medium", timeStyle: "short" } : {}) + (zone ? ` (${zone})` : ""); }
  catch (e) { return new Date(t).toLocaleString(); }
};
/** Milliseconds from an RFC 3339 string or an epoch-milliseconds number. */
const ms = (t) => (typeof t === "number" ? t : Date.parse(t));

// ---- charts

function spark(samples, warning, critical) {
  if (!samples.length) return `<svg class="spark" viewBox="0 0 90 24"></svg>`;
  const values = samples.map((s) => s.value), lo = Math.min(...values), hi = Math.max(...values), range = hi - lo || 1;
  const points = samples.map((s, i) => `${(i / Math.max(1, samples.length - 1)) * 88 + 1},${22 - ((s.value - lo) / range) * 20}`).join(" ");
  const hot = critical != null && values.some((v) => v >= critical) ? "var(--red)" : warning != null && values.some((v) => v >= warning) ? "var(--amber)" : "var(--accent)";
  return `<svg class="spark" viewBox="0 0 90 24" role="img" aria-label="sparkline"><polyline fill="none" stroke="${hot}" stroke-width="1.5" points="${points}"/></svg>`;
}

/** A line chart with limit lines and detection markers (vertical lines). */
function chart(samples, { warning, critical, markers = [], unit = "" } = {}) {
  const W = 600, H = 180, P = 30;
  if (!samples.length) return `<svg class="chart" viewBox="0 0 ${W} ${H}"><text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#66717d">no samples in this window</text></svg>`;
  const t0 = Date.parse(samples[0].ts), t1 = Date.parse(samples[samples.length - 1].ts) || t0 + 1;
  const values = samples.map((s) => s.value).concat([warning, critical].filter((v) => v != null));
  const lo = Math.min(...values), hi = Math.max(...values), range = hi - lo || 1;
  const x = (t) => P + ((t - t0) / Math.max(1, t1 - t0)) * (W - 2 * P), y = (v) => H - P - ((v - lo) / range) * (H - 2 * P);
  const line = samples.map((s) => `${x(Date.parse(s.ts)).toFixed(1)},${y(s.value).toFixed(1)}`).join(" ");
  const limit = (v, color, name) => v == null ? "" :
    `<line x1="${P}" x2="${W - P}" y1="${y(v)}" y2="${y(v)}" stroke="${color}" stroke-dasharray="4 3"/><text x="${W - P}" y="${y(v) - 3}" text-anchor="end" font-size="10" fill="${color}">${name} ${v}</text>`;
  const marks = markers.filter((m) => m >= t0 && m <= t1).map((m) =>
    `<line class="detection" x1="${x(m)}" x2="${x(m)}" y1="${P / 2}" y2="${H - P}" stroke="var(--red)" stroke-width="2"/>`).join("");
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="chart">
    <text x="${P}" y="14" font-size="11" fill="#66717d">${hi.toFixed(1)} ${esc(unit)}</text><text x="${P}" y="${H - 8}" font-size="11" fill="#66717d">${lo.toFixed(1)} ${esc(unit)}</text>
    ${limit(warning, "var(--amber)", "warning")}${limit(critical, "var(--red)", "critical")}${marks}
    <polyline fill="none" stroke="var(--accent)" stroke-width="1.6" points="${line}"/></svg>`;
}

// ---- views

async function viewBoard(main) {
  main.innerHTML = `<h1>Open tickets</h1><div class="tiles" id="tiles"></div><div class="cards" id="board"></div>
    <h2>This month against the targets</h2><div class="tiles" id="kpi-tiles"></div>`;
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
        <span class="title">#${t.id} ${esc(t.title)}${t.forecast ? ` <span class="pill forecast">limit ${esc(t.forecast.lead)}</span>` : ""}</span>
        <span>${i.next_deadline ? `${esc(i.next_clock.replace("_", " "))}: ${countdown(i.next_deadline, clock?.target)}` : `<span class="muted">${esc(t.status)}</span>`}</span>
        <span class="meta">${esc(t.fault_code)} · ${esc(t.device)} at ${esc(t.site)} · ${esc(t.status)}${t.paused ? " (paused)" : ""} · owner ${esc(t.owner || "none yet")}
          ${i.escalation ? `<span class="pill esc">escalated: ${esc(i.escalation)}</span>` : ""}</span></a>`;
    }).join("");
    tickCountdowns();
  });
  every(1000, tickCountdowns);
}

async function viewTicket(main, id) {
  const d = await api(`/api/v1/tickets/${id}`);
  const t = d.ticket;
  const markers = d.detections.map((x) => ms(x.detected_at));
  main.innerHTML = `
    <p><a href="#/board">← tickets</a></p>
    <h1><span class="pill ${t.grade}">${t.grade}</span> #${t.id} ${esc(t.title)}</h1>
    <p>${esc(t.fault_code)} on <a href="#/device/${esc(t.device)}">${esc(t.device)}</a> at ${esc(t.site)} · ${esc(t.source.replace("_", " "))}
       · status <strong id="status">${esc(t.status)}</strong>${t.paused ? " (paused)" : ""} · owner ${esc(t.owner || "none yet")} · ${t.occurrences} occurrence(s)</p>
    ${t.forecast ? `<p id="forecast" class="forecast">Predicted to reach ${t.forecast.limit} ${esc(t.unit || "")} ${esc(t.forecast.lead)}:
       ${when(t.forecast.crossing_at, t.time_zone)} (earliest ${when(t.forecast.earliest, t.time_zone)}${t.forecast.latest ? `, latest ${when(t.forecast.latest, t.time_zone)}` : ""});
       trend ${t.forecast.slope_per_hour.toPrecision(3)} ${esc(t.unit || "")}/h fitted on ${t.forecast.points} points since ${when(t.forecast.window_start, t.time_zone)}.</p>` : ""}
    <h2>SLA clocks</h2>
    <table id="clocks"><tr><th>clock</th><th>target</th><th>deadline</th><th>state</th></tr>${d.clocks.map((c) => `
      <tr><td>${esc(c.kind.replace("_", " "))}</td><td>${esc(c.target)} (${esc(c.calendar)})</td><td>${when(c.deadline, t.time_zone)}</td>
      <td>${c.state === "running" && c.deadline ? countdown(c.deadline, c.target) : esc(c.state) + (c.met_at ? ` ${when(c.met_at, t.time_zone)}${c.breached ? " — late" : ""}` : "")}</td></tr>`).join("")}</table>
    <div class="actions" id="actions">${(d.allowed_actions || []).map((a) => `<button data-action="${a}" class="${a === "cancel" ? "secondary" : ""}">${a}</button>`).join("")}</div>
    <p class="error" id="action-error"></p>
    ${(t.status === "resolved" || t.status === "closed") && state.me.role === "customer" ? `
      <form class="stack" id="rating-form"><label>How satisfied are you with the repair?
        <select name="score">${[5, 4, 3, 2, 1].map((n) => `<option value="${n}">${"★".repeat(n)} ${n}</option>`).join("")}</select></label>
        <label>Anything to add? <textarea name="comment" rows="2"></textarea></label><button>Rate</button>
        ${d.ratings.length ? `<p class="muted">You rated it ${d.ratings[d.ratings.length - 1].score}/5.</p>` : ""}</form>` : ""}
    ${d.detections.length ? `<h2>Evidence</h2>${d.detections.slice(-3).map((x) => `<p class="muted">${esc(x.summary)}</p>` +
      chart((x.evidence || []).map((s) => ({ ts: new Date(s.timestamp).toISOString(), value: s.value })), { critical: x.limit, markers, unit: x.unit })).join("")}` : ""}
    ${d.solutions.length ? `<h2>Solutions</h2><ul>${d.solutions.map((s) => `<li>${esc(s.status)}: ${esc(s.diagnosis)} → ${esc(s.planned_work)} (est. ${s.estimated_cost})</li>`).join("")}</ul>` : ""}
    ${d.escalations.length ? `<h2>Escalations</h2><ul>${d.escalations.map((e) => `<li>${when(e.fired_at)}: ${esc(e.clock)} ${esc(e.level)}</li>`).join("")}</ul>` : ""}
    <h2>Timeline</h2><ol class="timeline" id="timeline">${d.timeline.map((a) => `<li>${when(a.at)} — <strong>${esc(a.actor)}</strong> ${esc(a.action)}
      <span class="muted">${esc(Object.entries(JSON.parse(a.detail || "{}")).filter(([k]) => ["reason", "owner", "description", "evidence", "level", "summary"].includes(k)).map(([k, v]) => `${k}: ${v}`).join("; "))}</span></li>`).join("")}</ol>`;
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
    const since = new Date(Date.now() - 15 * 60000).toISOString();
    const html = await Promise.all(sites.map(async (s) => {
      const rows = await Promise.all(devices.filter((d) => d.site === s.id).map(async (d) => {
        const sensors = await Promise.all(d.sensors.map(async (x) => {
          const t = await api(`/api/v1/devices/${encodeURIComponent(d.id)}/telemetry?sensor=${encodeURIComponent(x.key)}&from=${encodeURIComponent(since)}`).catch(() => ({ samples: [] }));
          return `<span>${esc(x.key)}</span><span>${x.latest ? `${x.latest.value.toFixed(1)} ${esc(x.unit)}` : "—"}</span>${spark(t.samples, x.warning, x.critical)}`;
        }));
        return `<a class="device" href="#/device/${encodeURIComponent(d.id)}" data-device="${esc(d.id)}"><span class="dot ${d.status}"></span><strong>${esc(d.name || d.id)}</strong>
          <span class="muted">${esc(d.profile)} · ${esc(d.status)}${d.open_tickets ? ` · ${d.open_tickets} open ticket(s)` : ""}</span>
          <div class="sensors">${sensors.join("")}</div></a>`;
      }));
      return `<section class="site" data-site="${esc(s.id)}"><h2>${esc(s.name)}</h2><p class="muted">${esc(s.customer)} (${esc(s.tier)}) · ${esc(s.timezone)} · ${s.open_tickets} open ticket(s)</p>${rows.join("")}</section>`;
    }));
    $("#sites").innerHTML = html.join("");
  });
}

async function viewDevice(main, id) {
  const devices = await api("/api/v1/devices");
  const d = devices.find((x) => x.id === id);
  if (!d) { main.innerHTML = `<p class="error">No device ${esc(id)}.</p>`; return; }
  const tickets = await api(`/api/v1/tickets?device=${encodeURIComponent(id)}&status=all&limit=20`);
  const details = await Promise.all(tickets.slice(0, 5).map((t) => api(`/api/v1/tickets/${t.id}`)));
  const markers = details.flatMap((x) => x.detections.map((y) => ms(y.detected_at)));
  main.innerHTML = `<p><a href="#/sites">← sites</a></p><h1><span class="dot ${d.status}"></span>${esc(d.name || d.id)}</h1>
    <p class="muted">${esc(d.profile)} at ${esc(d.site)} · last seen ${when(d.last_seen)} · detections marked in red</p><div id="charts"></div>
    <h2>Tickets</h2><ul>${tickets.map((t) => `<li><a href="#/ticket/${t.id}">#${t.id}</a> ${esc(t.grade)} ${esc(t.status)} — ${esc(t.title)}</li>`).join("") || "<li class=muted>none</li>"}</ul>`;
  every(10000, async () => {
    const charts = await Promise.all(d.sensors.map(async (x) => {
      const t = await api(`/api/v1/devices/${encodeURIComponent(id)}/telemetry?sensor=${encodeURIComponent(x.key)}`);
      return `<h2>${esc(x.key)} <span class="muted">(${t.count} samples, last hour)</span></h2>${chart(t.samples, { warning: t.warning, critical: t.critical, markers, unit: t.unit })}`;
    }));
    $("#charts").innerHTML = charts.join("");
  });
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
      const sources = r.sources.map((s) => s.kind === "ticket" ? `<a href="#/ticket/${esc(s.id)}">ticket #${esc(s.id)}</a>` : `FAQ: ${esc(s.title)}`).join(", ");
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
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
  try {
    if (view === "ticket") await viewTicket(main, arg);
    else if (view === "sites") await viewSites(main);
    else if (view === "device") await viewDevice(main, decodeURIComponent(arg));
    else if (view === "report") await viewReport(main);
    else if (view === "ask") await viewAsk(main);
    else await viewBoard(main);
  } catch (e) { main.innerHTML = `<p class="error">${esc(e.message)}</p>`; }
}

window.addEventListener("hashchange", render);
render();
