// 办理 on the entry page: the status with its allowed moves, the running clocks counting down,
// work orders (create, move, print the slip) and the callback tasks (log a result, dial through the
// agent); and the 回访任务 view (#callbacks): open callbacks and missed calls by due time.
import { ApiError, api, post, send } from "../core/api.js";
import { $, $$, html, options, render } from "../core/dom.js";
import * as events from "../core/events.js";
import { time, zh } from "../core/format.js";
import * as router from "../core/router.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";
import { followEntry } from "./entry.js";

const EXT_KEY = "callcenter.extension";
const DIALER_ONLY = ["clerk_unreachable"];  // outcomes only the dialer reports, never logged by hand
const WORKFLOW_OFF = "工作流未启用";  // the server's 503 when this process runs no workflow

const wf = {
  entryId: null, data: null, entry: null, ticket: 0, open: new Set(), msg: null,
  tasks: [], tasksTicket: 0, tasksMsg: null, taskMsgs: new Map(), enabled: true,
};

// Where the process runs no workflow: no 回访任务 (notifications.js finds out first).
export function setEnabled(enabled) { wf.enabled = enabled; router.refreshNav(); }
export const isOff = (err) => err.message.startsWith(WORKFLOW_OFF);

const statusLabel = (s) => vocab.label("entry_statuses", s);
const reopening = (from, to) => to === "in_progress" && vocab.includes("reopened_from", from);
const satisfactionOptions = (blank) => options(vocab.items("satisfactions"), blank);
const msgHtml = (m) => (m ? html`<span class="${m.ok ? "ok" : "error"}" title="${m.text}">${m.ok ? m.text : zh(m.text)}</span>` : "");

function hms(total) {
  const s = Math.abs(total), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60, p = (n) => String(n).padStart(2, "0");
  return `${d ? `${d}天 ` : ""}${p(h)}:${p(m)}:${p(sec)}`;
}
const leftText = (left) => (left >= 0 ? `剩余 ${hms(left)}` : `已超时 ${hms(left)}`);

// A countdown: left_s as the server saw it, counted down here every second (the server's clock
// may not be the browser's); past zero it turns red. ok/amber come from the server.
function countdown(left, state, clock) {
  const cls = left < 0 ? "red" : ["ok", "amber", "red"].includes(state) ? state : "ok";
  return html`<span class="wf-clock ${cls}" data-left="${left}" data-at="${Date.now()}" ${clock ? html`data-clock="${clock}"` : ""}>${leftText(left)}</span>`;
}
setInterval(() => {
  for (const el of $$(".wf-clock[data-left]")) {
    const left = Number(el.dataset.left) - Math.floor((Date.now() - Number(el.dataset.at)) / 1000);
    el.textContent = leftText(left);
    if (left < 0 && !el.classList.contains("red")) { el.classList.remove("ok", "amber"); el.classList.add("red"); }
  }
}, 1000);

// Re-rendering keeps what the clerk is typing: values by data-k, and the focus.
function rerender(root, content) {
  const kept = new Map($$("[data-k]", root).map((el) => [el.dataset.k, el.type === "checkbox" ? el.checked : el.value]));
  const focused = root.contains(document.activeElement) ? document.activeElement.dataset?.k : null;
  render(root, content);
  for (const el of $$("[data-k]", root)) {
    if (!kept.has(el.dataset.k)) continue;
    if (el.type === "checkbox") el.checked = kept.get(el.dataset.k); else el.value = kept.get(el.dataset.k);
  }
  if (focused) $(`[data-k="${CSS.escape(focused)}"]`, root)?.focus();
}

// ----- entry page: 办理 -------------------------------------------------------------------------

