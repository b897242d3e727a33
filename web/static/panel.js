// The clerk panel: log in, watch calls live with the caller's history (screen pop), confirm
// drafts in one screen, browse and export the ledger, register walk-ins. No framework, no CDN.
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const csrf = () => decodeURIComponent((document.cookie.match(/(?:^|; )cc_csrf=([^;]+)/) || [])[1] || "");
const STATUS = { draft: "待确认", registered: "已登记", dispatched: "已派工", in_progress: "处理中", completed: "已完成", called_back: "已回访", closed: "已结案", cancelled: "已取消", merged: "已合并" };
const REASON = { caller_hangup: "来电挂断", agent_hangup: "系统挂断", rtp_timeout: "通话中断", error: "故障", interrupted: "中断" };
const FIELD = { caller_name: "来电人", unit: "房号", category: "类别", department: "部门", urgent: "紧急", summary: "摘要", status: "状态", owner: "首接人", call: "通话", source: "来源" };
const ACTION = { urgent_ack: "知悉紧急", registered: "来电登记", missed_call: "未接来电", draft_ready: "草稿生成", merged: "合并", repeat_call: "重复来电", repeat_reason: "重复依据", interrupted: "通话中断", update: "修改", confirm: "确认登记", created: "手工登记", linked_call: "关联来电", linked_away: "并入他单" };
const LOW_CONFIDENCE = 0.6;
const PAGE = 50;

// ledgerPages: the cursor each visited ledger page starts at (null: the first); the last is shown.
const state = { meta: null, calls: new Map(), entry: null, ledgerPages: [null] };
const userName = (id) => state.meta?.users.find((u) => u.id === id)?.display_name || "";
const time = (iso) => new Date(iso).toLocaleString("zh-CN", { hour12: false });
const canEdit = () => state.meta?.permissions.includes("edit_entries");

async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf(), ...(opts.headers || {}) };
  const r = await fetch(path, { credentials: "same-origin", ...opts, headers });
  if (r.status === 401 && path !== "/api/auth/login") { showLogin(); throw new Error("请先登录"); }
  const body = r.status !== 204 && r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) {
    const d = body?.detail;
    throw new Error(typeof d === "string" ? d : Array.isArray(d) ? d.map((x) => x.msg).join("；") : r.statusText);
  }
  return body;
}

// ----- login and navigation ---------------------------------------------------------------

function showLogin() { $("#app").hidden = true; $("#login").hidden = false; $("#login-form").username.focus(); }

async function start() {
  try { state.meta = await api("/api/meta"); } catch { return; }
  $("#login").hidden = true; $("#app").hidden = false;
  $("#who").textContent = `${state.meta.username}（${{ clerk: "客服", qa: "质检", supervisor: "主管", admin: "管理员" }[state.meta.role] || state.meta.role}）`;
  document.body.classList.toggle("read-only", !canEdit());
  fillPickers();
  connect();
  loadBacklog();
  await loadLiveCalls();
  route();
}

function fillPickers() {
  const m = state.meta;
  const opts = (list, blank) => (blank ? `<option value="">${blank}</option>` : "") + list.map((v) => `<option value="${esc(v[0])}">${esc(v[1])}</option>`).join("");
  const cats = m.categories.map((c) => [c, c]), deps = m.departments.map((d) => [d, d]);
  for (const sel of $$('select[name="category"]')) sel.innerHTML = opts(cats, sel.closest("#filters") ? "全部" : "");
  for (const sel of $$('select[name="department"]')) sel.innerHTML = opts(deps, sel.closest("#filters") ? "全部" : "");
  $('#filters select[name="status"]').innerHTML = opts(m.statuses.map((s) => [s, STATUS[s] || s]), "全部");
  $('#filters select[name="owner"]').innerHTML = opts(m.users.map((u) => [u.id, u.display_name]), "全部");
  $('#n-form select[name="source"]').innerHTML = opts(Object.entries(m.sources).filter(([k]) => k !== "phone"));
}

function route() {
  const [view, arg] = (location.hash.slice(1) || "board").split("/");
  const name = ["board", "ledger", "new", "entry"].includes(view) ? view : "board";
  for (const v of $$(".view")) v.hidden = v.id !== `view-${name}`;
  for (const a of $$("nav a")) a.classList.toggle("active", a.dataset.view === name);
  if (name === "board") loadDrafts();
  if (name === "ledger") loadLedger();
  if (name === "entry") openEntry(Number(arg));
  if (name === "new") $("#n-form").source.focus();
}
window.addEventListener("hashchange", route);

