import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { Secret, TOTP } from 'otpauth';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { silentLogger } from '#libs/telemetry/index.ts';
import { startTestMesh, type TestMesh } from '../../../test/harness/mesh.ts';
import { createConsoleApp } from '../src/app.ts';

/**
 * The console in a real browser (Debian's headless Chromium, never a downloaded one) against the
 * whole mesh in this process: an owner signs in, makes a subaccount and an acl token, a real MQTT
 * client uses it, the owner sees it, its denial, kicks it and finds the actions in the audit log;
 * a viewer sees no mutating control; a CSRF request without the token is refused.
 */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;
const PASSWORD = 'correct horse battery staple';

let mesh: TestMesh;
let consoleApp: ReturnType<typeof createConsoleApp>;
let base: string;
let browser: Browser;
let tenant: { accountId: string; masterToken: string };
let totpSecret = '';
const users = { owner: `owner-${Date.now()}`, viewer: `viewer-${Date.now()}`, admin2fa: `admin2fa-${Date.now()}` };

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, { method, headers: { authorization: `Bearer ${tenant.masterToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return res.json() as Promise<Record<string, unknown>>;
}

/** Errors the page reported (script errors, CSP violations): every test ends with none. */
const pageErrors: string[] = [];

async function signIn(username: string, totpCode?: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL: base, permissions: ['clipboard-read', 'clipboard-write'] });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[13]/.test(message.text())) pageErrors.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  page.on('dialog', (dialog) => void dialog.accept()); // hx-confirm: the operator confirms
  await page.goto('/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  if (totpCode !== undefined) {
    await page.getByRole('heading', { name: 'Two-factor code' }).waitFor();
    await shot(page, '00-totp-step');
    await page.getByLabel(/Code from your authenticator app/).fill(totpCode);
    await page.getByRole('button', { name: 'Verify' }).click();
  }
  await page.waitForURL(`${base}/`);
  return { context, page };
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });

describe.skipIf(!hasChromium)(`the console in Chromium${hasChromium ? '' : ` (skipped: ${CHROMIUM} is not installed)`}`, () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    mesh = await startTestMesh();
    consoleApp = createConsoleApp({ host: '127.0.0.1', httpPort: 0, peers: mesh.peers, usageStreamIntervalMs: 500, statsStreamIntervalMs: 500 }, { logger: silentLogger(), telemetry: mesh.telemetry, secretKey: mesh.secretKey });
    base = (await consoleApp.start()).httpAddress;
    tenant = await mesh.createTenant('browser');
    await api('POST', '/users', { username: users.owner, password: PASSWORD, role: 'owner' });
    await api('POST', '/users', { username: users.viewer, password: PASSWORD, role: 'viewer' });
    const admin = (await api('POST', '/users', { username: users.admin2fa, password: PASSWORD, role: 'admin' })).user as { id: string };
    const enrolled = await api('POST', `/users/${admin.id}/totp`);
    totpSecret = enrolled.secret as string;
    await api('POST', `/users/${admin.id}/totp/confirm`, { code: new TOTP({ secret: Secret.fromBase32(totpSecret) }).generate() });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await consoleApp?.stop();
    await mesh?.stop();
  });

  it('owner: subaccount, acl token with a rule, MQTT client seen, denial seen, kicked, audit log', async () => {
    const { context, page } = await signIn(users.owner);
    expect(await page.getByTestId('who').textContent()).toContain(users.owner);
    await shot(page, '01-overview');

    // A subaccount under the owner's account.
    await page.goto('/accounts');
    await page.getByLabel(/subaccount name under/).first().fill('plant 7');
    await page.getByRole('button', { name: 'Create subaccount' }).first().click();
    const sub = page.locator('li[data-account]').filter({ has: page.locator(':scope > details > summary > strong', { hasText: /^plant 7$/ }) });
    await sub.waitFor();
    const subId = (await sub.getAttribute('data-account'))!;
    expect(subId).toMatch(/^acc_/);
    await shot(page, '02-accounts');

    // An acl token in it: first a bad rule, shown at its rule and field; then a good one.
    await page.goto(`/tokens?account_id=${subId}`);
    await page.getByLabel('name').fill('sensor');
    await page.getByLabel('actions').fill('publish');
    await page.getByLabel('resources (one per line)').fill('mqtt:plant/#/temp');
    await page.getByRole('button', { name: 'Create token' }).click();
    const fieldError = page.locator('fieldset[data-rule="0"] [data-field="resources"]');
    await fieldError.waitFor();
    await expect(fieldError.textContent()).resolves.toMatch(/\S/);
    await shot(page, '03-token-rule-error');
    await page.getByLabel('resources (one per line)').fill('mqtt:plant/7/#');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secretBox = page.getByTestId('secret');
    await secretBox.waitFor();
    const secret = (await secretBox.textContent())!.trim();
    expect(secret.length).toBeGreaterThan(20);
    const tokenId = (await page.locator('#create-token code').first().textContent())!;
    await page.locator(`#tokens tr[data-token="${tokenId}"]`).waitFor(); // the list shows it at once
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(secret);
    await shot(page, '04-token-secret');

    // "Try a decision" with the new secret: outside its rule → DENY (and authz logs the denial).
    await page.getByLabel('token secret').fill(secret);
    await page.getByLabel('resource', { exact: true }).fill('mqtt:plant/8/temp');
    await page.getByRole('button', { name: 'Try' }).click();
    await page.getByTestId('check-result').waitFor();
    expect(await page.getByTestId('check-result').textContent()).toMatch(/^DENY/);

    // A real MQTT client with the token as its username (flespi style) publishes within its rule.
    const client: MqttClient = await new Promise((resolve, reject) => {
      const c = mqtt.connect(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'sensor-7', username: secret, reconnectPeriod: 0, connectTimeout: 5_000 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    await client.publishAsync('plant/7/temp', '21.5', { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));

    await page.goto(`/clients?account_id=${subId}`);
    const row = page.locator('tr[data-client="sensor-7"]');
    await row.waitFor();
    await shot(page, '05-clients');

    await page.goto(`/decisions?account_id=${subId}&denials_only=true&action=publish&contains=plant/8`);
    await page.locator('#decisions td', { hasText: 'mqtt:plant/8/temp' }).first().waitFor();
    await shot(page, '06-decisions');

    await page.goto(`/clients?account_id=${subId}`);
    await page.locator('tr[data-client="sensor-7"]').getByRole('button', { name: 'Kick' }).click();
    await page.getByText('Kicked sensor-7.').waitFor();
    await closed;
    expect(client.connected).toBe(false);
    client.end(true);
    await shot(page, '07-kicked');

    // The audit log has the owner's sign-in and the new account.
    await page.goto('/audit');
    await page.locator('#audit td', { hasText: 'account_created' }).first().waitFor();
    await page.locator('#audit td', { hasText: 'login_ok' }).first().waitFor();
    await shot(page, '08-audit');

    // Rotate (new secret shown once) and revoke a second token, each after a confirmation.
    const spare = await api('POST', '/tokens', { account_id: subId, kind: 'standard', name: 'spare' });
    await page.goto(`/tokens?account_id=${subId}`);
    await page.locator(`tr[data-token="${spare.id as string}"]`).getByRole('button', { name: 'Rotate' }).click();
    await page.locator('#token-result [data-testid="secret"]').waitFor();
    expect((await page.locator('#token-result [data-testid="secret"]').textContent())!.trim()).not.toBe('');
    await page.locator(`tr[data-token="${spare.id as string}"]`).getByRole('button', { name: 'Revoke' }).click();
    // The list is re-rendered without it (revoked tokens are listed only on request).
    await page.locator(`tr[data-token="${spare.id as string}"]`).waitFor({ state: 'detached' });
    const revoked = await api('GET', `/tokens/${spare.id as string}`);
    expect(revoked.revoked_at).toEqual(expect.any(String));
    await shot(page, '08b-token-revoked');

    // Suspend the subaccount (confirmed), then resume it.
    await page.goto('/accounts');
    const subRow = page.locator(`li[data-account="${subId}"]`);
    await subRow.getByRole('button', { name: 'Suspend' }).click();
    await page.locator(`li[data-account="${subId}"] summary .deny`, { hasText: 'suspended' }).waitFor();
    await page.locator(`li[data-account="${subId}"]`).getByRole('button', { name: 'Resume' }).click();
    await page.locator(`li[data-account="${subId}"] summary .allow`, { hasText: 'active' }).waitFor();
    await page.goto('/audit');
    await page.locator('#audit td', { hasText: 'account_suspended' }).first().waitFor();

    // CSRF: the session's own cookie, but no token → refused; with the page's token → accepted.
    const refused = await page.request.post('/api/v1/accounts', { data: { name: 'csrf' }, headers: { origin: base } });
    expect(refused.status()).toBe(403);
    expect(await refused.text()).toContain('csrf');
    await context.close();
  });

  it('an admin with 2FA signs in with password, then the TOTP code', async () => {
    // The code of the next step: the confirming one is spent (identity's replay guard).
    const { context, page } = await signIn(users.admin2fa, new TOTP({ secret: Secret.fromBase32(totpSecret) }).generate({ timestamp: Date.now() + 30_000 }));
    expect(await page.getByTestId('who').textContent()).toContain(`${users.admin2fa} · ${tenant.accountId} · admin`);
    await context.close();
  });

  it('accounts tree: a level at a time (deeper levels load when opened); decisions page older by cursor', async () => {
    const region = (await api('POST', '/accounts', { name: 'lazy region' })).account as { id: string };
    const site = (await api('POST', '/accounts', { name: 'lazy site', parent_id: region.id })).account as { id: string };
    const { context, page } = await signIn(users.owner);
    await page.goto('/accounts');
    const regionNode = page.locator(`li[data-account="${region.id}"]`);
    await expect.poll(() => regionNode.locator('summary .muted').textContent()).toBe('1 below');
    // Not in the page until the region is opened; then fetched and drawn under it.
    expect(await page.locator(`li[data-account="${site.id}"]`).count()).toBe(0);
    await regionNode.locator('summary strong').click();
    await regionNode.locator(`li[data-account="${site.id}"]`).waitFor();
    await shot(page, '02b-accounts-lazy');

    // The site's summary: its tokens, users, connected clients and today's usage, from the services.
    for (let i = 0; i < 2; i++) await api('POST', '/tokens', { account_id: site.id, kind: 'standard', name: `site ${i}` });
    await api('POST', '/users', { username: `site-user-${Date.now()}`, password: PASSWORD, account_id: site.id, role: 'viewer' });
    await mesh.quota!.core.reportUsage(`summary-${Date.now()}`, 'edge-test', [{ accountId: site.id, metric: 'mqtt.messages.in', amount: 42 }]);
    await regionNode.locator(`li[data-account="${site.id}"]`).getByRole('link', { name: 'summary' }).click();
    await page.locator('#summary h2', { hasText: 'lazy site' }).waitFor();
    expect(await page.locator('[data-summary="tokens"]').textContent()).toBe('2');
    expect(await page.locator('[data-summary="users"]').textContent()).toBe('1');
    expect(await page.locator('[data-summary="clients"]').textContent()).toBe('0');
    expect(await page.locator('[data-summary="messages"]').textContent()).toBe('42');

    // Denials of an acl token, more than a page of them: the page shows the newest, "older" the rest.
    const acl = await api('POST', '/tokens', { kind: 'acl', name: 'pager', rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:plant/#'] }] });
    for (let i = 0; i < 3; i++) await api('POST', '/decisions/check', { token: acl.secret, action: 'publish', resource: `mqtt:paged/${i}` });
    await page.goto('/decisions?limit=2&denials_only=true&contains=paged');
    await page.locator('#decisions td', { hasText: 'mqtt:paged/2' }).waitFor();
    expect(await page.locator('#decisions td', { hasText: 'mqtt:paged/0' }).count()).toBe(0);
    await page.getByTestId('older').click();
    await page.locator('#decisions td', { hasText: 'mqtt:paged/0' }).waitFor();
    expect(await page.locator('#decisions td', { hasText: 'mqtt:paged/2' }).count()).toBe(0);
    await context.close();
  });

  it('users: enrol my own TOTP from a QR code, then an owner resets it; limits: the parent bound shown, a child above it refused at the field', async () => {
    const username = `self2fa-${Date.now()}`;
    const member = (await api('POST', '/users', { username, password: PASSWORD, role: 'member' })).user as { id: string };
    const self = await signIn(username);
    await self.page.goto('/users');
    await self.page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    await self.page.getByTestId('totp-qr').locator('svg path').first().waitFor();
    const secret = (await self.page.getByTestId('totp-secret').textContent())!.trim();
    await shot(self.page, '13-my-totp-qr');
    await self.page.getByLabel('Code from the app').fill('000000');
    await self.page.getByRole('button', { name: 'Turn on' }).click();
    await self.page.locator('#totp-confirm [data-field="code"]').waitFor();
    await self.page.getByLabel('Code from the app').fill(new TOTP({ secret: Secret.fromBase32(secret) }).generate());
    await self.page.getByRole('button', { name: 'Turn on' }).click();
    await self.page.getByTestId('recovery-codes').locator('li').first().waitFor();
    expect(await self.page.getByTestId('recovery-codes').locator('li').count()).toBeGreaterThan(0);
    expect(((await api('GET', `/users/${member.id}`)).user as { totp_enabled: boolean }).totp_enabled).toBe(true);
    await self.context.close();

    const owner = await signIn(users.owner);
    await owner.page.goto('/users');
    const row = owner.page.locator(`tr[data-user="${member.id}"]`);
    await row.getByRole('button', { name: 'Reset 2FA' }).click();
    await expect.poll(() => row.locator('td').nth(1).textContent()).toBe('off');
    expect(((await api('GET', `/users/${member.id}`)).user as { totp_enabled: boolean }).totp_enabled).toBe(false);

    await api('PUT', '/limits', { limits: [{ metric: 'mqtt.messages.out', kind: 'rate', value: 600, per: 'minute' }] });
    const child = (await api('POST', '/accounts', { name: 'bounded child' })).account as { id: string };
    await owner.page.goto(`/limits?account_id=${child.id}`);
    expect(await owner.page.getByTestId('parent-bounds').textContent()).toMatch(/mqtt\.messages\.out rate 600\/minute/);
    await owner.page.getByLabel('metric').fill('mqtt.messages.out');
    await owner.page.getByLabel('value').fill('900');
    await owner.page.getByLabel('per').selectOption('minute');
    await owner.page.getByRole('button', { name: 'Set', exact: true }).click();
    await expect.poll(() => owner.page.locator('#limit-form [data-field="value"]').textContent()).toContain("above the parent's 600");
    // The form keeps what was typed, to correct it.
    expect(await owner.page.getByLabel('value').inputValue()).toBe('900');
    await shot(owner.page, '14-limit-above-parent');
    await owner.context.close();
  });

  it('viewer: sees the pages but no mutating control, and the API refuses the mutation anyway', async () => {
    // Things an owner could act on, on every page: a client, a subaccount, tokens, users.
    const sub = (await api('POST', '/accounts', { name: 'viewer can see me' })).account as { id: string };
    const client: MqttClient = await new Promise((resolve, reject) => {
      const c = mqtt.connect(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'watched-1', username: tenant.masterToken, reconnectPeriod: 0, connectTimeout: 5_000 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    const mutating: Record<string, string[]> = {
      '/accounts': ['Create subaccount', 'Suspend'],
      '/tokens': ['Create token', 'Revoke', 'Rotate'],
      '/users': ['Create user', 'Set', 'Remove'],
      '/limits': ['Set'],
      '/clients': ['Kick'],
    };
    const owner = await signIn(users.owner);
    const viewer = await signIn(users.viewer);
    for (const [path, names] of Object.entries(mutating)) {
      for (const [who, page] of [['owner', owner.page], ['viewer', viewer.page]] as const) {
        await page.goto(path);
        await page.locator('main h1').waitFor();
        for (const name of names) {
          const count = await page.getByRole('button', { name, exact: true }).count();
          // The owner has each control (so its absence for the viewer means something).
          if (who === 'owner') expect(count, `owner ${path}: ${name}`).toBeGreaterThan(0);
          else expect(count, `viewer ${path}: ${name}`).toBe(0);
        }
      }
    }
    client.end(true);
    expect(sub.id).toMatch(/^acc_/);
    await owner.context.close();
    const { context, page } = viewer;
    await page.goto('/tokens');
    await shot(page, '09-viewer-tokens');
    // Past the hidden button: a well-formed request with the CSRF token is refused by identity.
    await page.goto('/accounts');
    const header = await page.locator('body').getAttribute('hx-headers');
    const csrf = (JSON.parse(header!) as Record<string, string>)['x-csrf-token']!;
    const res = await page.request.post('/api/v1/accounts', { data: { name: 'by a viewer' }, headers: { 'x-csrf-token': csrf, origin: base } });
    expect(res.status()).toBe(403);
    await context.close();
  });

  it('draws live usage with its limit, live broker rates, live decision rates, and a trace waterfall; no script error or CSP violation', async () => {
    const { context, page } = await signIn(users.owner);
    // A limit set from the page, then drawn with the usage.
    await page.goto('/limits');
    await page.getByLabel('metric').fill('mqtt.messages.in');
    await page.getByLabel('value').fill('600');
    await page.getByLabel('per').selectOption('minute');
    await page.getByRole('button', { name: 'Set', exact: true }).click();
    await page.getByText('Set mqtt.messages.in.').waitFor();
    await page.goto('/limits');
    await page.locator('#limits td', { hasText: 'mqtt.messages.in' }).waitFor();
    const usage = page.locator('[data-usage-stream*="mqtt.messages.in"]');
    await page.waitForFunction((el) => Number(el?.getAttribute('data-samples') ?? 0) >= 2, await usage.elementHandle());
    expect(await usage.locator('canvas').count()).toBe(1);
    expect(await usage.locator('.u-legend').textContent()).toContain('limit');
    await shot(page, '10-limits-usage');

    // The overview's live broker figures are the account's own (and its subaccounts'): a device
    // of this account connects and publishes, and the owner sees it connected and its messages counted.
    const device = await new Promise<MqttClient>((resolve, reject) => {
      const c = mqtt.connect(`mqtt://${mesh.broker!.mqttAddresses().tcp}`, { protocolVersion: 5, clientId: 'overview-1', username: tenant.masterToken, reconnectPeriod: 0, connectTimeout: 5_000 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    await page.goto('/');
    const stats = page.locator('[data-stats-stream]');
    await page.waitForFunction((el) => Number(el?.getAttribute('data-connections') ?? 0) >= 1, await stats.elementHandle());
    const before = Number(await stats.getAttribute('data-messages-in'));
    for (let i = 0; i < 5; i++) await device.publishAsync('overview/x', String(i), { qos: 1 });
    await page.waitForFunction(([el, n]) => Number((el as Element | null)?.getAttribute('data-messages-in') ?? 0) >= (n as number) + 5, [await stats.elementHandle(), before] as const);
    await page.waitForFunction((el) => Number(el?.getAttribute('data-samples') ?? 0) >= 2, await stats.elementHandle());
    expect(await stats.locator('canvas').count()).toBe(1);
    expect(await page.locator('p.figures').textContent()).toMatch(/connections [1-9]/);
    device.end(true);

    // Live decision rates, by result, and the token-cache hit ratio: checks of an acl token of this
    // account (allowed and denied) go on until the overview has drawn both rates above zero.
    const decisions = page.locator('[data-decisions-stream]');
    await page.waitForFunction((el) => Number(el?.getAttribute('data-samples') ?? 0) >= 1, await decisions.elementHandle());
    const allowedBefore = Number(await decisions.getAttribute('data-allowed'));
    const acl = await api('POST', '/tokens', { account_id: tenant.accountId, kind: 'acl', name: 'overview decisions', rules: [{ effect: 'allow', actions: ['publish'], resources: ['mqtt:overview/#'] }] });
    let checking = true;
    let checked = 0;
    const checks = (async () => {
      while (checking) {
        await api('POST', '/decisions/check', { token: acl.secret, action: 'publish', resource: 'mqtt:overview/ok' });
        await api('POST', '/decisions/check', { token: acl.secret, action: 'publish', resource: 'mqtt:elsewhere' });
        checked++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await page.waitForFunction(
        (el) => Number(el?.getAttribute('data-allowed-per-second') ?? 0) > 0 && Number(el?.getAttribute('data-denied-per-second') ?? 0) > 0 && Number(el?.getAttribute('data-cache-hit-ratio') || 0) > 0,
        await decisions.elementHandle(),
      );
    } finally {
      checking = false;
      await checks;
    }
    await page.waitForFunction(([el, n]) => Number((el as Element | null)?.getAttribute('data-allowed') ?? 0) >= (n as number), [await decisions.elementHandle(), allowedBefore + checked] as const);
    expect(await decisions.locator('canvas').count()).toBe(1);
    expect(await decisions.locator('.u-legend').textContent()).toContain('denied/s');
    expect(await page.locator('p.decision-figures').textContent()).toMatch(/token cache hit ratio \d+\.\d% · allowed \d+ · denied \d+ \(NO_MATCHING_RULE \d+/);
    await shot(page, '11-overview-live');

    await page.goto('/traces');
    await page.locator('table a[href^="/traces/"]').first().click();
    await page.locator('svg.waterfall rect').first().waitFor();
    expect(await page.locator('svg.waterfall rect').count()).toBeGreaterThan(0);
    await shot(page, '12-trace-waterfall');

    // Traces found by the MQTT client id a request named (KickClient here), and by trace id.
    const clientId = `trace-me-${Date.now()}`;
    await api('POST', `/clients/${clientId}/kick`, {});
    await page.goto(`/traces?q=${clientId}`);
    const found = page.locator('#traces a[href^="/traces/"]');
    await found.first().waitFor();
    const href = (await found.first().getAttribute('href'))!;
    await page.goto(href);
    expect(await page.locator('svg.waterfall title', { hasText: 'KickClient' }).count()).toBeGreaterThan(0);
    await page.goto(`/traces?trace_id=${href.slice('/traces/'.length, '/traces/'.length + 12)}`);
    expect(await page.locator('#traces a[href^="/traces/"]').count()).toBe(1);
    await page.goto('/traces?q=no-such-client-anywhere');
    await page.getByText('no buffered trace matches').waitFor();
    expect(await page.locator('#traces a[href^="/traces/"]').count()).toBe(0);

    await page.goto('/api/v1/reference');
    await page.getByText('/api/v1/tokens/{token_id}/rotate').first().waitFor();
    await context.close();
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
