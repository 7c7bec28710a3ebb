/** Test helpers: a cookie-keeping browser over fetch, form scraping, and a person's steps through the provider's pages. */
/** A browser: a cookie jar per host name (cookies ignore ports, RFC 6265 §8.5), manual redirects, form posts. */
export function browser() {
  const jars = new Map<string, Map<string, string>>();
  async function request(url: string, init: RequestInit = {}): Promise<Response> {
    const host = new URL(url).hostname;
    const jar = jars.get(host) ?? new Map<string, string>();
    jars.set(host, jar);
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(cookie)) jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }
  return {
    request,
    /** Follows redirects from `url` until one leaves for `stopAt` (returned) or a page is shown. */
    async follow(url: string, stopAt: string): Promise<{ url: string; res?: Response }> {
      let current = url;
      for (let i = 0; i < 20; i++) {
        if (current.startsWith(stopAt)) return { url: current };
        const res = await request(current);
        if (res.status >= 300 && res.status < 400) {
          current = new URL(res.headers.get('location')!, current).href;
          continue;
        }
        return { url: current, res };
      }
      throw new Error('redirect loop');
    },
    post(url: string, form: Record<string, string>) {
      return request(url, { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    },
  };
}

export const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
export const formAction = (html: string) => /<form[^>]*action="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&');


export type Browser = ReturnType<typeof browser>;

/**
 * Drives the sign-in pages like a person: the login form, then consent when the client is third-party.
 * Returns the URL that left for `stopAt`, or `${url}#${html}` of a final page without a form (the
 * device flow's "Device connected"). `onPage` sees every page shown (status and headers checks).
 */
export async function signInThroughPages(b: Browser, startUrl: string, user: { username: string; password: string }, stopAt: string, onPage?: (res: Response, html: string) => void): Promise<string> {
  let step = await b.follow(startUrl, stopAt);
  for (let i = 0; i < 5 && step.res; i++) {
    const html = await step.res.text();
    onPage?.(step.res, html);
    if (!formAction(html)) return `${step.url}#${html}`;
    const action = new URL(formAction(html)!, step.url).href;
    const csrf = field(html, 'csrf')!;
    const res = html.includes('name="password"') ? await b.post(action, { csrf, username: user.username, password: user.password }) : await b.post(action, { csrf, decision: 'allow' });
    if (res.status !== 303) throw new Error(`posting ${action}: HTTP ${res.status}\n${await res.text()}\n(the page was:)\n${html}`);
    step = await b.follow(new URL(res.headers.get('location')!, action).href, stopAt);
  }
  return step.url;
}

/**
 * RFC 8628 §3.3 on the provider's pages: the person opens the verification URI, types the user code
 * and confirms it. Returns the pages seen (for checks) and where the sign-in that follows starts.
 */
export async function enterUserCode(b: Browser, verificationUri: string, userCode: string) {
  const entry = await b.follow(verificationUri, 'never:');
  const entryHtml = await entry.res!.text();
  const confirm = await b.post(new URL(formAction(entryHtml)!, entry.url).href, { xsrf: field(entryHtml, 'xsrf')!, user_code: userCode });
  const confirmHtml = await confirm.text();
  const started = await b.post(new URL(formAction(confirmHtml)!, entry.url).href, { xsrf: field(confirmHtml, 'xsrf')!, user_code: field(confirmHtml, 'user_code')!, confirm: 'yes' });
  if (started.status !== 303) throw new Error(`confirming the user code: HTTP ${started.status}\n${await started.text()}\n(the confirm page was:)\n${confirmHtml}`);
  return { entry: { res: entry.res!, html: entryHtml }, confirmHtml, signInUrl: new URL(started.headers.get('location')!, entry.url).href };
}

/** A person of the account approves a device's user code: enter and confirm it, then sign in. Returns the final page. */
export async function approveDevice(b: Browser, device: { verification_uri: string; user_code: string }, user: { username: string; password: string }): Promise<string> {
  const { signInUrl } = await enterUserCode(b, device.verification_uri, device.user_code);
  return signInThroughPages(b, signInUrl, user, 'never:');
}
