/** Test helpers: a cookie-keeping browser over fetch, and form scraping for the provider's pages. */
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

