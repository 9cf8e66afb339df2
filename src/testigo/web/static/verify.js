// Checks an item in the browser, trusting nothing but the verifier key: the checkpoint's Ed25519
// signature (WebCrypto), each ledger entry's leaf hash, and its RFC 9162 inclusion proof.
//
// The browser also keeps its own view of the log: the last checkpoint it verified (origin, size,
// root) stays in localStorage, and each later checkpoint must extend it, as an RFC 9162
// consistency proof fetched from the server and checked here shows. A log whose history was
// rewritten, or that shows this browser another tree than the one it showed before (a split
// view), fails that check and the page says so.
"use strict";

(function () {
  const enc = new TextEncoder();

  function fromHex(text) {
    if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) throw new Error("not hex");
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }
  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function fromB64(text) {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  async function sha256(data) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }
  const leafHash = (entry) => sha256(concat(new Uint8Array([0]), entry));
  const nodeHash = (left, right) => sha256(concat(new Uint8Array([1]), left, right));
  const half = (n) => Math.floor(n / 2);

  // RFC 9162 section 2.1.3.2: verifying an inclusion proof.
  async function verifyInclusion(index, size, leaf, path, root) {
    if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size)) || index >= size) return false;
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of path) {
      if (p.length !== 32) return false;
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = half(fn); sn = half(sn); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn);
      sn = half(sn);
    }
    return sn === 0 && equal(r, root);
  }

  function isPowerOfTwo(n) {
    if (n < 1) return false;
    while (n % 2 === 0) n /= 2;
    return n === 1;
  }

  // RFC 9162 section 2.1.4.2: verifying a consistency proof between two tree heads. Sizes are
  // plain numbers (no bitwise operators: they would cut them to 32 bits).
  async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
    if (!(Number.isSafeInteger(oldSize) && Number.isSafeInteger(newSize))) return false;
    if (oldSize < 0 || newSize < oldSize) return false;
    if (oldRoot.length !== 32 || newRoot.length !== 32) return false;
    if (!proof.every((p) => p.length === 32)) return false;
    if (oldSize === newSize) return proof.length === 0 && equal(oldRoot, newRoot);
    if (oldSize === 0) return proof.length === 0 && equal(oldRoot, await sha256(new Uint8Array(0)));
    const path = proof.slice();
    if (!path.length) return false; // step 1
    if (isPowerOfTwo(oldSize)) path.unshift(oldRoot); // step 2
    let fn = oldSize - 1; // step 3
    let sn = newSize - 1;
    while (fn % 2 === 1) { fn = half(fn); sn = half(sn); } // step 4
    let fr = path[0]; // step 5
    let sr = path[0];
    for (const c of path.slice(1)) { // step 6
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while (fn % 2 === 0 && fn !== 0) { fn = half(fn); sn = half(sn); }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn);
      sn = half(sn);
    }
    return sn === 0 && equal(fr, oldRoot) && equal(sr, newRoot); // step 7
  }

  // A C2SP verifier key: name+hex(key id)+base64(0x01 || 32-byte Ed25519 key).
  async function parseVerifierKey(vkey) {
    // The base64 part may itself contain "+": split at the first two only.
    const text = vkey.trim();
    const first = text.indexOf("+");
    const second = text.indexOf("+", first + 1);
    if (first < 1 || second < 0) throw new Error("the verifier key is malformed");
    const name = text.slice(0, first);
    const kidHex = text.slice(first + 1, second);
    const b64 = text.slice(second + 1);
    const raw = fromB64(b64);
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("the verifier key is not Ed25519");
    const publicKey = raw.slice(1);
    const kid = (await sha256(concat(enc.encode(name + "\n"), new Uint8Array([1]), publicKey))).slice(0, 4);
    if (toHex(kid) !== kidHex) throw new Error("the verifier key's id does not match its key");
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return { name, kid, key, fingerprint: toHex(await sha256(publicKey)) };
  }

  // A signed note: body, blank line, signature lines "— name base64(key id || signature)".
  async function verifyCheckpoint(note, verifier) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) throw new Error("the checkpoint note is malformed");
    const body = note.slice(0, split + 1);
    const lines = note.slice(split + 2, -1).split("\n");
    let verified = false;
    for (const line of lines) {
      if (!line.startsWith("\u2014 ")) throw new Error("a signature line is malformed");
      const [name, b64] = line.slice(2).split(" ");
      const raw = fromB64(b64);
      if (name !== verifier.name || !equal(raw.slice(0, 4), verifier.kid)) continue;
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, verifier.key, raw.slice(4), enc.encode(body));
      if (!ok) throw new Error("the checkpoint signature does not match: it was altered or forged");
      verified = true;
    }
    if (!verified) throw new Error("the checkpoint is not signed by the vault's key");
    const fields = body.split("\n");
    if (!/^(0|[1-9][0-9]*)$/.test(fields[1])) throw new Error("the checkpoint size is malformed");
    return { origin: fields[0], size: Number(fields[1]), root: fromB64(fields[2]) };
  }

  function pinnedKey(origin, vkey) {
    // The first key seen for a log is remembered; a different one later is a warning sign.
    const slot = "testigo.vkey." + origin;
    try {
      const known = window.localStorage.getItem(slot);
      if (known === null) { window.localStorage.setItem(slot, vkey); return true; }
      return known === vkey;
    } catch (e) {
      return true;
    }
  }

  const viewSlot = (origin) => "testigo.checkpoint." + origin;

  function storedView(origin) {
    try {
      const raw = window.localStorage.getItem(viewSlot(origin));
      if (raw === null) return null;
      const view = JSON.parse(raw);
      if (!Number.isSafeInteger(view.size) || view.size < 0) throw new Error("size");
      return { origin: view.origin, size: view.size, root: fromHex(view.root) };
    } catch (e) {
      // Unreadable is not trusted: it is reported like any other mismatch.
      return { origin, size: -1, root: new Uint8Array(0) };
    }
  }

  function rememberView(checkpoint) {
    try {
      window.localStorage.setItem(viewSlot(checkpoint.origin), JSON.stringify({
        origin: checkpoint.origin, size: checkpoint.size, root: toHex(checkpoint.root),
      }));
    } catch (e) { /* storage unavailable: each visit starts a new view */ }
  }

  async function fetchConsistency(oldSize, newSize) {
    const response = await fetch("/api/v1/consistency?old_size=" + oldSize + "&new_size=" + newSize, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error("the server answered " + response.status + " for a consistency proof");
    const data = await response.json();
    if (data.old_size !== oldSize || data.new_size !== newSize || !Array.isArray(data.proof)) {
      throw new Error("the consistency proof is about other sizes");
    }
    return data.proof.map(fromHex);
  }

  // Compares a verified checkpoint with the last one this browser verified for the same log.
  // Returns {state, previous}: "first" (nothing remembered), "same", "consistent" (the new tree
  // extends the old one) or "inconsistent" (it does not: the history was rewritten or this
  // browser is shown a split view). Only a checkpoint that extends the remembered one replaces it.
  async function checkView(checkpoint, getProof) {
    const previous = storedView(checkpoint.origin);
    if (previous === null) {
      rememberView(checkpoint);
      return { state: "first", previous: null };
    }
    let ok = false;
    if (previous.size >= 0 && previous.root.length === 32 && previous.size <= checkpoint.size) {
      const proof = previous.size === checkpoint.size || previous.size === 0
        ? [] : await getProof(previous.size, checkpoint.size);
      ok = await verifyConsistency(previous.size, checkpoint.size, previous.root, checkpoint.root, proof);
    }
    if (!ok) return { state: "inconsistent", previous };
    rememberView(checkpoint);
    return { state: previous.size === checkpoint.size ? "same" : "consistent", previous };
  }

  async function verifyProof(data, expectedSha256) {
    const verifier = await parseVerifierKey(data.verifier_key);
    const checkpoint = await verifyCheckpoint(data.checkpoint.note, verifier);
    if (checkpoint.origin !== data.origin) throw new Error("the checkpoint is for another log");
    if (expectedSha256 && data.item.sha256 !== expectedSha256) throw new Error("the proof is about another file");
    if (!data.entries.length) throw new Error("no ledger entry concerns this item");
    for (const e of data.entries) {
      const body = fromB64(e.entry_canonical_b64);
      const leaf = await leafHash(body);
      if (toHex(leaf) !== e.leaf_hash) throw new Error("entry " + e.seq + ": the leaf hash does not match its bytes");
      const entry = JSON.parse(new TextDecoder().decode(body));
      if (entry.seq !== e.seq) throw new Error("entry " + e.seq + ": its number does not match");
      if (!entry.subjects.includes("sha256:" + data.item.sha256)) throw new Error("entry " + e.seq + " is not about this file");
      const ok = await verifyInclusion(e.seq, checkpoint.size, leaf, e.proof.map(fromHex), checkpoint.root);
      if (!ok) throw new Error("entry " + e.seq + ": the inclusion proof does not lead to the signed root");
    }
    return { checkpoint, verifier, pinned: pinnedKey(checkpoint.origin, data.verifier_key) };
  }

  async function onVerify(button) {
    const id = button.dataset.itemId;
    const out = document.getElementById("verify-" + id);
    const labels = document.getElementById("verify-labels");
    const say = (key, fallback) => (labels && labels.dataset[key]) || fallback;
    out.dataset.state = "working";
    out.textContent = say("working", "Checking…");
    try {
      const response = await fetch("/api/v1/items/" + encodeURIComponent(id) + "/proof", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error("the server answered " + response.status);
      const data = await response.json();
      const result = await verifyProof(data, null);
      const view = await checkView(result.checkpoint, fetchConsistency);
      out.dataset.consistency = view.state;
      let text = say("ok", "Verified") + ": " + data.entries.length + " × " +
        say("entries", "ledger entries") + ", checkpoint " + result.checkpoint.size +
        ", key " + result.verifier.fingerprint.slice(0, 16);
      if (view.state === "consistent" || view.state === "same") {
        text += " — " + say("consistent", "consistent with the checkpoint you verified before") +
          " (" + view.previous.size + ")";
      } else if (view.state === "first") {
        text += " — " + say("firstview", "this browser now remembers this checkpoint");
      }
      if (!result.pinned) text += " — " + say("keychanged", "WARNING: the log's key changed since your last visit");
      if (view.state === "inconsistent") {
        out.dataset.state = "split";
        out.className = "verify-result fail";
        text += " — " + say("split", "WARNING: the log's history was rewritten: it does not extend the checkpoint you verified before") +
          " (" + (view.previous.size >= 0 ? view.previous.size : "?") + ")";
      } else {
        out.dataset.state = "ok";
        out.className = "verify-result ok";
      }
      out.textContent = text;
    } catch (err) {
      out.dataset.state = "fail";
      out.className = "verify-result fail";
      out.textContent = say("fail", "NOT verified") + ": " + (err && err.message ? err.message : String(err));
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.verify");
    if (button) onVerify(button);
  });

  window.testigoVerify = { verifyInclusion, verifyConsistency, verifyProof, checkView, leafHash, nodeHash };
})();
