/**
 * The few checks the Anthropic → chat translation makes. It is strict only about what it must read
 * to route and translate (a field it reads has the wrong type: 400 naming the path, as Anthropic's
 * own API does); everything else a client sends is mapped or dropped.
 */
import { ProxyError, badRequest } from '../../errors.js';

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export const invalid = (path: string, message: string): ProxyError => badRequest(`${path}: ${message}`, 'invalid_request');

export function text(v: unknown, path: string): string {
  if (typeof v !== 'string') throw invalid(path, 'must be a string');
  return v;
}

export function number(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(path, 'must be a number');
  return v;
}
