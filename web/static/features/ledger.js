// 台账: the ledger list with its filters, full-text search, keyset paging and CSV/XLSX export.
import { api } from "../core/api.js";
import { $, html, options, render } from "../core/dom.js";
import * as events from "../core/events.js";
import { rangeQuery, time } from "../core/format.js";
import * as estates from "../core/estates.js";
import * as router from "../core/router.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";

const PAGE = 50;
// pages: the cursor each visited page starts at (null: the first); the last one is shown.
const state = { pages: [null], next: null };

async function loadLedger() {
  const q = estates.query(rangeQuery($("#filters")));
  $("#export-csv").href = `/api/entries/export.csv?${q}`;
  $("#export-xlsx").href = `/api/entries/export.xlsx?${q}`;
  // Keyset paging: the server hands out next_cursor; going back pops the cursors visited.
  const at = state.pages.length - 1, cursor = state.pages[at];
  q.set("limit", PAGE);
  if (cursor) q.set("cursor", cursor);
  const page = await api(`/api/entries?${q}`);
  state.next = page.next_cursor;
  render($("#ledger tbody"), page.items.length ? html`${page.items.map((e) => html`<tr data-id="${e.id}" class="${e.urgent ? "urgent" : ""}">
    <td><a href="#entry/${e.id}">#${e.id}</a>${estates.badge(e.estate_id)}</td><td>${time(e.created_at)}</td><td>${vocab.label("sources", e.source)}</td>
    <td>${e.caller_number}</td><td>${e.caller_name}</td><td>${e.unit}</td><td>${e.category}</td><td>${e.department}</td>
    <td>${e.urgent ? "是" : ""}</td><td>${e.summary}</td><td>${vocab.label("entry_statuses", e.status)}</td><td>${session.userName(e.owner_id)}</td></tr>`)}`
    : html`<tr><td colspan="12" class="muted">没有符合条件的台账</td></tr>`);
  const from = page.items.length ? at * PAGE + 1 : 0;
  $("#pg-info").textContent = `第 ${at + 1} 页 · 第 ${from}–${at * PAGE + page.items.length} 条，共 ${page.total}${page.total_exact ? "" : "+"} 条`;
  $("#pg-prev").disabled = at === 0;
  $("#pg-next").disabled = !page.next_cursor;
}

$("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); state.pages = [null]; loadLedger(); });
$("#pg-prev").addEventListener("click", () => { if (state.pages.length > 1) state.pages.pop(); loadLedger(); });
$("#pg-next").addEventListener("click", () => { if (state.next) { state.pages.push(state.next); loadLedger(); } });
$("#ledger").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr[data-id]");
  if (tr && !ev.target.closest("a")) router.go(`#entry/${tr.dataset.id}`);
});

events.on("entry.updated", (d) => { if (d.action !== "urgent_acknowledged" && router.isShown("ledger")) loadLedger(); });

session.onStart((meta) => {
  const f = $("#filters");
  render(f.status, options(vocab.items("entry_statuses").filter((s) => meta.statuses.includes(s.code)), "全部"));
  render(f.category, options(vocab.items("categories"), "全部"));
  render(f.department, options(vocab.items("departments"), "全部"));
  render(f.owner, options(meta.users.map((u) => [u.id, u.display_name]), "全部"));
});
estates.onChange(() => { state.pages = [null]; if (router.isShown("ledger")) loadLedger(); });
router.register("ledger", { enter: () => { loadLedger(); } });
