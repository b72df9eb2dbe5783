import { z } from 'zod';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';

/** The one error shape every route answers with. */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable machine-readable code, e.g. not_found, invalid_request' }),
      message: z.string().meta({ description: 'Human-readable explanation' }),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** An error meant for the client: its status, code and message are sent as they are. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const errorBody = (code: string, message: string): ErrorBody => ({ error: { code, message } });

/** The first few issues of a zod failure, each with the field it concerns (`where` for the value as a whole). */
export function describeIssues(error: z.ZodError, where: string): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : where}: ${issue.message}`)
    .join('; ');
}

/** Turns a zod failure at the edge into a 400 that names each offending field. */
export function invalidRequest(error: z.ZodError, where: string): HttpError {
  return new HttpError(400, 'invalid_request', `invalid ${where}: ${describeIssues(error, where)}`);
}

/** Parses one part of a request with zod, throwing a 400 HttpError on failure. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidRequest(parsed.error, where);
  return parsed.data;
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json(errorBody('not_found', `no route for ${req.method} ${req.path}`));
};

/** What body-parser and the router attach to their errors (http-errors): `expose` marks a client error. */
interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
  expose?: boolean;
}

/**
 * Last middleware: answers `{ error: { code, message } }`. Client errors keep their message; anything else is a
 * 500 whose details go to the log only (never a stack trace or an internal message in the response).
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    if (error instanceof HttpError) {
      res.set(error.headers).status(error.status).json(errorBody(error.code, error.message));
      return;
    }
    const parserError = error as BodyParserError;
    if (parserError?.type === 'entity.too.large') {
      res.status(413).json(errorBody('payload_too_large', `request body exceeds the ${parserError.limit ?? ''} byte limit`.replace('  ', ' ')));
      return;
    }
    if (parserError?.type === 'entity.parse.failed') {
      res.status(400).json(errorBody('invalid_json', 'request body is not valid JSON'));
      return;
    }
    // Any other client error Express raised before a route ran: an unsupported charset, a body that does not
    // inflate under its Content-Encoding (a zlib error wrapped as a 400 with no `type`), an aborted upload.
    if ((parserError?.type || parserError?.expose) && parserError.status && parserError.status >= 400 && parserError.status < 500) {
      const unsupported = parserError.status === 415;
      res
        .status(parserError.status)
        .json(unsupported
          ? errorBody('unsupported_media_type', 'the request body uses a charset or Content-Encoding this API does not read (send UTF-8 JSON, identity, gzip or deflate)')
          : errorBody('bad_request', 'the request body could not be read (truncated, or not encoded as its Content-Encoding says)'));
      return;
    }
    // Express could not percent-decode a path parameter (`/athletes/%E0%A4%A`): the client's mistake, not ours.
    // Logged as a warning without the path (it may hold the webhook path token) and without a stack.
    if (error instanceof URIError && (error as BodyParserError).status === 400) {
      logger.warn({ method: req.method }, 'request path with a malformed percent-encoding refused');
      res.status(400).json(errorBody('invalid_request', 'the request path holds a malformed percent-encoding (%XX)'));
      return;
    }
    logger.error({ err: error, method: req.method, path: req.path }, 'unhandled error');
    res.status(500).json(errorBody('internal_error', 'internal server error'));
  };
}
