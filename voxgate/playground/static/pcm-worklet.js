// Microphone frames (float32 at the context's 24 kHz) as little-endian pcm16, posted in ~100 ms pieces.
class Pcm16 extends AudioWorkletProcessor {
  constructor() { super(); this.parts = []; this.length = 0; }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      const out = new Int16Array(channel.length);
      for (let i = 0; i < channel.length; i++) out[i] = Math.max(-1, Math.min(1, channel[i])) * 0x7fff;
      this.parts.push(out); this.length += out.length;
      if (this.length >= sampleRate / 10) {
        const all = new Int16Array(this.length);
        let at = 0;
        for (const p of this.parts) { all.set(p, at); at += p.length; }
        this.port.postMessage(all.buffer, [all.buffer]);
        this.parts = []; this.length = 0;
      }
    }
    return true;
  }
}
registerProcessor("pcm16", Pcm16);
