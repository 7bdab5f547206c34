/**
 * Checks one SSE response as it arrives: counts data events, notes when the first one completed,
 * requires `data: [DONE]` last, and measures each chunk's lag from the mock's `@<ns>` send stamp
 * (process.hrtime.bigint(), CLOCK_MONOTONIC, comparable across processes on one machine).
 * Parsing follows the SSE spec loosely enough for re-framing gateways: `\r\n` or `\n` line ends,
 * `data:` with or without a space, comment lines ignored.
 */
export class SseCheck {
  /**
   * @param {number} expectEvents data events expected before [DONE]
   * @param {number[] | undefined} lags collects per-chunk lag in ms when given
   */
  constructor(expectEvents, lags) {
    this.expectEvents = expectEvents;
    this.lags = lags;
    this.pending = '';
    this.events = 0;
    this.done = false;
    this.afterDone = false;
    /** hrtime (bigint ns) at which the first data event was complete. */
    this.firstAt = 0n;
  }

  /** Feeds a decoded piece of the body received at `now` (hrtime bigint). */
  feed(text, now) {
    this.pending += text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
    let end;
    while ((end = this.pending.indexOf('\n\n')) >= 0) {
      const event = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      this.onEvent(event, now);
    }
  }

  onEvent(event, now) {
    let data;
    for (const line of event.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === undefined ? value : `${data}\n${value}`;
    }
    if (data === undefined) return;
    if (this.done) {
      this.afterDone = true;
      return;
    }
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    this.events++;
    if (this.firstAt === 0n) this.firstAt = now;
    if (this.lags) {
      const at = data.indexOf('@');
      if (at > 0) {
        const stop = data.indexOf('"', at);
        const sent = data.slice(at + 1, stop < 0 ? undefined : stop);
        if (/^\d+$/.test(sent)) this.lags.push(Number(now - BigInt(sent)) / 1e6);
      }
    }
  }

  /** True when the stream was complete and well-formed. */
  get ok() {
    return this.done && !this.afterDone && this.events === this.expectEvents && this.pending.trim() === '';
  }

  /** Why the stream is not ok ('' when it is). */
  get problem() {
    if (!this.done) return 'no-done';
    if (this.events !== this.expectEvents) return 'wrong-count';
    if (this.afterDone || this.pending.trim() !== '') return 'garbage';
    return '';
  }
}
