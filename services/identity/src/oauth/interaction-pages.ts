/**
 * The provider's server-rendered pages. Plain HTML with one same-origin stylesheet: the CSP
 * (`oauthPageCsp`) allows no inline script or style and no other origin, so nothing here may use
 * either. Every interpolated value goes through `escapeHtml`.
 */
export const OAUTH_STYLESHEET_PATH = '/oauth/assets/tollgate.css';

/**
 * No `form-action`: after the login form posts, the provider redirects to the client's own
 * redirect URI, and browsers apply form-action to that redirect chain too. `script-src` is named so
 * that oidc-provider can add the hash of the one inline script it writes (the form_post response
 * mode's auto-submit); `allowScriptHashes` then drops the 'none'.
 */
export const oauthPageCsp = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Koa middleware: `script-src 'none' 'sha256-…'` (a hash the library added) → `script-src 'sha256-…'`. */
export async function allowScriptHashes(ctx: { response: { get(name: string): unknown }; set(name: string, value: string): void }, next: () => Promise<unknown>): Promise<void> {
  await next();
  const csp = ctx.response.get('content-security-policy');
  if (typeof csp === 'string' && /script-src 'none' 'sha256-/.test(csp)) ctx.set('content-security-policy', csp.replace("script-src 'none' ", 'script-src '));
}

export const oauthStylesheet = `body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;margin:.75rem 0 .25rem;font-size:.9rem}
input[type=text],input[type=password],input:not([type]){width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #b8bfcc;border-radius:.25rem}
button{margin-top:1rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:.25rem;background:#2457d6;color:#fff;cursor:pointer}
button.secondary{background:#e4e7ee;color:#1d2330}a.sso{display:block;text-align:center;padding:.6rem;border:1px solid #b8bfcc;border-radius:.25rem;color:#1d2330;text-decoration:none}.error{color:#b00020}code{font-size:1.4rem}ul{padding-left:1.2rem}
`;

export function escapeHtml(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Tollgate</title><link rel="stylesheet" href="${OAUTH_STYLESHEET_PATH}"></head>
<body><main><h1>${escapeHtml(title)}</h1>
${body}
</main></body></html>`;
}

const notice = (message: string | undefined) => (message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : '');

export function loginPage(input: { action: string; csrf: string; clientName: string; username?: string; error?: string | undefined; askTotp: boolean; sso?: { href: string; name: string }[] }): string {
  const sso = (input.sso ?? []).map((s) => `<p><a class="sso" href="${escapeHtml(s.href)}">Sign in with ${escapeHtml(s.name)}</a></p>`).join('\n');
  const totp = input.askTotp
    ? `<label for="totp">Authentication code</label><input id="totp" name="totp" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus>`
    : '';
  return page(
    'Sign in',
    `<p>to continue to <strong>${escapeHtml(input.clientName)}</strong></p>
${notice(input.error)}
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" required value="${escapeHtml(input.username ?? '')}"${input.askTotp ? '' : ' autofocus'}>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
${totp}
<button type="submit">Sign in</button>
</form>
${sso}`,
  );
}

/** Tollgate's own second factor after an upstream sign-in that did not assert multi-factor. */
export function ssoTotpPage(input: { action: string; csrf: string; name: string; error?: string | undefined }): string {
  return page(
    'Authentication code',
    `<p>Signed in with <strong>${escapeHtml(input.name)}</strong>. Your Tollgate account also asks for a code.</p>
${notice(input.error)}
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<label for="totp">Authentication code (or a recovery code)</label><input id="totp" name="totp" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus>
<button type="submit">Continue</button>
</form>`,
  );
}

export function consentPage(input: { action: string; csrf: string; clientName: string; scopes: string[] }): string {
  const items = input.scopes.map((scope) => `<li>${escapeHtml(scopeText(scope))}</li>`).join('');
  return page(
    'Allow access?',
    `<p><strong>${escapeHtml(input.clientName)}</strong> asks to:</p><ul>${items}</ul>
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
  );
}

function scopeText(scope: string): string {
  switch (scope) {
    case 'openid':
      return 'know who you are';
    case 'profile':
      return 'see your username, account and role';
    case 'offline_access':
      return 'stay signed in (refresh tokens)';
    case 'tollgate':
      return 'act on Tollgate with your role in your account';
    default:
      return scope;
  }
}

/**
 * `form` is the library's form: the xsrf field and the code input (its inline `onfocus` handler is
 * inert under the CSP, which is fine); the button attaches to it by id.
 */
export function deviceInputPage(form: string, error: string | undefined): string {
  return page(
    'Connect a device',
    `<p>Enter the code shown on your device.</p>${notice(error)}
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

export function deviceConfirmPage(form: string, clientName: string, userCode: string): string {
  return page(
    'Confirm the device',
    `<p><strong>${escapeHtml(clientName)}</strong> should show this code:</p><p><code>${escapeHtml(userCode)}</code></p>
<p>If it does not, or you did not start this, abort.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" class="secondary">Abort</button>`,
  );
}

export function deviceSuccessPage(clientName: string): string {
  return page('Device connected', `<p>${escapeHtml(clientName)} is signed in. You can close this page.</p>`);
}

export function logoutPage(form: string): string {
  return page(
    'Sign out?',
    `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button type="submit" form="op.logoutForm" class="secondary">Stay signed in</button>`,
  );
}

export function postLogoutPage(): string {
  return page('Signed out', '<p>You are signed out.</p>');
}

export function errorPage(error: string, description: string | undefined): string {
  return page('Something went wrong', `<p class="error">${escapeHtml(error)}</p>${description ? `<p>${escapeHtml(description)}</p>` : ''}`);
}