// ----- live board and screen pop ------------------------------------------------------------

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/events`);
  ws.onopen = () => { $("#link-state").textContent = "实时连接正常"; $("#link-state").classList.remove("down"); };
  ws.onmessage = (m) => onEvent(JSON.parse(m.data));
  ws.onclose = () => {
    $("#link-state").textContent = "连接断开，重连中…"; $("#link-state").classList.add("down");
    setTimeout(() => { connect(); loadLiveCalls(); }, 2000);
  };
}

// ----- transcription backlog chip (GET /api/system/status) -------------------------------------
// Polled, and re-read shortly after calls end or drafts arrive: the figure is a database count.
const BACKLOG_POLL_MS = 15000;
let backlogTimer = null;
async function loadBacklog() {
  clearTimeout(backlogTimer);
  try {
    const s = await api("/api/system/status");
    const chip = $("#backlog");
    chip.hidden = false;
    chip.textContent = `转写积压 ${s.backlog}` + (s.failed ? ` · 失败 ${s.failed}` : "");
    chip.classList.toggle("warn", !!s.warn);
    const q = s.queue ? `；队列 待处理 ${s.queue.todo}，处理中 ${s.queue.doing}` : "";
    chip.title = `排队 ${s.transcripts.queued}，无模型 ${s.transcripts.unavailable}，失败 ${s.failed}；` +
      `实时识别 ${s.live_streams}/${s.live_streams_max}，录音待转写 ${s.files_pending}${q}`;
  } catch (err) { console.warn(err); }
  backlogTimer = setTimeout(loadBacklog, BACKLOG_POLL_MS);
}
let backlogSoon = null;
function backlogChanged() { clearTimeout(backlogSoon); backlogSoon = setTimeout(loadBacklog, 500); }

async function loadLiveCalls() {
  for (const status of ["ringing", "answered"]) {
    for (const c of await api(`/api/calls?status=${status}&limit=20`)) {
      const call = liveCall(c.id, { number: c.caller_number, entryId: c.entry_id, phase: status === "ringing" ? "振铃中" : "通话中" });
      if (!call.history) refreshHistory(call);
    }
  }
}

function liveCall(id, patch = {}) {
  let call = state.calls.get(id);
  if (!call) {
    call = { id, number: "", unit: "", entryId: null, phase: "", partial: "", draft: null, urgent: false, acked: false, history: null, linkedTo: null };
    state.calls.set(id, call);
    const li = document.createElement("li");
    li.id = `call-${id}`; li.className = "call";
    $("#live").prepend(li);
  }
  Object.assign(call, patch);
  renderCall(call);
  return call;
}

function entryRow(e, call) {
  const own = call && e.id === call.entryId;
  const link = call && call.entryId && !own && canEdit() && !call.linkedTo && ["draft", "registered", "dispatched", "in_progress", "completed"].includes(e.status)
    ? `<button type="button" class="link" data-link="${e.id}">关联此单</button>` : "";
  return `<li class="${e.urgent ? "urgent" : ""}"><a href="#entry/${e.id}">#${e.id}</a> ${esc(time(e.created_at))}
    <span class="badge">${STATUS[e.status] || esc(e.status)}</span> ${esc(e.unit)} ${esc(e.category)}
    ${e.repeat_count ? `<span class="badge warn">重复来电 ${e.repeat_count} 次</span>` : ""}
    ${e.owner_id ? `<span class="muted">首接人 ${esc(userName(e.owner_id))}</span>` : ""}
    <div class="sum">${esc(e.summary) || "（无摘要）"}</div>${link}</li>`;
}

function renderCall(call) {
  const li = document.getElementById(`call-${call.id}`);
  const h = call.history;
  const openOthers = h ? h.open_entries.filter((e) => e.id !== call.entryId) : [];
  const shown = new Set(openOthers.map((e) => e.id).concat([call.entryId]));
  const recent = h ? [...h.caller_recent, ...h.unit_recent].filter((e) => !shown.has(e.id) && shown.add(e.id)) : [];
  const r = h?.resident;
  li.classList.toggle("urgent", call.urgent && !call.acked);
  li.classList.toggle("repeat", openOthers.length > 0);
  // Each part is replaced only when its content changes, so a button under the clerk's
  // pointer survives the partial transcripts streaming into the same card.
  const parts = {
    head: `<strong class="num">${esc(call.number) || "未知号码"}</strong>
      ${r ? `<span>${esc(r.name)} · ${esc(r.unit)}</span>${r.key_customer ? '<span class="badge key">重要客户</span>' : ""}` : `<span class="muted">${call.unit ? esc(call.unit) : "未匹配住户"}</span>`}
      <span class="phase">${esc(call.phase)}</span>`,
    alarm: call.urgent ? `紧急情况！${call.acked ? `（${esc(call.ackedBy || "")}已知悉）` : '<button type="button" class="ack">知悉</button>'}` : "",
    linked: call.linkedTo ? `本次来电已关联到台账 <a href="#entry/${call.linkedTo}">#${call.linkedTo}</a>` : "",
    pop: openOthers.length ? `<h4>该来电人/房号有 ${openOthers.length} 条未结台账，请勿重复询问：</h4><ul>${openOthers.map((e) => entryRow(e, call)).join("")}</ul>`
      : h ? '<span class="muted">无未结台账</span>' : "",
    recent: recent.length ? `<details><summary>近期记录 ${recent.length} 条</summary><ul>${recent.map((e) => entryRow(e, null)).join("")}</ul></details>` : "",
    partial: esc(call.partial),
    draft: call.draft ? `草稿：${esc(call.draft.unit || "房号未知")} · ${esc(call.draft.category)} → ${esc(call.draft.department)}｜${esc(call.draft.summary)}` : "",
    open: call.entryId ? `<a class="open" href="#entry/${call.linkedTo || call.entryId}">打开台账 #${call.linkedTo || call.entryId}</a>` : "",
  };
  if (!li.firstChild) {
    li.innerHTML = `<div class="head"></div><div class="alarm"></div><div class="ok linked"></div><div class="pop"></div>
      <div class="recent"></div><div class="partial"></div><div class="draft"></div><div class="open-box"></div><span class="link-msg error"></span>`;
  }
  for (const [name, html] of Object.entries(parts)) {
    const el = $(name === "open" ? ".open-box" : `.${name}`, li);
    if (el.dataset.html !== html) { el.innerHTML = html; el.dataset.html = html; }
    el.hidden = !html;
  }
  $("#live-empty").hidden = state.calls.size > 0;
}

