// Series thumbnails come from /dicomweb/.../thumbnail. When one cannot be
// made (no pixel data, a codec the server lacks, the service not deployed),
// show a labelled placeholder instead of a broken image. A listener, not an
// onerror attribute, so the page runs under a CSP without inline scripts.
"use strict";

(() => {
  function replace(img) {
    const placeholder = document.createElement("span");
    placeholder.className = "thumb thumb-missing";
    placeholder.textContent = "no preview";
    img.replaceWith(placeholder);
  }

  document.addEventListener(
    "error",
    (event) => {
      if (event.target instanceof HTMLImageElement && event.target.classList.contains("thumb")) {
        replace(event.target);
      }
    },
    true, // error events do not bubble; catch them on the way down
  );
  // Those that failed before this script ran.
  for (const img of document.querySelectorAll("img.thumb")) {
    if (img.complete && img.naturalWidth === 0) {
      replace(img);
    }
  }
})();
