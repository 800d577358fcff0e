// The page `switchboard new` writes, in headless Chromium, as the README's walkthrough uses
// it: opened without a cookie it sends the browser to log in; after logging in, its socket on
// the process's bound path greets the names typed.
// Usage: node greeter.mjs http://127.0.0.1:PORT PROCESS_ID PASSWORD
import { launch } from './launch.mjs';

const [base, processId, password] = process.argv.slice(2);
const shots = process.env.SCREENSHOT_DIR || '.';
const LIMIT = 10000;
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  const pageUrl = `${base}/${processId}/`;
  await page.goto(pageUrl);
  const loginUrl = page.url();

  await page.fill('#password', password);
  await Promise.all([page.waitForURL(pageUrl), page.click('#submit')]);
  await page.waitForFunction(() => document.getElementById('status').textContent === 'connected', null, { timeout: LIMIT });

  const greet = async (name, count) => {
    await page.fill('#name', name);
    await page.press('#name', 'Enter');
    await page.waitForFunction((n) => document.querySelectorAll('#log li').length === n, count, { timeout: LIMIT });
  };
  await greet('Ada', 1);
  await greet('', 2);
  const log = await page.$$eval('#log li', (items) => items.map((li) => li.textContent));
  await page.screenshot({ path: `${shots}/greeter-page.png` });

  console.log(JSON.stringify({ loginUrl, title: await page.title(), log }));
} finally {
  await browser.close();
}