function dropCall(id) {
  state.calls.delete(id);
  document.getElementById(`call-${id}`)?.remove();
  $("#live-empty").hidden = state.calls.size > 0;
}

async function refreshHistory(call) {
  const q = new URLSearchParams({ number: call.number || "", unit: call.unit || "" });
  try { call.history = await api(`/api/callers/history?${q}`); renderCall(call); } catch (err) { console.warn(err); }
}

$("#live").addEventListener("click", async (ev) => {
  const li = ev.target.closest("li.call"); if (!li) return;
  const call = state.calls.get(Number(li.id.slice(5)));
  if (ev.target.matches("button.ack")) {
    call.acked = true; renderCall(call);
    const id = call.linkedTo || call.entryId;
    if (id && canEdit()) api(`/api/entries/${id}/acknowledge`, { method: "POST" }).catch((err) => { $(".link-msg", li).textContent = `知悉未记录：${err.message}`; });
    return;
  }
  const target = ev.target.dataset?.link;
  if (!target) return;
  try {
    await api(`/api/calls/${call.id}/link`, { method: "POST", body: JSON.stringify({ entry_id: Number(target) }) });
    call.linkedTo = Number(target); await refreshHistory(call);
  } catch (err) { $(".link-msg", li).textContent = `关联失败：${err.message}`; }
});

// ----- system alarm chip: disk space (callcenter/storage/disk_monitor.py) and the database being
// unreachable (callcenter/ledger/outbox.py). Live only; disk alarms are also notices in the bell.
const systemAlarms = new Map();
function systemAlarm(d) {
  const key = d.kind === "disk_space" ? `disk:${d.disk}` : d.kind;
  const cleared = d.kind === "disk_space" ? d.level === "ok" : d.state === "recovered";
  if (cleared) systemAlarms.delete(key);
  else systemAlarms.set(key, d.kind === "disk_space"
    ? { title: d.title, detail: `${d.path}（阈值 ${d.min_free_mb} MB）`, critical: d.level === "critical" }
    : { title: d.message, detail: `暂存 ${d.pending ?? 0} 条`, critical: true });
  const chip = $("#disk-alarm"), all = [...systemAlarms.values()];
  chip.hidden = all.length === 0;
  chip.textContent = all.map((a) => a.title).join("；");
  chip.title = all.map((a) => a.detail).join("；");
  chip.classList.toggle("critical", all.some((a) => a.critical));
}

