// Live capture: record with MediaRecorder, keep every piece in IndexedDB, send the pieces in
// order at explicit offsets, and show how much the server has saved. Also the investigators'
// live view (polling the capture's JSON). No inline script is allowed by the page's policy.
"use strict";

(() => {
  const TIMESLICE_MS = 2000;
  const MAX_BACKOFF_MS = 10000;
  const DB_NAME = "testigo-capture";

  const $ = (id) => document.getElementById(id);
  const labelsEl = $("capture-labels");
  const label = (name) => (labelsEl && labelsEl.dataset[name]) || name;

  function clock(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
  }

  // -- IndexedDB: sessions by token digest, chunks by [session, index] -------------------------

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("sessions", { keyPath: "tokenDigest" });
        db.createObjectStore("chunks", { keyPath: ["sessionKey", "index"] });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  function tx(db, store, mode, work) {
    return new Promise((resolve, reject) => {
      const t = db.transaction(store, mode);
      let result;
      t.oncomplete = () => resolve(result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
      result = work(t.objectStore(store));
      if (result && "onsuccess" in result) {
        const req = result;
        req.onsuccess = () => { result = req.result; };
      }
    });
  }

  async function sha256Hex(buffer) {
    const digest = await crypto.subtle.digest("SHA-256", buffer);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // -- recording page ---------------------------------------------------------------------------

  function recorderPage(root) {
    const token = root.dataset.token || "";
    const button = $("capture-record");
    const stateEl = $("capture-state");
    const savedEl = $("capture-saved");
    const elapsedEl = $("capture-elapsed");
    const networkEl = $("capture-network");
    const queueEl = $("capture-queue");
    const problemEl = $("capture-problem");
    const alertButton = $("capture-alert");
    let db = null;
    let state = null; // {tokenDigest, sessionKey, id, key, nextIndex, offset, sent, finishing, finished, ...}
    let recorder = null;
    let stream = null;
    let startedAt = 0;
    let lastPiece = 0;
    let timer = null;
    let pumping = false;
    let backoff = 500;
    let retryTimer = null;
    let pending = 0;
    let chain = Promise.resolve();

    function show(name, attr) {
      stateEl.textContent = label(name);
      stateEl.dataset.state = attr || name;
    }
    function problem(text) {
      problemEl.textContent = text;
      problemEl.hidden = !text;
    }
    function network() {
      networkEl.textContent = navigator.onLine ? label("online") : label("offline");
      root.dataset.online = navigator.onLine ? "1" : "0";
    }
    function queue() {
      queueEl.textContent = `${label("queue")} ${pending}`;
      root.dataset.pending = String(pending);
    }
    function saved(ms) {
      savedEl.textContent = clock(ms);
      root.dataset.savedMs = String(ms);
    }

    async function save() {
      await tx(db, "sessions", "readwrite", (s) => s.put(state));
    }

    async function countPending() {
      if (!state) return 0;
      const range = IDBKeyRange.bound([state.sessionKey, 0], [state.sessionKey, Infinity]);
      return tx(db, "chunks", "readonly", (s) => s.count(range));
    }

    async function firstPending() {
      const range = IDBKeyRange.bound([state.sessionKey, 0], [state.sessionKey, Infinity]);
      return new Promise((resolve, reject) => {
        const t = db.transaction("chunks", "readonly");
        const req = t.objectStore("chunks").openCursor(range);
        req.onsuccess = () => resolve(req.result ? req.result.value : null);
        req.onerror = () => reject(req.error);
      });
    }

    async function dropChunk(index) {
      await tx(db, "chunks", "readwrite", (s) => s.delete([state.sessionKey, index]));
    }

    function schedule(delay) {
      if (retryTimer) return;
      retryTimer = window.setTimeout(() => { retryTimer = null; pump(); }, delay);
    }

    async function openSession() {
      const body = { token, mime_type: state.mimeType, alert: state.alert };
      if (state.clockConsent) {
        body.device_clock = state.deviceClock;
        body.device_timezone = state.timezone;
      }
      if (state.location) body.location = state.location;
      const response = await fetch("/api/v1/capture/sessions", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const data = await response.json();
      if (!response.ok) {
        const err = new Error(label(data.code) !== data.code ? label(data.code) : data.error);
        err.fatal = response.status < 500;
        throw err;
      }
      state.id = data.id;
      state.key = data.upload_key;
      await save();
      if (data.alerting) stateEl.title = label("alerted");
    }

    async function resync() {
      const response = await fetch(`/api/v1/capture/sessions/${state.id}`, {
        method: "HEAD",
        headers: { "Capture-Key": state.key },
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const index = Number(response.headers.get("Chunk-Index"));
      // Anything below the server's next index was acknowledged (the answer was lost).
      for (let chunk = await firstPending(); chunk && chunk.index < index; chunk = await firstPending()) {
        await dropChunk(chunk.index);
      }
      state.sent = index;
      state.offset = Number(response.headers.get("Upload-Offset"));
      saved(Number(response.headers.get("Saved-Ms")));
      await save();
    }

    async function sendOne(chunk) {
      const response = await fetch(`/api/v1/capture/sessions/${state.id}`, {
        method: "PATCH",
        headers: {
          "Capture-Key": state.key,
          "Content-Type": "application/offset+octet-stream",
          "Upload-Offset": String(state.offset),
          "Chunk-Index": String(chunk.index),
          "Chunk-SHA256": chunk.sha256,
          "Chunk-Duration-Ms": String(chunk.durationMs),
        },
        body: chunk.blob,
      });
      let data = {};
      try { data = await response.json(); } catch (e) { data = {}; }
      if (response.ok) {
        state.sent = data.next_index;
        state.offset = data.next_offset;
        await dropChunk(chunk.index);
        await save();
        saved(data.saved_ms);
        root.dataset.acked = String(data.next_index);
        root.dataset.chain = data.chain_hash;
        return;
      }
      if (response.status === 409 && data.code === "offset_mismatch") {
        await resync();
        return;
      }
      const err = new Error(`${label("refused")} ${data.error || response.status}`);
      err.fatal = response.status !== 460 && response.status < 500;
      throw err;
    }

    async function finish() {
      const response = await fetch(`/api/v1/capture/sessions/${state.id}/finish`, {
        method: "POST",
        headers: { "Capture-Key": state.key, "Content-Type": "application/json" },
        body: JSON.stringify({ chunks: state.nextIndex }),
      });
      if (response.status === 409) { await resync(); return; }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      state.finished = true;
      await save();
      show("finished");
      root.dataset.finished = "1";
    }

    async function pump() {
      if (pumping || !state || state.finished) return;
      pumping = true;
      try {
        if (!state.id) await openSession();
        for (;;) {
          const chunk = await firstPending();
          if (!chunk) break;
          await sendOne(chunk);
          pending = await countPending();
          queue();
          backoff = 500;
        }
        if (state.finishing && !recorder) await finish();
        backoff = 500;
      } catch (err) {
        if (err && err.fatal) {
          problem(err.message);
        } else {
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          schedule(backoff);
        }
      } finally {
        pumping = false;
        pending = await countPending();
        queue();
      }
    }

    function enqueue(blob) {
      const now = performance.now();
      const durationMs = Math.round(now - lastPiece);
      lastPiece = now;
      if (!blob || blob.size === 0) return;
      const index = state.nextIndex;
      state.nextIndex += 1;
      // Store in order: hashing is async, so chain the writes.
      chain = chain.then(async () => {
        const buffer = await blob.arrayBuffer();
        const sha256 = await sha256Hex(buffer);
        const stored = new Blob([buffer], { type: "application/octet-stream" });
        await tx(db, "chunks", "readwrite", (s) => s.put({
          sessionKey: state.sessionKey, index, blob: stored, sha256, durationMs,
        }));
        await save();
        pending += 1;
        queue();
        pump();
      }).catch((err) => problem(String(err)));
    }

    function pickType() {
      const candidates = [
        "video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm",
        "video/mp4", "audio/webm;codecs=opus",
      ];
      return candidates.find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t)) || "";
    }

    function position() {
      return new Promise((resolve) => {
        if (!navigator.geolocation) { resolve(null); return; }
        navigator.geolocation.getCurrentPosition(
          (p) => resolve({ latitude: p.coords.latitude, longitude: p.coords.longitude, accuracy_m: p.coords.accuracy }),
          () => resolve(null),
          { enableHighAccuracy: true, timeout: 4000, maximumAge: 30000 },
        );
      });
    }

    async function start() {
      button.disabled = true;
      show("starting");
      problem("");
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "environment" }, audio: true,
        });
      } catch (err) {
        problem(`${label("nocamera")} ${err.message || err}`);
        button.disabled = false;
        show("ready");
        return;
      }
      $("capture-preview").srcObject = stream;
      root.querySelectorAll(".capture-consent input").forEach((input) => { input.disabled = true; });
      const mimeType = pickType();
      const tokenDigest = await sha256Hex(new TextEncoder().encode(token));
      state = {
        tokenDigest,
        sessionKey: `${tokenDigest.slice(0, 16)}-${Date.now()}`,
        id: null, key: null, nextIndex: 0, sent: 0, offset: 0,
        finishing: false, finished: false,
        mimeType: mimeType || "video/webm",
        alert: $("consent-alert").checked,
        clockConsent: $("consent-clock").checked,
        deviceClock: new Date().toISOString(),
        timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "",
        location: null,
      };
      await save();
      recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
      recorder.ondataavailable = (event) => enqueue(event.data);
      recorder.onstop = () => {
        recorder = null;
        state.finishing = true;
        chain = chain.then(save).then(() => { show("finishing"); pump(); });
      };
      startedAt = performance.now();
      lastPiece = startedAt;
      recorder.start(TIMESLICE_MS);
      root.dataset.recording = "1";
      button.dataset.recording = "1";
      button.textContent = label("stop");
      button.disabled = false;
      show("recording");
      timer = window.setInterval(() => { elapsedEl.textContent = clock(performance.now() - startedAt); }, 500);
      alertButton.hidden = state.alert;
      if ($("consent-location").checked) {
        const where = await position();
        if (where) { state.location = where; await save(); }
      }
      pump();
    }

    function stop() {
      if (!recorder) return;
      button.disabled = true;
      window.clearInterval(timer);
      recorder.stop();
      stream.getTracks().forEach((track) => track.stop());
      root.dataset.recording = "0";
      button.dataset.recording = "0";
      show("stopped");
    }

    async function alertContacts() {
      if (!state || !state.id) return;
      alertButton.disabled = true;
      await fetch(`/api/v1/capture/sessions/${state.id}/alert`, {
        method: "POST", headers: { "Capture-Key": state.key },
      });
      stateEl.title = label("alerted");
    }

    async function resumeEarlier() {
      // A recording started on this phone with this link and not yet fully sent: send it now.
      if (!token) return false;
      const tokenDigest = await sha256Hex(new TextEncoder().encode(token));
      const earlier = await tx(db, "sessions", "readonly", (s) => s.get(tokenDigest));
      if (!earlier || earlier.finished) return false;
      state = earlier;
      state.finishing = true;
      show("resuming");
      pending = await countPending();
      queue();
      pump();
      return true;
    }

    async function init() {
      network();
      window.addEventListener("online", () => { network(); backoff = 500; pump(); });
      window.addEventListener("offline", network);
      db = await openDb();
      const resumed = await resumeEarlier();
      if (!token) { problem(label("nolink")); return; }
      if (root.dataset.problem && !resumed) { problem(label(root.dataset.problem)); return; }
      if (resumed) return;
      button.disabled = false;
      button.addEventListener("click", () => (recorder ? stop() : start()));
      alertButton.addEventListener("click", alertContacts);
      root.dataset.ready = "1";
    }

    init().catch((err) => problem(String(err)));
  }

  // -- investigators' live view -----------------------------------------------------------------

  function watchPage(root) {
    const video = $("watch-video");
    async function poll() {
      try {
        const response = await fetch(root.dataset.json, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (response.ok) {
          const c = await response.json();
          $("watch-saved").textContent = c.saved_up_to;
          $("watch-chunks").textContent = c.chunks;
          $("watch-bytes").textContent = c.bytes;
          $("watch-signed").textContent = c.signed_chunks;
          $("watch-last").textContent = c.last_chunk_at || "-";
          $("watch-chain").textContent = c.chain_head;
          $("watch-status").textContent = c.status;
          $("watch-status").className = `badge capture-${c.status}`;
          if (["finished", "abandoned", "interrupted"].includes(c.stored_status)) return;
        }
      } catch (e) { /* try again on the next tick */ }
      window.setTimeout(poll, 2000);
    }
    $("watch-reload").addEventListener("click", () => {
      const at = video.currentTime;
      video.src = `${root.dataset.recording}?t=${Date.now()}`;
      video.addEventListener("loadedmetadata", () => { video.currentTime = at; }, { once: true });
    });
    window.setTimeout(poll, 2000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const recorderRoot = $("capture");
    if (recorderRoot) recorderPage(recorderRoot);
    const watchRoot = $("capture-watch");
    if (watchRoot) watchPage(watchRoot);
  });
})();
