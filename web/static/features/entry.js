// The entry page (#entry/N): confirm a draft in one screen (confidence per field, the words behind
// each field marked on the transcript, the recording), correct with the keyboard, every field of
// the entry, the status timeline and the audit trail. Keyboard: Enter next field, Ctrl+Enter
// confirm, Alt+P play/pause, Alt+←/→ −/+10 s.
import { api, post, send } from "../core/api.js";
import { $, $$, html, options, render } from "../core/dom.js";
import * as estates from "../core/estates.js";
import * as events from "../core/events.js";
import { time } from "../core/format.js";
import * as router from "../core/router.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";
import * as player from "./player.js";

const CREATING_ACTIONS = ["registered", "created", "missed_call"];  // audit actions that start an entry
const CREATED_PHRASE = { registered: "来电生成草稿" };  // the timeline's wording where it differs
let entry = null;  // the entry on screen
// What the form was based on: the fields' values and the entry's version when loaded (or merged
// after someone else's change). A save names that version; the server refuses it (409) when the
// entry changed since, so nobody's change is silently reverted.
let base = null;
let version = null;
let confirming = false;  // the form confirms a draft (POST confirm), as opened; else it saves (PATCH)
const EDITABLE = ["caller_name", "unit", "category", "department", "urgent", "summary"];

export const shownEntryId = () => entry?.id ?? null;

const field = (code) => vocab.label("entry_fields", code);
const statusLabel = (s) => vocab.label("entry_statuses", s);
const sourceLabel = (s) => vocab.label("sources", s);
const formatValue = (v) => (v === true ? "是" : v === false ? "否" : v ?? "");

async function openEntry(id) {
  let e;
  try { e = await api(`/api/entries/${id}`); } catch (err) { $("#e-msg").textContent = err.message; return; }
  entry = e;
  $("#e-id").textContent = `#${e.id}`;
  $("#e-status").textContent = statusLabel(e.status);
  $("#e-urgent").hidden = !e.urgent;
  $("#e-meta").textContent = [estates.shown() ? estates.nameOf(e.estate_id) : "", time(e.created_at),
    sourceLabel(e.source), e.caller_number,
    e.owner_id ? `${field("owner")} ${session.userName(e.owner_id)}` : "尚无首接人", e.repeat_count ? `重复来电 ${e.repeat_count} 次` : "",
    e.merged_into_id ? `已合并到 #${e.merged_into_id}` : ""].filter(Boolean).join(" · ");
  const f = $("#e-form");
  base = valuesOf(e); version = e.version; confirming = e.status === "draft";
  fill(base);
  for (const div of $$(".field", f)) div.classList.remove("conflict");
  for (const div of $$(".field", f)) {
    const guess = e.draft?.[div.dataset.field];
    const conf = guess && typeof guess === "object" ? guess.confidence : null;
    div.classList.toggle("low", conf !== null && conf < session.current().review_threshold);  // 「请核对」
    $(".conf", div).textContent = conf === null ? "" : `置信度 ${Math.round(conf * 100)}%`;
    $(".conf", div).title = guess && typeof guess === "object" ? `草稿值：${formatValue(guess.value)}` : "";
  }
  const confirmable = session.canEdit() && !["closed", "cancelled", "merged"].includes(e.status);
  for (const el of f.elements) el.disabled = !confirmable;
  $("#e-confirm").textContent = e.status === "draft" ? vocab.label("audit_actions", "confirm") : "保存修改";  // the confirm action
  $("#e-msg").textContent = "";
  $("#e-msg").className = "";
  renderFacts(e);
  renderCalls(e);
  loadAudit(e.id);
  if (confirmable) startEditing(e.id); else stopEditing();
  if (confirmable) {
    restoreUnsaved(e);
    (firstLowField() || f.unit).focus();
  }
}

// ----- the form's values, unsaved edits kept in the browser, and merging others' changes -------

function valuesOf(e) {
  const defaults = vocab.raw("entry_defaults") || {};
  return { caller_name: e.caller_name, unit: e.unit, category: e.category || defaults.category,
           department: e.department || defaults.department, urgent: e.urgent, summary: e.summary };
}

