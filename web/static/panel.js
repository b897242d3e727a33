// The clerk's board: log in, watch calls live over the websocket, open and confirm entries.
"use strict";
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const csrf = () => (document.cookie.match(/(?:^|; )cc_csrf=([^;]+)/) || [])[1] || "";
const STATUS = { draft: "待确认", registered: "已登记", dispatched: "已派单", in_progress: "处理中", completed: "已完成", called_back: "已回访", closed: "已结案", cancelled: "已取消", merged: "已合并" };
const REASON = { caller_hangup: "来电挂断", agent_hangup: "系统挂断", rtp_timeout: "通话中断", error: "故障" };

async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf(), ...(opts.headers || {}) };
  const r = await fetch(path, { credentials: "same-origin", ...opts, headers });
  if (r.status === 401) { showLogin(); throw new Error("未登录"); }
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error(body?.detail ? JSON.stringify(body.detail) : r.statusText);
  return body;
}

function showLogin() { $("#board").hidden = true; $("#login").hidden = false; }

async function start() {
  let me;
  try { me = await api("/api/auth/me"); } catch { return; }
  $("#login").hidden = true; $("#board").hidden = false;
  $("#who").textContent = `${me.username}（${me.role}）`;
  await loadEntries();
  connect();
}

async function loadEntries() {
  const page = await api("/api/entries?limit=50");
  $("#entries tbody").innerHTML = page.items.map((e) => `
    <tr data-id="${e.id}" class="${e.urgent ? "urgent" : ""}">
      <td>${e.id}</td><td>${new Date(e.created_at).toLocaleString("zh-CN")}</td><td>${esc(e.caller_number)}</td>
      <td>${esc(e.unit)}</td><td>${esc(e.category)}</td><td>${esc(e.department)}</td><td>${e.urgent ? "是" : ""}</td>
      <td>${esc(e.summary)}</td><td>${STATUS[e.status] || esc(e.status)}</td></tr>`).join("");
}

function liveItem(callId) {
  let li = document.getElementById(`call-${callId}`);
  if (!li) {
    li = document.createElement("li"); li.id = `call-${callId}`;
    li.innerHTML = `<div class="head"></div><div class="partial muted"></div>`;
    $("#live").prepend(li);
  }
  return li;
}

function onEvent(ev) {
  const d = ev.data;
  if (ev.type === "call.ringing") {
    liveItem(d.call_id).querySelector(".head").textContent =
      `来电 ${d.caller_number || "未知号码"}${d.resident ? ` · ${d.resident} ${d.unit}` : ""}${d.open_entries?.length ? ` · 未结台账 ${d.open_entries.join("、")}` : ""}`;
  } else if (ev.type === "call.answered") {
    liveItem(d.call_id).querySelector(".head").textContent += ` · 已接听（台账 ${d.entry_id}）`;
  } else if (ev.type === "call.partial_transcript") {
    liveItem(d.call_id).querySelector(".partial").textContent = d.text;
  } else if (ev.type === "call.ended") {
    liveItem(d.call_id).querySelector(".head").textContent += ` · ${REASON[d.reason] || d.reason}`;
  } else if (ev.type === "call.missed") {
    liveItem(d.call_id).querySelector(".head").textContent = `未接来电 ${d.caller_number || ""}（需回拨）`;
    loadEntries();
  } else if (ev.type === "entry.draft_ready") {
    const li = liveItem(d.call_id);
    li.classList.toggle("urgent", !!d.urgent);
    li.querySelector(".partial").textContent = `草稿：${d.unit || "房号未知"} ${d.category} → ${d.department}｜${d.summary}`;
    loadEntries();
  } else if (ev.type === "entry.updated") {
    loadEntries();
  }
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/events`);
  ws.onopen = () => { $("#link-state").textContent = "实时连接正常"; };
  ws.onmessage = (m) => onEvent(JSON.parse(m.data));
  ws.onclose = () => { $("#link-state").textContent = "连接断开，重连中…"; setTimeout(connect, 2000); };
}

async function openEntry(id) {
  const e = await api(`/api/entries/${id}`);
  $("#detail").hidden = false; $("#d-id").textContent = `#${e.id}`;
  $("#d-transcript").textContent = e.transcript || "（暂无转写）";
  const audio = $("#d-audio"); audio.hidden = !e.recording_url; if (e.recording_url) audio.src = e.recording_url;
  const f = $("#d-form");
  f.dataset.id = e.id; f.unit.value = e.unit; f.category.value = e.category || "其他";
  f.department.value = e.department || "客服"; f.urgent.checked = e.urgent; f.summary.value = e.summary;
}

$("#entries").addEventListener("click", (ev) => { const tr = ev.target.closest("tr[data-id]"); if (tr) openEntry(tr.dataset.id); });
$("#d-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = { unit: f.unit.value, category: f.category.value, department: f.department.value,
                 urgent: f.urgent.checked, summary: f.summary.value, status: "registered" };
  try { await api(`/api/entries/${f.dataset.id}`, { method: "PATCH", body: JSON.stringify(body) });
        $("#d-msg").textContent = "已确认"; loadEntries(); }
  catch (err) { $("#d-msg").textContent = `保存失败：${err.message}`; }
});
$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try { await api("/api/auth/login", { method: "POST", body: JSON.stringify({ username: f.username.value, password: f.password.value }) });
        $("#login-error").textContent = ""; start(); }
  catch { $("#login-error").textContent = "用户名或密码错误"; }
});
$("#logout").addEventListener("click", async () => { await api("/api/auth/logout", { method: "POST" }); showLogin(); });
start();
