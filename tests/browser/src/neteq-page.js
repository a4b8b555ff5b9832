// Chromium's WebRTC receiver (NetEq) as a recorder, for the audio benchmark
// (bench/src/audio.rs): one RTCPeerConnection without ICE servers answers an
// offer, plays the remote track the way a softphone page does (an <audio>
// element, muted here) and records what the receiver plays out as 16-bit PCM.
//
// Served from loopback by neteq.mjs, plain browser JavaScript (no bundling).
// window.answerOffer(sdp) → answer SDP (after ICE gathering, candidates
// inline; a new call each time); window.finishRecording() → { rate,
// pcmBase64, stats } and the call closed.
//
// How the audio is taken: by default a MediaStreamTrackProcessor on the remote
// track, which hands over each 10 ms chunk Chromium's audio renderer pulls out
// of NetEq — the same clock, no resampling, nothing dropped or repeated by a
// second audio graph. `worklet` records through WebAudio instead (an
// AudioWorklet on a MediaStreamAudioSourceNode in a 48 kHz AudioContext), for
// comparison. Either way Chromium decodes remote audio only while something
// plays the track, so the <audio> element is needed.

let pc = null;
let player = null;
const chunks = [];
let rate = 0;
let mode = 'processor';
let stopRecording = () => {};
let recorderError = null;
let microphoneAsked = false;
let nextTimestamp = null;
let gapUs = 0;
// When each recorded chunk reached the page: [its first sample's index, wall
// clock in ms (performance.timeOrigin + now)], for the bench's mouth-to-ear
// latency (its sender stamps on the same wall clock).
const arrivals = [];
let recorded = 0;

function report(event) {
  if (typeof window.homelineReport === 'function') window.homelineReport(event);
}

function waitForGathering(connection, timeoutMs) {
  if (connection.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (connection.iceGatheringState === 'complete') {
        connection.removeEventListener('icegatheringstatechange', done);
        resolve();
      }
    };
    connection.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, timeoutMs);
  });
}

async function recordWithProcessor(track) {
  // eslint-disable-next-line no-undef
  // A deep queue: the default (10 chunks) drops audio whenever the page's
  // thread is late by 100 ms, as it is on a busy machine.
  const processor = new MediaStreamTrackProcessor({ track, maxBufferSize: 3000 });
  const reader = processor.readable.getReader();
  let running = true;
  stopRecording = () => {
    running = false;
    reader.cancel().catch(() => {});
  };
  (async () => {
    try {
      while (running) {
        const { value, done } = await reader.read();
        if (done || !value) break;
        if (running) {
          rate = value.sampleRate;
          // Timestamps (µs) that jump past the previous chunk's end: audio the
          // renderer produced that never reached us.
          if (nextTimestamp !== null && value.timestamp - nextTimestamp > 1000) gapUs += value.timestamp - nextTimestamp;
          nextTimestamp = value.timestamp + (value.numberOfFrames * 1e6) / value.sampleRate;
          const samples = new Float32Array(value.numberOfFrames);
          // Channel 0, whatever the track's layout.
          value.copyTo(samples, { planeIndex: 0, format: 'f32-planar' });
          chunks.push(samples);
          arrivals.push([recorded, performance.timeOrigin + performance.now()]);
          recorded += samples.length;
        }
        value.close();
      }
    } catch (e) {
      recorderError = String(e);
    }
  })();
}

async function recordWithWorklet(track) {
  const context = new AudioContext({ sampleRate: 48000 });
  await context.audioWorklet.addModule('/recorder.js');
  const source = context.createMediaStreamSource(new MediaStream([track]));
  const node = new AudioWorkletNode(context, 'homeline-recorder', { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
  node.port.onmessage = (e) => chunks.push(e.data);
  source.connect(node);
  // The graph runs only while it reaches the destination: through silence.
  const mute = context.createGain();
  mute.gain.value = 0;
  node.connect(mute).connect(context.destination);
  await context.resume();
  rate = context.sampleRate;
  stopRecording = () => {
    source.disconnect();
    context.close().catch(() => {});
  };
}

window.answerOffer = async function answerOffer(offer, recordMode) {
  // A new call: whatever the last one left goes.
  stopRecording();
  stopRecording = () => {};
  if (pc) pc.close();
  if (player) player.srcObject = null;
  chunks.length = 0;
  arrivals.length = 0;
  recorded = 0;
  rate = 0;
  recorderError = null;
  nextTimestamp = null;
  gapUs = 0;
  mode = recordMode || 'processor';
  // Without microphone permission Chromium gathers on the default route's
  // address only (its FilteringNetworkManager), never on loopback: ask for
  // the (fake) microphone once, as a softphone page does, and let it go.
  if (!microphoneAsked) {
    microphoneAsked = true;
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    mic.getTracks().forEach((t) => t.stop());
  }
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.addEventListener('connectionstatechange', () => report({ type: 'connectionState', state: pc.connectionState }));
  pc.addEventListener('track', (e) => {
    if (e.track.kind !== 'audio') return;
    const stream = e.streams[0] ?? new MediaStream([e.track]);
    player = new Audio();
    player.muted = true;
    player.srcObject = stream;
    player.play().catch((err) => report({ type: 'warning', text: `audio element: ${err}` }));
    const start = mode === 'worklet' ? recordWithWorklet(e.track) : recordWithProcessor(e.track);
    start.then(
      () => report({ type: 'recording', mode }),
      (err) => {
        recorderError = String(err);
        report({ type: 'failed', text: `recorder: ${err}` });
      },
    );
  });
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  await waitForGathering(pc, 5000);
  return pc.localDescription.sdp;
};

function base64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

window.finishRecording = async function finishRecording() {
  stopRecording();
  const wanted = ['packetsReceived', 'packetsLost', 'jitter', 'jitterBufferDelay', 'jitterBufferTargetDelay', 'jitterBufferEmittedCount',
    'totalSamplesReceived', 'concealedSamples', 'silentConcealedSamples', 'concealmentEvents', 'insertedSamplesForDeceleration',
    'removedSamplesForAcceleration', 'fecPacketsReceived', 'fecPacketsDiscarded', 'packetsDiscarded', 'codecId'];
  const stats = {};
  if (pc) {
    try {
      const all = await pc.getStats();
      all.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') for (const k of wanted) if (k in r) stats[k] = r[k];
      });
      all.forEach((r) => {
        if (r.id === stats.codecId) stats.codec = `${r.mimeType} ${r.sdpFmtpLine || ''}`.trim();
      });
    } catch (e) {
      stats.error = String(e);
    }
    pc.close();
    pc = null;
  }
  if (player) player.srcObject = null;
  player = null;
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const pcm = new Int16Array(total);
  let at = 0;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i += 1) {
      const s = Math.max(-1, Math.min(1, c[i]));
      pcm[at] = Math.round(s * 32767);
      at += 1;
    }
  }
  chunks.length = 0;
  const when = arrivals.slice();
  arrivals.length = 0;
  return { rate, mode, samples: total, gapMs: Math.round(gapUs / 1000), error: recorderError, stats, arrivals: when, pcmBase64: base64(new Uint8Array(pcm.buffer)) };
};