function onEvent(ev) {
  const d = ev.data;
  if (ev.type === "system.alarm" && ["disk_space", "database"].includes(d.kind)) { systemAlarm(d); return; }
  if (["call.answered", "call.ended", "entry.draft_ready"].includes(ev.type)) backlogChanged();
  if (ev.type === "call.ringing") {
    const call = liveCall(d.call_id, { number: d.caller_number, unit: d.unit || "", phase: "振铃中" });
    refreshHistory(call);
  } else if (ev.type === "call.answered") {
    const call = liveCall(d.call_id, { entryId: d.entry_id, unit: d.unit || state.calls.get(d.call_id)?.unit || "", phase: "通话中" });
    refreshHistory(call);
  } else if (ev.type === "call.partial_transcript") {
    liveCall(d.call_id, { partial: d.text });
  } else if (ev.type === "call.ended") {
    liveCall(d.call_id, { phase: `已结束 · ${REASON[d.reason] || d.reason}`, ended: true });
    const ended = [...state.calls.values()].filter((c) => c.ended);
    for (const c of ended.slice(0, Math.max(0, ended.length - 30))) dropCall(c.id);  // keep the board short
  } else if (ev.type === "call.missed") {
    liveCall(d.call_id, { number: d.caller_number, entryId: d.entry_id, phase: "未接来电（需回拨）" });
    loadDrafts();
  } else if (ev.type === "entry.draft_ready") {
    const call = liveCall(d.call_id, { draft: d, urgent: !!d.urgent, entryId: d.entry_id, unit: d.unit || "" });
    if (d.repeat_of) call.linkedTo = d.repeat_of;
    refreshHistory(call);
    loadDrafts();
  } else if (ev.type === "entry.updated") {
    if (d.action === "urgent_acknowledged") {
      for (const call of state.calls.values()) {
        if (call.entryId === d.entry_id || call.linkedTo === d.entry_id) { call.acked = true; call.ackedBy = d.actor; renderCall(call); }
      }
      return;
    }
    if (d.action === "linked" && state.calls.has(d.call_id)) liveCall(d.call_id, { linkedTo: d.entry_id });
    if (d.action === "confirmed") {  // a finished call whose entry is confirmed leaves the board
      for (const call of [...state.calls.values()]) {
        if (call.ended && (call.entryId === d.entry_id || call.linkedTo === d.entry_id)) dropCall(call.id);
      }
    }
    if (!$("#view-board").hidden) loadDrafts();
    if (!$("#view-ledger").hidden) loadLedger();
    for (const call of state.calls.values()) if (call.history) refreshHistory(call);
  }
}

async function loadDrafts() {
  const page = await api("/api/entries?status=draft&limit=20");
  $("#drafts").innerHTML = page.items.map((e) => `<tr class="${e.urgent ? "urgent" : ""}" data-id="${e.id}">
    <td><a href="#entry/${e.id}">#${e.id}</a></td><td>${esc(time(e.created_at))}</td><td>${esc(e.unit)}</td><td>${esc(e.category)}</td><td>${esc(e.summary)}</td></tr>`).join("")
    || '<tr><td colspan="5" class="muted">没有待确认的草稿</td></tr>';
}

// ----- entry page: confirm in one screen -------------------------------------------------------

async function openEntry(id) {
  let e;
  try { e = await api(`/api/entries/${id}`); } catch (err) { $("#e-msg").textContent = err.message; return; }
  state.entry = e;
  $("#e-id").textContent = `#${e.id}`;
  $("#e-status").textContent = STATUS[e.status] || e.status;
  $("#e-urgent").hidden = !e.urgent;
  $("#e-meta").textContent = [time(e.created_at), state.meta.sources[e.source] || e.source, e.caller_number,
    e.owner_id ? `首接人 ${userName(e.owner_id)}` : "尚无首接人", e.repeat_count ? `重复来电 ${e.repeat_count} 次` : "",
    e.merged_into_id ? `已合并到 #${e.merged_into_id}` : ""].filter(Boolean).join(" · ");
  const f = $("#e-form");
  f.caller_name.value = e.caller_name; f.unit.value = e.unit; f.category.value = e.category || "其他";
  f.department.value = e.department || "客服"; f.urgent.checked = e.urgent; f.summary.value = e.summary;
  for (const div of $$(".field", f)) {
    const guess = e.draft?.[div.dataset.field];
    const conf = guess && typeof guess === "object" ? guess.confidence : null;
    div.classList.toggle("low", conf !== null && conf < LOW_CONFIDENCE);
    $(".conf", div).textContent = conf === null ? "" : `置信度 ${Math.round(conf * 100)}%`;
    $(".conf", div).title = guess && typeof guess === "object" ? `草稿值：${formatValue(guess.value)}` : "";
  }
  const confirmable = canEdit() && !["closed", "cancelled", "merged"].includes(e.status);
  for (const el of f.elements) el.disabled = !confirmable;
  $("#e-confirm").textContent = e.status === "draft" ? "确认登记" : "保存修改";
  $("#e-msg").textContent = "";
  renderFacts(e);
  renderCalls(e);
  loadAudit(e.id);
  if (confirmable) (firstLowField() || f.unit).focus();
}

