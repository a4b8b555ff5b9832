// The browser softphone as a user of a "call from your browser" product runs
// it: JsSIP 3.13 in a page, SIP over WebSocket. Bundled by esbuild (JsSIP is
// CommonJS) into one IIFE and served from loopback by register.mjs.
//
// window.startPhones(config) starts one JsSIP UA per user and reports each
// registration through window.homelineReport (a playwright binding).

import JsSIP from 'jssip';

const phones = [];

function report(event) {
  // performance.now() is the page's monotonic clock; the driver adds its own.
  const message = { ...event, pageMs: performance.now() };
  if (typeof window.homelineReport === 'function') {
    window.homelineReport(message);
  }
}

window.startPhones = function startPhones({ wsUrl, domain, users, password, expires }) {
  for (const user of users) {
    const socket = new JsSIP.WebSocketInterface(wsUrl);
    const ua = new JsSIP.UA({
      sockets: [socket],
      uri: `sip:${user}@${domain}`,
      password,
      register: true,
      register_expires: expires || 600,
      session_timers: false,
      user_agent: 'JsSIP benchmark peer',
    });
    let startedAt = 0;
    ua.on('registered', () => report({ type: 'registered', user, registerMs: performance.now() - startedAt }));
    ua.on('registrationFailed', (e) => report({ type: 'registrationFailed', user, cause: String(e.cause) }));
    ua.on('disconnected', () => report({ type: 'disconnected', user }));
    phones.push(ua);
    startedAt = performance.now();
    ua.start();
  }
  return phones.length;
};

// Unregister every UA (as closing the tab does not) and wait up to 2 s.
window.stopPhones = function stopPhones() {
  return new Promise((resolve) => {
    let left = phones.length;
    if (left === 0) resolve(0);
    const done = () => {
      left -= 1;
      if (left === 0) resolve(phones.length);
    };
    for (const ua of phones) {
      ua.once('unregistered', done);
      ua.stop();
    }
    setTimeout(() => resolve(phones.length - left), 2000);
  });
};

report({ type: 'pageReady' });
