// QA view (质检): search recordings, the automatic pre-scores with their evidence (click → seek),
// confirm or override each item, add to a training set, export a masked clip. Reuses panel.js's
// globals ($, $$, esc, api, state, time, STATUS) and adds its own route on top of panel.js's.
"use strict";
const VERDICT = { pass: "合格", fail: "不合格", na: "不适用", unknown: "待人工" };
const qa = { offset: 0, call: null, review: null };
const QA_PAGE = 50;
const canScore = () => state.meta?.permissions.includes("score_calls");

// panel.js's route() knows only its own views: show ours for #qa, leave the rest to it.
const panelRoute = route;
route = function () {  // eslint-disable-line no-global-assign
  $("#nav-qa").hidden = !canScore();
  const [view, arg] = location.hash.slice(1).split("/");
  if (view !== "qa" || !canScore()) return panelRoute();
  for (const v of $$(".view")) v.hidden = v.id !== "view-qa";
  for (const a of $$("nav a")) a.classList.toggle("active", a.dataset.view === "qa");
  qaFill();
  qaSearch();
  if (arg) qaOpen(Number(arg));
};
window.addEventListener("hashchange", () => { if (location.hash.startsWith("#qa")) route(); });

function qaFill() {
  const f = $("#qa-filters");
  if (f.dataset.filled) return;
  f.owner.innerHTML = '<option value="">全部</option>' + state.meta.users.map((u) => `<option value="${u.id}">${esc(u.display_name)}</option>`).join("");
  f.category.innerHTML = '<option value="">全部</option>' + state.meta.categories.map((c) => `<option>${esc(c)}</option>`).join("");
  f.dataset.filled = "1";
}

async function qaSearch() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("#qa-filters"))) {
    if (!v) continue;
    if (k === "since") q.set(k, new Date(`${v}T00:00:00`).toISOString());
    else if (k === "until") q.set(k, new Date(new Date(`${v}T00:00:00`).getTime() + 86400000).toISOString());
    else q.set(k, v);
  }
  q.set("limit", QA_PAGE); q.set("offset", qa.offset);
  const page = await api(`/api/qa/calls?${q}`);
  $("#qa-list tbody").innerHTML = page.items.map((c) => `<tr data-id="${c.id}"><td><a href="#qa/${c.id}">#${c.id}</a></td>
    <td>${esc(time(c.received_at))}</td><td>${esc(c.caller_number)}</td><td>${esc(c.unit)}</td><td>${esc(c.category)}</td>
    <td>${c.recording_duration_ms ? Math.round(c.recording_duration_ms / 1000) + " 秒" : ""}</td>
    <td>${c.score ?? ""}</td><td>${c.review_status === "reviewed" ? "已评" : c.review_status ? "已预评" : "未评"}${c.recording_deleted ? "（录音已删除）" : ""}</td></tr>`).join("")
    || '<tr><td colspan="8" class="muted">没有符合条件的录音</td></tr>';
  const from = page.total ? qa.offset + 1 : 0;
  $("#qa-info").textContent = `第 ${from}–${qa.offset + page.items.length} 条，共 ${page.total} 条`;
  $("#qa-prev").disabled = qa.offset === 0;
  $("#qa-next").disabled = qa.offset + QA_PAGE >= page.total;
}
$("#qa-filters").addEventListener("submit", (ev) => { ev.preventDefault(); qa.offset = 0; qaSearch(); });
$("#qa-prev").onclick = () => { qa.offset = Math.max(0, qa.offset - QA_PAGE); qaSearch(); };
$("#qa-next").onclick = () => { qa.offset += QA_PAGE; qaSearch(); };
$("#qa-list").addEventListener("click", (ev) => { const tr = ev.target.closest("tr[data-id]"); if (tr && !ev.target.closest("a")) location.hash = `#qa/${tr.dataset.id}`; });

async function qaOpen(id) {
  const c = await api(`/api/qa/calls/${id}`);
  qa.call = c;
  $("#qa-detail").hidden = false;
  $("#qa-call-id").textContent = `#${c.id}`;
  $("#qa-meta").textContent = [time(c.received_at), c.caller_number, c.unit, c.category, c.summary].filter(Boolean).join(" · ");
  const audio = $("#qa-audio");
  if (c.recording_url) audio.src = c.recording_url; else audio.removeAttribute("src");
  const words = c.transcript_words || [];
  $("#qa-transcript").innerHTML = words.length ? words.map((w) => `<span class="w" data-start="${w.start_s}">${esc(w.text)}</span>`).join("")
    : `<span class="muted">${esc(c.transcript) || "（无转写）"}</span>`;
  let review;
  try { review = await api(`/api/qa/calls/${id}/review`); } catch { review = await api(`/api/qa/calls/${id}/review`, { method: "POST" }); }
  qaRender(review);
  qaSets();
}