function formValues() {
  const f = $("#e-form");
  return { caller_name: f.caller_name.value, unit: f.unit.value, category: f.category.value,
           department: f.department.value, urgent: f.urgent.checked, summary: f.summary.value };
}

function fill(values, only = EDITABLE) {
  const f = $("#e-form");
  for (const name of only) {
    if (name === "urgent") f.urgent.checked = !!values.urgent;
    else f[name].value = values[name] ?? "";
  }
}

const changedFields = (a, b) => EDITABLE.filter((k) => (a?.[k] ?? "") !== (b?.[k] ?? ""));
const unsavedKey = (id) => `cc-entry-unsaved:${session.current()?.username}:${id}`;
export const hasUnsavedEdits = () => !!entry && !!base && changedFields(formValues(), base).length > 0;

function keepUnsaved() {
  if (!entry || !base) return;
  const values = formValues();
  if (changedFields(values, base).length) {
    localStorage.setItem(unsavedKey(entry.id), JSON.stringify({ version, base, values, at: Date.now() }));
  } else localStorage.removeItem(unsavedKey(entry.id));
}

// A reload, a closed tab or an expired login lost nothing: what the clerk typed comes back.
function restoreUnsaved(e) {
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(unsavedKey(e.id)) || "null"); } catch { saved = null; }
  if (!saved?.values) return;
  const mine = changedFields(saved.values, saved.base);
  if (!mine.length) { localStorage.removeItem(unsavedKey(e.id)); return; }
  fill(saved.values, mine);
  const theirs = changedFields(base, saved.base).filter((k) => mine.includes(k));
  markConflicts(theirs, base);
  $("#e-msg").textContent = `已恢复未保存的修改：${mine.map(field).join("、")}` +
    (saved.version !== e.version ? "（期间台账已被他人修改，请核对后保存）" : "");
  $("#e-msg").className = "warn";
}

function markConflicts(names, theirs) {
  for (const div of $$("#e-form .field")) {
    const name = div.dataset.field;
    const hit = names.includes(name);
    div.classList.toggle("conflict", hit);
    if (hit) $(".conf", div).textContent = `对方的值：${formatValue(theirs[name])}`;
  }
}

// Someone else's version of the entry arrived (a refused save, or a live event): fields the clerk
// has not touched take the new values; fields both changed keep the clerk's value, marked with the
// other's, to merge by hand. The form is then based on the new version.
function merge(current) {
  const mine = changedFields(formValues(), base);
  const now = valuesOf(current);
  const theirs = changedFields(now, base);
  fill(now, theirs.filter((k) => !mine.includes(k)));
  const both = theirs.filter((k) => mine.includes(k));
  markConflicts(both, now);
  base = now; version = current.version;
  entry = { ...entry, ...current };
  renderFacts(entry);
  keepUnsaved();
  return { theirs, both };
}

async function refreshFromServer(actor) {
  const id = entry?.id;
  let current;
  try { current = await api(`/api/entries/${id}`); } catch { return; }
  if (entry?.id !== id || current.version === version) return;
  const { theirs } = merge(current);
  const who = session.displayNameOf(actor);
  if (confirming && current.status !== "draft") {  // pressing 「确认登记」 now is refused, naming her
    $("#e-msg").textContent = `${who} 已确认登记这条草稿（${field("owner")}：${session.userName(current.owner_id)}）`;
    $("#e-msg").className = "warn";
    return;
  }
  if (!theirs.length) return;
  $("#e-msg").textContent = `${who} 刚修改了这条台账：${theirs.map(field).join("、")}`;
  $("#e-msg").className = "warn";
  loadAudit(id).catch(() => {});
}

events.on("entry.updated", (d) => {
  if (!router.isShown("entry") || !entry || d.entry_id !== entry.id) return;
  if (d.actor === session.current()?.username && d.action !== "transition") return;  // my own save
  return refreshFromServer(d.actor);
});

// 「正在编辑」: while the page has an entry open for editing it says so every few seconds and
// shows who else has the same entry open.
const EDITING_EVERY_MS = 5_000;
let editing = null;  // { id, timer }

