// The live view: polls /_local/stats every second and renders it (local_gateway/live_view.py).
"use strict";

const POLL_MS = 1000;
const COLORS = { eu: "#1565c0", us: "#c62828" };
const cards = new Map();
const charts = {};
let polls = 0;

const total = (counts) => Object.values(counts || {}).reduce((sum, n) => sum + n, 0);
const byKey = (counts) =>
  Object.entries(counts || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `${key}: ${n}`)
    .join(" · ") || "none";
const ms = (value) => (value == null ? "–" : value < 10 ? value.toFixed(1) : String(Math.round(value)));
const latency = (entry) => (entry && entry.count ? `p50 ${ms(entry.p50)} ms · p99 ${ms(entry.p99)} ms (n=${entry.count})` : "no requests");

function card(region) {
  let element = cards.get(region.key);
  if (element) return element;
  element = document.getElementById("region-card").content.firstElementChild.cloneNode(true);
  element.dataset.region = region.key;
  element.querySelector("[data-action=down]").textContent = `Take ${region.key} down`;
  element.querySelector("[data-action=up]").textContent = `Bring ${region.key} back`;
  element.querySelector("[data-action=down]").addEventListener("click", () => outage(region.key, "POST"));
  element.querySelector("[data-action=up]").addEventListener("click", () => outage(region.key, "DELETE"));
  document.getElementById("regions").append(element);
  cards.set(region.key, element);
  return element;
}

function pending(gauges) {
  const count = gauges && gauges.PaymentsPending;
  if (!count) return "not reported yet";
  const oldest = gauges.OldestPendingAge;
  const age = oldest && oldest.value ? `, oldest ${oldest.value.toFixed(1)} s` : "";
  return `${count.value}${age} (resolver, ${count.age_seconds} s ago)`;
}

// Amounts in minor units by currency, e.g. "GBP 1,050".
const money = (counts) =>
  Object.entries(counts || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, amount]) => `${currency} ${amount.toLocaleString("en")}`)
    .join(" · ") || "none";

function operations(counts) {
  const parts = ["Captures", "Voids", "Refunds", "Expiries"]
    .filter((name) => counts[name])
    .map((name) => `${name.toLowerCase()} (${byKey(counts[name])})`);
  return parts.join(" · ") || "none";
}

// The region's sender: attempts by outcome (delivered, retrying, exhausted, gone, skipped) and the oldest waiting.
function webhooks(counts, gauges) {
  const attempts = counts.WebhookDeliveries ? byKey(counts.WebhookDeliveries) : "none yet";
  const oldest = gauges && gauges.OldestUndeliveredAge;
  return oldest ? `${attempts}; oldest waiting ${oldest.value.toFixed(1)} s` : attempts;
}

function pendingOperations(gauges) {
  const count = gauges && gauges.OperationsPending;
  return count ? `${count.value} (resolver, ${count.age_seconds} s ago)` : "not reported yet";
}

function renderRecent(body, payments) {
  const rows = (payments || []).map((payment) => {
    const row = document.createElement("tr");
    row.dataset.payment = payment.id;
    for (const value of [payment.id, payment.status, `${payment.currency} ${payment.amount}`, payment.amount_captured, payment.amount_refunded]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    return row;
  });
  body.replaceChildren(...rows);
}

function renderRegion(region) {
  const element = card(region);
  const field = (name) => element.querySelector(`[data-field="${name}"]`);
  const own = region.own;
  field("name").textContent = region.region;
  field("health").textContent = region.healthy ? "healthy" : "unhealthy";
  field("health").className = `badge ${region.healthy ? "healthy" : "unhealthy"}`;
  field("serving").hidden = !region.serving;
  field("outage").hidden = !region.outage;
  element.querySelector("[data-action=down]").disabled = region.outage === true;
  element.querySelector("[data-action=up]").disabled = region.outage === false;
  const routed = region.routed.counts.requests;
  field("routed-total").textContent = total(routed);
  field("routed-by-status").textContent = `(${byKey(routed)})`;
  field("routed-latency").textContent = latency(region.routed.latency_ms.request);
  if (!own) {
    const fields = ["own-latency", "payments", "bank-latency", "captured", "refunded", "operations", "pending", "pending-operations", "webhooks", "resolved"];
    field("own-total").textContent = "–";
    for (const name of ["own-by-status", ...fields]) field(name).textContent = "the region does not answer";
    return;
  }
  field("own-total").textContent = total(own.counts.requests);
  field("own-by-status").textContent = `(${byKey(own.counts.requests)})`;
  field("own-latency").textContent = latency(own.latency_ms.request);
  field("payments").textContent = byKey(own.counts.Payments);
  field("bank-latency").textContent = latency(own.latency_ms.BankLatency);
  field("captured").textContent = money(own.counts.AmountCaptured);
  field("refunded").textContent = money(own.counts.AmountRefunded);
  field("operations").textContent = operations(own.counts);
  field("pending").textContent = pending(own.gauges);
  field("pending-operations").textContent = pendingOperations(own.gauges);
  field("webhooks").textContent = webhooks(own.counts, own.gauges);
  field("resolved").textContent = byKey(own.counts.PaymentsResolved);
  renderRecent(field("recent"), own.payments);
}

// One value per second of the window, aligned on the x axis's seconds (null: no sample).
function aligned(seconds, perSecond, values) {
  if (!perSecond || !values) return seconds.map(() => null);
  return seconds.map((second) => {
    const value = values[second - perSecond.start];
    return value === undefined ? null : value;
  });
}

function chart(id, series, data) {
  if (!charts[id]) {
    const element = document.getElementById(id);
    const width = Math.max(300, element.clientWidth || 480);
    const options = { width, height: 220, series: [{}, ...series], scales: { x: { time: true } }, legend: { live: false } };
    charts[id] = new uPlot(options, data, element);
  } else {
    charts[id].setData(data);
  }
}

function renderCharts(regions) {
  const first = regions[0].routed.per_second;
  const seconds = Array.from({ length: regions[0].routed.window_seconds }, (_, i) => first.start + i);
  const requests = regions.map((r) => aligned(seconds, r.routed.per_second, r.routed.per_second.counts.requests));
  chart(
    "chart-requests",
    regions.map((r) => ({ label: r.region, stroke: COLORS[r.key], width: 2 })),
    [seconds, ...requests],
  );
  const latencySeries = [];
  const latencyData = [];
  for (const r of regions) {
    const perSecond = r.own && r.own.per_second;
    for (const quantile of ["p50", "p99"]) {
      latencySeries.push({
        label: `${r.region} ${quantile}`,
        stroke: COLORS[r.key],
        dash: quantile === "p50" ? [4, 4] : undefined,
        width: 2,
        points: { show: true, size: 4 }, // a second with samples between two without would draw no line
      });
      latencyData.push(aligned(seconds, perSecond, perSecond && perSecond[quantile].request));
    }
  }
  chart("chart-latency", latencySeries, [seconds, ...latencyData]);
}

function render(stats) {
  document.getElementById("serving").textContent = stats.serving;
  stats.regions.forEach(renderRegion);
  renderCharts(stats.regions);
  polls += 1;
  document.body.dataset.polls = String(polls);
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  try {
    const response = await fetch("/_local/stats", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    document.getElementById("updated").textContent = `the global endpoint does not answer (${error.message})`;
  }
}

async function outage(key, method) {
  await fetch(`/_local/regions/${key}/outage`, { method });
  await refresh();
}

async function loop() {
  await refresh();
  setTimeout(loop, POLL_MS);
}

loop();