function evidenceLabel(e) {
  const at = e.start_s != null ? `${e.start_s.toFixed(1)}–${e.end_s.toFixed(1)} 秒 ` : "";
  const who = { prompt: "系统提示音", agent_words: "坐席", caller_words: "来电人", gap: "静默", timestamps: "时间" }[e.kind] || e.kind;
  return `${at}${who}：${e.text}`;
}

function qaRender(r) {
  qa.review = r;
  const final = r.final?.items || {};
  $("#qa-result").textContent = r.score == null ? "未评分" : `${r.score} 分 · ${r.passed === false ? "不合格" : r.passed ? "合格" : "待定"}${r.status === "reviewed" ? "（已复核）" : "（自动）"}`;
  $("#qa-items").innerHTML = r.auto.items.map((it) => {
    const f = final[it.id] || {};
    const chosen = f.verdict || it.verdict;
    return `<tr data-item="${it.id}" class="${chosen === "fail" ? "fail" : ""} ${it.critical ? "critical" : ""}">
      <td>${esc(it.label)}</td><td>${VERDICT[it.verdict]}<div class="muted">${esc(it.detail)}</div></td>
      <td>${it.evidence.map((e) => `<span class="ev"${e.start_s != null ? ` data-start="${e.start_s}"` : ""}>${esc(evidenceLabel(e))}</span>`).join("")}</td>
      <td><select name="v-${it.id}">${Object.entries(VERDICT).map(([k, v]) => `<option value="${k}"${k === chosen ? " selected" : ""}>${v}</option>`).join("")}</select></td>
      <td><input name="n-${it.id}" size="14" value="${esc(f.note || "")}"></td></tr>`;
  }).join("");
  $("#qa-review").note.value = r.note || "";
}

function seek(el) {
  const audio = $("#qa-audio");
  audio.currentTime = Number(el.dataset.start);
  audio.play().catch(() => {});
}
$("#qa-items").addEventListener("click", (ev) => { const e = ev.target.closest(".ev[data-start]"); if (e) seek(e); });
$("#qa-transcript").addEventListener("click", (ev) => { const w = ev.target.closest("[data-start]"); if (w) seek(w); });

$("#qa-rescore").onclick = async () => {
  qaRender(await api(`/api/qa/calls/${qa.call.id}/review`, { method: "POST" }));
  $("#qa-msg").textContent = "已重新自动评分"; $("#qa-msg").className = "ok";
};

$("#qa-review").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target, items = {};
  for (const it of qa.review.auto.items) items[it.id] = { verdict: f[`v-${it.id}`].value, note: f[`n-${it.id}`].value.trim() };
  try {
    qaRender(await api(`/api/qa/calls/${qa.call.id}/review`, { method: "PUT", body: JSON.stringify({ items, note: f.note.value.trim() }) }));
    $("#qa-msg").textContent = "评分已保存"; $("#qa-msg").className = "ok";
    qaSearch();
  } catch (err) { $("#qa-msg").textContent = `保存失败：${err.message}`; $("#qa-msg").className = "error"; }
});

async function qaSets() {
  const sets = await api("/api/qa/training-sets");
  $("#qa-train").set_id.innerHTML = sets.map((s) => `<option value="${s.id}">${esc(s.name)}</option>`).join("");
  const mine = sets.flatMap((s) => s.items.filter((i) => i.call_id === qa.call.id).map((i) => ({ ...i, set: s.name })));
  $("#qa-clips").innerHTML = mine.map((i) => `<li>${esc(i.set)}：${(i.start_ms / 1000).toFixed(1)}–${i.end_ms == null ? "结尾" : (i.end_ms / 1000).toFixed(1) + " 秒"} ${esc(i.note)}
    <a href="${i.clip_url}" download>导出片段（已脱敏）</a></li>`).join("");
}

$("#qa-train").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    let setId = Number(f.set_id.value);
    if (f.new_set.value.trim()) setId = (await api("/api/qa/training-sets", { method: "POST", body: JSON.stringify({ name: f.new_set.value.trim() }) })).id;
    if (!setId) throw new Error("请选择或新建案例集");
    const body = { call_id: qa.call.id, start_ms: Math.round(Number(f.start.value || 0) * 1000), note: f.note.value.trim() };
    if (f.end.value) body.end_ms = Math.round(Number(f.end.value) * 1000);
    await api(`/api/qa/training-sets/${setId}/items`, { method: "POST", body: JSON.stringify(body) });
    f.new_set.value = ""; $("#qa-train-msg").textContent = "已加入"; $("#qa-train-msg").className = "ok";
    qaSets();
  } catch (err) { $("#qa-train-msg").textContent = `加入失败：${err.message}`; $("#qa-train-msg").className = "error"; }
});
