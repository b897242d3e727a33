// The vocabulary as /api/meta serves it (`vocab`): every code the panel shows and its label. The
// panel keeps no copy of these lists; modules ask here.

const groups = new Map();

export function load(vocab) {
  groups.clear();
  for (const [name, value] of Object.entries(vocab || {})) groups.set(name, value);
}

// [{code, label}] of a group, in display order.
export const items = (group) => (Array.isArray(groups.get(group)) ? groups.get(group) : []);
export const codes = (group) => items(group).map((x) => (typeof x === "string" ? x : x.code));
export const includes = (group, code) => codes(group).includes(code);
export const raw = (group) => groups.get(group);

// The label of a code; an unknown code shows as itself (or `fallback` when given).
export function label(group, code, fallback) {
  const hit = items(group).find((x) => x.code === code);
  return hit ? hit.label : fallback !== undefined ? fallback : code ?? "";
}
