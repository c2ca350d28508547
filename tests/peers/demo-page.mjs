// Drives the local run's demo page in headless Chromium (Debian's /usr/bin/chromium, no browser
// download): logs in as a sample customer, clicks "Start chat" so the Amazon Connect
// `authenticate` callback runs, and prints what the page shows as one JSON line on stdout.
//
//   node tests/peers/demo-page.mjs http://127.0.0.1:PORT alice
//
// Exit 0 with {"status", "header", "claims"} on stdout; exit 1 with the reason on stderr.
import { chromium } from 'playwright-core';

const [baseUrl, customer = 'alice'] = process.argv.slice(2);
if (!baseUrl) {
  console.error('usage: demo-page.mjs BASE_URL [alice|bob]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  await page.goto(baseUrl + '/');
  await page.selectOption('#customer', customer);
  await page.click('#login-button');
  await page.waitForSelector('#login-status.ok', { timeout: 5000 });
  await page.click('#connect-start');
  await page.waitForSelector('#connect-status.ok, #connect-status.error', { timeout: 5000 });
  const status = await page.textContent('#connect-status');
  const header = JSON.parse(await page.textContent('#connect-header'));
  const claims = JSON.parse(await page.textContent('#connect-claims'));
  if (process.env.DEMO_SCREENSHOT) await page.screenshot({ path: process.env.DEMO_SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({ status, header, claims, consoleErrors }));
} catch (error) {
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