function stopEditing() {
  if (!editing) return;
  clearInterval(editing.timer);
  send("DELETE", `/api/entries/${editing.id}/editing`).catch(() => {});
  editing = null;
  $("#e-editors").hidden = true;
}

function startEditing(id) {
  if (editing?.id === id) return;
  stopEditing();
  const beat = async () => {
    let r;
    try { r = await post(`/api/entries/${id}/editing`); } catch { return; }
    if (editing?.id !== id) return;
    const names = r.editors || [];
    $("#e-editors").textContent = names.length ? `${names.join("、")} 正在编辑` : "";
    $("#e-editors").hidden = !names.length;
  };
  editing = { id, timer: setInterval(beat, EDITING_EVERY_MS) };
  beat();
}

router.onRoute((name) => { if (name !== "entry") stopEditing(); });
window.addEventListener("pagehide", stopEditing);

$("#e-form").addEventListener("input", keepUnsaved);
$("#e-form").addEventListener("change", keepUnsaved);
window.addEventListener("beforeunload", (ev) => {
  if (!router.isShown("entry") || !hasUnsavedEdits()) return;
  keepUnsaved();
  ev.preventDefault();
  ev.returnValue = "";  // the browser asks 「离开此网站？」
});

const firstLowField = () => $("#e-form .field.low input, #e-form .field.low select, #e-form .field.low textarea");

// The workflow moved the case on: the badge, the facts and the timeline follow (same entry only).
export function followEntry(e, label) {
  if (entry?.id !== e.id) return;
  entry = e;
  $("#e-status").textContent = label || statusLabel(e.status);
  renderFacts(e);
  loadAudit(e.id).catch(() => {});
}

// Every field of the entry, read-only (the form above holds the editable ones).
function renderFacts(e) {
  const at = (v) => (v ? time(v) : "");
  const facts = [["编号", `#${e.id}`], [field("status"), statusLabel(e.status)], ["类型", vocab.label("entry_kinds", e.kind)],
    [field("source"), sourceLabel(e.source)], ["来电号码", e.caller_number], [field("caller_name"), e.caller_name],
    [field("unit"), e.unit], [field("category"), e.category], [field("department"), e.department], [field("urgent"), e.urgent ? "是" : "否"],
    [field("owner"), session.userName(e.owner_id)], [field("summary"), e.summary], ["创建时间", at(e.created_at)], ["草稿生成", at(e.draft_ready_at)],
    ["确认时间", at(e.confirmed_at)], ["派工时间", at(e.dispatched_at)], ["完成时间", at(e.completed_at)],
    ["结案时间", at(e.closed_at)], [field("satisfaction"), e.satisfaction], ["重复来电", e.repeat_count ? `${e.repeat_count} 次` : ""],
    ["合并到", e.merged_into_id ? `#${e.merged_into_id}` : ""], ["通话中断", e.interrupted ? "是" : ""],
    ["关联通话", `${e.calls.length} 通`], ["最后更新", at(e.updated_at)]];
  render($("#e-fields"), html`${facts.filter(([, v]) => v !== "" && v != null).map(([k, v]) => html`<dt>${k}</dt><dd data-fact="${k}">${v}</dd>`)}`);
}

// First call, repeat calls, the callback: each one selectable into the player.
const callLabel = (e, c, i) => (c.direction === "outbound" ? "回访电话" : i === 0 && e.kind !== "manual" ? "首次来电" : `再次来电 ${i}`);

function renderCalls(e) {
  const recorded = e.calls.filter((c) => c.recording_url);
  render($("#e-calls"), html`${e.calls.map((c, i) => html`<button type="button" data-call="${c.id}" class="${i === 0 ? "active" : ""}">
      ${callLabel(e, c, i)} ${time(c.received_at)}${c.recording_duration_ms ? ` · ${Math.round(c.recording_duration_ms / 1000)} 秒` : ""}${c.recording_url ? "" : " · 无录音"}</button>`)}`);
  $("#player").hidden = recorded.length === 0;
  $("#e-norec").hidden = recorded.length > 0;
  selectCall(e.calls[0]);
}

