// 质检 (#qa, #qa/N): search recordings, the automatic pre-scores with their evidence (click to
// seek), confirm or override each item, add to a training set, export a masked clip.
import { api, post, send } from "../core/api.js";
import { $, html, options, render } from "../core/dom.js";
import { rangeQuery, time } from "../core/format.js";
import * as router from "../core/router.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";

const PAGE = 50;
const qa = { offset: 0, call: null, review: null };
const canScore = () => session.can("score_calls");
const verdict = (v) => vocab.label("qa_verdicts", v);

async function search() {
  const q = rangeQuery($("#qa-filters"));
  q.set("limit", PAGE); q.set("offset", qa.offset);
  const page = await api(`/api/qa/calls?${q}`);
  render($("#qa-list tbody"), page.items.length ? html`${page.items.map((c) => html`<tr data-id="${c.id}"><td><a href="#qa/${c.id}">#${c.id}</a></td>
    <td>${time(c.received_at)}</td><td>${c.caller_number}</td><td>${c.unit}</td><td>${c.category}</td>
    <td>${c.recording_duration_ms ? `${Math.round(c.recording_duration_ms / 1000)} 秒` : ""}</td>
    <td>${c.score ?? ""}</td><td>${c.review_status === "reviewed" ? "已评" : c.review_status ? "已预评" : "未评"}${c.recording_deleted ? "（录音已删除）" : ""}</td></tr>`)}`
    : html`<tr><td colspan="8" class="muted">没有符合条件的录音</td></tr>`);
  const from = page.total ? qa.offset + 1 : 0;
  $("#qa-info").textContent = `第 ${from}–${qa.offset + page.items.length} 条，共 ${page.total} 条`;
  $("#qa-prev").disabled = qa.offset === 0;
  $("#qa-next").disabled = qa.offset + PAGE >= page.total;
}
$("#qa-filters").addEventListener("submit", (ev) => { ev.preventDefault(); qa.offset = 0; search(); });
$("#qa-prev").addEventListener("click", () => { qa.offset = Math.max(0, qa.offset - PAGE); search(); });
$("#qa-next").addEventListener("click", () => { qa.offset += PAGE; search(); });
$("#qa-list").addEventListener("click", (ev) => {
  const tr = ev.target.closest("tr[data-id]");
  if (tr && !ev.target.closest("a")) router.go(`#qa/${tr.dataset.id}`);
});

async function open(id) {
  const c = await api(`/api/qa/calls/${id}`);
  qa.call = c;
  $("#qa-detail").hidden = false;
  $("#qa-call-id").textContent = `#${c.id}`;
  $("#qa-meta").textContent = [time(c.received_at), c.caller_number, c.unit, c.category, c.summary].filter(Boolean).join(" · ");
  const audio = $("#qa-audio");
  if (c.recording_url) audio.src = c.recording_url; else audio.removeAttribute("src");
  render($("#qa-transcript"), transcriptView(c));
  let review = null;
  try { review = await api(`/api/qa/calls/${id}/review`); } catch { review = null; }
  if (review) show(review); else clearReview();
  loadSets();
  if (!review) await scoreInBackground(id);  // the card opens at once; the pre-score follows
}

// Word by word (click to seek); a call bridged to a clerk shows both speakers' lines in time
// order, each labelled by the server (来电人 / 坐席).
const wordSpans = (words) => html`${words.map((w) => html`<span class="w" data-start="${w.start_s}">${w.text}</span>`)}`;
function transcriptView(c) {
  const lines = c.dialogue || [];
  if (lines.some((l) => l.speaker === "clerk")) {
    return html`${lines.map((l) => html`<div class="line ${l.speaker}" data-speaker="${l.speaker}"><b class="who" data-start="${l.start_s}">${l.label}</b> ${wordSpans(l.words)}</div>`)}`;
  }
  const words = c.transcript_words || [];
  const pending = c.clerk_transcript_status && c.clerk_transcript_status !== "done"
    ? html`<div class="muted">坐席一侧尚未转写（${vocab.label("transcript_statuses", c.clerk_transcript_status)}）</div>` : "";
  return words.length ? html`${wordSpans(words)}${pending}` : html`<span class="muted">${c.transcript || "（无转写）"}</span>${pending}`;
}

function clearReview() {
  qa.review = null;
  render($("#qa-items"), html``);
  $("#qa-result").textContent = "未评分";
}

// The automatic pre-score runs on the server in the background: the card says how long it has
// been at it, and the button stays disabled until it is done.
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
async function scoreInBackground(id) {
  const button = $("#qa-rescore");
  button.disabled = true;
  try {
    let job = await post(`/api/qa/calls/${id}/review/job`);
    while (job.state === "running") {
      if (qa.call?.id !== id) return;  // another call was opened meanwhile
      $("#qa-progress").textContent = `自动评分中…（已用 ${Math.round(job.elapsed_s)} 秒）`;
      $("#qa-progress").hidden = false;
      await sleep(1000);
      job = await api(`/api/qa/calls/${id}/review/job`);
    }
    if (qa.call?.id !== id) return;
    if (job.state === "failed") throw new Error(job.error || "自动评分失败");
    show(await api(`/api/qa/calls/${id}/review`));
    $("#qa-msg").textContent = "自动评分完成"; $("#qa-msg").className = "ok";
  } catch (err) {
    $("#qa-msg").textContent = `自动评分失败：${err.message}`; $("#qa-msg").className = "error";
  } finally {
    $("#qa-progress").hidden = true;
    button.disabled = false;
  }
}

