// An Ollama Modelfile for exported GGUF files: FROM (base GGUF), ADAPTER (LoRA GGUF), TEMPLATE translated from the
// Jinja chat template when it is a known format (ChatML, Llama 3), and PARAMETER stop for its end-of-turn tokens.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ModelfileOptions {
  /** Folder to write `Modelfile` into. */
  dir: string;
  /** Base model: a GGUF file (or a folder Ollama can import). */
  from: string;
  /** LoRA adapter GGUF, if any. */
  adapter?: string;
  chatTemplate: string | null;
  eosToken: string | null;
}

interface Translated { template: string; stops: string[]; format: string }

/** Ollama (Go text/template) equivalents of the chat formats we can recognise in a Jinja template. */
export function translateChatTemplate(jinja: string | null): Translated | null {
  if (jinja === null) return null;
  if (jinja.includes('<|im_start|>') && jinja.includes('<|im_end|>')) {
    return {
      format: 'ChatML',
      template: '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n',
      stops: ['<|im_end|>', '<|im_start|>'],
    };
  }
  if (jinja.includes('<|start_header_id|>') && jinja.includes('<|eot_id|>')) {
    return {
      format: 'Llama 3',
      template: '{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n',
      stops: ['<|eot_id|>', '<|start_header_id|>'],
    };
  }
  return null;
}

/** A path as the Modelfile should name it: relative to its folder when inside it, else absolute. */
function ref(dir: string, p: string): string {
  const rel = path.relative(dir, path.resolve(p));
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(p) : `./${rel}`;
}

/** Writes DIR/Modelfile and returns its path and whether the chat template was translated. */
export function writeModelfile(o: ModelfileOptions): { file: string; templateFormat: string | null } {
  const dir = path.resolve(o.dir);
  fs.mkdirSync(dir, { recursive: true });
  const t = translateChatTemplate(o.chatTemplate);
  const lines = ['# Written by PEFT Studio. Create the model with: ollama create NAME -f Modelfile', `FROM ${ref(dir, o.from)}`];
  if (o.adapter !== undefined) lines.push(`ADAPTER ${ref(dir, o.adapter)}`);
  if (t !== null) lines.push(`TEMPLATE """${t.template}"""`);
  else if (o.chatTemplate !== null) lines.push('# The chat template is not a format PEFT Studio can translate (ChatML, Llama 3); write TEMPLATE by hand.');
  const stops = [...new Set([...(t?.stops ?? []), ...(o.eosToken !== null ? [o.eosToken] : [])])];
  for (const s of stops) lines.push(`PARAMETER stop ${JSON.stringify(s)}`);
  const file = path.join(dir, 'Modelfile');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { file, templateFormat: t?.format ?? null };
}
