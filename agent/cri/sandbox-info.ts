// What a verbose PodSandboxStatus adds to ListPodSandbox's answer: the
// runtime type the sandbox really runs with, and on CRI-O the handler itself
// (CRI-O never fills PodSandbox.runtime_handler).

export interface SandboxDetail {
  runtimeType?: string;
  /** The sandbox's process on the host, where isolation evidence starts (containerd and CRI-O both give it). */
  pid?: number;
  /** The handler as the runtime recorded it, where ListPodSandbox does not carry it (CRI-O). */
  handler?: string;
  problem?: string;
}

const CRIO_HANDLER_ANNOTATION = 'io.kubernetes.cri-o.RuntimeHandler';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function crioHandler(info: Json): string | undefined {
  const spec = info['runtimeSpec'];
  const annotations = isObject(spec) ? spec['annotations'] : undefined;
  const handler = isObject(annotations) ? annotations[CRIO_HANDLER_ANNOTATION] : undefined;
  return typeof handler === 'string' ? handler : undefined;
}

function positivePid(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** Reads a verbose PodSandboxStatus answer's info map (containerd and CRI-O both use info["info"]). */
export function parseSandboxDetail(info: Record<string, string>): SandboxDetail {
  const raw = info['info'];
  if (raw === undefined) return { problem: 'verbose PodSandboxStatus has no "info" entry' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { problem: 'verbose PodSandboxStatus "info" is not JSON' };
  }
  if (!isObject(parsed)) return { problem: 'verbose PodSandboxStatus "info" is not a JSON object' };
  const detail: SandboxDetail = {};
  // containerd: the resolved truth, e.g. io.containerd.runc.v2 or io.containerd.kata.v2.
  if (typeof parsed['runtimeType'] === 'string' && parsed['runtimeType'] !== '') detail.runtimeType = parsed['runtimeType'];
  const pid = positivePid(parsed['pid']);
  if (pid !== undefined) detail.pid = pid;
  const handler = crioHandler(parsed);
  if (handler !== undefined) detail.handler = handler;
  if (detail.runtimeType === undefined && detail.handler === undefined) {
    detail.problem = 'verbose PodSandboxStatus names neither a runtime type nor a handler';
  }
  return detail;
}

/** The container's process on the host, from a verbose ContainerStatus answer's info["info"] (CRI-O and containerd both give "pid"). */
export function parseContainerPid(info: Record<string, string>): number | undefined {
  const raw = info['info'];
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return isObject(parsed) ? positivePid(parsed['pid']) : undefined;
  } catch {
    return undefined;
  }
}