const formatValue = (v) => (v === true ? "是" : v === false ? "否" : v ?? "");
const firstLowField = () => $("#e-form .field.low input, #e-form .field.low select, #e-form .field.low textarea");

const KIND = { call: "来电", missed_call: "未接来电", manual: "手工登记" };

// Every field of the entry, read-only (the form above holds the editable ones).
function renderFacts(e) {
  const at = (v) => (v ? time(v) : "");
  const facts = [["编号", `#${e.id}`], ["状态", STATUS[e.status] || e.status], ["类型", KIND[e.kind] || e.kind],
    ["来源", state.meta.sources[e.source] || e.source], ["来电号码", e.caller_number], ["来电人", e.caller_name],
    ["房号", e.unit], ["类别", e.category], ["部门", e.department], ["紧急", e.urgent ? "是" : "否"],
    ["首接人", userName(e.owner_id)], ["摘要", e.summary], ["创建时间", at(e.created_at)], ["草稿生成", at(e.draft_ready_at)],
    ["确认时间", at(e.confirmed_at)], ["派工时间", at(e.dispatched_at)], ["完成时间", at(e.completed_at)],
    ["结案时间", at(e.closed_at)], ["满意度", e.satisfaction], ["重复来电", e.repeat_count ? `${e.repeat_count} 次` : ""],
    ["合并到", e.merged_into_id ? `#${e.merged_into_id}` : ""], ["通话中断", e.interrupted ? "是" : ""],
    ["关联通话", `${e.calls.length} 通`], ["最后更新", at(e.updated_at)]];
  $("#e-fields").innerHTML = facts.filter(([, v]) => v !== "" && v != null)
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd data-fact="${esc(k)}">${esc(v)}</dd>`).join("");
}

// First call, repeat calls, the callback: each one selectable into the player.
const callLabel = (e, c, i) => (c.direction === "outbound" ? "回访电话" : i === 0 && e.kind !== "manual" ? "首次来电" : `再次来电 ${i}`);

function renderCalls(e) {
  const recorded = e.calls.filter((c) => c.recording_url);
  $("#e-calls").innerHTML = e.calls.length ? e.calls.map((c, i) => `<button type="button" data-call="${c.id}" class="${i === 0 ? "active" : ""}">
      ${callLabel(e, c, i)} ${esc(time(c.received_at))}${c.recording_duration_ms ? ` · ${Math.round(c.recording_duration_ms / 1000)} 秒` : ""}${c.recording_url ? "" : " · 无录音"}</button>`).join("") : "";
  $("#player").hidden = recorded.length === 0;
  $("#e-norec").hidden = recorded.length > 0;
  selectCall(e.calls[0]);
}

function selectCall(call) {
  for (const b of $$("#e-calls button")) b.classList.toggle("active", Number(b.dataset.call) === call?.id);
  const audio = $("#e-audio");
  if (call?.recording_url) { if (!audio.src.endsWith(call.recording_url)) { audio.src = call.recording_url; drawWave(call.recording_url); } }
  else { audio.removeAttribute("src"); }
  renderTranscript(call);
}

$("#e-calls").addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-call]");
  if (b) selectCall(state.entry.calls.find((c) => c.id === Number(b.dataset.call)));
});

// Evidence spans (character offsets into draft.transcript) marked on the transcript's words.
function renderTranscript(call) {
  const box = $("#e-transcript");
  const draft = state.entry?.draft || {};
  const text = call?.transcript || "";
  const spans = [];
  if (draft.transcript && draft.transcript === text) {
    for (const [field, guess] of Object.entries(draft)) {
      for (const ev of guess?.evidence || []) spans.push({ field, start: ev.start, end: ev.end });
    }
  }
  const fieldsAt = (s, e) => [...new Set(spans.filter((x) => x.start < e && s < x.end).map((x) => x.field))];
  const words = call?.transcript_words || [];
  if (!text) { box.innerHTML = `<span class="muted">${call ? `（转写${{ queued: "排队中", live: "进行中", pending: "待处理", failed: "失败", unavailable: "不可用" }[call.transcript_status] || "暂无"}）` : "（无通话）"}</span>`; return; }
  const parts = [];
  let cursor = 0;
  for (const w of words) {
    const at = text.indexOf(w.text, cursor);
    if (at < 0) continue;
    if (at > cursor) parts.push(piece(text.slice(cursor, at), cursor, null));
    parts.push(piece(w.text, at, w.start_s));
    cursor = at + w.text.length;
  }
  if (cursor < text.length) parts.push(piece(text.slice(cursor), cursor, null));
  box.innerHTML = parts.join("");

  function piece(s, start, seek) {
    const fields = fieldsAt(start, start + s.length);
    const cls = [seek !== null ? "w" : "", fields.length ? "ev" : ""].filter(Boolean).join(" ");
    const title = fields.length ? `草稿依据：${fields.map((f) => FIELD[f] || f).join("、")}` : "";
    return `<span class="${cls}"${seek !== null ? ` data-start="${seek}"` : ""}${fields.length ? ` data-fields="${fields.join(" ")}" title="${esc(title)}"` : ""}>${esc(s)}</span>`;
  }
}

$("#e-transcript").addEventListener("click", (ev) => {
  const w = ev.target.closest("[data-start]");
  if (!w) return;
  const audio = $("#e-audio");
  audio.currentTime = Number(w.dataset.start);
  audio.play().catch(() => {});
});

// Enter moves to the next field (a stray Enter must not confirm); Ctrl+Enter confirms.
$("#e-form").addEventListener("keydown", (ev) => {
  if (ev.key !== "Enter" || ev.ctrlKey || ev.target.tagName !== "INPUT") return;
  ev.preventDefault();
  const fields = $$("#e-form input, #e-form select, #e-form textarea").filter((el) => !el.disabled);
  fields[fields.indexOf(ev.target) + 1]?.focus();
});

// Focusing a field lights up the words behind it.
$("#e-form").addEventListener("focusin", (ev) => {
  const field = ev.target.closest(".field")?.dataset.field;
  for (const s of $$("#e-transcript [data-fields]")) s.classList.toggle("focus", !!field && s.dataset.fields.split(" ").includes(field));
});

$("#e-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, e = state.entry;
  const body = { caller_name: f.caller_name.value.trim(), unit: f.unit.value.trim(), category: f.category.value,
                 department: f.department.value, urgent: f.urgent.checked, summary: f.summary.value.trim() };
  if (!body.unit) delete body.unit;
  try {
    const saved = e.status === "draft"
      ? await api(`/api/entries/${e.id}/confirm`, { method: "POST", body: JSON.stringify(body) })
      : await api(`/api/entries/${e.id}`, { method: "PATCH", body: JSON.stringify(body) });
    await openEntry(saved.id);
    $("#e-msg").textContent = e.status === "draft" ? `已确认登记，首接人：${userName(saved.owner_id)}` : "已保存";
    $("#e-msg").className = "ok";
  } catch (err) { $("#e-msg").textContent = `保存失败：${err.message}`; $("#e-msg").className = "error"; }
});

const auditValue = (a, v) => (a.field === "status" ? STATUS[v] || v : a.field === "source" ? state.meta.sources[v] || v : a.field === "urgent" ? { True: "是", False: "否" }[v] || v : v);

const CREATED = { registered: "来电生成草稿", created: "手工登记", missed_call: "未接来电" };

// The status timeline: who changed the status, when, old → new (labels as in lifecycle.LABELS).
function renderStatusHistory(rows) {
  const items = rows.filter((a) => CREATED[a.action] || (a.field === "status" && a.action !== "note" && a.old !== a.new));
  $("#e-status-history").innerHTML = items.map((a) => {
    const who = a.actor === "system" ? "系统" : userNameOf(a.actor);
    const what = CREATED[a.action] ? CREATED[a.action]
      : `<span class="badge">${esc(STATUS[a.old] || a.old || "—")}</span> → <span class="badge">${esc(STATUS[a.new] || a.new)}</span>`;
    return `<li><time>${esc(time(a.at))}</time> <strong>${esc(who)}</strong> ${what}</li>`;
  }).join("") || '<li class="muted">暂无状态变化</li>';
}
const userNameOf = (username) => state.meta?.users.find((u) => u.username === username)?.display_name || username;

async function loadAudit(id) {
  const rows = await api(`/api/entries/${id}/audit`);
  renderStatusHistory(rows);
  $("#e-audit").innerHTML = rows.map((a) => `<tr><td>${esc(time(a.at))}</td><td>${esc(a.actor === "system" ? "系统" : a.actor)}</td>
    <td>${esc(ACTION[a.action] || a.action)}</td><td>${esc(FIELD[a.field] || a.field)}</td><td>${esc(auditValue(a, a.old))}${a.old || a.new ? " → " : ""}${esc(auditValue(a, a.new))}</td></tr>`).join("");
}

// Unit completion from the resident directory.
let unitTimer = 0;
document.addEventListener("input", (ev) => {
  if (ev.target.name !== "unit") return;
  clearTimeout(unitTimer);
  unitTimer = setTimeout(async () => {
    const rows = await api(`/api/residents/units?prefix=${encodeURIComponent(ev.target.value)}`).catch(() => []);
    $("#unit-options").innerHTML = rows.map((r) => `<option value="${esc(r.unit)}">${esc(r.name)}</option>`).join("");
  }, 150);
});

// ----- audio player --------------------------------------------------------------------------

const audio = $("#e-audio");
const fmt = (s) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}` : "0:00");
const skip = (ds) => { audio.currentTime = Math.max(0, Math.min((audio.duration || 0), audio.currentTime + ds)); };
const toggle = () => (audio.paused ? audio.play().catch(() => {}) : audio.pause());
$("#p-back").onclick = () => skip(-10);
$("#p-fwd").onclick = () => skip(10);
$("#p-play").onclick = toggle;
$("#p-rate").onchange = (ev) => { audio.playbackRate = Number(ev.target.value); };
audio.addEventListener("play", () => { $("#p-play").textContent = "暂停"; });
audio.addEventListener("pause", () => { $("#p-play").textContent = "播放"; });
audio.addEventListener("loadedmetadata", () => {
  audio.playbackRate = Number($("#p-rate").value);
  $("#p-time").textContent = `${fmt(audio.currentTime)} / ${fmt(audio.duration)}`;
});
audio.addEventListener("timeupdate", () => {
  $("#p-time").textContent = `${fmt(audio.currentTime)} / ${fmt(audio.duration)}`;
  for (const w of $$("#e-transcript .w.now")) w.classList.remove("now");
  const now = $$("#e-transcript [data-start]").filter((w) => Number(w.dataset.start) <= audio.currentTime).pop();
  if (now && !audio.paused) now.classList.add("now");
  drawCursor();
});

