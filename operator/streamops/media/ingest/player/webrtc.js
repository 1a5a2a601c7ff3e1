// WHIP and WHEP in the ingest's pages (page.py serves it at {prefix}/player/webrtc.js): the player
// loads it when the stream serves WHEP, the publish page always. Defines window.streamopsRtc:
//   peerConnection(iceServers, {relay}) -> an RTCPeerConnection (no STUN/TURN unless the page's options
//                                       or a Link rel="ice-server" header of an earlier answer name some;
//                                       relay: TURN relays only, iceTransportPolicy 'relay')
//   preferCodecs(transceiver, kind, direction) -> H.264 (packetization-mode=1 first) or Opus only;
//                                       throws an RtcError 'codec' when the browser has none
//   exchange(pc, endpoint, {headers, answerTimeoutMs}) -> {status, body, location, offer, answer,
//                                       postedAt}: the complete offer POSTed once gathered (the
//                                       component answers PATCH with 405: no trickle ICE); a 201's
//                                       answer applied; location absolute
//   remove(location, {keepalive, headers}) -> DELETE of the session resource (its status, or null)
//   candidates(sdp)                  -> the a=candidate lines' "transport address port type"
//   watch(pc, {onConnected, onFailed}, graceMs) -> ICE failed, or disconnected for graceMs: onFailed(why)
(function () {
  'use strict';
  if (window.streamopsRtc) return;

  const GATHER_MS = 2000; // gathering that takes longer (an interface that never answers) is cut short
  const ANSWER_MS = 5000; // the POST's answer
  const linkServers = []; // from Link: <...>; rel="ice-server" headers of earlier answers

  class RtcError extends Error {
    constructor(kind, message) {
      super(message);
      this.kind = kind; // 'codec' | 'network' | 'timeout'
    }
  }

  // The page's servers, less the URLs a Link header named since: those credentials are fresher (the
  // page may have been loaded before a rotation).
  function peerConnection(iceServers, { relay = false } = {}) {
    const learned = new Set(linkServers.map((s) => s.urls));
    const own = (iceServers || [])
      .map((s) => ({ ...s, urls: [].concat(s.urls).filter((url) => !learned.has(url)) }))
      .filter((s) => s.urls.length);
    return new RTCPeerConnection({
      iceServers: [...own, ...linkServers],
      bundlePolicy: 'max-bundle',
      iceTransportPolicy: relay ? 'relay' : 'all',
    });
  }

  // Only what the ingest's WebRTC component takes: H.264 with packetization-mode=1 (first, then the
  // other H.264 entries) and Opus. Chromium keeps rtx/red/ulpfec only when listed, so the m-lines
  // carry nothing else. Sending, the list is checked against what the browser encodes; receiving,
  // against what it decodes.
  function preferCodecs(transceiver, kind, direction) {
    const mimeType = kind === 'video' ? 'video/h264' : 'audio/opus';
    const side = direction === 'sendonly' ? window.RTCRtpSender : window.RTCRtpReceiver;
    const capabilities = side && side.getCapabilities ? side.getCapabilities(kind) : null;
    if (!capabilities) return; // cannot tell: the offer says what the browser has, the ingest answers 406 if wrong
    const codecs = capabilities.codecs.filter((c) => c.mimeType.toLowerCase() === mimeType);
    if (!codecs.length) {
      const name = kind === 'video' ? 'H.264 video' : 'Opus audio';
      throw new RtcError('codec', `this browser cannot ${direction === 'sendonly' ? 'send' : 'receive'} ${name}`);
    }
    const mode1 = (c) => (c.sdpFmtpLine || '').includes('packetization-mode=1');
    if (typeof transceiver.setCodecPreferences === 'function') {
      transceiver.setCodecPreferences([...codecs.filter(mode1), ...codecs.filter((c) => !mode1(c))]);
    }
  }

  // Resolves when ICE gathering is complete or after timeoutMs (whatever is gathered then goes).
  function gathered(pc, timeoutMs) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      function check() {
        if (pc.iceGatheringState === 'complete') done(true);
      }
      function done(complete) {
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve(complete);
      }
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  // Link: <stun:stun.example.net>; rel="ice-server", <turn:...>; rel="ice-server"; username="u";
  // credential="c"; credential-type="password" (RFC 9725 4.6), one link or several per header, values
  // as tokens or quoted-strings (\" and \\ escaped; commas and semicolons inside quotes are theirs).
  // Used by later peer connections of the page (the offer of this one is already out: no trickle); a
  // URL named again replaces its entry: the freshest credential wins.
  const LINK = /<([^>]*)>((?:\s*;\s*[\w!#$%&'*+.^`|~-]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^\s;,"]*))?)*)/g;
  const PARAM = /;\s*([\w!#$%&'*+.^`|~-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;,"]*)))?/g;
  function learnIceServers(header) {
    if (!header) return;
    for (const link of header.matchAll(LINK)) {
      const url = link[1].trim();
      const params = {};
      for (const p of link[2].matchAll(PARAM)) {
        const name = p[1].toLowerCase();
        if (!(name in params)) params[name] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] || '');
      }
      if (!(params.rel || '').toLowerCase().split(/\s+/).includes('ice-server') || !/^(stuns?|turns?):/i.test(url)) continue;
      const server = { urls: url };
      if (params.username !== undefined) server.username = params.username;
      if (params.credential !== undefined) server.credential = params.credential;
      const known = linkServers.findIndex((s) => s.urls === url);
      if (known >= 0) linkServers.splice(known, 1, server);
      else linkServers.push(server);
    }
  }

  async function exchange(pc, endpoint, { headers = {}, answerTimeoutMs = ANSWER_MS, gatherTimeoutMs = GATHER_MS } = {}) {
    const url = new URL(endpoint, location.href).href;
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, gatherTimeoutMs);
    const offer = pc.localDescription.sdp;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), answerTimeoutMs);
    const postedAt = performance.now();
    let response, body;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/sdp' },
        body: offer,
        cache: 'no-store',
        credentials: 'omit',
        signal: abort.signal,
      });
      body = await response.text();
    } catch (e) {
      if (abort.signal.aborted) throw new RtcError('timeout', `no answer from ${url} within ${answerTimeoutMs / 1000} s`);
      throw new RtcError('network', `could not reach ${url}: ${e.message || e}`);
    } finally {
      clearTimeout(timer);
    }
    learnIceServers(response.headers.get('Link'));
    const resource = response.headers.get('Location');
    const result = {
      status: response.status,
      body,
      location: resource ? new URL(resource, url).href : null, // relative to the endpoint (RFC 9725)
      offer,
      answer: null,
      postedAt,
    };
    if (response.status === 201) {
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      result.answer = body;
    }
    return result;
  }

  async function remove(resource, { keepalive = false, headers = {} } = {}) {
    if (!resource) return null;
    try {
      const response = await fetch(resource, { method: 'DELETE', headers, keepalive, credentials: 'omit' });
      return response.status;
    } catch (e) {
      return null;
    }
  }

  function candidates(sdp) {
    return (sdp || '').split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')).map((l) => {
      const f = l.slice('a=candidate:'.length).split(' ');
      return `${f[2].toLowerCase()} ${f[4]} ${f[5]} ${f[7]}`;
    });
  }

  // ICE failed, or disconnected for longer than graceMs: onFailed(why), once. onConnected at each
  // (re)connection. Returns a function that stops watching.
  function watch(pc, { onConnected, onFailed }, graceMs) {
    let timer = null;
    let over = false;
    const fail = (why) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      onFailed(why);
    };
    const onChange = () => {
      const state = pc.iceConnectionState;
      if (state === 'connected' || state === 'completed') {
        clearTimeout(timer);
        timer = null;
        if (onConnected) onConnected();
      } else if (state === 'failed') {
        fail('ICE failed');
      } else if (state === 'disconnected' && timer === null) {
        timer = setTimeout(() => fail(`ICE disconnected for ${graceMs / 1000} s`), graceMs);
      }
    };
    pc.addEventListener('iceconnectionstatechange', onChange);
    onChange(); // it may have changed before this was called (a loopback peer connects in ms)
    return () => {
      over = true;
      clearTimeout(timer);
      pc.removeEventListener('iceconnectionstatechange', onChange);
    };
  }

  window.streamopsRtc = {
    RtcError, peerConnection, preferCodecs, exchange, remove, candidates, watch, linkServers, learnIceServers,
  };
})();
