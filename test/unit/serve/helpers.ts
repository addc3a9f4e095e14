// Test helpers for the server suites: JSON requests over loopback, and server-sent events read back into their
// `data:` payloads.
export interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

export async function call(base: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch { /* text */ }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** The `data:` payloads of an SSE body, in order ("[DONE]" kept as the string). */
export function sseData(text: string): unknown[] {
  return text.split('\n\n').filter((b) => b.trim() !== '').map((block) => {
    const line = block.split('\n').find((l) => l.startsWith('data: '));
    if (line === undefined) throw new Error(`an SSE block without data: ${block}`);
    const d = line.slice(6);
    return d === '[DONE]' ? d : JSON.parse(d);
  });
}
