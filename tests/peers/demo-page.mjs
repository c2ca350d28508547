// Drives the local run's demo page in headless Chromium (Debian's /usr/bin/chromium, no browser
// download): logs in as a sample customer, then clicks through every panel so each platform's
// page callback runs (Amazon Connect `authenticate`, LivePerson `lpGetAuthenticationToken` plain
// and encrypted, Live Assist `authoriseChatWithCallback`, Intercom `Intercom('boot', ...)`, CCAI Platform's `authenticate`, Zendesk `zE('messenger', 'loginUser')`, Salesforce `setIdentityToken`, Dynamics 365's `getAuthenticationToken(callback)`, Freshchat's
// `fcWidget.authenticate` on `user:statechange`), and prints what the page shows as one
// JSON line on stdout.
//
//   node tests/peers/demo-page.mjs http://127.0.0.1:PORT alice
//   node tests/peers/demo-page.mjs http://127.0.0.1:PORT session   (the code-flow login: every
//                                   token call then carries only the session cookie)
//
// Exit 0 with {"connect", "liveperson", "livepersonEncrypted", "liveAssist", "intercom", "ccai", "zendesk",
// "salesforce", "salesforceRenewed" (the panel after onEmbeddedMessagingIdentityTokenExpired), "d365", "freshchat", "consoleErrors"};
// each panel {status, ok, header, claims[, jweHeader]}; freshchat also {widgetUuid}. Exit 1 with the reason on stderr.
import { chromium } from 'playwright-core';

const [baseUrl, customer = 'alice'] = process.argv.slice(2);
if (!baseUrl) {
  console.error('usage: demo-page.mjs BASE_URL [alice|bob|session]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const parseOrNull = (text) => { try { return JSON.parse(text); } catch { return null; } };

async function panel(page, button, statusId, prefix, withJwe) {
  // Each run replaces the status; wait for the text to change from what it was.
  const before = await page.textContent(statusId);
  await page.click(button);
  await page.waitForFunction(([id, old]) => {
    const el = document.querySelector(id);
    return el && el.textContent !== old && (el.className === 'ok' || el.className === 'error');
  }, [statusId, before], { timeout: 5000 });
  const result = {
    status: await page.textContent(statusId),
    ok: (await page.getAttribute(statusId, 'class')) === 'ok',
    header: parseOrNull(await page.textContent('#' + prefix + '-header')),
    claims: parseOrNull(await page.textContent('#' + prefix + '-claims')),
  };
  if (withJwe) result.jweHeader = parseOrNull(await page.textContent('#' + prefix + '-jwe-header'));
  return result;
}

try {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  await page.goto(baseUrl + '/');
  if (customer === 'session') {
    // A top-level navigation through the login and back to /?session=1, as a visitor clicks it.
    await Promise.all([page.waitForURL(/[?]session=1$/, { timeout: 5000 }), page.click('#code-flow-login')]);
  } else {
    await page.selectOption('#customer', customer);
    await page.click('#login-button');
  }
  await page.waitForSelector('#login-status.ok', { timeout: 5000 });
  const connect = await panel(page, '#connect-start', '#connect-status', 'connect', false);
  const liveperson = await panel(page, '#lp-start', '#lp-status', 'lp', true);
  await page.check('#lp-encrypt');
  const livepersonEncrypted = await panel(page, '#lp-start', '#lp-status', 'lp', true);
  const liveAssist = await panel(page, '#la-start', '#la-status', 'la', false);
  const ccai = await panel(page, '#ccai-start', '#ccai-status', 'ccai', false);
  const intercom = await panel(page, '#ic-start', '#ic-status', 'ic', false);
  const zendesk = await panel(page, '#zd-start', '#zd-status', 'zd', false);
  const salesforce = await panel(page, '#sf-start', '#sf-status', 'sf', false);
  // Salesforce says the token expired: the page must set a new one.
  await page.evaluate(() => {
    for (const id of ['sf-status', 'sf-claims']) document.getElementById(id).textContent = '';
    document.getElementById('sf-status').className = 'muted';
    window.dispatchEvent(new Event('onEmbeddedMessagingIdentityTokenExpired'));
  });
  await page.waitForSelector('#sf-status.ok', { timeout: 5000 });
  const salesforceRenewed = {
    ok: true,
    claims: parseOrNull(await page.textContent('#sf-claims')),
  };
  const d365 = await panel(page, '#d365-start', '#d365-status', 'd365', false);
  const freshchat = await panel(page, '#fc-start', '#fc-status', 'fc', false);
  freshchat.widgetUuid = await page.textContent('#fc-uuid');
  if (process.env.DEMO_SCREENSHOT) await page.screenshot({ path: process.env.DEMO_SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({ connect, liveperson, livepersonEncrypted, liveAssist, intercom, ccai, zendesk, salesforce, salesforceRenewed, d365, freshchat,
    consoleErrors }));
} catch (error) {
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