function evidenceLabel(e) {
  const at = e.start_s != null ? `${e.start_s.toFixed(1)}–${e.end_s.toFixed(1)} 秒 ` : "";
  return `${at}${vocab.label("evidence_kinds", e.kind)}：${e.text}`;
}

function show(r) {
  qa.review = r;
  const final = r.final?.items || {};
  const passed = r.passed === false ? verdict("fail") : r.passed ? verdict("pass") : "待定";
  $("#qa-result").textContent = r.score == null ? "未评分" : `${r.score} 分 · ${passed}${r.status === "reviewed" ? "（已复核）" : "（自动）"}`;
  render($("#qa-items"), html`${r.auto.items.map((it) => {
    const f = final[it.id] || {};
    const chosen = f.verdict || it.verdict;
    return html`<tr data-item="${it.id}" class="${chosen === "fail" ? "fail" : ""} ${it.critical ? "critical" : ""}">
      <td>${it.label}</td><td>${verdict(it.verdict)}<div class="muted">${it.detail}</div></td>
      <td>${it.evidence.map((e) => html`<span class="ev" ${e.start_s != null ? html`data-start="${e.start_s}"` : ""}>${evidenceLabel(e)}</span>`)}</td>
      <td><select name="v-${it.id}">${vocab.items("qa_verdicts").map((v) => html`<option value="${v.code}" ${v.code === chosen ? html`selected` : ""}>${v.label}</option>`)}</select></td>
      <td><input name="n-${it.id}" size="14" value="${f.note || ""}"></td></tr>`;
  })}`);
  $("#qa-review").note.value = r.note || "";
}

function seek(el) {
  const audio = $("#qa-audio");
  audio.currentTime = Number(el.dataset.start);
  audio.play().catch(() => {});
}
$("#qa-items").addEventListener("click", (ev) => { const e = ev.target.closest(".ev[data-start]"); if (e) seek(e); });
$("#qa-transcript").addEventListener("click", (ev) => { const w = ev.target.closest("[data-start]"); if (w) seek(w); });

$("#qa-rescore").addEventListener("click", () => scoreInBackground(qa.call.id));

$("#qa-review").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!qa.review) { $("#qa-msg").textContent = "自动评分尚未完成"; $("#qa-msg").className = "error"; return; }
  const f = ev.target, items = {};
  for (const it of qa.review.auto.items) items[it.id] = { verdict: f[`v-${it.id}`].value, note: f[`n-${it.id}`].value.trim() };
  try {
    show(await send("PUT", `/api/qa/calls/${qa.call.id}/review`, { items, note: f.note.value.trim() }));
    $("#qa-msg").textContent = "评分已保存"; $("#qa-msg").className = "ok";
    search();
  } catch (err) { $("#qa-msg").textContent = `保存失败：${err.message}`; $("#qa-msg").className = "error"; }
});

async function loadSets() {
  const sets = await api("/api/qa/training-sets");
  render($("#qa-train").set_id, options(sets.map((s) => [s.id, s.name])));
  const mine = sets.flatMap((s) => s.items.filter((i) => i.call_id === qa.call.id).map((i) => ({ ...i, set: s.name })));
  render($("#qa-clips"), html`${mine.map((i) => html`<li>${i.set}：${(i.start_ms / 1000).toFixed(1)}–${i.end_ms == null ? "结尾" : `${(i.end_ms / 1000).toFixed(1)} 秒`} ${i.note}
    <a href="${i.clip_url}" download>导出片段（已脱敏）</a></li>`)}`);
}

$("#qa-train").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    let setId = Number(f.set_id.value);
    if (f.new_set.value.trim()) setId = (await post("/api/qa/training-sets", { name: f.new_set.value.trim() })).id;
    if (!setId) throw new Error("请选择或新建案例集");
    const body = { call_id: qa.call.id, start_ms: Math.round(Number(f.start.value || 0) * 1000), note: f.note.value.trim() };
    if (f.end.value) body.end_ms = Math.round(Number(f.end.value) * 1000);
    await post(`/api/qa/training-sets/${setId}/items`, body);
    f.new_set.value = ""; $("#qa-train-msg").textContent = "已加入"; $("#qa-train-msg").className = "ok";
    loadSets();
  } catch (err) { $("#qa-train-msg").textContent = `加入失败：${err.message}`; $("#qa-train-msg").className = "error"; }
});

session.onStart((meta) => {
  const f = $("#qa-filters");
  render(f.owner, options(meta.users.map((u) => [u.id, u.display_name]), "全部"));
  render(f.category, options(vocab.items("categories"), "全部"));
});
router.register("qa", {
  nav: "#nav-qa", allowed: canScore,
  enter: (arg) => { search(); if (arg) open(Number(arg)); },
});
