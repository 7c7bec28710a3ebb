import { html } from 'hono/html';
import { layout } from './layout.ts';

/** Sign in with username + password, or with a token (flespi style). */
export function loginPage(csrf: string, error?: string) {
  return layout(
    { title: 'Sign in' },
    html`${error ? html`<p class="error" role="alert" data-testid="login-error">${error}</p>` : ''}
<form method="post" action="/login" class="card">
<input type="hidden" name="_csrf" value="${csrf}">
<p><label>Username <input name="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><label>Account (optional) <input name="account_id" placeholder="acc_…"></label></p>
<p><button type="submit">Sign in</button></p>
</form>
<h2>Or with a token</h2>
<form method="post" action="/login" class="card">
<input type="hidden" name="_csrf" value="${csrf}">
<p><label>Token <input name="token" type="password" autocomplete="off" required></label></p>
<p><button type="submit">Sign in with token</button></p>
</form>`,
  );
}

export function totpPage(csrf: string, error?: string) {
  return layout(
    { title: 'Two-factor code' },
    html`${error ? html`<p class="error" role="alert" data-testid="login-error">${error}</p>` : ''}
<form method="post" action="/login/totp" class="card">
<input type="hidden" name="_csrf" value="${csrf}">
<p><label>Code from your authenticator app (or a recovery code) <input name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus></label></p>
<p><button type="submit">Verify</button></p>
</form>`,
  );
}
