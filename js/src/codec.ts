// Body codecs: how an argument or a reply becomes the bytes of a body.

import { fromUtf8, utf8 } from './bytes.js';

/**
 * Codec encodes and decodes bodies. id is the one-byte id on the wire
 * (a character code, 'j' is 0x6a), name the name a peer knows it by.
 */
export interface Codec {
  readonly id: number;
  readonly name: string;
  marshal(value: unknown): Uint8Array;
  unmarshal(body: Uint8Array): unknown;
}

/** A codec given by itself, by name ("json") or by id. */
export type CodecRef = Codec | string | number;

/** The id of "no codec": an empty body. */
export const NIL_CODEC = 0;

/** JSON ('j'): JSON.stringify and JSON.parse over UTF-8. */
export const jsonCodec: Codec = {
  id: 0x6a,
  name: 'json',
  marshal: (value) => utf8(JSON.stringify(value) ?? 'null'),
  unmarshal: (body) => JSON.parse(fromUtf8(body)),
};

/** String ('s'): a string as UTF-8, bytes as they are; decodes to a string. */
export const stringCodec: Codec = {
  id: 0x73,
  name: 'string',
  marshal: (value) => {
    if (value instanceof Uint8Array) return value;
    if (typeof value === 'string') return utf8(value);
    throw new TypeError(`string codec: cannot encode a ${typeof value}`);
  },
  unmarshal: (body) => fromUtf8(body),
};

const byId = new Map<number, Codec>();
const byName = new Map<string, Codec>();

/**
 * registerCodec makes codec known by its id and name, for bodies the
 * server sends and for CodecRef lookups. It throws on id 0, an id that is
 * not one byte, or an id or name already taken.
 */
export function registerCodec(codec: Codec): void {
  if (!Number.isInteger(codec.id) || codec.id <= 0 || codec.id > 255) {
    throw new RangeError(`registerCodec: invalid id ${codec.id} for codec "${codec.name}"`);
  }
  if (byId.has(codec.id) || byName.has(codec.name)) {
    throw new Error(`registerCodec: id ${codec.id} or name "${codec.name}" is taken`);
  }
  byId.set(codec.id, codec);
  byName.set(codec.name, codec);
}

/** getCodec returns the codec registered with id or name, or undefined. */
export function getCodec(ref: string | number): Codec | undefined {
  return typeof ref === 'number' ? byId.get(ref) : byName.get(ref);
}

/** resolveCodec returns the codec of ref, throwing when it is unknown. */
export function resolveCodec(ref: CodecRef): Codec {
  if (typeof ref === 'object') {
    return ref;
  }
  const c = getCodec(ref);
  if (c === undefined) {
    throw new Error(`unknown codec ${JSON.stringify(ref)}`);
  }
  return c;
}

registerCodec(jsonCodec);
registerCodec(stringCodec);
