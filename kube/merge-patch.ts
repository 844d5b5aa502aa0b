// The JSON merge patch (RFC 7386) that turns one document into another:
// objects key by key, with null for a key the new one drops; anything else,
// arrays included, whole. A merge patch carries no resourceVersion, so a
// writer that owns a part of an object (the agent, a report's spec) cannot
// conflict with another that writes another part (the operator, its status).
// Written here rather than taken from json-merge-patch (1.0.2, which also
// generates them, with fast-deep-equal): it is these eight lines, tested
// against RFC 7386's own algorithm, and not worth a dependency on every node.

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) if (value !== undefined) patch[key] = mergePatch(from[key], value);
  return patch;
}
