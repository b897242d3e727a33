// The live event stream (/api/events websocket) and its dispatcher: modules subscribe to event
// types; one subscriber's failure is reported without starving the others. Owns the link chip.
import { $ } from "./dom.js";

const handlers = new Map();  // type -> [fn(data, event)]
let socket = null;

// on("call.ringing", (data, ev) => ...); "*" receives every event; "reconnected" after a drop.
export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(fn);
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
  disconnect();
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/events`);
  socket = ws;
  const chip = $("#link-state");
  ws.addEventListener("open", () => { chip.textContent = "实时连接正常"; chip.classList.remove("down"); });
  ws.addEventListener("message", (m) => dispatch(JSON.parse(m.data)));
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
  const ws = socket;
  socket = null;
  if (ws) ws.close();
}
