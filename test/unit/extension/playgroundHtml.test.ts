// The Playground webview's HTML and manifest entries: the dashboard's strict CSP (nonce script, bundled files only),
// the palette command, "Try in Playground" on runs/adapters/checkpoints, and the panel restored after a reload.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertStrictPage, ext, join, webview } from './webviewHtml';
import { playgroundHtml } from '../../../src/extension/playground/html';


describe('playground HTML and manifest', () => {
  it('has a strict CSP with the script nonce and loads only the bundled files', () => {
    const html = playgroundHtml(webview, ext, join);
    const nonce = assertStrictPage(html, 'playground');
    assert.notEqual(/nonce-([A-Za-z0-9]+)/.exec(playgroundHtml(webview, ext, join))?.[1], nonce, 'a new nonce each load');
  });

  it('contributes Open Playground, Try in Playground on runs/adapters/checkpoints, and the panel restore', () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as {
      activationEvents: string[]; contributes: { commands: { command: string; title: string; category: string }[]; menus: Record<string, { command: string; when?: string }[]> };
    };
    const titles = Object.fromEntries(pkg.contributes.commands.map((c) => [c.command, `${c.category}: ${c.title}`]));
    assert.equal(titles['peftStudio.openPlayground'], 'PEFT: Open Playground');
    assert.equal(titles['peftStudio.tryInPlayground'], 'PEFT: Try in Playground');
    const when = pkg.contributes.menus['view/item/context']!.find((m) => m.command === 'peftStudio.tryInPlayground')?.when ?? '';
    for (const ctx of ['peftStudio.run completed adapter', 'peftStudio.adapter', 'peftStudio.checkpoint']) {
      // the when clause's regexes / equalities, evaluated as VS Code does for these context values
      const ok = /viewItem =~ \/\^peftStudio\\\.run \.\*\\badapter\\b\//.test(when) && /^peftStudio\.run .*\badapter\b/.test(ctx)
        || (when.includes('viewItem == peftStudio.adapter') && ctx === 'peftStudio.adapter')
        || (when.includes('viewItem =~ /^peftStudio\\.checkpoint/') && /^peftStudio\.checkpoint/.test(ctx));
      assert.ok(ok, `${ctx} gets Try in Playground (${when})`);
    }
    assert.ok(pkg.activationEvents.includes('onWebviewPanel:peftStudio.playground'));
  });
});
