/**
 * Gemini schemas → JSON Schema for OpenAI-compatible upstreams. Gemini's `Schema` (function
 * `parameters`, `responseSchema`) is an OpenAPI 3.0 subset with upper-case types (`STRING`,
 * `OBJECT`), `nullable`, int64 limits serialised as strings (`"minItems": "1"`) and the
 * Gemini-only `propertyOrdering`; `parametersJsonSchema` / `responseJsonSchema` are JSON Schema
 * already. One walk serves both: on JSON Schema input it changes nothing but upper-case types.
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys whose value is one schema. */
const SCHEMA_KEYS = new Set(['items', 'additionalProperties', 'not', 'contains', 'propertyNames', 'if', 'then', 'else', 'unevaluatedProperties']);
/** Keys whose value is a list of schemas. */
const SCHEMA_LIST_KEYS = new Set(['anyOf', 'oneOf', 'allOf', 'prefixItems']);
/** Keys whose value maps names to schemas. */
const SCHEMA_MAP_KEYS = new Set(['properties', '$defs', 'definitions', 'patternProperties', 'dependentSchemas']);
/** int64 fields that Gemini's JSON carries as strings. */
const INT64_KEYS = new Set(['minItems', 'maxItems', 'minLength', 'maxLength', 'minProperties', 'maxProperties']);
/** Gemini-only keywords with no JSON Schema meaning (strict upstreams reject unknown keywords). */
const DROPPED_KEYS = new Set(['propertyOrdering', 'nullable', 'example']);

function lowerType(type: unknown): unknown {
  if (typeof type === 'string') return type === 'TYPE_UNSPECIFIED' ? undefined : type.toLowerCase();
  if (Array.isArray(type)) return type.map((t) => (typeof t === 'string' ? t.toLowerCase() : t));
  return type;
}

/** `nullable: true` as JSON Schema: `null` joins the type list. */
function withNull(type: unknown): unknown {
  if (type === undefined) return undefined;
  const list = Array.isArray(type) ? type : [type];
  return list.includes('null') ? list : [...list, 'null'];
}

/** A JSON Schema for a Gemini or JSON schema (a new object; the input is not changed). */
export function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (!isObject(schema)) return schema;
  const out: Json = {};
  for (const key in schema) {
    const value = schema[key];
    if (DROPPED_KEYS.has(key)) continue;
    if (key === 'type') {
      const type = lowerType(value);
      if (type !== undefined) out.type = type;
    } else if (SCHEMA_KEYS.has(key)) out[key] = toJsonSchema(value);
    else if (SCHEMA_LIST_KEYS.has(key) && Array.isArray(value)) out[key] = value.map(toJsonSchema);
    else if (SCHEMA_MAP_KEYS.has(key) && isObject(value)) {
      const map: Json = {};
      for (const name in value) map[name] = toJsonSchema(value[name]);
      out[key] = map;
    } else if (INT64_KEYS.has(key) && typeof value === 'string' && /^\d+$/.test(value)) out[key] = Number(value);
    else out[key] = value;
  }
  // Gemini's enum strings carry `format: "enum"`, which JSON Schema does not know.
  if (out.format === 'enum') delete out.format;
  if (schema.nullable === true) {
    const type = withNull(out.type);
    if (type !== undefined) out.type = type;
    else if (Array.isArray(out.anyOf)) out.anyOf = [...out.anyOf, { type: 'null' }];
  }
  return out;
}
