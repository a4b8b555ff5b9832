// One JsSIP 3.13 phone in a page, as a "call from your browser" product runs
// it, for the interop tests (tests/tests/interop_jssip.rs): it registers,
// calls or auto-answers, and measures what it receives two ways — the inbound
// RTP's getStats (audioLevel, totalAudioEnergy, packets) and a WebAudio
// AnalyserNode on the remote track (level and the loudest frequency).
//
// Bundled by esbuild (JsSIP is CommonJS) and served from loopback by call.mjs.
// Everything is reported through window.homelineReport (a playwright binding).

import JsSIP from 'jssip';

let ua = null;
let session = null;
let meter = null;

function report(event) {
  if (typeof window.homelineReport === 'function') {
    // epochMs: the system clock, to line events up with other processes (benchmarks).
    window.homelineReport({ ...event, pageMs: Math.round(performance.now()), epochMs: performance.timeOrigin + performance.now() });
  }
}

const callOptions = {
  // No echo cancellation, noise suppression or gain control: a steady test
  // tone is "noise" to them, and the level must arrive as it was sent.
  mediaConstraints: {
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    video: false,
  },
  // No STUN/TURN: loopback host candidates only, gathering ends at once.
  pcConfig: { iceServers: [] },
};

window.startPhone = function startPhone({ wsUrl, domain, user, password }) {
  const socket = new JsSIP.WebSocketInterface(wsUrl);
  ua = new JsSIP.UA({
    sockets: [socket],
    uri: `sip:${user}@${domain}`,
    password,
    register: true,
    register_expires: 300,
    session_timers: false,
    user_agent: 'JsSIP interop peer',
  });
  ua.on('registered', () => report({ type: 'registered', user }));
  ua.on('registrationFailed', (e) => report({ type: 'registrationFailed', cause: String(e.cause) }));
  ua.on('disconnected', () => report({ type: 'disconnected' }));
  ua.on('newRTCSession', ({ originator, session: s, request }) => {
    if (session && !session.isEnded()) {
      if (originator === 'remote') s.terminate({ status_code: 486 });
      return;
    }
    session = s;
    watch(s, originator);
    if (originator === 'remote') {
      report({ type: 'incoming', from: request.from.uri.user, sdp: request.body || '' });
      report({ type: 'answering' });
      s.answer(callOptions);
    }
  });
  ua.start();
};

function watch(s, originator) {
  s.on('progress', () => report({ type: 'progress', originator }));
  s.on('accepted', () => report({ type: 'accepted', originator }));
  s.on('confirmed', () => {
    report({ type: 'confirmed', originator });
    startMeter(s.connection);
  });
  s.on('sdp', ({ originator: who, type, sdp }) => report({ type: 'sdp', who, sdpType: type, sdp }));
  s.on('ended', (e) => {
    report({ type: 'ended', originator: e.originator, cause: String(e.cause) });
    stopMeter();
  });
  s.on('failed', (e) => {
    report({ type: 'failed', originator: e.originator, cause: String(e.cause) });
    stopMeter();
  });
  s.on('hold', ({ originator: who }) => report({ type: 'hold', originator: who }));
  s.on('unhold', ({ originator: who }) => report({ type: 'unhold', originator: who }));
  s.on('newDTMF', ({ originator: who, dtmf }) => report({ type: 'dtmf', originator: who, tone: dtmf.tone }));
  const watchIce = (pc) => {
    pc.addEventListener('iceconnectionstatechange', () => report({ type: 'ice', state: pc.iceConnectionState }));
    pc.addEventListener('connectionstatechange', () => report({ type: 'connection', state: pc.connectionState }));
  };
  // An outgoing session's connection exists before newRTCSession fires.
  if (s.connection) {
    watchIce(s.connection);
    watchFirstAudio(s.connection);
  } else {
    s.on('peerconnection', ({ peerconnection }) => {
      watchIce(peerconnection);
      watchFirstAudio(peerconnection);
    });
  }
}

