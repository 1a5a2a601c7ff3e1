// The player page's 360° and 180° views (docs/design/projection.md): the page's <video> (whatever plays
// it: hls.js, dash.js, WebRTC) is the texture of a sphere that three.js renders around the viewer, on a
// <canvas> over the video. player.js loads this script only when the stream's projection is not
// regular, and three.js (three.module.js, served by the worker beside this file) only from here.
//
// Projections (spec.playback.projection):
// - vr360: the frame is an equirectangular panorama of the whole sphere (2:1): its centre is ahead,
//   its left and right edges behind, its top row straight up.
// - vr180: the frame is the front hemisphere (longitude and latitude -90°..90°, equirectangular,
//   mono); behind the viewer is black.
// - vr360tb: top-bottom stereo 360°: each half is an equirectangular 360°, the top one the left eye;
//   shown in mono, the top half.
//
// Looking around: drag (mouse, pen, touch: the scene follows the pointer, a drag across the canvas's
// height turns by the vertical field of view), the arrow keys (5° a press), and the device's
// orientation where the browser gives it (deviceorientation: phones and tablets, on HTTPS pages; iOS
// asks for permission at the first touch). With the sensor on, dragging turns the heading only.
//
// window.streamopsPlayer.projection (for tests, and embedding pages' own controls): {name, ready,
// error, yaw, pitch (degrees: right and up are positive), fov (vertical), gyro (the sensor steers),
// look(yaw, pitch), turn(dYaw, dPitch), pixel(x, y) and centre() ([r, g, b, a] of the canvas, CSS
// pixels from its top left, rendered now)}.
(function () {
  'use strict';

  const FOV = 75; // vertical field of view, degrees
  const KEY_STEP = 5; // degrees per arrow key press
  const MAX_PITCH = 89; // straight up or down, not over the top
  const RADIUS = 50;
  const GEOMETRY = { // SphereGeometry's phiStart and phiLength: the frame's centre straight ahead (-z)
    vr360: [Math.PI / 2, 2 * Math.PI],
    vr360tb: [Math.PI / 2, 2 * Math.PI],
    vr180: [Math.PI, Math.PI],
  };
  const DEG = Math.PI / 180;

  function start(video, name, threeUrl) {
    const state = { yaw: 0, pitch: 0, device: null, heading: null, render: null, aim: null, camera: null, gl: null, dirty: true };
    const view = {
      name,
      ready: false, // three.js loaded and the sphere built
      error: null, // why the page shows the video flat instead
      fov: FOV,
      get yaw() { return direction().yaw; },
      get pitch() { return direction().pitch; },
      get gyro() { return state.device !== null; },
      look(yaw, pitch) { // absolute, degrees; with the sensor on, only the heading
        state.yaw = wrap(yaw);
        if (pitch !== undefined) state.pitch = clampPitch(pitch);
        state.dirty = true;
      },
      turn(dYaw, dPitch) { view.look(state.yaw + dYaw, state.pitch + (dPitch || 0)); },
      pixel: (x, y) => readPixel(x, y),
      centre: () => readPixel(canvas.clientWidth / 2, canvas.clientHeight / 2),
    };

    const canvas = document.createElement('canvas');
    canvas.id = 'projection';
    Object.assign(canvas.style, {
      position: 'absolute', inset: '0', width: '100%', height: '100%', display: 'block',
      touchAction: 'none', cursor: 'grab', visibility: 'hidden', outline: 'none',
    });
    canvas.tabIndex = 0; // the arrow keys
    video.after(canvas); // under the page's overlay, LIVE button and debug line
    const buttons = controls(video, canvas);

    // --- looking around ---------------------------------------------------------------------------
    let drag = null;
    canvas.addEventListener('pointerdown', (event) => {
      askForOrientation();
      drag = { id: event.pointerId, x: event.clientX, y: event.clientY };
      canvas.setPointerCapture(event.pointerId);
      canvas.style.cursor = 'grabbing';
    });
    canvas.addEventListener('pointermove', (event) => {
      if (!drag || event.pointerId !== drag.id) return;
      const perPixel = FOV / Math.max(1, canvas.clientHeight); // the scene follows the pointer
      view.turn(-(event.clientX - drag.x) * perPixel, (event.clientY - drag.y) * perPixel);
      drag.x = event.clientX;
      drag.y = event.clientY;
    });
    const release = (event) => {
      if (!drag || event.pointerId !== drag.id) return;
      drag = null;
      canvas.style.cursor = 'grab';
    };
    canvas.addEventListener('pointerup', release);
    canvas.addEventListener('pointercancel', release);
    window.addEventListener('keydown', (event) => {
      const step = { ArrowLeft: [-KEY_STEP, 0], ArrowRight: [KEY_STEP, 0], ArrowUp: [0, KEY_STEP], ArrowDown: [0, -KEY_STEP] }[event.key];
      if (!step || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      view.turn(step[0], step[1]);
    });
    // The device's orientation (alpha: heading, counterclockwise; beta: front-back tilt; gamma:
    // left-right), relative to the heading it had when the first reading came: the view starts where
    // it was looking.
    window.addEventListener('deviceorientation', (event) => {
      if (event.alpha === null || event.beta === null || event.gamma === null) return;
      if (state.heading === null) state.heading = event.alpha;
      state.device = { alpha: event.alpha - state.heading, beta: event.beta, gamma: event.gamma };
      state.dirty = true;
    });
    let asked = false;
    function askForOrientation() { // iOS: only from a user gesture
      const ask = window.DeviceOrientationEvent && window.DeviceOrientationEvent.requestPermission;
      if (asked || typeof ask !== 'function') return;
      asked = true;
      ask.call(window.DeviceOrientationEvent).catch(() => {});
    }

    // --- three.js -----------------------------------------------------------------------------------
    import(new URL(threeUrl, location.href).href).then((THREE) => build(THREE)).catch((e) => flat(`360° view: ${e.message || e}`));

    function build(THREE) {
      const renderer = new THREE.WebGLRenderer({ canvas, antialias: false, alpha: false });
      renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
      renderer.setClearColor(0x000000, 1);
      const scene = new THREE.Scene();
      const camera = new THREE.PerspectiveCamera(FOV, 1, 0.1, 2 * RADIUS);
      const texture = new THREE.VideoTexture(video);
      texture.colorSpace = THREE.SRGBColorSpace; // shown as the video is, not brightened
      if (name === 'vr360tb') { // the top half: v in [0.5, 1] (flipY: v = 1 is the frame's top row)
        texture.repeat.set(1, 0.5);
        texture.offset.set(0, 0.5);
      }
      const [phiStart, phiLength] = GEOMETRY[name] || GEOMETRY.vr360;
      const geometry = new THREE.SphereGeometry(RADIUS, 64, 32, phiStart, phiLength);
      geometry.scale(-1, 1, 1); // seen from inside
      scene.add(new THREE.Mesh(geometry, new THREE.MeshBasicMaterial({ map: texture })));

      const euler = new THREE.Euler();
      const device = new THREE.Quaternion();
      const heading = new THREE.Quaternion();
      const backOfDevice = new THREE.Quaternion(-Math.sqrt(0.5), 0, 0, Math.sqrt(0.5)); // -90° about x
      const screenTurn = new THREE.Quaternion();
      const up = new THREE.Vector3(0, 1, 0);
      const out = new THREE.Vector3(0, 0, 1);
      function aim() {
        if (state.device) { // three.js's former DeviceOrientationControls, turned by the heading
          const d = state.device;
          euler.set(d.beta * DEG, d.alpha * DEG, -d.gamma * DEG, 'YXZ');
          device.setFromEuler(euler).multiply(backOfDevice);
          const angle = (screen.orientation ? screen.orientation.angle : window.orientation) || 0;
          device.multiply(screenTurn.setFromAxisAngle(out, -angle * DEG));
          camera.quaternion.copy(heading.setFromAxisAngle(up, -state.yaw * DEG)).multiply(device);
        } else {
          camera.quaternion.setFromEuler(euler.set(state.pitch * DEG, -state.yaw * DEG, 0, 'YXZ'));
        }
      }
      function resize() {
        const width = canvas.clientWidth || 1;
        const height = canvas.clientHeight || 1;
        const size = renderer.getSize(new THREE.Vector2());
        if (size.x === width && size.y === height) return;
        renderer.setSize(width, height, false);
        camera.aspect = width / height;
        camera.updateProjectionMatrix();
        state.dirty = true;
      }
      state.camera = camera;
      state.aim = aim;
      state.render = () => {
        resize();
        aim();
        renderer.render(scene, camera);
        state.dirty = false;
      };
      state.gl = renderer.getContext();
      canvas.addEventListener('webglcontextlost', () => flat('360° view: the WebGL context was lost'));
      // Drawn when the video shows a new frame or the view turned (not at every animation frame:
      // a paused or 15 fps stream costs no more).
      let frames = 0;
      if (typeof video.requestVideoFrameCallback === 'function') {
        const onFrame = () => { frames += 1; state.dirty = true; video.requestVideoFrameCallback(onFrame); };
        video.requestVideoFrameCallback(onFrame);
      }
      renderer.setAnimationLoop(() => {
        if (view.error) return;
        const showing = video.readyState >= 2; // a picture (else the poster and the page's offline state)
        canvas.style.visibility = showing ? 'visible' : 'hidden';
        buttons.hidden = !showing;
        const playingWithoutCallback = !frames && !video.paused;
        if (showing && (state.dirty || playingWithoutCallback)) state.render();
      });
      view.ready = true;
      view.renderer = renderer;
    }

    function readPixel(x, y) {
      if (!state.render) return null;
      state.render(); // read in the same task as the draw: no preserveDrawingBuffer needed
      const gl = state.gl;
      const ratio = gl.drawingBufferHeight / Math.max(1, canvas.clientHeight);
      const px = Math.min(gl.drawingBufferWidth - 1, Math.floor(x * ratio));
      const py = Math.min(gl.drawingBufferHeight - 1, Math.floor(gl.drawingBufferHeight - y * ratio));
      const rgba = new Uint8Array(4);
      gl.readPixels(px, Math.max(0, py), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
      return Array.from(rgba);
    }

    function direction() { // where the camera looks (with the sensor on: where the device points)
      if (!state.camera || !state.device) return { yaw: state.yaw, pitch: state.pitch };
      state.aim();
      state.camera.updateMatrixWorld();
      const e = state.camera.matrixWorld.elements; // the camera looks down its -z
      const [x, y, z] = [-e[8], -e[9], -e[10]];
      return { yaw: Math.atan2(x, -z) / DEG, pitch: Math.asin(Math.max(-1, Math.min(1, y))) / DEG };
    }

    function flat(why) { // no WebGL (or three.js did not load): the video as it is, saying why
      view.error = why;
      canvas.remove();
      buttons.remove();
      console.warn(`[streamops player] ${why}`);
    }

    return view;
  }

  // Sound and full screen: the video's own controls are under the canvas.
  function controls(video, canvas) {
    const bar = document.createElement('div');
    Object.assign(bar.style, { position: 'absolute', right: '.8em', bottom: '.8em', display: 'flex', gap: '.4em' });
    bar.hidden = true;
    const button = (label, title, onClick) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'pill';
      b.textContent = label;
      b.title = title;
      b.style.cursor = 'pointer';
      b.addEventListener('click', onClick);
      bar.appendChild(b);
      return b;
    };
    const sound = button('', 'Sound on or off', () => {
      video.muted = !video.muted;
    });
    const label = () => { sound.textContent = video.muted ? 'SOUND OFF' : 'SOUND ON'; };
    video.addEventListener('volumechange', label);
    label();
    if (document.fullscreenEnabled) {
      button('FULL SCREEN', 'Full screen', () => {
        if (document.fullscreenElement) document.exitFullscreen();
        else document.documentElement.requestFullscreen().catch(() => {});
      });
    }
    canvas.after(bar);
    return bar;
  }

  function wrap(degrees) { // -180 < yaw <= 180
    const d = ((degrees + 180) % 360 + 360) % 360 - 180;
    return d === -180 ? 180 : d;
  }

  function clampPitch(degrees) {
    return Math.max(-MAX_PITCH, Math.min(MAX_PITCH, degrees));
  }

  window.streamopsProjection = { start };
})();
