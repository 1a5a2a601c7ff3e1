// The clock strip's reader in the page (devtools/devtools/media/clock_source.py writes the strip and keeps
// the one definition of its layout, passed in as `layout`). Defines window.streamopsClock:
//   read(video, layout)             -> the ms burned into the picture shown now, or null
//   sample(video, durationMs, layout) -> Promise of what every presented picture carried
// Evaluated as a script; evaluating it again changes nothing.
(() => {
  if (window.streamopsClock) return;

  // CRC-16/CCITT-FALSE, as clock_source.crc16
  const crc16 = (bytes) => {
    let crc = 0xffff;
    for (const byte of bytes) {
      crc ^= byte << 8;
      for (let i = 0; i < 8; i++) crc = (crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1) & 0xffff;
    }
    return crc;
  };

  const canvases = new WeakMap();

  // Draw the strip of the current picture (at the video's own resolution, whatever its CSS size)
  // and read the blocks: the mean of each block's middle half against mid-grey.
  const readFrame = (video, layout) => {
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (!width || !height) return { ms: null, error: "no picture" };
    const stripHeight = Math.floor((layout.rows * height) / layout.rowDivisor);
    let canvas = canvases.get(video);
    if (!canvas) {
      canvas = document.createElement("canvas");
      canvases.set(video, canvas);
    }
    if (canvas.width !== width || canvas.height !== stripHeight) {
      canvas.width = width;
      canvas.height = stripHeight;
    }
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, width, stripHeight, 0, 0, width, stripHeight);
    // throws a SecurityError for a cross-origin <video src> without CORS: let it surface
    const pixels = context.getImageData(0, 0, width, stripHeight).data;
    const bits = [];
    for (let index = 0; index < layout.columns * layout.rows; index++) {
      const column = index % layout.columns;
      const row = Math.floor(index / layout.columns);
      const x0 = Math.floor((column * width) / layout.columns);
      const x1 = Math.floor(((column + 1) * width) / layout.columns);
      const y0 = Math.floor((row * height) / layout.rowDivisor);
      const y1 = Math.floor(((row + 1) * height) / layout.rowDivisor);
      const qx = Math.floor((x1 - x0) / 4);
      const qy = Math.floor((y1 - y0) / 4);
      let sum = 0;
      let count = 0;
      for (let y = y0 + qy; y < y1 - qy; y++) {
        for (let x = x0 + qx; x < x1 - qx; x++) {
          const p = (y * width + x) * 4;
          sum += pixels[p] + pixels[p + 1] + pixels[p + 2];
          count += 3;
        }
      }
      bits.push(sum / count > 128 ? 1 : 0);
    }
    const bytes = [];
    for (let i = 0; i < bits.length; i += 8) {
      bytes.push(bits.slice(i, i + 8).reduce((byte, bit) => (byte << 1) | bit, 0));
    }
    const timeBytes = bytes.slice(0, layout.timeBits / 8);
    const check = (bytes[timeBytes.length] << 8) | bytes[timeBytes.length + 1];
    if (crc16(timeBytes) !== check) return { ms: null, error: "checksum" };
    // 48 bits: exact in a double (integers up to 2^53)
    return { ms: timeBytes.reduce((value, byte) => value * 256 + byte, 0), error: null };
  };

  const resolveVideo = (video) => {
    const element = typeof video === "string" ? document.querySelector(video) : video;
    if (!(element instanceof HTMLVideoElement)) throw new Error(`not a <video>: ${video}`);
    return element;
  };

  const read = (video, layout) => readFrame(resolveVideo(video), layout).ms;

  // For durationMs, every picture the video presents (requestVideoFrameCallback): its burned ms and
  // when it is displayed (performance.timeOrigin + expectedDisplayTime, on the Date.now() clock).
  // A picture repeating the previous clock (a duplicated frame) is counted, not sampled again.
  const sample = (video, durationMs, layout) =>
    new Promise((resolve, reject) => {
      const element = resolveVideo(video);
      const frames = [];
      let presented = 0;
      let failed = 0;
      let repeated = 0;
      let waiting = 0;
      let lastMs = null;
      let lastPresented = null;
      let longestGap = 0;
      let done = false;
      const quality = () => (element.getVideoPlaybackQuality ? element.getVideoPlaybackQuality().droppedVideoFrames : 0);
      const droppedAtStart = quality();
      const playedAtStart = element.currentTime;
      const startedAt = performance.now();
      const onWaiting = () => waiting++;
      element.addEventListener("waiting", onWaiting);
      const onFrame = (now, metadata) => {
        if (done) return;
        presented++;
        const shownAt = performance.timeOrigin + metadata.expectedDisplayTime;
        if (lastPresented !== null) longestGap = Math.max(longestGap, metadata.expectedDisplayTime - lastPresented);
        lastPresented = metadata.expectedDisplayTime;
        try {
          const { ms } = readFrame(element, layout);
          if (ms === null) failed++;
          else if (ms === lastMs) repeated++;
          else {
            frames.push([ms, shownAt]);
            lastMs = ms;
          }
        } catch (error) {
          finish(error);
          return;
        }
        element.requestVideoFrameCallback(onFrame);
      };
      const finish = (error) => {
        if (done) return;
        done = true;
        element.removeEventListener("waiting", onWaiting);
        if (error) {
          reject(error);
          return;
        }
        resolve({
          frames,
          presented,
          failed,
          repeated,
          waiting,
          played: element.currentTime - playedAtStart,
          elapsed: (performance.now() - startedAt) / 1000,
          dropped: quality() - droppedAtStart,
          longestGap,
        });
      };
      element.requestVideoFrameCallback(onFrame);
      setTimeout(() => finish(null), durationMs);
    });

  window.streamopsClock = { read, sample, crc16 };
})();
