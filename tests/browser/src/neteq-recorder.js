// AudioWorklet for tests/browser/src/neteq-page.js's `worklet` mode: hands
// every render quantum of its (mono) input to the page.
class HomelineRecorder extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}

registerProcessor('homeline-recorder', HomelineRecorder);
