// Upload page: files or whole folders, dropped or picked, each sent to
// STOW-RS (PS3.18 10.5) as its own multipart/related request so that every
// file has its own progress bar and its own outcome. Failures are read from
// the FailedSOPSequence of the response (PS3.18 Table 10.5.3-1).
"use strict";

(() => {
  const root = document.getElementById("upload");
  const stowUrl = root.dataset.stowUrl;
  const csrfToken = root.dataset.csrfToken;
  const rows = document.getElementById("file-rows");
  const totalBar = document.getElementById("total-progress");
  const totalText = document.getElementById("total-text");
  const summary = document.getElementById("summary");
  const PARALLEL = 3;

  // FailureReason (0008,1197) values, PS3.4 B.2.3 and PS3.18 Table I.2-1.
  const FAILURE_REASONS = {
    0x0110: "processing failure",
    0x0111: "duplicate SOP instance",
    0x0122: "SOP class not supported",
    0x0124: "not authorized",
    0xa700: "out of resources",
    0xa900: "data set does not match SOP class",
    0xc000: "cannot understand",
    0xc122: "transfer syntax not supported",
  };

  const jobs = [];
  let queue = [];
  let running = 0;

  function addFiles(files) {
    for (const { file, path } of files) {
      const row = document.createElement("tr");
      const name = document.createElement("td");
      name.textContent = path;
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      const barCell = document.createElement("td");
      barCell.append(bar);
      const result = document.createElement("td");
      result.className = "result";
      result.textContent = "waiting";
      row.append(name, barCell, result);
      rows.append(row);
      const job = { file, path, row, bar, result, loaded: 0, done: false, ok: false };
      jobs.push(job);
      queue.push(job);
    }
    updateTotal();
    pump();
  }

  function pump() {
    while (running < PARALLEL && queue.length) {
      running += 1;
      send(queue.shift()).finally(() => {
        running -= 1;
        updateTotal();
        pump();
      });
    }
  }

  function send(job) {
    const boundary = "pacsweb-" + crypto.getRandomValues(new Uint32Array(4)).join("-");
    const body = new Blob([
      `--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`,
      job.file,
      `\r\n--${boundary}--\r\n`,
    ]);
    job.result.textContent = "sending";
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", stowUrl);
      xhr.setRequestHeader("Content-Type", `multipart/related; type="application/dicom"; boundary=${boundary}`);
      xhr.setRequestHeader("Accept", "application/dicom+json");
      xhr.setRequestHeader("X-CSRFToken", csrfToken);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) {
          job.loaded = job.file.size * (event.loaded / event.total);
          job.bar.value = Math.round((100 * event.loaded) / event.total);
          updateTotal();
        }
      };
      xhr.onload = () => {
        finish(job, outcome(xhr));
        resolve();
      };
      xhr.onerror = () => {
        finish(job, { ok: false, text: "network error: the server could not be reached" });
        resolve();
      };
      xhr.send(body);
    });
  }

  function outcome(xhr) {
    let payload = null;
    try {
      payload = JSON.parse(xhr.responseText);
    } catch (_) {
      payload = null;
    }
    const failed = payload && payload["00081198"] && payload["00081198"].Value;
    if (failed && failed.length) {
      const detail = warningText(xhr.getResponseHeader("Warning"));
      const text = failed.map(describeFailure).join("; ");
      return { ok: false, text: detail ? `${text}: ${detail}` : text };
    }
    if (xhr.status >= 200 && xhr.status < 300) {
      const warned = payload && payload["00081196"] && payload["00081196"].Value;
      return { ok: true, text: warned ? `stored with warning ${hex(warned[0])}` : "stored" };
    }
    // An error of the whole request: pacsweb answers {"status", "reason"}.
    const reason = payload && payload.reason ? payload.reason : xhr.statusText;
    return { ok: false, text: `HTTP ${xhr.status}: ${reason}` };
  }

  function describeFailure(item) {
    const code = item["00081197"] && item["00081197"].Value ? item["00081197"].Value[0] : null;
    const comment = item["00000902"] && item["00000902"].Value ? item["00000902"].Value[0] : "";
    const known = code === null ? "failed" : FAILURE_REASONS[code] || FAILURE_REASONS[code & 0xff00] || "failed";
    const parts = [code === null ? known : `${known} (${hex(code)})`];
    if (comment) {
      parts.push(comment);
    }
    return parts.join(": ");
  }

  // pacsweb puts the readable reason of each failed part in a Warning
  // header (PS3.18 8.4.2): 299 pacsweb "part 1: <reason>". One file is one
  // part here, so the first value is this file's.
  function warningText(header) {
    const match = header && header.match(/^\s*299 \S+ "(?:part \d+: )?([^"]*)"/);
    return match ? match[1] : "";
  }

  function hex(code) {
    return "0x" + Number(code).toString(16).toUpperCase().padStart(4, "0");
  }

  function finish(job, { ok, text }) {
    job.done = true;
    job.ok = ok;
    job.loaded = job.file.size;
    job.bar.value = 100;
    job.result.textContent = text;
    job.row.className = ok ? "ok" : "failed";
  }

  function updateTotal() {
    const size = jobs.reduce((sum, job) => sum + job.file.size, 0);
    const loaded = jobs.reduce((sum, job) => sum + (job.done ? job.file.size : job.loaded), 0);
    const finished = jobs.filter((job) => job.done);
    const percent = size ? Math.floor((100 * loaded) / size) : finished.length === jobs.length && jobs.length ? 100 : 0;
    totalBar.value = percent;
    totalText.textContent = `${percent} % · ${finished.length} of ${jobs.length} files`;
    if (jobs.length && finished.length === jobs.length) {
      const failures = finished.filter((job) => !job.ok).length;
      summary.textContent = `${finished.length - failures} stored, ${failures} failed`;
      root.dataset.state = "done";
    } else if (jobs.length) {
      summary.textContent = "";
      root.dataset.state = "sending";
    }
  }

  // Folders dropped on the page arrive as entries to walk; readEntries
  // returns at most about a hundred at a time, so it is called until empty.
  async function filesFromEntry(entry, prefix) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      return [{ file, path: prefix + file.name }];
    }
    const reader = entry.createReader();
    const found = [];
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) {
        break;
      }
      for (const child of batch) {
        found.push(...(await filesFromEntry(child, `${prefix}${entry.name}/`)));
      }
    }
    return found;
  }

  function fromInput(input) {
    const picked = Array.from(input.files, (file) => ({ file, path: file.webkitRelativePath || file.name }));
    input.value = "";
    addFiles(picked);
  }

  const zone = document.getElementById("dropzone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const entries = Array.from(event.dataTransfer.items, (item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
    if (!entries.length) {
      addFiles(Array.from(event.dataTransfer.files, (file) => ({ file, path: file.name })));
      return;
    }
    const nested = await Promise.all(entries.map((entry) => filesFromEntry(entry, "")));
    addFiles(nested.flat());
  });
  document.getElementById("pick-files").addEventListener("change", (event) => fromInput(event.target));
  document.getElementById("pick-folder").addEventListener("change", (event) => fromInput(event.target));
})();
