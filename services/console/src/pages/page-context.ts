import type { Context, Hono } from 'hono';
import type { SessionClaims } from '../session/session-codec.ts';
import { controlsFor, type ConsoleControl, type ControlSubject } from '../console-controls.ts';
import type { PageFrame } from './layout.ts';

export interface ApiAnswer<T = Record<string, unknown>> {
  ok: boolean;
  status: number;
  body: T;
  problem?: { detail: string; field?: string; title: string } | undefined;
}

export interface Me extends ControlSubject {
  account_id: string;
  subject: string;
}

/**
 * What a page handler has: the session, the caller as authz sees them, and the REST API called
 * in-process with the session's credential — pages render the API's answers, so a page can show
 * nothing and do nothing the API would not.
 */
export interface PageContext {
  c: Context;
  session: SessionClaims;
  me: Me;
  can(control: ConsoleControl): boolean;
  frame(title: string, active: string): PageFrame;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>>;
}

export function createPageContext(app: Hono, c: Context, session: SessionClaims, me: Me): PageContext {
  const api = async <T,>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> => {
    const headers: Record<string, string> = { authorization: `Bearer ${session.cred}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // The original request's env (its socket) goes along, so authz sees the browser's address.
    const res = await app.request(`/api/v1${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }, c.env);
    const json = (await res.json().catch(() => ({}))) as T & { detail?: string; field?: string; title?: string };
    return { ok: res.ok, status: res.status, body: json, problem: res.ok ? undefined : { detail: json.detail ?? res.statusText, title: json.title ?? 'ERROR', ...(json.field ? { field: json.field } : {}) } };
  };
  return {
    c,
    session,
    me,
    can: (control) => controlsFor(me).includes(control),
    frame: (title, active) => ({ title, active, who: { name: session.name, account: me.account_id, role: me.role, csrf: session.csrf } }),
    api,
  };
}

/** Query parameters passed on to the API as they came (it validates them). */
export function passQuery(c: Context, names: string[]): string {
  const out = new URLSearchParams();
  for (const name of names) {
    const v = c.req.query(name);
    if (v !== undefined && v !== '') out.set(name, v);
  }
  const text = out.toString();
  return text ? `?${text}` : '';
}
