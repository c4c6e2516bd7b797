// teleport's TypeScript client: a teleport peer over WebSocket, in browsers
// and in Node.js.
export { Args, MetaError } from './args.js';
export { Client, } from './client.js';
export { NIL_CODEC, getCodec, jsonCodec, registerCodec, stringCodec } from './codec.js';
export { DEFAULT_SIZE_LIMIT, FrameError, FrameReader, MIN_FRAME_SIZE, PROTO_ID, TYPE_PULL, TYPE_PUSH, TYPE_REPLY, decodeFrame, encodeFrame, } from './frame.js';
export { GzipError, gunzip, gzipFilter } from './gzip.js';
export { Code, META_RERROR_KEY, Rerror } from './rerror.js';
export { META_TIMEOUT_KEY } from './client.js';
export { CODE_CANCELED, DEFAULT_STREAM_WINDOW, Stream } from './stream.js';
export { getFilter, registerFilter } from './xfer.js';
