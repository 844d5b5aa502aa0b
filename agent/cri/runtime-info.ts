// What a CRI runtime's verbose Status says about its handlers: the default
// one ("" resolves to it) and each configured one's runtime type. Runtimes
// put this in free-form JSON under info["config"], in their own shapes; a
// shape we do not know is reported as "unknown", never guessed at.

export type InfoFormat = 'containerd' | 'cri-o' | 'unknown';

export interface HandlerConfig {
  name: string;
  runtimeType?: string;
  /** The runtime binary (CRI-O's RuntimePath): on CRI-O the only word that tells runc from runsc. */
  runtimePath?: string;
}

export interface RuntimeHandlers {
  infoFormat: InfoFormat;
  defaultHandler?: string;
  /** Sorted by name. */
  handlers: HandlerConfig[];
  /** Why the format is unknown or incomplete, for the log and the report. */
  problem?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const stringOr = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function parseJson(text: string | undefined): Json | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function handlerList(runtimes: unknown, typeKey: string, pathKey?: string): HandlerConfig[] {
  if (!isObject(runtimes)) return [];
  return Object.entries(runtimes)
    .map(([name, config]) => {
      const runtimeType = isObject(config) ? stringOr(config[typeKey]) : undefined;
      const runtimePath = isObject(config) && pathKey !== undefined ? stringOr(config[pathKey]) : undefined;
      return { name, ...(runtimeType === undefined ? {} : { runtimeType }), ...(runtimePath === undefined ? {} : { runtimePath }) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

function unknown(problem: string): RuntimeHandlers {
  return { infoFormat: 'unknown', handlers: [], problem };
}

/**
 * containerd 1.6, 1.7 and 2.x: info.config.containerd.defaultRuntimeName and
 * info.config.containerd.runtimes.<handler>.runtimeType (JSON tags of its CRI config).
 */
function fromContainerd(config: Json): RuntimeHandlers | undefined {
  const containerd = config['containerd'];
  if (!isObject(containerd) || !('runtimes' in containerd || 'defaultRuntimeName' in containerd)) return undefined;
  const defaultHandler = stringOr(containerd['defaultRuntimeName']);
  const result: RuntimeHandlers = { infoFormat: 'containerd', handlers: handlerList(containerd['runtimes'], 'runtimeType') };
  if (defaultHandler !== undefined) result.defaultHandler = defaultHandler;
  else result.problem = 'containerd did not name its default runtime';
  return result;
}

/**
 * CRI-O: info.config.crio.DefaultRuntime and .Runtimes.<handler>.RuntimeType
 * and .RuntimePath (Go field names: its config struct has no JSON tags).
 * CRI-O defaults to crun.
 */
function fromCrio(config: Json): RuntimeHandlers | undefined {
  const crio = config['crio'];
  if (!isObject(crio) || !('Runtimes' in crio || 'DefaultRuntime' in crio)) return undefined;
  return {
    infoFormat: 'cri-o',
    defaultHandler: stringOr(crio['DefaultRuntime']) ?? 'crun',
    handlers: handlerList(crio['Runtimes'], 'RuntimeType', 'RuntimePath'),
  };
}

/** Reads the handlers out of a verbose Status answer's info map. */
export function parseRuntimeHandlers(info: Record<string, string>): RuntimeHandlers {
  const raw = info['config'];
  if (raw === undefined) return unknown('verbose Status has no "config" entry');
  const config = parseJson(raw);
  if (config === undefined) return unknown('verbose Status "config" is not a JSON object');
  return fromContainerd(config) ?? fromCrio(config) ?? unknown('verbose Status "config" is neither containerd\'s nor CRI-O\'s format');
}
