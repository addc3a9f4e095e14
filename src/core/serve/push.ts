// Applies a registry adapter's route to a running server: loads the versions it names (as NAME@vN) that the server
// lacks, then sets the route NAME through POST /v1/routes (one request, so the new weights apply at once).
import { InputError } from '../errors';
import { type RegistryState, routeOf, servedName, versionDir } from './registry';
import { MAX_JSON_DEPTH, deepNestingAt } from '../util/safeJson';

async function call(url: string, pathName: string, apiKey: string | undefined, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${url.replace(/\/$/, '')}${pathName}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey !== undefined ? { authorization: `Bearer ${apiKey}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    throw new InputError('serve-unreachable', `cannot reach the server at ${url}: ${(e as Error).message}`, { hint: 'Is `peft-studio serve` running there?' });
  }
  const text = await res.text();
  // the answer of a remote server: depth-limited, and its error text cut short
  const json = (): unknown => {
    if (deepNestingAt(text) !== null) throw new InputError('serve-remote', `the server's answer to ${pathName} nests more than ${MAX_JSON_DEPTH} levels deep`);
    return JSON.parse(text);
  };
  if (!res.ok) {
    let msg = text.length > 500 ? `${text.slice(0, 500)}…` : text;
    try {
      const m = (json() as { error?: { message?: unknown } } | null)?.error?.message;
      if (typeof m === 'string') msg = m.slice(0, 500);
    } catch { /* plain text */ }
    throw new InputError('serve-remote', `the server refused ${pathName}: ${msg}`);
  }
  try {
    return json();
  } catch (e) {
    if (e instanceof InputError) throw e;
    return text;
  }
}

/** Makes the server at `url` serve NAME with the registry state's route; returns the route it now has. */
export async function pushRoute(url: string, workspace: string, name: string, state: RegistryState, apiKey?: string): Promise<unknown> {
  const models = (await call(url, '/v1/models', apiKey)) as { data: { id: string }[] };
  const have = new Set(models.data.map((m) => m.id));
  for (const r of state.route) {
    const served = servedName(name, r.version);
    if (!have.has(served)) await call(url, '/v1/load_lora_adapter', apiKey, { lora_name: served, lora_path: versionDir(workspace, name, r.version) });
  }
  return call(url, '/v1/routes', apiKey, { name, targets: routeOf(name, state) });
}