async function loadWorkflow(id) {
  const box = $("#e-workflow");
  if (wf.entryId !== id) { wf.entryId = id; wf.open = new Set(); wf.msg = null; render(box, html``); }
  const ticket = ++wf.ticket;
  let data, entry;
  try {
    [data, entry] = await Promise.all([api(`/api/entries/${id}/workflow`), api(`/api/entries/${id}`)]);
  } catch (err) {
    if (ticket !== wf.ticket) return;
    box.hidden = isOff(err);  // no workflow in this process: no section
    if (!box.hidden) render(box, html`<h3>办理</h3><p class="muted">${zh(err.message)}</p>`);
    return;
  }
  if (ticket !== wf.ticket || wf.entryId !== id) return;
  wf.data = data; wf.entry = entry;
  followEntry(entry, data.status_label);  // the page above follows the case as it moves on
  renderWorkflow();
}

function renderWorkflow() {
  const d = wf.data, e = wf.entry, box = $("#e-workflow"), edit = session.canEdit();
  box.hidden = false;
  const moves = edit ? d.allowed.filter((m) => m.status !== "merged" && !(d.status === "draft" && m.status === "registered")) : [];
  const moveForm = [...wf.open].find((k) => k.startsWith("move:"));
  const target = moveForm && moveForm.slice(5);
  rerender(box, html`
    <h3>办理 <span class="badge wf-status" data-status="${d.status}">${d.status_label}</span></h3>
    <div class="wf-moves">${d.status === "draft" ? html`<span class="muted">草稿请先在上方确认登记。</span>` : ""}
      ${moves.map((m) => html`<button type="button" data-move="${m.status}" class="${target === m.status ? "active" : ""}">${moveLabel(d.status, m)}</button>`)}
      ${!moves.length && d.status !== "draft" ? html`<span class="muted">无可办理的状态变更</span>` : ""}</div>
    ${target ? moveForm_(d.status, target) : ""}
    <p class="wf-msg" role="status">${msgHtml(wf.msg)}</p>
    <div class="wf-clocks">${d.clocks.length ? d.clocks.map((c) => html`<div class="wf-clock-row" data-clock="${c.clock}">
        <strong>${c.label}时限</strong> <span class="muted">应于 ${time(c.due_at)} 前</span> ${countdown(c.left_s, c.state, c.clock)}</div>`)
      : html`<span class="muted">当前没有计时中的时限</span>`}</div>
    <h4>派工单</h4>
    <table class="list wf-orders"><thead><tr><th>单号</th><th>类型</th><th>部门</th><th>维修人员</th><th>状态</th><th>处理结果</th><th>操作</th></tr></thead>
      <tbody>${d.work_orders.length ? d.work_orders.map(orderRow) : html`<tr><td colspan="7" class="muted">尚未派工</td></tr>`}</tbody></table>
    ${edit && ["registered", "dispatched", "in_progress"].includes(d.status) ? newOrderForm(e) : ""}
    <h4>回访 / 回拨任务</h4>
    <table class="list wf-tasks"><thead><tr><th>类型</th><th>号码</th><th>应于</th><th>剩余时间</th><th>尝试</th><th>结果</th><th>状态</th><th>操作</th></tr></thead>
      <tbody>${d.callbacks.length ? d.callbacks.map((t) => taskRows(t, false)) : html`<tr><td colspan="8" class="muted">没有回访任务</td></tr>`}</tbody></table>`);
  syncOrderKind(box);
}

function moveLabel(from, m) {
  if (reopening(from, m.status)) return "重新处理";
  if (m.status === "called_back") return "记录回访";
  return `转为${m.label}`;
}

function moveForm_(from, to) {
  const reopen = reopening(from, to), sat = to === "called_back";
  const noteLabel = reopen ? "原因（必填）" : sat ? "回访记录" : "备注";
  return html`<form class="wf-inline wf-move-form" data-to="${to}">
    ${sat ? html`<label>${vocab.label("entry_fields", "satisfaction")} <select name="satisfaction" data-k="move-sat" required>${satisfactionOptions("请选择")}</select></label>` : ""}
    <label>${noteLabel} <input name="note" data-k="move-note" size="30" maxlength="500" ${reopen ? html`required` : ""}></label>
    <button type="submit" class="primary">确认</button> <button type="button" data-cancel="move:${to}">取消</button></form>`;
}

