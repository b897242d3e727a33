// 来电工作台: calls ringing and in progress, each card with the caller's and the unit's open and
// recent entries (screen pop, one click links a repeat call), the urgent alarm, the live partial
// transcript and the draft; and the drafts waiting for confirmation.
import { api, post } from "../core/api.js";
import { $, html, render } from "../core/dom.js";
import * as events from "../core/events.js";
import { time } from "../core/format.js";
import * as estates from "../core/estates.js";
import * as router from "../core/router.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";

const calls = new Map();  // call id (or "k-<call key>" while only provisional) -> the card's state
const keys = new Map();  // call key -> call id: a call's provisional events after it was stored
const LISTENERS = ["supervisor", "admin"];  // who may listen in (the API checks it too)
const inCall = () => vocab.label("presence", "on_call");  // an answered call's phase: the same words
const KEEP_ENDED = 30;  // finished calls kept on the board

async function loadLiveCalls() {
  for (const [status, phase] of [["ringing", "振铃中"], ["answered", inCall()]]) {
    for (const c of await api(`/api/calls?status=${status}&limit=20`)) {
      const call = liveCall(c.id, { number: c.caller_number, entryId: c.entry_id, phase, answered: status === "answered", estateId: c.estate_id });
      if (!call.history) refreshHistory(call);
    }
  }
}

function liveCall(id, patch = {}) {
  let call = calls.get(id);
  if (!call) {
    call = { id, number: "", unit: "", entryId: null, phase: "", partial: "", draft: null, urgent: false, acked: false, history: null, linkedTo: null, estateId: null };
    calls.set(id, call);
    // several estates: which one this call dialled (the events do not say; the call does)
    if (estates.shown() && !patch.estateId && !provisional(id)) api(`/api/calls/${id}`).then((c) => liveCall(id, { estateId: c.estate_id })).catch(() => {});
    const li = document.createElement("li");
    li.id = `call-${id}`; li.className = "call";
    $("#live").prepend(li);
  }
  Object.assign(call, patch);
  renderCall(call);
  return call;
}

// A card the database has not numbered yet (call.provisional: its writes wait in the outbox).
const provisional = (id) => typeof id === "string";

function entryRow(e, call) {
  const own = call && e.id === call.entryId;
  const linkable = call && call.entryId && !own && session.canEdit() && !call.linkedTo && vocab.includes("open_statuses", e.status);
  return html`<li class="${e.urgent ? "urgent" : ""}"><a href="#entry/${e.id}">#${e.id}</a> ${time(e.created_at)}
    <span class="badge">${vocab.label("entry_statuses", e.status)}</span> ${e.unit} ${e.category}
    ${e.repeat_count ? html`<span class="badge warn">重复来电 ${e.repeat_count} 次</span>` : ""}
    ${e.owner_id ? html`<span class="muted">${vocab.label("entry_fields", "owner")} ${session.userName(e.owner_id)}</span>` : ""}
    <div class="sum">${e.summary || "（无摘要）"}</div>${linkable ? html`<button type="button" class="link" data-link="${e.id}">关联此单</button>` : ""}</li>`;
}

const SLOTS = ["head", "alarm", "person", "linked", "pop", "recent", "partial", "draft", "open-box"];


