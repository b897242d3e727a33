// Header chips: the transcription backlog (GET /api/system/status, polled and re-read soon after
// calls end or drafts arrive), and the system alarm: disk space (storage/disk_monitor.py) and the
// database being unreachable (ledger/outbox.py). Alarms are live only; disk alarms are also notices.
import { api } from "../core/api.js";
import { $ } from "../core/dom.js";
import * as events from "../core/events.js";
import * as session from "../core/session.js";

const BACKLOG_POLL_MS = 15000;
let backlogTimer = 0, backlogSoon = 0;

async function loadBacklog() {
  clearTimeout(backlogTimer);
  try {
    const s = await api("/api/system/status");
    const chip = $("#backlog");
    chip.hidden = false;
    chip.textContent = `转写积压 ${s.backlog}` + (s.failed ? ` · 失败 ${s.failed}` : "");
    chip.classList.toggle("warn", !!s.warn);
    if (s.sip) sipState(s.sip);
    speechModel(s.speech_model);
    const q = s.queue ? `；队列 待处理 ${s.queue.todo}，处理中 ${s.queue.doing}` : "";
    chip.title = `排队 ${s.transcripts.queued}，无模型 ${s.transcripts.unavailable}，失败 ${s.failed}；` +
      `实时识别 ${s.live_streams}/${s.live_streams_max}，录音待转写 ${s.files_pending}${q}`;
  } catch (err) { console.warn(err); }
  backlogTimer = setTimeout(loadBacklog, BACKLOG_POLL_MS);
}
function backlogChanged() { clearTimeout(backlogSoon); backlogSoon = setTimeout(loadBacklog, 500); }

// No speech model (missing, incomplete): calls are still answered, by the keypad path, and their
// transcripts wait; the chip stays until the model is installed (callcenter models fetch).
function speechModel(m) {
  const chip = $("#speech-model");
  chip.hidden = !m || m.ok;
  chip.textContent = m && !m.ok ? m.message : "";
  chip.title = m && !m.ok ? m.detail : "";
}

// The SIP registration of each agent (this process's in the status, the others' by event): a
// red chip while a line is not registered, since calls to it cannot arrive.
const lines = new Map();
function sipState(d) {
  const down = !["registered", "direct"].includes(d.state);
  const key = `${d.node}|${d.line ?? ""}`;
  if (down) lines.set(key, d); else lines.delete(key);
  const chip = $("#sip-state"), all = [...lines.values()];
  chip.hidden = all.length === 0;
  chip.textContent = all.length ? `线路未注册（${all.length}）：来电无法接入` : "";
  chip.title = all.map((x) => [x.line, x.registrar, x.status, x.reason].filter(Boolean).join(" ")).join("；");
}
events.on("sip.registration", sipState);

const alarms = new Map();
function systemAlarm(d) {
  const key = d.kind === "disk_space" ? `disk:${d.disk}` : d.kind;
  const cleared = d.kind === "disk_space" ? d.level === "ok" : d.state === "recovered";
  if (cleared) alarms.delete(key);
  else if (d.kind === "disk_space") alarms.set(key, { title: d.title, detail: `${d.path}（阈值 ${d.min_free_mb} MB）`, critical: d.level === "critical" });
  else if (d.kind === "draft_model") alarms.set(key, { title: d.message, detail: d.detail, critical: false });
  else alarms.set(key, { title: d.message, detail: `暂存 ${d.pending ?? 0} 条`, critical: true });
  const chip = $("#disk-alarm"), all = [...alarms.values()];
  chip.hidden = all.length === 0;
  chip.textContent = all.map((a) => a.title).join("；");
  chip.title = all.map((a) => a.detail).join("；");
  chip.classList.toggle("critical", all.some((a) => a.critical));
}

events.on("system.alarm", (d) => { if (["disk_space", "database", "draft_model"].includes(d.kind)) systemAlarm(d); });
for (const type of ["call.answered", "call.ended", "entry.draft_ready"]) events.on(type, backlogChanged);
session.onStart(() => { loadBacklog(); });
