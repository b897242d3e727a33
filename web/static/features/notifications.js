// The bell: notices for the signed-in role (overdue clocks, urgent calls, disk space, ...), live
// over the websocket, each acknowledged with 知悉. Its 503 tells that this process runs no workflow.
import { api, post } from "../core/api.js";
import { $, html, render } from "../core/dom.js";
import * as events from "../core/events.js";
import { time } from "../core/format.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";
import { isOff, setEnabled } from "./workflow.js";

let notes = [];

async function loadNotifications() {
  try {
    notes = await api("/api/notifications");
    $("#bell").hidden = false;
  } catch (err) {
    $("#bell").hidden = true;
    if (isOff(err)) setEnabled(false);
    return;
  }
  renderNotifications();
}

function renderNotifications() {
  const n = notes.length, critical = notes.some((x) => x.severity === "critical");
  $("#bell-count").textContent = n;
  $("#bell-count").hidden = n === 0;
  $("#bell-button").classList.toggle("flash", critical);
  $("#bell-button").title = n ? `${n} 条未知悉通知` : "没有未知悉的通知";
  render($("#bell-list"), n ? html`${notes.map((x) => html`<li class="note ${x.severity}" data-note="${x.id}">
      <div class="note-head"><span class="badge sev">${vocab.label("severities", x.severity)}</span> <strong>${x.title}</strong></div>
      ${x.body ? html`<div class="note-body">${x.body}</div>` : ""}
      <div class="note-foot"><time class="muted">${time(x.at)}</time>
        ${x.entry_id ? html`<a href="#entry/${x.entry_id}">查看台账 #${x.entry_id}</a>` : ""}
        <button type="button" class="ack-note" data-ack="${x.id}">知悉</button></div></li>`)}`
    : html`<li class="muted empty">没有未知悉的通知</li>`);
}

$("#bell-button").addEventListener("click", (ev) => { ev.stopPropagation(); $("#bell-list").hidden = !$("#bell-list").hidden; });
document.addEventListener("click", (ev) => { if (!ev.target.closest("#bell")) $("#bell-list").hidden = true; });
$("#bell-list").addEventListener("click", async (ev) => {
  if (ev.target.closest("a")) { $("#bell-list").hidden = true; return; }
  const b = ev.target.closest("button[data-ack]");
  if (!b) return;
  b.disabled = true;
  try {
    await post(`/api/notifications/${b.dataset.ack}/acknowledge`);
    notes = notes.filter((x) => x.id !== Number(b.dataset.ack));
    renderNotifications();
  } catch (err) { b.disabled = false; b.title = err.message; }
});

events.on("notification", () => { loadNotifications(); });
session.onStart(() => { notes = []; loadNotifications(); });
