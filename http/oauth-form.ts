import type { FastifyReply, FastifyRequest } from 'fastify';

/** What the OAuth endpoints share about their requests and error replies (RFC 6749 §5.2). */
export const FORM_TYPE = 'application/x-www-form-urlencoded';
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

export interface Form {
  fields: Record<string, string>;
  duplicate?: string;
}

/** application/x-www-form-urlencoded, keeping note of repeated parameters (RFC 6749 §3.1 forbids them). */
export function parseForm(body: string): Form {
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  let duplicate: string | undefined;
  for (const [k, v] of new URLSearchParams(body)) {
    if (k in fields) duplicate ??= k;
    else fields[k] = v;
  }
  return duplicate === undefined ? { fields } : { fields, duplicate };
}

export function isFormRequest(req: FastifyRequest): boolean {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === FORM_TYPE;
}

export function formOf(req: FastifyRequest): Form {
  const body = req.body as Form | undefined;
  return body && typeof body === 'object' && 'fields' in body ? body : { fields: Object.create(null) as Record<string, string> };
}

export function oauthError(reply: FastifyReply, status: number, error: string, description: string, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(status).headers({ ...NO_STORE, ...headers }).send({ error, error_description: description });
}

/** The form, or undefined once an error reply about it has been sent. */
export function readForm(req: FastifyRequest, reply: FastifyReply): Form | undefined {
  const form = formOf(req);
  if (form.duplicate !== undefined) {
    oauthError(reply, 400, 'invalid_request', `parameter ${form.duplicate} is repeated; send each parameter once`);
    return undefined;
  }
  return form;
}
