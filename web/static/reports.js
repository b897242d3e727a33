// 统计报表 (supervisors): pick a report and a period, read its tables and the server-rendered
// SVG charts, download XLSX / CSV / printable HTML. Uses panel.js's $, esc, api and state.
"use strict";
(() => {
  const reports = { kinds: [], current: null, ticket: 0 };
  const canReport = () => !!state.meta?.permissions.includes("reports");
  const kindOf = (k) => reports.kinds.find((x) => x.kind === k);
  const HINT = { month: "2026-11", week: "2026-W45", half_month: "2026-11-H2", complaint_month: "2026-11（上月27日至本月26日）" };

  // panel.js's router knows only its own views; wrap it so #reports shows this one.
  const baseRoute = window.route;
  window.route = function () { baseRoute(); showReports(); };
  window.addEventListener("hashchange", showReports);

  function showReports() {
    $("#nav-reports").hidden = !canReport();
    if (location.hash.slice(1).split("/")[0] !== "reports") return;
    if (!canReport()) { location.hash = "#board"; return; }
    for (const v of $$(".view")) v.hidden = v.id !== "view-reports";
    for (const a of $$("nav a")) a.classList.toggle("active", a.dataset.view === "reports");
    openReports().catch((e) => { $("#r-msg").textContent = e.message; });
  }

  async function openReports() {
    if (!reports.kinds.length) {
      reports.kinds = await api("/api/reports");
      $("#r-kind").innerHTML = reports.kinds.map((k) => `<option value="${esc(k.kind)}">${esc(k.title)}</option>`).join("");
      $("#r-kind").addEventListener("change", () => { $("#r-period").value = kindOf($("#r-kind").value).default; load(); });
    }
    const [, kind, period] = location.hash.slice(1).split("/");
    if (kind && kindOf(kind)) $("#r-kind").value = kind;
    $("#r-period").value = period || $("#r-period").value || kindOf($("#r-kind").value).default;
    await load();
  }

  async function load() {
    const kind = $("#r-kind").value, period = $("#r-period").value.trim();
    $("#r-period").placeholder = HINT[kindOf(kind)?.period_kind] || "";
    $("#r-msg").textContent = "";
    const q = `period=${encodeURIComponent(period)}`;
    const ticket = ++reports.ticket;  // only the latest request may paint: answers can overtake
    let doc;
    try { doc = await api(`/api/reports/${kind}?${q}`); } catch (e) { if (ticket === reports.ticket) $("#r-msg").textContent = e.message; return; }
    if (ticket !== reports.ticket) return;
    reports.current = doc;
    if ($("#r-period").value.trim() === period) $("#r-period").value = doc.period.key;  // unless retyped meanwhile
    $("#r-label").textContent = `${doc.heading}（${doc.period.first} 至 ${doc.period.last}）`;
    for (const fmt of ["xlsx", "csv", "html"]) $(`#r-${fmt}`).href = `/api/reports/${kind}.${fmt}?period=${encodeURIComponent(doc.period.key)}`;
    $("#r-sections").innerHTML = doc.sections.map(section).join("") || '<p class="muted">本期无数据</p>';
  }

  function section(s) {
    const head = s.columns.map((c) => `<th>${esc(c)}</th>`).join("");
    const body = s.rows.map((r) => `<tr>${r.map((v) => `<td class="${typeof v === "number" ? "num" : ""}">${esc(v ?? "")}</td>`).join("")}</tr>`).join("");
    // The chart is SVG made by our server (pygal, text escaped, scripts stripped): safe to inline.
    const chart = s.chart ? `<div class="r-chart">${s.chart}</div>` : "";
    const table = s.rows.length ? `<table class="list r-table"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>` : '<p class="muted">本期无数据</p>';
    return `<section class="r-section"><h3>${esc(s.title)}</h3>${chart}${table}${s.note ? `<p class="muted">${esc(s.note)}</p>` : ""}</section>`;
  }

  function step(direction) {
    const doc = reports.current;
    if (!doc) return;
    $("#r-period").value = direction < 0 ? doc.period.previous : doc.period.next;
    load();
  }

  $("#r-form").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("#r-prev").addEventListener("click", () => step(-1));
  $("#r-next").addEventListener("click", () => step(1));
})();
