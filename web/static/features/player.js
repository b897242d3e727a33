// The entry page's recording player: play/pause, ±10 s, speed, time, the stereo waveform (caller
// left, agent right) with click-to-seek. Keyboard: Alt+P, Alt+←/→ (bound by the entry page).
import { $ } from "../core/dom.js";

export const audio = $("#e-audio");
const timeListeners = [];
let peaks = null;

const fmt = (s) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}` : "0:00");
export const skip = (ds) => { audio.currentTime = Math.max(0, Math.min((audio.duration || 0), audio.currentTime + ds)); };
export const toggle = () => (audio.paused ? audio.play().catch(() => {}) : audio.pause());
export function seek(s) { audio.currentTime = s; audio.play().catch(() => {}); }
export const onTime = (fn) => { timeListeners.push(fn); };

// Loads a recording (or none); the same one again keeps its position.
export function load(url) {
  if (!url) { audio.removeAttribute("src"); return; }
  if (!audio.src.endsWith(url)) { audio.src = url; drawWave(url); }
}

$("#p-back").addEventListener("click", () => skip(-10));
$("#p-fwd").addEventListener("click", () => skip(10));
$("#p-play").addEventListener("click", toggle);
$("#p-rate").addEventListener("change", (ev) => { audio.playbackRate = Number(ev.target.value); });
audio.addEventListener("play", () => { $("#p-play").textContent = "暂停"; });
audio.addEventListener("pause", () => { $("#p-play").textContent = "播放"; });
audio.addEventListener("loadedmetadata", () => {
  audio.playbackRate = Number($("#p-rate").value);
  $("#p-time").textContent = `${fmt(audio.currentTime)} / ${fmt(audio.duration)}`;
});
audio.addEventListener("timeupdate", () => {
  $("#p-time").textContent = `${fmt(audio.currentTime)} / ${fmt(audio.duration)}`;
  for (const fn of timeListeners) fn(audio.currentTime, audio.paused);
  drawCursor();
});

async function drawWave(url) {
  peaks = null;
  try {
    const buf = await (await fetch(url, { credentials: "same-origin" })).arrayBuffer();
    const ctx = new AudioContext();
    const data = await ctx.decodeAudioData(buf);
    ctx.close();
    const cv = $("#e-wave"), n = cv.width, chans = [...Array(data.numberOfChannels).keys()].map((i) => data.getChannelData(i));
    const step = Math.max(1, Math.floor(data.length / n));
    peaks = Array.from({ length: n }, (_, x) => chans.map((ch) => {
      let m = 0;
      for (let i = x * step; i < Math.min(ch.length, (x + 1) * step); i++) m = Math.max(m, Math.abs(ch[i]));
      return m;
    }));
    drawCursor();
  } catch (err) { console.warn("waveform", err); }
}

function drawCursor() {
  const cv = $("#e-wave"), g = cv.getContext("2d"), h = cv.height;
  g.clearRect(0, 0, cv.width, h);
  if (!peaks) return;
  const colors = ["#1f4e79", "#9bb7d4"];  // caller (left channel), agent (right)
  peaks.forEach((p, x) => p.forEach((m, c) => { g.fillStyle = colors[c] || "#888"; const y = m * (h / 2 - 2); g.fillRect(x, c ? h / 2 : h / 2 - y, 1, y); }));
  if (audio.duration) { g.fillStyle = "#c0392b"; g.fillRect(Math.round(audio.currentTime / audio.duration * cv.width), 0, 2, h); }
}

$("#e-wave").addEventListener("click", (ev) => {
  const cv = ev.currentTarget, r = cv.getBoundingClientRect();
  if (audio.duration) audio.currentTime = (ev.clientX - r.left) / r.width * audio.duration;
});
