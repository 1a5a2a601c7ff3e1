// WHIP publisher and WHEP viewer in the page, for the harness (devtools/devtools/media/webrtc_pages.py
// serves it; the product's own pages come later, issue 26). Defines window.streamopsWebRtc:
//   publish(endpoint, options) -> Promise of the exchange {status, body, location, offer, answer}
//   play(endpoint, video, clockLayout) -> the same, once the answer is applied; video plays the stream
//                                       (clockLayout: read the clock strip of the first picture, when
//                                       clock_strip.js is in the page)
//   stop()                    -> DELETE the session resource, close the peer connection
//   firstFrame                -> Promise of {sincePostMs, sinceStartMs, shownAt, burnedMs}: the first
//                                picture shown (shownAt on the Date.now() clock; burnedMs its clock)
//   stats()                   -> Promise of the inbound/outbound RTP counters
// No trickle ICE (the component answers PATCH with 405): the offer is POSTed once gathering is
// complete, with every candidate in it. No STUN/TURN server: iceServers is empty.
(() => {
  if (window.streamopsWebRtc) return;

  const state = { pc: null, location: null, endpoint: null, firstFrame: null };

  // Wait for ICE gathering to complete (every candidate is then in localDescription).
  const gathered = (pc) =>
    new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const check = () => {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", check);
          resolve();
        }
      };
      pc.addEventListener("icegatheringstatechange", check);
    });

  // Only the codecs the component takes: H.264 (packetization-mode=1 first) and Opus. Chromium
  // keeps rtx/red/ulpfec entries only when they are listed, so the m-lines carry nothing else.
  // Sending, Chromium checks the list against what it can encode; receiving, against what it decodes.
  const preferred = (kind, mimeType, direction) => {
    const side = direction === "sendonly" ? RTCRtpSender : RTCRtpReceiver;
    const codecs = side.getCapabilities(kind).codecs.filter((c) => c.mimeType === mimeType);
    if (!codecs.length) throw new Error(`this browser has no ${mimeType}`);
    const mode1 = (c) => (c.sdpFmtpLine || "").includes("packetization-mode=1");
    return [...codecs.filter(mode1), ...codecs.filter((c) => !mode1(c))];
  };

  // POST the complete offer; the answer (when 201) is applied.
  const exchange = async (pc, endpoint, postedAt) => {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await gathered(pc);
    const sdp = pc.localDescription.sdp;
    postedAt.value = performance.now();
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: sdp,
    });
    const body = await response.text();
    const result = { status: response.status, body, location: response.headers.get("Location"), offer: sdp };
    if (response.status !== 201) return result;
    await pc.setRemoteDescription({ type: "answer", sdp: body });
    // The resource is relative to the endpoint (the component answers /whip/<id>).
    state.location = new URL(result.location, new URL(endpoint, location.href)).href;
    return { ...result, answer: body };
  };

  const newPeerConnection = () => {
    if (state.pc) throw new Error("a session is already open in this page: stop() it first");
    state.pc = new RTCPeerConnection({ iceServers: [] });
    return state.pc;
  };

  const publish = async (endpoint, { video = true, audio = true } = {}) => {
    const media = await navigator.mediaDevices.getUserMedia({ video, audio });
    const pc = newPeerConnection();
    for (const track of media.getTracks()) {
      const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [media] });
      const mimeType = track.kind === "video" ? "video/H264" : "audio/opus";
      transceiver.setCodecPreferences(preferred(track.kind, mimeType, "sendonly"));
    }
    const preview = document.querySelector("video");
    if (preview) preview.srcObject = media;
    const result = await exchange(pc, endpoint, { value: 0 });
    if (result.status !== 201) await closeOnly();
    return result;
  };

  const play = async (endpoint, video = "video", clockLayout = null) => {
    const element = typeof video === "string" ? document.querySelector(video) : video;
    const pc = newPeerConnection();
    const startedAt = performance.now();
    const postedAt = { value: 0 };
    for (const kind of ["video", "audio"]) {
      const transceiver = pc.addTransceiver(kind, { direction: "recvonly" });
      transceiver.setCodecPreferences(preferred(kind, kind === "video" ? "video/H264" : "audio/opus", "recvonly"));
    }
    const stream = new MediaStream();
    pc.addEventListener("track", (event) => stream.addTrack(event.track));
    element.muted = true;
    element.autoplay = true;
    element.playsInline = true;
    // The first picture presented: its display time against the POST and the start. Asked for again
    // at loadstart: the load that a new srcObject starts (in a later task) drops earlier requests.
    state.firstFrame = new Promise((resolve) => {
      const onFrame = (now, metadata) =>
        resolve({
          sincePostMs: metadata.expectedDisplayTime - postedAt.value,
          sinceStartMs: metadata.expectedDisplayTime - startedAt,
          shownAt: performance.timeOrigin + metadata.expectedDisplayTime,
          // read now, while this picture is the one shown (a joiner may start in the past: GOP cache)
          burnedMs: clockLayout && window.streamopsClock ? window.streamopsClock.read(element, clockLayout) : null,
        });
      element.addEventListener("loadstart", () => element.requestVideoFrameCallback(onFrame), { once: true });
      element.requestVideoFrameCallback(onFrame);
    });
    element.srcObject = stream;
    const result = await exchange(pc, endpoint, postedAt);
    if (result.status !== 201) await closeOnly();
    else element.play().catch(() => {}); // autoplay covers it; play() only hurries it
    return result;
  };

  const closeOnly = async () => {
    if (state.pc) state.pc.close();
    state.pc = null;
  };

  const stop = async () => {
    let status = null;
    if (state.location) {
      status = (await fetch(state.location, { method: "DELETE" })).status;
      state.location = null;
    }
    await closeOnly();
    return status;
  };

  const stats = async () => {
    const out = { connectionState: state.pc ? state.pc.connectionState : "closed" };
    if (!state.pc) return out;
    const report = await state.pc.getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp" || s.type === "outbound-rtp") {
        const codec = s.codecId ? report.get(s.codecId) : null;
        out[`${s.type}-${s.kind}`] = {
          packets: s.packetsReceived ?? s.packetsSent,
          bytes: s.bytesReceived ?? s.bytesSent,
          framesDecoded: s.framesDecoded,
          framesEncoded: s.framesEncoded,
          framesDropped: s.framesDropped,
          jitterBufferDelay: s.jitterBufferDelay,
          jitterBufferEmittedCount: s.jitterBufferEmittedCount,
          encoderImplementation: s.encoderImplementation,
          decoderImplementation: s.decoderImplementation,
          codec: codec ? `${codec.mimeType} ${codec.sdpFmtpLine || ""}`.trim() : null,
        };
      }
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        const local = report.get(s.localCandidateId);
        const remote = report.get(s.remoteCandidateId);
        out.selectedPair = `${local.address}:${local.port}/${local.protocol} -> ${remote.address}:${remote.port}/${remote.protocol}`;
      }
    });
    return out;
  };

  window.streamopsWebRtc = {
    publish,
    play,
    stop,
    stats,
    get firstFrame() {
      return state.firstFrame;
    },
    get connectionState() {
      return state.pc ? state.pc.connectionState : "closed";
    },
  };
})();
