/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const Wire = { Varint: 0, Fixed64: 1, Bytes: 2, Fixed32: 5 } as const;
type WireType = (typeof Wire)[keyof typeof Wire];

/** Bytes a varint of `n` takes (0 ≤ n < 2^53). */
function varintSize(n: number): number {
  let size = 1;
  while (n > 127) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

const NANOS_PER_SECOND = 1_000_000_000n;
/** The last second (in 2116) whose nanoseconds {@link ProtoWriter.hrTime} splits into words without a BigInt. */
const MAX_FAST_SECONDS = Math.floor((2 ** 53 - 1) / 1_953_125);

/** True when every character of `s` is ASCII (one UTF-8 byte each). */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The value of a hex digit's character code, either case; 0 for anything else. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return 0;
}

/**
 * An append-only protobuf encoder into one growable buffer: fields are written straight into it, and a nested
 * message's length is filled in when the message ends ({@link begin}/{@link end}), so encoding makes no object per
 * field. Why not protobufjs (which the SDK's OTLP serializer uses): it builds an object tree per span and then a
 * list of write operations per field; `npx nx bench telemetry` measures this writer's encoding of a span at about
 * half of that (docs/benchmarks.md, issue 22).
 *
 * Only what OTLP needs: varints of safe integers, 64-bit two's complement ints, fixed32/fixed64, doubles, strings,
 * bytes and hex ids.
 */
export class ProtoWriter {
  private buf: Buffer;
  /** Bytes written so far. */
  pos = 0;

  /** @param capacity the first buffer's size, in bytes; it doubles as needed. */
  constructor(capacity = 4096) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** A copy of the bytes written. */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** Appends another writer's bytes as they are. */
  append(other: ProtoWriter): void {
    this.ensure(other.pos);
    other.buf.copy(this.buf, this.pos, 0, other.pos);
    this.pos += other.pos;
  }

  tag(field: number, wire: WireType): void {
    this.varint(field * 8 + wire);
  }

  /** A varint of a non-negative safe integer. */
  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (n > 127) {
      // `&` keeps the low 7 bits even above 2^31 (ToInt32 is taken modulo 2^32).
      buf[pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** An `int64` field's value: any integer-valued number, taken modulo 2^64 as protobufjs does (negatives in two's complement). */
  int64(n: number): void {
    if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) return this.varint(n);
    let v = BigInt.asUintN(64, BigInt(n));
    this.ensure(10);
    while (v > 127n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  fixed32(n: number): void {
    this.ensure(4);
    this.word(n >>> 0);
  }

  /** A `fixed64` of nanoseconds from an OpenTelemetry `HrTime` ([seconds, nanoseconds]). */
  hrTime(time: readonly [number, number]): void {
    this.ensure(8);
    const seconds = Math.trunc(time[0]);
    const nanos = Math.trunc(time[1]);
    // Until 2116 (and for what the SDK makes), in doubles: 1e9 = 1,953,125 · 2^9 and seconds · 1,953,125 < 2^53,
    // so the two 32-bit words are exact without a BigInt per timestamp.
    if (seconds >= 0 && seconds <= MAX_FAST_SECONDS && nanos >= 0 && nanos < 1e9) {
      const a = seconds * 1_953_125;
      const aHigh = Math.floor(a / 2 ** 23);
      const low = (a - aHigh * 2 ** 23) * 512 + nanos;
      const carry = Math.floor(low / 2 ** 32);
      this.word(low - carry * 2 ** 32);
      this.word(aHigh + carry);
      return;
    }
    const total = BigInt(seconds) * NANOS_PER_SECOND + BigInt(nanos);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, total), this.pos);
    this.pos += 8;
  }

  double(n: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(n, this.pos);
    this.pos += 8;
  }

  /** A string field (UTF-8; a lone surrogate becomes U+FFFD, as protobuf strings must be valid UTF-8). */
  string(field: number, s: string): void {
    // Most of a span's strings are short ASCII (names, keys, routes): copied here, without a call into C++.
    if (s.length < 128 && isAscii(s)) {
      this.tag(field, Wire.Bytes);
      this.ensure(s.length + 1);
      const buf = this.buf;
      let pos = this.pos;
      buf[pos++] = s.length;
      for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i);
      this.pos = pos;
      return;
    }
    const length = Buffer.byteLength(s, 'utf8');
    this.tag(field, Wire.Bytes);
    this.varint(length);
    this.ensure(length);
    this.pos += this.buf.write(s, this.pos, length, 'utf8');
  }

  /** A bytes field. */
  rawBytes(field: number, bytes: Uint8Array): void {
    this.tag(field, Wire.Bytes);
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A bytes field from a hex string (a trace or span id): half its length in bytes, a digit that is not hex read as 0. */
  hex(field: number, hex: string): void {
    const length = hex.length >> 1;
    this.tag(field, Wire.Bytes);
    this.varint(length);
    this.ensure(length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < 2 * length; i += 2)
      buf[pos++] = (hexDigit(hex.charCodeAt(i)) << 4) | hexDigit(hex.charCodeAt(i + 1));
    this.pos = pos;
  }

  /** Starts a nested message (or packed field) in `field`; returns the mark {@link end} needs. */
  begin(field: number): number {
    this.tag(field, Wire.Bytes);
    this.ensure(1);
    // One byte is kept for the length: most of OTLP's nested messages are shorter than 128 bytes.
    return this.pos++;
  }

  /** Ends the message begun at `mark`, writing its length before it (moving it along when the length needs more than a byte). */
  end(mark: number): void {
    const length = this.pos - mark - 1;
    if (length < 128) {
      this.buf[mark] = length;
      return;
    }
    const extra = varintSize(length) - 1;
    this.ensure(extra);
    this.buf.copyWithin(mark + 1 + extra, mark + 1, this.pos);
    const end = this.pos + extra;
    this.pos = mark;
    this.varint(length);
    this.pos = end;
  }

  /** A little-endian 32-bit word (0 ≤ n < 2^32); room already ensured. */
  private word(n: number): void {
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = n & 0xff;
    buf[pos++] = (n >>> 8) & 0xff;
    buf[pos++] = (n >>> 16) & 0xff;
    buf[pos++] = n >>> 24;
    this.pos = pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}
