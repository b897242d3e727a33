// Stamps performance.now() when a call.ringing websocket message arrives (window.__arrived) and when
// the board adds that call's li#call-N row (window.__rowAt). Injected before the panel's scripts by
// bench/board_render.py and tests/browser/test_ledger_pages.py.
window.__arrived = {}; window.__rowAt = {};
const NativeWS = window.WebSocket;
window.WebSocket = class extends NativeWS {
  constructor(...args) {
    super(...args);
    // registered before the panel assigns onmessage, so it runs first for every message
    this.addEventListener("message", (m) => {
      const ev = JSON.parse(m.data);
      if (ev.type === "call.ringing") window.__arrived[ev.data.call_id] = performance.now();
    });
  }
};
new MutationObserver((records) => {
  const now = performance.now();
  for (const r of records) for (const n of r.addedNodes) {
    if (n.id && n.id.startsWith("call-") && !(n.id in window.__rowAt)) window.__rowAt[n.id.slice(5)] = now;
  }
}).observe(document, { childList: true, subtree: true });
