// The live event stream (/api/events websocket) and its dispatcher: modules subscribe to event
// types; one subscriber's failure is reported without starving the others. Owns the link chip.
// Stored events carry a sequence number (`seq`); after any reconnect (ours, the web process's, the
// database's) the stream resumes after the last one seen (`?since=`), and replays are dropped.
import { $ } from "./dom.js";

const handlers = new Map();  // type -> [fn(data, event)]
let socket = null;
let lastSeq = 0;  // the highest sequence number seen (0: none yet)
const seen = new Set();  // recent sequence numbers: a resumed stream repeats a few
const SEEN_MAX = 2000;

// on("call.ringing", (data, ev) => ...); "*" receives every event; "reconnected" after a drop.
export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(fn);
}

// A numbered event seen before is dropped; "stream.position" only tells where the stream stands.
function accept(ev) {
  if (typeof ev.seq === "number") {
    if (seen.has(ev.seq)) return false;
    seen.add(ev.seq);
    if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
    lastSeq = Math.max(lastSeq, ev.seq);
  }
  if (ev.type === "stream.position") {  // a panel that saw nothing yet resumes from here
    if (lastSeq === 0) lastSeq = (ev.data && ev.data.seq) || 0;
    return false;
  }
  return true;
}

export function dispatch(ev) {
  for (const fn of [...(handlers.get(ev.type) || []), ...(handlers.get("*") || [])]) {
    try {
      const r = fn(ev.data || {}, ev);
      if (r && typeof r.catch === "function") r.catch(report);
    } catch (err) { report(err); }
  }
}
// Thrown again outside the loop: it reaches the console (and test's pageerror) as before.
function report(err) { setTimeout(() => { throw err; }); }

export function connect() {
  closeSocket();
  const since = lastSeq > 0 ? `?since=${lastSeq}` : "";
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/events${since}`);
  socket = ws;
  const chip = $("#link-state");
  ws.addEventListener("open", () => { chip.textContent = "实时连接正常"; chip.classList.remove("down"); });
  ws.addEventListener("message", (m) => {
    const ev = JSON.parse(m.data);
    if (accept(ev)) dispatch(ev);
  });
  ws.addEventListener("close", (ev) => {
    if (socket !== ws) return;  // closed on purpose (logout, a new connection)
    if (ev.code === 4401) {  // the login behind it ended (logout elsewhere, password changed, disabled)
      socket = null;
      document.dispatchEvent(new CustomEvent("cc:unauthorized"));
      return;
    }
    chip.textContent = "连接断开，重连中…"; chip.classList.add("down");
    setTimeout(() => {
      if (socket !== ws) return;
      connect();
      dispatch({ type: "reconnected", data: {} });
    }, 2000);
  });
}

export function disconnect() {
  lastSeq = 0;  // logged out: the next session starts from its own state
  seen.clear();
  closeSocket();
}

function closeSocket() {
  const ws = socket;
  socket = null;
  if (ws) ws.close();
}
