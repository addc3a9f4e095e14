// The extension's command ids, view ids and setting keys (with package.json's defaults), in one place: src/extension
// uses them and test/unit/extension/manifest.test.ts checks them against package.json's contributions.

/** Every command the extension contributes and registers. */
export const COMMAND_IDS = {
  newProject: 'peftStudio.newProject',
  openDemo: 'peftStudio.openDemo',
  train: 'peftStudio.train',
  sweep: 'peftStudio.sweep',
  stop: 'peftStudio.stop',
  resume: 'peftStudio.resume',
  openDashboard: 'peftStudio.openDashboard',
  count: 'peftStudio.count',
  estimate: 'peftStudio.estimate',
  compareRuns: 'peftStudio.compareRuns',
  refreshRuns: 'peftStudio.refreshRuns',
  showRunInDashboard: 'peftStudio.showRunInDashboard',
  resumeFromHere: 'peftStudio.resumeFromHere',
  deleteRun: 'peftStudio.deleteRun',
  openAdapterFolder: 'peftStudio.openAdapterFolder',
  showLog: 'peftStudio.showLog',
  exportForCluster: 'peftStudio.exportForCluster',
  launchOnCluster: 'peftStudio.launchOnCluster',
  inspectDataset: 'peftStudio.inspectDataset',
  openPlayground: 'peftStudio.openPlayground',
  tryInPlayground: 'peftStudio.tryInPlayground',
  startAdapterServer: 'peftStudio.startAdapterServer',
  stopAdapterServer: 'peftStudio.stopAdapterServer',
  showAdapterServerLog: 'peftStudio.showAdapterServerLog',
  registerAdapterVersion: 'peftStudio.registerAdapterVersion',
  promoteAdapterVersion: 'peftStudio.promoteAdapterVersion',
  rollbackAdapterVersion: 'peftStudio.rollbackAdapterVersion',
  exportAdapter: 'peftStudio.exportAdapter',
} as const;

export type CommandId = (typeof COMMAND_IDS)[keyof typeof COMMAND_IDS];

export const VIEW_IDS = {
  container: 'peftStudio',
  dashboard: 'peftStudio.dashboard',
  dashboardPanel: 'peftStudio.dashboardPanel',
  runs: 'peftStudio.runs',
} as const;

/** The `when`-clause context key that is true while a run trains. */
export const TRAINING_CONTEXT_KEY = 'peftStudio.training';

export const SETTINGS_SECTION = 'peftStudio';

/** The settings (keys under SETTINGS_SECTION) with the defaults package.json declares. */
export const SETTING_DEFAULTS = {
  outputDir: 'runs',
  device: 'recipe',
  stopTimeoutSeconds: 30,
  nodePath: '',
  servingEngines: [] as readonly string[],
  clusterLaunchCommand: 'sky launch -c peft sky.yaml',
  clusterSyncCommand: 'rsync -az peft:sky_workdir/runs/ runs/',
  clusterSyncSeconds: 30,
  validationTimeLimitSeconds: 15,
} as const;

export type SettingKey = keyof typeof SETTING_DEFAULTS;

/** `peftStudio.outputDir` etc., as package.json and affectsConfiguration() spell them. */
export function settingId(key: SettingKey): string {
  return `${SETTINGS_SECTION}.${key}`;
}