function orderRow(o) {
  const moves = session.canEdit() ? vocab.raw("work_order_transitions")?.[o.status] || [] : [];
  const doneOpen = wf.open.has(`done:${o.id}`);
  return html`<tr data-order="${o.id}"><td>${o.number}</td><td>${o.kind_label}${o.paid ? html`<div class="muted">有偿 ${o.fee}</div>` : ""}</td>
    <td>${o.department}</td><td>${o.assignee || html`<span class="muted">未指定</span>`}</td>
    <td><span class="badge" data-order-status="${o.status}">${o.status_label}</span></td><td>${o.result}</td>
    <td class="wf-actions">${moves.map((m) => html`<button type="button" data-order-move="${m}">${vocab.label("work_order_moves", m)}</button>`)}
      <a href="/api/work-orders/${o.id}/slip" target="_blank" rel="noopener" class="wf-slip">打印派工单</a></td></tr>
    ${doneOpen ? html`<tr class="wf-inline-row"><td colspan="7"><form class="wf-inline wf-done-form" data-order="${o.id}">
      <label>处理结果 <input name="result" data-k="done-${o.id}" size="40" maxlength="1000" placeholder="如：已更换水管接头，试水正常"></label>
      <button type="submit" class="primary">确认完成</button> <button type="button" data-cancel="done:${o.id}">取消</button></form></td></tr>` : ""}`;
}

function newOrderForm(e) {
  const deps = vocab.codes("departments");
  const dep = e.department && deps.includes(e.department) ? e.department : deps[0];
  return html`<form class="wf-inline wf-new-order" autocomplete="off">
    <strong>新建派工单</strong>
    <label>类型 <select name="kind" data-k="wo-kind">${options(vocab.items("work_order_kinds"))}</select></label>
    <label>部门 <select name="wo_department" data-k="wo-dept">${vocab.items("departments").map((x) => html`<option value="${x.code}" ${x.code === dep ? html`selected` : ""}>${x.label}</option>`)}</select></label>
    <label>维修人员 <input name="assignee" data-k="wo-assignee" size="10" maxlength="64"></label>
    <span class="wf-eng"><label>有偿 <input type="checkbox" name="paid" data-k="wo-paid"></label>
      <label>收费 <input name="fee" data-k="wo-fee" size="8" maxlength="32" placeholder="如 50元"></label></span>
    <label class="wide">内容 <textarea name="description" data-k="wo-desc" rows="2" maxlength="1000">${e.summary}</textarea></label>
    <button type="submit" class="primary">派工</button></form>`;
}
function syncOrderKind(root) {
  const f = $(".wf-new-order", root);
  if (f) $(".wf-eng", f).hidden = f.kind.value !== "engineering";
}