function selectCall(call) {
  for (const b of $$("#e-calls button")) b.classList.toggle("active", Number(b.dataset.call) === call?.id);
  player.load(call?.recording_url);
  renderTranscript(call);
}

$("#e-calls").addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-call]");
  if (b) selectCall(entry.calls.find((c) => c.id === Number(b.dataset.call)));
});

// Evidence spans (character offsets into draft.transcript) marked on the transcript's words.
function renderTranscript(call) {
  const box = $("#e-transcript");
  const draft = entry?.draft || {};
  const text = call?.transcript || "";
  if (!text) {
    const status = call ? `（转写${vocab.label("transcript_statuses", call.transcript_status, "暂无")}）` : "（无通话）";
    render(box, html`<span class="muted">${status}</span>`);
    return;
  }
  const spans = [];
  if (draft.transcript && draft.transcript === text) {
    for (const [name, guess] of Object.entries(draft)) {
      for (const ev of guess?.evidence || []) spans.push({ field: name, start: ev.start, end: ev.end });
    }
  }
  const fieldsAt = (s, e) => [...new Set(spans.filter((x) => x.start < e && s < x.end).map((x) => x.field))];
  const piece = (s, start, seek) => {
    const fields = fieldsAt(start, start + s.length);
    const cls = [seek !== null ? "w" : "", fields.length ? "ev" : ""].filter(Boolean).join(" ");
    if (!fields.length) return html`<span class="${cls}" ${seek !== null ? html`data-start="${seek}"` : ""}>${s}</span>`;
    const title = `草稿依据：${fields.map(field).join("、")}`;
    return html`<span class="${cls}" ${seek !== null ? html`data-start="${seek}"` : ""} data-fields="${fields.join(" ")}" title="${title}">${s}</span>`;
  };
  const parts = [];
  let cursor = 0;
  for (const w of call.transcript_words || []) {
    const at = text.indexOf(w.text, cursor);
    if (at < 0) continue;
    if (at > cursor) parts.push(piece(text.slice(cursor, at), cursor, null));
    parts.push(piece(w.text, at, w.start_s));
    cursor = at + w.text.length;
  }
  if (cursor < text.length) parts.push(piece(text.slice(cursor), cursor, null));
  render(box, html`${parts}`);
}

$("#e-transcript").addEventListener("click", (ev) => {
  const w = ev.target.closest("[data-start]");
  if (w) player.seek(Number(w.dataset.start));
});

player.onTime((now, paused) => {
  for (const w of $$("#e-transcript .w.now")) w.classList.remove("now");
  const word = $$("#e-transcript [data-start]").filter((w) => Number(w.dataset.start) <= now).pop();
  if (word && !paused) word.classList.add("now");
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
  const name = ev.target.closest(".field")?.dataset.field;
  for (const s of $$("#e-transcript [data-fields]")) s.classList.toggle("focus", !!name && s.dataset.fields.split(" ").includes(name));
});

// A save waiting on a busy database (the API client retries a 503 「数据库忙」): say so, so the
// clerk neither waits in silence nor presses again; the form keeps what was typed throughout.
let savingPath = null;
document.addEventListener("cc:db-busy", (ev) => {
  if (!savingPath || ev.detail.path !== savingPath) return;
  $("#e-msg").textContent = `数据库忙，正在重试（${ev.detail.retry}/${ev.detail.of}）…`;
  $("#e-msg").className = "warn";
});