function renderCall(call) {
  const li = document.getElementById(`call-${call.id}`);
  const h = call.history;
  const openOthers = h ? h.open_entries.filter((e) => e.id !== call.entryId) : [];
  const shown = new Set(openOthers.map((e) => e.id).concat([call.entryId]));
  const recent = h ? [...h.caller_recent, ...h.unit_recent].filter((e) => !shown.has(e.id) && shown.add(e.id)) : [];
  const r = h?.resident;
  li.classList.toggle("urgent", call.urgent && !call.acked);
  li.hidden = !estates.matches(call.estateId);
  li.classList.toggle("repeat", openOthers.length > 0);
  const target = call.linkedTo || call.entryId;
  // Each slot is replaced only when its content changes, so a button under the clerk's
  // pointer survives the partial transcripts streaming into the same card.
  const parts = {
    head: html`${estates.badge(call.estateId)} <strong class="num">${call.number || "未知号码"}</strong>
      ${r ? html`<span>${r.name} · ${r.unit}</span>${r.key_customer ? html`<span class="badge key">重要客户</span>` : ""}` : html`<span class="muted">${call.unit || "未匹配住户"}</span>`}
      <span class="phase">${call.phase}</span>
      ${provisional(call.id) ? html`<span class="badge warn" title="数据库暂不可用，恢复后自动写入台账">暂存本机，待写入台账</span>` : ""}`,
    alarm: call.urgent ? html`紧急情况！${call.acked ? `（${call.ackedBy || ""}已知悉）` : html`<button type="button" class="ack">知悉</button>`}` : "",
    linked: call.linkedTo ? html`本次来电已关联到台账 <a href="#entry/${call.linkedTo}">#${call.linkedTo}</a>` : "",
    pop: openOthers.length ? html`<h4>该来电人/房号有 ${openOthers.length} 条未结台账，请勿重复询问：</h4><ul>${openOthers.map((e) => entryRow(e, call))}</ul>`
      : h ? html`<span class="muted">无未结台账</span>` : "",
    recent: recent.length ? html`<details><summary>近期记录 ${recent.length} 条</summary><ul>${recent.map((e) => entryRow(e, null))}</ul></details>` : "",
    partial: call.partial ? html`${call.partial}` : "",
    draft: call.draft ? html`草稿：${call.draft.unit || "房号未知"} · ${call.draft.category} → ${call.draft.department}｜${call.draft.summary}` : "",
    person: call.person ? html`${vocab.label("person_steps", call.person.step)}${call.person.number ? ` · 分机 ${call.person.number}` : ""}${call.person.username ? `（${session.displayNameOf(call.person.username)}）` : ""}` : "",
    "open-box": html`${call.entryId ? html`<a class="open" href="#entry/${target}">打开台账 #${target}</a>` : ""}
      ${call.answered && !call.ended && !provisional(call.id) && session.canEdit() && !(call.person && call.person.step === "answered") ? html` <button type="button" class="take">接听</button>` : ""}
      ${call.answered && !call.ended && !provisional(call.id) && LISTENERS.includes(session.current()?.role) ? html` <button type="button" class="listen">监听</button>` : ""}
      ${call.ended ? html` <button type="button" class="dismiss" title="从看板移除（台账不受影响）">移除</button>` : ""}`,
  };
  if (!li.firstChild) {
    render(li, html`<div class="head"></div><div class="alarm"></div><div class="person"></div><div class="ok linked"></div><div class="pop"></div>
      <div class="recent"></div><div class="partial"></div><div class="draft"></div><div class="open-box"></div><span class="link-msg error"></span>`);
  }
  for (const name of SLOTS) {
    const el = li.querySelector(`:scope > .${name}`), content = parts[name];
    const markup = content ? content.toString() : "";
    if (el.dataset.html !== markup) { render(el, content || html``); el.dataset.html = markup; }
    el.hidden = !markup;
  }
  $("#live-empty").hidden = calls.size > 0;
}

function dropCall(id) {
  calls.delete(id);
  document.getElementById(`call-${id}`)?.remove();
  $("#live-empty").hidden = calls.size > 0;
}

async function refreshHistory(call) {
  const q = new URLSearchParams({ number: call.number || "", unit: call.unit || "" });
  try { call.history = await api(`/api/callers/history?${q}`); renderCall(call); } catch (err) { console.warn(err); }
}

$("#live").addEventListener("click", async (ev) => {
  const li = ev.target.closest("li.call"); if (!li) return;
  const raw = li.id.slice(5);
  const call = calls.get(/^\d+$/.test(raw) ? Number(raw) : raw);
  if (ev.target.matches("button.dismiss")) { dropCall(call.id); return; }  // an ended call's card, by hand
  if (ev.target.matches("button.ack")) {
    call.acked = true; renderCall(call);
    const id = call.linkedTo || call.entryId;
    if (id && session.canEdit()) post(`/api/entries/${id}/acknowledge`).catch((err) => { $(".link-msg", li).textContent = `知悉未记录：${err.message}`; });
    return;
  }
  if (ev.target.matches("button.take")) {  // 「接听」: the agent rings my extension and bridges the caller
    ev.target.disabled = true;
    try { const r = await post(`/api/calls/${call.id}/take`, {}); $(".link-msg", li).textContent = `正在呼叫分机 ${r.extension}…`; }
    catch (err) { ev.target.disabled = false; $(".link-msg", li).textContent = `接听失败：${err.message}`; }
    return;
  }
  if (ev.target.matches("button.listen")) {  // 「监听」: the agent rings my extension, which hears the call silently
    ev.target.disabled = true;
    try { const r = await post(`/api/calls/${call.id}/listen`, {}); $(".link-msg", li).textContent = `正在呼叫分机 ${r.extension} 监听…`; }
    catch (err) { ev.target.disabled = false; $(".link-msg", li).textContent = `监听失败：${err.message}`; }
    return;
  }
  const target = ev.target.dataset?.link;
  if (!target) return;
  try {
    await post(`/api/calls/${call.id}/link`, { entry_id: Number(target) });
    call.linkedTo = Number(target); await refreshHistory(call);
  } catch (err) { $(".link-msg", li).textContent = `关联失败：${err.message}`; }
});

async function loadDrafts() {
  const page = await api(`/api/entries?${estates.query(new URLSearchParams({ status: "draft", limit: 20 }))}`);
  render($("#drafts"), page.items.length ? html`${page.items.map((e) => html`<tr class="${e.urgent ? "urgent" : ""}" data-id="${e.id}">
    <td><a href="#entry/${e.id}">#${e.id}</a>${estates.badge(e.estate_id)}</td><td>${time(e.created_at)}</td><td>${e.unit}</td><td>${e.category}</td><td>${e.summary}</td></tr>`)}`
    : html`<tr><td colspan="5" class="muted">没有待确认的草稿</td></tr>`);
}

// ----- live events ------------------------------------------------------------------------------

// The stored call.ringing of a call shown provisionally: the same card takes the call's id (or
// goes, when a reload put the call on the board already). True when there was such a card.
function settle(d) {
  if (!d.call_key) return false;
  keys.set(d.call_key, d.call_id);
  const k = `k-${d.call_key}`, card = calls.get(k);
  if (!card) return false;
  calls.delete(k);
  const li = document.getElementById(`call-${k}`);
  if (calls.has(d.call_id)) { li?.remove(); return true; }
  card.id = d.call_id;
  calls.set(d.call_id, card);
  if (li) li.id = `call-${d.call_id}`;
  return true;
}

events.on("call.ringing", (d) => {
  const settled = settle(d);  // its phase stays: the replayed answer and end follow
  const patch = { number: d.caller_number, unit: d.unit || "" };
  refreshHistory(liveCall(d.call_id, settled ? patch : { ...patch, phase: "振铃中" }));
});
// The database is away (locked, down): the call is answered and recorded as usual and its steps
// wait in the outbox; the board shows it from these live-only events until the stored ones come.
const PROVISIONAL_PHASES = {
  ringing: () => ({ phase: "振铃中" }),
  answered: () => ({ phase: inCall(), answered: true }),
  ended: (d) => ({ phase: `已结束 · ${vocab.label("end_reasons", d.reason)}`, ended: true }),
  missed: () => ({ phase: `${vocab.label("entry_kinds", "missed_call")}（需回拨）`, ended: true }),
};
events.on("call.provisional", (d) => {
  const step = PROVISIONAL_PHASES[d.step];
  if (!step) return;
  const id = keys.get(d.call_key) ?? `k-${d.call_key}`;
  const fresh = !calls.has(id);
  const call = liveCall(id, { ...(d.caller_number ? { number: d.caller_number } : {}), estateId: d.estate_id ?? null, ...step(d) });
  if (fresh) refreshHistory(call);  // the directory may still be readable (a locked SQLite file)
});
events.on("call.answered", (d) => {
  refreshHistory(liveCall(d.call_id, { entryId: d.entry_id, unit: d.unit || calls.get(d.call_id)?.unit || "", phase: inCall(), answered: true }));
});
events.on("call.partial_transcript", (d) => { liveCall(d.call_id, { partial: d.text }); });
events.on("call.person", (d) => {
  const patch = { person: d, entryId: d.entry_id ?? calls.get(d.call_id)?.entryId ?? null };
  if (d.step === "urgent") Object.assign(patch, { urgent: true, unit: d.unit || calls.get(d.call_id)?.unit || "" });
  liveCall(d.call_id, patch);
});
events.on("call.ended", (d) => {
  liveCall(d.call_id, { phase: `已结束 · ${vocab.label("end_reasons", d.reason)}`, ended: true });
  const ended = [...calls.values()].filter((c) => c.ended);
  for (const c of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) dropCall(c.id);  // keep the board short
});
events.on("call.missed", (d) => {
  liveCall(d.call_id, { number: d.caller_number, entryId: d.entry_id, ended: true,
                        phase: `${vocab.label("entry_kinds", "missed_call")}（需回拨）` });
  loadDrafts();
});
events.on("entry.draft_ready", (d) => {
  const call = liveCall(d.call_id, { draft: d, urgent: !!d.urgent, entryId: d.entry_id, unit: d.unit || "" });
  if (d.repeat_of) call.linkedTo = d.repeat_of;
  refreshHistory(call);
  loadDrafts();
});
events.on("entry.updated", (d) => {
  if (d.action === "urgent_acknowledged") {
    for (const call of calls.values()) {
      if (call.entryId === d.entry_id || call.linkedTo === d.entry_id) { call.acked = true; call.ackedBy = d.actor; renderCall(call); }
    }
    return;
  }
  if (d.action === "linked" && calls.has(d.call_id)) liveCall(d.call_id, { linkedTo: d.entry_id });
  if (d.action === "confirmed") {  // a finished call whose entry is confirmed leaves the board
    for (const call of [...calls.values()]) {
      if (call.ended && (call.entryId === d.entry_id || call.linkedTo === d.entry_id)) dropCall(call.id);
    }
  }
  if (router.isShown("board")) loadDrafts();
  for (const call of calls.values()) if (call.history) refreshHistory(call);
});
events.on("reconnected", () => { loadLiveCalls(); });

session.onStart(() => loadLiveCalls());
estates.onChange(() => { for (const call of calls.values()) renderCall(call); loadDrafts(); });
router.register("board", { enter: () => { loadDrafts(); } });
