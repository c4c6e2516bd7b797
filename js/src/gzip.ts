// The gzip transfer filter ('g'), on the Compression Streams API that
// browsers and Node.js both have.
//
// teleport v3.0 ends every gzip stream with a sync flush (00 00 ff ff) and
// no final block or trailer, which DecompressionStream('gzip') refuses as
// truncated. Such a stream is read as raw deflate after its gzip header,
// closed by an empty final stored block (01 00 00 ff ff). A complete
// stream (what this filter and teleport's Go peers write) is read as gzip,
// its CRC checked.

import { concat } from './bytes.js';
import { registerFilter, type XferFilter } from './xfer.js';

/** GzipError reports a gzip stream that cannot be read, or is too large. */
export class GzipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GzipError';
  }
}

const SYNC_FLUSH_TAIL = [0x00, 0x00, 0xff, 0xff];
const FINAL_EMPTY_BLOCK = new Uint8Array([0x01, 0x00, 0x00, 0xff, 0xff]);

/** The gzip filter, id 'g' (0x67), as registered by default. */
export const gzipFilter: XferFilter = {
  id: 0x67,
  name: 'gzip',
  onPack: (data) => pipeThrough(new CompressionStream('gzip'), [data], Infinity),
  onUnpack: gunzip,
};

registerFilter(gzipFilter);

/**
 * gunzip inflates a gzip stream, complete or ended by a sync flush, and
 * throws a GzipError rather than produce more than limit bytes.
 */
export async function gunzip(data: Uint8Array, limit: number): Promise<Uint8Array> {
  const bodyAt = headerLength(data);
  const n = data.length;
  const syncFlushed = n - bodyAt >= 4 && SYNC_FLUSH_TAIL.every((b, i) => data[n - 4 + i] === b);
  try {
    if (syncFlushed) {
      return await pipeThrough(new DecompressionStream('deflate-raw'), [data.subarray(bodyAt), FINAL_EMPTY_BLOCK], limit);
    }
    return await pipeThrough(new DecompressionStream('gzip'), [data], limit);
  } catch (err) {
    if (err instanceof GzipError) {
      throw err;
    }
    throw new GzipError(`gzip: ${(err as Error).message}`);
  }
}

/** headerLength returns the length of the gzip header at the start of b. */
function headerLength(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8) {
    throw new GzipError('gzip: not a gzip stream');
  }
  const flags = b[3];
  let at = 10;
  if (flags & 4) {
    // FEXTRA: a little-endian length, then that many bytes.
    if (at + 2 > b.length) throw new GzipError('gzip: truncated header');
    at += 2 + (b[at] | (b[at + 1] << 8));
  }
  for (const bit of [8, 16]) {
    // FNAME, FCOMMENT: zero-terminated.
    if (flags & bit) {
      const end = b.indexOf(0, at);
      if (end < 0) throw new GzipError('gzip: truncated header');
      at = end + 1;
    }
  }
  if (flags & 2) {
    at += 2; // FHCRC
  }
  if (at > b.length) {
    throw new GzipError('gzip: truncated header');
  }
  return at;
}

/**
 * pipeThrough feeds chunks through a (de)compression stream and collects
 * its output, stopping with a GzipError once it passes limit bytes.
 */
async function pipeThrough(
  stream: CompressionStream | DecompressionStream,
  chunks: Uint8Array[],
  limit: number,
): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const writing = (async () => {
    for (const c of chunks) {
      await writer.write(c as Uint8Array<ArrayBuffer>);
    }
    await writer.close();
  })();
  writing.catch(() => {}); // a failure shows on the readable side too
  const reader = stream.readable.getReader();
  const out: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new GzipError(`gzip: inflates past the size limit of ${limit} bytes`);
    }
    out.push(value);
  }
  await writing;
  return concat(out, total);
}
