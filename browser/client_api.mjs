// Logs in through a node's /login page in headless Chromium, then lets the page's
// @kinode/client-api open the bound WebSocket of webapp:test:sys and exchange a message.
// Usage: node client_api.mjs http://127.0.0.1:PORT PASSWORD
import { launch } from './launch.mjs';

const [base, password] = process.argv.slice(2);
const shots = process.env.SCREENSHOT_DIR || '.';
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${base}/webapp:test:sys/`);
  // Not logged in: the app's page sends the browser to the login page.
  const loginUrl = page.url();

  await page.fill('#password', 'not the password');
  await page.click('#submit');
  await page.waitForFunction(() => document.getElementById('error').textContent.length > 0);
  const errorText = await page.textContent('#error');
  await page.screenshot({ path: `${shots}/login-wrong-password.png` });

  await page.fill('#password', password);
  await Promise.all([
    page.waitForURL(`${base}/webapp:test:sys/`),
    page.click('#submit'),
  ]);
  await page.waitForFunction(() => window.received && window.received.length >= 1);
  const greeting = await page.evaluate(() => window.received[0]);
  const documentCookie = await page.evaluate(() => document.cookie);
  const our = await page.evaluate(() => window.our);

  await page.evaluate(() => window.api.send({ data: { text: 'hello from chromium' } }));
  await page.waitForFunction(() => window.received.length >= 2);
  const echo = await page.evaluate(() => window.received[1]);
  await page.screenshot({ path: `${shots}/client-api-bound-channel.png` });

  // The login page follows ?next= only to a path on this origin.
  await page.goto(`${base}/login?next=${encodeURIComponent('//evil.test/steal')}`);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('#submit')]);
  const afterForeignNext = page.url();

  console.log(JSON.stringify({ loginUrl, errorText, greeting, echo, documentCookie, our, afterForeignNext }));
} finally {
  await browser.close();
}