// `audioStarted` once the first decoded audio arrives: the receiving
// `inbound-rtp` stats count samples decoded from packets (totalSamplesReceived
// less concealedSamples), polled every 5 ms for up to 30 s — the benchmark's
// "answer → first audio". Chromium decodes remote audio only while something
// plays it, so the remote track goes to a (muted) audio element as soon as it
// arrives, as a softphone page does with its speaker element.
const players = [];
function watchFirstAudio(pc) {
  pc.addEventListener('track', (e) => {
    const element = new Audio();
    element.muted = true;
    element.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    element.play().catch(() => {});
    players.push(element);
  });
  const started = performance.now();
  const poll = async () => {
    if (pc.connectionState === 'closed' || performance.now() - started > 30000) return;
    try {
      const stats = await pc.getStats();
      let decoded = 0;
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') decoded = (r.totalSamplesReceived || 0) - (r.concealedSamples || 0);
      });
      if (decoded > 0) {
        report({ type: 'audioStarted', decoded });
        return;
      }
    } catch (e) {
      report({ type: 'meterWarning', reason: `first audio: ${e}` });
      return;
    }
    setTimeout(poll, 5);
  };
  poll();
}

window.dial = function dial(target) {
  report({ type: 'dialCommand', target });
  ua.call(target, callOptions);
};

window.hangup = function hangup() {
  if (session && !session.isEnded()) session.terminate();
};

// JsSIP refuses (returns false) while an earlier re-INVITE is still in
// flight, e.g. the hold's 200 not yet applied: retry for up to 5 s.
function reOffer(what, act) {
  const started = performance.now();
  const attempt = () => {
    if (!session || session.isEnded()) return;
    if (act(session)) return;
    if (performance.now() - started > 5000) report({ type: 'commandRefused', command: what });
    else setTimeout(attempt, 100);
  };
  attempt();
}

window.hold = function hold() {
  reOffer('hold', (s) => s.hold());
};

window.unhold = function unhold() {
  reOffer('unhold', (s) => s.unhold());
};

// RFC 4733 telephone-events through the browser's RTCDTMFSender.
window.sendDtmf = function sendDtmf(tones) {
  if (!session) return false;
  session.sendDTMF(tones, { transportType: 'RFC2833', duration: 100, interToneGap: 70 });
  return true;
};

// Measure the remote audio every 500 ms until the call ends.
function startMeter(pc) {
  stopMeter();
  const receiver = pc.getReceivers().find((r) => r.track && r.track.kind === 'audio');
  if (!receiver) {
    report({ type: 'meterFailed', reason: 'no audio receiver' });
    return;
  }
  const stream = new MediaStream([receiver.track]);
  // Chromium feeds WebAudio from a remote track only while a media element plays it.
  const element = new Audio();
  element.muted = true;
  element.srcObject = stream;
  element.play().catch((e) => report({ type: 'meterWarning', reason: `audio element: ${e}` }));
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0;
  context.createMediaStreamSource(stream).connect(analyser);
  context.resume().catch(() => {});
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  const wave = new Float32Array(analyser.fftSize);
  const timer = setInterval(async () => {
    analyser.getFloatFrequencyData(spectrum);
    analyser.getFloatTimeDomainData(wave);
    let peak = 0;
    for (let i = 1; i < spectrum.length; i += 1) if (spectrum[i] > spectrum[peak]) peak = i;
    const rms = Math.sqrt(wave.reduce((sum, x) => sum + x * x, 0) / wave.length);
    const line = {
      type: 'audio',
      contextState: context.state,
      rms,
      peakHz: (peak * context.sampleRate) / analyser.fftSize,
      peakDb: spectrum[peak],
    };
    try {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') {
          Object.assign(line, {
            packetsReceived: r.packetsReceived,
            packetsLost: r.packetsLost,
            audioLevel: r.audioLevel,
            totalAudioEnergy: r.totalAudioEnergy,
            totalSamplesDuration: r.totalSamplesDuration,
            codecId: r.codecId,
          });
        } else if (r.type === 'outbound-rtp' && r.kind === 'audio') {
          line.packetsSent = r.packetsSent;
        }
      });
      const codec = line.codecId && stats.get(line.codecId);
      if (codec) line.codec = codec.mimeType;
    } catch (e) {
      line.statsError = String(e);
    }
    report(line);
  }, 500);
  meter = { timer, context, element };
}

function stopMeter() {
  if (!meter) return;
  clearInterval(meter.timer);
  meter.context.close().catch(() => {});
  meter.element.srcObject = null;
  meter = null;
}

// Unregister (as closing the tab does not) and wait up to 2 s.
window.stopPhone = function stopPhone() {
  return new Promise((resolve) => {
    if (!ua) {
      resolve(false);
      return;
    }
    window.hangup();
    ua.once('unregistered', () => resolve(true));
    ua.stop();
    setTimeout(() => resolve(false), 2000);
  });
};

report({ type: 'pageReady' });
