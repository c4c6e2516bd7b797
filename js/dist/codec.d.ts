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
export declare const NIL_CODEC = 0;
/** JSON ('j'): JSON.stringify and JSON.parse over UTF-8. */
export declare const jsonCodec: Codec;
/** String ('s'): a string as UTF-8, bytes as they are; decodes to a string. */
export declare const stringCodec: Codec;
/**
 * registerCodec makes codec known by its id and name, for bodies the
 * server sends and for CodecRef lookups. It throws on id 0, an id that is
 * not one byte, or an id or name already taken.
 */
export declare function registerCodec(codec: Codec): void;
/** getCodec returns the codec registered with id or name, or undefined. */
export declare function getCodec(ref: string | number): Codec | undefined;
/** resolveCodec returns the codec of ref, throwing when it is unknown. */
export declare function resolveCodec(ref: CodecRef): Codec;