let peaks = null;
async function drawWave(url) {
  peaks = null;
  try {
    const buf = await (await fetch(url, { credentials: "same-origin" })).arrayBuffer();
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const data = await ctx.decodeAudioData(buf);
    ctx.close();
    const cv = $("#e-wave"), n = cv.width, chans = [...Array(data.numberOfChannels).keys()].map((i) => data.getChannelData(i));
    const step = Math.max(1, Math.floor(data.length / n));
    peaks = Array.from({ length: n }, (_, x) => chans.map((ch) => { let m = 0; for (let i = x * step; i < Math.min(ch.length, (x + 1) * step); i++) m = Math.max(m, Math.abs(ch[i])); return m; }));
    drawCursor();
  } catch (err) { console.warn("waveform", err); }
}
function drawCursor() {
  const cv = $("#e-wave"), g = cv.getContext("2d"), h = cv.height;
  g.clearRect(0, 0, cv.width, h);
  if (!peaks) return;
  const colors = ["#1f4e79", "#9bb7d4"]; // caller (left channel), agent (right)
  peaks.forEach((p, x) => p.forEach((m, c) => { g.fillStyle = colors[c] || "#888"; const y = m * (h / 2 - 2); g.fillRect(x, c ? h / 2 : h / 2 - y, 1, y); }));
  if (audio.duration) { g.fillStyle = "#c0392b"; g.fillRect(Math.round(audio.currentTime / audio.duration * cv.width), 0, 2, h); }
}
$("#e-wave").addEventListener("click", (ev) => {
  const cv = ev.currentTarget, r = cv.getBoundingClientRect();
  if (audio.duration) audio.currentTime = (ev.clientX - r.left) / r.width * audio.duration;
});

