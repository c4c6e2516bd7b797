/** A key or value given as text (UTF-8 on the wire) or as raw bytes. */
export type ArgBytes = string | Uint8Array;
/** ArgsInit is what the Args constructor and the pull options accept. */
export type ArgsInit = Args | Iterable<readonly [ArgBytes, ArgBytes]> | Record<string, string>;
/** MetaError reports a malformed percent escape in metadata. */
export declare class MetaError extends Error {
    constructor(message: string);
}
/**
 * Args is packet metadata: key-value pairs in order, keys may repeat.
 * Keys and values are bytes; the string accessors use UTF-8.
 */
export declare class Args {
    #private;
    constructor(init?: ArgsInit);
    /** The number of pairs, repeated keys counted each time. */
    get length(): number;
    /** get returns the first value of key as text, or undefined. */
    get(key: ArgBytes): string | undefined;
    /** getBytes returns the first value of key as bytes, or undefined. */
    getBytes(key: ArgBytes): Uint8Array | undefined;
    /** getAll returns every value of key as text, in order. */
    getAll(key: ArgBytes): string[];
    /** has reports whether key is present. */
    has(key: ArgBytes): boolean;
    /** add appends a pair, keeping the earlier values of key. */
    add(key: ArgBytes, value: ArgBytes): this;
    /** set replaces every value of key by value, where the first one was. */
    set(key: ArgBytes, value: ArgBytes): this;
    /** delete removes every pair of key. */
    delete(key: ArgBytes): this;
    /** entries yields every pair as text, in order. */
    entries(): IterableIterator<[string, string]>;
    /** rawEntries yields every pair as bytes, in order. */
    rawEntries(): IterableIterator<[Uint8Array, Uint8Array]>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
    /**
     * encode returns the wire form, k1=v1&k2=v2, as teleport v3.0 writes it:
     * ASCII letters, digits and `*-._` as they are, every other byte as %XX
     * in upper-case hex (a space is %20), and a pair whose value is empty as
     * its key alone.
     */
    encode(): Uint8Array;
    /** toString returns the wire form as text (it is ASCII). */
    toString(): string;
    /**
     * parse reads a query string: `+` is a space, %XX a byte (either case),
     * a pair without `=` a key with an empty value; empty pairs are skipped.
     * A malformed escape throws a MetaError.
     */
    static parse(query: ArgBytes): Args;
}
