// Series thumbnails come from /dicomweb/.../thumbnail. When one cannot be
// made (no pixel data, a codec the server lacks, the service not deployed),
// show a labelled placeholder instead of a broken image. A listener, not an
// onerror attribute, so the page runs under a CSP without inline scripts.
"use strict";

document.addEventListener(
  "error",
  (event) => {
    const img = event.target;
    if (!(img instanceof HTMLImageElement) || !img.classList.contains("thumb")) {
      return;
    }
    const placeholder = document.createElement("span");
    placeholder.className = "thumb thumb-missing";
    placeholder.textContent = "no preview";
    img.replaceWith(placeholder);
  },
  true, // error events do not bubble; catch them on the way down
);
