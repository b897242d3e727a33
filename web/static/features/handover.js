// Shift handover: a banner until the incoming shift acknowledges the latest handover record; the
// dialog lists the open items it took over.
import { api, post } from "../core/api.js";
import { $, html, render } from "../core/dom.js";
import * as events from "../core/events.js";
import { time, zh } from "../core/format.js";
import * as session from "../core/session.js";

let handover = null;

async function loadHandover() {
  if (!session.canEdit()) return;
  let h;
  try { h = await api("/api/handovers/latest"); } catch { return; }
  handover = h;
  const pending = !!h && !h.acknowledged_at, banner = $("#handover-banner");
  banner.hidden = !pending;
  if (pending) render(banner, html`交接班：<strong>${h.open_count}</strong> 项未完结 <span class="muted">（${h.shift_name}，点击查看并确认接班）</span>`);
}

function openDialog() {
  const h = handover;
  if (!h) return;
  const dlg = $("#handover-dialog");
  render(dlg, html`<form method="dialog" id="handover-form">
    <h2>交接班 · ${h.shift_name} <span class="muted">未完结 ${h.open_count} 项，生成于 ${time(h.created_at)}</span></h2>
    <div class="handover-items"><table class="list"><thead><tr><th>台账</th><th>状态</th><th>房号</th><th>类别</th><th>摘要</th><th>首接人</th><th>待办任务</th></tr></thead>
      <tbody>${h.items.length ? h.items.map((i) => html`<tr class="${i.urgent ? "urgent" : ""}"><td><a href="#entry/${i.entry_id}" data-close>#${i.entry_id}</a></td>
        <td>${i.status_label}</td><td>${i.unit}</td><td>${i.category}</td><td>${i.summary}</td><td>${i.owner}</td>
        <td>${(i.tasks || []).join("；")}</td></tr>`) : html`<tr><td colspan="7" class="muted">没有未完结事项</td></tr>`}</tbody></table></div>
    <label>接班备注（可选） <input name="note" size="40" maxlength="500"></label>
    <div class="actions"><button type="submit" class="primary" value="ack">确认接班</button> <button type="button" data-close>稍后</button>
      <span class="ho-msg error" role="alert"></span></div></form>`);
  dlg.showModal();
}

$("#handover-banner").addEventListener("click", openDialog);
$("#handover-banner").addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); openDialog(); } });
$("#handover-dialog").addEventListener("click", (ev) => { if (ev.target.closest("[data-close]")) $("#handover-dialog").close(); });
$("#handover-dialog").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, h = handover;
  try {
    await post(`/api/handovers/${h.id}/acknowledge`, { note: f.note.value.trim() });
    $("#handover-dialog").close();
    $("#handover-banner").hidden = true;
    loadHandover();
  } catch (err) { $(".ho-msg", f).textContent = zh(err.message); loadHandover(); }
});

events.on("handover.created", () => { loadHandover(); });
session.onStart(() => { handover = null; $("#handover-banner").hidden = true; loadHandover(); });
