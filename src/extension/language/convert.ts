// Core → VS Code value conversions for the language features: ranges, severities, Problems → Diagnostics.
// Kept free of state so every provider converts the same way.
import * as vscode from 'vscode';
import type { Problem, Range as CoreRange } from '../../core/validate';

export function toRange(r: CoreRange): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}

const SEVERITY: Record<Problem['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/** A Diagnostic that remembers its Problem (for quick fixes). */
export class PeftDiagnostic extends vscode.Diagnostic {
  constructor(readonly problem: Problem) {
    super(toRange(problem.range), problem.message, SEVERITY[problem.severity]);
    this.source = 'PEFT Studio';
    this.code = problem.code;
  }
}

export function toDiagnostics(problems: readonly Problem[]): vscode.Diagnostic[] {
  return problems.map((p) => new PeftDiagnostic(p));
}
