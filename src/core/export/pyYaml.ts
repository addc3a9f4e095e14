// YAML for Python readers (PyYAML's safe_load, as TRL, accelerate and SkyPilot use): YAML 1.1 quoting (so "no" stays a
// string, not false) and floats written with a dot and a signed exponent (PyYAML reads 1e-8 as a string).
import { stringify } from 'yaml';

export function pyYaml(value: unknown): string {
  return stringify(value, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false }).replace(
    /^(\s*(?:- )?[^\n:]*: |\s*- )(-?\d+)(?:\.(\d+))?e([-+]?)(\d+)$/gm,
    (_m, pre: string, int: string, frac: string | undefined, sign: string, exp: string) => `${pre}${int}.${frac ?? '0'}e${sign === '' ? '+' : sign}${exp}`,
  );
}
