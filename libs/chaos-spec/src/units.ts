/**
 * Chaos Mesh's own value rules, ported rather than re-invented, so a file means here what it means on a
 * cluster. Each function names the Go source it follows (chaos-mesh/chaos-mesh at v2.6.7, commit 4e5609fd).
 */

/** The outcome of a rule: the parsed value, or why it is not one (a message naming the fix). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

/** Go's `strconv.ParseUint(s, 10, 64)`: decimal digits only, no sign, no fraction. */
function parseUint(s: string): number | undefined {
  return /^\d+$/.test(s) ? Number(s) : undefined;
}

/**
 * A bandwidth rate in bytes per second. Follows `ConvertUnitToBytes` (api/v1alpha1/networkchaos_webhook.go:67):
 * lower-cased and trimmed, a suffix tbps/gbps/mbps/kbps/bps, the number before it trimmed and parsed as an
 * unsigned integer (so `10 Mbps` is valid and `1.5mbps` is not), each unit 1024 times the next.
 */
export function parseRate(text: string): Parsed<number> {
  const s = text.trim().toLowerCase();
  const units = ['tbps', 'gbps', 'mbps', 'kbps', 'bps'];
  for (let i = 0; i < units.length; i++) {
    const unit = units[i]!;
    if (!s.endsWith(unit)) continue;
    const n = parseUint(s.slice(0, -unit.length).trim());
    if (n === undefined)
      return bad(`${JSON.stringify(text)}: the number before ${unit} must be a whole number, e.g. "10mbps"`);
    return ok(n * 1024 ** (4 - i));
  }
  return bad(`${JSON.stringify(text)} needs a unit: bps, kbps, mbps, gbps or tbps (bytes per second), e.g. "1mbps"`);
}

/**
 * A StressChaos memory size: `N%` of the memory (0–100), or bytes. Follows `MemoryStressor.tryParseBytes`
 * (api/v1alpha1/stresschaos_webhook.go:80): a trailing `%` is `strconv.Atoi` then 0 ≤ p ≤ 100; anything else
 * is docker/go-units `FromHumanSize`, whose pattern is `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$` with
 * decimal (SI) multipliers — so `256M`, `256MB` and `256 mb` are 256 000 000 bytes, and `1GiB` is 10^9 too.
 */
export function parseMemorySize(text: string): Parsed<{ bytes: number } | { percent: number }> {
  if (text.endsWith('%')) {
    const p = /^[+-]?\d+$/.test(text.slice(0, -1)) ? Number(text.slice(0, -1)) : NaN;
    if (Number.isNaN(p)) return bad(`${JSON.stringify(text)}: a percentage must be a whole number, e.g. "50%"`);
    if (p < 0 || p > 100) return bad(`${JSON.stringify(text)}: a percentage must be from 0% to 100%`);
    return ok({ percent: p });
  }
  const m = /^(\d+(?:\.\d+)*) ?([kmgtp])?i?b?$/i.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || Number.isNaN(n))
    return bad(`${JSON.stringify(text)} must be a size such as 256MB, 1GB, or a percentage such as 50%`);
  const scale: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
  return ok({ bytes: Math.round(n * (m[2] ? scale[m[2].toLowerCase()]! : 1)) });
}

/**
 * A percentage field (IOChaos `percent`): an integer from 0 to 100. Follows `Percent.Validate` and
 * `IOChaosSpec.validatePercent` (api/v1alpha1/common_webhook.go, iochaos_webhook.go: "percent field should
 * be in 0-100").
 */
export function parsePercent(value: unknown): Parsed<number> {
  if (typeof value !== 'number' || !Number.isInteger(value))
    return bad(`must be an integer from 0 to 100, got ${JSON.stringify(value)}`);
  if (value < 0 || value > 100) return bad(`must be from 0 to 100, got ${value}`);
  return ok(value);
}

/**
 * A float in a string (NetworkChaos `loss`, `correlation`, …). Follows `FloatStr.Validate` and
 * `FloatStr.Default` (api/v1alpha1/common_webhook.go): Go's `strconv.ParseFloat(s, 32)`, which takes decimal
 * and exponent forms and `inf`/`nan` but no spaces; an empty string takes the field's default (0 here).
 */
export function parseFloatStr(value: unknown): Parsed<number> {
  if (value === '') return ok(0);
  if (typeof value !== 'string') return bad(`must be a number in a string, such as "25", got ${JSON.stringify(value)}`);
  if (!/^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf(inity)?|nan)$/i.test(value)) {
    return bad(`${JSON.stringify(value)} must be a number in a string, such as "25"`);
  }
  return ok(Number(/^[+-]?inf/i.test(value) ? (value.startsWith('-') ? -Infinity : Infinity) : value));
}
