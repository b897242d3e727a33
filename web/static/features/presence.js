// 我的分机 in the header: the user's extension and state (presence vocabulary), which the ring group
// uses for 转人工; and what happens between callers and staff during calls (call.person events):
// a clerk whose phone answered a transfer gets the call's entry opened with the draft so far.
import { api, send } from "../core/api.js";
import { $, html, render } from "../core/dom.js";
import * as events from "../core/events.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";

let mine = null;

function renderLine() {
  const box = $("#presence");
  if (!mine || !session.canEdit()) { box.hidden = true; return; }
  box.hidden = false;
  render(box, html`<label>分机 <input id="my-extension" size="6" maxlength="32" pattern="[0-9A-Za-z+*#._\\-]{1,32}" value="${mine.extension}"></label>
    <select id="my-presence" aria-label="在岗状态">${vocab.items("presence").map((p) => html`<option value="${p.code}" ${p.code === mine.presence ? "selected" : ""}>${p.label}</option>`)}</select>
    <span id="presence-msg" class="error" role="status"></span>`);
}

async function save(patch) {
  try { mine = await send("PUT", "/api/staff/me", patch); renderLine(); }
  catch (err) { renderLine(); $("#presence-msg").textContent = err.message; }
}

$("#presence").addEventListener("change", (ev) => {
  if (ev.target.id === "my-presence") save({ presence: ev.target.value });
  if (ev.target.id === "my-extension") save({ extension: ev.target.value.trim() });
});

events.on("call.person", (d) => {
  const me = session.current()?.username;
  if (d.step === "answered" && me && d.username === me && d.entry_id) location.hash = `#entry/${d.entry_id}`;
  if (mine && d.number === mine.extension && (d.step === "answered" || d.step === "ended")) {
    api("/api/staff/me").then((line) => { mine = line; renderLine(); }).catch(() => {});
  }
});

export const myExtension = () => mine?.extension || "";

session.onStart(async () => {
  try { mine = await api("/api/staff/me"); } catch { mine = null; }
  renderLine();
});