// A task row and, below it, its open inline forms (log a result, dial).
function taskRows(t, withEntry) {
  const open = t.status === "open", edit = session.canEdit() && open;
  const cols = withEntry ? 9 : 8;
  const result = [t.outcome ? vocab.label("callback_outcomes", t.outcome) : "", t.satisfaction].filter(Boolean).join(" · ");
  const row = html`<tr data-task="${t.id}" class="${open ? "" : "done"}">
    ${withEntry ? html`<td><a href="#entry/${t.entry_id}">#${t.entry_id}</a></td>` : ""}
    <td>${vocab.label("task_kinds", t.kind)}${t.reason ? html`<div class="wf-reason">${vocab.label("callback_reasons", t.reason)}</div>` : ""}</td><td>${t.number || html`<span class="muted">无号码</span>`}</td>
    <td>${time(t.due_at)}</td><td>${open ? countdown(t.left_s, t.state) : html`<span class="muted">—</span>`}</td>
    <td>${t.attempts}</td><td>${result}${t.notes ? html`<div class="muted">${t.notes}</div>` : ""}</td>
    <td>${vocab.label("task_statuses", t.status)}</td>
    <td class="wf-actions">${edit ? html`<button type="button" data-task-log="${t.id}">记录结果</button>${t.number ? html` <button type="button" data-task-dial="${t.id}">外呼</button>` : ""}` : ""}</td></tr>`;
  const forms = [];
  if (edit && wf.open.has(`log:${t.id}`)) {
    const outcomes = vocab.items("callback_outcomes").filter((x) => !DIALER_ONLY.includes(x.code));
    forms.push(html`<form class="wf-inline wf-log-form" data-task="${t.id}" data-kind="${t.kind}">
      <label>结果 <select name="outcome" data-k="log-outcome-${t.id}">${options(outcomes)}</select></label>
      <label>${vocab.label("entry_fields", "satisfaction")} <select name="satisfaction" data-k="log-sat-${t.id}">${satisfactionOptions(t.kind === "callback" ? "请选择（接通必填）" : "—")}</select></label>
      <label>备注 <input name="notes" data-k="log-notes-${t.id}" size="30" maxlength="1000"></label>
      <button type="submit" class="primary">保存</button> <button type="button" data-cancel="log:${t.id}">取消</button></form>`);
  }
  if (edit && wf.open.has(`dial:${t.id}`)) {
    forms.push(html`<form class="wf-inline wf-dial-form" data-task="${t.id}">
      <label>本机分机号 <input name="extension" data-k="dial-ext-${t.id}" size="8" maxlength="32" pattern="[0-9A-Za-z_.+\\-]{1,32}" required value="${localStorage.getItem(EXT_KEY) || ""}"></label>
      <span class="muted">先振铃您的分机，接起后再呼叫业户 ${t.number}</span>
      <button type="submit" class="primary">拨打</button> <button type="button" data-cancel="dial:${t.id}">取消</button></form>`);
  }
  const msg = wf.taskMsgs.get(t.id);
  if (msg) forms.push(html`<p class="wf-msg">${msgHtml(msg)}</p>`);
  return html`${row}${forms.length ? html`<tr class="wf-inline-row" data-task-forms="${t.id}"><td colspan="${cols}">${forms}</td></tr>` : ""}`;
}

const rerenderAll = () => { if (wf.data && router.isShown("entry")) renderWorkflow(); if (router.isShown("callbacks")) renderTasks(); };
const toggleOpen = (key) => { if (wf.open.has(key)) wf.open.delete(key); else wf.open.add(key); };

// Clicks and submits, shared by the entry page and the 回访任务 view.
async function onClick(ev) {
  const b = ev.target.closest("button");
  if (!b) return;
  if (b.dataset.move) {
    const to = b.dataset.move, from = wf.data.status, key = `move:${to}`, was = wf.open.has(key);
    const needsInput = to === "called_back" || reopening(from, to) || to === "cancelled";
    for (const k of [...wf.open]) if (k.startsWith("move:")) wf.open.delete(k);
    if (needsInput) { if (!was) wf.open.add(key); renderWorkflow(); } else await transition(to, {});
  } else if (b.dataset.cancel) {
    wf.open.delete(b.dataset.cancel); rerenderAll();
  } else if (b.dataset.orderMove) {
    const id = Number(b.closest("tr").dataset.order), to = b.dataset.orderMove;
    if (to === "done") { toggleOpen(`done:${id}`); renderWorkflow(); return; }
    await patchOrder(id, { status: to });
  } else if (b.dataset.taskLog) {
    const id = Number(b.dataset.taskLog);
    wf.open.delete(`dial:${id}`); toggleOpen(`log:${id}`); wf.taskMsgs.delete(id); rerenderAll();
  } else if (b.dataset.taskDial) {
    const id = Number(b.dataset.taskDial);
    wf.open.delete(`log:${id}`); toggleOpen(`dial:${id}`); wf.taskMsgs.delete(id); rerenderAll();
    $(`.wf-dial-form[data-task="${id}"] input[name=extension]`)?.focus();
  }
}

async function onSubmit(ev) {
  const f = ev.target;
  if (!f.classList.contains("wf-inline")) return;
  ev.preventDefault();
  if (f.classList.contains("wf-move-form")) {
    const body = { note: f.note.value.trim() };
    if (f.satisfaction) body.satisfaction = f.satisfaction.value || null;
    await transition(f.dataset.to, body);
  } else if (f.classList.contains("wf-done-form")) {
    const id = Number(f.dataset.order), result = f.result.value.trim();
    await patchOrder(id, result ? { status: "done", result } : { status: "done" }, `done:${id}`);
  } else if (f.classList.contains("wf-new-order")) {
    await createOrder(f);
  } else if (f.classList.contains("wf-log-form")) {
    await logTask(f);
  } else if (f.classList.contains("wf-dial-form")) {
    await dialTask(f);
  }
}

async function transition(to, body) {
  try {
    wf.data = await post(`/api/entries/${wf.entryId}/transition`, { to_status: to, ...body });
    for (const k of [...wf.open]) if (k.startsWith("move:")) wf.open.delete(k);
    $$("[data-k^=move-]", $("#e-workflow")).forEach((el) => { el.value = ""; });
    wf.msg = { ok: true, text: `已转为${wf.data.status_label}` };
  } catch (err) { wf.msg = { ok: false, text: err.message }; }
  await loadWorkflow(wf.entryId);
}

async function patchOrder(id, body, closeKey) {
  try {
    const o = await send("PATCH", `/api/work-orders/${id}`, body);
    if (closeKey) wf.open.delete(closeKey);
    wf.msg = { ok: true, text: `派工单 ${o.number} ${o.status_label}` };
  } catch (err) { wf.msg = { ok: false, text: err.message }; }
  await loadWorkflow(wf.entryId);
}

async function createOrder(f) {
  const kind = f.kind.value;
  const body = { kind, department: f.wo_department.value, assignee: f.assignee.value.trim(), description: f.description.value.trim() };
  if (kind === "engineering") { body.paid = f.paid.checked; body.fee = f.fee.value.trim(); }
  try {
    const o = await post(`/api/entries/${wf.entryId}/work-orders`, body);
    wf.msg = { ok: true, text: `${statusLabel("dispatched")}：${o.kind_label} ${o.number} → ${o.department}` };
    f.reset();
    for (const el of $$("[data-k^=wo-]", f)) el.removeAttribute("data-k");  // fresh defaults next render
  } catch (err) { wf.msg = { ok: false, text: err.message }; }
  await loadWorkflow(wf.entryId);
}

async function logTask(f) {
  const id = Number(f.dataset.task), outcome = f.outcome.value, satisfaction = f.satisfaction.value;
  if (f.dataset.kind === "callback" && outcome === "connected" && !satisfaction) {
    const choices = vocab.items("satisfactions").map((x) => x.label).join("/");
    wf.taskMsgs.set(id, { ok: false, text: `回访接通后须选择业户${vocab.label("entry_fields", "satisfaction")}（${choices}）` });
    rerenderAll();
    return;
  }
  try {
    const t = await post(`/api/callbacks/${id}/log`, { outcome, satisfaction, notes: f.notes.value.trim() });
    wf.open.delete(`log:${id}`);
    for (const el of $$(`[data-k$="-${id}"]`, f)) el.removeAttribute("data-k");
    wf.taskMsgs.set(id, { ok: true, text: `已记录：${vocab.label("callback_outcomes", t.outcome)}${t.satisfaction ? ` · ${t.satisfaction}` : ""}` });
  } catch (err) { wf.taskMsgs.set(id, { ok: false, text: err.message }); }
  refreshAfterTask();
}

async function dialTask(f) {
  const id = Number(f.dataset.task), extension = f.extension.value.trim();
  localStorage.setItem(EXT_KEY, extension);
  try {
    try {
      await post(`/api/callbacks/${id}/dial`, { extension });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      throw err instanceof ApiError && err.status === 503 ? new Error("本机未启用外呼") : err;
    }
    wf.open.delete(`dial:${id}`);
    wf.taskMsgs.set(id, { ok: true, text: `正在呼叫：请接起分机 ${extension}，接通业户后记录结果` });
  } catch (err) { wf.taskMsgs.set(id, { ok: false, text: err.message }); }
  rerenderAll();
}

function refreshAfterTask() {
  if (wf.entryId && router.isShown("entry")) loadWorkflow(wf.entryId);
  if (router.isShown("callbacks")) loadTasks();
}

for (const root of ["#e-workflow", "#view-callbacks"]) {
  $(root).addEventListener("click", (ev) => { onClick(ev).catch((err) => console.warn(err)); });
  $(root).addEventListener("submit", (ev) => { onSubmit(ev).catch((err) => console.warn(err)); });
}
$("#e-workflow").addEventListener("change", (ev) => { if (ev.target.name === "kind") syncOrderKind($("#e-workflow")); });

// ----- 回访任务 view ------------------------------------------------------------------------------

async function loadTasks() {
  const ticket = ++wf.tasksTicket;
  try {
    const rows = await api("/api/callbacks?status=open");
    if (ticket !== wf.tasksTicket) return;
    wf.tasks = rows.sort((a, b) => new Date(a.due_at) - new Date(b.due_at) || a.id - b.id);
    wf.tasksMsg = null;
  } catch (err) { wf.tasks = []; wf.tasksMsg = { ok: false, text: err.message }; }
  renderTasks();
}

function renderTasks() {
  const late = wf.tasks.filter((t) => t.left_s < 0).length;
  rerender($("#view-callbacks"), html`
    <h2>回访任务 <span class="muted">待办 ${wf.tasks.length} 项${late ? html`，<span class="error">已超时 ${late} 项</span>` : ""}（按应办时间排序）</span></h2>
    <p class="wf-msg">${msgHtml(wf.tasksMsg)}</p>
    <table class="list wf-tasks" id="cb-list"><thead><tr><th>台账</th><th>类型</th><th>号码</th><th>应于</th><th>剩余时间</th><th>尝试</th><th>结果</th><th>状态</th><th>操作</th></tr></thead>
      <tbody>${wf.tasks.length ? wf.tasks.map((t) => taskRows(t, true)) : html`<tr><td colspan="9" class="muted">没有待办的回访/回拨任务</td></tr>`}</tbody></table>`);
}

// ----- routes, events, refresh ---------------------------------------------------------------------

let entryTimer = 0, tasksTimer = 0;
for (const type of ["entry.updated", "work_order.updated", "callback.updated"]) {
  events.on(type, (d) => {
    if (wf.entryId && d.entry_id === wf.entryId && router.isShown("entry")) {
      clearTimeout(entryTimer); entryTimer = setTimeout(() => loadWorkflow(wf.entryId), 150);
    }
    if (router.isShown("callbacks") && type !== "work_order.updated") {
      clearTimeout(tasksTimer); tasksTimer = setTimeout(loadTasks, 150);
    }
  });
}

// Amber comes from the server: refresh what is on screen once a minute.
setInterval(() => {
  if (!session.current() || $("#app").hidden) return;
  if (wf.entryId && router.isShown("entry")) loadWorkflow(wf.entryId);
  if (router.isShown("callbacks")) loadTasks();
}, 60000);

session.onStart(() => { wf.enabled = true; });
router.onRoute((name, arg) => {
  if (name === "entry" && Number(arg)) loadWorkflow(Number(arg));
  else wf.entryId = null;
});
router.register("callbacks", { nav: "#nav-callbacks", allowed: () => session.canEdit() && wf.enabled, enter: () => { loadTasks(); } });
