// Resumable uploads: create, then send pieces with explicit offsets; after a failure, ask the
// server where it got to (HEAD) and go on from there. Progress is shown per file.
"use strict";

(function () {
  const CHUNK = 8 * 1024 * 1024;
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  const list = document.getElementById("upload-list");
  if (!zone || !input || !list) return;
  const incidentId = Number(zone.dataset.incidentId);
  const maxBytes = Number(zone.dataset.max);

  function sendPiece(url, offset, blob, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PATCH", url);
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      xhr.setRequestHeader("Upload-Offset", String(offset));
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.upload.onprogress = (e) => onProgress(offset + e.loaded);
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(Object.assign(new Error((body && body.error) || "HTTP " + xhr.status), { status: xhr.status }));
      };
      xhr.onerror = () => reject(new Error("connection lost"));
      xhr.send(blob);
    });
  }

  async function currentOffset(url) {
    const r = await fetch(url, { method: "HEAD", credentials: "same-origin" });
    if (!r.ok) throw Object.assign(new Error("HTTP " + r.status), { status: r.status });
    return Number(r.headers.get("Upload-Offset"));
  }

  function row(file) {
    const li = document.createElement("li");
    li.className = "upload";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    const status = document.createElement("output");
    status.className = "upload-status";
    li.append(name, bar, status);
    list.append(li);
    return { li, bar, status };
  }

  async function upload(file) {
    const ui = row(file);
    if (file.size > maxBytes) {
      ui.status.textContent = zone.dataset.tooLarge || "too large";
      ui.li.dataset.state = "fail";
      return;
    }
    const key = "testigo.upload." + incidentId + "." + file.name + "." + file.size + "." + file.lastModified;
    let url = window.localStorage.getItem(key);
    let offset = 0;
    if (url) {
      try { offset = await currentOffset(url); } catch (e) { url = null; }
    }
    if (!url) {
      const r = await fetch("/api/v1/uploads", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ name: file.name, size: file.size, incident_id: incidentId }),
      });
      const body = await r.json();
      if (!r.ok) { ui.status.textContent = body.error; ui.li.dataset.state = "fail"; return; }
      url = body.location;
      window.localStorage.setItem(key, url);
      if (body.complete) return done(ui, body, key);
    }
    let failures = 0;
    let result = null;
    while (offset < file.size) {
      try {
        const end = Math.min(offset + CHUNK, file.size);
        result = await sendPiece(url, offset, file.slice(offset, end), (n) => { ui.bar.value = n; });
        offset = result.offset;
        ui.bar.value = offset;
        failures = 0;
      } catch (err) {
        failures += 1;
        if (failures > 5 || (err.status && err.status !== 409 && err.status < 500)) {
          ui.status.textContent = err.message;
          ui.li.dataset.state = "fail";
          return;
        }
        await new Promise((r) => setTimeout(r, 1000 * failures));
        try { offset = await currentOffset(url); } catch (e) { /* try again */ }
      }
    }
    if (result) done(ui, result, key);
  }

  function done(ui, body, key) {
    window.localStorage.removeItem(key);
    ui.bar.value = ui.bar.max;
    ui.li.dataset.state = "done";
    const link = document.createElement("a");
    link.href = "/items/" + body.item_id;
    link.textContent = (zone.dataset.stored || "stored") + " #" + body.item_id + " · sha256 " +
      String((body.result && body.result.sha256) || "").slice(0, 16) + "…";
    ui.status.replaceChildren(link);
  }

  async function uploadAll(files) {
    for (const file of files) await upload(file);
  }

  input.addEventListener("change", () => uploadAll(Array.from(input.files)));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    uploadAll(Array.from(e.dataTransfer.files));
  });
})();