document.addEventListener("keydown", (ev) => {
  if ($("#view-entry").hidden) return;
  if (ev.ctrlKey && ev.key === "Enter") { ev.preventDefault(); $("#e-form").requestSubmit(); }
  else if (ev.altKey && ev.key.toLowerCase() === "p") { ev.preventDefault(); toggle(); }
  else if (ev.altKey && ev.key === "ArrowLeft") { ev.preventDefault(); skip(-10); }
  else if (ev.altKey && ev.key === "ArrowRight") { ev.preventDefault(); skip(10); }
});

// ----- ledger list ---------------------------------------------------------------------------

function filterQuery() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) {
    if (!v) continue;
    if (k === "since") q.set(k, new Date(`${v}T00:00:00`).toISOString());
    else if (k === "until") q.set(k, new Date(new Date(`${v}T00:00:00`).getTime() + 86400000).toISOString());
    else q.set(k, v);
  }
  return q;
}

async function loadLedger() {
  const q = filterQuery();
  $("#export-csv").href = `/api/entries/export.csv?${q}`;
  $("#export-xlsx").href = `/api/entries/export.xlsx?${q}`;
  // Keyset paging: the server hands out next_cursor; going back pops the cursors visited.
  const at = state.ledgerPages.length - 1, cursor = state.ledgerPages[at];
  q.set("limit", PAGE);
  if (cursor) q.set("cursor", cursor);
  const page = await api(`/api/entries?${q}`);
  state.ledgerNext = page.next_cursor;
  $("#ledger tbody").innerHTML = page.items.map((e) => `<tr data-id="${e.id}" class="${e.urgent ? "urgent" : ""}">
    <td><a href="#entry/${e.id}">#${e.id}</a></td><td>${esc(time(e.created_at))}</td><td>${esc(state.meta.sources[e.source] || e.source)}</td>
    <td>${esc(e.caller_number)}</td><td>${esc(e.caller_name)}</td><td>${esc(e.unit)}</td><td>${esc(e.category)}</td><td>${esc(e.department)}</td>
    <td>${e.urgent ? "是" : ""}</td><td>${esc(e.summary)}</td><td>${STATUS[e.status] || esc(e.status)}</td><td>${esc(userName(e.owner_id))}</td></tr>`).join("")
    || '<tr><td colspan="12" class="muted">没有符合条件的台账</td></tr>';
  const from = page.items.length ? at * PAGE + 1 : 0;
  $("#pg-info").textContent = `第 ${at + 1} 页 · 第 ${from}–${at * PAGE + page.items.length} 条，共 ${page.total}${page.total_exact ? "" : "+"} 条`;
  $("#pg-prev").disabled = at === 0;
  $("#pg-next").disabled = !page.next_cursor;
}
$("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); state.ledgerPages = [null]; loadLedger(); });
$("#pg-prev").onclick = () => { if (state.ledgerPages.length > 1) state.ledgerPages.pop(); loadLedger(); };
$("#pg-next").onclick = () => { if (state.ledgerNext) { state.ledgerPages.push(state.ledgerNext); loadLedger(); } };
$("#ledger").addEventListener("click", (ev) => { const tr = ev.target.closest("tr[data-id]"); if (tr && !ev.target.closest("a")) location.hash = `#entry/${tr.dataset.id}`; });

// ----- manual entry --------------------------------------------------------------------------

$("#n-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = { source: f.source.value, caller_number: f.caller_number.value.trim(), caller_name: f.caller_name.value.trim(),
                 unit: f.unit.value.trim(), category: f.category.value, department: f.department.value,
                 urgent: f.urgent.checked, summary: f.summary.value.trim() };
  try {
    const e = await api("/api/entries", { method: "POST", body: JSON.stringify(body) });
    f.reset(); $("#n-msg").textContent = "";
    location.hash = `#entry/${e.id}`;
  } catch (err) { $("#n-msg").textContent = `登记失败：${err.message}`; $("#n-msg").className = "error"; }
});

// ----- session -------------------------------------------------------------------------------

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    await api("/api/auth/login", { method: "POST", body: JSON.stringify({ username: f.username.value, password: f.password.value }) });
    $("#login-error").textContent = ""; f.password.value = ""; start();
  } catch (err) { $("#login-error").textContent = err.message.includes("频繁") ? err.message : "用户名或密码错误"; }
});
$("#logout").addEventListener("click", async () => { await api("/api/auth/logout", { method: "POST" }).catch(() => {}); location.hash = ""; showLogin(); });
start();
