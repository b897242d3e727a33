// 办理 (issue 4): the case workflow in the panel — on the entry page the status with its allowed
// moves, the running clocks counting down, work orders (create, move, print the slip) and the
// callback tasks (log a result, dial through the agent); the 回访任务 view; the notification bell;
// the shift-handover banner. Reuses panel.js's globals ($, $$, esc, api, csrf, state, time,
// canEdit, showLogin) and wraps its global route() and onEvent() like qa.js and reports.js do.
"use strict";
(() => {
  const ORDER_MOVES = { open: ["accepted", "in_progress", "done", "cancelled"], accepted: ["in_progress", "done", "cancelled"], in_progress: ["done", "cancelled"] };
  const ORDER_MOVE_LABEL = { accepted: "接单", in_progress: "处理中", done: "完成", cancelled: "取消" };
  const ORDER_KINDS = { dispatch: "维修调度单", engineering: "工程维修单" };
  const TASK_KIND = { callback: "回访", missed_call: "未接回拨" };
  const TASK_STATUS = { open: "待办", done: "已完成", cancelled: "已取消" };
  const OUTCOME = { connected: "已接通", no_answer: "无人接听", busy: "占线", rejected: "拒接", unreachable: "无法接通", wrong_number: "号码有误", error: "呼叫失败" };
  const SATISFACTIONS = ["满意", "基本满意", "不满意"];
  const SEVERITY = { info: "通知", warning: "提醒", critical: "紧急" };
  const REOPENED_FROM = ["completed", "called_back", "closed"];
  const EXT_KEY = "callcenter.extension";

  const wf = {
    entryId: null, data: null, entry: null, ticket: 0, open: new Set(), msg: null,
    tasks: [], tasksTicket: 0, tasksMsg: null, notes: [], handover: null, sessionMeta: null, enabled: true,
  };

  // The Chinese half of a "中文 / English" refusal (the English stays in the tooltip).
  const zh = (msg) => String(msg || "").split(/\s*\/\s(?=[A-Za-z])/)[0];
  const msgHtml = (m) => (m ? `<span class="${m.ok ? "ok" : "error"}" title="${esc(m.text)}">${esc(m.ok ? m.text : zh(m.text))}</span>` : "");
  const post = (path, body) => api(path, { method: "POST", body: JSON.stringify(body || {}) });

  function hms(total) {
    const s = Math.abs(total), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), sec = s % 60, p = (n) => String(n).padStart(2, "0");
    return `${d ? `${d}天 ` : ""}${p(h)}:${p(m)}:${p(sec)}`;
  }
  const leftText = (left) => (left >= 0 ? `剩余 ${hms(left)}` : `已超时 ${hms(left)}`);

  // A countdown: left_s as the server saw it, counted down here every second (the server's clock
  // may not be the browser's); past zero it turns red. ok/amber come from the server.
  function countdown(left, stateName, extra = "") {
    const cls = left < 0 ? "red" : ["ok", "amber", "red"].includes(stateName) ? stateName : "ok";
    return `<span class="wf-clock ${cls}" data-left="${left}" data-at="${Date.now()}"${extra}>${esc(leftText(left))}</span>`;
  }
  function tick() {
    for (const el of $$(".wf-clock[data-left]")) {
      const left = Number(el.dataset.left) - Math.floor((Date.now() - Number(el.dataset.at)) / 1000);
      el.textContent = leftText(left);
      if (left < 0 && !el.classList.contains("red")) { el.classList.remove("ok", "amber"); el.classList.add("red"); }
    }
  }
  setInterval(tick, 1000);

  // Re-rendering keeps what the clerk is typing: values by data-k, and the focus.
  function rerender(root, html) {
    const kept = new Map($$("[data-k]", root).map((el) => [el.dataset.k, el.type === "checkbox" ? el.checked : el.value]));
    const focused = root.contains(document.activeElement) ? document.activeElement.dataset?.k : null;
    root.innerHTML = html;
    for (const el of $$("[data-k]", root)) {
      if (!kept.has(el.dataset.k)) continue;
      if (el.type === "checkbox") el.checked = kept.get(el.dataset.k); else el.value = kept.get(el.dataset.k);
    }
    if (focused) $(`[data-k="${focused}"]`, root)?.focus();
  }

  // ----- routing and events ------------------------------------------------------------------

  const baseRoute = window.route;
  window.route = function () { baseRoute(); afterRoute(); };
  window.addEventListener("hashchange", afterRoute);

  function afterRoute() {
    if (!state.meta) return;
    if (wf.sessionMeta !== state.meta) { wf.sessionMeta = state.meta; onLogin(); }
    $("#nav-callbacks").hidden = !canEdit() || !wf.enabled;
    const [view, arg] = location.hash.slice(1).split("/");
    if (view === "callbacks") {
      if (!canEdit()) { location.hash = "#board"; return; }
      for (const v of $$(".view")) v.hidden = v.id !== "view-callbacks";
      for (const a of $$("nav a")) a.classList.toggle("active", a.dataset.view === "callbacks");
      loadTasks();
    }
    if (view === "entry" && Number(arg)) loadWorkflow(Number(arg));
    else wf.entryId = null;
  }

  const baseOnEvent = window.onEvent;
  window.onEvent = function (ev) {
    baseOnEvent(ev);
    try { workflowEvent(ev); } catch (err) { console.warn("workflow event", err); }
  };

  let entryTimer = 0, tasksTimer = 0;
  function workflowEvent(ev) {
    const d = ev.data || {};
    if (["entry.updated", "work_order.updated", "callback.updated"].includes(ev.type)) {
      if (wf.entryId && d.entry_id === wf.entryId && !$("#view-entry").hidden) {
        clearTimeout(entryTimer); entryTimer = setTimeout(() => loadWorkflow(wf.entryId), 150);
      }
      if (!$("#view-callbacks").hidden && (ev.type === "callback.updated" || ev.type === "entry.updated")) {
        clearTimeout(tasksTimer); tasksTimer = setTimeout(loadTasks, 150);
      }
    } else if (ev.type === "notification") {
      loadNotifications();
    } else if (ev.type === "handover.created") {
      loadHandover();
    }
  }

  // Amber comes from the server: refresh what is on screen once a minute.
  setInterval(() => {
    if (!state.meta || $("#app").hidden) return;
    if (wf.entryId && !$("#view-entry").hidden) loadWorkflow(wf.entryId);
    if (!$("#view-callbacks").hidden) loadTasks();
  }, 60000);

  function onLogin() {
    wf.notes = []; wf.handover = null; wf.enabled = true;
    $("#handover-banner").hidden = true;
    loadNotifications();
    if (canEdit()) loadHandover();
  }

  // ----- entry page: 办理 -------------------------------------------------------------------------

  async function loadWorkflow(id) {
    const box = $("#e-workflow");
    if (wf.entryId !== id) { wf.entryId = id; wf.open = new Set(); wf.msg = null; box.innerHTML = ""; }
    const ticket = ++wf.ticket;
    let data, entry;
    try {
      [data, entry] = await Promise.all([api(`/api/entries/${id}/workflow`), api(`/api/entries/${id}`)]);
    } catch (err) {
      if (ticket !== wf.ticket) return;
      box.hidden = err.message.startsWith("工作流未启用");  // no workflow in this process: no section
      if (box.hidden) return;
      box.innerHTML = `<h3>办理</h3><p class="muted">${esc(zh(err.message))}</p>`;
      return;
    }
    if (ticket !== wf.ticket || wf.entryId !== id) return;
    wf.data = data; wf.entry = entry;
    // the page above follows the case as it moves on (status badge, facts, timeline)
    if (state.entry?.id === id) {
      state.entry = entry;
      $("#e-status").textContent = data.status_label;
      if (typeof renderFacts === "function") renderFacts(entry);
      if (typeof loadAudit === "function") loadAudit(id).catch(() => {});
    }
    renderWorkflow();
  }

  function renderWorkflow() {
    const d = wf.data, e = wf.entry, box = $("#e-workflow"), edit = canEdit();
    box.hidden = false;
    const moves = edit ? d.allowed.filter((m) => m.status !== "merged" && !(d.status === "draft" && m.status === "registered")) : [];
    const moveForm = [...wf.open].find((k) => k.startsWith("move:"));
    const target = moveForm && moveForm.slice(5);
    const html = `
      <h3>办理 <span class="badge wf-status" data-status="${esc(d.status)}">${esc(d.status_label)}</span></h3>
      <div class="wf-moves">${d.status === "draft" ? '<span class="muted">草稿请先在上方确认登记。</span>' : ""}
        ${moves.map((m) => `<button type="button" data-move="${esc(m.status)}" class="${target === m.status ? "active" : ""}">${esc(moveLabel(d.status, m))}</button>`).join("")}
        ${!moves.length && d.status !== "draft" ? '<span class="muted">无可办理的状态变更</span>' : ""}</div>
      ${target ? moveFormHtml(d.status, target) : ""}
      <p class="wf-msg" role="status">${msgHtml(wf.msg)}</p>
      <div class="wf-clocks">${d.clocks.length ? d.clocks.map((c) => `<div class="wf-clock-row" data-clock="${esc(c.clock)}">
          <strong>${esc(c.label)}时限</strong> <span class="muted">应于 ${esc(time(c.due_at))} 前</span> ${countdown(c.left_s, c.state, ` data-clock="${esc(c.clock)}"`)}</div>`).join("")
        : '<span class="muted">当前没有计时中的时限</span>'}</div>
      <h4>派工单</h4>
      <table class="list wf-orders"><thead><tr><th>单号</th><th>类型</th><th>部门</th><th>维修人员</th><th>状态</th><th>处理结果</th><th>操作</th></tr></thead>
        <tbody>${d.work_orders.map(orderRow).join("") || '<tr><td colspan="7" class="muted">尚未派工</td></tr>'}</tbody></table>
      ${edit && ["registered", "dispatched", "in_progress"].includes(d.status) ? newOrderForm(e) : ""}
      <h4>回访 / 回拨任务</h4>
      <table class="list wf-tasks"><thead><tr><th>类型</th><th>号码</th><th>应于</th><th>剩余时间</th><th>尝试</th><th>结果</th><th>状态</th><th>操作</th></tr></thead>
        <tbody>${d.callbacks.map((t) => taskRows(t, false)).join("") || '<tr><td colspan="8" class="muted">没有回访任务</td></tr>'}</tbody></table>`;
    rerender(box, html);
    syncOrderKind(box);
  }

  function moveLabel(from, m) {
    if (m.status === "in_progress" && REOPENED_FROM.includes(from)) return "重新处理";
    if (m.status === "called_back") return "记录回访";
    return `转为${m.label}`;
  }

  function moveFormHtml(from, to) {
    const reopen = to === "in_progress" && REOPENED_FROM.includes(from);
    const sat = to === "called_back";
    const noteLabel = reopen ? "原因（必填）" : sat ? "回访记录" : "备注";
    return `<form class="wf-inline wf-move-form" data-to="${esc(to)}">
      ${sat ? `<label>满意度 <select name="satisfaction" data-k="move-sat" required><option value="">请选择</option>${SATISFACTIONS.map((s) => `<option>${s}</option>`).join("")}</select></label>` : ""}
      <label>${noteLabel} <input name="note" data-k="move-note" size="30" maxlength="500"${reopen ? " required" : ""}></label>
      <button type="submit" class="primary">确认</button> <button type="button" data-cancel="move:${esc(to)}">取消</button></form>`;
  }

  function orderRow(o) {
    const moves = canEdit() ? ORDER_MOVES[o.status] || [] : [];
    const doneOpen = wf.open.has(`done:${o.id}`);
    return `<tr data-order="${o.id}"><td>${esc(o.number)}</td><td>${esc(o.kind_label)}${o.paid ? `<div class="muted">有偿 ${esc(o.fee)}</div>` : ""}</td>
      <td>${esc(o.department)}</td><td>${esc(o.assignee) || '<span class="muted">未指定</span>'}</td>
      <td><span class="badge" data-order-status="${esc(o.status)}">${esc(o.status_label)}</span></td><td>${esc(o.result)}</td>
      <td class="wf-actions">${moves.map((m) => `<button type="button" data-order-move="${m}">${ORDER_MOVE_LABEL[m]}</button>`).join("")}
        <a href="/api/work-orders/${o.id}/slip" target="_blank" rel="noopener" class="wf-slip">打印派工单</a></td></tr>
      ${doneOpen ? `<tr class="wf-inline-row"><td colspan="7"><form class="wf-inline wf-done-form" data-order="${o.id}">
        <label>处理结果 <input name="result" data-k="done-${o.id}" size="40" maxlength="1000" placeholder="如：已更换水管接头，试水正常"></label>
        <button type="submit" class="primary">确认完成</button> <button type="button" data-cancel="done:${o.id}">取消</button></form></td></tr>` : ""}`;
  }

  function newOrderForm(e) {
    const deps = state.meta.departments;
    const dep = e.department && deps.includes(e.department) ? e.department : deps[0];
    return `<form class="wf-inline wf-new-order" autocomplete="off">
      <strong>新建派工单</strong>
      <label>类型 <select name="kind" data-k="wo-kind">${Object.entries(ORDER_KINDS).map(([k, v]) => `<option value="${k}">${v}</option>`).join("")}</select></label>
      <label>部门 <select name="wo_department" data-k="wo-dept">${deps.map((x) => `<option${x === dep ? " selected" : ""}>${esc(x)}</option>`).join("")}</select></label>
      <label>维修人员 <input name="assignee" data-k="wo-assignee" size="10" maxlength="64"></label>
      <span class="wf-eng"><label>有偿 <input type="checkbox" name="paid" data-k="wo-paid"></label>
        <label>收费 <input name="fee" data-k="wo-fee" size="8" maxlength="32" placeholder="如 50元"></label></span>
      <label class="wide">内容 <textarea name="description" data-k="wo-desc" rows="2" maxlength="1000">${esc(e.summary)}</textarea></label>
      <button type="submit" class="primary">派工</button></form>`;
  }
  function syncOrderKind(root) {
    const f = $(".wf-new-order", root);
    if (f) $(".wf-eng", f).hidden = f.kind.value !== "engineering";
  }

  // A task row and, below it, its open inline forms (log a result, dial).
  function taskRows(t, withEntry) {
    const open = t.status === "open", edit = canEdit() && open;
    const cols = withEntry ? 9 : 8;
    const result = [OUTCOME[t.outcome] || t.outcome, t.satisfaction].filter(Boolean).join(" · ");
    const row = `<tr data-task="${t.id}" class="${open ? "" : "done"}">
      ${withEntry ? `<td><a href="#entry/${t.entry_id}">#${t.entry_id}</a></td>` : ""}
      <td>${esc(TASK_KIND[t.kind] || t.kind)}</td><td>${esc(t.number) || '<span class="muted">无号码</span>'}</td>
      <td>${esc(time(t.due_at))}</td><td>${open ? countdown(t.left_s, t.state) : '<span class="muted">—</span>'}</td>
      <td>${t.attempts}</td><td>${esc(result)}${t.notes ? `<div class="muted">${esc(t.notes)}</div>` : ""}</td>
      <td>${esc(TASK_STATUS[t.status] || t.status)}</td>
      <td class="wf-actions">${edit ? `<button type="button" data-task-log="${t.id}">记录结果</button>${t.number ? ` <button type="button" data-task-dial="${t.id}">外呼</button>` : ""}` : ""}</td></tr>`;
    let forms = "";
    if (edit && wf.open.has(`log:${t.id}`)) {
      forms += `<form class="wf-inline wf-log-form" data-task="${t.id}" data-kind="${esc(t.kind)}">
        <label>结果 <select name="outcome" data-k="log-outcome-${t.id}">${Object.entries(OUTCOME).map(([k, v]) => `<option value="${k}">${v}</option>`).join("")}</select></label>
        <label>满意度 <select name="satisfaction" data-k="log-sat-${t.id}"><option value="">${t.kind === "callback" ? "请选择（接通必填）" : "—"}</option>${SATISFACTIONS.map((s) => `<option>${s}</option>`).join("")}</select></label>
        <label>备注 <input name="notes" data-k="log-notes-${t.id}" size="30" maxlength="1000"></label>
        <button type="submit" class="primary">保存</button> <button type="button" data-cancel="log:${t.id}">取消</button></form>`;
    }
    if (edit && wf.open.has(`dial:${t.id}`)) {
      forms += `<form class="wf-inline wf-dial-form" data-task="${t.id}">
        <label>本机分机号 <input name="extension" data-k="dial-ext-${t.id}" size="8" maxlength="32" pattern="[0-9A-Za-z_.+\\-]{1,32}" required value="${esc(localStorage.getItem(EXT_KEY) || "")}"></label>
        <span class="muted">先振铃您的分机，接起后再呼叫业户 ${esc(t.number)}</span>
        <button type="submit" class="primary">拨打</button> <button type="button" data-cancel="dial:${t.id}">取消</button></form>`;
    }
    const msg = wf.taskMsgs.get(t.id);
    if (msg) forms += `<p class="wf-msg">${msgHtml(msg)}</p>`;
    return row + (forms ? `<tr class="wf-inline-row" data-task-forms="${t.id}"><td colspan="${cols}">${forms}</td></tr>` : "");
  }
  wf.taskMsgs = new Map();

  const rerenderAll = () => { if (wf.data && !$("#view-entry").hidden) renderWorkflow(); if (!$("#view-callbacks").hidden) renderTasks(); };
  const toggleOpen = (key) => { if (wf.open.has(key)) wf.open.delete(key); else wf.open.add(key); };

  // Clicks and submits, shared by the entry page and the 回访任务 view.
  async function onClick(ev) {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.move) {
      const to = b.dataset.move, from = wf.data.status, key = `move:${to}`, was = wf.open.has(key);
      const needsInput = to === "called_back" || (to === "in_progress" && REOPENED_FROM.includes(from)) || to === "cancelled";
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
      const o = await api(`/api/work-orders/${id}`, { method: "PATCH", body: JSON.stringify(body) });
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
      wf.msg = { ok: true, text: `已派工：${o.kind_label} ${o.number} → ${o.department}` };
      f.reset();
      for (const el of $$("[data-k^=wo-]", f)) el.removeAttribute("data-k");  // fresh defaults next render
    } catch (err) { wf.msg = { ok: false, text: err.message }; }
    await loadWorkflow(wf.entryId);
  }

  async function logTask(f) {
    const id = Number(f.dataset.task), outcome = f.outcome.value, satisfaction = f.satisfaction.value;
    if (f.dataset.kind === "callback" && outcome === "connected" && !satisfaction) {
      wf.taskMsgs.set(id, { ok: false, text: "回访接通后须选择业户满意度（满意/基本满意/不满意）" }); rerenderAll(); return;
    }
    try {
      const t = await post(`/api/callbacks/${id}/log`, { outcome, satisfaction, notes: f.notes.value.trim() });
      wf.open.delete(`log:${id}`);
      for (const el of $$(`[data-k$="-${id}"]`, f)) el.removeAttribute("data-k");
      wf.taskMsgs.set(id, { ok: true, text: `已记录：${OUTCOME[t.outcome]}${t.satisfaction ? ` · ${t.satisfaction}` : ""}` });
    } catch (err) { wf.taskMsgs.set(id, { ok: false, text: err.message }); }
    refreshAfterTask();
  }

  async function dialTask(f) {
    const id = Number(f.dataset.task), extension = f.extension.value.trim();
    localStorage.setItem(EXT_KEY, extension);
    try {
      const r = await fetch(`/api/callbacks/${id}/dial`, { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() }, body: JSON.stringify({ extension }) });
      if (r.status === 401) { showLogin(); return; }
      if (r.status === 503) throw new Error("本机未启用外呼");
      const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
      if (!r.ok) {
        const d = body?.detail;
        throw new Error(typeof d === "string" ? d : Array.isArray(d) ? d.map((x) => x.msg).join("；") : r.statusText);
      }
      wf.open.delete(`dial:${id}`);
      wf.taskMsgs.set(id, { ok: true, text: `正在呼叫：请接起分机 ${extension}，接通业户后记录结果` });
    } catch (err) { wf.taskMsgs.set(id, { ok: false, text: err.message }); }
    rerenderAll();
  }

  function refreshAfterTask() {
    if (wf.entryId && !$("#view-entry").hidden) loadWorkflow(wf.entryId);
    if (!$("#view-callbacks").hidden) loadTasks();
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
    rerender($("#view-callbacks"), `
      <h2>回访任务 <span class="muted">待办 ${wf.tasks.length} 项${late ? `，<span class="error">已超时 ${late} 项</span>` : ""}（按应办时间排序）</span></h2>
      <p class="wf-msg">${msgHtml(wf.tasksMsg)}</p>
      <table class="list wf-tasks" id="cb-list"><thead><tr><th>台账</th><th>类型</th><th>号码</th><th>应于</th><th>剩余时间</th><th>尝试</th><th>结果</th><th>状态</th><th>操作</th></tr></thead>
        <tbody>${wf.tasks.map((t) => taskRows(t, true)).join("") || '<tr><td colspan="9" class="muted">没有待办的回访/回拨任务</td></tr>'}</tbody></table>`);
  }

  // ----- notifications (the bell) ---------------------------------------------------------------

  async function loadNotifications() {
    try {
      wf.notes = await api("/api/notifications");
      $("#bell").hidden = false;
    } catch (err) {
      $("#bell").hidden = true;
      if (err.message.startsWith("工作流未启用")) { wf.enabled = false; $("#nav-callbacks").hidden = true; }
      return;
    }
    renderNotifications();
  }

  function renderNotifications() {
    const n = wf.notes.length, critical = wf.notes.some((x) => x.severity === "critical");
    $("#bell-count").textContent = n;
    $("#bell-count").hidden = n === 0;
    $("#bell-button").classList.toggle("flash", critical);
    $("#bell-button").title = n ? `${n} 条未知悉通知` : "没有未知悉的通知";
    $("#bell-list").innerHTML = n ? wf.notes.map((x) => `<li class="note ${esc(x.severity)}" data-note="${x.id}">
        <div class="note-head"><span class="badge sev">${esc(SEVERITY[x.severity] || x.severity)}</span> <strong>${esc(x.title)}</strong></div>
        ${x.body ? `<div class="note-body">${esc(x.body)}</div>` : ""}
        <div class="note-foot"><time class="muted">${esc(time(x.at))}</time>
          ${x.entry_id ? `<a href="#entry/${x.entry_id}">查看台账 #${x.entry_id}</a>` : ""}
          <button type="button" class="ack-note" data-ack="${x.id}">知悉</button></div></li>`).join("")
      : '<li class="muted empty">没有未知悉的通知</li>';
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
      wf.notes = wf.notes.filter((x) => x.id !== Number(b.dataset.ack));
      renderNotifications();
    } catch (err) { b.disabled = false; b.title = err.message; }
  });

  // ----- shift handover -------------------------------------------------------------------------

  async function loadHandover() {
    if (!canEdit()) return;
    let h;
    try { h = await api("/api/handovers/latest"); } catch { return; }
    wf.handover = h;
    const pending = !!h && !h.acknowledged_at;
    $("#handover-banner").hidden = !pending;
    if (pending) $("#handover-banner").innerHTML = `交接班：<strong>${h.open_count}</strong> 项未完结 <span class="muted">（${esc(h.shift_name)}，点击查看并确认接班）</span>`;
  }

  $("#handover-banner").addEventListener("click", () => {
    const h = wf.handover;
    if (!h) return;
    const dlg = $("#handover-dialog");
    dlg.innerHTML = `<form method="dialog" id="handover-form">
      <h2>交接班 · ${esc(h.shift_name)} <span class="muted">未完结 ${h.open_count} 项，生成于 ${esc(time(h.created_at))}</span></h2>
      <div class="handover-items"><table class="list"><thead><tr><th>台账</th><th>状态</th><th>房号</th><th>类别</th><th>摘要</th><th>首接人</th><th>待办任务</th></tr></thead>
        <tbody>${h.items.map((i) => `<tr class="${i.urgent ? "urgent" : ""}"><td><a href="#entry/${i.entry_id}" data-close>#${i.entry_id}</a></td>
          <td>${esc(i.status_label)}</td><td>${esc(i.unit)}</td><td>${esc(i.category)}</td><td>${esc(i.summary)}</td><td>${esc(i.owner)}</td>
          <td>${esc((i.tasks || []).join("；"))}</td></tr>`).join("") || '<tr><td colspan="7" class="muted">没有未完结事项</td></tr>'}</tbody></table></div>
      <label>接班备注（可选） <input name="note" size="40" maxlength="500"></label>
      <div class="actions"><button type="submit" class="primary" value="ack">确认接班</button> <button type="button" data-close>稍后</button>
        <span class="ho-msg error" role="alert"></span></div></form>`;
    dlg.showModal();
  });
  $("#handover-banner").addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); $("#handover-banner").click(); } });
  $("#handover-dialog").addEventListener("click", (ev) => { if (ev.target.closest("[data-close]")) $("#handover-dialog").close(); });
  $("#handover-dialog").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target, h = wf.handover;
    try {
      await post(`/api/handovers/${h.id}/acknowledge`, { note: f.note.value.trim() });
      $("#handover-dialog").close();
      $("#handover-banner").hidden = true;
      loadHandover();
    } catch (err) { $(".ho-msg", f).textContent = zh(err.message); loadHandover(); }
  });

  // panel.js's start() ran before this file loaded: catch up if it already routed.
  if (state.meta) afterRoute();
})();
