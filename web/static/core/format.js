// Formatting shared by the views.
export const time = (iso) => new Date(iso).toLocaleString("zh-CN", { hour12: false });

// The Chinese half of a "中文 / English" refusal (the English stays in a tooltip).
export const zh = (msg) => String(msg || "").split(/\s*\/\s(?=[A-Za-z])/)[0];

// Dates picked in a filter form as the API's instants: `until` includes its whole day.
export function rangeQuery(form) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) {
    if (!v) continue;
    if (k === "since") q.set(k, new Date(`${v}T00:00:00`).toISOString());
    else if (k === "until") q.set(k, new Date(new Date(`${v}T00:00:00`).getTime() + 86400000).toISOString());
    else q.set(k, v);
  }
  return q;
}
