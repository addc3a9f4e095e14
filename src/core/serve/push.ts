// Applies a registry adapter's route to a running server: loads the versions it names (as NAME@vN) that the server
// lacks, then sets the route NAME through POST /v1/routes (one request, so the new weights apply at once).
import { InputError } from '../errors';
import { type RegistryState, routeOf, servedName, versionDir } from './registry';

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
  if (!res.ok) {
    let msg = text;
    try {
      msg = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch { /* plain text */ }
    throw new InputError('serve-remote', `the server refused ${pathName}: ${msg}`);
  }
  try {
    return JSON.parse(text);
  } catch {
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
