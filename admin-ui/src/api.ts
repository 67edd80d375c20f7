// Calls to nkpay's console API (/admin/api/…). The access token lives in memory only (a reload
// signs in again, or renews through the refresh endpoint when the server offers one); on a 401
// the session is renewed once through POST /admin/api/session/refresh, else it ends and the
// sign-in page shows.

export interface Session {
  accessToken: string;
  role: Role;
  username: string;
  /** An agent admin's service provider. */
  sysId?: string | null;
  /** Rotating refresh token, when the server hands one out in the login reply. */
  refreshToken?: string | null;
}

export type Role = "platform-admin" | "operator" | "finance" | "agent-admin" | "read-only";

/** A refused call: the HTTP status and the server's `error` (and `field`, when named). */
export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public field?: string,
  ) {
    super(message);
  }
}

let session: Session | null = null;
let onSessionChange: (s: Session | null) => void = () => {};

export function setSessionListener(listener: (s: Session | null) => void) {
  onSessionChange = listener;
}

export function currentSession(): Session | null {
  return session;
}

export function setSession(next: Session | null) {
  session = next;
  onSessionChange(next);
}

type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (session) headers.Authorization = `Bearer ${session.accessToken}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
}

async function failure(resp: Response): Promise<ApiError> {
  let message = `${resp.status} ${resp.statusText}`;
  let field: string | undefined;
  try {
    const data = await resp.json();
    if (data && typeof data.error === "string") message = data.error;
    if (data && typeof data.field === "string") field = data.field;
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(resp.status, message, field);
}

let renewing: Promise<boolean> | null = null;

/** Renews the access token through the refresh endpoint; false when there is none or it refuses. */
export function renew(): Promise<boolean> {
  renewing ??= (async () => {
    try {
      const resp = await fetch("/admin/api/session/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(session?.refreshToken ? { refresh_token: session.refreshToken } : {}),
        credentials: "same-origin",
      });
      if (!resp.ok) return false;
      const data = await resp.json();
      setSession(sessionFrom(data, session?.username ?? data.username ?? ""));
      return true;
    } catch {
      return false;
    } finally {
      renewing = null;
    }
  })();
  return renewing;
}

/** A session from a login or refresh reply. */
export function sessionFrom(data: Record<string, unknown>, username: string): Session {
  return {
    accessToken: String(data.access_token),
    role: String(data.role) as Role,
    username: (data.username as string) ?? username,
    sysId: (data.sys_id as string | null | undefined) ?? session?.sysId ?? null,
    refreshToken: (data.refresh_token as string | null | undefined) ?? null,
  };
}

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  let resp = await send(method, path, body);
  if (resp.status === 401 && session) {
    if (await renew()) resp = await send(method, path, body);
    if (resp.status === 401) setSession(null);
  }
  if (!resp.ok) throw await failure(resp);
  return resp;
}

/** A JSON call; throws ApiError on any non-2xx answer. */
export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const resp = await call(method, path, body);
  if (resp.status === 204) return undefined as T;
  const text = await resp.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T = any>(path: string, query?: Query) => api<T>("GET", withQuery(path, query));
export const post = <T = any>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const put = <T = any>(path: string, body?: unknown) => api<T>("PUT", path, body ?? {});
export const del = <T = any>(path: string) => api<T>("DELETE", path);

/** Downloads what an authenticated GET answers as a file named `fallbackName` (or the server's). */
export async function download(path: string, fallbackName: string): Promise<void> {
  const resp = await call("GET", path);
  const blob = await resp.blob();
  const disposition = resp.headers.get("Content-Disposition") ?? "";
  const named = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  saveBlob(blob, named ? decodeURIComponent(named[1]) : fallbackName);
}

export function saveBlob(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Signs in; answers the session or throws ApiError (401 wrong credentials, 429 throttled). */
export async function login(username: string, password: string, totp?: string): Promise<Session> {
  const body: Record<string, string> = { username, password };
  if (totp) body.totp = totp;
  const resp = await fetch("/admin/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!resp.ok) throw await failure(resp);
  const s = sessionFrom(await resp.json(), username);
  setSession(s);
  // The caller's service provider (agent admins) and name, when the server tells (GET /me).
  try {
    const me = await api<Record<string, unknown>>("GET", "/admin/api/me");
    const merged = { ...s, sysId: (me.sys_id as string) ?? s.sysId, username: (me.username as string) ?? s.username };
    setSession(merged);
    return merged;
  } catch {
    return s;
  }
}

/** Ends the session here and, when the server offers it, revokes the refresh token. */
export async function logout(): Promise<void> {
  try {
    if (session?.refreshToken) await send("DELETE", "/admin/api/session", { refresh_token: session.refreshToken });
  } catch {
    // Offline or not offered: the in-memory token is dropped anyway.
  }
  setSession(null);
}
