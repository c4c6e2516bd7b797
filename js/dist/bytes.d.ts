/** utf8 encodes s as UTF-8. */
export declare function utf8(s: string): Uint8Array;
/** fromUtf8 decodes b as UTF-8, replacing invalid sequences with U+FFFD. */
export declare function fromUtf8(b: Uint8Array): string;
/** concat joins chunks whose lengths add up to total into one array. */
export declare function concat(chunks: readonly Uint8Array[], total?: number): Uint8Array;
/** equalBytes reports whether a and b hold the same bytes. */
export declare function equalBytes(a: Uint8Array, b: Uint8Array): boolean;
/**
 * toBytes views the data of a binary WebSocket message as bytes, or
 * returns undefined for anything else (a Blob, say).
 */
export declare function toBytes(data: unknown): Uint8Array | undefined;
