// 统计报表 (#reports, #reports/kind/period): pick a report and a period, read its tables and the
// server-rendered SVG charts, download XLSX / CSV / printable HTML. Supervisors only.
import { api } from "../core/api.js";
import { $, html, options, render, trusted } from "../core/dom.js";
import * as estates from "../core/estates.js";
import * as router from "../core/router.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";

const reports = { kinds: [], current: null, ticket: 0 };
const kindOf = (k) => reports.kinds.find((x) => x.kind === k);

async function openReports(arg) {
  if (!reports.kinds.length) {
    reports.kinds = await api("/api/reports");
    render($("#r-kind"), options(reports.kinds.map((k) => [k.kind, k.title])));
  }
  const [kind, period] = arg ? [arg, location.hash.slice(1).split("/")[2]] : [];
  if (kind && kindOf(kind)) $("#r-kind").value = kind;
  $("#r-period").value = period || $("#r-period").value || kindOf($("#r-kind").value).default;
  await load();
}

async function load() {
  const kind = $("#r-kind").value, period = $("#r-period").value.trim();
  $("#r-period").placeholder = vocab.label("period_hints", kindOf(kind)?.period_kind, "");
  $("#r-msg").textContent = "";
  const ticket = ++reports.ticket;  // only the latest request may paint: answers can overtake
  let doc;
  const only = estates.query(new URLSearchParams()).toString();  // the header's estate, if one is chosen
  try { doc = await api(`/api/reports/${kind}?period=${encodeURIComponent(period)}${only ? `&${only}` : ""}`); } catch (e) { if (ticket === reports.ticket) $("#r-msg").textContent = e.message; return; }
  if (ticket !== reports.ticket) return;
  reports.current = doc;
  if ($("#r-period").value.trim() === period) $("#r-period").value = doc.period.key;  // unless retyped meanwhile
  $("#r-label").textContent = `${doc.heading}（${doc.period.first} 至 ${doc.period.last}）`;
  for (const fmt of ["xlsx", "csv", "html"]) $(`#r-${fmt}`).href = `/api/reports/${kind}.${fmt}?period=${encodeURIComponent(doc.period.key)}${only ? `&${only}` : ""}`;
  // A period without data says so, plainly, instead of tables of zeros; ‹ › lead to the others.
  render($("#r-sections"), doc.empty || !doc.sections.length
    ? html`<p class="r-empty">该时段无数据<span class="muted">（${doc.period.first} 至 ${doc.period.last} 没有登记台账、来电或回访，可用 ‹ › 查看其他期间）</span></p>`
    : html`${doc.sections.map(section)}`);
}

function section(s) {
  // The chart is SVG made by our server (pygal, text escaped, scripts stripped): trusted markup.
  const chart = s.chart ? html`<div class="r-chart">${trusted(s.chart)}</div>` : "";
  const table = s.rows.length ? html`<table class="list r-table"><thead><tr>${s.columns.map((c) => html`<th>${c}</th>`)}</tr></thead>
    <tbody>${s.rows.map((r) => html`<tr>${r.map((v) => html`<td class="${typeof v === "number" ? "num" : ""}">${v ?? ""}</td>`)}</tr>`)}</tbody></table>`
    : html`<p class="muted">该时段无数据</p>`;
  return html`<section class="r-section"><h3>${s.title}</h3>${chart}${table}${s.note ? html`<p class="muted">${s.note}</p>` : ""}</section>`;
}

function step(direction) {
  const doc = reports.current;
  if (!doc) return;
  $("#r-period").value = direction < 0 ? doc.period.previous : doc.period.next;
  load();
}

$("#r-kind").addEventListener("change", () => { $("#r-period").value = kindOf($("#r-kind").value).default; load(); });
$("#r-form").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
$("#r-prev").addEventListener("click", () => step(-1));
estates.onChange(() => { if (router.isShown("reports")) load(); });
$("#r-next").addEventListener("click", () => step(1));

router.register("reports", {
  nav: "#nav-reports", allowed: () => session.can("reports"),
  enter: (arg) => { openReports(arg).catch((e) => { $("#r-msg").textContent = e.message; }); },
});