$("#e-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, e = entry;
  const body = { caller_name: f.caller_name.value.trim(), unit: f.unit.value.trim(), category: f.category.value,
                 department: f.department.value, urgent: f.urgent.checked, summary: f.summary.value.trim(), version };
  if (!body.unit) delete body.unit;
  const confirm = confirming;
  savingPath = confirm ? `/api/entries/${e.id}/confirm` : `/api/entries/${e.id}`;
  try {
    const saved = confirm ? await post(savingPath, body) : await send("PATCH", savingPath, body);
    savingPath = null;
    localStorage.removeItem(unsavedKey(e.id));
    await openEntry(saved.id);
    $("#e-msg").textContent = confirm ? `已确认登记，${field("owner")}：${session.userName(saved.owner_id)}` : "已保存";
    $("#e-msg").className = "ok";
  } catch (err) {
    savingPath = null;
    const current = err.status === 409 ? err.body?.conflict?.entry : null;
    if (current) {  // someone saved in between: nothing of this save was written; merge and retry
      const { both } = merge(current);
      $("#e-msg").textContent = `保存未生效：${err.message}` + (both.length ? `（双方都改了：${both.map(field).join("、")}）` : "");
    } else if (err.status === 409) {  // confirmed by someone else first: show the entry as it is now
      localStorage.removeItem(unsavedKey(e.id));
      await openEntry(e.id);
      $("#e-msg").textContent = err.message;
    } else $("#e-msg").textContent = `保存失败：${err.message}`;
    $("#e-msg").className = "error";
  }
});

document.addEventListener("keydown", (ev) => {
  if (!router.isShown("entry")) return;
  if (ev.ctrlKey && ev.key === "Enter") { ev.preventDefault(); $("#e-form").requestSubmit(); }
  else if (ev.altKey && ev.key.toLowerCase() === "p") { ev.preventDefault(); player.toggle(); }
  else if (ev.altKey && ev.key === "ArrowLeft") { ev.preventDefault(); player.skip(-10); }
  else if (ev.altKey && ev.key === "ArrowRight") { ev.preventDefault(); player.skip(10); }
});

// ----- status timeline and audit trail ----------------------------------------------------------

const URGENT_VALUE = { True: "是", False: "否" };
// A work order's change is audited on its entry as field "<number>.<field>" (work_orders.py).
const orderField = (a) => (a.action === "work_order" && a.field.includes(".") ? a.field.split(".") : null);
function auditField(a) {
  const wo = orderField(a);
  if (wo) return `${wo[0]} ${vocab.label("work_order_fields", wo[1])}`;
  return a.field ? field(a.field) : "";
}
function auditValue(a, v) {
  if (orderField(a)?.[1] === "status") return vocab.label("work_order_statuses", v);
  if (a.field === "status") return statusLabel(v);
  if (a.field === "source") return sourceLabel(v);
  if (a.field === "urgent") return URGENT_VALUE[v] || v;
  return v;
}
const actorName = (actor) => (actor === "system" ? "系统" : actor);

function renderStatusHistory(rows) {
  const items = rows.filter((a) => CREATING_ACTIONS.includes(a.action) || (a.field === "status" && a.action !== "note" && a.old !== a.new));
  render($("#e-status-history"), items.length ? html`${items.map((a) => {
    const who = a.actor === "system" ? "系统" : session.displayNameOf(a.actor);
    const what = CREATING_ACTIONS.includes(a.action) ? html`${CREATED_PHRASE[a.action] || vocab.label("audit_actions", a.action)}`
      : html`<span class="badge">${a.old ? statusLabel(a.old) : "—"}</span> → <span class="badge">${statusLabel(a.new)}</span>`;
    return html`<li><time>${time(a.at)}</time> <strong>${who}</strong> ${what}</li>`;
  })}` : html`<li class="muted">暂无状态变化</li>`);
}

async function loadAudit(id) {
  const rows = await api(`/api/entries/${id}/audit`);
  renderStatusHistory(rows);
  render($("#e-audit"), html`${rows.map((a) => html`<tr><td>${time(a.at)}</td><td>${actorName(a.actor)}</td>
    <td>${vocab.label("audit_actions", a.action)}</td><td>${auditField(a)}</td><td>${auditValue(a, a.old)}${a.old || a.new ? " → " : ""}${auditValue(a, a.new)}</td></tr>`)}`);
}

session.onStart(() => {
  const f = $("#e-form");
  render(f.category, options(vocab.items("categories")));
  render(f.department, options(vocab.items("departments")));
});
router.register("entry", { enter: (arg) => { openEntry(Number(arg)); } });
