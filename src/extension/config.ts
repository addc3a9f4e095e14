// The extension's settings as typed getters with package.json's defaults (src/shared/ids.ts), so no other file
// reads vscode.workspace.getConfiguration() or repeats a key or a default.
import * as vscode from 'vscode';
import { SETTINGS_SECTION, SETTING_DEFAULTS, settingId, type SettingKey } from '../shared/ids';

export type DeviceSetting = 'recipe' | 'auto' | 'cpu' | 'webgpu' | 'cuda';

export class Config {
  private constructor(private readonly section: vscode.WorkspaceConfiguration) {}

  /** The settings as they are now (for `scope`'s folder when given: outputDir is per folder). */
  static read(scope?: vscode.Uri): Config {
    return new Config(vscode.workspace.getConfiguration(SETTINGS_SECTION, scope));
  }

  /** Does a configuration change touch this setting? */
  static affects(e: vscode.ConfigurationChangeEvent, key: SettingKey): boolean {
    return e.affectsConfiguration(settingId(key));
  }

  private get<K extends SettingKey>(key: K): (typeof SETTING_DEFAULTS)[K] {
    return this.section.get<(typeof SETTING_DEFAULTS)[K]>(key, SETTING_DEFAULTS[key]);
  }

  /** Folder (relative to each workspace folder) also scanned for runs; '' = only the recipes' output_dir. */
  get outputDir(): string {
    return this.get('outputDir');
  }

  /** Device for runs started from the editor; 'recipe' keeps the recipe's `device`. */
  get device(): DeviceSetting {
    return this.get('device') as DeviceSetting;
  }

  /** Milliseconds a stopping worker may take to write its checkpoint before it is killed. */
  get stopTimeoutMs(): number {
    return 1000 * this.get('stopTimeoutSeconds');
  }

  /** Milliseconds one background validation of an open file may run before it is abandoned. */
  get validationTimeLimitMs(): number {
    return 1000 * Math.max(1, this.get('validationTimeLimitSeconds'));
  }

  /** Node.js binary for the worker and CLI commands; '' = the editor's own runtime. */
  get nodePath(): string {
    return this.get('nodePath');
  }

  /** Serving engines whose limits adapter_config.json diagnostics also report (validate --serve). */
  get servingEngines(): readonly string[] {
    const v: unknown = this.get('servingEngines');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  }

  /** Launch on Cluster: the command run in the exported project's folder. */
  get clusterLaunchCommand(): string {
    return this.get('clusterLaunchCommand').trim();
  }

  /** Launch on Cluster: the command repeated to pull the remote run folder ('' = none). */
  get clusterSyncCommand(): string {
    return this.get('clusterSyncCommand').trim();
  }

  /** Seconds between two pulls (at least 5). */
  get clusterSyncSeconds(): number {
    return Math.max(5, this.get('clusterSyncSeconds'));
  }
}
