// The Python package versions an exported TRL project pins in requirements.txt; the config-key fixture
// (test/fixtures/export/trl-config-fields.json) was taken from the sources of these versions.
export const TRL_PINS = {
  trl: '1.9.0',
  transformers: '5.2.0',
  accelerate: '1.14.0',
  peft: '0.20.0',
  datasets: '4.7.0',
  torch: '2.9.1',
} as const;

/** Extra pins by feature. */
export const OPTIONAL_PINS = {
  deepspeed: '0.18.2',
  bitsandbytes: '0.48.2',
  'flash-attn': '2.8.3',
} as const;
