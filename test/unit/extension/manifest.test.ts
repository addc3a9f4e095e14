// package.json's contributions against CONTRACTS.md §5 and the command table: ids, titles, category,
// menus that name real commands, the activity-bar container with its views, and settings.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMAND_IDS, SETTING_DEFAULTS, TRAINING_CONTEXT_KEY, VIEW_IDS, settingId, type SettingKey } from '../../../src/shared/ids';

interface Manifest {
  name: string;
  publisher: string;
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string; category: string; enablement?: string }[];
    menus: Record<string, { command: string; when?: string }[]>;
    viewsContainers: { activitybar: { id: string; title: string; icon: string }[] };
    views: Record<string, { id: string; type?: string; name: string }[]>;
    configuration: { properties: Record<string, { default: unknown }> };
  };
}

const root = path.resolve(__dirname, '../../..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;
const c = manifest.contributes;

describe('extension manifest', () => {
  it('contributes the contract commands under category PEFT with their exact titles', () => {
    const byId = new Map(c.commands.map((x) => [x.command, x]));
    const required: Record<string, string> = {
      'peftStudio.newProject': 'New Adapter Project',
      'peftStudio.train': 'Train Adapter',
      'peftStudio.stop': 'Stop Training',
      'peftStudio.resume': 'Resume Training',
      'peftStudio.openDashboard': 'Open Training Dashboard',
      'peftStudio.count': 'Count Trainable Parameters',
      'peftStudio.estimate': 'Estimate Training Memory',
      'peftStudio.compareRuns': 'Compare Runs',
      'peftStudio.openDemo': 'Open Demo Project',
    };
    for (const [id, title] of Object.entries(required)) assert.equal(byId.get(id)?.title, title, id);
    for (const x of c.commands) {
      assert.equal(x.category, 'PEFT', x.command);
      assert.match(x.command, /^peftStudio\.[a-zA-Z]+$/);
    }
  });

  it('the shared command ids (which type the command table) are exactly the contributed commands', () => {
    assert.deepEqual(Object.values(COMMAND_IDS).sort(), c.commands.map((x) => x.command).sort());
  });

  it('the context key the run manager sets is the one the manifest\'s when clauses test', () => {
    const whens = [...Object.values(c.menus).flat().map((m) => m.when ?? ''), ...c.commands.map((x) => x.enablement ?? '')];
    assert.ok(whens.some((w) => w.includes(TRAINING_CONTEXT_KEY)));
  });

  it('every menu entry names a contributed command', () => {
    const ids = new Set(c.commands.map((x) => x.command));
    let entries = 0;
    for (const [menu, items] of Object.entries(c.menus)) {
      for (const item of items) {
        assert.ok(ids.has(item.command), `${menu}: ${item.command}`);
        entries++;
      }
    }
    assert.ok(c.menus['explorer/context']?.some((m) => m.command === 'peftStudio.train' && /peft-train\.yaml/.test(m.when ?? '')));
    assert.ok(c.menus['editor/title']?.some((m) => m.command === 'peftStudio.train'));
    assert.ok(entries > 20);
  });

  it('has the PEFT Studio activity-bar container with the dashboard webview view and the runs tree', () => {
    const container = c.viewsContainers.activitybar.find((x) => x.id === VIEW_IDS.container);
    assert.equal(container?.title, 'PEFT Studio');
    assert.ok(fs.existsSync(path.join(root, container?.icon ?? 'missing')), 'icon file exists');
    const views = c.views['peftStudio'] ?? [];
    assert.deepEqual(views.map((v) => [v.id, v.type ?? 'tree']), [[VIEW_IDS.dashboard, 'webview'], [VIEW_IDS.runs, 'tree']]);
    assert.ok(manifest.activationEvents.includes('onView:peftStudio.dashboard'));
  });

  it('restores the dashboard panel after a reload, and shows the Runs view on first use', () => {
    const src = fs.readFileSync(path.join(root, 'src/extension/dashboard/dashboardView.ts'), 'utf8');
    assert.match(src, /registerWebviewPanelSerializer\(DashboardViewProvider\.panelType/);
    assert.match(src, /static readonly panelType = VIEW_IDS\.dashboardPanel;/);
    assert.ok(manifest.activationEvents.includes(`onWebviewPanel:${VIEW_IDS.dashboardPanel}`), 'the serializer needs its activation event');
    const runs = (c.views['peftStudio'] ?? []).find((v) => v.id === 'peftStudio.runs') as { visibility?: string } | undefined;
    assert.equal(runs?.visibility, undefined, 'the Runs view is open on first use');
    assert.ok(c.menus['view/title']?.some((m) => m.command === 'peftStudio.openDashboard' && m.when === 'view == peftStudio.dashboard'));
  });

  it('contributes no JSON schema validation: the validator is the one source of adapter_config.json diagnostics (no duplicates)', () => {
    assert.equal((c as { jsonValidation?: unknown }).jsonValidation, undefined);
  });

  it('contributes the Get Started walkthrough: demo → train → dashboard → adapter → export, each step with its command and its page', () => {
    const w = (c as unknown as { walkthroughs: { id: string; steps: { id: string; description: string; media: { markdown: string }; completionEvents: string[] }[] }[] }).walkthroughs;
    assert.equal(w.length, 1);
    assert.deepEqual(w[0]!.steps.map((s) => s.id), ['openDemo', 'train', 'dashboard', 'tryAdapter', 'export']);
    const ids = new Set(c.commands.map((x) => x.command));
    for (const s of w[0]!.steps) {
      assert.ok(fs.existsSync(path.join(root, s.media.markdown)), s.media.markdown);
      const linked = [...s.description.matchAll(/\(command:([\w.]+)\)/g)].map((m) => m[1]!);
      assert.ok(linked.length > 0 && linked.every((x) => ids.has(x)), `${s.id}: ${linked.join(', ')}`);
      for (const e of s.completionEvents) if (e.startsWith('onCommand:')) assert.ok(ids.has(e.slice('onCommand:'.length)), e);
    }
    const src = fs.readFileSync(path.join(root, 'src/extension/dashboard/dashboardHost.ts'), 'utf8');
    assert.match(src, new RegExp(`WALKTHROUGH = '${manifest.publisher}\\.${manifest.name}#${w[0]!.id}'`), 'the dashboard opens this walkthrough');
  });

  it('declares exactly the settings the extension reads, with the same defaults', () => {
    const keys = Object.keys(SETTING_DEFAULTS) as SettingKey[];
    assert.deepEqual(keys.map(settingId).sort(), Object.keys(c.configuration.properties).sort());
    for (const k of keys) assert.deepEqual(c.configuration.properties[settingId(k)]?.default, SETTING_DEFAULTS[k], k);
    assert.equal(SETTING_DEFAULTS.outputDir, 'runs');
  });
});
