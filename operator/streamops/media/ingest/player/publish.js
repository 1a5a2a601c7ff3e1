// The ingest's publish page (page.py serves it at {prefix}/publish with the stream's options as JSON
// in #streamops-publish-options; webrtc.js before this): this browser's camera and microphone go to
// the ingest over WHIP ({prefix}/whip, Authorization: Bearer <the stream key>), H.264 and Opus only.
//
// The stream key is typed or pasted into the page: it is never put in a URL, and kept only in this
// tab's sessionStorage when asked to ("Keep the key in this tab"). Stop and leaving the page
// (pagehide) DELETE the WHIP session.
//
// For tests, window.streamopsPublisher: {state: 'stopped'|'connecting'|'live'|'failed', status (of
// the last WHIP POST), message, messageKind ('error'|'ok'|'info'), location, offer, answer,
// connectionState, bitrate (kbit/s sent, video and audio), sent ({width, height, fps}), preview
// (a camera is on), start(), stop(), stats()}.
(function () {
  'use strict';

  const ICE_GRACE_MS = 5000; // ICE disconnected this long: the connection is lost
  const CONNECT_MS = 10000; // a 201 whose connection is not up after this: failed
  const ANSWER_MS = 10000; // the WHIP POST's answer
  const STORAGE_KEY = `streamops-stream-key:${location.pathname}`;

  const rtc = window.streamopsRtc;
  const options = JSON.parse(document.getElementById('streamops-publish-options').textContent);
  const $ = (id) => document.getElementById(id);
  const form = $('form');
  const keyInput = $('key');
  const remember = $('remember');
  const cameraSelect = $('camera');
  const microphoneSelect = $('microphone');
  const startButton = $('start');
  const stopButton = $('stop');
  const preview = $('preview');
  const badge = $('badge');
  const statsBox = $('stats');
  const messageBox = $('message');
  const connectionText = $('connection');
  const bitrateText = $('bitrate');
  const whipUrl = options.whip ? new URL(options.whip, location.href).href : null;

  let media = null; // the camera and microphone (MediaStream), once granted
  let session = null; // {pc, location, headers, unwatch, timer}
  let lastBytes = null; // {bytes, at}: for the bitrate
  let busy = false; // a start is under way

  const api = {
    state: 'stopped',
    status: null,
    message: '',
    messageKind: 'info',
    location: null,
    offer: null,
    answer: null,
    bitrate: 0,
    sent: null,
    get preview() { return !!media; },
    get connectionState() { return session ? session.pc.connectionState : 'closed'; },
    start,
    stop,
    stats,
  };
  window.streamopsPublisher = api;

  // --- what the page shows ------------------------------------------------------------------------

  function say(message, kind) {
    api.message = message;
    api.messageKind = kind || 'info';
    messageBox.textContent = message;
    messageBox.dataset.kind = api.messageKind;
  }

  function setState(state) {
    api.state = state;
    document.body.dataset.state = state;
    const live = state === 'live';
    badge.dataset.on = String(live);
    badge.textContent = live ? 'LIVE' : state === 'connecting' ? 'CONNECTING' : 'OFFLINE';
    const publishing = state === 'connecting' || live;
    startButton.disabled = publishing || busy || !whipUrl;
    stopButton.disabled = !publishing;
    keyInput.disabled = publishing;
    statsBox.hidden = !live;
    connectionText.textContent = session ? session.pc.connectionState : 'not connected';
    if (!publishing) bitrateText.textContent = '\u2013';
  }

  // What the ingest's answer means for the person at the camera.
  function explain(status, body) {
    const detail = body && body.trim() ? ` (the ingest said: ${body.trim().slice(0, 300)})` : '';
    switch (status) {
      case 401:
        return 'Wrong stream key: the ingest did not accept it. Check the key and press Start again.';
      case 403:
        return `This stream does not take WHIP: publishing from a browser is not enabled for it${detail}.`;
      case 409:
        return 'Someone else is publishing to this stream right now (an encoder over RTMP or SRT, or another ' +
          'browser). Stop that publisher first, then press Start again.';
      case 400:
      case 406:
        return `This browser cannot send what the stream needs, H.264 video and Opus audio${detail}. ` +
          'Try another browser (Chrome, Edge, Firefox or Safari).';
      case 404:
        return `The ingest has no WHIP endpoint at ${whipUrl}${detail}.`;
      case 503:
        return `The ingest cannot take a publisher now${detail}. Try again in a moment.`;
      default:
        return `The ingest answered ${status}${detail}.`;
    }
  }

  // --- camera and microphone ----------------------------------------------------------------------

  function constraints() {
    const camera = cameraSelect.value;
    const microphone = microphoneSelect.value;
    return {
      video: {
        ...(camera ? { deviceId: { exact: camera } } : {}),
        width: { ideal: 1280 },
        height: { ideal: 720 },
        frameRate: { ideal: 30 },
      },
      audio: microphone ? { deviceId: { exact: microphone } } : true,
    };
  }

  // One getUserMedia at a time (the page's first, a device change, a Start), in order.
  let mediaChain = Promise.resolve();
  function openMedia() {
    const next = mediaChain.then(openMediaNow);
    mediaChain = next.catch(() => {});
    return next;
  }

  async function openMediaNow() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('this browser cannot use a camera here (a page served over http:// from another host ' +
        'than localhost gets no camera: use https://)');
    }
    const next = await navigator.mediaDevices.getUserMedia(constraints());
    const previous = media;
    media = next;
    preview.srcObject = media;
    if (session) { // live: the senders switch to the new tracks, no new session
      for (const sender of session.pc.getSenders()) {
        const track = sender.track && media.getTracks().find((t) => t.kind === sender.track.kind);
        if (track) await sender.replaceTrack(track);
      }
    }
    if (previous) previous.getTracks().forEach((t) => t.stop());
    await listDevices();
    return media;
  }

  async function listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind, label) => {
      const current = media && media.getTracks().find((t) => t.kind === (kind === 'videoinput' ? 'video' : 'audio'));
      const currentId = current && current.getSettings().deviceId;
      select.replaceChildren();
      devices.filter((d) => d.kind === kind).forEach((d, i) => {
        const option = new Option(d.label || `${label} ${i + 1}`, d.deviceId);
        option.selected = d.deviceId === currentId;
        select.appendChild(option);
      });
      if (!select.options.length) select.appendChild(new Option(`no ${label.toLowerCase()} found`, ''));
    };
    fill(cameraSelect, 'videoinput', 'Camera');
    fill(microphoneSelect, 'audioinput', 'Microphone');
  }

  function mediaError(e) {
    const name = e && e.name;
    if (name === 'NotAllowedError') return 'The browser was not allowed to use the camera and microphone: allow them for this page.';
    if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'No camera or microphone was found.';
    if (name === 'NotReadableError') return 'The camera or microphone is in use by another program.';
    return `The camera and microphone could not be opened: ${e && e.message ? e.message : e}`;
  }

  // --- publishing ---------------------------------------------------------------------------------

  async function start() {
    if (busy || session) return api;
    const key = keyInput.value.trim();
    if (!whipUrl) {
      say('This stream does not take WHIP: publishing from a browser is not enabled for it.', 'error');
      return api;
    }
    if (!key) {
      say('Paste the stream key first.', 'error');
      keyInput.focus();
      return api;
    }
    if (remember.checked) sessionStorage.setItem(STORAGE_KEY, key);
    else sessionStorage.removeItem(STORAGE_KEY);
    busy = true;
    setState('connecting');
    say('Connecting\u2026', 'info');
    let pc = null;
    try {
      await mediaChain; // the page's own getUserMedia, if still pending
      if (!media) await openMedia();
      pc = rtc.peerConnection(options.iceServers);
      for (const track of media.getTracks()) {
        const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [media] });
        rtc.preferCodecs(transceiver, track.kind, 'sendonly');
      }
      const headers = { Authorization: `Bearer ${key}` };
      const result = await rtc.exchange(pc, whipUrl, { headers, answerTimeoutMs: ANSWER_MS });
      Object.assign(api, { status: result.status, location: result.location, offer: result.offer, answer: result.answer });
      if (result.status !== 201) {
        pc.close();
        busy = false;
        setState('failed');
        say(explain(result.status, result.body), 'error');
        return api;
      }
      begin(pc, result.location, headers);
    } catch (e) {
      if (pc) pc.close();
      busy = false;
      setState('failed');
      if (e instanceof rtc.RtcError && e.kind === 'codec') {
        say(`This browser cannot send what the stream needs (${e.message}): H.264 video and Opus audio.`, 'error');
      } else if (e instanceof rtc.RtcError) {
        say(`Could not reach the ingest: ${e.message}.`, 'error');
      } else if (e && e.name && e.name.endsWith('Error') && !media) {
        say(mediaError(e), 'error');
      } else {
        say(`Could not start: ${e && e.message ? e.message : e}`, 'error');
      }
    }
    return api;
  }

  function begin(pc, resource, headers) {
    const ending = (why) => {
      if (!session || session.pc !== pc) return;
      end();
      setState('failed');
      say(`${why}. Press Start to publish again.`, 'error');
    };
    const connected = () => pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed';
    session = { pc, location: resource, headers, timer: null, unwatch: () => {} };
    busy = false;
    lastBytes = null;
    setState('connecting');
    pc.addEventListener('connectionstatechange', () => {
      if (session && session.pc === pc) connectionText.textContent = pc.connectionState;
    });
    session.timer = setTimeout(() => {
      if (!connected()) ending('The media connection to the ingest did not come up (UDP and TCP to it blocked?)');
    }, CONNECT_MS);
    session.unwatch = rtc.watch(pc, {
      onConnected: () => {
        if (!session || session.pc !== pc || api.state === 'live') return;
        setState('live');
        say('Live: the stream is on air.', 'ok');
      },
      onFailed: (why) => ending(`The connection to the ingest was lost (${why})`),
    }, ICE_GRACE_MS);
  }

  // The session ends here: DELETEd at the ingest, then the peer connection closed (closed first, the
  // ingest would end the session on DTLS's close and answer the DELETE 404). The camera stays on.
  async function end(leaving) {
    const ended = session;
    session = null;
    if (!ended) return null;
    clearTimeout(ended.timer);
    ended.unwatch();
    const deleted = rtc.remove(ended.location, { keepalive: !!leaving, headers: ended.headers });
    if (leaving) return null; // the page's teardown closes the connection
    const status = await deleted;
    ended.pc.close();
    return status;
  }

  async function stop() {
    const status = await end();
    setState('stopped');
    say(status === null ? 'Stopped.' : 'Stopped: the stream is off air.', 'info');
    return status;
  }

  async function stats() {
    const out = { connectionState: api.connectionState };
    if (!session) return out;
    const report = await session.pc.getStats();
    report.forEach((s) => {
      if (s.type === 'outbound-rtp') {
        const codec = s.codecId ? report.get(s.codecId) : null;
        out[s.kind] = {
          packets: s.packetsSent, bytes: s.bytesSent, framesEncoded: s.framesEncoded,
          frameWidth: s.frameWidth, frameHeight: s.frameHeight, framesPerSecond: s.framesPerSecond,
          encoderImplementation: s.encoderImplementation,
          codec: codec ? `${codec.mimeType} ${codec.sdpFmtpLine || ''}`.trim() : null,
        };
      }
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        const local = report.get(s.localCandidateId);
        const remote = report.get(s.remoteCandidateId);
        out.selectedPair = `${local.address}:${local.port}/${local.protocol} -> ${remote.address}:${remote.port}/${remote.protocol}`;
      }
    });
    return out;
  }

  async function updateStats() {
    if (!session) return;
    const current = session;
    const s = await stats();
    if (current !== session) return;
    const bytes = (s.video ? s.video.bytes || 0 : 0) + (s.audio ? s.audio.bytes || 0 : 0);
    const now = performance.now();
    if (lastBytes && now > lastBytes.at) api.bitrate = ((bytes - lastBytes.bytes) * 8) / (now - lastBytes.at); // bit/ms = kbit/s
    lastBytes = { bytes, at: now };
    connectionText.textContent = s.connectionState;
    if (s.video) api.sent = { width: s.video.frameWidth || 0, height: s.video.frameHeight || 0, fps: s.video.framesPerSecond || 0 };
    const picture = api.sent && api.sent.width ? ` \u00b7 ${api.sent.width}\u00d7${api.sent.height} @ ${Math.round(api.sent.fps)} fps` : '';
    bitrateText.textContent = `${Math.round(api.bitrate)} kbit/s${picture}`;
    statsBox.textContent = `${Math.round(api.bitrate)} kbit/s${picture}${s.video && s.video.codec ? `\n${s.video.codec.split(' ')[0]}` : ''}`;
  }

  // --- wiring -------------------------------------------------------------------------------------

  form.addEventListener('submit', (event) => {
    event.preventDefault(); // never a navigation: the key stays out of every URL
    start();
  });
  stopButton.addEventListener('click', () => { stop(); });
  for (const select of [cameraSelect, microphoneSelect]) {
    select.addEventListener('change', () => {
      openMedia().catch((e) => say(mediaError(e), 'error'));
    });
  }
  remember.addEventListener('change', () => {
    if (!remember.checked) sessionStorage.removeItem(STORAGE_KEY);
  });
  window.addEventListener('pagehide', () => { end(true); });
  setInterval(() => { updateStats().catch(() => {}); }, 1000);

  const watch = document.getElementById('watch');
  watch.href = new URL(options.player || 'player', location.href).href;

  try {
    const kept = sessionStorage.getItem(STORAGE_KEY);
    if (kept) {
      keyInput.value = kept;
      remember.checked = true;
    }
  } catch (e) {
    // storage off: nothing kept
  }
  setState('stopped');
  if (!whipUrl) {
    say('This stream does not take WHIP: publishing from a browser is not enabled for it.', 'error');
  } else {
    openMedia().then(
      () => say('Paste the stream key and press Start.', 'info'),
      (e) => say(mediaError(e), 'error'),
    );
  }
})();
